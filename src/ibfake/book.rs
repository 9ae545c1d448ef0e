//! The fake gateway's books: orders, the matcher against the fake's own
//! quotes, executions with commissions, positions and cash — all inside
//! [`FakeState`], the part that survives a restart of the fake (F15).
//!
//! Cold code, run under the gateway's core lock on connection and quote
//! threads; allocates freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Order side as the client sent it (`BUY` / `SELL`; `SSHORT` is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// `BUY`.
    Buy,
    /// `SELL`.
    Sell,
}

impl Action {
    /// The wire text of placeOrder/openOrder (`BUY`/`SELL`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Buy => "BUY",
            Action::Sell => "SELL",
        }
    }

    /// The execution side text of execDetails (`BOT`/`SLD`).
    pub fn exec_side(self) -> &'static str {
        match self {
            Action::Buy => "BOT",
            Action::Sell => "SLD",
        }
    }

    fn sign(self) -> f64 {
        match self {
            Action::Buy => 1.0,
            Action::Sell => -1.0,
        }
    }
}

/// The two order types the fake matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderType {
    /// Market: fills at once at the touch.
    Mkt,
    /// Limit: fills at the touch when marketable, otherwise rests.
    Lmt,
}

impl OrderType {
    /// Wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Mkt => "MKT",
            OrderType::Lmt => "LMT",
        }
    }
}

/// Order status as TWS spells it in orderStatus/openOrder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Accepted, resting or about to fill.
    Submitted,
    /// A cancel was received and is being processed.
    PendingCancel,
    /// Fully filled (terminal).
    Filled,
    /// Cancelled (terminal).
    Cancelled,
    /// Rejected (terminal).
    Inactive,
}

impl OrderStatus {
    /// Wire text.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Submitted => "Submitted",
            OrderStatus::PendingCancel => "PendingCancel",
            OrderStatus::Filled => "Filled",
            OrderStatus::Cancelled => "Cancelled",
            OrderStatus::Inactive => "Inactive",
        }
    }

    /// Filled, Cancelled and Inactive are final.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Inactive
        )
    }
}

/// One order as the fake books it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// API order id (unique per client id).
    pub order_id: i64,
    /// API client id that placed it.
    pub client_id: i32,
    /// Permanent id assigned by the fake (unique across clients).
    pub perm_id: i64,
    /// Stock symbol.
    pub symbol: String,
    /// Buy or sell.
    pub action: Action,
    /// Total quantity in shares.
    pub total_qty: f64,
    /// MKT or LMT.
    pub order_type: OrderType,
    /// Limit price for LMT.
    pub lmt_price: Option<f64>,
    /// Time in force as sent (`DAY`, `GTC`, ...).
    pub tif: String,
    /// The client's free-text reference (our client order id).
    pub order_ref: String,
    /// Account.
    pub account: String,
    /// Current status.
    pub status: OrderStatus,
    /// Filled quantity.
    pub filled: f64,
    /// Average fill price (0 before any fill).
    pub avg_fill_price: f64,
    /// Price of the last fill (0 before any fill).
    pub last_fill_price: f64,
}

impl Order {
    /// Quantity still open.
    pub fn remaining(&self) -> f64 {
        (self.total_qty - self.filled).max(0.0)
    }

    /// The fill price against a quote, if the order is marketable: market
    /// orders take the touch; limits fill at the touch when it is at or
    /// through the limit.
    pub fn match_price(&self, bid: f64, ask: f64) -> Option<f64> {
        match (self.order_type, self.action) {
            (OrderType::Mkt, Action::Buy) => Some(ask),
            (OrderType::Mkt, Action::Sell) => Some(bid),
            (OrderType::Lmt, Action::Buy) => self.lmt_price.filter(|l| *l >= ask).map(|_| ask),
            (OrderType::Lmt, Action::Sell) => self.lmt_price.filter(|l| *l <= bid).map(|_| bid),
        }
    }
}

/// One execution (fill) with its commission once reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    /// Execution id, e.g. `0000e0d5.00000001.01.01`; a correction bumps the
    /// last part (`.01` → `.02`).
    pub exec_id: String,
    /// API order id.
    pub order_id: i64,
    /// API client id of the order.
    pub client_id: i32,
    /// Permanent order id.
    pub perm_id: i64,
    /// Stock symbol.
    pub symbol: String,
    /// Buy or sell.
    pub action: Action,
    /// Shares.
    pub shares: f64,
    /// Price.
    pub price: f64,
    /// `YYYYMMDD HH:MM:SS UTC`.
    pub time: String,
    /// Cumulative filled quantity of the order after this execution.
    pub cum_qty: f64,
    /// Average price of the order after this execution.
    pub avg_price: f64,
    /// The order's orderRef.
    pub order_ref: String,
    /// Commission in USD; `None` when the report was never sent (F6).
    pub commission: Option<f64>,
}

/// One holding.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct Position {
    /// Signed shares.
    pub qty: f64,
    /// Average cost per share (IB's `avgCost`).
    pub avg_cost: f64,
}

