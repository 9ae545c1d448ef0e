//! [`WsFeed`]: the Alpaca v2 market-data websocket client — tungstenite
//! over a non-blocking mio socket (no async runtime), `ws://` or `wss://`
//! (rustls), driven by the feed thread through [`WsFeed::poll`].
//!
//! Runs on the feed thread. Connecting, TLS, the websocket handshake,
//! authentication, subscription and reconnection are cold (they allocate,
//! parse JSON with serde_json and log). The per-frame path is hot: a data
//! frame is stamped with [`now_ns`] as soon as tungstenite hands it over,
//! checked by a few byte comparisons (is it a `success`/`subscription`/
//! `error` control message?) and passed to the caller's handler as a
//! borrowed `&[u8]`; no allocation of ours, no logging. tungstenite itself
//! owns each message's payload (a `Bytes` split off its read buffer), see
//! the module doc of [`super`].
//!
//! # States
//!
//! ```text
//! Waiting ──(backoff over)──► Connecting ──(TCP up)──► Handshaking (TLS + HTTP upgrade)
//!    ▲                                                     │
//!    │                               [{"T":"success","msg":"connected"}]
//!    │                                                     ▼
//!    │   send {"action":"auth",…} ◄── Authenticating ──► [{"T":"success","msg":"authenticated"}]
//!    │                                                     ▼
//!    │   send {"action":"subscribe",…} ◄── Subscribing ──► [{"T":"subscription",…}]
//!    │                                                     ▼
//!    └──(drop, close, 407/404/500, timeout, missing pong)── Streaming
//!
//! 401 / 402 / 406, or max_attempts consecutive failures ──► Failed (poll returns the error)
//! ```

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use tungstenite::handshake::client::ClientHandshake;
use tungstenite::handshake::{HandshakeError, MidHandshake};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

use super::backoff::{Backoff, BackoffOptions};
use super::credentials::Credentials;
use super::transport;

/// The stream under the websocket.
type Transport = transport::Transport<rustls::ClientConnection, TcpStream>;
use super::tls::{self, Roots, TlsError};
use crate::telemetry::clock::now_ns;

const SOCKET: Token = Token(0);
/// tungstenite read buffer: see the comment where the config is built.
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// Which channels to subscribe for every configured symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Channels {
    pub quotes: bool,
    pub trades: bool,
    pub bars: bool,
}

impl Default for Channels {
    /// Quotes and bars (what the engine consumes); no trades.
    fn default() -> Channels {
        Channels {
            quotes: true,
            trades: false,
            bars: true,
        }
    }
}

/// Everything a [`WsFeed`] is built from.
#[derive(Clone, Debug)]
pub struct WsOptions {
    /// `ws://HOST[:PORT]/PATH` or `wss://HOST[:PORT]/PATH`, e.g.
    /// `wss://stream.data.alpaca.markets/v2/iex`.
    pub url: String,
    pub credentials: Credentials,
    /// Symbols to subscribe (`"*"` means all, as in Alpaca).
    pub symbols: Vec<String>,
    pub channels: Channels,
    /// Certificate roots for `wss://`.
    pub roots: Roots,
    pub backoff: BackoffOptions,
    /// TCP connect plus TLS and websocket handshake. Default 10 s.
    pub connect_timeout: Duration,
    /// Each reply of the session set-up (`connected`, `authenticated`,
    /// `subscription`). Default 10 s.
    pub control_timeout: Duration,
    /// Nothing received for this long → the client sends a ping.
    /// Default 5 s.
    pub ping_interval: Duration,
    /// A ping unanswered for this long → the connection is dead and the
    /// client reconnects. Default 5 s.
    pub pong_timeout: Duration,
    /// No data frame for this long → [`WsEvent::Stale`]. Default 5 s.
    pub stale_after: Duration,
    /// Frames handed out per [`WsFeed::poll`] call before it returns (the
    /// rest wait for the next call, which then does not block). Default 256.
    pub max_frames_per_poll: usize,
    /// Largest websocket message accepted (a larger one is a protocol error
    /// and a reconnect). Default 16 MiB.
    pub max_message_bytes: usize,
}

impl WsOptions {
    /// Options with the defaults documented on each field.
    pub fn new(
        url: impl Into<String>,
        credentials: Credentials,
        symbols: Vec<String>,
    ) -> WsOptions {
        WsOptions {
            url: url.into(),
            credentials,
            symbols,
            channels: Channels::default(),
            roots: Roots::WebPki,
            backoff: BackoffOptions::default(),
            connect_timeout: Duration::from_secs(10),
            control_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            pong_timeout: Duration::from_secs(5),
            stale_after: Duration::from_secs(5),
            max_frames_per_poll: 256,
            max_message_bytes: 16 << 20,
        }
    }
}

