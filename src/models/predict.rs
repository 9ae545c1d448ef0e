//! The predict stage (SPEC §3–§4): for one symbol, the raw output of every
//! loaded model — return forecasts of every horizon and barrier
//! probabilities — into caller-owned storage indexed by [`ModelId`].
//!
//! - [`Predictors`]: built once at start-up from a [`ModelPlan`]: every
//!   model's [`Backend`], its index map into the engine's [`FeatureSet`],
//!   and a preallocated input row per distinct feature list (models with
//!   the same `feature_list` share one row, gathered once per call) or per
//!   window model.
//! - [`SymbolModels`]: one per symbol: the FIFOs of the sequential models
//!   (their last `sequence_length` feature rows, or OHLCV bars for
//!   raw-sequence models), pushed once per new bar by
//!   [`Predictors::on_bar`].
//! - [`Predictors::predict`]: one decision's outputs. A model yields no
//!   output (NaN in `out`) while any of its features is not warm or is NaN,
//!   while its FIFO is not full, or when its output is not finite (SPEC §3,
//!   §4). Barrier classifier outputs are probabilities clamped to [0, 1].
//!
//! Window inputs are laid out time-major, oldest step first: step `t`'s
//! values (features in `feature_list` order, or channels in
//! `sequence_channels` order) at `t·width..(t+1)·width`. Raw windows are
//! normalised as one window at prediction time: `returns` and
//! `log_returns` give `sequence_length` one-bar changes from
//! `sequence_length + 1` bars; `minmax` scales each channel to [0, 1] over
//! the window (a flat channel reads 0); `none` passes the bars through.
//!
//! Cross-sectional ranking (SPEC §4) works on the raw outputs of all
//! symbols of a cycle and belongs to the engine's cycle, not to this
//! per-symbol stage.
//!
//! [`Predictors::load`] is cold. Everything else runs on the engine thread:
//! no allocation, no blocking, no logging, no panic on any input.

use crate::features::{FeatureSet, FeatureSetError, FeatureState, ModelFeatures, RowStatus};
use crate::market::Bar;
use crate::models::artifact::{
    ArtifactError, ArtifactErrors, ArtifactProblem, ModelFormat, ModelInput, ModelPlan,
};
use crate::models::backend::{input_width, Backend};
use crate::models::meta::{Channel, SequenceNormalization};
use crate::models::Predictor;
use crate::types::ModelId;

/// What one [`Predictors::predict`] call produced.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictCounts {
    /// Models with a finite output.
    pub predicted: u16,
    /// Models skipped because a feature is not warm or a FIFO not full.
    pub not_warm: u16,
    /// Models skipped because an input is NaN or not finite.
    pub bad_input: u16,
    /// Models whose output was not finite (dropped).
    pub bad_output: u16,
}

/// What a model reads per prediction.
#[derive(Debug)]
enum Input {
    /// One row of features: [`Predictors::rows`]`[row]`, shared by every
    /// model with the same feature list.
    Row { row: usize },
    /// The last `sequence_length` feature rows, from the symbol's FIFO
    /// `fifo`.
    FeatureWindow { fifo: usize },
    /// The last bars, from the symbol's FIFO `fifo`.
    RawWindow {
        length: usize,
        fifo: usize,
        normalization: SequenceNormalization,
        channels: Box<[Channel]>,
    },
}

/// One loaded model and its preallocated input row (window models; row
/// models read a [`SharedRow`]).
#[derive(Debug)]
struct Slot {
    backend: Backend,
    features: ModelFeatures,
    input: Input,
    barrier: bool,
    row: Box<[f32]>,
}

/// The row of one distinct feature list, and what its last gathering
/// found.
#[derive(Debug)]
struct SharedRow {
    features: ModelFeatures,
    row: Box<[f32]>,
    status: RowStatus,
}

/// The shape of one per-symbol FIFO: `capacity` steps of `width` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FifoShape {
    width: usize,
    capacity: usize,
}

