//! Position episodes and rewards (SPEC §17.2).
