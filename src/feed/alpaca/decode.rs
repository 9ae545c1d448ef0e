//! The Alpaca v2 market-data frame decoder: one websocket text frame (a
//! JSON array of `{"T": …}` objects) in, [`AlpacaMessage`]s out through a
//! caller-supplied sink, with every skipped object counted in
//! [`DecodeCounters`].
//!
//! Runs on the feed thread, once per received frame. Hot path after
//! warm-up: no allocation, no blocking, no logging. The decoder is built
//! cold ([`AlpacaDecoder::new`]) from the symbol list; each frame is copied
//! into a reused scratch buffer (simd-json parses in place) and parsed into
//! a reused tape with reused [`simd_json::Buffers`]; the tape is walked
//! directly (no maps, no strings). Buffers grow only when a frame is larger
//! than every frame before it.
//!
//! # What is delivered
//!
//! | `T` | becomes |
//! |---|---|
//! | `q` | [`MarketEvent::Quote`]: `bp`/`ap` bid/ask, `bs`/`as` sizes as sent (round lots on the wire), `t` exchange time |
//! | `t` | [`MarketEvent::Trade`]: `p` price, `s` size, `t` exchange time |
//! | `b` | [`MarketEvent::Bar`]: `o h l c v`; `t` is the bar **start**, so `Bar.end = t + bar_len` |
//! | `success` | [`AlpacaMessage::Connected`] / [`AlpacaMessage::Authenticated`] by `msg` |
//! | `subscription` | [`AlpacaMessage::Subscription`] ([`SubscriptionSummary`]) |
//! | `error` | [`AlpacaMessage::Error`] (`code`, `msg` truncated to [`ShortText::CAPACITY`] bytes) |
//!
//! Other fields (`x`, `z`, `c` conditions, `i`, `vw`, `n`, …) are ignored;
//! key order does not matter; when a key repeats, the last one wins.
//!
//! # What is skipped, and counted
//!
//! - **Frame-level faults spoil the whole frame** (nothing delivered,
//!   `malformed_frames`): not valid JSON (simd-json rejects bad UTF-8,
//!   numbers that overflow `f64` such as `1e400`, nesting deeper than
//!   1024), a root that is not an array, or a frame longer than
//!   [`AlpacaParams::max_frame_len`] (also `oversized`).
//! - **Object-level faults spoil only that object**; the rest of the batch
//!   is delivered in order (`malformed_objects`): an element that is not an
//!   object, a missing or non-string `T`, a required field missing or of the
//!   wrong JSON type (a price given as a string, a symbol given as a number),
//!   a timestamp that [`parse_rfc3339`] rejects, a bar whose end overflows.
//! - An object with a `T` this decoder does not handle (`c` corrections,
//!   `x` cancels, `l` LULD, `s` statuses, `i` imbalances, `d` daily and `u`
//!   updated bars, …) or a `success` with an unknown `msg` → `unknown`.
//! - A data object whose `S` is not in the symbol list → `unknown_symbol`.
//!
//! Numbers are delivered as parsed: JSON cannot spell NaN or infinity (a
//! literal beyond `f64`, `1e400`, makes the frame invalid; an integer
//! beyond 64 bits is read as a float: a number where a number is wanted, a
//! malformed object where an integer is, the error `code`), and
//! negative, zero or crossed prices pass through (the engine holds on
//! crossed and NaN quotes; the decoder does not second-guess the feed).
//! Integers and decimals are both accepted wherever a number is required.

use simd_json::{Buffers, Node, StaticNode, Tape};

use super::time::parse_rfc3339;
use crate::feed::event::{BarEvent, MarketEvent, QuoteEvent, TradeEvent};
use crate::market::bar::Bar;
use crate::types::{Nanos, SymbolId};

/// Construction parameters of an [`AlpacaDecoder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlpacaParams {
    /// Length of a `b` bar: Alpaca stamps a bar with its start, the engine
    /// with its end (`end = start + bar_len`). Alpaca's `bars` are minute
    /// bars: 60 s.
    pub bar_len: Nanos,
    /// Frames longer than this are refused whole (`oversized`) rather than
    /// growing the scratch buffers without bound.
    pub max_frame_len: usize,
    /// Bytes of frame the scratch buffers are sized for at construction;
    /// a longer frame grows them once.
    pub frame_capacity: usize,
}

impl Default for AlpacaParams {
    fn default() -> AlpacaParams {
        AlpacaParams {
            bar_len: Nanos::from_secs(60),
            max_frame_len: 4 << 20,
            frame_capacity: 64 << 10,
        }
    }
}

