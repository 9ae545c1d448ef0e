//! Why a run cannot be loaded ([`ArtifactError`], collected into
//! [`ArtifactErrors`]) and what loads but deserves a look
//! ([`ArtifactWarning`]). Every error names the file or directory at fault
//! and says how to fix it.
//!
//! Cold path: start-up and `live-trading models inspect` only.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use crate::features::kind::CATALOGUE;
use crate::models::artifact::ModelFormat;
use crate::models::meta::{MetaProblem, META_FILE};

/// The exporter that writes the run layout (model file, `model_meta.json`
/// with its checksum); named in every fix that needs a re-export.
pub const EXPORT_TOOL: &str = "tools/export_model.py";

/// One reason a run cannot be loaded, at one path.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {problem}\n  fix: {}", .path.display(), self.fix())]
pub struct ArtifactError {
    /// The file or directory at fault.
    pub path: PathBuf,
    pub problem: ArtifactProblem,
}

/// What is wrong (the path is on [`ArtifactError`]).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ArtifactProblem {
    #[error("cannot {action}: {message}")]
    Io {
        /// What was attempted (`read the directory`, `hash the model file`).
        action: &'static str,
        message: String,
    },
    #[error("{arg:?} is neither a run directory nor a run id (looked at {})", list_paths(.tried))]
    RunNotFound { arg: String, tried: Vec<PathBuf> },
    #[error("the run has no targets: `targets/` is missing or holds no target directory")]
    NoTargets,
    #[error(
        "no model can be loaded: of {targets} targets, {ignored} are ignored and the \
         {skipped} models found were skipped"
    )]
    NoLoadableModel {
        targets: usize,
        ignored: usize,
        skipped: usize,
    },
    #[error("the name is not valid UTF-8")]
    NotUtf8,
    #[error("unknown view {view:?}: expected view=CROSS_SECTIONAL or view=SEQUENTIAL")]
    UnknownView { view: String },
    #[error("the family name is empty")]
    EmptyFamily,
    #[error("{META_FILE} is missing")]
    MetaMissing,
    #[error("{0}")]
    Meta(MetaProblem),
    #[error(
        "only a Python pickle is here ({}); pickles are out of scope: loading one runs \
         arbitrary code and needs Python",
        list_paths(.files)
    )]
    PickleOnly { files: Vec<PathBuf> },
    #[error("model.json (XGBoost JSON) is not supported yet")]
    XgboostJson,
    #[error(
        "no model file: expected model.onnx, model.txt or model.ltw beside {META_FILE} \
         (found {})",
        if .found.is_empty() { "nothing else".to_owned() } else { .found.join(", ") }
    )]
    NoModelFile { found: Vec<String> },
    #[error("several model files ({}): model_checksum can only describe one", .files.join(", "))]
    AmbiguousModelFiles { files: Vec<String> },
    #[error("the model file is empty (truncated)")]
    EmptyModelFile,
    #[error(
        "checksum mismatch: model_checksum is {expected:?}, the file's SHA-256 is {actual} \
         (the file is truncated, corrupted or not the one trained)"
    )]
    ChecksumMismatch { expected: String, actual: String },
    #[error("model_checksum is missing, so {} cannot be verified", .model_file.display())]
    ChecksumMissing { model_file: PathBuf },
    #[error("model {model}: unknown feature {feature:?}{}", did_you_mean(*.closest))]
    UnknownFeature {
        model: String,
        feature: String,
        /// The closest known feature name, if one is close.
        closest: Option<&'static str>,
    },
    #[error("model {model}: n_features is {n_features} but `{key}` lists {listed} features")]
    FeatureCount {
        model: String,
        n_features: usize,
        listed: usize,
        key: &'static str,
    },
    #[error("model {model}: input_mode is features but the feature list is missing or empty")]
    NoFeatures { model: String },
    #[error(
        "model {model}: view=SEQUENTIAL takes a window of feature rows, but \
         sequence_length is missing"
    )]
    WindowMissing { model: String },
    #[error("model {model} is defined twice (also in {})", .other.display())]
    DuplicateModel { model: String, other: PathBuf },
    #[error("{count} models: at most {max} are supported")]
    TooManyModels { count: usize, max: usize },
    #[error("the engine cannot compute the run's features: {message}")]
    FeatureSet { message: String },
    #[error("cannot load the {} model: {message}", .format.name())]
    Backend {
        format: ModelFormat,
        /// The back-end's own account of the problem.
        message: String,
        /// The back-end's fix, when it has a more precise one than
        /// re-exporting.
        fix: Option<String>,
    },
    #[error(
        "model {model} needs {warmup_bars} bars to warm up, but data.history_bars keeps \
         only {history_bars}"
    )]
    WarmupExceedsHistory {
        model: String,
        warmup_bars: usize,
        history_bars: usize,
    },
}

