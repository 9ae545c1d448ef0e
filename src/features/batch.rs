//! Batch feature computation over a whole bar frame (SPEC §3): the reference
//! implementation that the engine's incremental per-bar features must match
//! (to 1e-9).
//!
//! Cold path: start-up warm-up, tools and the conformance command. It
//! allocates freely and favours matching the SPEC formulas term by term over
//! speed; it is not run per bar on the engine thread.
//!
//! Conventions: the frame's rows are bars, oldest first, so the last row is
//! `t`. Every value is NaN when its column is missing, when the frame has
//! fewer rows than the feature needs, on division by zero, or when the
//! result is not finite. Non-finite inputs propagate (a NaN close inside a
//! window makes the feature NaN).
//!
//! ```
//! use live_trading::features::{compute, BarFrame, Feature};
//!
//! let rows: Vec<Vec<f64>> = (0..6).map(|i| vec![100.0 + i as f64]).collect();
//! let frame = BarFrame::from_rows(&["Close"], &rows).unwrap();
//! assert_eq!(compute(&frame, Feature::Mom(5)), 5.0);
//! assert!(compute(&frame, Feature::Ret(10)).is_nan()); // needs 11 rows
//! assert!(compute(&frame, Feature::HighLowRange).is_nan()); // no High/Low
//! ```

use super::kind::{Feature, ATR_PERIOD, MACD_SPANS, WINDOW_20, WINDOW_52W};

/// Column names of a bar frame (exact case).
pub const OPEN: &str = "Open";
pub const HIGH: &str = "High";
pub const LOW: &str = "Low";
pub const CLOSE: &str = "Close";
pub const VOLUME: &str = "Volume";

/// OHLCV columns of one symbol's bars, oldest first; any column may be
/// missing (its features are then NaN). Never empty.
#[derive(Clone, Debug, PartialEq)]
pub struct BarFrame {
    rows: usize,
    open: Option<Vec<f64>>,
    high: Option<Vec<f64>>,
    low: Option<Vec<f64>>,
    close: Option<Vec<f64>>,
    volume: Option<Vec<f64>>,
}

/// Why a bar frame cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FrameError {
    #[error("the bar frame has no rows")]
    Empty,
    #[error("row {row} has {found} values, the frame has {columns} columns")]
    RowWidth {
        row: usize,
        found: usize,
        columns: usize,
    },
    #[error("column {0:?} appears twice")]
    DuplicateColumn(String),
    #[error("column {name:?} has {found} values, expected {rows}")]
    ColumnLength {
        name: &'static str,
        found: usize,
        rows: usize,
    },
}

impl FrameError {
    /// The error's wire code.
    pub const fn code(&self) -> &'static str {
        match self {
            FrameError::Empty => "empty_frame",
            FrameError::RowWidth { .. }
            | FrameError::DuplicateColumn(_)
            | FrameError::ColumnLength { .. } => "bad_frame",
        }
    }
}

