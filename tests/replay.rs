//! CSV replay on real files: the hand-made fixtures in `tests/data/replay/`
//! (every bad-row kind, merge order across files, files grouped by symbol
//! sorted in memory, headers) and byte-exact files written to a temp dir
//! (CRLF, no trailing newline, non-UTF-8, zero bytes, a file changed while
//! it streams). The real-data checks are `#[ignore]`d: run them with
//! `cargo test --release --test replay -- --ignored --nocapture`.

// Test code: formatting and the wall clock are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use live_trading::feed::replay::{
    Layout, Pacer, ProblemKind, ReplayError, ReplayFeed, ReplayParams, ReplayStats, RowFault,
    RowProblem, UnknownSymbol,
};
use live_trading::feed::MarketEvent;
use live_trading::types::{Nanos, SymbolId};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/replay")
        .join(name)
}

/// A fresh temp dir for this test binary.
fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lt-replay-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let p = temp_dir().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn syms(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn open(paths: &[PathBuf], symbols: &[&str]) -> ReplayFeed {
    ReplayFeed::open(paths, &syms(symbols), ReplayParams::default()).unwrap()
}

fn drain(feed: &mut ReplayFeed) -> Vec<MarketEvent> {
    std::iter::from_fn(|| feed.next_event()).collect()
}

const T: u64 = 1_000_000_000_000_000;
const SEC: u64 = 1_000_000_000;

fn malformed(line: u64, fault: RowFault) -> RowProblem {
    RowProblem {
        file_index: 0,
        line,
        kind: ProblemKind::Malformed(fault),
    }
}

#[test]
fn every_bad_row_kind_is_counted_with_its_line_and_the_replay_goes_on() {
    let mut feed = open(&[fixture("bad_rows_quotes.csv")], &["SPY"]);
    let events = drain(&mut feed);
    let lines_times: Vec<u64> = events.iter().map(|e| e.time().0).collect();
    assert_eq!(
        lines_times,
        [1, 4, 5, 6, 7, 8, 9, 12].map(|s| s * SEC),
        "accepted rows are lines 2, 9, 11-15 and 20"
    );
    assert_eq!(
        feed.stats(),
        ReplayStats {
            rows: 18,
            events: 8,
            malformed: 7,
            unknown_symbol: 2,
            out_of_order: 1,
            suspect_quotes: 5,
            suspect_bars: 0,
            read_errors: 0,
            sorted_files: 0,
        }
    );
    assert_eq!(
        feed.problems(),
        &[
            malformed(
                3,
                RowFault::FieldCount {
                    found: 4,
                    expected: 6
                }
            ),
            malformed(
                4,
                RowFault::BadField {
                    column: "ts_utc_ns"
                }
            ),
            malformed(5, RowFault::BadField { column: "bid" }),
            malformed(6, RowFault::NonPositiveTime),
            malformed(7, RowFault::NonPositiveTime),
            RowProblem {
                file_index: 0,
                line: 10,
                kind: ProblemKind::OutOfOrder {
                    previous: Nanos(4 * SEC),
                    found: Nanos(4 * SEC - 1),
                },
            },
            malformed(
                17,
                RowFault::FieldCount {
                    found: 7,
                    expected: 6
                }
            ),
            malformed(
                19,
                RowFault::BadField {
                    column: "ts_utc_ns"
                }
            ),
        ]
    );
    assert_eq!(
        feed.unknown_symbols(),
        &[UnknownSymbol {
            name: "IWM".into(),
            rows: 2,
            first_file: 0,
            first_line: 8,
        }]
    );
}

#[test]
fn suspect_quotes_pass_through_unchanged() {
    let mut feed = open(&[fixture("bad_rows_quotes.csv")], &["SPY"]);
    let quotes: Vec<(f64, f64)> = drain(&mut feed)
        .into_iter()
        .map(|e| match e {
            MarketEvent::Quote(q) => (q.bid, q.ask),
            other => panic!("{other:?} from a quotes file"),
        })
        .collect();
    assert!(quotes[2].0.is_nan(), "NaN bid kept");
    assert_eq!(quotes[3], (100.05, 100.04), "crossed kept");
    assert_eq!(quotes[4].0, f64::INFINITY);
    assert_eq!(quotes[5].0, 0.0);
    assert_eq!(quotes[6].0, -1.0);
}

#[test]
fn files_merge_by_event_time_ties_to_the_first_file_then_the_earlier_line() {
    let quotes = fixture("merge_quotes.csv");
    let bars = fixture("merge_bars.csv");
    let spy = SymbolId(0);
    let qqq = SymbolId(1);
    let kind = |e: &MarketEvent| match e {
        MarketEvent::Quote(_) => 'q',
        MarketEvent::Bar(_) => 'b',
        MarketEvent::Trade(_) => 't',
    };
    let summary = |feed: &mut ReplayFeed| -> Vec<(char, SymbolId, u64)> {
        drain(feed)
            .iter()
            .map(|e| (kind(e), e.symbol(), (e.time().0 - T) / SEC))
            .collect()
    };

    let mut feed = open(&[quotes.clone(), bars.clone()], &["SPY", "QQQ"]);
    assert_eq!(
        summary(&mut feed),
        [
            ('q', spy, 60),
            ('b', spy, 60),
            ('q', spy, 120),
            ('q', qqq, 120),
            ('b', qqq, 120),
            ('q', spy, 150),
            ('b', spy, 150),
        ]
    );
    let mut feed = open(&[bars, quotes], &["SPY", "QQQ"]);
    assert_eq!(
        summary(&mut feed),
        [
            ('b', spy, 60),
            ('q', spy, 60),
            ('b', qqq, 120),
            ('q', spy, 120),
            ('q', qqq, 120),
            ('b', spy, 150),
            ('q', spy, 150),
        ]
    );
    assert_eq!(feed.stats().events, 7);
    let layouts: Vec<Layout> = feed.files().map(|(_, l)| l).collect();
    assert_eq!(layouts, [Layout::Bars, Layout::Quotes]);
}

#[test]
fn two_replays_of_the_same_input_are_identical() {
    let paths = [
        fixture("merge_quotes.csv"),
        fixture("merge_bars.csv"),
        fixture("grouped_quotes.csv"),
    ];
    let a = drain(&mut open(&paths, &["SPY", "QQQ"]));
    let b = drain(&mut open(&paths, &["SPY", "QQQ"]));
    assert_eq!(a.len(), 4 + 3 + 6);
    assert_eq!(a, b);
}

#[test]
fn bars_end_bar_seconds_after_their_start() {
    let paths = [fixture("merge_bars.csv")];
    let MarketEvent::Bar(bar) = open(&paths, &["SPY", "QQQ"]).next_event().unwrap() else {
        panic!("not a bar")
    };
    assert_eq!(bar.bar.end, Nanos(T + 60 * SEC), "default 60 s");
    assert_eq!(bar.receive_time, bar.bar.end);
    assert_eq!(
        (
            bar.bar.open,
            bar.bar.high,
            bar.bar.low,
            bar.bar.close,
            bar.bar.volume
        ),
        (99.90, 100.05, 99.85, 100.01, 5000.0)
    );
    let params = ReplayParams {
        bar_seconds: 300,
        ..ReplayParams::default()
    };
    let mut feed = ReplayFeed::open(&paths, &syms(&["SPY", "QQQ"]), params).unwrap();
    let ends: Vec<u64> = drain(&mut feed)
        .iter()
        .map(|e| (e.time().0 - T) / SEC)
        .collect();
    assert_eq!(ends, [300, 360, 390]);
    assert_eq!(feed.stats().suspect_bars, 0);
}

#[test]
fn unknown_symbols_are_skipped_and_counted_per_name() {
    let mut feed = open(&[fixture("grouped_bars.csv")], &["BBB"]);
    let events = drain(&mut feed);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.symbol() == SymbolId(0)));
    assert_eq!(feed.stats().unknown_symbol, 5);
    assert_eq!(feed.stats().out_of_order, 0, "one symbol of a grouped file");
    assert_eq!(
        feed.unknown_symbols(),
        &[
            UnknownSymbol {
                name: "AAA".into(),
                rows: 3,
                first_file: 0,
                first_line: 2
            },
            UnknownSymbol {
                name: "CCC".into(),
                rows: 2,
                first_file: 0,
                first_line: 7
            },
        ]
    );
    assert!(feed.problems().is_empty());
}

