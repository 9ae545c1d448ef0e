//! Backtest metrics (issue #4 item 8): total return, Sharpe, max drawdown,
//! turnover, fees, trade count, hit rate and per-horizon P&L, computed once
//! from the equity curve and the fills of a finished replay.
//!
//! Definitions (all documented on the fields of [`BacktestMetrics`]):
//! - returns are simple returns between consecutive equity points;
//! - Sharpe = mean / sd (ddof 1) of those returns × √(periods per year),
//!   periods per year = 252 × (returns ÷ session days observed), risk-free
//!   rate 0; `None` with fewer than two returns or zero deviation;
//! - drawdown at a point = (running peak − equity) / running peak, the peak
//!   starting at the initial cash;
//! - turnover = Σ |qty · price| ÷ mean equity;
//! - round trips come from [`EpisodeTracker`] per symbol; a round trip's net
//!   dollar P&L = side · (exit − entry) · qty − its fees, credited to the
//!   horizon of the fill that opened it (none: "exit/unattributed");
//! - open P&L = total P&L − realised P&L (positions marked at the last
//!   equity point, less the fees already paid on them).
//!
//! Cold path: runs once after a backtest, allocates freely.

use chrono_tz::Tz;

use crate::learning::reward::{EpisodeTracker, Fill, RewardError};
use crate::types::{HorizonId, Nanos, Qty, Side, SymbolId};

/// Trading days per year used to annualise.
pub const TRADING_DAYS_PER_YEAR: f64 = 252.0;

/// Label of the round trips opened without a horizon (start-up positions,
/// exit fills).
pub const UNATTRIBUTED: &str = "exit/unattributed";

/// Portfolio equity (cash + marked positions) at one cycle or decision
/// point, in event time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EquityPoint {
    pub time: Nanos,
    pub equity: f64,
}

/// One execution, as the engine applied it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FillInfo {
    pub time: Nanos,
    pub symbol: SymbolId,
    pub side: Side,
    /// Shares, a whole number > 0.
    pub qty: f64,
    /// Execution price (slippage included), > 0.
    pub price: f64,
    /// Fee paid in cash for the whole fill.
    pub fee: f64,
    /// Horizon of the decision that sent the order; `None` for exits.
    pub horizon: Option<HorizonId>,
}

/// Why the inputs cannot be summarised; names the offending item and value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum BacktestError {
    #[error("initial cash {0} is not a finite number > 0: pass the starting cash of the backtest")]
    InitialCash(f64),
    #[error("equity point {index} ({}): equity {equity} is not a finite number", crate::iso::format(*.time))]
    Equity {
        index: usize,
        time: Nanos,
        equity: f64,
    },
    #[error("equity point {index} ({}) is earlier than point {} ({}): pass the curve in time order", crate::iso::format(*.time), .index.saturating_sub(1), crate::iso::format(*.previous))]
    EquityOrder {
        index: usize,
        time: Nanos,
        previous: Nanos,
    },
    #[error("fill {index}: quantity {qty} is not a whole number of shares > 0")]
    FillQty { index: usize, qty: f64 },
    #[error("fill {index}: horizon id {horizon} but {labels} horizon labels were given: pass one label per configured horizon")]
    UnknownHorizon {
        index: usize,
        horizon: u8,
        labels: usize,
    },
    #[error("fill {index}: {source} (the backtest has {symbols} symbols)")]
    Fill {
        index: usize,
        symbols: usize,
        #[source]
        source: RewardError,
    },
}

/// Realised round trips of one horizon.
#[derive(Clone, Debug, PartialEq)]
pub struct HorizonPnl {
    /// The configured label (`5m`, …) or [`UNATTRIBUTED`].
    pub label: String,
    /// `None` for the unattributed row.
    pub horizon: Option<HorizonId>,
    /// Closed round trips opened by this horizon.
    pub round_trips: u64,
    /// Of those, with net P&L > 0.
    pub wins: u64,
    /// Σ net dollar P&L (after fees) of those round trips.
    pub net_pnl: f64,
    /// Σ fees of those round trips.
    pub fees: f64,
}

