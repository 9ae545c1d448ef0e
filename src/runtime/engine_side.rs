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

/// Orders to the broker thread; the paper broker's reply is awaited so
/// that paper trading fills inside the cycle, as SPEC §18 requires.
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
