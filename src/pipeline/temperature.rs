//! Stage `temperature`.
