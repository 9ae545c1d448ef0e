//! A fake IB gateway (TWS socket API, text mode, server version 178) for
//! tests and demos: handshake and startApi, managed accounts and order ids,
//! a seeded quote generator, an order matcher with executions and
//! commission reports, positions and account values that persist across
//! connections and restarts, and scripted fault injection
//! (BROKERS-AND-FEEDS §5.2/§5.3). The binary `fake-ibkr` is a thin CLI over
//! it; ib_async cross-checks its wire format (`tools/ib_async_check`).
//!
//! Cold code, never on the engine thread: std threads and blocking
//! sockets — one accept thread, a reader and a writer thread per client
//! connection, one quote thread; all protocol state sits behind one mutex
//! so every reply sequence is emitted atomically and deterministically.
//! It shares no code with our client (`src/broker/ibkr/`) on purpose.
//!
//! # Using it from a test
//!
//! ```no_run
//! use live_trading::ibfake::{FakeConfig, FakeGateway, OrderFault};
//! let gw = FakeGateway::start(FakeConfig::default()).unwrap();
//! let addr = gw.addr(); // connect the client under test here
//! gw.set_fault(OrderFault::Reject); // the next placeOrder is rejected (201)
//! gw.push_quote("AAPL", 189.99, 190.01); // resting limits may fill
//! let state = gw.stop(); // positions, orders, executions, next id ...
//! let gw = FakeGateway::resume(FakeConfig::default(), state).unwrap(); // F15
//! # drop(gw);
//! ```
//!
//! Messages answered (ids): startApi 71, reqMktData 1, cancelMktData 2,
//! reqMarketDataType 59, reqTickByTickData 97 (BidAsk), cancelTickByTick 98,
//! placeOrder 3 (STK MKT/LMT), cancelOrder 4, reqGlobalCancel 58,
//! reqOpenOrders 5, reqAllOpenOrders 16, reqAutoOpenOrders 15,
//! reqCompletedOrders 99, reqExecutions 7, reqPositions 61,
//! cancelPositions 64, reqAccountSummary 62, cancelAccountSummary 63,
//! reqAccountUpdates 6, reqAccountUpdatesMulti 76, cancelAccountUpdatesMulti
//! 77, reqIds 8, reqCurrentTime 49, reqManagedAccts 17, reqContractDetails
//! 9 (so clients can qualify contracts; conId = 1000 + the symbol's index
//! in [`FakeConfig::symbols`]). Every request's
//! version field and field count are checked against ib_async 2.1.0's
//! encoder at 178; a mismatch or an unknown id is answered with error 320
//! or 321 and flagged in [`FakeGateway::requests`].

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

pub mod book;
pub mod faults;
mod session;
pub mod wire;

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use book::{Action, Execution, FakeState, Order, OrderStatus, OrderType, Position};
use faults::FaultPlan;
pub use faults::{ConnEvent, HandshakeMode, OrderFault, Shots, WireFaults, WriteMode};
pub use session::PLACE_ORDER_FIELDS_STK;
use wire::StkContract;

/// The server version the fake speaks (layouts are those of 178).
pub const SERVER_VERSION: u32 = 178;

/// A symbol the fake quotes and trades, with its starting mid price.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolSpec {
    /// Ticker (e.g. `AAPL`).
    pub symbol: String,
    /// Starting mid price in USD; the spread is one cent either side.
    pub price: f64,
}

impl SymbolSpec {
    /// `SYMBOL` or `SYMBOL=PRICE` (default price 100).
    pub fn parse(text: &str) -> Option<SymbolSpec> {
        let (sym, price) = match text.split_once('=') {
            Some((s, p)) => (s, p.parse().ok()?),
            None => (text, 100.0),
        };
        let ok = !sym.is_empty() && sym.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
        (ok && price > 0.02).then(|| SymbolSpec {
            symbol: sym.to_owned(),
            price,
        })
    }
}

