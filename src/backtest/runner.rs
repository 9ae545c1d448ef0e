//! The backtest runner (issue #4 item 8): CSV files or the simulator
//! replayed through the very engine that trades live — [`build_engine`],
//! [`Engine::on_event`], the paper broker inline ([`InlinePaper`]) — in
//! event time, as fast as the engine goes; then the metrics
//! ([`BacktestMetrics::compute`]) and, when asked, the files
//! ([`BacktestMetrics::write_all`]). `live-trading backtest` calls
//! [`run_backtest`] and prints [`BacktestOutcome::summary`].
//!
//! Runs once, on the caller's thread (the CLI's main thread). The engine
//! calls are the engine thread's hot path, unchanged; around them this file
//! is cold: the sink that records one [`EquityPoint`] per cycle and one
//! [`FillInfo`] per fill grows vectors, and the wall clock is read once
//! before and once after the event loop to report events per second — the
//! one place a backtest reads it. Nothing the engine decides depends on it.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::metrics::{BacktestError, BacktestMetrics, EquityPoint, FillInfo};
use super::output::{money, BacktestFiles};
use crate::broker::paper::{PaperBroker, PaperParamsError};
use crate::config::{Choice, EngineConfig};
use crate::engine::setup::{build_engine, SetupError};
use crate::engine::{CycleEngine, CycleReport, CycleSink, Engine, EngineCounters, InlinePaper};
use crate::feed::event::MarketEvent;
use crate::feed::replay::{ReplayError, ReplayFeed, ReplayParams, ReplayStats, UnknownSymbol};
use crate::feed::sim::{universe_for, MarketSim, SimError, SimParams};
use crate::market::state::MarketCounters;
use crate::models::artifact::ModelPlan;
use crate::telemetry::files::WriteError;
use crate::types::{Nanos, SymbolId, SymbolOrder, SymbolOrderError, TradingState};

/// Where a backtest's market data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BacktestFeed {
    /// The seeded market simulator over the backtest's symbols
    /// ([`universe_for`]): `days` sessions, `quotes_per_bar` quotes per bar
    /// per symbol, bars of `volatility.bar_minutes`, sessions in
    /// `risk.session_timezone`.
    Sim {
        days: u32,
        seed: u64,
        quotes_per_bar: u32,
    },
    /// CSV quotes and bars files ([`ReplayFeed`], default
    /// [`ReplayParams`]: bar rows are one-minute bars stamped at their
    /// start), merged in event time; files grouped by symbol are sorted.
    Replay { paths: Vec<PathBuf> },
}

