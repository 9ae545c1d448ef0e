//! Backtests (issue #4 item 8): the runner that replays CSV data or the
//! simulator through the engine, and the reporting: from the equity curve
//! and the fills, the summary metrics — total return, Sharpe, max drawdown,
//! turnover, fees, trade count, hit rate, per-horizon P&L — and the files:
//! summary table, JSON, equity curve CSV and SVG equity chart.
//!
//! - [`metrics`]: inputs ([`EquityPoint`], [`FillInfo`]) and
//!   [`BacktestMetrics::compute`], with every definition documented;
//! - [`output`]: table, JSON, CSV and [`BacktestMetrics::write_all`];
//! - `chart`: the SVG equity chart ([`BacktestMetrics::to_svg`]);
//! - [`runner`]: [`run_backtest`], the engine over a replay or the
//!   simulator, into a [`BacktestOutcome`].
//!
//! Cold path: runs once after a backtest on the main thread; the engine
//! collects the inputs (one [`EquityPoint`] per cycle or decision point, one
//! [`FillInfo`] per fill) and hands them over at the end.

mod chart;
pub mod metrics;
pub mod output;
pub mod runner;

pub use metrics::{
    BacktestError, BacktestMetrics, CurvePoint, EquityPoint, FillInfo, HorizonPnl, UNATTRIBUTED,
};
pub use output::BacktestFiles;
pub use runner::{run_backtest, BacktestFeed, BacktestOutcome, BacktestRunError, FinalPosition};
