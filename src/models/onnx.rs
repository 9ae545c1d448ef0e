//! `model.onnx` back-end: neural nets and linear models exported to ONNX
//! (skl2onnx regressors, classifiers reduced to P(class 1) by
//! tools/export_model.py, small hand-built graphs).
//!
//! Loading ([`OnnxModel::load`]) is cold: tract-onnx parses the file, fixes
//! the input to `f32 [1, n_features]` and builds its optimised plan once;
//! then the graph is lowered to a native row program (`onnx/lower.rs`),
//! which is run beside tract's plan on a few probe rows and refused on any
//! disagreement beyond `1e-5·max(1, |y|)`. Every refusal is an
//! [`OnnxError`] naming the file and the fix.
//!
//! Prediction ([`Predictor::predict`]) runs on the engine thread. With
//! [`OnnxEngine::Native`] it is hot path: no allocation, no blocking, no
//! logging. A graph with an op the lowering does not handle still loads and
//! predicts through tract's plan ([`OnnxEngine::Tract`]), which allocates
//! its output tensors on every call; start-up and `models inspect` say so.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use crate::models::Predictor;

mod load;
mod lower;
mod program;
mod tract;

#[cfg(test)]
mod tests;

pub use lower::NotLowered;

/// The tolerance of the load-time cross-check: `|native - tract| <=
/// CROSS_CHECK_TOLERANCE · max(1, |tract|)`.
pub const CROSS_CHECK_TOLERANCE: f64 = 1e-5;

/// Which evaluator predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnnxEngine {
    /// The lowered row program: allocation-free.
    Native,
    /// tract's plan: allocates per prediction.
    Tract,
}

impl std::fmt::Display for OnnxEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            OnnxEngine::Native => "native",
            OnnxEngine::Tract => "tract",
        })
    }
}

#[derive(Debug)]
enum Engine {
    Native(program::Program),
    Tract(Box<tract::TractRunner>),
}

/// A loaded ONNX model predicting one value per row.
#[derive(Debug)]
pub struct OnnxModel {
    path: PathBuf,
    n_features: usize,
    engine: Engine,
    /// Why the graph stays on tract ([`OnnxEngine::Tract`] only).
    not_lowered: Option<NotLowered>,
    description: String,
}

impl OnnxModel {
    /// Reads, checks and compiles `path` for rows of `n_features` values
    /// (the length of the model's `feature_list`). Cold.
    pub fn load(path: &Path, n_features: usize) -> Result<OnnxModel, OnnxError> {
        let model = load::load(path, n_features);
        // tract's kernels (run by the cross-check) leave the upper halves
        // of the vector registers dirty; see `clear_upper_vector_state`.
        clear_upper_vector_state();
        model
    }

    /// Which evaluator predicts.
    pub fn engine(&self) -> OnnxEngine {
        match self.engine {
            Engine::Native(_) => OnnxEngine::Native,
            Engine::Tract(_) => OnnxEngine::Tract,
        }
    }

    /// Row length.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// The model file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Why the graph was not lowered (the first node the native evaluator
    /// cannot run); `None` on [`OnnxEngine::Native`].
    pub fn not_lowered(&self) -> Option<&NotLowered> {
        self.not_lowered.as_ref()
    }

    /// One line for `models inspect` and start-up logs: the evaluator, its
    /// steps and layer shapes, or why the graph stays on tract.
    pub fn describe(&self) -> String {
        self.description.clone()
    }
}

impl Predictor for OnnxModel {
    fn n_features(&self) -> usize {
        self.n_features
    }

    /// The single output widened to f64. `None` when `row` has the wrong
    /// length. On the tract engine a failed run yields NaN (unavailable).
    fn predict(&mut self, row: &[f32]) -> Option<f64> {
        if row.len() != self.n_features {
            return None;
        }
        match &mut self.engine {
            Engine::Native(p) => p.run(row).map(f64::from),
            Engine::Tract(t) => {
                let y = t.run(row).unwrap_or(f64::NAN);
                clear_upper_vector_state();
                Some(y)
            }
        }
    }
}

/// Mark the upper halves of the AVX registers clean (`vzeroupper`).
///
/// tract's AVX/AVX-512 kernels return with them dirty. Until something
/// clears them, every SSE instruction the thread runs afterwards — all of
/// the engine's scalar floating point, built for the baseline x86-64 CPU —
/// pays a state-transition penalty: measured here, the temperature stage
/// went from 79 to 635 ns on a thread that had loaded ONNX models. Called
/// after every use of tract; a no-op without AVX or off x86-64.
pub fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above), which is all
        // `vzeroupper` needs. It zeroes bits 128 and up of the vector
        // registers; no Rust value is live in them across this call (the
        // x86-64 calling convention saves no vector register across calls).
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zero_upper() {
    std::arch::x86_64::_mm256_zeroupper();
}

