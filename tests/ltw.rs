//! The `.ltw` weight file: LightGBM conversions predict exactly as the text
//! model, the weights are read in place from the memory map, linear and MLP
//! round trips, real bad files refused with the file and the fix, and
//! `models convert` end to end.
#![allow(clippy::disallowed_macros)]

use std::path::{Path, PathBuf};
use std::process::Command;

use live_trading::models::lightgbm::{LightGbmModel, Objective};
use live_trading::models::ltw::{
    self, Activation, DenseLayer, LtwKind, LtwModel, CHECKSUM_OFFSET, HEADER_SIZE,
};
use live_trading::models::Predictor;
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/models/lightgbm")
        .join(name)
}

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ltw-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn convert(name: &str, dir: &Path) -> (LightGbmModel, PathBuf) {
    let model = LightGbmModel::load(fixture(name)).unwrap_or_else(|e| panic!("{e}"));
    let out = dir.join(name.replace(".txt", ".ltw"));
    ltw::write_lightgbm(&out, &model).unwrap_or_else(|e| panic!("{e}"));
    (model, out)
}

fn open(path: &Path) -> LtwModel {
    LtwModel::open(path).unwrap_or_else(|e| panic!("{e}"))
}

fn row_f32(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse::<f32>().unwrap())
        .collect()
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

