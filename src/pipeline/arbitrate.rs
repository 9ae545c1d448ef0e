//! Stage `arbitrate`.
