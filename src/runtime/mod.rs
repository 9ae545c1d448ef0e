//! The running engine (DESIGN §1): the feed thread, the engine thread
//! (pinned, busy-polling or parking), the paper broker thread and the
//! journal thread, wired with the bounded links of [`links`], plus the
//! operator's control channel and start-up recovery.
//!
//! # Recovery
//!
//! Start-up follows DESIGN §7 in one of three modes, chosen by
//! [`recovery`]: a fresh state directory; a **re-run** of the same
//! deterministic input (simulator, unpaced replay) whose records are
//! compared byte for byte with the journal, so that journal and trade log
//! come out identical to an uninterrupted run; or a **resume** on any
//! other input — snapshot, journal tail, the broker put in line and
//! reconciled, warm-up on the new data, then trading.
//!
//! Cold module except [`engine_side`], which runs on the engine thread.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

pub mod engine_side;
pub mod journal_thread;
pub mod links;
pub mod recovery;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::broker::paper::{Fill, PaperBroker};
use crate::config::EngineConfig;
use crate::control::ControlReceiver;
use crate::engine::core::Engine;
use crate::engine::cycle::{OrderOutcome, OrderRequest, OrderRouter};
use crate::engine::state::EngineState;
use crate::feed::alpaca::{AlpacaDecoder, AlpacaMessage, DecodeCounters};
use crate::feed::event::MarketEvent;
use crate::feed::replay::{Pacer, ReplayFeed, ReplayStats};
use crate::feed::sim::MarketSim;
use crate::feed::ws::{WsCounters, WsError, WsEvent, WsFeed};
use crate::journal::{ControlCommand, JournalReader, JournalRecord, JournalWriter, TradeLog};
use crate::market::state::MarketCounters;
use crate::telemetry::{clock, LatencyRecorder, Metric};
use crate::types::{Nanos, Qty, SymbolOrder, TradingState};

use engine_side::{
    Drained, EngineClock, JournalLink, JournalSink, ReconcileCounters, ReconcilePolicy, Stamps,
    ThreadRouter,
};
use journal_thread::{Console, JournalConfig, JournalSummary};
use links::{BrokerMsg, FeedLink, FeedMsg, FullPolicy, JournalMsg, OrderMsg};

/// Where market data comes from.
pub enum FeedSource {
    Sim(Box<MarketSim>),
    Replay {
        feed: Box<ReplayFeed>,
        pacer: Option<Pacer>,
    },
    /// A live websocket stream (Alpaca v2 protocol).
    Ws(Box<WsSource>),
}

/// A websocket client and the decoder of its frames.
pub struct WsSource {
    pub feed: WsFeed,
    pub decoder: AlpacaDecoder,
}

