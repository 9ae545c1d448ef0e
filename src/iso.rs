//! ISO-8601 UTC timestamps at the edges: persisted state, journals, reports
//! and vector files. Whole seconds print no fraction, whole microseconds six
//! digits, anything finer nine, so every [`Nanos`] round-trips.
//!
//! Cold path only (formatting allocates); the engine works in [`Nanos`].

#![allow(clippy::disallowed_macros)]

use crate::types::Nanos;

/// `2024-01-02T15:30:00Z`, `…:00.950000Z` or `…:00.000000001Z`.
pub fn format(t: Nanos) -> String {
    let mut out = Vec::with_capacity(32);
    // Writing into a Vec cannot fail, and the bytes are ASCII.
    let _ = write(&mut out, t);
    String::from_utf8(out).unwrap_or_default()
}

/// [`format()`] straight into `out` (journal-thread writers: no `String`, no
/// strftime parsing per call).
pub fn write<W: std::io::Write>(out: &mut W, t: Nanos) -> std::io::Result<()> {
    use chrono::{Datelike, Timelike};
    let secs = (t.0 / Nanos::PER_SEC) as i64;
    let sub = t.0 % Nanos::PER_SEC;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return write!(out, "{}ns", t.0);
    };
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )?;
    if sub == 0 {
        out.write_all(b"Z")
    } else if sub.is_multiple_of(Nanos::PER_MICRO) {
        write!(out, ".{:06}Z", sub / Nanos::PER_MICRO)
    } else {
        write!(out, ".{sub:09}Z")
    }
}

/// Parse an RFC 3339 timestamp (any offset) at or after the epoch.
pub fn parse(s: &str) -> Option<Nanos> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .and_then(|dt| dt.timestamp_nanos_opt())
        .and_then(|n| u64::try_from(n).ok())
        .map(Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Nanos = Nanos(1_704_207_600_000_000_000);

    #[test]
    fn round_trips_at_every_resolution() {
        assert_eq!(format(T0), "2024-01-02T15:00:00Z");
        assert_eq!(
            format(Nanos(T0.0 + 950_000_000)),
            "2024-01-02T15:00:00.950000Z"
        );
        assert_eq!(format(Nanos(T0.0 + 1)), "2024-01-02T15:00:00.000000001Z");
        assert_eq!(format(Nanos(0)), "1970-01-01T00:00:00Z");
        // The same text chrono's strftime gives, across years and months.
        for k in 0..500u64 {
            let t = Nanos(k * 86_461_123_457_000 + (k % 3) * 7);
            let secs = (t.0 / Nanos::PER_SEC) as i64;
            let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap();
            let text = format(t);
            assert!(
                text.starts_with(&dt.format("%Y-%m-%dT%H:%M:%S").to_string()),
                "{text}"
            );
            assert_eq!(parse(&text), Some(t));
        }
        for t in [T0, Nanos(T0.0 + 950_000_000), Nanos(T0.0 + 1)] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(parse("2024-01-02T10:00:00-05:00"), Some(T0));
        assert_eq!(parse("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
