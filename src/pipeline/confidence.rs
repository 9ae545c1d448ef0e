//! Model confidence (SPEC §6, stage `confidence`): per model key a window of
//! realised (prediction, actual) pairs, pooled across symbols (SPEC §21.9),
//! and the confidence of one prediction from it: measured or prior IC,
//! demotion, freshness, capacity and stability, multiplied into `overall`.
//!
//! [`PendingPairs`] holds the accepted predictions waiting for their
//! realised return (SPEC §6 "Realisation", §21.10).
//!
//! Runs on the engine thread. Hot path: no allocation after construction (the
//! Spearman ranks use preallocated scratch and an in-place unstable sort), no
//! blocking, no logging.

use crate::horizon::SESSION_MINUTES;
use crate::pipeline::standardize::Window;
use std::collections::VecDeque;

use crate::types::{HorizonId, ModelId, Nanos, Reason, SymbolId};

/// Squared errors needed before stability is measured; fewer → 0.5.
pub const MIN_STABILITY_PAIRS: usize = 3;

/// Stability when fewer than [`MIN_STABILITY_PAIRS`] pairs exist.
pub const DEFAULT_STABILITY: f64 = 0.5;

/// Freshness decay constant for horizons outside the table (SPEC §21.11).
pub const DEFAULT_TAU_SECS: f64 = 300.0;

/// Confidence parameters (`confidence.*`, `capacity_kappa`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfidenceParams {
    /// `confidence.ic_window`: pairs in the Spearman IC (≥ 3).
    pub ic_window: usize,
    /// `confidence.stability_window`: squared errors in stability (≥ 1).
    pub stability_window: usize,
    /// `confidence.min_ic_pairs`: pairs needed for a measured IC
    /// (3 ≤ x ≤ ic_window).
    pub min_ic_pairs: usize,
    /// `confidence.ic_floor`: demotion at IC ≤ −floor; `overall` uses
    /// `max(IC, floor)` (0 < x < 1).
    pub ic_floor: f64,
    /// `capacity_kappa`: capacity = min(1, κ·ADV/planned) (> 0).
    pub capacity_kappa: f64,
}

impl Default for ConfidenceParams {
    fn default() -> Self {
        ConfidenceParams {
            ic_window: 20,
            stability_window: 10,
            min_ic_pairs: 20,
            ic_floor: 0.01,
            capacity_kappa: 0.1,
        }
    }
}

/// Why confidence parameters are invalid (SPEC §20).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum ConfidenceParamsError {
    #[error("confidence.ic_window is {0}: must be an integer >= 3")]
    IcWindow(usize),
    #[error("confidence.stability_window is {0}: must be an integer >= 1")]
    StabilityWindow(usize),
    #[error("confidence.min_ic_pairs is {min_ic_pairs}: must be an integer in [3, ic_window = {ic_window}]")]
    MinIcPairs {
        min_ic_pairs: usize,
        ic_window: usize,
    },
    #[error("confidence.ic_floor is {0}: must satisfy 0 < x < 1")]
    IcFloor(f64),
    #[error("capacity_kappa is {0}: must be a finite number > 0")]
    CapacityKappa(f64),
}

impl ConfidenceParams {
    /// Check the SPEC §20 ranges.
    pub fn validate(&self) -> Result<(), ConfidenceParamsError> {
        if self.ic_window < 3 {
            return Err(ConfidenceParamsError::IcWindow(self.ic_window));
        }
        if self.stability_window < 1 {
            return Err(ConfidenceParamsError::StabilityWindow(
                self.stability_window,
            ));
        }
        if self.min_ic_pairs < 3 || self.min_ic_pairs > self.ic_window {
            return Err(ConfidenceParamsError::MinIcPairs {
                min_ic_pairs: self.min_ic_pairs,
                ic_window: self.ic_window,
            });
        }
        if !(self.ic_floor > 0.0 && self.ic_floor < 1.0) {
            return Err(ConfidenceParamsError::IcFloor(self.ic_floor));
        }
        if !(self.capacity_kappa.is_finite() && self.capacity_kappa > 0.0) {
            return Err(ConfidenceParamsError::CapacityKappa(self.capacity_kappa));
        }
        Ok(())
    }

