//! The engine: the trading state and the cycle that moves it
//! ([`cycle`]), its persisted image ([`state`]).

pub mod core;
pub mod cycle;
pub mod setup;
pub mod state;

pub use self::core::{CycleSink, Engine, EngineCounters, Stopwatch};
pub use cycle::{
    Controls, CycleDecision, CycleEngine, CycleError, CycleFill, CycleParams, CycleReport,
    InlinePaper, MarketView, OrderOutcome, OrderRequest, OrderRouter,
};
