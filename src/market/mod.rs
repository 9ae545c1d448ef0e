//! Market state: per-symbol quotes, bars and the estimators built on them.

pub mod bar;
pub mod quote;
pub mod volatility;

pub use bar::Bar;
pub use quote::Quote;