#[test]
fn a_file_grouped_by_symbol_is_sorted_in_memory_and_replays_in_time_order() {
    let mut feed = open(&[fixture("grouped_bars.csv")], &["AAA", "BBB", "CCC"]);
    assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [true]);
    let events = drain(&mut feed);
    let got: Vec<(SymbolId, u64)> = events
        .iter()
        .map(|e| (e.symbol(), (e.time().0 - T) / SEC))
        .collect();
    // Bar ends; equal times keep file order (line order).
    assert_eq!(
        got,
        [
            (SymbolId(0), 60),
            (SymbolId(1), 60),
            (SymbolId(0), 120),
            (SymbolId(1), 120),
            (SymbolId(2), 120),
            (SymbolId(0), 180),
            (SymbolId(2), 240),
        ]
    );
    let MarketEvent::Bar(b) = events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!((b.bar.open, b.bar.volume), (20.00, 400.0), "values travel");
    assert_eq!(feed.stats().out_of_order, 0);
    assert_eq!(feed.stats().sorted_files, 1);
    assert_eq!(feed.stats().events, 7);
    assert!(feed.problems().is_empty());
}

#[test]
fn a_grouped_file_counts_bad_rows_with_their_lines_and_judges_order_per_symbol() {
    let mut feed = open(&[fixture("grouped_quotes.csv")], &["SPY", "QQQ"]);
    // Every row was read and checked at open.
    assert_eq!(feed.stats().rows, 9);
    assert_eq!(feed.stats().malformed + feed.stats().out_of_order, 2);
    let spy = SymbolId(0);
    let qqq = SymbolId(1);
    let got: Vec<(SymbolId, u64)> = drain(&mut feed)
        .iter()
        .map(|e| (e.symbol(), (e.time().0 - T) / SEC))
        .collect();
    assert_eq!(
        got,
        [
            (qqq, 30),
            (spy, 60),
            (spy, 120),
            (qqq, 120),
            (qqq, 150),
            (spy, 180)
        ],
        "SPY at 90 s (line 4) is earlier than SPY's previous row and is skipped; \
         QQQ's rows are not judged against SPY's"
    );
    assert_eq!(
        feed.stats(),
        ReplayStats {
            rows: 9,
            events: 6,
            malformed: 1,
            unknown_symbol: 1,
            out_of_order: 1,
            suspect_quotes: 1,
            suspect_bars: 0,
            read_errors: 0,
            sorted_files: 1,
        }
    );
    assert_eq!(
        feed.problems(),
        &[
            RowProblem {
                file_index: 0,
                line: 4,
                kind: ProblemKind::OutOfOrder {
                    previous: Nanos(T + 120 * SEC),
                    found: Nanos(T + 90 * SEC),
                },
            },
            malformed(
                9,
                RowFault::BadField {
                    column: "ts_utc_ns"
                }
            ),
        ]
    );
    assert_eq!(
        feed.unknown_symbols(),
        &[UnknownSymbol {
            name: "XYZ".into(),
            rows: 1,
            first_file: 0,
            first_line: 6,
        }]
    );
}

