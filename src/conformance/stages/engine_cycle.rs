//! Vector adapter for stage `engine_cycle` (SPEC §18).
//!
//! The engine loop arrives with the engine issue; until then every case is
//! reported as not run rather than passed.

use serde_json::Value;

use crate::conformance::CaseError;

/// Report an `engine_cycle` case as not run.
pub fn run(_input: &Value) -> Result<Value, CaseError> {
    Err(CaseError::NotRun("needs engine"))
}
