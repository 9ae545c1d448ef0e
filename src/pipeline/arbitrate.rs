//! Horizon arbiter (SPEC §11): scores every horizon that has an alpha this
//! decision by its cost-adjusted edge and picks the one to trade, or holds.
//!
//! Runs on the engine thread, once per symbol and decision, after the
//! horizon blend and the exit check. Hot path: no allocation, no blocking,
//! no logging. Per-horizon details go into a caller-owned slice indexed by
//! [`HorizonId`]; the outcome is a small `Copy` struct.
//!
//! Per horizon (ascending minutes): `σ_h` (§2), costs (§10),
//! `net = |α|·1e4 − total`, `score = net/sqrt(h/5)` if `net > 0` else `net`,
//! then `score *= f_h` (learning preference, 1.0 when off). Horizons with a
//! non-finite α or score are dropped. The best horizon is the highest score,
//! ties to the shorter horizon. It trades when
//! `score ≥ entry_threshold_bps + reserve_bps·spread_bps` and its α is non-zero.

use crate::market::volatility::horizon_sigma;
use crate::pipeline::cost::{CostBreakdown, CostParams};
use crate::types::{Bps, Decision, HorizonId, Reason, Side};

/// Arbiter settings (`live_trading.arbitration.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArbiterParams {
    /// `arbitration.entry_threshold_bps`: minimum score to trade (≥ 0).
    pub entry_threshold_bps: Bps,
    /// `arbitration.reserve_bps`: a multiplier on the quoted spread in bps
    /// added to the threshold (≥ 0). Despite its name it is not in bps.
    pub reserve_bps: f64,
}

impl Default for ArbiterParams {
    fn default() -> Self {
        ArbiterParams {
            entry_threshold_bps: Bps(2.0),
            reserve_bps: 0.5,
        }
    }
}

/// What the arbiter needs to know about one decision. Every per-horizon
/// slice is indexed by [`HorizonId`] (ascending minutes).
#[derive(Clone, Copy, Debug)]
pub struct ArbiterInput<'a> {
    /// α_h in return units: `None` when the horizon produced no alpha this
    /// decision (it is skipped and reported as absent); `Some(NaN/±∞)` is
    /// scored and dropped.
    pub alphas: &'a [Option<f64>],
    /// Minutes of each horizon, ascending.
    pub horizon_minutes: &'a [u32],
    /// Per-bar volatility (§2).
    pub sigma_bar: f64,
    /// Engine bar interval in minutes.
    pub bar_minutes: u32,
    /// Quoted spread of the symbol.
    pub spread_bps: Bps,
    /// Planned shares (`planned_notional / mid`).
    pub q_shares: f64,
    /// Average daily volume in shares; `None` when unknown.
    pub adv_shares: Option<f64>,
    /// Learning preference factor per horizon; a horizon past the end of the
    /// slice has factor 1.0 (pass `&[]` when learning is off).
    pub preference: &'a [f64],
}

/// The arbiter's working for one horizon that had an alpha.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HorizonScore {
    pub h_minutes: u32,
    pub sigma_h: f64,
    pub cost: CostBreakdown,
    /// `|α|·1e4 − total cost`.
    pub net_bps: f64,
    /// Length-adjusted, preference-weighted net edge.
    pub score: f64,
    /// Side of α: `None` when α is zero or NaN.
    pub side: Option<Side>,
    /// α or score is non-finite: the horizon cannot be selected.
    pub dropped: bool,
}

/// The arbiter's verdict for one decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArbiterOutcome {
    /// TRADE or HOLD (the arbiter never blocks).
    pub decision: Decision,
    /// `above_threshold`, `below_threshold`, `no_signal` or `no_alphas`.
    pub reason: Reason,
    /// The horizon to trade; `Some` only on TRADE.
    pub selected: Option<HorizonId>,
    /// The side to trade; `Some` only on TRADE.
    pub side: Option<Side>,
    /// Highest-scoring kept horizon; `None` when none is left (`no_alphas`).
    pub best: Option<HorizonId>,
    /// Score of `best`.
    pub best_score: Option<f64>,
    /// `entry_threshold_bps + reserve_bps·spread_bps`.
    pub threshold: Bps,
}

/// The arbiter stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Arbiter {
    params: ArbiterParams,
    cost: CostParams,
}

impl Arbiter {
    pub fn new(params: ArbiterParams, cost: CostParams) -> Arbiter {
        Arbiter { params, cost }
    }

