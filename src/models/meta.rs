//! `model_meta.json` (SPEC §4): the training pipeline's description of one
//! model, parsed into a typed [`ModelMeta`].
//!
//! The file belongs to the training pipeline, so unknown fields are allowed
//! and ignored; the fields the engine reads are checked, and every problem
//! of one file is reported together, each naming the field, the value seen
//! and what is allowed. Python's `json` module writes `NaN`, `Infinity` and
//! `-Infinity` as bare words; they are read as non-finite numbers (a
//! non-finite `metrics.ic` counts as absent, anywhere else it is an error).
//!
//! Cold path: runs once per model at start-up (and in `models inspect`).

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

use std::borrow::Cow;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The file name of a model's metadata inside its family directory.
pub const META_FILE: &str = "model_meta.json";

/// Keys that may hold the feature list, in the order they are tried.
pub const FEATURE_KEYS: [&str; 3] = ["feature_list", "features", "feature_names"];

/// What a model takes as input (`input_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// One row of named features per decision (the default).
    Features,
    /// A window of normalised OHLCV bars.
    RawSequence,
}

impl InputMode {
    /// Accepted `input_mode` values.
    pub const NAMES: &'static [&'static str] = &["features", "raw_sequence"];

    /// The value as written in `model_meta.json`.
    pub const fn name(self) -> &'static str {
        match self {
            InputMode::Features => "features",
            InputMode::RawSequence => "raw_sequence",
        }
    }
}

/// How a raw-sequence window is normalised (`sequence_normalization`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceNormalization {
    /// One-bar simple returns (the default).
    Returns,
    /// One-bar log returns.
    LogReturns,
    /// Each channel scaled to [0, 1] over the window.
    MinMax,
    /// Raw values.
    None,
}

impl SequenceNormalization {
    /// Accepted `sequence_normalization` values.
    pub const NAMES: &'static [&'static str] = &["returns", "log_returns", "minmax", "none"];

    /// The value as written in `model_meta.json`.
    pub const fn name(self) -> &'static str {
        match self {
            SequenceNormalization::Returns => "returns",
            SequenceNormalization::LogReturns => "log_returns",
            SequenceNormalization::MinMax => "minmax",
            SequenceNormalization::None => "none",
        }
    }

    /// Whether the window is made of one-bar changes, so `sequence_length`
    /// values need one more bar than that.
    pub const fn needs_previous_bar(self) -> bool {
        matches!(
            self,
            SequenceNormalization::Returns | SequenceNormalization::LogReturns
        )
    }
}

/// One OHLCV column of a raw-sequence window (`sequence_channels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    Open,
    High,
    Low,
    Close,
    Volume,
}

impl Channel {
    /// Every channel, in the default (`OHLCV`) order.
    pub const OHLCV: [Channel; 5] = [
        Channel::Open,
        Channel::High,
        Channel::Low,
        Channel::Close,
        Channel::Volume,
    ];

    /// Accepted channel names (matched ignoring ASCII case).
    pub const NAMES: &'static [&'static str] = &["open", "high", "low", "close", "volume"];

    /// The channel of a name, ignoring ASCII case (`Close`, `close`).
    pub fn parse(name: &str) -> Option<Channel> {
        Channel::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))
            .map(|i| Channel::OHLCV[i])
    }

    /// The frame column name (SPEC §3: `Open, High, Low, Close, Volume`).
    pub const fn column(self) -> &'static str {
        match self {
            Channel::Open => "Open",
            Channel::High => "High",
            Channel::Low => "Low",
            Channel::Close => "Close",
            Channel::Volume => "Volume",
        }
    }
}

