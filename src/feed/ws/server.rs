//! The feed server: a websocket server speaking the Alpaca v2 market-data
//! protocol (the shapes of `BROKERS-AND-FEEDS.md` §3.1), serving the
//! simulator or a CSV replay at a chosen rate to any number of clients,
//! with fault injection. The `feed-server` binary (`tools/feed-server.rs`)
//! is a thin command line over [`FeedServer`]; tests run it in-process.
//!
//! A test and benchmark tool, not engine code: one accept thread plus one
//! thread per client, blocking and sleeping, formatting JSON with `write!`
//! and reading the wall clock.
//!
//! # Protocol
//!
//! On upgrade (any path) `[{"T":"success","msg":"connected"}]`; then
//! `{"action":"auth","key":…,"secret":…}` within the auth timeout (else
//! `404 auth timeout` and close): a wrong key or secret gets `402 auth
//! failed` and close, a good one `[{"T":"success","msg":"authenticated"}]`
//! (or `406 connection limit exceeded` and close past the connection
//! limit); a second auth gets 403. `subscribe`/`unsubscribe` before auth get
//! `401 not authenticated`; after it they change the set and get the full
//! `subscription` set back. Anything else gets `400 invalid syntax`.
//!
//! # Data
//!
//! Data frames are arrays of up to `batch` messages:
//!
//! ```text
//! {"T":"q","S":"AAPL","bx":"V","bp":187.1,"bs":1,"ax":"V","ap":187.12,"as":2,"c":["R"],"t":"2024-01-02T14:30:00.123456789Z","z":"C"}
//! {"T":"t","S":"AAPL","i":7,"x":"V","p":187.11,"s":100,"c":["@"],"t":"2024-01-02T14:30:00.123456789Z","z":"C"}
//! {"T":"b","S":"AAPL","o":187.0,"h":187.3,"l":186.9,"c":187.2,"v":12000,"vw":187.13,"n":6,"t":"2024-01-02T14:30:00Z"}
//! ```
//!
//! Quote sizes are in round lots (shares / 100, rounded, at least 1 for a
//! positive size). Trades are synthesised (`trade_every`): after every N-th
//! quote of a symbol, a 100-share print at the quote's mid. A bar's `t` is
//! its start (end − bar length); `vw` is the typical price (h+l+c)/3 and `n`
//! the number of quotes per bar (simulator) or 0 (replay). Timestamps are
//! RFC 3339 in UTC with nine fraction digits.
//!
//! With `stamp_now`, every `t` is the wall-clock time at send instead of
//! the event time: a client can then measure wire→engine latency from its
//! receive stamp and the quote's `t` (same host, same clock) without any
//! field outside the documented shapes.
//!
//! # Pacing
//!
//! [`Rate::PerSecond`] spaces messages `1/N` s apart (from the first
//! message of the connection); [`Rate::Real`] spaces them by event time;
//! [`Rate::Max`] sends as fast as the socket takes them. Messages already
//! due go out together, up to `batch` per frame.
//!
//! # Faults (counted per connection, in data messages sent)
//!
//! - `drop_every N`: after every N-th message the TCP connection is shut
//!   down without a close frame;
//! - `malformed_every N`: after every N-th message an extra frame of
//!   truncated JSON;
//! - `stall_every N` + `stall`: after every N-th message the server sends
//!   nothing for `stall` (pings are still answered);
//! - `error_code C` + `error_after N`: after the N-th message
//!   `[{"T":"error","code":C,"msg":…}]` and a close;
//! - `no_pong`: once subscribed, the server stops reading, so pings go
//!   unanswered.
//!
//! A connection that the server closes by a fault records how far it got
//! in the source; the next connection resumes there, so a client that
//! reconnects gets no event twice (with several clients, the furthest
//! position wins).

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tungstenite::{Message, WebSocket};

use super::client::error_text;
use super::transport;

/// The stream under the websocket.
type Transport = transport::Transport<rustls::ServerConnection, TcpStream>;
use super::tls::{self, TlsError};
use crate::feed::event::MarketEvent;
use crate::feed::replay::{ReplayError, ReplayFeed, ReplayParams};
use crate::feed::sim::{MarketSim, SimError, SimParams};

