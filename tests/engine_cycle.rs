//! Restart inside an engine-cycle scenario: the state persisted to JSON and
//! reloaded must carry the cycle counter, cash, positions, marks, kill
//! switch, peak and day start, cooldowns and the bandit across the restart
//! (SPEC §18.3); only the in-memory model statistics start over.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::Path;

use live_trading::conformance::stages::engine_cycle;
use serde_json::Value;

fn cases() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/vectors/engine_cycle.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

/// Fields of a cycle that depend only on persisted state and the cycle's
/// own quotes, not on model statistics.
const CARRIED: &[&str] = &[
    "cycle_number",
    "state",
    "kill_reason",
    "session_date",
    "daily_pnl",
    "drawdown",
    "portfolio_value",
];

#[test]
fn restart_carries_the_persisted_state_of_every_scenario() {
    for case in cases() {
        let name = case["name"].as_str().unwrap().to_owned();
        let input = &case["input"];
        let plain = engine_cycle::run(input).unwrap();
        let n = input["cycles"].as_array().unwrap().len();
        for k in 1..n {
            let mut restarted = input.clone();
            restarted["cycles"][k]["restart"] = Value::Bool(true);
            let out = engine_cycle::run(&restarted).unwrap_or_else(|e| panic!("{name}[{k}]: {e}"));
            // Everything before the restart is untouched.
            for j in 0..k {
                assert_eq!(
                    out["cycles"][j], plain["cycles"][j],
                    "{name}: cycle {j}, restart at {k}"
                );
            }
            // The restarted cycle starts from the same persisted state.
            for field in CARRIED {
                assert_eq!(
                    out["cycles"][k][field], plain["cycles"][k][field],
                    "{name}: {field} of cycle {k} after a restart"
                );
            }
            if let Some(b) = plain["cycles"][k - 1].get("bandit") {
                assert_eq!(
                    out["cycles"][k - 1]["bandit"]["T"],
                    b["T"],
                    "{name}: bandit T"
                );
            }
        }
    }
}

#[test]
fn restart_forgets_model_statistics() {
    // The demotion scenario needs realised IC pairs: a restart just before
    // its first demotion starts the pairs over, so that decision changes.
    let case = cases()
        .into_iter()
        .find(|c| c["name"] == "model_demotion_from_realized_ic")
        .unwrap();
    let input = &case["input"];
    let plain = engine_cycle::run(input).unwrap();
    let cycles = plain["cycles"].as_array().unwrap();
    let first = cycles
        .iter()
        .position(|c| {
            c["decisions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| !d["demoted"].as_array().unwrap().is_empty())
        })
        .expect("the scenario demotes a model");
    let mut restarted = input.clone();
    restarted["cycles"][first]["restart"] = Value::Bool(true);
    let out = engine_cycle::run(&restarted).unwrap();
    let demoted = |c: &Value| -> usize {
        c["decisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["demoted"].as_array().unwrap().len())
            .sum()
    };
    assert!(demoted(&cycles[first]) > 0);
    assert_eq!(
        demoted(&out["cycles"][first]),
        0,
        "statistics survived the restart"
    );
}
