//! [`JournalReader`]: reads `(seq, record)` pairs back from every journal
//! file of a directory in order, checking each frame, the sequence and the
//! payload codes.
//!
//! Used at start-up (recovery, and by [`JournalWriter::open`] to verify the
//! journal before appending) and by tools. Cold path: reads whole files.
//!
//! A damaged or torn tail of the LAST file is reported through
//! [`JournalReader::torn_tail`] and ends the iteration; the reader never
//! modifies files. Damage anywhere else — in an older file, or before a good
//! record of the last file — is a [`JournalError::Corrupt`] naming the file
//! and byte offset.
//!
//! [`JournalWriter::open`]: super::JournalWriter::open

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::dated;
use super::frame::{self, Frame, FrameProblem, FILE_HEADER, MAX_FRAME};
use super::record::JournalRecord;
use super::JournalError;

/// The journal file extension.
pub(crate) const EXT: &str = "jnl";

/// A torn or damaged tail at the end of the last journal file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The last journal file.
    pub file: PathBuf,
    /// Offset of the first bad byte: the end of the last good record (or of
    /// the file header).
    pub offset: u64,
    /// Bytes from `offset` to the end of the file.
    pub bytes: u64,
    /// What was wrong at `offset`.
    pub problem: FrameProblem,
}

/// The file being read.
struct Open {
    path: PathBuf,
    bytes: Vec<u8>,
    pos: usize,
    is_last: bool,
}

/// Iterator over the `(seq, record)` pairs of a journal directory, oldest
/// first. After the first `Err` it yields nothing more.
pub struct JournalReader {
    files: Vec<(NaiveDate, PathBuf)>,
    next_file: usize,
    open: Option<Open>,
    after_seq: u64,
    /// The sequence number the next record must carry, once one was read.
    expected: Option<u64>,
    last_seq: u64,
    records: u64,
    torn: Option<TornTail>,
    done: bool,
}

impl JournalReader {
    /// Read every record of every `<YYYY-MM-DD>.jnl` file in `dir`. A missing
    /// directory is an empty journal.
    pub fn open(dir: &Path) -> Result<JournalReader, JournalError> {
        JournalReader::read_from(dir, 0)
    }