/// Why an [`AlpacaDecoder`] cannot be built from a symbol list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AlpacaSetupError {
    #[error("symbol {index} is empty: every configured symbol needs a name (e.g. \"AAPL\")")]
    EmptySymbol { index: usize },
    #[error("symbol {name:?} is listed twice (ids {first} and {second}): list each symbol once")]
    DuplicateSymbol {
        name: String,
        first: usize,
        second: usize,
    },
    #[error("{len} symbols: at most 65536 fit a dense SymbolId")]
    TooManySymbols { len: usize },
    #[error("bar_len is 0 ns: an Alpaca minute bar needs a positive length (60 s)")]
    ZeroBarLen,
}

/// Why a whole frame was skipped (the per-object faults are only counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds max_frame_len {max}: raise alpaca max_frame_len or check the server")]
    TooLarge { len: usize, max: usize },
    #[error("frame is not valid JSON (simd-json stopped near byte {offset})")]
    NotJson { offset: usize },
    #[error(
        "frame is valid JSON but not an array: Alpaca sends every message as [{{\"T\":…}}, …]"
    )]
    NotArray,
}

/// Running totals of what the decoder saw, since construction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    /// Frames passed to [`AlpacaDecoder::decode`].
    pub frames: u64,
    /// Quotes, trades and bars delivered.
    pub quotes: u64,
    pub trades: u64,
    pub bars: u64,
    /// `success`, `subscription` and `error` messages delivered.
    pub control: u64,
    /// Objects skipped for an unhandled `T` (or `success` `msg`).
    pub unknown: u64,
    /// Data objects skipped for a symbol outside the list.
    pub unknown_symbol: u64,
    /// Frames skipped whole: not JSON, not an array, or oversized.
    pub malformed_frames: u64,
    /// Objects skipped for a missing or mistyped field (rest of the frame kept).
    pub malformed_objects: u64,
    /// Of `malformed_frames`, those refused for their length.
    pub oversized: u64,
}

impl DecodeCounters {
    /// All malformed input: frames skipped whole plus objects skipped alone.
    #[inline]
    pub fn malformed(&self) -> u64 {
        self.malformed_frames + self.malformed_objects
    }

    /// Market events delivered (quotes + trades + bars).
    #[inline]
    pub fn events(&self) -> u64 {
        self.quotes + self.trades + self.bars
    }
}

/// Up to [`ShortText::CAPACITY`] bytes of server text (an error's `msg`),
/// held inline so that no `String` is built per frame. Longer text is cut
/// at a character boundary and flagged [`ShortText::truncated`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortText {
    len: u8,
    truncated: bool,
    bytes: [u8; ShortText::CAPACITY],
}

impl ShortText {
    /// Bytes kept.
    pub const CAPACITY: usize = 96;

    /// The first [`Self::CAPACITY`] bytes of `s`, cut back to a character
    /// boundary.
    pub fn new(s: &str) -> ShortText {
        let mut end = s.len().min(Self::CAPACITY);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut bytes = [0u8; Self::CAPACITY];
        let kept = s.as_bytes().get(..end).unwrap_or_default();
        if let Some(dst) = bytes.get_mut(..end) {
            dst.copy_from_slice(kept);
        }
        ShortText {
            len: end as u8,
            truncated: end < s.len(),
            bytes,
        }
    }

    /// The text kept.
    #[inline]
    pub fn as_str(&self) -> &str {
        let kept = self.bytes.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(kept).unwrap_or_default()
    }

