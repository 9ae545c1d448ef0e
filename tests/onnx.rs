//! ONNX models against onnxruntime, the evaluator chosen for each, the
//! files the engine must refuse, and zero allocations per native
//! prediction.
//!
//! The fixtures in tests/data/models/onnx/ come from tools/onnx_fixtures.py
//! (versions pinned in tools/requirements-fixtures.txt): skl2onnx models,
//! hand-built graphs and onnxruntime's outputs for float32 rows, one row at
//! a time. No Python is needed here.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};

mod common;

use common::alloc::allocations;
use live_trading::models::onnx::{OnnxEngine, OnnxError, OnnxModel, OnnxProblem};
use live_trading::models::Predictor;
use serde_json::Value;

// ---- fixtures ---------------------------------------------------------------

/// The brief's tolerance against onnxruntime: `1e-5·max(1, |y|)`.
const TOLERANCE: f64 = 1e-5;

/// Fixtures that must lower to the native program.
const NATIVE: [&str; 8] = [
    "ridge.onnx",
    "mlp_relu.onnx",
    "mlp_tanh.onnx",
    "logreg.onnx",
    "mlp_classifier.onnx",
    "gemm_softmax.onnx",
    "broadcast.onnx",
    "opset11.onnx",
];

/// The fixture with an op the lowering does not handle (Erf).
const FALLBACK: &str = "erf.onnx";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models/onnx")
        .join(name)
}

struct Case {
    model: String,
    n_features: usize,
    rows: Vec<Vec<f32>>,
    outputs: Vec<f64>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            model: c["model"].as_str().unwrap().to_owned(),
            n_features: c["n_features"].as_u64().unwrap() as usize,
            rows: c["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().parse::<f32>().unwrap())
                        .collect()
                })
                .collect(),
            outputs: c["outputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect(),
        })
        .collect()
}

fn case(name: &str) -> Case {
    cases().into_iter().find(|c| c.model == name).unwrap()
}