#[test]
fn a_grouped_file_merges_with_a_streamed_one_ties_to_the_first_file() {
    let kind = |e: &MarketEvent| match e {
        MarketEvent::Quote(_) => 'q',
        MarketEvent::Bar(_) => 'b',
        MarketEvent::Trade(_) => 't',
    };
    let paths = [fixture("grouped_quotes.csv"), fixture("merge_bars.csv")];
    let mut feed = open(&paths, &["SPY", "QQQ"]);
    assert_eq!(
        feed.sorted_in_memory().collect::<Vec<_>>(),
        [true, false],
        "merge_bars.csv is in time order: it streams"
    );
    let got: Vec<(char, u16, u64)> = drain(&mut feed)
        .iter()
        .map(|e| (kind(e), e.symbol().0, (e.time().0 - T) / SEC))
        .collect();
    assert_eq!(
        got,
        [
            ('q', 1, 30),
            ('q', 0, 60),
            ('b', 0, 60),
            ('q', 0, 120),
            ('q', 1, 120),
            ('b', 1, 120),
            ('q', 1, 150),
            ('b', 0, 150),
            ('q', 0, 180),
        ]
    );
    assert_eq!(feed.stats().sorted_files, 1);
}

#[test]
fn a_grouped_file_over_the_sort_limit_is_refused_with_the_sort_command() {
    let params = ReplayParams {
        max_sort_bytes: 100,
        ..ReplayParams::default()
    };
    let err = ReplayFeed::open(
        &[fixture("grouped_quotes.csv")],
        &syms(&["SPY", "QQQ"]),
        params,
    )
    .err()
    .unwrap();
    assert!(
        matches!(
            err,
            ReplayError::Unsorted {
                line: 7,
                size: 405,
                limit: 100,
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("grouped_quotes.csv"), "{text}");
    assert!(text.contains("line 7"), "{text}");
    assert!(text.contains("sort -s -t, -k2,2n"), "{text}");

    // A file in time order streams whatever the limit.
    let params = ReplayParams {
        max_sort_bytes: 0,
        ..ReplayParams::default()
    };
    let mut feed = ReplayFeed::open(
        &[fixture("merge_quotes.csv")],
        &syms(&["SPY", "QQQ"]),
        params,
    )
    .unwrap();
    assert_eq!(drain(&mut feed).len(), 4);
    // Out of order only through a symbol the replay skips: streams too.
    let mut feed =
        ReplayFeed::open(&[fixture("grouped_quotes.csv")], &syms(&["SPY"]), params).unwrap();
    assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [false]);
    assert_eq!(drain(&mut feed).len(), 3);
    assert_eq!(feed.stats().out_of_order, 1);
}

#[test]
fn a_streamed_file_changed_after_open_still_hands_out_events_in_time_order() {
    // Over 1 MiB, so the reader has not buffered the tail at open.
    let rows = 40_000u64;
    let mut text = String::from("symbol,ts_utc_ns,bid,bid_size,ask,ask_size\n");
    for i in 1..=rows {
        text.push_str(&format!("SPY,{},100.00,100,100.02,100\n", T + i * SEC));
    }
    assert!(text.len() > (1 << 20) + 100 * 50);
    let path = write("changing.csv", text.as_bytes());
    let mut feed = open(std::slice::from_ref(&path), &["SPY", "QQQ"]);
    assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [false]);
    // Insert a QQQ row, earlier than the SPY row before it, near the end.
    let cut = text.len() - 100 * 40;
    let cut = cut + text[cut..].find('\n').unwrap() + 1;
    let changed = format!(
        "{}QQQ,{},300.00,100,300.05,100\n{}",
        &text[..cut],
        T + 5 * SEC,
        &text[cut..]
    );
    std::fs::write(&path, changed).unwrap();
    let mut last = Nanos::ZERO;
    let mut n = 0;
    while let Some(e) = feed.next_event() {
        assert!(e.time() >= last, "{e:?} after {last:?}");
        assert_eq!(e.symbol(), SymbolId(0));
        last = e.time();
        n += 1;
    }
    assert_eq!(n, rows);
    assert_eq!(feed.stats().out_of_order, 1);
    assert!(matches!(
        feed.problems(),
        [RowProblem {
            kind: ProblemKind::OutOfOrder { found, .. },
            ..
        }] if *found == Nanos(T + 5 * SEC)
    ));
}

