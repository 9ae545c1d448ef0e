//! One replay file: its rows in time order, its read-ahead event, and the
//! checks that turn each data row into a [`MarketEvent`] or a counted,
//! skipped problem.
//!
//! A file is opened in two passes. The first reads every row and checks
//! that the rows the replay will accept are in time order; it stops at the
//! first that is not. A file in order is then **streamed** from its first
//! data line. A file out of order across symbols (grouped by symbol: all
//! rows of one, then the next) is read into memory once as compact `Copy`
//! rows and **sorted** stably by event time, up to
//! [`ReplayParams::max_sort_bytes`](super::ReplayParams::max_sort_bytes);
//! a larger one is refused with the command that sorts it.
//!
//! Feed thread. Per streamed row: one `read_until` into a reused buffer,
//! fields split without allocation, numbers parsed with `str::parse`. Only
//! problems are logged (the first few per file, then one summary line).

use std::path::{Path, PathBuf};

use super::layout::{Fields, Layout, RowFault};
use super::lines::{Line, Lines};
use super::symbols::SymbolTable;
use super::{ProblemKind, ReplayError, ReplayParams, ReplayStats, RowProblem};
use crate::feed::event::{BarEvent, MarketEvent, QuoteEvent};
use crate::market::bar::Bar;
use crate::types::{Nanos, SymbolId};

/// Most characters of an unknown header quoted back in the error.
const HEADER_QUOTE_CHARS: usize = 120;

/// What every file of the replay shares: symbols, counters, the problem
/// list and the parameters.
pub(super) struct Shared {
    pub symbols: SymbolTable,
    pub stats: ReplayStats,
    pub problems: Vec<RowProblem>,
    pub params: ReplayParams,
}

/// The first row whose event time is earlier than an accepted row of
/// another symbol before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Disorder {
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// The latest event time accepted before it.
    pub previous: Nanos,
    /// Its event time.
    pub found: Nanos,
}

/// One accepted row held in memory: 56 bytes, no string.
#[derive(Clone, Copy, Debug)]
struct SortedRow {
    time: Nanos,
    values: [f64; 5],
    symbol: SymbolId,
}

/// Where a file's accepted rows come from.
enum Rows {
    /// Read line by line as the replay goes: the file is in time order.
    Stream(Lines),
    /// Read at open and sorted by event time (ties in line order).
    Sorted(std::vec::IntoIter<SortedRow>),
}

/// The file's time-order checks and its problem tally.
struct Checks {
    /// Event time of the last accepted row of each symbol id: a row earlier
    /// than its symbol's previous row is out of order.
    last_by_symbol: Box<[Option<Nanos>]>,
    /// Event time of the last row handed out, for streamed files: their
    /// events must leave in time order whatever the symbol.
    last_time: Option<Nanos>,
    /// Problems logged so far (at most `params.log_limit`).
    logged: usize,
    /// Problems past the log limit.
    unlogged: u64,
    malformed: u64,
    out_of_order: u64,
}

/// One open file and its read-ahead.
pub(super) struct Source {
    path: PathBuf,
    layout: Layout,
    /// Bar length added to a bar row's start time.
    bar_length: Nanos,
    rows: Rows,
    checks: Checks,
    /// The next accepted event of this file, not yet handed out.
    pub head: Option<MarketEvent>,
    done: bool,
}

/// What one data row turned into.
enum Row<'a> {
    Event(SymbolId, Nanos, [f64; 5]),
    Fault(RowFault),
    Unknown(&'a str),
}