/// Everything the fake needs to start. `Default` gives a loopback listener
/// on an ephemeral port, account `DU0000001` with 1,000,000 USD, symbols
/// AAPL/MSFT/SPY, no automatic quote ticks (tests drive quotes with
/// [`FakeGateway::push_quote`]), seed 1, no faults.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Listen address; port 0 picks a free port (see [`FakeGateway::addr`]).
    pub bind: SocketAddr,
    /// The one managed account (paper accounts start with `DU`).
    pub account: String,
    /// Starting cash in USD (ignored by [`FakeGateway::resume`]).
    pub cash: f64,
    /// Tradable symbols; anything else gets error 200.
    pub symbols: Vec<SymbolSpec>,
    /// Random-walk quote updates per second (0 = only pushed quotes).
    pub quote_rate_hz: f64,
    /// Seed of the quote random walk.
    pub seed: u64,
    /// Version replied in the handshake (normally 178).
    pub server_version: u32,
    /// Commission per share in USD.
    pub commission_per_share: f64,
    /// Minimum commission per execution in USD.
    pub commission_min: f64,
    /// Delay between a fill and its commissionReport.
    pub commission_delay: Duration,
    /// Connection-wide faults (handshake, write shaping, pacing, slowness).
    pub wire: WireFaults,
    /// Order faults armed at start.
    pub faults: Vec<(OrderFault, Shots)>,
    /// Connectivity events fired this long after each client's startApi
    /// (on that connection only).
    pub scheduled: Vec<(Duration, ConnEvent)>,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            account: "DU0000001".into(),
            cash: 1_000_000.0,
            symbols: vec![
                SymbolSpec {
                    symbol: "AAPL".into(),
                    price: 190.0,
                },
                SymbolSpec {
                    symbol: "MSFT".into(),
                    price: 410.0,
                },
                SymbolSpec {
                    symbol: "SPY".into(),
                    price: 520.0,
                },
            ],
            quote_rate_hz: 0.0,
            seed: 1,
            server_version: SERVER_VERSION,
            commission_per_share: 0.005,
            commission_min: 1.0,
            commission_delay: Duration::ZERO,
            wire: WireFaults::default(),
            faults: Vec::new(),
            scheduled: Vec::new(),
        }
    }
}

/// One request as the fake received it (after the handshake).
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    /// Connection number (1, 2, ... in accept order).
    pub conn: u64,
    /// The connection's API client id once startApi was seen.
    pub client_id: Option<i32>,
    /// Message id (field 0), −1 when it was not a number.
    pub msg_id: i32,
    /// Every field, message id included (trailing empty field dropped).
    pub fields: Vec<String>,
    /// Why the fake refused it (wrong version, field count, unknown id,
    /// ...); `None` when it was well-formed.
    pub problem: Option<String>,
}

/// The fake's current quote for a symbol.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Bid size (shares).
    pub bid_size: f64,
    /// Ask size (shares).
    pub ask_size: f64,
    /// Last trade price.
    pub last: f64,
}

/// What a connection's writer thread does next.
enum WriterCmd {
    Frame(Vec<u8>),
    Close,
}

/// One client connection as the core sees it.
struct Conn {
    client_id: Option<i32>,
    tx: Sender<WriterCmd>,
    mkt_subs: BTreeMap<i64, String>,
    tbt_subs: BTreeMap<i64, String>,
    md_type: i32,
    positions_sub: bool,
    account_updates: bool,
    recent: VecDeque<Instant>,
}

/// All protocol state, behind one mutex.
struct Core {
    account: String,
    state: FakeState,
    contracts: BTreeMap<String, StkContract>,
    quotes: BTreeMap<String, Quote>,
    conns: BTreeMap<u64, Conn>,
    log: Vec<LoggedRequest>,
    plan: FaultPlan,
    orders_placed: u64,
    hang: bool,
    rng: u64,
}

struct Inner {
    me: Weak<Inner>,
    cfg: FakeConfig,
    core: Mutex<Core>,
    wire: Mutex<WireFaults>,
    stopping: AtomicBool,
    next_conn: AtomicU64,
}

impl Inner {
    fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn self_ref(&self) -> Weak<Inner> {
        self.me.clone()
    }

