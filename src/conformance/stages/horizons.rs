//! Vector adapter for stage `horizons` (SPEC §1).

use serde_json::{json, Value};

use crate::conformance::json::{array_field, str_field};
use crate::conformance::CaseError;
use crate::horizon::{parse_minutes, target_horizon, HorizonSet};

/// Run one `horizons` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "parse" => Ok(match parse_minutes(str_field(input, "horizon")?) {
            Ok(m) => json!({"minutes": m, "error": null}),
            Err(r) => json!({"minutes": null, "error": r.code()}),
        }),
        "target" => Ok(match target_horizon(str_field(input, "target")?) {
            Some((h, role)) => json!({"horizon": h, "role": role.as_str()}),
            None => json!({"horizon": null, "role": null}),
        }),
        "config" => {
            let items = array_field(input, "horizons")?
                .iter()
                .map(|v| v.as_str().unwrap_or("<not a string>"))
                .collect::<Vec<_>>();
            Ok(match HorizonSet::parse(&items) {
                Ok(set) => json!({
                    "horizons": set.labels().collect::<Vec<_>>(),
                    "minutes": set.iter().map(|(_, h)| h.minutes).collect::<Vec<_>>(),
                    "error": null,
                }),
                Err(_) => json!({"horizons": null, "minutes": null, "error": "config_error"}),
            })
        }
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}
