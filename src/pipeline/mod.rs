//! The decision pipeline, one module per stage, in the order a decision
//! flows: standardize → confidence → blend (ridge, temperature) → cost →
//! arbitrate → gate → size → risk.
//!
//! Every stage is a plain struct with scratch preallocated from config; its
//! methods take inputs by reference, write into caller-owned outputs, read no
//! clock, do no I/O and allocate nothing.

pub mod arbitrate;
pub mod blend;
pub mod confidence;
pub mod cost;
pub mod decision;
pub mod gate;
pub mod ridge;
pub mod risk;
pub mod size;
pub mod standardize;
pub mod temperature;
