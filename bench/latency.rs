//! Per-call latency percentiles of every stage, the full decision and the
//! full cycle: `cargo bench --bench latency [-- [FILTER] [--repeat N]
//! [--json PATH]]`. Each figure is the median over N interleaved rounds
//! (default 3) of 20,000 samples; the p99 range shows the rounds' spread.
//!
//! Each sample times a batch of `k` consecutive calls with `Instant` and
//! divides by `k`; `k` is chosen per stage so that a batch lasts about
//! 250 ns, which keeps the timer's own cost (about 20-40 ns) below a few
//! percent of a sample. The cycle start, whole decision and whole cycle use
//! `k = 1`, each after an untimed `prepare` (next minute and tape frame;
//! for the decision also the cycle start). Samples come after 2,000 warm-up
//! calls of everything.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{Fixtures, Stage};

const SAMPLES: usize = 20_000;
/// `LT_BENCH_SAMPLES` overrides [`SAMPLES`] (e.g. for profiling one stage).
fn samples() -> usize {
    std::env::var("LT_BENCH_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SAMPLES)
}
const BATCH_NS: f64 = 250.0;

struct Row {
    stage: Stage,
    batch: u64,
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    p99_lo: f64,
    p99_hi: f64,
}

/// Per percentile, the median across rounds; `p99_lo`/`p99_hi` keep the
/// spread of p99 across rounds.
fn median_row(rounds: Vec<&Row>) -> Row {
    let med = |f: fn(&Row) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let p99s = rounds.iter().map(|r| r.p99);
    Row {
        stage: rounds[0].stage,
        batch: rounds[0].batch,
        p50: med(|r| r.p50),
        p90: med(|r| r.p90),
        p99: med(|r| r.p99),
        p999: med(|r| r.p999),
        max: rounds.iter().map(|r| r.max).fold(0.0, f64::max),
        p99_lo: p99s.clone().fold(f64::INFINITY, f64::min),
        p99_hi: p99s.fold(0.0, f64::max),
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn measure(f: &mut Fixtures, stage: Stage) -> Row {
    // Calibrate the batch size from a quick mean.
    let probe = 2_000;
    let mut total = Duration::ZERO;
    if Fixtures::needs_prepare(stage) {
        for _ in 0..probe {
            f.prepare(stage);
            let t = Instant::now();
            f.run(stage);
            total += t.elapsed();
        }
    } else {
        let t = Instant::now();
        for _ in 0..probe {
            f.run(stage);
        }
        total = t.elapsed();
    }
    let mean_ns = total.as_nanos() as f64 / probe as f64;
    let batch = if Fixtures::needs_prepare(stage) {
        1
    } else {
        (BATCH_NS / mean_ns.max(1.0)).ceil().max(1.0) as u64
    };
    let n = samples();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        f.prepare(stage);
        let t = Instant::now();
        for _ in 0..batch {
            f.run(stage);
        }
        let d: Duration = t.elapsed();
        samples.push(d.as_nanos() as f64 / batch as f64);
    }
    samples.sort_by(f64::total_cmp);
    Row {
        stage,
        batch,
        p50: percentile(&samples, 0.50),
        p90: percentile(&samples, 0.90),
        p99: percentile(&samples, 0.99),
        p999: percentile(&samples, 0.999),
        max: samples[samples.len() - 1],
        p99_lo: f64::NAN,
        p99_hi: f64::NAN,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    // `cargo bench` passes `--bench`; a filter word limits the stages.
    let value_of = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
    };
    let filter = args
        .iter()
        .skip(1)
        .find(|a| {
            !a.starts_with("--")
                && Some(*a) != json_path.as_ref()
                && Some(*a) != value_of("--repeat")
        })
        .cloned();

    let repeat = args
        .iter()
        .position(|a| a == "--repeat")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(3)
        .max(1);

    let mut f = Fixtures::new();
    let stages: Vec<Stage> = Stage::ALL
        .into_iter()
        .filter(|s| {
            filter
                .as_ref()
                .is_none_or(|w| s.name().contains(w.as_str()))
        })
        .collect();
    // Rounds interleave the stages, so a noisy minute on the host touches
    // every stage once rather than one stage entirely.
    let mut rounds: Vec<Vec<Row>> = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        rounds.push(stages.iter().map(|&s| measure(&mut f, s)).collect());
    }
    let rows: Vec<Row> = (0..stages.len())
        .map(|k| median_row(rounds.iter().map(|r| &r[k]).collect()))
        .collect();
    println!("| stage | what | p50 ns | p90 ns | p99 ns | p99 range | p99.9 ns | max ns | batch |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0}–{:.0} | {:.0} | {:.0} | {} |",
            r.stage.name(),
            r.stage.what(),
            r.p50,
            r.p90,
            r.p99,
            r.p99_lo,
            r.p99_hi,
            r.p999,
            r.max,
            r.batch
        );
    }
    println!(
        "\n{repeat} rounds of {} samples per stage; medians across rounds.",
        samples()
    );
    let reasons: Vec<String> = live_trading::types::Reason::ALL
        .iter()
        .filter(|r| f.outcomes[**r as usize] > 0)
        .map(|r| format!("{} {}", r.code(), f.outcomes[*r as usize]))
        .collect();
    println!(
        "\nfull_decision outcomes (warm-up included): {}",
        reasons.join(", ")
    );
    if let Some(path) = json_path {
        let json: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "stage": r.stage.name(), "what": r.stage.what(), "batch": r.batch,
                    "p50_ns": r.p50, "p90_ns": r.p90, "p99_ns": r.p99,
                    "p999_ns": r.p999, "max_ns": r.max, "samples": samples(),
                    "rounds": repeat, "p99_min_ns": r.p99_lo, "p99_max_ns": r.p99_hi,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&json).expect("json");
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!("wrote {path}");
    }
}
