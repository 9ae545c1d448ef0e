//! The engine on a websocket feed, end to end: `feed-server` (in process,
//! simulator source) → websocket over 127.0.0.1 → the Alpaca decoder on the
//! feed thread → engine → paper broker → journal; credentials from a 0600
//! secrets file; a refused key, dropped connections, malformed frames and a
//! stalled feed.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::run::{config, plan, sim_params, symbols, temp_dir};
use live_trading::config::{DecisionTrigger, EngineConfig};
use live_trading::control::ControlReceiver;
use live_trading::engine::setup::build_engine;
use live_trading::feed::ws::server::{FeedServer, ServerConfig, Source};
use live_trading::journal::{JournalReader, JournalRecord};
use live_trading::runtime::journal_thread::Console;
use live_trading::runtime::{self, FeedSource, RunOptions, RunSummary, StopReason, WsSource};
use live_trading::types::{Reason, TradingState};

const KEY: &str = "PKTESTKEY0123";
const SECRET: &str = "s3cr3t-never-printed";

fn server(secret: &str, change: impl FnOnce(&mut ServerConfig)) -> FeedServer {
    let mut c = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        KEY,
        secret,
        Source::Sim(sim_params(1)),
    );
    change(&mut c);
    FeedServer::start(c).unwrap()
}