    /// Pairs kept per key: enough for the IC window, the stability window
    /// and the measured-IC threshold.
    pub fn pair_capacity(&self) -> usize {
        self.ic_window
            .max(self.stability_window)
            .max(self.min_ic_pairs)
    }
}

/// Where a confidence's IC came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IcSource {
    /// Spearman IC of the realised pairs.
    Measured,
    /// The training prior `metrics.ic` (too few realised pairs).
    Prior,
}

impl IcSource {
    /// Lower-case name used in vectors and traces.
    pub const fn as_str(self) -> &'static str {
        match self {
            IcSource::Measured => "measured",
            IcSource::Prior => "prior",
        }
    }
}

/// The confidence of one prediction (SPEC §6).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Confidence {
    pub ic: f64,
    pub ic_source: IcSource,
    /// Measured IC ≤ −ic_floor: overall is 0 and the model gets no blend weight.
    pub demoted: bool,
    pub freshness: f64,
    pub capacity: f64,
    pub stability: f64,
    /// `max(IC, ic_floor)·freshness·capacity·stability`, 0 when demoted.
    pub overall: f64,
}

impl Confidence {
    /// The trace reason: [`Reason::ModelDemoted`] when demoted.
    pub const fn reason(&self) -> Option<Reason> {
        if self.demoted {
            Some(Reason::ModelDemoted)
        } else {
            None
        }
    }
}

/// Per-prediction inputs of [`ConfidenceTracker::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfidenceInputs {
    /// The model's horizon in minutes (selects the freshness τ).
    pub horizon_minutes: u32,
    /// Training IC prior `metrics.ic`; `None` or non-finite → 0.
    pub ic_prior: Option<f64>,
    /// The cycle's decision time.
    pub decision_time: Nanos,
    /// End timestamp of the symbol's last as-of bar (SPEC §21.11).
    pub data_time: Nanos,
    /// Average daily dollar volume; `None`, non-finite or ≤ 0 = unknown.
    pub adv_usd: Option<f64>,
    /// Planned notional in dollars (`max_weight·PV` in the engine).
    pub planned_notional: f64,
}

/// Freshness decay constant τ in seconds for a horizon of `minutes`
/// (5m 150, 10m 300, 15m 450, 30m 900, 60m 1800, 1d 7200, else 300).
pub const fn freshness_tau_secs(minutes: u32) -> f64 {
    match minutes {
        5 => 150.0,
        10 => 300.0,
        15 => 450.0,
        30 => 900.0,
        60 => 1800.0,
        SESSION_MINUTES => 7200.0,
        _ => DEFAULT_TAU_SECS,
    }
}

/// Freshness of data `age_secs` old at a horizon of `minutes`: 1 for a
/// negative age, else `exp(−age/τ)` clamped to [0, 1]. A NaN age counts as
/// infinitely stale (0).
pub fn freshness(minutes: u32, age_secs: f64) -> f64 {
    if age_secs < 0.0 {
        return 1.0;
    }
    let f = (-age_secs / freshness_tau_secs(minutes)).exp();
    if f >= 1.0 {
        1.0
    } else if f > 0.0 {
        f
    } else {
        0.0
    }
}

/// Capacity: 1 when `planned_notional ≤ 0` or ADV is unknown (`None`,
/// non-finite, ≤ 0); else `min(1, κ·adv_usd/planned_notional)`.
pub fn capacity(kappa: f64, adv_usd: Option<f64>, planned_notional: f64) -> f64 {
    match adv_usd {
        Some(adv) if adv.is_finite() && adv > 0.0 && planned_notional > 0.0 => {
            (kappa * adv / planned_notional).min(1.0)
        }
        _ => 1.0,
    }
}

/// Stability from paired predictions and actuals: fewer than 3 pairs → 0.5,
/// else `1/(1+sqrt(mean squared error))`.
pub fn stability(predictions: &[f64], actuals: &[f64]) -> f64 {
    let n = predictions.len().min(actuals.len());
    if n < MIN_STABILITY_PAIRS {
        return DEFAULT_STABILITY;
    }
    let sse: f64 = predictions
        .iter()
        .zip(actuals)
        .map(|(p, a)| (p - a) * (p - a))
        .sum();
    1.0 / (1.0 + (sse / n as f64).sqrt())
}

