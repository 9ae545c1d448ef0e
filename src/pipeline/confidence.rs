//! Stage `confidence`.
