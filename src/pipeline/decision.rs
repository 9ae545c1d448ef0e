//! One cycle's decisions through every stage (SPEC §18.1 phases 1–3): spread
//! gate → volatility → standardize → confidence → blend per horizon → exits →
//! arbiter → barrier gate → proposal; then gross normalisation, band and
//! shares over the cycle; then risk validation against the live weights.
//!
//! [`DecisionPipeline`] owns every stage struct and all scratch, sized once
//! from [`PipelineParams`], the [`ModelLayout`] and the symbol count. The
//! engine loop (accounting, cooldown, broker, persistence) drives it; the
//! benches and the zero-allocation test drive it directly.
//!
//! Runs on the engine thread. Hot path: after [`DecisionPipeline::new`] no
//! allocation, no clock reads, no I/O, no logging.

use crate::horizon::{HorizonSet, MAX_HORIZONS};
use crate::market::volatility::{Volatility, VolatilityParams};
use crate::pipeline::arbitrate::{Arbiter, ArbiterInput, ArbiterParams, HorizonScore};
use crate::pipeline::blend::{BlendEntry, BlendError, BlendParams, HorizonBlender};
use crate::pipeline::confidence::{self, ConfidenceParams, ConfidenceTracker, PendingPairs};
use crate::pipeline::cost::CostParams;
use crate::pipeline::gate::{
    BarrierGate, BarrierParams, BarrierResolver, Quote, SpreadGate, SpreadGateParams,
};
use crate::pipeline::ridge::RidgeParams;
use crate::pipeline::risk::Guardrails;
use crate::pipeline::size::{
    Proposal, Sized, Sizer, SizingError, SizingIntent, SizingParams, SizingParamsError,
    SizingRequest, SymbolOrder,
};
use crate::pipeline::standardize::{StandardizeParams, Standardizer};
use crate::pipeline::temperature::{Temperature, TemperatureParams};
use crate::types::{Bps, Decision, HorizonId, ModelId, Nanos, Qty, Reason, Side, SymbolId};

/// Most models a pipeline may load (the demoted set is a fixed bitset).
pub const MAX_MODELS: usize = 256;

/// Every stage's parameters, in internal units.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct PipelineParams {
    pub spread_gate: SpreadGateParams,
    pub volatility: VolatilityParams,
    pub standardize: StandardizeParams,
    pub confidence: ConfidenceParams,
    pub blend: BlendParams,
    pub ridge: RidgeParams,
    pub temperature: TemperatureParams,
    pub cost: CostParams,
    pub arbiter: ArbiterParams,
    pub barrier: BarrierParams,
    pub sizing: SizingParams,
}

/// One return model as the pipeline sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReturnModel {
    /// Index into the per-model output slice.
    pub id: ModelId,
    pub horizon: HorizonId,
    /// Training IC prior (`metrics.ic`).
    pub ic_prior: Option<f64>,
}

/// Which models exist, built once at start-up. Model ids index the
/// per-decision output slice; ids ascend in byte-wise sorted model-id order.
#[derive(Clone, Debug)]
pub struct ModelLayout {
    pub horizons: HorizonSet,
    /// Return models in ascending id order.
    pub return_models: Vec<ReturnModel>,
    /// Barrier classifiers, indexed by the same model ids.
    pub barrier: BarrierResolver,
    /// Total number of model ids (return models and classifiers).
    pub n_models: usize,
}

/// Why a pipeline cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PipelineError {
    #[error("{0} models: at most {MAX_MODELS} are supported")]
    TooManyModels(usize),
    #[error("model id {id} is not below the model count {n_models}")]
    ModelId { id: usize, n_models: usize },
    #[error("model id {0} is listed twice or out of ascending order")]
    ModelOrder(usize),
    #[error("model {id} names horizon {horizon}, but only {horizons} are configured")]
    Horizon {
        id: usize,
        horizon: usize,
        horizons: usize,
    },
    #[error("sizing: {0}")]
    Sizing(#[from] SizingParamsError),
}

