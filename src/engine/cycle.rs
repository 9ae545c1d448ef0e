//! One engine cycle in SPEC §18.1's order: operator control → cycle count
//! and marks → portfolio value and weights → guardrails → realisation and
//! preference factors → phase 1 (decide per symbol) → phase 2 (gross
//! normalisation, band, shares) → phase 3 (risk validation, cooldown,
//! broker order, accounting, episodes and learning).
//!
//! [`CycleEngine`] owns the trading state: the decision pipeline, the
//! guardrails, the ledger (cash and positions: the broker's, SPEC §18.2),
//! marks, last fill times, reward episodes and the bandit. Market data comes
//! in through [`MarketView`], orders leave through [`OrderRouter`]; the
//! engine loop, the backtest and the `engine_cycle` vectors drive the same
//! code.
//!
//! Runs on the engine thread. Hot path: after [`CycleEngine::new`] no
//! allocation, no clock reads, no I/O, no logging.

use crate::broker::paper::{Fill, PaperBroker, PaperParams, PaperParamsError};
use crate::horizon::{HorizonSet, MAX_HORIZONS};
use crate::learning::bandit::{Bandit, BanditConfigError, BanditParams};
use crate::learning::reward::{self, EpisodeTracker};
use crate::market::quote::Quote;
use crate::pipeline::decision::{
    DecisionPipeline, ModelLayout, PipelineError, PipelineParams, PipelineStage, StageProbe,
    SymbolDecision, SymbolInput,
};
use crate::pipeline::risk::{CheckReport, Guardrails, RiskLimits};
use crate::types::TradingState;
use crate::types::{Decision, HorizonId, Nanos, Qty, Reason, Side, SymbolId, SymbolOrder};

/// What the cycle reads about one symbol's market.
pub trait MarketView {
    /// The symbol's quote for this cycle (`None`: no quote). It may be
    /// invalid (crossed, NaN): the spread gate decides.
    fn quote(&self, symbol: SymbolId) -> Option<Quote>;
    /// As-of bar closes, oldest first.
    fn closes(&self, symbol: SymbolId) -> &[f64];
    /// End time of the last as-of bar.
    fn data_time(&self, symbol: SymbolId) -> Nanos;
    /// Average daily dollar volume, `None` when unknown.
    fn adv_usd(&self, symbol: SymbolId) -> Option<f64>;
    /// Raw output per model id; NaN = none.
    fn outputs(&self, symbol: SymbolId) -> &[f64];
    /// Whether this cycle's outputs of `symbol` are queued for realisation
    /// (see [`SymbolInput::remember`]); every cycle's by default.
    fn remember(&self, _symbol: SymbolId) -> bool {
        true
    }
}

/// A market order the cycle wants filled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OrderRequest {
    /// The engine's idempotent client order id (persisted counter).
    pub client_order_id: u64,
    pub cycle: u64,
    pub time: Nanos,
    pub symbol: SymbolId,
    pub side: Side,
    /// Shares, > 0.
    pub qty: Qty,
    /// The quote the engine decided on; the paper broker fills from it.
    pub quote: Quote,
    /// The decision's horizon; `None` for exits.
    pub horizon: Option<HorizonId>,
}

/// What became of an order within the call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrderOutcome {
    Filled(Fill),
    /// Rejected with the broker's reason (`insufficient_funds`, …).
    Rejected(Reason),
    /// Sent; the outcome arrives later as a broker event (live brokers).
    Pending,
}

/// Where orders go.
pub trait OrderRouter {
    fn submit(&mut self, order: &OrderRequest) -> OrderOutcome;
}

/// The paper broker in the caller's thread: fills at once from the order's
/// quote (vectors, backtests, tests).
#[derive(Clone, Debug)]
pub struct InlinePaper {
    pub broker: PaperBroker,
}

impl OrderRouter for InlinePaper {
    fn submit(&mut self, order: &OrderRequest) -> OrderOutcome {
        self.broker.set_quote(order.symbol, order.quote);
        match self
            .broker
            .submit_shares(order.symbol, order.side, order.qty)
        {
            Ok(fill) => OrderOutcome::Filled(fill),
            Err(reason) => OrderOutcome::Rejected(reason),
        }
    }
}

/// Everything the cycle needs besides the models.
#[derive(Clone, Debug)]
pub struct CycleParams {
    pub horizons: HorizonSet,
    pub pipeline: PipelineParams,
    pub risk: RiskLimits,
    pub paper: PaperParams,
    pub bandit: BanditParams,
    /// Minimum event time between fills of one symbol.
    pub trade_cooldown: Nanos,
    /// Predictions waiting for realisation, per horizon.
    pub pending_capacity: usize,
}

