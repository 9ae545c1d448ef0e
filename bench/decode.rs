//! Criterion bench of the Alpaca v2 frame decoder: one frame holding one
//! quote, a batch of ten quotes, and the mixed golden batch (quotes,
//! trades, bars, skipped corrections and unknown symbols). Each iteration
//! copies the frame into the decoder's scratch buffer, parses it with
//! simd-json and delivers the events to a sink, exactly as the feed thread
//! does. Run with `cargo bench --bench decode`; divide by the events per
//! frame for ns/event.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use live_trading::feed::alpaca::{AlpacaDecoder, AlpacaMessage, AlpacaParams};
use live_trading::types::Nanos;

const SYMBOLS: [&str; 8] = ["SPY", "QQQ", "AAPL", "MSFT", "AMD", "NVDA", "TSLA", "AMZN"];

/// One quote object in Alpaca's documented shape.
fn quote_object(i: usize) -> String {
    let sym = SYMBOLS[i % SYMBOLS.len()];
    let bid = 100.0 + i as f64 * 0.37;
    format!(
        r#"{{"T":"q","S":"{sym}","bx":"V","bp":{bid:.2},"bs":{},"ax":"Q","ap":{:.2},"as":{},"c":["R"],"z":"C","t":"2024-03-01T14:30:{:02}.{:09}Z"}}"#,
        1 + i % 7,
        bid + 0.01,
        2 + i % 5,
        i % 60,
        123_456_789 + i * 1_000,
    )
}

fn batch(n: usize) -> Vec<u8> {
    let objects: Vec<String> = (0..n).map(quote_object).collect();
    format!("[{}]", objects.join(",")).into_bytes()
}

fn decode(c: &mut Criterion) {
    let mixed = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/alpaca/mixed.json"
    ))
    .expect("tests/data/alpaca/mixed.json");
    let frames = [
        ("1-quote frame", batch(1)),
        ("10-quote batch", batch(10)),
        ("mixed golden batch", mixed),
    ];
    let mut dec = AlpacaDecoder::new(&SYMBOLS, AlpacaParams::default()).unwrap();
    let mut group = c.benchmark_group("alpaca_decode");
    for (name, frame) in &frames {
        // Warm-up and a sanity check: the frame decodes.
        let n = dec.decode(frame, Nanos(1), &mut |_| ()).unwrap();
        assert!(n > 0, "{name} decoded to nothing");
        group.throughput(Throughput::Elements(1));
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut events = 0u32;
                let r = dec.decode(black_box(frame), Nanos(1), &mut |m| {
                    events += matches!(m, AlpacaMessage::Event(_)) as u32;
                    black_box(m);
                });
                black_box((r, events))
            })
        });
    }
    group.finish();
    eprintln!("counters after the bench: {:?}", dec.counters());
}

criterion_group!(benches, decode);
criterion_main!(benches);
