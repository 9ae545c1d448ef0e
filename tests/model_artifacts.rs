//! Run artifacts on disk, built in a temp dir with real files: a good run
//! (plan order, ids, index maps, the pipeline's model layout), run-id
//! resolution, and every bad case that must stop start-up with a message
//! naming the file and the fix. Model files are dummy bytes (back-ends are
//! not involved at this layer); their checksums are real SHA-256.
//! Also: `live-trading models inspect` as a real binary.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use live_trading::features::Feature;
use live_trading::horizon::{HorizonSet, TargetRole};
use live_trading::models::artifact::{
    resolve_run, ArtifactErrors, ArtifactProblem, ChecksumStatus, IgnoreReason, Inspection,
    ModelFormat, ModelInput, ModelPlan, ModelStatus, PlanSettings, RunScan, SkipReason,
    TargetStatus, View, WarningKind,
};
use live_trading::models::meta::{MetaProblem, SequenceNormalization};
use live_trading::pipeline::decision::{DecisionPipeline, PipelineParams};
use live_trading::types::{HorizonId, ModelId, SymbolOrder};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- helpers

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lt-artifacts-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Horizons 5m, 15m, 60m; 1-minute bars; 300 bars; strict checksums.
fn settings() -> PlanSettings {
    PlanSettings {
        horizons: HorizonSet::parse(&["5m", "15m", "60m"]).unwrap(),
        bar_minutes: 1,
        history_bars: 300,
        verify_checksums: true,
        strict_checksums: true,
    }
}

/// Write `<root>/targets/<target>/models/view=<view>/family=<family>/` with
/// a model file of dummy bytes and a `model_meta.json` carrying the file's
/// real checksum (unless `meta` sets `model_checksum` itself, or to null to
/// leave it out).
fn add_model(
    root: &Path,
    target: &str,
    view: &str,
    family: &str,
    file: &str,
    mut meta: Value,
) -> PathBuf {
    let dir = family_dir(root, target, view, family);
    let bytes = format!("dummy model {target}/{family} {file}").into_bytes();
    std::fs::write(dir.join(file), &bytes).unwrap();
    let obj = meta.as_object_mut().unwrap();
    match obj.get("model_checksum") {
        None => {
            obj.insert("model_checksum".into(), json!(sha256_hex(&bytes)));
        }
        Some(Value::Null) => {
            obj.remove("model_checksum");
        }
        Some(_) => {}
    }
    obj.entry("target").or_insert(json!(target));
    obj.entry("family").or_insert(json!(family));
    write_meta(&dir, &meta);
    dir
}

fn family_dir(root: &Path, target: &str, view: &str, family: &str) -> PathBuf {
    let dir = root
        .join("targets")
        .join(target)
        .join("models")
        .join(format!("view={view}"))
        .join(format!("family={family}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_meta(dir: &Path, meta: &Value) {
    std::fs::write(
        dir.join("model_meta.json"),
        serde_json::to_string_pretty(meta).unwrap(),
    )
    .unwrap();
}

const CS: &str = "CROSS_SECTIONAL";
const SEQ: &str = "SEQUENTIAL";

/// A run with three horizons, several families, a feature-window and a
/// raw-sequence model, barrier classifiers, a skipped model and ignored
/// targets.
fn good_run(root: &Path) {
    add_model(
        root,
        "fwd_ret_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d", "rsi_14", "macd"], "n_features": 3,
               "metrics": {"ic": 0.04}, "interval_minutes": 1}),
    );
    add_model(
        root,
        "fwd_ret_5m",
        CS,
        "XGBoost",
        "model.onnx",
        json!({"feature_names": ["ret_5d", "ret_1d"], "cross_sectional_ranking": {"enabled": true}}),
    );
    // `-` sorts before `/`: this target's id comes before fwd_ret_5m's
    // although its directory comes after.
    add_model(
        root,
        "fwd_ret_5m-b_5m",
        SEQ,
        "LightGBM",
        "model.onnx",
        json!({"feature_list": ["ret_1d"], "sequence_length": 10}),
    );
    add_model(
        root,
        "fwd_ret_15m",
        CS,
        "LightGBM",
        "model.ltw",
        json!({"features": ["vol_20d", "ret_1d"], "metrics": {"ic": -0.01}}),
    );
    add_model(
        root,
        "fwd_ret_15m",
        CS,
        "MLP",
        "model.onnx",
        json!({"feature_list": ["ret_1d"], "interval_minutes": 5}),
    );
    add_model(
        root,
        "fwd_ret_60m",
        SEQ,
        "LSTM",
        "model.onnx",
        json!({"input_mode": "raw_sequence", "sequence_length": 32,
               "sequence_channels": ["close", "volume"]}),
    );
    add_model(
        root,
        "will_peak_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["bb_position"]}),
    );
    add_model(
        root,
        "will_valley_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["bb_position", "atr_14"]}),
    );
    // Ignored: no suffix, unconfigured horizon, no models.
    add_model(
        root,
        "ret_5min",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    add_model(
        root,
        "fwd_ret_1d",
        CS,
        "LightGBM",
        "model.pkl",
        json!({"feature_list": ["nonsense"]}),
    );
    std::fs::create_dir_all(root.join("targets/will_peak_15m/models")).unwrap();
    std::fs::write(root.join("manifest.json"), "{}").unwrap();
}