/// A data frame as received: every text or binary message that is not a
/// `success`/`subscription`/`error` control message, malformed ones
/// included (the decoder counts and skips those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFrame<'a> {
    pub payload: &'a [u8],
    /// [`now_ns`] taken when the frame left the socket layer.
    pub received_ns: u64,
    /// A binary websocket message (Alpaca's msgpack mode or a JSON body
    /// sent as binary); text otherwise.
    pub binary: bool,
}

/// What [`WsFeed::poll`] tells its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsEvent<'a> {
    /// A data frame.
    Data(DataFrame<'a>),
    /// The subscription was acknowledged: data flows. `session` counts
    /// sessions since the feed was built (1 = first connection).
    Streaming { session: u64 },
    /// The connection was lost; the feed backs off and reconnects.
    Disconnected(Disconnect),
    /// No data frame for `stale_after` (reported once per stale period).
    Stale,
    /// Data flows again after [`WsEvent::Stale`] (reported before the frame).
    Fresh,
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnState {
    /// Waiting for the next attempt (backoff; also before the first poll).
    Waiting,
    Connecting,
    /// TLS (for `wss://`) and the HTTP upgrade.
    Handshaking,
    Authenticating,
    Subscribing,
    Streaming,
    /// A fatal error: [`WsFeed::poll`] returns it on every call.
    Failed,
}

/// Why a connection was dropped (and retried).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disconnect {
    /// The host name did not resolve.
    Resolve,
    /// The TCP connect failed.
    Connect(io::ErrorKind),
    /// A state lasted longer than its timeout.
    Timeout(ConnState),
    /// The TLS or websocket handshake failed.
    Handshake,
    /// The server closed the connection (close frame or end of stream).
    Closed,
    /// A socket error while streaming.
    Io(io::ErrorKind),
    /// A websocket protocol violation (or an oversized message).
    Protocol,
    /// The server sent `[{"T":"error","code":…}]` with a retryable code
    /// (404 auth timeout, 407 slow client, 500 internal error).
    ServerError(u16),
    /// Our ping went unanswered for `pong_timeout`.
    PongTimeout,
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disconnect::Resolve => f.write_str("host name did not resolve"),
            Disconnect::Connect(k) => write!(f, "TCP connect failed ({k})"),
            Disconnect::Timeout(s) => write!(f, "timed out while {s:?}"),
            Disconnect::Handshake => f.write_str("TLS/websocket handshake failed"),
            Disconnect::Closed => f.write_str("server closed the connection"),
            Disconnect::Io(k) => write!(f, "socket error ({k})"),
            Disconnect::Protocol => f.write_str("websocket protocol error"),
            Disconnect::ServerError(c) => write!(f, "server error {c} ({})", error_text(*c)),
            Disconnect::PongTimeout => f.write_str("ping not answered"),
        }
    }
}

/// Control-message errors by kind, as sent by the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlErrors {
    /// 401 not authenticated (fatal).
    pub not_authenticated: u64,
    /// 402 auth failed (fatal).
    pub auth_failed: u64,
    /// 404 auth timeout (reconnect).
    pub auth_timeout: u64,
    /// 405 symbol limit exceeded (counted; the old subscription stays).
    pub symbol_limit: u64,
    /// 406 connection limit exceeded (fatal).
    pub connection_limit: u64,
    /// 407 slow client (reconnect).
    pub slow_client: u64,
    /// 500 internal error (reconnect).
    pub internal: u64,
    /// Any other code (400, 403, 409, 410 …): counted and logged.
    pub other: u64,
    /// A control message we did not expect where it came (counted, ignored).
    pub unexpected: u64,
}

/// Counters since the feed was built. `Copy`: read them any time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WsCounters {
    /// Data frames handed to the handler.
    pub frames: u64,
    /// Their payload bytes.
    pub bytes: u64,
    /// TCP connects started.
    pub connect_attempts: u64,
    /// Sessions that reached streaming.
    pub sessions: u64,
    /// Sessions that reached streaming after the first (= successful
    /// reconnections).
    pub reconnects: u64,
    /// Connections dropped (each followed by a backoff).
    pub disconnects: u64,
    /// Times the feed went [`WsEvent::Stale`].
    pub stale_periods: u64,
    pub pings_sent: u64,
    pub pongs_received: u64,
    /// Pings from the server (each answered with a pong).
    pub pings_received: u64,
    /// Control messages (`success`, `subscription`) received.
    pub control_messages: u64,
    pub errors: ControlErrors,
}

