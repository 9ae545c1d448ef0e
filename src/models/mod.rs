//! Models: run artifacts on disk, their metadata and checksums, and the
//! back-ends that predict one row each (SPEC §4, DESIGN §5).
//!
//! Loading is cold (start-up); [`Predictor::predict`] runs on the engine
//! thread and allocates nothing.

pub mod artifact;
pub mod backend;
pub mod lightgbm;
pub mod ltw;
pub mod meta;
pub mod onnx;
pub mod predict;
pub mod tree;

/// One loaded model that predicts one row of features.
///
/// `row` holds the model's features in its own `feature_list` order, cast
/// to `f32` as SPEC §3 requires. Implementations reuse preallocated state:
/// no allocation, no I/O, no panics on any input.
pub trait Predictor: Send {
    /// Number of input features the model expects.
    fn n_features(&self) -> usize;

    /// The model's raw output for one row: a return forecast for return
    /// models, a probability for barrier classifiers. `None` when the row
    /// has the wrong length; a non-finite result is returned as is (the
    /// predict stage drops it).
    fn predict(&mut self, row: &[f32]) -> Option<f64>;
}