/// A fixed set of model ids (the models demoted in one decision).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ModelSet([u64; MAX_MODELS / 64]);

impl ModelSet {
    #[inline]
    fn insert(&mut self, id: ModelId) {
        let i = id.index();
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    /// Whether `id` is in the set.
    #[inline]
    pub fn contains(&self, id: ModelId) -> bool {
        let i = id.index();
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Ids in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = ModelId> + '_ {
        (0..MAX_MODELS)
            .filter(|&i| self.0[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| ModelId(i as u16))
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&w| w == 0)
    }
}

/// The stages a decision passes through, for latency telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineStage {
    /// Spread gate, and the barrier entry gate.
    Gate,
    /// Volatility, standardize, confidence and the horizon blends.
    Blend,
    /// Exits and the arbiter.
    Arbitrate,
    /// Proposal, gross normalisation, band and shares.
    Size,
    /// Risk validation.
    Risk,
}

/// Told when each stage of a decision finishes; the engine's
/// implementation reads its clock and records the stage's latency, `()`
/// does nothing.
pub trait StageProbe {
    /// Mark the start of a decision.
    fn start(&mut self) {}
    /// `stage` has just finished.
    fn lap(&mut self, stage: PipelineStage);
}

impl StageProbe for () {
    #[inline(always)]
    fn lap(&mut self, _: PipelineStage) {}
}

/// What one symbol brings to a cycle.
#[derive(Clone, Copy, Debug)]
pub struct SymbolInput<'a> {
    pub symbol: SymbolId,
    /// The cycle's quote, `None` when the symbol has none.
    pub quote: Option<&'a Quote>,
    /// As-of bar closes, oldest first (at least the last `vol_window + 1`).
    pub closes: &'a [f64],
    /// End time of the last as-of bar.
    pub data_time: Nanos,
    /// Average daily dollar volume, `None` when unknown.
    pub adv_usd: Option<f64>,
    /// Raw output per model id; NaN = no output this decision.
    pub outputs: &'a [f64],
    /// Current signed position.
    pub position: Qty,
    /// `position·mark/PV`.
    pub current_weight: f64,
    /// Whether this decision's model outputs are queued for realisation
    /// (SPEC §6). The cycle trigger queues every cycle's; the bar and quote
    /// triggers only the first decision on a new model output, so that a
    /// prediction is realised once however many quotes decide on it.
    pub remember: bool,
}

/// How far a symbol got and what it decided (vector decision fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SymbolDecision {
    pub symbol: SymbolId,
    pub decision: Decision,
    pub reason: Reason,
    /// The arbiter's selected horizon, kept when a later stage holds or
    /// blocks the entry (`None` before selection and for exits).
    pub horizon: Option<HorizonId>,
    /// Side of the selected horizon (as `horizon`).
    pub side: Option<Side>,
    /// α of the arbiter's best horizon (α_base for exits), `None` if not reached.
    pub alpha: Option<f64>,
    /// α per horizon, valid when `alphas_reached`.
    pub alphas: [Option<f64>; MAX_HORIZONS],
    pub alphas_reached: bool,
    /// Models demoted in this decision.
    pub demoted: ModelSet,
    pub current_weight: f64,
    /// Intended holding: final target for TRADE, current weight otherwise.
    pub target_weight: f64,
    /// Post-gross weight, `None` when the symbol did not reach sizing.
    pub proposed_weight: Option<f64>,
    /// Signed shares to trade (0 unless TRADE).
    pub shares: Qty,
    /// Quoted spread in bps (NaN without a quote).
    pub spread_bps: f64,
    pub mid: f64,
    pub position: Qty,
    /// The sizing request, when the symbol reached sizing.
    pub intent: Option<SizingIntent>,
    /// Blended score `S_h` of the selected horizon.
    pub score: f64,
    pub gate_factor: f64,
}