/// Windows up to this length are ranked by counting (O(n²), branch-free);
/// longer ones by sorting.
const COUNTING_RANK_MAX: usize = 64;

/// Average ranks (1-based, ties share their mean rank) of `values` into
/// `ranks`, using `order` as sort scratch for long windows. All three have
/// the same length.
///
/// For short windows the rank of `v_i` is `less_i + (equal_i + 1)/2`, where
/// `less_i` counts values below it and `equal_i` values equal to it (itself
/// included): exactly the mean of the tied ranks `less_i+1 ..= less_i+equal_i`,
/// computed without data-dependent branches.
fn average_ranks(values: &[f64], order: &mut [usize], ranks: &mut [f64]) {
    let n = values.len().min(order.len()).min(ranks.len());
    let (values, order, ranks) = (&values[..n], &mut order[..n], &mut ranks[..n]);
    if n <= COUNTING_RANK_MAX {
        counted_ranks(values, ranks);
    } else {
        sorted_ranks(values, order, ranks);
    }
}

/// [`average_ranks`] by counting, O(n²) without data-dependent branches.
/// Counts go to four independent f64 lanes (whole numbers below 2^53 add
/// exactly in any order), so the comparisons become vector compare-and-mask
/// operations instead of a chain of scalar increments.
fn counted_ranks(values: &[f64], ranks: &mut [f64]) {
    let chunks = values.chunks_exact(4);
    let rest = chunks.remainder();
    for (r, &v) in ranks.iter_mut().zip(values) {
        let (mut less, mut equal) = ([0.0f64; 4], [0.0f64; 4]);
        for c in chunks.clone() {
            for k in 0..4 {
                less[k] += if c[k] < v { 1.0 } else { 0.0 };
                equal[k] += if c[k] == v { 1.0 } else { 0.0 };
            }
        }
        let mut l = (less[0] + less[1]) + (less[2] + less[3]);
        let mut e = (equal[0] + equal[1]) + (equal[2] + equal[3]);
        for &w in rest {
            l += if w < v { 1.0 } else { 0.0 };
            e += if w == v { 1.0 } else { 0.0 };
        }
        *r = l + (e + 1.0) / 2.0;
    }
}

/// [`average_ranks`] by sorting an index scratch, O(n log n).
fn sorted_ranks(values: &[f64], order: &mut [usize], ranks: &mut [f64]) {
    let n = values.len();
    for (i, o) in order.iter_mut().enumerate() {
        *o = i;
    }
    // Indices are < n by construction; the sort is in place (no allocation).
    order.sort_unstable_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut i = 0;
    while i < n {
        let v = values[order[i]];
        let mut j = i + 1;
        while j < n && values[order[j]] == v {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let rank = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = rank;
        }
        i = j;
    }
}

/// Pearson correlation of two equal-length series; 0 when either is
/// constant or fewer than 2 values are given.
fn pearson(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return 0.0;
    }
    let (x, y) = (&x[..n], &y[..n]);
    let mx = x.iter().sum::<f64>() / n as f64;
    let my = y.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return 0.0;
    }
    let r = sxy / (sxx * syy).sqrt();
    if r.is_nan() {
        0.0
    } else {
        r.clamp(-1.0, 1.0)
    }
}

/// Per-key realised pairs and the confidence evaluation (SPEC §6).
#[derive(Clone, Debug)]
pub struct ConfidenceTracker {
    params: ConfidenceParams,
    predictions: Box<[Window]>,
    actuals: Box<[Window]>,
    order: Box<[usize]>,
    ranks_pred: Box<[f64]>,
    ranks_actual: Box<[f64]>,
    /// Per key: the statistics of its pairs, `None` after a new pair.
    cached: Box<[Option<PairStats>]>,
}

/// What a key's realised pairs say, independent of the decision: recomputed
/// only when a pair is recorded.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PairStats {
    /// Spearman IC when at least `min_ic_pairs` pairs exist.
    measured_ic: Option<f64>,
    stability: f64,
}

