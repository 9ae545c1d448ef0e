//! Barrier entry gate (SPEC §13): peak/valley classifier probabilities block
//! entries that are likely to reverse and scale the rest by a gate factor
//! `g(a, f) = max(g_min, min(1, (1−a)^γ·(0.5+0.5f)^δ))`.
//!
//! Engine thread, after the arbiter picked a horizon and side. Hot path: no
//! allocation, no blocking, no logging.

use crate::types::{Reason, Side};

/// Barrier-gate settings (`live_trading.barrier_gate.*`, plus
/// `engine.enable_barrier_gate`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarrierParams {
    /// Floor of the gate factor, in [0, 1].
    pub g_min: f64,
    /// Exponent on `1 − a` (adverse probability), ≥ 0.
    pub gamma: f64,
    /// Exponent on `0.5 + 0.5f` (favourable probability), ≥ 0.
    pub delta: f64,
    /// Peak probability above which longs are blocked (exits at +0.05).
    pub peak_threshold: f64,
    /// Valley probability above which shorts are blocked (exits at +0.05).
    pub valley_threshold: f64,
    /// `engine.enable_barrier_gate`: false disables the entry gate (factor 1).
    pub enabled: bool,
}

impl Default for BarrierParams {
    fn default() -> Self {
        BarrierParams {
            g_min: 0.2,
            gamma: 1.0,
            delta: 0.5,
            peak_threshold: 0.6,
            valley_threshold: 0.55,
            enabled: true,
        }
    }
}

/// Barrier probabilities for one decision, each in [0, 1] or `None` when no
/// classifier of that kind produced an output.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BarrierProbs {
    pub p_peak: Option<f64>,
    pub p_valley: Option<f64>,
}

/// The entry gate's verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EntryOutcome {
    pub allowed: bool,
    /// Multiplier on the sized weight: 0 when blocked, 1 when disabled.
    pub gate_value: f64,
    /// `normal_entry`, `valley_bounce`, `peak_rejection`, `no_barrier_model`,
    /// `barrier_peak_block` or `barrier_valley_block`.
    pub reason: Reason,
}

impl EntryOutcome {
    fn blocked(reason: Reason) -> EntryOutcome {
        EntryOutcome {
            allowed: false,
            gate_value: 0.0,
            reason,
        }
    }
}

/// The barrier gate: entry gating here, exits in `exit.rs`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarrierGate {
    params: BarrierParams,
}

impl BarrierGate {
    pub fn new(params: BarrierParams) -> BarrierGate {
        BarrierGate { params }
    }

    pub fn params(&self) -> &BarrierParams {
        &self.params
    }

    /// `g(a, f) = max(g_min, min(1, (1−a)^γ·(0.5+0.5f)^δ))` for an adverse
    /// probability `a` and a favourable one `f`. Inputs are not clamped; a
    /// NaN product (NaN input, or a negative base under a fractional
    /// exponent) gives the most conservative factor, `g_min`.
    pub fn gate_factor(&self, adverse: f64, favourable: f64) -> f64 {
        let p = &self.params;
        let g = (1.0 - adverse).powf(p.gamma) * (0.5 + 0.5 * favourable).powf(p.delta);
        if g.is_nan() {
            p.g_min
        } else {
            p.g_min.max(g.min(1.0))
        }
    }

    /// Long entry with peak probability `pp`, valley probability `pv` and an
    /// optional second peak probability `y_pp`: blocked when either peak
    /// probability exceeds `peak_threshold`; otherwise gate `g(pp, pv)`,
    /// `valley_bounce` when `pv > valley_threshold`.
    pub fn long_entry(&self, pp: f64, pv: f64, y_pp: Option<f64>) -> EntryOutcome {
        let thr = self.params.peak_threshold;
        if pp > thr || y_pp.is_some_and(|y| y > thr) {
            return EntryOutcome::blocked(Reason::BarrierPeakBlock);
        }
        EntryOutcome {
            allowed: true,
            gate_value: self.gate_factor(pp, pv),
            reason: if pv > self.params.valley_threshold {
                Reason::ValleyBounce
            } else {
                Reason::NormalEntry
            },
        }
    }

