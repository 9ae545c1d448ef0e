//! The operator commands a running engine accepts over the control socket:
//! the journal's [`ControlCommand`] (it is journaled as it reaches the
//! engine), re-exported here.

pub use crate::journal::{ControlCommand, UnknownControlCommand};
