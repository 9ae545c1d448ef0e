//! The engine thread's ends of the links: the order router to the broker
//! thread, the cycle sink that journals every decision, order, fill and
//! cycle, and the clock that records stage latencies.
//!
//! Runs on the engine thread. Hot path: no allocation (every buffer is
//! made before trading), no logging; the only waits are bounded spins on
//! the broker's reply and on a full journal ring (counted).

use std::cell::Cell;
use std::rc::Rc;

use crate::engine::core::{CycleSink, Stopwatch};
use crate::engine::cycle::{CycleEngine, CycleReport, OrderOutcome, OrderRequest, OrderRouter};
use crate::engine::state::EngineState;
use crate::journal::{JournalRecord, MAX_PAYLOAD};
use crate::pipeline::decision::{PipelineStage, StageProbe};
use crate::pipeline::risk::GuardrailEvent;
use crate::runtime::links::{push_wait, BrokerMsg, JournalMsg, OrderMsg};
use crate::telemetry::{clock, LatencyRecorder, Metric};
use crate::types::{Reason, Side, TradingState};

/// Stamps shared between the engine loop, the clock and the router (one
/// thread; `Cell`s, no locking).
#[derive(Debug, Default)]
pub struct Stamps {
    /// When the event being processed left the feed (wire stamp).
    pub wire: Cell<u64>,
    /// When the current cycle started (inference start).
    pub cycle: Cell<u64>,
    /// Time the current cycle spent waiting for broker replies (paper
    /// fills happen inside the cycle): not part of the decision itself.
    pub broker_wait: Cell<u64>,
}

/// The engine thread's latency recorder and clock.
pub struct EngineClock {
    pub latency: LatencyRecorder,
    stamps: Rc<Stamps>,
    lap: u64,
}

impl EngineClock {
    pub fn new(stamps: Rc<Stamps>) -> EngineClock {
        EngineClock {
            latency: LatencyRecorder::new(),
            stamps,
            lap: 0,
        }
    }
}

impl StageProbe for EngineClock {
    #[inline]
    fn start(&mut self) {
        self.lap = clock::now_ns();
    }

    #[inline]
    fn lap(&mut self, stage: PipelineStage) {
        let now = clock::now_ns();
        let metric = match stage {
            PipelineStage::Gate => Metric::Gate,
            PipelineStage::Blend => Metric::Blend,
            PipelineStage::Arbitrate => Metric::Arbitrate,
            PipelineStage::Size => Metric::Size,
            PipelineStage::Risk => Metric::Risk,
        };
        self.latency.record(metric, now.saturating_sub(self.lap));
        self.lap = now;
    }
}

impl Stopwatch for EngineClock {
    #[inline]
    fn now(&mut self) -> u64 {
        let now = clock::now_ns();
        if self.stamps.cycle.get() == 0 {
            self.stamps.cycle.set(now);
        }
        now
    }

    #[inline]
    fn predict(&mut self, ns: u64) {
        self.latency.record(Metric::Predict, ns);
    }

    #[inline]
    fn read(&mut self) -> u64 {
        clock::now_ns()
    }

    #[inline]
    fn features(&mut self, ns: u64) {
        self.latency.record(Metric::Features, ns);
    }

    #[inline]
    fn cycle(&mut self, ns: u64, decisions: usize) {
        self.latency.record(Metric::Cycle, ns);
        // The decision: the cycle's own work per symbol, without the time
        // spent waiting for the broker's replies.
        let own = ns.saturating_sub(self.stamps.broker_wait.replace(0));
        if decisions > 0 {
            self.latency
                .record(Metric::Decision, own / decisions as u64);
        }
        self.stamps.cycle.set(0);
    }
}

/// The engine's journal producer, with its wait counter.
pub struct JournalLink {
    pub producer: rtrb::Producer<JournalMsg>,
    /// Snapshot images returned by the journal thread.
    pub free: rtrb::Consumer<Box<EngineState>>,
    pub waits: u64,
    /// Records the journal held at start (recovery by re-run): the first
    /// records produced must equal them and are not written again.
    pub expected: Vec<JournalRecord>,
    /// How many of `expected` were matched so far.
    pub matched: usize,
    /// The sequence number before `expected[0]`.
    pub seq_offset: u64,
    /// The first produced record that differs from the journal:
    /// (sequence number, journaled, produced).
    pub diverged: Option<(u64, JournalRecord, JournalRecord)>,
    /// Records sent to the journal thread.
    pub records: u64,
    a: [u8; MAX_PAYLOAD],
    b: [u8; MAX_PAYLOAD],
}

