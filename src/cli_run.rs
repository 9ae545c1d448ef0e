//! `live-trading run` and `live-trading control`: load config, symbols and
//! models, pick the feed, run the engine's threads, print the P&L summary
//! and the latency report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use live_trading::backtest::{run_backtest, BacktestFeed};
use live_trading::config::{self, Choice, DecisionTrigger, EngineConfig, Symbols};
use live_trading::control::{self, ControlReceiver, ControlServer};
use live_trading::engine::setup::build_engine;
use live_trading::feed::replay::{Pacer, ReplayFeed, ReplayParams};
use live_trading::feed::sim::{universe_for, MarketSim, SimParams};
use live_trading::journal::ControlCommand;
use live_trading::models::artifact::{self, ModelPlan, PlanSettings};
use live_trading::runtime::journal_thread::Console;
use live_trading::runtime::recovery::ImageSource;
use live_trading::runtime::{self, FeedSource, RunOptions, RunSummary, StartReport, WsSource};
use live_trading::telemetry::LatencyReport;
use live_trading::types::Nanos;

/// Exit code for a run that could not start (bad config, models, feed).
const RUN_ERROR_EXIT: u8 = 2;

/// Quotes per bar per symbol the simulator sends for `run` (one every
/// 100 ms with one-minute bars), so that the quote a cycle decides on is
/// fresher than `risk.quote_age_max_ms`.
const SIM_QUOTES_PER_BAR: u32 = 600;

#[derive(Args)]
pub struct RunArgs {
    /// Run id of a model run under `<run-root>/RESULTS/runs/` (the latest
    /// timestamp is used).
    #[arg(long)]
    run_id: Option<String>,
    /// The model run root (the directory holding `targets/`), or the
    /// results root when `--run-id` is given.
    #[arg(long, default_value = "config/sample-run")]
    run_root: PathBuf,
    /// Broker: `paper` (in process, on its own thread) or `ibkr`.
    #[arg(long, default_value = "paper")]
    broker: String,
    /// Symbols, comma-separated (default: the symbols file).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// The symbols file.
    #[arg(long, default_value = config::DEFAULT_SYMBOLS_PATH)]
    symbols_file: PathBuf,
    /// Seconds of event time between cycles (`decision.interval_seconds`).
    #[arg(long)]
    interval: Option<u64>,
    /// Decision trigger: cycle, bar or quote (`decision.trigger`).
    #[arg(long)]
    trigger: Option<String>,
    /// Stop after this many cycles.
    #[arg(long)]
    max_cycles: Option<u64>,
    /// Decide and journal orders, but send none.
    #[arg(long)]
    dry_run: bool,
    /// Log level for the cold threads: error, warn, info, debug.
    #[arg(long)]
    log_level: Option<String>,
    /// The engine config.
    #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// Market data: `sim`, `replay:PATH[,PATH...]` (CSV, README layouts)
    /// or `ws://HOST:PORT/PATH`.
    #[arg(long, default_value = "sim")]
    feed: String,
    /// Replay pace: ×N real time (default: as fast as possible).
    #[arg(long)]
    speed: Option<f64>,
    /// Simulated trading days (`--feed sim`).
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// Simulator seed (`--feed sim`).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Directory of the journal, snapshot, trade log and control socket.
    /// A restart with the same inputs resumes from it.
    #[arg(long, default_value = "state")]
    state_dir: PathBuf,
    /// Pin the engine thread to this core.
    #[arg(long)]
    pin_core: Option<usize>,
    /// Spin instead of parking when the engine has nothing to do.
    #[arg(long)]
    busy_poll: bool,
    /// Also write the latency report as PATH.{txt,json,svg}.
    #[arg(long)]
    latency_report: Option<PathBuf>,
    /// Print only trades and periodic portfolio lines.
    #[arg(long)]
    quiet: bool,
}

