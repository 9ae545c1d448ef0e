//! Sizing (SPEC §14, D13): the proposed weight of each symbol (z clip, raw,
//! gate, position cap), gross normalisation over the symbols that reached
//! sizing this cycle, the no-trade band and integer shares.
//!
//! Runs on the pinned engine thread. Hot path after construction: no
//! allocation, no blocking, no logging. [`Sizer::new`] allocates its one
//! scratch array from the symbol count; [`Sizer::size_group`] writes into a
//! caller-owned slice.
//!
//! The engine calls [`Sizer::propose`] in phase 1 for each symbol that passed
//! the arbiter and the entry gate (§18.1 step 6), then [`Sizer::size_group`]
//! once in phase 2 over those proposals and the exits that fired (§18.1 step
//! 7). Gross exposure is summed in byte-wise sorted symbol order through a
//! [`SymbolOrder`] built once at start-up, so no names are touched per cycle.

use crate::types::{Decision, Frac, Qty, Reason, SymbolId};
pub use crate::types::{SymbolOrder, SymbolOrderError};

/// Sizing parameters (`sizing.*` keys and `risk.max_position_pct`), in
/// internal units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizingParams {
    /// `sizing.z_max`: scores are clipped to `±z_max` (> 0).
    pub z_max: f64,
    /// `sizing.max_weight`: weight at `|z| = z_max`, in (0, 1].
    pub max_weight: Frac,
    /// `risk.max_position_pct / 100`: cap on `|gated|`, in (0, 1].
    pub max_position: Frac,
    /// `sizing.gross_target`: gross of the proposals above which they are
    /// scaled down (> 0).
    pub gross_target: Frac,
    /// `sizing.no_trade_band`: weight changes below it are not traded, in
    /// [0, 1).
    pub no_trade_band: Frac,
}

impl Default for SizingParams {
    fn default() -> Self {
        SizingParams {
            z_max: 3.0,
            max_weight: Frac(0.05),
            max_position: Frac(0.20),
            gross_target: Frac(0.5),
            no_trade_band: Frac(0.008),
        }
    }
}

/// A sizing parameter outside its allowed range.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("{key} = {value}: allowed {allowed}")]
pub struct SizingParamsError {
    /// Config key (`sizing.z_max`, `risk.max_position_pct` as a fraction, ...).
    pub key: &'static str,
    pub value: f64,
    /// The allowed range, in the units of `value`.
    pub allowed: &'static str,
}

impl SizingParams {
    /// Check every field against SPEC §20.
    pub fn validate(&self) -> Result<(), SizingParamsError> {
        let check = |key, value: f64, ok: bool, allowed| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(SizingParamsError {
                    key,
                    value,
                    allowed,
                })
            }
        };
        check("sizing.z_max", self.z_max, self.z_max > 0.0, "> 0")?;
        let w = self.max_weight.0;
        check("sizing.max_weight", w, w > 0.0 && w <= 1.0, "0 < x <= 1")?;
        let p = self.max_position.0;
        check(
            "risk.max_position_pct / 100",
            p,
            p > 0.0 && p <= 1.0,
            "0 < x <= 1",
        )?;
        let g = self.gross_target.0;
        check("sizing.gross_target", g, g > 0.0, "> 0")?;
        let b = self.no_trade_band.0;
        check(
            "sizing.no_trade_band",
            b,
            (0.0..1.0).contains(&b),
            "0 <= x < 1",
        )
    }
}

/// §14 step 1 for one symbol: the weight before gross normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Proposal {
    /// `clip(S, ±z_max)·(max_weight/z_max)`.
    pub raw: f64,
    /// `raw·gate_factor`.
    pub gated: f64,
    /// `clip(gated, ±max_position)`.
    pub capped: f64,
}

impl Proposal {
    /// An exit's proposal: all zero.
    pub const EXIT: Proposal = Proposal {
        raw: 0.0,
        gated: 0.0,
        capped: 0.0,
    };

    /// Whether every stage of the proposal is a finite number.
    #[inline]
    pub fn is_finite(&self) -> bool {
        self.raw.is_finite() && self.gated.is_finite() && self.capped.is_finite()
    }
}