#[test]
fn crlf_line_ends_no_trailing_newline_bom_and_blank_lines_are_read() {
    let crlf = write(
        "crlf.csv",
        b"symbol,ts_utc_ns,bid,bid_size,ask,ask_size\r\nSPY,1,1.5,1,1.6,1\r\n\r\nSPY,2,1.5,1,1.7,1\r\n",
    );
    let no_newline = write(
        "tail.csv",
        b"\xef\xbb\xbfsymbol,ts_utc_ns,open,high,low,close,volume\nSPY,3,1,2,0.5,1.5,10",
    );
    let mut feed = open(&[crlf, no_newline], &["SPY"]);
    let events = drain(&mut feed);
    assert_eq!(events.len(), 3);
    let MarketEvent::Quote(q) = events[1] else {
        panic!("{:?}", events[1])
    };
    assert_eq!(q.ask, 1.7, "no \\r left in the last field");
    let MarketEvent::Bar(b) = events[2] else {
        panic!("{:?}", events[2])
    };
    assert_eq!(b.bar.volume, 10.0, "the last row without newline is read");
    assert_eq!(b.bar.end, Nanos(3 + 60 * SEC));
    assert_eq!(feed.stats().rows, 3);
    assert_eq!(feed.stats().malformed, 0);
}

#[test]
fn a_row_that_is_not_utf8_is_malformed() {
    let p = write(
        "latin1.csv",
        b"symbol,ts_utc_ns,bid,bid_size,ask,ask_size\nSP\xff,1,1,1,1,1\nSPY,2,1,1,1.1,1\n",
    );
    let mut feed = open(&[p], &["SPY"]);
    assert_eq!(drain(&mut feed).len(), 1);
    assert_eq!(feed.problems(), &[malformed(2, RowFault::NotUtf8)]);
}

