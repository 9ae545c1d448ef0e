//! Standardizer (SPEC §5, stage `zscore`): one fixed-capacity FIFO window of
//! raw model outputs per key, turning each accepted raw output into a clipped
//! z-score against the window that includes it. State is pooled across
//! symbols (SPEC §21.9); the engine keys it by [`ModelId`].
//!
//! Also home of [`Window`], the fixed-capacity FIFO of floats whose contents
//! are always one contiguous slice; confidence and blend histories reuse it.
//!
//! Runs on the engine thread. Hot path: no allocation after construction, no
//! blocking, no logging.

use crate::types::ModelId;

/// A population standard deviation below this is treated as zero: the
/// z-score is then 0.0 (SPEC §5 step 4).
pub const STD_FLOOR: f64 = 1e-9;

/// Fewer values than this in the window: the raw value itself is clipped
/// (SPEC §5 step 3).
pub const MIN_VALUES_FOR_Z: usize = 3;

/// Buffer length in window capacities (see [`Window`]).
const SPAN: usize = 8;

/// A fixed-capacity FIFO of floats, oldest first, whose contents are always
/// one contiguous slice.
///
/// One allocation of `SPAN × capacity` floats at construction;
/// [`Window::push`] evicts the oldest value when full and never allocates.
/// Once every `(SPAN − 1) × capacity` pushes the live values are moved back
/// to the front of the buffer (at most `capacity − 1` floats copied), so a
/// push is O(1) amortised and the copy lands on few enough pushes to stay
/// out of the p99 latency. Only the live values' cache lines are touched.
#[derive(Clone, Debug)]
pub struct Window {
    buf: Box<[f64]>,
    start: usize,
    len: usize,
    capacity: usize,
}

impl Window {
    /// An empty window keeping at most `capacity` values. A zero capacity
    /// keeps nothing.
    pub fn with_capacity(capacity: usize) -> Window {
        Window {
            buf: vec![0.0; capacity.saturating_mul(SPAN)].into_boxed_slice(),
            start: 0,
            len: 0,
            capacity,
        }
    }

    /// Append `x`, evicting the oldest value when the window is full.
    #[inline]
    pub fn push(&mut self, x: f64) {
        if self.capacity == 0 {
            return;
        }
        if self.len == self.capacity {
            self.start += 1;
            self.len -= 1;
        }
        if self.start + self.len == self.buf.len() {
            // start > capacity here (SPAN ≥ 2), so the live values fit at the
            // front without overlapping trouble (copy_within allows overlap).
            self.buf.copy_within(self.start..self.start + self.len, 0);
            self.start = 0;
        }
        if let Some(slot) = self.buf.get_mut(self.start + self.len) {
            *slot = x;
            self.len += 1;
        }
    }

    /// The values, oldest first.
    #[inline]
    pub fn as_slice(&self) -> &[f64] {
        self.buf
            .get(self.start..self.start + self.len)
            .unwrap_or(&[])
    }

    /// The newest `n` values (all of them when fewer), oldest first.
    #[inline]
    pub fn tail(&self, n: usize) -> &[f64] {
        let s = self.as_slice();
        s.get(s.len().saturating_sub(n)..).unwrap_or(&[])
    }

    /// Number of values held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most values the window keeps.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget every value (capacity is kept).
    pub fn clear(&mut self) {
        self.start = 0;
        self.len = 0;
    }
}

/// Standardizer parameters (`standardization.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StandardizeParams {
    /// `standardization.window_size`: values kept per key (≥ 3).
    pub window_size: usize,
    /// `standardization.z_clip`: z-scores are clipped to `[-z_clip, z_clip]`
    /// (> 0).
    pub z_clip: f64,
}

impl Default for StandardizeParams {
    fn default() -> Self {
        StandardizeParams {
            window_size: 10,
            z_clip: 3.0,
        }
    }
}

/// Why standardizer parameters are invalid (SPEC §20).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum StandardizeParamsError {
    #[error("standardization.window_size is {0}: must be an integer >= 3")]
    WindowSize(usize),
    #[error("standardization.z_clip is {0}: must be a finite number > 0")]
    ZClip(f64),
}

impl StandardizeParams {
    /// Check the SPEC §20 ranges.
    pub fn validate(&self) -> Result<(), StandardizeParamsError> {
        if self.window_size < 3 {
            return Err(StandardizeParamsError::WindowSize(self.window_size));
        }
        if !(self.z_clip.is_finite() && self.z_clip > 0.0) {
            return Err(StandardizeParamsError::ZClip(self.z_clip));
        }
        Ok(())
    }
}

/// Mean and population standard deviation (ddof 0) of a non-empty window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    pub mean: f64,
    pub std: f64,
}

/// What a key's window holds now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WindowStats {
    /// Values in the window.
    pub count: usize,
    /// `None` when the window is empty.
    pub moments: Option<Moments>,
}

/// Two-pass mean and population standard deviation; `None` for no values.
///
/// Each pass sums in four interleaved lanes (SPEC §5 accepts any summation
/// order), so the adds overlap instead of waiting on one another.
pub fn moments(values: &[f64]) -> Option<Moments> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let mean = lane_sum(values, |x| x) / n;
    let var = lane_sum(values, |x| (x - mean) * (x - mean)) / n;
    Some(Moments {
        mean,
        std: var.sqrt(),
    })
}

