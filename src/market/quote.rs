//! The top-of-book quote every component shares: the feed produces it, the
//! spread gate measures it, the paper broker fills against it.
//!
//! Hot path: `Copy`, no allocation.

use crate::types::Nanos;

/// A top-of-book quote.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quote {
    pub bid: f64,
    pub ask: f64,
    /// Exchange time of the quote; `None` when the feed gives none.
    pub time: Option<Nanos>,
}

impl Quote {
    /// A quote without an exchange time.
    #[inline]
    pub const fn untimed(bid: f64, ask: f64) -> Quote {
        Quote {
            bid,
            ask,
            time: None,
        }
    }

    /// `(bid + ask) / 2`.
    #[inline]
    pub fn mid(&self) -> f64 {
        (self.bid + self.ask) / 2.0
    }

    /// The quoted spread in bps (SPEC §12): NaN when bid or ask is
    /// non-finite, +∞ when either is ≤ 0.
    #[inline]
    pub fn spread_bps(&self) -> f64 {
        spread_bps(self.bid, self.ask)
    }

    /// Whether it can mark a position or fill an order: bid and ask finite
    /// and > 0.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.bid > 0.0 && self.ask > 0.0 && self.bid.is_finite() && self.ask.is_finite()
    }
}

/// `(ask − bid)/mid·1e4`; NaN when bid or ask is non-finite, +∞ when either
/// is ≤ 0 (SPEC §12).
#[inline]
pub fn spread_bps(bid: f64, ask: f64) -> f64 {
    if !(bid.is_finite() && ask.is_finite()) {
        f64::NAN
    } else if bid <= 0.0 || ask <= 0.0 {
        f64::INFINITY
    } else {
        let mid = (bid + ask) / 2.0;
        (ask - bid) / mid * 1e4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_and_validity_follow_spec_12() {
        let q = Quote::untimed(99.99, 100.01);
        assert!(q.is_valid());
        assert!((q.spread_bps() - 2.0).abs() < 1e-9);
        assert_eq!(q.mid(), 100.0);
        assert!(Quote::untimed(f64::NAN, 1.0).spread_bps().is_nan());
        assert_eq!(Quote::untimed(0.0, 1.0).spread_bps(), f64::INFINITY);
        assert!(!Quote::untimed(0.0, 1.0).is_valid());
    }
}
