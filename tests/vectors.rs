//! Every vector file in `tests/data/vectors/` runs through the same code path
//! as the `conformance` command; any failing case fails the suite.
//! `engine_cycle` runs through the real cycle engine.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use live_trading::conformance::{self, Outcome};

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors")
}

fn check_file(name: &str) {
    let path = vector_dir().join(format!("{name}.json"));
    let report = conformance::run_file(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        report.stage, name,
        "file {name}.json declares another stage"
    );
    assert!(!report.cases.is_empty(), "{name}.json has no cases");
    let bad: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .map(|c| format!("{}/{}: {}", report.stage, c.name, c.outcome))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} cases did not pass:\n{}",
        bad.len(),
        report.cases.len(),
        bad.join("\n")
    );
}

macro_rules! vector_tests {
    ($($stage:ident),* $(,)?) => {
        $( #[test] fn $stage() { check_file(stringify!($stage)); } )*
        const COVERED: &[&str] = &[$(stringify!($stage)),*];
    };
}

vector_tests!(
    arbiter,
    bandit,
    barrier_gate,
    confidence,
    cost_model,
    engine_cycle,
    exits,
    features,
    horizon_blend,
    horizons,
    paper_broker,
    reward,
    ridge_weights,
    risk_guardrails,
    sizing,
    spread_gate,
    temperature,
    volatility,
    zscore,
);

/// No vector file can be added without being run by a test above.
#[test]
fn every_vector_file_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(vector_dir())
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    files.sort();
    for f in &files {
        assert!(
            COVERED.contains(&f.as_str()),
            "tests/data/vectors/{f}.json is not run by tests/vectors.rs"
        );
    }
    assert_eq!(files.len(), COVERED.len());
}

/// Adapters must not depend on case names or order: the same cases renamed
/// and reversed, as a file the code has never seen, still pass.
#[test]
fn renamed_and_reordered_cases_still_pass() {
    for stage in COVERED {
        let text = std::fs::read_to_string(vector_dir().join(format!("{stage}.json"))).unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases = doc["cases"].as_array_mut().unwrap();
        cases.reverse();
        for (i, c) in cases.iter_mut().enumerate() {
            c["name"] = serde_json::Value::String(format!("unseen_{i}"));
        }
        let report = conformance::run_document(&doc).unwrap();
        assert!(report.ok(), "{stage}: {:?}", report.cases);
        assert_eq!(report.count(|o| *o == Outcome::Pass), report.cases.len());
    }
}
