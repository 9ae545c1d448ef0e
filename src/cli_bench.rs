//! `live-trading bench latency`: the end-to-end latency benchmark of
//! [`live_trading::loadtest`] — load the config and the model run, run
//! every rate over a loopback websocket, print the table, write
//! `DIR/latency-bench.{json,svg}`.
//!
//! Cold path (the CLI edge): prints and formats.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};

use live_trading::config::{self, EngineConfig, Symbols};
use live_trading::feed::ws::server::Rate;
use live_trading::loadtest::{self, BenchParams};

/// Exit code when the benchmark could not run.
const BENCH_ERROR_EXIT: u8 = 2;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Feed server → websocket over loopback → engine (quote trigger, the
    /// sample run, paper broker) at each rate for a fixed time: wire→order
    /// and every stage's p50/p90/p99/p99.9/max, events/s, conflation and
    /// whether the engine kept up; a table, latency-bench.json and
    /// latency-bench.svg.
    Latency(LatencyArgs),
}

#[derive(Args)]
pub struct LatencyArgs {
    /// Messages per second, comma-separated; `max` sends as fast as the
    /// socket takes them.
    #[arg(long, value_delimiter = ',', default_value = "10000,50000,100000,max")]
    rates: Vec<Rate>,
    /// Measurement window per rate, seconds (from the first message).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Symbols served and traded, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "SPY,QQQ,AAPL")]
    symbols: Vec<String>,
    /// Pin the engine thread to this core.
    #[arg(long)]
    pin_core: Option<usize>,
    /// The engine spins instead of parking when idle.
    #[arg(long)]
    busy_poll: bool,
    /// Where latency-bench.json and latency-bench.svg are written.
    #[arg(long, default_value = "bench-out")]
    out: PathBuf,
    /// Most messages per frame when the server runs late (on time, every
    /// message is its own frame).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Simulated quotes per symbol per one-minute bar.
    #[arg(long, default_value_t = 60)]
    quotes_per_bar: u32,
    /// Simulator seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The engine config.
    #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
    config: PathBuf,
    /// The model run root (the directory holding `targets/`).
    #[arg(long, default_value = "config/sample-run")]
    run_root: PathBuf,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(BENCH_ERROR_EXIT)
}

/// `live-trading bench …`.
pub fn run(command: BenchCommand) -> ExitCode {
    match command {
        BenchCommand::Latency(args) => latency(args),
    }
}

fn latency(args: LatencyArgs) -> ExitCode {
    let config = match EngineConfig::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return fail("the config is invalid (see `live-trading config check`)");
        }
    };
    let symbols = match Symbols::from_list(&args.symbols) {
        Ok(s) => s.as_slice().to_vec(),
        Err(e) => {
            eprintln!("{e}");
            return fail("--symbols is invalid");
        }
    };
    let (root, plan) = match crate::cli_run::load_plan(&args.run_root, None, &config) {
        Ok(loaded) => loaded,
        Err(e) => return fail(e),
    };
    let params = BenchParams {
        rates: args.rates,
        duration: Duration::from_secs(args.duration_secs),
        symbols,
        pin_core: args.pin_core,
        busy_poll: args.busy_poll,
        batch: args.batch,
        quotes_per_bar: args.quotes_per_bar,
        seed: args.seed,
        ..BenchParams::new()
    };
    println!(
        "latency bench: {} rate(s) × {} s, symbols {}, models from {}",
        params.rates.len(),
        args.duration_secs,
        params.symbols.join(","),
        root.display()
    );
    let mut progress = |r: &loadtest::RateResult| {
        println!(
            "rate {}: {:.0} msg/s sent, {:.0} events/s processed, {} conflated, {} orders, kept up: {}",
            r.label(),
            r.sent_per_sec(),
            r.events_per_sec(),
            r.conflated,
            r.orders,
            if r.kept_up() { "yes" } else { "no" }
        );
    };
    let report = match loadtest::run(&config, &plan, &params, &mut progress) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    println!();
    print!("{}", report.table());
    match report.write(&args.out) {
        Ok(files) => {
            println!("written: {}, {}", files.json.display(), files.svg.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
