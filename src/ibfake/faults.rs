//! Fault injection for the fake gateway (BROKERS-AND-FEEDS §5.3): the
//! order-path faults armed on the control handle ([`OrderFault`], consumed
//! by the next order events), the connection-wide settings ([`WireFaults`]:
//! handshake, write shaping, pacing, slow replies) and the timed
//! connectivity events a CLI can schedule ([`ConnEvent`]).
//!
//! Cold code; read under the gateway's lock on connection threads.

use std::time::Duration;

/// A fault on the order path. Arm it with
/// [`crate::ibfake::FakeGateway::set_fault`] (fires once, on the next order
/// event it applies to) or [`crate::ibfake::FakeGateway::set_fault_always`].
#[derive(Debug, Clone, PartialEq)]
pub enum OrderFault {
    /// F1: close the client's socket right after reading a placeOrder,
    /// before any reply. With `book_order` the order is still booked (and a
    /// market order filled) silently, as if TWS got it and the reply was
    /// lost; without it the order is forgotten.
    DropOnPlaceOrder {
        /// Book (and match) the order before closing.
        book_order: bool,
    },
    /// F2: on a fill, send execDetails then close the socket: no
    /// orderStatus(Filled), no openOrder(Filled), no commissionReport. The
    /// fill is booked (reqExecutions returns it with its commission).
    DropAfterExecDetails,
    /// F3: reject the next order: error(orderId, 201, "Order rejected -
    /// reason: …") then orderStatus(Inactive); nothing is booked to
    /// positions.
    Reject,
    /// F4: send execDetails and orderStatus(Filled) twice for the next fill.
    DuplicateReports,
    /// F5: after execDetails `….01`, send the correction `….02` with the
    /// price moved by `price_offset`; the books keep the corrected price and
    /// the commission report names the corrected id.
    CorrectExecution {
        /// Added to the fill price in the correction.
        price_offset: f64,
    },
    /// F6a: send the commissionReport before the execDetails.
    CommissionBeforeExec,
    /// F6b: never send the commissionReport (the execution is booked
    /// without commission; reqExecutions sends none either).
    CommissionNever,
}

impl OrderFault {
    /// Short name used by the CLI (`--fault NAME`) and in logs.
    pub fn name(&self) -> &'static str {
        match self {
            OrderFault::DropOnPlaceOrder { book_order: true } => "drop-on-place-booked",
            OrderFault::DropOnPlaceOrder { book_order: false } => "drop-on-place",
            OrderFault::DropAfterExecDetails => "drop-after-exec",
            OrderFault::Reject => "reject",
            OrderFault::DuplicateReports => "duplicate",
            OrderFault::CorrectExecution { .. } => "correct",
            OrderFault::CommissionBeforeExec => "commission-first",
            OrderFault::CommissionNever => "commission-never",
        }
    }

    /// Parses a CLI name (see [`OrderFault::name`]); `correct` moves the
    /// price by +0.05.
    pub fn parse(name: &str) -> Option<OrderFault> {
        Some(match name {
            "drop-on-place-booked" => OrderFault::DropOnPlaceOrder { book_order: true },
            "drop-on-place" => OrderFault::DropOnPlaceOrder { book_order: false },
            "drop-after-exec" => OrderFault::DropAfterExecDetails,
            "reject" => OrderFault::Reject,
            "duplicate" => OrderFault::DuplicateReports,
            "correct" => OrderFault::CorrectExecution { price_offset: 0.05 },
            "commission-first" => OrderFault::CommissionBeforeExec,
            "commission-never" => OrderFault::CommissionNever,
            _ => return None,
        })
    }

    /// Every CLI name, for help and error messages.
    pub const NAMES: &'static [&'static str] = &[
        "drop-on-place-booked",
        "drop-on-place",
        "drop-after-exec",
        "reject",
        "duplicate",
        "correct",
        "commission-first",
        "commission-never",
    ];

    /// Which kind of event consumes this fault.
    pub(crate) fn trigger(&self) -> Trigger {
        match self {
            OrderFault::DropOnPlaceOrder { .. } | OrderFault::Reject => Trigger::Place,
            _ => Trigger::Fill,
        }
    }
}

/// When an armed [`OrderFault`] is consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    Place,
    Fill,
}

/// How often an armed fault fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shots {
    /// Fires on the next matching event, then disarms.
    Once,
    /// Fires on every matching event until [`crate::ibfake::FakeGateway::clear_faults`].
    Always,
}

