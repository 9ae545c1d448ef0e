//! Market-data feeds: where the engine's quotes and bars come from.
//!
//! - [`event`]: [`MarketEvent`], the message every feed sends the engine;
//! - [`sim`]: the deterministic market simulator (the default feed) and the
//!   training datasets written from it.

pub mod alpaca;
pub mod event;
pub mod replay;
pub mod sim;
pub mod ws;

pub use event::{BarEvent, MarketEvent, QuoteEvent, TradeEvent};
