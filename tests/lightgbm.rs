//! LightGBM text models against LightGBM itself, and the files the engine
//! must refuse at start-up.
//!
//! The fixtures in tests/data/models/lightgbm/ come from
//! tools/lightgbm_fixtures.py (versions pinned in
//! tools/requirements-fixtures.txt): real `booster.save_model` files and
//! Python's predictions for float32 rows. No Python is needed here.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};

use live_trading::models::lightgbm::{LightGbmError, LightGbmErrorKind, LightGbmModel, Objective};
use live_trading::models::tree::{
    ChildRef, DEFAULT_LEFT, MISSING_NAN, MISSING_NONE, MISSING_TYPE_MASK, MISSING_ZERO,
};
use live_trading::models::Predictor;
use serde_json::Value;

/// The regression fixture's feature names (tools/lightgbm_fixtures.py).
const FEATURES: [&str; 6] = [
    "ret_1",
    "ret_5",
    "vol_20",
    "rsi_14",
    "macd_hist",
    "volume_ma_ratio",
];

/// The brief's tolerance against Python LightGBM.
const TOLERANCE: f64 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models/lightgbm")
        .join(name)
}

fn load(name: &str) -> LightGbmModel {
    LightGbmModel::load(fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn expected() -> Value {
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        Value::String(s) => s.parse().unwrap(),
        other => panic!("not a number: {other}"),
    }
}

fn row_f32(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse::<f32>().unwrap())
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

#[test]
fn predictions_match_python_lightgbm() {
    let doc = expected();
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 6, "one case per good model");
    let (mut max_diff, mut rows, mut exact) = (0.0_f64, 0_usize, 0_usize);
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let mut model = load(name);
        assert_eq!(
            model.n_features() as u64,
            case["n_features"].as_u64().unwrap(),
            "{name}"
        );
        assert_eq!(
            model.ensemble().n_trees() as u64,
            case["num_trees"].as_u64().unwrap(),
            "{name}"
        );
        let inputs = case["rows"].as_array().unwrap();
        let preds = case["predictions"].as_array().unwrap();
        let raws = case["raw_scores"].as_array().unwrap();
        assert_eq!(inputs.len(), preds.len());
        assert_eq!(inputs.len(), raws.len());
        for (i, ((input, pred), raw)) in inputs.iter().zip(preds).zip(raws).enumerate() {
            let row = row_f32(input);
            let want = number(pred);
            let want_raw = number(raw);
            let got = model.predict(&row).unwrap();
            let got_raw = model.raw_f32(&row).unwrap();
            // The summation order is LightGBM's, so raw scores are bit-identical.
            assert!(
                same(got_raw, want_raw),
                "{name} row {i} {row:?}: raw {got_raw} vs {want_raw}"
            );
            let diff = (got - want).abs();
            assert!(diff <= TOLERANCE, "{name} row {i} {row:?}: {got} vs {want}");
            // The f64 entry point sees the same widened values.
            let row64: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
            assert!(
                same(model.predict_f64(&row64).unwrap(), got),
                "{name} row {i}"
            );
            max_diff = max_diff.max(diff);
            exact += usize::from(same(got, want));
            rows += 1;
        }
    }
    eprintln!("{rows} rows: max |rust - python| = {max_diff:e}, {exact} bit-identical");
    assert!(rows > 400);
}

#[test]
fn fixtures_exercise_what_they_claim() {
    let regression = load("regression.txt");
    assert_eq!(regression.ensemble().n_trees(), 50);
    assert_eq!(regression.objective(), Objective::Regression);
    assert!(!regression.averages_output());

    let binary = load("binary.txt");
    assert_eq!(binary.ensemble().n_trees(), 30);
    assert_eq!(binary.objective(), Objective::Binary { sigmoid: 0.8 });

    let decisions = |m: &LightGbmModel| -> Vec<u32> {
        m.ensemble().nodes().iter().map(|n| n.decision).collect()
    };
    let missing = |d: &u32| d & MISSING_TYPE_MASK;
    let nan = decisions(&load("missing_nan.txt"));
    assert!(nan
        .iter()
        .any(|d| missing(d) == MISSING_NAN && d & DEFAULT_LEFT != 0));
    assert!(nan
        .iter()
        .any(|d| missing(d) == MISSING_NAN && d & DEFAULT_LEFT == 0));
    let zero = decisions(&load("missing_zero.txt"));
    assert!(zero
        .iter()
        .any(|d| missing(d) == MISSING_ZERO && d & DEFAULT_LEFT != 0));
    assert!(zero
        .iter()
        .any(|d| missing(d) == MISSING_ZERO && d & DEFAULT_LEFT == 0));
    assert!(decisions(&regression)
        .iter()
        .all(|d| missing(d) == MISSING_NONE));

    assert!(load("random_forest.txt").averages_output());

    let constant = load("constant.txt");
    assert!(constant.ensemble().nodes().is_empty());
    let roots = constant.ensemble().roots();
    assert_eq!(roots.len(), 1);
    assert_eq!(ChildRef::decode(roots[0]), ChildRef::Leaf(0));
}

