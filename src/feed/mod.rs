//! Market-data feeds: where the engine's quotes and bars come from.
//!
//! - [`sim`]: the deterministic market simulator (the default feed) and the
//!   training datasets written from it.

pub mod sim;
