//! The `conformance` command as users run it: real binary, real files.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_live-trading"))
}

fn vectors(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/vectors")
        .join(name)
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("lt-conformance-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn passing_file_exits_zero_with_one_line_per_case() {
    let out = bin()
        .arg("conformance")
        .arg(vectors("temperature.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let cases = stdout
        .lines()
        .filter(|l| l.starts_with("temperature/"))
        .count();
    assert_eq!(cases, 13, "{stdout}");
    assert!(stdout.contains("13 passed, 0 failed"), "{stdout}");
}

#[test]
fn a_changed_expected_value_fails_and_names_the_field() {
    let text = std::fs::read_to_string(vectors("cost_model.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let first = &mut doc["cases"][0];
    let name = first["name"].as_str().unwrap().to_owned();
    let total = first["expected"]["total_cost"].as_f64().unwrap();
    first["expected"]["total_cost"] = serde_json::json!(total + 1.0);
    let path = temp_dir("changed").join("cost_model_changed.json");
    std::fs::write(&path, serde_json::to_string(&doc).unwrap()).unwrap();

    let out = bin().arg("conformance").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("cost_model/{name}:")))
        .unwrap_or_else(|| panic!("no line for {name}: {stdout}"));
    assert!(line.contains("FAIL total_cost: expected"), "{line}");
    assert!(stdout.contains("1 failed"), "{stdout}");
}

#[test]
fn engine_cycle_cases_run_through_the_engine() {
    let out = bin()
        .arg("conformance")
        .arg(vectors("engine_cycle.json"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(!stdout.contains(": not run"), "{stdout}");
    assert!(
        stdout.contains("12 passed, 0 failed, 0 not run"),
        "{stdout}"
    );
}

#[test]
fn unknown_stage_and_broken_json_are_clear_errors() {
    let dir = temp_dir("bad");
    let unknown = dir.join("unknown.json");
    std::fs::write(&unknown, r#"{"stage": "telepathy", "cases": []}"#).unwrap();
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let out = bin()
        .arg("conformance")
        .arg(&unknown)
        .arg(&broken)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("unknown stage `telepathy`"), "{stderr}");
    assert!(stderr.contains("broken.json: not valid JSON"), "{stderr}");
}
