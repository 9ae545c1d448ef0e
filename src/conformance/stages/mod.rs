//! One vector adapter per stage: JSON case input → real stage code → JSON
//! output in the vector's field names.
//!
//! Cold path. Adapters convert at the edge only; the stage code they call is
//! the same code the engine runs.

pub mod arbiter;
pub mod bandit;
pub mod barrier_gate;
pub mod confidence;
pub mod cost_model;
pub mod engine_cycle;
pub mod exits;
pub mod features;
pub mod horizon_blend;
pub mod horizons;
pub mod paper_broker;
pub mod reward;
pub mod ridge_weights;
pub mod risk_guardrails;
pub mod sizing;
pub mod spread_gate;
pub mod temperature;
pub mod volatility;
pub mod zscore;

use super::StageFn;

/// Every stage name the conformance command understands.
pub const STAGES: &[&str] = &[
    "horizons",
    "volatility",
    "features",
    "zscore",
    "confidence",
    "ridge_weights",
    "temperature",
    "horizon_blend",
    "cost_model",
    "arbiter",
    "spread_gate",
    "barrier_gate",
    "exits",
    "sizing",
    "risk_guardrails",
    "paper_broker",
    "bandit",
    "reward",
    "engine_cycle",
];

/// The adapter of a stage name.
pub fn adapter(stage: &str) -> Option<StageFn> {
    let f: StageFn = match stage {
        "horizons" => horizons::run,
        "volatility" => volatility::run,
        "features" => features::run,
        "zscore" => zscore::run,
        "confidence" => confidence::run,
        "ridge_weights" => ridge_weights::run,
        "temperature" => temperature::run,
        "horizon_blend" => horizon_blend::run,
        "cost_model" => cost_model::run,
        "arbiter" => arbiter::run,
        "spread_gate" => spread_gate::run,
        "barrier_gate" => barrier_gate::run,
        "exits" => exits::run,
        "sizing" => sizing::run,
        "risk_guardrails" => risk_guardrails::run,
        "paper_broker" => paper_broker::run,
        "bandit" => bandit::run,
        "reward" => reward::run,
        "engine_cycle" => engine_cycle::run,
        _ => return None,
    };
    Some(f)
}
