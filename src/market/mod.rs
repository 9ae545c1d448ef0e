//! Market state: per-symbol quotes, bars and the estimators built on them.

pub mod quote;
pub mod volatility;

pub use quote::Quote;