/// Why the feed stopped for good. Never contains the key or the secret.
#[derive(Clone, Debug, thiserror::Error)]
pub enum WsError {
    #[error(
        "feed URL {url:?}: {reason}; expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
    )]
    Url { url: String, reason: &'static str },
    #[error("nothing to subscribe: give at least one symbol and one of quotes/trades/bars")]
    NothingToSubscribe,
    #[error(transparent)]
    Tls(#[from] Arc<TlsError>),
    #[error("cannot create the socket poller: {0}")]
    Poll(String),
    #[error("the feed server refused the session with error {code} ({msg}): {hint}")]
    Refused {
        code: u16,
        /// The server's message, with key and secret redacted.
        msg: String,
        hint: &'static str,
    },
    #[error("gave up after {attempts} consecutive failed connection attempts; last: {last}")]
    GaveUp { attempts: u32, last: Disconnect },
}

/// Alpaca's documented text for an error code.
pub fn error_text(code: u16) -> &'static str {
    match code {
        400 => "invalid syntax",
        401 => "not authenticated",
        402 => "auth failed",
        403 => "already authenticated",
        404 => "auth timeout",
        405 => "symbol limit exceeded",
        406 => "connection limit exceeded",
        407 => "slow client",
        409 => "insufficient subscription",
        410 => "invalid subscribe action for this feed",
        500 => "internal error",
        _ => "unknown error",
    }
}

fn refusal_hint(code: u16) -> &'static str {
    match code {
        402 => "check the key and secret (environment variables or secrets file)",
        401 => "the server saw a request before authentication; check the URL points at a market-data stream",
        _ => "another connection uses this account's stream; close it (one connection per endpoint)",
    }
}

/// The `T` of a control message, found by a byte check on the frame's
/// start: `[{"T":"success"`, `[{"T":"subscription"` or `[{"T":"error"`
/// (ASCII blanks allowed between tokens). Alpaca sends control messages
/// alone in a one-element array with `T` first; any other frame is data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlKind {
    Success,
    Subscription,
    Error,
}

/// Hot path: a few byte comparisons, no allocation.
pub fn control_kind(frame: &[u8]) -> Option<ControlKind> {
    fn token<'a>(rest: &'a [u8], t: &[u8]) -> Option<&'a [u8]> {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        rest.get(start..)?.strip_prefix(t)
    }
    let rest = token(frame, b"[")?;
    let rest = token(rest, b"{")?;
    let rest = token(rest, b"\"T\"")?;
    let rest = token(rest, b":")?;
    if token(rest, b"\"success\"").is_some() {
        Some(ControlKind::Success)
    } else if token(rest, b"\"subscription\"").is_some() {
        Some(ControlKind::Subscription)
    } else if token(rest, b"\"error\"").is_some() {
        Some(ControlKind::Error)
    } else {
        None
    }
}

/// One control message, parsed on the cold path.
#[derive(serde::Deserialize)]
struct Control {
    #[serde(rename = "T")]
    kind: String,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    code: Option<u16>,
}

/// Session set-up stage of an open websocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    AwaitConnected,
    AwaitAuthenticated,
    AwaitSubscription,
    Streaming,
}

enum Phase {
    Waiting {
        until_ns: u64,
    },
    Connecting {
        stream: TcpStream,
        deadline_ns: u64,
    },
    Handshaking {
        mid: Box<MidHandshake<ClientHandshake<Transport>>>,
        deadline_ns: u64,
    },
    Open {
        ws: Box<WebSocket<Transport>>,
        stage: Stage,
        /// End of the current set-up stage (unused while streaming).
        deadline_ns: u64,
    },
    Failed,
}

/// What handling a frame asks of the connection.
enum Next {
    Continue,
    Drop(Disconnect),
    Fatal(WsError),
}

/// The parsed URL.
#[derive(Clone, Debug)]
struct Target {
    host: String,
    port: u16,
    tls: bool,
}

fn parse_url(url: &str) -> Result<Target, WsError> {
    let bad = |reason| WsError::Url {
        url: url.to_owned(),
        reason,
    };
    let uri: tungstenite::http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let tls = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(bad("the scheme must be ws or wss")),
    };
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("no host"))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok(Target { host, port, tls })
}

/// The Alpaca v2 market-data websocket client. See the module doc.
///
/// ```no_run
/// use live_trading::feed::ws::{Credentials, WsEvent, WsFeed, WsOptions};
/// use std::time::Duration;
///
/// let credentials = Credentials::from_env("APCA_API_KEY_ID", "APCA_API_SECRET_KEY")?;
/// let options = WsOptions::new("wss://stream.data.alpaca.markets/v2/iex", credentials, vec!["AAPL".into()]);
/// let mut feed = WsFeed::new(options)?;
/// loop {
///     feed.poll(Duration::from_millis(1), &mut |event| match event {
///         WsEvent::Data(frame) => { /* decode frame.payload, stamped frame.received_ns */ }
///         WsEvent::Stale => { /* halt entries */ }
///         _ => {}
///     })?;
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct WsFeed {
    options: WsOptions,
    target: Target,
    tls: Option<Arc<rustls::ClientConfig>>,
    subscribe: String,
    poll: Poll,
    events: Events,
    phase: Phase,
    backoff: Backoff,
    counters: WsCounters,
    fatal: Option<WsError>,
    /// More frames may be buffered: the next poll does not block.
    backlog: bool,
    stale: bool,
    last_data_ns: u64,
    last_rx_ns: u64,
    ping_sent_ns: Option<u64>,
}