impl JournalLink {
    pub fn new(
        producer: rtrb::Producer<JournalMsg>,
        free: rtrb::Consumer<Box<EngineState>>,
        expected: Vec<JournalRecord>,
        seq_offset: u64,
    ) -> JournalLink {
        JournalLink {
            seq_offset,
            producer,
            free,
            waits: 0,
            expected,
            matched: 0,
            diverged: None,
            records: 0,
            a: [0; MAX_PAYLOAD],
            b: [0; MAX_PAYLOAD],
        }
    }

    /// Whether the run is still re-producing journaled records.
    #[inline]
    pub fn recovering(&self) -> bool {
        self.matched < self.expected.len()
    }

    /// The next journaled record of a re-run if it is an operator command
    /// (commands come from outside the input and are re-applied, not
    /// re-produced).
    #[inline]
    pub fn next_expected_control(&self) -> Option<JournalRecord> {
        match self.expected.get(self.matched) {
            Some(rec @ JournalRecord::Control { .. }) if self.diverged.is_none() => Some(*rec),
            _ => None,
        }
    }

    #[inline]
    pub fn record(&mut self, rec: JournalRecord) {
        if self.diverged.is_some() {
            return;
        }
        if let Some(old) = self.expected.get(self.matched).copied() {
            let la = old.encode(&mut self.a);
            let lb = rec.encode(&mut self.b);
            let same = old.kind() == rec.kind() && self.a[..la] == self.b[..lb];
            if !same {
                self.diverged = Some((self.seq_offset + self.matched as u64 + 1, old, rec));
            }
            self.matched += 1;
            return;
        }
        self.records += 1;
        self.waits += push_wait(&mut self.producer, JournalMsg::Record(rec));
    }

    #[inline]
    pub fn send(&mut self, msg: JournalMsg) {
        self.waits += push_wait(&mut self.producer, msg);
    }
}

/// An order working at an asynchronous (live) broker: at most one per
/// symbol (the cycle holds a symbol with `order_pending` until it is done).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Working {
    pub client_order_id: u64,
    pub side: Side,
    /// Shares ordered.
    pub qty: f64,
    /// Shares filled so far.
    pub filled: f64,
    pub horizon: Option<crate::types::HorizonId>,
    /// When it was handed to the broker thread (monotonic ns).
    pub sent: u64,
    pub acked: bool,
}

/// What the engine does with a live broker's position report (SPEC §18.4).
#[derive(Clone, Copy, Debug)]
pub struct ReconcilePolicy {
    pub mode: crate::config::ReconciliationMode,
    /// Share difference tolerated before drift.
    pub tolerance: f64,
}

/// Reconciliations the engine made against a live broker's reports.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ReconcileCounters {
    /// Reports compared.
    pub reports: u64,
    /// Positions whose broker quantity differed by more than the tolerance.
    pub drift: u64,
    /// Internal positions the broker did not report.
    pub orphans: u64,
    /// Positions set to the broker's quantity (`auto_sync`).
    pub adopted: u64,
    /// Fills for orders that were not working (already complete or from
    /// before a restart): counted, not applied twice.
    pub stray_fills: u64,
    /// The broker's cash in its last report (NaN when none).
    pub broker_cash: f64,
}

/// What draining the broker link found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Nothing that stops the run.
    Ok,
    /// `reconciliation.mode: strict` found drift or orphans: stop.
    StrictMismatch,
}

