//! Paper broker accounting (SPEC §16, D15): cash, signed positions per dense
//! symbol, the last valid quote per symbol, order ids, slippage and fees,
//! rejections, and portfolio value, weights and P&L.
//!
//! Runs on the pinned engine thread (the engine's broker in paper mode).
//! Hot path after construction ([`PaperBroker::set_quote`],
//! [`PaperBroker::submit`], the accessors): no allocation, no blocking, no
//! logging. Strings stay at the edge: symbols are upper-cased and interned by
//! the caller, and [`parse_side`] turns a side string into a [`Side`] there.
//!
//! Quantities are `f64` shares because the broker accepts fractional
//! quantities (the seed does, and the vectors test it); the engine submits
//! whole shares through [`PaperBroker::submit_shares`]. Only fills consume
//! order ids (§21.15).

pub use crate::market::Quote;
use crate::types::SymbolOrder;
use crate::types::{Bps, Qty, Reason, Side, SymbolId};

/// Positions smaller than this (either side) are removed after a fill.
pub const POSITION_EPSILON: f64 = 1e-9;

/// Paper broker parameters (`paper.*` keys).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PaperParams {
    /// `paper.initial_cash`, > 0: starting cash and the P&L baseline.
    pub initial_cash: f64,
    /// `paper.slippage_bps`, ≥ 0: buys fill at `ask·(1+slip)`, sells at
    /// `bid·(1−slip)`.
    pub slippage_bps: Bps,
    /// `paper.fee_bps`, ≥ 0: fee as a share of notional.
    pub fee_bps: Bps,
}

impl Default for PaperParams {
    fn default() -> Self {
        PaperParams {
            initial_cash: 100_000.0,
            slippage_bps: Bps(5.0),
            fee_bps: Bps(1.0),
        }
    }
}

/// A paper parameter outside its allowed range.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("paper.{key} = {value}: allowed {allowed}")]
pub struct PaperParamsError {
    pub key: &'static str,
    pub value: f64,
    pub allowed: &'static str,
}

impl PaperParams {
    /// Check every field against SPEC §20.
    pub fn validate(&self) -> Result<(), PaperParamsError> {
        let fields = [
            (
                "initial_cash",
                self.initial_cash,
                self.initial_cash > 0.0,
                "finite > 0",
            ),
            (
                "slippage_bps",
                self.slippage_bps.0,
                self.slippage_bps.0 >= 0.0,
                "finite >= 0",
            ),
            (
                "fee_bps",
                self.fee_bps.0,
                self.fee_bps.0 >= 0.0,
                "finite >= 0",
            ),
        ];
        for (key, value, ok, allowed) in fields {
            if !(ok && value.is_finite()) {
                return Err(PaperParamsError {
                    key,
                    value,
                    allowed,
                });
            }
        }
        Ok(())
    }
}

/// The side of an order string: upper-cased, `BUY` or `SELL`; anything else
/// is `invalid_side`. No allocation.
pub fn parse_side(text: &str) -> Result<Side, Reason> {
    if text.eq_ignore_ascii_case("BUY") {
        Ok(Side::Buy)
    } else if text.eq_ignore_ascii_case("SELL") {
        Ok(Side::Sell)
    } else {
        Err(Reason::InvalidSide)
    }
}

/// `cost ≤ cash`, false when either is NaN: a NaN cost is never affordable.
#[inline]
fn affordable(cost: f64, cash: f64) -> bool {
    cost <= cash
}

/// One fill.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fill {
    /// 1, 2, 3, … in fill order.
    pub order_id: u64,
    pub symbol: SymbolId,
    pub side: Side,
    /// Shares filled (> 0).
    pub qty: f64,
    /// Fill price after slippage.
    pub price: f64,
    /// `qty·price`.
    pub notional: f64,
    /// `notional·fee_bps·1e-4`.
    pub fee: f64,
}

/// Why a restore was refused.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum PaperStateError {
    #[error("cash = {0}: must be a finite number")]
    Cash(f64),
    #[error("position of symbol id {id} = {qty}: must be finite, for a symbol id below {len}")]
    Position { id: u16, qty: f64, len: usize },
    #[error("next_order_id = 0: order ids start at 1")]
    OrderId,
}

/// The paper broker.
#[derive(Clone, Debug)]
pub struct PaperBroker {
    params: PaperParams,
    order: SymbolOrder,
    cash: f64,
    /// Signed shares by symbol id; 0 means no position.
    positions: Box<[f64]>,
    quotes: Box<[Option<Quote>]>,
    next_order_id: u64,
}