/// `Σ f(x)` over `values` in four interleaved lanes.
#[inline]
fn lane_sum(values: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    let mut lanes = [0.0; 4];
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            lanes[k] += f(c[k]);
        }
    }
    let mut total = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for &x in rest {
        total += f(x);
    }
    total
}

/// `x` clipped to `[-c, c]`; never panics (a NaN bound leaves `x` as is).
#[inline]
fn clip(x: f64, c: f64) -> f64 {
    if x > c {
        c
    } else if x < -c {
        -c
    } else {
        x
    }
}

/// Per-key rolling z-scores (SPEC §5).
#[derive(Clone, Debug)]
pub struct Standardizer {
    z_clip: f64,
    windows: Box<[Window]>,
}

impl Standardizer {
    /// A standardizer for keys `0..n_keys`, every window preallocated.
    pub fn new(params: &StandardizeParams, n_keys: usize) -> Standardizer {
        Standardizer {
            z_clip: params.z_clip,
            windows: (0..n_keys)
                .map(|_| Window::with_capacity(params.window_size))
                .collect(),
        }
    }

    /// Number of keys.
    pub fn n_keys(&self) -> usize {
        self.windows.len()
    }

    /// Standardize one raw output of `key` (SPEC §5 steps 1–4).
    ///
    /// `None` when `raw` is non-finite (rejected: nothing is appended and the
    /// model is skipped for this decision) or `key` is unknown.
    pub fn standardize(&mut self, key: ModelId, raw: f64) -> Option<f64> {
        if !raw.is_finite() {
            return None;
        }
        let window = self.windows.get_mut(key.index())?;
        window.push(raw);
        let values = window.as_slice();
        if values.len() < MIN_VALUES_FOR_Z {
            return Some(clip(raw, self.z_clip));
        }
        let m = moments(values)?;
        if m.std < STD_FLOOR {
            return Some(0.0);
        }
        Some(clip((raw - m.mean) / m.std, self.z_clip))
    }

    /// Count, mean and population std of `key`'s window; `None` for an
    /// unknown key.
    pub fn stats(&self, key: ModelId) -> Option<WindowStats> {
        let values = self.windows.get(key.index())?.as_slice();
        Some(WindowStats {
            count: values.len(),
            moments: moments(values),
        })
    }

    /// Forget every window (a restart rebuilds statistics from scratch).
    pub fn reset(&mut self) {
        self.windows.iter_mut().for_each(Window::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_evicts_oldest_and_stays_contiguous() {
        let mut w = Window::with_capacity(3);
        for x in 1..=10 {
            w.push(x as f64);
            let n = x.min(3);
            let expect: Vec<f64> = ((x - n + 1)..=x).map(|v| v as f64).collect();
            assert_eq!(w.as_slice(), expect.as_slice(), "after pushing {x}");
        }
        assert_eq!(w.tail(2), &[9.0, 10.0]);
        assert_eq!(w.tail(99), &[8.0, 9.0, 10.0]);
        w.clear();
        assert!(w.is_empty());
    }

    #[test]
    fn zero_capacity_window_keeps_nothing() {
        let mut w = Window::with_capacity(0);
        w.push(1.0);
        assert!(w.as_slice().is_empty());
        assert!(w.tail(3).is_empty());
    }

    #[test]
    fn warmup_clips_the_raw_value_then_zscores() {
        let mut s = Standardizer::new(&StandardizeParams::default(), 1);
        let k = ModelId(0);
        assert_eq!(s.standardize(k, 5.5), Some(3.0));
        assert_eq!(s.standardize(k, -4.0), Some(-3.0));
        let z = s.standardize(k, 1.0).unwrap();
        assert!((z - 0.042953677958755765).abs() < 1e-15, "{z}");
    }

    #[test]
    fn non_finite_is_rejected_without_touching_the_window() {
        let mut s = Standardizer::new(&StandardizeParams::default(), 2);
        let k = ModelId(0);
        s.standardize(k, 1.0);
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(s.standardize(k, bad), None);
        }
        assert_eq!(s.stats(k).unwrap().count, 1);
        assert_eq!(s.stats(ModelId(1)).unwrap().count, 0);
        assert_eq!(s.stats(ModelId(1)).unwrap().moments, None);
    }

    #[test]
    fn near_constant_window_gives_zero() {
        let mut s = Standardizer::new(&StandardizeParams::default(), 1);
        let k = ModelId(0);
        for i in 0..5 {
            s.standardize(k, 1.0 + i as f64 * 1e-12);
        }
        assert_eq!(s.standardize(k, 1.0), Some(0.0));
    }

    #[test]
    fn unknown_key_is_none() {
        let mut s = Standardizer::new(&StandardizeParams::default(), 1);
        assert_eq!(s.standardize(ModelId(7), 1.0), None);
        assert_eq!(s.stats(ModelId(7)), None);
    }

    #[test]
    fn params_validation() {
        assert!(StandardizeParams::default().validate().is_ok());
        let bad = StandardizeParams {
            window_size: 2,
            ..Default::default()
        };
        assert_eq!(bad.validate(), Err(StandardizeParamsError::WindowSize(2)));
        let bad = StandardizeParams {
            z_clip: f64::NAN,
            ..Default::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(StandardizeParamsError::ZClip(_))
        ));
    }
}
