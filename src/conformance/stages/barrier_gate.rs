//! Vector adapter for stage `barrier_gate`.

use serde_json::Value;

use crate::conformance::CaseError;

/// Run one `barrier_gate` case. (Placeholder until the stage lands.)
pub fn run(_input: &Value) -> Result<Value, CaseError> {
    Err(CaseError::NotRun("stage not built yet"))
}
