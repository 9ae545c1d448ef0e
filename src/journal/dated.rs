//! Files named by session date (`<YYYY-MM-DD>.<ext>`): the date of an event
//! time in the exchange time zone, listing a directory's dated files in date
//! order, and making a new directory entry durable.
//!
//! Runs on the journal thread and at start-up. Cold path: file I/O.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;

use crate::types::Nanos;

/// The calendar date of `t` in `tz`; `None` only past chrono's range.
pub(crate) fn session_date(t: Nanos, tz: Tz) -> Option<NaiveDate> {
    let secs = i64::try_from(t.0 / Nanos::PER_SEC).ok()?;
    let nanos = u32::try_from(t.0 % Nanos::PER_SEC).ok()?;
    let utc = DateTime::from_timestamp(secs, nanos)?;
    Some(utc.with_timezone(&tz).date_naive())
}

/// `<dir>/<YYYY-MM-DD>.<ext>`.
pub(crate) fn path_for(dir: &Path, date: NaiveDate, ext: &str) -> PathBuf {
    dir.join(format!("{}.{ext}", date.format("%Y-%m-%d")))
}

/// The files in `dir` named exactly `<YYYY-MM-DD>.<ext>`, in date order.
/// Other names are ignored; a missing directory has no files.
pub(crate) fn list(dir: &Path, ext: &str) -> io::Result<Vec<(NaiveDate, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(ext).and_then(|s| s.strip_suffix('.')) else {
            continue;
        };
        // Exactly ten characters, so `2024-3-1` or `+2024-03-01` do not
        // alias a canonical name.
        if stem.len() != 10 {
            continue;
        }
        let Ok(date) = NaiveDate::parse_from_str(stem, "%Y-%m-%d") else {
            continue;
        };
        if entry.file_type()?.is_file() {
            files.push((date, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// fsync a directory so that a created or renamed entry survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_date_follows_the_time_zone() {
        // 2024-03-01T04:30:00Z is still Feb 29 in New York.
        let t = Nanos(1_709_267_400 * Nanos::PER_SEC);
        let ny: Tz = "America/New_York".parse().unwrap();
        assert_eq!(session_date(t, ny), NaiveDate::from_ymd_opt(2024, 2, 29));
        assert_eq!(
            session_date(t, Tz::UTC),
            NaiveDate::from_ymd_opt(2024, 3, 1)
        );
        assert!(session_date(Nanos(u64::MAX), Tz::UTC).is_some());
    }

    #[test]
    fn lists_only_canonical_dated_names_in_order() {
        let dir = std::env::temp_dir().join(format!("lt-dated-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        for name in [
            "2024-03-02.jnl",
            "2024-03-01.jnl",
            "2024-3-3.jnl",
            "2024-03-04.jnl.tmp",
            "2024-03-05.jsonl",
            "notes.jnl",
        ] {
            fs::write(dir.join(name), b"").unwrap();
        }
        fs::create_dir(dir.join("2024-03-06.jnl")).unwrap();
        let names: Vec<String> = list(&dir, "jnl")
            .unwrap()
            .into_iter()
            .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["2024-03-01.jnl", "2024-03-02.jnl"]);
        assert!(list(&dir.join("missing"), "jnl").unwrap().is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
