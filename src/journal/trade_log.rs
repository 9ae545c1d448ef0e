//! [`TradeLog`]: the human-readable trade log `logs/trades/<YYYY-MM-DD>.jsonl`,
//! one JSON object per line for every order, fill and rejection, e.g.
//!
//! ```text
//! {"time":"2024-03-01T14:31:00Z","event":"fill","symbol":"SPY","side":"BUY","qty":12,"price":512.34,"fee":0.61,"client_order_id":7,"broker_order_id":7,"seq":42}
//! ```
//!
//! `seq` is the record's journal sequence number; lines at or below the last
//! logged `seq` are skipped, so replaying the journal tail after a restart
//! does not log a trade twice. Flush the journal before the trade log, so
//! the log never holds a `seq` the journal could lose in a crash (recovery
//! would reuse that number and the log would skip the new record). A
//! partial last line left by a crash is cut on
//! open. Lines depend on the records only (times are event times via
//! [`crate::iso`]), so replays give byte-identical logs.
//!
//! Runs on the journal thread. Cold path: formats strings and writes files.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::dated;
use super::record::JournalRecord;
use crate::iso;
use crate::types::Nanos;

/// The trade log file extension.
const EXT: &str = "jsonl";

/// Why the trade log cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum TradeLogError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error(
        "the last line of trade log {} is not a JSON object with a numeric \"seq\": {source}; \
         the file was edited or damaged: move it aside",
        path.display()
    )]
    BadLastLine {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot encode the trade-log line of journal record {seq}: {source}")]
    Encode { seq: u64, source: serde_json::Error },
    #[error("record time {} ns has no calendar date: event times must be Unix nanoseconds", time.0)]
    TimeOutOfRange { time: Nanos },
}

struct Current {
    date: NaiveDate,
    path: PathBuf,
    out: BufWriter<File>,
}

/// Writes the trade log. One per `logs/trades` directory.
pub struct TradeLog {
    dir: PathBuf,
    tz: Tz,
    symbols: Vec<String>,
    horizons: Vec<String>,
    current: Option<Current>,
    last_seq: u64,
    line: Vec<u8>,
}

#[derive(Serialize)]
struct OrderLine<'a> {
    time: String,
    event: &'static str,
    symbol: &'a str,
    side: &'static str,
    qty: i64,
    price: f64,
    client_order_id: u64,
    cycle: u64,
    horizon: Option<&'a str>,
    seq: u64,
}

#[derive(Serialize)]
struct FillLine<'a> {
    time: String,
    event: &'static str,
    symbol: &'a str,
    side: &'static str,
    qty: i64,
    price: f64,
    fee: f64,
    client_order_id: u64,
    broker_order_id: u64,
    seq: u64,
}

#[derive(Serialize)]
struct RejectLine<'a> {
    time: String,
    event: &'static str,
    symbol: &'a str,
    reason: &'static str,
    client_order_id: u64,
    seq: u64,
}

#[derive(Deserialize)]
struct SeqOnly {
    seq: u64,
}

/// The name of `id` in `names`, or `"#<id>"` (kept in `scratch`) for an id
/// outside the table, so no information is lost.
fn label<'a>(names: &'a [String], id: usize, scratch: &'a mut String) -> &'a str {
    match names.get(id) {
        Some(name) => name,
        None => {
            *scratch = format!("#{id}");
            scratch
        }
    }
}