/// The fields of `model_meta.json` the engine reads (SPEC §4), validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelMeta {
    /// Feature names in the model's input order; empty when absent (as for
    /// raw-sequence models).
    pub feature_list: Vec<String>,
    /// Which key held the list ([`FEATURE_KEYS`]), `None` when absent.
    pub feature_key: Option<&'static str>,
    /// SHA-256 of the model file as written (not checked for form here).
    pub model_checksum: Option<String>,
    pub input_mode: InputMode,
    /// Window length in bars or rows (≥ 1); required for raw sequences.
    pub sequence_length: Option<usize>,
    /// Raw-sequence channels; default OHLCV.
    pub sequence_channels: Vec<Channel>,
    pub sequence_normalization: SequenceNormalization,
    /// Bar interval the model was trained on, minutes (finite, > 0).
    pub interval_minutes: Option<f64>,
    /// Training IC (`metrics.ic`); `None` when absent or non-finite, which
    /// SPEC §4 reads as 0.
    pub ic: Option<f64>,
    /// `cross_sectional_ranking.enabled` (absent → false).
    pub cross_sectional_ranking: bool,
    /// Informational.
    pub family: Option<String>,
    /// Informational.
    pub target: Option<String>,
    /// Informational; checked against the feature list by the loader.
    pub n_features: Option<usize>,
}

/// One problem with a `model_meta.json` (the file is named by
/// [`MetaErrors`] or by the loader's error around it).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MetaProblem {
    #[error("cannot read the file: {0}")]
    Unreadable(String),
    #[error("not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the top level is {found}, expected a JSON object")]
    NotAnObject { found: &'static str },
    #[error("`{field}` is {value}, expected {allowed}")]
    Field {
        /// Dotted field path (`metrics.ic`, `feature_list[3]`).
        field: String,
        /// The value seen, as compact JSON (shortened when long).
        value: String,
        allowed: Cow<'static, str>,
    },
    #[error("`{field}` is missing; it is required {when}")]
    Missing {
        field: &'static str,
        /// When the field is required.
        when: &'static str,
    },
}

impl MetaProblem {
    /// How to fix it.
    pub fn fix(&self) -> Cow<'static, str> {
        match self {
            MetaProblem::Unreadable(_) => {
                "check that the file exists and is readable by the engine's user".into()
            }
            MetaProblem::Syntax { .. } | MetaProblem::NotAnObject { .. } => {
                "the file is truncated or corrupted: copy it again from the training run, or \
                 re-export the model with `python tools/export_model.py`"
                    .into()
            }
            MetaProblem::Field { field, .. } => format!(
                "correct `{field}` in {META_FILE}, or re-export the model with \
                 `python tools/export_model.py`"
            )
            .into(),
            MetaProblem::Missing { field, .. } => format!(
                "add `{field}` to {META_FILE}, or re-export the model with \
                 `python tools/export_model.py`"
            )
            .into(),
        }
    }
}

/// Every problem found in one `model_meta.json`. Never empty when returned.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct MetaErrors {
    pub path: PathBuf,
    pub problems: Vec<MetaProblem>,
}

/// One problem per line, each with the file and the fix.
impl fmt::Display for MetaErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {p} (fix: {})", self.path.display(), p.fix())?;
        }
        Ok(())
    }
}

impl ModelMeta {
    /// Read and validate a `model_meta.json`.
    pub fn load(path: &Path) -> Result<ModelMeta, MetaErrors> {
        let errors = |problems| MetaErrors {
            path: path.to_owned(),
            problems,
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| errors(vec![MetaProblem::Unreadable(e.to_string())]))?;
        ModelMeta::from_json_str(&text).map_err(errors)
    }

    /// Validate `model_meta.json` text; every problem is collected.
    pub fn from_json_str(text: &str) -> Result<ModelMeta, Vec<MetaProblem>> {
        let text = quote_python_non_finite(text);
        let value: Value = serde_json::from_str(&text).map_err(|e| {
            vec![MetaProblem::Syntax {
                line: e.line(),
                column: e.column(),
                message: syntax_message(&e),
            }]
        })?;
        let Value::Object(obj) = &value else {
            return Err(vec![MetaProblem::NotAnObject {
                found: type_name(&value),
            }]);
        };
        Reader::default().read(obj)
    }