    /// Whether the server's text was longer than what is kept.
    #[inline]
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

impl std::fmt::Debug for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)?;
        if self.truncated {
            f.write_str("…")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for ShortText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The documented Alpaca stream error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AlpacaErrorCode {
    /// 400 invalid syntax (our message was not understood).
    InvalidSyntax,
    /// 401 not authenticated (subscribe before auth).
    NotAuthenticated,
    /// 402 auth failed (bad key or secret).
    AuthFailed,
    /// 403 already authenticated.
    AlreadyAuthenticated,
    /// 404 auth timeout (no auth within 10 s).
    AuthTimeout,
    /// 405 symbol limit exceeded (the old subscription is kept).
    SymbolLimitExceeded,
    /// 406 connection limit exceeded (another connection is open).
    ConnectionLimitExceeded,
    /// 407 slow client (may be followed by a disconnect).
    SlowClient,
    /// 409 insufficient subscription (plan does not cover the feed).
    InsufficientSubscription,
    /// 410 invalid subscribe action for this feed.
    InvalidSubscribeAction,
    /// 500 internal error.
    InternalError,
    /// Any other code.
    Other(u32),
}

impl AlpacaErrorCode {
    /// The code's meaning.
    pub const fn from_code(code: u32) -> AlpacaErrorCode {
        match code {
            400 => AlpacaErrorCode::InvalidSyntax,
            401 => AlpacaErrorCode::NotAuthenticated,
            402 => AlpacaErrorCode::AuthFailed,
            403 => AlpacaErrorCode::AlreadyAuthenticated,
            404 => AlpacaErrorCode::AuthTimeout,
            405 => AlpacaErrorCode::SymbolLimitExceeded,
            406 => AlpacaErrorCode::ConnectionLimitExceeded,
            407 => AlpacaErrorCode::SlowClient,
            409 => AlpacaErrorCode::InsufficientSubscription,
            410 => AlpacaErrorCode::InvalidSubscribeAction,
            500 => AlpacaErrorCode::InternalError,
            other => AlpacaErrorCode::Other(other),
        }
    }

    /// The numeric code as sent.
    pub const fn code(self) -> u32 {
        match self {
            AlpacaErrorCode::InvalidSyntax => 400,
            AlpacaErrorCode::NotAuthenticated => 401,
            AlpacaErrorCode::AuthFailed => 402,
            AlpacaErrorCode::AlreadyAuthenticated => 403,
            AlpacaErrorCode::AuthTimeout => 404,
            AlpacaErrorCode::SymbolLimitExceeded => 405,
            AlpacaErrorCode::ConnectionLimitExceeded => 406,
            AlpacaErrorCode::SlowClient => 407,
            AlpacaErrorCode::InsufficientSubscription => 409,
            AlpacaErrorCode::InvalidSubscribeAction => 410,
            AlpacaErrorCode::InternalError => 500,
            AlpacaErrorCode::Other(code) => code,
        }
    }
}

/// An `{"T":"error"}` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlpacaError {
    pub code: AlpacaErrorCode,
    /// The server's `msg` (empty when absent).
    pub msg: ShortText,
}

/// One channel of a `subscription` reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelSummary {
    /// Entries listed (including `"*"`).
    pub listed: u32,
    /// Entries that are symbols of the decoder's list (a repeated symbol
    /// counts each time).
    pub known: u32,
    /// Whether `"*"` (every symbol) is listed.
    pub wildcard: bool,
}

impl ChannelSummary {
    /// Whether the channel covers all `n` symbols of the list (a wildcard,
    /// or at least `n` known entries: the server never repeats a symbol).
    #[inline]
    pub fn covers(&self, n: usize) -> bool {
        self.wildcard || self.known as usize >= n
    }
}

/// A `subscription` reply: the full current set, channel by channel.
/// `trades`, `quotes` and `bars` are required; the others are zero when
/// absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubscriptionSummary {
    pub trades: ChannelSummary,
    pub quotes: ChannelSummary,
    pub bars: ChannelSummary,
    pub updated_bars: ChannelSummary,
    pub daily_bars: ChannelSummary,
    pub statuses: ChannelSummary,
    pub lulds: ChannelSummary,
    pub corrections: ChannelSummary,
    pub cancel_errors: ChannelSummary,
}

/// What one object of a frame decodes to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AlpacaMessage {
    /// A quote, trade or bar for a listed symbol.
    Event(MarketEvent),
    /// `{"T":"success","msg":"connected"}`.
    Connected,
    /// `{"T":"success","msg":"authenticated"}`.
    Authenticated,
    /// `{"T":"subscription",…}`.
    Subscription(SubscriptionSummary),
    /// `{"T":"error","code":…,"msg":…}`.
    Error(AlpacaError),
}

/// Symbol names (as bytes) sorted byte-wise, with their ids: looked up by
/// binary search, without allocating.
#[derive(Clone, Debug)]
struct SymbolTable {
    sorted: Box<[(Box<[u8]>, SymbolId)]>,
}

