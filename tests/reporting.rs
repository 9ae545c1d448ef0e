//! Latency telemetry and backtest reports, end to end: recording allocates
//! nothing (counting global allocator, so this is its own test binary),
//! stamps cross threads, reports carry the right numbers and verdicts, and
//! the files written to a temporary directory are what they claim to be.

// Test code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::path::PathBuf;

use chrono_tz::Tz;
use common::alloc::allocations;
use live_trading::backtest::{BacktestMetrics, EquityPoint, FillInfo, UNATTRIBUTED};
use live_trading::telemetry::recorder::HIGHEST_NS;
use live_trading::telemetry::{clock, LatencyRecorder, LatencyReport, Metric, Verdict};
use live_trading::types::{HorizonId, Nanos, Side, SymbolId};

const US: u64 = 1_000;
const MS: u64 = 1_000_000;
const T0: u64 = 1_704_207_600_000_000_000; // 2024-01-02T15:00:00Z

/// A fresh directory under the system temp dir, unique per test and run.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "live-trading-reporting-{}-{}-{name}",
        std::process::id(),
        clock::now_ns()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Tiny XML well-formedness check: every tag closes in order, attribute
/// quotes pair up, and text holds no raw `<` or unescaped `&`.
fn check_xml(doc: &str) -> Result<usize, String> {
    let mut stack: Vec<String> = Vec::new();
    let mut elements = 0;
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| entity.starts_with(e))
            {
                return Err(format!("raw & in text {text:?}"));
            }
        }
        let close = rest[open..].find('>').ok_or("unclosed <")? + open;
        let tag = &rest[open + 1..close];
        if tag.contains('<') {
            return Err(format!("< inside tag {tag:?}"));
        }
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unpaired quote in {tag:?}"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            let top = stack
                .pop()
                .ok_or(format!("</{name}> without opening tag"))?;
            if top != name.trim() {
                return Err(format!("</{name}> closes <{top}>"));
            }
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            elements += 1;
            let name = tag
                .split_whitespace()
                .next()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_owned();
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[close + 1..];
    }
    if rest.contains('<') || !rest.trim().is_empty() {
        return Err(format!("trailing content {rest:?}"));
    }
    if let Some(open) = stack.pop() {
        return Err(format!("<{open}> never closed"));
    }
    Ok(elements)
}

#[test]
fn xml_checker_rejects_broken_documents() {
    assert_eq!(
        check_xml("<svg><g a=\"1\"/><text>a &amp; b</text></svg>\n"),
        Ok(3)
    );
    for bad in [
        "<svg><g></svg>",
        "<svg></g></svg>",
        "<svg><text>a & b</text></svg>",
        "<svg a=\"1></svg>",
        "<svg>",
        "<svg></svg><",
    ] {
        assert!(check_xml(bad).is_err(), "{bad}");
    }
}

/// `record` (and the clock around it) allocates nothing after `new`, for
/// every metric, in-range and clamped values alike; `merge` and `reset`
/// neither.
#[test]
fn recording_allocates_nothing_after_new() {
    // The counter is armed in this binary: construction is seen.
    assert!(allocations(|| drop(LatencyRecorder::new())) >= Metric::COUNT as u64);
    let mut rec = LatencyRecorder::new();
    let mut other = LatencyRecorder::new();
    other.record(Metric::FeedDecode, 123);
    clock::init();
    let n = allocations(|| {
        for i in 0..20_000u64 {
            let m = Metric::ALL[(i % Metric::COUNT as u64) as usize];
            let start = clock::now_ns();
            rec.record(m, i.wrapping_mul(2_654_435_761) % (2 * HIGHEST_NS));
            rec.record(m, u64::MAX - i);
            rec.record_since(m, start);
        }
        rec.merge(&other);
    });
    assert_eq!(n, 0, "allocations while recording");
    let total: u64 = Metric::ALL.iter().map(|&m| rec.count(m)).sum();
    assert_eq!(total, 60_001);
    assert!(Metric::ALL.iter().all(|&m| rec.clamped(m) >= 20_000 / 15));
    assert_eq!(allocations(|| rec.reset()), 0);
    assert_eq!(rec.count(Metric::Cycle), 0);
}

