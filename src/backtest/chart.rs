//! The SVG equity chart of a backtest: the equity line (with the initial
//! cash dashed) in the upper panel, the drawdown as a filled area in the
//! lower panel, a shared UTC time axis. Long curves are reduced to the
//! minimum and maximum of each pixel column, so the file stays small and
//! every extreme stays visible.
//!
//! Cold path: runs once after a backtest, allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use super::metrics::BacktestMetrics;
use super::output::{money, pct};
use crate::telemetry::svg::{Anchor, LinearScale, Stroke, Svg};
use crate::types::Nanos;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 100.0;
const RIGHT: f64 = WIDTH - 30.0;
const EQ_TOP: f64 = 50.0;
const EQ_BOTTOM: f64 = 330.0;
const DD_TOP: f64 = 360.0;
const DD_BOTTOM: f64 = 480.0;
const GRID: &str = "#dddddd";
const AXIS: &str = "#333333";
const EQUITY: &str = "#0072b2";
const DRAWDOWN: &str = "#d55e00";
const TIME_TICKS: usize = 6;

/// The document; see the module doc.
pub fn equity_chart(m: &BacktestMetrics) -> String {
    let title = format!(
        "Backtest equity — total return {}, max drawdown {}",
        pct(m.total_return),
        pct(m.max_drawdown)
    );
    let mut svg = Svg::new(WIDTH, HEIGHT, &title);
    svg.text(LEFT, 28.0, Anchor::Start, 16.0, &title);
    svg.rect(LEFT, EQ_TOP, RIGHT - LEFT, EQ_BOTTOM - EQ_TOP, "none", AXIS);
    svg.rect(LEFT, DD_TOP, RIGHT - LEFT, DD_BOTTOM - DD_TOP, "none", AXIS);
    svg.vertical_text(24.0, (EQ_TOP + EQ_BOTTOM) / 2.0, 13.0, "equity");
    svg.vertical_text(24.0, (DD_TOP + DD_BOTTOM) / 2.0, 13.0, "drawdown");

    let (Some(first), Some(last)) = (m.curve.first(), m.curve.last()) else {
        svg.text(
            (LEFT + RIGHT) / 2.0,
            (EQ_TOP + EQ_BOTTOM) / 2.0,
            Anchor::Middle,
            14.0,
            "no equity points",
        );
        return svg.finish();
    };
    let t0 = first.time;
    let secs = |t: Nanos| t.secs_since(t0);
    let x = LinearScale::new(0.0, secs(last.time), LEFT, RIGHT);

    // Equity panel.
    let lo = m
        .curve
        .iter()
        .map(|p| p.equity)
        .fold(m.initial_cash, f64::min);
    let hi = m
        .curve
        .iter()
        .map(|p| p.equity)
        .fold(m.initial_cash, f64::max);
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-9);
    let ticks = nice_ticks(lo - pad, hi + pad, 5);
    let y_lo = ticks.first().copied().unwrap_or(lo - pad).min(lo - pad);
    let y_hi = ticks.last().copied().unwrap_or(hi + pad).max(hi + pad);
    let y = LinearScale::new(y_lo, y_hi, EQ_BOTTOM, EQ_TOP);
    for &v in &ticks {
        let py = y.map(v);
        svg.line((LEFT, py), (RIGHT, py), Stroke::solid(GRID, 1.0));
        svg.text(LEFT - 8.0, py + 4.0, Anchor::End, 11.0, &money(v));
    }
    let cash_y = y.map(m.initial_cash);
    svg.line(
        (LEFT, cash_y),
        (RIGHT, cash_y),
        Stroke::dashed(AXIS, 1.0, "5 4"),
    );
    let columns = (RIGHT - LEFT) as usize;
    let equity: Vec<(f64, f64)> = m.curve.iter().map(|p| (secs(p.time), p.equity)).collect();
    let pts: Vec<(f64, f64)> = decimate(&equity, columns)
        .into_iter()
        .map(|(t, v)| (x.map(t), y.map(v)))
        .collect();
    svg.polyline(&pts, EQUITY, 1.5, "equity");

    // Drawdown panel: 0 at the top, the largest drawdown at the bottom.
    let dd_max = m.max_drawdown.max(1e-4);
    let d = LinearScale::new(0.0, dd_max, DD_TOP, DD_BOTTOM);
    for v in [0.0, dd_max / 2.0, dd_max] {
        let py = d.map(v);
        svg.line((LEFT, py), (RIGHT, py), Stroke::solid(GRID, 1.0));
        let label = if v > 0.0 { pct(-v) } else { pct(0.0) };
        svg.text(LEFT - 8.0, py + 4.0, Anchor::End, 11.0, &label);
    }
    let dd: Vec<(f64, f64)> = m.curve.iter().map(|p| (secs(p.time), p.drawdown)).collect();
    let mut area: Vec<(f64, f64)> = Vec::with_capacity(dd.len() + 2);
    area.push((x.map(0.0), DD_TOP));
    area.extend(
        decimate(&dd, columns)
            .into_iter()
            .map(|(t, v)| (x.map(t), d.map(v))),
    );
    area.push((x.map(secs(last.time)), DD_TOP));
    svg.polygon(&area, DRAWDOWN, 0.45);

    // Shared time axis.
    let span = last.time.0.saturating_sub(t0.0);
    let one_day = span <= 36 * 3600 * Nanos::PER_SEC;
    for i in 0..TIME_TICKS {
        let t = Nanos(t0.0 + (span as f64 * i as f64 / (TIME_TICKS - 1) as f64) as u64);
        let px = x.map(secs(t));
        svg.line((px, EQ_TOP), (px, EQ_BOTTOM), Stroke::solid(GRID, 1.0));
        svg.line(
            (px, DD_BOTTOM),
            (px, DD_BOTTOM + 5.0),
            Stroke::solid(AXIS, 1.0),
        );
        let fmt = if one_day { "%H:%M:%S" } else { "%m-%d %H:%M" };
        svg.text(
            px,
            DD_BOTTOM + 20.0,
            Anchor::Middle,
            11.0,
            &time_label(t, fmt),
        );
    }
    let axis_title = if one_day {
        format!("time (UTC, {})", time_label(t0, "%Y-%m-%d"))
    } else {
        "time (UTC)".to_owned()
    };
    svg.text(
        (LEFT + RIGHT) / 2.0,
        HEIGHT - 30.0,
        Anchor::Middle,
        13.0,
        &axis_title,
    );
    svg.finish()
}