impl SymbolTable {
    fn new<S: AsRef<str>>(names: &[S]) -> Result<SymbolTable, AlpacaSetupError> {
        if names.len() > usize::from(u16::MAX) + 1 {
            return Err(AlpacaSetupError::TooManySymbols { len: names.len() });
        }
        let mut sorted: Vec<(Box<[u8]>, SymbolId)> = Vec::with_capacity(names.len());
        for (index, name) in names.iter().enumerate() {
            let name = name.as_ref();
            if name.is_empty() {
                return Err(AlpacaSetupError::EmptySymbol { index });
            }
            sorted.push((name.as_bytes().into(), SymbolId(index as u16)));
        }
        sorted.sort();
        for pair in sorted.windows(2) {
            if let [(a, first), (b, second)] = pair {
                if a == b {
                    return Err(AlpacaSetupError::DuplicateSymbol {
                        name: String::from_utf8_lossy(a).into_owned(),
                        first: first.index(),
                        second: second.index(),
                    });
                }
            }
        }
        Ok(SymbolTable {
            sorted: sorted.into_boxed_slice(),
        })
    }

    #[inline]
    fn get(&self, name: &[u8]) -> Option<SymbolId> {
        self.sorted
            .binary_search_by(|(n, _)| n.as_ref().cmp(name))
            .ok()
            .and_then(|i| self.sorted.get(i))
            .map(|&(_, id)| id)
    }

    fn len(&self) -> usize {
        self.sorted.len()
    }
}

/// Decodes Alpaca v2 market-data frames; see the module doc for what is
/// delivered and what is counted and skipped.
///
/// ```
/// use live_trading::feed::alpaca::{AlpacaDecoder, AlpacaMessage, AlpacaParams};
/// use live_trading::feed::MarketEvent;
/// use live_trading::types::{Nanos, SymbolId};
///
/// let mut dec = AlpacaDecoder::new(&["AAPL", "MSFT"], AlpacaParams::default()).unwrap();
/// let frame = br#"[{"T":"q","S":"MSFT","bx":"V","bp":410.5,"bs":2,"ax":"V","ap":410.6,"as":3,
///                  "c":["R"],"t":"2024-03-01T14:30:00.000000001Z","z":"C"}]"#;
/// let mut got = Vec::new();
/// let n = dec.decode(frame, Nanos(7), &mut |m| got.push(m)).unwrap();
/// assert_eq!(n, 1);
/// let AlpacaMessage::Event(MarketEvent::Quote(q)) = got[0] else { panic!() };
/// assert_eq!((q.symbol, q.bid, q.ask_size), (SymbolId(1), 410.5, 3.0));
/// assert_eq!(q.receive_time, Nanos(7));
/// assert_eq!(dec.counters().quotes, 1);
/// ```
pub struct AlpacaDecoder {
    symbols: SymbolTable,
    params: AlpacaParams,
    /// The frame copied, plus simd-json's padding; parsed in place.
    scratch: Vec<u8>,
    buffers: Buffers,
    /// The reused tape, emptied between frames (`Tape::reset` detaches it
    /// from the scratch buffer's lifetime).
    tape: Tape<'static>,
    counters: DecodeCounters,
}

