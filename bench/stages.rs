//! Criterion benches: every pipeline stage alone, one full decision (one
//! symbol, 6 horizons x 3 families, all stages) and one full cycle of eight
//! symbols. Run with `cargo bench --bench stages`; the percentile table in
//! the README comes from `cargo bench --bench latency`.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

use common::{Fixtures, Stage};

fn stages(c: &mut Criterion) {
    let mut f = Fixtures::new();
    let mut group = c.benchmark_group("stage");
    for stage in Stage::ALL {
        if Fixtures::needs_prepare(stage) {
            // Untimed per-call setup (next minute, cycle start).
            group.bench_function(stage.name(), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        f.prepare(stage);
                        let t = Instant::now();
                        f.run(stage);
                        total += t.elapsed();
                    }
                    total
                })
            });
        } else {
            group.bench_function(stage.name(), |b| b.iter(|| f.run(stage)));
        }
    }
    group.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