    /// Read the records with a sequence number above `after_seq` (the tail
    /// after a snapshot that covers `after_seq`). Files that end before
    /// `after_seq` are skipped unread. When `after_seq > 0` the first record
    /// yielded must be `after_seq + 1`; a later one is a
    /// [`JournalError::SeqGap`]. If the journal ends at or before
    /// `after_seq`, nothing is yielded: compare [`JournalReader::last_seq`]
    /// after the iteration.
    pub fn read_from(dir: &Path, after_seq: u64) -> Result<JournalReader, JournalError> {
        let files = dated::list(dir, EXT).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            op: "list",
            source,
        })?;
        let mut start = 0;
        if after_seq > 0 {
            for (i, (_, path)) in files.iter().enumerate().rev() {
                if first_seq(path)?.is_some_and(|s| s <= after_seq.saturating_add(1)) {
                    start = i;
                    break;
                }
            }
        }
        Ok(JournalReader {
            files,
            next_file: start,
            open: None,
            after_seq,
            expected: None,
            last_seq: 0,
            records: 0,
            torn: None,
            done: false,
        })
    }

    /// The torn tail of the last file, once the iteration reached it.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// The sequence number of the last good record read so far (0 before
    /// the first). After a full iteration: the journal's last record.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Good records read so far, including those at or below `after_seq`.
    pub fn records_read(&self) -> u64 {
        self.records
    }

    /// The journal files in date order (all of them, including skipped ones).
    pub fn files(&self) -> impl Iterator<Item = (NaiveDate, &Path)> {
        self.files.iter().map(|(d, p)| (*d, p.as_path()))
    }

    fn load_next(&mut self) -> Result<bool, JournalError> {
        let Some((_, path)) = self.files.get(self.next_file) else {
            return Ok(false);
        };
        let path = path.clone();
        self.next_file += 1;
        let is_last = self.next_file == self.files.len();
        let bytes = fs::read(&path).map_err(|source| JournalError::Io {
            path: path.clone(),
            op: "read",
            source,
        })?;
        let header_len = FILE_HEADER.len();
        if bytes.len() < header_len {
            // A header cut short is a torn tail of the last file (the
            // writer was stopped right after creating it).
            if is_last && FILE_HEADER.starts_with(&bytes) {
                if !bytes.is_empty() {
                    self.torn = Some(TornTail {
                        file: path,
                        offset: 0,
                        bytes: bytes.len() as u64,
                        problem: FrameProblem::Truncated {
                            needed: header_len as u64,
                            available: bytes.len() as u64,
                        },
                    });
                }
                return Ok(false);
            }
            return Err(JournalError::Corrupt {
                file: path,
                offset: 0,
                problem: FrameProblem::BadHeader,
            });
        }
        if bytes.get(..header_len) != Some(&FILE_HEADER[..]) {
            return Err(JournalError::Corrupt {
                file: path,
                offset: 0,
                problem: FrameProblem::BadHeader,
            });
        }
        self.open = Some(Open {
            path,
            bytes,
            pos: header_len,
            is_last,
        });
        Ok(true)
    }

    fn step(&mut self) -> Result<Option<(u64, JournalRecord)>, JournalError> {
        loop {
            let Some(open) = self.open.as_mut() else {
                if self.load_next()? {
                    continue;
                }
                return Ok(None);
            };
            let at = open.pos;
            match frame::parse_frame(&open.bytes, at) {
                Frame::End => {
                    self.open = None;
                }
                Frame::Bad(problem) => {
                    let tail =
                        open.is_last && !frame::good_record_after(&open.bytes, at, self.expected);
                    let Some(open) = self.open.take() else {
                        return Ok(None);
                    };
                    if tail {
                        self.torn = Some(TornTail {
                            bytes: (open.bytes.len() - at) as u64,
                            file: open.path,
                            offset: at as u64,
                            problem,
                        });
                        return Ok(None);
                    }
                    return Err(JournalError::Corrupt {
                        file: open.path,
                        offset: at as u64,
                        problem,
                    });
                }
                Frame::Good {
                    kind,
                    seq,
                    payload,
                    end,
                } => {
                    let expected = match self.expected {
                        Some(e) => e,
                        None if self.after_seq > 0 && seq > self.after_seq => self.after_seq + 1,
                        None => seq.max(1),
                    };
                    if seq != expected {
                        return Err(JournalError::SeqGap {
                            file: open.path.clone(),
                            offset: at as u64,
                            expected,
                            found: seq,
                        });
                    }
                    let rec = JournalRecord::decode(kind, payload).map_err(|source| {
                        JournalError::Record {
                            file: open.path.clone(),
                            offset: at as u64,
                            seq,
                            source,
                        }
                    })?;
                    open.pos = end;
                    self.expected = Some(seq + 1);
                    self.last_seq = seq;
                    self.records += 1;
                    if seq > self.after_seq {
                        return Ok(Some((seq, rec)));
                    }
                }
            }
        }
    }
}

impl Iterator for JournalReader {
    type Item = Result<(u64, JournalRecord), JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                self.open = None;
                Some(Err(e))
            }
        }
    }
}

/// The sequence number of the first record of a file, if its header and
/// first frame are good.
fn first_seq(path: &Path) -> Result<Option<u64>, JournalError> {
    let io_err = |source: io::Error| JournalError::Io {
        path: path.to_path_buf(),
        op: "read",
        source,
    };
    let file = fs::File::open(path).map_err(io_err)?;
    let mut head = Vec::with_capacity(FILE_HEADER.len() + MAX_FRAME);
    file.take((FILE_HEADER.len() + MAX_FRAME) as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    if head.get(..FILE_HEADER.len()) != Some(&FILE_HEADER[..]) {
        return Ok(None);
    }
    // Only the first frame's own length is looked at; what follows it in
    // `head` does not matter.
    match frame::parse_frame(&head, FILE_HEADER.len()) {
        Frame::Good { seq, .. } => Ok(Some(seq)),
        _ => Ok(None),
    }
}
