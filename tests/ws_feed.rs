//! The websocket feed client against the in-process feed server over real
//! sockets on 127.0.0.1: session set-up, data frames, every injected fault
//! (drop, malformed frame, stall, server error, unanswered pings), `wss://`
//! with a self-signed certificate, and credential handling.
//!
//! No timing assertions: each test waits at most a generous 10–20 s for
//! what it expects.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use live_trading::feed::sim::SimParams;
use live_trading::feed::ws::server::{FeedServer, Rate, ServerConfig, Source, MALFORMED};
use live_trading::feed::ws::{
    BackoffOptions, Credentials, CredentialsError, Disconnect, Roots, WsCounters, WsError, WsEvent,
    WsFeed, WsOptions,
};

const KEY: &str = "PKTESTKEY123";
const SECRET: &str = "s3cr3t-value-never-printed";
const WAIT: Duration = Duration::from_secs(15);

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lt-ws-feed-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sim() -> Source {
    let mut params = SimParams {
        days: 2,
        ..SimParams::default()
    };
    params.select_symbols(&["SPY", "AAPL", "MSFT"]).unwrap();
    Source::Sim(params)
}

fn server(change: impl FnOnce(&mut ServerConfig)) -> FeedServer {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), KEY, SECRET, sim());
    change(&mut config);
    FeedServer::start(config).unwrap()
}

fn options(addr: SocketAddr, change: impl FnOnce(&mut WsOptions)) -> WsOptions {
    let mut o = WsOptions::new(
        format!("ws://{addr}/v2/test"),
        Credentials::new(KEY, SECRET),
        vec!["AAPL".into(), "MSFT".into()],
    );
    o.backoff = BackoffOptions {
        base: Duration::from_millis(20),
        cap: Duration::from_millis(200),
        max_attempts: 20,
        seed: 5,
    };
    o.connect_timeout = Duration::from_secs(5);
    o.control_timeout = Duration::from_secs(5);
    o.ping_interval = Duration::from_millis(200);
    o.pong_timeout = Duration::from_secs(2);
    o.stale_after = Duration::from_secs(5);
    change(&mut o);
    o
}

/// What the handler saw.
#[derive(Default)]
struct Seen {
    frames: Vec<Vec<u8>>,
    /// Status events in order: "streaming", "stale", "fresh", "disconnected".
    status: Vec<&'static str>,
    disconnects: Vec<Disconnect>,
}

impl Seen {
    fn record(&mut self, event: WsEvent<'_>) {
        match event {
            WsEvent::Data(f) => {
                assert!(f.received_ns > 0);
                self.frames.push(f.payload.to_vec());
            }
            WsEvent::Streaming { .. } => self.status.push("streaming"),
            WsEvent::Stale => self.status.push("stale"),
            WsEvent::Fresh => self.status.push("fresh"),
            WsEvent::Disconnected(d) => {
                self.status.push("disconnected");
                self.disconnects.push(d);
            }
        }
    }

