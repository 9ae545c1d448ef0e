//! Stage `blend`.
