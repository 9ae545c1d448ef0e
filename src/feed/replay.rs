//! CSV replay: recorded quotes and bars fed to the engine as
//! [`MarketEvent`]s, merged across files in event time, as fast as possible
//! or paced at ×N real time ([`Pacer`]).
//!
//! Runs on the feed thread. It reads files, may sleep (pacing) and logs bad
//! rows; it is not engine-thread code. Per streamed row it allocates
//! nothing: each file is read through a 1 MiB `BufReader` into one reused
//! line buffer and split into borrowed fields.
//!
//! # File layouts
//!
//! Plain CSV, comma-separated, one header line that names the layout
//! (compared without surrounding blanks or ASCII case; a UTF-8 byte-order
//! mark and `\r\n` line ends are accepted):
//!
//! ```text
//! quotes: symbol,ts_utc_ns,bid,bid_size,ask,ask_size
//! bars:   symbol,ts_utc_ns,open,high,low,close,volume
//! ```
//!
//! - `ts_utc_ns`: integer nanoseconds since the Unix epoch, UTC, > 0. For
//!   quotes the quote time; for bars the bar's **start** (Lean convention):
//!   the emitted bar ends at `ts_utc_ns + bar_seconds` (default 60 s).
//! - prices and sizes: decimal numbers (`str::parse::<f64>`).
//! - Files may mix symbols. Each symbol's rows must be in time order
//!   within a file; the file as a whole need not be.
//!
//! # Time order within a file
//!
//! [`ReplayFeed::open`] reads each file once to check its order. A file
//! whose accepted rows are in time order (most recorded files: the SPY 1-s
//! quotes) is then **streamed**. A file that is not — typically grouped by
//! symbol, all rows of one symbol and then the next, as Lean exports — is
//! read into memory once (56 bytes per row, no strings) and **sorted**
//! stably by event time, so all its symbols replay together in time order
//! ([`ReplayStats::sorted_files`]). Sorting in memory is limited to files
//! of at most [`ReplayParams::max_sort_bytes`] (512 MiB by default); a
//! larger file out of order is refused ([`ReplayError::Unsorted`]) with the
//! command that sorts it on disk.
//!
//! # Merge order
//!
//! [`ReplayFeed::next_event`] returns the earliest pending event over all
//! files by event time (a quote's time, a bar's end); ties go to the file
//! listed first, then to the earlier line. The order depends only on the
//! input. Receive time = exchange time.
//!
//! # Bad input: counted, never fatal
//!
//! Checks per row, in order (a failing row is skipped and counted in
//! [`ReplayStats`], and the replay goes on): UTF-8 and field count, then
//! the symbol, then the timestamp and numbers, then time order:
//! - **malformed**: longer than [`MAX_LINE_BYTES`], not UTF-8, wrong field
//!   count, a field that does not parse (empty included), `ts_utc_ns` zero
//!   or negative;
//! - **unknown symbol**: not in the replay's symbol list (counted per name,
//!   [`ReplayFeed::unknown_symbols`]; logged once per name);
//! - **out of order**: event time earlier than the previous accepted row of
//!   the same symbol in the same file (equal times are fine).
//!
//! Malformed and out-of-order rows are logged (`log::warn!`) with file and
//! line number, the first [`ReplayParams::log_limit`] per file, then one
//! summary line ("N more skipped rows ...") when the file ends; the same
//! first problems are kept in [`ReplayFeed::problems`]. A streamed file's
//! rows are checked as the replay reaches them; a sorted file's all at
//! open. Blank lines are ignored. Quotes that are NaN, infinite,
//! non-positive or crossed (bid > ask), and bars with such prices, are
//! **passed through** for the engine's gates to hold on with a reason code,
//! and counted as `suspect_quotes` / `suspect_bars` when handed out. An
//! open error (missing file, empty file, unknown or missing header, a file
//! too large to sort) names the file and the fix.

mod layout;
mod lines;
mod pacer;
mod source;
mod symbols;