/// Orders to the broker thread; the paper broker's reply is awaited so
/// that paper trading fills inside the cycle, as SPEC §18 requires. A live
/// broker answers later: its orders stay [`Working`] until
/// [`ThreadRouter::drain`] sees them done.
pub struct ThreadRouter {
    pub orders: rtrb::Producer<OrderMsg>,
    pub events: rtrb::Consumer<BrokerMsg>,
    pub journal: Rc<std::cell::RefCell<JournalLink>>,
    pub latency: LatencyRecorder,
    pub stamps: Rc<Stamps>,
    /// `--dry-run`: decide, journal the order, send nothing.
    pub dry_run: bool,
    pub order_waits: u64,
    /// Replies that did not come within the spin budget.
    pub timeouts: u64,
    /// The broker thread, woken after each message (it parks when idle).
    pub broker: Option<std::thread::Thread>,
    /// A live broker: orders are sent and answered later (`Pending`).
    pub asynchronous: bool,
    /// The working order per symbol (asynchronous brokers).
    pub working: Box<[Option<Working>]>,
    /// The broker's position report being received, per symbol.
    pub report: Box<[Option<f64>]>,
    pub policy: ReconcilePolicy,
    pub reconcile: ReconcileCounters,
    /// Cycles between periodic reports (`reconciliation.periodic_interval`).
    pub report_every: u64,
}

impl ThreadRouter {
    /// Add the wait since `sent` to the cycle's broker wait.
    #[inline]
    fn note_wait(&self, sent: u64) {
        let waited = clock::now_ns().saturating_sub(sent);
        let w = &self.stamps.broker_wait;
        w.set(w.get().saturating_add(waited));
    }

    /// Send `msg` to the broker thread and wake it (never drops; counts
    /// waits on a full link). `unpark` is a flag swap, plus one futex wake
    /// only when the thread is parked: no allocation, no blocking.
    #[inline]
    pub fn send(&mut self, msg: OrderMsg) {
        self.order_waits += push_wait(&mut self.orders, msg);
        if let Some(t) = &self.broker {
            t.unpark();
        }
    }
}

impl ThreadRouter {
    /// Inference→order and wire→order for an order sent at `sent`.
    #[inline]
    fn note_order_latency(&mut self, sent: u64) {
        let cycle = self.stamps.cycle.get();
        if cycle != 0 {
            self.latency
                .record(Metric::InferenceToOrder, sent.saturating_sub(cycle));
        }
        let wire = self.stamps.wire.get();
        if wire != 0 {
            self.latency
                .record(Metric::WireToOrder, sent.saturating_sub(wire));
        }
    }

    /// Apply everything a live broker has sent since the last call: acks,
    /// fills (journaled, then applied to the book), rejections and
    /// cancellations (the symbol may trade again), link state (entries halt
    /// while it is down) and position reports (SPEC §18.4). `time` is the
    /// engine's latest event time, stamped on the journal records.
    ///
    /// Engine thread, between events: no allocation, no blocking.
    pub fn drain(&mut self, engine: &mut CycleEngine, time: crate::types::Nanos) -> Drained {
        let mut out = Drained::Ok;
        while let Ok(msg) = self.events.pop() {
            match msg {
                BrokerMsg::Acked {
                    client_order_id,
                    broker_order_id,
                    stamp,
                } => {
                    // The first acknowledgement of a working order is
                    // journaled and timed; later status changes are not.
                    let first = match self.working_mut(client_order_id) {
                        Some(w) if !w.acked => {
                            w.acked = true;
                            Some(w.sent)
                        }
                        _ => None,
                    };
                    if let Some(sent) = first {
                        self.latency
                            .record(Metric::OrderToAck, stamp.saturating_sub(sent));
                        self.journal.borrow_mut().record(JournalRecord::Ack {
                            client_order_id,
                            broker_order_id,
                            time,
                        });
                    }
                }
                BrokerMsg::Filled {
                    client_order_id,
                    fill,
                    stamp,
                } => self.on_fill(engine, client_order_id, fill, stamp, time),
                BrokerMsg::Rejected {
                    client_order_id,
                    reason,
                    ..
                } => self.on_done(engine, client_order_id, reason, time),
                BrokerMsg::Cancelled {
                    client_order_id, ..
                } => self.on_done(engine, client_order_id, Reason::OrderCancelled, time),
                BrokerMsg::Link { up } => {
                    if !up {
                        self.set_broker_down(engine, true, time);
                    }
                }
                BrokerMsg::Position { symbol, qty } => {
                    if let Some(slot) = self.report.get_mut(symbol.index()) {
                        *slot = Some(qty);
                    }
                }
                BrokerMsg::ReportEnd { cash, reconnect } => {
                    // Trading resumes only once the report agrees (or the
                    // mode accepts the difference).
                    let agreed = self.compare_report(engine, cash, reconnect);
                    self.set_broker_down(engine, !agreed, time);
                    if !agreed {
                        out = Drained::StrictMismatch;
                    }
                }
            }
        }
        out
    }

