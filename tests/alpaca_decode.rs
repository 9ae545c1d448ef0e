//! The Alpaca v2 market-data decoder against golden frames in the
//! documented shapes (`tests/data/alpaca/*.json`), the RFC 3339 parser
//! against chrono, the zero-allocation claim, and a deterministic mutation
//! fuzzer (`fuzz_*`).
//!
//! The fuzzer runs 200 000 inputs by default; `ALPACA_FUZZ_ITERS=1000000`
//! (and `ALPACA_FUZZ_SEED=n` for another stream) runs more:
//!
//! ```text
//! ALPACA_FUZZ_ITERS=1000000 cargo test --profile test-release --test alpaca_decode fuzz_
//! ```
//!
//! An input that panics is written to `$TMPDIR/alpaca-crashers/` and the
//! test fails naming it; copy it to `tests/data/alpaca/crashers/`, where
//! [`crashers_replay_without_panic`] replays every file forever after.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use common::alloc::{arm, disarm};
use live_trading::feed::alpaca::{
    parse_rfc3339, AlpacaDecoder, AlpacaError, AlpacaErrorCode, AlpacaMessage, AlpacaParams,
    ChannelSummary, FrameError, ShortText, SubscriptionSummary,
};
use live_trading::feed::{BarEvent, MarketEvent, QuoteEvent, TradeEvent};
use live_trading::market::Bar;
use live_trading::testkit::SplitMix;
use live_trading::types::{Nanos, SymbolId};

/// The decoder's symbol list in every test: `SYMBOLS[i]` has id `i`.
const SYMBOLS: [&str; 4] = ["SPY", "AAPL", "AMD", "FAKEPACA"];
const SPY: SymbolId = SymbolId(0);
const AAPL: SymbolId = SymbolId(1);
const AMD: SymbolId = SymbolId(2);
const FAKEPACA: SymbolId = SymbolId(3);
const RECV: Nanos = Nanos(1_700_000_000_123_456_789);

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/alpaca")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = data_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decoder() -> AlpacaDecoder {
    AlpacaDecoder::new(&SYMBOLS, AlpacaParams::default()).unwrap()
}

/// Decodes one fixture with a fresh decoder.
fn decode_fixture(name: &str) -> (AlpacaDecoder, Result<u32, FrameError>, Vec<AlpacaMessage>) {
    let mut dec = decoder();
    let mut got = Vec::new();
    let r = dec.decode(&fixture(name), RECV, &mut |m| got.push(m));
    (dec, r, got)
}

/// The instant chrono reads from an RFC 3339 string (the independent oracle).
fn chrono_ns(s: &str) -> Option<i128> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    Some(i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos()))
}

fn ts(s: &str) -> Nanos {
    Nanos(u64::try_from(chrono_ns(s).unwrap()).unwrap())
}

fn quote(
    symbol: SymbolId,
    bid: f64,
    bid_size: f64,
    ask: f64,
    ask_size: f64,
    t: &str,
) -> AlpacaMessage {
    AlpacaMessage::Event(MarketEvent::Quote(QuoteEvent {
        symbol,
        bid,
        ask,
        bid_size,
        ask_size,
        exchange_time: ts(t),
        receive_time: RECV,
    }))
}

fn trade(symbol: SymbolId, price: f64, size: f64, t: &str) -> AlpacaMessage {
    AlpacaMessage::Event(MarketEvent::Trade(TradeEvent {
        symbol,
        price,
        size,
        exchange_time: ts(t),
        receive_time: RECV,
    }))
}

/// A bar given by its Alpaca start time; ends 60 s later.
fn bar(symbol: SymbolId, ohlcv: [f64; 5], start: &str) -> AlpacaMessage {
    let [open, high, low, close, volume] = ohlcv;
    AlpacaMessage::Event(MarketEvent::Bar(BarEvent {
        symbol,
        bar: Bar {
            end: Nanos(ts(start).0 + 60 * Nanos::PER_SEC),
            open,
            high,
            low,
            close,
            volume,
        },
        receive_time: RECV,
    }))
}

// ---------------------------------------------------------------- golden

#[test]
fn golden_connected_and_authenticated() {
    let (dec, r, got) = decode_fixture("connected.json");
    assert_eq!((r, got), (Ok(1), vec![AlpacaMessage::Connected]));
    assert_eq!(dec.counters().control, 1);
    let (_, r, got) = decode_fixture("authenticated.json");
    assert_eq!((r, got), (Ok(1), vec![AlpacaMessage::Authenticated]));
}

