//! Position episodes and their rewards (SPEC §17.2, §21.13).
//!
//! An episode runs from the fill that opens a position in a symbol to the
//! fill that brings it back to flat. Entry and exit prices are volume-weighted
//! over the episode's fills; a fill that crosses zero closes the episode and
//! opens the next one with the remainder. A closed episode's net reward (bps,
//! after actual fees; slippage is already in the fill prices) is what the
//! [`Bandit`](super::bandit::Bandit) learns from, for the episode's arm: the
//! horizon of the decision that opened it. Positions present at start-up and
//! exit fills never carry an arm.
//!
//! Runs on the engine thread. Hot path after [`EpisodeTracker::new`]: no
//! allocation, no blocking, no logging; one slot per symbol, sized once.

use crate::types::{Bps, HorizonId, Qty, Side, SymbolId};

/// Gross, fee and net reward of one round trip, in bps of the entry notional.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reward {
    /// `side · (exit − entry)/entry · 1e4`.
    pub gross: Bps,
    /// `fees/(entry · qty) · 1e4`; 0 when the entry notional is not positive.
    pub fees: Bps,
    /// `gross − fees`.
    pub net: Bps,
}

/// The reward of one round trip of `qty` shares held on `side` (buy = long)
/// from `entry_price` to `exit_price`, paying `fees` in total.
pub fn trade_reward(side: Side, entry_price: f64, exit_price: f64, qty: f64, fees: f64) -> Reward {
    let sign = f64::from(side.sign());
    let gross = sign * (exit_price - entry_price) / entry_price * 1e4;
    let notional = entry_price * qty;
    let fees_bps = if notional > 0.0 {
        fees / notional * 1e4
    } else {
        0.0
    };
    Reward {
        gross: Bps(gross),
        fees: Bps(fees_bps),
        net: Bps(gross - fees_bps),
    }
}

/// One execution in a symbol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    /// Signed quantity: + bought, − sold.
    pub qty: Qty,
    /// Execution price (slippage included), > 0.
    pub price: f64,
    /// Fee paid for the whole fill, in cash.
    pub fee: f64,
    /// Horizon of the decision that sent the order; `None` for exits.
    pub arm: Option<HorizonId>,
}

/// An open episode: the accumulated entry and exit legs of one position.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    /// Direction of the position (buy = long).
    pub side: Side,
    /// Horizon that opened it; `None` for start-up positions and exits.
    pub arm: Option<HorizonId>,
    /// Shares bought (long) or sold (short) to build the position.
    pub entry_qty: i64,
    /// Σ shares · price over the entry fills.
    pub entry_notional: f64,
    /// Shares closed so far.
    pub exit_qty: i64,
    /// Σ shares · price over the closing parts of fills.
    pub exit_notional: f64,
    /// Fees attributed to this episode.
    pub fees: f64,
}

impl Episode {
    fn open(side: Side, arm: Option<HorizonId>, qty: i64, price: f64, fees: f64) -> Episode {
        Episode {
            side,
            arm,
            entry_qty: qty,
            entry_notional: qty as f64 * price,
            exit_qty: 0,
            exit_notional: 0.0,
            fees,
        }
    }

    /// Shares still open.
    pub fn open_qty(&self) -> i64 {
        self.entry_qty - self.exit_qty
    }

    /// VWAP entry price.
    pub fn entry_price(&self) -> f64 {
        self.entry_notional / self.entry_qty as f64
    }

    /// VWAP exit price (NaN before the first exit).
    pub fn exit_price(&self) -> f64 {
        self.exit_notional / self.exit_qty as f64
    }
}

/// A finished round trip and its reward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClosedEpisode {
    pub symbol: SymbolId,
    /// The arm to credit; `None` never updates the bandit.
    pub arm: Option<HorizonId>,
    pub side: Side,
    /// VWAP entry price.
    pub entry_price: f64,
    /// VWAP exit price.
    pub exit_price: f64,
    /// Shares of the round trip (the entry quantity).
    pub qty: Qty,
    /// Fees attributed to the episode, cash.
    pub fees: f64,
    pub reward: Reward,
}

/// Why a fill or start-up position was not applied; nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum RewardError {
    #[error("symbol {0:?} has no episode slot")]
    UnknownSymbol(SymbolId),
    #[error("fill price {0} is not a finite number > 0")]
    InvalidPrice(f64),
    #[error("fill fee {0} is not finite")]
    InvalidFee(f64),
}