#[test]
fn predictor_is_total_on_odd_rows() {
    let specials = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        1e-45,
        f32::MAX,
    ];
    for name in [
        "regression.txt",
        "binary.txt",
        "missing_nan.txt",
        "missing_zero.txt",
        "random_forest.txt",
    ] {
        let mut model: Box<dyn Predictor> = Box::new(load(name));
        let n = model.n_features();
        assert_eq!(model.predict(&vec![0.0; n + 1]), None, "{name}");
        assert_eq!(model.predict(&vec![0.0; n - 1]), None, "{name}");
        assert_eq!(model.predict(&[]), None, "{name}");
        for (i, &a) in specials.iter().enumerate() {
            for &b in &specials[i..] {
                let row: Vec<f32> = (0..n).map(|j| if j % 2 == 0 { a } else { b }).collect();
                let p = model.predict(&row).unwrap();
                assert!(p.is_finite(), "{name} {row:?} -> {p}");
            }
        }
    }
}

// ---- files the engine must refuse ------------------------------------------

/// A fresh directory for this test's bad files.
fn temp_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("lightgbm-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `bytes` as `<dir>/model.txt` and loads it, expecting a refusal.
fn refuse(test: &str, bytes: &[u8]) -> (PathBuf, LightGbmError) {
    let path = temp_dir(test).join("model.txt");
    std::fs::write(&path, bytes).unwrap();
    let err = LightGbmModel::load(&path).expect_err("bad model accepted");
    (path, err)
}

/// Every refusal names the file and says how to fix it.
fn assert_message(path: &Path, err: &LightGbmError, contains: &str) {
    let msg = err.to_string();
    assert_eq!(err.path, path);
    assert!(
        msg.contains(&path.display().to_string()),
        "no path in: {msg}"
    );
    assert!(msg.contains("fix: "), "no fix in: {msg}");
    assert!(msg.contains(contains), "`{contains}` not in: {msg}");
}

fn text(name: &str) -> String {
    std::fs::read_to_string(fixture(name)).unwrap()
}

/// 1-based number of the first line of `text` that starts with `prefix`
/// after the line `after`.
fn line_of(text: &str, after: &str, prefix: &str) -> usize {
    let start = text.lines().position(|l| l == after).unwrap();
    start
        + 1
        + text
            .lines()
            .skip(start)
            .position(|l| l.starts_with(prefix))
            .unwrap()
}

#[test]
fn truncated_files_are_refused() {
    let good = text("regression.txt");
    for (test, cut) in [
        ("cut-mid-tree", good.len() / 2),
        ("cut-in-parameters", good.find("end of parameters").unwrap()),
    ] {
        let (path, err) = refuse(test, &good.as_bytes()[..cut]);
        assert!(
            matches!(err.kind, LightGbmErrorKind::Truncated { .. }),
            "{err}"
        );
        assert_message(&path, &err, "truncated");
    }
}

#[test]
fn garbage_is_refused() {
    // deterministic pseudo-random bytes
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        })
        .collect();
    let (path, err) = refuse("noise", &noise);
    assert!(
        matches!(err.kind, LightGbmErrorKind::NotText { .. }),
        "{err}"
    );
    assert_message(&path, &err, "not a text file");

    let (path, err) = refuse("json", br#"{"learner": {"gradient_booster": {}}}"#);
    assert!(
        matches!(err.kind, LightGbmErrorKind::NotAModel { .. }),
        "{err}"
    );
    assert_message(&path, &err, "expected `tree`");

    let (path, err) = refuse("empty", b"");
    assert!(matches!(err.kind, LightGbmErrorKind::Empty), "{err}");
    assert_message(&path, &err, "empty");

    // a good file with a corrupted number in a tree
    let bad = text("binary.txt").replacen("threshold=", "threshold=0.1.2 ", 1);
    let (path, err) = refuse("bad-number", bad.as_bytes());
    assert!(
        matches!(err.kind, LightGbmErrorKind::BadValue { .. }),
        "{err}"
    );
    assert_message(&path, &err, "`threshold` has `0.1.2");
}