/// One point of the equity curve with its drawdown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub time: Nanos,
    pub equity: f64,
    /// (running peak − equity) / running peak, ≥ 0.
    pub drawdown: f64,
}

/// The summary of one backtest.
#[derive(Clone, Debug, PartialEq)]
pub struct BacktestMetrics {
    pub initial_cash: f64,
    /// Equity at the last point (the initial cash without points).
    pub final_equity: f64,
    /// `final_equity − initial_cash`.
    pub total_pnl: f64,
    /// `final_equity / initial_cash − 1`, a fraction.
    pub total_return: f64,
    /// Annualised Sharpe ratio of the per-point returns; see the module doc.
    pub sharpe: Option<f64>,
    /// Per-point returns used for Sharpe (consecutive pairs whose earlier
    /// equity is > 0).
    pub returns: usize,
    /// Distinct session dates (in the session time zone) among the points.
    pub session_days: usize,
    /// `252 × returns / session_days`; `None` without returns.
    pub periods_per_year: Option<f64>,
    /// Largest drawdown as a fraction of the running peak.
    pub max_drawdown: f64,
    /// Largest drawdown in dollars (peak − equity); may occur at another
    /// point than the largest fraction.
    pub max_drawdown_dollars: f64,
    /// Σ |qty · price| over all fills.
    pub traded_notional: f64,
    /// Mean equity over the points (the initial cash without points).
    pub mean_equity: f64,
    /// `traded_notional / mean_equity`; `None` when the mean is not > 0.
    pub turnover: Option<f64>,
    /// Σ fees over all fills.
    pub fees: f64,
    /// Number of fills.
    pub trades: usize,
    /// Closed round trips.
    pub round_trips: u64,
    /// Closed round trips with net P&L > 0.
    pub wins: u64,
    /// `wins / round_trips`; `None` without round trips.
    pub hit_rate: Option<f64>,
    /// Σ net P&L of the closed round trips.
    pub realized_pnl: f64,
    /// `total_pnl − realized_pnl`: open positions marked at the last
    /// equity point, less the fees already paid on them.
    pub unrealized_pnl: f64,
    /// Symbols with a position still open at the end.
    pub open_positions: usize,
    /// One row per configured horizon (in the given order), then
    /// [`UNATTRIBUTED`].
    pub per_horizon: Vec<HorizonPnl>,
    /// The equity curve with drawdowns, for the CSV and the chart.
    pub curve: Vec<CurvePoint>,
}