    fn working_mut(&mut self, client_order_id: u64) -> Option<&mut Working> {
        self.working
            .iter_mut()
            .flatten()
            .find(|w| w.client_order_id == client_order_id)
    }

    fn on_fill(
        &mut self,
        engine: &mut CycleEngine,
        client_order_id: u64,
        fill: crate::broker::paper::Fill,
        stamp: u64,
        time: crate::types::Nanos,
    ) {
        let Some(w) = self
            .working
            .get_mut(fill.symbol.index())
            .and_then(|w| w.as_mut())
            .filter(|w| w.client_order_id == client_order_id)
        else {
            self.reconcile.stray_fills += 1;
            return;
        };
        w.filled += fill.qty;
        let horizon = w.horizon;
        let done = w.filled + 1e-9 >= w.qty;
        let sent = w.sent;
        // The book's fill number, as the paper broker numbers its fills.
        let fill = crate::broker::paper::Fill {
            order_id: engine.ledger().next_order_id(),
            ..fill
        };
        self.journal.borrow_mut().record(JournalRecord::Fill {
            client_order_id,
            broker_order_id: fill.order_id,
            time,
            symbol: fill.symbol,
            side: fill.side,
            qty: crate::types::Qty(fill.qty.round() as i64),
            price: fill.price,
            fee: fill.fee,
        });
        engine.apply_fill(&fill, horizon, time);
        if done {
            self.latency
                .record(Metric::OrderToFill, stamp.saturating_sub(sent));
            if let Some(slot) = self.working.get_mut(fill.symbol.index()) {
                *slot = None;
            }
            engine.order_done(fill.symbol);
        }
    }

    fn on_done(
        &mut self,
        engine: &mut CycleEngine,
        client_order_id: u64,
        reason: Reason,
        time: crate::types::Nanos,
    ) {
        let Some(i) = self
            .working
            .iter()
            .position(|w| w.is_some_and(|w| w.client_order_id == client_order_id))
        else {
            return;
        };
        let symbol = crate::types::SymbolId(i as u16);
        self.working[i] = None;
        engine.order_done(symbol);
        self.journal.borrow_mut().record(JournalRecord::Reject {
            client_order_id,
            time,
            symbol,
            reason,
        });
    }

    fn set_broker_down(&mut self, engine: &mut CycleEngine, down: bool, time: crate::types::Nanos) {
        let mut controls = engine.controls();
        if controls.broker_down == down {
            return;
        }
        controls.broker_down = down;
        engine.set_controls(controls);
        self.journal.borrow_mut().record(JournalRecord::Kill {
            time,
            state: engine.guardrails().state(),
            reason: Some(Reason::BrokerDown),
        });
    }

    /// Compare the report just received with the book (SPEC §18.4) and
    /// apply the mode; `false` when `strict` finds a difference. Clears the
    /// report for the next one.
    ///
    /// The report that follows a (re)connection is the start of trading
    /// with that broker (DESIGN §7): its explicit positions and its cash
    /// win (as `auto_sync` does) unless the mode is `strict`. Periodic
    /// reports follow the mode: `warn` counts, `auto_sync` adopts.
    fn compare_report(&mut self, engine: &mut CycleEngine, cash: f64, reconnect: bool) -> bool {
        let tol = self.policy.tolerance;
        let mut drift = 0u64;
        let mut orphans = 0u64;
        let mut adopted = 0u64;
        let strict = self.policy.mode == crate::config::ReconciliationMode::Strict;
        let sync = !strict
            && (reconnect || self.policy.mode == crate::config::ReconciliationMode::AutoSync);
        if sync && cash.is_finite() {
            engine.adopt_cash(cash);
        }
        for (i, slot) in self.report.iter_mut().enumerate() {
            let symbol = crate::types::SymbolId(i as u16);
            let mine = engine.ledger().position(symbol);
            match slot.take() {
                Some(theirs) if (theirs - mine).abs() > tol => {
                    drift += 1;
                    if sync && engine.adopt_position(symbol, theirs) {
                        adopted += 1;
                    }
                }
                Some(_) => {}
                None if mine != 0.0 => {
                    orphans += 1;
                    if sync && engine.adopt_position(symbol, 0.0) {
                        adopted += 1;
                    }
                }
                None => {}
            }
        }
        let r = &mut self.reconcile;
        r.reports += 1;
        r.drift += drift;
        r.orphans += orphans;
        r.adopted += adopted;
        r.broker_cash = cash;
        !(strict && drift + orphans > 0)
    }
}