#[test]
fn out_of_range_child_is_refused() {
    let good = text("regression.txt");
    let line = line_of(&good, "Tree=3", "left_child=");
    let bad: String = good
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == line {
                "left_child=1 99 -2 -3".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let (path, err) = refuse("child", bad.as_bytes());
    assert!(
        matches!(
            err.kind,
            LightGbmErrorKind::ChildOutOfRange {
                tree: 3,
                child: 99,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.line, Some(line));
    assert_message(&path, &err, "tree 3, node 1: left child 99 is out of range");

    // a child that points back up the tree (a cycle) is caught as well
    let bad = bad.replace("left_child=1 99 -2 -3", "left_child=1 0 -2 -3");
    let (path, err) = refuse("cycle", bad.as_bytes());
    assert!(
        matches!(err.kind, LightGbmErrorKind::Structure { tree: 3, .. }),
        "{err}"
    );
    assert_message(&path, &err, "not a valid tree");
}

#[test]
fn wrong_feature_count_is_refused() {
    let good = text("regression.txt");
    let bad = good.replacen("max_feature_idx=5", "max_feature_idx=6", 1);
    let (path, err) = refuse("names", bad.as_bytes());
    assert!(
        matches!(
            err.kind,
            LightGbmErrorKind::FeatureCount {
                names: 6,
                n_features: 7
            }
        ),
        "{err}"
    );
    assert_message(&path, &err, "`feature_names` has 6 names");

    let bad = good.replacen("max_feature_idx=5", "max_feature_idx=1", 1);
    let bad = bad.replacen(
        &format!("feature_names={}", FEATURES.join(" ")),
        "feature_names=ret_1 ret_5",
        1,
    );
    let (path, err) = refuse("split-feature", bad.as_bytes());
    assert!(
        matches!(
            err.kind,
            LightGbmErrorKind::FeatureOutOfRange { n_features: 2, .. }
        ),
        "{err}"
    );
    assert_message(&path, &err, "but the model has 2 features");

    // against model_meta.json's feature_list
    let model = load("regression.txt");
    assert_eq!(model.feature_names(), FEATURES);
    model.check_feature_list(&FEATURES).unwrap();
    let err = model.check_feature_list(&FEATURES[..2]).unwrap_err();
    assert!(
        matches!(
            err.kind,
            LightGbmErrorKind::FeatureListLength {
                expected: 2,
                found: 6
            }
        ),
        "{err}"
    );
    assert_message(&fixture("regression.txt"), &err, "model_meta.json");
    let mut swapped = FEATURES;
    swapped.swap(0, 1);
    let err = model.check_feature_list(&swapped).unwrap_err();
    assert!(
        matches!(err.kind, LightGbmErrorKind::FeatureName { index: 0, .. }),
        "{err}"
    );
    assert_message(
        &fixture("regression.txt"),
        &err,
        "feature 0 is `ret_1` in the model but `ret_5`",
    );
    // placeholder names (trained on a bare array) only need the count
    load("binary.txt")
        .check_feature_list(&["a", "b", "c", "d", "e"])
        .unwrap();
}

#[test]
fn multiclass_is_refused() {
    let path = fixture("multiclass.txt");
    let err = LightGbmModel::load(&path).unwrap_err();
    assert!(
        matches!(err.kind, LightGbmErrorKind::Multiclass { num_class: 3, .. }),
        "{err}"
    );
    assert_message(&path, &err, "multiclass models are not supported");
}

#[test]
fn categorical_splits_are_refused() {
    let path = fixture("categorical.txt");
    let err = LightGbmModel::load(&path).unwrap_err();
    assert!(
        matches!(err.kind, LightGbmErrorKind::Categorical { tree: 0 }),
        "{err}"
    );
    assert_message(&path, &err, "categorical splits");
    // the categorical bit alone (num_cat cleared) is caught too
    let bad = text("categorical.txt").replace("num_cat=1", "num_cat=0");
    let (path, err) = refuse("cat-bit", bad.as_bytes());
    assert!(
        matches!(err.kind, LightGbmErrorKind::Categorical { tree: 0 }),
        "{err}"
    );
    assert_message(&path, &err, "categorical_feature");
}

#[test]
fn linear_trees_and_other_objectives_are_refused() {
    let path = fixture("linear.txt");
    let err = LightGbmModel::load(&path).unwrap_err();
    assert!(
        matches!(err.kind, LightGbmErrorKind::LinearTree { tree: 0 }),
        "{err}"
    );
    assert_message(&path, &err, "linear_tree=false");

    let path = fixture("poisson.txt");
    let err = LightGbmModel::load(&path).unwrap_err();
    assert!(
        matches!(err.kind, LightGbmErrorKind::UnsupportedObjective { .. }),
        "{err}"
    );
    assert_message(&path, &err, "objective `poisson` is not supported");
}

#[test]
fn old_format_versions_are_refused() {
    let bad = text("regression.txt").replacen("version=v4", "version=v2", 1);
    let (path, err) = refuse("version", bad.as_bytes());
    assert!(
        matches!(err.kind, LightGbmErrorKind::UnsupportedVersion { .. }),
        "{err}"
    );
    assert_message(
        &path,
        &err,
        "re-export with LightGBM >= 3 (`booster.save_model`)",
    );
}

#[test]
fn missing_file_is_refused() {
    let path = temp_dir("missing").join("model.txt");
    let err = LightGbmModel::load(&path).unwrap_err();
    assert!(matches!(err.kind, LightGbmErrorKind::Io(_)), "{err}");
    assert_message(&path, &err, "cannot read the file");
}