/// The open episode of every symbol.
#[derive(Clone, Debug)]
pub struct EpisodeTracker {
    open: Vec<Option<Episode>>,
}

impl EpisodeTracker {
    /// A tracker for symbols `0..symbols`, all flat.
    pub fn new(symbols: usize) -> EpisodeTracker {
        EpisodeTracker {
            open: vec![None; symbols],
        }
    }

    /// The open episode of `symbol`, if any.
    pub fn open_episode(&self, symbol: SymbolId) -> Option<&Episode> {
        self.open.get(symbol.index()).and_then(Option::as_ref)
    }

    /// Every symbol's open episode, by symbol id.
    pub fn all(&self) -> &[Option<Episode>] {
        &self.open
    }

    /// Replace the open episode of `symbol` (restore after a restart).
    pub fn set_episode(
        &mut self,
        symbol: SymbolId,
        episode: Option<Episode>,
    ) -> Result<(), RewardError> {
        *self.slot(symbol)? = episode;
        Ok(())
    }

    /// Start from a position held before the engine started: it opens an
    /// episode without arm and without fees (replacing any open one). Zero
    /// shares leave the symbol flat.
    pub fn seed_position(
        &mut self,
        symbol: SymbolId,
        shares: Qty,
        price: f64,
    ) -> Result<(), RewardError> {
        check_price(price)?;
        let slot = self.slot(symbol)?;
        *slot = Side::of_delta(shares.0)
            .map(|side| Episode::open(side, None, shares.0.saturating_abs(), price, 0.0));
        Ok(())
    }

    /// Apply one fill; returns the episode it closed, if any (a fill closes
    /// at most one). A zero-quantity fill changes nothing.
    pub fn apply_fill(
        &mut self,
        symbol: SymbolId,
        fill: &Fill,
    ) -> Result<Option<ClosedEpisode>, RewardError> {
        check_price(fill.price)?;
        if !fill.fee.is_finite() {
            return Err(RewardError::InvalidFee(fill.fee));
        }
        let slot = self.slot(symbol)?;
        let Some(side) = Side::of_delta(fill.qty.0) else {
            return Ok(None);
        };
        let size = fill.qty.0.saturating_abs();
        let Some(ep) = slot.as_mut() else {
            *slot = Some(Episode::open(side, fill.arm, size, fill.price, fill.fee));
            return Ok(None);
        };
        if ep.side == side {
            ep.entry_qty = ep.entry_qty.saturating_add(size);
            ep.entry_notional += size as f64 * fill.price;
            ep.fees += fill.fee;
            return Ok(None);
        }
        let closed = size.min(ep.open_qty());
        ep.exit_qty += closed;
        ep.exit_notional += closed as f64 * fill.price;
        ep.fees += fill.fee * closed as f64 / size as f64;
        if ep.open_qty() > 0 {
            return Ok(None);
        }
        let done = close(symbol, ep);
        let rest = size - closed;
        *slot = (rest > 0).then(|| {
            let fee = fill.fee * rest as f64 / size as f64;
            Episode::open(side, fill.arm, rest, fill.price, fee)
        });
        Ok(Some(done))
    }

    fn slot(&mut self, symbol: SymbolId) -> Result<&mut Option<Episode>, RewardError> {
        self.open
            .get_mut(symbol.index())
            .ok_or(RewardError::UnknownSymbol(symbol))
    }
}

fn check_price(price: f64) -> Result<(), RewardError> {
    if price.is_finite() && price > 0.0 {
        Ok(())
    } else {
        Err(RewardError::InvalidPrice(price))
    }
}