fn load(root: &Path, settings: &PlanSettings) -> ModelPlan {
    ModelPlan::load(root, settings).unwrap_or_else(|e| panic!("rejected:\n{e}"))
}

fn errors(root: &Path, settings: &PlanSettings) -> ArtifactErrors {
    match ModelPlan::load(root, settings) {
        Ok(p) => panic!("accepted a bad run with {} models", p.len()),
        Err(e) => e,
    }
}

/// A run with one good 5m model, so only the bad part can fail it.
fn run_with_one_good_model(test: &str) -> PathBuf {
    let root = temp_dir(test);
    add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    root
}

/// The single error of a bad run; asserts its message names `path` and
/// carries a fix.
fn single_error(root: &Path, settings: &PlanSettings, path: &Path) -> ArtifactProblem {
    let e = errors(root, settings);
    assert_eq!(e.len(), 1, "{e}");
    let text = e.to_string();
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(text.contains("\n  fix: "), "{text}");
    e.0[0].problem.clone()
}

// ---------------------------------------------------------------- good run

#[test]
fn good_run_plan_ids_horizons_and_index_maps() {
    let root = temp_dir("good");
    good_run(&root);
    let plan = load(&root, &settings());

    let names: Vec<&str> = plan.models().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fwd_ret_15m/LightGBM",
            "fwd_ret_5m-b_5m/LightGBM",
            "fwd_ret_5m/LightGBM",
            "fwd_ret_5m/XGBoost",
            "fwd_ret_60m/LSTM",
            "will_peak_5m/LightGBM",
            "will_valley_5m/LightGBM",
        ]
    );
    for (i, m) in plan.models().iter().enumerate() {
        assert_eq!(m.id, ModelId(i as u16));
        assert_eq!(m.checksum, ChecksumStatus::Verified, "{}", m.name);
        assert_eq!(plan.id_of(&m.name), Some(m.id));
    }
    assert!(plan.warnings().is_empty(), "{:?}", plan.warnings());

    // The union in SPEC §3 catalogue order, and each model's map into it.
    assert_eq!(
        plan.feature_names(),
        [
            "ret_1d",
            "ret_5d",
            "vol_20d",
            "rsi_14",
            "bb_position",
            "macd",
            "atr_14"
        ]
    );
    let map = |name: &str| plan.model(plan.id_of(name).unwrap()).unwrap();
    assert_eq!(map("fwd_ret_5m/LightGBM").feature_index, [0, 3, 5]);
    assert_eq!(map("fwd_ret_5m/XGBoost").feature_index, [1, 0]);
    assert_eq!(map("fwd_ret_15m/LightGBM").feature_index, [2, 0]);
    assert_eq!(map("will_valley_5m/LightGBM").feature_index, [4, 6]);
    assert!(map("fwd_ret_60m/LSTM").feature_index.is_empty());
    for m in plan.models() {
        for (j, &i) in m.feature_index.iter().enumerate() {
            assert_eq!(plan.features()[i], m.features[j], "{}", m.name);
        }
    }

    // Roles, horizons, formats, inputs, warm-up, priors.
    let lgbm = map("fwd_ret_5m/LightGBM");
    assert_eq!(
        (lgbm.horizon, lgbm.role, lgbm.format, lgbm.view),
        (
            HorizonId(0),
            TargetRole::Return,
            ModelFormat::LightGbmText,
            View::CrossSectional
        )
    );
    assert_eq!(
        lgbm.features,
        [Feature::Ret(1), Feature::Rsi(14), Feature::Macd]
    );
    assert_eq!((lgbm.input, lgbm.warmup_bars), (ModelInput::Row, 14));
    assert_eq!(lgbm.ic_prior(), Some(0.04));
    assert!(lgbm.model_path.ends_with("family=LightGBM/model.txt"));
    assert!(map("fwd_ret_5m/XGBoost").meta.cross_sectional_ranking);
    assert_eq!(
        map("fwd_ret_5m/XGBoost").meta.feature_key,
        Some("feature_names")
    );
    assert_eq!(map("fwd_ret_15m/LightGBM").format, ModelFormat::Ltw);
    assert_eq!(map("fwd_ret_15m/LightGBM").warmup_bars, 21);
    let window = map("fwd_ret_5m-b_5m/LightGBM");
    assert_eq!(window.input, ModelInput::FeatureWindow { length: 10 });
    assert_eq!(window.warmup_bars, 2 + 9);
    let lstm = map("fwd_ret_60m/LSTM");
    assert_eq!(
        (lstm.horizon, lstm.format, lstm.view),
        (HorizonId(2), ModelFormat::Onnx, View::Sequential)
    );
    assert_eq!(
        lstm.input,
        ModelInput::RawWindow {
            length: 32,
            normalization: SequenceNormalization::Returns
        }
    );
    assert_eq!(lstm.warmup_bars, 33);
    assert_eq!(plan.warmup_bars(), 33);
    assert_eq!(map("will_peak_5m/LightGBM").role, TargetRole::BarrierPeak);
    assert_eq!(
        map("will_valley_5m/LightGBM").role,
        TargetRole::BarrierValley
    );

    // Per horizon.
    let h = |i: u8| plan.horizon(HorizonId(i)).unwrap();
    let ids = |v: &[u16]| v.iter().map(|&i| ModelId(i)).collect::<Vec<_>>();
    assert_eq!(h(0).returns, ids(&[1, 2, 3]));
    assert_eq!(
        (h(0).peaks.clone(), h(0).valleys.clone()),
        (ids(&[5]), ids(&[6]))
    );
    assert_eq!(h(1).returns, ids(&[0]));
    assert_eq!(h(2).returns, ids(&[4]));
    assert!(h(1).peaks.is_empty() && h(2).valleys.is_empty());
    assert_eq!(plan.return_models().count(), 5);
    assert_eq!(plan.barrier_models().count(), 2);
}