impl SymbolDecision {
    /// A blank decision, for preallocating outputs.
    pub const EMPTY: SymbolDecision = SymbolDecision {
        symbol: SymbolId(0),
        decision: Decision::Hold,
        reason: Reason::Error,
        horizon: None,
        side: None,
        alpha: None,
        alphas: [None; MAX_HORIZONS],
        alphas_reached: false,
        demoted: ModelSet([0; MAX_MODELS / 64]),
        current_weight: 0.0,
        target_weight: 0.0,
        proposed_weight: None,
        shares: Qty::ZERO,
        spread_bps: f64::NAN,
        mid: f64::NAN,
        position: Qty::ZERO,
        intent: None,
        score: f64::NAN,
        gate_factor: f64::NAN,
    };

    fn reset(&mut self, input: &SymbolInput<'_>) {
        *self = SymbolDecision {
            symbol: input.symbol,
            current_weight: input.current_weight,
            target_weight: input.current_weight,
            position: input.position,
            ..SymbolDecision::EMPTY
        };
    }

    fn stop(&mut self, decision: Decision, reason: Reason) {
        self.decision = decision;
        self.reason = reason;
        self.target_weight = self.current_weight;
        self.shares = Qty::ZERO;
    }

    /// Whether the symbol wants an order after sizing.
    pub fn wants_order(&self) -> bool {
        self.decision == Decision::Trade && self.shares != Qty::ZERO
    }
}

/// A return model inside its horizon: id and IC prior.
type HorizonModel = (ModelId, Option<f64>);

/// Per-cycle context set by [`DecisionPipeline::begin_cycle`].
#[derive(Clone, Copy, Debug)]
struct Cycle {
    time: Nanos,
    portfolio_value: f64,
    planned_notional: f64,
    preference: [f64; MAX_HORIZONS],
}

/// Every stage of a decision, with its scratch.
#[derive(Clone, Debug)]
pub struct DecisionPipeline {
    horizon_minutes: Box<[u32]>,
    base: HorizonId,
    bar_minutes: u32,
    /// Return models per horizon, ascending model id.
    models_by_horizon: Box<[Box<[HorizonModel]>]>,
    spread_gate: SpreadGate,
    volatility: Volatility,
    standardizer: Standardizer,
    confidence: ConfidenceTracker,
    capacity_kappa: f64,
    pending: PendingPairs,
    pending_dropped: u64,
    blenders: Box<[HorizonBlender]>,
    arbiter: Arbiter,
    barrier: BarrierGate,
    resolver: BarrierResolver,
    sizer: Sizer,
    cycle: Cycle,
    // Scratch.
    closes: Box<[f64]>,
    sigma_h: Box<[f64]>,
    scores: Box<[f64]>,
    entries: Box<[BlendEntry]>,
    blend_weights: Box<[f64]>,
    detail: Box<[Option<HorizonScore>]>,
    requests: Vec<SizingRequest>,
    request_of: Vec<usize>,
    sized: Box<[Sized]>,
}

