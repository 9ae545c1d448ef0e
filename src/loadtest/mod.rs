//! The end-to-end latency benchmark (issue 5 item 4, DESIGN §8): for each
//! requested rate, an in-process [`FeedServer`] serves the simulator over a
//! loopback websocket, and the whole engine — websocket client and Alpaca
//! decoder on the feed thread, the engine thread on the **quote trigger**,
//! the paper broker thread, the journal thread — runs on it for a fixed
//! duration in a fresh state directory; then the run's latency histograms
//! and counters become one [`RateResult`].
//!
//! # What one rate measures
//!
//! - the server paces [`Rate::PerSecond`] messages (quotes, plus one
//!   minute bar per symbol every `quotes_per_bar` quotes), each due message
//!   in its own frame when the server is on time (`batch` caps how many a
//!   late server packs into one frame), or sends as fast as the socket
//!   takes them at [`Rate::Max`];
//! - the measurement window opens when the first data message is sent and
//!   lasts `duration`; then the engine is told to stop (a stop flag on its
//!   control receiver, as SIGTERM does);
//! - wire→order and every stage come from the run's
//!   [`LatencyRecorder`](crate::telemetry::LatencyRecorder); events/s is
//!   the engine's processed events over the window; conflation counts the
//!   quotes the feed thread overwrote because the engine was behind.
//!
//! # Kept up
//!
//! A rate is **kept up** when all of these hold ([`KEPT_UP_RULE`]):
//! conflated quotes ≤ 0.1 % of decoded quotes; feed→engine queue p99
//! < 1 ms; the feed ended without error; and, for a paced rate, the server
//! sent at least 90 % of the requested messages in the window (a server that
//! could not write is a client that did not read). The maximum sustained
//! rate is the highest processed events/s of a rate that kept up.
//!
//! Cold module: a test and benchmark driver on its own threads (a timer
//! thread beside the engine's), reading the wall clock and formatting.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

pub mod report;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{DecisionTrigger, EngineConfig};
use crate::control::ControlReceiver;
use crate::engine::setup::{build_engine, SetupError};
use crate::feed::sim::params::MAX_DAYS;
use crate::feed::sim::{universe_for, SimParams};
use crate::feed::ws::server::{FeedServer, Rate, ServerConfig, ServerError, ServerStats, Source};
use crate::models::artifact::ModelPlan;
use crate::runtime::journal_thread::Console;
use crate::runtime::{self, FeedSource, RunError, RunOptions, WsSetupError, WsSource};
use crate::telemetry::{LatencyReport, Metric};

pub use report::{BenchFiles, BenchReport};

/// The kept-up rule, as printed with the report.
pub const KEPT_UP_RULE: &str = "conflated quotes <= 0.1% of decoded quotes, feed->engine queue \
     p99 < 1 ms, no feed error, and (paced rates) the server sent >= 90% of the requested \
     messages in the window";

/// Most conflated quotes, as a fraction of decoded quotes, of a kept-up rate.
pub const KEPT_UP_MAX_CONFLATED: f64 = 0.001;
/// Feed→engine queue p99 below which a rate is kept up, nanoseconds.
pub const KEPT_UP_QUEUE_P99_NS: u64 = 1_000_000;
/// Least fraction of the requested messages a paced server must send.
pub const KEPT_UP_MIN_SENT: f64 = 0.9;

/// How long the first data message may take after the run starts.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Rate assumed when sizing the simulator for [`Rate::Max`].
const MAX_RATE_BOUND: f64 = 3_000_000.0;

/// Key and secret environment-variable names inside the bench's secrets
/// file (never read from the environment).
const KEY_VAR: &str = "LT_BENCH_KEY";
const SECRET_VAR: &str = "LT_BENCH_SECRET";

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchParams {
    /// One run per rate, in order ([`Rate::Real`] is refused).
    pub rates: Vec<Rate>,
    /// Measurement window per rate (from the first data message).
    pub duration: Duration,
    /// Symbols served and traded.
    pub symbols: Vec<String>,
    /// Pin the engine thread to this core.
    pub pin_core: Option<usize>,
    /// The engine spins instead of parking when idle.
    pub busy_poll: bool,
    /// Most messages per frame when the server is late (≥ 1); on time,
    /// each message is its own frame.
    pub batch: usize,
    /// Simulated quotes per symbol per (one-minute) bar: a bar every this
    /// many quotes, so models warm up within seconds at the lowest rate.
    pub quotes_per_bar: u32,
    /// Simulator seed.
    pub seed: u64,
    /// Where the per-rate state directories and the secrets file go
    /// (created; the state directories are removed after each rate).
    pub work_dir: PathBuf,
}