impl WsFeed {
    /// Checks the options and builds the TLS configuration (reading any
    /// roots file). Does not connect: the first [`poll`](Self::poll) does.
    pub fn new(options: WsOptions) -> Result<WsFeed, WsError> {
        let target = parse_url(&options.url)?;
        let c = options.channels;
        if options.symbols.is_empty() || !(c.quotes || c.trades || c.bars) {
            return Err(WsError::NothingToSubscribe);
        }
        let tls = if target.tls {
            Some(tls::client_config(&options.roots).map_err(Arc::new)?)
        } else {
            None
        };
        let subscribe = subscribe_message(&options.symbols, c);
        let poll = Poll::new().map_err(|e| WsError::Poll(e.to_string()))?;
        let now = now_ns();
        Ok(WsFeed {
            backoff: Backoff::new(options.backoff),
            options,
            target,
            tls,
            subscribe,
            poll,
            events: Events::with_capacity(8),
            phase: Phase::Waiting { until_ns: now },
            counters: WsCounters::default(),
            fatal: None,
            backlog: false,
            stale: false,
            last_data_ns: now,
            last_rx_ns: now,
            ping_sent_ns: None,
        })
    }

    /// Waits up to `timeout` for socket readiness or the next timer, then
    /// moves the connection on as far as it can without blocking, handing
    /// every data frame and status change to `handler`. `timeout` zero
    /// never blocks (busy polling). Returns an error only when the feed has
    /// stopped for good ([`ConnState::Failed`]); every later call returns
    /// the same error.
    pub fn poll<H>(&mut self, timeout: Duration, handler: &mut H) -> Result<(), WsError>
    where
        H: FnMut(WsEvent<'_>),
    {
        if let Some(err) = &self.fatal {
            return Err(err.clone());
        }
        let wait = if self.backlog {
            Duration::ZERO
        } else {
            timeout.min(Duration::from_nanos(
                self.next_deadline_ns().saturating_sub(now_ns()),
            ))
        };
        if let Err(e) = self.poll.poll(&mut self.events, Some(wait)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(self.fail(WsError::Poll(e.to_string())));
            }
        }
        self.advance(handler);
        match &self.fatal {
            Some(err) => Err(err.clone()),
            None => Ok(()),
        }
    }

    /// Where the connection is.
    pub fn state(&self) -> ConnState {
        match &self.phase {
            Phase::Waiting { .. } => ConnState::Waiting,
            Phase::Connecting { .. } => ConnState::Connecting,
            Phase::Handshaking { .. } => ConnState::Handshaking,
            Phase::Open { stage, .. } => match stage {
                Stage::AwaitConnected | Stage::AwaitAuthenticated => ConnState::Authenticating,
                Stage::AwaitSubscription => ConnState::Subscribing,
                Stage::Streaming => ConnState::Streaming,
            },
            Phase::Failed => ConnState::Failed,
        }
    }

    /// Counters so far.
    pub fn counters(&self) -> WsCounters {
        self.counters
    }

    /// Whether the feed is in a stale period (between [`WsEvent::Stale`]
    /// and [`WsEvent::Fresh`]).
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The options the feed was built with.
    pub fn options(&self) -> &WsOptions {
        &self.options
    }

    /// Closes the connection (a close frame when open) and stops: the
    /// state becomes [`ConnState::Failed`] without an error, and later polls
    /// do nothing.
    pub fn close(&mut self) {
        if let Phase::Open { mut ws, .. } = std::mem::replace(&mut self.phase, Phase::Failed) {
            let _ = ws.close(None);
            let _ = ws.flush();
            let _ = self.poll.registry().deregister(ws.get_mut().tcp_mut());
        }
    }

    fn fail(&mut self, err: WsError) -> WsError {
        log::error!("feed {}: {err}", self.options.url);
        self.phase = Phase::Failed;
        self.fatal = Some(err.clone());
        err
    }

    /// The earliest time something must happen without socket activity.
    fn next_deadline_ns(&self) -> u64 {
        let mut t = if self.stale {
            u64::MAX
        } else {
            self.last_data_ns
                .saturating_add(nanos(self.options.stale_after))
        };
        let phase_t = match &self.phase {
            Phase::Waiting { until_ns } => *until_ns,
            Phase::Connecting { deadline_ns, .. } | Phase::Handshaking { deadline_ns, .. } => {
                *deadline_ns
            }
            Phase::Open {
                stage: Stage::Streaming,
                ..
            } => match self.ping_sent_ns {
                Some(sent) => sent.saturating_add(nanos(self.options.pong_timeout)),
                None => self
                    .last_rx_ns
                    .saturating_add(nanos(self.options.ping_interval)),
            },
            Phase::Open { deadline_ns, .. } => *deadline_ns,
            Phase::Failed => u64::MAX,
        };
        t = t.min(phase_t);
        t
    }

