//! The Alpaca v2 market-data protocol (stocks stream,
//! `wss://stream.data.alpaca.markets/v2/{iex|sip}`): decoding its JSON
//! frames into [`MarketEvent`](crate::feed::MarketEvent)s and control
//! messages. The websocket transport that feeds it lives elsewhere.
//!
//! - [`decode`]: [`AlpacaDecoder`], one frame in, messages out, counters;
//! - [`time`]: [`parse_rfc3339`], the hand-written timestamp parser.
//!
//! Runs on the feed thread. Hot path after warm-up: no allocation, no
//! blocking, no logging.

pub mod decode;
pub mod time;

pub use decode::{
    AlpacaDecoder, AlpacaError, AlpacaErrorCode, AlpacaMessage, AlpacaParams, AlpacaSetupError,
    ChannelSummary, DecodeCounters, FrameError, ShortText, SubscriptionSummary,
};
pub use time::parse_rfc3339;