    /// The training IC prior as SPEC §4 uses it: absent or non-finite → 0.
    pub fn ic_prior(&self) -> f64 {
        self.ic.filter(|x| x.is_finite()).unwrap_or(0.0)
    }
}

/// Collects problems while reading the fields of one file.
#[derive(Default)]
struct Reader {
    problems: Vec<MetaProblem>,
}

const NON_FINITE: [&str; 3] = ["NaN", "Infinity", "-Infinity"];

impl Reader {
    fn bad(
        &mut self,
        field: impl Into<String>,
        value: &Value,
        allowed: impl Into<Cow<'static, str>>,
    ) {
        self.problems.push(MetaProblem::Field {
            field: field.into(),
            value: show(value),
            allowed: allowed.into(),
        });
    }

    fn read(mut self, obj: &Map<String, Value>) -> Result<ModelMeta, Vec<MetaProblem>> {
        let present = |key: &str| obj.get(key).filter(|v| !v.is_null());

        let (feature_key, feature_list) = match FEATURE_KEYS
            .iter()
            .find_map(|&k| present(k).map(|v| (k, v)))
        {
            Some((key, v)) => (Some(key), self.string_list(key, v)),
            None => (None, Vec::new()),
        };

        let model_checksum = match present("model_checksum") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => {
                self.bad(
                    "model_checksum",
                    v,
                    "a string of 64 hexadecimal digits (SHA-256)",
                );
                None
            }
        };

        let input_mode = match present("input_mode") {
            None => InputMode::Features,
            Some(v) => match v.as_str() {
                Some("features") => InputMode::Features,
                Some("raw_sequence") => InputMode::RawSequence,
                _ => {
                    self.bad("input_mode", v, one_of(InputMode::NAMES));
                    InputMode::Features
                }
            },
        };

        let sequence_length = present("sequence_length").and_then(|v| {
            let n = v.as_u64().filter(|&n| n >= 1);
            if n.is_none() {
                self.bad("sequence_length", v, "an integer >= 1 (bars in the window)");
            }
            n.and_then(|n| usize::try_from(n).ok())
        });
        if input_mode == InputMode::RawSequence
            && sequence_length.is_none()
            && present("sequence_length").is_none()
        {
            self.problems.push(MetaProblem::Missing {
                field: "sequence_length",
                when: "when `input_mode` is `raw_sequence`",
            });
        }

        let sequence_channels = match present("sequence_channels") {
            None => Channel::OHLCV.to_vec(),
            Some(v) => self.channels(v),
        };

        let sequence_normalization = match present("sequence_normalization") {
            None => SequenceNormalization::Returns,
            Some(v) => match v.as_str() {
                Some("returns") => SequenceNormalization::Returns,
                Some("log_returns") => SequenceNormalization::LogReturns,
                Some("minmax") => SequenceNormalization::MinMax,
                Some("none") => SequenceNormalization::None,
                _ => {
                    self.bad(
                        "sequence_normalization",
                        v,
                        one_of(SequenceNormalization::NAMES),
                    );
                    SequenceNormalization::Returns
                }
            },
        };

        let interval_minutes = present("interval_minutes").and_then(|v| {
            let x = v.as_f64().filter(|x| x.is_finite() && *x > 0.0);
            if x.is_none() {
                self.bad(
                    "interval_minutes",
                    v,
                    "a number > 0 (minutes per training bar)",
                );
            }
            x
        });

