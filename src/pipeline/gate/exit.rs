//! Exit check (SPEC §13, §21 point 3): decides whether an open position is
//! closed before the arbiter runs, from the base-horizon barrier
//! probabilities and the base-horizon alpha.
//!
//! Engine thread, per symbol with a non-zero position, after blending and
//! before the arbiter. Hot path: no allocation, no blocking, no logging.
//!
//! Long: `p_peak > peak_threshold + 0.05` → `peak_exit`, else `α_base < 0` →
//! `alpha_exit`. Short: `p_valley > valley_threshold + 0.05` → `valley_exit`,
//! else `α_base > 0` → `alpha_exit`. Otherwise `hold_position`; a flat
//! position is `flat`. Unavailable inputs never trigger an exit. An exit
//! closes the whole position (shares = −position) and bypasses the band.

use super::barrier::{BarrierGate, BarrierProbs};
use crate::types::{Qty, Reason};

/// Margin above the entry thresholds at which a position is exited.
const EXIT_MARGIN: f64 = 0.05;

/// The exit check's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitOutcome {
    /// Close the whole position now.
    pub exit: bool,
    /// `peak_exit`, `valley_exit`, `alpha_exit`, `hold_position` or `flat`.
    pub reason: Reason,
}

impl BarrierGate {
    /// Whether to close `position` given the base-horizon probabilities and
    /// `alpha_base` (the base horizon's α, `None` when it has none). The
    /// check ignores [`BarrierParams::enabled`](super::BarrierParams): pass
    /// [`BarrierProbs::default`] to exit on alpha alone.
    pub fn exit(&self, position: Qty, probs: BarrierProbs, alpha_base: Option<f64>) -> ExitOutcome {
        let p = self.params();
        let (exit, reason) = match position.signum() {
            1 if probs
                .p_peak
                .is_some_and(|pp| pp > p.peak_threshold + EXIT_MARGIN) =>
            {
                (true, Reason::PeakExit)
            }
            1 if alpha_base.is_some_and(|a| a < 0.0) => (true, Reason::AlphaExit),
            -1 if probs
                .p_valley
                .is_some_and(|pv| pv > p.valley_threshold + EXIT_MARGIN) =>
            {
                (true, Reason::ValleyExit)
            }
            -1 if alpha_base.is_some_and(|a| a > 0.0) => (true, Reason::AlphaExit),
            0 => (false, Reason::Flat),
            _ => (false, Reason::HoldPosition),
        };
        ExitOutcome { exit, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::super::BarrierParams;
    use super::*;

    fn probs(p_peak: Option<f64>, p_valley: Option<f64>) -> BarrierProbs {
        BarrierProbs { p_peak, p_valley }
    }

    fn reason(position: i64, pp: Option<f64>, pv: Option<f64>, alpha: Option<f64>) -> Reason {
        let gate = BarrierGate::new(BarrierParams::default());
        let out = gate.exit(Qty(position), probs(pp, pv), alpha);
        assert_eq!(
            out.exit,
            matches!(
                out.reason,
                Reason::PeakExit | Reason::ValleyExit | Reason::AlphaExit
            )
        );
        out.reason
    }

    #[test]
    fn exit_thresholds_are_the_binary64_sums() {
        // 0.6 + 0.05 = 0.65 and 0.55 + 0.05 = 0.6000000000000001.
        assert_eq!(reason(10, Some(0.65), None, None), Reason::HoldPosition);
        assert_eq!(reason(10, Some(0.6500001), None, None), Reason::PeakExit);
        assert_eq!(reason(-10, None, Some(0.6), None), Reason::HoldPosition);
        assert_eq!(
            reason(-10, None, Some(0.6000000000000002), None),
            Reason::ValleyExit
        );
    }

    #[test]
    fn barrier_exit_takes_precedence_over_alpha() {
        assert_eq!(
            reason(3, Some(0.9), Some(0.1), Some(-0.001)),
            Reason::PeakExit
        );
        assert_eq!(
            reason(-3, Some(0.1), Some(0.9), Some(0.001)),
            Reason::ValleyExit
        );
    }

    #[test]
    fn alpha_against_the_position_exits() {
        assert_eq!(reason(1, None, None, Some(-1e-4)), Reason::AlphaExit);
        assert_eq!(reason(-1, None, None, Some(2e-4)), Reason::AlphaExit);
        assert_eq!(reason(1, None, None, Some(0.0)), Reason::HoldPosition);
        assert_eq!(reason(-1, None, None, Some(-2e-4)), Reason::HoldPosition);
    }

    #[test]
    fn unavailable_inputs_and_the_other_kind_never_trigger() {
        assert_eq!(reason(1, None, None, None), Reason::HoldPosition);
        assert_eq!(
            reason(1, Some(f64::NAN), None, Some(f64::NAN)),
            Reason::HoldPosition
        );
        assert_eq!(
            reason(1, Some(0.1), Some(0.99), Some(1e-4)),
            Reason::HoldPosition
        );
        assert_eq!(
            reason(-1, Some(0.99), Some(0.1), Some(-1e-4)),
            Reason::HoldPosition
        );
        assert_eq!(reason(0, Some(0.99), Some(0.99), Some(-1.0)), Reason::Flat);
    }
}