fn close(symbol: SymbolId, ep: &Episode) -> ClosedEpisode {
    let entry_price = ep.entry_price();
    let exit_price = ep.exit_price();
    ClosedEpisode {
        symbol,
        arm: ep.arm,
        side: ep.side,
        entry_price,
        exit_price,
        qty: Qty(ep.entry_qty),
        fees: ep.fees,
        reward: trade_reward(
            ep.side,
            entry_price,
            exit_price,
            ep.entry_qty as f64,
            ep.fees,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SymbolId = SymbolId(0);

    fn fill(qty: i64, price: f64, fee: f64, arm: Option<u8>) -> Fill {
        Fill {
            qty: Qty(qty),
            price,
            fee,
            arm: arm.map(HorizonId),
        }
    }

    #[test]
    fn round_trip_reward_in_bps() {
        let r = trade_reward(Side::Sell, 200.0, 198.0, 10.0, 0.4);
        assert_eq!(r.gross, Bps(100.0));
        assert_eq!(r.fees, Bps(2.0));
        assert_eq!(r.net, Bps(98.0));
        // No entry notional: fees cannot be expressed in bps.
        let r = trade_reward(Side::Buy, 50.0, 50.25, 0.0, 1.0);
        assert_eq!((r.gross, r.fees, r.net), (Bps(50.0), Bps(0.0), Bps(50.0)));
    }

    #[test]
    fn scaling_in_and_out_uses_vwap() {
        let mut t = EpisodeTracker::new(1);
        assert_eq!(t.apply_fill(A, &fill(100, 10.0, 1.0, Some(0))), Ok(None));
        assert_eq!(t.apply_fill(A, &fill(100, 12.0, 1.0, Some(3))), Ok(None));
        assert_eq!(t.apply_fill(A, &fill(-50, 13.0, 0.5, None)), Ok(None));
        let open = *t.open_episode(A).unwrap();
        assert_eq!(
            (open.entry_qty, open.exit_qty, open.open_qty()),
            (200, 50, 150)
        );
        assert_eq!(open.arm, Some(HorizonId(0)), "first entry's arm is kept");
        let done = t
            .apply_fill(A, &fill(-150, 14.0, 1.5, None))
            .unwrap()
            .unwrap();
        assert_eq!(done.entry_price, 11.0);
        assert_eq!(done.exit_price, (50.0 * 13.0 + 150.0 * 14.0) / 200.0);
        assert_eq!(done.qty, Qty(200));
        assert_eq!(done.fees, 4.0);
        assert_eq!(done.arm, Some(HorizonId(0)));
        assert!(t.open_episode(A).is_none());
    }

    #[test]
    fn flip_closes_and_opens_with_fee_split() {
        let mut t = EpisodeTracker::new(1);
        t.apply_fill(A, &fill(10, 100.0, 0.1, Some(0))).unwrap();
        let done = t
            .apply_fill(A, &fill(-25, 101.0, 0.25, Some(4)))
            .unwrap()
            .unwrap();
        assert_eq!(done.side, Side::Buy);
        assert_eq!(done.fees, 0.1 + 0.25 * 10.0 / 25.0);
        let open = *t.open_episode(A).unwrap();
        assert_eq!(open.side, Side::Sell);
        assert_eq!(open.arm, Some(HorizonId(4)));
        assert_eq!(open.entry_qty, 15);
        assert_eq!(open.fees, 0.25 * 15.0 / 25.0);
    }

    #[test]
    fn seeded_positions_carry_no_arm() {
        let mut t = EpisodeTracker::new(2);
        t.seed_position(SymbolId(1), Qty(-30), 20.0).unwrap();
        let done = t
            .apply_fill(SymbolId(1), &fill(30, 19.0, 0.0, Some(2)))
            .unwrap()
            .unwrap();
        assert_eq!((done.arm, done.side), (None, Side::Sell));
        // Short from 20 to 19: +5 %.
        assert_eq!(done.reward.gross, Bps(500.0));
        t.seed_position(A, Qty(0), 20.0).unwrap();
        assert!(t.open_episode(A).is_none());
    }

    #[test]
    fn bad_inputs_change_nothing() {
        let mut t = EpisodeTracker::new(1);
        t.apply_fill(A, &fill(10, 100.0, 0.1, Some(0))).unwrap();
        let before = *t.open_episode(A).unwrap();
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                t.apply_fill(A, &fill(-10, bad, 0.0, None)),
                Err(RewardError::InvalidPrice(_))
            ));
        }
        assert!(t.apply_fill(A, &fill(-10, 100.0, f64::NAN, None)).is_err());
        assert_eq!(t.apply_fill(A, &fill(0, 100.0, 0.0, None)), Ok(None));
        assert_eq!(
            t.apply_fill(SymbolId(7), &fill(1, 1.0, 0.0, None)),
            Err(RewardError::UnknownSymbol(SymbolId(7)))
        );
        assert_eq!(t.open_episode(A), Some(&before));
    }
}
