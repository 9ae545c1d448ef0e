//! [`JournalRecord`]: the small `Copy` message the engine pushes to the
//! journal thread for every decision, order, acknowledgement, fill,
//! rejection, kill-switch event, control command and cycle end, and its
//! deterministic binary codec.
//!
//! Records are built on the engine thread and encoded on the journal thread.
//! Hot path: building, [`JournalRecord::encode`] and [`JournalRecord::decode`]
//! allocate nothing, never block and never log.
//!
//! # Payload layout
//!
//! Every payload has a fixed length per kind ([`RecordKind::payload_len`]),
//! little-endian, fields in the order listed on each variant. Integers are
//! written at their width (`SymbolId` as `u16`, `Qty` as `i64`, `Nanos` as
//! `u64`), `f64` as its IEEE-754 bits (every NaN written as the one canonical
//! quiet NaN, so the bytes never depend on how a NaN was produced), enums as
//! the stable one-byte codes in this file (never `as u8`, so reordering an
//! enum cannot change the format), and `Option<T>` as a presence byte
//! (`0` absent, `1` present) followed by the value (all zero when absent).
//! Decoding checks the length, every code and every presence byte and
//! returns a [`RecordError`] on anything else; it never panics. It checks
//! structure only: a well-formed record with odd values (a zero quantity) is
//! recorded faithfully, not rejected.

use std::fmt;

use crate::types::{Decision, HorizonId, Nanos, Qty, Reason, Side, SymbolId, TradingState};

/// Capacity of the buffer [`JournalRecord::encode`] writes into; every
/// payload fits (checked at compile time).
pub const MAX_PAYLOAD: usize = 64;

/// One journalled event. Every variant carries its event `time`, which also
/// picks the journal file (the session date of `time`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum JournalRecord {
    /// One symbol's decision in a cycle, whatever its outcome.
    Decision {
        cycle: u64,
        time: Nanos,
        symbol: SymbolId,
        decision: Decision,
        reason: Reason,
        /// The horizon the arbiter chose, if any.
        horizon: Option<HorizonId>,
        /// The side of the trade, if any.
        side: Option<Side>,
        shares: Qty,
        /// Alpha of the chosen horizon; NaN when there is none.
        alpha: f64,
        target_weight: f64,
        /// Weight proposed before normalisation; NaN when there is none.
        proposed_weight: f64,
    },
    /// An order handed to the broker link.
    Order {
        client_order_id: u64,
        cycle: u64,
        time: Nanos,
        symbol: SymbolId,
        side: Side,
        /// Positive share count; the direction is `side`.
        qty: Qty,
        /// The quote price the order should fill at.
        price: f64,
        horizon: Option<HorizonId>,
    },
    /// The broker accepted an order.
    Ack {
        client_order_id: u64,
        broker_order_id: u64,
        time: Nanos,
    },
    /// An execution.
    Fill {
        client_order_id: u64,
        broker_order_id: u64,
        time: Nanos,
        symbol: SymbolId,
        side: Side,
        /// Positive share count; the direction is `side`.
        qty: Qty,
        price: f64,
        /// Fee paid in cash.
        fee: f64,
    },
    /// The broker rejected an order; `reason` is the broker rejection code
    /// (`InsufficientFunds`, `InsufficientMargin`, `InvalidQuantity`, ...).
    Reject {
        client_order_id: u64,
        time: Nanos,
        symbol: SymbolId,
        reason: Reason,
    },
    /// The trading state changed through the kill switch or its reset.
    Kill {
        time: Nanos,
        state: TradingState,
        reason: Option<Reason>,
    },
    /// An operator command reached the engine.
    Control {
        time: Nanos,
        command: ControlCommand,
    },
    /// End of a cycle: the book after it.
    Cycle {
        cycle: u64,
        time: Nanos,
        cash: f64,
        portfolio_value: f64,
        state: TradingState,
    },
}

const _: () = assert!(std::mem::size_of::<JournalRecord>() <= 96);

/// The kind byte that precedes a payload on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    Decision,
    Order,
    Ack,
    Fill,
    Reject,
    Kill,
    Control,
    Cycle,
}

