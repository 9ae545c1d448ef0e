//! Vector adapter for stage `temperature` (SPEC §8): a weight map through one
//! horizon's [`Temperature`].

use serde_json::{json, Map, Value};

use crate::conformance::json::{as_f64, num, object_field, opt_object_field, str_field};
use crate::conformance::CaseError;
use crate::horizon::parse_minutes;
use crate::pipeline::temperature::{Temperature, TemperatureParams};

/// Run one `temperature` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let label = str_field(input, "horizon")?;
    let minutes = parse_minutes(label)
        .map_err(|r| CaseError::BadInput(format!("`horizon` {label:?}: {}", r.code())))?;
    let params = match opt_object_field(input, "temperatures")? {
        None => TemperatureParams::default(),
        Some(map) => {
            let entries = map
                .iter()
                .map(|(h, t)| as_f64(t).map(|t| (h.as_str(), t)).map_err(|e| e.context(h)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.context("temperatures"))?;
            TemperatureParams::from_labels(entries)
                .map_err(|e| CaseError::BadInput(e.to_string()))?
        }
    };
    let temperature = Temperature::for_minutes(&params, minutes);

    let mut names: Vec<(&String, f64)> = object_field(input, "weights")?
        .iter()
        .map(|(k, v)| as_f64(v).map(|w| (k, w)).map_err(|e| e.context(k)))
        .collect::<Result<_, _>>()
        .map_err(|e| e.context("weights"))?;
    names.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut weights: Vec<f64> = names.iter().map(|&(_, w)| w).collect();
    temperature.apply(&mut weights);

    let out: Map<String, Value> = names
        .iter()
        .zip(&weights)
        .map(|(&(k, _), &w)| (k.clone(), num(w)))
        .collect();
    Ok(json!({"weights": out, "temperature": num(temperature.value())}))
}
