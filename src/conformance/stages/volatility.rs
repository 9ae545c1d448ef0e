//! Vector adapter for stage `volatility`.

use serde_json::Value;

use crate::conformance::CaseError;

/// Run one `volatility` case. (Placeholder until the stage lands.)
pub fn run(_input: &Value) -> Result<Value, CaseError> {
    Err(CaseError::NotRun("stage not built yet"))
}