#[test]
fn converted_lightgbm_models_predict_exactly_as_the_text_model() {
    let dir = temp_dir("exact");
    let text = std::fs::read_to_string(fixture("expected.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let cases = doc["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["model"].as_str().unwrap()).collect();
    for want in [
        "regression.txt",
        "binary.txt",
        "missing_nan.txt",
        "missing_zero.txt",
        "random_forest.txt",
        "constant.txt",
    ] {
        assert!(names.contains(&want), "{want} missing from expected.json");
    }
    let mut rows = 0;
    for case in cases {
        let name = case["model"].as_str().unwrap();
        let (mut text_model, path) = convert(name, &dir);
        let mut mapped = open(&path);
        assert_eq!(mapped.kind(), LtwKind::Trees);
        assert_eq!(mapped.n_features(), text_model.n_features(), "{name}");
        assert_eq!(mapped.averages_output(), text_model.averages_output());
        let view = mapped.trees().unwrap();
        assert_eq!(view.nodes(), text_model.ensemble().nodes(), "{name}");
        assert_eq!(view.leaf_values(), text_model.ensemble().leaf_values());
        assert_eq!(view.roots(), text_model.ensemble().roots());
        for input in case["rows"].as_array().unwrap() {
            let row = row_f32(input);
            let want = text_model.predict(&row).unwrap();
            let got = mapped.predict(&row).unwrap();
            assert!(same(got, want), "{name} {row:?}: {got} vs {want}");
            rows += 1;
        }
        // wrong row length is None, never a panic
        assert_eq!(mapped.predict(&[]), None);
        let long = vec![0.0_f32; mapped.n_features() + 1];
        assert_eq!(mapped.predict(&long), None);
    }
    assert!(rows > 400, "{rows} rows");
}

/// `inner` lies inside `outer`.
fn inside<T>(inner: &[T], outer: &[u8]) -> bool {
    let o = outer.as_ptr_range();
    let i = inner.as_ptr_range();
    !inner.is_empty() && i.start as usize >= o.start as usize && i.end as usize <= o.end as usize
}

#[test]
fn weight_sections_point_into_the_mapping() {
    let dir = temp_dir("pointers");
    let (_, path) = convert("regression.txt", &dir);
    let model = open(&path);
    let map = model.mapping();
    assert_eq!(map.len() as u64, std::fs::metadata(&path).unwrap().len());
    let view = model.trees().unwrap();
    assert!(inside(view.nodes(), map), "nodes were copied");
    assert!(inside(view.leaf_values(), map), "leaf values were copied");
    assert!(inside(view.roots(), map), "roots were copied");
    // and every section starts 64-byte aligned in the file
    for ptr in [
        view.nodes().as_ptr() as usize,
        view.leaf_values().as_ptr() as usize,
        view.roots().as_ptr() as usize,
    ] {
        assert_eq!((ptr - map.as_ptr() as usize) % ltw::ALIGN, 0);
    }

    let lin = dir.join("linear.ltw");
    ltw::write_linear(&lin, &[1.0, 2.0], 0.0, Objective::Regression).unwrap();
    let lin = open(&lin);
    assert!(inside(lin.linear().unwrap().0, lin.mapping()));

    let mlp = dir.join("mlp.ltw");
    ltw::write_mlp(&mlp, 2, &small_mlp(Activation::Relu), Objective::Regression).unwrap();
    let mlp = open(&mlp);
    let (layers, weights, biases) = mlp.mlp().unwrap();
    assert!(inside(layers, mlp.mapping()));
    assert!(inside(weights, mlp.mapping()));
    assert!(inside(biases, mlp.mapping()));
}

#[test]
fn linear_round_trip() {
    let dir = temp_dir("linear");
    let path = dir.join("m.ltw");
    ltw::write_linear(&path, &[0.5, -2.0, 0.25], 1.0, Objective::Regression).unwrap();
    let mut m = open(&path);
    assert_eq!(m.kind(), LtwKind::Linear);
    assert_eq!(m.n_features(), 3);
    // 0.5·2 − 2·1 + 0.25·4 + 1 = 1
    assert_eq!(m.predict(&[2.0, 1.0, 4.0]), Some(1.0));
    assert_eq!(m.predict(&[0.0, 0.0, 0.0]), Some(1.0));
    assert_eq!(m.predict(&[1.0, 1.0]), None);

    ltw::write_linear(
        &path,
        &[0.5, -2.0, 0.25],
        1.0,
        Objective::Binary { sigmoid: 2.0 },
    )
    .unwrap();
    let mut m = open(&path);
    assert_eq!(m.sigmoid(), Some(2.0));
    let p = m.predict(&[2.0, 1.0, 4.0]).unwrap();
    assert_eq!(p, 1.0 / (1.0 + (-2.0_f64).exp()));
}

/// 2 → 2 (`hidden`) → 1 (identity): W1 = [[1, −1], [0.5, 0.5]], b1 = [0, −1];
/// W2 = [[2, 3]], b2 = [0.5].
fn small_mlp(hidden: Activation) -> Vec<DenseLayer> {
    vec![
        DenseLayer {
            n_in: 2,
            n_out: 2,
            weights: vec![1.0, -1.0, 0.5, 0.5],
            biases: vec![0.0, -1.0],
            activation: hidden,
        },
        DenseLayer {
            n_in: 2,
            n_out: 1,
            weights: vec![2.0, 3.0],
            biases: vec![0.5],
            activation: Activation::Identity,
        },
    ]
}

#[test]
fn mlp_round_trip() {
    let dir = temp_dir("mlp");
    let path = dir.join("m.ltw");
    ltw::write_mlp(
        &path,
        2,
        &small_mlp(Activation::Relu),
        Objective::Regression,
    )
    .unwrap();
    let mut m = open(&path);
    assert_eq!(m.kind(), LtwKind::Mlp);
    // [3, 1]: h = relu([2, 1]) = [2, 1]; 2·2 + 3·1 + 0.5
    assert_eq!(m.predict(&[3.0, 1.0]), Some(7.5));
    // [1, 3]: h = relu([−2, 1]) = [0, 1]; 0 + 3 + 0.5
    assert_eq!(m.predict(&[1.0, 3.0]), Some(3.5));
    assert_eq!(m.predict(&[1.0]), None);

    ltw::write_mlp(
        &path,
        2,
        &small_mlp(Activation::Tanh),
        Objective::Binary { sigmoid: 1.0 },
    )
    .unwrap();
    let mut m = open(&path);
    // [1, 3]: h = tanh([−2, 1]); raw = 2·tanh(−2) + 3·tanh(1) + 0.5
    let raw = 2.0 * (-2.0_f64).tanh() + 3.0 * 1.0_f64.tanh() + 0.5;
    assert_eq!(m.predict(&[1.0, 3.0]), Some(1.0 / (1.0 + (-raw).exp())));

    // a layer that does not chain is refused at write time
    let mut bad = small_mlp(Activation::Relu);
    bad[1].n_in = 3;
    bad[1].weights = vec![1.0; 3];
    assert!(ltw::write_mlp(&dir.join("bad.ltw"), 2, &bad, Objective::Regression).is_err());
}

/// A good tree file's bytes, and where a broken copy goes.
fn good_bytes(test: &str) -> (Vec<u8>, PathBuf) {
    let dir = temp_dir(test);
    let (_, path) = convert("regression.txt", &dir);
    (std::fs::read(&path).unwrap(), dir.join("bad.ltw"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Byte offset of section `i`'s table entry.
fn section(i: usize) -> usize {
    64 + 24 * i
}

/// Writes `bytes` to `path`, opens it, and requires an error naming the file
/// and a fix and containing `what`.
fn refused(bytes: &[u8], path: &Path, what: &str, fix: &str) {
    std::fs::write(path, bytes).unwrap();
    let err = LtwModel::open(path).expect_err(what).to_string();
    assert!(
        err.contains(&path.display().to_string()),
        "no file name: {err}"
    );
    assert!(err.contains(what), "expected {what:?} in {err}");
    assert!(err.contains("fix: ") && err.contains(fix), "no fix: {err}");
}

const REGENERATE: &str = "regenerate it with `live-trading models convert";

#[test]
fn wrong_magic_is_refused() {
    let (_, bad) = good_bytes("magic");
    // a LightGBM text model where the .ltw file should be
    let text = std::fs::read(fixture("regression.txt")).unwrap();
    refused(
        &text,
        &bad,
        "not a .ltw weight file",
        "models convert model.txt -o model.ltw",
    );
}

#[test]
fn unsupported_version_is_refused() {
    let (mut b, bad) = good_bytes("version");
    put_u32(&mut b, 8, 2);
    refused(
        &b,
        &bad,
        "format version 2 is not supported",
        "re-convert the model",
    );
}

#[test]
fn truncated_files_are_refused() {
    let (b, bad) = good_bytes("truncated");
    refused(&b[..b.len() - 5], &bad, "truncated", REGENERATE);
    refused(
        &b[..100],
        &bad,
        "shorter than the 192-byte header",
        REGENERATE,
    );
    refused(&[], &bad, "shorter than", REGENERATE);
}

#[test]
fn checksum_mismatch_is_refused() {
    let (mut b, bad) = good_bytes("checksum");
    let leaves = u64_at(&b, section(1)) as usize;
    b[leaves + 3] ^= 0x40;
    refused(&b, &bad, "checksum mismatch", REGENERATE);
    // a damaged header field is covered too
    let (mut b, _) = good_bytes("checksum");
    b[24] ^= 1;
    b[16] |= 1; // sigmoid flag with a non-zero sigmoid: passes the flag check
    refused(&b, &bad, "checksum mismatch", REGENERATE);
}

#[test]
fn section_out_of_bounds_is_refused() {
    let (mut b, bad) = good_bytes("bounds");
    put_u64(&mut b, section(2) + 8, 1 << 40);
    ltw::seal(&mut b);
    refused(&b, &bad, "outside the file", REGENERATE);
    // offset + length overflowing u64
    let (mut b, _) = good_bytes("bounds");
    put_u64(&mut b, section(2) + 8, u64::MAX - 8);
    ltw::seal(&mut b);
    refused(&b, &bad, "outside the file", REGENERATE);
}

#[test]
fn misaligned_offset_is_refused() {
    let (mut b, bad) = good_bytes("misaligned");
    let off = u64_at(&b, section(1));
    put_u64(&mut b, section(1), off + 8);
    ltw::seal(&mut b);
    refused(&b, &bad, "not 64-byte aligned", REGENERATE);
}

#[test]
fn node_index_out_of_range_is_refused() {
    let (mut b, bad) = good_bytes("node-index");
    let nodes = u64_at(&b, section(0)) as usize;
    // node 0's left child (offset 16 in the node) → node 9999
    put_u32(&mut b, nodes + 16, 9999);
    ltw::seal(&mut b);
    refused(
        &b,
        &bad,
        "node 0 (left) points to node 9999, past the end",
        REGENERATE,
    );
    // a split feature past the row
    let (mut b, _) = good_bytes("node-index");
    put_u32(&mut b, nodes + 8, 6);
    ltw::seal(&mut b);
    refused(&b, &bad, "splits on feature 6", REGENERATE);
}

#[test]
fn shape_mismatch_is_refused() {
    let (mut b, bad) = good_bytes("shape");
    let n_trees = u64_at(&b, 32);
    put_u64(&mut b, 32, n_trees + 1);
    ltw::seal(&mut b);
    refused(&b, &bad, "shape mismatch", REGENERATE);
    // n_features disagreeing with the MLP's first layer
    let mut m = ltw::mlp_bytes(2, &small_mlp(Activation::Relu), Objective::Regression).unwrap();
    put_u32(&mut m, 20, 3);
    ltw::seal(&mut m);
    refused(
        &m,
        &bad,
        "layer 0 reads 2 inputs, but 3 come in",
        REGENERATE,
    );
}

#[test]
fn the_checksum_excludes_only_itself() {
    let (b, _) = good_bytes("sealed");
    let mut c = b.clone();
    c[CHECKSUM_OFFSET..HEADER_SIZE].fill(0);
    ltw::seal(&mut c);
    assert_eq!(b, c);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_live-trading"))
}

#[test]
fn models_convert_end_to_end() {
    let dir = temp_dir("cli");
    let out = dir.join("model.ltw");
    let run = bin()
        .args(["models", "convert"])
        .arg(fixture("binary.txt"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{run:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.contains("30 trees") && stdout.contains("sigmoid"),
        "{stdout}"
    );
    let mut text = LightGbmModel::load(fixture("binary.txt")).unwrap();
    let mut mapped = open(&out);
    let row = [0.5_f32, -1.0, 2.0, 0.0, f32::NAN];
    assert!(same(
        mapped.predict(&row).unwrap(),
        text.predict(&row).unwrap()
    ));

    // an input the engine cannot evaluate: exit 2, the file and the fix
    let run = bin()
        .args(["models", "convert"])
        .arg(fixture("categorical.txt"))
        .arg("--output")
        .arg(dir.join("cat.ltw"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("categorical.txt") && stderr.contains("fix:"),
        "{stderr}"
    );
    assert!(!dir.join("cat.ltw").exists());

    // an output directory that does not exist
    let missing = dir.join("no/such/dir/m.ltw");
    let run = bin()
        .args(["models", "convert"])
        .arg(fixture("binary.txt"))
        .arg("-o")
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("m.ltw") && stderr.contains("fix:"),
        "{stderr}"
    );
}
