//! Vector adapter for stage `volatility` (SPEC §2).

use serde_json::{json, Map, Value};

use crate::conformance::json::{array_field, f64_array_field, num, usize_field};
use crate::conformance::CaseError;
use crate::horizon::parse_minutes;
use crate::market::volatility::{Volatility, VolatilityParams};

/// Run one `volatility` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let closes = f64_array_field(input, "closes")?;
    let bar_minutes = u32::try_from(usize_field(input, "bar_minutes")?)
        .map_err(|_| CaseError::BadInput("`bar_minutes` is too large".into()))?;
    let vol = Volatility::new(VolatilityParams {
        vol_window: usize_field(input, "vol_window")?,
        bar_minutes,
    });
    let mut labels = Vec::new();
    let mut minutes = Vec::new();
    for h in array_field(input, "horizons")? {
        let label = h
            .as_str()
            .ok_or_else(|| CaseError::BadInput(format!("`horizons`: {h} is not a string")))?;
        let m = parse_minutes(label)
            .map_err(|_| CaseError::BadInput(format!("`horizons`: {label:?} is not a horizon")))?;
        labels.push(label);
        minutes.push(m);
    }
    Ok(match vol.estimate(&closes) {
        Ok(est) => {
            let mut sigma_h = vec![0.0; minutes.len()];
            vol.horizon_sigmas(est.sigma_bar, &minutes, &mut sigma_h);
            let by_label: Map<String, Value> = labels
                .iter()
                .zip(&sigma_h)
                .map(|(l, s)| ((*l).to_owned(), num(*s)))
                .collect();
            json!({
                "sigma_bar": num(est.sigma_bar),
                "n_returns": est.n_returns,
                "reason": null,
                "sigma_h": by_label,
            })
        }
        Err(reason) => json!({
            "sigma_bar": null,
            "n_returns": null,
            "reason": reason.code(),
            "sigma_h": null,
        }),
    })
}