impl ConfidenceTracker {
    /// A tracker for keys `0..n_keys`, every window and the rank scratch
    /// preallocated.
    pub fn new(params: &ConfidenceParams, n_keys: usize) -> ConfidenceTracker {
        let cap = params.pair_capacity();
        let windows = || {
            (0..n_keys)
                .map(|_| Window::with_capacity(cap))
                .collect::<Box<[Window]>>()
        };
        ConfidenceTracker {
            params: *params,
            predictions: windows(),
            actuals: windows(),
            order: vec![0; params.ic_window].into_boxed_slice(),
            ranks_pred: vec![0.0; params.ic_window].into_boxed_slice(),
            ranks_actual: vec![0.0; params.ic_window].into_boxed_slice(),
            cached: vec![None; n_keys].into_boxed_slice(),
        }
    }

    /// The parameters in use.
    pub fn params(&self) -> &ConfidenceParams {
        &self.params
    }

    /// Add one realised pair to `key` (oldest evicted when full). Returns
    /// false, recording nothing, for an unknown key or a non-finite value.
    pub fn record(&mut self, key: ModelId, prediction: f64, actual: f64) -> bool {
        if !(prediction.is_finite() && actual.is_finite()) {
            return false;
        }
        let (Some(p), Some(a)) = (
            self.predictions.get_mut(key.index()),
            self.actuals.get_mut(key.index()),
        ) else {
            return false;
        };
        p.push(prediction);
        a.push(actual);
        if let Some(c) = self.cached.get_mut(key.index()) {
            *c = None;
        }
        true
    }

    /// Realised pairs held for `key` (0 for an unknown key).
    pub fn pair_count(&self, key: ModelId) -> usize {
        self.predictions.get(key.index()).map_or(0, Window::len)
    }

    /// The realised predictions held for `key`, oldest first (empty for an
    /// unknown key).
    pub fn predictions(&self, key: ModelId) -> &[f64] {
        self.predictions
            .get(key.index())
            .map_or(&[], Window::as_slice)
    }

    /// The confidence of a prediction of `key` now; `None` for an unknown key.
    ///
    /// The IC and stability depend only on the key's pairs and are computed
    /// once after each new pair; freshness and capacity are per decision.
    pub fn evaluate(&mut self, key: ModelId, inputs: &ConfidenceInputs) -> Option<Confidence> {
        let age = inputs.decision_time.secs_since(inputs.data_time);
        let freshness = freshness(inputs.horizon_minutes, age);
        let capacity = capacity(
            self.params.capacity_kappa,
            inputs.adv_usd,
            inputs.planned_notional,
        );
        self.evaluate_with(key, inputs.ic_prior, freshness, capacity)
    }

    /// [`Self::evaluate`] with the decision's freshness (one per horizon
    /// and symbol) and capacity (one per symbol) already computed, so a
    /// decision computes them once rather than once per model.
    pub fn evaluate_with(
        &mut self,
        key: ModelId,
        ic_prior: Option<f64>,
        freshness: f64,
        capacity: f64,
    ) -> Option<Confidence> {
        let stats = match *self.cached.get(key.index())? {
            Some(stats) => stats,
            None => {
                let stats = self.pair_stats(key)?;
                self.cached[key.index()] = Some(stats);
                stats
            }
        };
        let p = &self.params;
        let (ic, ic_source) = match stats.measured_ic {
            Some(ic) => (ic, IcSource::Measured),
            None => (
                ic_prior.filter(|x| x.is_finite()).unwrap_or(0.0),
                IcSource::Prior,
            ),
        };
        let demoted = ic_source == IcSource::Measured && ic <= -p.ic_floor;
        let stability = stats.stability;
        let overall = if demoted {
            0.0
        } else {
            ic.max(p.ic_floor) * freshness * capacity * stability
        };
        Some(Confidence {
            ic,
            ic_source,
            demoted,
            freshness,
            capacity,
            stability,
            overall,
        })
    }

    /// Recompute the statistics of every key that received pairs since its
    /// last evaluation. Called once per cycle after realisation, so that
    /// decisions only read cached values; [`Self::evaluate`] would do the
    /// same lazily. Returns the number of keys refreshed.
    pub fn refresh(&mut self) -> usize {
        let mut refreshed = 0;
        for k in 0..self.cached.len() {
            if self.cached[k].is_none() {
                let key = ModelId(k as u16);
                self.cached[k] = self.pair_stats(key);
                refreshed += 1;
            }
        }
        refreshed
    }

