//! Config errors: one [`ConfigError`] per bad key, naming the file, the full
//! key path, the value seen and what is allowed, collected into
//! [`ConfigErrors`] so one run reports every problem at once.
//!
//! Cold path: start-up and the `config check` command only.

use std::fmt;

/// The file label used for values that came from dotted overrides rather
/// than from a file.
pub const OVERRIDES: &str = "<overrides>";

/// One rejected key (or a file that could not be read or parsed).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// The file the value came from, as given (or [`OVERRIDES`]).
    pub file: String,
    /// Full dotted key path (`live_trading.risk.max_daily_loss_pct`,
    /// `live_trading.horizons[1]`); empty for file-level problems.
    pub key: String,
    pub problem: Problem,
}

/// What is wrong with a key.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("invalid YAML: {0}")]
    Syntax(String),
    #[error("unknown key{}", did_you_mean(*.closest))]
    UnknownKey {
        /// The closest key accepted at that place, if any is close.
        closest: Option<&'static str>,
    },
    #[error("missing; {expected}")]
    Missing { expected: &'static str },
    #[error("has no value; expected {expected} (remove the key to use the default)")]
    Empty { expected: &'static str },
    #[error("{value} is {found}, expected {expected}")]
    WrongType {
        value: String,
        /// What the value is (`a string`, `a decimal number`, ...).
        found: &'static str,
        expected: &'static str,
    },
    #[error("{value} is outside {allowed}{}", hint_suffix(.hint.as_deref()))]
    OutOfRange {
        value: String,
        /// The allowed range, SPEC style (`0 < pct <= 100`).
        allowed: String,
        /// A likely cause, e.g. a percent given where a fraction is expected.
        hint: Option<String>,
    },
    #[error("{value} is not one of {}", .allowed.join(", "))]
    NotOneOf {
        value: String,
        allowed: &'static [&'static str],
    },
    #[error("{value} {reason}")]
    Invalid {
        value: String,
        /// Why the value is rejected and what is accepted instead.
        reason: String,
    },
}

fn did_you_mean(closest: Option<&str>) -> String {
    closest.map_or(String::new(), |k| format!("; did you mean `{k}`?"))
}

fn hint_suffix(hint: Option<&str>) -> String {
    hint.map_or(String::new(), |h| format!(" ({h})"))
}

impl ConfigError {
    pub fn new(file: &str, key: impl Into<String>, problem: Problem) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            key: key.into(),
            problem,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.file, self.key, self.problem)
        }
    }
}

/// Every error found in one load: unknown keys and wrong types in file
/// order, then ranges and cross-key rules in the order of the shipped file.
/// Never empty when returned as an error.
#[derive(Clone, Debug, Default, PartialEq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// `Ok(value)` when nothing was collected, else all errors.
    pub(crate) fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> ConfigErrors {
        ConfigErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One error per line.
impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects errors during one load and labels each with the file its value
/// came from: the loaded file, or [`OVERRIDES`] for keys set by dotted
/// overrides.
#[derive(Debug)]
pub(crate) struct Collector {
    file: String,
    /// Full key paths set by overrides (`live_trading.risk.max_position_pct`).
    overridden: Vec<String>,
    errors: Vec<ConfigError>,
}

impl Collector {
    pub(crate) fn new(file: &str, overridden: Vec<String>) -> Collector {
        Collector {
            file: file.to_owned(),
            overridden,
            errors: Vec::new(),
        }
    }

    /// Record a problem with the value at `key`.
    pub(crate) fn push(&mut self, key: impl Into<String>, problem: Problem) {
        let key = key.into();
        let from_override = self.overridden.iter().any(|p| {
            key.strip_prefix(p.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
        });
        let file = if from_override { OVERRIDES } else { &self.file };
        self.errors.push(ConfigError::new(file, key, problem));
    }

    pub(crate) fn finish(self) -> ConfigErrors {
        ConfigErrors(self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_key_value_and_range() {
        let e = ConfigError::new(
            "config/live_trading.yaml",
            "live_trading.risk.max_daily_loss_pct",
            Problem::OutOfRange {
                value: "250".into(),
                allowed: "0 < pct <= 100".into(),
                hint: None,
            },
        );
        assert_eq!(
            e.to_string(),
            "config/live_trading.yaml: live_trading.risk.max_daily_loss_pct: 250 is outside 0 < pct <= 100"
        );
        let u = ConfigError::new(
            "f.yaml",
            "live_trading.risk.max_daily_los_pct",
            Problem::UnknownKey {
                closest: Some("max_daily_loss_pct"),
            },
        );
        assert_eq!(
            u.to_string(),
            "f.yaml: live_trading.risk.max_daily_los_pct: unknown key; did you mean `max_daily_loss_pct`?"
        );
        let file = ConfigError::new("f.yaml", "", Problem::Syntax("bad".into()));
        assert_eq!(file.to_string(), "f.yaml: invalid YAML: bad");
        let all = ConfigErrors(vec![u, file]);
        assert_eq!(all.to_string().lines().count(), 2);
    }

    #[test]
    fn overridden_keys_are_labelled_as_overrides() {
        let mut c = Collector::new("f.yaml", vec!["live_trading.risk.max_position_pct".into()]);
        let p = || Problem::Missing { expected: "x" };
        c.push("live_trading.risk.max_position_pct", p());
        c.push("live_trading.risk.max_position_pct_x", p());
        c.push("live_trading.risk", p());
        let files: Vec<_> = c.finish().iter().map(|e| e.file.clone()).collect();
        assert_eq!(files, [OVERRIDES, "f.yaml", "f.yaml"]);
    }
}