impl DecisionPipeline {
    /// Build every stage and all scratch. `pending_capacity` bounds the
    /// predictions waiting for realisation per horizon (SPEC §6); beyond it
    /// the oldest are kept and new ones are counted as dropped.
    pub fn new(
        params: &PipelineParams,
        layout: &ModelLayout,
        symbols: SymbolOrder,
        pending_capacity: usize,
    ) -> Result<DecisionPipeline, PipelineError> {
        let n_models = layout.n_models;
        if n_models > MAX_MODELS {
            return Err(PipelineError::TooManyModels(n_models));
        }
        let n_h = layout.horizons.len();
        let mut per_h: Vec<Vec<HorizonModel>> = vec![Vec::new(); n_h];
        let mut last: Option<usize> = None;
        for m in &layout.return_models {
            let id = m.id.index();
            if id >= n_models {
                return Err(PipelineError::ModelId { id, n_models });
            }
            if last.is_some_and(|l| l >= id) {
                return Err(PipelineError::ModelOrder(id));
            }
            last = Some(id);
            let h = m.horizon.index();
            let slot = per_h.get_mut(h).ok_or(PipelineError::Horizon {
                id,
                horizon: h,
                horizons: n_h,
            })?;
            slot.push((m.id, m.ic_prior));
        }
        let horizon_minutes: Box<[u32]> = layout.horizons.iter().map(|(_, h)| h.minutes).collect();
        let blenders = per_h
            .iter()
            .zip(horizon_minutes.iter())
            .map(|(models, &minutes)| {
                let t = Temperature::for_minutes(&params.temperature, minutes);
                HorizonBlender::new(&params.blend, &params.ridge, t, models.len())
            })
            .collect();
        let max_per_h = per_h.iter().map(Vec::len).max().unwrap_or(0);
        let volatility = Volatility::new(params.volatility);
        let n_symbols = symbols.len();
        Ok(DecisionPipeline {
            pending: PendingPairs::new(&horizon_minutes, pending_capacity),
            closes: vec![0.0; volatility.closes_needed()].into(),
            horizon_minutes,
            base: layout.horizons.base(),
            bar_minutes: params.volatility.bar_minutes,
            models_by_horizon: per_h.into_iter().map(Vec::into_boxed_slice).collect(),
            spread_gate: SpreadGate::new(params.spread_gate),
            volatility,
            standardizer: Standardizer::new(&params.standardize, n_models),
            confidence: ConfidenceTracker::new(&params.confidence, n_models),
            capacity_kappa: params.confidence.capacity_kappa,
            pending_dropped: 0,
            blenders,
            arbiter: Arbiter::new(params.arbiter, params.cost),
            barrier: BarrierGate::new(params.barrier),
            resolver: layout.barrier.clone(),
            sizer: Sizer::new(params.sizing, symbols)?,
            cycle: Cycle {
                time: Nanos::ZERO,
                portfolio_value: 0.0,
                planned_notional: 0.0,
                preference: [1.0; MAX_HORIZONS],
            },
            sigma_h: vec![0.0; n_h].into(),
            scores: vec![f64::NAN; n_h].into(),
            entries: vec![
                BlendEntry {
                    slot: 0,
                    calibrated: 0.0,
                    ic: 0.0,
                    overall: 0.0,
                    demoted: false,
                    cost_share: 0.0,
                };
                max_per_h
            ]
            .into(),
            blend_weights: vec![0.0; max_per_h].into(),
            detail: vec![None; n_h].into(),
            requests: Vec::with_capacity(n_symbols),
            request_of: Vec::with_capacity(n_symbols),
            sized: vec![Sized::EMPTY; n_symbols].into(),
        })
    }

    /// Start a cycle at decision time `time` with the start-of-cycle marked
    /// portfolio value and the learning preference factors per horizon
    /// (`&[]` = all 1.0). Realises due predictions first (SPEC §6), using
    /// `mid` for each symbol's current valid mid, and refreshes the IC and
    /// stability of the models that received pairs.
    pub fn begin_cycle(
        &mut self,
        time: Nanos,
        portfolio_value: f64,
        preference: &[f64],
        mid: impl Fn(SymbolId) -> Option<f64>,
    ) -> usize {
        let mut pref = [1.0; MAX_HORIZONS];
        for (p, &f) in pref.iter_mut().zip(preference) {
            *p = f;
        }
        self.cycle = Cycle {
            time,
            portfolio_value,
            planned_notional: self.sizer.params().max_weight.0 * portfolio_value,
            preference: pref,
        };
        let realised = self.pending.realise(time, mid, &mut self.confidence);
        self.confidence.refresh();
        realised
    }

    /// Phase 1 for one symbol (SPEC §18.1 step 6), in caller order. The
    /// decision is final unless `out.intent` is set, in which case
    /// [`Self::size_cycle`] completes it.
    pub fn decide(&mut self, input: &SymbolInput<'_>, out: &mut SymbolDecision) {
        self.decide_probed(input, out, &mut ());
    }