impl Source {
    /// Opens `path` (the `file_index`-th file), reads its header and checks
    /// the time order of its rows; a file out of order is read and sorted
    /// here (its skipped rows are counted in `shared` now). Does not set
    /// `head`.
    pub fn open(
        path: &Path,
        file_index: usize,
        bar_length: Nanos,
        shared: &mut Shared,
    ) -> Result<Source, ReplayError> {
        let (lines, header) = Lines::open(path)?;
        let Some(header) = header else {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
            });
        };
        let Some(layout) = Layout::detect(&header) else {
            let found: String = header
                .trim_end_matches(['\r', '\n'])
                .chars()
                .take(HEADER_QUOTE_CHARS)
                .collect();
            let looks_like_data = found
                .split(',')
                .nth(1)
                .is_some_and(|ts| ts.trim().parse::<i64>().is_ok());
            return Err(ReplayError::UnknownHeader {
                path: path.to_path_buf(),
                found,
                looks_like_data,
            });
        };
        let n_symbols = shared.symbols.names().len();
        let mut source = Source {
            path: path.to_path_buf(),
            layout,
            bar_length,
            rows: Rows::Stream(lines),
            checks: Checks {
                last_by_symbol: vec![None; n_symbols].into(),
                last_time: None,
                logged: 0,
                unlogged: 0,
                malformed: 0,
                out_of_order: 0,
            },
            head: None,
            done: false,
        };
        let disorder = source.scan(&mut shared.symbols);
        let Rows::Stream(lines) = &mut source.rows else {
            return Ok(source);
        };
        let size = lines.len();
        lines.rewind().map_err(|e| ReplayError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        if let Some(d) = disorder {
            let limit = shared.params.max_sort_bytes;
            if size > limit {
                return Err(ReplayError::Unsorted {
                    path: path.to_path_buf(),
                    line: d.line,
                    previous: d.previous,
                    found: d.found,
                    size,
                    limit,
                });
            }
            source.sort_in_memory(file_index, d, shared);
        }
        Ok(source)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Whether the file was read into memory and sorted.
    pub fn sorted(&self) -> bool {
        matches!(self.rows, Rows::Sorted(_))
    }

    /// First pass: the first row that a streamed replay would accept but
    /// hand out earlier than a row before it; `None` when the file is in
    /// order. Counts and logs nothing (the second pass does). A read error
    /// ends the pass: the replay meets it again and reports it.
    fn scan(&mut self, symbols: &mut SymbolTable) -> Option<Disorder> {
        let Source {
            layout,
            bar_length,
            rows,
            checks,
            ..
        } = self;
        let Rows::Stream(lines) = rows else {
            return None;
        };
        let mut last_by_symbol = checks.last_by_symbol.clone();
        let mut last: Option<Nanos> = None;
        loop {
            let (line, bytes) = match lines.next_line() {
                Line::Data(line, bytes) => (line, bytes),
                Line::TooLong(_) => continue,
                Line::End | Line::Failed(..) => return None,
            };
            let Row::Event(symbol, ts, _) = classify(*layout, bytes, symbols) else {
                continue;
            };
            let Some(time) = event_time(*layout, ts, *bar_length) else {
                continue;
            };
            let Some(slot) = last_by_symbol.get_mut(symbol.index()) else {
                continue;
            };
            if slot.is_some_and(|p| time < p) {
                continue;
            }
            *slot = Some(time);
            if let Some(previous) = last.filter(|&p| time < p) {
                return Some(Disorder {
                    line,
                    previous,
                    found: time,
                });
            }
            last = Some(time);
        }
    }

    /// Second pass of a file out of order: every row read, checked and
    /// counted now, the accepted ones sorted stably by event time.
    fn sort_in_memory(&mut self, file_index: usize, disorder: Disorder, shared: &mut Shared) {
        let mut rows = Vec::new();
        while let Some((symbol, time, values)) = self.next_accepted(file_index, shared) {
            rows.push(SortedRow {
                time,
                values,
                symbol,
            });
        }
        rows.sort_by_key(|r| r.time);
        log::info!(
            "{}: line {}: event time {} ns is earlier than {} ns of another symbol above \
             it; the file is not in time order (grouped by symbol?), so its {} rows were \
             read into memory and sorted by time",
            self.path.display(),
            disorder.line,
            disorder.found.0,
            disorder.previous.0,
            rows.len()
        );
        shared.stats.sorted_files += 1;
        self.rows = Rows::Sorted(rows.into_iter());
    }

    /// Sets `head` to the next event of the file, or leaves it `None` when
    /// the file is done. Every skipped row is counted in `shared`.
    pub fn advance(&mut self, file_index: usize, shared: &mut Shared) {
        self.head = None;
        let next = match &mut self.rows {
            Rows::Sorted(rows) => rows.next().map(|r| (r.symbol, r.time, r.values)),
            Rows::Stream(_) => loop {
                let Some((symbol, time, values)) = self.next_accepted(file_index, shared) else {
                    break None;
                };
                // Checked by the first pass; only a file changed since can
                // go back in time here.
                if let Some(previous) = self.checks.last_time.filter(|&p| time < p) {
                    // The symbol's later rows must not be earlier either.
                    if let Some(slot) = self.checks.last_by_symbol.get_mut(symbol.index()) {
                        *slot = Some(previous);
                    }
                    let line = self.line();
                    let kind = ProblemKind::OutOfOrder {
                        previous,
                        found: time,
                    };
                    self.checks
                        .out_of_order(&self.path, file_index, line, kind, shared);
                    continue;
                }
                self.checks.last_time = Some(time);
                break Some((symbol, time, values));
            },
        };
        match next {
            Some((symbol, time, values)) => {
                self.head = Some(event(self.layout, symbol, time, values, &mut shared.stats));
            }
            None => self.finish(),
        }
    }

    /// 1-based number of the line last read (0 for a sorted file).
    fn line(&self) -> u64 {
        match &self.rows {
            Rows::Stream(lines) => lines.line(),
            Rows::Sorted(_) => 0,
        }
    }

    /// Reads rows until one is accepted, counting every skipped one;
    /// `None` at the end of the file (or of a read error, logged) and for a
    /// file already sorted.
    fn next_accepted(
        &mut self,
        file_index: usize,
        shared: &mut Shared,
    ) -> Option<(SymbolId, Nanos, [f64; 5])> {
        let Source {
            path,
            layout,
            bar_length,
            rows,
            checks,
            done,
            ..
        } = self;
        let Rows::Stream(lines) = rows else {
            return None;
        };
        if *done {
            return None;
        }
        loop {
            let (line, bytes) = match lines.next_line() {
                Line::Data(line, bytes) => (line, bytes),
                Line::TooLong(line) => {
                    shared.stats.rows += 1;
                    let fault = RowFault::TooLong {
                        limit: super::MAX_LINE_BYTES,
                    };
                    checks.malformed(path, file_index, line, fault, shared);
                    continue;
                }
                Line::End => return None,
                Line::Failed(line, e) => {
                    log::error!(
                        "{}:{line}: read failed, the rest of this file is not replayed: {e}",
                        path.display()
                    );
                    shared.stats.read_errors += 1;
                    return None;
                }
            };
            shared.stats.rows += 1;
            let (symbol, ts, values) = match classify(*layout, bytes, &mut shared.symbols) {
                Row::Event(symbol, ts, values) => (symbol, ts, values),
                Row::Fault(fault) => {
                    checks.malformed(path, file_index, line, fault, shared);
                    continue;
                }
                Row::Unknown(name) => {
                    shared.stats.unknown_symbol += 1;
                    shared.symbols.note_unknown(name, file_index, path, line);
                    continue;
                }
            };
            let Some(time) = event_time(*layout, ts, *bar_length) else {
                checks.malformed(path, file_index, line, RowFault::TimeOverflow, shared);
                continue;
            };
            let Some(slot) = checks.last_by_symbol.get_mut(symbol.index()) else {
                continue;
            };
            if let Some(previous) = slot.filter(|&p| time < p) {
                let kind = ProblemKind::OutOfOrder {
                    previous,
                    found: time,
                };
                checks.out_of_order(path, file_index, line, kind, shared);
                continue;
            }
            *slot = Some(time);
            return Some((symbol, time, values));
        }
    }

    /// Marks the file done and logs its summary of problems not logged.
    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let c = &self.checks;
        if c.unlogged > 0 {
            log::warn!(
                "{}: {} more skipped rows without a log line \
                 (this file: {} malformed, {} out of order)",
                self.path.display(),
                c.unlogged,
                c.malformed,
                c.out_of_order
            );
        }
        if c.out_of_order > 0 {
            log::warn!(
                "{}: {} rows were earlier than the previous row of the same symbol and \
                 were skipped: each symbol's rows must be in time order",
                self.path.display(),
                c.out_of_order
            );
        }
    }
}

