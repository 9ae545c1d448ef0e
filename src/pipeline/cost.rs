//! Stage `cost`.