/// Every loaded model, ready to predict. One per engine.
#[derive(Debug)]
pub struct Predictors {
    set: FeatureSet,
    slots: Box<[Slot]>,
    rows: Box<[SharedRow]>,
    fifos: Box<[FifoShape]>,
    /// Scratch for one feature step of a window model.
    step: Box<[f64]>,
}

impl Predictors {
    /// Load every model of `plan` (cold). `history_bars` sizes the feature
    /// frames (`data.history_bars`).
    ///
    /// # Errors
    /// Every model file that does not load or does not match its metadata,
    /// each naming the file and the fix.
    pub fn load(plan: &ModelPlan, history_bars: usize) -> Result<Predictors, ArtifactErrors> {
        let set = FeatureSet::new(plan.features().iter().copied(), history_bars).map_err(|e| {
            ArtifactErrors(vec![ArtifactError::new(
                plan.run_root(),
                feature_set_problem(e),
            )])
        })?;
        let mut errors = Vec::new();
        let mut slots = Vec::with_capacity(plan.len());
        let mut rows: Vec<SharedRow> = Vec::new();
        let mut fifos = Vec::new();
        let mut max_width = 0;
        for model in plan.models() {
            let backend = match Backend::load(model) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let features = match set.model(&model.features) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(ArtifactError::new(&model.meta_path, feature_set_problem(e)));
                    continue;
                }
            };
            let input = match model.input {
                ModelInput::Row => {
                    let row = match rows.iter().position(|r| r.features == features) {
                        Some(row) => row,
                        None => {
                            rows.push(SharedRow {
                                features: features.clone(),
                                row: vec![0.0; features.len()].into(),
                                status: RowStatus::NotWarm,
                            });
                            rows.len() - 1
                        }
                    };
                    Input::Row { row }
                }
                ModelInput::FeatureWindow { length } => {
                    fifos.push(FifoShape {
                        width: model.features.len(),
                        capacity: length,
                    });
                    max_width = max_width.max(model.features.len());
                    Input::FeatureWindow {
                        fifo: fifos.len() - 1,
                    }
                }
                ModelInput::RawWindow {
                    length,
                    normalization,
                } => {
                    let channels: Box<[Channel]> = model.meta.sequence_channels.clone().into();
                    fifos.push(FifoShape {
                        width: channels.len(),
                        capacity: length + usize::from(normalization.needs_previous_bar()),
                    });
                    Input::RawWindow {
                        length,
                        fifo: fifos.len() - 1,
                        normalization,
                        channels,
                    }
                }
            };
            let own_row = match input {
                Input::Row { .. } => 0,
                _ => input_width(model),
            };
            slots.push(Slot {
                row: vec![0.0; own_row].into(),
                backend,
                features,
                input,
                barrier: model.is_barrier(),
            });
        }
        if !errors.is_empty() {
            return Err(ArtifactErrors(errors));
        }
        Ok(Predictors {
            set,
            slots: slots.into(),
            rows: rows.into(),
            fifos: fifos.into(),
            step: vec![0.0; max_width].into(),
        })
    }

    /// The engine's feature set: build each symbol's [`FeatureState`] from
    /// it.
    pub fn feature_set(&self) -> &FeatureSet {
        &self.set
    }

    /// Number of models; `out` of [`Predictors::predict`] has this length.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Never true for a loaded run.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The back-end of model `id`.
    pub fn backend(&self, id: ModelId) -> Option<&Backend> {
        self.slots.get(id.index()).map(|s| &s.backend)
    }

    /// The back-end of model `id`, to predict with it directly (tests,
    /// benches).
    pub fn backend_mut(&mut self, id: ModelId) -> Option<&mut Backend> {
        self.slots.get_mut(id.index()).map(|s| &mut s.backend)
    }

    /// Fresh per-symbol state: empty FIFOs for the sequential models (cold).
    pub fn symbol_state(&self) -> SymbolModels {
        SymbolModels {
            fifos: self
                .fifos
                .iter()
                .map(|shape| Fifo {
                    shape: *shape,
                    data: vec![f64::NAN; shape.width * shape.capacity].into(),
                    head: 0,
                    len: 0,
                })
                .collect(),
        }
    }

    /// A new bar of the symbol, after `features` took it
    /// ([`FeatureState::push_bar`]): push one step into every FIFO.
    pub fn on_bar(&mut self, symbol: &mut SymbolModels, features: &FeatureState, bar: &Bar) {
        for slot in self.slots.iter() {
            match &slot.input {
                Input::Row { .. } => {}
                Input::FeatureWindow { fifo, .. } => {
                    let warm = slot.features.is_warm(features);
                    let n = slot.features.len().min(self.step.len());
                    let step = &mut self.step[..n];
                    for (v, &i) in step.iter_mut().zip(slot.features.indices()) {
                        *v = if warm {
                            features.value(usize::from(i))
                        } else {
                            f64::NAN
                        };
                    }
                    if let Some(f) = symbol.fifos.get_mut(*fifo) {
                        f.push(step.iter().copied());
                    }
                }
                Input::RawWindow { fifo, channels, .. } => {
                    if let Some(f) = symbol.fifos.get_mut(*fifo) {
                        f.push(channels.iter().map(|&c| bar.channel(c)));
                    }
                }
            }
        }
    }

    /// Every model's output for one symbol into `out` (index = [`ModelId`],
    /// NaN = no output). `out` shorter than [`Predictors::len`] leaves the
    /// remaining models unpredicted.
    pub fn predict(
        &mut self,
        symbol: &SymbolModels,
        features: &FeatureState,
        out: &mut [f64],
    ) -> PredictCounts {
        let mut counts = PredictCounts::default();
        for shared in self.rows.iter_mut() {
            shared.status = shared.features.gather_f32(features, &mut shared.row);
        }
        let rows = &self.rows;
        for (slot, o) in self.slots.iter_mut().zip(out.iter_mut()) {
            *o = f64::NAN;
            let (ready, input) = match &slot.input {
                Input::Row { row } => match rows.get(*row) {
                    Some(shared) => (shared.status, &shared.row),
                    None => (RowStatus::RowTooShort, &slot.row),
                },
                Input::FeatureWindow { fifo, .. } => match symbol.fifos.get(*fifo) {
                    Some(f) => (f.copy_into(&mut slot.row), &slot.row),
                    None => (RowStatus::NotWarm, &slot.row),
                },
                Input::RawWindow {
                    length,
                    fifo,
                    normalization,
                    ..
                } => match symbol.fifos.get(*fifo) {
                    Some(f) => (
                        f.normalise_into(*length, *normalization, &mut slot.row),
                        &slot.row,
                    ),
                    None => (RowStatus::NotWarm, &slot.row),
                },
            };
            match ready {
                RowStatus::Ready => {}
                RowStatus::NotWarm => {
                    counts.not_warm += 1;
                    continue;
                }
                RowStatus::HasNan | RowStatus::RowTooShort => {
                    counts.bad_input += 1;
                    continue;
                }
            }
            match slot.backend.predict(input) {
                Some(y) if y.is_finite() => {
                    *o = if slot.barrier { y.clamp(0.0, 1.0) } else { y };
                    counts.predicted += 1;
                }
                _ => counts.bad_output += 1,
            }
        }
        counts
    }

    /// Run every model once on an all-zero row so that first predictions
    /// do not pay for cold code and data (start-up, before trading).
    pub fn warm_up(&mut self) {
        for shared in self.rows.iter_mut() {
            shared.row.fill(0.0);
        }
        for slot in self.slots.iter_mut() {
            slot.row.fill(0.0);
            let row = match slot.input {
                Input::Row { row } => self.rows.get(row).map_or(&slot.row, |r| &r.row),
                _ => &slot.row,
            };
            let _ = slot.backend.predict(row);
        }
    }

    /// Formats of the loaded models, in id order (for reports).
    pub fn formats(&self) -> impl Iterator<Item = ModelFormat> + '_ {
        self.slots.iter().map(|s| s.backend.format())
    }
}