impl BacktestMetrics {
    /// Summarise a backtest that started with `initial_cash`, produced the
    /// equity curve `equity` (in time order) and the fills `fills` (applied
    /// in time order; equal times keep their given order), over
    /// `n_symbols` symbols (ids `0..n_symbols`) and the configured
    /// `horizons` (labels indexed by [`HorizonId`]). Session days are dated
    /// in `session_tz` (the config's `risk.session_timezone`).
    pub fn compute<S: AsRef<str>>(
        initial_cash: f64,
        equity: &[EquityPoint],
        fills: &[FillInfo],
        horizons: &[S],
        n_symbols: usize,
        session_tz: Tz,
    ) -> Result<BacktestMetrics, BacktestError> {
        if !(initial_cash.is_finite() && initial_cash > 0.0) {
            return Err(BacktestError::InitialCash(initial_cash));
        }
        let curve = drawdown_curve(initial_cash, equity)?;
        let final_equity = curve.last().map_or(initial_cash, |p| p.equity);
        let total_pnl = final_equity - initial_cash;

        let rets: Vec<f64> = equity
            .windows(2)
            .filter_map(|w| match w {
                [a, b] if a.equity > 0.0 => Some(b.equity / a.equity - 1.0),
                _ => None,
            })
            .collect();
        let session_days = session_days(equity, session_tz);
        let periods_per_year = (!rets.is_empty() && session_days > 0)
            .then(|| TRADING_DAYS_PER_YEAR * rets.len() as f64 / session_days as f64);
        let sharpe = periods_per_year.and_then(|ppy| sharpe(&rets, ppy));

        let max_drawdown = curve.iter().map(|p| p.drawdown).fold(0.0, f64::max);
        let mut peak = initial_cash;
        let mut max_drawdown_dollars: f64 = 0.0;
        for p in &curve {
            peak = peak.max(p.equity);
            max_drawdown_dollars = max_drawdown_dollars.max(peak - p.equity);
        }

        let mean_equity = if curve.is_empty() {
            initial_cash
        } else {
            curve.iter().map(|p| p.equity).sum::<f64>() / curve.len() as f64
        };
        let traded_notional = fills.iter().fold(0.0, |s, f| s + (f.qty * f.price).abs());
        let turnover = (mean_equity > 0.0).then(|| traded_notional / mean_equity);
        let fees: f64 = fills.iter().map(|f| f.fee).sum();

        let mut per_horizon: Vec<HorizonPnl> = horizons
            .iter()
            .enumerate()
            .map(|(i, label)| HorizonPnl {
                label: label.as_ref().to_owned(),
                horizon: u8::try_from(i).ok().map(HorizonId),
                round_trips: 0,
                wins: 0,
                net_pnl: 0.0,
                fees: 0.0,
            })
            .collect();
        per_horizon.push(HorizonPnl {
            label: UNATTRIBUTED.to_owned(),
            horizon: None,
            round_trips: 0,
            wins: 0,
            net_pnl: 0.0,
            fees: 0.0,
        });
        let unattributed = per_horizon.len() - 1;

        let mut order: Vec<usize> = (0..fills.len()).collect();
        order.sort_by_key(|&i| fills.get(i).map(|f| f.time));
        let mut tracker = EpisodeTracker::new(n_symbols);
        for index in order {
            let Some(f) = fills.get(index) else { continue };
            let fill = episode_fill(index, f, horizons.len())?;
            let closed =
                tracker
                    .apply_fill(f.symbol, &fill)
                    .map_err(|source| BacktestError::Fill {
                        index,
                        symbols: n_symbols,
                        source,
                    })?;
            let Some(ep) = closed else { continue };
            let sign = f64::from(ep.side.sign());
            let net = sign * (ep.exit_price - ep.entry_price) * ep.qty.as_f64() - ep.fees;
            let row = ep.arm.map_or(unattributed, HorizonId::index);
            if let Some(h) = per_horizon.get_mut(row) {
                h.round_trips += 1;
                h.wins += u64::from(net > 0.0);
                h.net_pnl += net;
                h.fees += ep.fees;
            }
        }
        let open_positions = (0..n_symbols)
            .filter_map(|i| u16::try_from(i).ok())
            .filter(|&i| tracker.open_episode(SymbolId(i)).is_some())
            .count();

        let round_trips: u64 = per_horizon.iter().map(|h| h.round_trips).sum();
        let wins: u64 = per_horizon.iter().map(|h| h.wins).sum();
        let realized_pnl: f64 = per_horizon.iter().map(|h| h.net_pnl).sum();
        Ok(BacktestMetrics {
            initial_cash,
            final_equity,
            total_pnl,
            total_return: final_equity / initial_cash - 1.0,
            sharpe,
            returns: rets.len(),
            session_days,
            periods_per_year,
            max_drawdown,
            max_drawdown_dollars,
            traded_notional,
            mean_equity,
            turnover,
            fees,
            trades: fills.len(),
            round_trips,
            wins,
            hit_rate: (round_trips > 0).then(|| wins as f64 / round_trips as f64),
            realized_pnl,
            unrealized_pnl: total_pnl - realized_pnl,
            open_positions,
            per_horizon,
            curve,
        })
    }
}

