//! The walk over a run directory (SPEC §4): run-id resolution, target and
//! family directories, model-file formats, metadata, checksums and feature
//! names. The result, [`RunScan`], lists everything found — loadable,
//! skipped, ignored — with every error, so `models inspect` can show the
//! whole run and start-up can refuse it with every reason at once.
//!
//! Cold path: start-up and `live-trading models inspect` only.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{ArtifactError, ArtifactProblem, ArtifactWarning, WarningKind};
use super::{ModelInput, PlanSettings};
use crate::features::kind::CATALOGUE;
use crate::features::Feature;
use crate::horizon::{target_horizon, TargetRole};
use crate::models::meta::{InputMode, ModelMeta, META_FILE};
use crate::pipeline::decision::MAX_MODELS;
use crate::types::HorizonId;

/// Directory of the targets inside a run root.
pub const TARGETS_DIR: &str = "targets";
/// Directory of a target's models.
pub const MODELS_DIR: &str = "models";
/// Where run ids live, relative to the results directory.
pub const RUNS_DIR: &str = "runs";

/// A `view=` directory (SPEC §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum View {
    CrossSectional,
    Sequential,
}

impl View {
    /// The name after `view=`.
    pub const fn name(self) -> &'static str {
        match self {
            View::CrossSectional => "CROSS_SECTIONAL",
            View::Sequential => "SEQUENTIAL",
        }
    }

    fn parse(name: &str) -> Option<View> {
        match name {
            "CROSS_SECTIONAL" => Some(View::CrossSectional),
            "SEQUENTIAL" => Some(View::Sequential),
            _ => None,
        }
    }
}

/// A model file format the engine loads (DESIGN §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ModelFormat {
    /// `model.onnx`.
    Onnx,
    /// `model.txt`: LightGBM text format.
    LightGbmText,
    /// `model.ltw`: the engine's own weight file.
    Ltw,
}

impl ModelFormat {
    /// Every format, in detection order.
    pub const ALL: [ModelFormat; 3] = [
        ModelFormat::Onnx,
        ModelFormat::LightGbmText,
        ModelFormat::Ltw,
    ];

    /// The file name inside a family directory.
    pub const fn file_name(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "model.onnx",
            ModelFormat::LightGbmText => "model.txt",
            ModelFormat::Ltw => "model.ltw",
        }
    }

    /// A short name for listings.
    pub const fn name(self) -> &'static str {
        match self {
            ModelFormat::Onnx => "onnx",
            ModelFormat::LightGbmText => "lightgbm-text",
            ModelFormat::Ltw => "ltw",
        }
    }
}

/// The outcome of checking a model file against `model_checksum`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChecksumStatus {
    /// The file's SHA-256 equals `model_checksum`.
    Verified,
    /// They differ (loaded only when `models.strict_checksums` is false).
    Mismatch { expected: String, actual: String },
    /// No `model_checksum` (loaded only when not strict).
    Missing,
    /// `models.verify_checksums` is false.
    NotChecked,
}

impl ChecksumStatus {
    /// A short label for listings.
    pub const fn label(&self) -> &'static str {
        match self {
            ChecksumStatus::Verified => "ok",
            ChecksumStatus::Mismatch { .. } => "MISMATCH",
            ChecksumStatus::Missing => "missing",
            ChecksumStatus::NotChecked => "not checked",
        }
    }
}

/// Why a target is not used (SPEC §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IgnoreReason {
    /// The name does not end in `<N><m|h|d>`.
    NoHorizonSuffix,
    /// The suffix is not one of the configured horizon labels.
    HorizonNotConfigured { suffix: String },
    /// No `models/view=*/family=*` directory.
    NoModels,
}

