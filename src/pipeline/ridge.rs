//! Stage `ridge`.