    /// Short entry with valley probability `pv`, peak probability `pp` and an
    /// optional second valley probability `y_pv`: blocked when either valley
    /// probability exceeds `valley_threshold`; otherwise gate `g(pv, pp)`,
    /// `peak_rejection` when `pp > 0.8·peak_threshold`.
    pub fn short_entry(&self, pv: f64, pp: f64, y_pv: Option<f64>) -> EntryOutcome {
        let thr = self.params.valley_threshold;
        if pv > thr || y_pv.is_some_and(|y| y > thr) {
            return EntryOutcome::blocked(Reason::BarrierValleyBlock);
        }
        EntryOutcome {
            allowed: true,
            gate_value: self.gate_factor(pv, pp),
            reason: if pp > 0.8 * self.params.peak_threshold {
                Reason::PeakRejection
            } else {
                Reason::NormalEntry
            },
        }
    }

    /// The entry gate of a decision: disabled (allowed, factor 1.0,
    /// `no_barrier_model`) when the gate is off or both probabilities are
    /// unavailable; otherwise a missing kind counts as probability 0.0 and
    /// the side's entry rule applies.
    pub fn entry(&self, side: Side, probs: BarrierProbs) -> EntryOutcome {
        if !self.params.enabled || (probs.p_peak.is_none() && probs.p_valley.is_none()) {
            return EntryOutcome {
                allowed: true,
                gate_value: 1.0,
                reason: Reason::NoBarrierModel,
            };
        }
        let pp = probs.p_peak.unwrap_or(0.0);
        let pv = probs.p_valley.unwrap_or(0.0);
        match side {
            Side::Buy => self.long_entry(pp, pv, None),
            Side::Sell => self.short_entry(pv, pp, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> BarrierGate {
        BarrierGate::new(BarrierParams::default())
    }

    #[test]
    fn gate_factor_is_floored_and_capped() {
        let g = gate();
        assert!((g.gate_factor(0.3, 0.3) - 0.7 * 0.65f64.sqrt()).abs() < 1e-15);
        assert_eq!(g.gate_factor(0.9, 0.0), 0.2);
        assert_eq!(g.gate_factor(-0.5, 1.0), 1.0);
        assert_eq!(g.gate_factor(f64::NAN, 0.5), 0.2);
        // negative base under δ = 0.5
        assert_eq!(g.gate_factor(0.0, -3.0), 0.2);
    }

    #[test]
    fn long_blocks_above_peak_threshold_only() {
        let g = gate();
        assert_eq!(
            g.long_entry(0.61, 0.9, None).reason,
            Reason::BarrierPeakBlock
        );
        assert_eq!(g.long_entry(0.61, 0.9, None).gate_value, 0.0);
        assert!(g.long_entry(0.6, 0.0, None).allowed);
        assert_eq!(
            g.long_entry(0.1, 0.1, Some(0.7)).reason,
            Reason::BarrierPeakBlock
        );
        assert_eq!(g.long_entry(0.1, 0.56, None).reason, Reason::ValleyBounce);
        assert_eq!(g.long_entry(0.1, 0.55, None).reason, Reason::NormalEntry);
    }

    #[test]
    fn short_blocks_above_valley_threshold_only() {
        let g = gate();
        let blocked = g.short_entry(0.56, 0.0, None);
        assert_eq!(
            (blocked.allowed, blocked.reason),
            (false, Reason::BarrierValleyBlock)
        );
        assert_eq!(
            g.short_entry(0.1, 0.1, Some(0.6)).reason,
            Reason::BarrierValleyBlock
        );
        assert_eq!(g.short_entry(0.1, 0.48, None).reason, Reason::NormalEntry);
        assert_eq!(g.short_entry(0.1, 0.49, None).reason, Reason::PeakRejection);
    }

    #[test]
    fn entry_treats_one_missing_kind_as_zero_and_both_as_disabled() {
        let g = gate();
        let none = g.entry(Side::Buy, BarrierProbs::default());
        assert_eq!(
            (none.allowed, none.gate_value, none.reason),
            (true, 1.0, Reason::NoBarrierModel)
        );
        let peak_only = BarrierProbs {
            p_peak: Some(0.3),
            p_valley: None,
        };
        assert_eq!(g.entry(Side::Buy, peak_only), g.long_entry(0.3, 0.0, None));
        assert_eq!(
            g.entry(Side::Sell, peak_only),
            g.short_entry(0.0, 0.3, None)
        );
        let off = BarrierGate::new(BarrierParams {
            enabled: false,
            ..BarrierParams::default()
        });
        let high = BarrierProbs {
            p_peak: Some(0.99),
            p_valley: Some(0.99),
        };
        assert_eq!(off.entry(Side::Buy, high).reason, Reason::NoBarrierModel);
    }
}