impl ArtifactError {
    pub fn new(path: impl Into<PathBuf>, problem: ArtifactProblem) -> ArtifactError {
        ArtifactError {
            path: path.into(),
            problem,
        }
    }

    /// How to fix it: what to run, rename or set.
    pub fn fix(&self) -> Cow<'static, str> {
        let path = self.path.display();
        let dev_only = "for development only, `models.strict_checksums: false` turns this into \
                        a warning";
        match &self.problem {
            ArtifactProblem::Io { .. } => {
                "check that the path exists and is readable by the engine's user".into()
            }
            ArtifactProblem::RunNotFound { .. } => {
                "pass a run directory (RESULTS/runs/<run_id>/<timestamp>/, the one holding \
                 targets/), a run id directory (RESULTS/runs/<run_id>/, the latest timestamp \
                 is used) or a bare run id found under --results"
                    .into()
            }
            ArtifactProblem::NoTargets => {
                "point at a finished training run: the timestamp directory that holds \
                 targets/<target>/models/view=<VIEW>/family=<Family>/"
                    .into()
            }
            ArtifactProblem::NoLoadableModel { .. } => {
                "list the run's horizons in `horizons` and set `volatility.bar_minutes` to the \
                 models' interval_minutes; `live-trading models inspect` shows why each target \
                 or model was left out"
                    .into()
            }
            ArtifactProblem::NotUtf8 => "rename it using ASCII letters, digits, `_` and `=`".into(),
            ArtifactProblem::UnknownView { .. } => {
                "rename the directory to view=CROSS_SECTIONAL or view=SEQUENTIAL".into()
            }
            ArtifactProblem::EmptyFamily => "rename the directory to family=<Family>".into(),
            ArtifactProblem::MetaMissing => format!(
                "export the model with `python {EXPORT_TOOL}`, which writes {META_FILE} beside \
                 the model file"
            )
            .into(),
            ArtifactProblem::Meta(p) => p.fix(),
            ArtifactProblem::PickleOnly { files } => {
                let file = files
                    .first()
                    .map_or_else(|| "<model.pkl>".to_owned(), |f| f.display().to_string());
                format!(
                    "export it to a supported format: `python {EXPORT_TOOL} --from-pickle {file} \
                     --out {path}` writes model.txt (LightGBM) or model.onnx and updates \
                     {META_FILE} with its model_checksum"
                )
                .into()
            }
            ArtifactProblem::XgboostJson => {
                let out = self
                    .path
                    .parent()
                    .map_or_else(|| ".".to_owned(), |d| d.display().to_string());
                format!(
                    "retrain the model with LightGBM and export it: `python {EXPORT_TOOL} \
                     --from-lightgbm model.txt --out {out}` (or `--from-pickle` for a pickled \
                     LGBMRegressor) writes model.txt and {META_FILE} with its model_checksum; \
                     then remove model.json (no converter turns XGBoost trees into ops the \
                     engine runs)"
                )
                .into()
            }
            ArtifactProblem::NoModelFile { .. } => format!(
                "put the exported model file (model.onnx, model.txt or model.ltw) beside \
                 {META_FILE}; `python {EXPORT_TOOL}` writes both"
            )
            .into(),
            ArtifactProblem::AmbiguousModelFiles { .. } => {
                "keep only the file model_checksum was computed for (compare with `sha256sum`)"
                    .into()
            }
            ArtifactProblem::EmptyModelFile => format!(
                "copy the model file again from the training run, or re-export it with \
                 `python {EXPORT_TOOL}`"
            )
            .into(),
            ArtifactProblem::ChecksumMismatch { .. } => format!(
                "copy the model file again from the training run, or re-export it with \
                 `python {EXPORT_TOOL}` (which writes a fresh model_checksum); {dev_only}"
            )
            .into(),
            ArtifactProblem::ChecksumMissing { model_file } => format!(
                "re-export the model with `python {EXPORT_TOOL}`, which writes model_checksum \
                 (the SHA-256 of {}, as `sha256sum` prints it); {dev_only}",
                model_file.display()
            )
            .into(),
            ArtifactProblem::UnknownFeature { closest, .. } => {
                let known: Vec<&str> = CATALOGUE.iter().map(|(n, _)| *n).collect();
                let rename = closest.map_or(String::new(), |c| {
                    format!(
                        "rename it to `{c}` if that is the feature the model was trained on, or "
                    )
                });
                format!(
                    "{rename}retrain the model without it; the engine computes only: {}",
                    known.join(", ")
                )
                .into()
            }
            ArtifactProblem::FeatureCount { .. } => format!(
                "the metadata does not describe this model's input: re-export it with \
                 `python {EXPORT_TOOL}`"
            )
            .into(),
            ArtifactProblem::NoFeatures { .. } => {
                "list the model's input features in feature_list, or set input_mode to \
                 raw_sequence with its sequence_length"
                    .into()
            }
            ArtifactProblem::WindowMissing { .. } => format!(
                "add sequence_length (feature rows per window) to {META_FILE}, or move the model \
                 to view=CROSS_SECTIONAL if it takes one row"
            )
            .into(),
            ArtifactProblem::DuplicateModel { .. } => {
                "keep one view=<VIEW> directory per target and family".into()
            }
            ArtifactProblem::TooManyModels { .. } => {
                "remove families or targets from the run, or leave horizons out of `horizons`"
                    .into()
            }
            ArtifactProblem::FeatureSet { .. } => format!(
                "the models together may use at most {} distinct features over \
                 data.history_bars bars: retrain some of them on fewer features",
                crate::features::incremental::MAX_FEATURES
            )
            .into(),
            ArtifactProblem::Backend { fix: Some(fix), .. } => fix.clone().into(),
            ArtifactProblem::Backend { fix: None, .. } => format!(
                "re-export the model with `python {EXPORT_TOOL}`, or copy the file again from \
                 the training run"
            )
            .into(),
            ArtifactProblem::WarmupExceedsHistory { warmup_bars, .. } => {
                format!("raise data.history_bars to at least {warmup_bars}").into()
            }
        }
    }
}

