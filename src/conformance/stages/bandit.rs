//! Vector adapter for stage `bandit` (SPEC §17.1).

use serde_json::{json, Map, Value};

use crate::conformance::json::{
    array_field, as_i64, f64_field, field, i64_field, num, opt_field, str_field,
};
use crate::conformance::CaseError;
use crate::learning::bandit::{Bandit, BanditParams};
use crate::types::{Bps, HorizonId};

/// Run one `bandit` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "updates" => run_updates(input),
        "schedule" => {
            let params = schedule_params(input)?;
            let blend = array_field(input, "T")?
                .iter()
                .map(|t| Ok(num(params.effective_blend(count(t, "T")?))))
                .collect::<Result<Vec<_>, CaseError>>()?;
            Ok(json!({ "effective_blend": blend }))
        }
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn count(v: &Value, key: &str) -> Result<u64, CaseError> {
    let i = as_i64(v).map_err(|e| e.context(key))?;
    u64::try_from(i).map_err(|_| CaseError::BadInput(format!("`{key}`: {i} is negative")))
}

fn count_field(v: &Value, key: &str) -> Result<u64, CaseError> {
    count(field(v, key)?, key)
}

fn schedule_params(input: &Value) -> Result<BanditParams, CaseError> {
    Ok(BanditParams {
        blend_ratio: f64_field(input, "blend_ratio")?,
        min_samples: count_field(input, "min_samples")?,
        ramp_up_samples: match opt_field(input, "ramp_up_samples") {
            None => None,
            Some(v) => Some(count(v, "ramp_up_samples")?),
        },
        ..BanditParams::default()
    })
}

fn run_updates(input: &Value) -> Result<Value, CaseError> {
    let arms = array_field(input, "arms")?
        .iter()
        .map(|a| {
            a.as_str()
                .ok_or_else(|| CaseError::BadInput(format!("`arms`: {a} is not a string")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let params = BanditParams {
        eta_max: f64_field(input, "eta_max")?,
        reward_clip_bps: Bps(f64_field(input, "reward_clip_bps")?),
        ..schedule_params(input)?
    };
    let mut bandit = Bandit::new(arms.len(), params)
        .map_err(|e| CaseError::BadInput(format!("bandit params: {e}")))?;
    let mut ensemble = vec![0.0; arms.len()];
    let mut preference = vec![0.0; arms.len()];
    let mut steps = Vec::new();
    for u in array_field(input, "updates")? {
        let index = i64_field(u, "arm")?;
        // Ids beyond u8 are out of range for every bandit (K ≤ MAX_HORIZONS);
        // the stage itself reports the error.
        let arm = u8::try_from(index).map_or(HorizonId(u8::MAX), HorizonId);
        let reward = Bps(f64_field(u, "reward_bps")?);
        let step = match bandit.update(arm, reward) {
            Err(e) => json!({ "error": e.code() }),
            Ok(s) => {
                bandit.ensemble_weights(&mut ensemble);
                bandit.preference_factors(&mut preference);
                json!({
                    "T": s.t,
                    "p_used": num(s.p_used),
                    "eta": num(s.eta),
                    "gamma_ix": num(s.gamma_ix),
                    "reward_clipped": num(s.reward_clipped.0),
                    "loss": num(s.loss),
                    "loss_estimate": num(s.loss_estimate),
                    "log_weights": floats(bandit.log_weights()),
                    "probabilities": floats(bandit.probabilities()),
                    "effective_blend": num(bandit.effective_blend()),
                    "ensemble": by_arm(&arms, &ensemble),
                    "preference": by_arm(&arms, &preference),
                })
            }
        };
        steps.push(step);
    }
    Ok(json!({
        "steps": steps,
        "final": {
            "arms": arms,
            "log_weights": floats(bandit.log_weights()),
            "T": bandit.t(),
            "pulls": bandit.pulls(),
        },
    }))
}

fn floats(xs: &[f64]) -> Value {
    Value::Array(xs.iter().copied().map(num).collect())
}

fn by_arm(arms: &[&str], values: &[f64]) -> Value {
    let map: Map<String, Value> = arms
        .iter()
        .zip(values)
        .map(|(a, &v)| ((*a).to_owned(), num(v)))
        .collect();
    Value::Object(map)
}
