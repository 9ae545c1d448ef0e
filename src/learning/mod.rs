//! Online learning over horizons: Exp3-IX and episode rewards (SPEC §17).

pub mod bandit;
pub mod reward;