/// A stamp taken on one thread is measured on another (feed → engine), and
/// the feed thread's own recorder merges into the engine's.
#[test]
fn stamps_cross_threads_and_recorders_merge() {
    let (tx, rx) = std::sync::mpsc::sync_channel::<u64>(64);
    let feed = std::thread::spawn(move || {
        let mut rec = LatencyRecorder::new();
        for _ in 0..500 {
            let start = clock::now_ns();
            let stamp = clock::now_ns();
            rec.record_since(Metric::FeedDecode, start);
            tx.send(stamp).unwrap();
        }
        rec
    });
    let mut engine = LatencyRecorder::new();
    for stamp in rx.iter() {
        engine.record_since(Metric::FeedQueue, stamp);
    }
    let feed_rec = feed.join().unwrap();
    engine.merge(&feed_rec);
    assert_eq!(engine.count(Metric::FeedQueue), 500);
    assert_eq!(engine.count(Metric::FeedDecode), 500);
    let report = LatencyReport::from_recorder(&engine);
    assert_eq!(report.overall, None, "no targeted metric was measured");
    assert!(!report.passed());
}

fn samples_1_to_1000_us() -> LatencyRecorder {
    let mut rec = LatencyRecorder::new();
    for v in 1..=1000 {
        rec.record(Metric::Predict, v * US);
    }
    rec
}

fn near(got: u64, want: u64) -> bool {
    // Three significant digits: within 0.1 %.
    got.abs_diff(want) as f64 <= want as f64 * 1e-3
}

#[test]
fn report_numbers_match_known_samples() {
    let report = LatencyReport::from_recorder(&samples_1_to_1000_us());
    let r = report.metric(Metric::Predict).unwrap();
    let s = r.stats.unwrap();
    assert_eq!(r.count, 1000);
    for (got, want) in [
        (s.p50, 500 * US),
        (s.p90, 900 * US),
        (s.p99, 990 * US),
        (s.p999, 999 * US),
        (s.max, 1000 * US),
    ] {
        assert!(near(got, want), "{got} vs {want}");
    }
    assert_eq!(r.verdict, Some(Verdict::Pass));
    assert_eq!(report.overall, Some(Verdict::Pass));
    assert!(report.passed());
    // The curve rises from the minimum to the maximum.
    assert!(near(r.curve.first().unwrap().nanos, US));
    assert!(near(r.curve.last().unwrap().nanos, 1000 * US));
    assert!(r.curve.windows(2).all(|w| w[0].nanos <= w[1].nanos));
    let blend = report.metric(Metric::Blend).unwrap();
    assert_eq!((blend.count, blend.stats, blend.verdict), (0, None, None));
    assert_eq!(
        report.unmeasured_targets(),
        vec![Metric::Blend, Metric::Cycle, Metric::InferenceToOrder]
    );

    let table = report.table();
    let line = table.lines().find(|l| l.starts_with("predict ")).unwrap();
    assert!(
        line.contains("500.22 µs") && line.contains("990.21 µs"),
        "{line}"
    );
    assert!(
        line.contains("<100 ms warn <200 ms") && line.trim_end().ends_with("PASS"),
        "{line}"
    );
    let blend_line = table.lines().find(|l| l.starts_with("blend ")).unwrap();
    assert!(
        blend_line.contains('—') && blend_line.trim_end().ends_with('—'),
        "{blend_line}"
    );
    assert!(
        table.contains("overall: PASS") && table.contains("no samples for blend"),
        "{table}"
    );
}