impl BarFrame {
    /// A frame from named columns and row-major values (`rows[i][j]` is
    /// column `columns[j]` of bar `i`). Columns other than
    /// Open/High/Low/Close/Volume are ignored.
    pub fn from_rows<S: AsRef<str>, R: AsRef<[f64]>>(
        columns: &[S],
        rows: &[R],
    ) -> Result<BarFrame, FrameError> {
        if rows.is_empty() {
            return Err(FrameError::Empty);
        }
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].iter().any(|c| c.as_ref() == name.as_ref()) {
                return Err(FrameError::DuplicateColumn(name.as_ref().to_owned()));
            }
        }
        for (row, r) in rows.iter().enumerate() {
            let found = r.as_ref().len();
            if found != columns.len() {
                return Err(FrameError::RowWidth {
                    row,
                    found,
                    columns: columns.len(),
                });
            }
        }
        let column = |name: &str| -> Option<Vec<f64>> {
            let j = columns.iter().position(|c| c.as_ref() == name)?;
            Some(rows.iter().map(|r| r.as_ref()[j]).collect())
        };
        Ok(BarFrame {
            rows: rows.len(),
            open: column(OPEN),
            high: column(HIGH),
            low: column(LOW),
            close: column(CLOSE),
            volume: column(VOLUME),
        })
    }

    /// A frame from whole columns (each `None` when missing); every present
    /// column must have the same, non-zero length.
    pub fn from_columns(
        open: Option<Vec<f64>>,
        high: Option<Vec<f64>>,
        low: Option<Vec<f64>>,
        close: Option<Vec<f64>>,
        volume: Option<Vec<f64>>,
    ) -> Result<BarFrame, FrameError> {
        let named = [
            (OPEN, &open),
            (HIGH, &high),
            (LOW, &low),
            (CLOSE, &close),
            (VOLUME, &volume),
        ];
        let rows = named
            .iter()
            .find_map(|(_, c)| c.as_ref().map(Vec::len))
            .unwrap_or(0);
        if rows == 0 {
            return Err(FrameError::Empty);
        }
        for (name, c) in named {
            if let Some(found) = c.as_ref().map(Vec::len).filter(|&n| n != rows) {
                return Err(FrameError::ColumnLength { name, found, rows });
            }
        }
        Ok(BarFrame {
            rows,
            open,
            high,
            low,
            close,
            volume,
        })
    }

    /// Number of bars (≥ 1).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Never true for a built frame.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The Open column, if present.
    pub fn open(&self) -> Option<&[f64]> {
        self.open.as_deref()
    }

    /// The High column, if present.
    pub fn high(&self) -> Option<&[f64]> {
        self.high.as_deref()
    }

    /// The Low column, if present.
    pub fn low(&self) -> Option<&[f64]> {
        self.low.as_deref()
    }

    /// The Close column, if present.
    pub fn close(&self) -> Option<&[f64]> {
        self.close.as_deref()
    }

    /// The Volume column, if present.
    pub fn volume(&self) -> Option<&[f64]> {
        self.volume.as_deref()
    }
}

/// Compute `features` over `frame` into `out[..features.len()]` (extra
/// entries of either slice are left alone).
pub fn compute_all(frame: &BarFrame, features: &[Feature], out: &mut [f64]) {
    for (slot, &f) in out.iter_mut().zip(features) {
        *slot = compute(frame, f);
    }
}

/// The float32 values passed to a model: each float64 rounded to nearest,
/// ties to even (NaN stays NaN).
pub fn to_f32(values: &[f64], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(values) {
        *o = v as f32;
    }
}

/// One feature's value at the frame's last row; NaN when it cannot be
/// computed (see the module doc).
pub fn compute(frame: &BarFrame, feature: Feature) -> f64 {
    let value = raw(frame, feature).unwrap_or(f64::NAN);
    if value.is_finite() {
        value
    } else {
        f64::NAN
    }
}

