//! Exp3-IX bandit over horizons (SPEC §17.1).
