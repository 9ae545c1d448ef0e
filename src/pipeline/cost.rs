//! Transaction-cost model (SPEC §10): spread, timing and market-impact cost
//! of entering on one horizon, all in basis points.
//!
//! Runs on the engine thread inside the arbiter, once per horizon and
//! decision. Hot path: no allocation, no blocking, no logging.
//!
//! Formulas are evaluated left to right exactly as SPEC writes them:
//! `spread = k1·spread_bps`, `timing = k2·σ_h·1e4`,
//! `impact = k3·10·sqrt((q/ADV)/0.01)`, `total = spread + timing + impact`.

use crate::types::Bps;

/// Cost coefficients (`live_trading.cost_model.*`), each ≥ 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostParams {
    /// Weight of the quoted spread.
    pub k1: f64,
    /// Weight of timing risk (σ_h in bps).
    pub k2: f64,
    /// Weight of square-root market impact.
    pub k3: f64,
}

impl Default for CostParams {
    fn default() -> Self {
        CostParams {
            k1: 1.0,
            k2: 0.15,
            k3: 1.0,
        }
    }
}

/// The cost of one horizon's entry, in bps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostBreakdown {
    pub spread: Bps,
    pub timing: Bps,
    pub impact: Bps,
    /// `spread + timing + impact`.
    pub total: Bps,
}

impl CostParams {
    /// The cost of trading `q_shares` planned shares on a horizon with
    /// per-horizon volatility `sigma_h` (a fraction), at a quoted spread of
    /// `spread_bps`. `adv_shares` is the average daily volume in shares;
    /// `None`, non-finite or ≤ 0 means unknown and, like `q_shares ≤ 0`,
    /// gives zero impact. Any other NaN input (spread, σ_h, or `q_shares`
    /// with a known ADV) propagates to a NaN total, and the arbiter drops
    /// the horizon.
    #[inline]
    pub fn cost(
        &self,
        spread_bps: Bps,
        sigma_h: f64,
        q_shares: f64,
        adv_shares: Option<f64>,
    ) -> CostBreakdown {
        let spread = self.k1 * spread_bps.0;
        let timing = self.k2 * sigma_h * 1e4;
        let impact = match adv_shares {
            Some(adv) if adv.is_finite() && adv > 0.0 && (q_shares > 0.0 || q_shares.is_nan()) => {
                self.k3 * 10.0 * (q_shares / adv / 0.01).sqrt()
            }
            _ => 0.0,
        };
        CostBreakdown {
            spread: Bps(spread),
            timing: Bps(timing),
            impact: Bps(impact),
            total: Bps(spread + timing + impact),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_percent_participation_costs_ten_bps_of_impact() {
        let c = CostParams::default().cost(Bps(2.0), 0.01, 1000.0, Some(100_000.0));
        assert_eq!(c.spread, Bps(2.0));
        assert_eq!(c.timing, Bps(15.0));
        assert_eq!(c.impact, Bps(10.0));
        assert_eq!(c.total, Bps(27.0));
    }

    #[test]
    fn impact_is_zero_without_size_or_volume() {
        let p = CostParams::default();
        for (q, adv) in [
            (1000.0, None),
            (1000.0, Some(0.0)),
            (1000.0, Some(-5.0)),
            (1000.0, Some(f64::INFINITY)),
            (1000.0, Some(f64::NAN)),
            (0.0, Some(100_000.0)),
            (-10.0, Some(100_000.0)),
        ] {
            assert_eq!(
                p.cost(Bps(1.0), 0.0, q, adv).impact,
                Bps(0.0),
                "{q} {adv:?}"
            );
        }
    }

    #[test]
    fn nan_inputs_poison_the_total() {
        let p = CostParams::default();
        assert!(p.cost(Bps(f64::NAN), 0.01, 0.0, None).total.0.is_nan());
        assert!(p.cost(Bps(1.0), f64::NAN, 0.0, None).total.0.is_nan());
        assert!(p.cost(Bps(1.0), 0.01, f64::NAN, Some(1e6)).total.0.is_nan());
        // Unknown ADV means zero impact whatever the size.
        assert_eq!(p.cost(Bps(1.0), 0.0, f64::NAN, None).total, Bps(1.0));
    }

    #[test]
    fn zero_coefficients_cost_nothing() {
        let p = CostParams {
            k1: 0.0,
            k2: 0.0,
            k3: 0.0,
        };
        assert_eq!(p.cost(Bps(10.0), 0.17, 5.0, Some(10.0)).total, Bps(0.0));
    }
}