fn time_label(t: Nanos, fmt: &str) -> String {
    let secs = i64::try_from(t.0 / Nanos::PER_SEC).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(secs, 0)
        .map_or_else(|| t.to_string(), |dt| dt.format(fmt).to_string())
}

/// Round tick values (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]` with
/// about `n` intervals.
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let range = hi - lo;
    if !(range.is_finite() && range > 0.0) || n == 0 {
        return vec![lo];
    }
    let raw = range / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|k| k * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let start = (lo / step).floor() as i64;
    let end = (hi / step).ceil() as i64;
    (start..=end).map(|k| k as f64 * step).collect()
}

/// One pixel column of a series being decimated: its lowest and highest
/// points with their positions in the series.
struct Column {
    col: usize,
    lo: (usize, (f64, f64)),
    hi: (usize, (f64, f64)),
}

impl Column {
    fn push_to(&self, out: &mut Vec<(f64, f64)>) {
        let (i_lo, p_lo) = self.lo;
        let (i_hi, p_hi) = self.hi;
        if i_lo == i_hi {
            out.push(p_lo);
        } else if i_lo < i_hi {
            out.extend([p_lo, p_hi]);
        } else {
            out.extend([p_hi, p_lo]);
        }
    }
}

/// At most two points per column: each column's minimum and maximum, in
/// their original order; short series are returned whole.
fn decimate(points: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    let columns = columns.max(1);
    if points.len() <= 2 * columns {
        return points.to_vec();
    }
    let (x0, x1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (a.0, b.0),
        _ => return points.to_vec(),
    };
    let mut out = Vec::with_capacity(2 * columns + 2);
    let mut current: Option<Column> = None;
    for (i, &p) in points.iter().enumerate() {
        let col = ((((p.0 - x0) / (x1 - x0)) * columns as f64) as usize).min(columns - 1);
        match &mut current {
            Some(c) if c.col == col => {
                if p.1 < c.lo.1 .1 {
                    c.lo = (i, p);
                }
                if p.1 > c.hi.1 .1 {
                    c.hi = (i, p);
                }
            }
            _ => {
                if let Some(done) = current.take() {
                    done.push_to(&mut out);
                }
                current = Some(Column {
                    col,
                    lo: (i, p),
                    hi: (i, p),
                });
            }
        }
    }
    if let Some(done) = current {
        done.push_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(95.0, 124.0, 5),
            vec![90.0, 100.0, 110.0, 120.0, 130.0]
        );
        let t = nice_ticks(0.013, 0.087, 4);
        assert!(t.first().unwrap() <= &0.013 && t.last().unwrap() >= &0.087);
        assert_eq!(nice_ticks(5.0, 5.0, 5), vec![5.0]);
    }

    #[test]
    fn decimation_keeps_extremes_in_order() {
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| (i as f64, ((i * 7919) % 1000) as f64))
            .collect();
        let out = decimate(&pts, 100);
        assert!(out.len() <= 200, "{}", out.len());
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "time order kept");
        let max = out.iter().map(|p| p.1).fold(f64::MIN, f64::max);
        let min = out.iter().map(|p| p.1).fold(f64::MAX, f64::min);
        assert_eq!((min, max), (0.0, 999.0));
        let short = [(0.0, 1.0), (1.0, 2.0)];
        assert_eq!(decimate(&short, 100), short.to_vec());
    }
}