#[test]
fn overall_verdict_is_the_worst_targeted_p99() {
    let mut rec = samples_1_to_1000_us();
    // Blend p99 = 20 ms: WARN (10 ms / 50 ms).
    for _ in 0..100 {
        rec.record(Metric::Blend, 20 * MS);
    }
    // A slow untargeted stage never changes the verdict.
    rec.record(Metric::Features, 30_000 * MS);
    let report = LatencyReport::from_recorder(&rec);
    assert_eq!(
        report.metric(Metric::Blend).unwrap().verdict,
        Some(Verdict::Warn)
    );
    assert_eq!(report.metric(Metric::Features).unwrap().verdict, None);
    assert_eq!(report.overall, Some(Verdict::Warn));
    // Inference → order at 2 s fails ("error 2 s").
    for _ in 0..100 {
        rec.record(Metric::InferenceToOrder, 2_000 * MS);
    }
    let report = LatencyReport::from_recorder(&rec);
    assert_eq!(
        report.metric(Metric::InferenceToOrder).unwrap().verdict,
        Some(Verdict::Fail)
    );
    assert_eq!(report.overall_str(), "FAIL");
    // Only untargeted samples: no verdict at all, and it says so.
    let mut only = LatencyRecorder::new();
    only.record(Metric::Gate, 5);
    let report = LatencyReport::from_recorder(&only);
    assert_eq!(report.overall_str(), "NO DATA");
    assert!(report.table().contains("cannot PASS"));
}

#[test]
fn json_has_stable_keys_in_nanoseconds() {
    let mut rec = samples_1_to_1000_us();
    rec.record(Metric::Cycle, HIGHEST_NS + 5);
    let report = LatencyReport::from_recorder(&rec);
    let v = report.to_json();
    let top: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(top, ["unit", "basis", "overall", "unmeasured", "metrics"]);
    assert_eq!(v["unit"], "ns");
    assert_eq!(v["basis"], "p99");
    assert_eq!(v["overall"], "FAIL", "cycle p99 of 60 s");
    assert_eq!(
        v["unmeasured"],
        serde_json::json!(["blend", "inference_to_order"])
    );
    let names: Vec<&str> = v["metrics"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, expected);
    let p = &v["metrics"]["predict"];
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "label", "count", "clamped", "p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns",
            "target", "verdict"
        ]
    );
    assert!(near(p["p99_ns"].as_u64().unwrap(), 990 * US));
    assert_eq!(p["target"]["pass_below_ns"], 100 * MS);
    assert_eq!(p["target"]["warn_below_ns"], 200 * MS);
    assert_eq!(p["verdict"], "PASS");
    assert_eq!(v["metrics"]["cycle"]["clamped"], 1);
    assert!(v["metrics"]["blend"]["p50_ns"].is_null());
    assert!(v["metrics"]["gate"]["target"].is_null());
}

#[test]
fn svg_plot_is_well_formed_with_one_polyline_per_sampled_metric() {
    let mut rec = samples_1_to_1000_us();
    for v in 1..=50 {
        rec.record(Metric::Cycle, v * MS);
        rec.record(Metric::FeedQueue, v * 100);
    }
    let svg = LatencyReport::from_recorder(&rec).to_svg();
    assert!(svg.starts_with("<svg"));
    assert!(check_xml(&svg).unwrap() > 20);
    assert_eq!(svg.matches("<polyline").count(), 3);
    for name in ["predict", "cycle", "feed_queue"] {
        assert!(svg.contains(&format!("data-series=\"{name}\"")), "{name}");
    }
    for label in [
        "99.99",
        "percentile (%)",
        "latency (log scale)",
        "feed → engine queue",
        "1 µs",
        "100 ms",
    ] {
        assert!(svg.contains(label), "{label}");
    }
    let empty = LatencyReport::from_recorder(&LatencyRecorder::new()).to_svg();
    check_xml(&empty).unwrap();
    assert_eq!(empty.matches("<polyline").count(), 0);
    assert!(empty.contains("no samples recorded"));
}