    fn wire(&self) -> WireFaults {
        *self.wire.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A running fake gateway. Dropping it without [`FakeGateway::stop`] also
/// stops it (and discards the state).
pub struct FakeGateway {
    inner: Arc<Inner>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    quotes: Option<(Sender<()>, JoinHandle<()>)>,
}

impl FakeGateway {
    /// Binds `cfg.bind` and starts serving with a fresh account holding
    /// `cfg.cash`.
    pub fn start(cfg: FakeConfig) -> io::Result<FakeGateway> {
        let state = FakeState::new(cfg.cash);
        FakeGateway::resume(cfg, state)
    }

    /// Starts serving from a saved [`FakeState`] (positions, orders,
    /// executions, order ids) — a restart of the gateway (F15).
    pub fn resume(cfg: FakeConfig, state: FakeState) -> io::Result<FakeGateway> {
        let listener = TcpListener::bind(cfg.bind)?;
        let addr = listener.local_addr()?;
        let mut contracts = BTreeMap::new();
        let mut quotes = BTreeMap::new();
        for (i, s) in cfg.symbols.iter().enumerate() {
            let con_id = 1000 + i as i64;
            contracts.insert(
                s.symbol.clone(),
                StkContract {
                    con_id,
                    symbol: s.symbol.clone(),
                },
            );
            let mid = (s.price * 100.0).round() / 100.0;
            quotes.insert(
                s.symbol.clone(),
                Quote {
                    bid: mid - 0.01,
                    ask: mid + 0.01,
                    bid_size: 300.0,
                    ask_size: 400.0,
                    last: mid,
                },
            );
        }
        let mut plan = FaultPlan::default();
        for (f, shots) in &cfg.faults {
            plan.arm(f.clone(), *shots);
        }
        let core = Core {
            account: cfg.account.clone(),
            state,
            contracts,
            quotes,
            conns: BTreeMap::new(),
            log: Vec::new(),
            plan,
            orders_placed: 0,
            hang: false,
            rng: cfg.seed ^ 0x9E37_79B9_7F4A_7C15,
        };
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            wire: Mutex::new(cfg.wire),
            cfg,
            core: Mutex::new(core),
            stopping: AtomicBool::new(false),
            next_conn: AtomicU64::new(1),
        });
        let acc_inner = Arc::clone(&inner);
        let accept = thread::Builder::new()
            .name("fake-ibkr-accept".into())
            .spawn(move || accept_loop(acc_inner, listener))?;
        let quotes = if inner.cfg.quote_rate_hz > 0.0 {
            let (tx, rx) = mpsc::channel();
            let q_inner = Arc::clone(&inner);
            let h = thread::Builder::new()
                .name("fake-ibkr-quotes".into())
                .spawn(move || quote_loop(q_inner, rx))?;
            Some((tx, h))
        } else {
            None
        };
        Ok(FakeGateway {
            inner,
            addr,
            accept: Some(accept),
            quotes,
        })
    }

