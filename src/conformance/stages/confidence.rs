//! Vector adapter for stage `confidence` (SPEC §6): realised pairs into one
//! [`ConfidenceTracker`] key, then one evaluation; plus the freshness and
//! capacity grids.

use serde_json::{json, Value};

use crate::conformance::json::{
    array_field, as_f64, as_opt_f64, f64_field, num, opt_f64_field, str_field, time_field,
    usize_field,
};
use crate::conformance::CaseError;
use crate::horizon::parse_minutes;
use crate::pipeline::confidence::{
    capacity, freshness, ConfidenceInputs, ConfidenceParams, ConfidenceTracker,
};
use crate::types::ModelId;

/// Run one `confidence` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "calculate" => calculate(input),
        "freshness" => freshness_grid(input),
        "capacity" => capacity_grid(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn minutes(label: &str) -> Result<u32, CaseError> {
    parse_minutes(label)
        .map_err(|r| CaseError::BadInput(format!("horizon {label:?}: {}", r.code())))
}

/// The two elements of a `[a, b]` JSON pair.
fn pair(v: &Value) -> Result<(&Value, &Value), CaseError> {
    match v.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((a, b)),
        _ => Err(CaseError::BadInput(format!("{v} is not a pair"))),
    }
}

fn calculate(input: &Value) -> Result<Value, CaseError> {
    let params = ConfidenceParams {
        ic_window: usize_field(input, "ic_window")?,
        stability_window: usize_field(input, "stability_window")?,
        min_ic_pairs: usize_field(input, "min_ic_pairs")?,
        ic_floor: f64_field(input, "ic_floor")?,
        capacity_kappa: f64_field(input, "capacity_kappa")?,
    };
    let key = ModelId(0);
    let mut tracker = ConfidenceTracker::new(&params, 1);
    for (i, p) in array_field(input, "pairs")?.iter().enumerate() {
        let ctx = |e: CaseError| e.context(&format!("pairs[{i}]"));
        let (pred, actual) = pair(p).map_err(ctx)?;
        let (pred, actual) = (as_f64(pred).map_err(ctx)?, as_f64(actual).map_err(ctx)?);
        if !tracker.record(key, pred, actual) {
            return Err(ctx(CaseError::BadInput(format!(
                "pair ({pred}, {actual}) is not finite"
            ))));
        }
    }
    let inputs = ConfidenceInputs {
        horizon_minutes: minutes(str_field(input, "horizon")?)?,
        ic_prior: opt_f64_field(input, "ic_prior")?,
        decision_time: time_field(input, "decision_time")?,
        data_time: time_field(input, "data_time")?,
        adv_usd: opt_f64_field(input, "adv_usd")?,
        planned_notional: f64_field(input, "planned_notional")?,
    };
    let c = tracker
        .evaluate(key, &inputs)
        .ok_or_else(|| CaseError::BadInput("key 0 is unknown".into()))?;
    Ok(json!({
        "ic": num(c.ic),
        "ic_source": c.ic_source.as_str(),
        "demoted": c.demoted,
        "freshness": num(c.freshness),
        "capacity": num(c.capacity),
        "stability": num(c.stability),
        "overall": num(c.overall),
        "reason": c.reason().map(|r| r.code()),
    }))
}

fn freshness_grid(input: &Value) -> Result<Value, CaseError> {
    let out = array_field(input, "points")?
        .iter()
        .map(|p| {
            let (h, age) = pair(p)?;
            let h = h
                .as_str()
                .ok_or_else(|| CaseError::BadInput(format!("horizon {h} is not a string")))?;
            Ok(num(freshness(minutes(h)?, as_f64(age)?)))
        })
        .collect::<Result<Vec<_>, CaseError>>()
        .map_err(|e| e.context("points"))?;
    Ok(json!({ "freshness": out }))
}

fn capacity_grid(input: &Value) -> Result<Value, CaseError> {
    let kappa = f64_field(input, "capacity_kappa")?;
    let out = array_field(input, "points")?
        .iter()
        .map(|p| {
            let (adv, planned) = pair(p)?;
            Ok(num(capacity(kappa, as_opt_f64(adv)?, as_f64(planned)?)))
        })
        .collect::<Result<Vec<_>, CaseError>>()
        .map_err(|e| e.context("points"))?;
    Ok(json!({ "capacity": out }))
}