impl std::fmt::Debug for AlpacaDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlpacaDecoder")
            .field("symbols", &self.symbols.len())
            .field("params", &self.params)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl AlpacaDecoder {
    /// A decoder for `symbols`, where `symbols[i]` is the symbol with id `i`
    /// (the engine's dense order, as for `SymbolOrder::from_names`). Cold:
    /// allocates the symbol table and the scratch buffers.
    pub fn new<S: AsRef<str>>(
        symbols: &[S],
        params: AlpacaParams,
    ) -> Result<AlpacaDecoder, AlpacaSetupError> {
        if params.bar_len == Nanos::ZERO {
            return Err(AlpacaSetupError::ZeroBarLen);
        }
        let symbols = SymbolTable::new(symbols)?;
        let capacity = params.frame_capacity.min(params.max_frame_len);
        Ok(AlpacaDecoder {
            symbols,
            params,
            scratch: Vec::with_capacity(capacity + simd_json::INPUT_PADDING),
            buffers: Buffers::new(capacity),
            tape: Tape(Vec::with_capacity(capacity / 8)),
            counters: DecodeCounters::default(),
        })
    }

    /// The id of a listed symbol.
    #[inline]
    pub fn symbol_id(&self, name: &[u8]) -> Option<SymbolId> {
        self.symbols.get(name)
    }

    /// Number of listed symbols.
    #[inline]
    pub fn symbol_count(&self) -> usize {
        self.symbols.len()
    }

    /// The parameters the decoder was built with.
    #[inline]
    pub fn params(&self) -> AlpacaParams {
        self.params
    }

    /// Totals since construction.
    #[inline]
    pub fn counters(&self) -> DecodeCounters {
        self.counters
    }

    /// Decodes one frame, calling `out` for each message in frame order;
    /// every market event carries `receive_time` (the stamp taken when the
    /// frame left the socket). Returns the number of messages delivered, or
    /// why the whole frame was skipped (already counted). Objects skipped
    /// inside a good frame are only counted. Never panics on any input.
    pub fn decode(
        &mut self,
        frame: &[u8],
        receive_time: Nanos,
        out: &mut impl FnMut(AlpacaMessage),
    ) -> Result<u32, FrameError> {
        self.counters.frames += 1;
        if frame.len() > self.params.max_frame_len {
            self.counters.malformed_frames += 1;
            self.counters.oversized += 1;
            return Err(FrameError::TooLarge {
                len: frame.len(),
                max: self.params.max_frame_len,
            });
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(frame);
        self.scratch
            .resize(frame.len() + simd_json::INPUT_PADDING, b' ');

        let mut tape: Tape<'_> = std::mem::replace(&mut self.tape, Tape(Vec::new())).reset();
        let parsed = simd_json::fill_tape_padded(
            &mut self.scratch,
            frame.len(),
            &mut self.buffers,
            &mut tape,
        );
        let result = match parsed {
            Err(e) => Err(FrameError::NotJson { offset: e.index() }),
            Ok(()) => {
                let mut walk = Walk {
                    symbols: &self.symbols,
                    bar_len: self.params.bar_len,
                    receive_time,
                    counters: &mut self.counters,
                    delivered: 0,
                };
                walk.frame(&tape.0, out).map(|()| walk.delivered)
            }
        };
        self.tape = tape.reset();
        if result.is_err() {
            self.counters.malformed_frames += 1;
        }
        result
    }
}

/// An object skipped for a missing or mistyped field.
struct Malformed;

/// Why an object was not delivered.
enum Skip {
    Malformed,
    Unknown,
    UnknownSymbol,
}

impl From<Malformed> for Skip {
    fn from(_: Malformed) -> Skip {
        Skip::Malformed
    }
}

/// The fields of one object the decoder reads, by key; each the tape span
/// of its value. `T` is `Key::Type`.
#[derive(Clone, Copy)]
enum Key {
    Type,
    Symbol,
    Time,
    Price,
    Size,
    BidPrice,
    BidSize,
    AskPrice,
    AskSize,
    Open,
    High,
    Low,
    Close,
    Volume,
    Msg,
    Code,
    Trades,
    Quotes,
    Bars,
    UpdatedBars,
    DailyBars,
    Statuses,
    Lulds,
    Corrections,
    CancelErrors,
}

const KEYS: usize = Key::CancelErrors as usize + 1;

impl Key {
    #[inline]
    fn of(name: &[u8]) -> Option<Key> {
        Some(match name {
            b"T" => Key::Type,
            b"S" => Key::Symbol,
            b"t" => Key::Time,
            b"p" => Key::Price,
            b"s" => Key::Size,
            b"bp" => Key::BidPrice,
            b"bs" => Key::BidSize,
            b"ap" => Key::AskPrice,
            b"as" => Key::AskSize,
            b"o" => Key::Open,
            b"h" => Key::High,
            b"l" => Key::Low,
            b"c" => Key::Close,
            b"v" => Key::Volume,
            b"msg" => Key::Msg,
            b"code" => Key::Code,
            b"trades" => Key::Trades,
            b"quotes" => Key::Quotes,
            b"bars" => Key::Bars,
            b"updatedBars" => Key::UpdatedBars,
            b"dailyBars" => Key::DailyBars,
            b"statuses" => Key::Statuses,
            b"lulds" => Key::Lulds,
            b"corrections" => Key::Corrections,
            b"cancelErrors" => Key::CancelErrors,
            _ => return None,
        })
    }
}

/// Number of tape nodes a value occupies, its header included.
#[inline]
fn span(node: &Node<'_>) -> usize {
    match *node {
        Node::Object { count, .. } | Node::Array { count, .. } => count.saturating_add(1),
        _ => 1,
    }
}

/// One object's values by key.
struct Fields<'t, 'i> {
    slots: [Option<&'t [Node<'i>]>; KEYS],
}

