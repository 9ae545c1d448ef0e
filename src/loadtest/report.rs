//! The latency benchmark's report: a summary table (one line per rate:
//! sent and processed rates, conflation, orders, wire→order percentiles,
//! kept up) followed by every stage's table per rate; the same as JSON
//! (`latency-bench.json`); and an SVG chart of the wire→order percentile
//! curves, one per rate (`latency-bench.svg`).
//!
//! Cold path (after the runs): allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use super::{RateResult, KEPT_UP_RULE};
use crate::telemetry::files::{write_file, WriteError};
use crate::telemetry::plot::{nines_chart, Chart, Curve};
use crate::telemetry::report::fmt_ns;
use crate::telemetry::svg::color;
use crate::telemetry::Metric;

/// Everything the benchmark measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// Measurement window per rate.
    pub duration: Duration,
    pub symbols: Vec<String>,
    pub batch: usize,
    pub quotes_per_bar: u32,
    pub busy_poll: bool,
    pub pin_core: Option<usize>,
    /// Bars the models need before they predict.
    pub warmup_bars: usize,
    /// One result per rate, in the order run.
    pub rates: Vec<RateResult>,
}

/// Files written by [`BenchReport::write`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BenchFiles {
    pub json: PathBuf,
    pub svg: PathBuf,
}

