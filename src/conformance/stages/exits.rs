//! Vector adapter for stage `exits` (SPEC §13).

use serde_json::{json, Value};

use crate::conformance::json::{f64_field, i64_field, opt_f64_field};
use crate::conformance::CaseError;
use crate::pipeline::gate::{BarrierGate, BarrierParams, BarrierProbs};
use crate::types::Qty;

/// Run one `exits` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let gate = BarrierGate::new(BarrierParams {
        peak_threshold: f64_field(input, "peak_threshold")?,
        valley_threshold: f64_field(input, "valley_threshold")?,
        ..BarrierParams::default()
    });
    let probs = BarrierProbs {
        p_peak: opt_f64_field(input, "p_peak")?,
        p_valley: opt_f64_field(input, "p_valley")?,
    };
    let position = Qty(i64_field(input, "position_side")?);
    let out = gate.exit(position, probs, opt_f64_field(input, "alpha_base")?);
    Ok(json!({ "exit": out.exit, "reason": out.reason.code() }))
}
