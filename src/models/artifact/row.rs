//! Gathering one model's input row from the engine's feature vector through
//! the index map built at start-up.
//!
//! Runs on the engine thread. Hot path: no allocation, no blocking, no
//! logging.

// Hot path: re-enable the formatting ban the cold parent module lifts.
#![warn(clippy::disallowed_macros)]

use super::PlannedModel;

impl PlannedModel {
    /// Write this model's features, in its `feature_list` order and cast to
    /// `f32` (SPEC §3), from `engine_row` (values in
    /// [`ModelPlan::features`](super::ModelPlan::features) order) into
    /// `out`. Returns `true` when `out` has exactly the model's length and
    /// every value is finite after the cast; `false` means the model is
    /// skipped this decision (SPEC §3: a row with NaN is not predicted).
    /// `out` may be partly written when `false` is returned.
    #[inline]
    pub fn gather_row(&self, engine_row: &[f64], out: &mut [f32]) -> bool {
        if out.len() != self.feature_index.len() {
            return false;
        }
        let mut complete = true;
        for (slot, &i) in out.iter_mut().zip(&self.feature_index) {
            let value = engine_row.get(i).map_or(f32::NAN, |&v| v as f32);
            complete &= value.is_finite();
            *slot = value;
        }
        complete
    }
}
