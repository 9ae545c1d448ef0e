//! The engine proper: market events in, decisions and orders out, in event
//! time. [`Engine::on_event`] updates the market state, closes bars, feeds
//! features and sequence models, and runs the decision cycle when the
//! configured trigger fires (DESIGN §3):
//!
//! - `cycle`: at every multiple of `decision.interval_seconds` of event
//!   time, all symbols together. A cycle at boundary `t` runs when the first
//!   event after `t` arrives, before that event is applied, so it sees
//!   exactly the data as of `t` (events stamped at `t` included). After a
//!   gap (overnight) only the last boundary before the event runs.
//! - `bar`: a symbol is decided at the end of each of its bars, before the
//!   event that closed the bar is applied.
//! - `quote`: a symbol is decided on each of its quotes, at the quote's
//!   exchange time.
//!
//! Predictions are refreshed only when a symbol's features changed (a new
//! bar), so the quote trigger does not re-run models between bars. With the
//! bar and quote triggers a prediction is queued for realisation (SPEC §6)
//! by the first decision that uses it only: otherwise every quote would
//! queue the same output again, flooding the pending queues and weighting
//! the measured IC by quote counts. The cycle trigger queues every cycle's
//! outputs, as SPEC §18 and the vectors require.
//!
//! Runs on the engine thread. Hot path: after [`Engine::new`] and the first
//! events no allocation, no clock reads (times come from the events and
//! the injected [`Stopwatch`]), no I/O, no logging.

use crate::config::DecisionTrigger;
use crate::engine::cycle::{CycleEngine, CycleReport, MarketView, OrderRouter};
use crate::features::incremental::FeatureState;
use crate::feed::event::MarketEvent;
use crate::market::bar::Bar;
use crate::market::quote::Quote;
use crate::market::state::MarketState;
use crate::models::predict::{Predictors, SymbolModels};
use crate::pipeline::decision::StageProbe;
use crate::types::{Nanos, SymbolId};

/// Where each cycle's outcome goes (journal, console, backtest metrics).
pub trait CycleSink {
    /// A cycle ran (PAUSED cycles included).
    fn on_cycle(&mut self, report: &CycleReport, engine: &CycleEngine);
}

impl CycleSink for () {
    fn on_cycle(&mut self, _: &CycleReport, _: &CycleEngine) {}
}

/// Latency probes around the stages the engine drives (and, through
/// [`StageProbe`], inside each decision); the engine loop supplies a real
/// clock, tests and vectors supply `()`.
pub trait Stopwatch: StageProbe {
    /// A monotonic reading in nanoseconds; the first one after a cycle
    /// marks the inference start (see [`Stopwatch::read`]).
    fn now(&mut self) -> u64;
    /// A monotonic reading that marks nothing (timing work between
    /// cycles, such as feature updates).
    fn read(&mut self) -> u64 {
        self.now()
    }
    /// Predict took `ns` for one symbol.
    fn predict(&mut self, ns: u64);
    /// Updating one symbol's features with a closed bar took `ns`.
    fn features(&mut self, _ns: u64) {}
    /// A whole cycle (all its decisions) took `ns`.
    fn cycle(&mut self, ns: u64, decisions: usize);
}

impl Stopwatch for () {
    fn now(&mut self) -> u64 {
        0
    }
    fn predict(&mut self, _: u64) {}
    fn cycle(&mut self, _: u64, _: usize) {}
}

/// Engine counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineCounters {
    pub cycles: u64,
    pub decisions: u64,
    pub predictions: u64,
    pub bars: u64,
}

/// Market state, features, models and the cycle, driven by events.
pub struct Engine {
    cycle: CycleEngine,
    market: MarketState,
    predictors: Predictors,
    symbol_models: Box<[SymbolModels]>,
    features: Box<[FeatureState]>,
    /// Raw output per symbol × model id (NaN = none).
    outputs: Box<[f64]>,
    n_models: usize,
    dirty: Box<[bool]>,
    /// Outputs not yet queued for realisation (bar and quote triggers).
    fresh: Box<[bool]>,
    trigger: DecisionTrigger,
    interval: Nanos,
    next_cycle: Option<Nanos>,
    all: Box<[SymbolId]>,
    /// Bars finished by the current event, waiting for the bar trigger.
    closed: Vec<(SymbolId, Nanos)>,
    counters: EngineCounters,
}

