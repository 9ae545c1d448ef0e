//! The bounded lock-free links between threads (DESIGN §1) and the policy
//! each applies when its ring is full:
//!
//! | link | ring | full-link policy |
//! |---|---|---|
//! | feed → engine | rtrb SPSC of [`FeedMsg`] | live feeds: a quote waits in a one-per-symbol slot and the newest quote wins (each overwrite counts one conflation); trades, bars and the end marker wait. Replay and simulator (`Wait`): everything waits, so a replay is deterministic. |
//! | engine → broker | rtrb SPSC of [`OrderMsg`] | never dropped: the engine waits (spins) and the wait is counted |
//! | broker → engine | rtrb SPSC of [`BrokerMsg`] | never dropped: the broker waits |
//! | engine → journal | rtrb SPSC of [`JournalMsg`] | never dropped: the engine waits, and the wait is counted and timed |
//! | journal → engine | rtrb SPSC of snapshot images | the engine skips a snapshot when no free image is back |
//!
//! Every message is small: ids, `u64` nanoseconds, enums; a snapshot image
//! travels as one pointer to a preallocated buffer that is recycled.

use crate::engine::cycle::OrderRequest;
use crate::engine::state::EngineState;
use crate::feed::event::MarketEvent;
use crate::journal::JournalRecord;

/// Feed → engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FeedMsg {
    /// An event and the monotonic stamp (`telemetry::clock::now_ns`) taken
    /// when the feed thread handed it over (for live feeds: when its frame
    /// left the socket).
    Event { event: MarketEvent, stamp: u64 },
    /// A live feed went silent for `data.stale_after_ms` (`true`) or data
    /// flows again (`false`).
    Stale(bool),
    /// The feed has nothing more.
    End,
}

/// Engine → broker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum OrderMsg {
    Order {
        order: OrderRequest,
        stamp: u64,
    },
    /// Apply a fill journaled before a restart (recovery keeps the paper
    /// broker's book in step without sending the order again).
    Apply {
        fill: crate::broker::paper::Fill,
    },
    /// Cancel every working order (the kill switch: IB `reqGlobalCancel`).
    CancelAll,
    /// Report positions and cash for a periodic reconciliation (SPEC §18.4):
    /// answered with [`BrokerMsg::Position`]s and one [`BrokerMsg::ReportEnd`].
    Report,
    /// Stop the broker thread.
    Shutdown,
}

/// Broker → engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BrokerMsg {
    Filled {
        client_order_id: u64,
        fill: crate::broker::paper::Fill,
        stamp: u64,
    },
    Rejected {
        client_order_id: u64,
        reason: crate::types::Reason,
        stamp: u64,
    },
    /// A live broker accepted the order (its own id).
    Acked {
        client_order_id: u64,
        broker_order_id: u64,
        stamp: u64,
    },
    /// A live broker cancelled the order's unfilled rest.
    Cancelled { client_order_id: u64, stamp: u64 },
    /// A live broker's link: `false` when disconnected or degraded (entries
    /// halt); it comes back through a report ([`BrokerMsg::ReportEnd`]).
    Link { up: bool },
    /// One explicit position of the broker's report (reconciliation).
    Position {
        symbol: crate::types::SymbolId,
        qty: f64,
    },
    /// The broker's report is complete: its cash (NaN when unknown);
    /// `reconnect` is true for the report that follows a (re)connection.
    ReportEnd { cash: f64, reconnect: bool },
}

/// Engine → journal thread.
#[derive(Debug)]
pub enum JournalMsg {
    Record(JournalRecord),
    /// A state image to persist; it covers every record sent before it.
    Snapshot(Box<EngineState>),
    /// A cycle batch ended: the journal thread flushes its files once it
    /// has caught up (the ring is empty).
    Flush,
    /// Flush, sync, write nothing more.
    End,
}

/// Push `item`, spinning (then yielding) while the ring is full. Returns
/// how many times it had to wait.
#[inline]
pub fn push_wait<T>(producer: &mut rtrb::Producer<T>, mut item: T) -> u64 {
    let mut waits = 0u64;
    loop {
        match producer.push(item) {
            Ok(()) => return waits,
            Err(rtrb::PushError::Full(back)) => {
                item = back;
                waits += 1;
                if waits < 64 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                if producer.is_abandoned() {
                    return waits;
                }
            }
        }
    }
}

/// What the feed link does when the ring is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FullPolicy {
    /// Wait for room (replay, simulator: deterministic).
    Wait,
    /// Keep the newest quote per symbol and count the overwritten ones
    /// (live feeds: market data never blocks the feed thread).
    Conflate,
}

/// The feed thread's end of the feed link.
pub struct FeedLink {
    producer: rtrb::Producer<FeedMsg>,
    policy: FullPolicy,
    /// Newest quote per symbol waiting for room (conflation).
    parked: Box<[Option<FeedMsg>]>,
    parked_count: usize,
    /// Quotes overwritten while parked.
    pub conflated: u64,
    /// Times the feed thread waited for room.
    pub waits: u64,
}