    /// Moves the state machine as far as it goes without blocking.
    fn advance<H: FnMut(WsEvent<'_>)>(&mut self, handler: &mut H) {
        loop {
            let now = now_ns();
            let phase = std::mem::replace(&mut self.phase, Phase::Failed);
            let (next, progressed) = match phase {
                Phase::Waiting { until_ns } if now >= until_ns => {
                    (self.start_connect(now, handler), true)
                }
                Phase::Connecting {
                    stream,
                    deadline_ns,
                } => self.check_connect(stream, deadline_ns, now, handler),
                Phase::Handshaking { mid, deadline_ns } => {
                    self.continue_handshake(*mid, deadline_ns, now, handler)
                }
                Phase::Open {
                    ws,
                    stage,
                    deadline_ns,
                } => (self.service(ws, stage, deadline_ns, handler), false),
                other => (other, false),
            };
            self.phase = next;
            if self.fatal.is_some() {
                self.phase = Phase::Failed;
                return;
            }
            if !progressed {
                break;
            }
        }
        self.check_stale(now_ns(), handler);
    }

    fn check_stale<H: FnMut(WsEvent<'_>)>(&mut self, now: u64, handler: &mut H) {
        if !self.stale && now.saturating_sub(self.last_data_ns) >= nanos(self.options.stale_after) {
            self.stale = true;
            self.counters.stale_periods += 1;
            log::warn!(
                "feed {}: no data for {:?}: stale",
                self.options.url,
                self.options.stale_after
            );
            handler(WsEvent::Stale);
        }
    }

    /// Drops the connection (if any) and schedules the next attempt, or
    /// gives up.
    fn disconnect<H: FnMut(WsEvent<'_>)>(
        &mut self,
        stream: Option<&mut TcpStream>,
        reason: Disconnect,
        now: u64,
        handler: &mut H,
    ) -> Phase {
        if let Some(s) = stream {
            let _ = self.poll.registry().deregister(s);
        }
        self.counters.disconnects += 1;
        self.ping_sent_ns = None;
        self.backlog = false;
        handler(WsEvent::Disconnected(reason));
        match self.backoff.next_delay() {
            Some(delay) => {
                log::warn!(
                    "feed {}: {reason}; reconnecting in {delay:?}",
                    self.options.url
                );
                Phase::Waiting {
                    until_ns: now.saturating_add(nanos(delay)),
                }
            }
            None => {
                let attempts = self.backoff.failures();
                self.fail(WsError::GaveUp {
                    attempts,
                    last: reason,
                });
                Phase::Failed
            }
        }
    }