#[test]
fn golden_subscription_summarises_every_channel() {
    let (dec, r, got) = decode_fixture("subscription.json");
    assert_eq!(r, Ok(1));
    let [AlpacaMessage::Subscription(s)] = got[..] else {
        panic!("{got:?}")
    };
    let ch = |listed, known, wildcard| ChannelSummary {
        listed,
        known,
        wildcard,
    };
    assert_eq!(s.trades, ch(1, 1, false)); // AAPL
    assert_eq!(s.quotes, ch(2, 1, false)); // AMD listed, CLDR not ours
    assert_eq!(s.bars, ch(1, 0, true));
    assert_eq!(s.updated_bars, ch(0, 0, false));
    assert_eq!(s.daily_bars, ch(1, 0, false)); // VOO
    assert_eq!(s.statuses, ch(1, 0, true));
    assert_eq!(s.lulds, ch(0, 0, false));
    assert_eq!(s.corrections, ch(1, 1, false));
    assert_eq!(s.cancel_errors, ch(1, 1, false));
    assert!(s.bars.covers(SYMBOLS.len()));
    assert!(!s.quotes.covers(SYMBOLS.len()));
    assert_eq!(dec.counters().control, 1);

    // The test stream's reply names only three channels.
    let (_, r, got) = decode_fixture("subscription_test_stream.json");
    assert_eq!(r, Ok(1));
    let [AlpacaMessage::Subscription(s)] = got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(s.trades, ch(0, 0, false));
    assert_eq!(s.quotes, ch(1, 1, false));
    assert_eq!(s.bars, ch(1, 1, false));
    assert_eq!(s.corrections, ch(0, 0, false));
}

#[test]
fn golden_every_error_code() {
    let table = [
        (400, AlpacaErrorCode::InvalidSyntax, "invalid syntax"),
        (401, AlpacaErrorCode::NotAuthenticated, "not authenticated"),
        (402, AlpacaErrorCode::AuthFailed, "auth failed"),
        (
            403,
            AlpacaErrorCode::AlreadyAuthenticated,
            "already authenticated",
        ),
        (404, AlpacaErrorCode::AuthTimeout, "auth timeout"),
        (
            405,
            AlpacaErrorCode::SymbolLimitExceeded,
            "symbol limit exceeded",
        ),
        (
            406,
            AlpacaErrorCode::ConnectionLimitExceeded,
            "connection limit exceeded",
        ),
        (407, AlpacaErrorCode::SlowClient, "slow client"),
        (
            409,
            AlpacaErrorCode::InsufficientSubscription,
            "insufficient subscription",
        ),
        (
            410,
            AlpacaErrorCode::InvalidSubscribeAction,
            "invalid subscribe action for this feed",
        ),
        (500, AlpacaErrorCode::InternalError, "internal error"),
    ];
    for (code, kind, msg) in table {
        let (dec, r, got) = decode_fixture(&format!("error_{code}.json"));
        assert_eq!(r, Ok(1), "{code}");
        let [AlpacaMessage::Error(e)] = got[..] else {
            panic!("{code}: {got:?}")
        };
        assert_eq!(e.code, kind);
        assert_eq!(e.code.code(), code);
        assert_eq!(e.msg.as_str(), msg);
        assert!(!e.msg.truncated());
        assert_eq!(dec.counters().control, 1);
    }
}

#[test]
fn golden_single_quote() {
    let (dec, r, got) = decode_fixture("quote.json");
    assert_eq!(r, Ok(1));
    assert_eq!(
        got,
        vec![quote(
            FAKEPACA,
            133.85,
            4.0,
            135.77,
            5.0,
            "2024-07-24T07:56:53.639713735Z"
        )]
    );
    // An independent check of the timestamp arithmetic (date +%s).
    let AlpacaMessage::Event(e) = got[0] else {
        panic!()
    };
    assert_eq!(e.time(), Nanos(1_721_807_813_639_713_735));
    assert_eq!(e.receive_time(), RECV);
    assert_eq!(dec.counters().quotes, 1);
}

#[test]
fn golden_quote_batch_in_order() {
    let (dec, r, got) = decode_fixture("quotes.json");
    assert_eq!(r, Ok(3));
    assert_eq!(
        got,
        vec![
            quote(
                AMD,
                87.66,
                1.0,
                87.68,
                4.0,
                "2021-02-22T15:51:45.335689322Z"
            ),
            quote(
                AMD,
                91.95,
                2.0,
                91.98,
                1.0,
                "2023-04-06T11:54:21.670905508Z"
            ),
            quote(AMD, 91.9, 1.0, 91.98, 1.0, "2023-04-06T11:54:27.924933876Z"),
        ]
    );
    assert_eq!(dec.counters().quotes, 3);
}

#[test]
fn golden_trade_batch() {
    let (dec, r, got) = decode_fixture("trades.json");
    assert_eq!(r, Ok(3));
    assert_eq!(
        got,
        vec![
            trade(AAPL, 162.92, 3.0, "2023-04-06T11:54:26.838232225Z"),
            trade(AAPL, 162.92, 3.0, "2023-04-06T11:54:26.838562809Z"),
            trade(AAPL, 162.91, 71.0, "2023-04-06T11:54:26.83915973Z"),
        ]
    );
    assert_eq!(dec.counters().trades, 3);
}

