//! One replay file: its reader, its read-ahead event, and the checks that
//! turn each data row into a [`MarketEvent`] or a counted, skipped problem.
//!
//! Feed thread. Per row: one `read_until` into a reused buffer, fields split
//! without allocation, numbers parsed with `str::parse`. Only problems are
//! logged (the first few per file, then one summary line).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use super::layout::{Fields, Layout, RowFault};
use super::symbols::SymbolTable;
use super::{ProblemKind, ReplayError, ReplayParams, ReplayStats, RowProblem};
use crate::feed::event::{BarEvent, MarketEvent, QuoteEvent};
use crate::market::bar::Bar;
use crate::types::{Nanos, SymbolId};

/// Read buffer per file: large enough that a read is a rare system call.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Most characters of an unknown header quoted back in the error.
const HEADER_QUOTE_CHARS: usize = 120;
/// Longest line read (a data row is under 100 bytes): a file without line
/// breaks must not be read into memory whole.
pub const MAX_LINE_BYTES: usize = 4096;

/// What every file of the replay shares: symbols, counters, the problem
/// list and the parameters.
pub(super) struct Shared {
    pub symbols: SymbolTable,
    pub stats: ReplayStats,
    pub problems: Vec<RowProblem>,
    pub params: ReplayParams,
}

/// One open file and its read-ahead.
pub(super) struct Source {
    path: PathBuf,
    layout: Layout,
    /// Bar length added to a bar row's start time.
    bar_length: Nanos,
    reader: BufReader<File>,
    /// The current line's bytes, reused for every line.
    buf: Vec<u8>,
    /// 1-based number of the line in `buf` (the header is line 1).
    line: u64,
    /// Event time of the last accepted row.
    last_time: Option<Nanos>,
    /// The next accepted event of this file, not yet handed out.
    pub head: Option<MarketEvent>,
    done: bool,
    /// Problems logged so far (at most `params.log_limit`).
    logged: usize,
    /// Problems past the log limit.
    unlogged: u64,
    malformed: u64,
    out_of_order: u64,
}

/// What one data row turned into.
enum Row {
    Event(SymbolId, Nanos, [f64; 5]),
    Fault(RowFault),
    Unknown,
}

