//! Volatility from bar closes (SPEC §2).