    /// Measured IC (when enough pairs exist) and stability of `key`'s pairs.
    fn pair_stats(&mut self, key: ModelId) -> Option<PairStats> {
        let p = &self.params;
        let preds = self.predictions.get(key.index())?.as_slice();
        let actuals = self.actuals.get(key.index())?.as_slice();
        let count = preds.len().min(actuals.len());
        let measured_ic = (count >= p.min_ic_pairs).then(|| {
            let n = count.min(p.ic_window);
            let x = &preds[count - n..count];
            let y = &actuals[count - n..count];
            let order = &mut self.order[..n];
            average_ranks(x, order, &mut self.ranks_pred[..n]);
            average_ranks(y, order, &mut self.ranks_actual[..n]);
            pearson(&self.ranks_pred[..n], &self.ranks_actual[..n])
        });
        let s = count.min(p.stability_window);
        let stability = stability(&preds[count - s..count], &actuals[count - s..count]);
        Some(PairStats {
            measured_ic,
            stability,
        })
    }

    /// Forget every pair (a restart rebuilds statistics from scratch).
    pub fn reset(&mut self) {
        self.predictions.iter_mut().for_each(Window::clear);
        self.actuals.iter_mut().for_each(Window::clear);
        self.cached.iter_mut().for_each(|c| *c = None);
    }
}

/// An accepted prediction waiting for its realised return.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PendingPrediction {
    pub key: ModelId,
    pub symbol: SymbolId,
    /// `t0 + h_minutes·60 s`: the first decision time that may realise it.
    pub due: Nanos,
    /// The symbol's mid at `t0`.
    pub p0: f64,
    /// The raw model output.
    pub prediction: f64,
}

/// Why a prediction was not queued; the prediction is handed back.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum PendingError {
    #[error("pending queue full ({capacity} predictions)")]
    Full {
        capacity: usize,
        rejected: PendingPrediction,
    },
    #[error("mid {0} at prediction time is not a finite positive price")]
    InvalidPrice(f64),
    #[error("prediction {0} is not finite")]
    NonFinitePrediction(f64),
    #[error("horizon {0:?} has no pending queue")]
    UnknownHorizon(HorizonId),
}

/// Predictions waiting for realisation (SPEC §6, §21.10), one FIFO queue
/// per horizon.
///
/// Every model belongs to one horizon and decision times never decrease, so
/// within a horizon's queue creation order is also due order: realising
/// visits only the due prefix, never the whole backlog, and each model's
/// pairs are recorded in creation order. Capacity is fixed per horizon at
/// start-up; a full queue refuses the new prediction and hands it back
/// rather than growing.
#[derive(Clone, Debug)]
pub struct PendingPairs {
    queues: Box<[VecDeque<PendingPrediction>]>,
    horizon_secs: Box<[u64]>,
    capacity: usize,
}

impl PendingPairs {
    /// Empty queues for horizons of the given minutes (indexed by
    /// [`HorizonId`]), each holding at most `capacity` predictions.
    pub fn new(horizon_minutes: &[u32], capacity: usize) -> PendingPairs {
        PendingPairs {
            queues: horizon_minutes
                .iter()
                .map(|_| VecDeque::with_capacity(capacity))
                .collect(),
            horizon_secs: horizon_minutes.iter().map(|&m| u64::from(m) * 60).collect(),
            capacity,
        }
    }

    /// Queue a prediction of `key` (a model of `horizon`) for `symbol` made
    /// at `t0` with mid `p0`, due one horizon later.
    pub fn push(
        &mut self,
        key: ModelId,
        symbol: SymbolId,
        t0: Nanos,
        horizon: HorizonId,
        p0: f64,
        prediction: f64,
    ) -> Result<(), PendingError> {
        if !(p0.is_finite() && p0 > 0.0) {
            return Err(PendingError::InvalidPrice(p0));
        }
        if !prediction.is_finite() {
            return Err(PendingError::NonFinitePrediction(prediction));
        }
        let (Some(queue), Some(&secs)) = (
            self.queues.get_mut(horizon.index()),
            self.horizon_secs.get(horizon.index()),
        ) else {
            return Err(PendingError::UnknownHorizon(horizon));
        };
        let item = PendingPrediction {
            key,
            symbol,
            due: t0.saturating_add(Nanos::from_secs(secs)),
            p0,
            prediction,
        };
        if queue.len() >= self.capacity {
            return Err(PendingError::Full {
                capacity: self.capacity,
                rejected: item,
            });
        }
        queue.push_back(item);
        Ok(())
    }