/// The cycle's view of the engine's market and predictions.
struct View<'a> {
    market: &'a MarketState,
    outputs: &'a [f64],
    n_models: usize,
    /// `None`: queue every cycle's outputs (cycle trigger).
    fresh: Option<&'a [bool]>,
}

impl MarketView for View<'_> {
    fn quote(&self, symbol: SymbolId) -> Option<Quote> {
        self.market.symbol(symbol)?.quote().map(|q| q.quote())
    }
    fn closes(&self, symbol: SymbolId) -> &[f64] {
        self.market.symbol(symbol).map_or(&[], |s| s.closes())
    }
    fn data_time(&self, symbol: SymbolId) -> Nanos {
        self.market
            .symbol(symbol)
            .map_or(Nanos::ZERO, |s| s.data_time())
    }
    fn adv_usd(&self, symbol: SymbolId) -> Option<f64> {
        self.market.symbol(symbol)?.adv_usd()
    }
    fn outputs(&self, symbol: SymbolId) -> &[f64] {
        let start = symbol.index() * self.n_models;
        self.outputs
            .get(start..start + self.n_models)
            .unwrap_or(&[])
    }
    fn remember(&self, symbol: SymbolId) -> bool {
        self.fresh
            .is_none_or(|f| f.get(symbol.index()).copied().unwrap_or(false))
    }
}

impl Engine {
    /// An engine over `cycle` (trading state), `market` (sized for the same
    /// symbols) and the loaded `predictors`. Cold path.
    pub fn new(
        cycle: CycleEngine,
        market: MarketState,
        predictors: Predictors,
        trigger: DecisionTrigger,
        interval: Nanos,
    ) -> Engine {
        let n = market.len();
        let n_models = predictors.len();
        let features = (0..n)
            .map(|_| FeatureState::new(predictors.feature_set()))
            .collect();
        let symbol_models = (0..n).map(|_| predictors.symbol_state()).collect();
        Engine {
            cycle,
            market,
            predictors,
            symbol_models,
            features,
            outputs: vec![f64::NAN; n * n_models].into(),
            n_models,
            dirty: vec![false; n].into(),
            fresh: vec![false; n].into(),
            trigger,
            interval: Nanos(interval.0.max(1)),
            next_cycle: None,
            all: (0..n).map(|i| SymbolId(i as u16)).collect(),
            closed: Vec::with_capacity(4 * n + 4),
            counters: EngineCounters::default(),
        }
    }

    /// Apply one market event, running every decision it triggers.
    pub fn on_event(
        &mut self,
        event: &MarketEvent,
        router: &mut impl OrderRouter,
        sink: &mut impl CycleSink,
        clock: &mut impl Stopwatch,
    ) {
        let t = event.time();
        match self.trigger {
            DecisionTrigger::Cycle => {
                let next = *self
                    .next_cycle
                    .get_or_insert(Nanos((t.0 / self.interval.0 + 1) * self.interval.0));
                if t > next {
                    // The last boundary before t: every event stamped at
                    // or before it has been applied.
                    let at = Nanos((t.0 - 1) / self.interval.0 * self.interval.0);
                    self.advance_to(at, clock);
                    let all = std::mem::take(&mut self.all);
                    self.decide(at, &all, router, sink, clock);
                    self.all = all;
                    self.next_cycle = Some(Nanos(at.0 + self.interval.0));
                }
                self.apply(event, clock);
            }
            DecisionTrigger::Bar => {
                self.advance_to(t, clock);
                self.apply(event, clock);
                let mut k = 0;
                while k < self.closed.len() {
                    let (s, end) = self.closed[k];
                    self.decide(end, &[s], router, sink, clock);
                    k += 1;
                }
                self.closed.clear();
            }
            DecisionTrigger::Quote => {
                self.apply(event, clock);
                self.closed.clear();
                if let MarketEvent::Quote(q) = event {
                    if q.symbol.index() < self.all.len() {
                        self.decide(t, &[q.symbol], router, sink, clock);
                    }
                }
            }
        }
    }

    /// Close bars due by `t` and feed them to features and models.
    fn advance_to(&mut self, t: Nanos, clock: &mut impl Stopwatch) {
        let Engine {
            market,
            predictors,
            symbol_models,
            features,
            dirty,
            closed,
            counters,
            ..
        } = self;
        market.advance_to(t, |s, bar| {
            on_bar(
                predictors,
                symbol_models,
                features,
                dirty,
                closed,
                counters,
                clock,
                s,
                bar,
            )
        });
    }