#[test]
fn good_run_lists_skipped_and_ignored_with_reasons() {
    let root = temp_dir("listing");
    good_run(&root);
    let scan = RunScan::scan(&root, &settings());
    assert!(scan.errors.is_empty(), "{:?}", scan.errors);
    let status = |name: &str| {
        &scan
            .targets
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} not listed"))
            .status
    };
    assert_eq!(
        status("ret_5min"),
        &TargetStatus::Ignored(IgnoreReason::NoHorizonSuffix)
    );
    assert_eq!(
        status("fwd_ret_1d"),
        &TargetStatus::Ignored(IgnoreReason::HorizonNotConfigured {
            suffix: "1d".into()
        })
    );
    assert_eq!(
        status("will_peak_15m"),
        &TargetStatus::Ignored(IgnoreReason::NoModels)
    );
    let TargetStatus::Used { models, .. } = status("fwd_ret_15m") else {
        panic!("fwd_ret_15m not used");
    };
    assert_eq!(models[1].family, "MLP");
    assert_eq!(
        models[1].status,
        ModelStatus::Skipped(SkipReason::IntervalMismatch {
            interval_minutes: 5.0,
            bar_minutes: 1
        })
    );
    assert_eq!(scan.counts(), (3, 1));
    // Targets are listed byte-wise sorted.
    let names: Vec<&str> = scan.targets.iter().map(|t| t.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
}

