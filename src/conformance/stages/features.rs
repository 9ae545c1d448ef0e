//! Vector adapter for stage `features` (SPEC §3).
//!
//! An empty frame renders `{"error": "empty_frame", "features": null,
//! "features_f32": null}` (SPEC §3 calls it an error without naming the
//! output); a null cell is a missing value (NaN).

use serde_json::{json, Map, Value};

use crate::conformance::json::{array_field, as_f64, field, num, CaseResult};
use crate::conformance::CaseError;
use crate::features::{compute_all, to_f32, BarFrame, Feature};

fn bad(msg: String) -> CaseError {
    CaseError::BadInput(msg)
}

fn strings<'a>(v: &'a Value, key: &str) -> CaseResult<Vec<&'a str>> {
    array_field(v, key)?
        .iter()
        .map(|s| {
            s.as_str()
                .ok_or_else(|| bad(format!("`{key}`: {s} is not a string")))
        })
        .collect()
}

/// A frame cell: a float, a non-finite string, or null (a missing value,
/// read as NaN).
fn cell(v: &Value) -> CaseResult<f64> {
    if v.is_null() {
        Ok(f64::NAN)
    } else {
        as_f64(v)
    }
}

/// Run one `features` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let prices = field(input, "prices")?;
    let columns = strings(prices, "columns").map_err(|e| e.context("prices"))?;
    let rows = array_field(prices, "rows")
        .map_err(|e| e.context("prices"))?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            r.as_array()
                .ok_or_else(|| bad(format!("`prices.rows[{i}]` is not an array")))?
                .iter()
                .map(cell)
                .collect::<CaseResult<Vec<f64>>>()
                .map_err(|e| e.context(&format!("prices.rows[{i}]")))
        })
        .collect::<CaseResult<Vec<_>>>()?;
    let names = strings(input, "feature_list")?;

    let frame = match BarFrame::from_rows(&columns, &rows) {
        Ok(f) => f,
        Err(e) => {
            return Ok(json!({"error": e.code(), "features": null, "features_f32": null}));
        }
    };
    let features = Feature::parse_list(&names);
    let mut values = vec![0.0; features.len()];
    compute_all(&frame, &features, &mut values);
    let mut values_f32 = vec![0.0f32; features.len()];
    to_f32(&values, &mut values_f32);

    let by_name: Map<String, Value> = names
        .iter()
        .zip(&values)
        .map(|(n, &v)| ((*n).to_owned(), num(v)))
        .collect();
    let f32s: Vec<Value> = values_f32.iter().map(|&v| num(f64::from(v))).collect();
    Ok(json!({"features": by_name, "features_f32": f32s, "error": null}))
}
