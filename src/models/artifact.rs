//! Run artifacts (SPEC §1, §4; DESIGN §5): from a training run on disk to
//! the [`ModelPlan`] the engine predicts with.
//!
//! Layout, as the training pipeline writes it:
//!
//! ```text
//! <run_root>/targets/<target>/models/view=<CROSS_SECTIONAL|SEQUENTIAL>/family=<Family>/
//!     model_meta.json
//!     model.onnx | model.txt | model.ltw
//! ```
//!
//! with `<run_root>` = `RESULTS/runs/<run_id>/<timestamp>/` ([`resolve_run`]
//! picks the latest timestamp when given a run id). A target's horizon is
//! its name's suffix and its role comes from its prefix (`will_peak_`,
//! `will_valley_`: barrier classifiers); targets without a configured
//! horizon are ignored, models trained on another bar interval are skipped.
//!
//! Loading fails closed: [`RunScan::scan`] walks the whole run and collects
//! every error (missing or malformed metadata, pickles, unsupported or
//! ambiguous model files, empty files, checksum mismatches, unknown feature
//! names, shape mismatches, an empty run), each naming the file and the fix;
//! [`ModelPlan::load`] refuses the run if there is any.
//!
//! The plan is built once at start-up: models get dense [`ModelId`]s in
//! byte-wise sorted `"<target>/<family>"` order; the engine computes one
//! feature vector per symbol, the union of every model's features
//! ([`ModelPlan::features`]), and each model gathers its row from it
//! through a precomputed index map ([`PlannedModel::gather_row`]).
//!
//! Cold path (start-up and `live-trading models inspect`), except
//! [`PlannedModel::gather_row`], which runs on the engine thread (no
//! allocation, no blocking, no logging).

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

mod error;
mod report;
mod row;
mod scan;

use std::path::{Path, PathBuf};

pub use error::{
    ArtifactError, ArtifactErrors, ArtifactProblem, ArtifactWarning, WarningKind, EXPORT_TOOL,
};
pub use report::Inspection;
pub use scan::{
    resolve_run, sha256_file, warmup_bars, ChecksumStatus, IgnoreReason, LoadableModel, ModelEntry,
    ModelFormat, ModelStatus, RunScan, SkipReason, TargetEntry, TargetStatus, View, MODELS_DIR,
    RUNS_DIR, TARGETS_DIR,
};

use crate::config::EngineConfig;
use crate::features::Feature;
use crate::horizon::{HorizonSet, TargetRole};
use crate::models::meta::{ModelMeta, SequenceNormalization};
use crate::pipeline::decision::{ModelLayout, ReturnModel};
use crate::pipeline::gate::BarrierResolver;
use crate::types::{HorizonId, ModelId};

/// Where `models inspect` looks for bare run ids (`<results>/runs/<id>/`).
pub const DEFAULT_RESULTS_DIR: &str = "RESULTS";

/// What the loader takes from the engine config.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanSettings {
    /// `horizons`: targets whose suffix is not one of these are ignored.
    pub horizons: HorizonSet,
    /// `volatility.bar_minutes`: models of another `interval_minutes` are
    /// skipped.
    pub bar_minutes: u32,
    /// `data.history_bars`: a model needing more bars to warm up is an error.
    pub history_bars: usize,
    /// `models.verify_checksums`.
    pub verify_checksums: bool,
    /// `models.strict_checksums`: a mismatch or missing checksum refuses
    /// the run (else a warning).
    pub strict_checksums: bool,
}

impl PlanSettings {
    pub fn from_config(config: &EngineConfig) -> PlanSettings {
        PlanSettings {
            horizons: config.horizons.clone(),
            bar_minutes: config.volatility.bar_minutes,
            history_bars: config.data.history_bars,
            verify_checksums: config.models.verify_checksums,
            strict_checksums: config.models.strict_checksums,
        }
    }
}

/// The SPEC defaults (default horizons, 1-minute bars, 300 bars, strict
/// checksums).
impl Default for PlanSettings {
    fn default() -> PlanSettings {
        PlanSettings::from_config(&EngineConfig::default())
    }
}

