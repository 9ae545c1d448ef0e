//! MACD line and signal over the sliding frame of the last `history_bars`
//! closes, updated in O(1) per bar (SPEC §3: EMAs seeded with the frame's
//! first close).
//!
//! Engine thread, hot path: no allocation, no blocking, no logging.
//!
//! # The sliding update
//!
//! Write `β = 1 − α` and `y_t^{(s)}` for the EMA of closes `x_s..=x_t`
//! seeded with `x_s`: `y_t^{(s)} = β^{t−s}·x_s + Σ_{i=s+1..t} α·β^{t−i}·x_i`.
//! When the frame of `N` closes slides from `s..=t` to `s+1..=t+1`:
//!
//! ```text
//! y_{t+1}^{(s+1)} = β·y_t^{(s)} + α·x_{t+1} + β^N·D,    D = x_{s+1} − x_s
//! ```
//!
//! (the new seed replaces `x_s` and its first `α`-weighted term). So the
//! whole slide is carried by `D`, with the constant `β^N`.
//!
//! The signal is the EMA9 of the line `m_i = y12_i − y26_i`, and the line
//! itself moves for every bar when the seed moves: by the identity above,
//! `m_i^{(s+1)} = m_i^{(s)} + D·(β12^{i−s} − β26^{i−s})`. The signal is
//! linear in the line, and `m_s^{(s)} = 0`, `m_{s+1}^{(s)} = (α12 − α26)·D`;
//! summing the shifted terms gives, with `γ = 1 − α9`,
//!
//! ```text
//! σ_{t+1}^{(s+1)} = γ·σ_t^{(s)} + α9·m_{t+1}^{(s+1)} + K_N·D,
//! K_N = α9 · Σ_{k=1..N−1} γ^{N−k}·(β12^k − β26^k).
//! ```
//!
//! Both recurrences are contractions (`β, γ < 1`), so rounding errors stay
//! bounded instead of drifting: the values agree with a batch recomputation
//! over the frame to a few units of `ε·max|C|` (≈ 1e-13 at prices near 100).
//! While the frame grows (fewer than `history_bars` bars) the updates are the
//! batch recurrences themselves, bit for bit.
//!
//! The error is relative to the closes the state has absorbed recently: a
//! bad tick far above the other prices would leave its rounding behind when
//! it slides out. Such a slide (correction above [`REBUILD_RATIO`] times the
//! new close) recomputes the frame from the ring buffer instead, once.
//!
//! A non-finite close poisons the batch EMAs of every frame that contains
//! it. The state then restarts at the next finite close (an EMA of the
//! suffix after the bad bar) and reports NaN until the frame's first bar is
//! that restart: from then on it is again exactly the frame's EMA. If the
//! arithmetic itself overflows (closes near `f64::MAX`), the state is rebuilt
//! from the frame's closes, an O(history) pass that finite market prices
//! never reach.

use super::ring::Ring;
use crate::features::kind::MACD_SPANS;

/// A slide whose correction exceeds this multiple of the new close is
/// replaced by a recomputation of the frame (a bad tick leaving the frame).
/// Market moves stay orders of magnitude below it.
const REBUILD_RATIO: f64 = 1024.0;

/// EMA weight `α = 2/(span+1)`, computed as the batch computes it.
fn alpha(span: u32) -> f64 {
    2.0 / (f64::from(span) + 1.0)
}

/// MACD state over a sliding frame of `window` closes.
#[derive(Clone, Debug)]
pub(crate) struct SlidingMacd {
    /// Frame length (`history_bars`).
    window: u64,
    alpha_fast: f64,
    alpha_slow: f64,
    alpha_signal: f64,
    /// `β12^N`, `β26^N`, `K_N` of the module doc.
    slide_fast: f64,
    slide_slow: f64,
    slide_signal: f64,
    fast: f64,
    slow: f64,
    line: f64,
    signal: f64,
    /// Bar index of the EMAs' seed.
    anchor: u64,
    /// Whether a finite close has seeded the EMAs since `anchor`.
    seeded: bool,
}