impl<'t, 'i> Fields<'t, 'i> {
    /// The values of the object whose nodes (header first) are `object`.
    fn read(object: &'t [Node<'i>], keys: usize) -> Result<Fields<'t, 'i>, Malformed> {
        let mut slots = [None; KEYS];
        let mut at = 1usize;
        for _ in 0..keys {
            let Some(Node::String(name)) = object.get(at) else {
                return Err(Malformed);
            };
            let value_at = at + 1;
            let value = object.get(value_at).ok_or(Malformed)?;
            let end = value_at.saturating_add(span(value));
            let value = object.get(value_at..end).ok_or(Malformed)?;
            if let Some(key) = Key::of(name.as_bytes()) {
                if let Some(slot) = slots.get_mut(key as usize) {
                    *slot = Some(value);
                }
            }
            at = end;
        }
        Ok(Fields { slots })
    }

    #[inline]
    fn get(&self, key: Key) -> Option<&'t [Node<'i>]> {
        self.slots.get(key as usize).copied().flatten()
    }

    /// A required string field.
    #[inline]
    fn str(&self, key: Key) -> Result<&'i str, Malformed> {
        match self.get(key).and_then(<[Node<'i>]>::first) {
            Some(Node::String(s)) => Ok(s),
            _ => Err(Malformed),
        }
    }

    /// A required number field (integer or decimal).
    #[inline]
    fn num(&self, key: Key) -> Result<f64, Malformed> {
        match self.get(key).and_then(<[Node<'i>]>::first) {
            Some(Node::Static(StaticNode::F64(x))) => Ok(*x),
            Some(Node::Static(StaticNode::I64(x))) => Ok(*x as f64),
            Some(Node::Static(StaticNode::U64(x))) => Ok(*x as f64),
            _ => Err(Malformed),
        }
    }

    /// A required RFC 3339 timestamp field.
    #[inline]
    fn time(&self, key: Key) -> Result<Nanos, Malformed> {
        parse_rfc3339(self.str(key)?.as_bytes()).ok_or(Malformed)
    }
}

/// The state of one frame's decoding.
struct Walk<'a> {
    symbols: &'a SymbolTable,
    bar_len: Nanos,
    receive_time: Nanos,
    counters: &'a mut DecodeCounters,
    delivered: u32,
}