/// Why a websocket feed cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum WsSetupError {
    #[error("market-data credentials: {0}")]
    Credentials(#[from] crate::feed::ws::CredentialsError),
    #[error("websocket feed: {0}")]
    Client(#[from] WsError),
    #[error("websocket decoder: {0}")]
    Decoder(#[from] crate::feed::alpaca::AlpacaSetupError),
}

impl WsSource {
    /// The websocket feed of `config` (`data.ws_*`, `data.stale_after_ms`)
    /// for `symbols`, at `url` or the configured one. Credentials come from
    /// the configured secrets file, else the configured environment
    /// variables; never from arguments. Connects on the feed thread's
    /// first poll. Cold path.
    pub fn from_config(
        config: &EngineConfig,
        symbols: &[String],
        url: Option<&str>,
    ) -> Result<WsSource, WsSetupError> {
        use crate::feed::ws::{Channels, Credentials, Roots, WsOptions};
        let d = &config.data;
        let credentials = match &d.ws_secrets_file {
            Some(path) => Credentials::from_file(path, &d.ws_key_env, &d.ws_secret_env)?,
            None => Credentials::from_env(&d.ws_key_env, &d.ws_secret_env)?,
        };
        let url = url.map_or_else(|| d.ws_url(), str::to_owned);
        let mut options = WsOptions::new(url, credentials, symbols.to_vec());
        // Alpaca's bars are minute bars: subscribe to them only when the
        // engine's bars are one minute; otherwise bars are built from quotes.
        options.channels = Channels {
            quotes: true,
            trades: false,
            bars: config.volatility.bar_minutes == 1,
        };
        options.stale_after = Duration::from_nanos(d.stale_after.0);
        if let Some(pem) = &d.ws_roots_pem {
            options.roots = Roots::Extra(pem.clone());
        }
        let feed = WsFeed::new(options)?;
        let decoder = AlpacaDecoder::new(symbols, crate::feed::alpaca::AlpacaParams::default())?;
        Ok(WsSource { feed, decoder })
    }
}

/// What a websocket feed did (end of run).
#[derive(Clone, Debug)]
pub struct WsSummary {
    pub counters: WsCounters,
    pub decode: DecodeCounters,
    /// Why the stream stopped for good, if it did (refused credentials,
    /// gave up reconnecting).
    pub error: Option<WsError>,
}

impl FeedSource {
    /// The next event, its decode time recorded into `latency` (pacing
    /// waits excluded).
    fn next(&mut self, latency: &mut LatencyRecorder) -> Option<MarketEvent> {
        let t0 = clock::now_ns();
        let event = match self {
            FeedSource::Sim(sim) => sim.next_event().map(MarketEvent::from),
            FeedSource::Replay { feed, .. } => feed.next_event(),
            FeedSource::Ws(_) => None,
        }?;
        latency.record(Metric::FeedDecode, clock::now_ns().saturating_sub(t0));
        if let FeedSource::Replay { pacer: Some(p), .. } = self {
            p.wait_until(event.time());
        }
        Some(event)
    }

    /// What identifies this input for a re-run: `None` when it cannot be
    /// re-run event for event (a paced replay conflates quotes by timing).
    pub fn input_id(&self) -> Option<String> {
        match self {
            FeedSource::Sim(sim) => Some(format!("sim {:?}", sim.params())),
            FeedSource::Replay { pacer: Some(_), .. } | FeedSource::Ws(_) => None,
            FeedSource::Replay { feed, pacer: None } => {
                let mut id = String::from("replay");
                for (path, _) in feed.files() {
                    let meta = std::fs::metadata(path).ok();
                    let len = meta.as_ref().map_or(0, std::fs::Metadata::len);
                    let modified = meta
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map_or(0, |d| d.as_nanos());
                    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
                    id.push_str(&format!(" {}:{len}:{modified}", path.display()));
                }
                Some(id)
            }
        }
    }

    /// Whether the source sends bars (then none are built from quotes).
    pub fn sends_bars(&self) -> bool {
        match self {
            FeedSource::Sim(_) => true,
            FeedSource::Replay { feed, .. } => feed
                .files()
                .any(|(_, layout)| layout == crate::feed::replay::Layout::Bars),
            FeedSource::Ws(ws) => ws.feed.options().channels.bars,
        }
    }

    fn policy(&self) -> FullPolicy {
        match self {
            FeedSource::Sim(_) => FullPolicy::Wait,
            FeedSource::Replay { pacer: None, .. } => FullPolicy::Wait,
            FeedSource::Replay { pacer: Some(_), .. } | FeedSource::Ws(_) => FullPolicy::Conflate,
        }
    }
}

/// How to run.
pub struct RunOptions {
    pub state_dir: PathBuf,
    pub pin_core: Option<usize>,
    pub busy_poll: bool,
    pub max_cycles: Option<u64>,
    pub dry_run: bool,
    pub console: Console,
    /// The control channel (socket server or none).
    pub control: ControlReceiver,
    /// Called on the engine thread after each event with the count of
    /// events so far (tests arm an allocation counter through it).
    pub on_event: Option<Box<dyn FnMut(u64) + Send>>,
}

/// What a run did.
pub struct RunSummary {
    pub events: u64,
    pub cycles: u64,
    pub decisions: u64,
    pub fills: u64,
    pub rejects: u64,
    pub cash: f64,
    pub portfolio_value: f64,
    pub initial_cash: f64,
    /// (symbol, signed shares) of open positions.
    pub positions: Vec<(String, f64)>,
    pub state: TradingState,
    pub market: MarketCounters,
    pub replay: Option<ReplayStats>,
    /// The websocket feed's counters (websocket feeds).
    pub ws: Option<WsSummary>,
    pub latency: LatencyRecorder,
    pub journal: JournalSummary,
    /// Records found in the journal at start.
    pub recovered_records: u64,
    /// How the run started (fresh, re-run, resume).
    pub start: StartReport,
    pub conflated: u64,
    pub feed_waits: u64,
    pub journal_waits: u64,
    pub snapshots_skipped: u64,
    pub reply_timeouts: u64,
    pub stopped_by: StopReason,
    pub wall: Duration,
    pub pinned: Option<usize>,
}

/// Why the engine loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    FeedEnded,
    MaxCycles,
    Stop,
    /// The re-run differs from the journal (see [`RunError::Diverged`]).
    Diverged,
    /// `reconciliation.mode: strict` found the live broker's positions
    /// differ from the book (SPEC §18.4).
    ReconcileStrict,
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("state directory {}: {source}", path.display())]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    #[error(transparent)]
    TradeLog(#[from] crate::journal::TradeLogError),
    #[error("paper broker: {0}")]
    Paper(String),
    #[error(
        "the journal in {dir} does not match this run: record {seq} differs ({detail}). \
         It was written by another input, symbol list or config; use a fresh --state-dir \
         (or the original inputs) to continue it"
    )]
    Diverged {
        dir: String,
        seq: u64,
        detail: String,
    },
    #[error(transparent)]
    Recovery(#[from] recovery::RecoveryError),
    #[error(
        "reconciliation at start-up: the broker reports {0}; trading stays blocked until the \
         book and the broker agree"
    )]
    Reconcile(String),
    #[error("the {0} thread panicked")]
    Panicked(&'static str),
    #[error("journal thread: {0}")]
    JournalWrite(String),
}

