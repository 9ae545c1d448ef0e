//! Market state: per-symbol quotes, bars and the estimators built on them.

pub mod bar;
pub mod quote;
pub mod state;
pub mod volatility;
pub mod window;

pub use bar::Bar;
pub use quote::Quote;
pub use state::{MarketCounters, MarketParams, MarketState, SymbolMarket};
pub use window::Window;