    /// The bound address (with the real port when `bind` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.inner.core().log.clone()
    }

    /// The requests the fake refused as malformed or unknown (encoder bugs).
    pub fn malformed_requests(&self) -> Vec<LoggedRequest> {
        self.inner
            .core()
            .log
            .iter()
            .filter(|r| r.problem.is_some())
            .cloned()
            .collect()
    }

    /// How many placeOrder messages arrived (any outcome: booked, rejected,
    /// duplicate, malformed, modifications too) — a `--dry-run` test
    /// expects 0.
    pub fn orders_placed(&self) -> u64 {
        self.inner.core().orders_placed
    }

    /// Holdings by symbol.
    pub fn positions(&self) -> BTreeMap<String, Position> {
        self.inner.core().state.positions.clone()
    }

    /// Cash balance in USD.
    pub fn cash(&self) -> f64 {
        self.inner.core().state.cash
    }

    /// Every order booked (any status), by permanent id order.
    pub fn orders(&self) -> Vec<Order> {
        self.inner.core().state.orders.values().cloned().collect()
    }

    /// Every execution, oldest first.
    pub fn executions(&self) -> Vec<Execution> {
        self.inner.core().state.executions.clone()
    }

    /// A copy of the persistent state (what [`FakeGateway::stop`] returns).
    pub fn state(&self) -> FakeState {
        self.inner.core().state.clone()
    }

    /// API client ids of the connections that completed startApi.
    pub fn connected_clients(&self) -> Vec<i32> {
        self.inner
            .core()
            .conns
            .values()
            .filter_map(|c| c.client_id)
            .collect()
    }

    /// The current quote of a symbol.
    pub fn quote(&self, symbol: &str) -> Option<Quote> {
        self.inner.core().quotes.get(symbol).copied()
    }

    /// Arms an order fault for the next event it applies to (see
    /// [`OrderFault`]).
    pub fn set_fault(&self, fault: OrderFault) {
        self.inner.core().plan.arm(fault, Shots::Once);
    }

    /// Arms an order fault for every event it applies to, until
    /// [`FakeGateway::clear_faults`].
    pub fn set_fault_always(&self, fault: OrderFault) {
        self.inner.core().plan.arm(fault, Shots::Always);
    }

    /// Disarms every order fault.
    pub fn clear_faults(&self) {
        self.inner.core().plan.clear();
    }

    /// Replaces the connection-wide faults (handshake mode, write shaping,
    /// pacing limit, reply delay); new frames and new connections see them.
    pub fn set_wire_faults(&self, wire: WireFaults) {
        *self.inner.wire.lock().unwrap_or_else(|p| p.into_inner()) = wire;
    }

    /// The connection-wide faults in force.
    pub fn wire_faults(&self) -> WireFaults {
        self.inner.wire()
    }

    /// F9b: while `true` the fake sends nothing at all (sockets stay open,
    /// requests are still read and logged, replies are dropped).
    pub fn set_hang(&self, hang: bool) {
        self.inner.core().hang = hang;
    }

    /// Sets a symbol's quote (sizes kept), streams it to subscribers and
    /// fills resting limits it crosses. Returns false for an unknown symbol
    /// or a crossed/invalid quote.
    pub fn push_quote(&self, symbol: &str, bid: f64, ask: f64) -> bool {
        if !(bid > 0.0 && ask >= bid) {
            return false;
        }
        let mut core = self.inner.core();
        let Some(q) = core.quotes.get_mut(symbol) else {
            return false;
        };
        q.bid = bid;
        q.ask = ask;
        core.quote_changed(&self.inner, symbol);
        true
    }

    /// Closes every client socket (no error message first).
    pub fn disconnect_all(&self) {
        let mut core = self.inner.core();
        let ids: Vec<u64> = core.conns.keys().copied().collect();
        for id in ids {
            core.close(id);
        }
    }

    /// Sends error(id, code, msg) to every connected client (e.g. a farm
    /// notice 2103 or a custom code).
    pub fn send_error(&self, code: i32, id: i64, msg: &str) {
        let mut core = self.inner.core();
        let ids: Vec<u64> = core.conns.keys().copied().collect();
        for c in ids {
            core.send(c, wire::out::error(id, code, msg));
        }
    }

    /// Pushes a connectivity event (F7/F8/F9/F16, or a plain disconnect)
    /// to every connected client.
    pub fn connectivity_event(&self, event: ConnEvent) {
        let mut core = self.inner.core();
        let ids: Vec<u64> = core.conns.keys().copied().collect();
        for c in ids {
            core.conn_event(c, event);
        }
    }

    /// Polls `cond` every 5 ms until it holds or `timeout` passes; returns
    /// whether it held. For tests waiting on the fake's side.
    pub fn wait_until(
        &self,
        timeout: Duration,
        mut cond: impl FnMut(&FakeGateway) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if Instant::now() >= end {
                return false;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Stops listening, closes every connection and returns the state to
    /// pass to [`FakeGateway::resume`].
    pub fn stop(mut self) -> FakeState {
        self.shutdown();
        self.inner.core().state.clone()
    }

    fn shutdown(&mut self) {
        if self.inner.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        // Wake the blocking accept with a throwaway connection.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
        if let Some((tx, h)) = self.quotes.take() {
            let _ = tx.send(());
            let _ = h.join();
        }
        let mut core = self.inner.core();
        let ids: Vec<u64> = core.conns.keys().copied().collect();
        for id in ids {
            core.close(id);
        }
    }
}

impl Drop for FakeGateway {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    for stream in listener.incoming() {
        if inner.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        let conn_id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
        let (Ok(w), Ok(r)) = (stream.try_clone(), stream.try_clone()) else {
            continue;
        };
        let (tx, rx) = mpsc::channel();
        inner.core().conns.insert(
            conn_id,
            Conn {
                client_id: None,
                tx,
                mkt_subs: BTreeMap::new(),
                tbt_subs: BTreeMap::new(),
                md_type: 1,
                positions_sub: false,
                account_updates: false,
                recent: VecDeque::new(),
            },
        );
        let w_inner = Arc::clone(&inner);
        let _ = thread::Builder::new()
            .name(format!("fake-ibkr-w{conn_id}"))
            .spawn(move || writer_loop(w_inner, w, rx));
        let r_inner = Arc::clone(&inner);
        let _ = thread::Builder::new()
            .name(format!("fake-ibkr-r{conn_id}"))
            .spawn(move || session::run(r_inner, conn_id, r));
        drop(stream);
    }
}

fn writer_loop(inner: Arc<Inner>, mut stream: TcpStream, rx: Receiver<WriterCmd>) {
    let mut closing = false;
    while let Ok(cmd) = rx.recv() {
        let mut bytes = match cmd {
            WriterCmd::Frame(b) => b,
            WriterCmd::Close => break,
        };
        let wire = inner.wire();
        if !wire.reply_delay.is_zero() {
            thread::sleep(wire.reply_delay);
        }
        let ok = match wire.write_mode {
            WriteMode::Normal => stream.write_all(&bytes).is_ok(),
            WriteMode::SplitBytes => bytes
                .iter()
                .all(|b| stream.write_all(&[*b]).and_then(|_| stream.flush()).is_ok()),
            WriteMode::Coalesce => {
                // Let the rest of the burst queue up, then write it at once.
                thread::sleep(Duration::from_millis(2));
                while let Ok(next) = rx.try_recv() {
                    match next {
                        WriterCmd::Frame(b) => bytes.extend_from_slice(&b),
                        WriterCmd::Close => {
                            closing = true;
                            break;
                        }
                    }
                }
                stream.write_all(&bytes).is_ok()
            }
        };
        if !ok || closing {
            break;
        }
    }
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Both);
}

