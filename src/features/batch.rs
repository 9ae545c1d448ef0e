//! Batch feature computation over a whole bar frame (SPEC §3).