#[test]
fn layout_feeds_the_decision_pipeline() {
    let root = temp_dir("layout");
    good_run(&root);
    let plan = load(&root, &settings());
    let layout = plan.layout();
    assert_eq!(layout.n_models, 7);
    let returns: Vec<(u16, u8, Option<f64>)> = layout
        .return_models
        .iter()
        .map(|m| (m.id.0, m.horizon.0, m.ic_prior))
        .collect();
    assert_eq!(
        returns,
        [
            (0, 1, Some(-0.01)),
            (1, 0, None),
            (2, 0, Some(0.04)),
            (3, 0, None),
            (4, 2, None),
        ]
    );
    // Classifier slots are model ids: peak = 5, valley = 6.
    let mut outputs = [f64::NAN; 7];
    outputs[5] = 0.7;
    outputs[6] = 1.4;
    let r = layout.barrier.resolve(&outputs, HorizonId(1), HorizonId(0));
    assert_eq!((r.probs.p_peak, r.probs.p_valley), (Some(0.7), Some(1.0)));
    assert_eq!((r.source_peak, r.source_valley), (Some(5), Some(6)));

    let order = SymbolOrder::from_names(&["AAA", "BBB"]).unwrap();
    assert!(DecisionPipeline::new(&PipelineParams::default(), &layout, order, 64).is_ok());
}

#[test]
fn gather_row_maps_engine_features_into_model_order() {
    let root = temp_dir("gather");
    good_run(&root);
    let plan = load(&root, &settings());
    let m = plan
        .model(plan.id_of("fwd_ret_5m/LightGBM").unwrap())
        .unwrap();
    let engine: Vec<f64> = (0..plan.features().len()).map(|i| i as f64 + 0.5).collect();
    let mut row = [0.0f32; 3];
    assert!(m.gather_row(&engine, &mut row));
    assert_eq!(row, [0.5, 3.5, 5.5]);
    let mut nan = engine.clone();
    nan[3] = f64::NAN;
    assert!(!m.gather_row(&nan, &mut row), "NaN feature skips the model");
    assert!(
        !m.gather_row(&[1e300; 7], &mut row),
        "f32 overflow is not finite"
    );
    assert!(!m.gather_row(&engine, &mut [0.0; 2]), "wrong row length");
    assert!(!m.gather_row(&engine[..2], &mut row), "short engine row");
}

#[test]
fn python_nan_ic_loads_as_absent() {
    let root = temp_dir("nan-ic");
    let dir = add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    let meta_path = dir.join("model_meta.json");
    let text = std::fs::read_to_string(&meta_path).unwrap();
    let text = text.replacen('{', "{\n  \"metrics\": {\"ic\": NaN},", 1);
    std::fs::write(&meta_path, text).unwrap();
    let plan = load(&root, &settings());
    assert_eq!(plan.models()[0].ic_prior(), None);
    assert_eq!(plan.models()[0].meta.ic_prior(), 0.0);
}

// ---------------------------------------------------------------- run ids

#[test]
fn run_id_resolves_to_the_latest_timestamp() {
    let results = temp_dir("results");
    let run = results.join("runs/r1");
    for stamp in ["20231231T235959", "20240102T000000", "20240101T120000"] {
        good_run(&run.join(stamp));
    }
    // Not timestamps: names not starting with a digit, and files.
    std::fs::create_dir_all(run.join("zz_notes")).unwrap();
    std::fs::write(run.join("99_file"), "x").unwrap();
    let latest = run.join("20240102T000000");

    assert_eq!(resolve_run(&run, &results).unwrap(), latest);
    assert_eq!(resolve_run(Path::new("r1"), &results).unwrap(), latest);
    assert_eq!(
        resolve_run(&latest, &results).unwrap(),
        latest,
        "a run root is itself"
    );

    let e = resolve_run(Path::new("r2"), &results).unwrap_err();
    assert!(
        matches!(e.problem, ArtifactProblem::RunNotFound { .. }),
        "{e}"
    );
    let text = e.to_string();
    assert!(text.contains("runs/r2") && text.contains("fix: "), "{text}");
}

// ---------------------------------------------------------------- bad runs

