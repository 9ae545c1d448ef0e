//! Reading vector inputs and writing vector outputs (SPEC §0 conventions).
//!
//! Cold path only: the conformance command and the test suite. Floats may be
//! the strings `"NaN"`, `"Infinity"` and `"-Infinity"`; timestamps are
//! ISO-8601 UTC strings.

use serde_json::{Map, Value};

use super::CaseError;
use crate::types::Nanos;

/// Result type of vector adapters.
pub type CaseResult<T> = Result<T, CaseError>;

fn bad(msg: String) -> CaseError {
    CaseError::BadInput(msg)
}

/// The field `key` of object `v`.
pub fn field<'a>(v: &'a Value, key: &str) -> CaseResult<&'a Value> {
    v.get(key)
        .ok_or_else(|| bad(format!("missing field `{key}`")))
}

/// The field `key` of object `v`, or `None` when absent or null.
pub fn opt_field<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(x) => Some(x),
    }
}

/// A float from a JSON number or one of the non-finite strings.
pub fn as_f64(v: &Value) -> CaseResult<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| bad(format!("number {n} is not a float"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => Err(bad(format!("string {s:?} is not a float"))),
        },
        other => Err(bad(format!("{other} is not a float"))),
    }
}

/// A float from `Some(number)`, or `None` for null.
pub fn as_opt_f64(v: &Value) -> CaseResult<Option<f64>> {
    match v {
        Value::Null => Ok(None),
        x => as_f64(x).map(Some),
    }
}

/// Float field `key`.
pub fn f64_field(v: &Value, key: &str) -> CaseResult<f64> {
    as_f64(field(v, key)?).map_err(|e| e.context(key))
}

/// Float field `key`; absent or null is `None`.
pub fn opt_f64_field(v: &Value, key: &str) -> CaseResult<Option<f64>> {
    match opt_field(v, key) {
        None => Ok(None),
        Some(x) => as_f64(x).map(Some).map_err(|e| e.context(key)),
    }
}

/// Integer from a JSON number (floats with an integral value are accepted).
pub fn as_i64(v: &Value) -> CaseResult<i64> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(bad(format!("{v} is not an integer"))),
    }
}

/// Integer field `key`.
pub fn i64_field(v: &Value, key: &str) -> CaseResult<i64> {
    as_i64(field(v, key)?).map_err(|e| e.context(key))
}

/// Non-negative integer field `key` as `usize`.
pub fn usize_field(v: &Value, key: &str) -> CaseResult<usize> {
    let i = i64_field(v, key)?;
    usize::try_from(i).map_err(|_| bad(format!("`{key}`: {i} is negative")))
}

/// Non-negative integer field `key`; absent or null is `None`.
pub fn opt_usize_field(v: &Value, key: &str) -> CaseResult<Option<usize>> {
    match opt_field(v, key) {
        None => Ok(None),
        Some(x) => {
            let i = as_i64(x).map_err(|e| e.context(key))?;
            usize::try_from(i)
                .map(Some)
                .map_err(|_| bad(format!("`{key}`: {i} is negative")))
        }
    }
}

/// Boolean field `key`.
pub fn bool_field(v: &Value, key: &str) -> CaseResult<bool> {
    field(v, key)?
        .as_bool()
        .ok_or_else(|| bad(format!("`{key}` is not a boolean")))
}

/// Boolean field `key`; absent or null is `default`.
pub fn bool_field_or(v: &Value, key: &str, default: bool) -> CaseResult<bool> {
    match opt_field(v, key) {
        None => Ok(default),
        Some(x) => x
            .as_bool()
            .ok_or_else(|| bad(format!("`{key}` is not a boolean"))),
    }
}

/// String field `key`.
pub fn str_field<'a>(v: &'a Value, key: &str) -> CaseResult<&'a str> {
    field(v, key)?
        .as_str()
        .ok_or_else(|| bad(format!("`{key}` is not a string")))
}

/// String field `key`; absent or null is `None`.
pub fn opt_str_field<'a>(v: &'a Value, key: &str) -> CaseResult<Option<&'a str>> {
    match opt_field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_str()
            .map(Some)
            .ok_or_else(|| bad(format!("`{key}` is not a string"))),
    }
}

/// Array field `key`.
pub fn array_field<'a>(v: &'a Value, key: &str) -> CaseResult<&'a Vec<Value>> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| bad(format!("`{key}` is not an array")))
}

/// Object field `key`.
pub fn object_field<'a>(v: &'a Value, key: &str) -> CaseResult<&'a Map<String, Value>> {
    field(v, key)?
        .as_object()
        .ok_or_else(|| bad(format!("`{key}` is not an object")))
}

/// Object field `key`; absent or null is `None`.
pub fn opt_object_field<'a>(v: &'a Value, key: &str) -> CaseResult<Option<&'a Map<String, Value>>> {
    match opt_field(v, key) {
        None => Ok(None),
        Some(x) => x
            .as_object()
            .map(Some)
            .ok_or_else(|| bad(format!("`{key}` is not an object"))),
    }
}

/// Array of floats from field `key`.
pub fn f64_array_field(v: &Value, key: &str) -> CaseResult<Vec<f64>> {
    array_field(v, key)?
        .iter()
        .map(as_f64)
        .collect::<CaseResult<Vec<_>>>()
        .map_err(|e| e.context(key))
}

/// Parse an ISO-8601 UTC timestamp (`2024-01-02T15:00:00.950000Z`, offsets
/// allowed) into nanoseconds since the epoch.
pub fn parse_time(s: &str) -> CaseResult<Nanos> {
    crate::iso::parse(s)
        .ok_or_else(|| bad(format!("timestamp {s:?} is not ISO-8601 at or after 1970")))
}

/// Timestamp field `key`.
pub fn time_field(v: &Value, key: &str) -> CaseResult<Nanos> {
    parse_time(str_field(v, key)?).map_err(|e| e.context(key))
}

/// Timestamp field `key`; absent or null is `None`.
pub fn opt_time_field(v: &Value, key: &str) -> CaseResult<Option<Nanos>> {
    match opt_str_field(v, key)? {
        None => Ok(None),
        Some(s) => parse_time(s).map(Some).map_err(|e| e.context(key)),
    }
}

/// A float as a vector value: non-finite values become their strings.
pub fn num(x: f64) -> Value {
    if x.is_nan() {
        Value::String("NaN".into())
    } else if x == f64::INFINITY {
        Value::String("Infinity".into())
    } else if x == f64::NEG_INFINITY {
        Value::String("-Infinity".into())
    } else {
        serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

/// An optional float: `None` is null.
pub fn opt_num(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}

/// An optional string: `None` is null.
pub fn opt_str(x: Option<&str>) -> Value {
    x.map_or(Value::Null, |s| Value::String(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_finite_strings_round_trip() {
        for x in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1.5] {
            let back = as_f64(&num(x)).unwrap();
            assert!(back == x || (x.is_nan() && back.is_nan()));
        }
        assert!(as_f64(&json!("nan")).is_err());
    }

    #[test]
    fn timestamps_parse_to_nanos() {
        let t = parse_time("2024-01-02T14:59:59.950000Z").unwrap();
        assert_eq!(t.0, 1_704_207_599_950_000_000);
        assert!(parse_time("yesterday").is_err());
    }
}
