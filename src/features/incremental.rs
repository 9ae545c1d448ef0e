//! Incremental per-bar features (SPEC §3): the engine's counterpart of
//! [`batch`](super::batch), updated once per new bar of each symbol.
//!
//! - [`FeatureSet`]: built once at start-up from the union of every loaded
//!   model's parsed `feature_list` (deduplicated, first appearance first) and
//!   `data.history_bars`; it sizes every buffer.
//! - [`FeatureState`]: one per symbol; [`FeatureState::push_bar`] takes a
//!   bar and refreshes the value and warm flag of every feature of the set.
//! - [`ModelFeatures`]: one per model, its index map into the set; it says
//!   whether all its features are warm and gathers its `f32` row.
//!
//! The values equal [`batch::compute`](super::batch::compute) over the
//! frame the engine keeps: the last `history_bars` bars, oldest first (all
//! bars while fewer exist). Window statistics (`vol_N`, `rsi_P`,
//! `ma_ratio_N`, Bollinger, `atr_14`, `volume_ma_ratio`) are recomputed per
//! bar from ring buffers over their window (≤ 60 values) in the batch's own
//! order and arithmetic, so they are bit-identical to it: running sums would
//! save a few dozen additions but leave residues where the SPEC branches on
//! an exact zero (RSI's `L = 0`, a flat band's width). Returns, momentum and
//! ratios are O(1); the 52-week extremes use monotonic deques, O(1)
//! amortised. MACD steps the seeded EMAs in O(1) while the frame grows and
//! reruns them over the frame once it slides (see `macd.rs`): bit-identical
//! to the batch at every price level, about 1 µs per bar at 300 bars.
//! So every feature equals the batch exactly, not just within tolerance.
//!
//! A feature is *warm* once the frame has [`Feature::rows_needed`] rows
//! ([`Feature::Unknown`] never is). Warm values can still be NaN (division
//! by zero, a NaN bar in the window): SPEC §3 skips a model on any NaN, and
//! [`ModelFeatures::gather_f32`] reports both conditions.
//!
//! Engine thread, hot path after construction: no allocation, no blocking,
//! no logging, no panics on any bar (NaN and ±∞ included).
//!
//! ```
//! use live_trading::features::{Feature, FeatureSet, FeatureState, RowStatus};
//!
//! let model_a = Feature::parse_list(&["ret_1d", "rsi_7"]);
//! let model_b = Feature::parse_list(&["rsi_7", "macd"]);
//! let set = FeatureSet::new(model_a.iter().chain(&model_b).copied(), 300).unwrap();
//! assert_eq!(set.features(), [Feature::Ret(1), Feature::Rsi(7), Feature::Macd]);
//! let a = set.model(&model_a).unwrap();
//!
//! let mut state = FeatureState::new(&set);
//! let mut row = [0.0f32; 2];
//! for close in [100.0, 101.0, 100.5, 102.0, 101.0, 101.5] {
//!     state.push_bar(f64::NAN, close + 0.5, close - 0.5, close, 1e5);
//! }
//! assert_eq!(a.gather_f32(&state, &mut row), RowStatus::NotWarm); // rsi_7: 6 of 7 rows
//! state.push_bar(f64::NAN, 103.0, 102.0, 102.5, 1e5);
//! assert_eq!(a.gather_f32(&state, &mut row), RowStatus::Ready);
//! assert_eq!(row[0], (102.5f64 / 101.5 - 1.0) as f32);
//! ```

mod extreme;
mod macd;
mod ring;

use self::extreme::{Extreme, WindowExtreme};
use self::macd::SlidingMacd;
use self::ring::Ring;
// The batch's own helpers, so that the arithmetic (and every rounding) is
// the same.
use super::batch::{atr_over, mean, ratio, rsi_over, sample_std};
use super::kind::{Feature, ATR_PERIOD, WINDOW_20, WINDOW_52W};

/// Most distinct features a set may hold (one bit each in the warm mask).
pub const MAX_FEATURES: usize = 64;
/// Largest period accepted in a feature (`ret_N`, `vol_N`, …).
pub const MAX_PERIOD: usize = 100_000;
/// Largest `data.history_bars` a set accepts.
pub const MAX_HISTORY_BARS: usize = 1 << 20;

