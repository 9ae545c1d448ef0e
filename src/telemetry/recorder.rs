//! Per-metric latency histograms recorded on the engine thread.
//!
//! One `hdrhistogram::Histogram<u64>` per [`Metric`], all created in
//! [`LatencyRecorder::new`] with the same fixed bounds (1 ns .. 60 s, three
//! significant digits, auto-resize off): that is the only allocation, about
//! 200 KiB per metric. Recording is an array index and an increment.
//!
//! Runs on the engine thread (recording) and on the journal thread
//! (merging, reporting). Hot path ([`LatencyRecorder::record`] and
//! [`LatencyRecorder::record_since`]): no allocation, no blocking, no
//! logging.

use hdrhistogram::Histogram;

use super::clock;
use super::metric::Metric;

/// Smallest value the histograms resolve, in nanoseconds.
pub const LOWEST_NS: u64 = 1;
/// Largest value the histograms hold, in nanoseconds (60 s); larger samples
/// are recorded as this value and counted in [`LatencyRecorder::clamped`].
pub const HIGHEST_NS: u64 = 60_000_000_000;
/// Significant decimal digits kept: values are exact to ±0.1 %.
pub const SIGFIG: u8 = 3;

/// HdrHistograms of every [`Metric`], in nanoseconds.
#[derive(Clone, Debug)]
pub struct LatencyRecorder {
    hist: [Histogram<u64>; Metric::COUNT],
    clamped: [u64; Metric::COUNT],
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder::new()
    }
}

fn histogram() -> Histogram<u64> {
    // The bounds are constants that satisfy every precondition of
    // `new_with_bounds` (low ≥ 1, high ≥ 2·low, sigfig ≤ 5); the unit test
    // `bounds_are_fixed` builds it. No input reaches this call.
    let mut h = Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGFIG)
        .expect("constant histogram bounds are valid");
    h.auto(false);
    h
}

impl LatencyRecorder {
    /// Empty histograms for every metric. Allocates (once); call it before
    /// the engine thread starts trading.
    pub fn new() -> LatencyRecorder {
        LatencyRecorder {
            hist: std::array::from_fn(|_| histogram()),
            clamped: [0; Metric::COUNT],
        }
    }

    /// Record one sample of `nanos`. A value above [`HIGHEST_NS`] is recorded
    /// as [`HIGHEST_NS`] and counted in [`clamped`](Self::clamped). Never
    /// allocates, never fails.
    #[inline]
    pub fn record(&mut self, m: Metric, nanos: u64) {
        let i = m.index();
        let value = if nanos > HIGHEST_NS {
            if let Some(c) = self.clamped.get_mut(i) {
                *c = c.saturating_add(1);
            }
            HIGHEST_NS
        } else {
            nanos
        };
        if let Some(h) = self.hist.get_mut(i) {
            h.saturating_record(value);
        }
    }

    /// Record the time from `start_ns` (a [`clock::now_ns`] stamp) to now.
    #[inline]
    pub fn record_since(&mut self, m: Metric, start_ns: u64) {
        self.record(m, clock::elapsed_since(start_ns));
    }

    /// Add every sample of `other` to this recorder (for example the feed
    /// thread's decode histogram into the engine's). Does not allocate.
    pub fn merge(&mut self, other: &LatencyRecorder) {
        for ((mine, theirs), (clamped, their_clamped)) in self
            .hist
            .iter_mut()
            .zip(other.hist.iter())
            .zip(self.clamped.iter_mut().zip(other.clamped.iter()))
        {
            if mine.add(theirs).is_err() {
                // Unreachable with identical bounds; re-record bucket by
                // bucket (clamped) rather than panic or lose samples.
                for v in theirs.iter_recorded() {
                    mine.saturating_record_n(v.value_iterated_to(), v.count_at_value());
                }
            }
            *clamped = clamped.saturating_add(*their_clamped);
        }
    }

    /// Samples recorded for `m`.
    pub fn count(&self, m: Metric) -> u64 {
        self.hist.get(m.index()).map_or(0, Histogram::len)
    }

    /// Samples of `m` that exceeded [`HIGHEST_NS`] and were recorded as it.
    pub fn clamped(&self, m: Metric) -> u64 {
        self.clamped.get(m.index()).copied().unwrap_or(0)
    }

    /// The histogram of `m` (for reports and custom queries).
    pub fn histogram(&self, m: Metric) -> &Histogram<u64> {
        &self.hist[m.index()]
    }

    /// Forget every sample (keeps the allocation). Does not allocate.
    pub fn reset(&mut self) {
        for h in &mut self.hist {
            h.reset();
        }
        self.clamped = [0; Metric::COUNT];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_fixed() {
        let r = LatencyRecorder::new();
        for m in Metric::ALL {
            let h = r.histogram(m);
            assert_eq!(
                (h.low(), h.high(), h.sigfig()),
                (LOWEST_NS, HIGHEST_NS, SIGFIG)
            );
            assert!(!h.is_auto_resize());
            assert_eq!(r.count(m), 0);
        }
    }

    #[test]
    fn records_clamps_and_counts() {
        let mut r = LatencyRecorder::new();
        r.record(Metric::Predict, 1_000);
        r.record(Metric::Predict, 0);
        r.record(Metric::Predict, u64::MAX);
        r.record(Metric::Predict, HIGHEST_NS);
        assert_eq!(r.count(Metric::Predict), 4);
        assert_eq!(r.clamped(Metric::Predict), 1);
        assert_eq!(r.count(Metric::Blend), 0);
        let h = r.histogram(Metric::Predict);
        assert!(h.equivalent(h.max(), HIGHEST_NS));
        assert_eq!(h.min(), 0);
        assert_eq!(h.count_at(HIGHEST_NS), 2);
    }

    #[test]
    fn merge_adds_samples_and_clamp_counts() {
        let mut a = LatencyRecorder::new();
        let mut b = LatencyRecorder::new();
        a.record(Metric::Cycle, 10);
        b.record(Metric::Cycle, 20);
        b.record(Metric::Cycle, HIGHEST_NS + 1);
        b.record(Metric::FeedDecode, 5);
        a.merge(&b);
        assert_eq!(a.count(Metric::Cycle), 3);
        assert_eq!(a.clamped(Metric::Cycle), 1);
        assert_eq!(a.count(Metric::FeedDecode), 1);
        assert_eq!(b.count(Metric::Cycle), 2, "the source is unchanged");
        a.reset();
        assert!(Metric::ALL
            .iter()
            .all(|&m| a.count(m) == 0 && a.clamped(m) == 0));
    }
}