impl RecordKind {
    /// Every kind, in code order.
    pub const ALL: [RecordKind; 8] = [
        RecordKind::Decision,
        RecordKind::Order,
        RecordKind::Ack,
        RecordKind::Fill,
        RecordKind::Reject,
        RecordKind::Kill,
        RecordKind::Control,
        RecordKind::Cycle,
    ];

    /// The stable on-disk code.
    pub const fn code(self) -> u8 {
        match self {
            RecordKind::Decision => 1,
            RecordKind::Order => 2,
            RecordKind::Ack => 3,
            RecordKind::Fill => 4,
            RecordKind::Reject => 5,
            RecordKind::Kill => 6,
            RecordKind::Control => 7,
            RecordKind::Cycle => 8,
        }
    }

    /// The kind with the given code.
    pub const fn from_code(code: u8) -> Option<RecordKind> {
        match code {
            1 => Some(RecordKind::Decision),
            2 => Some(RecordKind::Order),
            3 => Some(RecordKind::Ack),
            4 => Some(RecordKind::Fill),
            5 => Some(RecordKind::Reject),
            6 => Some(RecordKind::Kill),
            7 => Some(RecordKind::Control),
            8 => Some(RecordKind::Cycle),
            _ => None,
        }
    }

    /// Lower-case name for logs and error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            RecordKind::Decision => "decision",
            RecordKind::Order => "order",
            RecordKind::Ack => "ack",
            RecordKind::Fill => "fill",
            RecordKind::Reject => "reject",
            RecordKind::Kill => "kill",
            RecordKind::Control => "control",
            RecordKind::Cycle => "cycle",
        }
    }

    /// The exact payload length of this kind, in bytes.
    pub const fn payload_len(self) -> usize {
        const U8: usize = 1;
        const U16: usize = 2;
        const U64: usize = 8;
        const OPT_U8: usize = 2;
        match self {
            // cycle time symbol decision reason horizon side shares alpha tw pw
            RecordKind::Decision => U64 + U64 + U16 + U8 + U8 + OPT_U8 + OPT_U8 + 4 * U64,
            // coid cycle time symbol side qty price horizon
            RecordKind::Order => 3 * U64 + U16 + U8 + U64 + U64 + OPT_U8,
            // coid boid time
            RecordKind::Ack => 3 * U64,
            // coid boid time symbol side qty price fee
            RecordKind::Fill => 3 * U64 + U16 + U8 + 3 * U64,
            // coid time symbol reason
            RecordKind::Reject => 2 * U64 + U16 + U8,
            // time state reason
            RecordKind::Kill => U64 + U8 + OPT_U8,
            // time command
            RecordKind::Control => U64 + U8,
            // cycle time cash pv state
            RecordKind::Cycle => 4 * U64 + U8,
        }
    }
}

const _: () = {
    let mut i = 0;
    while i < RecordKind::ALL.len() {
        assert!(RecordKind::ALL[i].payload_len() <= MAX_PAYLOAD);
        i += 1;
    }
};

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a payload does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error(
        "unknown journal record kind {kind}: this build reads kinds 1 to 8; \
         the journal comes from a newer build or is damaged"
    )]
    UnknownKind { kind: u8 },
    #[error(
        "{kind} record payload is {found} bytes, expected {expected}: \
         the record is truncated or comes from another format version"
    )]
    Length {
        kind: RecordKind,
        expected: usize,
        found: usize,
    },
    #[error("{kind} record field `{field}` has unknown code {code}: the journal comes from a newer build or is damaged")]
    UnknownCode {
        kind: RecordKind,
        field: &'static str,
        code: u8,
    },
    #[error("{kind} record field `{field}` has presence byte {byte}, expected 0 (absent) or 1 (present)")]
    Presence {
        kind: RecordKind,
        field: &'static str,
        byte: u8,
    },
    #[error("{kind} record field `{field}` is absent but its value byte is {byte}, expected 0")]
    AbsentNotZero {
        kind: RecordKind,
        field: &'static str,
        byte: u8,
    },
}

/// An operator command sent over the control link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ControlCommand {
    /// Stop deciding; keep the book and the links.
    Pause,
    /// Undo a pause.
    Resume,
    /// Graceful stop: no new decisions, flush, save, exit.
    Stop,
    /// Manual kill switch: halt entries and increases.
    Kill,
    /// Clear the manual kill switch.
    ResetKill,
}