/// Why a [`FeatureSet`] or a [`ModelFeatures`] cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeatureSetError {
    #[error("data.history_bars is {0}: must be in 1..={MAX_HISTORY_BARS}")]
    HistoryBars(usize),
    #[error("feature {feature:?} has period {period}: must be in 1..={MAX_PERIOD}")]
    Period { feature: Feature, period: usize },
    #[error("the models use {0} distinct features: at most {MAX_FEATURES} are supported")]
    TooMany(usize),
    #[error("feature {0:?} is not in the feature set")]
    NotInSet(Feature),
}

/// Buffer sizes derived from the set's features and `history_bars`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Capacities {
    close: usize,
    high_low: usize,
    volume: usize,
    /// One-bar returns, for `vol_N`.
    returns: usize,
    /// 52-week window; 0 when no 52-week feature is in the set.
    high_52w: usize,
    low_52w: usize,
    macd: bool,
}

impl Capacities {
    fn of(features: &[Feature], history_bars: usize) -> Capacities {
        let mut c = Capacities::default();
        let mut close = 0;
        for &f in features {
            let needs_close = match f {
                Feature::Ret(k) | Feature::Mom(k) => k + 1,
                Feature::Vol(k) => {
                    c.returns = c.returns.max(k);
                    1
                }
                Feature::Rsi(p) => p + 1,
                Feature::MaRatio(k) => k,
                Feature::BbPosition | Feature::BbWidth => WINDOW_20,
                Feature::Macd | Feature::MacdSignal | Feature::MacdHist => {
                    c.macd = true;
                    1
                }
                Feature::Atr14 => {
                    c.high_low = c.high_low.max(ATR_PERIOD);
                    ATR_PERIOD + 1
                }
                Feature::HighLowRange => {
                    c.high_low = c.high_low.max(1);
                    1
                }
                Feature::VolumeMaRatio => {
                    c.volume = c.volume.max(WINDOW_20);
                    0
                }
                Feature::VolumeChange => {
                    c.volume = c.volume.max(2);
                    0
                }
                Feature::CloseToHigh52w => {
                    c.high_52w = WINDOW_52W.min(history_bars);
                    1
                }
                Feature::CloseToLow52w => {
                    c.low_52w = WINDOW_52W.min(history_bars);
                    1
                }
                Feature::Unknown => 0,
            };
            close = close.max(needs_close);
        }
        // No window reaches past the frame; the MACD slide also reads the
        // close that just left it.
        c.close = close.min(history_bars);
        if c.macd {
            c.close = history_bars + 1;
        }
        c.high_low = c.high_low.min(history_bars);
        c.volume = c.volume.min(history_bars);
        c.returns = c.returns.min(history_bars - 1);
        c
    }
}

/// The features computed per symbol, in set order, and the buffer sizes
/// they need. Built once at start-up; cloned into each [`FeatureState`].
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureSet {
    features: Box<[Feature]>,
    /// [`Feature::rows_needed`] per feature; `usize::MAX` for unknown names.
    rows_needed: Box<[usize]>,
    history_bars: usize,
    caps: Capacities,
}

