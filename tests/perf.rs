//! The fast paths of prediction against the plain ones, on the committed
//! models: the tree evaluators (bit-vector, compiled walk, the walk over the
//! arrays, and the `.ltw` file evaluated in place on its bit-vector
//! section) give the same sum bit for bit on the 200-tree bench model and
//! match LightGBM's own predictions; the predict stage, which gathers each distinct feature
//! list once per call, gives every model of the sample run exactly what
//! its back-end gives on a row gathered for it alone.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use live_trading::features::{FeatureState, ModelFeatures, RowStatus};
use live_trading::feed::sim::{MarketSim, SimParams};
use live_trading::models::artifact::{ModelPlan, PlanSettings};
use live_trading::models::backend::Backend;
use live_trading::models::lightgbm::LightGbmModel;
use live_trading::models::ltw::{self, LtwModel};
use live_trading::models::predict::Predictors;
use live_trading::models::Predictor;
use live_trading::testkit::SplitMix;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lt-perf-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

#[test]
fn tree_evaluators_agree_bit_for_bit_and_match_lightgbm() {
    let bench = root().join("tests/data/models/bench");
    let mut model = LightGbmModel::load(bench.join("lightgbm_200.txt")).unwrap();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(bench.join("lightgbm_200.json")).unwrap())
            .unwrap();
    let dir = temp_dir("trees");
    let path = dir.join("m.ltw");
    ltw::write_lightgbm(&path, &model).unwrap();
    let mut mapped = LtwModel::open(&path).unwrap();
    assert!(mapped.bit_vector().is_some(), "the writer adds the section");

    let ensemble = model.ensemble().clone();
    let compiled = ensemble.compiled().expect("32 features: compiled walk");
    if std::arch::is_x86_feature_detected!("avx2") {
        assert!(ensemble.bitvec().is_some(), "32 features, 31 leaves, AVX2");
    }
    let check = |row: &[f32], mapped: &mut LtwModel| -> f64 {
        let want = ensemble.view().sum_f32(row).unwrap();
        assert_eq!(bits(ensemble.sum_f32(row)), Some(want.to_bits()), "{row:?}");
        assert_eq!(bits(compiled.sum(row)), Some(want.to_bits()), "{row:?}");
        if let Some(b) = ensemble.bitvec() {
            assert_eq!(bits(b.sum(row)), Some(want.to_bits()), "{row:?}");
        }
        assert_eq!(bits(mapped.raw_f32(row)), Some(want.to_bits()), "{row:?}");
        want
    };

    // LightGBM's predictions for the committed rows.
    let rows = doc["rows"].as_array().unwrap();
    let expected = doc["expected"].as_array().unwrap();
    assert_eq!(rows.len(), expected.len());
    for (row, e) in rows.iter().zip(expected) {
        let row: Vec<f32> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let e = e.as_f64().unwrap();
        let got = check(&row, &mut mapped);
        assert!((got - e).abs() <= 1e-12 * e.abs(), "{got} vs LightGBM {e}");
        assert_eq!(model.predict(&row), Some(got));
    }
    // Random rows, with values exactly on thresholds and around them.
    let thresholds: Vec<f64> = ensemble.nodes().iter().map(|n| n.threshold).collect();
    let mut rng = SplitMix::new(5);
    for _ in 0..300 {
        let row: Vec<f32> = (0..32)
            .map(|_| {
                let t = thresholds[(rng.next_u64() % thresholds.len() as u64) as usize] as f32;
                match rng.next_u64() % 5 {
                    0 => t,
                    1 => t.next_up(),
                    2 => t.next_down(),
                    3 => 0.0,
                    _ => (3.0 * rng.unit()) as f32,
                }
            })
            .collect();
        check(&row, &mut mapped);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn shared_rows_give_every_model_what_its_back_end_gives() {
    let plan = ModelPlan::load(&root().join("config/sample-run"), &PlanSettings::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut predictors = Predictors::load(&plan, 300).unwrap();
    predictors.warm_up();
    // The references: each model loaded on its own, with its own row.
    let mut alone: Vec<(Backend, ModelFeatures, Vec<f32>)> = plan
        .models()
        .iter()
        .map(|m| {
            let features = predictors.feature_set().model(&m.features).unwrap();
            let row = vec![0.0; m.features.len()];
            (Backend::load(m).unwrap(), features, row)
        })
        .collect();
    let mut sim = MarketSim::new(SimParams {
        days: 1,
        ..SimParams::default()
    })
    .unwrap();
    let mut state = FeatureState::new(predictors.feature_set());
    let mut symbol = predictors.symbol_state();
    let mut out = vec![0.0; predictors.len()];
    let mut compared = 0;
    while let Some(event) = sim.next_event() {
        let Some((s, bar)) = event.bar() else {
            continue;
        };
        if s.index() != 0 {
            continue;
        }
        state.push_bar(bar.open, bar.high, bar.low, bar.close, bar.volume);
        predictors.on_bar(&mut symbol, &state, &bar);
        predictors.predict(&symbol, &state, &mut out);
        for (m, (backend, features, row)) in plan.models().iter().zip(alone.iter_mut()) {
            let got = out[m.id.index()];
            if features.gather_f32(&state, row) != RowStatus::Ready {
                assert!(got.is_nan(), "{}: {got} on a row that is not ready", m.name);
                continue;
            }
            let want = backend.predict(row).unwrap();
            let want = if m.is_barrier() {
                want.clamp(0.0, 1.0)
            } else {
                want
            };
            assert_eq!(got.to_bits(), want.to_bits(), "{}: {got} vs {want}", m.name);
            compared += 1;
        }
    }
    assert!(compared > 24 * 300, "{compared} predictions compared");
}