/// Why a cycle engine cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CycleError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("paper broker: {0}")]
    Paper(#[from] PaperParamsError),
    #[error("online learning: {0}")]
    Bandit(#[from] BanditConfigError),
}

/// One symbol's outcome in a cycle (the vector's decision fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CycleDecision {
    pub decision: SymbolDecision,
    /// The broker's rejection code when `reason` is `order_rejected`.
    pub broker_error: Option<Reason>,
    /// The client order id sent for it, if any.
    pub client_order_id: Option<u64>,
}

/// A fill of this cycle with the decision it came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CycleFill {
    pub fill: Fill,
    pub client_order_id: u64,
    pub horizon: Option<HorizonId>,
}

/// What one cycle did. Preallocated once; overwritten every cycle.
#[derive(Clone, Debug)]
pub struct CycleReport {
    pub time: Nanos,
    /// The cycle counter (a PAUSED cycle does not move it).
    pub cycle_number: u64,
    pub state: TradingState,
    pub check: Option<CheckReport>,
    /// Start-of-cycle portfolio value.
    pub portfolio_value: f64,
    /// `cash + Σ position·mark` after the fills.
    pub portfolio_value_after: f64,
    /// One per decided symbol, in caller order.
    pub decisions: Vec<CycleDecision>,
    pub fills: Vec<CycleFill>,
    /// Orders sent whose outcome is pending.
    pub pending: u32,
}

impl CycleReport {
    fn with_capacity(n: usize) -> CycleReport {
        CycleReport {
            time: Nanos::ZERO,
            cycle_number: 0,
            state: TradingState::Active,
            check: None,
            portfolio_value: f64::NAN,
            portfolio_value_after: f64::NAN,
            decisions: Vec::with_capacity(n),
            fills: Vec::with_capacity(n),
            pending: 0,
        }
    }
}

/// Operator controls as the cycle sees them (SPEC §18.1 step 1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Controls {
    pub paused: bool,
    pub manual_kill: bool,
    /// The live feed has been silent for `data.stale_after_ms`.
    pub feed_stale: bool,
    /// A live broker is disconnected, degraded or not yet reconciled.
    pub broker_down: bool,
}

/// The engine's trading state and one cycle's logic.
pub struct CycleEngine {
    params: CycleParams,
    order: SymbolOrder,
    n_symbols: usize,
    pipeline: DecisionPipeline,
    guardrails: Guardrails,
    ledger: PaperBroker,
    episodes: EpisodeTracker,
    bandit: Bandit,
    controls: Controls,
    cycle_count: u64,
    next_client_id: u64,
    /// Last valid mid per symbol (NaN = never marked).
    marks: Box<[f64]>,
    /// Last fill time per symbol.
    last_fill: Box<[Option<Nanos>]>,
    /// Whether an order of the symbol is still working at an asynchronous
    /// broker (sent, not yet filled, rejected or cancelled).
    working: Box<[bool]>,
    // Scratch.
    weights: Box<[f64]>,
    live_weights: Box<[f64]>,
    /// This cycle's valid mid per symbol (NaN = none), for realisation.
    cycle_mids: Box<[f64]>,
    preference: [f64; MAX_HORIZONS],
    decisions: Box<[SymbolDecision]>,
    report: CycleReport,
}

impl CycleEngine {
    /// Build the state for the symbols of `order` (ids `0..n`, caller
    /// order = id order) and the models of `layout`. Cold path.
    pub fn new(
        params: CycleParams,
        layout: &ModelLayout,
        order: SymbolOrder,
    ) -> Result<CycleEngine, CycleError> {
        let n = order.len();
        let pipeline = DecisionPipeline::new(
            &params.pipeline,
            layout,
            order.clone(),
            params.pending_capacity,
        )?;
        let guardrails = Guardrails::new(params.risk, order.clone());
        let ledger = PaperBroker::new(params.paper, order.clone())?;
        let bandit = Bandit::new(params.horizons.len(), params.bandit)?;
        Ok(CycleEngine {
            params,
            order,
            n_symbols: n,
            pipeline,
            guardrails,
            ledger,
            episodes: EpisodeTracker::new(n),
            bandit,
            controls: Controls::default(),
            cycle_count: 0,
            next_client_id: 1,
            marks: vec![f64::NAN; n].into(),
            last_fill: vec![None; n].into(),
            working: vec![false; n].into(),
            weights: vec![0.0; n].into(),
            live_weights: vec![0.0; n].into(),
            cycle_mids: vec![f64::NAN; n].into(),
            preference: [1.0; MAX_HORIZONS],
            decisions: vec![SymbolDecision::EMPTY; n].into(),
            report: CycleReport::with_capacity(n),
        })
    }