#[test]
fn an_overlong_line_is_malformed_and_skipped_whole() {
    let mut bytes = b"symbol,ts_utc_ns,bid,bid_size,ask,ask_size\nSPY,1,".to_vec();
    bytes.extend(std::iter::repeat_n(b'9', 10_000));
    bytes.extend_from_slice(b",1,1,1\nSPY,2,1,1,1.1,1\nSPY,3,");
    bytes.extend(std::iter::repeat_n(b'7', 9_000));
    let mut feed = open(&[write("long.csv", &bytes)], &["SPY"]);
    let events = drain(&mut feed);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].time(), Nanos(2));
    let too_long = RowFault::TooLong {
        limit: live_trading::feed::replay::MAX_LINE_BYTES,
    };
    assert_eq!(
        feed.problems(),
        &[malformed(2, too_long), malformed(4, too_long)]
    );
    assert_eq!(feed.stats().rows, 3);
}

#[test]
fn a_header_only_file_replays_nothing() {
    let mut feed = open(&[fixture("header_only.csv")], &["SPY"]);
    assert_eq!(feed.next_event(), None);
    assert_eq!(feed.stats(), ReplayStats::default());
    // Beside a file with data, it changes nothing.
    let mut feed = open(
        &[fixture("header_only.csv"), fixture("merge_quotes.csv")],
        &["SPY", "QQQ"],
    );
    assert_eq!(drain(&mut feed).len(), 4);
}