impl ControlCommand {
    /// Every command.
    pub const ALL: [ControlCommand; 5] = [
        ControlCommand::Pause,
        ControlCommand::Resume,
        ControlCommand::Stop,
        ControlCommand::Kill,
        ControlCommand::ResetKill,
    ];

    /// The command as typed on the CLI and sent on the control socket
    /// (`pause`, `resume`, `stop`, `kill`, `reset-kill`).
    pub const fn as_str(self) -> &'static str {
        match self {
            ControlCommand::Pause => "pause",
            ControlCommand::Resume => "resume",
            ControlCommand::Stop => "stop",
            ControlCommand::Kill => "kill",
            ControlCommand::ResetKill => "reset-kill",
        }
    }

    /// The command named exactly by `text` (one of [`ControlCommand::as_str`]).
    /// Runs on the control link, not the engine thread: the error owns a copy
    /// of the text.
    pub fn parse(text: &str) -> Result<ControlCommand, UnknownControlCommand> {
        ControlCommand::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| UnknownControlCommand {
                text: text.to_owned(),
            })
    }
}

impl fmt::Display for ControlCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ControlCommand {
    type Err = UnknownControlCommand;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ControlCommand::parse(s)
    }
}

/// A control command that is not one of [`ControlCommand::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown control command {text:?}: expected pause, resume, stop, kill or reset-kill")]
pub struct UnknownControlCommand {
    pub text: String,
}

/// One table per enum: `to` is exhaustive (a new variant does not compile
/// until it has a code), `from` inverts it (a duplicate code is an
/// unreachable pattern, which `-D warnings` rejects).
macro_rules! code_table {
    ($to:ident, $from:ident, $ty:ident { $($variant:ident => $code:literal,)* }) => {
        const fn $to(v: $ty) -> u8 {
            match v { $($ty::$variant => $code,)* }
        }
        const fn $from(code: u8) -> Option<$ty> {
            match code { $($code => Some($ty::$variant),)* _ => None }
        }
    };
}

code_table!(side_code, side_from, Side { Buy => 1, Sell => 2, });
code_table!(decision_code, decision_from, Decision { Trade => 1, Hold => 2, Blocked => 3, });
code_table!(state_code, state_from, TradingState {
    Active => 1, Reducing => 2, Halted => 3, Paused => 4,
});
code_table!(command_code, command_from, ControlCommand {
    Pause => 1, Resume => 2, Stop => 3, Kill => 4, ResetKill => 5,
});
code_table!(reason_code, reason_from, Reason {
    AboveThreshold => 1,
    PeakExit => 2,
    ValleyExit => 3,
    AlphaExit => 4,
    NoQuote => 5,
    InvalidSpread => 6,
    SpreadTooWide => 7,
    QuoteStale => 8,
    InsufficientHistory => 9,
    NoAlphas => 10,
    BelowThreshold => 11,
    NoSignal => 12,
    NoTradeBand => 13,
    ZeroShares => 14,
    Cooldown => 15,
    Error => 16,
    BarrierPeakBlock => 17,
    BarrierValleyBlock => 18,
    KillSwitch => 19,
    PositionLimit => 20,
    GrossExposure => 21,
    OrderRejected => 22,
    SpreadOk => 23,
    NormalEntry => 24,
    ValleyBounce => 25,
    PeakRejection => 26,
    NoBarrierModel => 27,
    HoldPosition => 28,
    Flat => 29,
    AllChecks => 30,
    ModelDemoted => 31,
    DailyLoss => 32,
    Drawdown => 33,
    ManualKill => 34,
    NonPositiveEquity => 35,
    KillSwitchTriggered => 36,
    KillSwitchCleared => 37,
    Paused => 38,
    GrossExposureWarning => 39,
    InsufficientFunds => 40,
    InsufficientMargin => 41,
    InvalidSide => 42,
    InvalidQuantity => 43,
    ConfigError => 44,
    InvalidHorizon => 45,
    FeedStale => 46,
    BrokerDown => 47,
    OrderPending => 48,
    OutsideTradingHours => 49,
    OrderCancelled => 50,
    BrokerRejected => 51,
});

/// The bits every NaN is written as.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Writes fixed-width little-endian fields into the payload buffer.
struct Enc<'a> {
    buf: &'a mut [u8; MAX_PAYLOAD],
    pos: usize,
}