use std::fmt;
use std::path::{Path, PathBuf};

pub use layout::{Layout, RowFault, BARS_HEADER, QUOTES_HEADER};
pub use lines::MAX_LINE_BYTES;
pub use pacer::{Pacer, MIN_SPEED};
pub use symbols::UnknownSymbol;

use crate::feed::event::MarketEvent;
use crate::types::Nanos;
use source::{Shared, Source};
use symbols::SymbolTable;

/// Replay settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayParams {
    /// Bar length in seconds: a bar row's `ts_utc_ns` is its start, the
    /// emitted bar ends `bar_seconds` later. Default 60.
    pub bar_seconds: u64,
    /// Problems logged (and kept in [`ReplayFeed::problems`]) per file
    /// before only counting. Default 20.
    pub log_limit: usize,
    /// Largest file, in bytes, that is read into memory and sorted when its
    /// rows are not in time order (a file grouped by symbol). A larger file
    /// out of order is refused ([`ReplayError::Unsorted`]); a file in order
    /// streams whatever its size. A sorted file holds 56 bytes per row
    /// (about the file's size) while it replays, up to twice that while it
    /// is read and sorted. Default [`DEFAULT_MAX_SORT_BYTES`].
    pub max_sort_bytes: u64,
}

/// 512 MiB: the default [`ReplayParams::max_sort_bytes`].
pub const DEFAULT_MAX_SORT_BYTES: u64 = 512 << 20;

impl Default for ReplayParams {
    fn default() -> ReplayParams {
        ReplayParams {
            bar_seconds: 60,
            log_limit: 20,
            max_sort_bytes: DEFAULT_MAX_SORT_BYTES,
        }
    }
}

/// Counts over the whole replay so far. When the replay is done,
/// `rows = events + malformed + unknown_symbol + out_of_order`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Data rows read (header and blank lines excluded).
    pub rows: u64,
    /// Events handed out by [`ReplayFeed::next_event`].
    pub events: u64,
    /// Rows skipped as malformed.
    pub malformed: u64,
    /// Rows skipped for a symbol not in the list.
    pub unknown_symbol: u64,
    /// Rows skipped for a time earlier than the previous accepted row of
    /// the same symbol in the same file.
    pub out_of_order: u64,
    /// Quotes passed through that are NaN, infinite, non-positive or crossed.
    pub suspect_quotes: u64,
    /// Bars passed through with a non-finite or non-positive price, a high
    /// or low inconsistent with open/close, or a negative volume.
    pub suspect_bars: u64,
    /// Files cut short by an I/O error (logged with file and line).
    pub read_errors: u64,
    /// Files not in time order across symbols (grouped by symbol), read
    /// into memory and sorted by time at open.
    pub sorted_files: u64,
}

impl fmt::Display for ReplayStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} rows, {} events, {} malformed, {} unknown symbol, {} out of order, \
             {} suspect quotes, {} suspect bars, {} read errors, {} files sorted in memory",
            self.rows,
            self.events,
            self.malformed,
            self.unknown_symbol,
            self.out_of_order,
            self.suspect_quotes,
            self.suspect_bars,
            self.read_errors,
            self.sorted_files
        )
    }
}

/// One skipped row, as logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// Index of the file in the path list given to [`ReplayFeed::open`].
    pub file_index: usize,
    /// 1-based line number; the header is line 1.
    pub line: u64,
    pub kind: ProblemKind,
}

/// Why a row was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    Malformed(RowFault),
    /// The row's event time is earlier than the previous accepted row's of
    /// the same symbol in the same file.
    OutOfOrder {
        previous: Nanos,
        found: Nanos,
    },
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProblemKind::Malformed(fault) => write!(f, "malformed row: {fault}"),
            ProblemKind::OutOfOrder { previous, found } => write!(
                f,
                "out of order: event time {} ns is before the previous row's {} ns",
                found.0, previous.0
            ),
        }
    }
}

