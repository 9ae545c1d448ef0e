//! The on-disk framing of journal files, shared by the writer and the reader.
//!
//! A journal file is an 8-byte header, `LTJNL\0` followed by the format
//! version as `u16` little-endian (`1`), then frames back to back:
//!
//! ```text
//! [u32 len][u8 kind][u64 seq][payload: len - 9 bytes][u32 crc]
//! ```
//!
//! all little-endian. `len` counts `kind + seq + payload`; `crc` is CRC-32
//! (IEEE) of `len + kind + seq + payload`, so a damaged length is caught too.
//! `seq` starts at 1 and grows by exactly 1 per record across all files.
//!
//! Runs on the journal thread (encoding) and at start-up (scanning).
//! [`encode_frame`] and [`parse_frame`] allocate nothing.

use super::record::{JournalRecord, RecordKind, MAX_PAYLOAD};

/// Magic and format version at the start of every journal file.
pub(crate) const FILE_HEADER: [u8; 8] = [b'L', b'T', b'J', b'N', b'L', 0, 1, 0];

/// Bytes of the `len` field.
const LEN_BYTES: usize = 4;
/// Bytes of `kind + seq`.
const BODY_HEAD: usize = 1 + 8;
/// Bytes of the trailing checksum.
const CRC_BYTES: usize = 4;

/// Largest possible frame.
pub(crate) const MAX_FRAME: usize = LEN_BYTES + BODY_HEAD + MAX_PAYLOAD + CRC_BYTES;
/// Smallest possible frame (an empty payload; no kind has one, but the
/// framing does not know kinds).
pub(crate) const MIN_FRAME: usize = LEN_BYTES + BODY_HEAD + CRC_BYTES;

/// Write the frame of record `rec` with sequence number `seq` into `out` and
/// return its length.
pub(crate) fn encode_frame(seq: u64, rec: &JournalRecord, out: &mut [u8; MAX_FRAME]) -> usize {
    let mut payload = [0u8; MAX_PAYLOAD];
    let n = rec.encode(&mut payload).min(MAX_PAYLOAD);
    let body_len = BODY_HEAD + n;
    let len = body_len as u32;
    let mut pos = 0;
    let mut put = |bytes: &[u8]| {
        if let Some(slot) = out.get_mut(pos..pos + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        pos += bytes.len();
    };
    put(&len.to_le_bytes());
    put(&[rec.kind().code()]);
    put(&seq.to_le_bytes());
    put(payload.get(..n).unwrap_or_default());
    let crc = crc32fast::hash(out.get(..LEN_BYTES + body_len).unwrap_or_default());
    let mut tail = LEN_BYTES + body_len;
    if let Some(slot) = out.get_mut(tail..tail + CRC_BYTES) {
        slot.copy_from_slice(&crc.to_le_bytes());
    }
    tail += CRC_BYTES;
    tail
}

/// Why the bytes at an offset are not a good frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameProblem {
    /// Fewer bytes remain than the frame header or its length claims.
    Truncated { needed: u64, available: u64 },
    /// The length field is outside what any frame can have.
    BadLength { len: u32 },
    /// The checksum does not match the bytes.
    Checksum { stored: u32, computed: u32 },
    /// The file header is not `LTJNL\0` version 1.
    BadHeader,
}

impl std::fmt::Display for FrameProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FrameProblem::Truncated { needed, available } => {
                write!(
                    f,
                    "truncated record: needs {needed} bytes, {available} left"
                )
            }
            FrameProblem::BadLength { len } => write!(
                f,
                "record length {len} outside {}..={}",
                BODY_HEAD,
                BODY_HEAD + MAX_PAYLOAD
            ),
            FrameProblem::Checksum { stored, computed } => write!(
                f,
                "checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            FrameProblem::BadHeader => {
                f.write_str("not a journal file: the header is not LTJNL version 1")
            }
        }
    }
}