impl Source {
    /// Opens `path` and reads its header. Does not read any data row.
    pub fn open(path: &Path, bar_length: Nanos) -> Result<Source, ReplayError> {
        let file = File::open(path).map_err(|source| ReplayError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file);
        let mut buf = Vec::with_capacity(256);
        let n = read_line(&mut reader, &mut buf).map_err(|source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if n == 0 {
            return Err(ReplayError::Empty {
                path: path.to_path_buf(),
            });
        }
        let header = String::from_utf8_lossy(&buf);
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
        Ok(Source {
            path: path.to_path_buf(),
            layout,
            bar_length,
            reader,
            buf,
            line: 1,
            last_time: None,
            head: None,
            done: false,
            logged: 0,
            unlogged: 0,
            malformed: 0,
            out_of_order: 0,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Reads rows until one is accepted (it becomes `head`) or the file
    /// ends (`head` stays `None`). Every skipped row is counted in `shared`.
    pub fn advance(&mut self, file_index: usize, shared: &mut Shared) {
        self.head = None;
        while !self.done {
            self.buf.clear();
            let too_long = match read_line(&mut self.reader, &mut self.buf) {
                Ok(0) => {
                    self.finish();
                    return;
                }
                Ok(n) => n == MAX_LINE_BYTES && self.buf.last() != Some(&b'\n'),
                Err(e) => {
                    log::error!(
                        "{}:{}: read failed, the rest of this file is not replayed: {e}",
                        self.path.display(),
                        self.line + 1
                    );
                    shared.stats.read_errors += 1;
                    self.finish();
                    return;
                }
            };
            self.line += 1;
            if too_long {
                shared.stats.rows += 1;
                shared.stats.malformed += 1;
                self.malformed += 1;
                let limit = MAX_LINE_BYTES;
                self.problem(
                    file_index,
                    ProblemKind::Malformed(RowFault::TooLong { limit }),
                    shared,
                );
                if let Err(e) = self.skip_rest_of_line() {
                    log::error!(
                        "{}:{}: read failed, the rest of this file is not replayed: {e}",
                        self.path.display(),
                        self.line
                    );
                    shared.stats.read_errors += 1;
                    self.finish();
                }
                continue;
            }
            let bytes = trim_line_end(&self.buf);
            if bytes.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            shared.stats.rows += 1;
            let row = classify(
                self.layout,
                bytes,
                &mut shared.symbols,
                file_index,
                &self.path,
                self.line,
            );
            let (symbol, ts, v) = match row {
                Row::Event(symbol, ts, v) => (symbol, ts, v),
                Row::Fault(fault) => {
                    shared.stats.malformed += 1;
                    self.malformed += 1;
                    self.problem(file_index, ProblemKind::Malformed(fault), shared);
                    continue;
                }
                Row::Unknown => {
                    shared.stats.unknown_symbol += 1;
                    continue;
                }
            };
            let time = match self.layout {
                Layout::Quotes => ts,
                Layout::Bars => match ts.0.checked_add(self.bar_length.0) {
                    Some(end) => Nanos(end),
                    None => {
                        shared.stats.malformed += 1;
                        self.malformed += 1;
                        let kind = ProblemKind::Malformed(RowFault::TimeOverflow);
                        self.problem(file_index, kind, shared);
                        continue;
                    }
                },
            };
            if let Some(previous) = self.last_time.filter(|&p| time < p) {
                shared.stats.out_of_order += 1;
                self.out_of_order += 1;
                let kind = ProblemKind::OutOfOrder {
                    previous,
                    found: time,
                };
                self.problem(file_index, kind, shared);
                continue;
            }
            self.last_time = Some(time);
            self.head = Some(match self.layout {
                Layout::Quotes => {
                    let [bid, bid_size, ask, ask_size, _] = v;
                    if suspect_quote(bid, bid_size, ask, ask_size) {
                        shared.stats.suspect_quotes += 1;
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
                    let [open, high, low, close, volume] = v;
                    let bar = Bar {
                        end: time,
                        open,
                        high,
                        low,
                        close,
                        volume,
                    };
                    if suspect_bar(&bar) {
                        shared.stats.suspect_bars += 1;
                    }
                    MarketEvent::Bar(BarEvent {
                        symbol,
                        bar,
                        receive_time: time,
                    })
                }
            });
            return;
        }
    }

    /// Reads and drops the rest of an over-long line, [`MAX_LINE_BYTES`]
    /// at a time.
    fn skip_rest_of_line(&mut self) -> std::io::Result<()> {
        loop {
            self.buf.clear();
            let n = read_line(&mut self.reader, &mut self.buf)?;
            if n < MAX_LINE_BYTES || self.buf.last() == Some(&b'\n') {
                return Ok(());
            }
        }
    }

    /// Records one skipped row: logged and listed while under the per-file
    /// limit, then only counted.
    fn problem(&mut self, file_index: usize, kind: ProblemKind, shared: &mut Shared) {
        if self.logged < shared.params.log_limit {
            self.logged += 1;
            log::warn!("{}:{}: {kind}; row skipped", self.path.display(), self.line);
            shared.problems.push(RowProblem {
                file_index,
                line: self.line,
                kind,
            });
        } else {
            self.unlogged += 1;
        }
    }

    /// Marks the file done and logs its summary of problems not logged.
    fn finish(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        if self.unlogged > 0 {
            log::warn!(
                "{}: {} more malformed rows skipped without a log line \
                 (this file: {} malformed, {} out of order)",
                self.path.display(),
                self.unlogged,
                self.malformed,
                self.out_of_order
            );
        }
        if self.out_of_order > 0 {
            log::warn!(
                "{}: {} rows were earlier than the row before them and were skipped: \
                 a file's rows must be in time order (a file grouped by symbol replays \
                 one symbol at a time, or sort it by ts_utc_ns first)",
                self.path.display(),
                self.out_of_order
            );
        }
    }
}

/// Appends the next line (with its `\n`, if any) to `buf`, at most
/// [`MAX_LINE_BYTES`] bytes; returns the bytes read, 0 at the end.
#[inline]
fn read_line(reader: &mut BufReader<File>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64)
        .read_until(b'\n', buf)
}

/// The line without its `\n` or `\r\n`.
#[inline]
fn trim_line_end(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

/// Checks in order: UTF-8, field count, symbol, timestamp, numbers.
#[inline]
fn classify(
    layout: Layout,
    bytes: &[u8],
    symbols: &mut SymbolTable,
    file_index: usize,
    path: &Path,
    line: u64,
) -> Row {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Row::Fault(RowFault::NotUtf8);
    };
    let fields = match Fields::split(text, layout) {
        Ok(f) => f,
        Err(fault) => return Row::Fault(fault),
    };
    let name = fields.symbol();
    let Some(symbol) = symbols.resolve(name) else {
        symbols.note_unknown(name, file_index, path, line);
        return Row::Unknown;
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
    fn line_ends_are_trimmed() {
        assert_eq!(trim_line_end(b"a,b\r\n"), b"a,b");
        assert_eq!(trim_line_end(b"a,b\n"), b"a,b");
        assert_eq!(trim_line_end(b"a,b"), b"a,b");
        assert_eq!(trim_line_end(b"a,b\r"), b"a,b");
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
