//! One OHLCV bar, stamped with its end time: what the bar aggregator emits
//! and what features, volatility and sequence models consume.
//!
//! Hot path: `Copy`, no allocation.

use crate::types::Nanos;

/// One bar of the engine's bar interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bar {
    /// End of the bar interval (the bar exists from this instant on, SPEC §2).
    pub end: Nanos,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
}

impl Bar {
    /// The value of one OHLCV channel.
    #[inline]
    pub fn channel(&self, channel: crate::models::meta::Channel) -> f64 {
        use crate::models::meta::Channel;
        match channel {
            Channel::Open => self.open,
            Channel::High => self.high,
            Channel::Low => self.low,
            Channel::Close => self.close,
            Channel::Volume => self.volume,
        }
    }
}
