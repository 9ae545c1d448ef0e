//! Stage `standardize`.