#[test]
fn checksum_mismatch_from_a_truncated_file_refuses_the_run() {
    let root = run_with_one_good_model("mismatch");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    let model = dir.join("model.txt");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 2]).unwrap();

    let problem = single_error(&root, &settings(), &model);
    let ArtifactProblem::ChecksumMismatch { expected, actual } = problem else {
        panic!("{problem:?}");
    };
    assert_eq!(expected, sha256_hex(&bytes));
    assert_eq!(actual, sha256_hex(&bytes[..bytes.len() / 2]));
    let text = errors(&root, &settings()).to_string();
    assert!(text.contains("tools/export_model.py"), "{text}");
    assert!(text.contains("models.strict_checksums: false"), "{text}");

    // Not strict: loads with a warning and the status says so.
    let lax = PlanSettings {
        strict_checksums: false,
        ..settings()
    };
    let plan = load(&root, &lax);
    let m = plan
        .model(plan.id_of("fwd_ret_15m/LightGBM").unwrap())
        .unwrap();
    assert!(matches!(m.checksum, ChecksumStatus::Mismatch { .. }));
    assert!(matches!(
        plan.warnings()[0].kind,
        WarningKind::ChecksumMismatch { .. }
    ));
}

#[test]
fn corrupted_files_are_all_reported_together() {
    let root = run_with_one_good_model("corrupt");
    let flip = |dir: &Path| {
        let path = dir.join("model.onnx");
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[0] ^= 0x01;
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let a = flip(&add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "A",
        "model.onnx",
        json!({"feature_list": ["macd"]}),
    ));
    let b = flip(&add_model(
        &root,
        "fwd_ret_60m",
        CS,
        "B",
        "model.onnx",
        json!({"feature_list": ["macd"]}),
    ));
    let e = errors(&root, &settings());
    assert_eq!(e.len(), 2, "{e}");
    assert_eq!((e.0[0].path.clone(), e.0[1].path.clone()), (a, b));
}

#[test]
fn missing_checksum_strict_refuses_lax_warns_unverified_loads() {
    let root = temp_dir("no-checksum");
    let dir = add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"], "model_checksum": null}),
    );
    let meta = dir.join("model_meta.json");
    let problem = single_error(&root, &settings(), &meta);
    assert!(
        matches!(problem, ArtifactProblem::ChecksumMissing { .. }),
        "{problem:?}"
    );

    let lax = PlanSettings {
        strict_checksums: false,
        ..settings()
    };
    let plan = load(&root, &lax);
    assert_eq!(plan.models()[0].checksum, ChecksumStatus::Missing);
    assert_eq!(plan.warnings()[0].kind, WarningKind::ChecksumMissing);
    assert_eq!(plan.warnings()[0].path, meta);

    let unverified = PlanSettings {
        verify_checksums: false,
        ..settings()
    };
    let plan = load(&root, &unverified);
    assert_eq!(plan.models()[0].checksum, ChecksumStatus::NotChecked);
    assert_eq!(plan.warnings()[0].kind, WarningKind::ChecksumsNotVerified);
}

#[test]
fn unknown_feature_names_the_model_feature_and_closest_name() {
    let root = run_with_one_good_model("unknown-feature");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d", "rsi14"]}),
    );
    let meta = dir.join("model_meta.json");
    let problem = single_error(&root, &settings(), &meta);
    assert_eq!(
        problem,
        ArtifactProblem::UnknownFeature {
            model: "fwd_ret_15m/LightGBM".into(),
            feature: "rsi14".into(),
            closest: Some("rsi_14"),
        }
    );
    let text = errors(&root, &settings()).to_string();
    assert!(text.contains("rename it to `rsi_14`"), "{text}");
    assert!(
        text.contains("close_to_low_52w"),
        "lists the known names: {text}"
    );
}

#[test]
fn feature_count_mismatch_is_a_shape_error() {
    let root = run_with_one_good_model("shape");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d", "macd"], "n_features": 3}),
    );
    let problem = single_error(&root, &settings(), &dir.join("model_meta.json"));
    assert_eq!(
        problem,
        ArtifactProblem::FeatureCount {
            model: "fwd_ret_15m/LightGBM".into(),
            n_features: 3,
            listed: 2,
            key: "feature_list",
        }
    );
}