/// Armed order faults, in arming order.
#[derive(Debug, Default, Clone)]
pub(crate) struct FaultPlan {
    armed: Vec<(OrderFault, Shots)>,
}

impl FaultPlan {
    pub(crate) fn arm(&mut self, f: OrderFault, shots: Shots) {
        self.armed.push((f, shots));
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }

    /// Consumes every armed fault for this trigger (each kind at most once
    /// per event) and returns them.
    pub(crate) fn take(&mut self, trigger: Trigger) -> Vec<OrderFault> {
        let mut out: Vec<OrderFault> = Vec::new();
        self.armed.retain(|(f, shots)| {
            if f.trigger() != trigger || out.iter().any(|o| o.name() == f.name()) {
                return true;
            }
            out.push(f.clone());
            *shots == Shots::Always
        });
        out
    }
}

/// How the fake answers the handshake (F10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HandshakeMode {
    /// Reply `178` when the client's range includes it, else close.
    #[default]
    Normal,
    /// Always reply this server version (to test the client's check).
    ReplyVersion(u32),
    /// Never reply (socket stays open).
    Silent,
}

/// How frames are written to the socket (F12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// One write per frame.
    #[default]
    Normal,
    /// Every byte in its own write (partial frames at every boundary).
    SplitBytes,
    /// All frames queued at that moment in one write.
    Coalesce,
}

/// Connection-wide faults and slowness; settable at start in
/// [`crate::ibfake::FakeConfig::wire`] and at run time with
/// [`crate::ibfake::FakeGateway::set_wire_faults`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WireFaults {
    /// F10.
    pub handshake: HandshakeMode,
    /// F12.
    pub write_mode: WriteMode,
    /// F13: more than this many requests within one second on one
    /// connection → error(−1, 100) and the request is dropped.
    pub max_msgs_per_sec: Option<u32>,
    /// Slow replies: every frame is held this long before it is written.
    pub reply_delay: Duration,
}

/// A connectivity event the fake can push to every connected client
/// ([`crate::ibfake::FakeGateway::connectivity_event`]), or that the CLI
/// schedules a fixed time after each client's startApi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// F7: error 1100 then 1102 (data maintained); socket stays open.
    LostThenRestoredKept,
    /// F8: error 1100 then 1101 (data lost; resubscribe); socket stays open.
    LostThenRestoredLost,
    /// F9a: error 1300 then the socket is closed.
    PortResetThenClose,
    /// F9b: stop replying to everything (socket stays open) — see
    /// [`crate::ibfake::FakeGateway::set_hang`].
    Hang,
    /// Plain close of every client socket.
    Disconnect,
    /// F16: farm broken 2103/2105, then OK 2104/2106.
    FarmBrokenThenOk,
}

impl ConnEvent {
    /// Parses a CLI name: `1100-1102`, `1100-1101`, `1300`, `hang`,
    /// `disconnect`, `farm`.
    pub fn parse(name: &str) -> Option<ConnEvent> {
        Some(match name {
            "1100-1102" => ConnEvent::LostThenRestoredKept,
            "1100-1101" => ConnEvent::LostThenRestoredLost,
            "1300" => ConnEvent::PortResetThenClose,
            "hang" => ConnEvent::Hang,
            "disconnect" => ConnEvent::Disconnect,
            "farm" => ConnEvent::FarmBrokenThenOk,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_faults_fire_once_and_always_faults_stay() {
        let mut p = FaultPlan::default();
        p.arm(OrderFault::Reject, Shots::Once);
        p.arm(OrderFault::DuplicateReports, Shots::Always);
        assert!(p
            .take(Trigger::Fill)
            .contains(&OrderFault::DuplicateReports));
        assert_eq!(p.take(Trigger::Place), vec![OrderFault::Reject]);
        assert!(p.take(Trigger::Place).is_empty());
        assert_eq!(p.take(Trigger::Fill), vec![OrderFault::DuplicateReports]);
        p.clear();
        assert!(p.take(Trigger::Fill).is_empty());
    }

    #[test]
    fn every_cli_name_parses_back() {
        for n in OrderFault::NAMES {
            assert_eq!(OrderFault::parse(n).map(|f| f.name()), Some(*n));
        }
        assert!(OrderFault::parse("nope").is_none());
        assert_eq!(
            ConnEvent::parse("1300"),
            Some(ConnEvent::PortResetThenClose)
        );
    }
}