/// How long the engine spins for a paper reply before giving up on it.
const REPLY_BUDGET_NS: u64 = 2_000_000_000;

impl OrderRouter for ThreadRouter {
    fn submit(&mut self, order: &OrderRequest) -> OrderOutcome {
        let price = match order.side {
            Side::Buy => order.quote.ask,
            Side::Sell => order.quote.bid,
        };
        self.journal.borrow_mut().record(JournalRecord::Order {
            client_order_id: order.client_order_id,
            cycle: order.cycle,
            time: order.time,
            symbol: order.symbol,
            side: order.side,
            qty: order.qty,
            price,
            horizon: order.horizon,
        });
        if self.dry_run {
            return OrderOutcome::Pending;
        }
        let sent = clock::now_ns();
        if self.asynchronous {
            self.note_order_latency(sent);
            self.send(OrderMsg::Order {
                order: *order,
                stamp: sent,
            });
            if let Some(slot) = self.working.get_mut(order.symbol.index()) {
                *slot = Some(Working {
                    client_order_id: order.client_order_id,
                    side: order.side,
                    qty: order.qty.as_f64(),
                    filled: 0.0,
                    horizon: order.horizon,
                    sent,
                    acked: false,
                });
            }
            return OrderOutcome::Pending;
        }
        self.note_order_latency(sent);
        self.send(OrderMsg::Order {
            order: *order,
            stamp: sent,
        });
        let mut spins = 0u32;
        loop {
            match self.events.pop() {
                Ok(BrokerMsg::Filled {
                    client_order_id,
                    fill,
                    stamp,
                }) if client_order_id == order.client_order_id => {
                    self.latency
                        .record(Metric::OrderToAck, stamp.saturating_sub(sent));
                    self.latency
                        .record(Metric::OrderToFill, stamp.saturating_sub(sent));
                    self.note_wait(sent);
                    self.journal.borrow_mut().record(JournalRecord::Fill {
                        client_order_id,
                        broker_order_id: fill.order_id,
                        time: order.time,
                        symbol: fill.symbol,
                        side: fill.side,
                        qty: crate::types::Qty(fill.qty.round() as i64),
                        price: fill.price,
                        fee: fill.fee,
                    });
                    return OrderOutcome::Filled(fill);
                }
                Ok(BrokerMsg::Rejected {
                    client_order_id,
                    reason,
                    stamp,
                }) if client_order_id == order.client_order_id => {
                    self.latency
                        .record(Metric::OrderToAck, stamp.saturating_sub(sent));
                    self.note_wait(sent);
                    self.journal.borrow_mut().record(JournalRecord::Reject {
                        client_order_id,
                        time: order.time,
                        symbol: order.symbol,
                        reason,
                    });
                    return OrderOutcome::Rejected(reason);
                }
                Ok(_) => {}
                Err(_) => {
                    spins = spins.wrapping_add(1);
                    // Spin first (the reply is microseconds away on an idle
                    // core); past that, share a crowded core with the
                    // broker thread instead of starving it.
                    if spins < 4096 {
                        std::hint::spin_loop();
                    } else {
                        std::thread::yield_now();
                    }
                    if spins.is_multiple_of(1024)
                        && (self.events.is_abandoned()
                            || clock::now_ns().saturating_sub(sent) > REPLY_BUDGET_NS)
                    {
                        self.timeouts += 1;
                        self.note_wait(sent);
                        return OrderOutcome::Pending;
                    }
                }
            }
        }
    }
}