/// A `model.onnx` the engine refuses, with where and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {problem}\n  fix: {}", .path.display(), self.fix())]
pub struct OnnxError {
    /// The model file.
    pub path: PathBuf,
    pub problem: OnnxProblem,
}

/// What is wrong (the path is on [`OnnxError`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OnnxProblem {
    #[error("cannot read the file: {message}")]
    Io { message: String },
    #[error("the file is empty (truncated)")]
    Empty,
    #[error("not an ONNX model: the protobuf does not decode ({message}); the file is truncated, damaged or not ONNX")]
    NotOnnx { message: String },
    #[error("the model has no graph (truncated or not ONNX)")]
    NoGraph,
    #[error("the model imports no opset of the default ONNX domain (truncated or damaged)")]
    NoOpset,
    #[error("the model is malformed: {what}")]
    Malformed { what: String },
    #[error("tensor `{name}` keeps its data in an external file, which is not supported")]
    ExternalData { name: String },
    #[error(
        "the graph has {} inputs ({}); the engine feeds exactly one float row",
        .names.len(),
        .names.join(", ")
    )]
    Inputs { names: Vec<String> },
    #[error("input `{name}` is {found}, not float32")]
    InputType { name: String, found: String },
    #[error(
        "input `{name}` has shape {shape}, expected [batch, features] with batch 1 or symbolic"
    )]
    InputShape { name: String, shape: String },
    #[error(
        "the model takes {model} features per row but the feature_list has {expected} \
         (model_meta.json)"
    )]
    Width { model: usize, expected: usize },
    #[error(
        "the graph has {} outputs ({}); the engine needs exactly one value per row",
        .names.len(),
        .names.join(", ")
    )]
    Outputs { names: Vec<String> },
    #[error(
        "output `{name}` has shape {shape:?}: {} values per row, the engine needs exactly one",
        .shape.iter().product::<usize>()
    )]
    OutputShape { name: String, shape: Vec<usize> },
    #[error("output `{name}` is {found}, not a float")]
    OutputType { name: String, found: String },
    #[error("tract cannot {stage} the graph for input f32 [1, {n_features}]: {message}")]
    Tract {
        stage: &'static str,
        n_features: usize,
        message: String,
    },
    #[error(
        "the native evaluator and tract disagree on probe row {probe}: native {native}, \
         tract {tract} (tolerance 1e-5·max(1, |y|))"
    )]
    Mismatch {
        probe: usize,
        native: f64,
        tract: f64,
    },
}

impl OnnxError {
    pub fn new(path: impl Into<PathBuf>, problem: OnnxProblem) -> OnnxError {
        OnnxError {
            path: path.into(),
            problem,
        }
    }

    /// How to fix it.
    pub fn fix(&self) -> Cow<'static, str> {
        const REEXPORT: &str = "copy model.onnx again from the training run, or re-export it \
            with `python tools/export_model.py`";
        Cow::Borrowed(match &self.problem {
            OnnxProblem::Io { .. } => {
                "check that the path exists and is readable by the engine's user"
            }
            OnnxProblem::Empty
            | OnnxProblem::NotOnnx { .. }
            | OnnxProblem::NoGraph
            | OnnxProblem::NoOpset
            | OnnxProblem::Malformed { .. } => REEXPORT,
            OnnxProblem::ExternalData { .. } => {
                "re-export the model with its weights inside model.onnx (`python \
                 tools/export_model.py`; onnx.save with save_as_external_data=False)"
            }
            OnnxProblem::Inputs { .. }
            | OnnxProblem::InputType { .. }
            | OnnxProblem::InputShape { .. } => {
                "export the model with a single float32 input of shape [None, n_features] \
                 (skl2onnx: FloatTensorType([None, n_features])), as `python \
                 tools/export_model.py` does"
            }
            OnnxProblem::Width { .. } => {
                "export the model and its model_meta.json from the same training run: \
                 feature_list must list exactly the model's input features, in order"
            }
            OnnxProblem::Outputs { .. }
            | OnnxProblem::OutputShape { .. }
            | OnnxProblem::OutputType { .. } => {
                "export regressors with one output of shape [N, 1]; export classifiers with \
                 `python tools/export_model.py`, which keeps only P(class 1) as the single \
                 output `probability`"
            }
            OnnxProblem::Tract { .. } => {
                "re-export the model with opset 13 to 18 and standard ONNX ops only (`python \
                 tools/export_model.py`); check that the model's input width matches \
                 feature_list"
            }
            OnnxProblem::Mismatch { .. } => {
                "this is an engine defect for this graph: report it with the model file; \
                 meanwhile export the model as model.txt (LightGBM) or convert it to .ltw"
            }
        })
    }
}
