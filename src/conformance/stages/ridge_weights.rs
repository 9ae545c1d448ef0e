//! Vector adapter for stage `ridge_weights` (SPEC §7): names → dense model
//! order, then one [`RidgeSolver`] call (`matrix` or `history`).

use serde_json::{Map, Value};

use crate::conformance::json::{as_f64, f64_field, num, object_field, opt_field, str_field};
use crate::conformance::CaseError;
use crate::pipeline::ridge::{RidgeParams, RidgeSolver};

/// Run one `ridge_weights` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "matrix" => matrix(input),
        "history" => history(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn params(input: &Value) -> Result<RidgeParams, CaseError> {
    Ok(RidgeParams {
        ridge_lambda: f64_field(input, "ridge_lambda")?,
        cost_penalty: f64_field(input, "cost_penalty")?,
        min_weight: f64_field(input, "min_weight")?,
        ..RidgeParams::default()
    })
}

/// A `{name: float|null}` map's value for each name; missing or null → 0.
fn per_name(map: &Map<String, Value>, names: &[&str], key: &str) -> Result<Vec<f64>, CaseError> {
    names
        .iter()
        .map(|&n| match map.get(n) {
            None | Some(Value::Null) => Ok(0.0),
            Some(v) => as_f64(v).map_err(|e| e.context(n).context(key)),
        })
        .collect()
}

fn optional_map<'a>(
    input: &'a Value,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, CaseError> {
    match opt_field(input, key) {
        None => Ok(None),
        Some(v) => v
            .as_object()
            .map(Some)
            .ok_or_else(|| CaseError::BadInput(format!("`{key}` is not an object"))),
    }
}

fn sorted_keys(map: &Map<String, Value>) -> Vec<&str> {
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names
}

fn render(names: &[&str], weights: &[f64]) -> Value {
    let map: Map<String, Value> = names
        .iter()
        .zip(weights)
        .map(|(&n, &w)| (n.to_owned(), num(w)))
        .collect();
    serde_json::json!({ "weights": map })
}

/// C flattened row-major when it is an n×n array of numbers, else `None`
/// (the stage then uses the identity).
fn square_matrix(v: Option<&Value>, n: usize) -> Result<Option<Vec<f64>>, CaseError> {
    let Some(rows) = v.and_then(Value::as_array) else {
        return Ok(None);
    };
    if rows.len() != n {
        return Ok(None);
    }
    let mut flat = Vec::with_capacity(n * n);
    for row in rows {
        match row.as_array() {
            Some(r) if r.len() == n => {
                for x in r {
                    flat.push(as_f64(x).map_err(|e| e.context("correlation_matrix"))?);
                }
            }
            _ => return Ok(None),
        }
    }
    Ok(Some(flat))
}

fn matrix(input: &Value) -> Result<Value, CaseError> {
    let ic_map = object_field(input, "ic_values")?;
    let names: Vec<&str> = if ic_map.is_empty() {
        Vec::new()
    } else {
        match opt_field(input, "model_order") {
            None => sorted_keys(ic_map),
            Some(order) => order
                .as_array()
                .ok_or_else(|| CaseError::BadInput("`model_order` is not an array".into()))?
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        CaseError::BadInput(format!("`model_order`: {v} is not a string"))
                    })
                })
                .collect::<Result<_, _>>()?,
        }
    };
    let n = names.len();
    let ic = per_name(ic_map, &names, "ic_values")?;
    let cost = optional_map(input, "cost_shares")?
        .map(|m| per_name(m, &names, "cost_shares"))
        .transpose()?;
    let corr = square_matrix(opt_field(input, "correlation_matrix"), n)?;

    let mut solver = RidgeSolver::new(&params(input)?, n);
    let mut weights = vec![0.0; n];
    solver
        .weights(&ic, corr.as_deref(), cost.as_deref(), &mut weights)
        .map_err(|e| CaseError::BadInput(e.to_string()))?;
    Ok(render(&names, &weights))
}

fn history(input: &Value) -> Result<Value, CaseError> {
    let hist = object_field(input, "prediction_history")?;
    let names = sorted_keys(hist);
    let n = names.len();
    let series: Vec<Vec<f64>> = names
        .iter()
        .map(|&k| {
            hist.get(k)
                .and_then(Value::as_array)
                .ok_or_else(|| CaseError::BadInput("not an array".into()))
                .and_then(|v| v.iter().map(as_f64).collect::<Result<Vec<_>, _>>())
                .map_err(|e| e.context(k).context("prediction_history"))
        })
        .collect::<Result<_, _>>()?;
    let ic = match optional_map(input, "ic_values")? {
        Some(m) => per_name(m, &names, "ic_values")?,
        None => vec![0.0; n],
    };
    let cost = optional_map(input, "cost_shares")?
        .map(|m| per_name(m, &names, "cost_shares"))
        .transpose()?;

    let mut solver = RidgeSolver::new(&params(input)?, n);
    let mut weights = vec![0.0; n];
    solver
        .weights_from_history(
            |i| series.get(i).map_or(&[][..], Vec::as_slice),
            &ic,
            cost.as_deref(),
            &mut weights,
        )
        .map_err(|e| CaseError::BadInput(e.to_string()))?;
    Ok(render(&names, &weights))
}