    /// Set the operator controls for the next cycles.
    pub fn set_controls(&mut self, controls: Controls) {
        self.controls = controls;
        self.guardrails.set_paused(controls.paused);
        self.guardrails.set_manual_kill(controls.manual_kill);
        self.guardrails.set_feed_stale(controls.feed_stale);
        self.guardrails.set_broker_down(controls.broker_down);
    }

    /// The operator controls in force.
    pub fn controls(&self) -> Controls {
        self.controls
    }

    /// Run one cycle at decision time `t` over `symbols` (caller order; a
    /// subset for the bar and quote triggers). Returns the cycle's report.
    pub fn run_cycle(
        &mut self,
        t: Nanos,
        symbols: &[SymbolId],
        market: &impl MarketView,
        router: &mut impl OrderRouter,
        probe: &mut impl StageProbe,
    ) -> &CycleReport {
        let report = &mut self.report;
        report.time = t;
        report.decisions.clear();
        report.fills.clear();
        report.pending = 0;
        report.check = None;

        // 1. Operator control.
        if self.controls.paused {
            report.cycle_number = self.cycle_count;
            report.state = TradingState::Paused;
            let pv = self.ledger.portfolio_value_at(&self.marks);
            report.portfolio_value = pv;
            report.portfolio_value_after = pv;
            return &self.report;
        }

        // 2. Counter and marks.
        self.cycle_count += 1;
        report.cycle_number = self.cycle_count;
        self.cycle_mids.fill(f64::NAN);
        for &s in symbols {
            if let Some(q) = market.quote(s) {
                if q.is_valid() {
                    let i = s.index();
                    if i < self.n_symbols {
                        self.marks[i] = q.mid();
                        self.cycle_mids[i] = q.mid();
                    }
                    self.ledger.set_quote(s, q);
                }
            }
        }

        // 3. Portfolio value and weights at the marks.
        let pv = self.ledger.portfolio_value_at(&self.marks);
        let weights_ok = pv > 0.0 && pv.is_finite();
        for (i, w) in self.weights.iter_mut().enumerate() {
            let pos = self.ledger.position(SymbolId(i as u16));
            let mark = self.marks[i];
            *w = if weights_ok && pos != 0.0 && mark.is_finite() {
                pos * mark / pv
            } else {
                0.0
            };
        }
        report.portfolio_value = pv;

        // 4. Guardrails.
        let check = self.guardrails.check(pv, &self.weights, t);
        report.check = Some(check);
        report.state = check.state;

        // 5. Realisation and preference factors.
        let n_h = self.params.horizons.len();
        self.bandit.preference_factors(&mut self.preference[..n_h]);
        let mids = &self.cycle_mids;
        self.pipeline
            .begin_cycle(t, pv, &self.preference[..n_h], |id| {
                mids.get(id.index()).copied().filter(|m| m.is_finite())
            });

        // 6. Phase 1.
        let n = symbols.len().min(self.decisions.len());
        for (k, &s) in symbols.iter().take(n).enumerate() {
            let quote = market.quote(s);
            let input = SymbolInput {
                symbol: s,
                quote: quote.as_ref(),
                closes: market.closes(s),
                data_time: market.data_time(s),
                adv_usd: market.adv_usd(s),
                outputs: market.outputs(s),
                position: Qty(self.ledger.position(s).round() as i64),
                current_weight: self.weights.get(s.index()).copied().unwrap_or(0.0),
                remember: market.remember(s),
            };
            self.pipeline
                .decide_probed(&input, &mut self.decisions[k], probe);
        }

        // 7. Phase 2.
        let decisions = &mut self.decisions[..n];
        probe.start();
        if self.pipeline.size_cycle(decisions).is_err() {
            for d in decisions.iter_mut().filter(|d| d.intent.is_some()) {
                hold(d, Reason::Error);
            }
        }
        probe.lap(PipelineStage::Size);

        // 8. Phase 3.
        self.live_weights.copy_from_slice(&self.weights);
        for k in 0..n {
            let mut d = self.decisions[k];
            let mut out = CycleDecision {
                decision: d,
                broker_error: None,
                client_order_id: None,
            };
            probe.start();
            let valid = self
                .pipeline
                .validate(&self.guardrails, &self.live_weights, &mut d);
            probe.lap(PipelineStage::Risk);
            if valid {
                let cooling = self
                    .last_fill
                    .get(d.symbol.index())
                    .copied()
                    .flatten()
                    .is_some_and(|last| t.0.saturating_sub(last.0) < self.params.trade_cooldown.0);
                let working = self.working.get(d.symbol.index()).copied().unwrap_or(false);
                if cooling {
                    hold(&mut d, Reason::Cooldown);
                } else if working {
                    hold(&mut d, Reason::OrderPending);
                } else if let (Some(side), Some(quote)) =
                    (Side::of_delta(d.shares.0), market.quote(d.symbol))
                {
                    let id = self.next_client_id;
                    self.next_client_id += 1;
                    out.client_order_id = Some(id);
                    let order = OrderRequest {
                        client_order_id: id,
                        cycle: self.cycle_count,
                        time: t,
                        symbol: d.symbol,
                        side,
                        qty: d.shares.abs(),
                        quote,
                        horizon: d.horizon,
                    };
                    match router.submit(&order) {
                        OrderOutcome::Filled(fill) => {
                            self.apply_fill(&fill, d.horizon, t);
                            let i = d.symbol.index();
                            let pos = self.ledger.position(d.symbol);
                            let mark = self.marks.get(i).copied().unwrap_or(f64::NAN);
                            if let Some(w) = self.live_weights.get_mut(i) {
                                *w = if weights_ok { pos * mark / pv } else { 0.0 };
                            }
                            report_fill(&mut self.report, fill, id, d.horizon);
                        }
                        OrderOutcome::Rejected(reason) => {
                            d.decision = Decision::Blocked;
                            d.reason = Reason::OrderRejected;
                            d.target_weight = d.current_weight;
                            d.shares = Qty::ZERO;
                            out.broker_error = Some(reason);
                        }
                        OrderOutcome::Pending => {
                            self.report.pending += 1;
                            if let Some(w) = self.working.get_mut(d.symbol.index()) {
                                *w = true;
                            }
                        }
                    }
                } else {
                    hold(&mut d, Reason::Error);
                }
            }
            out.decision = d;
            self.decisions[k] = d;
            self.report.decisions.push(out);
        }
        self.report.portfolio_value_after = self.ledger.portfolio_value_at(&self.marks);
        &self.report
    }