impl BenchParams {
    /// The rates (10 k, 50 k, 100 k msg/s, max) for 10 s each on
    /// SPY, QQQ, AAPL; batch 1; 60 quotes per bar; seed 7; work directory
    /// under the system temp directory.
    pub fn new() -> BenchParams {
        BenchParams {
            rates: vec![
                Rate::PerSecond(10_000.0),
                Rate::PerSecond(50_000.0),
                Rate::PerSecond(100_000.0),
                Rate::Max,
            ],
            duration: Duration::from_secs(10),
            symbols: ["SPY", "QQQ", "AAPL"].map(str::to_owned).to_vec(),
            pin_core: None,
            busy_poll: false,
            batch: 1,
            quotes_per_bar: 60,
            seed: 7,
            work_dir: std::env::temp_dir().join(format!("lt-bench-{}", std::process::id())),
        }
    }
}

impl Default for BenchParams {
    fn default() -> Self {
        BenchParams::new()
    }
}

/// Why the benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("no rate to run: give at least one rate (messages/s or `max`)")]
    NoRates,
    #[error("rate `real` paces by event time and has no fixed rate: use messages/s or `max`")]
    RealRate,
    #[error("duration is zero: give a measurement window of at least one second")]
    ZeroDuration,
    #[error("no symbols: give at least one symbol")]
    NoSymbols,
    #[error("batch is 0: each frame carries at least one message")]
    Batch,
    #[error("work directory {}: {source}; pick a writable directory", path.display())]
    WorkDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("feed server: {0}")]
    Server(#[from] ServerError),
    #[error("websocket client: {0}")]
    Ws(#[from] WsSetupError),
    #[error("engine set-up: {0}")]
    Setup(#[from] SetupError),
    #[error("engine run at {rate}: {source}")]
    Run {
        rate: String,
        #[source]
        source: RunError,
    },
}

/// What one rate did.
#[derive(Clone, Debug)]
pub struct RateResult {
    /// The requested rate.
    pub rate: Rate,
    /// Measurement window actually run (first data message → stop).
    pub window: Duration,
    /// Data messages the server sent in the window.
    pub sent_in_window: u64,
    /// The server's counters at the end of the run.
    pub server: ServerStats,
    /// Quotes the client decoded.
    pub decoded_quotes: u64,
    /// Frames the client received.
    pub frames_received: u64,
    /// Events the engine processed.
    pub events: u64,
    /// Quotes overwritten on the feed→engine link.
    pub conflated: u64,
    /// Orders handed to the broker (fills + rejects).
    pub orders: u64,
    pub fills: u64,
    /// Every metric's percentiles.
    pub latency: LatencyReport,
    /// Core the engine was pinned to.
    pub pinned: Option<usize>,
    /// Why the stream stopped for good, if it did.
    pub feed_error: Option<String>,
}

impl RateResult {
    /// `10000` or `max`.
    pub fn label(&self) -> String {
        rate_label(self.rate)
    }

    /// Requested messages per second (`None` at max).
    pub fn requested_per_sec(&self) -> Option<f64> {
        match self.rate {
            Rate::PerSecond(r) => Some(r),
            Rate::Max | Rate::Real => None,
        }
    }

    fn secs(&self) -> f64 {
        self.window.as_secs_f64().max(1e-9)
    }

    /// Messages the server sent per second of the window.
    pub fn sent_per_sec(&self) -> f64 {
        self.sent_in_window as f64 / self.secs()
    }

    /// Events the engine processed per second of the window.
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs()
    }

    /// Conflated quotes as a fraction of decoded quotes.
    pub fn conflated_frac(&self) -> f64 {
        if self.decoded_quotes == 0 {
            0.0
        } else {
            self.conflated as f64 / self.decoded_quotes as f64
        }
    }

    /// Feed→engine queue p99, nanoseconds.
    pub fn queue_p99_ns(&self) -> Option<u64> {
        self.latency
            .metric(Metric::FeedQueue)
            .and_then(|r| r.stats)
            .map(|p| p.p99)
    }

    /// Why the rate was not kept up (empty when it was); see the module doc.
    pub fn missed(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.decoded_quotes == 0 {
            why.push("no quote decoded".to_owned());
        }
        if self.conflated_frac() > KEPT_UP_MAX_CONFLATED {
            why.push(format!(
                "{:.2}% of quotes conflated",
                100.0 * self.conflated_frac()
            ));
        }
        match self.queue_p99_ns() {
            Some(p) if p >= KEPT_UP_QUEUE_P99_NS => {
                why.push(format!("queue p99 {}", crate::telemetry::report::fmt_ns(p)))
            }
            Some(_) => {}
            None => why.push("no queue sample".to_owned()),
        }
        if let Some(e) = &self.feed_error {
            why.push(format!("feed error: {e}"));
        }
        if let Some(r) = self.requested_per_sec() {
            if self.sent_per_sec() < KEPT_UP_MIN_SENT * r {
                why.push(format!("server sent {:.0}/s", self.sent_per_sec()));
            }
        }
        why
    }

    /// Whether the engine kept up with this rate ([`KEPT_UP_RULE`]).
    pub fn kept_up(&self) -> bool {
        self.missed().is_empty()
    }
}

/// `10000` or `max` (or `real`).
pub fn rate_label(rate: Rate) -> String {
    match rate {
        Rate::Max => "max".to_owned(),
        Rate::Real => "real".to_owned(),
        Rate::PerSecond(r) => format!("{r}"),
    }
}

/// Run every rate of `params` on `config` (its decision trigger is set to
/// quote) and the models of `plan`, calling `progress` after each rate.
pub fn run(
    config: &EngineConfig,
    plan: &ModelPlan,
    params: &BenchParams,
    progress: &mut dyn FnMut(&RateResult),
) -> Result<BenchReport, BenchError> {
    if params.rates.is_empty() {
        return Err(BenchError::NoRates);
    }
    if params.rates.contains(&Rate::Real) {
        return Err(BenchError::RealRate);
    }
    if params.duration.is_zero() {
        return Err(BenchError::ZeroDuration);
    }
    if params.symbols.is_empty() {
        return Err(BenchError::NoSymbols);
    }
    if params.batch == 0 {
        return Err(BenchError::Batch);
    }
    let work = &params.work_dir;
    let work_err = |source| BenchError::WorkDir {
        path: work.clone(),
        source,
    };
    std::fs::create_dir_all(work).map_err(work_err)?;
    let (key, secret) = credentials();
    let secrets = write_secrets(work, &key, &secret).map_err(work_err)?;
    let mut config = config.clone();
    config.decision.trigger = DecisionTrigger::Quote;
    config.data.ws_secrets_file = Some(secrets.clone());
    config.data.ws_key_env = KEY_VAR.to_owned();
    config.data.ws_secret_env = SECRET_VAR.to_owned();
    let mut results = Vec::with_capacity(params.rates.len());
    let mut outcome = Ok(());
    for (i, &rate) in params.rates.iter().enumerate() {
        let state = work.join(format!("state-{i}-{}", rate_label(rate)));
        let _ = std::fs::remove_dir_all(&state);
        let r = run_rate(&config, plan, params, rate, &key, &secret, &state);
        let _ = std::fs::remove_dir_all(&state);
        match r {
            Ok(r) => {
                progress(&r);
                results.push(r);
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&secrets);
    let _ = std::fs::remove_dir(work);
    outcome?;
    Ok(BenchReport {
        duration: params.duration,
        symbols: params.symbols.clone(),
        batch: params.batch,
        quotes_per_bar: params.quotes_per_bar,
        busy_poll: params.busy_poll,
        pin_core: params.pin_core,
        warmup_bars: plan.warmup_bars(),
        rates: results,
    })
}

/// A throw-away key and secret for the in-process server and client.
fn credentials() -> (String, String) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let pid = std::process::id();
    (format!("LTBENCH{pid}"), format!("bench-{pid:x}-{nanos:x}"))
}

/// A 0600 secrets file (the client's only credential source) in `dir`.
fn write_secrets(dir: &Path, key: &str, secret: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join("bench-secrets.env");
    let _ = std::fs::remove_file(&path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(f, "{KEY_VAR}={key}\n{SECRET_VAR}={secret}")?;
    Ok(path)
}

/// Trading days of simulator data that `rate` cannot exhaust in the run.
fn sim_days(params: &BenchParams, rate: Rate, bar_minutes: u32) -> u32 {
    let per_sec = match rate {
        Rate::PerSecond(r) => r,
        Rate::Max | Rate::Real => MAX_RATE_BOUND,
    };
    let bars = f64::from(390 / bar_minutes.max(1));
    let per_day = params.symbols.len() as f64 * bars * (f64::from(params.quotes_per_bar) + 1.0);
    let needed = per_sec * (params.duration.as_secs_f64() + START_TIMEOUT.as_secs_f64());
    let days = (needed / per_day.max(1.0)).ceil() + 1.0;
    (days.min(f64::from(MAX_DAYS)) as u32).max(1)
}

/// The measurement window: first data message → stop.
struct Window {
    elapsed: Duration,
    sent: u64,
}

/// One rate: server, engine, timer; the result.
fn run_rate(
    config: &EngineConfig,
    plan: &ModelPlan,
    params: &BenchParams,
    rate: Rate,
    key: &str,
    secret: &str,
    state: &Path,
) -> Result<RateResult, BenchError> {
    let sim = SimParams {
        seed: params.seed,
        symbols: universe_for(&params.symbols),
        days: sim_days(params, rate, config.volatility.bar_minutes),
        session_timezone: config.risk.session_timezone,
        bar_minutes: config.volatility.bar_minutes,
        quotes_per_bar: params.quotes_per_bar,
        ..SimParams::default()
    };
    let mut sc = ServerConfig::new(
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        key,
        secret,
        Source::Sim(sim),
    );
    sc.rate = rate;
    sc.batch = params.batch;
    let server = FeedServer::start(sc)?;
    let url = format!("ws://{}/v2/iex", server.local_addr());

    let mut engine = build_engine(config, &params.symbols, plan)?;
    let ws = WsSource::from_config(config, &params.symbols, Some(&url))?;
    let feed = FeedSource::Ws(Box::new(ws));
    engine.set_bars_from_feed(feed.sends_bars());
    let stop = Arc::new(AtomicBool::new(false));
    let done = AtomicBool::new(false);
    let opts = RunOptions {
        state_dir: state.to_path_buf(),
        pin_core: params.pin_core,
        busy_poll: params.busy_poll,
        max_cycles: None,
        dry_run: false,
        console: Console::Quiet,
        control: ControlReceiver::detached().with_stop_flag(stop.clone()),
        on_event: None,
    };
    let (window, summary) = std::thread::scope(|scope| {
        let timer = scope.spawn(|| time_window(&server, params.duration, &stop, &done));
        let summary = runtime::run(config, &params.symbols, engine, feed, opts);
        done.store(true, Ordering::Relaxed);
        let window = timer.join().ok().flatten();
        (window, summary)
    });
    let stats = server.stats();
    server.stop();
    let summary = summary.map_err(|source| BenchError::Run {
        rate: rate_label(rate),
        source,
    })?;
    let window = window.unwrap_or(Window {
        elapsed: summary.wall,
        sent: stats.messages,
    });
    let ws = summary.ws.as_ref();
    Ok(RateResult {
        rate,
        window: window.elapsed,
        sent_in_window: window.sent,
        server: stats,
        decoded_quotes: ws.map_or(0, |w| w.decode.quotes),
        frames_received: ws.map_or(0, |w| w.counters.frames),
        events: summary.events,
        conflated: summary.conflated,
        orders: summary.fills + summary.rejects,
        fills: summary.fills,
        latency: LatencyReport::from_recorder(&summary.latency),
        pinned: summary.pinned,
        feed_error: ws.and_then(|w| w.error.as_ref()).map(ToString::to_string),
    })
}

/// Waits for the first data message, then `duration`, then sets `stop`;
/// returns early (with the window so far) when the run ended by itself
/// (`done`), and `None` when no data came within [`START_TIMEOUT`].
fn time_window(
    server: &FeedServer,
    duration: Duration,
    stop: &AtomicBool,
    done: &AtomicBool,
) -> Option<Window> {
    let tick = Duration::from_millis(1);
    let waiting = Instant::now();
    while server.stats().messages == 0 {
        if done.load(Ordering::Relaxed) || waiting.elapsed() > START_TIMEOUT {
            stop.store(true, Ordering::Relaxed);
            return None;
        }
        std::thread::sleep(tick);
    }
    let t0 = Instant::now();
    let m0 = server.stats().messages;
    let end = t0 + duration;
    loop {
        let now = Instant::now();
        if now >= end || done.load(Ordering::Relaxed) {
            break;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(10)));
    }
    let sent = server.stats().messages.saturating_sub(m0);
    let elapsed = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    Some(Window { elapsed, sent })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(rate: Rate, conflated: u64, sent: u64, queue_ns: u64) -> RateResult {
        let mut rec = crate::telemetry::LatencyRecorder::new();
        rec.record(Metric::FeedQueue, queue_ns);
        RateResult {
            rate,
            window: Duration::from_secs(1),
            sent_in_window: sent,
            server: ServerStats::default(),
            decoded_quotes: 10_000,
            frames_received: 10_000,
            events: 10_000,
            conflated,
            orders: 0,
            fills: 0,
            latency: LatencyReport::from_recorder(&rec),
            pinned: None,
            feed_error: None,
        }
    }

    #[test]
    fn kept_up_needs_little_conflation_a_short_queue_and_the_rate_sent() {
        let ok = result(Rate::PerSecond(10_000.0), 10, 9_500, 50_000);
        assert!(ok.kept_up(), "{:?}", ok.missed());
        let conflating = result(Rate::PerSecond(10_000.0), 11, 9_500, 50_000);
        assert!(!conflating.kept_up());
        let queued = result(Rate::PerSecond(10_000.0), 0, 9_500, 2_000_000);
        assert_eq!(queued.missed().len(), 1, "{:?}", queued.missed());
        let slow_server = result(Rate::PerSecond(10_000.0), 0, 8_000, 50_000);
        assert!(!slow_server.kept_up());
        let max = result(Rate::Max, 0, 8_000, 50_000);
        assert!(max.kept_up(), "max has no requested rate to meet");
        assert_eq!(max.label(), "max");
        assert_eq!(ok.label(), "10000");
    }

    #[test]
    fn the_simulator_outlasts_the_run() {
        let p = BenchParams::new();
        let days = sim_days(&p, Rate::PerSecond(100_000.0), 1);
        let per_day = 3.0 * 390.0 * 61.0;
        assert!(f64::from(days) * per_day > 100_000.0 * 10.0);
        assert!(sim_days(&p, Rate::Max, 1) <= MAX_DAYS);
    }

    #[test]
    fn bad_params_are_refused_before_anything_runs() {
        let c = EngineConfig::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/live_trading.yaml"),
        )
        .unwrap();
        let plan = ModelPlan::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sample-run"),
            &crate::models::artifact::PlanSettings::from_config(&c),
        )
        .unwrap();
        let mut p = BenchParams::new();
        p.rates = vec![Rate::Real];
        assert!(matches!(
            run(&c, &plan, &p, &mut |_| {}),
            Err(BenchError::RealRate)
        ));
        p.rates.clear();
        assert!(matches!(
            run(&c, &plan, &p, &mut |_| {}),
            Err(BenchError::NoRates)
        ));
        p.rates = vec![Rate::Max];
        p.batch = 0;
        assert!(matches!(
            run(&c, &plan, &p, &mut |_| {}),
            Err(BenchError::Batch)
        ));
    }
}