/// One step of a scan through a file's bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Frame<'a> {
    /// A frame whose checksum matches; `end` is the offset after it.
    Good {
        kind: u8,
        seq: u64,
        payload: &'a [u8],
        end: usize,
    },
    /// No bytes left.
    End,
    /// Damage or a torn write at this offset.
    Bad(FrameProblem),
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes(b.try_into().ok()?))
}

fn le_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at + 8)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Parse the frame starting at `pos` in `bytes` (a whole file).
pub(crate) fn parse_frame(bytes: &[u8], pos: usize) -> Frame<'_> {
    let available = bytes.len().saturating_sub(pos) as u64;
    if available == 0 {
        return Frame::End;
    }
    let Some(len) = le_u32(bytes, pos) else {
        return Frame::Bad(FrameProblem::Truncated {
            needed: LEN_BYTES as u64,
            available,
        });
    };
    let body_len = len as usize;
    if !(BODY_HEAD..=BODY_HEAD + MAX_PAYLOAD).contains(&body_len) {
        return Frame::Bad(FrameProblem::BadLength { len });
    }
    let total = LEN_BYTES + body_len + CRC_BYTES;
    let Some(frame) = bytes.get(pos..pos + total) else {
        return Frame::Bad(FrameProblem::Truncated {
            needed: total as u64,
            available,
        });
    };
    let checked = frame.get(..LEN_BYTES + body_len).unwrap_or_default();
    let computed = crc32fast::hash(checked);
    let stored = le_u32(frame, LEN_BYTES + body_len).unwrap_or(!computed);
    if stored != computed {
        return Frame::Bad(FrameProblem::Checksum { stored, computed });
    }
    let kind = frame.get(LEN_BYTES).copied().unwrap_or(0);
    let seq = le_u64(frame, LEN_BYTES + 1).unwrap_or(0);
    let payload = frame
        .get(LEN_BYTES + BODY_HEAD..LEN_BYTES + body_len)
        .unwrap_or_default();
    Frame::Good {
        kind,
        seq,
        payload,
        end: pos + total,
    }
}

/// Whether a good record of a known kind with a sequence number at or
/// after `expected` (any, when `None`) starts anywhere after `bad`. If one
/// does, the damage at `bad` is in the middle of the data, not a torn tail.
pub(crate) fn good_record_after(bytes: &[u8], bad: usize, expected: Option<u64>) -> bool {
    let mut p = bad + 1;
    while p + MIN_FRAME <= bytes.len() {
        if let Frame::Good { kind, seq, .. } = parse_frame(bytes, p) {
            let known = RecordKind::from_code(kind).is_some();
            if known && seq >= expected.unwrap_or(1) {
                return true;
            }
        }
        p += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Nanos;

    fn ack(seq: u64) -> ([u8; MAX_FRAME], usize) {
        let rec = JournalRecord::Ack {
            client_order_id: seq,
            broker_order_id: seq + 100,
            time: Nanos(seq),
        };
        let mut out = [0u8; MAX_FRAME];
        let n = encode_frame(seq, &rec, &mut out);
        (out, n)
    }

    #[test]
    fn frames_parse_back_and_damage_is_seen() {
        let (a, n) = ack(1);
        let (b, m) = ack(2);
        let mut file = a[..n].to_vec();
        file.extend_from_slice(&b[..m]);
        let Frame::Good { kind, seq, end, .. } = parse_frame(&file, 0) else {
            panic!("first frame not good");
        };
        assert_eq!((kind, seq, end), (RecordKind::Ack.code(), 1, n));
        assert!(matches!(parse_frame(&file, n), Frame::Good { seq: 2, .. }));
        assert_eq!(parse_frame(&file, n + m), Frame::End);

        for i in 0..n {
            let mut bad = file.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(parse_frame(&bad, 0), Frame::Bad(_)),
                "flip at {i} not seen"
            );
            assert!(good_record_after(&bad, 0, Some(2)), "flip at {i}");
        }
        for cut in n + 1..n + m {
            assert!(matches!(
                parse_frame(&file[..cut], n),
                Frame::Bad(FrameProblem::Truncated { .. })
            ));
            assert!(!good_record_after(&file[..cut], n, Some(2)));
        }
    }
}
