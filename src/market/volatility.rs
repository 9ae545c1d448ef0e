//! Per-bar volatility from bar closes and its per-horizon scaling (SPEC §2).
//!
//! Owns the `σ_bar` estimator (sample standard deviation of one-bar simple
//! returns over the last `vol_window` returns) and `σ_h = σ_bar·sqrt(h/bar)`.
//! Volatility is never annualised.
//!
//! Runs on the engine thread, once per symbol and decision. Hot path: no
//! allocation, no blocking, no logging. The engine copies the last
//! [`Volatility::closes_needed`] closes of its bar ring into scratch and passes
//! them as a slice; this module keeps no state.

use crate::types::Reason;

/// Volatility settings (`live_trading.volatility.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VolatilityParams {
    /// `volatility.vol_window`: number of one-bar returns in the estimate
    /// (config validates ≥ 2).
    pub vol_window: usize,
    /// `volatility.bar_minutes`: engine bar interval in minutes (> 0).
    pub bar_minutes: u32,
}

impl Default for VolatilityParams {
    fn default() -> Self {
        VolatilityParams {
            vol_window: 20,
            bar_minutes: 1,
        }
    }
}

/// A per-bar volatility estimate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarVolatility {
    /// Sample standard deviation (ddof 1) of one-bar simple returns, as a
    /// fraction per bar. `0.0` is valid (flat prices).
    pub sigma_bar: f64,
    /// Number of returns the estimate used (2 ≤ n ≤ `vol_window`).
    pub n_returns: usize,
}

/// The volatility stage: `σ_bar` from closes and `σ_h` per horizon.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Volatility {
    params: VolatilityParams,
}

impl Volatility {
    pub fn new(params: VolatilityParams) -> Volatility {
        Volatility { params }
    }

    pub fn params(&self) -> &VolatilityParams {
        &self.params
    }

    /// How many trailing closes [`Volatility::estimate`] looks at
    /// (`vol_window + 1`): the size of the engine's scratch copy.
    pub fn closes_needed(&self) -> usize {
        self.params.vol_window.saturating_add(1)
    }

    /// `σ_bar` from closes, oldest first. Only the last `vol_window + 1`
    /// closes are used (fewer when fewer exist).
    ///
    /// # Errors
    /// [`Reason::InsufficientHistory`] when fewer than 3 closes are used (fewer
    /// than 2 returns), or any used close is non-finite or ≤ 0.
    pub fn estimate(&self, closes: &[f64]) -> Result<BarVolatility, Reason> {
        let start = closes.len().saturating_sub(self.closes_needed());
        let window = closes.get(start..).unwrap_or(&[]);
        if window.len() < 3 || window.iter().any(|c| !(c.is_finite() && *c > 0.0)) {
            return Err(Reason::InsufficientHistory);
        }
        let n = window.len() - 1;
        let returns = || window.windows(2).map(|w| w[1] / w[0] - 1.0);
        let mean = returns().sum::<f64>() / n as f64;
        let ss = returns().map(|r| (r - mean) * (r - mean)).sum::<f64>();
        let sigma_bar = (ss / (n - 1) as f64).sqrt();
        Ok(BarVolatility {
            sigma_bar,
            n_returns: n,
        })
    }

    /// `σ_h` for a horizon of `h_minutes` at this stage's bar interval.
    #[inline]
    pub fn horizon_sigma(&self, sigma_bar: f64, h_minutes: u32) -> f64 {
        horizon_sigma(sigma_bar, h_minutes, self.params.bar_minutes)
    }

    /// Write `σ_h` for each horizon of `horizon_minutes` into `out` (index by
    /// index; the shorter of the two slices bounds the work).
    pub fn horizon_sigmas(&self, sigma_bar: f64, horizon_minutes: &[u32], out: &mut [f64]) {
        for (o, &h) in out.iter_mut().zip(horizon_minutes) {
            *o = self.horizon_sigma(sigma_bar, h);
        }
    }
}

/// `σ_h = σ_bar · sqrt(h_minutes / bar_minutes)`. A zero `bar_minutes` (which
/// config rejects) gives a non-finite σ_h, never a panic.
#[inline]
pub fn horizon_sigma(sigma_bar: f64, h_minutes: u32, bar_minutes: u32) -> f64 {
    sigma_bar * (f64::from(h_minutes) / f64::from(bar_minutes)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(window: usize) -> Volatility {
        Volatility::new(VolatilityParams {
            vol_window: window,
            bar_minutes: 1,
        })
    }

    #[test]
    fn sample_std_of_simple_returns() {
        // returns +1 %, −1 %, +2 %: mean 0.00666…, ddof-1 variance
        let closes = [100.0, 101.0, 99.99, 101.9898];
        let r = [0.01, 99.99 / 101.0 - 1.0, 101.9898 / 99.99 - 1.0];
        let m = (r[0] + r[1] + r[2]) / 3.0;
        let expected = (r.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 2.0).sqrt();
        let got = vol(20).estimate(&closes).unwrap();
        assert_eq!(got.n_returns, 3);
        assert!((got.sigma_bar - expected).abs() < 1e-15);
    }

    #[test]
    fn uses_only_the_last_window_plus_one_closes() {
        // The bad leading close is outside a 2-return window.
        let got = vol(2)
            .estimate(&[0.0, f64::NAN, 100.0, 101.0, 102.0])
            .unwrap();
        assert_eq!(got.n_returns, 2);
        let inside = vol(3).estimate(&[f64::NAN, 100.0, 101.0, 102.0]);
        assert_eq!(inside, Err(Reason::InsufficientHistory));
    }

    #[test]
    fn too_few_or_invalid_closes_are_insufficient_history() {
        let v = vol(20);
        for closes in [
            &[][..],
            &[100.0][..],
            &[100.0, 101.0][..],
            &[100.0, -1.0, 101.0][..],
            &[100.0, f64::INFINITY, 101.0][..],
        ] {
            assert_eq!(v.estimate(closes), Err(Reason::InsufficientHistory));
        }
        // Degenerate windows from out-of-range params never panic.
        assert!(vol(0).estimate(&[1.0, 2.0, 3.0]).is_err());
        assert!(vol(usize::MAX).estimate(&[1.0, 2.0, 3.0]).is_ok());
    }

    #[test]
    fn flat_prices_give_zero_volatility() {
        let got = vol(20).estimate(&[50.0; 25]).unwrap();
        assert_eq!(got.sigma_bar, 0.0);
        assert_eq!(got.n_returns, 20);
    }

    #[test]
    fn horizon_scaling_by_sqrt_of_bar_ratio() {
        let v = Volatility::new(VolatilityParams {
            vol_window: 20,
            bar_minutes: 15,
        });
        let mut out = [0.0; 3];
        v.horizon_sigmas(0.001, &[15, 60, 390], &mut out);
        assert_eq!(out[0], 0.001);
        assert_eq!(out[1], 0.002);
        assert!((out[2] - 0.001 * 26f64.sqrt()).abs() < 1e-18);
        assert!(horizon_sigma(0.01, 5, 0).is_infinite());
    }
}