/// Journaled outcome of an order, by client order id.
#[derive(Clone, Copy, Debug)]
enum Known {
    Filled(Fill),
    Rejected(crate::types::Reason),
}

fn read_journal(dir: &Path) -> Result<Vec<JournalRecord>, RunError> {
    let mut records = Vec::new();
    if dir.exists() {
        for item in JournalReader::open(dir)? {
            let (_, rec) = item?;
            records.push(rec);
        }
    }
    Ok(records)
}

/// The journaled outcomes of `records`' orders, by client order id.
fn outcomes(records: &[JournalRecord]) -> HashMap<u64, Known> {
    let mut out = HashMap::new();
    for rec in records {
        if let Some((id, fill)) = recovery::fill_of(rec) {
            out.insert(id, Known::Filled(fill));
        }
        if let JournalRecord::Reject {
            client_order_id,
            reason,
            ..
        } = *rec
        {
            out.insert(client_order_id, Known::Rejected(reason));
        }
    }
    out
}

/// The engine thread's router during and after recovery.
struct RecoveringRouter {
    inner: ThreadRouter,
    outcomes: HashMap<u64, Known>,
}

impl OrderRouter for RecoveringRouter {
    fn submit(&mut self, order: &OrderRequest) -> OrderOutcome {
        if let Some(known) = self.outcomes.get(&order.client_order_id).copied() {
            // Journaled already: record (skipped as a duplicate), apply
            // the journaled outcome, keep the paper broker in step.
            let mut j = self.inner.journal.borrow_mut();
            let price = match order.side {
                crate::types::Side::Buy => order.quote.ask,
                crate::types::Side::Sell => order.quote.bid,
            };
            j.record(JournalRecord::Order {
                client_order_id: order.client_order_id,
                cycle: order.cycle,
                time: order.time,
                symbol: order.symbol,
                side: order.side,
                qty: order.qty,
                price,
                horizon: order.horizon,
            });
            return match known {
                Known::Filled(fill) => {
                    j.record(JournalRecord::Fill {
                        client_order_id: order.client_order_id,
                        broker_order_id: fill.order_id,
                        time: order.time,
                        symbol: fill.symbol,
                        side: fill.side,
                        qty: Qty(fill.qty.round() as i64),
                        price: fill.price,
                        fee: fill.fee,
                    });
                    drop(j);
                    self.inner.send(OrderMsg::Apply { fill });
                    OrderOutcome::Filled(fill)
                }
                Known::Rejected(reason) => {
                    j.record(JournalRecord::Reject {
                        client_order_id: order.client_order_id,
                        time: order.time,
                        symbol: order.symbol,
                        reason,
                    });
                    OrderOutcome::Rejected(reason)
                }
            };
        }
        self.inner.submit(order)
    }
}