/// What a model consumes per prediction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelInput {
    /// One row of its features at the decision.
    Row,
    /// Its last `length` feature rows, one per bar (sequential families).
    FeatureWindow { length: usize },
    /// Its last `length` OHLCV bars (channels in `meta.sequence_channels`),
    /// normalised as one window.
    RawWindow {
        length: usize,
        normalization: SequenceNormalization,
    },
}

/// One model the engine loads.
#[derive(Clone, Debug, PartialEq)]
pub struct PlannedModel {
    /// Index into per-model arrays; ascending ids are ascending names.
    pub id: ModelId,
    /// `"<target>/<family>"` (SPEC §1).
    pub name: String,
    pub target: String,
    pub family: String,
    pub view: View,
    pub horizon: HorizonId,
    pub role: TargetRole,
    pub format: ModelFormat,
    /// The family directory.
    pub dir: PathBuf,
    pub model_path: PathBuf,
    pub meta_path: PathBuf,
    pub meta: ModelMeta,
    pub checksum: ChecksumStatus,
    pub input: ModelInput,
    /// The parsed `feature_list`, in the model's input order.
    pub features: Vec<Feature>,
    /// `features[j]` is `plan.features()[feature_index[j]]`.
    pub feature_index: Vec<usize>,
    /// Bars of history before the model can produce an output.
    pub warmup_bars: usize,
}

impl PlannedModel {
    /// Training IC prior (`metrics.ic`); SPEC §4's rule (absent or
    /// non-finite → 0) applies where it is used.
    pub fn ic_prior(&self) -> Option<f64> {
        self.meta.ic
    }

    /// Whether this is a barrier classifier (never blended).
    pub fn is_barrier(&self) -> bool {
        self.role != TargetRole::Return
    }
}

/// The models of one horizon, by role, each list in ascending id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HorizonModels {
    pub returns: Vec<ModelId>,
    pub peaks: Vec<ModelId>,
    pub valleys: Vec<ModelId>,
}

/// Everything to predict with, built once at start-up.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelPlan {
    run_root: PathBuf,
    horizons: HorizonSet,
    models: Vec<PlannedModel>,
    features: Vec<Feature>,
    by_horizon: Vec<HorizonModels>,
    warnings: Vec<ArtifactWarning>,
}

impl ModelPlan {
    /// Walk `run_root` (the directory holding `targets/`; see
    /// [`resolve_run`]) and build the plan, or every reason it cannot be.
    pub fn load(run_root: &Path, settings: &PlanSettings) -> Result<ModelPlan, ArtifactErrors> {
        ModelPlan::from_scan(&RunScan::scan(run_root, settings))
    }

