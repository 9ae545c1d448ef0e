//! The `live-trading` command line: parses arguments once and dispatches.
//! `anyhow` lives only here and in config loading.

// The CLI edge prints and formats (.clippy.toml bans it in the engine).
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cli_bench;
mod cli_run;

use live_trading::config::{self, EngineConfig, Symbols};
use live_trading::conformance;
use live_trading::feed::sim::dataset::{self, DatasetSpec};
use live_trading::feed::sim::SimParams;
use live_trading::models::artifact::{self, Inspection, PlanSettings};
use live_trading::models::lightgbm::{LightGbmModel, Objective};
use live_trading::models::ltw::{self, LtwModel};

#[derive(Parser)]
#[command(
    name = "live-trading",
    version,
    about = "Low-latency live-trading engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine: the sample run, the simulator and the paper broker
    /// by default, for one simulated trading day; then a P&L summary and
    /// the latency report.
    Run(Box<cli_run::RunArgs>),
    /// Replay CSV data (or the simulator) through the engine in event time
    /// with the inline paper broker; print total return, Sharpe, drawdown,
    /// turnover, fees, trades, hit rate and per-horizon P&L; write the
    /// equity curve (CSV, SVG) and the metrics (text, JSON).
    Backtest(Box<cli_run::BacktestArgs>),
    /// Send a command to a running engine: pause, resume, stop, kill,
    /// reset-kill.
    Control {
        /// pause | resume | stop | kill | reset-kill
        command: String,
        /// The running engine's state directory (`run --state-dir`).
        #[arg(long, default_value = "state")]
        state_dir: PathBuf,
    },
    /// Run vector files through the real stage code and compare every field.
    Conformance {
        /// Vector files (`{"stage", "tolerance", "cases"}`).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print only failures and the summary.
        #[arg(long)]
        quiet: bool,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Model run artifacts.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Benchmarks: `bench latency`, the end-to-end latency benchmark over
    /// a loopback websocket.
    Bench {
        #[command(subcommand)]
        command: cli_bench::BenchCommand,
    },
    /// The seeded market simulator.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// Simulate sessions and write a training CSV for
    /// tools/export_model.py: one row per symbol per bar with every
    /// catalogue feature, `fwd_ret_<h>` per horizon and the base horizon's
    /// barrier labels (schema in src/feed/sim/dataset.rs and the README).
    Dataset {
        /// The CSV file to write (replaced when complete).
        #[arg(long)]
        out: PathBuf,
        /// Trading days (weekdays from 2024-01-02).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Simulator seed: the same seed writes the same bytes.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Symbols of the default universe (SPY, QQQ, AAPL, MSFT, NVDA,
        /// IWM), comma-separated; ids follow this order. Default all.
        #[arg(long, value_delimiter = ',')]
        symbols: Vec<String>,
        /// The engine config (horizons, volatility.bar_minutes,
        /// volatility.vol_window, data.history_bars,
        /// risk.session_timezone).
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List a run's targets, horizons, families, formats, features,
    /// checksums and warm-up needs; print every error that would stop
    /// start-up (exit code 2).
    Inspect {
        /// The run: its timestamp directory (the one holding `targets/`),
        /// a run-id directory (the latest timestamp is used) or a bare run
        /// id under `--results`.
        run: PathBuf,
        /// The engine config (horizons, bar_minutes, history_bars, models.*).
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Where bare run ids are looked up (`<results>/runs/<run_id>/`).
        #[arg(long, default_value = artifact::DEFAULT_RESULTS_DIR)]
        results: PathBuf,
        /// List the run without opening its model files (by default each
        /// is opened through its back-end, as start-up does).
        #[arg(long)]
        no_load: bool,
    },
    /// Convert a LightGBM text model (`model.txt`) into the engine's
    /// memory-mapped weight file (`.ltw`, tree ensemble); print a one-line
    /// summary, or the error (exit code 2).
    Convert {
        /// The LightGBM text model.
        input: PathBuf,
        /// The `.ltw` file to write (replaced atomically).
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Load and validate the config; print the resolved config, or every
    /// error found (exit code 2).
    Check {
        /// The engine config file.
        #[arg(long, default_value = config::DEFAULT_CONFIG_PATH)]
        config: PathBuf,
        /// Also check a symbols file (e.g. config/symbols.yaml).
        #[arg(long)]
        symbols: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => cli_run::run(*args),
        Command::Backtest(args) => cli_run::backtest(*args),
        Command::Bench { command } => cli_bench::run(command),
        Command::Control { command, state_dir } => cli_run::control(&command, &state_dir),
        Command::Conformance { files, quiet } => run_conformance(&files, quiet),
        Command::Config {
            command: ConfigCommand::Check { config, symbols },
        } => run_config_check(&config, symbols.as_deref()),
        Command::Models { command } => match command {
            ModelsCommand::Inspect {
                run,
                config,
                results,
                no_load,
            } => run_models_inspect(&run, &config, &results, !no_load),
            ModelsCommand::Convert { input, output } => run_models_convert(&input, &output),
        },
        Command::Sim {
            command:
                SimCommand::Dataset {
                    out,
                    days,
                    seed,
                    symbols,
                    config,
                },
        } => run_sim_dataset(&out, days, seed, &symbols, &config),
    }
}

/// Exit code of `sim dataset` when nothing was written.
const SIM_ERROR_EXIT: u8 = 2;

fn run_sim_dataset(
    out: &Path,
    days: u32,
    seed: u64,
    symbols: &[String],
    config_path: &Path,
) -> ExitCode {
    let config = match EngineConfig::load(config_path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("sim dataset: the config is invalid (see `live-trading config check`)");
            return ExitCode::from(SIM_ERROR_EXIT);
        }
    };
    let mut params = SimParams {
        seed,
        days,
        bar_minutes: config.volatility.bar_minutes,
        session_timezone: config.risk.session_timezone,
        ..SimParams::default()
    };
    if !symbols.is_empty() {
        if let Err(e) = params.select_symbols(symbols) {
            eprintln!("sim dataset: {e}");
            return ExitCode::from(SIM_ERROR_EXIT);
        }
    }
    let bar_minutes = params.bar_minutes;
    let spec = DatasetSpec::from_config(&config);
    match dataset::write_file(out, params, &spec) {
        Ok(s) => {
            println!(
                "{}: {} rows, {} symbols x {} bars of {bar_minutes} min, {} day{} \
                 ({} to {}), seed {seed}",
                out.display(),
                s.rows,
                s.symbols,
                s.bars_per_symbol,
                s.days,
                if s.days == 1 { "" } else { "s" },
                live_trading::iso::format(s.first),
                live_trading::iso::format(s.last),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sim dataset: {e}");
            eprintln!("sim dataset: {} was not written", out.display());
            ExitCode::from(SIM_ERROR_EXIT)
        }
    }
}

/// Exit code of `models inspect` when the run cannot be loaded.
const MODELS_ERROR_EXIT: u8 = 2;

fn run_models_inspect(run: &Path, config_path: &Path, results: &Path, load: bool) -> ExitCode {
    let settings = match EngineConfig::load(config_path) {
        Ok(c) => PlanSettings::from_config(&c),
        Err(e) => {
            eprintln!("{e}");
            eprintln!("models inspect: the config is invalid (see `live-trading config check`)");
            return ExitCode::from(MODELS_ERROR_EXIT);
        }
    };
    let run_root = match artifact::resolve_run(run, results) {
        Ok(root) => root,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(MODELS_ERROR_EXIT);
        }
    };
    let mut inspection = Inspection::run(&run_root, &settings);
    if load {
        inspection.load_backends();
    }
    print!("{inspection}");
    let errors = inspection.errors();
    if errors.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!();
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!(
        "models inspect: the run cannot be loaded: {} error{}",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(MODELS_ERROR_EXIT)
}

fn run_models_convert(input: &Path, output: &Path) -> ExitCode {
    let model = match LightGbmModel::load(input) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("models convert: {} was not converted", input.display());
            return ExitCode::from(MODELS_ERROR_EXIT);
        }
    };
    if let Err(e) = ltw::write_lightgbm(output, &model) {
        eprintln!("{e}");
        eprintln!("models convert: {} was not written", output.display());
        return ExitCode::from(MODELS_ERROR_EXIT);
    }
    // Read back through the engine's own loader: what start-up will see.
    let written = match LtwModel::open(output) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(MODELS_ERROR_EXIT);
        }
    };
    let e = model.ensemble();
    let objective = match model.objective() {
        Objective::Regression => "regression".to_string(),
        Objective::Binary { sigmoid } => format!("binary (sigmoid {sigmoid})"),
    };
    println!(
        "{} -> {}: tree ensemble, {} trees, {} nodes, {} leaves, {} features, {objective}{}, {} bytes",
        input.display(),
        output.display(),
        e.n_trees(),
        e.nodes().len(),
        e.leaf_values().len(),
        e.n_features(),
        if model.averages_output() { ", averaged" } else { "" },
        written.mapping().len()
    );
    ExitCode::SUCCESS
}