impl std::fmt::Display for IgnoreReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IgnoreReason::NoHorizonSuffix => {
                f.write_str("no horizon suffix (the name must end in N followed by m, h or d)")
            }
            IgnoreReason::HorizonNotConfigured { suffix } => {
                write!(f, "horizon {suffix} is not in the configured `horizons`")
            }
            IgnoreReason::NoModels => {
                f.write_str("no models/view=<VIEW>/family=<Family>/ directory")
            }
        }
    }
}

/// Why a model is found but not loaded.
#[derive(Clone, Debug, PartialEq)]
pub enum SkipReason {
    /// SPEC §21.20: `interval_minutes` ≠ `bar_minutes`.
    IntervalMismatch {
        interval_minutes: f64,
        bar_minutes: u32,
    },
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::IntervalMismatch {
                interval_minutes,
                bar_minutes,
            } => write!(
                f,
                "interval_minutes {interval_minutes} differs from volatility.bar_minutes {bar_minutes}"
            ),
        }
    }
}

/// Everything the engine needs to load one model.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadableModel {
    pub format: ModelFormat,
    pub model_path: PathBuf,
    pub meta_path: PathBuf,
    pub meta: ModelMeta,
    pub checksum: ChecksumStatus,
    pub input: ModelInput,
    /// The parsed `feature_list`, in its order (empty for raw sequences).
    pub features: Vec<Feature>,
    /// Bars of history before the model can produce an output.
    pub warmup_bars: usize,
}

/// The outcome for one family directory.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelStatus {
    Loadable(Box<LoadableModel>),
    Skipped(SkipReason),
    /// At least one error in [`RunScan::errors`] names this directory.
    Failed,
}

/// One `view=<VIEW>/family=<Family>` directory of a used target.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelEntry {
    pub family: String,
    pub view: View,
    pub dir: PathBuf,
    pub status: ModelStatus,
}

/// Whether a target is used, and its models.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetStatus {
    Ignored(IgnoreReason),
    Used {
        horizon: HorizonId,
        role: TargetRole,
        /// Sorted by family, then view.
        models: Vec<ModelEntry>,
    },
}

/// One directory under `targets/`.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetEntry {
    pub name: String,
    pub dir: PathBuf,
    pub status: TargetStatus,
}

/// Everything found in one run, with every error and warning.
#[derive(Clone, Debug, PartialEq)]
pub struct RunScan {
    pub run_root: PathBuf,
    pub settings: PlanSettings,
    /// Byte-wise sorted by name.
    pub targets: Vec<TargetEntry>,
    pub errors: Vec<ArtifactError>,
    pub warnings: Vec<ArtifactWarning>,
}

/// Find the run directory an argument names.
///
/// - a directory holding `targets/` is the run root itself;
/// - a directory without `targets/` is a run-id directory
///   (`RESULTS/runs/<run_id>/`): its timestamp directories are the
///   subdirectories whose name starts with an ASCII digit, and the latest is
///   the one with the byte-wise greatest name (ISO-style stamps such as
///   `20240102T153000` or `2024-01-02_15-30-00` sort chronologically). A
///   directory with no such subdirectory is returned as is (and then fails
///   with [`ArtifactProblem::NoTargets`]);
/// - otherwise a bare run id is looked up as `<results>/runs/<arg>/`, then
///   as above.
pub fn resolve_run(arg: &Path, results: &Path) -> Result<PathBuf, ArtifactError> {
    if arg.is_dir() {
        return latest_in(arg);
    }
    let by_id = results.join(RUNS_DIR).join(arg);
    let bare = arg.components().count() == 1;
    if bare && by_id.is_dir() {
        return latest_in(&by_id);
    }
    let mut tried = vec![arg.to_owned()];
    if bare {
        tried.push(by_id);
    }
    Err(ArtifactError::new(
        arg,
        ArtifactProblem::RunNotFound {
            arg: arg.display().to_string(),
            tried,
        },
    ))
}