impl TradeLog {
    /// Open the trade log in `dir` (created if missing) with session dates
    /// in `tz`. `symbols[i]` names `SymbolId(i)` and `horizons[i]` names
    /// `HorizonId(i)`; ids outside the tables are written as `"#<id>"`.
    pub fn open(
        dir: &Path,
        tz: Tz,
        symbols: &[String],
        horizons: &[String],
    ) -> Result<TradeLog, TradeLogError> {
        let io_err = |path: &Path, op: &'static str| {
            let path = path.to_path_buf();
            move |source| TradeLogError::Io { path, op, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir, "create directory"))?;
        let files = dated::list(dir, EXT).map_err(io_err(dir, "list"))?;
        let mut last_seq = 0;
        let mut current = None;
        for (i, (date, path)) in files.iter().enumerate().rev() {
            let is_last = i + 1 == files.len();
            let mut bytes = fs::read(path).map_err(io_err(path, "read"))?;
            let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
            if is_last && complete < bytes.len() {
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_err(path, "open"))?;
                file.set_len(complete as u64)
                    .map_err(io_err(path, "truncate"))?;
                file.sync_all().map_err(io_err(path, "sync"))?;
                log::warn!(
                    "trade log: cut a partial last line of {} bytes from {}",
                    bytes.len() - complete,
                    path.display()
                );
                bytes.truncate(complete);
            }
            if is_last {
                let file = OpenOptions::new()
                    .append(true)
                    .open(path)
                    .map_err(io_err(path, "open"))?;
                current = Some(Current {
                    date: *date,
                    path: path.clone(),
                    out: BufWriter::new(file),
                });
            }
            let body = bytes.get(..complete).unwrap_or_default();
            let body = body.strip_suffix(b"\n").unwrap_or(body);
            if body.is_empty() {
                continue;
            }
            let last_line = body
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(body, |p| body.get(p + 1..).unwrap_or_default());
            let parsed: SeqOnly =
                serde_json::from_slice(last_line).map_err(|source| TradeLogError::BadLastLine {
                    path: path.clone(),
                    source,
                })?;
            last_seq = parsed.seq;
            break;
        }
        Ok(TradeLog {
            dir: dir.to_path_buf(),
            tz,
            symbols: symbols.to_vec(),
            horizons: horizons.to_vec(),
            current,
            last_seq,
            line: Vec::with_capacity(256),
        })
    }

    /// The journal sequence number of the last line written (0 for none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The file lines currently go to, if any was opened yet.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Log `rec`, journalled as `seq`, if it is an order, fill or rejection
    /// not logged yet (`seq > last_seq()`); returns whether a line was
    /// written. Other records are ignored. Buffered: see
    /// [`TradeLog::flush`].
    pub fn append(&mut self, seq: u64, rec: &JournalRecord) -> Result<bool, TradeLogError> {
        if seq <= self.last_seq {
            return Ok(false);
        }
        self.line.clear();
        let mut symbol_scratch = String::new();
        let mut horizon_scratch = String::new();
        let written = match *rec {
            JournalRecord::Order {
                client_order_id,
                cycle,
                time,
                symbol,
                side,
                qty,
                price,
                horizon,
            } => {
                let line = OrderLine {
                    time: iso::format(time),
                    event: "order",
                    symbol: label(&self.symbols, symbol.index(), &mut symbol_scratch),
                    side: side.as_str(),
                    qty: qty.0,
                    price,
                    client_order_id,
                    cycle,
                    horizon: horizon
                        .map(|h| label(&self.horizons, h.index(), &mut horizon_scratch)),
                    seq,
                };
                serde_json::to_writer(&mut self.line, &line)
            }
            JournalRecord::Fill {
                client_order_id,
                broker_order_id,
                time,
                symbol,
                side,
                qty,
                price,
                fee,
            } => {
                let line = FillLine {
                    time: iso::format(time),
                    event: "fill",
                    symbol: label(&self.symbols, symbol.index(), &mut symbol_scratch),
                    side: side.as_str(),
                    qty: qty.0,
                    price,
                    fee,
                    client_order_id,
                    broker_order_id,
                    seq,
                };
                serde_json::to_writer(&mut self.line, &line)
            }
            JournalRecord::Reject {
                client_order_id,
                time,
                symbol,
                reason,
            } => {
                let line = RejectLine {
                    time: iso::format(time),
                    event: "reject",
                    symbol: label(&self.symbols, symbol.index(), &mut symbol_scratch),
                    reason: reason.code(),
                    client_order_id,
                    seq,
                };
                serde_json::to_writer(&mut self.line, &line)
            }
            _ => return Ok(false),
        };
        written.map_err(|source| TradeLogError::Encode { seq, source })?;
        self.line.push(b'\n');
        let time = rec.time();
        let date =
            dated::session_date(time, self.tz).ok_or(TradeLogError::TimeOutOfRange { time })?;
        if self.current.as_ref().is_none_or(|c| date > c.date) {
            self.roll_over(date)?;
        }
        if let Some(current) = self.current.as_mut() {
            current
                .out
                .write_all(&self.line)
                .map_err(|source| TradeLogError::Io {
                    path: current.path.clone(),
                    op: "write",
                    source,
                })?;
        }
        self.last_seq = seq;
        Ok(true)
    }

    /// Hand buffered lines to the OS.
    pub fn flush(&mut self) -> Result<(), TradeLogError> {
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        current.out.flush().map_err(|source| TradeLogError::Io {
            path: current.path.clone(),
            op: "flush",
            source,
        })
    }

    /// Flush and `fdatasync` the current file.
    pub fn sync(&mut self) -> Result<(), TradeLogError> {
        self.flush()?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        current
            .out
            .get_ref()
            .sync_data()
            .map_err(|source| TradeLogError::Io {
                path: current.path.clone(),
                op: "sync",
                source,
            })
    }

    fn roll_over(&mut self, date: NaiveDate) -> Result<(), TradeLogError> {
        self.flush()?;
        self.current = None;
        let path = dated::path_for(&self.dir, date, EXT);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| TradeLogError::Io {
                path: path.clone(),
                op: "create",
                source,
            })?;
        self.current = Some(Current {
            date,
            path,
            out: BufWriter::new(file),
        });
        Ok(())
    }
}
