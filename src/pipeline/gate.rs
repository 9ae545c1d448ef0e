//! Gates (SPEC §12, §13): the spread gate every symbol passes first, the
//! barrier-classifier entry gate with its probability resolution, and the
//! exit check for open positions.
//!
//! Runs on the engine thread, per symbol and decision. Hot path: no
//! allocation, no blocking, no logging. The one cold part is
//! [`BarrierResolver::new`], which maps classifier target and family names
//! to dense slots at start-up so that resolution does no string work.
//!
//! Order in a decision: [`SpreadGate::check_quote`] → volatility, models,
//! blend → [`BarrierGate::exit`] (open positions, base-horizon
//! probabilities) → arbiter → [`BarrierGate::entry`] (selected-horizon
//! probabilities from [`BarrierResolver::resolve`]).

mod barrier;
mod exit;
mod resolve;
mod spread;

pub use barrier::{BarrierGate, BarrierParams, BarrierProbs, EntryOutcome};
pub use exit::ExitOutcome;
pub use resolve::{BarrierResolution, BarrierResolver};
pub use spread::{spread_bps, Quote, QuoteMetrics, SpreadGate, SpreadGateParams, SpreadOutcome};
