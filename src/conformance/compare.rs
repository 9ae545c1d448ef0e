//! Field-by-field comparison of expected and actual vector outputs (SPEC §0):
//! floats within `max(abs, rel·max(|a|,|b|))`, NaN equal to NaN, integers,
//! strings, booleans and null exactly. Only the expected fields are checked:
//! an output may carry more fields than a vector file asks about.
//!
//! Cold path.

use std::fmt;

use serde_json::Value;

/// A file's float tolerance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    pub rel: f64,
    pub abs: f64,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            rel: 1e-9,
            abs: 1e-12,
        }
    }
}

impl Tolerance {
    /// The `tolerance` object of a vector file (defaults when absent).
    pub fn from_doc(v: Option<&Value>) -> Result<Tolerance, String> {
        let mut t = Tolerance::default();
        if let Some(v) = v {
            let get = |k: &str| v.get(k).and_then(Value::as_f64);
            if let Some(r) = get("rel") {
                t.rel = r;
            }
            if let Some(a) = get("abs") {
                t.abs = a;
            }
            if !(t.rel >= 0.0 && t.abs >= 0.0) {
                return Err(format!("tolerance must be non-negative, got {v}"));
            }
        }
        Ok(t)
    }

    /// Whether two floats are equal within this tolerance (NaN equals NaN).
    pub fn close(&self, a: f64, b: f64) -> bool {
        if a.is_nan() || b.is_nan() {
            return a.is_nan() && b.is_nan();
        }
        if a.is_infinite() || b.is_infinite() {
            return a == b;
        }
        (a - b).abs() <= self.abs.max(self.rel * a.abs().max(b.abs()))
    }
}

/// The first field where actual differs from expected.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// `outputs[2].mean`-style path from the case's `expected` root.
    pub path: String,
    pub expected: Value,
    /// `None` when the field is missing from the actual output.
    pub actual: Option<Value>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() {
            "<root>"
        } else {
            &self.path
        };
        match &self.actual {
            Some(a) => write!(f, "{path}: expected {}, actual {a}", self.expected),
            None => write!(f, "{path}: expected {}, actual <missing>", self.expected),
        }
    }
}

/// Compare `actual` against `expected`; `None` when every expected field
/// matches.
pub fn compare(expected: &Value, actual: &Value, tol: Tolerance) -> Option<Mismatch> {
    let mut path = String::new();
    walk(expected, actual, tol, &mut path)
}

fn as_float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn is_integer(v: &Value) -> bool {
    matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())
}

fn walk(expected: &Value, actual: &Value, tol: Tolerance, path: &mut String) -> Option<Mismatch> {
    let differ = |path: &String| {
        Some(Mismatch {
            path: path.clone(),
            expected: expected.clone(),
            actual: Some(actual.clone()),
        })
    };
    match expected {
        Value::Object(exp) => {
            let Value::Object(act) = actual else {
                return differ(path);
            };
            for (k, ev) in exp {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                let r = match act.get(k) {
                    None => Some(Mismatch {
                        path: path.clone(),
                        expected: ev.clone(),
                        actual: None,
                    }),
                    Some(av) => walk(ev, av, tol, path),
                };
                if r.is_some() {
                    return r;
                }
                path.truncate(len);
            }
            None
        }
        Value::Array(exp) => {
            let Value::Array(act) = actual else {
                return differ(path);
            };
            if exp.len() != act.len() {
                return Some(Mismatch {
                    path: format!("{path} (length {} vs {})", exp.len(), act.len()),
                    expected: expected.clone(),
                    actual: Some(actual.clone()),
                });
            }
            for (i, (ev, av)) in exp.iter().zip(act).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                let r = walk(ev, av, tol, path);
                if r.is_some() {
                    return r;
                }
                path.truncate(len);
            }
            None
        }
        Value::Number(_) | Value::String(_) if as_float(expected).is_some() => {
            match (as_float(expected), as_float(actual)) {
                (Some(e), Some(a)) => {
                    let exact = is_integer(expected) && is_integer(actual);
                    let same = if exact { e == a } else { tol.close(e, a) };
                    if same {
                        None
                    } else {
                        differ(path)
                    }
                }
                _ => differ(path),
            }
        }
        _ => {
            if expected == actual {
                None
            } else {
                differ(path)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T: Tolerance = Tolerance {
        rel: 1e-9,
        abs: 1e-12,
    };

    #[test]
    fn floats_within_tolerance_match() {
        assert!(compare(&json!(1.0), &json!(1.0 + 1e-10), T).is_none());
        assert!(compare(&json!(1.0), &json!(1.0 + 1e-8), T).is_some());
        assert!(compare(&json!("NaN"), &json!("NaN"), T).is_none());
        assert!(compare(&json!("Infinity"), &json!(1e308), T).is_some());
    }

    #[test]
    fn integers_compare_exactly_and_strings_too() {
        assert!(compare(&json!(3), &json!(3), T).is_none());
        assert!(compare(&json!(3), &json!(4), T).is_some());
        assert!(compare(&json!("a"), &json!("b"), T).is_some());
        assert!(compare(&json!(null), &json!(0.0), T).is_some());
    }

    #[test]
    fn first_difference_is_named_by_path() {
        let e = json!({"outputs": [1.0, {"mean": 2.0}], "x": true});
        let a = json!({"outputs": [1.0, {"mean": 2.5}], "x": false});
        let m = compare(&e, &a, T).unwrap();
        assert_eq!(m.path, "outputs[1].mean");
        assert_eq!(m.actual, Some(json!(2.5)));
    }

    #[test]
    fn missing_fields_differ_and_extra_fields_are_ignored() {
        let m = compare(&json!({"a": 1}), &json!({}), T).unwrap();
        assert_eq!(m.actual, None);
        assert!(compare(&json!({}), &json!({"b": 1}), T).is_none());
        assert!(compare(&json!([1, 2]), &json!([1]), T).is_some());
    }
}