impl Checks {
    fn malformed(
        &mut self,
        path: &Path,
        file_index: usize,
        line: u64,
        fault: RowFault,
        shared: &mut Shared,
    ) {
        shared.stats.malformed += 1;
        self.malformed += 1;
        let kind = ProblemKind::Malformed(fault);
        self.problem(path, file_index, line, kind, shared);
    }

    fn out_of_order(
        &mut self,
        path: &Path,
        file_index: usize,
        line: u64,
        kind: ProblemKind,
        shared: &mut Shared,
    ) {
        shared.stats.out_of_order += 1;
        self.out_of_order += 1;
        self.problem(path, file_index, line, kind, shared);
    }

    /// Records one skipped row: logged and listed while under the per-file
    /// limit, then only counted.
    fn problem(
        &mut self,
        path: &Path,
        file_index: usize,
        line: u64,
        kind: ProblemKind,
        shared: &mut Shared,
    ) {
        if self.logged < shared.params.log_limit {
            self.logged += 1;
            log::warn!("{}:{line}: {kind}; row skipped", path.display());
            shared.problems.push(RowProblem {
                file_index,
                line,
                kind,
            });
        } else {
            self.unlogged += 1;
        }
    }
}

/// A row's event time: a quote's time, a bar's end (`None` on overflow).
#[inline]
fn event_time(layout: Layout, ts: Nanos, bar_length: Nanos) -> Option<Nanos> {
    match layout {
        Layout::Quotes => Some(ts),
        Layout::Bars => ts.0.checked_add(bar_length.0).map(Nanos),
    }
}

