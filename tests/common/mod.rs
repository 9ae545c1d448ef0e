//! Helpers shared by integration tests. Each test binary compiles its own
//! copy (`mod common;`); a test uses what it needs.

#![allow(dead_code)]

pub mod alloc;
pub mod run;
