//! `run_backtest` end to end on the sample run's models: a simulated day
//! whose metrics must agree with its own fills and book, twice the same;
//! a small grouped replay fixture full of bad input that must complete and
//! count every bad row and quote; the report files; the errors that name
//! the input. The real SPY run is `#[ignore]`d: it measures events/s with
//! `CARGO_TARGET_DIR=target-rel cargo test --release --test backtest -- --ignored --nocapture`
//! (the file from `LT_SPY_QUOTES`).

// Test code: formatting and the wall clock are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use live_trading::backtest::{run_backtest, BacktestFeed, BacktestOutcome, BacktestRunError};
use live_trading::config::{DecisionTrigger, EngineConfig};
use live_trading::feed::replay::{ReplayError, ReplayStats, UnknownSymbol};
use live_trading::models::artifact::{ModelPlan, PlanSettings};
use live_trading::types::{Nanos, Side};

const SYMBOLS: [&str; 3] = ["SPY", "QQQ", "AAPL"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The shipped config with one-minute cycles, and quotes up to
/// `quote_age_secs` old tradable (the simulator here quotes every 2 s, the
/// fixture every 30 s; the shipped limit is 200 ms).
fn config(interval_secs: u64, quote_age_secs: u64) -> EngineConfig {
    let mut c = EngineConfig::load(&root().join("config/live_trading.yaml")).unwrap();
    c.decision.trigger = DecisionTrigger::Cycle;
    c.decision.interval = Nanos::from_secs(interval_secs);
    c.risk.quote_age_max = Nanos::from_secs(quote_age_secs);
    c
}

fn plan(config: &EngineConfig) -> ModelPlan {
    ModelPlan::load(
        &root().join("config/sample-run"),
        &PlanSettings::from_config(config),
    )
    .unwrap()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lt-backtest-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sim_day(seed: u64, out_dir: Option<&Path>) -> BacktestOutcome {
    let config = config(60, 5);
    let feed = BacktestFeed::Sim {
        days: 1,
        seed,
        quotes_per_bar: 30,
    };
    run_backtest(&config, &names(&SYMBOLS), &plan(&config), feed, out_dir).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn a_simulated_day_has_metrics_consistent_with_its_fills_and_book() {
    let out = sim_day(7, None);
    println!("{}", out.summary());
    let m = &out.metrics;
    assert!(!out.fills.is_empty(), "no trade in a simulated day");
    // Trade count, fees and notional are the fills'.
    assert_eq!(m.trades, out.fills.len());
    assert_eq!(
        out.broker_fills,
        out.fills.len() as u64,
        "the broker's fills"
    );
    let fees: f64 = out.fills.iter().map(|f| f.fee).sum();
    assert!(close(m.fees, fees), "{} vs {fees}", m.fees);
    let notional: f64 = out.fills.iter().map(|f| f.qty * f.price).sum();
    assert!(close(m.traded_notional, notional));
    // Cash and positions are the fills replayed from the initial cash.
    let mut cash = m.initial_cash;
    let mut shares = [0.0; SYMBOLS.len()];
    for f in &out.fills {
        let signed = match f.side {
            Side::Buy => f.qty,
            Side::Sell => -f.qty,
        };
        cash -= signed * f.price + f.fee;
        shares[f.symbol.index()] += signed;
    }
    assert!(close(out.cash, cash), "{} vs {cash}", out.cash);
    let held: Vec<f64> = out.positions.iter().map(|p| p.shares).collect();
    assert_eq!(held, shares);
    // Final equity = cash + Σ position·mark.
    let marked: f64 = out
        .positions
        .iter()
        .map(|p| p.shares * p.mark.unwrap_or(0.0))
        .sum();
    assert!(out.positions.iter().all(|p| p.mark.is_some()));
    assert!(close(m.final_equity, out.cash + marked));
    assert!(close(m.total_pnl, m.final_equity - m.initial_cash));
    // One equity point per cycle, in time order, over one session day.
    assert_eq!(m.curve.len() as u64, out.engine.cycles);
    assert!(
        (380..=391).contains(&out.engine.cycles),
        "{}",
        out.engine.cycles
    );
    assert!(m.curve.windows(2).all(|w| w[0].time < w[1].time));
    assert_eq!(m.session_days, 1);
    assert_eq!(out.engine.decisions, 3 * out.engine.cycles);
    assert_eq!(out.reasons.values().sum::<u64>(), out.engine.decisions);
    // Per-horizon P&L adds up to the realised P&L.
    let per_horizon: f64 = m.per_horizon.iter().map(|h| h.net_pnl).sum();
    assert!(close(per_horizon, m.realized_pnl));
    assert!(close(m.realized_pnl + m.unrealized_pnl, m.total_pnl));
    // Every event went through the engine.
    assert_eq!(out.market.events, out.events);
    assert!(out.replay.is_none());
    assert!(out.events_per_second.is_some_and(|r| r > 0.0));
    let summary = out.summary();
    for needle in [
        "total return",
        "Sharpe",
        "events/s",
        "bad quotes",
        "final book",
    ] {
        assert!(summary.contains(needle), "{needle} missing:\n{summary}");
    }
}

#[test]
fn two_runs_of_the_same_day_are_identical() {
    let a = sim_day(11, None);
    let b = sim_day(11, None);
    assert_eq!(a.fills, b.fills);
    assert_eq!(a.metrics, b.metrics);
    assert_eq!(a.metrics.equity_csv(), b.metrics.equity_csv());
    assert_eq!(a.cash.to_bits(), b.cash.to_bits());
    assert_eq!(a.positions, b.positions);
    assert_eq!((a.engine, a.market), (b.engine, b.market));
    assert_eq!(a.reasons, b.reasons);
    // Another seed is another day.
    let c = sim_day(12, None);
    assert_ne!(a.metrics.equity_csv(), c.metrics.equity_csv());
}

/// `tests/data/replay/backtest_grouped_quotes.csv`: SPY and QQQ quotes
/// every 30 s for 90 minutes, grouped by symbol, with 4 malformed rows
/// (field count, unparsable bid, empty and zero time), 2 rows of an
/// unknown symbol, 2 rows earlier than their symbol's previous row, a NaN
/// bid, an infinite ask, a negative bid, 2 crossed quotes and a blank line.
#[test]
fn a_replay_full_of_bad_input_completes_and_counts_every_bad_row_and_quote() {
    let config = config(60, 60);
    let path = root().join("tests/data/replay/backtest_grouped_quotes.csv");
    let feed = BacktestFeed::Replay { paths: vec![path] };
    let out = run_backtest(&config, &names(&["SPY", "QQQ"]), &plan(&config), feed, None).unwrap();
    println!("{}", out.summary());
    assert_eq!(
        out.replay,
        Some(ReplayStats {
            rows: 364,
            events: 356,
            malformed: 4,
            unknown_symbol: 2,
            out_of_order: 2,
            suspect_quotes: 5,
            suspect_bars: 0,
            read_errors: 0,
            sorted_files: 1,
        })
    );
    assert_eq!(
        out.unknown_symbols,
        [UnknownSymbol {
            name: "XYZ".into(),
            rows: 2,
            first_file: 0,
            first_line: 62,
        }]
    );
    assert_eq!(out.events, 356);
    // The engine saw every event, in order, and flagged each bad quote.
    assert_eq!(out.market.events, 356);
    assert_eq!(out.market.quotes, 356);
    assert_eq!(out.market.bad_quotes, 5);
    assert_eq!(out.market.out_of_order, 0);
    assert_eq!(out.market.unknown_symbol, 0);
    // 90 minutes of one-minute cycles (the first boundary after the first
    // quote to the last boundary before the last).
    assert!(
        (88..=90).contains(&out.engine.cycles),
        "{}",
        out.engine.cycles
    );
    assert_eq!(out.metrics.curve.len() as u64, out.engine.cycles);
    assert!(out.metrics.final_equity.is_finite());
    assert_eq!(out.metrics.trades, out.fills.len());
    // The NaN and the crossed SPY quotes are each the last quote before a
    // cycle, and the negative QQQ bid is stamped exactly at a cycle
    // boundary (so it is the quote as of that cycle): the spread gate holds
    // on all three with its reason code.
    assert_eq!(
        out.reasons.get("invalid_spread"),
        Some(&3),
        "{:?}",
        out.reasons
    );
    let summary = out.summary();
    for needle in [
        "4 malformed",
        "2 of unknown symbols (XYZ 2)",
        "2 out of order",
        "5 suspect quotes",
        "5 bad quotes",
        "1 file sorted in memory",
        "sorted in memory)",
    ] {
        assert!(summary.contains(needle), "{needle:?} missing:\n{summary}");
    }
}

#[test]
fn the_report_files_are_written_and_parse() {
    let dir = temp_dir().join("report");
    let out = sim_day(7, Some(&dir));
    let files = out.files.clone().unwrap();
    assert_eq!(files.equity_csv, dir.join("equity.csv"));

    let csv = std::fs::read_to_string(&files.equity_csv).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("time_utc,equity,drawdown"));
    let rows: Vec<(String, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "{l}");
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(rows.len(), out.metrics.curve.len());
    assert!(rows[0].0.starts_with("2024-01-02T"), "{}", rows[0].0);
    let last = rows.last().unwrap();
    assert_eq!(last.1, out.metrics.final_equity);
    assert!(rows.iter().all(|r| r.2 >= 0.0 && r.2 < 1.0));

    let svg = std::fs::read_to_string(&files.equity_svg).unwrap();
    assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
    assert!(svg.trim_end().ends_with("</svg>"));

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(json["trades"], out.metrics.trades);
    assert_eq!(json["points"], out.metrics.curve.len());

    let table = std::fs::read_to_string(&files.summary).unwrap();
    assert!(table.contains("total return"), "{table}");
    assert!(out.summary().contains("equity.svg"));
}

#[test]
fn bad_feeds_fail_before_any_model_loads_and_name_the_input() {
    let config = config(60, 5);
    let plan = plan(&config);
    let missing = temp_dir().join("missing.csv");
    let err = run_backtest(
        &config,
        &names(&["SPY"]),
        &plan,
        BacktestFeed::Replay {
            paths: vec![missing.clone()],
        },
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, BacktestRunError::Replay(ReplayError::Open { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("missing.csv"), "{err}");

    let err = run_backtest(
        &config,
        &names(&["SPY"]),
        &plan,
        BacktestFeed::Sim {
            days: 0,
            seed: 1,
            quotes_per_bar: 10,
        },
        None,
    )
    .unwrap_err();
    assert!(matches!(err, BacktestRunError::Sim(_)), "{err:?}");

    let err = run_backtest(
        &config,
        &[],
        &plan,
        BacktestFeed::Replay {
            paths: vec![root().join("tests/data/replay/merge_quotes.csv")],
        },
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, BacktestRunError::Replay(ReplayError::NoSymbols)),
        "{err:?}"
    );
}

/// The real SPY one-second quotes (142k rows), cycle trigger, [SPY]: every
/// row is an event, and the events/s are printed. Measure with a release
/// build: `CARGO_TARGET_DIR=target-rel cargo test --release --test
/// backtest -- --ignored --nocapture`; the file from `LT_SPY_QUOTES`.
#[test]
#[ignore = "needs the SPY quotes file; run explicitly, in release"]
fn real_spy_quotes_backtest() {
    let path = std::env::var_os("LT_SPY_QUOTES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/lean-equity/quotes_spy_1s.csv"));
    let config = EngineConfig::load(&root().join("config/live_trading.yaml")).unwrap();
    assert_eq!(config.decision.trigger, DecisionTrigger::Cycle);
    let feed = BacktestFeed::Replay { paths: vec![path] };
    let out = run_backtest(&config, &names(&["SPY"]), &plan(&config), feed, None).unwrap();
    println!("{}", out.summary());
    let stats = out.replay.unwrap();
    assert_eq!(stats.rows, 142_153);
    assert_eq!(out.events, 142_153);
    assert_eq!(stats.sorted_files, 0, "the SPY file streams");
    assert!(out.metrics.final_equity.is_finite());
    println!(
        "SPY 1-s quotes: {} events in {:.3} s = {:.0} events/s",
        out.events,
        out.wall_seconds,
        out.events_per_second.unwrap_or(0.0)
    );
}

/// Lean's grouped one-minute quotes and bars, all ten symbols, through the
/// engine: every row an event.
#[test]
#[ignore = "needs /work/shared/data; run explicitly"]
fn real_grouped_quotes_and_bars_backtest() {
    let dir = std::env::var_os("LT_LEAN_EQUITY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/lean-equity"));
    let config = EngineConfig::load(&root().join("config/live_trading.yaml")).unwrap();
    let symbols = names(&[
        "AAPL", "AIG", "BAC", "FOXA", "GOOG", "IBM", "NWSA", "SHY", "SPY", "TWX",
    ]);
    let feed = BacktestFeed::Replay {
        paths: vec![dir.join("quotes_1min.csv"), dir.join("bars_1min.csv")],
    };
    let out = run_backtest(&config, &symbols, &plan(&config), feed, None).unwrap();
    println!("{}", out.summary());
    let stats = out.replay.unwrap();
    assert_eq!(stats.events, 23_907 + 21_258);
    assert_eq!(stats.sorted_files, 2);
    assert_eq!(out.market.out_of_order, 0);
}