    pub fn params(&self) -> &ArbiterParams {
        &self.params
    }

    pub fn cost_params(&self) -> &CostParams {
        &self.cost
    }

    /// Score every horizon and decide. `detail[i]` receives horizon `i`'s
    /// working, or `None` when it had no alpha; entries past the shorter of
    /// `alphas` and `horizon_minutes` are set to `None`, and horizons past the
    /// end of `detail` are neither scored nor reported.
    pub fn decide(
        &self,
        input: &ArbiterInput<'_>,
        detail: &mut [Option<HorizonScore>],
    ) -> ArbiterOutcome {
        let threshold =
            Bps(self.params.entry_threshold_bps.0 + self.params.reserve_bps * input.spread_bps.0);
        let mut best: Option<(usize, f64, Option<Side>)> = None;
        let horizons = input.alphas.iter().zip(input.horizon_minutes);
        let mut slots = detail.iter_mut();
        // Ids are `u8`: at most 256 horizons are scored.
        let scored = horizons.zip(&mut slots).take(usize::from(u8::MAX) + 1);
        for (i, ((alpha, &h_minutes), slot)) in scored.enumerate() {
            *slot = alpha.map(|a| {
                let f = input.preference.get(i).copied().unwrap_or(1.0);
                self.score(a, h_minutes, f, input)
            });
            let Some(s) = slot else { continue };
            if s.dropped {
                continue;
            }
            if best.is_none_or(|(_, b, _)| s.score > b) {
                best = Some((i, s.score, s.side));
            }
        }
        for slot in slots {
            *slot = None;
        }
        let hold = |reason| ArbiterOutcome {
            decision: Decision::Hold,
            reason,
            selected: None,
            side: None,
            best: best.map(|(i, _, _)| HorizonId(i as u8)),
            best_score: best.map(|(_, s, _)| s),
            threshold,
        };
        let Some((i, score, side)) = best else {
            return hold(Reason::NoAlphas);
        };
        if score < threshold.0 || threshold.0.is_nan() {
            return hold(Reason::BelowThreshold);
        }
        match side {
            None => hold(Reason::NoSignal),
            Some(side) => ArbiterOutcome {
                decision: Decision::Trade,
                reason: Reason::AboveThreshold,
                selected: Some(HorizonId(i as u8)),
                side: Some(side),
                ..hold(Reason::AboveThreshold)
            },
        }
    }

