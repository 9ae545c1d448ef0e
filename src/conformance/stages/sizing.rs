//! Vector adapter for stage `sizing` (SPEC §14): kinds `normalize_gross` and
//! `group`. Symbols of a `group` keep the caller's (file) order; ids are
//! their positions, and gross sums run through the sorted [`SymbolOrder`].

use serde_json::{json, Map, Value};

use crate::conformance::json::{
    as_f64, bool_field_or, f64_field, field, i64_field, num, object_field, opt_str_field, str_field,
};
use crate::conformance::CaseError;
use crate::pipeline::size::{
    normalize_gross, propose, Sized, Sizer, SizingIntent, SizingParams, SizingRequest, SymbolOrder,
};
use crate::types::{Frac, Qty, Reason, SymbolId};

/// Run one `sizing` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "normalize_gross" => run_normalize(input),
        "group" => run_group(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn order_of(names: &[&str]) -> Result<SymbolOrder, CaseError> {
    SymbolOrder::from_names(names).map_err(|e| CaseError::BadInput(e.to_string()))
}

fn run_normalize(input: &Value) -> Result<Value, CaseError> {
    let map = object_field(input, "weights")?;
    let names: Vec<&str> = map.keys().map(String::as_str).collect();
    let mut weights = map
        .values()
        .map(as_f64)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.context("weights"))?;
    let gross_target = Frac(f64_field(input, "gross_target")?);
    let gross = normalize_gross(&mut weights, &order_of(&names)?, gross_target);
    let normalized: Map<String, Value> = names
        .iter()
        .zip(&weights)
        .map(|(n, &w)| ((*n).to_owned(), num(w)))
        .collect();
    Ok(json!({"normalized": normalized, "gross_before": num(gross)}))
}

fn params_of(p: &Value) -> Result<SizingParams, CaseError> {
    Ok(SizingParams {
        z_max: f64_field(p, "z_max")?,
        max_weight: Frac(f64_field(p, "max_weight")?),
        max_position: Frac(f64_field(p, "max_position")?),
        gross_target: Frac(f64_field(p, "gross_target")?),
        no_trade_band: Frac(f64_field(p, "no_trade_band")?),
    })
}

fn request_of(params: &SizingParams, id: usize, s: &Value) -> Result<SizingRequest, CaseError> {
    let intent = if bool_field_or(s, "exit", false)? {
        let code = opt_str_field(s, "exit_reason")?
            .ok_or_else(|| CaseError::BadInput("an exit needs `exit_reason`".into()))?;
        let reason = Reason::from_code(code)
            .ok_or_else(|| CaseError::BadInput(format!("unknown exit_reason `{code}`")))?;
        SizingIntent::Exit(reason)
    } else {
        SizingIntent::Entry(propose(
            params,
            f64_field(s, "score")?,
            f64_field(s, "gate_factor")?,
        ))
    };
    Ok(SizingRequest {
        symbol: SymbolId(id as u16),
        intent,
        current_weight: f64_field(s, "current_weight")?,
        position: Qty(i64_field(s, "current_shares")?),
        mid: f64_field(s, "mid")?,
    })
}

fn render(s: &Sized) -> Value {
    json!({
        "raw_weight": num(s.raw),
        "gated_weight": num(s.gated),
        "capped_weight": num(s.capped),
        "normalized_weight": num(s.normalized),
        "decision": s.decision.as_str(),
        "reason": s.reason.code(),
        "target_weight": num(s.target_weight),
        "shares": s.shares.0,
    })
}

fn run_group(input: &Value) -> Result<Value, CaseError> {
    let params = params_of(field(input, "params")?).map_err(|e| e.context("params"))?;
    let pv = f64_field(input, "portfolio_value")?;
    let symbols = object_field(input, "symbols")?;
    let names: Vec<&str> = symbols.keys().map(String::as_str).collect();
    let requests = symbols
        .iter()
        .enumerate()
        .map(|(i, (name, s))| request_of(&params, i, s).map_err(|e| e.context(name)))
        .collect::<Result<Vec<_>, _>>()?;

    let mut sizer =
        Sizer::new(params, order_of(&names)?).map_err(|e| CaseError::BadInput(e.to_string()))?;
    let mut out = vec![Sized::EMPTY; requests.len()];
    let summary = sizer
        .size_group(pv, &requests, &mut out)
        .map_err(|e| CaseError::BadInput(e.to_string()))?;
    let rendered: Map<String, Value> = names
        .iter()
        .zip(&out)
        .map(|(n, s)| ((*n).to_owned(), render(s)))
        .collect();
    Ok(json!({"gross_before": num(summary.gross_before), "symbols": rendered}))
}
