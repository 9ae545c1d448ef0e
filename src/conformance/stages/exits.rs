//! Vector adapter for stage `exits`.

use serde_json::Value;

use crate::conformance::CaseError;

/// Run one `exits` case. (Placeholder until the stage lands.)
pub fn run(_input: &Value) -> Result<Value, CaseError> {
    Err(CaseError::NotRun("stage not built yet"))
}