impl FeedLink {
    /// A link over `producer` for `n_symbols` symbols.
    pub fn new(
        producer: rtrb::Producer<FeedMsg>,
        policy: FullPolicy,
        n_symbols: usize,
    ) -> FeedLink {
        FeedLink {
            producer,
            policy,
            parked: vec![None; n_symbols].into_boxed_slice(),
            parked_count: 0,
            conflated: 0,
            waits: 0,
        }
    }

    /// Hand one message to the engine under the link's policy.
    pub fn send(&mut self, msg: FeedMsg) {
        self.flush_parked();
        let quote_symbol = match msg {
            FeedMsg::Event {
                event: MarketEvent::Quote(q),
                ..
            } => Some(q.symbol.index()),
            _ => None,
        };
        match (self.policy, quote_symbol) {
            (FullPolicy::Conflate, Some(i)) if i < self.parked.len() => {
                if self.parked_count == 0 {
                    if let Err(rtrb::PushError::Full(back)) = self.producer.push(msg) {
                        self.park(i, back);
                    }
                } else {
                    self.park(i, msg);
                }
            }
            _ => {
                // Order: parked quotes go first.
                while self.parked_count > 0 && !self.producer.is_abandoned() {
                    self.waits += 1;
                    std::thread::yield_now();
                    self.flush_parked();
                }
                self.waits += push_wait(&mut self.producer, msg);
            }
        }
    }

    /// Push everything parked, waiting if needed (end of feed).
    pub fn drain(&mut self) {
        while self.parked_count > 0 && !self.producer.is_abandoned() {
            self.flush_parked();
            if self.parked_count > 0 {
                std::thread::yield_now();
            }
        }
    }

    fn park(&mut self, i: usize, msg: FeedMsg) {
        if let Some(slot) = self.parked.get_mut(i) {
            if slot.replace(msg).is_some() {
                self.conflated += 1;
            } else {
                self.parked_count += 1;
            }
        }
    }

    fn flush_parked(&mut self) {
        if self.parked_count == 0 {
            return;
        }
        for slot in self.parked.iter_mut() {
            if let Some(msg) = *slot {
                if self.producer.push(msg).is_err() {
                    return;
                }
                *slot = None;
                self.parked_count -= 1;
            }
        }
    }

    /// Whether the engine dropped its end.
    pub fn is_abandoned(&self) -> bool {
        self.producer.is_abandoned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::event::QuoteEvent;
    use crate::types::{Nanos, SymbolId};

    fn quote(s: u16, t: u64) -> FeedMsg {
        FeedMsg::Event {
            event: MarketEvent::Quote(QuoteEvent {
                symbol: SymbolId(s),
                bid: 1.0,
                ask: 1.1,
                bid_size: 1.0,
                ask_size: 1.0,
                exchange_time: Nanos(t),
                receive_time: Nanos(t),
            }),
            stamp: t,
        }
    }

    fn time_of(m: FeedMsg) -> u64 {
        match m {
            FeedMsg::Event { stamp, .. } => stamp,
            FeedMsg::Stale(_) | FeedMsg::End => u64::MAX,
        }
    }

    #[test]
    fn conflation_keeps_the_newest_quote_per_symbol_and_counts_the_rest() {
        let (p, mut c) = rtrb::RingBuffer::new(2);
        let mut link = FeedLink::new(p, FullPolicy::Conflate, 2);
        link.send(quote(0, 1));
        link.send(quote(1, 2));
        // Full: these park, newest per symbol wins.
        link.send(quote(0, 3));
        link.send(quote(0, 4));
        link.send(quote(1, 5));
        assert_eq!(link.conflated, 1);
        assert_eq!(time_of(c.pop().unwrap()), 1);
        assert_eq!(time_of(c.pop().unwrap()), 2);
        // Room again: the parked quotes go before the end marker.
        let handle = std::thread::spawn(move || {
            link.send(FeedMsg::End);
            link
        });
        let mut seen = Vec::new();
        while seen.last() != Some(&u64::MAX) {
            if let Ok(m) = c.pop() {
                seen.push(time_of(m));
            }
        }
        handle.join().unwrap();
        assert_eq!(seen, vec![4, 5, u64::MAX]);
    }

    #[test]
    fn wait_policy_loses_nothing() {
        let (p, mut c) = rtrb::RingBuffer::new(4);
        let mut link = FeedLink::new(p, FullPolicy::Wait, 1);
        let handle = std::thread::spawn(move || {
            for t in 0..1000 {
                link.send(quote(0, t));
            }
            link.send(FeedMsg::End);
            link.conflated
        });
        let mut next = 0;
        loop {
            match c.pop() {
                Ok(FeedMsg::End) => break,
                Ok(m) => {
                    assert_eq!(time_of(m), next);
                    next += 1;
                }
                Err(_) => std::thread::yield_now(),
            }
        }
        assert_eq!(next, 1000);
        assert_eq!(handle.join().unwrap(), 0);
    }
}
