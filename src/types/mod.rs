//! Domain types shared by every layer: units, ids, sides, decisions, states
//! and the reason-code catalogue (SPEC §19).
//!
//! Everything here is `Copy`, allocation-free and safe on the hot path. Strings
//! appear only in the cold `code()` / `text()` accessors used by logs,
//! journals and the conformance command.

mod order;
mod reason;
mod units;

pub use order::{SymbolOrder, SymbolOrderError};
pub use reason::Reason;
pub use units::{Bps, Frac, Nanos, Pct, Qty};

/// Dense index of a symbol, assigned once at start-up in the caller's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SymbolId(pub u16);

/// Dense index of a configured horizon; ascending ids are ascending minutes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HorizonId(pub u8);

/// Dense index of a loaded model; ascending ids are byte-wise sorted model ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(pub u16);

impl SymbolId {
    /// The id as an index into per-symbol arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl HorizonId {
    /// The id as an index into per-horizon arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl ModelId {
    /// The id as an index into per-model arrays.
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// Direction of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// `+1` for buys, `-1` for sells.
    #[inline]
    pub const fn sign(self) -> i8 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// The side that moves a position by a signed quantity, `None` for zero.
    #[inline]
    pub const fn of_delta(delta: i64) -> Option<Side> {
        if delta > 0 {
            Some(Side::Buy)
        } else if delta < 0 {
            Some(Side::Sell)
        } else {
            None
        }
    }

    /// Upper-case wire name (`BUY` / `SELL`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
}

/// Outcome of one symbol's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Decision {
    Trade,
    Hold,
    Blocked,
}

impl Decision {
    /// Upper-case name used in vectors, logs and journals.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decision::Trade => "TRADE",
            Decision::Hold => "HOLD",
            Decision::Blocked => "BLOCKED",
        }
    }
}

/// Trading state of the engine (SPEC §15.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TradingState {
    /// Entries, increases and reductions allowed.
    Active,
    /// Entries and increases blocked, reductions allowed, without a kill
    /// (for example stale data or a lost broker link).
    Reducing,
    /// Kill switch, manual kill or non-positive equity: entries and increases
    /// blocked, reductions toward zero still allowed.
    Halted,
    /// Operator pause: no decisions at all.
    Paused,
}

impl TradingState {
    /// Upper-case name used in vectors, logs and journals.
    pub const fn as_str(self) -> &'static str {
        match self {
            TradingState::Active => "ACTIVE",
            TradingState::Reducing => "REDUCING",
            TradingState::Halted => "HALTED",
            TradingState::Paused => "PAUSED",
        }
    }

    /// Whether new entries and increases are allowed.
    #[inline]
    pub const fn allows_increase(self) -> bool {
        matches!(self, TradingState::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_of_delta_follows_sign() {
        assert_eq!(Side::of_delta(5), Some(Side::Buy));
        assert_eq!(Side::of_delta(-1), Some(Side::Sell));
        assert_eq!(Side::of_delta(0), None);
        assert_eq!(Side::Sell.sign(), -1);
    }

    #[test]
    fn only_active_allows_increases() {
        assert!(TradingState::Active.allows_increase());
        for s in [
            TradingState::Reducing,
            TradingState::Halted,
            TradingState::Paused,
        ] {
            assert!(!s.allows_increase(), "{}", s.as_str());
        }
    }
}