/// Resolve the model run (`run_id` under `run_root`'s results, or the
/// newest run there) and load its plan. The error says which run failed and
/// why (the model loader's own message first).
pub(crate) fn load_plan(
    run_root: &Path,
    run_id: Option<&str>,
    config: &EngineConfig,
) -> Result<(PathBuf, ModelPlan), String> {
    let root = match run_id {
        Some(id) => {
            artifact::resolve_run(Path::new(id), &run_root.join(artifact::DEFAULT_RESULTS_DIR))
        }
        None => artifact::resolve_run(run_root, Path::new(artifact::DEFAULT_RESULTS_DIR)),
    }
    .map_err(|e| e.to_string())?;
    match ModelPlan::load(&root, &PlanSettings::from_config(config)) {
        Ok(plan) => Ok((root, plan)),
        Err(e) => Err(format!(
            "{e}\nthe model run {} cannot be loaded",
            root.display()
        )),
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(RUN_ERROR_EXIT)
}

/// `live-trading run`.
pub fn run(args: RunArgs) -> ExitCode {
    init_logging(args.log_level.as_deref());
    let (config, symbols) = match load_setup(
        &args.config,
        args.interval,
        args.trigger.as_deref(),
        &args.symbols,
        &args.symbols_file,
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match args.broker.as_str() {
        "paper" => {}
        "ibkr" => {
            return fail(
                "--broker ibkr: the Interactive Brokers client is not built yet (issue #6); use --broker paper",
            )
        }
        other => return fail(format!("--broker {other}: expected paper or ibkr")),
    }
    let (root, plan) = match load_plan(&args.run_root, args.run_id.as_deref(), &config) {
        Ok(loaded) => loaded,
        Err(e) => return fail(e),
    };
    let feed = match open_feed(&args, &config, &symbols) {
        Ok(f) => f,
        Err(e) => return fail(e),
    };
    let mut engine = match build_engine(&config, &symbols, &plan) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    engine.set_bars_from_feed(feed.sends_bars());
    let (mut server, receiver) = match bind_control(&args.state_dir) {
        Ok(pair) => pair,
        Err(e) => return fail(e),
    };
    let console = match (args.quiet, config.decision.trigger) {
        (false, DecisionTrigger::Cycle) => Console::Decisions,
        _ => Console::Trades { every: 100 },
    };
    println!(
        "live-trading: {} symbols ({}), {} models from {}, feed {}, trigger {} every {} s, state in {}",
        symbols.len(),
        symbols.join(","),
        plan.len(),
        root.display(),
        args.feed,
        config.decision.trigger.name(),
        config.decision.interval.0 / Nanos::PER_SEC,
        args.state_dir.display()
    );
    let opts = RunOptions {
        state_dir: args.state_dir.clone(),
        pin_core: args.pin_core,
        busy_poll: args.busy_poll,
        max_cycles: args.max_cycles,
        dry_run: args.dry_run,
        console,
        control: receiver,
        on_event: None,
    };
    let result = runtime::run(&config, &symbols, engine, feed, opts);
    if let Some(s) = server.as_mut() {
        s.shutdown();
    }
    let summary = match result {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    print_summary(&summary);
    let feed_error = summary
        .ws
        .as_ref()
        .and_then(|w| w.error.as_ref())
        .map(ToString::to_string);
    let report = LatencyReport::from_recorder(&summary.latency);
    println!();
    print!("{}", report.table());
    if let Some(path) = &args.latency_report {
        match report.write_all(path) {
            Ok(files) => println!(
                "latency report written: {}, {}, {}",
                files.text.display(),
                files.json.display(),
                files.svg.display()
            ),
            Err(e) => return fail(e),
        }
    }
    if let Some(e) = feed_error {
        return fail(format!("market data stopped: {e}"));
    }
    ExitCode::SUCCESS
}

/// Config (with `--interval` / `--trigger` applied) and symbols, shared by
/// `run` and `backtest`; the error is already printed.
fn load_setup(
    config_path: &Path,
    interval: Option<u64>,
    trigger: Option<&str>,
    symbols: &[String],
    symbols_file: &Path,
) -> Result<(EngineConfig, Vec<String>), ExitCode> {
    let mut config = EngineConfig::load(config_path).map_err(|e| {
        eprintln!("{e}");
        fail("the config is invalid (see `live-trading config check`)")
    })?;
    if let Some(secs) = interval {
        if secs == 0 {
            return Err(fail(
                "--interval 0: the interval is a number of seconds > 0",
            ));
        }
        config.decision.interval = Nanos::from_secs(secs);
    }
    if let Some(t) = trigger {
        config.decision.trigger = match t.to_ascii_lowercase().as_str() {
            "cycle" => DecisionTrigger::Cycle,
            "bar" => DecisionTrigger::Bar,
            "quote" => DecisionTrigger::Quote,
            other => {
                return Err(fail(format!(
                    "--trigger {other}: expected one of cycle, bar, quote"
                )))
            }
        };
    }
    let list = if symbols.is_empty() {
        Symbols::load(symbols_file).map_err(|e| {
            eprintln!("{e}");
            fail("the symbols file is invalid")
        })?
    } else {
        Symbols::from_list(symbols).map_err(|e| {
            eprintln!("{e}");
            fail("--symbols is invalid")
        })?
    };
    Ok((config, list.as_slice().to_vec()))
}

fn open_feed(
    args: &RunArgs,
    config: &EngineConfig,
    symbols: &[String],
) -> Result<FeedSource, String> {
    if args.feed == "sim" {
        let params = SimParams {
            seed: args.seed,
            symbols: universe_for(symbols),
            days: args.days,
            session_timezone: config.risk.session_timezone,
            bar_minutes: config.volatility.bar_minutes,
            quotes_per_bar: SIM_QUOTES_PER_BAR,
            ..SimParams::default()
        };
        let sim = MarketSim::new(params).map_err(|e| format!("--feed sim: {e}"))?;
        return Ok(FeedSource::Sim(Box::new(sim)));
    }
    if let Some(paths) = args.feed.strip_prefix("replay:") {
        let paths: Vec<PathBuf> = paths
            .split(',')
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .collect();
        let feed = ReplayFeed::open(&paths, symbols, ReplayParams::default())
            .map_err(|e| format!("--feed {}: {e}", args.feed))?;
        let pacer = match args.speed {
            Some(x) => Some(Pacer::new(Some(x)).map_err(|e| format!("--speed {x}: {e}"))?),
            None => None,
        };
        return Ok(FeedSource::Replay {
            feed: Box::new(feed),
            pacer,
        });
    }
    if args.feed == "ws" || args.feed.starts_with("ws://") || args.feed.starts_with("wss://") {
        let url = (args.feed != "ws").then_some(args.feed.as_str());
        let ws = WsSource::from_config(config, symbols, url)
            .map_err(|e| format!("--feed {}: {e}", args.feed))?;
        return Ok(FeedSource::Ws(Box::new(ws)));
    }
    Err(format!(
        "--feed {}: expected sim, replay:PATH[,PATH...], ws (data.ws_url) or ws[s]://HOST:PORT/PATH",
        args.feed
    ))
}

fn bind_control(state_dir: &Path) -> Result<(Option<ControlServer>, ControlReceiver), String> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| format!("--state-dir {}: {e}", state_dir.display()))?;
    let path = control::socket_path(state_dir);
    let (mut server, receiver) = ControlServer::bind(&path).map_err(|e| e.to_string())?;
    server.spawn().map_err(|e| e.to_string())?;
    let stop = control::install_signal_handlers().map_err(|e| e.to_string())?;
    Ok((Some(server), receiver.with_stop_flag(stop)))
}

fn print_summary(s: &RunSummary) {
    let pnl = s.portfolio_value - s.initial_cash;
    let pct = (s.portfolio_value / s.initial_cash - 1.0) * 100.0;
    println!();
    println!("=== summary ===");
    println!(
        "stopped: {:?} after {} events in {:.2} s ({:.0} events/s){}",
        s.stopped_by,
        s.events,
        s.wall.as_secs_f64(),
        s.events as f64 / s.wall.as_secs_f64().max(1e-9),
        s.pinned
            .map_or(String::new(), |c| format!(", engine pinned to core {c}"))
    );
    match &s.start {
        StartReport::Fresh => {}
        StartReport::Rerun {
            base_seq,
            journaled,
        } => println!(
            "recovered: same input re-run from journal record {}; {journaled} journaled records \
             verified before trading resumed",
            base_seq + 1
        ),
        StartReport::Resume {
            image,
            image_seq,
            tail_records,
            tail_fills,
            unresolved_orders,
            cash,
            positions,
        } => {
            println!(
                "resumed: book from the {} at journal record {image_seq} plus {tail_records} \
                 tail records ({tail_fills} fills): cash {cash:.2}, {positions} positions; \
                 broker reconciled",
                match image {
                    ImageSource::Snapshot => "snapshot",
                    ImageSource::SessionBase => "session start",
                    ImageSource::Start => "configured start",
                }
            );
            if !unresolved_orders.is_empty() {
                println!(
                    "resumed: {} journaled orders had no outcome and were not executed \
                     (client order ids {unresolved_orders:?})",
                    unresolved_orders.len()
                );
            }
        }
    }
    println!(
        "cycles {} | decisions {} | fills {} | rejected orders {} | state {}",
        s.cycles,
        s.decisions,
        s.fills,
        s.rejects,
        s.state.as_str()
    );
    println!(
        "portfolio ${:.2} | P&L {pnl:+.2} ({pct:+.3}%) | cash ${:.2}",
        s.portfolio_value, s.cash
    );
    if !s.positions.is_empty() {
        let held: Vec<String> = s
            .positions
            .iter()
            .map(|(n, q)| format!("{n} {q:+}"))
            .collect();
        println!("positions: {}", held.join(", "));
    }
    let m = &s.market;
    println!(
        "market data: {} quotes, {} bars from feed, {} bars built | refused: {} unknown symbol, {} out of order, {} bad quotes, {} bad prices",
        m.quotes, m.feed_bars, m.bars_built, m.unknown_symbol, m.out_of_order, m.bad_quotes, m.bad_prices
    );
    if let Some(r) = &s.replay {
        println!("replay: {r}");
    }
    if let Some(ws) = &s.ws {
        let c = &ws.counters;
        let d = &ws.decode;
        println!(
            "websocket: {} frames, {} bytes, {} sessions, {} reconnects, {} stale periods | decoded {} quotes, {} trades, {} bars | skipped {} malformed, {} unknown, {} unknown symbol",
            c.frames,
            c.bytes,
            c.sessions,
            c.reconnects,
            c.stale_periods,
            d.quotes,
            d.trades,
            d.bars,
            d.malformed(),
            d.unknown,
            d.unknown_symbol
        );
    }
    println!(
        "links: {} quotes conflated, feed waited {}×, journal waited {}×, snapshots skipped {}, broker timeouts {}",
        s.conflated, s.feed_waits, s.journal_waits, s.snapshots_skipped, s.reply_timeouts
    );
    println!(
        "journal: {} records (last seq {}), {} snapshots",
        s.journal.records, s.journal.last_seq, s.journal.snapshots
    );
}

/// `live-trading control <command>`.
pub fn control(command: &str, state_dir: &Path) -> ExitCode {
    let cmd = match ControlCommand::parse(command) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("control: {e}");
            return ExitCode::from(RUN_ERROR_EXIT);
        }
    };
    match control::send(&control::socket_path(state_dir), cmd) {
        Ok(reply) => {
            println!("{reply}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("control: {e}");
            ExitCode::from(1)
        }
    }
}