/// How a run started (DESIGN §7; see [`recovery`]).
#[derive(Clone, Debug, PartialEq)]
pub enum StartReport {
    /// Empty state directory.
    Fresh,
    /// The same input re-run against the journal after `base_seq`.
    Rerun { base_seq: u64, journaled: u64 },
    /// The book continued from an image and the journal tail.
    Resume {
        image: recovery::ImageSource,
        image_seq: u64,
        tail_records: u64,
        tail_fills: u64,
        /// Orders journaled without an outcome (not executed: the paper
        /// broker died with the process that sent them).
        unresolved_orders: Vec<u64>,
        cash: f64,
        positions: usize,
    },
}

/// Start-up (DESIGN §7): pick the mode, bring `engine` and `broker` to the
/// journal's state, reconcile, record the new session. Returns the report
/// and the index of the first journal record the run must re-produce.
fn start_up(
    config: &EngineConfig,
    symbols: &[String],
    state_dir: &Path,
    records: &[JournalRecord],
    input: Option<String>,
    engine: &mut Engine,
    broker: &mut PaperBroker,
) -> Result<(StartReport, usize), RunError> {
    let horizons = &config.horizons;
    let identity = recovery::identity(input.as_deref(), config, symbols);
    let session = recovery::read_session(state_dir, symbols, horizons)?;
    let snapshot = recovery::read_snapshot(
        &resolve(state_dir, &config.engine.state_path),
        symbols,
        horizons,
    )?;
    let mode = recovery::start_mode(records, session, snapshot, identity.as_deref());
    let restore = |e: crate::engine::state::StateError| {
        RunError::Recovery(recovery::RecoveryError::Tail(e.to_string()))
    };
    // A fresh start and a resume begin a new session (a re-run keeps its own).
    let mut new_session = None;
    let (report, from) = match mode {
        recovery::StartMode::Fresh => {
            new_session = Some(recovery::Session {
                input: identity,
                base_seq: 0,
                base: None,
            });
            (StartReport::Fresh, 0)
        }
        recovery::StartMode::Rerun { base_seq, base } => {
            if let Some(b) = &base {
                b.restore_into(engine.cycle_mut()).map_err(restore)?;
            }
            let from = usize::try_from(base_seq).unwrap_or(usize::MAX);
            (
                StartReport::Rerun {
                    base_seq,
                    journaled: records.len().saturating_sub(from) as u64,
                },
                from,
            )
        }
        recovery::StartMode::Resume(mut resumed) => {
            recovery::resume(engine.cycle_mut(), &mut resumed, records)?;
            new_session = Some(recovery::Session {
                input: identity,
                base_seq: records.len() as u64,
                base: Some(resumed.state.clone()),
            });
            let st = &resumed.state;
            (
                StartReport::Resume {
                    image: resumed.image,
                    image_seq: resumed.image_seq,
                    tail_records: resumed.tail_records,
                    tail_fills: resumed.tail_fills,
                    unresolved_orders: resumed.unresolved_orders.clone(),
                    cash: st.cash,
                    positions: st.positions.iter().filter(|q| **q != 0.0).count(),
                },
                records.len(),
            )
        }
    };
    if let Some(session) = &new_session {
        recovery::write_session(state_dir, session, symbols, horizons)?;
    }
    // The broker starts from the engine's book; its explicit position
    // report must then agree with the book (SPEC §18.4: with the paper
    // broker the engine state is the broker state).
    let ledger = engine.cycle().ledger();
    broker
        .restore(
            ledger.cash(),
            &held(ledger.positions()),
            ledger.next_order_id(),
        )
        .map_err(|e| RunError::Paper(e.to_string()))?;
    let rec = recovery::reconcile(
        ledger.positions(),
        &held(broker.positions()),
        config.reconciliation.qty_tolerance,
    );
    if !rec.is_clean() || (broker.cash() - ledger.cash()).abs() > 1e-6 {
        return Err(RunError::Reconcile(format!(
            "drift {:?}, orphans {:?}, cash {} against {}",
            rec.drift,
            rec.orphans,
            broker.cash(),
            ledger.cash()
        )));
    }
    Ok((report, from))
}

/// The non-zero positions of a dense position table.
fn held(positions: &[f64]) -> Vec<(crate::types::SymbolId, f64)> {
    positions
        .iter()
        .enumerate()
        .filter(|(_, q)| **q != 0.0)
        .map(|(i, &q)| (crate::types::SymbolId(i as u16), q))
        .collect()
}

