//! The lines of one replay file: the header, then the data lines one at a
//! time with their 1-based line numbers, blank lines skipped, over-long
//! lines cut off and reported, and a rewind to the first data line (a file
//! is read twice: once to check its time order, once to replay it).
//!
//! Feed thread. Per line: one `read_until` into a reused buffer, no
//! allocation.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::ReplayError;

/// Read buffer per file: large enough that a read is a rare system call.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Longest line read (a data row is under 100 bytes): a file without line
/// breaks must not be read into memory whole.
pub const MAX_LINE_BYTES: usize = 4096;

/// One step through the data lines.
pub(super) enum Line<'a> {
    /// Line number (1-based, the header is line 1) and the line without
    /// its line end; never blank.
    Data(u64, &'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`] (its number); the rest of it
    /// was skipped.
    TooLong(u64),
    /// The end of the file.
    End,
    /// Reading the line of this number failed; the file cannot go on.
    Failed(u64, std::io::Error),
}

/// A replay file opened for reading, positioned after its header.
pub(super) struct Lines {
    reader: BufReader<File>,
    /// The current line's bytes, reused for every line.
    buf: Vec<u8>,
    /// 1-based number of the last line read (the header is line 1).
    line: u64,
    /// Byte offset of the first data line.
    data_start: u64,
    /// Size of the file when it was opened.
    len: u64,
    /// A read error met while skipping an over-long line, reported by the
    /// next call.
    pending: Option<std::io::Error>,
}

impl Lines {
    /// Opens `path` and reads its first line. Returns the reader and the
    /// header line (lossily decoded, line end included), `None` for an
    /// empty file.
    pub fn open(path: &Path) -> Result<(Lines, Option<String>), ReplayError> {
        let open_error = |source| ReplayError::Open {
            path: path.to_path_buf(),
            source,
        };
        let read_error = |source| ReplayError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(open_error)?;
        let len = file.metadata().map_err(read_error)?.len();
        let mut lines = Lines {
            reader: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            buf: Vec::with_capacity(256),
            line: 1,
            data_start: 0,
            len,
            pending: None,
        };
        let n = read_line(&mut lines.reader, &mut lines.buf).map_err(read_error)?;
        if n == 0 {
            return Ok((lines, None));
        }
        lines.data_start = n as u64;
        let header = String::from_utf8_lossy(&lines.buf).into_owned();
        Ok((lines, Some(header)))
    }

    /// The next data line (blank lines are skipped but numbered).
    pub fn next_line(&mut self) -> Line<'_> {
        if let Some(e) = self.pending.take() {
            return Line::Failed(self.line + 1, e);
        }
        loop {
            self.buf.clear();
            let n = match read_line(&mut self.reader, &mut self.buf) {
                Ok(0) => return Line::End,
                Ok(n) => n,
                Err(e) => return Line::Failed(self.line + 1, e),
            };
            self.line += 1;
            if n == MAX_LINE_BYTES && self.buf.last() != Some(&b'\n') {
                if let Err(e) = self.skip_rest_of_line() {
                    self.pending = Some(e);
                }
                return Line::TooLong(self.line);
            }
            if trim_line_end(&self.buf).iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Line::Data(self.line, trim_line_end(&self.buf));
        }
    }

    /// 1-based number of the last line returned (the header is line 1).
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The file's size in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Goes back to the first data line.
    pub fn rewind(&mut self) -> std::io::Result<()> {
        self.reader.seek(SeekFrom::Start(self.data_start))?;
        self.line = 1;
        self.pending = None;
        Ok(())
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

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
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
    fn lines_are_numbered_blank_lines_skipped_and_rewind_starts_over() {
        let dir = std::env::temp_dir().join(format!("lt-replay-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.csv");
        let mut text = b"h\r\na\n\n  \r\nb".to_vec();
        text.push(b'\n');
        text.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        text.extend_from_slice(b"\nc\n");
        std::fs::write(&path, &text).unwrap();
        let (mut lines, header) = Lines::open(&path).unwrap();
        assert_eq!(header.as_deref(), Some("h\r\n"));
        assert_eq!(lines.len(), text.len() as u64);
        for _ in 0..2 {
            let mut got = Vec::new();
            loop {
                let step = match lines.next_line() {
                    Line::Data(n, b) => (n, String::from_utf8(b.to_vec()).unwrap()),
                    Line::TooLong(n) => (n, "<long>".to_owned()),
                    Line::End => break,
                    Line::Failed(n, e) => panic!("{n}: {e}"),
                };
                assert_eq!(step.0, lines.line());
                got.push(step);
            }
            let want = [(2, "a"), (5, "b"), (6, "<long>"), (7, "c")];
            let want: Vec<(u64, String)> = want.iter().map(|(l, s)| (*l, s.to_string())).collect();
            assert_eq!(got, want);
            lines.rewind().unwrap();
        }
        let empty = dir.join("empty.csv");
        std::fs::write(&empty, b"").unwrap();
        assert!(Lines::open(&empty).unwrap().1.is_none());
    }
}