#[test]
fn a_family_with_only_a_pickle_explains_the_export() {
    let root = run_with_one_good_model("pickle");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "RandomForest",
        "model.pkl",
        json!({"feature_list": ["ret_1d"]}),
    );
    let problem = single_error(&root, &settings(), &dir);
    assert_eq!(
        problem,
        ArtifactProblem::PickleOnly {
            files: vec![dir.join("model.pkl")]
        }
    );
    let text = errors(&root, &settings()).to_string();
    assert!(
        text.contains(&format!(
            "python tools/export_model.py --from-pickle {}",
            dir.join("model.pkl").display()
        )),
        "{text}"
    );
    assert!(text.contains("out of scope"), "{text}");
}

#[test]
fn xgboost_json_is_not_supported_yet() {
    let root = run_with_one_good_model("xgb-json");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "XGBoost",
        "model.json",
        json!({"feature_list": ["ret_1d"]}),
    );
    let problem = single_error(&root, &settings(), &dir.join("model.json"));
    assert_eq!(problem, ArtifactProblem::XgboostJson);
    let text = errors(&root, &settings()).to_string();
    assert!(
        text.contains("retrain the model with LightGBM")
            && text.contains("tools/export_model.py --from-lightgbm model.txt --out"),
        "{text}"
    );
}

#[test]
fn missing_ambiguous_and_empty_model_files() {
    let root = run_with_one_good_model("files");
    let none = family_dir(&root, "fwd_ret_15m", CS, "A");
    write_meta(
        &none,
        &json!({"feature_list": ["ret_1d"], "model_checksum": "00"}),
    );
    std::fs::write(none.join("notes.md"), "x").unwrap();
    let two = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "B",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    std::fs::write(two.join("model.onnx"), "other").unwrap();
    let empty = family_dir(&root, "fwd_ret_15m", CS, "C");
    std::fs::write(empty.join("model.ltw"), "").unwrap();
    write_meta(
        &empty,
        &json!({"feature_list": ["ret_1d"], "model_checksum": sha256_hex(b"")}),
    );
    let no_meta = family_dir(&root, "fwd_ret_15m", CS, "D");
    std::fs::write(no_meta.join("model.txt"), "tree").unwrap();

    let e = errors(&root, &settings());
    let got: Vec<(PathBuf, ArtifactProblem)> = e
        .iter()
        .map(|e| (e.path.clone(), e.problem.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                none.clone(),
                ArtifactProblem::NoModelFile {
                    found: vec!["notes.md".into()]
                }
            ),
            (
                two,
                ArtifactProblem::AmbiguousModelFiles {
                    files: vec!["model.onnx".into(), "model.txt".into()]
                }
            ),
            (empty.join("model.ltw"), ArtifactProblem::EmptyModelFile),
            (
                no_meta.join("model_meta.json"),
                ArtifactProblem::MetaMissing
            ),
        ]
    );
    assert_eq!(e.to_string().matches("\n  fix: ").count(), 4, "{e}");
}

#[test]
fn empty_runs_fail() {
    // No targets/ at all, and an empty targets/.
    let root = temp_dir("empty");
    let problem = single_error(&root, &settings(), &root);
    assert_eq!(problem, ArtifactProblem::NoTargets);
    std::fs::create_dir_all(root.join("targets")).unwrap();
    assert_eq!(
        single_error(&root, &settings(), &root),
        ArtifactProblem::NoTargets
    );

    // Targets, but nothing loadable: all ignored or skipped.
    add_model(
        &root,
        "ret_5min",
        CS,
        "A",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "A",
        "model.txt",
        json!({"feature_list": ["ret_1d"], "interval_minutes": 5}),
    );
    let problem = single_error(&root, &settings(), &root);
    assert_eq!(
        problem,
        ArtifactProblem::NoLoadableModel {
            targets: 2,
            ignored: 1,
            skipped: 1
        }
    );
}

#[test]
fn malformed_meta_names_line_and_column() {
    let root = run_with_one_good_model("malformed");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "A",
        "model.txt",
        json!({"feature_list": ["ret_1d"]}),
    );
    let meta = dir.join("model_meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, &text[..text.len() / 2]).unwrap();
    let problem = single_error(&root, &settings(), &meta);
    assert!(
        matches!(problem, ArtifactProblem::Meta(MetaProblem::Syntax { .. })),
        "{problem:?}"
    );
}