/// Validate the curve and attach the drawdown of every point.
fn drawdown_curve(
    initial_cash: f64,
    equity: &[EquityPoint],
) -> Result<Vec<CurvePoint>, BacktestError> {
    let mut peak = initial_cash;
    let mut previous: Option<Nanos> = None;
    let mut curve = Vec::with_capacity(equity.len());
    for (index, p) in equity.iter().enumerate() {
        if !p.equity.is_finite() {
            return Err(BacktestError::Equity {
                index,
                time: p.time,
                equity: p.equity,
            });
        }
        if let Some(prev) = previous.filter(|&prev| p.time < prev) {
            return Err(BacktestError::EquityOrder {
                index,
                time: p.time,
                previous: prev,
            });
        }
        previous = Some(p.time);
        peak = peak.max(p.equity);
        curve.push(CurvePoint {
            time: p.time,
            equity: p.equity,
            drawdown: (peak - p.equity) / peak,
        });
    }
    Ok(curve)
}

/// Distinct calendar dates of the points in `tz`.
fn session_days(equity: &[EquityPoint], tz: Tz) -> usize {
    let mut days: Vec<chrono::NaiveDate> = equity
        .iter()
        .filter_map(|p| {
            let secs = i64::try_from(p.time.0 / Nanos::PER_SEC).ok()?;
            let utc = chrono::DateTime::from_timestamp(secs, 0)?;
            Some(utc.with_timezone(&tz).date_naive())
        })
        .collect();
    days.sort_unstable();
    days.dedup();
    days.len()
}

/// mean / sd (ddof 1) × √periods_per_year; `None` with fewer than two
/// returns or a deviation that is not > 0.
fn sharpe(rets: &[f64], periods_per_year: f64) -> Option<f64> {
    if rets.len() < 2 {
        return None;
    }
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean) * (r - mean)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    (sd > 0.0 && sd.is_finite()).then(|| mean / sd * periods_per_year.sqrt())
}

