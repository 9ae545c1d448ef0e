//! One loaded model file behind the [`Predictor`] trait: the back-end a
//! [`PlannedModel`] names, opened and checked
//! against its metadata.
//!
//! [`Backend::load`] is cold (start-up): it reads or maps the file, checks
//! its input width against the model's `feature_list` (or window), and
//! reports any problem as an [`ArtifactError`] naming the file and the fix.
//! [`Backend::predict`] runs on the engine thread: a `match` over the
//! formats, no allocation, no blocking, no logging (each back-end keeps its
//! own preallocated scratch).

use super::artifact::{ArtifactError, ArtifactProblem, ModelFormat, ModelInput, PlannedModel};
use super::lightgbm::{LightGbmModel, Objective};
use super::ltw::LtwModel;
use super::onnx::{OnnxEngine, OnnxModel};
use super::Predictor;

/// A model file, loaded.
#[derive(Debug)]
pub enum Backend {
    /// `model.txt`, parsed into flat tree arrays.
    LightGbm(LightGbmModel),
    /// `model.ltw`, memory-mapped.
    Ltw(LtwModel),
    /// `model.onnx`, lowered to a native row program (or run by tract's
    /// plan when the graph has an op the lowering lacks).
    Onnx(OnnxModel),
}

impl Backend {
    /// Open `model`'s file and check it against its metadata.
    ///
    /// # Errors
    /// The file does not parse or map, or takes another number of inputs
    /// than the metadata describes (`feature_list`, or the window for
    /// sequential models), or a LightGBM model's feature names differ from
    /// `feature_list`.
    #[allow(clippy::disallowed_macros)] // cold: start-up
    pub fn load(model: &PlannedModel) -> Result<Backend, ArtifactError> {
        let path = &model.model_path;
        let fail = |message: String, fix: Option<String>| {
            ArtifactError::new(
                path.clone(),
                ArtifactProblem::Backend {
                    format: model.format,
                    message,
                    fix,
                },
            )
        };
        let width = input_width(model);
        let backend = match model.format {
            ModelFormat::LightGbmText => {
                let lgb =
                    LightGbmModel::load(path).map_err(|e| fail(lightgbm_message(&e), None))?;
                if model.input == ModelInput::Row {
                    lgb.check_feature_list(&model.meta.feature_list)
                        .map_err(|e| fail(lightgbm_message(&e), None))?;
                }
                Backend::LightGbm(lgb)
            }
            ModelFormat::Ltw => {
                let ltw = LtwModel::open(path)
                    .map_err(|e| fail(e.kind.to_string(), Some(e.kind.fix().to_owned())))?;
                Backend::Ltw(ltw)
            }
            ModelFormat::Onnx => Backend::Onnx(
                OnnxModel::load(path, width)
                    .map_err(|e| fail(e.problem.to_string(), Some(e.fix().into_owned())))?,
            ),
        };
        if backend.n_features() != width {
            return Err(fail(
                format!(
                    "the model takes {} inputs but {} describes {width} ({})",
                    backend.n_features(),
                    super::meta::META_FILE,
                    input_description(model),
                ),
                Some(format!(
                    "re-export the model with `python {}` so that its metadata matches it",
                    super::artifact::EXPORT_TOOL
                )),
            ));
        }
        Ok(backend)
    }

    /// The file format.
    pub fn format(&self) -> ModelFormat {
        match self {
            Backend::LightGbm(_) => ModelFormat::LightGbmText,
            Backend::Ltw(_) => ModelFormat::Ltw,
            Backend::Onnx(_) => ModelFormat::Onnx,
        }
    }

    /// One line for listings: format, shape and size.
    #[allow(clippy::disallowed_macros)] // cold: `models inspect`
    pub fn describe(&self) -> String {
        match self {
            Backend::LightGbm(m) => {
                let e = m.ensemble();
                format!(
                    "LightGBM {}, {} trees, {} split nodes, {} inputs",
                    match m.objective() {
                        Objective::Regression => "regression".to_owned(),
                        Objective::Binary { sigmoid } => format!("binary (sigmoid {sigmoid})"),
                    },
                    e.n_trees(),
                    e.nodes().len(),
                    e.n_features()
                )
            }
            Backend::Ltw(m) => format!(
                ".ltw {}, {} inputs, {} bytes memory-mapped",
                m.kind(),
                m.n_features(),
                m.mapping().len()
            ),
            Backend::Onnx(m) => format!("ONNX, {}", m.describe()),
        }
    }

    /// Whether a prediction allocates: only an ONNX graph left to tract's
    /// plan does (tract allocates its tensors per run); start-up warns.
    pub fn allocates(&self) -> bool {
        matches!(self, Backend::Onnx(m) if m.engine() == OnnxEngine::Tract)
    }
}

impl Predictor for Backend {
    #[inline]
    fn n_features(&self) -> usize {
        match self {
            Backend::LightGbm(m) => m.n_features(),
            Backend::Ltw(m) => m.n_features(),
            Backend::Onnx(m) => m.n_features(),
        }
    }

    #[inline]
    fn predict(&mut self, row: &[f32]) -> Option<f64> {
        match self {
            Backend::LightGbm(m) => m.predict_f32(row),
            Backend::Ltw(m) => m.predict_f32(row),
            Backend::Onnx(m) => m.predict(row),
        }
    }
}

/// The number of `f32` inputs the model's metadata describes: its features,
/// or a window of them, or a window of bar channels.
pub fn input_width(model: &PlannedModel) -> usize {
    match model.input {
        ModelInput::Row => model.features.len(),
        ModelInput::FeatureWindow { length } => length * model.features.len(),
        ModelInput::RawWindow { length, .. } => length * model.meta.sequence_channels.len(),
    }
}

#[allow(clippy::disallowed_macros)] // cold: error text
fn input_description(model: &PlannedModel) -> String {
    match model.input {
        ModelInput::Row => format!("{} features", model.features.len()),
        ModelInput::FeatureWindow { length } => {
            format!("{length} rows × {} features", model.features.len())
        }
        ModelInput::RawWindow { length, .. } => format!(
            "{length} bars × {} channels",
            model.meta.sequence_channels.len()
        ),
    }
}

/// A LightGBM error without its path (the artifact error carries it).
#[allow(clippy::disallowed_macros)] // cold: error text
fn lightgbm_message(e: &super::lightgbm::LightGbmError) -> String {
    match e.line {
        Some(line) => format!("line {line}: {}", e.kind),
        None => e.kind.to_string(),
    }
}