/// The value before the finiteness check; `None` for a missing column or too
/// few rows.
fn raw(frame: &BarFrame, feature: Feature) -> Option<f64> {
    let n = frame.len();
    if n < feature.rows_needed()? {
        return None;
    }
    let t = n - 1;
    Some(match feature {
        Feature::Ret(k) => {
            let c = frame.close()?;
            ratio(c[t], c[t - k]) - 1.0
        }
        Feature::Vol(k) => {
            let c = frame.close()?;
            sample_std(&returns(&c[n - (k + 1)..]))
        }
        Feature::Rsi(p) => rsi(frame.close()?, p),
        Feature::MaRatio(k) => {
            let c = frame.close()?;
            ratio(c[t], mean(&c[n - k..])) - 1.0
        }
        Feature::BbPosition => {
            let c = frame.close()?;
            let (m, s) = band(c);
            let upper = m + 2.0 * s;
            let lower = m - 2.0 * s;
            let width = upper - lower;
            if width == 0.0 {
                0.5
            } else {
                (c[t] - lower) / width
            }
        }
        Feature::BbWidth => {
            let (m, s) = band(frame.close()?);
            ratio(4.0 * s, m)
        }
        Feature::Macd => macd(frame.close()?).0,
        Feature::MacdSignal => macd(frame.close()?).1,
        Feature::MacdHist => {
            let (line, signal) = macd(frame.close()?);
            line - signal
        }
        Feature::Mom(k) => {
            let c = frame.close()?;
            c[t] - c[t - k]
        }
        Feature::Atr14 => atr(frame.high()?, frame.low()?, frame.close()?, ATR_PERIOD),
        Feature::HighLowRange => {
            let (h, l, c) = (frame.high()?, frame.low()?, frame.close()?);
            ratio(h[t] - l[t], c[t])
        }
        Feature::VolumeMaRatio => {
            let v = frame.volume()?;
            ratio(v[t], mean(&v[n - WINDOW_20..]))
        }
        Feature::VolumeChange => {
            let v = frame.volume()?;
            ratio(v[t], v[t - 1]) - 1.0
        }
        Feature::CloseToHigh52w => {
            let c = frame.close()?;
            ratio(c[t], extreme(&c[n - n.min(WINDOW_52W)..], f64::max))
        }
        Feature::CloseToLow52w => {
            let c = frame.close()?;
            ratio(c[t], extreme(&c[n - n.min(WINDOW_52W)..], f64::min))
        }
        Feature::Unknown => return None,
    })
}

/// `a/b`, NaN when `b` is zero.
pub(super) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 {
        f64::NAN
    } else {
        a / b
    }
}

/// Arithmetic mean, summed oldest first.
pub(super) fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (ddof 1), two-pass; NaN for fewer than two
/// values.
pub(super) fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// One-bar returns `C_i/C_{i-1} - 1` of a close window.
fn returns(closes: &[f64]) -> Vec<f64> {
    closes.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
}

/// SMA20 and sample std of the last 20 closes.
fn band(closes: &[f64]) -> (f64, f64) {
    let window = &closes[closes.len() - WINDOW_20..];
    (mean(window), sample_std(window))
}

/// Max or min of a window; NaN if any value is NaN.
fn extreme(xs: &[f64], pick: fn(f64, f64) -> f64) -> f64 {
    if xs.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    xs.iter().copied().reduce(pick).unwrap_or(f64::NAN)
}

/// `max(x, 0)` that keeps NaN.
fn positive_part(x: f64) -> f64 {
    if x.is_nan() || x > 0.0 {
        x
    } else {
        0.0
    }
}

/// RSI over the last `p` close changes, with `d_0 = 0` for the first bar.
fn rsi(closes: &[f64], p: usize) -> f64 {
    rsi_over(closes.len(), p, |i| closes[i])
}

/// RSI over the last `p` changes of an `n`-row frame whose close at row `i`
/// is `close(i)`. Shared with the incremental features, so both do exactly
/// the same arithmetic.
pub(super) fn rsi_over(n: usize, p: usize, close: impl Fn(usize) -> f64) -> f64 {
    let change = |i: usize| {
        if i == 0 {
            0.0
        } else {
            close(i) - close(i - 1)
        }
    };
    let (mut gain, mut loss) = (0.0, 0.0);
    for i in n - p..n {
        let d = change(i);
        gain += positive_part(d);
        loss += positive_part(-d);
    }
    if !(gain.is_finite() && loss.is_finite()) {
        return f64::NAN;
    }
    let g = gain / p as f64;
    let l = loss / p as f64;
    if l == 0.0 {
        return f64::NAN;
    }
    100.0 - 100.0 / (1.0 + g / l)
}

/// Exponential moving average of the whole series with `α = 2/(span+1)`,
/// seeded with the first value.
fn ema(xs: &[f64], span: u32) -> Vec<f64> {
    let alpha = 2.0 / (f64::from(span) + 1.0);
    let mut out = Vec::with_capacity(xs.len());
    let mut y = f64::NAN;
    for (i, &x) in xs.iter().enumerate() {
        y = if i == 0 {
            x
        } else {
            (1.0 - alpha) * y + alpha * x
        };
        out.push(y);
    }
    out
}