/// `clip(x, −bound, bound)` that keeps NaN as NaN (`f64::clamp` would panic
/// on a NaN bound; `max`/`min` would turn NaN into a bound).
#[inline]
fn clip(x: f64, bound: f64) -> f64 {
    if x > bound {
        bound
    } else if x < -bound {
        -bound
    } else {
        x
    }
}

/// §14 step 1: `z = clip(score, ±z_max)`, `raw = z·(max_weight/z_max)`,
/// `gated = raw·gate_factor`, `capped = clip(gated, ±max_position)`.
///
/// A NaN score or gate factor gives NaN fields; [`Sizer::size_group`] turns
/// such a proposal into HOLD `error`.
#[inline]
pub fn propose(params: &SizingParams, score: f64, gate_factor: f64) -> Proposal {
    let z = clip(score, params.z_max);
    let raw = z * (params.max_weight.0 / params.z_max);
    let gated = raw * gate_factor;
    let capped = clip(gated, params.max_position.0);
    Proposal { raw, gated, capped }
}

/// Why a symbol reached sizing.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SizingIntent {
    /// The arbiter traded and the entry gate passed: size this proposal.
    Entry(Proposal),
    /// An exit fired (`peak_exit`, `valley_exit`, `alpha_exit`): close the
    /// whole position, bypassing the band.
    Exit(Reason),
}

/// One symbol that reached sizing this cycle.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SizingRequest {
    pub symbol: SymbolId,
    pub intent: SizingIntent,
    /// `position·mid/PV` at the cycle's marks.
    pub current_weight: f64,
    /// Signed current position in shares.
    pub position: Qty,
    /// The cycle's mark (mid) of the symbol.
    pub mid: f64,
}

/// The sizing outcome of one symbol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sized {
    pub raw: f64,
    pub gated: f64,
    pub capped: f64,
    /// The proposed weight after gross normalisation (`proposed_weight` in
    /// decisions).
    pub normalized: f64,
    /// TRADE, or HOLD (`no_trade_band`, `zero_shares`, `error`).
    pub decision: Decision,
    /// `above_threshold` or the exit reason for TRADE, else the HOLD reason.
    pub reason: Reason,
    /// The intended holding: `normalized` for TRADE (0 for exits), the
    /// current weight otherwise.
    pub target_weight: f64,
    /// Signed shares to trade (+ buy); 0 unless TRADE.
    pub shares: Qty,
}

impl Sized {
    /// A placeholder for preallocating output slices.
    pub const EMPTY: Sized = Sized {
        raw: 0.0,
        gated: 0.0,
        capped: 0.0,
        normalized: 0.0,
        decision: Decision::Hold,
        reason: Reason::Error,
        target_weight: 0.0,
        shares: Qty::ZERO,
    };

    fn hold(p: Proposal, normalized: f64, reason: Reason, current: f64) -> Sized {
        Sized {
            raw: p.raw,
            gated: p.gated,
            capped: p.capped,
            normalized,
            decision: Decision::Hold,
            reason,
            target_weight: current,
            shares: Qty::ZERO,
        }
    }
}

/// Totals of one group step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GroupSummary {
    /// `G = Σ|capped|` over the group, in sorted symbol order.
    pub gross_before: f64,
    /// The factor applied to every proposal (`gross_target/G`, or 1).
    pub scale: f64,
}

/// Why a group step could not run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizingError {
    #[error("output slice holds {got} results, the group has {needed} requests")]
    OutputTooShort { needed: usize, got: usize },
}

/// Largest share count representable exactly enough to trade (below
/// `i64::MAX`); larger sizes are an internal error, not a saturated order.
const MAX_SHARES: f64 = 9.0e18;

/// The sizing stage: per-symbol proposals and the per-cycle group step.
#[derive(Clone, Debug)]
pub struct Sizer {
    params: SizingParams,
    order: SymbolOrder,
    /// `|capped|` of each symbol in the current group, 0 elsewhere; reset
    /// after every group step.
    abs_capped: Box<[f64]>,
}