    /// [`Self::decide`], telling `probe` as each stage finishes.
    pub fn decide_probed(
        &mut self,
        input: &SymbolInput<'_>,
        out: &mut SymbolDecision,
        probe: &mut impl StageProbe,
    ) {
        probe.start();
        out.reset(input);
        let t = self.cycle.time;

        // Spread gate.
        let gate = self.spread_gate.check_quote(input.quote, t);
        out.spread_bps = gate.spread_bps.unwrap_or(f64::NAN);
        probe.lap(PipelineStage::Gate);
        if !gate.allowed {
            out.stop(Decision::Hold, gate.reason);
            return;
        }
        let mid = input.quote.map_or(f64::NAN, Quote::mid);
        out.mid = mid;

        // Volatility from the as-of closes.
        let n = self.closes.len().min(input.closes.len());
        let closes = &mut self.closes[..n];
        closes.copy_from_slice(&input.closes[input.closes.len() - n..]);
        let sigma_bar = match self.volatility.estimate(closes) {
            Ok(v) => v.sigma_bar,
            Err(reason) => {
                out.stop(Decision::Hold, reason);
                return;
            }
        };
        self.volatility
            .horizon_sigmas(sigma_bar, &self.horizon_minutes, &mut self.sigma_h);

        // Return models per horizon → standardize → confidence → blend.
        out.alphas_reached = true;
        let planned = self.cycle.planned_notional;
        for h in 0..self.horizon_minutes.len() {
            let (alpha, score) = match self.blend_horizon(h, input, mid, planned, out) {
                Ok(Some(b)) => (Some(b.alpha), b.score),
                Ok(None) | Err(_) => (None, f64::NAN),
            };
            out.alphas[h] = alpha;
            self.scores[h] = score;
        }
        probe.lap(PipelineStage::Blend);
        let n_h = self.horizon_minutes.len();
        let alphas = &out.alphas[..n_h];
        let alpha_base = alphas[self.base.index()];

        // Exits: base-horizon classifiers, before the arbiter.
        if input.position != Qty::ZERO {
            let probs = self
                .resolver
                .resolve(input.outputs, self.base, self.base)
                .probs;
            let exit = self.barrier.exit(input.position, probs, alpha_base);
            if exit.exit {
                out.decision = Decision::Trade;
                out.reason = exit.reason;
                out.alpha = alpha_base;
                out.intent = Some(SizingIntent::Exit(exit.reason));
                return;
            }
        }
        if alphas.iter().all(Option::is_none) {
            out.stop(Decision::Hold, Reason::NoAlphas);
            return;
        }

        // Arbiter.
        let q_shares = planned / mid;
        let adv_shares = input
            .adv_usd
            .filter(|a| a.is_finite() && *a > 0.0)
            .map(|a| a / mid);
        let outcome = self.arbiter.decide(
            &ArbiterInput {
                alphas,
                horizon_minutes: &self.horizon_minutes,
                sigma_bar,
                bar_minutes: self.bar_minutes,
                spread_bps: Bps(out.spread_bps),
                q_shares,
                adv_shares,
                preference: &self.cycle.preference[..n_h],
            },
            &mut self.detail,
        );
        out.alpha = outcome.best.and_then(|b| alphas[b.index()]);
        probe.lap(PipelineStage::Arbitrate);
        let (Decision::Trade, Some(selected), Some(side)) =
            (outcome.decision, outcome.selected, outcome.side)
        else {
            out.stop(outcome.decision, outcome.reason);
            return;
        };

        // Entry gate.
        let probs = self
            .resolver
            .resolve(input.outputs, selected, self.base)
            .probs;
        let entry = self.barrier.entry(side, probs);
        probe.lap(PipelineStage::Gate);
        out.horizon = Some(selected);
        out.side = Some(side);
        if !entry.allowed {
            out.stop(Decision::Blocked, entry.reason);
            return;
        }
        out.score = self.scores[selected.index()];
        out.gate_factor = entry.gate_value;
        out.decision = Decision::Trade;
        out.reason = Reason::AboveThreshold;
        out.intent = Some(SizingIntent::Entry(
            self.sizer.propose(out.score, out.gate_factor),
        ));
        probe.lap(PipelineStage::Size);
    }