impl Enc<'_> {
    #[inline]
    fn put<const N: usize>(&mut self, bytes: [u8; N]) {
        // Every layout fits MAX_PAYLOAD (checked at compile time), so the
        // slot always exists; `get_mut` keeps this free of panics anyway.
        if let Some(slot) = self.buf.get_mut(self.pos..self.pos + N) {
            slot.copy_from_slice(&bytes);
        }
        self.pos += N;
    }
    #[inline]
    fn u8(&mut self, v: u8) {
        self.put([v]);
    }
    #[inline]
    fn u16(&mut self, v: u16) {
        self.put(v.to_le_bytes());
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        self.put(v.to_le_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.put(v.to_le_bytes());
    }
    #[inline]
    fn f64(&mut self, v: f64) {
        let bits = if v.is_nan() {
            CANONICAL_NAN
        } else {
            v.to_bits()
        };
        self.u64(bits);
    }
    #[inline]
    fn opt(&mut self, v: Option<u8>) {
        match v {
            Some(b) => self.put([1, b]),
            None => self.put([0, 0]),
        }
    }
}

/// Reads fixed-width little-endian fields from a payload of checked length.
struct Dec<'a> {
    bytes: &'a [u8],
    pos: usize,
    kind: RecordKind,
}

impl Dec<'_> {
    #[inline]
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let end = self.pos + N;
        let got = self
            .bytes
            .get(self.pos..end)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(RecordError::Length {
                kind: self.kind,
                expected: self.kind.payload_len(),
                found: self.bytes.len(),
            })?;
        self.pos = end;
        Ok(got)
    }
    #[inline]
    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.take::<1>()?[0])
    }
    #[inline]
    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    #[inline]
    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    #[inline]
    fn i64(&mut self) -> Result<i64, RecordError> {
        Ok(i64::from_le_bytes(self.take()?))
    }
    #[inline]
    fn f64(&mut self) -> Result<f64, RecordError> {
        Ok(f64::from_bits(self.u64()?))
    }
    #[inline]
    fn nanos(&mut self) -> Result<Nanos, RecordError> {
        Ok(Nanos(self.u64()?))
    }
    #[inline]
    fn code<T>(
        &mut self,
        field: &'static str,
        from: fn(u8) -> Option<T>,
    ) -> Result<T, RecordError> {
        let code = self.u8()?;
        from(code).ok_or(RecordError::UnknownCode {
            kind: self.kind,
            field,
            code,
        })
    }
    #[inline]
    fn opt<T>(
        &mut self,
        field: &'static str,
        from: fn(u8) -> Option<T>,
    ) -> Result<Option<T>, RecordError> {
        let [presence, byte] = self.take::<2>()?;
        match presence {
            0 if byte == 0 => Ok(None),
            0 => Err(RecordError::AbsentNotZero {
                kind: self.kind,
                field,
                byte,
            }),
            1 => from(byte).map(Some).ok_or(RecordError::UnknownCode {
                kind: self.kind,
                field,
                code: byte,
            }),
            _ => Err(RecordError::Presence {
                kind: self.kind,
                field,
                byte: presence,
            }),
        }
    }
}

fn horizon_from(b: u8) -> Option<HorizonId> {
    Some(HorizonId(b))
}

impl JournalRecord {
    /// The kind byte written before the payload.
    pub const fn kind(&self) -> RecordKind {
        match self {
            JournalRecord::Decision { .. } => RecordKind::Decision,
            JournalRecord::Order { .. } => RecordKind::Order,
            JournalRecord::Ack { .. } => RecordKind::Ack,
            JournalRecord::Fill { .. } => RecordKind::Fill,
            JournalRecord::Reject { .. } => RecordKind::Reject,
            JournalRecord::Kill { .. } => RecordKind::Kill,
            JournalRecord::Control { .. } => RecordKind::Control,
            JournalRecord::Cycle { .. } => RecordKind::Cycle,
        }
    }