/// Why a backtest could not run or report. Bad rows and bad quotes are
/// not errors: they are counted in the outcome.
#[derive(Debug, thiserror::Error)]
pub enum BacktestRunError {
    #[error("{0}")]
    Setup(#[from] SetupError),
    #[error("symbols: {0}")]
    Symbols(#[from] SymbolOrderError),
    #[error("paper broker: {0}")]
    Paper(#[from] PaperParamsError),
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    #[error("replay: {0}")]
    Replay(#[from] ReplayError),
    #[error("backtest metrics: {0}")]
    Metrics(#[from] BacktestError),
    #[error("backtest report: {0}")]
    Write(#[from] WriteError),
}

/// A symbol's holding at the end of the backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalPosition {
    pub symbol: String,
    /// Signed shares (0 when flat).
    pub shares: f64,
    /// The engine's last valid mid; `None` when the symbol never had one.
    pub mark: Option<f64>,
}

/// Everything a backtest measured.
#[derive(Clone, Debug)]
pub struct BacktestOutcome {
    /// What was replayed, in words (`simulator: 1 day, …`, `replay: …`).
    pub feed: String,
    /// The symbols, in id order.
    pub symbols: Vec<String>,
    /// The decision trigger (`cycle`, `bar`, `quote`) and the cycle interval.
    pub trigger: &'static str,
    pub interval: Nanos,
    /// Metrics over the equity curve and the fills.
    pub metrics: BacktestMetrics,
    /// Every fill, in the order the engine applied them.
    pub fills: Vec<FillInfo>,
    /// Fills the inline paper broker made (equals `fills.len()`).
    pub broker_fills: u64,
    /// Market events run through the engine.
    pub events: u64,
    /// Wall-clock seconds of the event loop (feed and engine).
    pub wall_seconds: f64,
    /// Wall-clock seconds before it: opening the feed (a grouped replay
    /// file is sorted then), loading and warming the models.
    pub setup_seconds: f64,
    /// `events / wall_seconds`; `None` when the loop took no measurable time.
    pub events_per_second: Option<f64>,
    /// Cycles, decisions, predictions and bars.
    pub engine: EngineCounters,
    /// The market state's counters, bad input included.
    pub market: MarketCounters,
    /// Decisions per reason code.
    pub reasons: BTreeMap<&'static str, u64>,
    /// Cycles that ran PAUSED (not on the equity curve).
    pub paused_cycles: u64,
    /// The replay's row counts; `None` for the simulator.
    pub replay: Option<ReplayStats>,
    /// Symbols in the files but not in the backtest, with their row counts.
    pub unknown_symbols: Vec<UnknownSymbol>,
    /// Cash at the end.
    pub cash: f64,
    /// Every symbol's position and mark at the end, in id order; the final
    /// equity is `cash + Σ shares·mark` over the marked ones.
    pub positions: Vec<FinalPosition>,
    /// The report files, when an output directory was given.
    pub files: Option<BacktestFiles>,
}

/// Runs one backtest; see the module doc. `symbols` are the backtest's
/// symbols (id = index); `config` decides the trigger, the interval, the
/// paper broker's cash, slippage and fees, and every stage; `plan` names
/// the models. With `out_dir`, writes `backtest.txt`, `backtest.json`,
/// `equity.csv` and `equity.svg` there.
///
/// The equity curve has one point per cycle that did not run PAUSED
/// (`portfolio_value_after`), cycles at the same event time (the bar and
/// quote triggers decide symbol by symbol) making one point: the last.
pub fn run_backtest(
    config: &EngineConfig,
    symbols: &[String],
    plan: &ModelPlan,
    feed: BacktestFeed,
    out_dir: Option<&Path>,
) -> Result<BacktestOutcome, BacktestRunError> {
    let setup = Instant::now();
    let mut source = Source::open(config, symbols, feed)?;
    let mut engine = build_engine(config, symbols, plan)?;
    let mut router = InlinePaper {
        broker: PaperBroker::new(config.paper_params(), SymbolOrder::from_names(symbols)?)?,
    };
    let setup_seconds = setup.elapsed().as_secs_f64();

    let mut recorder = Recorder::default();
    let start = Instant::now();
    let events = match &mut source {
        Source::Sim(sim) => drive(
            &mut engine,
            &mut router,
            &mut recorder,
            std::iter::from_fn(|| sim.next_event().map(MarketEvent::from)),
        ),
        Source::Replay(replay) => drive(
            &mut engine,
            &mut router,
            &mut recorder,
            std::iter::from_fn(|| replay.next_event()),
        ),
    };
    let wall_seconds = start.elapsed().as_secs_f64();

    let labels: Vec<&str> = config.horizons.labels().collect();
    let metrics = BacktestMetrics::compute(
        config.paper_params().initial_cash,
        &recorder.equity,
        &recorder.fills,
        &labels,
        symbols.len(),
        config.risk.session_timezone,
    )?;
    let files = out_dir.map(|dir| metrics.write_all(dir)).transpose()?;

    let cycle = engine.cycle();
    let ledger = cycle.ledger();
    let positions = symbols
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let id = SymbolId(u16::try_from(i).unwrap_or(u16::MAX));
            FinalPosition {
                symbol: name.clone(),
                shares: ledger.position(id),
                mark: cycle.marks().get(i).copied().filter(|m| m.is_finite()),
            }
        })
        .collect();
    let (replay, unknown_symbols) = match &source {
        Source::Sim(_) => (None, Vec::new()),
        Source::Replay(r) => (Some(r.stats()), r.unknown_symbols().to_vec()),
    };
    Ok(BacktestOutcome {
        feed: source.describe(),
        symbols: symbols.to_vec(),
        trigger: config.decision.trigger.name(),
        interval: config.decision.interval,
        metrics,
        fills: recorder.fills,
        broker_fills: router.broker.fill_count(),
        events,
        wall_seconds,
        setup_seconds,
        events_per_second: (wall_seconds > 0.0).then(|| events as f64 / wall_seconds),
        engine: *engine.counters(),
        market: *engine.market().counters(),
        reasons: recorder.reasons,
        paused_cycles: recorder.paused_cycles,
        replay,
        unknown_symbols,
        cash: ledger.cash(),
        positions,
        files,
    })
}

/// The open feed.
enum Source {
    Sim(MarketSim),
    Replay(ReplayFeed),
}

impl Source {
    fn open(
        config: &EngineConfig,
        symbols: &[String],
        feed: BacktestFeed,
    ) -> Result<Source, BacktestRunError> {
        Ok(match feed {
            BacktestFeed::Sim {
                days,
                seed,
                quotes_per_bar,
            } => Source::Sim(MarketSim::new(SimParams {
                seed,
                symbols: universe_for(symbols),
                days,
                quotes_per_bar,
                bar_minutes: config.volatility.bar_minutes,
                session_timezone: config.risk.session_timezone,
                ..SimParams::default()
            })?),
            BacktestFeed::Replay { paths } => {
                Source::Replay(ReplayFeed::open(&paths, symbols, ReplayParams::default())?)
            }
        })
    }

    fn describe(&self) -> String {
        match self {
            Source::Sim(sim) => {
                let p = sim.params();
                format!(
                    "simulator: {} day{} from {}, seed {}, {} quotes per {}-minute bar per symbol",
                    p.days,
                    if p.days == 1 { "" } else { "s" },
                    p.start_date,
                    p.seed,
                    p.quotes_per_bar,
                    p.bar_minutes
                )
            }
            Source::Replay(r) => {
                let files: Vec<String> = r
                    .files()
                    .zip(r.sorted_in_memory())
                    .map(|((path, layout), sorted)| {
                        format!(
                            "{} ({layout}{})",
                            path.display(),
                            if sorted { ", sorted in memory" } else { "" }
                        )
                    })
                    .collect();
                format!("replay: {}", files.join(", "))
            }
        }
    }
}

/// Runs every event through the engine; returns how many.
fn drive(
    engine: &mut Engine,
    router: &mut InlinePaper,
    recorder: &mut Recorder,
    events: impl Iterator<Item = MarketEvent>,
) -> u64 {
    let mut n = 0;
    for event in events {
        engine.on_event(&event, router, recorder, &mut ());
        n += 1;
    }
    n
}

/// The backtest's [`CycleSink`]: the equity curve, the fills, the reasons.
#[derive(Default)]
struct Recorder {
    equity: Vec<EquityPoint>,
    fills: Vec<FillInfo>,
    reasons: BTreeMap<&'static str, u64>,
    paused_cycles: u64,
}

impl CycleSink for Recorder {
    fn on_cycle(&mut self, report: &CycleReport, _: &CycleEngine) {
        self.record(report);
    }
}

impl Recorder {
    fn record(&mut self, report: &CycleReport) {
        for d in &report.decisions {
            *self.reasons.entry(d.decision.reason.code()).or_default() += 1;
        }
        for f in &report.fills {
            self.fills.push(FillInfo {
                time: report.time,
                symbol: f.fill.symbol,
                side: f.fill.side,
                qty: f.fill.qty,
                price: f.fill.price,
                fee: f.fill.fee,
                horizon: f.horizon,
            });
        }
        if report.state == TradingState::Paused {
            self.paused_cycles += 1;
            return;
        }
        // The triggers decide in event time, so cycles never go back; the
        // `max` keeps the curve ordered for the metrics whatever happens.
        let last = self.equity.last().map(|p| p.time);
        let point = EquityPoint {
            time: last.map_or(report.time, |t| t.max(report.time)),
            equity: report.portfolio_value_after,
        };
        match self.equity.last_mut() {
            Some(p) if p.time == point.time => *p = point,
            _ => self.equity.push(point),
        }
    }
}

impl BacktestOutcome {
    /// The human summary: the metrics table, then the run (feed, symbols,
    /// trigger, events per second), the engine's and the market's counters
    /// (bad input included), the replay's row counts, the final book and
    /// the files written.
    pub fn summary(&self) -> String {
        let mut out = self.metrics.to_table();
        let mut section = |title: &str, rows: &[(&str, String)]| {
            let _ = writeln!(out, "\n{title}");
            for (k, v) in rows {
                let _ = writeln!(out, "  {k:<22} {v}");
            }
        };
        let speed = match self.events_per_second {
            Some(r) => format!("{} events/s", group(r.round() as u64)),
            None => "— events/s".to_owned(),
        };
        let trigger = if self.trigger == "cycle" {
            format!("cycle every {} s", self.interval.0 / Nanos::PER_SEC)
        } else {
            format!("{} (one symbol per decision)", self.trigger)
        };
        section(
            "run",
            &[
                ("feed", self.feed.clone()),
                (
                    "symbols",
                    format!("{} ({})", self.symbols.join(", "), self.symbols.len()),
                ),
                ("trigger", trigger),
                (
                    "events",
                    format!(
                        "{} in {:.3} s = {speed} (setup {:.3} s)",
                        group(self.events),
                        self.wall_seconds,
                        self.setup_seconds
                    ),
                ),
            ],
        );
        let e = &self.engine;
        let mut reasons: Vec<(&&str, &u64)> = self.reasons.iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let reasons: Vec<String> = reasons.iter().map(|(k, v)| format!("{k} {v}")).collect();
        section(
            "engine",
            &[
                (
                    "cycles",
                    format!("{} ({} paused)", e.cycles, self.paused_cycles),
                ),
                ("decisions", e.decisions.to_string()),
                ("predictions", e.predictions.to_string()),
                ("bars", e.bars.to_string()),
                ("decision reasons", reasons.join(", ")),
            ],
        );
        let m = &self.market;
        section(
            "market",
            &[
                (
                    "events",
                    format!(
                        "{} ({} quotes, {} trades, {} feed bars; {} bars built)",
                        m.events, m.quotes, m.trades, m.feed_bars, m.bars_built
                    ),
                ),
                (
                    "bad input",
                    format!(
                        "{} unknown symbol, {} out of order, {} bad quotes, {} bad prices",
                        m.unknown_symbol, m.out_of_order, m.bad_quotes, m.bad_prices
                    ),
                ),
            ],
        );
        if let Some(r) = &self.replay {
            let unknown: Vec<String> = self
                .unknown_symbols
                .iter()
                .map(|u| format!("{} {}", u.name, u.rows))
                .collect();
            section(
                "replay",
                &[
                    (
                        "rows",
                        format!(
                            "{} read, {} events; {} file{} sorted in memory (not in time order)",
                            r.rows,
                            r.events,
                            r.sorted_files,
                            if r.sorted_files == 1 { "" } else { "s" }
                        ),
                    ),
                    (
                        "skipped rows",
                        format!(
                            "{} malformed, {} of unknown symbols{}, {} out of order",
                            r.malformed,
                            r.unknown_symbol,
                            if unknown.is_empty() {
                                String::new()
                            } else {
                                format!(" ({})", unknown.join(", "))
                            },
                            r.out_of_order
                        ),
                    ),
                    (
                        "passed to the gates",
                        format!(
                            "{} suspect quotes, {} suspect bars",
                            r.suspect_quotes, r.suspect_bars
                        ),
                    ),
                    ("read errors", r.read_errors.to_string()),
                ],
            );
        }
        let mut book = vec![("cash", money(self.cash))];
        let held: Vec<String> = self
            .positions
            .iter()
            .filter(|p| p.shares != 0.0)
            .map(|p| match p.mark {
                Some(mark) => format!(
                    "{} {:+} @ {mark} = {}",
                    p.symbol,
                    p.shares,
                    money(p.shares * mark)
                ),
                None => format!("{} {:+} (never marked)", p.symbol, p.shares),
            })
            .collect();
        book.push((
            "positions",
            if held.is_empty() {
                "none".to_owned()
            } else {
                held.join(", ")
            },
        ));
        section("final book", &book);
        if let Some(f) = &self.files {
            section(
                "files",
                &[
                    ("summary", f.summary.display().to_string()),
                    ("metrics (JSON)", f.json.display().to_string()),
                    ("equity curve", f.equity_csv.display().to_string()),
                    ("equity chart", f.equity_svg.display().to_string()),
                ],
            );
        }
        out
    }
}

/// `1234567` → `1,234,567`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::paper::Fill;
    use crate::engine::CycleFill;
    use crate::types::{HorizonId, Side};

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1_234_567), "1,234,567");
    }

    fn report(secs: u64, state: TradingState, after: f64, fills: Vec<CycleFill>) -> CycleReport {
        CycleReport {
            time: Nanos::from_secs(secs),
            cycle_number: 1,
            state,
            check: None,
            portfolio_value: after,
            portfolio_value_after: after,
            decisions: Vec::new(),
            fills,
            pending: 0,
        }
    }

    fn fill(symbol: u16, side: Side, qty: f64) -> CycleFill {
        CycleFill {
            fill: Fill {
                order_id: 1,
                symbol: SymbolId(symbol),
                side,
                qty,
                price: 10.0,
                notional: qty * 10.0,
                fee: 0.5,
            },
            client_order_id: 1,
            horizon: Some(HorizonId(1)),
        }
    }

    #[test]
    fn cycles_at_one_time_make_one_point_and_paused_cycles_none() {
        let mut r = Recorder::default();
        r.record(&report(60, TradingState::Active, 100.0, vec![]));
        r.record(&report(
            120,
            TradingState::Active,
            101.0,
            vec![fill(0, Side::Buy, 3.0)],
        ));
        r.record(&report(
            120,
            TradingState::Active,
            102.0,
            vec![fill(1, Side::Sell, 2.0)],
        ));
        r.record(&report(180, TradingState::Paused, 500.0, vec![]));
        r.record(&report(240, TradingState::Halted, 99.0, vec![]));
        let curve: Vec<(u64, f64)> = r
            .equity
            .iter()
            .map(|p| (p.time.0 / Nanos::PER_SEC, p.equity))
            .collect();
        assert_eq!(curve, [(60, 100.0), (120, 102.0), (240, 99.0)]);
        assert_eq!(r.paused_cycles, 1);
        assert_eq!(r.fills.len(), 2);
        assert_eq!(
            r.fills[1],
            FillInfo {
                time: Nanos::from_secs(120),
                symbol: SymbolId(1),
                side: Side::Sell,
                qty: 2.0,
                price: 10.0,
                fee: 0.5,
                horizon: Some(HorizonId(1)),
            }
        );
    }
}