/// One symbol's sequential-model FIFOs.
#[derive(Clone, Debug)]
pub struct SymbolModels {
    fifos: Box<[Fifo]>,
}

impl SymbolModels {
    /// Empty every FIFO (a gap in the data: windows restart).
    pub fn clear(&mut self) {
        for f in self.fifos.iter_mut() {
            f.head = 0;
            f.len = 0;
        }
    }
}

/// A ring of `capacity` steps of `width` values; `head` is the oldest.
#[derive(Clone, Debug)]
struct Fifo {
    shape: FifoShape,
    data: Box<[f64]>,
    head: usize,
    len: usize,
}

impl Fifo {
    fn push(&mut self, values: impl Iterator<Item = f64>) {
        let FifoShape { width, capacity } = self.shape;
        if capacity == 0 {
            return;
        }
        let at = if self.len < capacity {
            let at = (self.head + self.len) % capacity;
            self.len += 1;
            at
        } else {
            let at = self.head;
            self.head = (self.head + 1) % capacity;
            at
        };
        if let Some(dst) = self.data.get_mut(at * width..(at + 1) * width) {
            for (d, v) in dst.iter_mut().zip(values) {
                *d = v;
            }
        }
    }

    /// Step `k` (0 = oldest).
    fn step(&self, k: usize) -> &[f64] {
        let FifoShape { width, capacity } = self.shape;
        let at = (self.head + k) % capacity.max(1);
        self.data.get(at * width..(at + 1) * width).unwrap_or(&[])
    }

