//! Sliding-window maximum or minimum of closes (`close_to_high_52w`,
//! `close_to_low_52w`) with a fixed-capacity monotonic deque.
//!
//! Engine thread, hot path: one allocation at construction; a push is O(1)
//! amortised, the extreme is O(1); no allocation, no blocking, no logging.

/// Which extreme a [`WindowExtreme`] tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Extreme {
    Max,
    Min,
}

/// The maximum (or minimum) of the last `window` values pushed, NaN while a
/// NaN is among them (as the batch `extreme` gives).
///
/// The deque holds, oldest first, the bars that can still become the
/// extreme: each is newer than and strictly beats every bar behind it. So
/// it never holds more than `window` entries.
#[derive(Clone, Debug)]
pub(crate) struct WindowExtreme {
    kind: Extreme,
    window: u64,
    /// Deque of (bar index, value), a ring of `window` entries.
    slots: Box<[(u64, f64)]>,
    head: usize,
    len: usize,
    /// Index of the newest NaN pushed.
    last_nan: Option<u64>,
}

impl WindowExtreme {
    /// A tracker over the last `window` values (at least 1).
    pub(crate) fn new(kind: Extreme, window: usize) -> WindowExtreme {
        let window = window.max(1);
        WindowExtreme {
            kind,
            window: window as u64,
            slots: vec![(0, f64::NAN); window].into_boxed_slice(),
            head: 0,
            len: 0,
            last_nan: None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.last_nan = None;
    }

    fn slot(&self, k: usize) -> Option<&(u64, f64)> {
        let cap = self.slots.len();
        let i = self.head + k;
        self.slots.get(if i >= cap { i - cap } else { i })
    }

    /// Push the value of bar `t` (bar indexes increase by one per push).
    pub(crate) fn push(&mut self, t: u64, x: f64) {
        // Drop bars that leave the window [t - window + 1, t].
        while let Some(&(i, _)) = self.slot(0) {
            if self.len == 0 || t.wrapping_sub(i) < self.window {
                break;
            }
            self.head = if self.head + 1 == self.slots.len() {
                0
            } else {
                self.head + 1
            };
            self.len -= 1;
        }
        if x.is_nan() {
            self.last_nan = Some(t);
            return;
        }
        // Drop bars the new value beats: they can never be the extreme again.
        while let Some(&(_, v)) = self.len.checked_sub(1).and_then(|k| self.slot(k)) {
            let beaten = match self.kind {
                Extreme::Max => v <= x,
                Extreme::Min => v >= x,
            };
            if !beaten {
                break;
            }
            self.len -= 1;
        }
        let cap = self.slots.len();
        let i = self.head + self.len;
        if let Some(slot) = self.slots.get_mut(if i >= cap { i - cap } else { i }) {
            *slot = (t, x);
            self.len += 1;
        }
    }

    /// The extreme of the window ending at bar `t` (the last bar pushed);
    /// NaN when a NaN is inside it or nothing was pushed.
    pub(crate) fn value(&self, t: u64) -> f64 {
        if self
            .last_nan
            .is_some_and(|i| t.wrapping_sub(i) < self.window)
        {
            return f64::NAN;
        }
        match (self.len, self.slot(0)) {
            (1.., Some(&(_, v))) => v,
            _ => f64::NAN,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch definition: NaN if any NaN, else max/min by `f64::max/min`.
    fn naive(xs: &[f64], kind: Extreme) -> f64 {
        if xs.iter().any(|x| x.is_nan()) {
            return f64::NAN;
        }
        let pick = match kind {
            Extreme::Max => f64::max,
            Extreme::Min => f64::min,
        };
        xs.iter().copied().reduce(pick).unwrap_or(f64::NAN)
    }

    #[test]
    fn matches_a_window_scan_with_ties_infinities_and_nans() {
        let mut seed = 7u64;
        let mut xs = Vec::new();
        for i in 0..2000u64 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let r = (seed >> 33) % 100;
            xs.push(match (i, r) {
                (_, 0) => f64::NAN,
                (_, 1) => f64::INFINITY,
                (_, 2) => f64::NEG_INFINITY,
                (0..=600, _) => (r % 7) as f64, // many ties
                _ => (seed >> 11) as f64 / (1u64 << 53) as f64,
            });
        }
        for window in [1, 2, 5, 252] {
            for kind in [Extreme::Max, Extreme::Min] {
                let mut w = WindowExtreme::new(kind, window);
                for (t, &x) in xs.iter().enumerate() {
                    w.push(t as u64, x);
                    let lo = (t + 1).saturating_sub(window);
                    let want = naive(&xs[lo..=t], kind);
                    let got = w.value(t as u64);
                    assert!(
                        want == got || (want.is_nan() && got.is_nan()),
                        "{kind:?} window {window} bar {t}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_and_cleared_trackers_are_nan() {
        let mut w = WindowExtreme::new(Extreme::Max, 3);
        assert!(w.value(0).is_nan());
        w.push(0, 2.0);
        assert_eq!(w.value(0), 2.0);
        w.clear();
        assert!(w.value(0).is_nan());
    }
}
