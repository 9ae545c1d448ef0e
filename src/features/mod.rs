//! Features computed from bars (SPEC §3).
//!
//! [`kind`] parses a model's feature names into [`Feature`] once at start-up
//! (unknown names become [`Feature::Unknown`], always NaN); [`batch`] is the
//! reference computation over a whole OHLCV frame, cold path. The engine's
//! incremental per-bar computation must match [`batch`] to 1e-9.

pub mod batch;
pub mod incremental;
pub mod kind;

pub use batch::{compute, compute_all, to_f32, BarFrame, FrameError};
pub use incremental::{
    FeatureSet, FeatureSetError, FeatureState, ModelFeatures, RowStatus, MAX_FEATURES,
    MAX_HISTORY_BARS, MAX_PERIOD,
};
pub use kind::Feature;