fn quote_loop(inner: Arc<Inner>, stop: Receiver<()>) {
    let period = Duration::from_secs_f64(1.0 / inner.cfg.quote_rate_hz.max(0.001));
    loop {
        match stop.recv_timeout(period) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        let mut core = inner.core();
        let symbols: Vec<String> = core.quotes.keys().cloned().collect();
        for s in symbols {
            let r = core.next_rand();
            let step = ((r % 5) as f64 - 2.0) * 0.01;
            let size_b = 100.0 * (1 + (r >> 8) % 10) as f64;
            let size_a = 100.0 * (1 + (r >> 16) % 10) as f64;
            if let Some(q) = core.quotes.get_mut(&s) {
                let mid = ((q.bid + q.ask) / 2.0 + step).max(0.05);
                let mid = (mid * 100.0).round() / 100.0;
                q.bid = ((mid - 0.01) * 100.0).round() / 100.0;
                q.ask = ((mid + 0.01) * 100.0).round() / 100.0;
                q.bid_size = size_b;
                q.ask_size = size_a;
            }
            core.quote_changed(&inner, &s);
        }
    }
}

/// Wall-clock now as (epoch seconds, `YYYYMMDD HH:MM:SS UTC`).
fn now_parts() -> (i64, String) {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let text = chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y%m%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "19700101 00:00:00 UTC".into());
    (secs, text)
}

impl Core {
    /// Queues one frame to a connection (dropped while hanging).
    fn send(&mut self, conn: u64, fields: Vec<String>) {
        if self.hang {
            return;
        }
        if let Some(c) = self.conns.get(&conn) {
            let _ = c.tx.send(WriterCmd::Frame(wire::frame(&fields)));
        }
    }