/// Run `engine` on `feed` until the feed ends, `max_cycles` cycles ran, or
/// the operator stops it.
pub fn run(
    config: &EngineConfig,
    symbols: &[String],
    engine: Engine,
    mut feed: FeedSource,
    opts: RunOptions,
) -> Result<RunSummary, RunError> {
    clock::init();
    let started = Instant::now();
    let state_dir = opts.state_dir.clone();
    std::fs::create_dir_all(&state_dir).map_err(|source| RunError::StateDir {
        path: state_dir.clone(),
        source,
    })?;
    let tz = config.risk.session_timezone;
    let journal_dir = state_dir.join("journal");
    let writer = JournalWriter::open(&journal_dir, tz)?;
    let records = read_journal(&journal_dir)?;
    let mut engine = engine;
    let paper = config.paper_params();
    let order = SymbolOrder::from_names(symbols).map_err(|e| RunError::Paper(e.to_string()))?;
    let mut broker = PaperBroker::new(paper, order).map_err(|e| RunError::Paper(e.to_string()))?;
    let (start, expected_from) = start_up(
        config,
        symbols,
        &state_dir,
        &records,
        feed.input_id(),
        &mut engine,
        &mut broker,
    )?;
    let horizons: Vec<String> = config.horizons.labels().map(str::to_owned).collect();
    let trade_dir = resolve(&state_dir, &config.logging.trade_log_dir);
    let trade_log = TradeLog::open(&trade_dir, tz, symbols, &horizons)?;
    let n = symbols.len();

    // Links.
    let (feed_tx, mut feed_rx) = rtrb::RingBuffer::<FeedMsg>::new(1 << 16);
    let (order_tx, mut order_rx) = rtrb::RingBuffer::<OrderMsg>::new(1024);
    let (event_tx, event_rx) = rtrb::RingBuffer::<BrokerMsg>::new(1024);
    let (journal_tx, journal_rx) = rtrb::RingBuffer::<JournalMsg>::new(1 << 16);
    let (mut free_tx, free_rx) = rtrb::RingBuffer::<Box<EngineState>>::new(4);
    for _ in 0..2 {
        let _ = free_tx.push(Box::new(EngineState::with_capacity(
            n,
            config.horizons.len(),
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));

    // Feed thread.
    let feed_stop = stop.clone();
    let policy = feed.policy();
    let feed_thread = std::thread::Builder::new()
        .name("feed".into())
        .spawn(move || {
            let mut link = FeedLink::new(feed_tx, policy, n);
            let mut decode = LatencyRecorder::new();
            let mut ws_summary = None;
            if let FeedSource::Ws(ws) = &mut feed {
                ws_summary = Some(ws_loop(ws, &mut link, &feed_stop, &mut decode));
            }
            while !feed_stop.load(Ordering::Relaxed) && !link.is_abandoned() {
                let Some(event) = feed.next(&mut decode) else {
                    break;
                };
                link.send(FeedMsg::Event {
                    event,
                    stamp: clock::now_ns(),
                });
            }
            link.drain();
            link.send(FeedMsg::End);
            let stats = match &feed {
                FeedSource::Replay { feed, .. } => Some(feed.stats()),
                FeedSource::Sim(_) | FeedSource::Ws(_) => None,
            };
            (link.conflated, link.waits, stats, decode, ws_summary)
        })
        .map_err(|e| RunError::StateDir {
            path: state_dir.clone(),
            source: e,
        })?;

    // Broker thread (paper).
    let broker_thread = std::thread::Builder::new()
        .name("broker".into())
        .spawn(move || paper_thread(&mut broker, &mut order_rx, event_tx))
        .map_err(|e| RunError::StateDir {
            path: state_dir.clone(),
            source: e,
        })?;

    let broker_handle = broker_thread.thread().clone();

    // Journal thread.
    let jcfg = JournalConfig {
        journal: writer,
        trade_log,
        history: Some(resolve(&state_dir, &config.engine.history_path)),
        recovered: records.clone(),
        state_path: resolve(&state_dir, &config.engine.state_path),
        symbols: symbols.to_vec(),
        horizons: config.horizons.clone(),
        initial_cash: paper.initial_cash,
        console: opts.console,
    };
    let journal_thread = std::thread::Builder::new()
        .name("journal".into())
        .spawn(move || journal_thread::run(jcfg, journal_rx, free_tx))
        .map_err(|e| RunError::StateDir {
            path: state_dir.clone(),
            source: e,
        })?;

    // Engine thread.
    // The paper broker answers inside the cycle; a live broker later.
    let asynchronous = false;
    let n_symbols = n;
    let reconciliation = config.reconciliation.clone();
    let RunOptions {
        pin_core,
        busy_poll,
        max_cycles,
        dry_run,
        control,
        on_event,
        ..
    } = opts;
    let recovered_records = records.len() as u64;
    let expected = records.get(expected_from..).unwrap_or_default().to_vec();
    let known = outcomes(&expected);
    let seq_offset = expected_from as u64;
    let dir_text = journal_dir.display().to_string();
    let engine_thread = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || {
            let pinned = pin_core.filter(|&c| {
                core_affinity::get_core_ids()
                    .and_then(|ids| ids.into_iter().find(|id| id.id == c))
                    .is_some_and(core_affinity::set_for_current)
            });
            let stamps = Rc::new(Stamps::default());
            let journal = Rc::new(RefCell::new(JournalLink::new(
                journal_tx, free_rx, expected, seq_offset,
            )));
            let mut router = RecoveringRouter {
                inner: ThreadRouter {
                    orders: order_tx,
                    events: event_rx,
                    journal: journal.clone(),
                    latency: LatencyRecorder::new(),
                    stamps: stamps.clone(),
                    dry_run,
                    order_waits: 0,
                    timeouts: 0,
                    broker: Some(broker_handle),
                    asynchronous,
                    working: vec![None; n_symbols].into(),
                    report: vec![None; n_symbols].into(),
                    policy: ReconcilePolicy {
                        mode: reconciliation.mode,
                        tolerance: reconciliation.qty_tolerance,
                    },
                    reconcile: ReconcileCounters::default(),
                    report_every: reconciliation.periodic_interval,
                },
                outcomes: known,
            };
            let mut sink = JournalSink {
                journal: journal.clone(),
                cycles: 0,
                snapshots: 0,
                snapshots_skipped: 0,
                last_state: TradingState::Active,
            };
            let mut clock_ = EngineClock::new(stamps.clone());
            let mut on_event = on_event;
            let out = engine_loop(
                &mut engine,
                &mut feed_rx,
                &control,
                &mut router,
                &mut sink,
                &mut clock_,
                busy_poll,
                max_cycles,
                &stamps,
                &mut on_event,
            );
            // A final snapshot of the end state, whatever was skipped.
            if journal.borrow().diverged.is_none() && !journal.borrow().recovering() {
                let image = loop {
                    let popped = journal.borrow_mut().free.pop();
                    match popped {
                        Ok(image) => break Some(image),
                        Err(_) if journal.borrow().free.is_abandoned() => break None,
                        Err(_) => std::thread::yield_now(),
                    }
                };
                if let Some(mut image) = image {
                    image.capture_into(engine.cycle());
                    journal.borrow_mut().send(JournalMsg::Snapshot(image));
                }
            }
            let diverged = journal
                .borrow()
                .diverged
                .map(|(seq, old, new)| (seq, format!("journaled {old:?}, produced {new:?}")));
            journal.borrow_mut().send(JournalMsg::End);
            router.inner.send(OrderMsg::Shutdown);
            let mut latency = clock_.latency;
            latency.merge(&router.inner.latency);
            let j = journal.borrow();
            (
                engine,
                out,
                latency,
                (j.waits, sink.snapshots_skipped, router.inner.timeouts),
                pinned,
                diverged,
            )
        })
        .map_err(|e| RunError::StateDir {
            path: state_dir.clone(),
            source: e,
        })?;

    let (engine, (stopped_by, events), latency, waits, pinned, diverged) = engine_thread
        .join()
        .map_err(|_| RunError::Panicked("engine"))?;
    stop.store(true, Ordering::Relaxed);
    let (conflated, feed_waits, replay, decode, ws) =
        feed_thread.join().map_err(|_| RunError::Panicked("feed"))?;
    let mut latency = latency;
    latency.merge(&decode);
    broker_thread
        .join()
        .map_err(|_| RunError::Panicked("broker"))?;
    let journal = journal_thread
        .join()
        .map_err(|_| RunError::Panicked("journal"))?;
    if let Some((seq, detail)) = diverged {
        return Err(RunError::Diverged {
            dir: dir_text,
            seq,
            detail,
        });
    }
    if let Some(e) = &journal.error {
        return Err(RunError::JournalWrite(e.clone()));
    }
    let cycle = engine.cycle();
    let ledger = cycle.ledger();
    let positions = symbols
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let q = ledger.position(crate::types::SymbolId(i as u16));
            (q != 0.0).then(|| (s.clone(), q))
        })
        .collect();
    Ok(RunSummary {
        events,
        cycles: engine.counters().cycles,
        decisions: engine.counters().decisions,
        fills: journal.fills,
        rejects: journal.rejects,
        cash: ledger.cash(),
        portfolio_value: cycle.portfolio_value(),
        initial_cash: paper.initial_cash,
        positions,
        state: cycle.guardrails().state(),
        market: *engine.market().counters(),
        replay,
        ws,
        latency,
        journal,
        recovered_records,
        start,
        conflated,
        feed_waits,
        journal_waits: waits.0,
        snapshots_skipped: waits.1,
        reply_timeouts: waits.2,
        stopped_by,
        wall: started.elapsed(),
        pinned,
    })
}