#[test]
fn open_errors_name_the_file_and_the_expected_headers() {
    let symbols = syms(&["SPY"]);
    let p = ReplayParams::default();

    let missing = temp_dir().join("nope.csv");
    let err = ReplayFeed::open(std::slice::from_ref(&missing), &symbols, p)
        .err()
        .unwrap();
    assert!(matches!(err, ReplayError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&*missing.to_string_lossy()),
        "{err}"
    );

    let err = ReplayFeed::open(&[fixture("no_header.csv")], &symbols, p)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        matches!(
            err,
            ReplayError::UnknownHeader {
                looks_like_data: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(text.contains("no_header.csv"), "{text}");
    assert!(text.contains("add the header line"), "{text}");
    assert!(
        text.contains("symbol,ts_utc_ns,bid,bid_size,ask,ask_size"),
        "{text}"
    );
    assert!(
        text.contains("symbol,ts_utc_ns,open,high,low,close,volume"),
        "{text}"
    );

    let err = ReplayFeed::open(&[fixture("wrong_header.csv")], &symbols, p)
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        matches!(
            &err,
            ReplayError::UnknownHeader { found, looks_like_data: false, .. }
                if found == "symbol,time,price,size"
        ),
        "{err:?}"
    );
    assert!(text.contains("wrong_header.csv"), "{text}");

    let empty = write("empty.csv", b"");
    let err = ReplayFeed::open(&[empty], &symbols, p).err().unwrap();
    assert!(matches!(err, ReplayError::Empty { .. }), "{err:?}");
    assert!(err.to_string().contains("empty.csv"), "{err}");

    // One bad file among good ones fails the whole open.
    let err = ReplayFeed::open(
        &[fixture("merge_quotes.csv"), fixture("wrong_header.csv")],
        &symbols,
        p,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("wrong_header.csv"), "{err}");
}

#[test]
fn an_unpaced_pacer_never_waits_and_a_paced_one_anchors_on_the_first_event() {
    let mut unpaced = Pacer::new(None).unwrap();
    unpaced.wait_until(Nanos(u64::MAX));
    assert_eq!(unpaced.due_after_first(Nanos(u64::MAX)), None);

    let mut paced = Pacer::new(Some(2.0)).unwrap();
    let mut feed = open(&[fixture("merge_quotes.csv")], &["SPY", "QQQ"]);
    let first = feed.next_event().unwrap();
    paced.wait_until(first.time());
    let last = drain(&mut feed).pop().unwrap();
    assert_eq!(
        paced.due_after_first(last.time()),
        Some(std::time::Duration::from_secs(45)),
        "90 s of events at ×2"
    );
}

/// The real SPY file (~142k quotes): every row replays. Run with
/// `cargo test --release --test replay -- --ignored --nocapture`; the path
/// can be overridden with `LT_SPY_QUOTES`.
#[test]
#[ignore = "needs /work/shared/data; run explicitly"]
fn real_spy_quotes_replay_completely() {
    let path = std::env::var_os("LT_SPY_QUOTES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/lean-equity/quotes_spy_1s.csv"));
    let start = std::time::Instant::now();
    let mut feed = open(&[path], &["SPY"]);
    let mut n = 0u64;
    let mut last = Nanos::ZERO;
    while let Some(e) = feed.next_event() {
        assert!(e.time() >= last);
        last = e.time();
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    let s = feed.stats();
    println!(
        "{s}\n{n} events in {secs:.3} s = {:.2} M events/s",
        n as f64 / secs / 1e6
    );
    assert_eq!(s.rows, 142_153);
    assert_eq!(s.events, 142_153);
    assert_eq!(s.malformed + s.unknown_symbol + s.out_of_order, 0);
    assert_eq!(s.sorted_files, 0, "a file in time order streams");
}

/// Lean's one-minute quotes and bars, each file grouped by symbol (ten
/// symbols, 2008–2015): every row of every symbol replays, in time order.
/// Run with `cargo test --release --test replay -- --ignored --nocapture`;
/// the directory can be overridden with `LT_LEAN_EQUITY`.
#[test]
#[ignore = "needs /work/shared/data; run explicitly"]
fn real_grouped_quotes_and_bars_replay_every_symbol_in_time_order() {
    let dir = std::env::var_os("LT_LEAN_EQUITY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/data/lean-equity"));
    let paths = [dir.join("quotes_1min.csv"), dir.join("bars_1min.csv")];
    let symbols = [
        "AAPL", "AIG", "BAC", "FOXA", "GOOG", "IBM", "NWSA", "SHY", "SPY", "TWX",
    ];
    let start = std::time::Instant::now();
    let mut feed = open(&paths, &symbols);
    let mut quotes = vec![0u64; symbols.len()];
    let mut bars = vec![0u64; symbols.len()];
    let mut last = Nanos::ZERO;
    while let Some(e) = feed.next_event() {
        assert!(e.time() >= last, "{e:?} after {last:?}");
        last = e.time();
        match e {
            MarketEvent::Quote(q) => quotes[q.symbol.index()] += 1,
            MarketEvent::Bar(b) => bars[b.symbol.index()] += 1,
            MarketEvent::Trade(_) => unreachable!(),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let s = feed.stats();
    println!("{s}\n{} events in {secs:.3} s", s.events);
    for (i, name) in symbols.iter().enumerate() {
        println!("  {name:<5} {:>6} quotes {:>6} bars", quotes[i], bars[i]);
    }
    assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [true, true]);
    assert_eq!(s.rows, 23_907 + 21_258);
    assert_eq!(s.events, s.rows);
    assert_eq!(s.malformed + s.unknown_symbol + s.out_of_order, 0);
    assert!(quotes.iter().chain(&bars).all(|&n| n > 0), "every symbol");
}