    /// The plan of a finished scan; its errors if it has any.
    pub fn from_scan(scan: &RunScan) -> Result<ModelPlan, ArtifactErrors> {
        if !scan.errors.is_empty() {
            return Err(ArtifactErrors(scan.errors.clone()));
        }
        let mut found: Vec<(String, &TargetEntry, &ModelEntry, &LoadableModel)> = scan
            .loadable()
            .map(|(t, m, l)| (format!("{}/{}", t.name, m.family), t, m, l))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));

        // The union of all features, in catalogue (SPEC §3) order.
        let features: Vec<Feature> = crate::features::kind::CATALOGUE
            .iter()
            .map(|&(_, f)| f)
            .filter(|f| found.iter().any(|(_, _, _, l)| l.features.contains(f)))
            .collect();

        let mut by_horizon = vec![HorizonModels::default(); scan.settings.horizons.len()];
        let mut models = Vec::with_capacity(found.len());
        for (i, (name, target, entry, l)) in found.into_iter().enumerate() {
            let TargetStatus::Used { horizon, role, .. } = target.status else {
                continue; // loadable() yields used targets only
            };
            let id = ModelId(i as u16); // the scan caps the count at MAX_MODELS
            if let Some(slot) = by_horizon.get_mut(horizon.index()) {
                match role {
                    TargetRole::Return => slot.returns.push(id),
                    TargetRole::BarrierPeak => slot.peaks.push(id),
                    TargetRole::BarrierValley => slot.valleys.push(id),
                }
            }
            let feature_index = l
                .features
                .iter()
                .map(|f| features.iter().position(|u| u == f).unwrap_or(usize::MAX))
                .collect();
            models.push(PlannedModel {
                id,
                name,
                target: target.name.clone(),
                family: entry.family.clone(),
                view: entry.view,
                horizon,
                role,
                format: l.format,
                dir: entry.dir.clone(),
                model_path: l.model_path.clone(),
                meta_path: l.meta_path.clone(),
                meta: l.meta.clone(),
                checksum: l.checksum.clone(),
                input: l.input,
                features: l.features.clone(),
                feature_index,
                warmup_bars: l.warmup_bars,
            });
        }
        Ok(ModelPlan {
            run_root: scan.run_root.clone(),
            horizons: scan.settings.horizons.clone(),
            models,
            features,
            by_horizon,
            warnings: scan.warnings.clone(),
        })
    }

    /// The run directory the plan was loaded from.
    pub fn run_root(&self) -> &Path {
        &self.run_root
    }

    /// The configured horizons the plan was built for.
    pub fn horizons(&self) -> &HorizonSet {
        &self.horizons
    }

    /// Every model; index = [`ModelId`].
    pub fn models(&self) -> &[PlannedModel] {
        &self.models
    }

    /// The model with id `id`.
    pub fn model(&self, id: ModelId) -> Option<&PlannedModel> {
        self.models.get(id.index())
    }

    /// The id of a model name (`"<target>/<family>"`).
    pub fn id_of(&self, name: &str) -> Option<ModelId> {
        self.models.iter().find(|m| m.name == name).map(|m| m.id)
    }

    /// Number of models (return models and classifiers).
    pub fn len(&self) -> usize {
        self.models.len()
    }

    /// Never true for a loaded plan.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// The engine's feature vector: every feature some model uses, once, in
    /// SPEC §3 catalogue order.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// Names of [`ModelPlan::features`].
    pub fn feature_names(&self) -> Vec<&'static str> {
        self.features.iter().filter_map(|f| f.name()).collect()
    }

    /// The models of each horizon; index = [`HorizonId`].
    pub fn by_horizon(&self) -> &[HorizonModels] {
        &self.by_horizon
    }

    /// The models of horizon `h`.
    pub fn horizon(&self, h: HorizonId) -> Option<&HorizonModels> {
        self.by_horizon.get(h.index())
    }

    /// Return models in ascending id order.
    pub fn return_models(&self) -> impl Iterator<Item = &PlannedModel> {
        self.models.iter().filter(|m| !m.is_barrier())
    }

    /// Barrier classifiers in ascending id order.
    pub fn barrier_models(&self) -> impl Iterator<Item = &PlannedModel> {
        self.models.iter().filter(|m| m.is_barrier())
    }

    /// Bars of history before every model can produce an output.
    pub fn warmup_bars(&self) -> usize {
        self.models.iter().map(|m| m.warmup_bars).max().unwrap_or(0)
    }

    /// What loaded but deserves a look (downgraded checksum problems,
    /// metadata naming another target or family).
    pub fn warnings(&self) -> &[ArtifactWarning] {
        &self.warnings
    }

    /// The decision pipeline's view of the models.
    pub fn layout(&self) -> ModelLayout {
        ModelLayout {
            horizons: self.horizons.clone(),
            return_models: self
                .return_models()
                .map(|m| ReturnModel {
                    id: m.id,
                    horizon: m.horizon,
                    ic_prior: m.ic_prior(),
                })
                .collect(),
            barrier: BarrierResolver::new(
                self.models
                    .iter()
                    .map(|m| (m.target.as_str(), m.family.as_str())),
                &self.horizons,
            ),
            n_models: self.models.len(),
        }
    }
}
