//! ISO-8601 UTC timestamps at the edges: persisted state, journals, reports
//! and vector files. Whole seconds print no fraction, whole microseconds six
//! digits, anything finer nine, so every [`Nanos`] round-trips.
//!
//! Cold path only (formatting allocates); the engine works in [`Nanos`].

#![allow(clippy::disallowed_macros)]

use crate::types::Nanos;

/// `2024-01-02T15:30:00Z`, `…:00.950000Z` or `…:00.000000001Z`.
pub fn format(t: Nanos) -> String {
    let secs = (t.0 / Nanos::PER_SEC) as i64;
    let sub = t.0 % Nanos::PER_SEC;
    let Some(dt) = chrono::DateTime::from_timestamp(secs, 0) else {
        return format!("{}ns", t.0);
    };
    let base = dt.format("%Y-%m-%dT%H:%M:%S");
    if sub == 0 {
        format!("{base}Z")
    } else if sub.is_multiple_of(Nanos::PER_MICRO) {
        format!("{base}.{:06}Z", sub / Nanos::PER_MICRO)
    } else {
        format!("{base}.{sub:09}Z")
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
        for t in [T0, Nanos(T0.0 + 950_000_000), Nanos(T0.0 + 1)] {
            assert_eq!(parse(&format(t)), Some(t));
        }
        assert_eq!(parse("2024-01-02T10:00:00-05:00"), Some(T0));
        assert_eq!(parse("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse("yesterday"), None);
    }
}
