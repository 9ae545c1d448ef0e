//! The predict stage end to end on real files: a run written to a temp dir
//! with LightGBM text and `.ltw` models (row, feature-window and
//! raw-sequence inputs, return models and barrier classifiers), loaded
//! through the plan, fed bars through the engine's incremental features, and
//! checked bar by bar against the batch features (SPEC §3) pushed through
//! each back-end directly: no output until warm, the same output after, NaN
//! outputs dropped, probabilities clamped. Plus the start-up errors of
//! back-ends that do not match their metadata.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use live_trading::features::{compute, to_f32, BarFrame, Feature, FeatureState};
use live_trading::horizon::HorizonSet;
use live_trading::market::Bar;
use live_trading::models::artifact::{ArtifactProblem, ModelPlan, PlanSettings};
use live_trading::models::lightgbm::{LightGbmModel, Objective};
use live_trading::models::ltw::{self, LtwModel};
use live_trading::models::predict::{PredictCounts, Predictors};
use live_trading::models::Predictor;
use live_trading::testkit::SplitMix;
use live_trading::types::Nanos;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const HISTORY: usize = 300;

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lt-predict-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn settings() -> PlanSettings {
    PlanSettings {
        horizons: HorizonSet::parse(&["5m", "15m", "60m"]).unwrap(),
        bar_minutes: 1,
        history_bars: HISTORY,
        verify_checksums: true,
        strict_checksums: true,
    }
}

/// Write a family directory holding `file` (already written into `src`)
/// and its metadata with the real checksum.
fn place(root: &Path, target: &str, view: &str, family: &str, src: &Path, mut meta: Value) {
    let dir = root
        .join("targets")
        .join(target)
        .join("models")
        .join(format!("view={view}"))
        .join(format!("family={family}"));
    std::fs::create_dir_all(&dir).unwrap();
    let name = src.file_name().unwrap().to_str().unwrap().to_owned();
    let file = name
        .rsplit_once('.')
        .map(|(_, ext)| format!("model.{ext}"))
        .unwrap();
    let bytes = std::fs::read(src).unwrap();
    std::fs::write(dir.join(file), &bytes).unwrap();
    let sum: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let obj = meta.as_object_mut().unwrap();
    obj.insert("model_checksum".into(), json!(sum));
    obj.insert("target".into(), json!(target));
    obj.insert("family".into(), json!(family));
    std::fs::write(dir.join("model_meta.json"), meta.to_string()).unwrap();
}

fn linear(dir: &Path, name: &str, weights: &[f64], bias: f64) -> PathBuf {
    let path = dir.join(format!("{name}.ltw"));
    ltw::write_linear(&path, weights, bias, Objective::Regression).unwrap();
    path
}

const LGB_FEATURES: [&str; 6] = [
    "ret_1d",
    "ret_5d",
    "vol_20d",
    "rsi_14",
    "macd_hist",
    "volume_ma_ratio",
];
const LIN_FEATURES: [&str; 3] = ["ret_1d", "rsi_7", "bb_position"];
const SEQ_FEATURES: [&str; 2] = ["ret_1d", "vol_5d"];
const BARRIER_FEATURES: [&str; 5] = ["ret_1d", "ret_5d", "vol_5d", "rsi_14", "mom_5d"];