/// Journals every cycle's decisions, kill-switch events and end, and hands
/// a state image to the journal thread after each cycle when one is free.
pub struct JournalSink {
    pub journal: Rc<std::cell::RefCell<JournalLink>>,
    /// Cycles reported (PAUSED included).
    pub cycles: u64,
    pub snapshots: u64,
    /// Snapshots skipped because no image was free.
    pub snapshots_skipped: u64,
    pub last_state: TradingState,
}

impl CycleSink for JournalSink {
    fn on_cycle(&mut self, r: &CycleReport, engine: &CycleEngine) {
        self.cycles += 1;
        let mut j = self.journal.borrow_mut();
        if let Some(check) = r.check {
            for ev in check.events() {
                let (state, reason) = match ev {
                    GuardrailEvent::Triggered { reason, .. } => {
                        (TradingState::Halted, Some(reason))
                    }
                    GuardrailEvent::Cleared { .. } => (check.state, None),
                };
                j.record(JournalRecord::Kill {
                    time: r.time,
                    state,
                    reason,
                });
            }
        }
        if r.state != self.last_state {
            if r.state == TradingState::Halted && check_reason(r) == Some(Reason::NonPositiveEquity)
            {
                j.record(JournalRecord::Kill {
                    time: r.time,
                    state: r.state,
                    reason: Some(Reason::NonPositiveEquity),
                });
            }
            self.last_state = r.state;
        }
        for cd in &r.decisions {
            let d = &cd.decision;
            j.record(JournalRecord::Decision {
                cycle: r.cycle_number,
                time: r.time,
                symbol: d.symbol,
                decision: d.decision,
                reason: d.reason,
                horizon: d.horizon,
                side: d.side,
                shares: d.shares,
                alpha: d.alpha.unwrap_or(f64::NAN),
                target_weight: d.target_weight,
                proposed_weight: d.proposed_weight.unwrap_or(f64::NAN),
            });
        }
        j.record(JournalRecord::Cycle {
            cycle: r.cycle_number,
            time: r.time,
            cash: engine.ledger().cash(),
            portfolio_value: r.portfolio_value_after,
            state: r.state,
        });
        if r.state == TradingState::Paused {
            return;
        }
        if j.recovering() || j.diverged.is_some() {
            return;
        }
        match j.free.pop() {
            Ok(mut image) => {
                image.capture_into(engine);
                j.send(JournalMsg::Snapshot(image));
                self.snapshots += 1;
            }
            Err(_) => self.snapshots_skipped += 1,
        }
    }
}