/// A 0600 secrets file holding our key and `secret`.
fn secrets(dir: &Path, secret: &str) -> PathBuf {
    let p = dir.join("alpaca.env");
    std::fs::write(&p, format!("LT_KEY={KEY}\nLT_SECRET={secret}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

fn ws_config(dir: &Path, secret: &str, change: impl FnOnce(&mut EngineConfig)) -> EngineConfig {
    let mut c = config(DecisionTrigger::Cycle);
    c.data.ws_secrets_file = Some(secrets(dir, secret));
    c.data.ws_key_env = "LT_KEY".into();
    c.data.ws_secret_env = "LT_SECRET".into();
    change(&mut c);
    c
}

fn run(config: &EngineConfig, url: &str, state: &Path, max_cycles: u64) -> RunSummary {
    let names = symbols();
    let mut engine = build_engine(config, &names, &plan(config)).unwrap();
    let ws = WsSource::from_config(config, &names, Some(url)).unwrap();
    let feed = FeedSource::Ws(Box::new(ws));
    engine.set_bars_from_feed(feed.sends_bars());
    let opts = RunOptions {
        state_dir: state.to_path_buf(),
        pin_core: None,
        busy_poll: false,
        max_cycles: Some(max_cycles),
        dry_run: false,
        console: Console::Quiet,
        control: ControlReceiver::detached(),
        on_event: None,
    };
    runtime::run(config, &names, engine, feed, opts).unwrap()
}

fn journal(dir: &Path) -> Vec<JournalRecord> {
    JournalReader::open(&dir.join("journal"))
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect()
}

fn url(s: &FeedServer) -> String {
    format!("ws://{}/v2/iex", s.local_addr())
}

#[test]
fn the_engine_trades_on_the_paper_broker_from_the_feed_server() {
    let dir = temp_dir("ws-trade");
    let srv = server(SECRET, |_| {});
    let config = ws_config(&dir, SECRET, |_| {});
    let s = run(&config, &url(&srv), &dir.join("state"), 150);
    assert_eq!(s.stopped_by, StopReason::MaxCycles);
    let ws = s.ws.clone().unwrap();
    assert!(ws.error.is_none(), "{:?}", ws.error);
    assert!(ws.counters.frames > 0 && ws.decode.quotes > 0);
    assert!(ws.decode.bars > 0, "minute bars are subscribed");
    assert_eq!(ws.decode.malformed(), 0);
    // Decoded quotes reached the market state or were conflated (the feed
    // thread may have decoded more after the engine stopped).
    assert!(s.market.quotes > 0);
    assert!(s.market.quotes + s.conflated <= ws.decode.quotes);
    assert!(s.fills > 0, "no fill from the websocket feed");
    let recs = journal(&dir.join("state"));
    assert_eq!(
        recs.iter()
            .filter(|r| matches!(r, JournalRecord::Fill { .. }))
            .count() as u64,
        s.fills
    );
    // Frame received → order: recorded from the receive stamps.
    let wire = s
        .latency
        .count(live_trading::telemetry::Metric::WireToOrder);
    assert_eq!(wire, s.fills + s.rejects);
    srv.stop();
}

#[test]
fn dropped_connections_resubscribe_and_lose_or_repeat_nothing() {
    let dir = temp_dir("ws-drop");
    let srv = server(SECRET, |c| {
        c.faults.drop_every = 20_000;
        c.faults.malformed_every = 5_000;
    });
    let config = ws_config(&dir, SECRET, |_| {});
    let s = run(&config, &url(&srv), &dir.join("state"), 120);
    let ws = s.ws.clone().unwrap();
    assert!(ws.error.is_none(), "{:?}", ws.error);
    assert!(ws.counters.reconnects >= 2, "{:?}", ws.counters);
    assert!(ws.counters.sessions >= 3);
    assert!(ws.decode.malformed() > 0, "malformed frames are counted");
    // No quote twice: a repeated quote would be older than the symbol's
    // last one, refused as out of order.
    assert_eq!(s.market.out_of_order, 0);
    assert!(s.market.quotes + s.conflated <= ws.decode.quotes);
    assert!(s.fills > 0);
    srv.stop();
}

#[test]
fn a_stalled_feed_halts_entries_until_data_flows_again() {
    let dir = temp_dir("ws-stale");
    let srv = server(SECRET, |c| {
        c.faults.stall_every = 60_000;
        c.faults.stall = Duration::from_millis(1500);
    });
    let config = ws_config(&dir, SECRET, |c| {
        c.data.stale_after = live_trading::types::Nanos::from_millis(400);
    });
    let s = run(&config, &url(&srv), &dir.join("state"), 150);
    let ws = s.ws.clone().unwrap();
    assert!(ws.counters.stale_periods >= 1, "{:?}", ws.counters);
    let recs = journal(&dir.join("state"));
    let stale: Vec<(usize, TradingState)> = recs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r {
            JournalRecord::Kill {
                state,
                reason: Some(Reason::FeedStale),
                ..
            } => Some((i, *state)),
            _ => None,
        })
        .collect();
    assert!(stale.len() >= 2, "{stale:?}");
    assert_eq!(stale[0].1, TradingState::Halted);
    assert_eq!(stale[1].1, TradingState::Active);
    // Decisions go on after the feed is back.
    assert!(recs[stale[1].0..]
        .iter()
        .any(|r| matches!(r, JournalRecord::Decision { .. })));
    srv.stop();
}

#[test]
fn a_refused_key_stops_the_binary_with_a_clear_error_and_no_secret() {
    let dir = temp_dir("ws-refused");
    let srv = server("the-server-wants-this", |_| {});
    let out = Command::new(env!("CARGO_BIN_EXE_live-trading"))
        .args(["run", "--quiet", "--feed", &url(&srv), "--state-dir"])
        .arg(dir.join("state"))
        .env("APCA_API_KEY_ID", KEY)
        .env("APCA_API_SECRET_KEY", SECRET)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("402"), "{text}");
    assert!(!text.contains(SECRET), "the secret leaked: {text}");
    assert!(!text.contains(KEY), "the key leaked: {text}");
    // No credentials in the environment: a clear start-up error.
    let out = Command::new(env!("CARGO_BIN_EXE_live-trading"))
        .args(["run", "--quiet", "--feed", &url(&srv), "--state-dir"])
        .arg(dir.join("state2"))
        .env_remove("APCA_API_KEY_ID")
        .env_remove("APCA_API_SECRET_KEY")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("APCA_API_KEY_ID"), "{text}");
    srv.stop();
}