    /// Realise every prediction due at `now` whose symbol has a valid quote
    /// this cycle (`mid(symbol)` is a finite positive mid): `actual =
    /// mid/p0 − 1` is recorded into `tracker`, in creation order per model.
    /// The others stay queued, in order, at the front of their queue.
    /// Returns the number realised.
    pub fn realise<F>(&mut self, now: Nanos, mid: F, tracker: &mut ConfidenceTracker) -> usize
    where
        F: Fn(SymbolId) -> Option<f64>,
    {
        let mut realised = 0;
        for queue in self.queues.iter_mut() {
            let due = queue.iter().take_while(|p| p.due <= now).count();
            // Walk the due prefix backwards, packing the waiting ones
            // against its end in their original order, then drop the front.
            let mut keep_at = due;
            let mut taken = 0;
            for i in 0..due {
                let p = queue[i];
                match mid(p.symbol).filter(|m| m.is_finite() && *m > 0.0) {
                    Some(m) => {
                        tracker.record(p.key, p.prediction, m / p.p0 - 1.0);
                        taken += 1;
                    }
                    None => queue[i - taken] = p,
                }
            }
            let kept = due - taken;
            // Kept items now occupy 0..kept; move them to due-kept..due.
            for j in (0..kept).rev() {
                keep_at -= 1;
                queue[keep_at] = queue[j];
            }
            for _ in 0..taken {
                queue.pop_front();
            }
            realised += taken;
        }
        realised
    }

    /// Predictions waiting.
    pub fn len(&self) -> usize {
        self.queues.iter().map(VecDeque::len).sum()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queues.iter().all(VecDeque::is_empty)
    }

    /// Drop every pending prediction (a restart rebuilds from scratch).
    pub fn clear(&mut self) {
        self.queues.iter_mut().for_each(VecDeque::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Nanos = Nanos(1_704_207_600_000_000_000);

    fn inputs() -> ConfidenceInputs {
        ConfidenceInputs {
            horizon_minutes: 5,
            ic_prior: Some(0.05),
            decision_time: T0,
            data_time: T0,
            adv_usd: None,
            planned_notional: 5000.0,
        }
    }

    fn tracker_with(pairs: &[(f64, f64)], params: &ConfidenceParams) -> ConfidenceTracker {
        let mut t = ConfidenceTracker::new(params, 1);
        for &(p, a) in pairs {
            assert!(t.record(ModelId(0), p, a));
        }
        t
    }

    #[test]
    fn ranks_average_ties() {
        let v = [3.0, 1.0, 3.0, 2.0, 3.0];
        let mut order = [0; 5];
        let mut ranks = [0.0; 5];
        average_ranks(&v, &mut order, &mut ranks);
        assert_eq!(ranks, [4.0, 1.0, 4.0, 2.0, 4.0]);
    }

    /// Counting and sorting give bit-identical ranks, ties and signed
    /// zeros included.
    #[test]
    fn counted_and_sorted_ranks_agree() {
        let mut seed = 1u64;
        for n in [1, 2, 3, 7, 20, 64] {
            for _ in 0..50 {
                let v: Vec<f64> = (0..n)
                    .map(|_| {
                        seed = seed
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        match (seed >> 60) % 4 {
                            0 => 0.0,
                            1 => -0.0,
                            _ => ((seed >> 33) % 7) as f64 - 3.0,
                        }
                    })
                    .collect();
                let (mut a, mut b, mut order) = (vec![0.0; n], vec![0.0; n], vec![0; n]);
                counted_ranks(&v, &mut a);
                sorted_ranks(&v, &mut order, &mut b);
                assert_eq!(a, b, "{v:?}");
            }
        }
    }

    /// The cached IC follows new pairs: evaluating twice gives the same
    /// answer, and a new pair changes it.
    #[test]
    fn cached_statistics_follow_new_pairs() {
        let params = ConfidenceParams {
            min_ic_pairs: 5,
            ..Default::default()
        };
        let pairs: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, i as f64)).collect();
        let mut t = tracker_with(&pairs, &params);
        let first = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert_eq!(t.evaluate(ModelId(0), &inputs()).unwrap(), first);
        assert!((first.ic - 1.0).abs() < 1e-15);
        for i in 0..20 {
            t.record(ModelId(0), i as f64, -(i as f64));
        }
        let after = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert!(after.ic < 0.0 && after.demoted, "{after:?}");
        t.reset();
        let prior = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert_eq!(prior.ic_source, IcSource::Prior);
    }

