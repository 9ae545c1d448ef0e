//! The end-to-end latency benchmark in process, at one low rate for a
//! short window: the in-process feed server → loopback websocket → engine
//! on the quote trigger → paper broker. Checks the report's structure and
//! sanity (counts, ordered percentiles, kept up at a low rate, JSON that
//! parses back, an SVG with the rate's curve), never a duration: the
//! kept-up rule's queue-p99 threshold is the one part not asserted.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::time::Duration;

use common::run::{config, plan, symbols, temp_dir};
use live_trading::config::DecisionTrigger;
use live_trading::feed::ws::server::Rate;
use live_trading::loadtest::{self, BenchParams};
use live_trading::telemetry::Metric;

#[test]
fn a_low_rate_is_measured_end_to_end_and_kept_up() {
    let dir = temp_dir("latency-bench");
    let config = config(DecisionTrigger::Cycle);
    let plan = plan(&config);
    let params = BenchParams {
        rates: vec![Rate::PerSecond(2_000.0)],
        duration: Duration::from_secs(3),
        symbols: symbols(),
        // A bar every 4 quotes: the models warm up within the window.
        quotes_per_bar: 4,
        work_dir: dir.join("work"),
        ..BenchParams::new()
    };
    let mut seen = 0;
    let report = loadtest::run(&config, &plan, &params, &mut |_| seen += 1).unwrap();
    assert_eq!(seen, 1, "progress after each rate");
    assert_eq!(report.rates.len(), 1);
    let r = &report.rates[0];
    assert!(r.feed_error.is_none(), "{:?}", r.feed_error);
    assert!(r.sent_in_window > 0 && r.server.messages >= r.sent_in_window);
    assert!(r.decoded_quotes > 0 && r.frames_received > 0);
    assert!(r.events > 0 && r.events_per_sec() > 0.0);
    assert!(r.decoded_quotes <= r.server.messages);
    // Every stage that ran has ordered percentiles.
    for m in &r.latency.metrics {
        if let Some(p) = m.stats {
            assert!(p.p50 <= p.p90 && p.p90 <= p.p99, "{:?}", m.metric);
            assert!(p.p99 <= p.p999 && p.p999 <= p.max, "{:?}", m.metric);
        }
    }
    let count = |m: Metric| r.latency.metric(m).map_or(0, |x| x.count);
    assert!(count(Metric::FeedDecode) > 0);
    assert_eq!(count(Metric::FeedQueue), r.events);
    assert!(count(Metric::Decision) > 0, "the quote trigger decided");
    assert!(r.orders > 0, "orders were sent");
    assert_eq!(count(Metric::WireToOrder), r.orders);
    // Kept up at 2000 msg/s: no conflation, no feed error, the rate sent.
    // The rule's queue-p99 part is a timing threshold, which a test on a
    // shared machine must not assert; it is only allowed to be the reason.
    let missed = r.missed();
    assert!(
        missed.iter().all(|m| m.starts_with("queue p99")),
        "2000 msg/s not kept up: {missed:?}"
    );
    assert_eq!(r.conflated, 0);
    assert_eq!(report.max_sustained().is_some(), r.kept_up());

    let files = report.write(&dir.join("out")).unwrap();
    let text = std::fs::read_to_string(&files.json).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["trigger"], "quote");
    assert_eq!(json["rates"][0]["rate"], "2000");
    assert_eq!(json["rates"][0]["kept_up"], r.kept_up());
    assert_eq!(json["rates"][0]["conflated"], 0);
    assert_eq!(json["rates"][0]["events"], r.events);
    let w = &json["rates"][0]["latency"]["metrics"]["wire_to_order"];
    assert_eq!(w["count"], r.orders);
    assert!(w["p50_ns"].as_u64().unwrap() <= w["p99_ns"].as_u64().unwrap());
    let svg = std::fs::read_to_string(&files.svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    assert!(svg.contains("data-series=\"rate 2000\""));
    let table = report.table();
    assert!(table.contains("wire → order") && table.contains("maximum sustained"));
    assert!(
        !params.work_dir.join("bench-secrets.env").exists(),
        "secrets removed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
