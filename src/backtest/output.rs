//! The backtest's outputs: a human summary table, JSON, the equity curve as
//! CSV (`time_utc,equity,drawdown`) and, through the `chart` module, an
//! SVG equity chart; [`BacktestMetrics::write_all`] writes all four.
//!
//! Cold path: runs once after a backtest, allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::chart;
use super::metrics::BacktestMetrics;
use crate::telemetry::files::{write_file, WriteError};

/// Files written by [`BacktestMetrics::write_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BacktestFiles {
    /// `backtest.txt`: the summary table.
    pub summary: PathBuf,
    /// `backtest.json`: [`BacktestMetrics::to_json`].
    pub json: PathBuf,
    /// `equity.csv`: the equity curve.
    pub equity_csv: PathBuf,
    /// `equity.svg`: the equity chart.
    pub equity_svg: PathBuf,
}

impl BacktestMetrics {
    /// Human summary: period, P&L, return, Sharpe, drawdown, turnover, fees,
    /// trades, hit rate, realised and open P&L, and per-horizon P&L.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let span = match (self.curve.first(), self.curve.last()) {
            (Some(a), Some(b)) => format!(
                "{} → {}",
                crate::iso::format(a.time),
                crate::iso::format(b.time)
            ),
            _ => "no equity points".to_owned(),
        };
        let _ = writeln!(
            out,
            "backtest  {span}  ({} points, {} session day{})",
            self.curve.len(),
            self.session_days,
            if self.session_days == 1 { "" } else { "s" }
        );
        let mut row = |k: &str, v: String| {
            let _ = writeln!(out, "  {k:<22} {v}");
        };
        row("initial cash", money(self.initial_cash));
        row("final equity", money(self.final_equity));
        row("total P&L", money(self.total_pnl));
        row("total return", pct(self.total_return));
        row(
            "Sharpe (annualised)",
            match (self.sharpe, self.periods_per_year) {
                (Some(s), Some(p)) => format!("{s:.2}  ({:.0} periods/year, risk-free 0)", p),
                _ => "— (needs two returns that vary)".to_owned(),
            },
        );
        row(
            "max drawdown",
            format!(
                "{}  ({})",
                pct(self.max_drawdown),
                money(self.max_drawdown_dollars)
            ),
        );
        row(
            "turnover",
            match self.turnover {
                Some(t) => format!(
                    "{t:.2}× mean equity  ({} traded)",
                    money(self.traded_notional)
                ),
                None => format!("—  ({} traded)", money(self.traded_notional)),
            },
        );
        row("fees", money(self.fees));
        row("trades (fills)", self.trades.to_string());
        row(
            "round trips",
            format!(
                "{} closed, {} won, hit rate {}",
                self.round_trips,
                self.wins,
                self.hit_rate.map_or("—".to_owned(), pct)
            ),
        );
        row("realised P&L", money(self.realized_pnl));
        row(
            "open P&L",
            format!(
                "{}  ({} open position{}, marked at the last point)",
                money(self.unrealized_pnl),
                self.open_positions,
                if self.open_positions == 1 { "" } else { "s" }
            ),
        );
        let _ = writeln!(
            out,
            "\nrealised P&L by horizon (net of fees; the horizon that opened the round trip)"
        );
        let _ = writeln!(
            out,
            "  {:<18} {:>7} {:>6} {:>9} {:>14} {:>12}",
            "horizon", "trips", "won", "hit rate", "net P&L", "fees"
        );
        for h in &self.per_horizon {
            let hit = (h.round_trips > 0).then(|| h.wins as f64 / h.round_trips as f64);
            let _ = writeln!(
                out,
                "  {:<18} {:>7} {:>6} {:>9} {:>14} {:>12}",
                h.label,
                h.round_trips,
                h.wins,
                hit.map_or("—".to_owned(), pct),
                money(h.net_pnl),
                money(h.fees)
            );
        }
        out
    }

    /// Every metric as JSON, in a fixed key order; fractions as fractions
    /// (0.0123 = 1.23 %), money in account currency, `null` where a metric
    /// is undefined. `per_horizon` is an array in configured order, the
    /// unattributed row last.
    pub fn to_json(&self) -> Value {
        let per_horizon: Vec<Value> = self
            .per_horizon
            .iter()
            .map(|h| {
                json!({
                    "horizon": h.label,
                    "horizon_id": h.horizon.map(|id| id.0),
                    "round_trips": h.round_trips,
                    "wins": h.wins,
                    "hit_rate": (h.round_trips > 0).then(|| h.wins as f64 / h.round_trips as f64),
                    "net_pnl": h.net_pnl,
                    "fees": h.fees,
                })
            })
            .collect();
        json!({
            "start_utc": self.curve.first().map(|p| crate::iso::format(p.time)),
            "end_utc": self.curve.last().map(|p| crate::iso::format(p.time)),
            "points": self.curve.len(),
            "session_days": self.session_days,
            "initial_cash": self.initial_cash,
            "final_equity": self.final_equity,
            "total_pnl": self.total_pnl,
            "total_return": self.total_return,
            "sharpe": self.sharpe,
            "returns": self.returns,
            "periods_per_year": self.periods_per_year,
            "max_drawdown": self.max_drawdown,
            "max_drawdown_dollars": self.max_drawdown_dollars,
            "traded_notional": self.traded_notional,
            "mean_equity": self.mean_equity,
            "turnover": self.turnover,
            "fees": self.fees,
            "trades": self.trades,
            "round_trips": self.round_trips,
            "wins": self.wins,
            "hit_rate": self.hit_rate,
            "realized_pnl": self.realized_pnl,
            "unrealized_pnl": self.unrealized_pnl,
            "open_positions": self.open_positions,
            "per_horizon": per_horizon,
        })
    }

    /// The equity curve as CSV text: header `time_utc,equity,drawdown`, one
    /// row per point, ISO-8601 UTC times, shortest round-trip numbers,
    /// drawdown as a fraction of the running peak.
    pub fn equity_csv(&self) -> String {
        let mut out = String::with_capacity(24 + self.curve.len() * 48);
        out.push_str("time_utc,equity,drawdown\n");
        for p in &self.curve {
            let _ = writeln!(
                out,
                "{},{},{}",
                crate::iso::format(p.time),
                p.equity,
                p.drawdown
            );
        }
        out
    }

    /// Write [`equity_csv`](Self::equity_csv) to `path` (parents created).
    pub fn write_equity_csv(&self, path: &Path) -> Result<(), WriteError> {
        write_file(path, self.equity_csv().as_bytes())
    }

    /// The SVG equity chart: equity line over time, drawdown area below.
    pub fn to_svg(&self) -> String {
        chart::equity_chart(self)
    }

    /// Write `backtest.txt`, `backtest.json`, `equity.csv` and `equity.svg`
    /// into `dir` (created if missing).
    pub fn write_all(&self, dir: &Path) -> Result<BacktestFiles, WriteError> {
        let files = BacktestFiles {
            summary: dir.join("backtest.txt"),
            json: dir.join("backtest.json"),
            equity_csv: dir.join("equity.csv"),
            equity_svg: dir.join("equity.svg"),
        };
        write_file(&files.summary, self.to_table().as_bytes())?;
        let mut json = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        json.push('\n');
        write_file(&files.json, json.as_bytes())?;
        self.write_equity_csv(&files.equity_csv)?;
        write_file(&files.equity_svg, self.to_svg().as_bytes())?;
        Ok(files)
    }
}

/// `1,234,567.89`, `-12.50`; non-finite values as `—`.
pub(crate) fn money(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let cents = (v.abs() * 100.0).round();
    let whole = (cents / 100.0).trunc() as u64;
    let frac = (cents % 100.0) as u64;
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && cents > 0.0 { "-" } else { "" };
    format!("{sign}{grouped}.{frac:02}")
}

/// A fraction as a percentage with two decimals: `0.0123` → `1.23 %`.
pub(crate) fn pct(frac: f64) -> String {
    format!("{:.2} %", frac * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_keeps_the_sign() {
        assert_eq!(money(1_234_567.891), "1,234,567.89");
        assert_eq!(money(-12.5), "-12.50");
        assert_eq!(money(999.999), "1,000.00");
        assert_eq!(money(-0.001), "0.00");
        assert_eq!(money(f64::NAN), "—");
        assert_eq!(pct(0.0123), "1.23 %");
    }
}