impl FeatureSet {
    /// The set of the distinct `features` (first appearance first), over
    /// frames of the last `history_bars` bars. Pass every model's parsed
    /// `feature_list` chained together.
    ///
    /// # Errors
    /// `history_bars` outside `1..=MAX_HISTORY_BARS`, a period outside
    /// `1..=MAX_PERIOD`, or more than [`MAX_FEATURES`] distinct features.
    ///
    /// ```
    /// use live_trading::features::{Feature, FeatureSet, FeatureSetError};
    ///
    /// let set = FeatureSet::new(Feature::parse_list(&["macd", "x", "macd", "y"]), 300).unwrap();
    /// assert_eq!(set.features(), [Feature::Macd, Feature::Unknown]);
    /// assert_eq!(set.index_of(Feature::Unknown), Some(1));
    /// assert_eq!(
    ///     FeatureSet::new([Feature::Ret(0)], 300),
    ///     Err(FeatureSetError::Period { feature: Feature::Ret(0), period: 0 })
    /// );
    /// ```
    pub fn new(
        features: impl IntoIterator<Item = Feature>,
        history_bars: usize,
    ) -> Result<FeatureSet, FeatureSetError> {
        if !(1..=MAX_HISTORY_BARS).contains(&history_bars) {
            return Err(FeatureSetError::HistoryBars(history_bars));
        }
        let mut distinct: Vec<Feature> = Vec::new();
        for f in features {
            if let Feature::Ret(k)
            | Feature::Vol(k)
            | Feature::Rsi(k)
            | Feature::MaRatio(k)
            | Feature::Mom(k) = f
            {
                if !(1..=MAX_PERIOD).contains(&k) {
                    return Err(FeatureSetError::Period {
                        feature: f,
                        period: k,
                    });
                }
            }
            if !distinct.contains(&f) {
                distinct.push(f);
            }
        }
        if distinct.len() > MAX_FEATURES {
            return Err(FeatureSetError::TooMany(distinct.len()));
        }
        let rows_needed = distinct
            .iter()
            .map(|f| f.rows_needed().unwrap_or(usize::MAX))
            .collect();
        Ok(FeatureSet {
            caps: Capacities::of(&distinct, history_bars),
            features: distinct.into_boxed_slice(),
            rows_needed,
            history_bars,
        })
    }

    /// The features, in set order (the order of [`FeatureState::values`]).
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// Number of features in the set.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Bars in the frame the features are computed over.
    pub fn history_bars(&self) -> usize {
        self.history_bars
    }

    /// Position of `feature` in the set.
    pub fn index_of(&self, feature: Feature) -> Option<usize> {
        self.features.iter().position(|&f| f == feature)
    }

    /// A model's index map into the set, for its parsed `feature_list` in
    /// the model's own order.
    ///
    /// # Errors
    /// [`FeatureSetError::NotInSet`] for a feature the set was not built
    /// with.
    pub fn model(&self, feature_list: &[Feature]) -> Result<ModelFeatures, FeatureSetError> {
        let mut mask = 0u64;
        let index = feature_list
            .iter()
            .map(|&f| {
                let i = self.index_of(f).ok_or(FeatureSetError::NotInSet(f))?;
                mask |= 1 << i;
                // `i < MAX_FEATURES = 64`.
                Ok(i as u8)
            })
            .collect::<Result<Box<[u8]>, _>>()?;
        Ok(ModelFeatures { index, mask })
    }
}

/// One symbol's features: the last bars in ring buffers, the running MACD
/// and 52-week state, and the current value and warm flag of every feature
/// of its [`FeatureSet`].
///
/// All memory is allocated by [`FeatureState::new`]; nothing after.
#[derive(Clone, Debug)]
pub struct FeatureState {
    set: FeatureSet,
    /// Bars pushed since construction or [`FeatureState::clear`].
    bars: u64,
    /// Rows of the current frame: `min(bars, history_bars)`.
    rows: usize,
    closes: Ring,
    highs: Ring,
    lows: Ring,
    volumes: Ring,
    returns: Ring,
    high_52w: Option<WindowExtreme>,
    low_52w: Option<WindowExtreme>,
    macd: Option<SlidingMacd>,
    values: Box<[f64]>,
    warm: u64,
}

impl FeatureState {
    /// An empty state (no bars) for the features of `set`.
    pub fn new(set: &FeatureSet) -> FeatureState {
        let c = set.caps;
        let extreme = |kind, window| (window > 0).then(|| WindowExtreme::new(kind, window));
        FeatureState {
            bars: 0,
            rows: 0,
            closes: Ring::new(c.close),
            highs: Ring::new(c.high_low),
            lows: Ring::new(c.high_low),
            volumes: Ring::new(c.volume),
            returns: Ring::new(c.returns),
            high_52w: extreme(Extreme::Max, c.high_52w),
            low_52w: extreme(Extreme::Min, c.low_52w),
            macd: c.macd.then(|| SlidingMacd::new(set.history_bars)),
            values: vec![f64::NAN; set.len()].into_boxed_slice(),
            warm: 0,
            set: set.clone(),
        }
    }