/// The event of an accepted row; counts suspect quotes and bars.
#[inline]
fn event(
    layout: Layout,
    symbol: SymbolId,
    time: Nanos,
    values: [f64; 5],
    stats: &mut ReplayStats,
) -> MarketEvent {
    match layout {
        Layout::Quotes => {
            let [bid, bid_size, ask, ask_size, _] = values;
            if suspect_quote(bid, bid_size, ask, ask_size) {
                stats.suspect_quotes += 1;
            }
            MarketEvent::Quote(QuoteEvent {
                symbol,
                bid,
                ask,
                bid_size,
                ask_size,
                exchange_time: time,
                receive_time: time,
            })
        }
        Layout::Bars => {
            let [open, high, low, close, volume] = values;
            let bar = Bar {
                end: time,
                open,
                high,
                low,
                close,
                volume,
            };
            if suspect_bar(&bar) {
                stats.suspect_bars += 1;
            }
            MarketEvent::Bar(BarEvent {
                symbol,
                bar,
                receive_time: time,
            })
        }
    }
}

/// Checks in order: UTF-8, field count, symbol, timestamp, numbers.
#[inline]
fn classify<'a>(layout: Layout, bytes: &'a [u8], symbols: &mut SymbolTable) -> Row<'a> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Row::Fault(RowFault::NotUtf8);
    };
    let fields = match Fields::split(text, layout) {
        Ok(f) => f,
        Err(fault) => return Row::Fault(fault),
    };
    let name = fields.symbol();
    let Some(symbol) = symbols.resolve(name) else {
        return Row::Unknown(name);
    };
    let ts = match fields.time() {
        Ok(ts) => ts,
        Err(fault) => return Row::Fault(fault),
    };
    let mut values = [0.0; 5];
    if let Err(fault) = fields.values(layout, &mut values) {
        return Row::Fault(fault);
    }
    Row::Event(symbol, Nanos(ts), values)
}

/// A quote the engine's spread gate must hold on: a price or size that is
/// not finite, a price that is not positive, a negative size, or a crossed
/// book (bid above ask; bid equal to ask is a locked book, accepted).
#[inline]
fn suspect_quote(bid: f64, bid_size: f64, ask: f64, ask_size: f64) -> bool {
    let prices_ok = bid.is_finite() && ask.is_finite() && bid > 0.0 && ask > 0.0 && bid <= ask;
    let sizes_ok =
        bid_size.is_finite() && ask_size.is_finite() && bid_size >= 0.0 && ask_size >= 0.0;
    !(prices_ok && sizes_ok)
}

/// A bar with a price that is not finite or not positive, a high below
/// another price, a low above another price, or a volume that is negative
/// or not finite.
#[inline]
fn suspect_bar(b: &Bar) -> bool {
    let prices = [b.open, b.high, b.low, b.close];
    let finite = prices.iter().all(|p| p.is_finite() && *p > 0.0);
    let ordered = b.high >= b.open.max(b.close).max(b.low) && b.low <= b.open.min(b.close);
    let volume_ok = b.volume.is_finite() && b.volume >= 0.0;
    !(finite && ordered && volume_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sorted_row_is_compact() {
        assert_eq!(std::mem::size_of::<SortedRow>(), 56);
    }

    #[test]
    fn suspect_quotes_are_recognised() {
        assert!(!suspect_quote(10.0, 1.0, 10.01, 1.0));
        assert!(
            !suspect_quote(10.0, 0.0, 10.0, 0.0),
            "locked is not suspect"
        );
        assert!(suspect_quote(10.02, 1.0, 10.01, 1.0), "crossed");
        assert!(suspect_quote(f64::NAN, 1.0, 10.01, 1.0));
        assert!(suspect_quote(10.0, 1.0, f64::INFINITY, 1.0));
        assert!(suspect_quote(0.0, 1.0, 10.01, 1.0));
        assert!(suspect_quote(-1.0, 1.0, 10.01, 1.0));
        assert!(suspect_quote(10.0, -1.0, 10.01, 1.0));
        assert!(suspect_quote(10.0, 1.0, 10.01, f64::NAN));
    }

    #[test]
    fn suspect_bars_are_recognised() {
        let ok = Bar {
            end: Nanos(1),
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: 100.0,
        };
        assert!(!suspect_bar(&ok));
        assert!(suspect_bar(&Bar { high: 10.2, ..ok }), "high below close");
        assert!(suspect_bar(&Bar { low: 10.2, ..ok }), "low above open");
        assert!(suspect_bar(&Bar {
            open: f64::NAN,
            ..ok
        }));
        assert!(suspect_bar(&Bar { low: 0.0, ..ok }));
        assert!(suspect_bar(&Bar { volume: -1.0, ..ok }));
    }
}
