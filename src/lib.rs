//! # live-trading
//!
//! A low-latency engine that turns streaming market data into orders through
//! six stages — predict → blend → arbitrate → gate → size → risk — on one
//! pinned core. This crate map follows the flow of a decision:
//!
//! - [`types`]: units, ids, sides, decisions, states, reason codes;
//! - [`horizon`]: the configured horizons and model target names;
//! - [`iso`]: ISO-8601 timestamps at the edges;
//! - [`config`]: YAML → validated engine config;
//! - [`feed`]: market-data feeds: [`feed::MarketEvent`], the seeded market
//!   simulator (the default feed) and its training dataset, CSV replay;
//! - [`market`]: per-symbol market state: quotes, bars, windows, volatility;
//! - [`features`]: features computed from bars;
//! - [`models`]: run artifacts, checksums and prediction back-ends;
//! - [`pipeline`]: the decision stages, each a plain struct;
//! - [`broker`]: paper-broker accounting;
//! - [`learning`]: Exp3-IX horizon preference and episode rewards;
//! - [`engine`]: the trading state, the cycle of SPEC §18 and the
//!   event-driven engine (triggers, market state, features, predictions);
//! - [`journal`]: the checksummed journal, atomic snapshots, the trade log;
//! - [`telemetry`]: latency histograms and the latency report;
//! - [`control`]: the operator's control socket and signal handling;
//! - [`backtest`]: backtest metrics, equity CSV and chart;
//! - [`conformance`]: runs the SPEC's vector files through the real stages.
//! - [`testkit`]: scripted scenarios for benches and tests.

pub mod backtest;
pub mod broker;
pub mod config;
pub mod conformance;
pub mod control;
pub mod engine;
pub mod features;
pub mod feed;
pub mod horizon;
pub mod ibfake;
pub mod iso;
pub mod journal;
pub mod learning;
pub mod live;
pub mod loadtest;
pub mod market;
pub mod models;
pub mod pipeline;
pub mod runtime;
mod suggest;
pub mod telemetry;
pub mod testkit;
pub mod types;