/// The run every test here uses (ids are sorted names):
/// 0 fwd_ret_15m/Raw (raw_sequence, 4 bars of close and volume, returns),
/// 1 fwd_ret_15m/Window (SEQUENTIAL, 3 rows of 2 features),
/// 2 fwd_ret_5m/LightGBM, 3 fwd_ret_5m/Linear,
/// 4 fwd_ret_60m/Overflow (always ±inf or NaN: dropped),
/// 5 will_peak_5m/LightGBM (binary), 6 will_valley_5m/Linear (clamped to 1).
fn write_run(root: &Path) -> PathBuf {
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let run = root.join("run");

    // LightGBM regression with the engine's feature names.
    let text = std::fs::read_to_string("tests/data/models/lightgbm/regression.txt").unwrap();
    let text = text.replace(
        "feature_names=ret_1 ret_5 vol_20 rsi_14 macd_hist volume_ma_ratio",
        &format!("feature_names={}", LGB_FEATURES.join(" ")),
    );
    let lgb = files.join("regression.txt");
    std::fs::write(&lgb, text).unwrap();
    let cs = "CROSS_SECTIONAL";
    place(
        &run,
        "fwd_ret_5m",
        cs,
        "LightGBM",
        &lgb,
        json!({"feature_list": LGB_FEATURES}),
    );
    place(
        &run,
        "fwd_ret_5m",
        cs,
        "Linear",
        &linear(&files, "lin", &[50.0, 0.01, -0.2], 0.05),
        json!({"feature_list": LIN_FEATURES}),
    );
    place(
        &run,
        "fwd_ret_15m",
        "SEQUENTIAL",
        "Window",
        &linear(&files, "win", &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], -0.5),
        json!({"feature_list": SEQ_FEATURES, "sequence_length": 3}),
    );
    place(
        &run,
        "fwd_ret_15m",
        "SEQUENTIAL",
        "Raw",
        &linear(
            &files,
            "raw",
            &[1.0, 0.5, -1.0, 0.25, 2.0, 0.0, -3.0, 0.125],
            0.0,
        ),
        json!({"input_mode": "raw_sequence", "sequence_length": 4,
               "sequence_channels": ["close", "volume"]}),
    );
    place(
        &run,
        "fwd_ret_60m",
        cs,
        "Overflow",
        &linear(&files, "overflow", &[1e308, 1e308], 1e308),
        json!({"feature_list": ["rsi_14", "rsi_7"]}),
    );
    place(
        &run,
        "will_peak_5m",
        cs,
        "LightGBM",
        Path::new("tests/data/models/lightgbm/binary.txt"),
        json!({"feature_list": BARRIER_FEATURES}),
    );
    place(
        &run,
        "will_valley_5m",
        cs,
        "Linear",
        &linear(&files, "valley", &[0.0], 3.0),
        json!({"feature_list": ["ret_1d"]}),
    );
    run
}

/// A random walk of 1-minute bars.
fn bars(n: usize, seed: u64) -> Vec<Bar> {
    let mut rng = SplitMix::new(seed);
    let mut close = 100.0;
    (0..n)
        .map(|i| {
            let open = close;
            close *= 1.0 + (rng.unit() - 0.5) * 0.004;
            let high = open.max(close) * (1.0 + rng.unit() * 0.001);
            let low = open.min(close) * (1.0 - rng.unit() * 0.001);
            Bar {
                end: Nanos(1_700_000_000_000_000_000 + 60_000_000_000 * i as u64),
                open,
                high,
                low,
                close,
                volume: 1e5 * (0.5 + rng.unit()),
            }
        })
        .collect()
}

/// The frame of the last `HISTORY` bars up to and including bar `t`.
fn frame(bars: &[Bar], t: usize) -> BarFrame {
    let from = (t + 1).saturating_sub(HISTORY);
    let window = &bars[from..=t];
    let col = |f: fn(&Bar) -> f64| Some(window.iter().map(f).collect::<Vec<_>>());
    BarFrame::from_columns(
        col(|b| b.open),
        col(|b| b.high),
        col(|b| b.low),
        col(|b| b.close),
        col(|b| b.volume),
    )
    .unwrap()
}

/// The batch features of a model at bar `t`, as the `f32` row; `None`
/// when some value is NaN (not enough rows or undefined).
fn batch_row(bars: &[Bar], t: usize, names: &[&str]) -> Option<Vec<f32>> {
    let frame = frame(bars, t);
    let values: Vec<f64> = Feature::parse_list(names)
        .into_iter()
        .map(|f| compute(&frame, f))
        .collect();
    let mut row = vec![0f32; values.len()];
    to_f32(&values, &mut row);
    row.iter().all(|v| v.is_finite()).then_some(row)
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    if expected.is_nan() {
        assert!(actual.is_nan(), "{what}: expected no output, got {actual}");
    } else {
        assert!(
            (actual - expected).abs() <= 1e-12 * expected.abs().max(1.0),
            "{what}: expected {expected}, got {actual}"
        );
    }
}

