//! Persistence (DESIGN §7): the append-only journal, atomic state snapshots
//! and the human-readable trade log.
//!
//! - [`record`]: [`JournalRecord`], the small `Copy` message the engine
//!   pushes into its journal ring, its deterministic binary codec, and
//!   [`ControlCommand`]. Built on the engine thread; hot path.
//! - [`JournalWriter`] / [`JournalReader`]: `state/journal/<date>.jnl`,
//!   length-prefixed, checksummed, sequence-numbered frames (layout in
//!   `frame.rs`'s doc); a torn tail is cut on open. Journal thread and
//!   start-up.
//! - [`snapshot`]: `write_atomic` / `read` for `state/engine_state.json`
//!   (temp file, fsync, rename, fsync directory). The content is the
//!   engine's.
//! - [`TradeLog`]: `logs/trades/<date>.jsonl`, one JSON line per order, fill
//!   and rejection. Journal thread.
//!
//! Everything written is a function of the records alone — no wall clock,
//! no map order — so two replays of the same input give byte-identical
//! files.

mod dated;
mod frame;
mod reader;
pub mod record;
pub mod snapshot;
pub mod trade_log;
mod writer;

use std::io;
use std::path::PathBuf;

use crate::types::Nanos;

pub use frame::FrameProblem;
pub use reader::{JournalReader, TornTail};
pub use record::{
    ControlCommand, JournalRecord, RecordError, RecordKind, UnknownControlCommand, MAX_PAYLOAD,
};
pub use snapshot::SnapshotError;
pub use trade_log::{TradeLog, TradeLogError};
pub use writer::{JournalWriter, Recovery};

/// Why the journal cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error(
        "journal file {} is damaged at byte {offset} ({problem}) before the end of the journal, \
         so it is not a torn tail: the journal is never repaired automatically; \
         move the damaged file (and any later ones) aside and restore them from a backup",
        file.display()
    )]
    Corrupt {
        file: PathBuf,
        offset: u64,
        problem: FrameProblem,
    },
    #[error(
        "journal file {} has sequence number {found} at byte {offset} where {expected} was expected: \
         records are missing or files were mixed from two journals; restore the missing file \
         or start from an empty journal directory",
        file.display()
    )]
    SeqGap {
        file: PathBuf,
        offset: u64,
        expected: u64,
        found: u64,
    },
    #[error(
        "journal file {} has an unreadable record (seq {seq}) at byte {offset}: {source}",
        file.display()
    )]
    Record {
        file: PathBuf,
        offset: u64,
        seq: u64,
        source: RecordError,
    },
    #[error("record time {} ns has no calendar date: event times must be Unix nanoseconds", time.0)]
    TimeOutOfRange { time: Nanos },
    #[error(
        "the journal writer for {} stopped after an earlier write error: \
         restart the engine so that recovery cuts the partial record",
        path.display()
    )]
    Poisoned { path: PathBuf },
}