#[test]
fn golden_bars_end_one_bar_after_their_start() {
    let (dec, r, got) = decode_fixture("bars.json");
    assert_eq!(r, Ok(2));
    assert_eq!(
        got,
        vec![
            bar(
                SPY,
                [388.985, 389.13, 388.975, 389.12, 49378.0],
                "2021-02-22T19:15:00Z"
            ),
            bar(
                FAKEPACA,
                [132.65, 136.0, 132.12, 134.65, 205.0],
                "2024-07-24T07:56:00Z"
            ),
        ]
    );
    let AlpacaMessage::Event(e) = got[0] else {
        panic!()
    };
    // 2021-02-22T19:16:00Z = 1614021360 s: the end of the 19:15 bar.
    assert_eq!(e.time(), Nanos(1_614_021_360 * Nanos::PER_SEC));
    assert_eq!(dec.counters().bars, 2);

    // The bar length is a parameter.
    let mut five = AlpacaDecoder::new(
        &SYMBOLS,
        AlpacaParams {
            bar_len: Nanos::from_secs(300),
            ..AlpacaParams::default()
        },
    )
    .unwrap();
    let mut ends = Vec::new();
    five.decode(&fixture("bars.json"), RECV, &mut |m| {
        if let AlpacaMessage::Event(e) = m {
            ends.push(e.time());
        }
    })
    .unwrap();
    assert_eq!(
        ends[0],
        Nanos(1_614_021_300 * Nanos::PER_SEC + 300 * Nanos::PER_SEC)
    );
}

#[test]
fn golden_mixed_batch_keeps_order_and_skips_what_it_must() {
    let (dec, r, got) = decode_fixture("mixed.json");
    assert_eq!(r, Ok(4));
    assert_eq!(
        got,
        vec![
            quote(
                SPY,
                501.12,
                3.0,
                501.14,
                2.0,
                "2024-03-01T14:30:00.000001234Z"
            ),
            trade(SPY, 501.13, 100.0, "2024-03-01T14:30:00.5Z"),
            bar(
                AAPL,
                [179.5, 180.25, 179.25, 180.0, 120345.0],
                "2024-03-01T14:29:00Z"
            ),
            quote(AAPL, 179.99, 1.0, 180.01, 1.0, "2024-03-01T14:30:01Z"),
        ]
    );
    let c = dec.counters();
    assert_eq!((c.quotes, c.trades, c.bars), (2, 1, 1));
    assert_eq!(c.unknown, 3, "c, x and d"); // correction, cancel, daily bar
    assert_eq!(c.unknown_symbol, 1, "CLDR");
    assert_eq!(c.malformed(), 0);
    assert_eq!(c.frames, 1);
}

#[test]
fn golden_unknown_types_are_counted_and_skipped() {
    let (dec, r, got) = decode_fixture("unknown_types.json");
    assert_eq!((r, got), (Ok(0), vec![]));
    let c = dec.counters();
    assert_eq!(c.unknown, 7, "c x l s i d u");
    assert_eq!(c.events() + c.control + c.malformed() + c.unknown_symbol, 0);
}

#[test]
fn golden_malformed_objects_spoil_only_themselves() {
    let (dec, r, got) = decode_fixture("malformed_objects.json");
    assert_eq!(r, Ok(1));
    assert_eq!(got, vec![trade(SPY, 501.13, 100.0, "2024-03-01T14:30:01Z")]);
    let c = dec.counters();
    assert_eq!(c.malformed_objects, 11);
    assert_eq!(c.malformed_frames, 0);
    assert_eq!((c.trades, c.unknown, c.unknown_symbol), (1, 0, 0));
}

#[test]
fn golden_frame_faults_skip_the_whole_frame() {
    let (dec, r, got) = decode_fixture("not_array.json");
    assert_eq!((r, got.len()), (Err(FrameError::NotArray), 0));
    assert_eq!(dec.counters().malformed_frames, 1);
    let (dec, r, got) = decode_fixture("not_json.json");
    assert!(matches!(r, Err(FrameError::NotJson { .. })), "{r:?}");
    assert!(got.is_empty());
    assert_eq!(dec.counters().malformed_frames, 1);
    let (dec, r, got) = decode_fixture("empty_batch.json");
    assert_eq!((r, got.len()), (Ok(0), 0));
    assert_eq!(dec.counters().malformed(), 0);
}

#[test]
fn one_decoder_across_many_frames_accumulates_counters() {
    let mut dec = decoder();
    let mut n = 0;
    for name in [
        "connected.json",
        "authenticated.json",
        "subscription.json",
        "quotes.json",
        "not_json.json",
        "trades.json",
        "mixed.json",
        "bars.json",
        "error_407.json",
    ] {
        let _ = dec.decode(&fixture(name), RECV, &mut |_| n += 1);
    }
    let c = dec.counters();
    assert_eq!(c.frames, 9);
    assert_eq!((c.quotes, c.trades, c.bars, c.control), (5, 4, 3, 4));
    assert_eq!(c.malformed_frames, 1);
    assert_eq!(n as u64, c.events() + c.control);
}