/// Exit code of `config check` when any error was found.
const CONFIG_ERROR_EXIT: u8 = 2;

fn run_config_check(config_path: &Path, symbols_path: Option<&Path>) -> ExitCode {
    let mut errors = 0;
    match EngineConfig::load(config_path) {
        Ok(resolved) => print!("{resolved}"),
        Err(e) => {
            eprintln!("{e}");
            errors += e.len();
        }
    }
    if let Some(path) = symbols_path {
        match Symbols::load(path) {
            Ok(symbols) => println!("{symbols}"),
            Err(e) => {
                eprintln!("{e}");
                errors += e.len();
            }
        }
    }
    if errors > 0 {
        eprintln!(
            "config check failed: {errors} error{}",
            if errors == 1 { "" } else { "s" }
        );
        ExitCode::from(CONFIG_ERROR_EXIT)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_conformance(files: &[PathBuf], quiet: bool) -> ExitCode {
    let (mut passed, mut failed, mut not_run, mut bad_files) = (0, 0, 0, 0);
    for path in files {
        let report = match conformance::run_file(path) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e}");
                bad_files += 1;
                continue;
            }
        };
        for case in &report.cases {
            match &case.outcome {
                conformance::Outcome::Pass => passed += 1,
                conformance::Outcome::NotRun(_) => not_run += 1,
                _ => failed += 1,
            }
            let show = !quiet || !matches!(case.outcome, conformance::Outcome::Pass);
            if show {
                println!("{}/{}: {}", report.stage, case.name, case.outcome);
            }
        }
    }
    println!(
        "{} files, {} cases: {passed} passed, {failed} failed, {not_run} not run{}",
        files.len(),
        passed + failed + not_run,
        if bad_files > 0 {
            format!(", {bad_files} files unreadable")
        } else {
            String::new()
        }
    );
    if failed > 0 || bad_files > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