    /// One horizon's working (SPEC §11).
    fn score(
        &self,
        alpha: f64,
        h_minutes: u32,
        pref: f64,
        input: &ArbiterInput<'_>,
    ) -> HorizonScore {
        let sigma_h = horizon_sigma(input.sigma_bar, h_minutes, input.bar_minutes);
        let cost = self
            .cost
            .cost(input.spread_bps, sigma_h, input.q_shares, input.adv_shares);
        let net_bps = alpha.abs() * 1e4 - cost.total.0;
        let score = if net_bps > 0.0 {
            net_bps / (f64::from(h_minutes) / 5.0).sqrt()
        } else {
            net_bps
        } * pref;
        let side = if alpha > 0.0 {
            Some(Side::Buy)
        } else if alpha < 0.0 {
            Some(Side::Sell)
        } else {
            None
        };
        HorizonScore {
            h_minutes,
            sigma_h,
            cost,
            net_bps,
            score,
            side,
            dropped: !(alpha.is_finite() && score.is_finite()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTES: [u32; 3] = [5, 10, 15];

    fn input<'a>(alphas: &'a [Option<f64>], preference: &'a [f64]) -> ArbiterInput<'a> {
        ArbiterInput {
            alphas,
            horizon_minutes: &MINUTES,
            sigma_bar: 0.0,
            bar_minutes: 1,
            spread_bps: Bps(0.0),
            q_shares: 0.0,
            adv_shares: None,
            preference,
        }
    }

    fn arbiter() -> Arbiter {
        Arbiter::new(ArbiterParams::default(), CostParams::default())
    }

    #[test]
    fn shorts_trade_on_absolute_alpha() {
        let mut d = [None; 3];
        let out = arbiter().decide(&input(&[Some(-0.001), None, Some(0.0002)], &[]), &mut d);
        assert_eq!(out.decision, Decision::Trade);
        assert_eq!(out.selected, Some(HorizonId(0)));
        assert_eq!(out.side, Some(Side::Sell));
        assert_eq!(out.best_score, Some(10.0));
        assert!(d[1].is_none());
        assert_eq!(d[2].map(|s| s.side), Some(Some(Side::Buy)));
    }

    #[test]
    fn exact_ties_go_to_the_shorter_horizon() {
        // net 10 on 10m and net 20 on 40m both score 7.071067811865475.
        let mut d = [None; 2];
        let mut inp = input(&[Some(0.001), Some(0.002)], &[]);
        inp.horizon_minutes = &[10, 40];
        let out = arbiter().decide(&inp, &mut d);
        let scores = d.map(|s| s.map(|s| s.score));
        assert_eq!(scores[0], scores[1]);
        assert_eq!(out.best, Some(HorizonId(0)));
        assert_eq!(out.selected, Some(HorizonId(0)));
    }

    #[test]
    fn non_finite_alphas_are_dropped_but_reported() {
        let mut d = [None; 3];
        let a = [Some(f64::NAN), Some(f64::INFINITY), Some(0.001)];
        let out = arbiter().decide(&input(&a, &[]), &mut d);
        assert!(d[0].unwrap().dropped && d[0].unwrap().score.is_nan());
        assert!(d[1].unwrap().dropped);
        assert_eq!(out.best, Some(HorizonId(2)));
        assert_eq!(out.decision, Decision::Trade);
    }

    #[test]
    fn nothing_left_is_no_alphas() {
        let mut d = [None; 3];
        for a in [[None; 3], [Some(f64::NAN), None, Some(f64::NEG_INFINITY)]] {
            let out = arbiter().decide(&input(&a, &[]), &mut d);
            assert_eq!(
                (out.decision, out.reason),
                (Decision::Hold, Reason::NoAlphas)
            );
            assert_eq!((out.best, out.best_score), (None, None));
            assert_eq!(out.threshold, Bps(2.0));
        }
    }

    #[test]
    fn zero_alpha_passing_the_threshold_is_no_signal() {
        let arb = Arbiter::new(
            ArbiterParams {
                entry_threshold_bps: Bps(0.0),
                reserve_bps: 0.0,
            },
            CostParams::default(),
        );
        let mut d = [None; 3];
        let out = arb.decide(&input(&[Some(0.0), Some(0.0), None], &[]), &mut d);
        assert_eq!(
            (out.decision, out.reason),
            (Decision::Hold, Reason::NoSignal)
        );
        assert_eq!((out.selected, out.side), (None, None));
        assert_eq!(out.best, Some(HorizonId(0)));
    }

    #[test]
    fn threshold_is_inclusive_and_scales_with_spread() {
        let mut d = [None; 3];
        let mut inp = input(&[Some(0.0005), None, None], &[]);
        inp.spread_bps = Bps(2.0);
        let out = arbiter().decide(&inp, &mut d);
        assert_eq!(out.threshold, Bps(3.0));
        assert_eq!(out.best_score, Some(3.0));
        assert_eq!(out.decision, Decision::Trade);
        let a = [Some(0.00049999), None, None];
        inp.alphas = &a;
        assert_eq!(
            arbiter().decide(&inp, &mut d).reason,
            Reason::BelowThreshold
        );
    }

    #[test]
    fn preference_scales_scores_and_missing_factors_are_one() {
        let mut d = [None; 3];
        let a = [Some(0.001), None, Some(0.001)];
        arbiter().decide(&input(&a, &[0.5]), &mut d);
        assert_eq!(d[0].unwrap().score, 5.0);
        assert_eq!(d[2].unwrap().score, 10.0 / 3f64.sqrt());
    }

    #[test]
    fn short_detail_slices_never_panic() {
        let mut d = [None; 1];
        let out = arbiter().decide(&input(&[None, Some(0.01), Some(0.01)], &[]), &mut d);
        assert_eq!(out.reason, Reason::NoAlphas);
        let mut d = [Some(HorizonScore {
            h_minutes: 1,
            sigma_h: 0.0,
            cost: CostParams::default().cost(Bps(0.0), 0.0, 0.0, None),
            net_bps: 0.0,
            score: 0.0,
            side: None,
            dropped: false,
        }); 4];
        arbiter().decide(&input(&[Some(0.01)], &[]), &mut d);
        assert!(d[0].is_some() && d[1..].iter().all(Option::is_none));
    }
}
