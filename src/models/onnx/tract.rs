//! The tract fallback: tract's optimised plan for graphs the native
//! lowering does not handle, with its `SimpleState` and input tensor kept
//! between predictions.
//!
//! Built at start-up (cold); [`TractRunner::run`] runs on the engine thread
//! but is NOT allocation-free: tract allocates output tensors on every run.
//! No blocking, no logging.

use std::sync::Arc;

use tract_onnx::prelude::{
    tvec, DatumType, SimplePlan, SimpleState, TValue, Tensor, TractResult, TypedFact, TypedModel,
    TypedOp,
};

/// tract's runnable plan for one model.
pub type Plan = SimplePlan<TypedFact, Box<dyn TypedOp>, TypedModel>;

type State = SimpleState<TypedFact, Box<dyn TypedOp>, TypedModel, Arc<Plan>>;

/// A plan with its reusable state and `[1, n]` input tensor.
#[derive(Debug)]
pub struct TractRunner {
    state: State,
    input: Arc<Tensor>,
}

// SAFETY: `SimpleState` is not `Send` because it may hold `Rc`-based
// `TValue`s, op states and a type map with no `Send` bound, all created and
// owned by the state itself (tract's own scratch space is `Send`). `run`
// passes the input as an `Arc` (`Send`), clears the state's reference to it
// afterwards, and drops every output value (the `Rc` clones tract hands out)
// before returning; tract's `reset_turn` drops the state's own clones at the
// end of each run, and after a failed run they stay inside the state. So no
// `Rc` clone, borrow or reference ever lives outside this struct, and moving
// it whole to another thread moves every owner of each allocation together.
// The struct is neither `Clone` nor `Sync`, is used by one thread at a time
// (`&mut self`), and holds no pointer into thread-local storage.
unsafe impl Send for TractRunner {}

impl TractRunner {
    /// A state over `plan` for rows of `n` values. Cold.
    pub fn new(plan: Arc<Plan>, n: usize) -> TractResult<TractRunner> {
        Ok(TractRunner {
            state: SimpleState::new(plan)?,
            input: Arc::new(Tensor::zero::<f32>(&[1, n])?),
        })
    }

    /// Runs one row (its length is the caller's to check) and returns the
    /// single output value. Allocates (tract's outputs).
    pub fn run(&mut self, row: &[f32]) -> TractResult<f64> {
        // Unique again since the last run cleared the state's clone.
        let input = Arc::make_mut(&mut self.input);
        for (dst, src) in input.as_slice_mut::<f32>()?.iter_mut().zip(row) {
            *dst = *src;
        }
        let outputs = self
            .state
            .run(tvec![TValue::from_const(Arc::clone(&self.input))]);
        self.state.session_state.inputs.clear();
        let outputs = outputs?;
        let value = match outputs.first() {
            Some(t) => first_value(t)?,
            None => f64::NAN,
        };
        drop(outputs);
        Ok(value)
    }
}

/// The first element of a float tensor, widened.
pub fn first_value(t: &Tensor) -> TractResult<f64> {
    Ok(match t.datum_type() {
        DatumType::F32 => t
            .as_slice::<f32>()?
            .first()
            .map_or(f64::NAN, |v| f64::from(*v)),
        DatumType::F64 => t.as_slice::<f64>()?.first().copied().unwrap_or(f64::NAN),
        _ => t
            .cast_to::<f64>()?
            .as_slice::<f64>()?
            .first()
            .copied()
            .unwrap_or(f64::NAN),
    })
}