/// Every error found in one run, in walk order (targets and families
/// byte-wise sorted), then the checks across models. Never empty when
/// returned as an error.
#[derive(Clone, Debug, Default, PartialEq, thiserror::Error)]
pub struct ArtifactErrors(pub Vec<ArtifactError>);

impl ArtifactErrors {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ArtifactError> {
        self.0.iter()
    }
}

impl From<ArtifactError> for ArtifactErrors {
    fn from(e: ArtifactError) -> ArtifactErrors {
        ArtifactErrors(vec![e])
    }
}

impl<'a> IntoIterator for &'a ArtifactErrors {
    type Item = &'a ArtifactError;
    type IntoIter = std::slice::Iter<'a, ArtifactError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Each error with its fix, one after the other.
impl fmt::Display for ArtifactErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Something that loads but deserves a look.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}: {kind}", .path.display())]
pub struct ArtifactWarning {
    pub path: PathBuf,
    pub kind: WarningKind,
}

/// What the warning is about.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum WarningKind {
    #[error(
        "checksum mismatch (model_checksum {expected:?}, file {actual}); loaded anyway because \
         models.strict_checksums is false"
    )]
    ChecksumMismatch { expected: String, actual: String },
    #[error("model_checksum is missing; loaded anyway because models.strict_checksums is false")]
    ChecksumMissing,
    #[error("model checksums are not verified (models.verify_checksums is false)")]
    ChecksumsNotVerified,
    #[error("{META_FILE} says {field} {meta:?}, but the directory says {dir:?}")]
    NameMismatch {
        field: &'static str,
        meta: String,
        dir: String,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn did_you_mean(closest: Option<&str>) -> String {
    closest.map_or(String::new(), |c| format!(" (did you mean `{c}`?)"))
}