    /// The event time of the record.
    pub const fn time(&self) -> Nanos {
        match *self {
            JournalRecord::Decision { time, .. }
            | JournalRecord::Order { time, .. }
            | JournalRecord::Ack { time, .. }
            | JournalRecord::Fill { time, .. }
            | JournalRecord::Reject { time, .. }
            | JournalRecord::Kill { time, .. }
            | JournalRecord::Control { time, .. }
            | JournalRecord::Cycle { time, .. } => time,
        }
    }

    /// Write the payload into `buf` and return its length
    /// (`self.kind().payload_len()`).
    pub fn encode(&self, buf: &mut [u8; MAX_PAYLOAD]) -> usize {
        let mut e = Enc { buf, pos: 0 };
        match *self {
            JournalRecord::Decision {
                cycle,
                time,
                symbol,
                decision,
                reason,
                horizon,
                side,
                shares,
                alpha,
                target_weight,
                proposed_weight,
            } => {
                e.u64(cycle);
                e.u64(time.0);
                e.u16(symbol.0);
                e.u8(decision_code(decision));
                e.u8(reason_code(reason));
                e.opt(horizon.map(|h| h.0));
                e.opt(side.map(side_code));
                e.i64(shares.0);
                e.f64(alpha);
                e.f64(target_weight);
                e.f64(proposed_weight);
            }
            JournalRecord::Order {
                client_order_id,
                cycle,
                time,
                symbol,
                side,
                qty,
                price,
                horizon,
            } => {
                e.u64(client_order_id);
                e.u64(cycle);
                e.u64(time.0);
                e.u16(symbol.0);
                e.u8(side_code(side));
                e.i64(qty.0);
                e.f64(price);
                e.opt(horizon.map(|h| h.0));
            }
            JournalRecord::Ack {
                client_order_id,
                broker_order_id,
                time,
            } => {
                e.u64(client_order_id);
                e.u64(broker_order_id);
                e.u64(time.0);
            }
            JournalRecord::Fill {
                client_order_id,
                broker_order_id,
                time,
                symbol,
                side,
                qty,
                price,
                fee,
            } => {
                e.u64(client_order_id);
                e.u64(broker_order_id);
                e.u64(time.0);
                e.u16(symbol.0);
                e.u8(side_code(side));
                e.i64(qty.0);
                e.f64(price);
                e.f64(fee);
            }
            JournalRecord::Reject {
                client_order_id,
                time,
                symbol,
                reason,
            } => {
                e.u64(client_order_id);
                e.u64(time.0);
                e.u16(symbol.0);
                e.u8(reason_code(reason));
            }
            JournalRecord::Kill {
                time,
                state,
                reason,
            } => {
                e.u64(time.0);
                e.u8(state_code(state));
                e.opt(reason.map(reason_code));
            }
            JournalRecord::Control { time, command } => {
                e.u64(time.0);
                e.u8(command_code(command));
            }
            JournalRecord::Cycle {
                cycle,
                time,
                cash,
                portfolio_value,
                state,
            } => {
                e.u64(cycle);
                e.u64(time.0);
                e.f64(cash);
                e.f64(portfolio_value);
                e.u8(state_code(state));
            }
        }
        e.pos
    }