/// A minimal logger for the cold threads (replay problems, control
/// socket): `LEVEL target: message` on stderr.
fn init_logging(level: Option<&str>) {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::max_level()
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                eprintln!("{} {}: {}", r.level(), r.target(), r.args());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    let filter = match level.map(str::to_ascii_lowercase).as_deref() {
        Some("error") => log::LevelFilter::Error,
        Some("info") => log::LevelFilter::Info,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        _ => log::LevelFilter::Warn,
    };
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(filter);
    }
}

#[derive(Args)]
pub struct BacktestArgs {
    /// Market data: `sim` or `replay:PATH[,PATH...]` (CSV, README layouts).
    #[arg(long, default_value = "sim")]
    feed: String,
    /// Symbols, comma-separated (default: the symbols file).
    #[arg(long, value_delimiter = ',')]
    symbols: Vec<String>,
    /// The symbols file.
    #[arg(long, default_value = config::DEFAULT_SYMBOLS_PATH)]
    symbols_file: PathBuf,
    /// The engine config.
    #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// The model run root (the directory holding `targets/`).
    #[arg(long, default_value = "config/sample-run")]
    run_root: PathBuf,
    /// Seconds of event time between cycles (`decision.interval_seconds`).
    #[arg(long)]
    interval: Option<u64>,
    /// Decision trigger: cycle, bar or quote (`decision.trigger`).
    #[arg(long)]
    trigger: Option<String>,
    /// Oldest tradable quote in ms (`risk.quote_age_max_ms`), e.g. for
    /// one-second quote data.
    #[arg(long)]
    quote_age_max_ms: Option<f64>,
    /// Simulated trading days (`--feed sim`).
    #[arg(long, default_value_t = 5)]
    days: u32,
    /// Simulator seed (`--feed sim`).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Where to write backtest.{txt,json}, equity.csv and equity.svg.
    #[arg(long, default_value = "backtest-out")]
    out: PathBuf,
}

