//! Running the engine's threads on the simulator or on CSV files written
//! from it, into temporary state directories.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::Write;
use std::path::{Path, PathBuf};

use live_trading::config::{DecisionTrigger, EngineConfig};
use live_trading::control::ControlReceiver;
use live_trading::engine::setup::build_engine;
use live_trading::feed::replay::{ReplayFeed, ReplayParams};
use live_trading::feed::sim::{universe_for, MarketSim, SimEvent, SimParams};
use live_trading::models::artifact::{ModelPlan, PlanSettings};
use live_trading::runtime::journal_thread::Console;
use live_trading::runtime::{self, FeedSource, RunOptions, RunSummary};
use live_trading::types::Nanos;

pub const SYMBOLS: [&str; 3] = ["SPY", "QQQ", "AAPL"];

pub fn symbols() -> Vec<String> {
    SYMBOLS.iter().map(|s| s.to_string()).collect()
}

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped config with one-minute cycles of `trigger`.
pub fn config(trigger: DecisionTrigger) -> EngineConfig {
    let mut c = EngineConfig::load(&root().join("config/live_trading.yaml")).unwrap();
    c.decision.trigger = trigger;
    c.decision.interval = Nanos::from_secs(60);
    c
}

pub fn sim_params(days: u32) -> SimParams {
    SimParams {
        symbols: universe_for(&symbols()),
        days,
        quotes_per_bar: 600,
        ..SimParams::default()
    }
}

/// A fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "lt-{name}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Write `days` simulated sessions as a quotes CSV and a bars CSV (the
/// README layouts) under `dir`; returns both paths.
pub fn write_sim_csv(dir: &Path, days: u32, minutes: Option<u64>) -> Vec<PathBuf> {
    let mut sim = MarketSim::new(sim_params(days)).unwrap();
    let names = symbols();
    let qp = dir.join("quotes.csv");
    let bp = dir.join("bars.csv");
    let mut q = std::io::BufWriter::new(std::fs::File::create(&qp).unwrap());
    let mut b = std::io::BufWriter::new(std::fs::File::create(&bp).unwrap());
    writeln!(q, "symbol,ts_utc_ns,bid,bid_size,ask,ask_size").unwrap();
    writeln!(b, "symbol,ts_utc_ns,open,high,low,close,volume").unwrap();
    let mut first = None;
    while let Some(e) = sim.next_event() {
        let t = e.time().0;
        let start = *first.get_or_insert(t);
        if minutes.is_some_and(|m| t - start > m * 60 * Nanos::PER_SEC) {
            break;
        }
        match e {
            SimEvent::Quote {
                symbol,
                bid,
                ask,
                time,
            } => writeln!(
                q,
                "{},{},{bid},100,{ask},100",
                names[symbol.index()],
                time.0
            )
            .unwrap(),
            SimEvent::Bar {
                symbol,
                end,
                open,
                high,
                low,
                close,
                volume,
            } => writeln!(
                b,
                "{},{},{open},{high},{low},{close},{volume}",
                names[symbol.index()],
                end.0 - 60 * Nanos::PER_SEC
            )
            .unwrap(),
        }
    }
    vec![qp, bp]
}

pub fn plan(config: &EngineConfig) -> ModelPlan {
    ModelPlan::load(
        &root().join("config/sample-run"),
        &PlanSettings::from_config(config),
    )
    .unwrap()
}

pub enum Input<'a> {
    Sim(u32),
    Replay(&'a [PathBuf]),
}

/// Run the engine's threads on `input` into `state_dir`.
pub fn run(
    trigger: DecisionTrigger,
    input: Input<'_>,
    state_dir: &Path,
    max_cycles: Option<u64>,
    on_event: Option<Box<dyn FnMut(u64) + Send>>,
) -> Result<RunSummary, runtime::RunError> {
    run_controlled(
        trigger,
        input,
        state_dir,
        max_cycles,
        on_event,
        ControlReceiver::detached(),
    )
}

/// [`run`] with an operator control channel.
pub fn run_controlled(
    trigger: DecisionTrigger,
    input: Input<'_>,
    state_dir: &Path,
    max_cycles: Option<u64>,
    on_event: Option<Box<dyn FnMut(u64) + Send>>,
    control: ControlReceiver,
) -> Result<RunSummary, runtime::RunError> {
    let config = config(trigger);
    let names = symbols();
    let mut engine = build_engine(&config, &names, &plan(&config)).unwrap();
    let feed = match input {
        Input::Sim(days) => FeedSource::Sim(Box::new(MarketSim::new(sim_params(days)).unwrap())),
        Input::Replay(paths) => FeedSource::Replay {
            feed: Box::new(ReplayFeed::open(paths, &names, ReplayParams::default()).unwrap()),
            pacer: None,
        },
    };
    engine.set_bars_from_feed(feed.sends_bars());
    let opts = RunOptions {
        state_dir: state_dir.to_path_buf(),
        pin_core: None,
        busy_poll: false,
        max_cycles,
        dry_run: false,
        console: Console::Quiet,
        control,
        on_event,
    };
    runtime::run(&config, &names, engine, feed, opts)
}

/// Every file under `dir` (relative path → bytes), sorted.
pub fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                if rel.ends_with(".sock") {
                    continue;
                }
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}
