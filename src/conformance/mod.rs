//! The `conformance` command: runs vector files (SPEC §0) through the real
//! stage code and compares every expected field.
//!
//! Cold path: runs on the main thread of the CLI and in `cargo test`. Each
//! stage has an adapter in [`stages`] that turns a case's JSON input into the
//! stage's typed inputs, runs the stage, and renders its outputs as JSON in
//! the vector's field names. The comparison ([`compare()`]) walks the expected
//! value and reports the first differing field with its path.

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

pub mod compare;
pub mod json;
pub mod stages;

use std::fmt;
use std::path::Path;

use serde_json::Value;

pub use compare::{compare, Mismatch, Tolerance};

/// Why a case could not produce an output.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseError {
    /// The case's input does not match the stage's schema.
    BadInput(String),
    /// The stage needs a component that is not built yet.
    NotRun(&'static str),
}

impl CaseError {
    /// Prefix the message with the field it came from.
    pub fn context(self, key: &str) -> CaseError {
        match self {
            CaseError::BadInput(m) => CaseError::BadInput(format!("`{key}`: {m}")),
            other => other,
        }
    }
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CaseError::BadInput(m) => write!(f, "bad input: {m}"),
            CaseError::NotRun(why) => write!(f, "not run: {why}"),
        }
    }
}

/// An adapter: one case's `input` to the stage's output in vector fields.
pub type StageFn = fn(&Value) -> Result<Value, CaseError>;

/// The outcome of one case.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(Mismatch),
    Error(String),
    NotRun(&'static str),
}

/// One case's name and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    pub name: String,
    pub outcome: Outcome,
}

/// The outcomes of every case of one file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub stage: String,
    pub cases: Vec<CaseReport>,
}

impl FileReport {
    /// Number of cases with the given kind of outcome.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| pred(&c.outcome)).count()
    }

    /// Whether no case failed or errored.
    pub fn ok(&self) -> bool {
        self.count(|o| matches!(o, Outcome::Fail(_) | Outcome::Error(_))) == 0
    }
}

/// Errors that stop a whole file from running.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not valid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path}: {msg}")]
    Schema { path: String, msg: String },
}

/// Read and run one vector file.
pub fn run_file(path: &Path) -> Result<FileReport, FileError> {
    let p = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| FileError::Io {
        path: p.clone(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|source| FileError::Json {
        path: p.clone(),
        source,
    })?;
    run_document(&doc).map_err(|msg| FileError::Schema { path: p, msg })
}

/// Run every case of a parsed vector document.
pub fn run_document(doc: &Value) -> Result<FileReport, String> {
    let stage = doc
        .get("stage")
        .and_then(Value::as_str)
        .ok_or("missing string field `stage`")?;
    let adapter = stages::adapter(stage).ok_or_else(|| {
        format!(
            "unknown stage `{stage}` (known: {})",
            stages::STAGES.join(", ")
        )
    })?;
    let tol = Tolerance::from_doc(doc.get("tolerance"))?;
    let cases = doc
        .get("cases")
        .and_then(Value::as_array)
        .ok_or("missing array field `cases`")?;
    let mut reports = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let name = case
            .get("name")
            .and_then(Value::as_str)
            .map_or_else(|| format!("case[{i}]"), str::to_owned);
        let outcome = run_case(adapter, case, tol);
        reports.push(CaseReport { name, outcome });
    }
    Ok(FileReport {
        stage: stage.to_owned(),
        cases: reports,
    })
}

fn run_case(adapter: StageFn, case: &Value, tol: Tolerance) -> Outcome {
    let (Some(input), Some(expected)) = (case.get("input"), case.get("expected")) else {
        return Outcome::Error("case needs `input` and `expected`".into());
    };
    match adapter(input) {
        Ok(actual) => match compare(expected, &actual, tol) {
            None => Outcome::Pass,
            Some(m) => Outcome::Fail(m),
        },
        Err(CaseError::NotRun(why)) => Outcome::NotRun(why),
        Err(e) => Outcome::Error(e.to_string()),
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Pass => f.write_str("pass"),
            Outcome::Fail(m) => write!(f, "FAIL {m}"),
            Outcome::Error(e) => write!(f, "ERROR {e}"),
            Outcome::NotRun(why) => write!(f, "not run: {why}"),
        }
    }
}