/// Everything that survives a restart of the fake (F15): pass it to
/// [`crate::ibfake::FakeGateway::resume`]. All fields are public so a test
/// can edit the state between runs (e.g. lower `next_valid_id` below the
/// client's counter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FakeState {
    /// The id sent in nextValidId: max of the fake's own counter and every
    /// order id seen + 1.
    pub next_valid_id: i64,
    /// Next permanent id.
    pub next_perm_id: i64,
    /// Execution id sequence.
    pub exec_seq: u64,
    /// Cash balance in USD.
    pub cash: f64,
    /// Holdings by symbol (entries that went flat stay, with qty 0).
    pub positions: BTreeMap<String, Position>,
    /// Every order ever booked, keyed by permanent id.
    pub orders: BTreeMap<i64, Order>,
    /// Every execution, oldest first (a corrected execution replaces the
    /// original in place).
    pub executions: Vec<Execution>,
    /// Highest order id used per client id (an id at or below it is a
    /// duplicate → error 103).
    pub last_order_id: BTreeMap<i32, i64>,
}

impl FakeState {
    /// A fresh account: `cash` USD, no holdings, ids starting at 1.
    pub fn new(cash: f64) -> FakeState {
        FakeState {
            next_valid_id: 1,
            next_perm_id: 1_000_000_001,
            exec_seq: 0,
            cash,
            positions: BTreeMap::new(),
            orders: BTreeMap::new(),
            executions: Vec::new(),
            last_order_id: BTreeMap::new(),
        }
    }

    /// The live (non-terminal) order with this client's order id.
    pub fn live_order_mut(&mut self, client_id: i32, order_id: i64) -> Option<&mut Order> {
        self.orders
            .values_mut()
            .find(|o| o.client_id == client_id && o.order_id == order_id && !o.status.is_terminal())
    }

    /// Any order (live or not) with this client's order id.
    pub fn find_order(&self, client_id: i32, order_id: i64) -> Option<&Order> {
        self.orders
            .values()
            .find(|o| o.client_id == client_id && o.order_id == order_id)
    }

    /// Records that `client_id` used `order_id` (duplicate detection and
    /// nextValidId).
    pub fn note_order_id(&mut self, client_id: i32, order_id: i64) {
        let last = self.last_order_id.entry(client_id).or_insert(order_id);
        *last = (*last).max(order_id);
        self.next_valid_id = self.next_valid_id.max(order_id + 1);
    }

    /// True when `order_id` is at or below the highest id this client used.
    pub fn is_duplicate_id(&self, client_id: i32, order_id: i64) -> bool {
        self.last_order_id
            .get(&client_id)
            .is_some_and(|last| order_id <= *last)
    }

    /// A fresh permanent id.
    pub fn take_perm_id(&mut self) -> i64 {
        let p = self.next_perm_id;
        self.next_perm_id += 1;
        p
    }

    /// A fresh execution id `0000e0d5.<seq hex>.01.01`.
    pub fn take_exec_id(&mut self) -> String {
        self.exec_seq += 1;
        format!("0000e0d5.{:08x}.01.01", self.exec_seq)
    }

    /// Books a full fill of the order at `price`: order → Filled, position
    /// and cash move (commission included), execution appended. Returns the
    /// index of the new execution.
    pub fn fill(
        &mut self,
        perm_id: i64,
        price: f64,
        commission: f64,
        time: String,
    ) -> Option<usize> {
        let exec_id = self.take_exec_id();
        let o = self.orders.get_mut(&perm_id)?;
        let shares = o.remaining();
        if shares <= 0.0 {
            return None;
        }
        let cum = o.filled + shares;
        o.avg_fill_price = (o.avg_fill_price * o.filled + price * shares) / cum;
        o.filled = cum;
        o.last_fill_price = price;
        o.status = OrderStatus::Filled;
        let exec = Execution {
            exec_id,
            order_id: o.order_id,
            client_id: o.client_id,
            perm_id,
            symbol: o.symbol.clone(),
            action: o.action,
            shares,
            price,
            time,
            cum_qty: cum,
            avg_price: o.avg_fill_price,
            order_ref: o.order_ref.clone(),
            commission: Some(commission),
        };
        self.apply_to_books(
            exec.action,
            &exec.symbol,
            exec.shares,
            exec.price,
            commission,
        );
        self.executions.push(exec);
        Some(self.executions.len() - 1)
    }

    /// Replaces execution `idx` by its correction (`.01` → `.02`) at
    /// `new_price`: books move by the price difference only.
    pub fn correct(&mut self, idx: usize, new_price: f64) -> Option<&Execution> {
        let e = self.executions.get_mut(idx)?;
        let old_price = e.price;
        let base = e.exec_id.rsplit_once('.').map(|(b, _)| b.to_owned())?;
        let n: u32 = e
            .exec_id
            .rsplit('.')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
        e.exec_id = format!("{base}.{:02}", n + 1);
        e.price = new_price;
        e.avg_price = new_price;
        let (action, symbol, shares, perm) = (e.action, e.symbol.clone(), e.shares, e.perm_id);
        if let Some(o) = self.orders.get_mut(&perm) {
            o.avg_fill_price = new_price;
            o.last_fill_price = new_price;
        }
        // Undo the old price, apply the new one (quantity unchanged).
        self.cash += action.sign() * shares * (old_price - new_price);
        if let Some(p) = self.positions.get_mut(&symbol) {
            if p.qty != 0.0 {
                p.avg_cost += action.sign() * shares * (new_price - old_price) / p.qty;
            }
        }
        self.executions.get(idx)
    }