    fn start_connect<H: FnMut(WsEvent<'_>)>(&mut self, now: u64, handler: &mut H) -> Phase {
        self.counters.connect_attempts += 1;
        let addr: Option<SocketAddr> = (self.target.host.as_str(), self.target.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next());
        let Some(addr) = addr else {
            return self.disconnect(None, Disconnect::Resolve, now, handler);
        };
        let mut stream = match TcpStream::connect(addr) {
            Ok(s) => s,
            Err(e) => return self.disconnect(None, Disconnect::Connect(e.kind()), now, handler),
        };
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            SOCKET,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            return self.disconnect(None, Disconnect::Connect(e.kind()), now, handler);
        }
        Phase::Connecting {
            stream,
            deadline_ns: now.saturating_add(nanos(self.options.connect_timeout)),
        }
    }

    fn check_connect<H: FnMut(WsEvent<'_>)>(
        &mut self,
        mut stream: TcpStream,
        deadline_ns: u64,
        now: u64,
        handler: &mut H,
    ) -> (Phase, bool) {
        if let Ok(Some(e)) | Err(e) = stream.take_error() {
            let reason = Disconnect::Connect(e.kind());
            return (
                self.disconnect(Some(&mut stream), reason, now, handler),
                false,
            );
        }
        match stream.peer_addr() {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotConnected && now < deadline_ns => {
                return (
                    Phase::Connecting {
                        stream,
                        deadline_ns,
                    },
                    false,
                );
            }
            Err(e) => {
                let reason = if e.kind() == io::ErrorKind::NotConnected {
                    Disconnect::Timeout(ConnState::Connecting)
                } else {
                    Disconnect::Connect(e.kind())
                };
                return (
                    self.disconnect(Some(&mut stream), reason, now, handler),
                    false,
                );
            }
        }
        let _ = stream.set_nodelay(true);
        let mut transport = match &self.tls {
            None => Transport::Plain(stream),
            Some(config) => {
                let name = match rustls::pki_types::ServerName::try_from(self.target.host.clone()) {
                    Ok(n) => n,
                    Err(_) => {
                        return (
                            self.disconnect(Some(&mut stream), Disconnect::Handshake, now, handler),
                            false,
                        )
                    }
                };
                match rustls::ClientConnection::new(config.clone(), name) {
                    Ok(conn) => Transport::Tls(Box::new(rustls::StreamOwned::new(conn, stream))),
                    Err(_) => {
                        return (
                            self.disconnect(Some(&mut stream), Disconnect::Handshake, now, handler),
                            false,
                        )
                    }
                }
            }
        };
        // tungstenite zero-fills the free part of its read buffer before
        // every read (128 KiB by default, one memset per frame at high
        // rates); 16 KiB still holds a hundred quote frames per read.
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .max_message_size(Some(self.options.max_message_bytes))
            .max_frame_size(Some(self.options.max_message_bytes));
        let request = match tungstenite::client::IntoClientRequest::into_client_request(
            self.options.url.as_str(),
        ) {
            Ok(r) => r,
            Err(_) => {
                return (
                    self.disconnect(
                        Some(transport.tcp_mut()),
                        Disconnect::Handshake,
                        now,
                        handler,
                    ),
                    false,
                )
            }
        };
        match ClientHandshake::start(transport, request, Some(config)) {
            Ok(mid) => (
                Phase::Handshaking {
                    mid: Box::new(mid),
                    deadline_ns,
                },
                true,
            ),
            Err(_) => (
                self.disconnect(None, Disconnect::Handshake, now, handler),
                false,
            ),
        }
    }

    fn continue_handshake<H: FnMut(WsEvent<'_>)>(
        &mut self,
        mid: MidHandshake<ClientHandshake<Transport>>,
        deadline_ns: u64,
        now: u64,
        handler: &mut H,
    ) -> (Phase, bool) {
        match mid.handshake() {
            Ok((ws, _response)) => {
                self.last_rx_ns = now;
                (
                    Phase::Open {
                        ws: Box::new(ws),
                        stage: Stage::AwaitConnected,
                        deadline_ns: now.saturating_add(nanos(self.options.control_timeout)),
                    },
                    true,
                )
            }
            Err(HandshakeError::Interrupted(mut mid)) => {
                if now >= deadline_ns {
                    let reason = Disconnect::Timeout(ConnState::Handshaking);
                    let tcp = mid.get_mut().get_mut().tcp_mut();
                    (self.disconnect(Some(tcp), reason, now, handler), false)
                } else {
                    (
                        Phase::Handshaking {
                            mid: Box::new(mid),
                            deadline_ns,
                        },
                        false,
                    )
                }
            }
            Err(HandshakeError::Failure(e)) => {
                log::warn!("feed {}: handshake failed: {e}", self.options.url);
                (
                    self.disconnect(None, Disconnect::Handshake, now, handler),
                    false,
                )
            }
        }
    }

    /// Reads every available message, then runs the timers and flushes.
    fn service<H: FnMut(WsEvent<'_>)>(
        &mut self,
        mut ws: Box<WebSocket<Transport>>,
        mut stage: Stage,
        mut deadline_ns: u64,
        handler: &mut H,
    ) -> Phase {
        let mut frames = 0usize;
        self.backlog = false;
        loop {
            if frames >= self.options.max_frames_per_poll {
                self.backlog = true;
                break;
            }
            let message = match ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    let reason = match e {
                        tungstenite::Error::ConnectionClosed
                        | tungstenite::Error::AlreadyClosed => Disconnect::Closed,
                        tungstenite::Error::Io(e) => match e.kind() {
                            io::ErrorKind::UnexpectedEof => Disconnect::Closed,
                            k => Disconnect::Io(k),
                        },
                        tungstenite::Error::Protocol(
                            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                        ) => Disconnect::Closed,
                        _ => Disconnect::Protocol,
                    };
                    return self.disconnect(
                        Some(ws.get_mut().tcp_mut()),
                        reason,
                        now_ns(),
                        handler,
                    );
                }
            };
            let received_ns = now_ns();
            self.last_rx_ns = received_ns;
            frames += 1;
            let (payload, binary): (&[u8], bool) = match &message {
                Message::Text(t) => (t.as_bytes(), false),
                Message::Binary(b) => (b, true),
                Message::Ping(_) => {
                    self.counters.pings_received += 1;
                    continue;
                }
                Message::Pong(_) => {
                    self.counters.pongs_received += 1;
                    self.ping_sent_ns = None;
                    continue;
                }
                Message::Close(_) => {
                    let _ = ws.flush();
                    return self.disconnect(
                        Some(ws.get_mut().tcp_mut()),
                        Disconnect::Closed,
                        received_ns,
                        handler,
                    );
                }
                Message::Frame(_) => continue,
            };
            let kind = control_kind(payload);
            if stage == Stage::Streaming && kind.is_none() {
                self.counters.frames += 1;
                self.counters.bytes += payload.len() as u64;
                self.last_data_ns = received_ns;
                if self.stale {
                    self.stale = false;
                    handler(WsEvent::Fresh);
                }
                handler(WsEvent::Data(DataFrame {
                    payload,
                    received_ns,
                    binary,
                }));
                continue;
            }
            // Cold: the session set-up, or a control message while streaming.
            let next = self.on_control(
                &mut ws,
                &mut stage,
                &mut deadline_ns,
                payload,
                kind,
                received_ns,
                handler,
            );
            match next {
                Next::Continue => {}
                Next::Drop(reason) => {
                    return self.disconnect(
                        Some(ws.get_mut().tcp_mut()),
                        reason,
                        received_ns,
                        handler,
                    )
                }
                Next::Fatal(err) => {
                    let _ = ws.close(None);
                    let _ = ws.flush();
                    let _ = self.poll.registry().deregister(ws.get_mut().tcp_mut());
                    self.fail(err);
                    return Phase::Failed;
                }
            }
        }
        let now = now_ns();
        if stage != Stage::Streaming && now >= deadline_ns {
            let reason = Disconnect::Timeout(if stage == Stage::AwaitSubscription {
                ConnState::Subscribing
            } else {
                ConnState::Authenticating
            });
            return self.disconnect(Some(ws.get_mut().tcp_mut()), reason, now, handler);
        }
        if stage == Stage::Streaming {
            match self.ping_sent_ns {
                Some(sent) if now.saturating_sub(sent) >= nanos(self.options.pong_timeout) => {
                    return self.disconnect(
                        Some(ws.get_mut().tcp_mut()),
                        Disconnect::PongTimeout,
                        now,
                        handler,
                    );
                }
                None if now.saturating_sub(self.last_rx_ns)
                    >= nanos(self.options.ping_interval) =>
                {
                    match ws.write(Message::Ping(Default::default())) {
                        Ok(()) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                        }
                        Err(_) => {
                            return self.disconnect(
                                Some(ws.get_mut().tcp_mut()),
                                Disconnect::Protocol,
                                now,
                                handler,
                            )
                        }
                    }
                    self.counters.pings_sent += 1;
                    self.ping_sent_ns = Some(now);
                }
                _ => {}
            }
        }
        match ws.flush() {
            Ok(()) => {}
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(tungstenite::Error::Io(e)) => {
                return self.disconnect(
                    Some(ws.get_mut().tcp_mut()),
                    Disconnect::Io(e.kind()),
                    now,
                    handler,
                )
            }
            Err(_) => {
                return self.disconnect(
                    Some(ws.get_mut().tcp_mut()),
                    Disconnect::Closed,
                    now,
                    handler,
                )
            }
        }
        Phase::Open {
            ws,
            stage,
            deadline_ns,
        }
    }

    /// A frame during the session set-up, or a control message while
    /// streaming. Cold path.
    #[allow(clippy::too_many_arguments)]
    fn on_control<H: FnMut(WsEvent<'_>)>(
        &mut self,
        ws: &mut WebSocket<Transport>,
        stage: &mut Stage,
        deadline_ns: &mut u64,
        payload: &[u8],
        kind: Option<ControlKind>,
        now: u64,
        handler: &mut H,
    ) -> Next {
        let messages: Vec<Control> = match serde_json::from_slice(payload) {
            Ok(m) if kind.is_some() => m,
            _ => {
                // Not a control message before streaming.
                if *stage == Stage::AwaitSubscription {
                    // Data ahead of the acknowledgement: still data.
                    self.counters.frames += 1;
                    self.counters.bytes += payload.len() as u64;
                    handler(WsEvent::Data(DataFrame {
                        payload,
                        received_ns: now,
                        binary: false,
                    }));
                } else {
                    self.counters.errors.unexpected += 1;
                }
                return Next::Continue;
            }
        };
        for m in messages {
            let next_deadline = now.saturating_add(nanos(self.options.control_timeout));
            match (m.kind.as_str(), m.msg.as_deref(), *stage) {
                ("success", Some("connected"), Stage::AwaitConnected) => {
                    self.counters.control_messages += 1;
                    let auth = serde_json::json!({
                        "action": "auth",
                        "key": self.options.credentials.key(),
                        "secret": self.options.credentials.secret(),
                    });
                    if let Err(reason) = send_text(ws, auth.to_string()) {
                        return Next::Drop(reason);
                    }
                    *stage = Stage::AwaitAuthenticated;
                    *deadline_ns = next_deadline;
                }
                ("success", Some("authenticated"), Stage::AwaitAuthenticated) => {
                    self.counters.control_messages += 1;
                    if let Err(reason) = send_text(ws, self.subscribe.clone()) {
                        return Next::Drop(reason);
                    }
                    *stage = Stage::AwaitSubscription;
                    *deadline_ns = next_deadline;
                }
                ("subscription", _, Stage::AwaitSubscription) => {
                    self.counters.control_messages += 1;
                    *stage = Stage::Streaming;
                    self.backoff.reset();
                    self.counters.sessions += 1;
                    if self.counters.sessions > 1 {
                        self.counters.reconnects += 1;
                    }
                    self.ping_sent_ns = None;
                    log::info!(
                        "feed {}: streaming (session {})",
                        self.options.url,
                        self.counters.sessions
                    );
                    handler(WsEvent::Streaming {
                        session: self.counters.sessions,
                    });
                }
                ("success", _, Stage::Streaming) | ("subscription", _, Stage::Streaming) => {
                    self.counters.control_messages += 1;
                }
                ("error", _, _) => {
                    let code = m.code.unwrap_or(0);
                    let e = &mut self.counters.errors;
                    match code {
                        401 => e.not_authenticated += 1,
                        402 => e.auth_failed += 1,
                        404 => e.auth_timeout += 1,
                        405 => e.symbol_limit += 1,
                        406 => e.connection_limit += 1,
                        407 => e.slow_client += 1,
                        500 => e.internal += 1,
                        _ => e.other += 1,
                    }
                    match code {
                        401 | 402 | 406 => {
                            let msg = self
                                .options
                                .credentials
                                .redact(m.msg.as_deref().unwrap_or(error_text(code)));
                            return Next::Fatal(WsError::Refused {
                                code,
                                msg,
                                hint: refusal_hint(code),
                            });
                        }
                        404 | 407 | 500 => return Next::Drop(Disconnect::ServerError(code)),
                        _ => log::warn!(
                            "feed {}: server error {code} ({}) ignored",
                            self.options.url,
                            error_text(code)
                        ),
                    }
                }
                _ => self.counters.errors.unexpected += 1,
            }
        }
        Next::Continue
    }
}