fn load(name: &str, n_features: usize) -> OnnxModel {
    OnnxModel::load(&fixture(name), n_features).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn fixtures_cover_every_model() {
    let names: Vec<String> = cases().into_iter().map(|c| c.model).collect();
    for name in NATIVE.iter().chain([&FALLBACK]) {
        assert!(
            names.iter().any(|n| n == name),
            "{name} has no expected outputs"
        );
    }
    for c in cases() {
        assert!(c.rows.len() >= 20, "{}", c.model);
        assert_eq!(c.rows.len(), c.outputs.len(), "{}", c.model);
        assert!(
            c.rows.iter().all(|r| r.len() == c.n_features),
            "{}",
            c.model
        );
    }
}

#[test]
fn every_fixture_matches_onnxruntime() {
    for c in cases() {
        let mut model = load(&c.model, c.n_features);
        assert_eq!(model.n_features(), c.n_features);
        for (i, (row, &want)) in c.rows.iter().zip(&c.outputs).enumerate() {
            let got = model.predict(row).unwrap();
            assert!(
                (got - want).abs() <= TOLERANCE * want.abs().max(1.0),
                "{} row {i}: engine {got}, onnxruntime {want} ({})",
                c.model,
                model.describe()
            );
        }
    }
}

#[test]
fn supported_graphs_run_natively_and_the_rest_through_tract() {
    for name in NATIVE {
        let model = load(name, case(name).n_features);
        assert_eq!(
            model.engine(),
            OnnxEngine::Native,
            "{name}: {}",
            model.describe()
        );
        assert!(
            model.describe().starts_with("native"),
            "{}",
            model.describe()
        );
    }
    let model = load(FALLBACK, case(FALLBACK).n_features);
    assert_eq!(model.engine(), OnnxEngine::Tract);
    let text = model.describe();
    assert!(text.contains("tract") && text.contains("Erf"), "{text}");
}

#[test]
fn the_tract_fallback_reuses_its_state_across_predictions() {
    let c = case(FALLBACK);
    let mut model = load(FALLBACK, c.n_features);
    // Twice over the rows, in alternating order: no state leaks between runs.
    for pass in 0..2 {
        for (row, &want) in c.rows.iter().zip(&c.outputs).rev().skip(pass) {
            let got = model.predict(row).unwrap();
            assert!((got - want).abs() <= TOLERANCE * want.abs().max(1.0));
        }
    }
    assert_eq!(model.predict(&[0.0; 2]), None);
}

#[test]
fn wrong_row_length_predicts_nothing() {
    let mut model = load("ridge.onnx", 6);
    assert_eq!(model.predict(&[0.0; 5]), None);
    assert_eq!(model.predict(&[0.0; 7]), None);
    assert_eq!(model.predict(&[]), None);
    assert!(model.predict(&[0.0; 6]).is_some());
}

#[test]
fn non_finite_inputs_give_non_finite_outputs_without_panicking() {
    let mut ridge = load("ridge.onnx", 6);
    assert!(ridge.predict(&[f32::NAN; 6]).unwrap().is_nan());
    let mut mlp = load("mlp_classifier.onnx", 4);
    assert!(mlp.predict(&[f32::NAN, 0.0, 1.0, 2.0]).unwrap().is_nan());
    let p = mlp.predict(&[f32::INFINITY, 0.0, 0.0, 0.0]).unwrap();
    assert!(p.is_nan() || (0.0..=1.0).contains(&p));
}

#[test]
fn models_are_send() {
    fn send<T: Send>() {}
    send::<OnnxModel>();
    // And keep predicting after moving to another thread.
    let c = case(FALLBACK);
    let mut model = load(FALLBACK, c.n_features);
    model.predict(&c.rows[0]).unwrap();
    let got = std::thread::spawn(move || model.predict(&c.rows[1]).unwrap())
        .join()
        .unwrap();
    assert!((got - c.outputs[1]).abs() <= TOLERANCE * c.outputs[1].abs().max(1.0));
}

// ---- zero allocations --------------------------------------------------------

#[test]
fn the_counter_sees_allocations() {
    let n = allocations(|| {
        let v: Vec<u64> = (0..100).collect();
        std::hint::black_box(v);
    });
    assert!(n >= 1);
}

#[test]
fn native_predictions_allocate_nothing_after_warm_up() {
    for name in NATIVE {
        let c = case(name);
        let mut model = load(name, c.n_features);
        let mut sink = 0.0;
        // One warm-up call, then every row.
        sink += model.predict(&c.rows[0]).unwrap();
        let n = allocations(|| {
            for row in &c.rows {
                sink += model.predict(row).unwrap();
            }
        });
        std::hint::black_box(sink);
        assert_eq!(
            n,
            0,
            "{name}: {n} allocations in {} predictions",
            c.rows.len()
        );
    }
}

#[test]
fn the_tract_fallback_does_allocate() {
    // The reason `engine()` reports it: start-up warns about this model.
    let c = case(FALLBACK);
    let mut model = load(FALLBACK, c.n_features);
    model.predict(&c.rows[0]).unwrap();
    let n = allocations(|| {
        model.predict(&c.rows[1]).unwrap();
    });
    assert!(n > 0);
}

// ---- files the engine must refuse -------------------------------------------

/// A fresh directory for this test's bad files.
fn temp_dir(test: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("onnx-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` as `<dir>/model.onnx` and loads it, expecting a refusal.
fn refuse(test: &str, bytes: &[u8], n_features: usize) -> (PathBuf, OnnxError) {
    let path = temp_dir(test).join("model.onnx");
    std::fs::write(&path, bytes).unwrap();
    let err = OnnxModel::load(&path, n_features).expect_err("bad model accepted");
    (path, err)
}

/// Every refusal names the file and says how to fix it.
fn assert_message(path: &Path, err: &OnnxError, contains: &[&str]) {
    let text = err.to_string();
    assert_eq!(err.path, path);
    assert!(text.starts_with(&path.display().to_string()), "{text}");
    assert!(text.contains("fix: "), "{text}");
    assert!(!err.fix().is_empty());
    for part in contains {
        assert!(text.contains(part), "{text:?} lacks {part:?}");
    }
}

#[test]
fn truncated_files_are_refused() {
    let bytes = std::fs::read(fixture("ridge.onnx")).unwrap();
    for cut in [1, 10, bytes.len() / 2, bytes.len() - 3, bytes.len() - 1] {
        let (path, err) = refuse(&format!("truncated-{cut}"), &bytes[..cut], 6);
        assert_message(&path, &err, &["model.onnx"]);
        assert!(
            matches!(
                err.problem,
                OnnxProblem::NotOnnx { .. }
                    | OnnxProblem::NoGraph
                    | OnnxProblem::NoOpset
                    | OnnxProblem::Malformed { .. }
            ),
            "cut at {cut}: {err}"
        );
    }
    let (path, err) = refuse("empty", b"", 6);
    assert_message(&path, &err, &["empty"]);
}

#[test]
fn files_that_are_not_onnx_are_refused() {
    let text = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let (path, err) = refuse("text", &text, 6);
    assert_message(&path, &err, &["not ONNX", "re-export"]);
    let lightgbm = b"tree\nversion=v4\nnum_class=1\n";
    let (path, err) = refuse("lightgbm", lightgbm, 6);
    assert_message(&path, &err, &["not ONNX"]);
    let missing = temp_dir("missing").join("model.onnx");
    let err = OnnxModel::load(&missing, 6).unwrap_err();
    assert_message(&missing, &err, &["cannot read"]);
}

#[test]
fn classifiers_with_two_outputs_are_refused() {
    let path = fixture("two_outputs.onnx");
    let err = OnnxModel::load(&path, 4).unwrap_err();
    assert_message(
        &path,
        &err,
        &[
            "2 outputs (label, probabilities)",
            "tools/export_model.py",
            "P(class 1)",
        ],
    );
}

#[test]
fn outputs_with_two_values_per_row_are_refused() {
    let path = fixture("wide_output.onnx");
    let err = OnnxModel::load(&path, 3).unwrap_err();
    assert!(
        matches!(err.problem, OnnxProblem::OutputShape { .. }),
        "{err}"
    );
    assert_message(&path, &err, &["[1, 2]", "exactly one", "P(class 1)"]);
}

#[test]
fn a_wrong_input_width_is_refused_naming_both_numbers() {
    let path = fixture("ridge.onnx");
    let err = OnnxModel::load(&path, 5).unwrap_err();
    assert_eq!(
        err.problem,
        OnnxProblem::Width {
            model: 6,
            expected: 5
        }
    );
    assert_message(&path, &err, &["6 features", "has 5", "feature_list"]);
    // Also for the tract fallback.
    let path = fixture(FALLBACK);
    let err = OnnxModel::load(&path, 4).unwrap_err();
    assert_message(&path, &err, &["3 features", "has 4"]);
}
