//! Market state: per-symbol quotes, bars and the estimators built on them.

pub mod volatility;
