//! Vector adapter for stage `spread_gate` (SPEC §12).

use serde_json::{json, Value};

use crate::conformance::json::{
    bool_field, bool_field_or, f64_field, num, opt_f64_field, opt_field, opt_num, opt_time_field,
    str_field, time_field,
};
use crate::conformance::CaseError;
use crate::pipeline::gate::{
    spread_bps, Quote, QuoteMetrics, SpreadGate, SpreadGateParams, SpreadOutcome,
};
use crate::types::Bps;

/// Run one `spread_gate` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "spread_from_quote" => {
            let s = spread_bps(f64_field(input, "bid")?, f64_field(input, "ask")?);
            Ok(json!({ "spread_bps": num(s) }))
        }
        "evaluate" => {
            let metrics = if bool_field(input, "has_quote")? {
                Some(QuoteMetrics {
                    spread_bps: opt_f64_field(input, "spread_bps")?.unwrap_or(f64::NAN),
                    quote_age_ms: opt_f64_field(input, "quote_age_ms")?,
                })
            } else {
                None
            };
            Ok(render(gate(input)?.check(metrics)))
        }
        "evaluate_quote" => {
            let quote = match opt_field(input, "quote") {
                None => None,
                // A null bid or ask is a non-finite price.
                Some(q) => Some(Quote {
                    bid: price(q, "bid")?,
                    ask: price(q, "ask")?,
                    time: opt_time_field(q, "time").map_err(|e| e.context("quote"))?,
                }),
            };
            let t = time_field(input, "decision_time")?;
            Ok(render(gate(input)?.check_quote(quote.as_ref(), t)))
        }
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn price(quote: &Value, key: &str) -> Result<f64, CaseError> {
    opt_f64_field(quote, key)
        .map(|p| p.unwrap_or(f64::NAN))
        .map_err(|e| e.context("quote"))
}

/// The gate from the case's limits; the gate is on unless the case says
/// `enable_spread_gate: false` (or `enabled: false`).
fn gate(input: &Value) -> Result<SpreadGate, CaseError> {
    Ok(SpreadGate::new(SpreadGateParams {
        spread_max_bps: Bps(f64_field(input, "max_spread_bps")?),
        quote_age_max_ms: f64_field(input, "max_quote_age_ms")?,
        enabled: bool_field_or(input, "enable_spread_gate", true)?
            && bool_field_or(input, "enabled", true)?,
    }))
}

fn render(out: SpreadOutcome) -> Value {
    json!({
        "allowed": out.allowed,
        "reason": out.reason.code(),
        "spread_bps": opt_num(out.spread_bps),
        "quote_age_ms": opt_num(out.quote_age_ms),
    })
}