    fn apply_to_books(
        &mut self,
        action: Action,
        symbol: &str,
        shares: f64,
        price: f64,
        commission: f64,
    ) {
        let signed = action.sign() * shares;
        self.cash -= signed * price + commission;
        let p = self.positions.entry(symbol.to_owned()).or_default();
        let new_qty = p.qty + signed;
        if new_qty == 0.0 {
            p.avg_cost = 0.0;
        } else if p.qty == 0.0 || p.qty.signum() != new_qty.signum() {
            p.avg_cost = price;
        } else if p.qty.signum() == signed.signum() {
            p.avg_cost = (p.avg_cost * p.qty + price * signed) / new_qty;
        }
        p.qty = new_qty;
    }

    /// Net liquidation: cash plus holdings marked at `mark(symbol)`.
    pub fn net_liquidation(&self, mark: impl Fn(&str) -> Option<f64>) -> f64 {
        self.cash
            + self
                .positions
                .iter()
                .map(|(s, p)| p.qty * mark(s).unwrap_or(p.avg_cost))
                .sum::<f64>()
    }
}

/// IB-like fixed-rate commission: 0.005 USD per share, at least 1 USD.
pub fn commission_for(shares: f64, per_share: f64, minimum: f64) -> f64 {
    (shares * per_share).max(minimum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(state: &mut FakeState, action: Action, t: OrderType, lmt: Option<f64>) -> i64 {
        let perm = state.take_perm_id();
        state.orders.insert(
            perm,
            Order {
                order_id: 1,
                client_id: 1,
                perm_id: perm,
                symbol: "AAPL".into(),
                action,
                total_qty: 10.0,
                order_type: t,
                lmt_price: lmt,
                tif: "DAY".into(),
                order_ref: "r".into(),
                account: "DU0000001".into(),
                status: OrderStatus::Submitted,
                filled: 0.0,
                avg_fill_price: 0.0,
                last_fill_price: 0.0,
            },
        );
        perm
    }

    #[test]
    fn limits_match_only_when_marketable() {
        let mut st = FakeState::new(0.0);
        let p = order(&mut st, Action::Buy, OrderType::Lmt, Some(100.0));
        let o = &st.orders[&p];
        assert_eq!(o.match_price(99.9, 100.1), None);
        assert_eq!(o.match_price(99.9, 100.0), Some(100.0));
        let p = order(&mut st, Action::Sell, OrderType::Mkt, None);
        assert_eq!(st.orders[&p].match_price(99.9, 100.1), Some(99.9));
    }

    #[test]
    fn fills_move_cash_and_positions_and_corrections_adjust_them() {
        let mut st = FakeState::new(10_000.0);
        let p = order(&mut st, Action::Buy, OrderType::Mkt, None);
        let idx = st.fill(p, 100.0, 1.0, "t".into()).unwrap();
        assert_eq!(st.cash, 10_000.0 - 1_000.0 - 1.0);
        assert_eq!(
            st.positions["AAPL"],
            Position {
                qty: 10.0,
                avg_cost: 100.0
            }
        );
        assert_eq!(st.orders[&p].status, OrderStatus::Filled);
        assert!(
            st.fill(p, 100.0, 1.0, "t".into()).is_none(),
            "no second fill"
        );
        let e = st.correct(idx, 101.0).unwrap();
        assert!(e.exec_id.ends_with(".01.02"), "{}", e.exec_id);
        assert_eq!(st.cash, 10_000.0 - 1_010.0 - 1.0);
        assert_eq!(st.positions["AAPL"].avg_cost, 101.0);
        assert_eq!(st.executions.len(), 1);
    }

    #[test]
    fn duplicate_ids_are_per_client_and_raise_next_valid_id() {
        let mut st = FakeState::new(0.0);
        st.note_order_id(1, 10);
        assert!(st.is_duplicate_id(1, 10));
        assert!(st.is_duplicate_id(1, 3));
        assert!(!st.is_duplicate_id(1, 11));
        assert!(!st.is_duplicate_id(2, 5));
        assert_eq!(st.next_valid_id, 11);
    }

    #[test]
    fn exec_ids_are_unique() {
        let mut st = FakeState::new(0.0);
        assert_ne!(st.take_exec_id(), st.take_exec_id());
    }

    #[test]
    fn commission_has_a_floor() {
        assert_eq!(commission_for(10.0, 0.005, 1.0), 1.0);
        assert_eq!(commission_for(1000.0, 0.005, 1.0), 5.0);
    }
}