    #[test]
    fn prior_until_enough_pairs_then_measured() {
        let params = ConfidenceParams::default();
        let pairs: Vec<(f64, f64)> = (0..19).map(|i| (i as f64, i as f64 * 2.0)).collect();
        let mut t = tracker_with(&pairs, &params);
        let c = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert_eq!((c.ic, c.ic_source), (0.05, IcSource::Prior));
        t.record(ModelId(0), 19.0, 38.0);
        let c = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert_eq!(c.ic_source, IcSource::Measured);
        assert!((c.ic - 1.0).abs() < 1e-15);
    }

    #[test]
    fn constant_predictions_give_zero_ic() {
        let params = ConfidenceParams {
            min_ic_pairs: 5,
            ..Default::default()
        };
        let pairs: Vec<(f64, f64)> = (0..6).map(|i| (0.3, i as f64)).collect();
        let mut t = tracker_with(&pairs, &params);
        let c = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert_eq!((c.ic, c.ic_source), (0.0, IcSource::Measured));
        assert!(!c.demoted);
    }

    #[test]
    fn negative_measured_ic_demotes_but_negative_prior_does_not() {
        let params = ConfidenceParams {
            min_ic_pairs: 5,
            ..Default::default()
        };
        let pairs: Vec<(f64, f64)> = (0..6).map(|i| (i as f64, -(i as f64))).collect();
        let mut t = tracker_with(&pairs, &params);
        let c = t.evaluate(ModelId(0), &inputs()).unwrap();
        assert!(c.demoted);
        assert_eq!(c.overall, 0.0);
        assert_eq!(c.reason(), Some(Reason::ModelDemoted));

        let mut t = ConfidenceTracker::new(&params, 1);
        let prior = ConfidenceInputs {
            ic_prior: Some(-0.5),
            ..inputs()
        };
        let c = t.evaluate(ModelId(0), &prior).unwrap();
        assert!(!c.demoted);
        assert_eq!(c.reason(), None);
        // max(−0.5, floor) · 1 · 1 · 0.5
        assert_eq!(c.overall, 0.01 * 0.5);
    }

    #[test]
    fn freshness_table_and_edges() {
        assert_eq!(freshness(5, 150.0), (-1.0f64).exp());
        assert_eq!(freshness(SESSION_MINUTES, 7200.0), (-1.0f64).exp());
        assert_eq!(freshness(120, 300.0), (-1.0f64).exp());
        assert_eq!(freshness(5, -1.0), 1.0);
        assert_eq!(freshness(5, f64::NAN), 0.0);
        assert_eq!(freshness(5, f64::INFINITY), 0.0);
    }

    #[test]
    fn capacity_unknowns_are_one() {
        assert_eq!(capacity(0.1, Some(40_000.0), 5000.0), 0.8);
        assert_eq!(capacity(0.1, Some(1e8), 5000.0), 1.0);
        assert_eq!(capacity(0.1, None, 5000.0), 1.0);
        assert_eq!(capacity(0.1, Some(f64::NAN), 10.0), 1.0);
        assert_eq!(capacity(0.1, Some(0.0), 10.0), 1.0);
        assert_eq!(capacity(0.1, Some(1e6), 0.0), 1.0);
    }