    /// The set this state computes.
    pub fn set(&self) -> &FeatureSet {
        &self.set
    }

    /// Forget every bar (as after construction).
    pub fn clear(&mut self) {
        self.bars = 0;
        self.rows = 0;
        for ring in [
            &mut self.closes,
            &mut self.highs,
            &mut self.lows,
            &mut self.volumes,
            &mut self.returns,
        ] {
            ring.clear();
        }
        for e in [&mut self.high_52w, &mut self.low_52w]
            .into_iter()
            .flatten()
        {
            e.clear();
        }
        if let Some(m) = &mut self.macd {
            m.clear();
        }
        self.values.fill(f64::NAN);
        self.warm = 0;
    }

    /// Take the next bar of the symbol (bars of the configured interval, in
    /// time order) and refresh every feature. `high`, `low` or `volume` may
    /// be NaN when the feed has no such column: the features that read them
    /// are then NaN, as the batch gives for a missing column. `open` is
    /// accepted for a uniform bar interface; no feature reads it.
    pub fn push_bar(&mut self, open: f64, high: f64, low: f64, close: f64, volume: f64) {
        let _ = open;
        let t = self.bars;
        if self.returns.capacity() > 0 && self.closes.len() > 0 {
            // As the batch's `C_i/C_{i-1} - 1`, once per bar.
            self.returns.push(close / self.closes.back(0) - 1.0);
        }
        self.closes.push(close);
        self.highs.push(high);
        self.lows.push(low);
        self.volumes.push(volume);
        if let Some(m) = &mut self.macd {
            m.push(t, close, &self.closes);
        }
        for e in [&mut self.high_52w, &mut self.low_52w]
            .into_iter()
            .flatten()
        {
            e.push(t, close);
        }
        self.bars = t.wrapping_add(1);
        if self.rows < self.set.history_bars {
            self.rows += 1;
        }
        self.refresh(t);
    }

    /// Recompute every value and warm flag for the frame ending at bar `t`.
    fn refresh(&mut self, t: u64) {
        let n = self.rows;
        let mut warm = 0u64;
        let mut band = None;
        for i in 0..self.values.len() {
            let (Some(&f), Some(&need)) = (self.set.features.get(i), self.set.rows_needed.get(i))
            else {
                continue;
            };
            let value = if n >= need {
                warm |= 1 << i;
                self.raw(f, n, t, &mut band)
            } else {
                f64::NAN
            };
            if let Some(slot) = self.values.get_mut(i) {
                *slot = if value.is_finite() { value } else { f64::NAN };
            }
        }
        self.warm = warm;
    }

    /// One feature over a frame of `n ≥ rows_needed` rows ending at bar
    /// `t`, before the finiteness check; the batch's formulas term by term.
    fn raw(&self, f: Feature, n: usize, t: u64, band: &mut Option<(f64, f64)>) -> f64 {
        let c = &self.closes;
        let mut bollinger = || {
            *band.get_or_insert_with(|| {
                let window = c.last(WINDOW_20);
                (mean(window), sample_std(window))
            })
        };
        match f {
            Feature::Ret(k) => ratio(c.back(0), c.back(k)) - 1.0,
            Feature::Vol(k) => sample_std(self.returns.last(k)),
            Feature::Rsi(p) => self.rsi(p, n),
            Feature::MaRatio(k) => ratio(c.back(0), mean(c.last(k))) - 1.0,
            Feature::BbPosition => {
                let (m, s) = bollinger();
                let upper = m + 2.0 * s;
                let lower = m - 2.0 * s;
                let width = upper - lower;
                if width == 0.0 {
                    0.5
                } else {
                    (c.back(0) - lower) / width
                }
            }
            Feature::BbWidth => {
                let (m, s) = bollinger();
                ratio(4.0 * s, m)
            }
            Feature::Macd => self.macd(t).0,
            Feature::MacdSignal => self.macd(t).1,
            Feature::MacdHist => {
                let (line, signal) = self.macd(t);
                line - signal
            }
            Feature::Mom(k) => c.back(0) - c.back(k),
            Feature::Atr14 => self.atr(ATR_PERIOD, n),
            Feature::HighLowRange => ratio(self.highs.back(0) - self.lows.back(0), c.back(0)),
            Feature::VolumeMaRatio => {
                let v = &self.volumes;
                ratio(v.back(0), mean(v.last(WINDOW_20)))
            }
            Feature::VolumeChange => ratio(self.volumes.back(0), self.volumes.back(1)) - 1.0,
            Feature::CloseToHigh52w => extreme_ratio(c.back(0), self.high_52w.as_ref(), t),
            Feature::CloseToLow52w => extreme_ratio(c.back(0), self.low_52w.as_ref(), t),
            Feature::Unknown => f64::NAN,
        }
    }