    /// Apply a fill: ledger, last fill time, episode and learning.
    pub fn apply_fill(&mut self, fill: &Fill, horizon: Option<HorizonId>, t: Nanos) {
        self.ledger.apply_fill(fill);
        if let Some(slot) = self.last_fill.get_mut(fill.symbol.index()) {
            *slot = Some(t);
        }
        let signed = match fill.side {
            Side::Buy => fill.qty,
            Side::Sell => -fill.qty,
        };
        let episode_fill = reward::Fill {
            qty: Qty(signed.round() as i64),
            price: fill.price,
            fee: fill.fee,
            arm: horizon,
        };
        if let Ok(Some(closed)) = self.episodes.apply_fill(fill.symbol, &episode_fill) {
            let _ = self.bandit.learn(closed.arm, closed.reward.net);
        }
    }

    /// The order of `symbol` at an asynchronous broker is done (filled,
    /// rejected or cancelled): the symbol may trade again.
    pub fn order_done(&mut self, symbol: SymbolId) {
        if let Some(w) = self.working.get_mut(symbol.index()) {
            *w = false;
        }
    }

    /// Whether an order of `symbol` is working at an asynchronous broker.
    pub fn order_working(&self, symbol: SymbolId) -> bool {
        self.working.get(symbol.index()).copied().unwrap_or(false)
    }

    /// Adopt the broker's position of `symbol` (SPEC §18.4 `auto_sync`):
    /// the quantity changes, cash does not; a quantity within 1e-8 of zero
    /// removes the position. Cold path (reconciliation).
    pub fn adopt_position(&mut self, symbol: SymbolId, qty: f64) -> bool {
        self.ledger
            .set_position(symbol, if qty.abs() < 1e-8 { 0.0 } else { qty })
    }

    /// Adopt a live broker's cash (reconciliation at connect). Cold path.
    pub fn adopt_cash(&mut self, cash: f64) -> bool {
        self.ledger.set_cash(cash)
    }

    /// The last cycle's report.
    pub fn report(&self) -> &CycleReport {
        &self.report
    }

    /// Cash and positions (the broker's).
    pub fn ledger(&self) -> &PaperBroker {
        &self.ledger
    }

