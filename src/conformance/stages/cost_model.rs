//! Vector adapter for stage `cost_model` (SPEC §10).

use serde_json::{json, Value};

use crate::conformance::json::{f64_field, num, opt_f64_field, str_field, usize_field};
use crate::conformance::CaseError;
use crate::horizon::parse_minutes;
use crate::market::volatility::horizon_sigma;
use crate::pipeline::cost::CostParams;
use crate::types::Bps;

/// Run one `cost_model` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let label = str_field(input, "horizon")?;
    let h_minutes = parse_minutes(label)
        .map_err(|_| CaseError::BadInput(format!("`horizon`: {label:?} is not a horizon")))?;
    let bar_minutes = u32::try_from(usize_field(input, "bar_minutes")?)
        .map_err(|_| CaseError::BadInput("`bar_minutes` is too large".into()))?;
    let params = CostParams {
        k1: f64_field(input, "k1")?,
        k2: f64_field(input, "k2")?,
        k3: f64_field(input, "k3")?,
    };
    let sigma_h = horizon_sigma(f64_field(input, "sigma_bar")?, h_minutes, bar_minutes);
    let cost = params.cost(
        Bps(f64_field(input, "spread_bps")?),
        sigma_h,
        f64_field(input, "q_shares")?,
        opt_f64_field(input, "adv_shares")?,
    );
    Ok(json!({
        "h_minutes": h_minutes,
        "sigma_h": num(sigma_h),
        "spread_cost": num(cost.spread.0),
        "timing_cost": num(cost.timing.0),
        "impact_cost": num(cost.impact.0),
        "total_cost": num(cost.total.0),
    }))
}