impl Sizer {
    /// A sizer for the symbols of `order`; validates `params`.
    pub fn new(params: SizingParams, order: SymbolOrder) -> Result<Sizer, SizingParamsError> {
        params.validate()?;
        let abs_capped = vec![0.0; order.len()].into_boxed_slice();
        Ok(Sizer {
            params,
            order,
            abs_capped,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &SizingParams {
        &self.params
    }

    /// §14 step 1 for one symbol (see [`propose`]).
    #[inline]
    pub fn propose(&self, score: f64, gate_factor: f64) -> Proposal {
        propose(&self.params, score, gate_factor)
    }

    /// §14 steps 2–4 over the symbols that reached sizing this cycle, in
    /// caller order: `out[i]` is the outcome of `requests[i]`.
    ///
    /// An entry whose proposal is not finite, a symbol id outside the order,
    /// or a share count that cannot be computed (PV or mid not a positive
    /// finite number, NaN current weight) is HOLD `error` and is left out of
    /// the gross. An exit with a zero position is HOLD `zero_shares`.
    pub fn size_group(
        &mut self,
        portfolio_value: f64,
        requests: &[SizingRequest],
        out: &mut [Sized],
    ) -> Result<GroupSummary, SizingError> {
        let Some(out) = out.get_mut(..requests.len()) else {
            return Err(SizingError::OutputTooShort {
                needed: requests.len(),
                got: out.len(),
            });
        };

        for r in requests {
            if let (SizingIntent::Entry(p), Some(slot)) =
                (r.intent, self.abs_capped.get_mut(r.symbol.index()))
            {
                if p.is_finite() {
                    *slot += p.capped.abs();
                }
            }
        }
        let gross = self.order.sum(|id| self.abs_capped[id.index()]);
        for r in requests {
            if let Some(slot) = self.abs_capped.get_mut(r.symbol.index()) {
                *slot = 0.0;
            }
        }

        let target = self.params.gross_target.0;
        let scale = if gross > target { target / gross } else { 1.0 };
        for (r, o) in requests.iter().zip(out.iter_mut()) {
            *o = self.size_one(portfolio_value, r, scale);
        }
        Ok(GroupSummary {
            gross_before: gross,
            scale,
        })
    }

    fn size_one(&self, pv: f64, r: &SizingRequest, scale: f64) -> Sized {
        let current = r.current_weight;
        let p = match r.intent {
            SizingIntent::Exit(reason) => return exit(r, reason),
            SizingIntent::Entry(p) => p,
        };
        if !p.is_finite() || r.symbol.index() >= self.order.len() {
            return Sized::hold(p, f64::NAN, Reason::Error, current);
        }
        // `scale` is exactly 1 when the gross is within target.
        let normalized = p.capped * scale;
        let delta = normalized - current;
        if !delta.is_finite() {
            return Sized::hold(p, normalized, Reason::Error, current);
        }
        if delta.abs() < self.params.no_trade_band.0 {
            return Sized::hold(p, normalized, Reason::NoTradeBand, current);
        }
        let Some(size) = share_count(delta, pv, r.mid) else {
            return Sized::hold(p, normalized, Reason::Error, current);
        };
        if size == 0 {
            return Sized::hold(p, normalized, Reason::ZeroShares, current);
        }
        Sized {
            raw: p.raw,
            gated: p.gated,
            capped: p.capped,
            normalized,
            decision: Decision::Trade,
            reason: Reason::AboveThreshold,
            target_weight: normalized,
            shares: Qty(if delta < 0.0 { -size } else { size }),
        }
    }
}

/// `floor(|delta|·PV/mid)`, or `None` when PV or mid is not a positive
/// finite number or the count does not fit a share quantity.
#[inline]
fn share_count(delta: f64, pv: f64, mid: f64) -> Option<i64> {
    if !(pv > 0.0 && pv.is_finite() && mid > 0.0 && mid.is_finite()) {
        return None;
    }
    let n = (delta.abs() * pv / mid).floor();
    (0.0..MAX_SHARES).contains(&n).then_some(n as i64)
}

/// An exit closes the whole position: shares `−position`, target 0.
fn exit(r: &SizingRequest, reason: Reason) -> Sized {
    let p = Proposal::EXIT;
    match r.position.0.checked_neg() {
        Some(0) => Sized::hold(p, 0.0, Reason::ZeroShares, r.current_weight),
        Some(shares) => Sized {
            raw: 0.0,
            gated: 0.0,
            capped: 0.0,
            normalized: 0.0,
            decision: Decision::Trade,
            reason,
            target_weight: 0.0,
            shares: Qty(shares),
        },
        None => Sized::hold(p, 0.0, Reason::Error, r.current_weight),
    }
}

/// §14 step 2 on its own: scale `weights` (dense by symbol id) by
/// `gross_target/G` when `G = Σ|w|` (sorted order) exceeds the target;
/// returns `G`. NaN weights make `G` NaN and leave the weights unchanged.
pub fn normalize_gross(weights: &mut [f64], order: &SymbolOrder, gross_target: Frac) -> f64 {
    let gross = order.sum(|id| weights.get(id.index()).map_or(0.0, |w| w.abs()));
    if gross > gross_target.0 {
        let scale = gross_target.0 / gross;
        for w in weights.iter_mut() {
            *w *= scale;
        }
    }
    gross
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;

    fn entry(sym: u16, score: f64, current: f64, position: i64, mid: f64) -> SizingRequest {
        SizingRequest {
            symbol: SymbolId(sym),
            intent: SizingIntent::Entry(propose(&SizingParams::default(), score, 1.0)),
            current_weight: current,
            position: Qty(position),
            mid,
        }
    }

    fn sizer(names: &[&str]) -> Sizer {
        Sizer::new(
            SizingParams::default(),
            SymbolOrder::from_names(names).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn symbol_order_sorts_bytewise_and_validates_permutations() {
        let o = SymbolOrder::from_names(&["b", "B", "a"]).unwrap();
        assert_eq!(o.ids(), [SymbolId(1), SymbolId(2), SymbolId(0)]);
        assert!(SymbolOrder::from_sorted_ids(&[SymbolId(1), SymbolId(0)]).is_ok());
        assert_eq!(
            SymbolOrder::from_sorted_ids(&[SymbolId(0), SymbolId(0)]),
            Err(SymbolOrderError::Duplicate { id: 0, len: 2 })
        );
        assert_eq!(
            SymbolOrder::from_sorted_ids(&[SymbolId(2), SymbolId(0)]),
            Err(SymbolOrderError::OutOfRange { id: 2, len: 2 })
        );
    }

    #[test]
    fn proposal_clips_score_and_caps_weight() {
        let p = SizingParams {
            max_weight: Frac(0.6),
            ..SizingParams::default()
        };
        let prop = propose(&p, 50.0, 1.0);
        assert_eq!((prop.raw, prop.capped), (0.6, 0.2));
        let neg = propose(&p, f64::NEG_INFINITY, 0.5);
        assert_eq!((neg.raw, neg.gated, neg.capped), (-0.6, -0.3, -0.2));
        assert!(propose(&p, f64::NAN, 1.0).capped.is_nan());
    }

    #[test]
    fn invalid_params_are_rejected_with_their_key() {
        let bad = SizingParams {
            no_trade_band: Frac(1.0),
            ..SizingParams::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "sizing.no_trade_band");
        let bad = SizingParams {
            z_max: f64::NAN,
            ..SizingParams::default()
        };
        assert_eq!(bad.validate().unwrap_err().key, "sizing.z_max");
        assert!(SizingParams::default().validate().is_ok());
    }

    #[test]
    fn gross_above_target_scales_every_proposal() {
        // 15 symbols at the 0.05 cap: G = 0.75 > 0.5.
        let names: Vec<String> = (0..15).map(|i| format!("S{i:02}")).collect();
        let mut s = sizer(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let reqs: Vec<_> = (0..15).map(|i| entry(i, 5.0, 0.0, 0, 100.0)).collect();
        let mut out = vec![Sized::EMPTY; 15];
        let sum = s.size_group(100_000.0, &reqs, &mut out).unwrap();
        assert_eq!(sum.gross_before, 0.7500000000000001);
        assert_eq!(out[0].normalized, 0.033333333333333326);
        assert_eq!(out[0].shares, Qty(33));
        // The scratch is reset: a second group of one symbol is not scaled.
        let one = [entry(3, 5.0, 0.0, 0, 100.0)];
        let sum = s.size_group(100_000.0, &one, &mut out).unwrap();
        assert_eq!((sum.gross_before, sum.scale), (0.05, 1.0));
    }

    #[test]
    fn band_zero_shares_and_exits() {
        let mut s = sizer(&["A", "B", "C"]);
        let reqs = [
            entry(0, 0.2, 0.01, 10, 100.0),
            entry(1, 3.0, 0.0, 0, 600_000.0),
            SizingRequest {
                symbol: SymbolId(2),
                intent: SizingIntent::Exit(Reason::PeakExit),
                current_weight: 0.12,
                position: Qty(240),
                mid: 100.0,
            },
        ];
        let mut out = [Sized::EMPTY; 3];
        s.size_group(10_000.0, &reqs, &mut out).unwrap();
        assert_eq!(
            (out[0].reason, out[0].target_weight, out[0].shares),
            (Reason::NoTradeBand, 0.01, Qty(0))
        );
        assert_eq!(
            (out[1].reason, out[1].target_weight),
            (Reason::ZeroShares, 0.0)
        );
        assert_eq!(
            (out[2].decision, out[2].reason, out[2].shares),
            (Decision::Trade, Reason::PeakExit, Qty(-240))
        );
    }

    #[test]
    fn shares_are_floored_toward_zero_and_signed() {
        let mut s = sizer(&["A"]);
        let mut out = [Sized::EMPTY];
        s.size_group(100_000.0, &[entry(0, -1.0, 0.0, 0, 33.33)], &mut out)
            .unwrap();
        assert_eq!(out[0].shares, Qty(-50));
        s.size_group(100_000.0, &[entry(0, 0.6, 0.05, 50, 100.0)], &mut out)
            .unwrap();
        assert_eq!(
            (out[0].decision, out[0].shares),
            (Decision::Trade, Qty(-40))
        );
    }

    #[test]
    fn non_finite_inputs_hold_with_error_and_stay_out_of_gross() {
        let mut s = sizer(&["A", "B"]);
        let reqs = [
            entry(0, f64::NAN, 0.0, 0, 100.0),
            entry(1, 3.0, 0.0, 0, f64::NAN),
            entry(9, 3.0, 0.0, 0, 100.0),
        ];
        let mut out = [Sized::EMPTY; 3];
        let sum = s.size_group(100_000.0, &reqs, &mut out).unwrap();
        assert_eq!(sum.gross_before, 0.05);
        assert!(out.iter().all(|o| o.reason == Reason::Error));
        assert!(out.iter().all(|o| o.shares == Qty(0)));
        let sum = s.size_group(f64::NAN, &reqs[1..2], &mut out).unwrap();
        assert_eq!((sum.gross_before, out[0].reason), (0.05, Reason::Error));
    }

    #[test]
    fn short_output_slice_is_an_error_not_a_panic() {
        let mut s = sizer(&["A"]);
        let err = s.size_group(1.0, &[entry(0, 1.0, 0.0, 0, 1.0)], &mut []);
        assert_eq!(err, Err(SizingError::OutputTooShort { needed: 1, got: 0 }));
    }

    #[test]
    fn normalize_gross_scales_only_above_target() {
        let order = SymbolOrder::from_names(&["A", "B", "C"]).unwrap();
        let mut w = [0.3, 0.2, 0.1];
        assert_eq!(normalize_gross(&mut w, &order, Frac(0.5)), 0.6);
        assert_eq!(w, [0.25, 0.16666666666666669, 0.08333333333333334]);
        let mut w = [0.25, 0.25, 0.0];
        assert_eq!(normalize_gross(&mut w, &order, Frac(0.5)), 0.5);
        assert_eq!(w, [0.25, 0.25, 0.0]);
    }
}