impl BenchReport {
    /// The highest processed events/s of a rate that kept up, and its rate.
    pub fn max_sustained(&self) -> Option<&RateResult> {
        self.rates
            .iter()
            .filter(|r| r.kept_up())
            .max_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()))
    }

    /// The summary table, then each rate's stage table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "latency bench: {} s per rate, symbols {}, quote trigger, batch {}, {} quotes/bar, \
             warm-up {} bars{}{}",
            self.duration.as_secs_f64(),
            self.symbols.join(","),
            self.batch,
            self.quotes_per_bar,
            self.warmup_bars,
            self.pin_core
                .map_or(String::new(), |c| format!(", engine pinned to core {c}")),
            if self.busy_poll { ", busy-poll" } else { "" }
        );
        let _ = writeln!(
            out,
            "{:>8} {:>10} {:>11} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}  kept up",
            "rate",
            "sent/s",
            "events/s",
            "conflated",
            "orders",
            "w→o p50",
            "w→o p99",
            "w→o p99.9",
            "w→o max",
            "queue p99"
        );
        for r in &self.rates {
            let w = r.latency.metric(Metric::WireToOrder).and_then(|m| m.stats);
            let cell = |f: fn(&crate::telemetry::Percentiles) -> u64| {
                w.as_ref().map_or("—".to_owned(), |p| fmt_ns(f(p)))
            };
            let missed = r.missed();
            let kept = if missed.is_empty() {
                "yes".to_owned()
            } else {
                format!("no ({})", missed.join("; "))
            };
            let _ = writeln!(
                out,
                "{:>8} {:>10.0} {:>11.0} {:>9} {:>7} {:>10} {:>10} {:>10} {:>10} {:>10}  {}",
                r.label(),
                r.sent_per_sec(),
                r.events_per_sec(),
                r.conflated,
                r.orders,
                cell(|p| p.p50),
                cell(|p| p.p99),
                cell(|p| p.p999),
                cell(|p| p.max),
                r.queue_p99_ns().map_or("—".to_owned(), fmt_ns),
                kept
            );
        }
        match self.max_sustained() {
            Some(r) => {
                let _ = writeln!(
                    out,
                    "maximum sustained: {:.0} events/s (rate {})",
                    r.events_per_sec(),
                    r.label()
                );
            }
            None => out.push_str("maximum sustained: none of the rates kept up\n"),
        }
        let _ = writeln!(out, "kept up = {KEPT_UP_RULE}");
        for r in &self.rates {
            let _ = writeln!(
                out,
                "\n--- rate {}: {} messages sent in {:.2} s ({} frames in all), {} quotes \
                 decoded, {} events processed, {} conflated, {} orders ({} fills)",
                r.label(),
                r.sent_in_window,
                r.window.as_secs_f64(),
                r.server.frames,
                r.decoded_quotes,
                r.events,
                r.conflated,
                r.orders,
                r.fills
            );
            out.push_str(&r.latency.table());
        }
        out
    }

    /// `{"unit": "ns", "duration_secs", "symbols", "trigger": "quote",
    /// "batch", "quotes_per_bar", "busy_poll", "pin_core", "warmup_bars",
    /// "kept_up_rule", "max_sustained": {"rate", "events_per_sec"} | null,
    /// "rates": [{"rate", "requested_per_sec", "window_secs",
    /// "sent_in_window", "sent_per_sec", "server": {...}, "frames_received",
    /// "decoded_quotes", "events", "events_per_sec", "conflated",
    /// "conflated_frac", "orders", "fills", "pinned", "feed_error",
    /// "kept_up", "missed": [...], "latency": <LatencyReport JSON>}]}`.
    pub fn to_json(&self) -> Value {
        let rates: Vec<Value> = self
            .rates
            .iter()
            .map(|r| {
                let s = &r.server;
                json!({
                    "rate": r.label(),
                    "requested_per_sec": r.requested_per_sec(),
                    "window_secs": r.window.as_secs_f64(),
                    "sent_in_window": r.sent_in_window,
                    "sent_per_sec": r.sent_per_sec(),
                    "server": {
                        "messages": s.messages,
                        "frames": s.frames,
                        "connections": s.connections,
                    },
                    "frames_received": r.frames_received,
                    "decoded_quotes": r.decoded_quotes,
                    "events": r.events,
                    "events_per_sec": r.events_per_sec(),
                    "conflated": r.conflated,
                    "conflated_frac": r.conflated_frac(),
                    "orders": r.orders,
                    "fills": r.fills,
                    "pinned": r.pinned,
                    "feed_error": r.feed_error,
                    "kept_up": r.kept_up(),
                    "missed": r.missed(),
                    "latency": r.latency.to_json(),
                })
            })
            .collect();
        json!({
            "unit": "ns",
            "duration_secs": self.duration.as_secs_f64(),
            "symbols": self.symbols,
            "trigger": "quote",
            "batch": self.batch,
            "quotes_per_bar": self.quotes_per_bar,
            "busy_poll": self.busy_poll,
            "pin_core": self.pin_core,
            "warmup_bars": self.warmup_bars,
            "kept_up_rule": KEPT_UP_RULE,
            "max_sustained": self.max_sustained().map(|r| json!({
                "rate": r.label(),
                "events_per_sec": r.events_per_sec(),
            })),
            "rates": rates,
        })
    }

    /// Wire→order percentile curves, one polyline per rate with samples:
    /// x the percentile on a "nines" scale, y the latency on a log scale.
    pub fn to_svg(&self) -> String {
        let curves: Vec<Curve<'_>> = self
            .rates
            .iter()
            .filter_map(|r| {
                let m = r.latency.metric(Metric::WireToOrder)?;
                Some((r, m))
            })
            .enumerate()
            .map(|(i, (r, m))| {
                let mut legend = vec![match r.rate {
                    crate::feed::ws::server::Rate::PerSecond(_) => format!("{} msg/s", r.label()),
                    _ => format!("max ({:.0} ev/s)", r.events_per_sec()),
                }];
                if let Some(p) = m.stats {
                    legend.push(format!(
                        "p50 {} p99 {}{}",
                        fmt_ns(p.p50),
                        fmt_ns(p.p99),
                        if r.kept_up() { "" } else { " (not kept up)" }
                    ));
                }
                Curve {
                    id: format!("rate {}", r.label()),
                    color: color(i),
                    points: &m.curve,
                    legend,
                }
            })
            .collect();
        nines_chart(&Chart {
            title: "Wire → order latency percentiles per rate (quote trigger, loopback websocket)",
            y_label: "wire → order (log scale)",
            empty: "no order was sent: no wire → order sample",
            curves: &curves,
        })
    }

    /// Write `dir/latency-bench.json` and `dir/latency-bench.svg` (the
    /// directory is created).
    pub fn write(&self, dir: &Path) -> Result<BenchFiles, WriteError> {
        let files = BenchFiles {
            json: dir.join("latency-bench.json"),
            svg: dir.join("latency-bench.svg"),
        };
        let mut json = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        json.push('\n');
        write_file(&files.json, json.as_bytes())?;
        write_file(&files.svg, self.to_svg().as_bytes())?;
        Ok(files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::ws::server::{Rate, ServerStats};
    use crate::telemetry::{LatencyRecorder, LatencyReport};

    fn result(rate: Rate, wire: &[u64]) -> RateResult {
        let mut rec = LatencyRecorder::new();
        rec.record(Metric::FeedQueue, 20_000);
        for &w in wire {
            rec.record(Metric::WireToOrder, w);
        }
        RateResult {
            rate,
            window: Duration::from_secs(2),
            sent_in_window: 20_000,
            server: ServerStats::default(),
            decoded_quotes: 19_000,
            frames_received: 20_000,
            events: 20_000,
            conflated: 0,
            orders: wire.len() as u64,
            fills: wire.len() as u64,
            latency: LatencyReport::from_recorder(&rec),
            pinned: None,
            feed_error: None,
        }
    }

    fn report(rates: Vec<RateResult>) -> BenchReport {
        BenchReport {
            duration: Duration::from_secs(2),
            symbols: vec!["SPY".into()],
            batch: 1,
            quotes_per_bar: 10,
            busy_poll: false,
            pin_core: None,
            warmup_bars: 30,
            rates,
        }
    }

    #[test]
    fn json_table_and_chart_carry_every_rate() {
        let r = report(vec![
            result(Rate::PerSecond(10_000.0), &[30_000, 40_000, 90_000]),
            result(Rate::Max, &[]),
        ]);
        let j = r.to_json();
        assert_eq!(j["rates"][0]["rate"], "10000");
        assert_eq!(j["rates"][0]["events_per_sec"], 10_000.0);
        assert_eq!(
            j["rates"][0]["latency"]["metrics"]["wire_to_order"]["count"],
            3
        );
        assert_eq!(j["rates"][1]["rate"], "max");
        assert!(j["rates"][1]["requested_per_sec"].is_null());
        assert_eq!(j["max_sustained"]["events_per_sec"], 10_000.0);
        let t = r.table();
        assert!(t.contains("10000") && t.contains("max") && t.contains("wire → order"));
        let svg = r.to_svg();
        assert!(svg.contains("data-series=\"rate 10000\""));
        assert!(
            !svg.contains("data-series=\"rate max\""),
            "no samples, no curve"
        );
    }

    #[test]
    fn a_chart_without_orders_says_so() {
        let svg = report(vec![result(Rate::Max, &[])]).to_svg();
        assert!(svg.contains("no order was sent"));
    }
}
