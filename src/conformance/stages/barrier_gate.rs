//! Vector adapter for stage `barrier_gate` (SPEC §13).
//!
//! Kind `resolve` builds a [`BarrierResolver`] from the case's classifier
//! targets and families over the horizons named by the case (selected, base
//! and the targets' suffixes) and renders sources as `target/family`.

use serde_json::{json, Value};

use crate::conformance::json::{
    as_opt_f64, bool_field_or, f64_field, field, i64_field, num, object_field, opt_f64_field,
    opt_num, opt_str, str_field,
};
use crate::conformance::CaseError;
use crate::horizon::{parse_minutes, target_horizon, HorizonSet, MAX_HORIZONS};
use crate::pipeline::gate::{
    BarrierGate, BarrierParams, BarrierProbs, BarrierResolver, EntryOutcome,
};
use crate::types::Side;

/// Run one `barrier_gate` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "gate_factor" => {
            let args = field(input, "args")?;
            let g =
                gate(input)?.gate_factor(f64_field(args, "p_peak")?, f64_field(args, "p_valley")?);
            Ok(json!({ "gate_value": num(g) }))
        }
        "long_entry" => {
            let args = field(input, "args")?;
            let out = gate(input)?.long_entry(
                f64_field(args, "p_peak")?,
                f64_field(args, "p_valley")?,
                opt_f64_field(args, "y_p_peak")?,
            );
            Ok(render(out))
        }
        "short_entry" => {
            let args = field(input, "args")?;
            let out = gate(input)?.short_entry(
                f64_field(args, "p_valley")?,
                f64_field(args, "p_peak")?,
                opt_f64_field(args, "y_p_valley")?,
            );
            Ok(render(out))
        }
        "entry_gate" => {
            let side = match i64_field(input, "side")? {
                s if s > 0 => Side::Buy,
                s if s < 0 => Side::Sell,
                _ => {
                    return Err(CaseError::BadInput(
                        "`side`: an entry needs side +1 or -1".into(),
                    ))
                }
            };
            let probs = BarrierProbs {
                p_peak: opt_f64_field(input, "p_peak")?,
                p_valley: opt_f64_field(input, "p_valley")?,
            };
            Ok(render(gate(input)?.entry(side, probs)))
        }
        "resolve" => resolve(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

/// The gate from the case's `params` (`enabled` defaults to true).
fn gate(input: &Value) -> Result<BarrierGate, CaseError> {
    let p = field(input, "params")?;
    let ctx = |e: CaseError| e.context("params");
    Ok(BarrierGate::new(BarrierParams {
        g_min: f64_field(p, "g_min").map_err(ctx)?,
        gamma: f64_field(p, "gamma").map_err(ctx)?,
        delta: f64_field(p, "delta").map_err(ctx)?,
        peak_threshold: f64_field(p, "peak_threshold").map_err(ctx)?,
        valley_threshold: f64_field(p, "valley_threshold").map_err(ctx)?,
        enabled: bool_field_or(p, "enabled", true).map_err(ctx)?,
    }))
}

fn render(out: EntryOutcome) -> Value {
    json!({
        "allowed": out.allowed,
        "gate_value": num(out.gate_value),
        "reason": out.reason.code(),
    })
}

fn resolve(input: &Value) -> Result<Value, CaseError> {
    let selected = str_field(input, "selected_horizon")?;
    let base = str_field(input, "base_horizon")?;
    // Classifier slots in input order; a null output is no output.
    let mut models: Vec<(&str, &str)> = Vec::new();
    let mut outputs: Vec<f64> = Vec::new();
    for (target, families) in object_field(input, "classifier_outputs")? {
        let families = families.as_object().ok_or_else(|| {
            CaseError::BadInput(format!("`classifier_outputs.{target}` is not an object"))
        })?;
        for (family, raw) in families {
            let raw = as_opt_f64(raw).map_err(|e| e.context(target))?;
            models.push((target, family));
            outputs.push(raw.unwrap_or(f64::NAN));
        }
    }
    // Horizons: selected and base first, then the targets' suffixes; a suffix
    // that is not a horizon, or whose minutes are already taken, is left out
    // (resolution only ever looks at selected and base).
    let mut labels: Vec<&str> = Vec::new();
    let mut minutes: Vec<u32> = Vec::new();
    for label in [selected, base] {
        let m = parse_minutes(label)
            .map_err(|_| CaseError::BadInput(format!("{label:?} is not a horizon")))?;
        if !minutes.contains(&m) {
            labels.push(label);
            minutes.push(m);
        }
    }
    for (target, _) in &models {
        let Some((label, _)) = target_horizon(target) else {
            continue;
        };
        match parse_minutes(label) {
            Ok(m) if !minutes.contains(&m) && labels.len() < MAX_HORIZONS => {
                labels.push(label);
                minutes.push(m);
            }
            _ => {}
        }
    }
    let set = HorizonSet::parse(&labels)
        .map_err(|e| CaseError::BadInput(format!("horizons {labels:?}: {e}")))?;
    let id = |label: &str| {
        set.id_of(label).ok_or_else(|| {
            CaseError::BadInput(format!("{label:?} shares its minutes with another horizon"))
        })
    };
    let resolver = BarrierResolver::new(models.iter().copied(), &set);
    let r = resolver.resolve(&outputs, id(selected)?, id(base)?);
    let source = |slot: Option<usize>| {
        slot.and_then(|s| models.get(s))
            .map(|(t, f)| format!("{t}/{f}"))
    };
    Ok(json!({
        "p_peak": opt_num(r.probs.p_peak),
        "p_valley": opt_num(r.probs.p_valley),
        "source_peak": opt_str(source(r.source_peak).as_deref()),
        "source_valley": opt_str(source(r.source_valley).as_deref()),
    }))
}