/// `live-trading backtest`.
pub fn backtest(args: BacktestArgs) -> ExitCode {
    init_logging(None);
    let (mut config, symbols) = match load_setup(
        &args.config,
        args.interval,
        args.trigger.as_deref(),
        &args.symbols,
        &args.symbols_file,
    ) {
        Ok(x) => x,
        Err(code) => return code,
    };
    if let Some(ms) = args.quote_age_max_ms {
        if !(ms.is_finite() && ms > 0.0) {
            return fail(format!(
                "--quote-age-max-ms {ms}: expected a number of milliseconds > 0"
            ));
        }
        config.risk.quote_age_max = Nanos((ms * 1e6) as u64);
    }
    let (_, plan) = match load_plan(&args.run_root, None, &config) {
        Ok(loaded) => loaded,
        Err(e) => return fail(e),
    };
    let feed = if args.feed == "sim" {
        BacktestFeed::Sim {
            days: args.days,
            seed: args.seed,
            quotes_per_bar: SIM_QUOTES_PER_BAR,
        }
    } else if let Some(paths) = args.feed.strip_prefix("replay:") {
        BacktestFeed::Replay {
            paths: paths
                .split(',')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect(),
        }
    } else {
        return fail(format!(
            "--feed {}: expected sim or replay:PATH[,PATH...]",
            args.feed
        ));
    };
    match run_backtest(&config, &symbols, &plan, feed, Some(&args.out)) {
        Ok(outcome) => {
            print!("{}", outcome.summary());
            println!("files written to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