    fn macd(&self, t: u64) -> (f64, f64) {
        self.macd
            .as_ref()
            .map_or((f64::NAN, f64::NAN), |m| m.value(t))
    }

    /// RSI over the last `p` close changes of an `n`-row frame, `d_0 = 0`
    /// for the frame's first row (as the batch).
    fn rsi(&self, p: usize, n: usize) -> f64 {
        rsi_over(n, p, |row| self.closes.back(n - 1 - row))
    }

    /// Mean true range of the last `p` rows of an `n`-row frame;
    /// `TR_0 = H_0 - L_0` for the frame's first row (as the batch).
    fn atr(&self, p: usize, n: usize) -> f64 {
        atr_over(n, p, |row| {
            let back = n - 1 - row;
            (
                self.highs.back(back),
                self.lows.back(back),
                self.closes.back(back),
            )
        })
    }

    /// Every feature's current value, in set order, into `out` (extra
    /// entries of `out` are left alone; a shorter `out` gets the first
    /// ones). NaN for a feature that is not warm or not finite.
    pub fn values(&self, out: &mut [f64]) {
        for (o, &v) in out.iter_mut().zip(self.values.iter()) {
            *o = v;
        }
    }

    /// Every feature's current value, in set order.
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    /// The value of the feature at `index` in the set; NaN when out of
    /// range.
    pub fn value(&self, index: usize) -> f64 {
        self.values.get(index).copied().unwrap_or(f64::NAN)
    }

    /// Bit `i` set ⇔ the set's feature `i` is warm.
    pub fn warm_mask(&self) -> u64 {
        self.warm
    }

    /// Whether `feature` is in the set and warm.
    pub fn is_warm(&self, feature: Feature) -> bool {
        self.set
            .index_of(feature)
            .is_some_and(|i| self.warm & (1 << i) != 0)
    }

    /// Rows of the current frame: `min(bars, history_bars)`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bars pushed since construction or the last [`FeatureState::clear`].
    pub fn bars(&self) -> u64 {
        self.bars
    }
}

/// A model's view of a [`FeatureSet`]: where each of its features sits in
/// the set, and the warm mask they need. Built once per model at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFeatures {
    index: Box<[u8]>,
    mask: u64,
}

/// What [`ModelFeatures::gather_f32`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowStatus {
    /// Every feature is warm and finite: the row can be predicted.
    Ready,
    /// Some feature is not warm yet (the row is still written).
    NotWarm,
    /// All warm, but some value is NaN: SPEC §3 skips the model.
    HasNan,
    /// The caller's row is shorter than the model's feature list (only the
    /// first entries were written).
    RowTooShort,
}

impl ModelFeatures {
    /// Number of features in the model's row.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Positions in the set, in the model's feature order.
    pub fn indices(&self) -> &[u8] {
        &self.index
    }

    /// The warm bits the model needs (see [`FeatureState::warm_mask`]).
    pub fn mask(&self) -> u64 {
        self.mask
    }

    /// Whether every feature of the model is warm in `state`: one AND.
    pub fn is_warm(&self, state: &FeatureState) -> bool {
        state.warm & self.mask == self.mask
    }

