//! The deterministic market simulator: the engine's default feed and the
//! source of the sample run's training data.
//!
//! - [`params`]: [`SimParams`] (seed, universe, calendar, bar grid,
//!   dynamics) and its validation;
//! - [`market`]: [`MarketSim`], a pure seeded generator of [`SimEvent`]s
//!   (quotes and the bars they make, in time order) that the feed thread
//!   drives without allocating;
//! - [`dataset`]: the training CSV (`live-trading sim dataset`): the
//!   engine's own incremental features per bar plus forward-return and
//!   barrier targets.

pub mod dataset;
pub mod market;
pub mod params;
mod rng;

pub use market::{MarketSim, SimEvent};
pub use params::{default_universe, universe_for, SimError, SimParams, SimSymbol};