    fn blend_horizon(
        &mut self,
        h: usize,
        input: &SymbolInput<'_>,
        mid: f64,
        planned: f64,
        out: &mut SymbolDecision,
    ) -> Result<Option<crate::pipeline::blend::HorizonBlend>, BlendError> {
        let minutes = self.horizon_minutes[h];
        // One freshness per horizon, one capacity per symbol (SPEC §6).
        let age = self.cycle.time.secs_since(input.data_time);
        let freshness = confidence::freshness(minutes, age);
        let capacity = confidence::capacity(self.capacity_kappa, input.adv_usd, planned);
        let mut n = 0;
        for (slot, &(id, ic_prior)) in self.models_by_horizon[h].iter().enumerate() {
            let Some(&raw) = input.outputs.get(id.index()) else {
                continue;
            };
            let Some(z) = self.standardizer.standardize(id, raw) else {
                continue;
            };
            let Some(conf) = self
                .confidence
                .evaluate_with(id, ic_prior, freshness, capacity)
            else {
                continue;
            };
            if conf.demoted {
                out.demoted.insert(id);
            }
            if input.remember {
                let pushed = self.pending.push(
                    id,
                    input.symbol,
                    self.cycle.time,
                    HorizonId(h as u8),
                    mid,
                    raw,
                );
                if pushed.is_err() {
                    self.pending_dropped += 1;
                }
            }
            self.entries[n] = BlendEntry {
                slot,
                calibrated: z * conf.overall,
                ic: conf.ic,
                overall: conf.overall,
                demoted: conf.demoted,
                cost_share: 0.0,
            };
            n += 1;
        }
        self.blenders[h].blend(&self.entries[..n], self.sigma_h[h], &mut self.blend_weights)
    }

    /// Phase 2 (SPEC §14): gross normalisation over every symbol of the
    /// cycle that reached sizing, then band and shares. Completes the
    /// decisions in place.
    pub fn size_cycle(&mut self, decisions: &mut [SymbolDecision]) -> Result<f64, SizingError> {
        self.requests.clear();
        self.request_of.clear();
        for (i, d) in decisions.iter().enumerate() {
            if let Some(intent) = d.intent {
                if self.requests.len() == self.requests.capacity() {
                    break;
                }
                self.requests.push(SizingRequest {
                    symbol: d.symbol,
                    intent,
                    current_weight: d.current_weight,
                    position: d.position,
                    mid: d.mid,
                });
                self.request_of.push(i);
            }
        }
        let summary =
            self.sizer
                .size_group(self.cycle.portfolio_value, &self.requests, &mut self.sized)?;
        for (k, &i) in self.request_of.iter().enumerate() {
            let s = &self.sized[k];
            let d = &mut decisions[i];
            d.decision = s.decision;
            d.reason = s.reason;
            d.proposed_weight = Some(s.normalized);
            d.target_weight = s.target_weight;
            d.shares = s.shares;
        }
        Ok(summary.gross_before)
    }

    /// Phase 3 risk check for one sized decision against the live weights
    /// (SPEC §15.2): a failing check turns it into BLOCKED with the check's
    /// reason. Returns whether the order may go on (to cooldown and broker).
    pub fn validate(
        &self,
        guardrails: &Guardrails,
        weights: &[f64],
        d: &mut SymbolDecision,
    ) -> bool {
        if !d.wants_order() {
            return false;
        }
        match guardrails.validate_trade(d.symbol, d.target_weight, weights) {
            Ok(()) => true,
            Err(reason) => {
                d.stop(Decision::Blocked, reason);
                false
            }
        }
    }

    /// Predictions not queued for realisation because the queue was full.
    pub fn pending_dropped(&self) -> u64 {
        self.pending_dropped
    }

