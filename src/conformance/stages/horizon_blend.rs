//! Vector adapter for stage `horizon_blend` (SPEC §9): cycles of model
//! entries through one [`HorizonBlender`]; model names → slots in byte-wise
//! sorted order.

use serde_json::{json, Map, Value};

use crate::conformance::json::{
    array_field, as_f64, bool_field_or, f64_field, num, opt_field, usize_field,
};
use crate::conformance::CaseError;
use crate::pipeline::blend::{BlendEntry, BlendParams, HorizonBlender};
use crate::pipeline::ridge::RidgeParams;
use crate::pipeline::temperature::Temperature;

/// Run one `horizon_blend` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let params = BlendParams {
        history_size: usize_field(input, "history_size")?,
        min_history: usize_field(input, "min_history")?,
    };
    let ridge = RidgeParams {
        ridge_lambda: f64_field(input, "ridge_lambda")?,
        cost_penalty: f64_field(input, "cost_penalty")?,
        ..RidgeParams::default()
    };
    let temperature = Temperature::new(f64_field(input, "temperature")?);
    let sigma_h = f64_field(input, "sigma_h")?;
    let cost_shares = match opt_field(input, "cost_shares") {
        None => None,
        Some(v) => Some(
            v.as_object()
                .ok_or_else(|| CaseError::BadInput("`cost_shares` is not an object".into()))?,
        ),
    };

    let cycles = array_field(input, "cycles")?
        .iter()
        .enumerate()
        .map(|(i, c)| {
            c.as_object()
                .ok_or_else(|| CaseError::BadInput(format!("`cycles[{i}]` is not an object")))
        })
        .collect::<Result<Vec<_>, _>>()?;

    // Slots: every model name seen, byte-wise sorted.
    let mut names: Vec<&str> = cycles
        .iter()
        .flat_map(|c| c.keys().map(String::as_str))
        .collect();
    names.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    names.dedup();

    let mut blender = HorizonBlender::new(&params, &ridge, temperature, names.len());
    let mut results = Vec::with_capacity(cycles.len());
    let mut entries: Vec<BlendEntry> = Vec::with_capacity(names.len());
    let mut weights = vec![0.0; names.len()];
    for (i, cycle) in cycles.iter().enumerate() {
        entries.clear();
        for (slot, &name) in names.iter().enumerate() {
            let Some(e) = cycle.get(name) else { continue };
            let entry = parse_entry(e, slot, name, cost_shares)
                .map_err(|err| err.context(name).context(&format!("cycles[{i}]")))?;
            entries.push(entry);
        }
        let blend = blender
            .blend(&entries, sigma_h, &mut weights)
            .map_err(|e| CaseError::BadInput(e.to_string()))?;
        let t = num(blender.temperature().value());
        results.push(match blend {
            None => json!({
                "weights": {}, "score": null, "alpha": null, "confidence": null,
                "temperature": t,
            }),
            Some(b) => {
                let w: Map<String, Value> = entries
                    .iter()
                    .zip(&weights)
                    .filter(|(e, _)| e.is_present())
                    .filter_map(|(e, &w)| names.get(e.slot).map(|n| ((*n).to_owned(), num(w))))
                    .collect();
                json!({
                    "weights": w,
                    "score": num(b.score),
                    "alpha": num(b.alpha),
                    "confidence": num(b.confidence),
                    "temperature": t,
                })
            }
        });
    }
    Ok(json!({ "results": results }))
}

fn parse_entry(
    e: &Value,
    slot: usize,
    name: &str,
    cost_shares: Option<&Map<String, Value>>,
) -> Result<BlendEntry, CaseError> {
    let cost_share = match cost_shares.and_then(|m| m.get(name)) {
        None | Some(Value::Null) => 0.0,
        Some(v) => as_f64(v).map_err(|err| err.context("cost_shares"))?,
    };
    Ok(BlendEntry {
        slot,
        calibrated: f64_field(e, "calibrated")?,
        ic: f64_field(e, "ic")?,
        overall: f64_field(e, "overall")?,
        demoted: bool_field_or(e, "demoted", false)?,
        cost_share,
    })
}