    fn apply(&mut self, event: &MarketEvent, clock: &mut impl Stopwatch) {
        let Engine {
            market,
            predictors,
            symbol_models,
            features,
            dirty,
            closed,
            counters,
            ..
        } = self;
        market.on_event(event, |s, bar| {
            on_bar(
                predictors,
                symbol_models,
                features,
                dirty,
                closed,
                counters,
                clock,
                s,
                bar,
            )
        });
    }

    /// Refresh stale predictions of `symbols`, then run one cycle at `t`.
    fn decide(
        &mut self,
        t: Nanos,
        symbols: &[SymbolId],
        router: &mut impl OrderRouter,
        sink: &mut impl CycleSink,
        clock: &mut impl Stopwatch,
    ) {
        let start = clock.now();
        for &s in symbols {
            let i = s.index();
            if !self.dirty.get(i).copied().unwrap_or(false) {
                continue;
            }
            self.dirty[i] = false;
            let (Some(models), Some(features)) = (self.symbol_models.get(i), self.features.get(i))
            else {
                continue;
            };
            let Some(out) = self
                .outputs
                .get_mut(i * self.n_models..(i + 1) * self.n_models)
            else {
                continue;
            };
            let p0 = clock.now();
            self.predictors.predict(models, features, out);
            let p1 = clock.now();
            clock.predict(p1.saturating_sub(p0));
            self.counters.predictions += 1;
            if let Some(f) = self.fresh.get_mut(i) {
                *f = true;
            }
        }
        let view = View {
            market: &self.market,
            outputs: &self.outputs,
            n_models: self.n_models,
            fresh: (self.trigger != DecisionTrigger::Cycle).then_some(&self.fresh[..]),
        };
        let decided = self
            .cycle
            .run_cycle(t, symbols, &view, router, clock)
            .decisions
            .len();
        for &s in symbols {
            if let Some(f) = self.fresh.get_mut(s.index()) {
                *f = false;
            }
        }
        let end = clock.now();
        clock.cycle(end.saturating_sub(start), decided);
        self.counters.cycles += 1;
        self.counters.decisions += decided as u64;
        sink.on_cycle(self.cycle.report(), &self.cycle);
    }

    /// The trading state.
    pub fn cycle(&self) -> &CycleEngine {
        &self.cycle
    }

    /// The trading state, mutably (controls, fills from asynchronous
    /// brokers).
    pub fn cycle_mut(&mut self) -> &mut CycleEngine {
        &mut self.cycle
    }

    /// The market state.
    pub fn market(&self) -> &MarketState {
        &self.market
    }

    /// Whether the feed sends every symbol's bars (see
    /// [`MarketState::set_bars_from_feed`]). Cold.
    pub fn set_bars_from_feed(&mut self, from_feed: bool) {
        self.market.set_bars_from_feed(from_feed);
    }

    /// Counters so far.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// The raw model outputs of `symbol` as last predicted.
    pub fn outputs(&self, symbol: SymbolId) -> &[f64] {
        let start = symbol.index() * self.n_models;
        self.outputs
            .get(start..start + self.n_models)
            .unwrap_or(&[])
    }

    /// The loaded models.
    pub fn predictors(&self) -> &Predictors {
        &self.predictors
    }
}

#[allow(clippy::too_many_arguments)]
fn on_bar(
    predictors: &mut Predictors,
    symbol_models: &mut [SymbolModels],
    features: &mut [FeatureState],
    dirty: &mut [bool],
    closed: &mut Vec<(SymbolId, Nanos)>,
    counters: &mut EngineCounters,
    clock: &mut impl Stopwatch,
    s: SymbolId,
    bar: &Bar,
) {
    let i = s.index();
    let (Some(f), Some(m)) = (features.get_mut(i), symbol_models.get_mut(i)) else {
        return;
    };
    let t0 = clock.read();
    f.push_bar(bar.open, bar.high, bar.low, bar.close, bar.volume);
    predictors.on_bar(m, f, bar);
    let t1 = clock.read();
    clock.features(t1.saturating_sub(t0));
    if let Some(d) = dirty.get_mut(i) {
        *d = true;
    }
    counters.bars += 1;
    if closed.len() < closed.capacity() {
        closed.push((s, bar.end));
    }
}