impl PaperBroker {
    /// A broker with `initial_cash`, no positions and no quotes for the
    /// symbols of `order`.
    pub fn new(params: PaperParams, order: SymbolOrder) -> Result<PaperBroker, PaperParamsError> {
        params.validate()?;
        let n = order.len();
        Ok(PaperBroker {
            params,
            order,
            cash: params.initial_cash,
            positions: vec![0.0; n].into_boxed_slice(),
            quotes: vec![None; n].into_boxed_slice(),
            next_order_id: 1,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &PaperParams {
        &self.params
    }

    /// Store the symbol's quote when it is valid (bid and ask finite and
    /// > 0); otherwise keep the last one. Returns whether it was stored.
    pub fn set_quote(&mut self, symbol: SymbolId, quote: Quote) -> bool {
        match self.quotes.get_mut(symbol.index()) {
            Some(slot) if quote.is_valid() => {
                *slot = Some(quote);
                true
            }
            _ => false,
        }
    }

    /// The symbol's last valid quote.
    pub fn quote(&self, symbol: SymbolId) -> Option<Quote> {
        self.quotes.get(symbol.index()).copied().flatten()
    }

    /// Submit a market order of whole shares (the engine's path).
    #[inline]
    pub fn submit_shares(
        &mut self,
        symbol: SymbolId,
        side: Side,
        qty: Qty,
    ) -> Result<Fill, Reason> {
        self.submit(symbol, side, qty.as_f64())
    }

    /// Submit a market order at the stored quote. Rejections change nothing
    /// and consume no order id:
    /// `invalid_quantity` (qty ≤ 0 or not finite), `no_quote`,
    /// `insufficient_funds` (buy: `notional + fee > cash`),
    /// `insufficient_margin` (sell beyond the signed position:
    /// `(qty − position)·fill + fee > cash`).
    pub fn submit(&mut self, symbol: SymbolId, side: Side, qty: f64) -> Result<Fill, Reason> {
        if !(qty > 0.0 && qty.is_finite()) {
            return Err(Reason::InvalidQuantity);
        }
        let Some(quote) = self.quote(symbol) else {
            return Err(Reason::NoQuote);
        };
        let position = self.position(symbol);
        let slip = self.params.slippage_bps.to_frac().0;
        let price = match side {
            Side::Buy => quote.ask * (1.0 + slip),
            Side::Sell => quote.bid * (1.0 - slip),
        };
        let notional = qty * price;
        let fee = notional * self.params.fee_bps.0 * 1e-4;
        match side {
            Side::Buy if !affordable(notional + fee, self.cash) => {
                return Err(Reason::InsufficientFunds)
            }
            Side::Sell
                if qty > position && !affordable((qty - position) * price + fee, self.cash) =>
            {
                return Err(Reason::InsufficientMargin)
            }
            _ => {}
        }
        if symbol.index() >= self.positions.len() {
            return Err(Reason::NoQuote);
        }
        let fill = Fill {
            order_id: self.next_order_id,
            symbol,
            side,
            qty,
            price,
            notional,
            fee,
        };
        self.apply_fill(&fill);
        Ok(fill)
    }

    /// Apply a fill made elsewhere (the broker thread's paper broker, or a
    /// fill recovered from the journal) to cash and positions exactly as
    /// [`Self::submit`] does, and move the next order id past it. A fill for
    /// an unknown symbol id changes nothing and returns `false`.
    pub fn apply_fill(&mut self, fill: &Fill) -> bool {
        let Some(slot) = self.positions.get_mut(fill.symbol.index()) else {
            return false;
        };
        let new_position = match fill.side {
            Side::Buy => {
                self.cash -= fill.notional + fill.fee;
                *slot + fill.qty
            }
            Side::Sell => {
                self.cash += fill.notional - fill.fee;
                *slot - fill.qty
            }
        };
        *slot = if new_position.abs() < POSITION_EPSILON {
            0.0
        } else {
            new_position
        };
        self.next_order_id = self.next_order_id.max(fill.order_id.saturating_add(1));
        true
    }

    /// Set the position of `symbol` to `qty` shares without touching cash
    /// (reconciliation adopting a live broker's report). An unknown symbol
    /// id or a non-finite quantity changes nothing and returns `false`.
    pub fn set_position(&mut self, symbol: SymbolId, qty: f64) -> bool {
        match self.positions.get_mut(symbol.index()) {
            Some(slot) if qty.is_finite() => {
                *slot = if qty.abs() < POSITION_EPSILON {
                    0.0
                } else {
                    qty
                };
                true
            }
            _ => false,
        }
    }

    /// Set cash (reconciliation adopting a live broker's report); a
    /// non-finite amount changes nothing and returns `false`.
    pub fn set_cash(&mut self, cash: f64) -> bool {
        if cash.is_finite() {
            self.cash = cash;
        }
        cash.is_finite()
    }

    /// Cash (fees included).
    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Signed shares held (0 when flat or unknown).
    pub fn position(&self, symbol: SymbolId) -> f64 {
        self.positions.get(symbol.index()).copied().unwrap_or(0.0)
    }

    /// Signed shares by symbol id (0 when flat).
    pub fn positions(&self) -> &[f64] {
        &self.positions
    }

    /// The id the next fill gets.
    pub fn next_order_id(&self) -> u64 {
        self.next_order_id
    }

    /// Number of fills so far.
    pub fn fill_count(&self) -> u64 {
        self.next_order_id - 1
    }

    /// `cash + Σ position·mid` over quoted symbols, in sorted symbol order.
    pub fn portfolio_value(&self) -> f64 {
        self.value_with(|id| self.quote(id).map(|q| q.mid()))
    }

    /// `cash + Σ position·mark` with the caller's marks (dense by symbol
    /// id; a missing or non-finite mark skips the symbol), in sorted order.
    pub fn portfolio_value_at(&self, marks: &[f64]) -> f64 {
        self.value_with(|id| marks.get(id.index()).copied().filter(|m| m.is_finite()))
    }

    fn value_with(&self, mark: impl Fn(SymbolId) -> Option<f64>) -> f64 {
        let held = self.order.sum(|id| {
            let pos = self.position(id);
            match mark(id) {
                Some(m) if pos != 0.0 => pos * m,
                _ => 0.0,
            }
        });
        self.cash + held
    }

    /// `position·mid/PV` per symbol into `out` (dense by id; 0 when flat or
    /// unquoted). Returns `false` and writes zeros when PV ≤ 0 or is not
    /// finite (no weights).
    pub fn weights(&self, out: &mut [f64]) -> bool {
        let pv = self.portfolio_value();
        let ok = pv > 0.0 && pv.is_finite();
        for (i, w) in out.iter_mut().enumerate() {
            let id = SymbolId(i as u16);
            let pos = self.position(id);
            *w = match self.quote(id) {
                Some(q) if ok && pos != 0.0 => pos * q.mid() / pv,
                _ => 0.0,
            };
        }
        ok
    }

    /// `PV − initial_cash`.
    pub fn pnl(&self) -> f64 {
        self.portfolio_value() - self.params.initial_cash
    }

    /// `(PV/initial_cash − 1)·100`.
    pub fn pnl_pct(&self) -> f64 {
        (self.portfolio_value() / self.params.initial_cash - 1.0) * 100.0
    }

    /// Replace cash, positions and the next order id (restart, or initial
    /// positions). Quotes are kept. Cold path.
    pub fn restore(
        &mut self,
        cash: f64,
        positions: &[(SymbolId, f64)],
        next_order_id: u64,
    ) -> Result<(), PaperStateError> {
        if !cash.is_finite() {
            return Err(PaperStateError::Cash(cash));
        }
        if next_order_id == 0 {
            return Err(PaperStateError::OrderId);
        }
        let len = self.positions.len();
        for &(id, qty) in positions {
            if id.index() >= len || !qty.is_finite() {
                return Err(PaperStateError::Position { id: id.0, qty, len });
            }
        }
        self.cash = cash;
        self.positions.fill(0.0);
        for &(id, qty) in positions {
            self.positions[id.index()] = if qty.abs() < POSITION_EPSILON {
                0.0
            } else {
                qty
            };
        }
        self.next_order_id = next_order_id;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SymbolId = SymbolId(0);
    const B: SymbolId = SymbolId(1);

    fn broker(cash: f64) -> PaperBroker {
        let params = PaperParams {
            initial_cash: cash,
            ..PaperParams::default()
        };
        PaperBroker::new(params, SymbolOrder::from_names(&["A", "B"]).unwrap()).unwrap()
    }

    fn quoted(cash: f64, bid: f64, ask: f64) -> PaperBroker {
        let mut b = broker(cash);
        assert!(b.set_quote(A, Quote::untimed(bid, ask)));
        b
    }

    #[test]
    fn side_strings_are_case_insensitive_and_strict() {
        assert_eq!(parse_side("buy"), Ok(Side::Buy));
        assert_eq!(parse_side("Sell"), Ok(Side::Sell));
        for bad in ["HOLD", " BUY", "", "BUYS"] {
            assert_eq!(parse_side(bad), Err(Reason::InvalidSide), "{bad:?}");
        }
    }

    #[test]
    fn params_are_validated() {
        assert!(PaperParams::default().validate().is_ok());
        let p = PaperParams {
            initial_cash: 0.0,
            ..PaperParams::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "initial_cash");
        let p = PaperParams {
            fee_bps: Bps(f64::NAN),
            ..PaperParams::default()
        };
        assert_eq!(p.validate().unwrap_err().key, "fee_bps");
    }

    #[test]
    fn buy_fills_at_ask_plus_slippage_and_charges_the_fee() {
        let mut b = quoted(100_000.0, 449.9, 450.1);
        assert_eq!(
            b.submit(A, Side::Buy, 223.0),
            Err(Reason::InsufficientFunds)
        );
        let f = b.submit(A, Side::Buy, 222.0).unwrap();
        assert_eq!((f.order_id, f.price, f.fee), (1, 450.32505, 9.99721611));
        assert_eq!(b.cash(), 17.84168389000115);
        assert_eq!(b.position(A), 222.0);
        assert_eq!(b.fill_count(), 1);
    }

    #[test]
    fn rejections_change_nothing_and_consume_no_id() {
        let mut b = quoted(5_000.0, 99.0, 101.0);
        for qty in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            assert_eq!(b.submit(A, Side::Buy, qty), Err(Reason::InvalidQuantity));
        }
        assert_eq!(b.submit(B, Side::Buy, 1.0), Err(Reason::NoQuote));
        assert_eq!(b.submit(SymbolId(7), Side::Buy, 1.0), Err(Reason::NoQuote));
        assert_eq!(
            b.submit(A, Side::Sell, 100.0),
            Err(Reason::InsufficientMargin)
        );
        assert_eq!(
            (b.cash(), b.position(A), b.next_order_id()),
            (5_000.0, 0.0, 1)
        );
        assert_eq!(b.submit(A, Side::Buy, 1.0).map(|f| f.order_id), Ok(1));
    }

    #[test]
    fn closing_removes_the_position_and_flips_keep_the_sign() {
        let mut b = quoted(100_000.0, 10.0, 10.02);
        b.submit(A, Side::Buy, 0.1).unwrap();
        b.submit(A, Side::Buy, 0.2).unwrap();
        assert_eq!(b.position(A), 0.30000000000000004);
        b.submit(A, Side::Sell, 0.3).unwrap();
        assert_eq!(b.position(A), 0.0, "float residue is removed");
        b.submit_shares(A, Side::Sell, Qty(5)).unwrap();
        assert_eq!(b.position(A), -5.0);
        let mut w = [1.0; 2];
        assert!(b.weights(&mut w));
        assert!(w[0] < 0.0 && w[1] == 0.0);
    }

    #[test]
    fn value_weights_and_pnl_follow_the_quotes() {
        let mut b = quoted(100_000.0, 50.0, 50.1);
        b.params.slippage_bps = Bps(0.0);
        b.params.fee_bps = Bps(0.0);
        b.submit(A, Side::Buy, 10.0).unwrap();
        assert_eq!(b.portfolio_value(), 99_999.5);
        assert_eq!(b.pnl(), -0.5);
        assert_eq!(b.portfolio_value_at(&[60.0, f64::NAN]), 99_499.0 + 600.0);
        assert!(!b.set_quote(A, Quote::untimed(f64::NAN, 1.0)));
        assert_eq!(b.quote(A), Some(Quote::untimed(50.0, 50.1)));
    }

    #[test]
    fn non_positive_value_gives_no_weights() {
        let mut b = quoted(1_000.0, 100.0, 100.0);
        b.restore(-20_000.0, &[(A, 100.0)], 4).unwrap();
        let mut w = [1.0; 2];
        assert!(!b.weights(&mut w));
        assert_eq!(w, [0.0, 0.0]);
        assert_eq!(b.next_order_id(), 4);
        assert!(b.restore(0.0, &[(SymbolId(5), 1.0)], 1).is_err());
    }
}