/// What the server serves.
#[derive(Clone, Debug)]
pub enum Source {
    /// The simulator; its universe names the symbols.
    Sim(SimParams),
    /// CSV replay files over `symbols` (see [`crate::feed::replay`]).
    Replay {
        files: Vec<PathBuf>,
        symbols: Vec<String>,
        params: ReplayParams,
    },
}

/// Message pacing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Rate {
    Max,
    /// Messages per second (> 0).
    PerSecond(f64),
    /// Event-time pacing (×1 real time).
    Real,
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// `max`, `real` or a positive number of messages per second.
    fn from_str(s: &str) -> Result<Rate, String> {
        match s {
            "max" => Ok(Rate::Max),
            "real" => Ok(Rate::Real),
            n => match n.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => Ok(Rate::PerSecond(r)),
                _ => Err(format!(
                    "rate {s:?}: expected a positive number of messages per second, `real` or `max`"
                )),
            },
        }
    }
}

/// Fault injection; zero / `None` / `false` = off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    pub drop_every: u64,
    pub malformed_every: u64,
    pub stall_every: u64,
    pub stall: Duration,
    pub error_code: Option<u16>,
    pub error_after: u64,
    pub no_pong: bool,
}

/// Everything the server is built from.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to bind; port 0 picks a free one ([`FeedServer::local_addr`]).
    pub bind: SocketAddr,
    /// The one key/secret pair accepted.
    pub key: String,
    pub secret: String,
    pub source: Source,
    pub rate: Rate,
    /// Most messages per frame (≥ 1). Default 100.
    pub batch: usize,
    /// Auth must arrive within this. Default 10 s.
    pub auth_timeout: Duration,
    /// `t` = wall-clock time at send.
    pub stamp_now: bool,
    /// A synthetic trade after every N-th quote of a symbol; 0 = none.
    pub trade_every: u64,
    /// Most authenticated connections at once (406 beyond); 0 = no limit.
    pub connection_limit: usize,
    /// PEM certificate chain and key: serve `wss://`.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub faults: Faults,
}