/// Why a replay cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("replay needs at least one CSV file: --feed replay:PATH[,PATH]")]
    NoFiles,
    #[error("replay needs at least one symbol: rows are matched against the symbol list")]
    NoSymbols,
    #[error("symbol {0:?} is listed twice: each symbol gets one id")]
    DuplicateSymbol(String),
    #[error("{0} symbols: at most 65536 fit a symbol id")]
    TooManySymbols(usize),
    #[error("bar_seconds is {0}: must be from 1 to 18446744073 (a bar ends bar_seconds after its start)")]
    BarSeconds(u64),
    #[error(
        "replay speed {0} is not allowed: give a finite factor of at least {MIN_SPEED} \
         (×1 = real time, ×10 = ten times faster), or none for as fast as possible"
    )]
    Speed(f64),
    #[error("cannot open replay file {}: {source}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read replay file {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "replay file {} is empty: its first line must be a header, one of\n  \
         {QUOTES_HEADER}\n  {BARS_HEADER}",
        .path.display()
    )]
    Empty { path: PathBuf },
    #[error(
        "replay file {}: the first line {found:?} is not a known header{}; \
         expected one of\n  {QUOTES_HEADER}\n  {BARS_HEADER}",
        .path.display(),
        if *.looks_like_data { " (it looks like a data row: add the header line)" } else { "" }
    )]
    UnknownHeader {
        path: PathBuf,
        /// The first line as read (at most 120 characters).
        found: String,
        /// The line's second field is an integer, as in a data row.
        looks_like_data: bool,
    },
    #[error(
        "replay file {}: its rows are not in time order (line {line}: event time {} ns \
         is earlier than {} ns of another symbol above it), and at {size} bytes it is \
         larger than the {limit} bytes sorted in memory; sort it by time first, keeping \
         the header: (head -n 1 FILE && tail -n +2 FILE | sort -s -t, -k2,2n) > FILE.sorted",
        .path.display(), .found.0, .previous.0
    )]
    Unsorted {
        path: PathBuf,
        /// 1-based line number of the first row out of order.
        line: u64,
        /// The latest event time accepted before that row.
        previous: Nanos,
        /// The row's event time.
        found: Nanos,
        /// The file's size in bytes.
        size: u64,
        /// [`ReplayParams::max_sort_bytes`].
        limit: u64,
    },
}

/// Replays CSV files as one time-ordered stream of [`MarketEvent`]s.
///
/// ```no_run
/// use std::path::PathBuf;
/// use live_trading::feed::replay::{Pacer, ReplayFeed, ReplayParams};
///
/// let paths = [PathBuf::from("quotes_spy_1s.csv")];
/// let symbols = ["SPY".to_string()];
/// let mut feed = ReplayFeed::open(&paths, &symbols, ReplayParams::default())?;
/// let mut pacer = Pacer::new(Some(10.0))?; // ×10 real time; None = flat out
/// while let Some(event) = feed.next_event() {
///     pacer.wait_until(event.time());
///     // push `event` into the feed → engine link
/// }
/// log::info!("{}", feed.stats());
/// # Ok::<(), live_trading::feed::replay::ReplayError>(())
/// ```
pub struct ReplayFeed {
    sources: Vec<Source>,
    shared: Shared,
    finished: bool,
}

impl ReplayFeed {
    /// Opens every file, reads its header, checks its time order (sorting
    /// it in memory when needed, see the module doc) and reads its first
    /// accepted row. `symbols` are the replay's symbols; a symbol's id is
    /// its index.
    pub fn open(
        paths: &[PathBuf],
        symbols: &[String],
        params: ReplayParams,
    ) -> Result<ReplayFeed, ReplayError> {
        if paths.is_empty() {
            return Err(ReplayError::NoFiles);
        }
        let bar_length = params
            .bar_seconds
            .checked_mul(Nanos::PER_SEC)
            .filter(|&ns| ns > 0)
            .map(Nanos)
            .ok_or(ReplayError::BarSeconds(params.bar_seconds))?;
        let mut shared = Shared {
            symbols: SymbolTable::new(symbols)?,
            stats: ReplayStats::default(),
            problems: Vec::new(),
            params,
        };
        let sources = paths
            .iter()
            .enumerate()
            .map(|(i, p)| Source::open(p, i, bar_length, &mut shared))
            .collect::<Result<Vec<_>, _>>()?;
        let mut feed = ReplayFeed {
            sources,
            shared,
            finished: false,
        };
        for (i, source) in feed.sources.iter_mut().enumerate() {
            source.advance(i, &mut feed.shared);
        }
        Ok(feed)
    }