fn latest_in(dir: &Path) -> Result<PathBuf, ArtifactError> {
    if dir.join(TARGETS_DIR).is_dir() {
        return Ok(dir.to_owned());
    }
    let mut stamps = Vec::new();
    for (name, path) in list_dir(dir)? {
        if name.starts_with(|c: char| c.is_ascii_digit()) && path.is_dir() {
            stamps.push((name, path));
        }
    }
    Ok(stamps
        .into_iter()
        .max_by(|a, b| a.0.cmp(&b.0))
        .map_or_else(|| dir.to_owned(), |(_, p)| p))
}

/// A directory's entries with UTF-8 names, byte-wise sorted; entries whose
/// names start with `.` are left out.
fn list_dir(dir: &Path) -> Result<Vec<(String, PathBuf)>, ArtifactError> {
    let io_err = |e: io::Error| {
        ArtifactError::new(
            dir,
            ArtifactProblem::Io {
                action: "read the directory",
                message: e.to_string(),
            },
        )
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err)? {
        let entry = entry.map_err(io_err)?;
        let path = entry.path();
        let Ok(name) = entry.file_name().into_string() else {
            return Err(ArtifactError::new(path, ArtifactProblem::NotUtf8));
        };
        if !name.starts_with('.') {
            out.push((name, path));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

impl RunScan {
    /// Walk `run_root` (the directory holding `targets/`; see
    /// [`resolve_run`]) and check every model against `settings`.
    pub fn scan(run_root: &Path, settings: &PlanSettings) -> RunScan {
        let mut scan = RunScan {
            run_root: run_root.to_owned(),
            settings: settings.clone(),
            targets: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        if !settings.verify_checksums {
            scan.warnings.push(ArtifactWarning {
                path: run_root.to_owned(),
                kind: WarningKind::ChecksumsNotVerified,
            });
        }
        let targets_dir = run_root.join(TARGETS_DIR);
        let names = if targets_dir.is_dir() {
            match list_dir(&targets_dir) {
                Ok(list) => list.into_iter().filter(|(_, p)| p.is_dir()).collect(),
                Err(e) => {
                    scan.errors.push(e);
                    return scan;
                }
            }
        } else {
            Vec::new()
        };
        if names.is_empty() {
            scan.errors
                .push(ArtifactError::new(run_root, ArtifactProblem::NoTargets));
            return scan;
        }
        for (name, dir) in names {
            let status = scan.target(&name, &dir);
            scan.targets.push(TargetEntry { name, dir, status });
        }
        scan.check_across_models();
        scan
    }

    /// The models that will be loaded, with their target, in walk order.
    pub fn loadable(&self) -> impl Iterator<Item = (&TargetEntry, &ModelEntry, &LoadableModel)> {
        self.targets.iter().flat_map(|t| {
            let models: &[ModelEntry] = match &t.status {
                TargetStatus::Used { models, .. } => models,
                TargetStatus::Ignored(_) => &[],
            };
            models.iter().filter_map(move |m| match &m.status {
                ModelStatus::Loadable(l) => Some((t, m, l.as_ref())),
                _ => None,
            })
        })
    }

    /// Number of targets ignored, and of models skipped.
    pub fn counts(&self) -> (usize, usize) {
        let ignored = self
            .targets
            .iter()
            .filter(|t| matches!(t.status, TargetStatus::Ignored(_)))
            .count();
        let skipped = self
            .targets
            .iter()
            .filter_map(|t| match &t.status {
                TargetStatus::Used { models, .. } => Some(models),
                TargetStatus::Ignored(_) => None,
            })
            .flatten()
            .filter(|m| matches!(m.status, ModelStatus::Skipped(_)))
            .count();
        (ignored, skipped)
    }

    fn target(&mut self, name: &str, dir: &Path) -> TargetStatus {
        let Some((suffix, role)) = target_horizon(name) else {
            return TargetStatus::Ignored(IgnoreReason::NoHorizonSuffix);
        };
        let Some(horizon) = self.settings.horizons.id_of(suffix) else {
            return TargetStatus::Ignored(IgnoreReason::HorizonNotConfigured {
                suffix: suffix.to_owned(),
            });
        };
        let mut found = Vec::new();
        let models_dir = dir.join(MODELS_DIR);
        if models_dir.is_dir() {
            match self.family_dirs(&models_dir) {
                Ok(list) => found = list,
                Err(e) => self.errors.push(e),
            }
        }
        if found.is_empty() {
            return TargetStatus::Ignored(IgnoreReason::NoModels);
        }
        found.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let models = found
            .into_iter()
            .map(|(family, view, dir)| {
                let status = self.model(name, &family, view, &dir);
                ModelEntry {
                    family,
                    view,
                    dir,
                    status,
                }
            })
            .collect();
        TargetStatus::Used {
            horizon,
            role,
            models,
        }
    }

    /// `(family, view, dir)` of every `view=*/family=*` directory; other
    /// entries under `models/` are not the engine's and are left alone.
    fn family_dirs(
        &mut self,
        models_dir: &Path,
    ) -> Result<Vec<(String, View, PathBuf)>, ArtifactError> {
        let mut out = Vec::new();
        for (name, view_dir) in list_dir(models_dir)? {
            let Some(view_name) = name.strip_prefix("view=") else {
                continue;
            };
            if !view_dir.is_dir() {
                continue;
            }
            let Some(view) = View::parse(view_name) else {
                self.errors.push(ArtifactError::new(
                    view_dir,
                    ArtifactProblem::UnknownView {
                        view: view_name.to_owned(),
                    },
                ));
                continue;
            };
            for (name, family_dir) in list_dir(&view_dir)? {
                let Some(family) = name.strip_prefix("family=") else {
                    continue;
                };
                if !family_dir.is_dir() {
                    continue;
                }
                if family.is_empty() {
                    self.errors
                        .push(ArtifactError::new(family_dir, ArtifactProblem::EmptyFamily));
                    continue;
                }
                out.push((family.to_owned(), view, family_dir));
            }
        }
        Ok(out)
    }

    /// Check one family directory; every problem goes to `self.errors`.
    fn model(&mut self, target: &str, family: &str, view: View, dir: &Path) -> ModelStatus {
        let errors_before = self.errors.len();
        let id = format!("{target}/{family}");
        let meta_path = dir.join(META_FILE);

        let meta = if meta_path.is_file() {
            match ModelMeta::load(&meta_path) {
                Ok(meta) => Some(meta),
                Err(e) => {
                    for p in e.problems {
                        self.errors
                            .push(ArtifactError::new(&meta_path, ArtifactProblem::Meta(p)));
                    }
                    None
                }
            }
        } else {
            self.errors
                .push(ArtifactError::new(&meta_path, ArtifactProblem::MetaMissing));
            None
        };

        // SPEC §21.20: a model of another bar interval is not loaded at all,
        // so nothing else about it can stop the run.
        if let Some(interval) = meta.as_ref().and_then(|m| m.interval_minutes) {
            let bar_minutes = self.settings.bar_minutes;
            if interval != f64::from(bar_minutes) {
                return ModelStatus::Skipped(SkipReason::IntervalMismatch {
                    interval_minutes: interval,
                    bar_minutes,
                });
            }
        }

        let format = self.detect_format(dir);
        let Some(meta) = meta else {
            return ModelStatus::Failed;
        };

        for (field, said, actual) in [
            ("target", &meta.target, target),
            ("family", &meta.family, family),
        ] {
            if let Some(said) = said.as_ref().filter(|s| s.as_str() != actual) {
                self.warnings.push(ArtifactWarning {
                    path: meta_path.clone(),
                    kind: WarningKind::NameMismatch {
                        field,
                        meta: said.clone(),
                        dir: actual.to_owned(),
                    },
                });
            }
        }

        // The metadata is checked even without a usable model file, so one
        // run reports every problem of the directory.
        let features = self.features(&id, &meta, &meta_path);
        let input = self.input(&id, &meta, view, &meta_path);
        let checksum = format
            .as_ref()
            .and_then(|(_, model_path)| self.checksum(&meta, &meta_path, model_path));

        let warmup_bars = input.map_or(0, |input| warmup_bars(input, &features));
        if warmup_bars > self.settings.history_bars {
            self.errors.push(ArtifactError::new(
                &meta_path,
                ArtifactProblem::WarmupExceedsHistory {
                    model: id.clone(),
                    warmup_bars,
                    history_bars: self.settings.history_bars,
                },
            ));
        }

        match (format, input, checksum) {
            (Some((format, model_path)), Some(input), Some(checksum))
                if self.errors.len() == errors_before =>
            {
                ModelStatus::Loadable(Box::new(LoadableModel {
                    format,
                    model_path,
                    meta_path,
                    meta,
                    checksum,
                    input,
                    features,
                    warmup_bars,
                }))
            }
            _ => ModelStatus::Failed,
        }
    }

    /// The one supported model file, or an error explaining what is there.
    fn detect_format(&mut self, dir: &Path) -> Option<(ModelFormat, PathBuf)> {
        let entries = match list_dir(dir) {
            Ok(list) => list,
            Err(e) => {
                self.errors.push(e);
                return None;
            }
        };
        let supported: Vec<ModelFormat> = ModelFormat::ALL
            .into_iter()
            .filter(|f| {
                entries
                    .iter()
                    .any(|(n, p)| n == f.file_name() && p.is_file())
            })
            .collect();
        let problem = match supported.as_slice() {
            [one] => return Some((*one, dir.join(one.file_name()))),
            [] if entries.iter().any(|(n, _)| n == "model.json") => {
                self.errors.push(ArtifactError::new(
                    dir.join("model.json"),
                    ArtifactProblem::XgboostJson,
                ));
                return None;
            }
            [] => {
                let pickles: Vec<PathBuf> = entries
                    .iter()
                    .filter(|(n, _)| is_pickle(n))
                    .map(|(_, p)| p.clone())
                    .collect();
                if pickles.is_empty() {
                    ArtifactProblem::NoModelFile {
                        found: entries
                            .iter()
                            .map(|(n, _)| n.clone())
                            .filter(|n| n != META_FILE)
                            .collect(),
                    }
                } else {
                    ArtifactProblem::PickleOnly { files: pickles }
                }
            }
            several => ArtifactProblem::AmbiguousModelFiles {
                files: several.iter().map(|f| f.file_name().to_owned()).collect(),
            },
        };
        self.errors.push(ArtifactError::new(dir, problem));
        None
    }

    /// The parsed feature list; unknown names and count mismatches are
    /// errors. Raw-sequence models take no named features.
    fn features(&mut self, id: &str, meta: &ModelMeta, meta_path: &Path) -> Vec<Feature> {
        if meta.input_mode == InputMode::RawSequence {
            return Vec::new();
        }
        let key = meta
            .feature_key
            .unwrap_or(crate::models::meta::FEATURE_KEYS[0]);
        if meta.feature_list.is_empty() {
            self.errors.push(ArtifactError::new(
                meta_path,
                ArtifactProblem::NoFeatures {
                    model: id.to_owned(),
                },
            ));
        }
        if let Some(n) = meta.n_features.filter(|&n| n != meta.feature_list.len()) {
            self.errors.push(ArtifactError::new(
                meta_path,
                ArtifactProblem::FeatureCount {
                    model: id.to_owned(),
                    n_features: n,
                    listed: meta.feature_list.len(),
                    key,
                },
            ));
        }
        let mut out = Vec::with_capacity(meta.feature_list.len());
        for name in &meta.feature_list {
            let feature = Feature::parse(name);
            if feature == Feature::Unknown {
                self.errors.push(ArtifactError::new(
                    meta_path,
                    ArtifactProblem::UnknownFeature {
                        model: id.to_owned(),
                        feature: name.clone(),
                        closest: closest_feature(name),
                    },
                ));
            }
            out.push(feature);
        }
        out
    }

    /// The model's input shape (SPEC §4: sequential families keep a window).
    fn input(
        &mut self,
        id: &str,
        meta: &ModelMeta,
        view: View,
        meta_path: &Path,
    ) -> Option<ModelInput> {
        match (meta.input_mode, meta.sequence_length) {
            // ModelMeta guarantees the length for raw sequences.
            (InputMode::RawSequence, Some(length)) => Some(ModelInput::RawWindow {
                length,
                normalization: meta.sequence_normalization,
            }),
            (InputMode::RawSequence, None) => None,
            (InputMode::Features, Some(length)) => Some(ModelInput::FeatureWindow { length }),
            (InputMode::Features, None) if view == View::Sequential => {
                self.errors.push(ArtifactError::new(
                    meta_path,
                    ArtifactProblem::WindowMissing {
                        model: id.to_owned(),
                    },
                ));
                None
            }
            (InputMode::Features, None) => Some(ModelInput::Row),
        }
    }

    /// Verify the model file against `model_checksum` (SPEC §4).
    fn checksum(
        &mut self,
        meta: &ModelMeta,
        meta_path: &Path,
        model_path: &Path,
    ) -> Option<ChecksumStatus> {
        let (actual, len) = match sha256_file(model_path) {
            Ok(x) => x,
            Err(e) => {
                self.errors.push(ArtifactError::new(
                    model_path,
                    ArtifactProblem::Io {
                        action: "read the model file",
                        message: e.to_string(),
                    },
                ));
                return None;
            }
        };
        if len == 0 {
            self.errors.push(ArtifactError::new(
                model_path,
                ArtifactProblem::EmptyModelFile,
            ));
            return None;
        }
        if !self.settings.verify_checksums {
            return Some(ChecksumStatus::NotChecked);
        }
        let status = match &meta.model_checksum {
            None => ChecksumStatus::Missing,
            Some(expected) if expected.trim().eq_ignore_ascii_case(&actual) => {
                ChecksumStatus::Verified
            }
            Some(expected) => ChecksumStatus::Mismatch {
                expected: expected.clone(),
                actual,
            },
        };
        let (path, problem, warning) = match &status {
            ChecksumStatus::Verified | ChecksumStatus::NotChecked => return Some(status),
            ChecksumStatus::Mismatch { expected, actual } => (
                model_path,
                ArtifactProblem::ChecksumMismatch {
                    expected: expected.clone(),
                    actual: actual.clone(),
                },
                WarningKind::ChecksumMismatch {
                    expected: expected.clone(),
                    actual: actual.clone(),
                },
            ),
            ChecksumStatus::Missing => (
                meta_path,
                ArtifactProblem::ChecksumMissing {
                    model_file: model_path.to_owned(),
                },
                WarningKind::ChecksumMissing,
            ),
        };
        if self.settings.strict_checksums {
            self.errors.push(ArtifactError::new(path, problem));
            None
        } else {
            self.warnings.push(ArtifactWarning {
                path: path.to_owned(),
                kind: warning,
            });
            Some(status)
        }
    }

    /// Checks that need every model: duplicates, the model cap, emptiness.
    fn check_across_models(&mut self) {
        let mut ids: Vec<(String, &Path)> = self
            .loadable()
            .map(|(t, m, _)| (format!("{}/{}", t.name, m.family), m.dir.as_path()))
            .collect();
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        let mut problems = Vec::new();
        for pair in ids.windows(2) {
            if pair[0].0 == pair[1].0 {
                problems.push(ArtifactError::new(
                    pair[1].1,
                    ArtifactProblem::DuplicateModel {
                        model: pair[1].0.clone(),
                        other: pair[0].1.to_owned(),
                    },
                ));
            }
        }
        if ids.len() > MAX_MODELS {
            problems.push(ArtifactError::new(
                &self.run_root,
                ArtifactProblem::TooManyModels {
                    count: ids.len(),
                    max: MAX_MODELS,
                },
            ));
        }
        // With other errors present they already say why nothing loads.
        if ids.is_empty() && self.errors.is_empty() {
            let (ignored, skipped) = self.counts();
            problems.push(ArtifactError::new(
                &self.run_root,
                ArtifactProblem::NoLoadableModel {
                    targets: self.targets.len(),
                    ignored,
                    skipped,
                },
            ));
        }
        self.errors.extend(problems);
    }
}

/// Bars of history a model needs before its first output: the longest
/// feature's rows (SPEC §3 table); a window of feature rows needs
/// `length - 1` more; a raw window needs `length` bars, plus one when it is
/// normalised as one-bar returns.
pub fn warmup_bars(input: ModelInput, features: &[Feature]) -> usize {
    let rows = features
        .iter()
        .filter_map(|f| f.rows_needed())
        .max()
        .unwrap_or(1);
    match input {
        ModelInput::Row => rows,
        ModelInput::FeatureWindow { length } => rows + length.saturating_sub(1),
        ModelInput::RawWindow {
            length,
            normalization,
        } => length + usize::from(normalization.needs_previous_bar()),
    }
}

fn is_pickle(name: &str) -> bool {
    [".pkl", ".pickle", ".joblib"]
        .iter()
        .any(|ext| name.ends_with(ext))
}

/// Lower-case hex SHA-256 of a file, and its length in bytes.
pub fn sha256_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let len = io::copy(&mut file, &mut hasher)?;
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from_digit(u32::from(byte >> 4), 16).unwrap_or('0'));
        hex.push(char::from_digit(u32::from(byte & 0xf), 16).unwrap_or('0'));
    }
    Ok((hex, len))
}

/// The known feature name closest to `name` (ignoring ASCII case), if it is
/// close enough to be a typo.
fn closest_feature(name: &str) -> Option<&'static str> {
    let names: Vec<&'static str> = CATALOGUE.iter().map(|&(known, _)| known).collect();
    crate::suggest::closest(name, &names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::meta::SequenceNormalization;

    #[test]
    fn closest_feature_names() {
        assert_eq!(closest_feature("rsi14"), Some("rsi_14"));
        assert_eq!(closest_feature("RET_5D"), Some("ret_5d"));
        assert_eq!(closest_feature("ret_3d"), Some("ret_1d"));
        assert_eq!(closest_feature("order_book_imbalance"), None);
    }

    #[test]
    fn warmup_per_input_shape() {
        let f = [Feature::Ret(5), Feature::Rsi(14), Feature::Macd];
        assert_eq!(warmup_bars(ModelInput::Row, &f), 14);
        assert_eq!(
            warmup_bars(ModelInput::FeatureWindow { length: 10 }, &f),
            23
        );
        let raw = |normalization| ModelInput::RawWindow {
            length: 32,
            normalization,
        };
        assert_eq!(warmup_bars(raw(SequenceNormalization::Returns), &[]), 33);
        assert_eq!(warmup_bars(raw(SequenceNormalization::LogReturns), &[]), 33);
        assert_eq!(warmup_bars(raw(SequenceNormalization::MinMax), &[]), 32);
        assert_eq!(warmup_bars(raw(SequenceNormalization::None), &[]), 32);
    }

    #[test]
    fn sha256_of_a_known_file() {
        let dir = std::env::temp_dir().join(format!("lt-sha-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("abc");
        fs::write(&path, b"abc").unwrap();
        let (hex, len) = sha256_file(&path).unwrap();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(len, 3);
        let _ = fs::remove_dir_all(&dir);
    }
}