    #[test]
    fn stability_needs_three_pairs() {
        assert_eq!(stability(&[1.0, 2.0], &[1.0, 2.0]), 0.5);
        assert_eq!(stability(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
        assert_eq!(stability(&[1.0, 1.0, 1.0], &[2.0, 2.0, 2.0]), 0.5);
    }

    #[test]
    fn non_finite_pairs_and_unknown_keys_are_refused() {
        let mut t = ConfidenceTracker::new(&ConfidenceParams::default(), 1);
        assert!(!t.record(ModelId(0), f64::NAN, 1.0));
        assert!(!t.record(ModelId(0), 1.0, f64::INFINITY));
        assert!(!t.record(ModelId(3), 1.0, 1.0));
        assert_eq!(t.pair_count(ModelId(0)), 0);
        assert_eq!(t.evaluate(ModelId(3), &inputs()), None);
    }

    #[test]
    fn pending_realise_when_due_with_a_quote_in_creation_order() {
        let params = ConfidenceParams {
            min_ic_pairs: 3,
            ..Default::default()
        };
        let mut t = ConfidenceTracker::new(&params, 2);
        let mut q = PendingPairs::new(&[5, 10], 2);
        let (a, b) = (SymbolId(0), SymbolId(1));
        let (h5, h10) = (HorizonId(0), HorizonId(1));
        q.push(ModelId(0), a, T0, h5, 100.0, 0.1).unwrap();
        q.push(ModelId(1), a, T0, h10, 100.0, 0.2).unwrap();
        q.push(ModelId(0), b, T0, h5, 50.0, 0.3).unwrap();
        let full = q.push(ModelId(0), b, T0, h5, 50.0, 0.4);
        assert!(matches!(full, Err(PendingError::Full { capacity: 2, .. })));
        assert_eq!(
            q.push(ModelId(0), b, T0, h10, 0.0, 0.4),
            Err(PendingError::InvalidPrice(0.0))
        );
        assert_eq!(
            q.push(ModelId(0), b, T0, HorizonId(2), 50.0, 0.4),
            Err(PendingError::UnknownHorizon(HorizonId(2)))
        );

        let quotes = |s: SymbolId| if s == a { Some(101.0) } else { None };
        // One nanosecond early: nothing is due.
        let early = T0.saturating_add(Nanos(300 * Nanos::PER_SEC - 1));
        assert_eq!(q.realise(early, quotes, &mut t), 0);
        // Exactly due: symbol a's 5m prediction; b has no quote and waits.
        let due = T0.saturating_add(Nanos::from_secs(300));
        assert_eq!(q.realise(due, quotes, &mut t), 1);
        assert_eq!((t.pair_count(ModelId(0)), q.len()), (1, 2));
        let both = |s: SymbolId| Some(if s == a { 99.0 } else { 51.0 });
        let later = T0.saturating_add(Nanos::from_secs(600));
        assert_eq!(q.realise(later, both, &mut t), 2);
        assert!(q.is_empty());
        assert_eq!(t.predictions(ModelId(0)), &[0.1, 0.3]);
        assert_eq!(t.pair_count(ModelId(1)), 1);
    }

    /// A prediction waiting for its symbol's quote keeps its place: later
    /// predictions of the same model for other symbols go ahead, and its
    /// own later predictions are realised after it.
    #[test]
    fn waiting_predictions_keep_creation_order() {
        let mut t = ConfidenceTracker::new(&ConfidenceParams::default(), 1);
        let mut q = PendingPairs::new(&[5], 16);
        let (a, b, m) = (SymbolId(0), SymbolId(1), ModelId(0));
        let at = |min: u64| T0.saturating_add(Nanos::from_secs(min * 60));
        q.push(m, a, at(0), HorizonId(0), 10.0, 1.0).unwrap();
        q.push(m, b, at(0), HorizonId(0), 10.0, 2.0).unwrap();
        q.push(m, a, at(1), HorizonId(0), 10.0, 3.0).unwrap();
        q.push(m, b, at(1), HorizonId(0), 10.0, 4.0).unwrap();
        q.push(m, a, at(9), HorizonId(0), 10.0, 5.0).unwrap();
        let only_a = |s: SymbolId| (s == a).then_some(11.0);
        assert_eq!(q.realise(at(6), only_a, &mut t), 2);
        assert_eq!(t.predictions(m), &[1.0, 3.0]);
        assert_eq!(q.len(), 3);
        assert_eq!(q.realise(at(7), |_| Some(12.0), &mut t), 2);
        assert_eq!(t.predictions(m), &[1.0, 3.0, 2.0, 4.0]);
        assert_eq!(q.realise(at(14), |_| Some(12.0), &mut t), 1);
        assert_eq!(t.predictions(m), &[1.0, 3.0, 2.0, 4.0, 5.0]);
    }
}