        let ic = match present("metrics") {
            None => None,
            Some(Value::Object(metrics)) => match metrics.get("ic") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_f64().filter(|x| x.is_finite()),
                Some(Value::String(s)) if NON_FINITE.contains(&s.as_str()) => None,
                Some(v) => {
                    self.bad(
                        "metrics.ic",
                        v,
                        "a number (absent or non-finite counts as 0)",
                    );
                    None
                }
            },
            Some(v) => {
                self.bad("metrics", v, "an object such as {\"ic\": 0.03}");
                None
            }
        };

        let cross_sectional_ranking = match present("cross_sectional_ranking") {
            None => false,
            Some(Value::Object(cs)) => match cs.get("enabled") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(v) => {
                    self.bad("cross_sectional_ranking.enabled", v, "true or false");
                    false
                }
            },
            Some(v) => {
                self.bad(
                    "cross_sectional_ranking",
                    v,
                    "an object such as {\"enabled\": true}",
                );
                false
            }
        };

        let family = self.opt_string(present("family"), "family");
        let target = self.opt_string(present("target"), "target");
        let n_features = present("n_features").and_then(|v| {
            let n = v.as_u64().and_then(|n| usize::try_from(n).ok());
            if n.is_none() {
                self.bad("n_features", v, "an integer >= 0");
            }
            n
        });

        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        Ok(ModelMeta {
            feature_list,
            feature_key,
            model_checksum,
            input_mode,
            sequence_length,
            sequence_channels,
            sequence_normalization,
            interval_minutes,
            ic,
            cross_sectional_ranking,
            family,
            target,
            n_features,
        })
    }

    fn string_list(&mut self, key: &'static str, v: &Value) -> Vec<String> {
        let Value::Array(items) = v else {
            self.bad(key, v, "a list of feature names");
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => self.bad(format!("{key}[{i}]"), item, "a feature name (string)"),
            }
        }
        out
    }

    fn channels(&mut self, v: &Value) -> Vec<Channel> {
        const ALLOWED: &str = "a non-empty list of open, high, low, close, volume";
        let Value::Array(items) = v else {
            self.bad("sequence_channels", v, ALLOWED);
            return Vec::new();
        };
        if items.is_empty() {
            self.bad("sequence_channels", v, ALLOWED);
        }
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_str().and_then(Channel::parse) {
                Some(c) => out.push(c),
                None => self.bad(
                    format!("sequence_channels[{i}]"),
                    item,
                    one_of(Channel::NAMES),
                ),
            }
        }
        out
    }

    fn opt_string(&mut self, v: Option<&Value>, field: &'static str) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            other => {
                self.bad(field, other, "a string");
                None
            }
        }
    }
}

fn one_of(names: &[&str]) -> String {
    format!("one of {}", names.join(", "))
}

/// The JSON type of a value, for messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A value as compact JSON for messages, shortened past 80 characters.
fn show(v: &Value) -> String {
    const MAX: usize = 80;
    let text = v.to_string();
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    format!("{cut}… ({})", type_name(v))
}