fn send_text(ws: &mut WebSocket<Transport>, text: String) -> Result<(), Disconnect> {
    match ws.send(Message::text(text)) {
        Ok(()) => Ok(()),
        Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
        Err(tungstenite::Error::Io(e)) => Err(Disconnect::Io(e.kind())),
        Err(_) => Err(Disconnect::Protocol),
    }
}

/// `{"action":"subscribe","quotes":[…],"trades":[…],"bars":[…]}` with the
/// enabled channels.
fn subscribe_message(symbols: &[String], channels: Channels) -> String {
    let mut m = serde_json::Map::new();
    m.insert("action".into(), "subscribe".into());
    for (on, name) in [
        (channels.trades, "trades"),
        (channels.quotes, "quotes"),
        (channels.bars, "bars"),
    ] {
        if on {
            m.insert(name.into(), serde_json::Value::from(symbols.to_vec()));
        }
    }
    serde_json::Value::Object(m).to_string()
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_messages_are_told_from_data_by_their_start() {
        assert_eq!(
            control_kind(br#"[{"T":"success","msg":"connected"}]"#),
            Some(ControlKind::Success)
        );
        assert_eq!(
            control_kind(b" [ { \"T\" : \"error\",\"code\":407}]"),
            Some(ControlKind::Error)
        );
        assert_eq!(
            control_kind(br#"[{"T":"subscription","trades":[]}]"#),
            Some(ControlKind::Subscription)
        );
        assert_eq!(control_kind(br#"[{"T":"q","S":"AAPL"}]"#), None);
        assert_eq!(control_kind(br#"[{"T":"succ"#), None);
        assert_eq!(control_kind(b""), None);
        assert_eq!(control_kind(b"[{\"T\":"), None);
    }

    #[test]
    fn urls_are_checked() {
        let t = parse_url("wss://stream.data.alpaca.markets/v2/iex").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.tls),
            ("stream.data.alpaca.markets", 443, true)
        );
        let t = parse_url("ws://127.0.0.1:9000/v2/test").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("127.0.0.1", 9000, false));
        assert!(matches!(parse_url("http://x/"), Err(WsError::Url { .. })));
        assert!(matches!(parse_url("not a url"), Err(WsError::Url { .. })));
    }

    #[test]
    fn subscribe_lists_only_enabled_channels() {
        let m = subscribe_message(
            &["AAPL".into(), "MSFT".into()],
            Channels {
                quotes: true,
                trades: false,
                bars: true,
            },
        );
        assert_eq!(
            m,
            r#"{"action":"subscribe","quotes":["AAPL","MSFT"],"bars":["AAPL","MSFT"]}"#
        );
    }

    #[test]
    fn nothing_to_subscribe_is_refused() {
        let mut o = WsOptions::new("ws://127.0.0.1:1/", Credentials::new("k", "s"), vec![]);
        assert!(matches!(
            WsFeed::new(o.clone()),
            Err(WsError::NothingToSubscribe)
        ));
        o.symbols = vec!["AAPL".into()];
        o.channels = Channels {
            quotes: false,
            trades: false,
            bars: false,
        };
        assert!(matches!(WsFeed::new(o), Err(WsError::NothingToSubscribe)));
    }
}