impl SlidingMacd {
    /// A state over frames of `window` closes (at least 1).
    pub(crate) fn new(window: usize) -> SlidingMacd {
        let window = window.max(1);
        let (fast, slow, signal) = MACD_SPANS;
        let (af, aslow, asig) = (alpha(fast), alpha(slow), alpha(signal));
        let n = i32::try_from(window).unwrap_or(i32::MAX);
        let (bf, bs, g) = (1.0 - af, 1.0 - aslow, 1.0 - asig);
        let k_sum: f64 = (1..n)
            .map(|k| g.powi(n - k) * (bf.powi(k) - bs.powi(k)))
            .sum();
        SlidingMacd {
            window: window as u64,
            alpha_fast: af,
            alpha_slow: aslow,
            alpha_signal: asig,
            slide_fast: bf.powi(n),
            slide_slow: bs.powi(n),
            slide_signal: asig * k_sum,
            fast: f64::NAN,
            slow: f64::NAN,
            line: f64::NAN,
            signal: f64::NAN,
            anchor: 0,
            seeded: false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.anchor = 0;
        self.seeded = false;
    }

    fn seed(&mut self, x: f64) {
        self.fast = x;
        self.slow = x;
        self.line = self.fast - self.slow;
        self.signal = self.line;
    }

    /// One batch EMA step, plus `D` times the slide constants.
    fn step(&mut self, x: f64, d: f64) {
        let (af, aslow, asig) = (self.alpha_fast, self.alpha_slow, self.alpha_signal);
        self.fast = (1.0 - af) * self.fast + af * x;
        self.slow = (1.0 - aslow) * self.slow + aslow * x;
        if d != 0.0 {
            self.fast += self.slide_fast * d;
            self.slow += self.slide_slow * d;
        }
        self.line = self.fast - self.slow;
        self.signal = (1.0 - asig) * self.signal + asig * self.line;
        if d != 0.0 {
            self.signal += self.slide_signal * d;
        }
    }

    /// Take close `x` of bar `t` (bar indexes increase by one per push).
    /// `closes` already holds `x` and has room for `window + 1` closes: the
    /// frame and the close that just left it.
    pub(crate) fn push(&mut self, t: u64, x: f64, closes: &Ring) {
        let start = self.frame_start(t);
        if !x.is_finite() {
            self.seeded = false;
            self.anchor = t.wrapping_add(1);
            return;
        }
        if !self.seeded {
            self.seeded = true;
            self.anchor = t;
            self.seed(x);
            return;
        }
        if self.anchor >= start {
            self.step(x, 0.0);
        } else {
            // The frame slid past the seed (`anchor == start - 1`): the ring
            // holds the old seed `window` bars back, the new one after it.
            let n = usize::try_from(self.window).unwrap_or(usize::MAX);
            let d = closes.back(n - 1) - closes.back(n);
            self.anchor = start;
            // Removing a term far larger than today's close would leave its
            // rounding behind: recompute the frame instead.
            if (self.slide_slow * d).abs() > REBUILD_RATIO * x.abs() {
                self.rebuild(t, closes);
                return;
            }
            self.step(x, d);
        }
        if !(self.fast.is_finite() && self.slow.is_finite() && self.signal.is_finite()) {
            self.rebuild(t, closes);
        }
    }

    /// First bar of the frame ending at bar `t`.
    fn frame_start(&self, t: u64) -> u64 {
        t.saturating_add(1).saturating_sub(self.window)
    }

    /// Rerun the EMAs over the closes from `anchor` to `t`, as the batch does.
    fn rebuild(&mut self, t: u64, closes: &Ring) {
        let len = usize::try_from(t - self.anchor + 1).unwrap_or(usize::MAX);
        let frame = closes.last(len);
        if let Some((&first, rest)) = frame.split_first() {
            self.seed(first);
            for &x in rest {
                self.step(x, 0.0);
            }
        }
    }

    /// `(line, signal)` of the frame ending at bar `t` (the last pushed);
    /// NaN while a non-finite close is inside the frame.
    pub(crate) fn value(&self, t: u64) -> (f64, f64) {
        if self.seeded && self.anchor == self.frame_start(t) {
            (self.line, self.signal)
        } else {
            (f64::NAN, f64::NAN)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch MACD over a whole frame (SPEC §3).
    fn batch(frame: &[f64]) -> (f64, f64) {
        let ema = |xs: &[f64], a: f64| -> Vec<f64> {
            let mut y = f64::NAN;
            xs.iter()
                .enumerate()
                .map(|(i, &x)| {
                    y = if i == 0 { x } else { (1.0 - a) * y + a * x };
                    y
                })
                .collect()
        };
        let (f, s, g) = MACD_SPANS;
        let line: Vec<f64> = ema(frame, alpha(f))
            .iter()
            .zip(ema(frame, alpha(s)))
            .map(|(a, b)| a - b)
            .collect();
        let sig = ema(&line, alpha(g));
        (line[line.len() - 1], sig[sig.len() - 1])
    }

    fn run(window: usize, closes: &[f64]) {
        let mut ring = Ring::new(window + 1);
        let mut m = SlidingMacd::new(window);
        for (t, &x) in closes.iter().enumerate() {
            ring.push(x);
            m.push(t as u64, x, &ring);
            let frame = &closes[(t + 1).saturating_sub(window)..=t];
            let (want_line, want_sig) = batch(frame);
            let (line, sig) = m.value(t as u64);
            for (got, want) in [(line, want_line), (sig, want_sig)] {
                let want = if want.is_finite() { want } else { f64::NAN };
                let ok = if want.is_nan() {
                    got.is_nan()
                } else {
                    (got - want).abs() <= 1e-12_f64.max(1e-9 * want.abs())
                };
                assert!(ok, "window {window} bar {t}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn sliding_update_matches_recomputation_for_every_window_length() {
        let closes: Vec<f64> = (0..200)
            .map(|i| 100.0 + 5.0 * (f64::from(i) * 0.37).sin() + 0.01 * f64::from(i))
            .collect();
        for window in [1, 2, 3, 9, 26, 40, 120] {
            run(window, &closes);
        }
    }

    #[test]
    fn a_bad_close_is_nan_until_it_leaves_the_frame() {
        let mut closes: Vec<f64> = (0..120)
            .map(|i| 50.0 + (f64::from(i) * 0.5).cos())
            .collect();
        closes[30] = f64::NAN;
        closes[31] = f64::INFINITY;
        closes[70] = f64::NEG_INFINITY;
        for window in [1, 5, 30] {
            run(window, &closes);
        }
    }

    #[test]
    fn overflowing_closes_are_rebuilt_after_they_leave() {
        let mut closes: Vec<f64> = (0..60).map(|i| 10.0 + f64::from(i % 7)).collect();
        closes[10] = f64::MAX;
        closes[11] = -f64::MAX;
        run(8, &closes);
    }

    #[test]
    fn a_bad_tick_leaves_no_residue_when_it_slides_out() {
        let mut closes: Vec<f64> = (0..300)
            .map(|i| 100.0 + 3.0 * (f64::from(i) * 0.21).sin())
            .collect();
        closes[20] = 1e12;
        closes[150] = 1e-9;
        for window in [8, 40, 100] {
            run(window, &closes);
        }
    }
}