impl Walk<'_> {
    /// The root array, element by element; one bad element skips itself.
    fn frame(
        &mut self,
        tape: &[Node<'_>],
        out: &mut impl FnMut(AlpacaMessage),
    ) -> Result<(), FrameError> {
        let Some(&Node::Array { len, .. }) = tape.first() else {
            return Err(FrameError::NotArray);
        };
        let mut at = 1usize;
        for _ in 0..len {
            let Some(node) = tape.get(at) else {
                break;
            };
            let end = at.saturating_add(span(node));
            let element = tape.get(at..end).unwrap_or_default();
            at = end;
            let outcome = match *node {
                Node::Object { len: keys, .. } => self.object(element, keys),
                _ => Err(Skip::Malformed),
            };
            match outcome {
                Ok(message) => {
                    self.delivered += 1;
                    out(message);
                }
                Err(Skip::Malformed) => self.counters.malformed_objects += 1,
                Err(Skip::Unknown) => self.counters.unknown += 1,
                Err(Skip::UnknownSymbol) => self.counters.unknown_symbol += 1,
            }
        }
        Ok(())
    }

    fn object(&mut self, object: &[Node<'_>], keys: usize) -> Result<AlpacaMessage, Skip> {
        let f = Fields::read(object, keys)?;
        let message = match f.str(Key::Type)?.as_bytes() {
            b"q" => {
                let symbol = self.symbol(&f)?;
                let quote = QuoteEvent {
                    symbol,
                    bid: f.num(Key::BidPrice)?,
                    ask: f.num(Key::AskPrice)?,
                    bid_size: f.num(Key::BidSize)?,
                    ask_size: f.num(Key::AskSize)?,
                    exchange_time: f.time(Key::Time)?,
                    receive_time: self.receive_time,
                };
                self.counters.quotes += 1;
                AlpacaMessage::Event(MarketEvent::Quote(quote))
            }
            b"t" => {
                let symbol = self.symbol(&f)?;
                let trade = TradeEvent {
                    symbol,
                    price: f.num(Key::Price)?,
                    size: f.num(Key::Size)?,
                    exchange_time: f.time(Key::Time)?,
                    receive_time: self.receive_time,
                };
                self.counters.trades += 1;
                AlpacaMessage::Event(MarketEvent::Trade(trade))
            }
            b"b" => {
                let symbol = self.symbol(&f)?;
                let start = f.time(Key::Time)?;
                let end = start.0.checked_add(self.bar_len.0).ok_or(Malformed)?;
                let bar = Bar {
                    end: Nanos(end),
                    open: f.num(Key::Open)?,
                    high: f.num(Key::High)?,
                    low: f.num(Key::Low)?,
                    close: f.num(Key::Close)?,
                    volume: f.num(Key::Volume)?,
                };
                self.counters.bars += 1;
                AlpacaMessage::Event(MarketEvent::Bar(BarEvent {
                    symbol,
                    bar,
                    receive_time: self.receive_time,
                }))
            }
            b"success" => {
                let message = match f.str(Key::Msg)?.as_bytes() {
                    b"connected" => AlpacaMessage::Connected,
                    b"authenticated" => AlpacaMessage::Authenticated,
                    _ => return Err(Skip::Unknown),
                };
                self.counters.control += 1;
                message
            }
            b"subscription" => {
                let summary = SubscriptionSummary {
                    trades: self.channel(f.get(Key::Trades).ok_or(Malformed)?)?,
                    quotes: self.channel(f.get(Key::Quotes).ok_or(Malformed)?)?,
                    bars: self.channel(f.get(Key::Bars).ok_or(Malformed)?)?,
                    updated_bars: self.optional_channel(&f, Key::UpdatedBars)?,
                    daily_bars: self.optional_channel(&f, Key::DailyBars)?,
                    statuses: self.optional_channel(&f, Key::Statuses)?,
                    lulds: self.optional_channel(&f, Key::Lulds)?,
                    corrections: self.optional_channel(&f, Key::Corrections)?,
                    cancel_errors: self.optional_channel(&f, Key::CancelErrors)?,
                };
                self.counters.control += 1;
                AlpacaMessage::Subscription(summary)
            }
            b"error" => {
                let code = match f.get(Key::Code).and_then(<[Node<'_>]>::first) {
                    Some(Node::Static(StaticNode::I64(c))) => u32::try_from(*c).ok(),
                    Some(Node::Static(StaticNode::U64(c))) => u32::try_from(*c).ok(),
                    _ => None,
                }
                .ok_or(Malformed)?;
                let msg = match f.get(Key::Msg) {
                    None => ShortText::new(""),
                    Some(_) => ShortText::new(f.str(Key::Msg)?),
                };
                self.counters.control += 1;
                AlpacaMessage::Error(AlpacaError {
                    code: AlpacaErrorCode::from_code(code),
                    msg,
                })
            }
            _ => return Err(Skip::Unknown),
        };
        Ok(message)
    }

    /// The listed symbol named by `S`.
    #[inline]
    fn symbol(&self, f: &Fields<'_, '_>) -> Result<SymbolId, Skip> {
        let name = f.str(Key::Symbol)?;
        self.symbols.get(name.as_bytes()).ok_or(Skip::UnknownSymbol)
    }

    /// A subscription channel: an array of strings.
    fn channel(&self, value: &[Node<'_>]) -> Result<ChannelSummary, Malformed> {
        let Some(&Node::Array { len, .. }) = value.first() else {
            return Err(Malformed);
        };
        let mut summary = ChannelSummary::default();
        for i in 0..len {
            let Some(Node::String(name)) = value.get(1 + i) else {
                return Err(Malformed);
            };
            summary.listed += 1;
            if *name == "*" {
                summary.wildcard = true;
            } else if self.symbols.get(name.as_bytes()).is_some() {
                summary.known += 1;
            }
        }
        Ok(summary)
    }

    fn optional_channel(&self, f: &Fields<'_, '_>, key: Key) -> Result<ChannelSummary, Malformed> {
        match f.get(key) {
            None => Ok(ChannelSummary::default()),
            Some(value) => self.channel(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoder() -> AlpacaDecoder {
        AlpacaDecoder::new(&["SPY", "AAPL"], AlpacaParams::default()).unwrap()
    }

    fn run(dec: &mut AlpacaDecoder, frame: &str) -> (Result<u32, FrameError>, Vec<AlpacaMessage>) {
        let mut got = Vec::new();
        let r = dec.decode(frame.as_bytes(), Nanos(99), &mut |m| got.push(m));
        (r, got)
    }

    #[test]
    fn setup_rejects_empty_duplicate_and_zero_bar() {
        let p = AlpacaParams::default();
        assert_eq!(
            AlpacaDecoder::new(&["A", ""], p).unwrap_err(),
            AlpacaSetupError::EmptySymbol { index: 1 }
        );
        assert_eq!(
            AlpacaDecoder::new(&["A", "B", "A"], p).unwrap_err(),
            AlpacaSetupError::DuplicateSymbol {
                name: "A".into(),
                first: 0,
                second: 2
            }
        );
        let zero = AlpacaParams {
            bar_len: Nanos::ZERO,
            ..p
        };
        assert_eq!(
            AlpacaDecoder::new(&["A"], zero).unwrap_err(),
            AlpacaSetupError::ZeroBarLen
        );
        let dec = AlpacaDecoder::new(&["ZZ", "A", "M"], p).unwrap();
        assert_eq!(dec.symbol_id(b"ZZ"), Some(SymbolId(0)));
        assert_eq!(dec.symbol_id(b"A"), Some(SymbolId(1)));
        assert_eq!(dec.symbol_id(b"M"), Some(SymbolId(2)));
        assert_eq!(dec.symbol_id(b"B"), None);
    }

    #[test]
    fn key_order_does_not_matter_and_last_key_wins() {
        let mut dec = decoder();
        let (r, got) = run(
            &mut dec,
            r#"[{"p":1,"t":"1970-01-01T00:00:01Z","S":"AAPL","s":5,"p":2.5,"T":"t"}]"#,
        );
        assert_eq!(r, Ok(1));
        assert_eq!(
            got,
            vec![AlpacaMessage::Event(MarketEvent::Trade(TradeEvent {
                symbol: SymbolId(1),
                price: 2.5,
                size: 5.0,
                exchange_time: Nanos(Nanos::PER_SEC),
                receive_time: Nanos(99),
            }))]
        );
    }

    #[test]
    fn one_bad_object_spoils_only_itself() {
        let mut dec = decoder();
        let (r, got) = run(
            &mut dec,
            r#"[{"T":"t","S":"SPY","p":"1.5","s":1,"t":"1970-01-01T00:00:00Z"},
                7,
                {"T":"t","S":"SPY","p":1.5,"s":1,"t":"1970-01-01T00:00:00Z"},
                {"T":"t","S":"QQQ","p":1.5,"s":1,"t":"1970-01-01T00:00:00Z"},
                {"T":"zz"},
                {"S":"SPY"}]"#,
        );
        assert_eq!(r, Ok(1));
        assert_eq!(got.len(), 1);
        let c = dec.counters();
        assert_eq!(
            (c.trades, c.malformed_objects, c.unknown_symbol, c.unknown),
            (1, 3, 1, 1)
        );
        assert_eq!(c.malformed_frames, 0);
    }

    #[test]
    fn frame_faults_spoil_the_frame() {
        let mut dec = AlpacaDecoder::new(
            &["SPY"],
            AlpacaParams {
                max_frame_len: 64,
                ..AlpacaParams::default()
            },
        )
        .unwrap();
        assert_eq!(
            run(&mut dec, r#"{"T":"success","msg":"connected"}"#).0,
            Err(FrameError::NotArray)
        );
        assert!(matches!(
            run(&mut dec, "[{").0,
            Err(FrameError::NotJson { .. })
        ));
        assert!(matches!(
            run(&mut dec, "").0,
            Err(FrameError::NotJson { .. })
        ));
        let long = ["[", &" ".repeat(100), "]"].concat();
        assert_eq!(
            run(&mut dec, &long).0,
            Err(FrameError::TooLarge { len: 102, max: 64 })
        );
        let c = dec.counters();
        assert_eq!((c.frames, c.malformed_frames, c.oversized), (4, 4, 1));
        assert_eq!(run(&mut dec, "[]").0, Ok(0));
    }

    #[test]
    fn short_text_cuts_at_a_char_boundary() {
        let s = "é".repeat(60); // 120 bytes
        let t = ShortText::new(&s);
        assert!(t.truncated());
        assert_eq!(t.as_str().len(), 96);
        assert_eq!(t.as_str(), "é".repeat(48));
        let t = ShortText::new("auth failed");
        assert!(!t.truncated());
        assert_eq!(t.as_str(), "auth failed");
    }

    #[test]
    fn error_codes_round_trip() {
        for code in [
            400, 401, 402, 403, 404, 405, 406, 407, 409, 410, 500, 408, 0,
        ] {
            assert_eq!(AlpacaErrorCode::from_code(code).code(), code);
        }
        assert_eq!(AlpacaErrorCode::from_code(408), AlpacaErrorCode::Other(408));
    }
}