    /// Predictions waiting for realisation.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The arbiter's per-horizon detail of the last arbitrated decision.
    pub fn arbiter_detail(&self) -> &[Option<HorizonScore>] {
        &self.detail
    }

    /// The proposal sizing would make for a score and gate factor.
    pub fn propose(&self, score: f64, gate_factor: f64) -> Proposal {
        self.sizer.propose(score, gate_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::risk::RiskLimits;

    const T0: Nanos = Nanos(1_704_207_600_000_000_000); // 2024-01-02T15:00:00Z

    /// 2 horizons (5m, 15m) × 2 families, plus a peak classifier for 5m.
    fn layout() -> ModelLayout {
        let horizons = HorizonSet::parse(&["5m", "15m"]).unwrap();
        // Sorted model ids: fwd_ret_15m/A, fwd_ret_15m/B, fwd_ret_5m/A,
        // fwd_ret_5m/B, will_peak_5m/A.
        let names = [
            ("fwd_ret_15m", "A"),
            ("fwd_ret_15m", "B"),
            ("fwd_ret_5m", "A"),
            ("fwd_ret_5m", "B"),
            ("will_peak_5m", "A"),
        ];
        let ret = |id: u16, h: u8| ReturnModel {
            id: ModelId(id),
            horizon: HorizonId(h),
            ic_prior: Some(0.5),
        };
        ModelLayout {
            barrier: BarrierResolver::new(names, &horizons),
            horizons,
            return_models: vec![ret(0, 1), ret(1, 1), ret(2, 0), ret(3, 0)],
            n_models: names.len(),
        }
    }

    fn pipeline() -> DecisionPipeline {
        let order = SymbolOrder::from_names(&["AAA", "BBB"]).unwrap();
        let mut params = PipelineParams::default();
        params.sizing.max_weight = crate::types::Frac(0.15);
        DecisionPipeline::new(&params, &layout(), order, 64).unwrap()
    }

    fn closes() -> Vec<f64> {
        (0..30).map(|i| 100.0 + (i as f64 * 0.7).sin()).collect()
    }

    fn quote() -> Quote {
        Quote {
            bid: 99.99,
            ask: 100.01,
            time: Some(T0),
        }
    }

    fn input<'a>(q: Option<&'a Quote>, closes: &'a [f64], outputs: &'a [f64]) -> SymbolInput<'a> {
        SymbolInput {
            symbol: SymbolId(0),
            quote: q,
            closes,
            data_time: T0,
            adv_usd: None,
            outputs,
            position: Qty::ZERO,
            current_weight: 0.0,
            remember: true,
        }
    }

    #[test]
    fn missing_quote_holds_at_the_spread_gate() {
        let mut p = pipeline();
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        let c = closes();
        let mut d = SymbolDecision::EMPTY;
        p.decide(&input(None, &c, &[0.01; 5]), &mut d);
        assert_eq!((d.decision, d.reason), (Decision::Hold, Reason::NoQuote));
        assert!(!d.alphas_reached);
        assert_eq!(d.intent, None);
    }

    #[test]
    fn short_history_holds_with_insufficient_history() {
        let mut p = pipeline();
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        let q = quote();
        let mut d = SymbolDecision::EMPTY;
        p.decide(&input(Some(&q), &[100.0, 101.0], &[0.01; 5]), &mut d);
        assert_eq!(d.reason, Reason::InsufficientHistory);
    }

    #[test]
    fn no_outputs_hold_with_no_alphas() {
        let mut p = pipeline();
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        let (q, c) = (quote(), closes());
        let mut d = SymbolDecision::EMPTY;
        p.decide(&input(Some(&q), &c, &[f64::NAN; 5]), &mut d);
        assert_eq!((d.decision, d.reason), (Decision::Hold, Reason::NoAlphas));
        assert!(d.alphas_reached);
        assert_eq!(&d.alphas[..2], &[None, None]);
    }