#[test]
fn raw_sequence_without_sequence_length_fails() {
    let root = run_with_one_good_model("raw-no-length");
    let dir = add_model(
        &root,
        "fwd_ret_60m",
        SEQ,
        "LSTM",
        "model.onnx",
        json!({"input_mode": "raw_sequence"}),
    );
    let problem = single_error(&root, &settings(), &dir.join("model_meta.json"));
    assert_eq!(
        problem,
        ArtifactProblem::Meta(MetaProblem::Missing {
            field: "sequence_length",
            when: "when `input_mode` is `raw_sequence`",
        })
    );
}

#[test]
fn sequential_feature_model_without_length_fails() {
    let root = run_with_one_good_model("seq-no-length");
    let dir = add_model(
        &root,
        "fwd_ret_60m",
        SEQ,
        "TCN",
        "model.onnx",
        json!({"feature_list": ["macd"]}),
    );
    let problem = single_error(&root, &settings(), &dir.join("model_meta.json"));
    assert_eq!(
        problem,
        ArtifactProblem::WindowMissing {
            model: "fwd_ret_60m/TCN".into()
        }
    );
}

#[test]
fn unknown_view_and_duplicate_model_ids() {
    let root = run_with_one_good_model("views");
    let bad_view = family_dir(&root, "fwd_ret_15m", "SYMBOL_SPECIFIC", "A");
    let again = add_model(
        &root,
        "fwd_ret_5m",
        SEQ,
        "LightGBM",
        "model.onnx",
        json!({"feature_list": ["ret_1d"], "sequence_length": 4}),
    );
    let e = errors(&root, &settings());
    assert_eq!(e.len(), 2, "{e}");
    assert_eq!(e.0[0].path, bad_view.parent().unwrap());
    assert!(matches!(
        e.0[0].problem,
        ArtifactProblem::UnknownView { .. }
    ));
    assert_eq!(e.0[1].path, again);
    assert!(matches!(
        e.0[1].problem,
        ArtifactProblem::DuplicateModel { .. }
    ));
}

#[test]
fn warmup_longer_than_the_history_fails() {
    let root = run_with_one_good_model("warmup");
    let dir = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "A",
        "model.txt",
        json!({"feature_list": ["ret_60d"]}),
    );
    let short = PlanSettings {
        history_bars: 50,
        ..settings()
    };
    let problem = single_error(&root, &short, &dir.join("model_meta.json"));
    assert_eq!(
        problem,
        ArtifactProblem::WarmupExceedsHistory {
            model: "fwd_ret_15m/A".into(),
            warmup_bars: 61,
            history_bars: 50
        }
    );
    assert!(errors(&root, &short)
        .to_string()
        .contains("raise data.history_bars to at least 61"));
}

#[test]
fn metadata_naming_another_model_is_a_warning() {
    let root = temp_dir("names");
    add_model(
        &root,
        "fwd_ret_5m",
        CS,
        "LightGBM",
        "model.txt",
        json!({"feature_list": ["ret_1d"], "family": "XGBoost"}),
    );
    let plan = load(&root, &settings());
    assert_eq!(
        plan.warnings()[0].kind,
        WarningKind::NameMismatch {
            field: "family",
            meta: "XGBoost".into(),
            dir: "LightGBM".into()
        }
    );
}

// ---------------------------------------------------------------- CLI

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_live-trading"))
}

fn config_file(dir: &Path) -> PathBuf {
    let path = dir.join("live_trading.yaml");
    std::fs::write(&path, "live_trading:\n  horizons: [5m, 15m, 60m]\n").unwrap();
    path
}