impl ServerConfig {
    /// Plain `ws://` on `bind`, the given source, `max` rate, batches of
    /// 100, no faults.
    pub fn new(bind: SocketAddr, key: &str, secret: &str, source: Source) -> ServerConfig {
        ServerConfig {
            bind,
            key: key.to_owned(),
            secret: secret.to_owned(),
            source,
            rate: Rate::Max,
            batch: 100,
            auth_timeout: Duration::from_secs(10),
            stamp_now: false,
            trade_every: 0,
            connection_limit: 0,
            tls: None,
            faults: Faults::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    #[error("replay: {0}")]
    Replay(#[from] ReplayError),
    #[error("batch must be at least 1")]
    Batch,
    #[error("the feed server needs a non-empty key and secret (flags or environment)")]
    NoCredentials,
}

/// Counts over the server's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub connections: u64,
    pub authenticated: u64,
    pub auth_failures: u64,
    pub subscriptions: u64,
    /// Data messages (`q`/`t`/`b` objects) sent.
    pub messages: u64,
    /// Data frames sent.
    pub frames: u64,
    pub drops: u64,
    pub malformed: u64,
    pub stalls: u64,
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    authenticated: AtomicU64,
    auth_failures: AtomicU64,
    subscriptions: AtomicU64,
    messages: AtomicU64,
    frames: AtomicU64,
    drops: AtomicU64,
    malformed: AtomicU64,
    stalls: AtomicU64,
    errors: AtomicU64,
}

struct Shared {
    config: ServerConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: AtomicBool,
    active: AtomicUsize,
    resume: AtomicU64,
    counters: Counters,
}

/// A running feed server. Dropping it stops it.
pub struct FeedServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
}

impl FeedServer {
    /// Binds, checks the source (opens it once) and starts accepting.
    pub fn start(config: ServerConfig) -> Result<FeedServer, ServerError> {
        if config.batch == 0 {
            return Err(ServerError::Batch);
        }
        if config.key.is_empty() || config.secret.is_empty() {
            return Err(ServerError::NoCredentials);
        }
        Events::open(&config.source)?;
        let tls = match &config.tls {
            Some((cert, key)) => Some(tls::server_config(cert, key)?),
            None => None,
        };
        let listener = TcpListener::bind(config.bind).map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        let addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.bind,
            source,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|source| ServerError::Bind { addr, source })?;
        let shared = Arc::new(Shared {
            config,
            tls,
            stop: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            resume: AtomicU64::new(0),
            counters: Counters::default(),
        });
        let accept_shared = shared.clone();
        let accept = std::thread::Builder::new()
            .name("feed-server-accept".into())
            .spawn(move || accept_loop(listener, accept_shared))
            .map_err(|source| ServerError::Bind { addr, source })?;
        Ok(FeedServer {
            addr,
            shared,
            accept: Some(accept),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Counts so far.
    pub fn stats(&self) -> ServerStats {
        let c = &self.shared.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ServerStats {
            connections: l(&c.connections),
            authenticated: l(&c.authenticated),
            auth_failures: l(&c.auth_failures),
            subscriptions: l(&c.subscriptions),
            messages: l(&c.messages),
            frames: l(&c.frames),
            drops: l(&c.drops),
            malformed: l(&c.malformed),
            stalls: l(&c.stalls),
            errors: l(&c.errors),
        }
    }

    /// Stops accepting and tells every client thread to close.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                shared.counters.connections.fetch_add(1, Ordering::Relaxed);
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name("feed-server-client".into())
                    .spawn(move || {
                        if let Err(e) = serve(stream, &s) {
                            log::debug!("feed-server: client {peer}: {e}");
                        }
                    });
                if let Err(e) = spawned {
                    log::warn!("feed-server: cannot start a client thread: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => {
                log::warn!("feed-server: accept: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The event source of one connection.
enum Events {
    Sim(Box<MarketSim>),
    Replay(Box<ReplayFeed>),
}

impl Events {
    fn open(source: &Source) -> Result<Events, ServerError> {
        Ok(match source {
            Source::Sim(p) => Events::Sim(Box::new(MarketSim::new(p.clone())?)),
            Source::Replay {
                files,
                symbols,
                params,
            } => Events::Replay(Box::new(ReplayFeed::open(files, symbols, *params)?)),
        })
    }

    fn next(&mut self) -> Option<MarketEvent> {
        match self {
            Events::Sim(s) => s.next_event().map(MarketEvent::from),
            Events::Replay(r) => r.next_event(),
        }
    }

    fn names(&self) -> Vec<String> {
        match self {
            Events::Sim(s) => s.symbols().to_vec(),
            Events::Replay(r) => r.symbols().to_vec(),
        }
    }

    /// Bar length in nanoseconds and quotes per bar (0 when unknown).
    fn bar_shape(&self) -> (u64, u64) {
        match self {
            Events::Sim(s) => (
                u64::from(s.params().bar_minutes) * 60_000_000_000,
                u64::from(s.params().quotes_per_bar),
            ),
            Events::Replay(_) => (0, 0),
        }
    }
}

/// The channels a client subscribed.
#[derive(Default)]
struct Subscription {
    trades: BTreeSet<String>,
    quotes: BTreeSet<String>,
    bars: BTreeSet<String>,
}

impl Subscription {
    fn wants(set: &BTreeSet<String>, name: &str) -> bool {
        set.contains("*") || set.contains(name)
    }

    fn is_empty(&self) -> bool {
        self.trades.is_empty() && self.quotes.is_empty() && self.bars.is_empty()
    }

    fn reply(&self) -> String {
        let list =
            |s: &BTreeSet<String>| serde_json::Value::from(s.iter().cloned().collect::<Vec<_>>());
        serde_json::json!([{
            "T": "subscription",
            "trades": list(&self.trades),
            "quotes": list(&self.quotes),
            "bars": list(&self.bars),
            "updatedBars": [],
            "dailyBars": [],
            "statuses": [],
            "lulds": [],
            "corrections": list(&self.trades),
            "cancelErrors": list(&self.trades),
        }])
        .to_string()
    }
}

/// Why a client session ended.
#[derive(Debug)]
enum End {
    /// The server closed it on purpose (auth failure, fault, stop).
    Done,
    Ws(tungstenite::Error),
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Done => f.write_str("closed by the server"),
            End::Ws(e) => write!(f, "{e}"),
        }
    }
}

impl From<tungstenite::Error> for End {
    fn from(e: tungstenite::Error) -> End {
        End::Ws(e)
    }
}

struct Session<'a> {
    shared: &'a Shared,
    ws: WebSocket<Transport>,
    authenticated: bool,
    counted_active: bool,
    subscription: Subscription,
    /// Per symbol id: wants quotes, trades, bars.
    wants: Vec<[bool; 3]>,
    names: Vec<String>,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.counted_active {
            self.shared.active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> Result<(), End> {
    let config = &shared.config;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(config.auth_timeout));
    let transport = match &shared.tls {
        None => Transport::Plain(stream),
        Some(tls) => {
            let conn = rustls::ServerConnection::new(tls.clone())
                .map_err(|e| End::Ws(tungstenite::Error::Io(io::Error::other(e))))?;
            Transport::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
        }
    };
    // The server reads only control frames; tungstenite zero-fills the
    // whole read buffer on every read, so a small one is cheap to poll.
    let ws_config = tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let ws = tungstenite::accept_with_config(transport, Some(ws_config)).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => End::Ws(e),
        tungstenite::HandshakeError::Interrupted(_) => End::Done,
    })?;
    ws.get_ref()
        .tcp()
        .set_nonblocking(true)
        .map_err(|e| End::Ws(e.into()))?;
    let events = Events::open(&config.source).map_err(|_| End::Done)?;
    let names = events.names();
    let mut session = Session {
        shared,
        ws,
        authenticated: false,
        counted_active: false,
        subscription: Subscription::default(),
        wants: vec![[false; 3]; names.len()],
        names,
    };
    session.send(r#"[{"T":"success","msg":"connected"}]"#.to_owned())?;
    let deadline = Instant::now() + config.auth_timeout;
    while !session.authenticated || session.subscription.is_empty() {
        if shared.stop.load(Ordering::Relaxed) {
            return session.close();
        }
        if !session.read_controls()? {
            if !session.authenticated && Instant::now() >= deadline {
                session.send_error(404)?;
                return session.close();
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    session.stream(events)
}

impl Session<'_> {
    /// Sends one text frame, waiting for the socket as needed.
    fn send(&mut self, text: String) -> Result<(), End> {
        match self.ws.send(Message::text(text)) {
            Ok(()) => Ok(()),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                self.flush_blocking()
            }
            Err(e) => Err(e.into()),
        }
    }

    fn flush_blocking(&mut self) -> Result<(), End> {
        loop {
            match self.ws.flush() {
                Ok(()) => return Ok(()),
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.shared.stop.load(Ordering::Relaxed) {
                        return Err(End::Done);
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn send_error(&mut self, code: u16) -> Result<(), End> {
        self.shared.counters.errors.fetch_add(1, Ordering::Relaxed);
        let text = serde_json::json!([{"T": "error", "code": code, "msg": error_text(code)}]);
        self.send(text.to_string())
    }

    /// A close frame, then the end of the session.
    fn close(&mut self) -> Result<(), End> {
        let _ = self.ws.close(None);
        let _ = self.flush_blocking();
        std::thread::sleep(Duration::from_millis(20));
        let _ = self.ws.get_ref().tcp().shutdown(Shutdown::Both);
        Err(End::Done)
    }

    /// Handles every client message waiting (answering pings as a side
    /// effect); `Ok(false)` when there was none.
    fn read_controls(&mut self) -> Result<bool, End> {
        let mut any = false;
        loop {
            match self.ws.read() {
                Ok(Message::Text(t)) => {
                    any = true;
                    self.on_client_message(t.as_str())?;
                }
                Ok(Message::Close(_)) => return Err(End::Done),
                Ok(_) => any = true,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    let _ = self.ws.flush();
                    return Ok(any);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn on_client_message(&mut self, text: &str) -> Result<(), End> {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
            return self.send_error(400);
        };
        match v.get("action").and_then(|a| a.as_str()) {
            Some("auth") => {
                if self.authenticated {
                    return self.send_error(403);
                }
                let key = v.get("key").and_then(|k| k.as_str());
                let secret = v.get("secret").and_then(|k| k.as_str());
                let config = &self.shared.config;
                if key != Some(config.key.as_str()) || secret != Some(config.secret.as_str()) {
                    self.shared
                        .counters
                        .auth_failures
                        .fetch_add(1, Ordering::Relaxed);
                    self.send_error(402)?;
                    return self.close();
                }
                let active = self.shared.active.fetch_add(1, Ordering::Relaxed);
                self.counted_active = true;
                if config.connection_limit > 0 && active >= config.connection_limit {
                    self.send_error(406)?;
                    return self.close();
                }
                self.authenticated = true;
                self.shared
                    .counters
                    .authenticated
                    .fetch_add(1, Ordering::Relaxed);
                self.send(r#"[{"T":"success","msg":"authenticated"}]"#.to_owned())
            }
            Some(action @ ("subscribe" | "unsubscribe")) => {
                if !self.authenticated {
                    return self.send_error(401);
                }
                let add = action == "subscribe";
                let s = &mut self.subscription;
                for (field, set) in [
                    ("trades", &mut s.trades),
                    ("quotes", &mut s.quotes),
                    ("bars", &mut s.bars),
                ] {
                    for name in v
                        .get(field)
                        .and_then(|l| l.as_array())
                        .into_iter()
                        .flatten()
                    {
                        if let Some(name) = name.as_str() {
                            if add {
                                set.insert(name.to_owned());
                            } else {
                                set.remove(name);
                            }
                        }
                    }
                }
                for (i, name) in self.names.iter().enumerate() {
                    if let Some(w) = self.wants.get_mut(i) {
                        *w = [
                            Subscription::wants(&s.quotes, name),
                            Subscription::wants(&s.trades, name),
                            Subscription::wants(&s.bars, name),
                        ];
                    }
                }
                self.shared
                    .counters
                    .subscriptions
                    .fetch_add(1, Ordering::Relaxed);
                let reply = self.subscription.reply();
                self.send(reply)
            }
            _ => self.send_error(400),
        }
    }

    /// Waits until `due`, answering the client meanwhile.
    fn wait_until(&mut self, due: Instant, read: bool) -> Result<(), End> {
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return self.close();
            }
            if read {
                self.read_controls()?;
            }
            let now = Instant::now();
            if now >= due {
                return Ok(());
            }
            let left = due - now;
            if left > Duration::from_micros(200) {
                std::thread::sleep(left.min(Duration::from_millis(1)) - Duration::from_micros(100));
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Serves data until the source ends (then idles), a fault or stop.
    fn stream(mut self, mut events: Events) -> Result<(), End> {
        let shared = self.shared;
        let config = &shared.config;
        let faults = config.faults;
        let (bar_ns, quotes_per_bar) = events.bar_shape();
        let skip = shared.resume.load(Ordering::Relaxed);
        let mut consumed = 0u64;
        while consumed < skip && events.next().is_some() {
            consumed += 1;
        }
        let mut quote_counts = vec![0u64; self.names.len()];
        let mut trade_id = 0u64;
        let mut sent = 0u64;
        let mut pending: Option<MarketEvent> = None;
        let mut first_event_ns: Option<u64> = None;
        let start = Instant::now();
        let mut frame = String::with_capacity(256 * config.batch.min(1024));
        let mut stamp = String::with_capacity(40);
        loop {
            let reading = !faults.no_pong;
            if shared.stop.load(Ordering::Relaxed) {
                return self.close();
            }
            if reading {
                self.read_controls()?;
            }
            frame.clear();
            frame.push('[');
            let mut in_frame = 0usize;
            let mut after: Option<u64> = None; // the message count a fault fired at
            let mut exhausted = false;
            while in_frame < config.batch {
                let event = match pending.take().or_else(|| events.next()) {
                    Some(e) => e,
                    None => {
                        exhausted = true;
                        break;
                    }
                };
                let due = match config.rate {
                    Rate::Max => None,
                    Rate::PerSecond(r) => Some(start + Duration::from_secs_f64(sent as f64 / r)),
                    Rate::Real => {
                        let t = event.time().0;
                        let first = *first_event_ns.get_or_insert(t);
                        Some(start + Duration::from_nanos(t.saturating_sub(first)))
                    }
                };
                if let Some(due) = due {
                    if Instant::now() < due {
                        pending = Some(event);
                        if in_frame > 0 {
                            break;
                        }
                        self.wait_until(due, reading)?;
                        continue;
                    }
                }
                consumed += 1;
                let id = event.symbol().0 as usize;
                let (Some(name), Some(wants)) = (self.names.get(id), self.wants.get(id)) else {
                    continue;
                };
                let wants = *wants;
                let t_ns = |event_ns: u64| {
                    if config.stamp_now {
                        wall_ns()
                    } else {
                        event_ns
                    }
                };
                let mut wrote = 0u64;
                match event {
                    MarketEvent::Quote(q) => {
                        let count = quote_counts.get_mut(id).map(|c| {
                            *c += 1;
                            *c
                        });
                        if wants[0] {
                            rfc3339(&mut stamp, t_ns(q.exchange_time.0));
                            push_sep(&mut frame, wrote + in_frame as u64);
                            let _ = write!(
                                frame,
                                r#"{{"T":"q","S":"{name}","bx":"V","bp":{},"bs":{},"ax":"V","ap":{},"as":{},"c":["R"],"t":"{stamp}","z":"C"}}"#,
                                Num(q.bid),
                                lots(q.bid_size),
                                Num(q.ask),
                                lots(q.ask_size)
                            );
                            wrote += 1;
                        }
                        let trade_due = config.trade_every > 0
                            && count.is_some_and(|c| c.is_multiple_of(config.trade_every));
                        if wants[1] && trade_due {
                            trade_id += 1;
                            rfc3339(&mut stamp, t_ns(q.exchange_time.0));
                            push_sep(&mut frame, wrote + in_frame as u64);
                            let _ = write!(
                                frame,
                                r#"{{"T":"t","S":"{name}","i":{trade_id},"x":"V","p":{},"s":100,"c":["@"],"t":"{stamp}","z":"C"}}"#,
                                Num((q.bid + q.ask) / 2.0)
                            );
                            wrote += 1;
                        }
                    }
                    MarketEvent::Trade(tr) => {
                        if wants[1] {
                            trade_id += 1;
                            rfc3339(&mut stamp, t_ns(tr.exchange_time.0));
                            push_sep(&mut frame, wrote + in_frame as u64);
                            let _ = write!(
                                frame,
                                r#"{{"T":"t","S":"{name}","i":{trade_id},"x":"V","p":{},"s":{},"c":["@"],"t":"{stamp}","z":"C"}}"#,
                                Num(tr.price),
                                tr.size.max(0.0).round()
                            );
                            wrote += 1;
                        }
                    }
                    MarketEvent::Bar(b) => {
                        if wants[2] {
                            let length = if bar_ns > 0 {
                                bar_ns
                            } else {
                                match &config.source {
                                    Source::Replay { params, .. } => {
                                        params.bar_seconds.saturating_mul(1_000_000_000)
                                    }
                                    Source::Sim(_) => 0,
                                }
                            };
                            let start_ns = if config.stamp_now {
                                wall_ns()
                            } else {
                                b.bar.end.0.saturating_sub(length)
                            };
                            rfc3339(&mut stamp, start_ns);
                            let bar = b.bar;
                            push_sep(&mut frame, wrote + in_frame as u64);
                            let _ = write!(
                                frame,
                                r#"{{"T":"b","S":"{name}","o":{},"h":{},"l":{},"c":{},"v":{},"vw":{},"n":{quotes_per_bar},"t":"{stamp}"}}"#,
                                Num(bar.open),
                                Num(bar.high),
                                Num(bar.low),
                                Num(bar.close),
                                bar.volume.max(0.0).round(),
                                Num((bar.high + bar.low + bar.close) / 3.0)
                            );
                            wrote += 1;
                        }
                    }
                }
                for _ in 0..wrote {
                    in_frame += 1;
                    sent += 1;
                    let fires = |every: u64| every > 0 && sent.is_multiple_of(every);
                    if fires(faults.drop_every)
                        || fires(faults.malformed_every)
                        || fires(faults.stall_every)
                        || (faults.error_code.is_some() && sent == faults.error_after.max(1))
                    {
                        after = Some(sent);
                    }
                }
                if after.is_some() {
                    break;
                }
            }
            if in_frame > 0 {
                frame.push(']');
                self.send(frame.clone())?;
                shared.counters.frames.fetch_add(1, Ordering::Relaxed);
                shared
                    .counters
                    .messages
                    .fetch_add(in_frame as u64, Ordering::Relaxed);
            }
            if let Some(n) = after {
                let fires = |every: u64| every > 0 && n.is_multiple_of(every);
                if faults.error_code.is_some() && n == faults.error_after.max(1) {
                    if let Some(code) = faults.error_code {
                        shared.resume.fetch_max(consumed, Ordering::Relaxed);
                        self.send_error(code)?;
                        return self.close();
                    }
                }
                if fires(faults.drop_every) {
                    shared.resume.fetch_max(consumed, Ordering::Relaxed);
                    shared.counters.drops.fetch_add(1, Ordering::Relaxed);
                    let _ = self.ws.get_ref().tcp().shutdown(Shutdown::Both);
                    return Err(End::Done);
                }
                if fires(faults.malformed_every) {
                    shared.counters.malformed.fetch_add(1, Ordering::Relaxed);
                    self.send(MALFORMED.to_owned())?;
                }
                if fires(faults.stall_every) && !faults.stall.is_zero() {
                    shared.counters.stalls.fetch_add(1, Ordering::Relaxed);
                    self.wait_until(Instant::now() + faults.stall, reading)?;
                }
            }
            if exhausted {
                // The source is done: stay connected, answering pings.
                self.wait_until(Instant::now() + Duration::from_millis(5), reading)?;
            }
        }
    }
}

/// The frame `malformed_every` sends: truncated JSON.
pub const MALFORMED: &str = r#"[{"T":"q","S":"MALFORMED","bp":"#;

fn push_sep(frame: &mut String, index: u64) {
    if index > 0 {
        frame.push(',');
    }
}

/// A JSON number (`null` when not finite).
struct Num(f64);

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_finite() {
            write!(f, "{}", self.0)
        } else {
            f.write_str("null")
        }
    }
}

/// Shares → round lots.
fn lots(shares: f64) -> u64 {
    if shares.is_finite() && shares > 0.0 {
        ((shares / 100.0).round() as u64).max(1)
    } else {
        0
    }
}

fn wall_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `ns` since the epoch as RFC 3339 UTC with nine fraction digits.
pub fn rfc3339(out: &mut String, ns: u64) {
    use chrono::{Datelike, Timelike};
    out.clear();
    // Field by field: strftime re-parses its pattern on every call, which
    // showed in the profile of a 50k msg/s run.
    let dt = chrono::DateTime::from_timestamp_nanos(i64::try_from(ns).unwrap_or(i64::MAX));
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        ns % 1_000_000_000
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_have_nine_fraction_digits() {
        let mut s = String::new();
        rfc3339(&mut s, 1_704_205_800_123_456_789);
        assert_eq!(s, "2024-01-02T14:30:00.123456789Z");
        rfc3339(&mut s, 1_704_205_800_000_000_000);
        assert_eq!(s, "2024-01-02T14:30:00.000000000Z");
    }

    #[test]
    fn rates_parse() {
        assert_eq!("max".parse::<Rate>(), Ok(Rate::Max));
        assert_eq!("real".parse::<Rate>(), Ok(Rate::Real));
        assert_eq!("50000".parse::<Rate>(), Ok(Rate::PerSecond(50000.0)));
        assert!("0".parse::<Rate>().is_err());
        assert!("fast".parse::<Rate>().is_err());
    }

    #[test]
    fn sizes_are_round_lots_and_bad_numbers_are_null() {
        assert_eq!(lots(100.0), 1);
        assert_eq!(lots(250.0), 3);
        assert_eq!(lots(10.0), 1);
        assert_eq!(lots(0.0), 0);
        assert_eq!(Num(f64::NAN).to_string(), "null");
        assert_eq!(Num(187.12).to_string(), "187.12");
    }
}