    /// Write the model's features into `row` (its `feature_list` order),
    /// cast to `f32` (round to nearest even, as SPEC §3), and say whether the
    /// row can be predicted. `state` must come from the set this map was
    /// built for (a foreign set's missing positions read NaN).
    pub fn gather_f32(&self, state: &FeatureState, row: &mut [f32]) -> RowStatus {
        let mut nan = false;
        for (slot, &i) in row.iter_mut().zip(self.index.iter()) {
            let v = state.value(usize::from(i));
            nan |= v.is_nan();
            *slot = v as f32;
        }
        if row.len() < self.index.len() {
            RowStatus::RowTooShort
        } else if !self.is_warm(state) {
            RowStatus::NotWarm
        } else if nan {
            RowStatus::HasNan
        } else {
            RowStatus::Ready
        }
    }
}

/// `C[t]` over the window extreme ending at bar `t`.
fn extreme_ratio(close: f64, extreme: Option<&WindowExtreme>, t: u64) -> f64 {
    ratio(close, extreme.map_or(f64::NAN, |e| e.value(t)))
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;
    use crate::features::kind::CATALOGUE;

    fn all_features() -> Vec<Feature> {
        CATALOGUE.iter().map(|&(_, f)| f).collect()
    }

    #[test]
    fn sets_deduplicate_in_first_appearance_order_and_validate() {
        let set = FeatureSet::new(
            [
                Feature::Rsi(7),
                Feature::Unknown,
                Feature::Rsi(7),
                Feature::Macd,
            ],
            40,
        )
        .unwrap();
        assert_eq!(
            set.features(),
            [Feature::Rsi(7), Feature::Unknown, Feature::Macd]
        );
        assert_eq!(
            FeatureSet::new([Feature::Macd], 0),
            Err(FeatureSetError::HistoryBars(0))
        );
        assert_eq!(
            FeatureSet::new([Feature::Vol(MAX_PERIOD + 1)], 10),
            Err(FeatureSetError::Period {
                feature: Feature::Vol(MAX_PERIOD + 1),
                period: MAX_PERIOD + 1
            })
        );
        let many = (1..=MAX_FEATURES + 1).map(Feature::Ret);
        assert_eq!(
            FeatureSet::new(many, 10),
            Err(FeatureSetError::TooMany(MAX_FEATURES + 1))
        );
        assert_eq!(
            set.model(&[Feature::Macd, Feature::Atr14]),
            Err(FeatureSetError::NotInSet(Feature::Atr14))
        );
        let m = set.model(&[Feature::Macd, Feature::Rsi(7)]).unwrap();
        assert_eq!(m.indices(), [2, 0]);
        assert_eq!(m.mask(), 0b101);
    }

    #[test]
    fn buffers_are_sized_from_the_features_and_the_frame() {
        let set = FeatureSet::new(all_features(), 300).unwrap();
        let c = set.caps;
        assert_eq!(
            (c.close, c.high_low, c.volume, c.returns),
            (301, 14, 20, 60)
        );
        assert_eq!((c.high_52w, c.low_52w), (252, 252));
        let set = FeatureSet::new([Feature::Ret(60), Feature::Atr14], 40).unwrap();
        let c = set.caps;
        assert_eq!((c.close, c.high_low, c.volume, c.returns), (40, 14, 0, 0));
        let set = FeatureSet::new([Feature::Vol(20), Feature::CloseToLow52w], 12).unwrap();
        let c = set.caps;
        assert_eq!((c.close, c.returns, c.high_52w, c.low_52w), (1, 11, 0, 12));
    }

    /// Buffer addresses and sizes of a state: what would change if anything
    /// were reallocated.
    fn footprint(s: &FeatureState) -> Vec<(usize, usize)> {
        let ring = |r: &Ring| r.storage();
        vec![
            ring(&s.closes),
            ring(&s.highs),
            ring(&s.lows),
            ring(&s.volumes),
            ring(&s.returns),
            (s.values.as_ptr() as usize, s.values.len()),
        ]
    }

    #[test]
    fn many_bars_grow_nothing() {
        let set = FeatureSet::new(all_features(), 50).unwrap();
        let mut s = FeatureState::new(&set);
        let before = footprint(&s);
        let mut x = 100.0;
        for i in 0..5000 {
            x *= 1.0 + 0.01 * (f64::from(i) * 0.7).sin();
            s.push_bar(x, x * 1.01, x * 0.99, x, f64::from(i % 5));
            assert!(s.rows() <= 50);
        }
        assert_eq!(footprint(&s), before);
        assert_eq!(s.bars(), 5000);
        assert_eq!(s.as_slice().len(), set.len());
    }

    #[test]
    fn clear_restarts_from_no_bars() {
        let set = FeatureSet::new(all_features(), 30).unwrap();
        let mut a = FeatureState::new(&set);
        let mut b = FeatureState::new(&set);
        for i in 0..80 {
            let x = 50.0 + f64::from(i % 9);
            a.push_bar(x, x + 1.0, x - 1.0, x, 1e4 + f64::from(i));
        }
        a.clear();
        assert_eq!((a.bars(), a.rows(), a.warm_mask()), (0, 0, 0));
        for i in 0..25 {
            let x = 20.0 + f64::from(i % 4);
            a.push_bar(x, x + 1.0, x - 1.0, x, 100.0);
            b.push_bar(x, x + 1.0, x - 1.0, x, 100.0);
            for (u, v) in a.as_slice().iter().zip(b.as_slice()) {
                assert!(u == v || (u.is_nan() && v.is_nan()), "bar {i}: {u} vs {v}");
            }
        }
    }

    #[test]
    fn gather_reports_short_rows_cold_and_nan_features() {
        let set = FeatureSet::new([Feature::Ret(1), Feature::VolumeChange], 10).unwrap();
        let m = set
            .model(&[Feature::VolumeChange, Feature::Ret(1)])
            .unwrap();
        let mut s = FeatureState::new(&set);
        let mut row = [9.0f32; 2];
        s.push_bar(1.0, 1.0, 1.0, 1.0, 0.0);
        assert_eq!(m.gather_f32(&s, &mut row), RowStatus::NotWarm);
        assert!(row[0].is_nan() && row[1].is_nan());
        s.push_bar(1.0, 1.0, 1.0, 2.0, 5.0);
        // V[t-1] = 0 → NaN.
        assert_eq!(m.gather_f32(&s, &mut row), RowStatus::HasNan);
        assert_eq!(row[1], 1.0);
        s.push_bar(1.0, 1.0, 1.0, 3.0, 10.0);
        assert_eq!(m.gather_f32(&s, &mut row), RowStatus::Ready);
        assert_eq!(row, [1.0, 0.5]);
        assert_eq!(m.gather_f32(&s, &mut row[..1]), RowStatus::RowTooShort);
        let empty = set.model(&[]).unwrap();
        assert!(empty.is_warm(&FeatureState::new(&set)));
        assert_eq!(empty.gather_f32(&s, &mut []), RowStatus::Ready);
    }

    #[test]
    fn one_bar_frames_keep_only_the_last_bar() {
        let set = FeatureSet::new(all_features(), 1).unwrap();
        let mut s = FeatureState::new(&set);
        for (i, x) in [10.0, 12.0, f64::NAN, 9.0, 11.0].into_iter().enumerate() {
            s.push_bar(x, x + 1.0, x - 1.0, x, 7.0);
            let hl = set.index_of(Feature::HighLowRange).unwrap();
            let macd = set.index_of(Feature::Macd).unwrap();
            if x.is_nan() {
                assert!(s.value(hl).is_nan() && s.value(macd).is_nan());
            } else {
                assert_eq!(s.value(hl), 2.0 / x, "bar {i}");
                // The slide's rounding, well inside the 1e-12 floor.
                assert!(s.value(macd).abs() <= 1e-12, "bar {i}");
            }
            assert!(!s.is_warm(Feature::Ret(1)));
            assert!(s.is_warm(Feature::MacdSignal));
        }
    }
}