#[test]
fn inspect_lists_a_good_run_and_exits_zero() {
    let dir = temp_dir("cli-good");
    let results = dir.join("RESULTS");
    let root = results.join("runs/r7/20240105T093000");
    good_run(&root);
    // The model files hold dummy bytes: list without opening them.
    let out = bin()
        .args(["models", "inspect", "r7", "--no-load", "--config"])
        .arg(config_file(&dir))
        .arg("--results")
        .arg(&results)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("model files: not opened"), "{stdout}");
    for needle in [
        "20240105T093000",
        "target fwd_ret_5m: horizon 5m, return",
        "target will_valley_5m: horizon 5m, barrier_valley",
        "target ret_5min: ignored: no horizon suffix",
        "target fwd_ret_1d: ignored: horizon 1d is not in the configured `horizons`",
        "skipped: interval_minutes 5 differs from volatility.bar_minutes 1",
        "lightgbm-text",
        "ltw",
        "raw x32 bars",
        "input: Close/Volume bars, normalised as returns",
        "features: ret_1d, rsi_14, macd",
        "feature vector (7): ret_1d, ret_5d, vol_20d, rsi_14, bb_position, macd, atr_14",
        "warm-up: 33 bars",
        "summary: 7 models loadable (5 return, 2 barrier), 1 model skipped, 3 targets ignored",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
    // The LightGBM row of fwd_ret_5m: id 2, checksum ok, warm-up 14.
    let row = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap_or_else(|| panic!("no row for id 2:\n{stdout}"));
    assert!(
        row.contains("LightGBM") && row.contains(" ok ") && row.contains(" 14 "),
        "{row}"
    );
}

#[test]
fn inspect_reports_every_error_with_file_and_fix_and_exits_two() {
    let dir = temp_dir("cli-bad");
    let root = dir.join("run");
    good_run(&root);
    let pickle = add_model(
        &root,
        "fwd_ret_15m",
        CS,
        "RF",
        "model.joblib",
        json!({"feature_list": ["ret_1d", "rsi14"]}),
    );
    let bad = add_model(
        &root,
        "fwd_ret_60m",
        CS,
        "A",
        "model.txt",
        json!({"feature_list": ["vol_7d"]}),
    );
    let out = bin()
        .args(["models", "inspect", "--config"])
        .arg(config_file(&dir))
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stdout.contains("ERROR (see the errors)"), "{stdout}");
    assert!(
        stdout.contains("summary: not loadable: 3 errors"),
        "{stdout}"
    );
    assert!(stderr.contains(&pickle.display().to_string()), "{stderr}");
    assert!(stderr.contains("--from-pickle"), "{stderr}");
    assert!(
        stderr.contains(&bad.join("model_meta.json").display().to_string()),
        "{stderr}"
    );
    // Every problem of a directory: the pickle and the metadata behind it.
    assert!(stderr.contains("unknown feature \"rsi14\""), "{stderr}");
    assert!(stderr.contains("unknown feature \"vol_7d\""), "{stderr}");
    assert_eq!(stderr.matches("\n  fix: ").count(), 3, "{stderr}");
    assert!(
        stderr.contains("the run cannot be loaded: 3 errors"),
        "{stderr}"
    );

    // A run that does not exist, and a bad config: exit 2 with the reason.
    let out = bin()
        .args(["models", "inspect", "--config"])
        .arg(config_file(&dir))
        .arg(dir.join("nowhere"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a run directory nor a run id"));
    let bad_config = dir.join("bad.yaml");
    std::fs::write(&bad_config, "live_trading:\n  horizons: [5m, 5min]\n").unwrap();
    let out = bin()
        .args(["models", "inspect", "--config"])
        .arg(&bad_config)
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yaml"));
}

#[test]
fn inspect_opens_every_model_file_by_default() {
    let dir = temp_dir("cli-open");
    let root = dir.join("run");
    good_run(&root);
    let out = bin()
        .args(["models", "inspect"])
        .arg(&root)
        .arg("--config")
        .arg(config_file(&dir))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("model files: 7 models do not load"),
        "{stdout}"
    );
    // Dummy bytes: each file is named with its back-end's complaint.
    assert!(
        stderr.contains("fwd_ret_5m/models/view=CROSS_SECTIONAL/family=LightGBM/model.txt")
            && stderr.contains("cannot load the lightgbm-text model"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot load the ltw model"), "{stderr}");
    assert!(
        stderr.contains("the run cannot be loaded: 7 errors"),
        "{stderr}"
    );
}

#[test]
fn inspection_matches_the_plan() {
    let root = temp_dir("inspection");
    good_run(&root);
    let i = Inspection::run(&root, &settings());
    assert!(i.is_loadable() && i.errors().is_empty());
    assert_eq!(i.plan.as_ref().unwrap(), &load(&root, &settings()));
}