/// serde_json's message without its trailing " at line L column C".
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Python's `json.dump` writes non-finite floats as the bare words `NaN`,
/// `Infinity` and `-Infinity`, which are not JSON. Outside strings they are
/// turned into the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, so the
/// file parses and each field decides what a non-finite value means.
fn quote_python_non_finite(text: &str) -> Cow<'_, str> {
    if !text.contains("NaN") && !text.contains("Infinity") {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(word) = NON_FINITE.iter().find(|w| rest.starts_with(**w)) {
            out.push('"');
            out.push_str(word);
            out.push('"');
            rest = &rest[word.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        ModelMeta::from_json_str(text)
            .expect_err("accepted")
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn defaults_and_fallback_feature_keys() {
        let m = ModelMeta::from_json_str(r#"{"features": ["ret_1d", "macd"], "extra": {"x": 1}}"#)
            .unwrap();
        assert_eq!(m.feature_list, ["ret_1d", "macd"]);
        assert_eq!(m.feature_key, Some("features"));
        assert_eq!(m.input_mode, InputMode::Features);
        assert_eq!(m.sequence_channels, Channel::OHLCV);
        assert_eq!(m.sequence_normalization, SequenceNormalization::Returns);
        assert_eq!((m.ic, m.ic_prior()), (None, 0.0));
        assert!(!m.cross_sectional_ranking);

        let m = ModelMeta::from_json_str(
            r#"{"feature_list": ["a"], "feature_names": ["b"], "metrics": {"ic": 0.04},
                "cross_sectional_ranking": {"enabled": true}, "interval_minutes": 5}"#,
        )
        .unwrap();
        assert_eq!(
            (m.feature_list, m.feature_key),
            (vec!["a".into()], Some("feature_list"))
        );
        assert_eq!(m.ic, Some(0.04));
        assert!(m.cross_sectional_ranking);
        assert_eq!(m.interval_minutes, Some(5.0));
    }

    #[test]
    fn python_non_finite_words_parse_and_ic_counts_as_absent() {
        let m = ModelMeta::from_json_str(
            r#"{"feature_list": ["NaN"], "metrics": {"ic": NaN, "sharpe": -Infinity}}"#,
        )
        .unwrap();
        assert_eq!(m.feature_list, ["NaN"], "strings are left alone");
        assert_eq!((m.ic, m.ic_prior()), (None, 0.0));
        let p = problems(r#"{"interval_minutes": Infinity}"#);
        assert_eq!(
            p,
            ["`interval_minutes` is \"Infinity\", expected a number > 0 (minutes per training bar)"]
        );
    }

    #[test]
    fn raw_sequence_needs_a_length_and_valid_channels() {
        let p =
            problems(r#"{"input_mode": "raw_sequence", "sequence_channels": ["Close", "vwap"]}"#);
        assert_eq!(
            p,
            [
                "`sequence_length` is missing; it is required when `input_mode` is `raw_sequence`",
                "`sequence_channels[1]` is \"vwap\", expected one of open, high, low, close, volume",
            ]
        );
        let m = ModelMeta::from_json_str(
            r#"{"input_mode": "raw_sequence", "sequence_length": 32, "sequence_channels": ["Close"],
                "sequence_normalization": "minmax"}"#,
        )
        .unwrap();
        assert_eq!(m.sequence_length, Some(32));
        assert_eq!(m.sequence_channels, [Channel::Close]);
        assert!(!m.sequence_normalization.needs_previous_bar());
    }

    #[test]
    fn every_bad_field_is_reported_with_value_and_allowed() {
        let p = problems(
            r#"{"feature_list": ["ok", 3], "model_checksum": 12, "input_mode": "tabular",
                "sequence_length": 0, "sequence_normalization": "zscore", "interval_minutes": -1,
                "metrics": {"ic": "high"}, "cross_sectional_ranking": {"enabled": "yes"},
                "n_features": -2}"#,
        );
        assert_eq!(p.len(), 9, "{p:#?}");
        assert!(p[0].starts_with("`feature_list[1]` is 3"), "{}", p[0]);
        assert!(p[2].contains("\"tabular\", expected one of features, raw_sequence"));
        assert!(p[3].starts_with("`sequence_length` is 0, expected an integer >= 1"));
        assert!(p[4].contains("one of returns, log_returns, minmax, none"));
    }

    #[test]
    fn syntax_errors_name_line_and_column() {
        let p = problems("{\n  \"feature_list\": [\"ret_1d\",\n");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("not valid JSON at line 3, column 0: EOF"),
            "{}",
            p[0]
        );
        assert_eq!(
            problems("[1, 2]"),
            ["the top level is a list, expected a JSON object"]
        );
    }

    #[test]
    fn errors_display_the_file_and_the_fix() {
        let e = MetaErrors {
            path: PathBuf::from("run/model_meta.json"),
            problems: vec![MetaProblem::Missing {
                field: "sequence_length",
                when: "when `input_mode` is `raw_sequence`",
            }],
        };
        let text = e.to_string();
        assert!(text.starts_with("run/model_meta.json: `sequence_length` is missing"));
        assert!(text.contains("fix: add `sequence_length` to model_meta.json"));
    }
}