    /// Strong, consistent outputs trade long; the peak classifier above its
    /// threshold blocks the same entry.
    #[test]
    fn strong_signal_trades_and_peak_classifier_blocks() {
        let (q, c) = (quote(), closes());
        let mut p = pipeline();
        let mut d = SymbolDecision::EMPTY;
        // Warm the standardizer with small outputs, then a large one.
        for k in 0..6 {
            p.begin_cycle(T0, 100_000.0, &[], |_| None);
            let small = 0.0001 * k as f64;
            p.decide(
                &input(Some(&q), &c, &[small, small, small, small, 0.1]),
                &mut d,
            );
        }
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        p.decide(&input(Some(&q), &c, &[0.05, 0.05, 0.05, 0.05, 0.1]), &mut d);
        assert_eq!(d.decision, Decision::Trade, "{d:?}");
        assert_eq!(d.side, Some(Side::Buy));
        assert!(d.alpha.unwrap() > 0.0);
        let mut cycle = [d];
        p.size_cycle(&mut cycle).unwrap();
        let d = cycle[0];
        assert!(d.shares.0 > 0, "{d:?}");
        assert!(d.proposed_weight.unwrap() > 0.0);

        let mut blocked = SymbolDecision::EMPTY;
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        p.decide(
            &input(Some(&q), &c, &[0.05, 0.05, 0.05, 0.05, 0.9]),
            &mut blocked,
        );
        assert_eq!(
            (blocked.decision, blocked.reason),
            (Decision::Blocked, Reason::BarrierPeakBlock)
        );
    }

    #[test]
    fn long_position_exits_on_peak_probability() {
        let (q, c) = (quote(), closes());
        let mut p = pipeline();
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        let mut inp = input(Some(&q), &c, &[0.0, 0.0, 0.0, 0.0, 0.7]);
        inp.position = Qty(10);
        inp.current_weight = 0.01;
        let mut d = [SymbolDecision::EMPTY];
        p.decide(&inp, &mut d[0]);
        assert_eq!(d[0].reason, Reason::PeakExit);
        p.size_cycle(&mut d).unwrap();
        assert_eq!(d[0].shares, Qty(-10));
        assert_eq!(d[0].target_weight, 0.0);
    }

    #[test]
    fn halted_guardrails_block_entries_but_not_reductions() {
        let (q, c) = (quote(), closes());
        let mut p = pipeline();
        let order = SymbolOrder::from_names(&["AAA", "BBB"]).unwrap();
        let mut g = Guardrails::new(RiskLimits::default(), order);
        g.set_manual_kill(true);
        let mut d = SymbolDecision::EMPTY;
        for k in 0..6 {
            p.begin_cycle(T0, 100_000.0, &[], |_| None);
            let small = 0.0001 * k as f64;
            p.decide(&input(Some(&q), &c, &[small; 5]), &mut d);
        }
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        p.decide(
            &input(Some(&q), &c, &[0.05, 0.05, 0.05, 0.05, f64::NAN]),
            &mut d,
        );
        let mut cycle = [d];
        p.size_cycle(&mut cycle).unwrap();
        assert!(cycle[0].wants_order());
        assert!(!p.validate(&g, &[0.0, 0.0], &mut cycle[0]));
        assert_eq!(
            (cycle[0].decision, cycle[0].reason),
            (Decision::Blocked, Reason::KillSwitch)
        );
    }

    #[test]
    fn predictions_are_realised_into_confidence_pairs() {
        let (q, c) = (quote(), closes());
        let mut p = pipeline();
        let mut d = SymbolDecision::EMPTY;
        p.begin_cycle(T0, 100_000.0, &[], |_| None);
        p.decide(&input(Some(&q), &c, &[0.01; 5]), &mut d);
        assert_eq!(p.pending_len(), 4);
        // 5 minutes later the 5m predictions realise, the 15m ones wait.
        let t = T0.saturating_add(Nanos::from_secs(300));
        assert_eq!(p.begin_cycle(t, 100_000.0, &[], |_| Some(100.5)), 2);
        assert_eq!(p.pending_len(), 2);
    }
}
