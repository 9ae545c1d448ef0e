//! The one message type market data takes into the engine, whatever the
//! source (simulator, CSV replay, websocket): small, `Copy`, symbols as dense
//! ids interned at start-up, times as `u64` nanoseconds.
//!
//! Produced on the feed thread, consumed on the engine thread. Hot path:
//! `Copy`, no allocation.

use crate::market::bar::Bar;
use crate::market::quote::Quote;
use crate::types::{Nanos, SymbolId};

/// A top-of-book quote as received.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuoteEvent {
    pub symbol: SymbolId,
    pub bid: f64,
    pub ask: f64,
    pub bid_size: f64,
    pub ask_size: f64,
    /// Exchange time (event time).
    pub exchange_time: Nanos,
    /// Monotonic receive stamp taken when the frame left the socket (live
    /// feeds); equal to `exchange_time` for replay and the simulator.
    pub receive_time: Nanos,
}

impl QuoteEvent {
    /// The quote the stages see, stamped with its exchange time.
    #[inline]
    pub fn quote(&self) -> Quote {
        Quote {
            bid: self.bid,
            ask: self.ask,
            time: Some(self.exchange_time),
        }
    }
}

/// A trade print.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TradeEvent {
    pub symbol: SymbolId,
    pub price: f64,
    pub size: f64,
    pub exchange_time: Nanos,
    pub receive_time: Nanos,
}

/// A finished bar from the feed, stamped with its end time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarEvent {
    pub symbol: SymbolId,
    pub bar: Bar,
    pub receive_time: Nanos,
}

/// Market data on its way to the engine.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MarketEvent {
    Quote(QuoteEvent),
    Trade(TradeEvent),
    Bar(BarEvent),
}

impl MarketEvent {
    /// The symbol the event is about.
    #[inline]
    pub fn symbol(&self) -> SymbolId {
        match self {
            MarketEvent::Quote(q) => q.symbol,
            MarketEvent::Trade(t) => t.symbol,
            MarketEvent::Bar(b) => b.symbol,
        }
    }

    /// Event time: a quote's or trade's exchange time, a bar's end.
    #[inline]
    pub fn time(&self) -> Nanos {
        match self {
            MarketEvent::Quote(q) => q.exchange_time,
            MarketEvent::Trade(t) => t.exchange_time,
            MarketEvent::Bar(b) => b.bar.end,
        }
    }

    /// When the event reached this process.
    #[inline]
    pub fn receive_time(&self) -> Nanos {
        match self {
            MarketEvent::Quote(q) => q.receive_time,
            MarketEvent::Trade(t) => t.receive_time,
            MarketEvent::Bar(b) => b.receive_time,
        }
    }
}

impl From<crate::feed::sim::SimEvent> for MarketEvent {
    fn from(e: crate::feed::sim::SimEvent) -> MarketEvent {
        use crate::feed::sim::SimEvent;
        match e {
            SimEvent::Quote {
                symbol,
                bid,
                ask,
                time,
            } => MarketEvent::Quote(QuoteEvent {
                symbol,
                bid,
                ask,
                bid_size: 100.0,
                ask_size: 100.0,
                exchange_time: time,
                receive_time: time,
            }),
            SimEvent::Bar {
                symbol,
                end,
                open,
                high,
                low,
                close,
                volume,
            } => MarketEvent::Bar(BarEvent {
                symbol,
                bar: Bar {
                    end,
                    open,
                    high,
                    low,
                    close,
                    volume,
                },
                receive_time: end,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::sim::SimEvent;

    #[test]
    fn sim_events_keep_symbol_prices_and_times() {
        let q: MarketEvent = SimEvent::Quote {
            symbol: SymbolId(3),
            bid: 10.0,
            ask: 10.02,
            time: Nanos(5),
        }
        .into();
        assert_eq!(q.symbol(), SymbolId(3));
        assert_eq!(q.time(), Nanos(5));
        let MarketEvent::Quote(qe) = q else {
            panic!("a quote became {q:?}")
        };
        assert_eq!(
            qe.quote(),
            Quote {
                bid: 10.0,
                ask: 10.02,
                time: Some(Nanos(5))
            }
        );
        let b: MarketEvent = SimEvent::Bar {
            symbol: SymbolId(1),
            end: Nanos(60),
            open: 1.0,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: 7.0,
        }
        .into();
        assert_eq!(b.time(), Nanos(60));
        assert_eq!(b.receive_time(), Nanos(60));
        let MarketEvent::Bar(be) = b else {
            panic!("a bar became {b:?}")
        };
        assert_eq!(be.bar.close, 1.5);
        assert_eq!(be.bar.volume, 7.0);
    }
}