    fn is_full(&self) -> bool {
        self.len == self.shape.capacity
    }

    /// The window, oldest first, cast to `f32`.
    fn copy_into(&self, row: &mut [f32]) -> RowStatus {
        if !self.is_full() {
            return RowStatus::NotWarm;
        }
        let width = self.shape.width;
        if row.len() != width * self.shape.capacity {
            return RowStatus::RowTooShort;
        }
        let mut finite = true;
        for (k, dst) in row.chunks_exact_mut(width.max(1)).enumerate() {
            for (d, &v) in dst.iter_mut().zip(self.step(k)) {
                *d = v as f32;
                finite &= d.is_finite();
            }
        }
        if finite {
            RowStatus::Ready
        } else {
            RowStatus::HasNan
        }
    }

    /// The last `length` steps, normalised as one window (module doc).
    fn normalise_into(
        &self,
        length: usize,
        normalization: SequenceNormalization,
        row: &mut [f32],
    ) -> RowStatus {
        if !self.is_full() {
            return RowStatus::NotWarm;
        }
        let width = self.shape.width;
        if row.len() != width * length || width == 0 {
            return RowStatus::RowTooShort;
        }
        let skip = usize::from(normalization.needs_previous_bar());
        let mut finite = true;
        for c in 0..width {
            let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
            if normalization == SequenceNormalization::MinMax {
                for k in 0..length {
                    let v = self.step(k).get(c).copied().unwrap_or(f64::NAN);
                    lo = lo.min(v);
                    hi = hi.max(v);
                }
            }
            for k in 0..length {
                let x = self.step(k + skip).get(c).copied().unwrap_or(f64::NAN);
                let value = match normalization {
                    SequenceNormalization::Returns => {
                        x / self.step(k).get(c).copied().unwrap_or(f64::NAN) - 1.0
                    }
                    SequenceNormalization::LogReturns => {
                        (x / self.step(k).get(c).copied().unwrap_or(f64::NAN)).ln()
                    }
                    SequenceNormalization::MinMax if hi > lo => (x - lo) / (hi - lo),
                    SequenceNormalization::MinMax => 0.0 * x,
                    SequenceNormalization::None => x,
                };
                let v = value as f32;
                finite &= v.is_finite();
                if let Some(d) = row.get_mut(k * width + c) {
                    *d = v;
                }
            }
        }
        if finite {
            RowStatus::Ready
        } else {
            RowStatus::HasNan
        }
    }
}

fn feature_set_problem(e: FeatureSetError) -> ArtifactProblem {
    ArtifactProblem::FeatureSet {
        message: e.to_string(),
    }
}