/// MACD line and signal at the last bar.
fn macd(closes: &[f64]) -> (f64, f64) {
    let (fast, slow, signal) = MACD_SPANS;
    let line: Vec<f64> = ema(closes, fast)
        .iter()
        .zip(ema(closes, slow))
        .map(|(f, s)| f - s)
        .collect();
    let sig = ema(&line, signal);
    (
        line.last().copied().unwrap_or(f64::NAN),
        sig.last().copied().unwrap_or(f64::NAN),
    )
}

/// Mean true range of the last `p` bars; `TR_0 = H_0 - L_0`.
fn atr(high: &[f64], low: &[f64], close: &[f64], p: usize) -> f64 {
    atr_over(close.len(), p, |i| (high[i], low[i], close[i]))
}

/// Mean true range of the last `p` rows of an `n`-row frame whose row `i`
/// is `bar(i) = (high, low, close)`. Shared with the incremental features.
pub(super) fn atr_over(n: usize, p: usize, bar: impl Fn(usize) -> (f64, f64, f64)) -> f64 {
    let tr = |i: usize| {
        let (high, low, _) = bar(i);
        let range = high - low;
        if i == 0 {
            return range;
        }
        let (_, _, prev) = bar(i - 1);
        let up = (high - prev).abs();
        let down = (low - prev).abs();
        if range.is_nan() || up.is_nan() || down.is_nan() {
            f64::NAN
        } else {
            range.max(up).max(down)
        }
    };
    let sum: f64 = (n - p..n).map(tr).sum();
    sum / p as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Periods that `Feature::parse` never produces (0, 1, huge) still give
    /// NaN or a number, never a panic.
    #[test]
    fn degenerate_periods_never_panic() {
        let rows: Vec<[f64; 5]> = (0..30)
            .map(|i| {
                let c = 100.0 + i as f64;
                [c, c + 1.0, c - 1.0, c, 1e6]
            })
            .collect();
        let frame =
            BarFrame::from_rows(&["Open", "High", "Low", "Close", "Volume"], &rows).unwrap();
        for f in [
            Feature::Vol(0),
            Feature::Vol(1),
            Feature::Ret(0),
            Feature::Ret(usize::MAX),
            Feature::Mom(usize::MAX),
            Feature::Rsi(0),
            Feature::MaRatio(0),
        ] {
            let _ = compute(&frame, f);
            let _ = f.rows_needed();
        }
        assert!(compute(&frame, Feature::Vol(1)).is_nan());
    }

    fn closes(cs: &[f64]) -> BarFrame {
        BarFrame::from_columns(None, None, None, Some(cs.to_vec()), None).unwrap()
    }

    #[test]
    fn empty_and_malformed_frames_are_errors() {
        let none: [[f64; 1]; 0] = [];
        assert_eq!(
            BarFrame::from_rows(&["Close"], &none),
            Err(FrameError::Empty)
        );
        assert_eq!(
            BarFrame::from_rows(&["Close", "Open"], &[[1.0]]),
            Err(FrameError::RowWidth {
                row: 0,
                found: 1,
                columns: 2
            })
        );
        assert!(BarFrame::from_rows(&["Close", "Close"], &[[1.0, 1.0]]).is_err());
        assert_eq!(
            BarFrame::from_columns(None, None, None, None, None),
            Err(FrameError::Empty)
        );
        assert!(
            BarFrame::from_columns(None, Some(vec![1.0]), None, Some(vec![1.0, 2.0]), None)
                .is_err()
        );
    }

    #[test]
    fn row_thresholds_follow_the_table() {
        for &(_, f) in super::super::kind::CATALOGUE {
            let need = f.rows_needed().unwrap();
            let series: Vec<f64> = (0..need).map(|i| 100.0 + (i % 3) as f64).collect();
            let full: Vec<[f64; 4]> = series.iter().map(|&c| [c + 1.0, c - 1.0, c, 1e6]).collect();
            let cols = ["High", "Low", "Close", "Volume"];
            let enough = BarFrame::from_rows(&cols, &full).unwrap();
            assert!(compute(&enough, f).is_finite(), "{f:?} with {need} rows");
            if need > 1 {
                let short = BarFrame::from_rows(&cols, &full[1..]).unwrap();
                assert!(compute(&short, f).is_nan(), "{f:?} with {} rows", need - 1);
            }
        }
    }

    #[test]
    fn rsi_counts_the_first_change_as_zero() {
        // 3 rows, rsi over the last 3 changes: d = [0, +2, -1].
        let f = closes(&[10.0, 12.0, 11.0]);
        assert_eq!(
            rsi(f.close().unwrap(), 3),
            100.0 - 100.0 / (1.0 + 2.0 / 1.0)
        );
        // Only gains: L = 0 → NaN.
        assert!(compute(
            &closes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
            Feature::Rsi(7)
        )
        .is_nan());
    }

    #[test]
    fn flat_prices_give_zero_band_width_and_mid_position() {
        let f = closes(&[50.0; 25]);
        assert_eq!(compute(&f, Feature::BbPosition), 0.5);
        assert_eq!(compute(&f, Feature::BbWidth), 0.0);
        assert_eq!(compute(&f, Feature::Vol(20)), 0.0);
        assert_eq!(compute(&f, Feature::Macd), 0.0);
    }

    #[test]
    fn division_by_zero_and_non_finite_inputs_are_nan() {
        let mut cs = vec![100.0; 30];
        cs[28] = 0.0;
        let f = closes(&cs);
        assert!(compute(&f, Feature::Ret(1)).is_nan());
        assert!(compute(&f, Feature::CloseToLow52w).is_nan());
        cs[28] = f64::NAN;
        let f = closes(&cs);
        assert!(compute(&f, Feature::Vol(5)).is_nan());
        assert!(compute(&f, Feature::Rsi(14)).is_nan());
        assert!(compute(&f, Feature::CloseToHigh52w).is_nan());
        assert!(compute(&f, Feature::Macd).is_nan());
        assert!(compute(&closes(&[1e308, -1e308]), Feature::Mom(1)).is_nan());
        let mut cs = vec![100.0, 99.0, 101.0, 100.0];
        cs.push(f64::INFINITY);
        assert!(compute(&closes(&cs), Feature::Rsi(4)).is_nan());
    }

    #[test]
    fn missing_columns_and_unknown_names_are_nan() {
        let f = closes(&[1.0; 30]);
        for feat in [
            Feature::Atr14,
            Feature::HighLowRange,
            Feature::VolumeChange,
            Feature::VolumeMaRatio,
            Feature::Unknown,
        ] {
            assert!(compute(&f, feat).is_nan(), "{feat:?}");
        }
        let no_close = BarFrame::from_rows(&["Volume"], &[[1.0], [2.0]]).unwrap();
        assert!(compute(&no_close, Feature::Ret(1)).is_nan());
        assert_eq!(compute(&no_close, Feature::VolumeChange), 1.0);
    }

    #[test]
    fn fifty_two_week_window_is_capped_at_252_bars() {
        let mut cs = vec![200.0];
        cs.extend(std::iter::repeat_n(100.0, 252));
        let f = closes(&cs);
        assert_eq!(compute(&f, Feature::CloseToHigh52w), 1.0);
        let f = closes(&cs[..252]);
        assert_eq!(compute(&f, Feature::CloseToHigh52w), 0.5);
    }

    #[test]
    fn f32_cast_rounds_to_nearest() {
        let mut out = [0.0f32; 3];
        to_f32(&[0.1, f64::NAN, 1.0 + f64::EPSILON], &mut out);
        assert_eq!(out[0], 0.1f32);
        assert!(out[1].is_nan());
        assert_eq!(out[2], 1.0);
    }
}