    /// The connection of an API client id, if connected.
    fn conn_of(&self, client_id: i32) -> Option<u64> {
        self.conns
            .iter()
            .find(|(_, c)| c.client_id == Some(client_id))
            .map(|(id, _)| *id)
    }

    /// Queues a frame to whichever connection holds this client id.
    fn send_client(&mut self, client_id: i32, fields: Vec<String>) {
        if let Some(c) = self.conn_of(client_id) {
            self.send(c, fields);
        }
    }

    /// Forgets a connection and closes its socket after the frames queued
    /// so far.
    fn close(&mut self, conn: u64) {
        if let Some(c) = self.conns.remove(&conn) {
            let _ = c.tx.send(WriterCmd::Close);
        }
    }

    fn next_rand(&mut self) -> u64 {
        // splitmix64
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn conn_event(&mut self, conn: u64, event: ConnEvent) {
        use wire::out::error;
        match event {
            ConnEvent::LostThenRestoredKept | ConnEvent::LostThenRestoredLost => {
                self.send(
                    conn,
                    error(
                        -1,
                        1100,
                        "Connectivity between IB and Trader Workstation has been lost.",
                    ),
                );
                if event == ConnEvent::LostThenRestoredKept {
                    self.send(
                        conn,
                        error(-1, 1102, "Connectivity between IB and Trader Workstation has been restored - data maintained."),
                    );
                } else {
                    self.send(
                        conn,
                        error(-1, 1101, "Connectivity between IB and Trader Workstation has been restored - data lost."),
                    );
                    // Data lost: the subscriptions are gone on TWS's side.
                    if let Some(c) = self.conns.get_mut(&conn) {
                        c.mkt_subs.clear();
                        c.tbt_subs.clear();
                    }
                }
            }
            ConnEvent::PortResetThenClose => {
                self.send(conn, error(-1, 1300, "TWS socket port has been reset and this connection is being dropped. Please reconnect on the new port"));
                self.close(conn);
            }
            ConnEvent::Hang => self.hang = true,
            ConnEvent::Disconnect => self.close(conn),
            ConnEvent::FarmBrokenThenOk => {
                self.send(
                    conn,
                    error(-1, 2103, "Market data farm connection is broken:usfarm"),
                );
                self.send(
                    conn,
                    error(-1, 2105, "HMDS data farm connection is broken:ushmds"),
                );
                self.send(
                    conn,
                    error(-1, 2104, "Market data farm connection is OK:usfarm"),
                );
                self.send(
                    conn,
                    error(-1, 2106, "HMDS data farm connection is OK:ushmds"),
                );
            }
        }
    }

    /// Streams a symbol's new quote and fills the resting orders it
    /// crosses.
    fn quote_changed(&mut self, inner: &Inner, symbol: &str) {
        let Some(q) = self.quotes.get(symbol).copied() else {
            return;
        };
        let (now, _) = now_parts();
        let mut out: Vec<(u64, Vec<String>)> = Vec::new();
        for (id, c) in &self.conns {
            for (req, s) in &c.mkt_subs {
                if s == symbol {
                    out.push((*id, wire::out::tick_price(*req, 1, q.bid, q.bid_size)));
                    out.push((*id, wire::out::tick_price(*req, 2, q.ask, q.ask_size)));
                    out.push((*id, wire::out::tick_size(*req, 0, q.bid_size)));
                    out.push((*id, wire::out::tick_size(*req, 3, q.ask_size)));
                }
            }
            for (req, s) in &c.tbt_subs {
                if s == symbol {
                    out.push((
                        *id,
                        wire::out::tick_by_tick_bid_ask(
                            *req, now, q.bid, q.ask, q.bid_size, q.ask_size,
                        ),
                    ));
                }
            }
        }
        for (c, f) in out {
            self.send(c, f);
        }
        let resting: Vec<i64> = self
            .state
            .orders
            .values()
            .filter(|o| o.symbol == symbol && o.status == OrderStatus::Submitted)
            .map(|o| o.perm_id)
            .collect();
        for perm in resting {
            self.try_match(inner, perm);
        }
    }

    /// Fills the order if it is marketable against its symbol's quote.
    fn try_match(&mut self, inner: &Inner, perm: i64) {
        let Some(o) = self.state.orders.get(&perm) else {
            return;
        };
        if o.status != OrderStatus::Submitted {
            return;
        }
        let Some(q) = self.quotes.get(&o.symbol) else {
            return;
        };
        if let Some(price) = o.match_price(q.bid, q.ask) {
            self.fill(inner, perm, price);
        }
    }

    /// Account values keyed by IB tag.
    fn account_values(&self) -> Vec<(&'static str, String)> {
        let quotes = &self.quotes;
        let nl = self
            .state
            .net_liquidation(|s| quotes.get(s).map(|q| (q.bid + q.ask) / 2.0));
        let cash = self.state.cash;
        vec![
            ("NetLiquidation", format!("{nl:.2}")),
            ("TotalCashValue", format!("{cash:.2}")),
            ("AvailableFunds", format!("{nl:.2}")),
            ("BuyingPower", format!("{nl:.2}")),
        ]
    }

    /// updateAccountValue/updatePortfolio/updateAccountTime/
    /// accountDownloadEnd for one connection.
    fn send_account_download(&mut self, conn: u64, account: &str) {
        let mut frames: Vec<Vec<String>> = Vec::new();
        for (k, v) in self.account_values() {
            frames.push(wire::out::update_account_value(k, &v, account));
        }
        frames.push(wire::out::update_account_value(
            "CashBalance",
            &format!("{:.2}", self.state.cash),
            account,
        ));
        for (sym, p) in &self.state.positions {
            if let (Some(c), Some(q)) = (self.contracts.get(sym), self.quotes.get(sym)) {
                frames.push(wire::out::update_portfolio(
                    c,
                    p.qty,
                    (q.bid + q.ask) / 2.0,
                    p.avg_cost,
                    account,
                ));
            }
        }
        let (_, t) = now_parts();
        let hhmm = t.get(9..14).unwrap_or("00:00").to_owned();
        frames.push(wire::out::update_account_time(&hhmm));
        frames.push(wire::out::account_download_end(account));
        for f in frames {
            self.send(conn, f);
        }
    }

    /// After a fill: stream the position and account updates to the
    /// connections that subscribed to them.
    fn push_books(&mut self, symbol: &str) {
        let account = self.account.clone();
        let pos = self
            .state
            .positions
            .get(symbol)
            .copied()
            .unwrap_or_default();
        let Some(c) = self.contracts.get(symbol).cloned() else {
            return;
        };
        let subs: Vec<(u64, bool, bool)> = self
            .conns
            .iter()
            .map(|(id, c)| (*id, c.positions_sub, c.account_updates))
            .collect();
        for (id, positions, account_updates) in subs {
            if positions {
                self.send(id, wire::out::position(&account, &c, pos.qty, pos.avg_cost));
            }
            if account_updates {
                self.send_account_download(id, &account);
            }
        }
    }

    /// Books a full fill and emits the fill sequence to the owner, applying
    /// any armed fill faults.
    fn fill(&mut self, inner: &Inner, perm: i64, price: f64) {
        use faults::Trigger;
        let faults = self.plan.take(Trigger::Fill);
        let has = |f: &dyn Fn(&OrderFault) -> bool| faults.iter().any(f);
        let Some(o) = self.state.orders.get(&perm) else {
            return;
        };
        let commission = book::commission_for(
            o.remaining(),
            inner.cfg.commission_per_share,
            inner.cfg.commission_min,
        );
        let (_, time) = now_parts();
        let Some(idx) = self.state.fill(perm, price, commission, time) else {
            return;
        };
        let symbol = self
            .state
            .orders
            .get(&perm)
            .map(|o| o.symbol.clone())
            .unwrap_or_default();
        if let Some(q) = self.quotes.get_mut(&symbol) {
            q.last = price;
        }
        let never = has(&|f| *f == OrderFault::CommissionNever);
        if never {
            if let Some(e) = self.state.executions.get_mut(idx) {
                e.commission = None;
            }
        }
        let Some(exec) = self.state.executions.get(idx).cloned() else {
            return;
        };
        let client = exec.client_id;
        let comm_first = has(&|f| *f == OrderFault::CommissionBeforeExec);
        if comm_first && !never {
            self.send_client(
                client,
                wire::out::commission_report(&exec.exec_id, commission),
            );
        }
        let exec_frame = self.exec_frame(&exec, -1);
        self.send_client(client, exec_frame.clone());
        if has(&|f| *f == OrderFault::DuplicateReports) {
            self.send_client(client, exec_frame);
        }
        let correction = faults.iter().find_map(|f| match f {
            OrderFault::CorrectExecution { price_offset } => Some(*price_offset),
            _ => None,
        });
        let exec = match correction {
            Some(off) => match self.state.correct(idx, price + off).cloned() {
                Some(corrected) => {
                    let fr = self.exec_frame(&corrected, -1);
                    self.send_client(client, fr);
                    corrected
                }
                None => exec,
            },
            None => exec,
        };
        if has(&|f| *f == OrderFault::DropAfterExecDetails) {
            if let Some(c) = self.conn_of(client) {
                self.close(c);
            }
            self.push_books(&symbol);
            return;
        }
        let Some(o) = self.state.orders.get(&perm).cloned() else {
            return;
        };
        let status = wire::out::order_status(
            o.order_id,
            o.status.as_str(),
            o.filled,
            o.remaining(),
            o.avg_fill_price,
            o.perm_id,
            o.last_fill_price,
            o.client_id,
        );
        self.send_client(client, status.clone());
        if has(&|f| *f == OrderFault::DuplicateReports) {
            self.send_client(client, status);
        }
        let oo = self.open_order_frame(&o, exec.commission);
        self.send_client(client, oo);
        if !comm_first && !never {
            let report = wire::out::commission_report(&exec.exec_id, commission);
            let delay = inner.cfg.commission_delay;
            if delay.is_zero() {
                self.send_client(client, report);
            } else if let Some(conn) = self.conn_of(client) {
                // Late report: to the same connection only (a reconnected
                // client gets it from reqExecutions), unless hanging.
                let weak = inner.self_ref();
                let _ = thread::Builder::new()
                    .name("fake-ibkr-commission".into())
                    .spawn(move || {
                        thread::sleep(delay);
                        if let Some(inner) = weak.upgrade() {
                            inner.core().send(conn, report);
                        }
                    });
            }
        }
        self.push_books(&symbol);
    }

    fn exec_frame(&self, e: &Execution, req_id: i64) -> Vec<String> {
        let fallback = StkContract {
            con_id: 0,
            symbol: e.symbol.clone(),
        };
        let c = self.contracts.get(&e.symbol).unwrap_or(&fallback);
        wire::out::exec_details(&wire::out::ExecView {
            req_id,
            order_id: e.order_id,
            contract: c,
            exec_id: &e.exec_id,
            time: &e.time,
            account: &self.account,
            side: e.action.exec_side(),
            shares: e.shares,
            price: e.price,
            perm_id: e.perm_id,
            client_id: e.client_id,
            cum_qty: e.cum_qty,
            avg_price: e.avg_price,
            order_ref: &e.order_ref,
        })
    }

    fn open_order_frame(&self, o: &Order, commission: Option<f64>) -> Vec<String> {
        let fallback = StkContract {
            con_id: 0,
            symbol: o.symbol.clone(),
        };
        let c = self.contracts.get(&o.symbol).unwrap_or(&fallback);
        wire::out::open_order(&wire::out::OpenOrderView {
            order_id: o.order_id,
            contract: c,
            action: o.action.as_str(),
            total_qty: o.total_qty,
            order_type: o.order_type.as_str(),
            lmt_price: o.lmt_price,
            tif: &o.tif,
            account: &o.account,
            order_ref: &o.order_ref,
            client_id: o.client_id,
            perm_id: o.perm_id,
            status: o.status.as_str(),
            commission,
        })
    }

    fn status_frame(o: &Order) -> Vec<String> {
        wire::out::order_status(
            o.order_id,
            o.status.as_str(),
            o.filled,
            o.remaining(),
            o.avg_fill_price,
            o.perm_id,
            o.last_fill_price,
            o.client_id,
        )
    }
}
