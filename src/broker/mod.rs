//! Brokers: the paper broker's accounting (and, later, live brokers).

pub mod paper;