/// A path from config inside the run's state directory: a relative path
/// loses a leading `state/` (the default directory) and is joined to
/// `--state-dir`, so that one directory holds everything of a run.
fn resolve(state_dir: &Path, configured: &Path) -> PathBuf {
    if configured.is_absolute() {
        return configured.to_path_buf();
    }
    let rel = configured
        .strip_prefix("state")
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| configured.to_path_buf());
    state_dir.join(rel)
}

/// The engine loop. Returns why it stopped and the events it processed.
#[allow(clippy::too_many_arguments)]
fn engine_loop(
    engine: &mut Engine,
    feed: &mut rtrb::Consumer<FeedMsg>,
    control: &ControlReceiver,
    router: &mut RecoveringRouter,
    sink: &mut JournalSink,
    clock_: &mut EngineClock,
    busy_poll: bool,
    max_cycles: Option<u64>,
    stamps: &Stamps,
    on_event: &mut Option<Box<dyn FnMut(u64) + Send>>,
) -> (StopReason, u64) {
    let mut events = 0u64;
    let mut idle = 0u32;
    let mut last_time = Nanos::ZERO;
    let mut was_killed = false;
    loop {
        // A re-run applies the journaled operator commands where they were
        // recorded; live commands wait until the re-run is past them.
        let (replayed, recovering) = {
            let j = sink.journal.borrow();
            (j.next_expected_control(), j.recovering())
        };
        if let Some(rec @ JournalRecord::Control { command, .. }) = replayed {
            let mut controls = engine.cycle().controls();
            recovery::apply_command(&mut controls, command);
            engine.cycle_mut().set_controls(controls);
            sink.journal.borrow_mut().record(rec);
            continue;
        }
        if let Some(cmd) = control.try_recv().filter(|_| !recovering) {
            let mut controls = engine.cycle().controls();
            recovery::apply_command(&mut controls, cmd);
            engine.cycle_mut().set_controls(controls);
            sink.journal.borrow_mut().record(JournalRecord::Control {
                time: last_time,
                command: cmd,
            });
            if cmd == ControlCommand::Stop {
                return (StopReason::Stop, events);
            }
        }
        if router.inner.asynchronous {
            if router.inner.drain(engine.cycle_mut(), last_time) == Drained::StrictMismatch {
                return (StopReason::ReconcileStrict, events);
            }
            let g = engine.cycle().guardrails();
            let killed = g.kill_switch_active() || engine.cycle().controls().manual_kill;
            if killed && !was_killed {
                router.inner.send(OrderMsg::CancelAll);
            }
            was_killed = killed;
        }
        match feed.pop() {
            Ok(FeedMsg::Event { event, stamp }) => {
                idle = 0;
                events += 1;
                let now = clock::now_ns();
                clock_
                    .latency
                    .record(Metric::FeedQueue, now.saturating_sub(stamp));
                stamps.wire.set(stamp);
                last_time = last_time.max(event.time());
                let before = sink.cycles;
                engine.on_event(&event, router, sink, clock_);
                if let Some(f) = on_event.as_mut() {
                    f(events);
                }
                if sink.cycles != before {
                    if router.inner.asynchronous
                        && router.inner.report_every > 0
                        && sink.cycles.is_multiple_of(router.inner.report_every)
                        && router.inner.working.iter().all(Option::is_none)
                    {
                        router.inner.send(OrderMsg::Report);
                    }
                    let mut j = sink.journal.borrow_mut();
                    if j.diverged.is_some() {
                        return (StopReason::Diverged, events);
                    }
                    j.send(JournalMsg::Flush);
                    drop(j);
                    if max_cycles.is_some_and(|limit| sink.cycles >= limit) {
                        return (StopReason::MaxCycles, events);
                    }
                }
            }
            Ok(FeedMsg::Stale(stale)) => {
                let mut controls = engine.cycle().controls();
                if controls.feed_stale != stale {
                    controls.feed_stale = stale;
                    engine.cycle_mut().set_controls(controls);
                    let state = engine.cycle().guardrails().state();
                    sink.journal.borrow_mut().record(JournalRecord::Kill {
                        time: last_time,
                        state,
                        reason: Some(crate::types::Reason::FeedStale),
                    });
                }
            }
            Ok(FeedMsg::End) => return (StopReason::FeedEnded, events),
            Err(_) => {
                idle = idle.saturating_add(1);
                if busy_poll || idle < 128 {
                    std::hint::spin_loop();
                } else if idle < 1024 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }
}

/// The feed thread's loop for a websocket stream: poll, decode each frame
/// into events stamped with the frame's receive time, forward staleness;
/// until stopped, the engine is gone, or the stream fails for good.
fn ws_loop(
    ws: &mut WsSource,
    link: &mut FeedLink,
    stop: &AtomicBool,
    decode: &mut LatencyRecorder,
) -> WsSummary {
    let WsSource { feed, decoder } = ws;
    let mut error = None;
    while !stop.load(Ordering::Relaxed) && !link.is_abandoned() {
        let mut handler = |event: WsEvent<'_>| match event {
            WsEvent::Data(frame) => {
                let stamp = frame.received_ns;
                let _ = decoder.decode(frame.payload, Nanos(stamp), &mut |m| {
                    if let AlpacaMessage::Event(event) = m {
                        link.send(FeedMsg::Event { event, stamp });
                    }
                });
                decode.record(Metric::FeedDecode, clock::now_ns().saturating_sub(stamp));
            }
            WsEvent::Stale => link.send(FeedMsg::Stale(true)),
            WsEvent::Fresh => link.send(FeedMsg::Stale(false)),
            WsEvent::Streaming { .. } | WsEvent::Disconnected(_) => {}
        };
        if let Err(e) = feed.poll(Duration::from_millis(20), &mut handler) {
            log::error!("market data: {e}");
            error = Some(e);
            break;
        }
    }
    feed.close();
    WsSummary {
        counters: feed.counters(),
        decode: decoder.counters(),
        error,
    }
}

/// The paper broker thread: fills each order from the quote it carries.
fn paper_thread(
    broker: &mut PaperBroker,
    rx: &mut rtrb::Consumer<OrderMsg>,
    mut tx: rtrb::Producer<BrokerMsg>,
) {
    let mut idle = 0u32;
    loop {
        match rx.pop() {
            Ok(OrderMsg::Order { order, .. }) => {
                idle = 0;
                broker.set_quote(order.symbol, order.quote);
                let msg = match broker.submit_shares(order.symbol, order.side, order.qty) {
                    Ok(fill) => BrokerMsg::Filled {
                        client_order_id: order.client_order_id,
                        fill,
                        stamp: clock::now_ns(),
                    },
                    Err(reason) => BrokerMsg::Rejected {
                        client_order_id: order.client_order_id,
                        reason,
                        stamp: clock::now_ns(),
                    },
                };
                links::push_wait(&mut tx, msg);
            }
            Ok(OrderMsg::Apply { fill }) => {
                idle = 0;
                broker.apply_fill(&fill);
            }
            // Nothing works at the paper broker after the cycle and its
            // book is the engine's: no cancel, no report to reconcile.
            Ok(OrderMsg::CancelAll | OrderMsg::Report) => idle = 0,
            Ok(OrderMsg::Shutdown) => return,
            Err(_) => {
                if rx.is_abandoned() {
                    return;
                }
                idle = idle.saturating_add(1);
                if idle < 256 {
                    std::hint::spin_loop();
                } else if idle < 1024 {
                    std::thread::yield_now();
                } else {
                    // The engine unparks this thread with every message;
                    // the timeout only bounds a missed wake-up.
                    std::thread::park_timeout(Duration::from_millis(1));
                }
            }
        }
    }
}