#[test]
fn latency_files_are_written_next_to_each_other() {
    let dir = temp_dir("latency");
    let report = LatencyReport::from_recorder(&samples_1_to_1000_us());
    let files = report.write_all(&dir.join("nested/latency.json")).unwrap();
    assert_eq!(files.text, dir.join("nested/latency.txt"));
    assert_eq!(files.json, dir.join("nested/latency.json"));
    assert_eq!(files.svg, dir.join("nested/latency.svg"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(json, report.to_json());
    assert_eq!(
        std::fs::read_to_string(&files.text).unwrap(),
        report.table()
    );
    check_xml(&std::fs::read_to_string(&files.svg).unwrap()).unwrap();
    // A prefix without extension works the same; an unwritable path names itself.
    let files = report.write_all(&dir.join("run.v2")).unwrap();
    assert_eq!(files.json, dir.join("run.v2.json"));
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, b"a file, not a directory").unwrap();
    let err = report.write_all(&blocker.join("latency")).unwrap_err();
    assert!(err.to_string().contains("blocker"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn at(minutes: u64) -> Nanos {
    Nanos(T0 + minutes * 60 * Nanos::PER_SEC)
}

fn fill(minutes: u64, side: Side, qty: f64, price: f64, fee: f64, horizon: Option<u8>) -> FillInfo {
    FillInfo {
        time: at(minutes),
        symbol: SymbolId(0),
        side,
        qty,
        price,
        fee,
        horizon: horizon.map(HorizonId),
    }
}

/// Buy 10 @ 100 (fee 1), sell 10 @ 110 (fee 1): +100 gross, +98 net.
#[test]
fn round_trip_metrics_by_hand() {
    let equity = [
        EquityPoint {
            time: at(0),
            equity: 1_000.0,
        },
        EquityPoint {
            time: at(1),
            equity: 999.0,
        },
        EquityPoint {
            time: at(2),
            equity: 1_099.0,
        },
        EquityPoint {
            time: at(3),
            equity: 1_098.0,
        },
    ];
    let fills = [
        fill(1, Side::Buy, 10.0, 100.0, 1.0, Some(1)),
        fill(3, Side::Sell, 10.0, 110.0, 1.0, None),
    ];
    let m = BacktestMetrics::compute(
        1_000.0,
        &equity,
        &fills,
        &["5m", "15m"],
        1,
        Tz::America__New_York,
    )
    .unwrap();
    assert_eq!((m.trades, m.round_trips, m.wins), (2, 1, 1));
    assert_eq!(m.hit_rate, Some(1.0));
    assert!((m.fees - 2.0).abs() < 1e-12);
    assert!((m.traded_notional - 2_100.0).abs() < 1e-9);
    let mean = (1_000.0 + 999.0 + 1_099.0 + 1_098.0) / 4.0;
    assert!((m.turnover.unwrap() - 2_100.0 / mean).abs() < 1e-12);
    assert!((m.realized_pnl - 98.0).abs() < 1e-9);
    assert!((m.total_pnl - 98.0).abs() < 1e-9);
    assert!(m.unrealized_pnl.abs() < 1e-9);
    assert_eq!(m.open_positions, 0);
    let labels: Vec<&str> = m.per_horizon.iter().map(|h| h.label.as_str()).collect();
    assert_eq!(labels, ["5m", "15m", UNATTRIBUTED]);
    let h15 = &m.per_horizon[1];
    assert_eq!((h15.round_trips, h15.wins), (1, 1));
    assert!((h15.net_pnl - 98.0).abs() < 1e-9 && (h15.fees - 2.0).abs() < 1e-12);
    assert_eq!(
        m.per_horizon[0].round_trips + m.per_horizon[2].round_trips,
        0
    );
    assert!(
        (m.max_drawdown - 0.001).abs() < 1e-12,
        "1 / 1000 after the first fee"
    );
}

/// A losing short opened by an exit fill goes to "exit/unattributed"; an
/// open long is open P&L; fills are applied in time order.
#[test]
fn losers_open_positions_and_unattributed_round_trips() {
    let fills = [
        // Given out of order: the sell at minute 1 comes first in time.
        fill(2, Side::Buy, 5.0, 52.0, 0.5, None),
        fill(1, Side::Sell, 5.0, 50.0, 0.5, None),
        FillInfo {
            symbol: SymbolId(1),
            ..fill(3, Side::Buy, 2.0, 10.0, 0.0, Some(0))
        },
    ];
    let equity = [
        EquityPoint {
            time: at(0),
            equity: 500.0,
        },
        EquityPoint {
            time: at(3),
            equity: 490.0,
        },
    ];
    let m = BacktestMetrics::compute(500.0, &equity, &fills, &["5m"], 2, Tz::UTC).unwrap();
    // Short 5 @ 50, cover @ 52: −10 gross, −1 fees.
    assert_eq!((m.round_trips, m.wins, m.hit_rate), (1, 0, Some(0.0)));
    let un = m.per_horizon.last().unwrap();
    assert_eq!((un.label.as_str(), un.round_trips), (UNATTRIBUTED, 1));
    assert!((un.net_pnl + 11.0).abs() < 1e-9);
    assert!((m.realized_pnl + 11.0).abs() < 1e-9);
    assert!(
        (m.unrealized_pnl - 1.0).abs() < 1e-9,
        "total −10 − realised −11"
    );
    assert_eq!(m.open_positions, 1);
}

#[test]
fn backtest_files_table_and_json() {
    let equity: Vec<EquityPoint> = (0..=390)
        .map(|i| EquityPoint {
            time: at(i),
            equity: 100_000.0 + 50.0 * ((i as f64) / 20.0).sin() + i as f64,
        })
        .collect();
    let fills = [
        fill(10, Side::Buy, 100.0, 470.0, 0.47, Some(0)),
        fill(40, Side::Sell, 100.0, 471.5, 0.47, Some(0)),
    ];
    let m = BacktestMetrics::compute(
        100_000.0,
        &equity,
        &fills,
        &["5m"],
        1,
        Tz::America__New_York,
    )
    .unwrap();
    assert!(m.sharpe.is_some());
    assert_eq!(m.periods_per_year, Some(252.0 * 390.0));

    let table = m.to_table();
    for want in [
        "2024-01-02T15:00:00Z → 2024-01-02T21:30:00Z",
        "initial cash",
        "100,000.00",
        "Sharpe (annualised)",
        "max drawdown",
        "turnover",
        "hit rate 100.00 %",
        "exit/unattributed",
    ] {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }
    let j = m.to_json();
    let keys: Vec<&str> = j.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.first(), Some(&"start_utc"));
    assert_eq!(keys.last(), Some(&"per_horizon"));
    assert_eq!(j["trades"], 2);
    assert_eq!(j["per_horizon"][0]["horizon"], "5m");
    assert_eq!(j["per_horizon"][1]["horizon"], UNATTRIBUTED);
    assert!(j["per_horizon"][1]["hit_rate"].is_null());

    let dir = temp_dir("backtest");
    let files = m.write_all(&dir.join("out")).unwrap();
    let csv = std::fs::read_to_string(&files.equity_csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "time_utc,equity,drawdown");
    assert_eq!(lines.len(), 392);
    assert_eq!(lines[1], "2024-01-02T15:00:00Z,100000,0");
    for line in &lines[1..] {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 3, "{line}");
        assert!(live_trading::iso::parse(cols[0]).is_some(), "{line}");
        let dd: f64 = cols[2].parse().unwrap();
        assert!((0.0..1.0).contains(&dd), "{line}");
    }
    let svg = std::fs::read_to_string(&files.equity_svg).unwrap();
    assert!(svg.starts_with("<svg"));
    check_xml(&svg).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert_eq!(svg.matches("<polygon").count(), 1);
    assert!(svg.contains("time (UTC, 2024-01-02)") && svg.contains("15:00:00"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files.json).unwrap()).unwrap();
    assert_eq!(json, j);
    assert_eq!(std::fs::read_to_string(&files.summary).unwrap(), table);

    // An empty backtest still writes a valid chart and a header-only CSV.
    let empty = BacktestMetrics::compute(1.0, &[], &[], &["5m"], 1, Tz::UTC).unwrap();
    check_xml(&empty.to_svg()).unwrap();
    assert_eq!(empty.equity_csv(), "time_utc,equity,drawdown\n");
    std::fs::remove_dir_all(&dir).unwrap();
}