#[test]
fn long_error_text_is_truncated_not_allocated() {
    let long = "x".repeat(500);
    let frame = format!(r#"[{{"T":"error","code":402,"msg":"{long}"}}]"#);
    let mut dec = decoder();
    let mut got = Vec::new();
    dec.decode(frame.as_bytes(), RECV, &mut |m| got.push(m))
        .unwrap();
    let [AlpacaMessage::Error(e)] = got[..] else {
        panic!("{got:?}")
    };
    assert!(e.msg.truncated());
    assert_eq!(e.msg.as_str(), &long[..96]);
    // msg is optional; code is not.
    let mut got = Vec::new();
    dec.decode(br#"[{"T":"error","code":500}]"#, RECV, &mut |m| got.push(m))
        .unwrap();
    let [AlpacaMessage::Error(e)] = got[..] else {
        panic!("{got:?}")
    };
    assert_eq!(
        (e.code, e.msg.as_str()),
        (AlpacaErrorCode::InternalError, "")
    );
    assert_eq!(
        dec.decode(
            br#"[{"T":"error","msg":"x"},{"T":"error","code":-1}]"#,
            RECV,
            &mut |_| ()
        ),
        Ok(0)
    );
    assert_eq!(dec.counters().malformed_objects, 2);
}

#[test]
fn escaped_symbols_and_prices_decode_like_plain_ones() {
    let mut dec = decoder();
    let mut got = Vec::new();
    let frame = br#"[{"T":"t","S":"\u0053PY","p":5e2,"s":1.0E+2,"t":"2024-03-01T14:30:00.5z"}]"#;
    dec.decode(frame, RECV, &mut |m| got.push(m)).unwrap();
    assert_eq!(
        got,
        vec![trade(SPY, 500.0, 100.0, "2024-03-01T14:30:00.5Z")]
    );
}

#[test]
fn integers_beyond_64_bits_spoil_at_most_their_object() {
    // simd-json's `big-int-as-float`: such an integer is a float, so an
    // ignored field (`i`, the trade id) spoils nothing, a required one
    // only its object, an error code (which must be an integer) its object.
    let mut dec = decoder();
    let mut got = Vec::new();
    let frame = br#"[{"T":"t","S":"SPY","i":-92233720368547758080,"p":1,"s":18446744073709551616,"t":"2024-03-01T14:30:00Z"},
                     {"T":"error","code":18446744073709551616,"msg":"x"},
                     {"T":"t","S":"SPY","i":1,"p":2,"s":3,"t":"2024-03-01T14:30:00Z"}]"#;
    assert_eq!(dec.decode(frame, RECV, &mut |m| got.push(m)), Ok(2));
    assert_eq!(
        got,
        vec![
            trade(SPY, 1.0, 18446744073709551616.0, "2024-03-01T14:30:00Z"),
            trade(SPY, 2.0, 3.0, "2024-03-01T14:30:00Z"),
        ]
    );
    assert_eq!(dec.counters().malformed_objects, 1);
}

// ------------------------------------------------------------- allocation

#[test]
fn decoding_allocates_nothing_after_warm_up() {
    let frames: Vec<Vec<u8>> = [
        "mixed.json",
        "quotes.json",
        "trades.json",
        "bars.json",
        "subscription.json",
        "error_402.json",
        "malformed_objects.json",
        "unknown_types.json",
        "not_json.json",
        "not_array.json",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let mut dec = decoder();
    let mut sink = 0u64;
    // Warm-up: every frame once (the largest sizes the buffers).
    for f in &frames {
        let _ = dec.decode(f, RECV, &mut |m| {
            sink += matches!(m, AlpacaMessage::Event(_)) as u64
        });
    }
    let before = dec.counters();
    arm();
    for i in 0..5_000u64 {
        for f in &frames {
            let _ = dec.decode(f, Nanos(i), &mut |m| {
                sink += matches!(m, AlpacaMessage::Event(_)) as u64
            });
        }
    }
    let allocations = disarm();
    assert_eq!(
        allocations, 0,
        "allocations while decoding warmed-up frames"
    );
    let after = dec.counters();
    assert_eq!(after.frames - before.frames, 5_000 * frames.len() as u64);
    assert_eq!(sink, after.events());
}

// ------------------------------------------------------------------- time

/// Random valid timestamps in every accepted spelling, against chrono.
#[test]
fn rfc3339_matches_chrono_on_random_valid_timestamps() {
    let mut rng = SplitMix::new(0x00A1_FACA);
    let mut accepted = 0;
    for _ in 0..50_000 {
        let r = |rng: &mut SplitMix, n: u64| rng.next_u64() % n;
        let year = 1969 + r(&mut rng, 600);
        let month = 1 + r(&mut rng, 12);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let mdays = match month {
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 31,
        };
        let day = 1 + r(&mut rng, mdays);
        let (h, mi, s) = (r(&mut rng, 24), r(&mut rng, 60), r(&mut rng, 60));
        let sep = if r(&mut rng, 4) == 0 { 't' } else { 'T' };
        let digits = r(&mut rng, 10) as usize;
        let frac = if digits == 0 {
            String::new()
        } else {
            let v = r(&mut rng, 10u64.pow(digits as u32));
            format!(".{v:0digits$}")
        };
        let zone = match r(&mut rng, 4) {
            0 => "Z".to_string(),
            1 => "z".to_string(),
            k => format!(
                "{}{:02}:{:02}",
                if k == 2 { '+' } else { '-' },
                r(&mut rng, 24),
                r(&mut rng, 60)
            ),
        };
        let text = format!("{year:04}-{month:02}-{day:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{zone}");
        let expect = chrono_ns(&text).unwrap_or_else(|| panic!("chrono rejects {text}"));
        let expect = u64::try_from(expect).ok();
        assert_eq!(
            parse_rfc3339(text.as_bytes()).map(|n| n.0),
            expect,
            "{text}"
        );
        accepted += expect.is_some() as u32;
    }
    assert!(accepted > 40_000, "too few in range: {accepted}");
}

#[test]
fn rfc3339_rejects_bad_timestamps() {
    let bad = [
        "",
        "2024-03-01",
        "2024-03-01T14:30:00",  // no zone
        "2024-03-01 14:30:00Z", // space separator
        "2024-03-01T14:30Z",    // no seconds
        "2024-3-01T14:30:00Z",  // short month
        "24-03-01T14:30:00Z",   // short year
        "+2024-03-01T14:30:00Z",
        "2024-03-01T14:30:00ZZ", // trailing byte
        "2024-03-01T14:30:00Z ",
        " 2024-03-01T14:30:00Z",
        "2024-13-01T00:00:00Z", // month 13
        "2024-00-10T00:00:00Z",
        "2024-04-31T00:00:00Z", // April has 30 days
        "2023-02-29T00:00:00Z", // not a leap year
        "2100-02-29T00:00:00Z", // century, not leap
        "2024-01-00T00:00:00Z",
        "2024-01-32T00:00:00Z",
        "2024-03-01T24:00:00Z", // hour 24
        "2024-03-01T23:60:00Z",
        "2024-03-01T23:59:60Z",            // leap second
        "2024-03-01T14:30:00.Z",           // dot without digits
        "2024-03-01T14:30:00.1234567891Z", // 10 fraction digits
        "2024-03-01T14:30:00,5Z",
        "2024-03-01T14:30:00+0500", // offset without colon
        "2024-03-01T14:30:00+05",
        "2024-03-01T14:30:00+24:00",
        "2024-03-01T14:30:00-05:60",
        "2024-03-01T14:30:00UTC",
        "2024-03-01X14:30:00Z",
        "2024/03/01T14:30:00Z",
        "2024-03-01T14-30-00Z",
        "２０２４-03-01T14:30:00Z",
        "1969-12-31T23:59:59Z",      // before the epoch
        "1970-01-01T00:00:00+00:01", // before the epoch after the offset
        "0000-01-01T00:00:00Z",
        "2554-07-21T23:34:34Z", // past u64 nanoseconds
        "9999-12-31T23:59:59.999999999Z",
        "2024-03-01T14:30:00.-5Z",
        "2024-03-01T1a:30:00Z",
    ];
    for s in bad {
        assert_eq!(parse_rfc3339(s.as_bytes()), None, "{s:?}");
    }
    // Inside a frame the object is malformed, the frame is not.
    let mut dec = decoder();
    for s in bad {
        let frame = format!(r#"[{{"T":"t","S":"SPY","p":1,"s":1,"t":"{s}"}}]"#);
        assert_eq!(
            dec.decode(frame.as_bytes(), RECV, &mut |_| ()),
            Ok(0),
            "{s}"
        );
    }
    assert_eq!(dec.counters().malformed_objects, bad.len() as u64);
}

// ------------------------------------------------------------------- fuzz

fn fuzz_iters() -> u64 {
    std::env::var("ALPACA_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.trim().replace('_', "").parse().ok())
        .unwrap_or(200_000)
}

fn fuzz_seed() -> u64 {
    std::env::var("ALPACA_FUZZ_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x5EED_A1FA)
}

/// Every golden fixture (the seeds of the mutation fuzzer).
fn seeds() -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "fixtures missing: {names:?}");
    names.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

const EXTREME_NUMBERS: &[&str] = &[
    "1e400",
    "-1e400",
    "1e-400",
    "-0",
    "-0.0",
    "0",
    "1E+308",
    "1.7976931348623157e308",
    "4.9e-324",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "-9223372036854775809",
    "99999999999999999999999999999999999999",
    "0.000000000000000000000000000000000001",
    "1e",
    "1e+",
    "-",
    "01",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "-Infinity",
    "null",
    "true",
    "false",
    "{}",
    "[]",
    "\"\"",
    "\"1.5\"",
];

const EXTREME_STRINGS: &[&str] = &[
    "",
    "*",
    "\\u0000",
    "\\ud800",
    "\\udc00\\ud800",
    "\\uD83D\\uDE00",
    "\\u00e9",
    "é",
    "\\\"",
    "\\\\",
    "\\x",
    "\\u12",
    "q",
    "t",
    "b",
    "success",
    "subscription",
    "error",
    "connected",
    "authenticated",
    "SPY",
    "AAPL",
    "FAKEPACA",
    "9999-12-31T23:59:59.999999999Z",
    "1969-12-31T23:59:59Z",
    "2024-02-30T00:00:00Z",
    "2554-07-21T23:34:33.709551615Z",
    "2554-07-21T23:33:33.709551615Z",
    "2024-03-01T14:30:00.1234567890Z",
];

const INTERESTING_BYTES: &[u8] = b"[]{}\",:\\-+0123456789eE.tfnu \n\t\0\x7f\x80\xff";

/// `input[range] = with`, by memcpy (splice iterates byte by byte, slow in
/// a debug build).
fn replace(input: &mut Vec<u8>, range: std::ops::Range<usize>, with: &[u8]) {
    let tail = input[range.end..].to_vec();
    input.truncate(range.start);
    input.extend_from_slice(with);
    input.extend_from_slice(&tail);
}

/// One mutation of `input` (which may be empty).
fn mutate(rng: &mut SplitMix, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let pick = |rng: &mut SplitMix, n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    match pick(rng, 12) {
        // Bit flips.
        0 if !input.is_empty() => {
            for _ in 0..1 + pick(rng, 4) {
                let i = pick(rng, input.len());
                input[i] ^= 1 << pick(rng, 8);
            }
        }
        // Insert a byte, often a structural one.
        1 => {
            let b = if pick(rng, 2) == 0 {
                INTERESTING_BYTES[pick(rng, INTERESTING_BYTES.len())]
            } else {
                rng.next_u64() as u8
            };
            let at = pick(rng, input.len() + 1);
            input.insert(at, b);
        }
        // Delete a range.
        2 if !input.is_empty() => {
            let at = pick(rng, input.len());
            let n = 1 + pick(rng, (input.len() - at).min(16));
            input.drain(at..at + n);
        }
        // Duplicate a range in place.
        3 if !input.is_empty() => {
            let at = pick(rng, input.len());
            let n = 1 + pick(rng, (input.len() - at).min(64));
            let copy = input[at..at + n].to_vec();
            let to = pick(rng, input.len() + 1);
            replace(input, to..to, &copy);
        }
        // Splice: this input's head, another seed's tail.
        4 => {
            let other = &seeds[pick(rng, seeds.len())];
            let cut = pick(rng, input.len() + 1);
            let from = pick(rng, other.len() + 1);
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        // Truncate.
        5 => {
            let at = pick(rng, input.len() + 1);
            input.truncate(at);
        }
        // Replace a number with an extreme one.
        6 => {
            let starts: Vec<usize> = (0..input.len())
                .filter(|&i| {
                    (input[i].is_ascii_digit() || input[i] == b'-')
                        && (i == 0 || matches!(input[i - 1], b':' | b',' | b'['))
                })
                .collect();
            if !starts.is_empty() {
                let at = starts[pick(rng, starts.len())];
                let end = at
                    + input[at..]
                        .iter()
                        .position(|b| !(b.is_ascii_digit() || b"-+.eE".contains(b)))
                        .unwrap_or(input.len() - at);
                let long;
                let with: &[u8] = if pick(rng, 6) == 0 {
                    long = "9".repeat(1 + pick(rng, 800));
                    long.as_bytes()
                } else {
                    EXTREME_NUMBERS[pick(rng, EXTREME_NUMBERS.len())].as_bytes()
                };
                replace(input, at..end, with);
            }
        }
        // Replace a string's contents.
        7 => {
            let quotes: Vec<usize> = (0..input.len()).filter(|&i| input[i] == b'"').collect();
            if quotes.len() >= 2 {
                let k = pick(rng, quotes.len() - 1);
                let (a, b) = (quotes[k] + 1, quotes[k + 1]);
                let long;
                let with: &[u8] = if pick(rng, 6) == 0 {
                    long = "A\\u0041".repeat(1 + pick(rng, 200));
                    long.as_bytes()
                } else {
                    EXTREME_STRINGS[pick(rng, EXTREME_STRINGS.len())].as_bytes()
                };
                replace(input, a..b, with);
            }
        }
        // Deep nesting, balanced or not.
        8 => {
            // Around simd-json's depth limit (1024), now and then far past it.
            let depth = if pick(rng, 8) == 0 {
                1 + pick(rng, 5000)
            } else {
                1000 + pick(rng, 50)
            };
            let at = pick(rng, input.len() + 1);
            let (open, close) = if pick(rng, 2) == 0 {
                (b'[', b']')
            } else {
                (b'{', b'}')
            };
            let mut nest = vec![open; depth];
            if pick(rng, 2) == 0 {
                nest.resize(2 * depth, close);
            }
            replace(input, at..at, &nest);
        }
        // Pure random bytes.
        9 => {
            input.clear();
            for _ in 0..pick(rng, 300) {
                input.push(rng.next_u64() as u8);
            }
        }
        // Random bytes drawn from JSON's alphabet.
        10 => {
            input.clear();
            for _ in 0..pick(rng, 300) {
                input.push(INTERESTING_BYTES[pick(rng, INTERESTING_BYTES.len())]);
            }
        }
        // Wrap every object of a batch again: [x] -> [[x]], or a batch of batches.
        _ => {
            let other = &seeds[pick(rng, seeds.len())];
            let mut joined = Vec::with_capacity(input.len() + other.len() + 3);
            joined.push(b'[');
            joined.extend_from_slice(input);
            joined.push(b',');
            joined.extend_from_slice(other);
            joined.push(b']');
            *input = joined;
        }
    }
}

/// Decodes `input`, checking the decoder's bookkeeping; a panic is saved
/// to a crasher file and reported with its path.
fn check_input(
    dec: &mut AlpacaDecoder,
    input: &[u8],
    symbols: usize,
    got: &mut Vec<AlpacaMessage>,
) -> Result<u32, FrameError> {
    got.clear();
    let before = dec.counters();
    let mut delivered = 0u64;
    let mut bad_symbol = false;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dec.decode(input, RECV, &mut |m| {
            delivered += 1;
            if let AlpacaMessage::Event(e) = m {
                bad_symbol |= e.symbol().index() >= symbols || e.receive_time() != RECV;
            }
            got.push(m);
        })
    }));
    let r = match outcome {
        Ok(r) => r,
        Err(_) => {
            let dir = std::env::temp_dir().join("alpaca-crashers");
            std::fs::create_dir_all(&dir).unwrap();
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for &b in input {
                h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
            let path = dir.join(format!("{h:016x}.bin"));
            std::fs::write(&path, input).unwrap();
            panic!(
                "decoder panicked; input saved to {} (copy it to tests/data/alpaca/crashers/)",
                path.display()
            );
        }
    };
    let after = dec.counters();
    assert!(
        !bad_symbol,
        "event with a bad symbol or stamp from {input:?}"
    );
    assert_eq!(after.frames, before.frames + 1);
    let delta = |f: fn(&live_trading::feed::alpaca::DecodeCounters) -> u64| f(&after) - f(&before);
    match r {
        Ok(n) => {
            assert_eq!(u64::from(n), delivered);
            assert_eq!(delta(|c| c.events() + c.control), delivered);
            assert_eq!(delta(|c| c.malformed_frames), 0);
        }
        Err(_) => {
            assert_eq!(delivered, 0);
            assert_eq!(delta(|c| c.malformed_frames), 1);
            assert_eq!(delta(|c| c.events() + c.control + c.malformed_objects), 0);
        }
    }
    r
}

/// An independent decoder for the differential check: serde_json's `Value`
/// and the rules of the decoder's module doc, written out plainly. `None`
/// when serde_json rejects the frame or it is not an array.
fn reference_decode(input: &[u8], params: AlpacaParams) -> Option<Vec<AlpacaMessage>> {
    use serde_json::{Map, Value};
    let root: Value = serde_json::from_slice(input).ok()?;
    let undecidable = std::cell::Cell::new(false);
    let id = |name: &str| {
        SYMBOLS
            .iter()
            .position(|s| *s == name)
            .map(|i| SymbolId(i as u16))
    };
    let num = |o: &Map<String, Value>, k: &str| o.get(k).and_then(Value::as_f64);
    let time = |o: &Map<String, Value>| {
        o.get("t")
            .and_then(Value::as_str)
            .and_then(|t| parse_rfc3339(t.as_bytes()))
    };
    let channel = |v: &Value| -> Option<ChannelSummary> {
        let mut c = ChannelSummary::default();
        for e in v.as_array()? {
            let e = e.as_str()?;
            c.listed += 1;
            if e == "*" {
                c.wildcard = true;
            } else if id(e).is_some() {
                c.known += 1;
            }
        }
        Some(c)
    };
    let optional = |o: &Map<String, Value>, k: &str| match o.get(k) {
        None => Some(ChannelSummary::default()),
        Some(v) => channel(v),
    };
    let one = |o: &Map<String, Value>| -> Option<AlpacaMessage> {
        let symbol = || o.get("S").and_then(Value::as_str).and_then(id);
        Some(match o.get("T")?.as_str()? {
            "q" => AlpacaMessage::Event(MarketEvent::Quote(QuoteEvent {
                symbol: symbol()?,
                bid: num(o, "bp")?,
                ask: num(o, "ap")?,
                bid_size: num(o, "bs")?,
                ask_size: num(o, "as")?,
                exchange_time: time(o)?,
                receive_time: RECV,
            })),
            "t" => AlpacaMessage::Event(MarketEvent::Trade(TradeEvent {
                symbol: symbol()?,
                price: num(o, "p")?,
                size: num(o, "s")?,
                exchange_time: time(o)?,
                receive_time: RECV,
            })),
            "b" => AlpacaMessage::Event(MarketEvent::Bar(BarEvent {
                symbol: symbol()?,
                bar: Bar {
                    end: Nanos(time(o)?.0.checked_add(params.bar_len.0)?),
                    open: num(o, "o")?,
                    high: num(o, "h")?,
                    low: num(o, "l")?,
                    close: num(o, "c")?,
                    volume: num(o, "v")?,
                },
                receive_time: RECV,
            })),
            "success" => match o.get("msg")?.as_str()? {
                "connected" => AlpacaMessage::Connected,
                "authenticated" => AlpacaMessage::Authenticated,
                _ => return None,
            },
            "subscription" => AlpacaMessage::Subscription(SubscriptionSummary {
                trades: channel(o.get("trades")?)?,
                quotes: channel(o.get("quotes")?)?,
                bars: channel(o.get("bars")?)?,
                updated_bars: optional(o, "updatedBars")?,
                daily_bars: optional(o, "dailyBars")?,
                statuses: optional(o, "statuses")?,
                lulds: optional(o, "lulds")?,
                corrections: optional(o, "corrections")?,
                cancel_errors: optional(o, "cancelErrors")?,
            }),
            "error" => {
                // An integer code. serde_json reads `-0` as the float -0.0
                // (simd-json: the integer 0), the same float as `-1e-400`:
                // such a frame cannot be judged here.
                let code = o.get("code")?;
                if code
                    .as_f64()
                    .is_some_and(|c| c == 0.0 && c.is_sign_negative())
                {
                    undecidable.set(true);
                }
                if code.is_f64() {
                    return None;
                }
                let code = u32::try_from(code.as_u64()?).ok()?;
                let msg = match o.get("msg") {
                    None => "",
                    Some(m) => m.as_str()?,
                };
                AlpacaMessage::Error(AlpacaError {
                    code: AlpacaErrorCode::from_code(code),
                    msg: ShortText::new(msg),
                })
            }
            _ => return None,
        })
    };
    let messages = root
        .as_array()?
        .iter()
        .filter_map(|e| e.as_object().and_then(one))
        .collect();
    (!undecidable.get()).then_some(messages)
}

/// Mutated golden frames and random bytes: never a panic, and the counters
/// always account for what was delivered.
#[test]
fn fuzz_decoder_survives_mutated_frames() {
    let seeds = seeds();
    let iters = fuzz_iters();
    let mut rng = SplitMix::new(fuzz_seed());
    let mut dec = decoder();
    // A second decoder with a small frame limit exercises the oversize path.
    let small_params = AlpacaParams {
        max_frame_len: 512,
        frame_capacity: 64,
        ..AlpacaParams::default()
    };
    let mut small = AlpacaDecoder::new(&SYMBOLS, small_params).unwrap();
    let mut input = Vec::new();
    let mut got = Vec::new();
    let (mut agreed, mut parsers_differ) = (0u64, 0u64);
    for i in 0..iters {
        input.clear();
        input.extend_from_slice(&seeds[(rng.next_u64() % seeds.len() as u64) as usize]);
        // Mostly one mutation, so that many inputs stay valid JSON and
        // reach the object-level checks; sometimes a pile of them.
        let mutations = match rng.next_u64() % 8 {
            0..=4 => 1,
            5 | 6 => 2,
            _ => 3 + rng.next_u64() % 4,
        };
        for _ in 0..mutations {
            mutate(&mut rng, &mut input, &seeds);
        }
        if input.len() > 1 << 16 {
            input.truncate(1 << 16);
        }
        let (which, params) = if i % 8 == 0 {
            (&mut small, small_params)
        } else {
            (&mut dec, AlpacaParams::default())
        };
        let r = check_input(which, &input, SYMBOLS.len(), &mut got);
        // Differential check against serde_json wherever both parse (on a
        // quarter of the frames simd-json rejects: the rest of the time
        // budget goes to more inputs).
        if r.is_err() && i % 4 != 1 {
            continue;
        }
        match (r, reference_decode(&input, params)) {
            (Ok(_), Some(expect)) => {
                assert_eq!(got, expect, "decoder and reference differ on {input:?}");
                agreed += 1;
            }
            (Ok(_), None) | (Err(FrameError::NotJson { .. }), Some(_)) => parsers_differ += 1,
            _ => {}
        }
    }
    let c = dec.counters();
    eprintln!(
        "fuzz: {iters} inputs, seed {:#x}: {agreed} agreed with the serde_json reference, \
         {parsers_differ} where simd-json and serde_json disagree on validity; {c:?}",
        fuzz_seed()
    );
    assert!(agreed > iters / 10, "too few inputs reach the object level");
    // The mutations reach every outcome, not just "not JSON".
    assert!(c.malformed_frames > 0 && c.malformed_objects > 0);
    assert!(c.unknown > 0 && c.unknown_symbol > 0);
    assert!(c.events() > 0 && c.control > 0);
    assert!(small.counters().oversized > 0);
}

/// Mutated timestamps: whatever the parser accepts, chrono reads as the
/// same instant.
#[test]
fn fuzz_rfc3339_accepts_only_what_chrono_agrees_with() {
    let mut rng = SplitMix::new(fuzz_seed() ^ 0x7173);
    let base: &[&[u8]] = &[
        b"2024-03-01T14:30:00.123456789Z",
        b"2021-02-22T10:51:44.208-05:00",
        b"1970-01-01T00:00:00Z",
        b"2000-02-29T23:59:59.9+14:00",
    ];
    let alphabet = b"0123456789-:+.TtZz ";
    let mut accepted = 0u64;
    let iters = fuzz_iters();
    for _ in 0..iters {
        let mut s = base[(rng.next_u64() % base.len() as u64) as usize].to_vec();
        for _ in 0..1 + rng.next_u64() % 3 {
            let i = (rng.next_u64() % s.len() as u64) as usize;
            match rng.next_u64() % 3 {
                0 => s[i] = alphabet[(rng.next_u64() % alphabet.len() as u64) as usize],
                1 => s[i] = rng.next_u64() as u8,
                _ => {
                    s.remove(i);
                }
            }
            if s.is_empty() {
                break;
            }
        }
        if let Some(n) = parse_rfc3339(&s) {
            accepted += 1;
            let text = std::str::from_utf8(&s).unwrap();
            assert_eq!(chrono_ns(text), Some(i128::from(n.0)), "{text}");
        }
    }
    assert!(accepted > 0);
}

/// Every saved crasher decodes without a panic.
#[test]
fn crashers_replay_without_panic() {
    let dir = data_dir().join("crashers");
    let mut dec = decoder();
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "bin" || x == "json") {
            let input = std::fs::read(&path).unwrap();
            let _ = check_input(&mut dec, &input, SYMBOLS.len(), &mut Vec::new());
            replayed += 1;
        }
    }
    assert_eq!(dec.counters().frames, replayed);
}