    /// Every `q` object of every well-formed frame: (symbol, t).
    fn quotes(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for f in &self.frames {
            let Ok(serde_json::Value::Array(items)) = serde_json::from_slice(f) else {
                continue;
            };
            for m in items {
                if m["T"] == "q" {
                    out.push((
                        m["S"].as_str().unwrap().to_owned(),
                        m["t"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        out
    }
}

/// Polls until `done` says so (or panics after `WAIT`).
fn run_until(
    feed: &mut WsFeed,
    seen: &mut Seen,
    what: &str,
    done: impl Fn(&Seen, &WsCounters) -> bool,
) -> Result<(), WsError> {
    let start = Instant::now();
    while !done(seen, &feed.counters()) {
        assert!(
            start.elapsed() < WAIT,
            "waited {WAIT:?} for {what}; counters {:?}; status {:?}",
            feed.counters(),
            seen.status
        );
        feed.poll(Duration::from_millis(20), &mut |e| seen.record(e))?;
    }
    Ok(())
}

#[test]
fn connects_authenticates_subscribes_and_receives_only_subscribed_data() {
    let server = server(|c| c.trade_every = 3);
    let mut feed = WsFeed::new(options(server.local_addr(), |o| {
        o.channels.trades = true;
    }))
    .unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "100 frames", |s, _| {
        s.frames.len() >= 100
    })
    .unwrap();
    let c = feed.counters();
    assert_eq!((c.sessions, c.reconnects, c.disconnects), (1, 0, 0));
    assert_eq!(
        c.control_messages, 3,
        "connected, authenticated, subscription"
    );
    assert!(c.bytes > 0 && c.frames >= 100);
    let mut kinds = HashSet::new();
    for f in &seen.frames {
        let items: Vec<serde_json::Value> = serde_json::from_slice(f).unwrap();
        for m in items {
            let s = m["S"].as_str().unwrap();
            assert!(s == "AAPL" || s == "MSFT", "unsubscribed symbol {s}");
            let t = m["t"].as_str().unwrap();
            assert!(
                t.ends_with('Z') && t.len() == "2024-01-02T14:30:00.123456789Z".len(),
                "{t}"
            );
            kinds.insert(m["T"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(kinds, HashSet::from(["q".into(), "t".into(), "b".into()]));
    assert_eq!(seen.status.first(), Some(&"streaming"));
    assert!(server.stats().messages > 0);
}

#[test]
fn wrong_secret_is_fatal_and_the_error_names_no_credential() {
    let server = server(|_| {});
    let mut feed = WsFeed::new(options(server.local_addr(), |o| {
        o.credentials = Credentials::new(KEY, "wrong-secret-xyz");
    }))
    .unwrap();
    let mut seen = Seen::default();
    let err = run_until(&mut feed, &mut seen, "the refusal", |_, _| false).unwrap_err();
    assert!(matches!(err, WsError::Refused { code: 402, .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("402") && text.contains("auth failed"),
        "{text}"
    );
    for secret in [KEY, "wrong-secret-xyz", SECRET] {
        assert!(
            !text.contains(secret) && !format!("{err:?}").contains(secret),
            "{text}"
        );
    }
    assert_eq!(feed.state(), live_trading::feed::ws::ConnState::Failed);
    assert_eq!(feed.counters().errors.auth_failed, 1);
    // Stays failed, no reconnect.
    assert!(feed.poll(Duration::ZERO, &mut |_| {}).is_err());
    assert_eq!(server.stats().auth_failures, 1);
    assert_eq!(server.stats().connections, 1);
}

#[test]
fn dropped_connections_reconnect_resubscribe_and_resume_without_duplicates() {
    let server = server(|c| {
        c.faults.drop_every = 150;
        c.batch = 10;
        c.rate = Rate::PerSecond(20_000.0);
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |_| {})).unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "three reconnects", |_, c| {
        c.reconnects >= 3
    })
    .unwrap();
    let frames_then = seen.frames.len();
    run_until(&mut feed, &mut seen, "frames after reconnecting", |s, _| {
        s.frames.len() >= frames_then + 5
    })
    .unwrap();
    let c = feed.counters();
    assert!(c.sessions >= 4 && c.disconnects >= 3, "{c:?}");
    assert!(
        seen.disconnects.iter().all(|d| *d == Disconnect::Closed),
        "{:?}",
        seen.disconnects
    );
    assert!(
        server.stats().subscriptions >= 4,
        "resubscribed on every session"
    );
    let quotes = seen.quotes();
    let unique: HashSet<_> = quotes.iter().collect();
    assert_eq!(unique.len(), quotes.len(), "a quote was served twice");
}

#[test]
fn malformed_frames_are_passed_through_and_the_connection_survives() {
    let server = server(|c| {
        c.faults.malformed_every = 40;
        c.batch = 10;
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |_| {})).unwrap();
    let mut seen = Seen::default();
    let malformed = |s: &Seen| {
        s.frames
            .iter()
            .filter(|f| f.as_slice() == MALFORMED.as_bytes())
            .count()
    };
    run_until(&mut feed, &mut seen, "five malformed frames", |s, _| {
        malformed(s) >= 5
    })
    .unwrap();
    let c = feed.counters();
    assert_eq!((c.sessions, c.disconnects), (1, 0));
    assert!(seen.frames.len() > malformed(&seen));
}

#[test]
fn a_stall_makes_the_feed_stale_then_fresh_without_reconnecting() {
    let server = server(|c| {
        c.faults.stall_every = 50;
        c.faults.stall = Duration::from_millis(1500);
        c.batch = 10;
        c.rate = Rate::PerSecond(5_000.0);
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |o| {
        o.stale_after = Duration::from_millis(400);
    }))
    .unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "stale then fresh", |s, _| {
        s.status
            .iter()
            .position(|x| *x == "stale")
            .is_some_and(|i| s.status[i..].contains(&"fresh"))
    })
    .unwrap();
    assert!(!feed.is_stale());
    let c = feed.counters();
    assert!(c.stale_periods >= 1);
    assert_eq!(
        c.disconnects, 0,
        "pings were answered during the stall: {c:?}"
    );
    assert!(c.pings_sent >= 1 && c.pongs_received >= 1, "{c:?}");
}

#[test]
fn server_error_407_reconnects() {
    let server = server(|c| {
        c.faults.error_code = Some(407);
        c.faults.error_after = 30;
        c.batch = 5;
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |_| {})).unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "two reconnects", |_, c| {
        c.reconnects >= 2
    })
    .unwrap();
    let c = feed.counters();
    assert!(c.errors.slow_client >= 2, "{c:?}");
    assert!(seen.disconnects.contains(&Disconnect::ServerError(407)));
    assert!(c.frames >= 12);
}

#[test]
fn server_error_402_while_streaming_is_fatal() {
    let server = server(|c| {
        c.faults.error_code = Some(402);
        c.faults.error_after = 20;
        c.batch = 5;
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |_| {})).unwrap();
    let mut seen = Seen::default();
    let err = run_until(&mut feed, &mut seen, "the refusal", |_, _| false).unwrap_err();
    assert!(matches!(err, WsError::Refused { code: 402, .. }), "{err:?}");
    assert!(!err.to_string().contains(SECRET));
    assert!(!seen.frames.is_empty());
    assert_eq!(feed.counters().sessions, 1);
}

#[test]
fn unanswered_pings_mean_a_dead_connection() {
    let server = server(|c| {
        c.faults.no_pong = true;
        c.faults.stall_every = 20;
        c.faults.stall = Duration::from_secs(3);
        c.batch = 5;
    });
    let mut feed = WsFeed::new(options(server.local_addr(), |o| {
        o.pong_timeout = Duration::from_millis(300);
    }))
    .unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "a pong timeout", |s, _| {
        s.disconnects.contains(&Disconnect::PongTimeout)
    })
    .unwrap();
    assert!(feed.counters().pings_sent >= 1);
}

#[test]
fn wss_with_a_self_signed_certificate_trusted_through_the_roots_option() {
    let dir = temp_dir();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let server = server(|c| c.tls = Some((cert_path.clone(), key_path.clone())));
    let url = format!("wss://{}/v2/test", server.local_addr());

    let mut feed = WsFeed::new(options(server.local_addr(), |o| {
        o.url = url.clone();
        o.roots = Roots::Only(cert_path.clone());
    }))
    .unwrap();
    let mut seen = Seen::default();
    run_until(&mut feed, &mut seen, "frames over TLS", |s, _| {
        s.frames.len() >= 20
    })
    .unwrap();
    assert!(!seen.quotes().is_empty());

    // The same server is refused with the public roots only.
    let mut untrusting = WsFeed::new(options(server.local_addr(), |o| {
        o.url = url.clone();
        o.backoff.max_attempts = 2;
    }))
    .unwrap();
    let err = run_until(
        &mut untrusting,
        &mut Seen::default(),
        "giving up",
        |_, _| false,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            WsError::GaveUp {
                last: Disconnect::Handshake,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn refused_connection_gives_up_after_max_attempts() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut feed = WsFeed::new(options(addr, |o| o.backoff.max_attempts = 3)).unwrap();
    let mut seen = Seen::default();
    let err = run_until(&mut feed, &mut seen, "giving up", |_, _| false).unwrap_err();
    assert!(
        matches!(
            err,
            WsError::GaveUp {
                attempts: 3,
                last: Disconnect::Connect(_)
            }
        ),
        "{err:?}"
    );
    assert_eq!(feed.counters().connect_attempts, 4);
}

/// A raw blocking tungstenite client, for the server's side of the protocol.
fn raw_client(addr: SocketAddr) -> tungstenite::WebSocket<std::net::TcpStream> {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (ws, _) = tungstenite::client::client(format!("ws://{addr}/v2/test"), stream).unwrap();
    ws
}

fn read_text(ws: &mut tungstenite::WebSocket<std::net::TcpStream>) -> String {
    loop {
        match ws.read().unwrap() {
            tungstenite::Message::Text(t) => return t.as_str().to_owned(),
            tungstenite::Message::Close(_) => return "close".into(),
            _ => {}
        }
    }
}

#[test]
fn server_answers_subscribe_before_auth_with_401_and_a_silent_client_with_404() {
    let server = server(|c| c.auth_timeout = Duration::from_millis(300));
    let mut ws = raw_client(server.local_addr());
    assert_eq!(read_text(&mut ws), r#"[{"T":"success","msg":"connected"}]"#);
    ws.send(tungstenite::Message::text(
        r#"{"action":"subscribe","quotes":["AAPL"]}"#,
    ))
    .unwrap();
    let reply = read_text(&mut ws);
    assert!(reply.contains(r#""code":401"#), "{reply}");
    // Then nothing: the auth timeout closes the session with 404.
    let reply = read_text(&mut ws);
    assert!(reply.contains(r#""code":404"#), "{reply}");

    let mut ws = raw_client(server.local_addr());
    read_text(&mut ws);
    ws.send(tungstenite::Message::text(format!(
        r#"{{"action":"auth","key":"{KEY}","secret":"{SECRET}"}}"#
    )))
    .unwrap();
    assert_eq!(
        read_text(&mut ws),
        r#"[{"T":"success","msg":"authenticated"}]"#
    );
    ws.send(tungstenite::Message::text(
        r#"{"action":"subscribe","bars":["SPY"],"quotes":["AAPL"]}"#,
    ))
    .unwrap();
    let sub: serde_json::Value = serde_json::from_str(&read_text(&mut ws)).unwrap();
    assert_eq!(sub[0]["T"], "subscription");
    assert_eq!(sub[0]["quotes"], serde_json::json!(["AAPL"]));
    assert_eq!(sub[0]["bars"], serde_json::json!(["SPY"]));
    assert_eq!(sub[0]["trades"], serde_json::json!([]));
}

#[cfg(unix)]
#[test]
fn a_secrets_file_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let path = temp_dir().join("alpaca.env");
    std::fs::write(
        &path,
        format!("APCA_API_KEY_ID={KEY}\nAPCA_API_SECRET_KEY={SECRET}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Credentials::from_file(&path, "APCA_API_KEY_ID", "APCA_API_SECRET_KEY").unwrap_err();
    assert!(
        matches!(err, CredentialsError::Permissions { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("chmod 600"));
    assert!(!err.to_string().contains(SECRET));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = Credentials::from_file(&path, "APCA_API_KEY_ID", "APCA_API_SECRET_KEY").unwrap();
    assert_eq!(c.secret(), SECRET);
    assert!(!format!("{c:?} {c}").contains(SECRET));
}

#[test]
fn feed_server_binary_prints_its_address_and_documents_its_flags() {
    let exe = env!("CARGO_BIN_EXE_feed-server");
    let help = std::process::Command::new(exe)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--rate",
        "--drop-every",
        "--malformed-every",
        "--stall-ms",
        "--error-code",
        "--no-pong",
        "--stamp-now",
        "--tls-cert",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let mut child = std::process::Command::new(exe)
        .args([
            "--port", "0", "--key", KEY, "--secret", SECRET, "--days", "1",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = child.stdout.take().unwrap();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("first line {line:?}"))
        .parse()
        .unwrap();
    let mut feed = WsFeed::new(options(addr, |_| {})).unwrap();
    let mut seen = Seen::default();
    let result = run_until(&mut feed, &mut seen, "frames from the binary", |s, _| {
        s.frames.len() >= 10
    });
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}