    /// Decode a payload written by [`JournalRecord::encode`] for the kind
    /// with code `kind`. Any other bytes give a [`RecordError`].
    pub fn decode(kind: u8, payload: &[u8]) -> Result<JournalRecord, RecordError> {
        let kind = RecordKind::from_code(kind).ok_or(RecordError::UnknownKind { kind })?;
        if payload.len() != kind.payload_len() {
            return Err(RecordError::Length {
                kind,
                expected: kind.payload_len(),
                found: payload.len(),
            });
        }
        let mut d = Dec {
            bytes: payload,
            pos: 0,
            kind,
        };
        let rec = match kind {
            RecordKind::Decision => JournalRecord::Decision {
                cycle: d.u64()?,
                time: d.nanos()?,
                symbol: SymbolId(d.u16()?),
                decision: d.code("decision", decision_from)?,
                reason: d.code("reason", reason_from)?,
                horizon: d.opt("horizon", horizon_from)?,
                side: d.opt("side", side_from)?,
                shares: Qty(d.i64()?),
                alpha: d.f64()?,
                target_weight: d.f64()?,
                proposed_weight: d.f64()?,
            },
            RecordKind::Order => JournalRecord::Order {
                client_order_id: d.u64()?,
                cycle: d.u64()?,
                time: d.nanos()?,
                symbol: SymbolId(d.u16()?),
                side: d.code("side", side_from)?,
                qty: Qty(d.i64()?),
                price: d.f64()?,
                horizon: d.opt("horizon", horizon_from)?,
            },
            RecordKind::Ack => JournalRecord::Ack {
                client_order_id: d.u64()?,
                broker_order_id: d.u64()?,
                time: d.nanos()?,
            },
            RecordKind::Fill => JournalRecord::Fill {
                client_order_id: d.u64()?,
                broker_order_id: d.u64()?,
                time: d.nanos()?,
                symbol: SymbolId(d.u16()?),
                side: d.code("side", side_from)?,
                qty: Qty(d.i64()?),
                price: d.f64()?,
                fee: d.f64()?,
            },
            RecordKind::Reject => JournalRecord::Reject {
                client_order_id: d.u64()?,
                time: d.nanos()?,
                symbol: SymbolId(d.u16()?),
                reason: d.code("reason", reason_from)?,
            },
            RecordKind::Kill => JournalRecord::Kill {
                time: d.nanos()?,
                state: d.code("state", state_from)?,
                reason: d.opt("reason", reason_from)?,
            },
            RecordKind::Control => JournalRecord::Control {
                time: d.nanos()?,
                command: d.code("command", command_from)?,
            },
            RecordKind::Cycle => JournalRecord::Cycle {
                cycle: d.u64()?,
                time: d.nanos()?,
                cash: d.f64()?,
                portfolio_value: d.f64()?,
                state: d.code("state", state_from)?,
            },
        };
        Ok(rec)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;

    /// Round trip through the codec, compared as payload bytes (NaN != NaN).
    fn round_trip(rec: JournalRecord) -> JournalRecord {
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = rec.encode(&mut buf);
        assert_eq!(n, rec.kind().payload_len(), "{rec:?}");
        let back = JournalRecord::decode(rec.kind().code(), &buf[..n]).unwrap();
        let mut again = [0u8; MAX_PAYLOAD];
        let m = back.encode(&mut again);
        assert_eq!(buf[..n], again[..m], "{rec:?}");
        back
    }

    fn samples() -> Vec<JournalRecord> {
        vec![
            JournalRecord::Decision {
                cycle: 7,
                time: Nanos(1_709_303_460_000_000_000),
                symbol: SymbolId(3),
                decision: Decision::Trade,
                reason: Reason::AboveThreshold,
                horizon: Some(HorizonId(2)),
                side: Some(Side::Buy),
                shares: Qty(12),
                alpha: 0.0123,
                target_weight: 0.05,
                proposed_weight: 0.07,
            },
            JournalRecord::Decision {
                cycle: u64::MAX,
                time: Nanos(u64::MAX),
                symbol: SymbolId(u16::MAX),
                decision: Decision::Hold,
                reason: Reason::InvalidHorizon,
                horizon: None,
                side: None,
                shares: Qty(i64::MIN),
                alpha: f64::NAN,
                target_weight: -0.0,
                proposed_weight: f64::NAN,
            },
            JournalRecord::Decision {
                cycle: 0,
                time: Nanos(0),
                symbol: SymbolId(0),
                decision: Decision::Blocked,
                reason: Reason::KillSwitch,
                horizon: Some(HorizonId(u8::MAX)),
                side: Some(Side::Sell),
                shares: Qty(i64::MAX),
                alpha: f64::NEG_INFINITY,
                target_weight: f64::MIN_POSITIVE,
                proposed_weight: f64::MAX,
            },
            JournalRecord::Order {
                client_order_id: 1,
                cycle: 2,
                time: Nanos(3),
                symbol: SymbolId(4),
                side: Side::Sell,
                qty: Qty(5),
                price: 512.34,
                horizon: Some(HorizonId(0)),
            },
            JournalRecord::Order {
                client_order_id: u64::MAX,
                cycle: u64::MAX,
                time: Nanos(u64::MAX),
                symbol: SymbolId(u16::MAX),
                side: Side::Buy,
                qty: Qty(i64::MAX),
                price: f64::INFINITY,
                horizon: None,
            },
            JournalRecord::Ack {
                client_order_id: 9,
                broker_order_id: u64::MAX,
                time: Nanos(1),
            },
            JournalRecord::Fill {
                client_order_id: 9,
                broker_order_id: 10,
                time: Nanos(11),
                symbol: SymbolId(1),
                side: Side::Buy,
                qty: Qty(12),
                price: 512.34,
                fee: 0.61,
            },
            JournalRecord::Fill {
                client_order_id: 0,
                broker_order_id: 0,
                time: Nanos(0),
                symbol: SymbolId(0),
                side: Side::Sell,
                qty: Qty(-1),
                price: f64::NAN,
                fee: -0.0,
            },
            JournalRecord::Reject {
                client_order_id: 4,
                time: Nanos(5),
                symbol: SymbolId(6),
                reason: Reason::InsufficientFunds,
            },
            JournalRecord::Kill {
                time: Nanos(8),
                state: TradingState::Halted,
                reason: Some(Reason::DailyLoss),
            },
            JournalRecord::Kill {
                time: Nanos(8),
                state: TradingState::Active,
                reason: None,
            },
            JournalRecord::Control {
                time: Nanos(9),
                command: ControlCommand::ResetKill,
            },
            JournalRecord::Cycle {
                cycle: 3,
                time: Nanos(10),
                cash: 100_000.0,
                portfolio_value: 100_012.5,
                state: TradingState::Paused,
            },
        ]
    }

    #[test]
    fn every_sample_round_trips() {
        let samples = samples();
        for kind in RecordKind::ALL {
            assert!(
                samples.iter().any(|r| r.kind() == kind),
                "no sample of {kind}"
            );
        }
        for rec in samples {
            let back = round_trip(rec);
            assert_eq!(back.kind(), rec.kind());
            assert_eq!(back.time(), rec.time());
            if let (
                JournalRecord::Decision {
                    alpha: a0,
                    proposed_weight: p0,
                    ..
                },
                JournalRecord::Decision {
                    alpha: a1,
                    proposed_weight: p1,
                    ..
                },
            ) = (rec, back)
            {
                assert_eq!(a0.is_nan(), a1.is_nan());
                assert_eq!(p0.is_nan(), p1.is_nan());
            }
            let has_nan = format!("{rec:?}").contains("NaN");
            if !has_nan {
                assert_eq!(back, rec);
            }
        }
    }

    #[test]
    fn every_enum_value_round_trips() {
        for &reason in Reason::ALL {
            for state in [
                TradingState::Active,
                TradingState::Reducing,
                TradingState::Halted,
                TradingState::Paused,
            ] {
                let rec = JournalRecord::Kill {
                    time: Nanos(1),
                    state,
                    reason: Some(reason),
                };
                assert_eq!(round_trip(rec), rec);
            }
            for decision in [Decision::Trade, Decision::Hold, Decision::Blocked] {
                let rec = JournalRecord::Decision {
                    cycle: 1,
                    time: Nanos(2),
                    symbol: SymbolId(3),
                    decision,
                    reason,
                    horizon: None,
                    side: Some(Side::Sell),
                    shares: Qty(0),
                    alpha: 0.0,
                    target_weight: 0.0,
                    proposed_weight: 0.0,
                };
                assert_eq!(round_trip(rec), rec);
            }
        }
        for command in ControlCommand::ALL {
            let rec = JournalRecord::Control {
                time: Nanos(1),
                command,
            };
            assert_eq!(round_trip(rec), rec);
        }
    }

    #[test]
    fn codes_are_unique_and_invert() {
        let mut seen = [false; 256];
        for &r in Reason::ALL {
            let c = reason_code(r);
            assert_ne!(c, 0, "{r}");
            assert!(!seen[usize::from(c)], "duplicate code {c}");
            seen[usize::from(c)] = true;
            assert_eq!(reason_from(c), Some(r));
        }
        for c in 0..=u8::MAX {
            if let Some(r) = reason_from(c) {
                assert_eq!(reason_code(r), c);
            }
            if let Some(k) = RecordKind::from_code(c) {
                assert_eq!(k.code(), c);
            }
            if let Some(s) = side_from(c) {
                assert_eq!(side_code(s), c);
            }
            if let Some(d) = decision_from(c) {
                assert_eq!(decision_code(d), c);
            }
            if let Some(s) = state_from(c) {
                assert_eq!(state_code(s), c);
            }
            if let Some(k) = command_from(c) {
                assert_eq!(command_code(k), c);
            }
        }
        assert_eq!(reason_from(0), None);
    }

    #[test]
    fn nan_is_written_canonically() {
        let make = |alpha: f64| JournalRecord::Decision {
            cycle: 1,
            time: Nanos(1),
            symbol: SymbolId(0),
            decision: Decision::Hold,
            reason: Reason::NoAlphas,
            horizon: None,
            side: None,
            shares: Qty(0),
            alpha,
            target_weight: 0.0,
            proposed_weight: 0.0,
        };
        let other_nan = f64::from_bits(0xfff8_0000_0000_0001);
        assert!(other_nan.is_nan());
        let (mut a, mut b) = ([0u8; MAX_PAYLOAD], [0u8; MAX_PAYLOAD]);
        let n = make(f64::NAN).encode(&mut a);
        let m = make(other_nan).encode(&mut b);
        assert_eq!(a[..n], b[..m]);
    }

    #[test]
    fn bad_payloads_are_errors() {
        let rec = JournalRecord::Kill {
            time: Nanos(1),
            state: TradingState::Halted,
            reason: Some(Reason::Drawdown),
        };
        let mut buf = [0u8; MAX_PAYLOAD];
        let n = rec.encode(&mut buf);
        let kind = rec.kind().code();
        assert_eq!(
            JournalRecord::decode(0, &buf[..n]),
            Err(RecordError::UnknownKind { kind: 0 })
        );
        assert_eq!(
            JournalRecord::decode(kind, &buf[..n - 1]),
            Err(RecordError::Length {
                kind: RecordKind::Kill,
                expected: n,
                found: n - 1
            })
        );
        let mut bad = buf;
        bad[8] = 99;
        assert!(matches!(
            JournalRecord::decode(kind, &bad[..n]),
            Err(RecordError::UnknownCode {
                field: "state",
                code: 99,
                ..
            })
        ));
        let mut bad = buf;
        bad[9] = 2;
        assert!(matches!(
            JournalRecord::decode(kind, &bad[..n]),
            Err(RecordError::Presence {
                field: "reason",
                byte: 2,
                ..
            })
        ));
        let mut bad = buf;
        bad[9] = 0;
        assert!(matches!(
            JournalRecord::decode(kind, &bad[..n]),
            Err(RecordError::AbsentNotZero {
                field: "reason",
                ..
            })
        ));
        let mut bad = buf;
        bad[10] = 0;
        assert!(matches!(
            JournalRecord::decode(kind, &bad[..n]),
            Err(RecordError::UnknownCode {
                field: "reason",
                code: 0,
                ..
            })
        ));
    }

    #[test]
    fn random_bytes_never_panic() {
        // xorshift64*: deterministic, no dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut decoded = 0;
        for _ in 0..200_000 {
            let kind = (next() % 10) as u8;
            let len = (next() % (MAX_PAYLOAD as u64 + 1)) as usize;
            let mut payload = [0u8; MAX_PAYLOAD];
            for b in payload.iter_mut().take(len) {
                // Small values hit the valid codes often enough to get past
                // the first checks.
                *b = (next() % 6) as u8;
            }
            if let Ok(rec) = JournalRecord::decode(kind, &payload[..len]) {
                decoded += 1;
                let mut again = [0u8; MAX_PAYLOAD];
                let n = rec.encode(&mut again);
                assert_eq!(again[..n], payload[..len]);
            }
        }
        assert!(decoded > 0, "the generator never produced a valid payload");
    }

    #[test]
    fn control_commands_parse_their_names() {
        for c in ControlCommand::ALL {
            assert_eq!(ControlCommand::parse(c.as_str()), Ok(c));
            assert_eq!(c.as_str().parse::<ControlCommand>(), Ok(c));
        }
        let err = ControlCommand::parse("Pause").unwrap_err();
        assert_eq!(err.text, "Pause");
        assert!(err.to_string().contains("reset-kill"));
        assert!(ControlCommand::parse("reset_kill").is_err());
        assert!(ControlCommand::parse("").is_err());
    }

    #[test]
    fn record_stays_small() {
        assert!(std::mem::size_of::<JournalRecord>() <= 96);
    }
}
