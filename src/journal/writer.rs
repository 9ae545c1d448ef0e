//! [`JournalWriter`]: appends framed records to `<dir>/<YYYY-MM-DD>.jnl`,
//! one file per session date, after recovering the journal on open.
//!
//! Runs on the journal thread (the engine never touches files). Cold path:
//! buffered file I/O; steady-state appends reuse one frame buffer and
//! allocate nothing, but they may block on the disk.
//!
//! Durability contract: [`JournalWriter::append`] only buffers;
//! [`JournalWriter::flush`] hands the bytes to the OS (they survive a crash
//! of the process); [`JournalWriter::sync`] also `fdatasync`s them (they
//! survive a crash of the machine). Moving to a new date syncs the old file
//! and the new directory entry first, so only the last file can ever have a
//! torn tail. After any I/O error the writer refuses further writes (the
//! file may end in a partial record); restarting runs recovery, which cuts
//! it.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;

use super::dated;
use super::frame::{self, FILE_HEADER, MAX_FRAME};
use super::reader::{JournalReader, TornTail, EXT};
use super::record::JournalRecord;
use super::JournalError;

/// Write buffer per file.
const BUFFER: usize = 64 * 1024;

/// What [`JournalWriter::open`] found and repaired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Journal files found.
    pub files: usize,
    /// Good records in them.
    pub records: u64,
    /// Sequence number of the last good record (0 for an empty journal).
    pub last_seq: u64,
    /// The torn tail cut from the last file, if there was one.
    pub cut: Option<TornTail>,
}

struct Current {
    date: NaiveDate,
    path: PathBuf,
    out: BufWriter<File>,
}

/// Appends records to the journal. One writer per journal directory.
pub struct JournalWriter {
    dir: PathBuf,
    tz: Tz,
    current: Option<Current>,
    last_seq: u64,
    frame: [u8; MAX_FRAME],
    recovery: Recovery,
    poisoned: bool,
}