    /// The next event in merge order, `None` once every file is done.
    pub fn next_event(&mut self) -> Option<MarketEvent> {
        let mut best: Option<(usize, Nanos)> = None;
        for (i, source) in self.sources.iter().enumerate() {
            if let Some(event) = &source.head {
                let t = event.time();
                if best.is_none_or(|(_, bt)| t < bt) {
                    best = Some((i, t));
                }
            }
        }
        let Some((i, _)) = best else {
            self.finish();
            return None;
        };
        let source = self.sources.get_mut(i)?;
        let event = source.head.take()?;
        source.advance(i, &mut self.shared);
        self.shared.stats.events += 1;
        Some(event)
    }

    /// Counts so far.
    pub fn stats(&self) -> ReplayStats {
        self.shared.stats
    }

    /// The first [`ReplayParams::log_limit`] skipped rows of each file
    /// (malformed or out of order), in the order they were read (a sorted
    /// file's all at open).
    pub fn problems(&self) -> &[RowProblem] {
        &self.shared.problems
    }

    /// Symbols seen in the data but not in the list, in order of first
    /// appearance, with their skipped row counts.
    pub fn unknown_symbols(&self) -> &[UnknownSymbol] {
        self.shared.symbols.unknown()
    }

    /// The replay's symbols in id order.
    pub fn symbols(&self) -> &[String] {
        self.shared.symbols.names()
    }

    /// Each file's path and detected layout, in the order given.
    pub fn files(&self) -> impl Iterator<Item = (&Path, Layout)> + '_ {
        self.sources.iter().map(|s| (s.path(), s.layout()))
    }

    /// Whether each file, in the order given, was sorted in memory (it was
    /// not in time order across symbols) rather than streamed.
    pub fn sorted_in_memory(&self) -> impl Iterator<Item = bool> + '_ {
        self.sources.iter().map(|s| s.sorted())
    }

    /// Logs the totals once, when the last event has been handed out.
    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            log::info!("replay finished: {}", self.shared.stats);
        }
    }
}

impl Iterator for ReplayFeed {
    type Item = MarketEvent;