#[test]
fn predictions_match_the_back_ends_on_batch_features_bar_by_bar() {
    let root = temp_dir("match");
    let run = write_run(&root);
    let plan = ModelPlan::load(&run, &settings()).unwrap();
    let names: Vec<&str> = plan.models().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "fwd_ret_15m/Raw",
            "fwd_ret_15m/Window",
            "fwd_ret_5m/LightGBM",
            "fwd_ret_5m/Linear",
            "fwd_ret_60m/Overflow",
            "will_peak_5m/LightGBM",
            "will_valley_5m/Linear",
        ]
    );
    let mut predictors = Predictors::load(&plan, HISTORY).unwrap();
    assert_eq!(predictors.len(), 7);
    predictors.warm_up();

    // The same back-ends, loaded directly.
    let dir = |i: usize| plan.models()[i].model_path.clone();
    let mut raw = LtwModel::open(dir(0)).unwrap();
    let mut window = LtwModel::open(dir(1)).unwrap();
    let lgb = LightGbmModel::load(dir(2)).unwrap();
    let mut lin = LtwModel::open(dir(3)).unwrap();
    let peak = LightGbmModel::load(dir(5)).unwrap();

    let bars = bars(360, 11);
    let mut features = FeatureState::new(predictors.feature_set());
    let mut symbol = predictors.symbol_state();
    let mut out = vec![0.0; predictors.len()];
    let mut seen = [0usize; 7];
    for t in 0..bars.len() {
        let b = bars[t];
        features.push_bar(b.open, b.high, b.low, b.close, b.volume);
        predictors.on_bar(&mut symbol, &features, &b);
        let counts = predictors.predict(&symbol, &features, &mut out);

        // Raw window: the last 4 one-bar returns of close and volume.
        let expected_raw = if t >= 4 {
            let mut row = Vec::new();
            for k in t - 3..=t {
                row.push((bars[k].close / bars[k - 1].close - 1.0) as f32);
                row.push((bars[k].volume / bars[k - 1].volume - 1.0) as f32);
            }
            raw.predict(&row).unwrap()
        } else {
            f64::NAN
        };
        // Feature window: the model's rows at bars t-2, t-1, t.
        let expected_window = if t >= 2 {
            let rows: Option<Vec<Vec<f32>>> = (t - 2..=t)
                .map(|k| batch_row(&bars, k, &SEQ_FEATURES))
                .collect();
            rows.map_or(f64::NAN, |r| window.predict(&r.concat()).unwrap())
        } else {
            f64::NAN
        };
        let row_model = |names: &[&str], f: &mut dyn FnMut(&[f32]) -> f64| {
            batch_row(&bars, t, names).map_or(f64::NAN, |r| f(&r))
        };
        let expected = [
            expected_raw,
            expected_window,
            row_model(&LGB_FEATURES, &mut |r| lgb.predict_f32(r).unwrap()),
            row_model(&LIN_FEATURES, &mut |r| lin.predict(r).unwrap()),
            f64::NAN,
            row_model(&BARRIER_FEATURES, &mut |r| peak.predict_f32(r).unwrap()),
            row_model(&["ret_1d"], &mut |_| 1.0),
        ];
        for (i, (&a, &e)) in out.iter().zip(&expected).enumerate() {
            assert_close(a, e, &format!("bar {t}, {}", names[i]));
            seen[i] += usize::from(a.is_finite());
        }
        let predicted = out.iter().filter(|v| v.is_finite()).count();
        assert_eq!(usize::from(counts.predicted), predicted, "bar {t}");
        assert_eq!(
            usize::from(counts.predicted + counts.not_warm + counts.bad_input + counts.bad_output),
            predictors.len()
        );
        if t >= 60 {
            // Everything is warm: only the overflowing model is dropped.
            assert_eq!(
                counts,
                PredictCounts {
                    predicted: 6,
                    not_warm: 0,
                    bad_input: 0,
                    bad_output: 1
                },
                "bar {t}"
            );
        }
    }
    // Outputs start once the last input is warm: 5 bars for the raw window.
    assert_eq!(seen[0], bars.len() - 4);
    assert_eq!(seen[3], bars.len() - 19, "bb_position needs 20 rows");
    assert_eq!(seen[4], 0);
    assert_eq!(seen[2], bars.len() - 20, "vol_20d needs 21 rows");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn warm_up_gates_on_every_feature_of_a_model() {
    let root = temp_dir("warm");
    let run = write_run(&root);
    let plan = ModelPlan::load(&run, &settings()).unwrap();
    let mut predictors = Predictors::load(&plan, HISTORY).unwrap();
    let mut features = FeatureState::new(predictors.feature_set());
    let mut symbol = predictors.symbol_state();
    let mut out = vec![0.0; predictors.len()];
    let lin = plan.id_of("fwd_ret_5m/Linear").unwrap().index();
    for (t, b) in bars(30, 5).iter().enumerate() {
        features.push_bar(b.open, b.high, b.low, b.close, b.volume);
        predictors.on_bar(&mut symbol, &features, b);
        predictors.predict(&symbol, &features, &mut out);
        // ret_1d is warm from the 2nd bar, rsi_7 from the 7th, bb_position
        // from the 20th: the model waits for the last one.
        assert_eq!(out[lin].is_finite(), t + 1 >= 20, "bar {t}");
    }
    // A gap in the data: windows restart and must fill again.
    symbol.clear();
    predictors.predict(&symbol, &features, &mut out);
    assert!(out[0].is_nan() && out[1].is_nan());
    assert!(out[lin].is_finite());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn back_ends_that_disagree_with_their_metadata_stop_start_up() {
    let root = temp_dir("bad");
    let files = root.join("files");
    std::fs::create_dir_all(&files).unwrap();
    let run = root.join("run");
    let cs = "CROSS_SECTIONAL";
    // A 4-input linear model whose metadata lists 3 features.
    place(
        &run,
        "fwd_ret_5m",
        cs,
        "Wide",
        &linear(&files, "wide", &[1.0, 2.0, 3.0, 4.0], 0.0),
        json!({"feature_list": ["ret_1d", "ret_5d", "rsi_14"]}),
    );
    // A LightGBM model trained on other features than listed.
    place(
        &run,
        "fwd_ret_15m",
        cs,
        "LightGBM",
        Path::new("tests/data/models/lightgbm/regression.txt"),
        json!({"feature_list": LGB_FEATURES}),
    );
    // A file that is not a .ltw file at all, with a matching checksum.
    let junk = files.join("junk.ltw");
    std::fs::write(&junk, "this is not a weight file\n".repeat(10)).unwrap();
    place(
        &run,
        "fwd_ret_60m",
        cs,
        "Junk",
        &junk,
        json!({"feature_list": ["ret_1d"]}),
    );

    let plan = ModelPlan::load(&run, &settings()).unwrap();
    let errors = Predictors::load(&plan, HISTORY).unwrap_err();
    assert_eq!(errors.len(), 3, "{errors}");
    let text: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {} — fix: {}", e.path.display(), e.problem, e.fix()))
        .collect();
    let find = |needle: &str| {
        text.iter()
            .find(|t| t.contains(needle))
            .unwrap_or_else(|| panic!("no error mentions {needle:?}: {text:#?}"))
    };
    let wide = find("family=Wide/model.ltw");
    assert!(
        wide.contains("takes 4 inputs but model_meta.json describes 3"),
        "{wide}"
    );
    assert!(wide.contains("tools/export_model.py"), "{wide}");
    let lgb = find("fwd_ret_15m/models/view=CROSS_SECTIONAL/family=LightGBM/model.txt");
    assert!(lgb.contains("ret_1d") && lgb.contains("ret_1"), "{lgb}");
    let junk = find("family=Junk/model.ltw");
    assert!(junk.contains("magic"), "{junk}");
    for e in errors.iter() {
        assert!(
            matches!(e.problem, ArtifactProblem::Backend { .. }),
            "{e:?}"
        );
    }
    std::fs::remove_dir_all(root).unwrap();
}