    /// Last valid mid per symbol (NaN = never marked).
    pub fn marks(&self) -> &[f64] {
        &self.marks
    }

    /// Cycles run (PAUSED cycles excluded).
    pub fn cycle_count(&self) -> u64 {
        self.cycle_count
    }

    /// The online-learning state.
    pub fn bandit(&self) -> &Bandit {
        &self.bandit
    }

    /// The guardrails.
    pub fn guardrails(&self) -> &Guardrails {
        &self.guardrails
    }

    /// The decision pipeline (statistics).
    pub fn pipeline(&self) -> &DecisionPipeline {
        &self.pipeline
    }

    /// The symbols' sorted order.
    pub fn symbol_order(&self) -> &SymbolOrder {
        &self.order
    }

    /// The configured horizons.
    pub fn horizons(&self) -> &HorizonSet {
        &self.params.horizons
    }

    /// The next client order id.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id
    }

    /// Last fill time per symbol.
    pub fn last_fills(&self) -> &[Option<Nanos>] {
        &self.last_fill
    }

    /// Open reward episodes.
    pub fn episodes(&self) -> &EpisodeTracker {
        &self.episodes
    }

    /// `cash + Σ position·mark` at the current marks.
    pub fn portfolio_value(&self) -> f64 {
        self.ledger.portfolio_value_at(&self.marks)
    }

    pub(crate) fn parts_mut(&mut self) -> StateParts<'_> {
        StateParts {
            guardrails: &mut self.guardrails,
            ledger: &mut self.ledger,
            episodes: &mut self.episodes,
            bandit: &mut self.bandit,
            cycle_count: &mut self.cycle_count,
            next_client_id: &mut self.next_client_id,
            marks: &mut self.marks,
            last_fill: &mut self.last_fill,
        }
    }
}

/// Mutable access to the persisted parts, for restore.
pub(crate) struct StateParts<'a> {
    pub guardrails: &'a mut Guardrails,
    pub ledger: &'a mut PaperBroker,
    pub episodes: &'a mut EpisodeTracker,
    pub bandit: &'a mut Bandit,
    pub cycle_count: &'a mut u64,
    pub next_client_id: &'a mut u64,
    pub marks: &'a mut [f64],
    pub last_fill: &'a mut [Option<Nanos>],
}

fn report_fill(report: &mut CycleReport, fill: Fill, id: u64, horizon: Option<HorizonId>) {
    if report.fills.len() < report.fills.capacity() {
        report.fills.push(CycleFill {
            fill,
            client_order_id: id,
            horizon,
        });
    }
}

/// Turn a sized decision into HOLD with `reason`.
fn hold(d: &mut SymbolDecision, reason: Reason) {
    d.decision = Decision::Hold;
    d.reason = reason;
    d.target_weight = d.current_weight;
    d.shares = Qty::ZERO;
}

impl CycleParams {
    /// The cycle's parameters from a validated config.
    pub fn from_config(
        config: &crate::config::EngineConfig,
        pending_capacity: usize,
    ) -> CycleParams {
        CycleParams {
            horizons: config.horizons.clone(),
            pipeline: config.pipeline_params(),
            risk: config.risk_limits(),
            paper: config.paper_params(),
            bandit: config.bandit_params(),
            trade_cooldown: config.risk.trade_cooldown,
            pending_capacity,
        }
    }
}

/// Why start-up positions were refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeedError {
    #[error("cash {0}: must be a finite number")]
    Cash(f64),
    #[error("position of symbol id {0}: {1}")]
    Position(u16, String),
}

impl CycleEngine {
    /// Start from `cash` and positions held before the engine started
    /// (symbol, signed shares, price): the price is the symbol's first mark
    /// and the position opens an episode without arm (SPEC §17.2). Cold.
    pub fn seed(&mut self, cash: f64, positions: &[(SymbolId, f64, f64)]) -> Result<(), SeedError> {
        let held: Vec<(SymbolId, f64)> = positions.iter().map(|&(s, q, _)| (s, q)).collect();
        self.ledger
            .restore(cash, &held, self.ledger.next_order_id())
            .map_err(|e| match e {
                crate::broker::paper::PaperStateError::Cash(c) => SeedError::Cash(c),
                other => SeedError::Position(0, other.to_string()),
            })?;
        for &(s, shares, price) in positions {
            if let Some(m) = self.marks.get_mut(s.index()) {
                *m = price;
            }
            self.episodes
                .seed_position(s, Qty(shares.round() as i64), price)
                .map_err(|e| SeedError::Position(s.0, e.to_string()))?;
        }
        Ok(())
    }
}