/// The tracker's signed fill of one [`FillInfo`].
fn episode_fill(index: usize, f: &FillInfo, labels: usize) -> Result<Fill, BacktestError> {
    let whole = f.qty.is_finite() && f.qty > 0.0 && f.qty.fract() == 0.0 && f.qty < 9.0e15;
    if !whole {
        return Err(BacktestError::FillQty { index, qty: f.qty });
    }
    if let Some(h) = f.horizon.filter(|h| h.index() >= labels) {
        return Err(BacktestError::UnknownHorizon {
            index,
            horizon: h.0,
            labels,
        });
    }
    let shares = f.qty as i64;
    Ok(Fill {
        qty: Qty(shares * i64::from(f.side.sign())),
        price: f.price,
        fee: f.fee,
        arm: f.horizon,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_704_207_600_000_000_000; // 2024-01-02T15:00:00Z
    const NY: Tz = Tz::America__New_York;
    const NONE: [&str; 0] = [];

    fn curve(values: &[f64]) -> Vec<EquityPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, &equity)| EquityPoint {
                time: Nanos(T0 + i as u64 * 60 * Nanos::PER_SEC),
                equity,
            })
            .collect()
    }

    #[test]
    fn drawdown_returns_and_sharpe_by_hand() {
        let eq = curve(&[100.0, 110.0, 99.0, 121.0]);
        let m = BacktestMetrics::compute(100.0, &eq, &[], &NONE, 1, NY).unwrap();
        assert!((m.total_return - 0.21).abs() < 1e-12);
        assert!((m.total_pnl - 21.0).abs() < 1e-12);
        assert!((m.max_drawdown - 0.1).abs() < 1e-12, "11 / 110");
        assert!((m.max_drawdown_dollars - 11.0).abs() < 1e-12);
        let dd: Vec<f64> = m.curve.iter().map(|p| p.drawdown).collect();
        assert_eq!(dd[0], 0.0);
        assert!((dd[2] - 0.1).abs() < 1e-12 && dd[3] == 0.0);
        // Returns 0.1, -0.1, 2/9 on one session day: 3 periods per day.
        let r = [0.1, -0.1, 22.0 / 99.0];
        let mean = r.iter().sum::<f64>() / 3.0;
        let sd = (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 2.0).sqrt();
        assert_eq!((m.returns, m.session_days), (3, 1));
        assert_eq!(m.periods_per_year, Some(756.0));
        let want = mean / sd * 756f64.sqrt();
        assert!((m.sharpe.unwrap() - want).abs() < 1e-9);
        assert!((m.mean_equity - 107.5).abs() < 1e-12);
        assert_eq!((m.trades, m.round_trips, m.hit_rate), (0, 0, None));
        assert_eq!(m.turnover, Some(0.0));
    }

    #[test]
    fn a_loss_from_the_start_is_a_drawdown_and_flat_curves_have_no_sharpe() {
        let m = BacktestMetrics::compute(100.0, &curve(&[90.0, 90.0, 90.0]), &[], &NONE, 1, NY)
            .unwrap();
        assert!((m.max_drawdown - 0.1).abs() < 1e-12);
        assert_eq!(m.sharpe, None, "zero deviation");
        let m =
            BacktestMetrics::compute(100.0, &curve(&[100.0, 101.0]), &[], &NONE, 1, NY).unwrap();
        assert_eq!(m.sharpe, None, "one return");
        let m = BacktestMetrics::compute(100.0, &[], &[], &NONE, 1, NY).unwrap();
        assert_eq!(
            (m.final_equity, m.total_return, m.sharpe),
            (100.0, 0.0, None)
        );
        assert_eq!(m.per_horizon.len(), 1);
    }

    #[test]
    fn session_days_are_dated_in_the_session_zone() {
        // 2024-01-03T01:00Z is still January 2 (20:00) in New York.
        let eq = [
            EquityPoint {
                time: Nanos(T0),
                equity: 100.0,
            },
            EquityPoint {
                time: Nanos(T0 + 10 * 3600 * Nanos::PER_SEC),
                equity: 101.0,
            },
        ];
        let ny = BacktestMetrics::compute(100.0, &eq, &[], &NONE, 1, NY).unwrap();
        assert_eq!((ny.session_days, ny.periods_per_year), (1, Some(252.0)));
        let utc = BacktestMetrics::compute(100.0, &eq, &[], &NONE, 1, Tz::UTC).unwrap();
        assert_eq!((utc.session_days, utc.periods_per_year), (2, Some(126.0)));
    }

    #[test]
    fn bad_inputs_are_named() {
        let e = BacktestMetrics::compute(0.0, &[], &[], &NONE, 1, NY).unwrap_err();
        assert_eq!(e, BacktestError::InitialCash(0.0));
        let mut eq = curve(&[100.0, f64::NAN]);
        assert!(matches!(
            BacktestMetrics::compute(100.0, &eq, &[], &NONE, 1, NY),
            Err(BacktestError::Equity { index: 1, .. })
        ));
        eq[1].equity = 100.0;
        eq[1].time = Nanos(T0 - 1);
        let e = BacktestMetrics::compute(100.0, &eq, &[], &NONE, 1, NY).unwrap_err();
        assert!(matches!(e, BacktestError::EquityOrder { index: 1, .. }));
        assert!(e.to_string().contains("2024-01-02T15:00:00Z"), "{e}");
        let fill = FillInfo {
            time: Nanos(T0),
            symbol: SymbolId(0),
            side: Side::Buy,
            qty: 1.5,
            price: 10.0,
            fee: 0.0,
            horizon: None,
        };
        let err =
            |f: FillInfo| BacktestMetrics::compute(100.0, &[], &[f], &["5m"], 1, NY).unwrap_err();
        assert_eq!(err(fill), BacktestError::FillQty { index: 0, qty: 1.5 });
        let e = err(FillInfo {
            qty: 1.0,
            horizon: Some(HorizonId(1)),
            ..fill
        });
        assert!(matches!(
            e,
            BacktestError::UnknownHorizon {
                horizon: 1,
                labels: 1,
                ..
            }
        ));
        let e = err(FillInfo {
            qty: 1.0,
            symbol: SymbolId(3),
            ..fill
        });
        assert!(e.to_string().contains("1 symbols"), "{e}");
        let e = err(FillInfo {
            qty: 1.0,
            price: -1.0,
            ..fill
        });
        assert!(matches!(
            e,
            BacktestError::Fill {
                source: RewardError::InvalidPrice(_),
                ..
            }
        ));
    }
}
