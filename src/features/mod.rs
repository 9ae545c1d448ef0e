//! Features computed from bars (SPEC §3).

pub mod batch;