fn check_reason(r: &CycleReport) -> Option<Reason> {
    r.check.and_then(|c| c.kill_reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::paper::Fill;
    use crate::config::{EngineConfig, ReconciliationMode};
    use crate::engine::cycle::CycleParams;
    use crate::market::quote::Quote;
    use crate::pipeline::decision::ModelLayout;
    use crate::pipeline::gate::BarrierResolver;
    use crate::types::{Nanos, Qty, SymbolId, SymbolOrder};

    struct Rig {
        router: ThreadRouter,
        engine: CycleEngine,
        to_engine: rtrb::Producer<BrokerMsg>,
        at_broker: rtrb::Consumer<OrderMsg>,
        journal: rtrb::Consumer<JournalMsg>,
    }

    fn rig(mode: ReconciliationMode) -> Rig {
        let config = EngineConfig::default();
        let order = SymbolOrder::from_names(&["AAA", "BBB"]).unwrap();
        let horizons = config.horizons.clone();
        let layout = ModelLayout {
            barrier: BarrierResolver::new(std::iter::empty(), &horizons),
            horizons,
            return_models: Vec::new(),
            n_models: 0,
        };
        let engine =
            CycleEngine::new(CycleParams::from_config(&config, 16), &layout, order).unwrap();
        let (orders, at_broker) = rtrb::RingBuffer::new(16);
        let (to_engine, events) = rtrb::RingBuffer::new(16);
        let (jp, journal) = rtrb::RingBuffer::new(64);
        let (_free_p, free) = rtrb::RingBuffer::new(1);
        let link = JournalLink::new(jp, free, Vec::new(), 0);
        let router = ThreadRouter {
            orders,
            events,
            journal: Rc::new(std::cell::RefCell::new(link)),
            latency: LatencyRecorder::new(),
            stamps: Rc::new(Stamps::default()),
            dry_run: false,
            order_waits: 0,
            timeouts: 0,
            broker: None,
            asynchronous: true,
            working: vec![None; 2].into(),
            report: vec![None; 2].into(),
            policy: ReconcilePolicy {
                mode,
                tolerance: 0.01,
            },
            reconcile: ReconcileCounters::default(),
            report_every: 100,
        };
        Rig {
            router,
            engine,
            to_engine,
            at_broker,
            journal,
        }
    }

    fn order(id: u64, qty: i64) -> OrderRequest {
        OrderRequest {
            client_order_id: id,
            cycle: 1,
            time: Nanos(1),
            symbol: SymbolId(0),
            side: Side::Buy,
            qty: Qty(qty),
            quote: Quote {
                bid: 99.0,
                ask: 101.0,
                time: None,
            },
            horizon: None,
        }
    }

    fn fill(qty: f64) -> Fill {
        Fill {
            order_id: 0,
            symbol: SymbolId(0),
            side: Side::Buy,
            qty,
            price: 100.0,
            notional: qty * 100.0,
            fee: 0.5,
        }
    }

    fn kinds(journal: &mut rtrb::Consumer<JournalMsg>) -> Vec<crate::journal::RecordKind> {
        let mut out = Vec::new();
        while let Ok(m) = journal.pop() {
            if let JournalMsg::Record(r) = m {
                out.push(r.kind());
            }
        }
        out
    }

    #[test]
    fn a_live_order_works_until_its_fills_complete_it() {
        use crate::journal::RecordKind as K;
        let mut r = rig(ReconciliationMode::Warn);
        assert_eq!(r.router.submit(&order(7, 10)), OrderOutcome::Pending);
        assert!(matches!(r.at_broker.pop(), Ok(OrderMsg::Order { .. })));
        assert!(r.router.working[0].is_some());
        let cash0 = r.engine.ledger().cash();
        for msg in [
            BrokerMsg::Acked {
                client_order_id: 7,
                broker_order_id: 1001,
                stamp: 1,
            },
            BrokerMsg::Filled {
                client_order_id: 7,
                fill: fill(4.0),
                stamp: 2,
            },
        ] {
            r.to_engine.push(msg).unwrap();
        }
        assert_eq!(r.router.drain(&mut r.engine, Nanos(5)), Drained::Ok);
        assert_eq!(r.engine.ledger().position(SymbolId(0)), 4.0);
        assert!(r.router.working[0].is_some(), "6 shares still working");
        r.to_engine
            .push(BrokerMsg::Filled {
                client_order_id: 7,
                fill: fill(6.0),
                stamp: 3,
            })
            .unwrap();
        // A fill of an order that is not working is counted, not applied.
        r.to_engine
            .push(BrokerMsg::Filled {
                client_order_id: 3,
                fill: fill(5.0),
                stamp: 3,
            })
            .unwrap();
        r.router.drain(&mut r.engine, Nanos(6));
        assert_eq!(r.engine.ledger().position(SymbolId(0)), 10.0);
        assert!((r.engine.ledger().cash() - (cash0 - 1000.0 - 1.0)).abs() < 1e-9);
        assert!(r.router.working[0].is_none());
        assert!(!r.engine.order_working(SymbolId(0)));
        assert_eq!(r.router.reconcile.stray_fills, 1);
        assert_eq!(
            kinds(&mut r.journal),
            vec![K::Order, K::Ack, K::Fill, K::Fill]
        );
        // The book numbers the fills 1, 2 as the paper broker does.
        assert_eq!(r.engine.ledger().next_order_id(), 3);
    }

    #[test]
    fn a_rejected_or_cancelled_order_frees_its_symbol_and_is_journaled() {
        use crate::journal::RecordKind as K;
        let mut r = rig(ReconciliationMode::Warn);
        r.router.submit(&order(1, 10));
        r.to_engine
            .push(BrokerMsg::Rejected {
                client_order_id: 1,
                reason: Reason::BrokerRejected,
                stamp: 1,
            })
            .unwrap();
        r.router.drain(&mut r.engine, Nanos(2));
        assert!(r.router.working[0].is_none());
        r.router.submit(&order(2, 10));
        r.to_engine
            .push(BrokerMsg::Cancelled {
                client_order_id: 2,
                stamp: 1,
            })
            .unwrap();
        r.router.drain(&mut r.engine, Nanos(3));
        assert!(r.router.working[0].is_none());
        assert_eq!(r.engine.ledger().position(SymbolId(0)), 0.0);
        assert_eq!(
            kinds(&mut r.journal),
            vec![K::Order, K::Reject, K::Order, K::Reject]
        );
    }

    #[test]
    fn a_lost_link_halts_entries_until_a_report_agrees() {
        let mut r = rig(ReconciliationMode::Warn);
        r.to_engine.push(BrokerMsg::Link { up: false }).unwrap();
        r.router.drain(&mut r.engine, Nanos(1));
        assert_eq!(
            r.engine.guardrails().kill_reason(),
            Some(Reason::BrokerDown)
        );
        assert_eq!(r.engine.guardrails().state(), TradingState::Halted);
        // The report after a reconnection wins, even in `warn` mode:
        // explicit positions and cash are adopted.
        for m in [
            BrokerMsg::Position {
                symbol: SymbolId(1),
                qty: 12.0,
            },
            BrokerMsg::ReportEnd {
                cash: 5000.0,
                reconnect: true,
            },
        ] {
            r.to_engine.push(m).unwrap();
        }
        assert_eq!(r.router.drain(&mut r.engine, Nanos(2)), Drained::Ok);
        assert_eq!(r.engine.guardrails().state(), TradingState::Active);
        assert_eq!(r.router.reconcile.reports, 1);
        assert_eq!(r.router.reconcile.adopted, 1);
        assert_eq!(r.engine.ledger().position(SymbolId(1)), 12.0);
        assert_eq!(r.engine.ledger().cash(), 5000.0);
        // An acknowledgement is journaled once per order.
        r.router.submit(&order(9, 1));
        for _ in 0..2 {
            r.to_engine
                .push(BrokerMsg::Acked {
                    client_order_id: 9,
                    broker_order_id: 77,
                    stamp: 3,
                })
                .unwrap();
        }
        r.router.drain(&mut r.engine, Nanos(3));
        let acks = kinds(&mut r.journal)
            .into_iter()
            .filter(|k| *k == crate::journal::RecordKind::Ack)
            .count();
        assert_eq!(acks, 1);
    }

    #[test]
    fn report_modes_follow_spec_18_4() {
        let report = [
            BrokerMsg::Position {
                symbol: SymbolId(0),
                qty: 25.0,
            },
            BrokerMsg::ReportEnd {
                cash: f64::NAN,
                reconnect: false,
            },
        ];
        // warn: counted, book unchanged.
        let mut r = rig(ReconciliationMode::Warn);
        for m in report {
            r.to_engine.push(m).unwrap();
        }
        assert_eq!(r.router.drain(&mut r.engine, Nanos(1)), Drained::Ok);
        assert_eq!(r.router.reconcile.drift, 1);
        assert_eq!(r.engine.ledger().position(SymbolId(0)), 0.0);
        // auto_sync: the broker's quantity is adopted.
        let mut r = rig(ReconciliationMode::AutoSync);
        for m in report {
            r.to_engine.push(m).unwrap();
        }
        assert_eq!(r.router.drain(&mut r.engine, Nanos(1)), Drained::Ok);
        assert_eq!(r.router.reconcile.adopted, 1);
        assert_eq!(r.engine.ledger().position(SymbolId(0)), 25.0);
        // strict: the run stops.
        let mut r = rig(ReconciliationMode::Strict);
        for m in report {
            r.to_engine.push(m).unwrap();
        }
        assert_eq!(
            r.router.drain(&mut r.engine, Nanos(1)),
            Drained::StrictMismatch
        );
    }
}
