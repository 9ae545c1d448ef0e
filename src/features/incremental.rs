//! Incremental per-bar features (SPEC §3). Placeholder: in progress.
