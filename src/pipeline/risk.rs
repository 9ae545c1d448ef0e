//! Stage `risk`.