    fn next(&mut self) -> Option<MarketEvent> {
        self.next_event()
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;
    use crate::types::SymbolId;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Writes `files` into a fresh temp dir and returns their paths.
    fn write_files(files: &[&str]) -> Vec<PathBuf> {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lt-replay-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        files
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let p = dir.join(format!("f{i}.csv"));
                std::fs::write(&p, text).unwrap();
                p
            })
            .collect()
    }

    fn syms(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_quote_file_replays_in_order_with_receive_equal_exchange_time() {
        let paths = write_files(&[
            "symbol,ts_utc_ns,bid,bid_size,ask,ask_size\nSPY,10,1,2,1.5,3\nQQQ,20,4,5,4.5,6\n",
        ]);
        let mut feed =
            ReplayFeed::open(&paths, &syms(&["SPY", "QQQ"]), ReplayParams::default()).unwrap();
        let MarketEvent::Quote(q) = feed.next_event().unwrap() else {
            panic!("not a quote")
        };
        assert_eq!(q.symbol, SymbolId(0));
        assert_eq!((q.bid, q.bid_size, q.ask, q.ask_size), (1.0, 2.0, 1.5, 3.0));
        assert_eq!(q.exchange_time, Nanos(10));
        assert_eq!(q.receive_time, Nanos(10));
        let e = feed.next_event().unwrap();
        assert_eq!((e.symbol(), e.time()), (SymbolId(1), Nanos(20)));
        assert_eq!(feed.next_event(), None);
        assert_eq!(feed.next_event(), None);
        assert_eq!(feed.stats().rows, 2);
        assert_eq!(feed.stats().events, 2);
    }

    #[test]
    fn the_order_check_skips_the_rows_the_replay_skips() {
        // QQQ at 10 s does not parse: QQQ at 5 s is QQQ's first row, and
        // earlier than SPY's before it, so the file is sorted.
        let paths = write_files(&["symbol,ts_utc_ns,bid,bid_size,ask,ask_size\n\
             SPY,8,1,1,1.1,1\nQQQ,10,x,1,1.1,1\nQQQ,5,2,1,2.1,1\nIWM,1,1,1,1,1\n"]);
        let mut feed =
            ReplayFeed::open(&paths, &syms(&["SPY", "QQQ"]), ReplayParams::default()).unwrap();
        assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [true]);
        let got: Vec<(u16, u64)> = std::iter::from_fn(|| feed.next_event())
            .map(|e| (e.symbol().0, e.time().0))
            .collect();
        assert_eq!(got, [(1, 5), (0, 8)]);
        let s = feed.stats();
        assert_eq!(
            (s.rows, s.malformed, s.unknown_symbol, s.sorted_files),
            (4, 1, 1, 1)
        );
        assert_eq!(feed.problems()[0].line, 3);

        // Out of order within one symbol only: streamed, the row skipped.
        let paths = write_files(&["symbol,ts_utc_ns,bid,bid_size,ask,ask_size\n\
             SPY,8,1,1,1.1,1\nSPY,5,1,1,1.1,1\nQQQ,9,2,1,2.1,1\n"]);
        let mut feed =
            ReplayFeed::open(&paths, &syms(&["SPY", "QQQ"]), ReplayParams::default()).unwrap();
        assert_eq!(feed.sorted_in_memory().collect::<Vec<_>>(), [false]);
        assert_eq!(std::iter::from_fn(|| feed.next_event()).count(), 2);
        assert_eq!(feed.stats().out_of_order, 1);
    }

    #[test]
    fn parameters_are_validated() {
        let paths = write_files(&["symbol,ts_utc_ns,bid,bid_size,ask,ask_size\n"]);
        let bad = ReplayParams {
            bar_seconds: 0,
            ..ReplayParams::default()
        };
        assert!(matches!(
            ReplayFeed::open(&paths, &syms(&["SPY"]), bad),
            Err(ReplayError::BarSeconds(0))
        ));
        let huge = ReplayParams {
            bar_seconds: u64::MAX / 2,
            ..ReplayParams::default()
        };
        assert!(matches!(
            ReplayFeed::open(&paths, &syms(&["SPY"]), huge),
            Err(ReplayError::BarSeconds(_))
        ));
        assert!(matches!(
            ReplayFeed::open(&[], &syms(&["SPY"]), ReplayParams::default()),
            Err(ReplayError::NoFiles)
        ));
    }

    #[test]
    fn log_limit_caps_the_problem_list_but_not_the_counts() {
        let mut text = String::from("symbol,ts_utc_ns,bid,bid_size,ask,ask_size\n");
        for _ in 0..30 {
            text.push_str("SPY,x,1,1,1,1\n");
        }
        let paths = write_files(&[&text, &text]);
        let params = ReplayParams {
            log_limit: 5,
            ..ReplayParams::default()
        };
        let mut feed = ReplayFeed::open(&paths, &syms(&["SPY"]), params).unwrap();
        assert_eq!(feed.next_event(), None);
        assert_eq!(feed.stats().malformed, 60);
        assert_eq!(feed.problems().len(), 10, "5 per file");
        assert_eq!(feed.problems()[4].line, 6);
        assert_eq!(feed.problems()[5].file_index, 1);
        assert_eq!(feed.problems()[5].line, 2);
    }
}
