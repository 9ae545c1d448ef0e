//! Vector adapter for stage `risk_guardrails` (SPEC §15): kinds `sequence`
//! (check / validate / restart steps) and `limits`.
//!
//! Every symbol named in any step's `weights` (or as a `validate` symbol) is
//! interned up front in byte-wise sorted order; weights become dense slices
//! with 0 for absent symbols.

use serde_json::{json, Value};

use crate::conformance::json::{
    array_field, as_f64, f64_field, field, num, opt_f64_field, opt_object_field, opt_str_field,
    str_field, time_field,
};
use crate::conformance::CaseError;
use crate::pipeline::risk::{CheckReport, Guardrails, RiskLimits, RiskLimitsConfig};
use crate::types::SymbolOrder;
use crate::types::{Frac, Pct, Reason, SymbolId};

/// Run one `risk_guardrails` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let config = config_of(field(input, "limits")?).map_err(|e| e.context("limits"));
    match str_field(input, "kind")? {
        // A value of the wrong type is a config error like an out-of-range one.
        "limits" => Ok(match config.ok().map(|c| RiskLimits::from_config(&c)) {
            Some(Ok(l)) => json!({
                "valid": true,
                "error": null,
                "internal": {
                    "max_daily_loss": num(l.max_daily_loss.0),
                    "max_drawdown": num(l.max_drawdown.0),
                    "max_position": num(l.max_position.0),
                    "max_gross": num(l.max_gross.0),
                },
            }),
            Some(Err(_)) | None => {
                json!({"valid": false, "error": Reason::ConfigError.code(), "internal": null})
            }
        }),
        "sequence" => {
            let limits = RiskLimits::from_config(&config?)
                .map_err(|e| CaseError::BadInput(format!("limits: {e}")))?;
            run_sequence(limits, array_field(input, "steps")?)
        }
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

/// The `limits` object; absent keys keep their defaults, as in config.
fn config_of(v: &Value) -> Result<RiskLimitsConfig, CaseError> {
    let d = RiskLimitsConfig::default();
    let num_or = |key: &str, default: f64| opt_f64_field(v, key).map(|x| x.unwrap_or(default));
    Ok(RiskLimitsConfig {
        max_daily_loss_pct: Pct(num_or("max_daily_loss_pct", d.max_daily_loss_pct.0)?),
        max_drawdown_pct: Pct(num_or("max_drawdown_pct", d.max_drawdown_pct.0)?),
        max_position_pct: Pct(num_or("max_position_pct", d.max_position_pct.0)?),
        max_gross_exposure: Frac(num_or("max_gross_exposure", d.max_gross_exposure.0)?),
        session_timezone: opt_str_field(v, "session_timezone")?
            .map_or(d.session_timezone, str::to_owned),
    })
}

/// The sorted symbol universe of all steps.
fn universe(steps: &[Value]) -> Result<Vec<String>, CaseError> {
    let mut names = Vec::new();
    for step in steps {
        if let Some(w) = opt_object_field(step, "weights")? {
            names.extend(w.keys().cloned());
        }
        if let Some(s) = step.get("symbol").and_then(Value::as_str) {
            names.push(s.to_owned());
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// A step's `weights` as a dense slice over `names` (absent = 0).
fn dense_weights(step: &Value, names: &[String]) -> Result<Vec<f64>, CaseError> {
    let mut out = vec![0.0; names.len()];
    if let Some(w) = opt_object_field(step, "weights")? {
        for (name, v) in w {
            let i = id_of(names, name)?.index();
            out[i] = as_f64(v).map_err(|e| e.context("weights"))?;
        }
    }
    Ok(out)
}

fn id_of(names: &[String], name: &str) -> Result<SymbolId, CaseError> {
    names
        .binary_search_by(|n| n.as_str().cmp(name))
        .map(|i| SymbolId(i as u16))
        .map_err(|_| CaseError::BadInput(format!("symbol `{name}` was not interned")))
}

fn render_check(r: &CheckReport) -> Value {
    let warnings: Vec<&str> = if r.gross_warning {
        vec![Reason::GrossExposureWarning.code()]
    } else {
        Vec::new()
    };
    json!({
        "state": r.state.as_str(),
        "session_date": r.session_date.map(|d| d.format("%Y-%m-%d").to_string()),
        "daily_pnl": num(r.daily_pnl),
        "drawdown": num(r.drawdown),
        "peak_value": num(r.peak_value),
        "day_start_value": num(r.day_start_value),
        "kill_reason": r.kill_reason.map(Reason::code),
        "gross_exposure": num(r.gross_exposure),
        "net_exposure": num(r.net_exposure),
        "warnings": warnings,
    })
}

fn to_json<T: serde::Serialize>(x: &T) -> Result<Value, CaseError> {
    serde_json::to_value(x).map_err(|e| CaseError::BadInput(format!("cannot serialize: {e}")))
}

fn run_sequence(limits: RiskLimits, steps: &[Value]) -> Result<Value, CaseError> {
    let names = universe(steps)?;
    let order = SymbolOrder::from_names(&names).map_err(|e| CaseError::BadInput(e.to_string()))?;
    let mut guard = Guardrails::new(limits, order.clone());
    let mut outputs = Vec::with_capacity(steps.len());
    for (i, step) in steps.iter().enumerate() {
        let out = match str_field(step, "op")? {
            "check" => {
                let weights = dense_weights(step, &names)?;
                let pv = f64_field(step, "pv")?;
                let t = time_field(step, "time")?;
                render_check(&guard.check(pv, &weights, t))
            }
            "validate" => {
                let weights = dense_weights(step, &names)?;
                let symbol = id_of(&names, str_field(step, "symbol")?)?;
                let target = f64_field(step, "target_weight")?;
                match guard.validate_trade(symbol, target, &weights) {
                    Ok(()) => {
                        json!({"passed": true, "check": Reason::AllChecks.code(), "reason": null})
                    }
                    Err(r) => json!({"passed": false, "check": r.code(), "reason": r.code()}),
                }
            }
            "restart" => {
                // Persist to text, rebuild from config, restore.
                let persisted = guard.snapshot();
                let text = serde_json::to_string(&persisted)
                    .map_err(|e| CaseError::BadInput(format!("cannot persist: {e}")))?;
                let restored = serde_json::from_str(&text)
                    .map_err(|e| CaseError::BadInput(format!("cannot reload: {e}")))?;
                guard = Guardrails::new(limits, order.clone());
                guard
                    .restore(&restored)
                    .map_err(|e| CaseError::BadInput(format!("cannot restore: {e}")))?;
                json!({"persisted": to_json(&persisted)?})
            }
            other => {
                return Err(CaseError::BadInput(format!(
                    "steps[{i}]: unknown op `{other}`"
                )))
            }
        };
        outputs.push(out);
    }
    Ok(json!({"outputs": outputs, "final_state": to_json(&guard.snapshot())?}))
}
