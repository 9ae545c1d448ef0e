//! Latency telemetry (DESIGN §8): HdrHistograms in nanoseconds per pipeline
//! stage and end to end, recorded on the engine thread without allocation,
//! and the report at exit (text table, JSON, SVG percentile plot) with
//! PASS/WARN/FAIL verdicts against the original system's targets.
//!
//! - [`metric`]: what is measured ([`Metric`]);
//! - [`clock`]: the monotonic measurement clock ([`clock::now_ns`]);
//! - [`recorder`]: the histograms ([`LatencyRecorder`]), hot path;
//! - [`report`]: percentiles, verdicts and outputs ([`LatencyReport`]), cold;
//! - [`svg`]: the tiny SVG builder shared with the backtest chart, cold;
//! - [`files`]: report-file writing, cold.
//!
//! Threads: the engine thread stamps with [`clock::now_ns`] and records into
//! its own [`LatencyRecorder`] (no allocation, no blocking, no logging); at
//! exit the recorder (merged with any other thread's via
//! [`LatencyRecorder::merge`]) becomes a [`LatencyReport`] on a cold thread.
//!
//! ```
//! use live_trading::telemetry::{clock, LatencyRecorder, LatencyReport, Metric};
//!
//! let mut rec = LatencyRecorder::new(); // allocates once, before trading
//! let start = clock::now_ns();
//! // ... predict ...
//! rec.record_since(Metric::Predict, start); // no allocation
//! let report = LatencyReport::from_recorder(&rec);
//! assert_eq!(report.metric(Metric::Predict).map(|r| r.count), Some(1));
//! ```

pub mod clock;
pub mod files;
pub mod metric;
pub mod plot;
pub mod recorder;
pub mod report;
pub mod svg;

pub use files::WriteError;
pub use metric::Metric;
pub use recorder::LatencyRecorder;
pub use report::{LatencyFiles, LatencyReport, MetricReport, Percentiles, Target, Verdict};
