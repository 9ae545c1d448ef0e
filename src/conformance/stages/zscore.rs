//! Vector adapter for stage `zscore` (SPEC §5): a stream of raw outputs
//! through one [`Standardizer`], keys `model:horizon` in first-seen order.

use serde_json::{json, Map, Value};

use crate::conformance::json::{
    array_field, as_f64, f64_field, field, num, str_field, usize_field,
};
use crate::conformance::CaseError;
use crate::pipeline::standardize::{StandardizeParams, Standardizer};
use crate::types::ModelId;

/// Run one `zscore` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "stream" => stream(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn stream(input: &Value) -> Result<Value, CaseError> {
    let params = StandardizeParams {
        window_size: usize_field(input, "window_size")?,
        z_clip: f64_field(input, "z_clip")?,
    };
    let events = array_field(input, "events")?;

    // Dense keys in first-seen order.
    let mut keys: Vec<String> = Vec::new();
    let mut stream = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        let ctx = |e: CaseError| e.context(&format!("events[{i}]"));
        let key = format!(
            "{}:{}",
            str_field(ev, "model").map_err(ctx)?,
            str_field(ev, "horizon").map_err(ctx)?
        );
        let raw = as_f64(field(ev, "raw").map_err(ctx)?).map_err(|e| ctx(e.context("raw")))?;
        let id = match keys.iter().position(|k| *k == key) {
            Some(p) => p,
            None => {
                keys.push(key);
                keys.len() - 1
            }
        };
        let id = u16::try_from(id)
            .map_err(|_| CaseError::BadInput(format!("more than {} keys", u16::MAX)))?;
        stream.push((ModelId(id), raw));
    }

    let mut z = Standardizer::new(&params, keys.len());
    let outputs: Vec<Value> = stream
        .iter()
        .map(|&(key, raw)| z.standardize(key, raw).map_or(Value::Null, num))
        .collect();

    let mut final_stats = Map::new();
    for (i, key) in keys.iter().enumerate() {
        let id = ModelId(i as u16);
        let stats = z
            .stats(id)
            .ok_or_else(|| CaseError::BadInput(format!("key {key} has no window")))?;
        let (mean, std) = stats
            .moments
            .map_or((Value::Null, Value::Null), |m| (num(m.mean), num(m.std)));
        final_stats.insert(
            key.clone(),
            json!({"count": stats.count, "mean": mean, "std": std}),
        );
    }
    Ok(json!({"outputs": outputs, "final_stats": final_stats}))
}
