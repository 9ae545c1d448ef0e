//! The committed sample run (`config/sample-run/`, written by
//! `tools/export_model.py train` from the simulator's dataset): it loads
//! with the default config, `models inspect` describes it, every model
//! predicts what Python predicted on the committed fixture rows
//! (`tests/data/models/sample-run/predictions.json`: LightGBM's
//! `Booster.predict`, onnxruntime for ONNX), and fed by the simulator
//! through the engine's own features every model predicts after warm-up.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;

use live_trading::features::FeatureState;
use live_trading::feed::sim::{MarketSim, SimParams};
use live_trading::models::artifact::{ModelFormat, ModelPlan, PlanSettings};
use live_trading::models::backend::Backend;
use live_trading::models::onnx::OnnxEngine;
use live_trading::models::predict::Predictors;
use live_trading::models::Predictor;
use serde_json::Value;

const RUN: &str = "config/sample-run";
const FIXTURES: &str = "tests/data/models/sample-run/predictions.json";

fn plan() -> ModelPlan {
    ModelPlan::load(Path::new(RUN), &PlanSettings::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn loads_with_the_default_config_six_horizons_three_families_and_barriers() {
    let plan = plan();
    assert_eq!(plan.len(), 24);
    let horizons: Vec<&str> = plan.horizons().labels().collect();
    assert_eq!(horizons, ["5m", "10m", "15m", "30m", "60m", "1d"]);
    for (h, models) in plan.by_horizon().iter().enumerate() {
        assert_eq!(models.returns.len(), 3, "horizon {}", horizons[h]);
        let families: Vec<&str> = models
            .returns
            .iter()
            .map(|&id| plan.model(id).unwrap().family.as_str())
            .collect();
        assert_eq!(families, ["LightGBM", "MLP", "Ridge"]);
        let barriers = if h == 0 { 3 } else { 0 };
        assert_eq!(models.peaks.len(), barriers);
        assert_eq!(models.valleys.len(), barriers);
    }
    for m in plan.models() {
        let ic = m.ic_prior().expect("metrics.ic");
        assert!(ic.is_finite() && ic.abs() < 1.0, "{}: {ic}", m.name);
    }
    // Every warm-up fits the default history.
    assert!(plan.warmup_bars() <= 300);
}

#[test]
fn rust_predictions_match_the_committed_python_predictions() {
    let plan = plan();
    let mut predictors = Predictors::load(&plan, 300).unwrap_or_else(|e| panic!("{e}"));
    let fixtures: Value =
        serde_json::from_str(&std::fs::read_to_string(FIXTURES).unwrap()).unwrap();
    let models = fixtures["models"].as_array().unwrap();
    assert_eq!(models.len(), plan.len(), "a fixture per model");
    let mut checked = 0;
    for fixture in models {
        let name = fixture["id"].as_str().unwrap();
        let id = plan
            .id_of(name)
            .unwrap_or_else(|| panic!("{name} not in the run"));
        let planned = plan.model(id).unwrap();
        let listed: Vec<&str> = fixture["feature_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(listed, planned.meta.feature_list, "{name}");
        let format = match fixture["format"].as_str().unwrap() {
            "lightgbm-text" => ModelFormat::LightGbmText,
            "onnx" => ModelFormat::Onnx,
            other => panic!("{name}: format {other}"),
        };
        assert_eq!(planned.format, format, "{name}");
        let backend = predictors.backend_mut(id).unwrap();
        if let Backend::Onnx(m) = backend {
            assert_eq!(m.engine(), OnnxEngine::Native, "{name}: {}", m.describe());
        }
        let rows = fixture["rows"].as_array().unwrap();
        let expected = fixture["expected"].as_array().unwrap();
        assert_eq!(rows.len(), 16, "{name}");
        for (r, (row, e)) in rows.iter().zip(expected).enumerate() {
            let row: Vec<f32> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| {
                    let x = v.as_f64().unwrap();
                    let f = x as f32;
                    assert_eq!(f64::from(f), x, "{name} row {r}: not an f32 value");
                    f
                })
                .collect();
            let e = e.as_f64().unwrap();
            let a = backend.predict(&row).unwrap();
            // LightGBM: the same f64 sum in the same order. ONNX: f32
            // arithmetic in another order than onnxruntime's: within 1e-5
            // relative, plus a floor for values near zero.
            let tolerance = match format {
                ModelFormat::LightGbmText => 1e-12 * e.abs(),
                _ => 1e-5 * e.abs() + 1e-9,
            };
            assert!(
                (a - e).abs() <= tolerance,
                "{name} row {r}: Rust {a}, Python {e}, diff {:e}",
                (a - e).abs()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 24 * 16);
}

#[test]
fn models_inspect_describes_the_sample_run() {
    let out = Command::new(env!("CARGO_BIN_EXE_live-trading"))
        .args(["models", "inspect", RUN])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "target fwd_ret_1d: horizon 1d, return",
        "target will_peak_5m: horizon 5m, barrier_peak",
        "warm-up: 21 bars",
        "model files: all 24 opened",
        "fwd_ret_5m/LightGBM: LightGBM regression, 40 trees",
        "will_valley_5m/LightGBM: LightGBM binary",
        "fwd_ret_5m/MLP: ONNX, native row program",
        "summary: 24 models loadable (18 return, 6 barrier)",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    assert!(
        !stdout.contains("tract"),
        "every model lowers natively:\n{stdout}"
    );
}

#[test]
fn fed_by_the_simulator_every_model_predicts_after_warm_up() {
    let plan = plan();
    let mut predictors = Predictors::load(&plan, 300).unwrap();
    predictors.warm_up();
    let mut sim = MarketSim::new(SimParams {
        days: 1,
        ..SimParams::default()
    })
    .unwrap();
    let n = sim.symbols().len();
    let mut features: Vec<FeatureState> = (0..n)
        .map(|_| FeatureState::new(predictors.feature_set()))
        .collect();
    let mut symbols: Vec<_> = (0..n).map(|_| predictors.symbol_state()).collect();
    let mut out = vec![0.0; predictors.len()];
    let mut bars = vec![0usize; n];
    let mut full = 0;
    while let Some(event) = sim.next_event() {
        let Some((symbol, bar)) = event.bar() else {
            continue;
        };
        let i = symbol.index();
        features[i].push_bar(bar.open, bar.high, bar.low, bar.close, bar.volume);
        predictors.on_bar(&mut symbols[i], &features[i], &bar);
        let counts = predictors.predict(&symbols[i], &features[i], &mut out);
        bars[i] += 1;
        if bars[i] >= plan.warmup_bars() {
            // Warm: every model predicts, unless a feature is NaN (RSI with
            // no down move in its window, SPEC §3), which skips them all
            // (they share their features).
            assert_eq!(counts.not_warm, 0, "bar {} of symbol {i}", bars[i]);
            assert_eq!(counts.bad_output, 0, "bar {} of symbol {i}", bars[i]);
            match counts.predicted {
                24 => full += 1,
                0 => assert_eq!(counts.bad_input, 24),
                other => panic!("bar {} of symbol {i}: {other} predictions", bars[i]),
            }
        } else {
            assert_eq!(counts.predicted, 0, "bar {} of symbol {i}", bars[i]);
        }
        for m in plan.barrier_models() {
            let p = out[m.id.index()];
            assert!(p.is_nan() || (0.0..=1.0).contains(&p), "{}: {p}", m.name);
        }
    }
    let warm = n * (390 - plan.warmup_bars() + 1);
    assert!(full > warm * 95 / 100 && full <= warm, "{full} of {warm}");
    // Return forecasts are small returns, not garbage.
    for m in plan.return_models() {
        let y = out[m.id.index()];
        assert!(y.abs() < 0.05, "{}: {y}", m.name);
    }
}
