//! Stage `size`.