impl JournalWriter {
    /// Open the journal in `dir` (created if missing) for appending, with
    /// session dates in `tz`. Recovery first: every record of every file is
    /// verified, a torn tail of the last file is cut (see
    /// [`JournalWriter::recovery`]) and the sequence continues after the last
    /// good record. Damage anywhere else is an error and nothing is changed.
    pub fn open(dir: &Path, tz: Tz) -> Result<JournalWriter, JournalError> {
        fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            op: "create directory",
            source,
        })?;
        let mut reader = JournalReader::open(dir)?;
        for item in reader.by_ref() {
            item?;
        }
        let cut = reader.torn_tail().cloned();
        let last = reader.files().last().map(|(d, p)| (d, p.to_path_buf()));
        let recovery = Recovery {
            files: reader.files().count(),
            records: reader.records_read(),
            last_seq: reader.last_seq(),
            cut,
        };
        if let Some(torn) = &recovery.cut {
            truncate(&torn.file, torn.offset)?;
            log::warn!(
                "journal: cut a torn tail of {} bytes at offset {} of {} ({}); last good record is seq {}",
                torn.bytes,
                torn.offset,
                torn.file.display(),
                torn.problem,
                recovery.last_seq
            );
        }
        let current = match last {
            Some((date, path)) => Some(Current {
                out: BufWriter::with_capacity(BUFFER, open_append(&path)?),
                date,
                path,
            }),
            None => None,
        };
        Ok(JournalWriter {
            dir: dir.to_path_buf(),
            tz,
            current,
            last_seq: recovery.last_seq,
            frame: [0; MAX_FRAME],
            recovery,
            poisoned: false,
        })
    }

    /// What recovery found when the writer was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Sequence number of the last record appended (or recovered); 0 for an
    /// empty journal. The next append gets `last_seq() + 1`.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The file appends currently go to, if any was opened yet.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append `rec` and return its sequence number. The record goes to the
    /// file of its session date; a later date moves the writer to a new
    /// file, an earlier one (a late acknowledgement) stays in the current
    /// file, so files never interleave. Buffered: see
    /// [`JournalWriter::flush`] and [`JournalWriter::sync`].
    pub fn append(&mut self, rec: &JournalRecord) -> Result<u64, JournalError> {
        self.check_poisoned()?;
        let time = rec.time();
        let date =
            dated::session_date(time, self.tz).ok_or(JournalError::TimeOutOfRange { time })?;
        if self.current.as_ref().is_none_or(|c| date > c.date) {
            self.roll_over(date)?;
        }
        let seq = self.last_seq + 1;
        let n = frame::encode_frame(seq, rec, &mut self.frame);
        let Some(current) = self.current.as_mut() else {
            return Err(JournalError::Poisoned {
                path: self.dir.clone(),
            });
        };
        if let Err(source) = current
            .out
            .write_all(self.frame.get(..n).unwrap_or_default())
        {
            self.poisoned = true;
            return Err(JournalError::Io {
                path: current.path.clone(),
                op: "write",
                source,
            });
        }
        self.last_seq = seq;
        Ok(seq)
    }

    /// Hand buffered records to the OS.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.check_poisoned()?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let result = current.out.flush();
        self.io_result(result, "flush")
    }

    /// Flush and `fdatasync` the current file.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.flush()?;
        let Some(current) = self.current.as_mut() else {
            return Ok(());
        };
        let result = current.out.get_ref().sync_data();
        self.io_result(result, "sync")
    }

    fn check_poisoned(&self) -> Result<(), JournalError> {
        if self.poisoned {
            let path = self
                .current
                .as_ref()
                .map_or_else(|| self.dir.clone(), |c| c.path.clone());
            return Err(JournalError::Poisoned { path });
        }
        Ok(())
    }

    fn io_result(&mut self, result: io::Result<()>, op: &'static str) -> Result<(), JournalError> {
        result.map_err(|source| {
            self.poisoned = true;
            JournalError::Io {
                path: self
                    .current
                    .as_ref()
                    .map_or_else(|| self.dir.clone(), |c| c.path.clone()),
                op,
                source,
            }
        })
    }

    /// Close the current file durably and start the file of `date`.
    fn roll_over(&mut self, date: NaiveDate) -> Result<(), JournalError> {
        if self.current.is_some() {
            self.sync()?;
        }
        self.current = None;
        let path = dated::path_for(&self.dir, date, EXT);
        let opened = create_with_header(&path);
        let file = match opened {
            Ok(file) => file,
            Err(e) => {
                self.poisoned = true;
                return Err(e);
            }
        };
        if let Err(source) = dated::sync_dir(&self.dir) {
            self.poisoned = true;
            return Err(JournalError::Io {
                path: self.dir.clone(),
                op: "sync directory",
                source,
            });
        }
        self.current = Some(Current {
            date,
            path,
            out: BufWriter::with_capacity(BUFFER, file),
        });
        Ok(())
    }
}

/// Cut `path` to `len` bytes, durably.
fn truncate(path: &Path, len: u64) -> Result<(), JournalError> {
    let io_err = |source| JournalError::Io {
        path: path.to_path_buf(),
        op: "truncate",
        source,
    };
    let file = OpenOptions::new().write(true).open(path).map_err(io_err)?;
    file.set_len(len).map_err(io_err)?;
    file.sync_all().map_err(io_err)
}

/// Open an existing journal file for appending; a file cut down to nothing
/// (or to part of its header) gets its header back.
fn open_append(path: &Path) -> Result<File, JournalError> {
    let io_err = |op| {
        move |source| JournalError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err("open"))?;
    let len = file.metadata().map_err(io_err("stat"))?.len();
    if len < FILE_HEADER.len() as u64 {
        file.set_len(0).map_err(io_err("truncate"))?;
        file.write_all(&FILE_HEADER)
            .map_err(io_err("write header to"))?;
        file.sync_data().map_err(io_err("sync"))?;
    }
    Ok(file)
}

/// Create a new journal file holding just the header, durably.
fn create_with_header(path: &Path) -> Result<File, JournalError> {
    let io_err = |op| {
        move |source| JournalError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    let mut file = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)
        .map_err(io_err("create"))?;
    file.write_all(&FILE_HEADER)
        .map_err(io_err("write header to"))?;
    file.sync_data().map_err(io_err("sync"))?;
    Ok(file)
}
