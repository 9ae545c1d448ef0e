//! Atomic snapshot files (`state/engine_state.json`): a reader sees either
//! the old complete snapshot or the new complete one, never a mix, even
//! across a crash or power loss.
//!
//! [`write_atomic`] writes `<name>.tmp` beside the target, fsyncs it, renames
//! it over the target and fsyncs the directory. A `<name>.tmp` left by a
//! crash is never read ([`read`] reads only the target) and is overwritten
//! by the next write. The bytes are the caller's (the engine state JSON,
//! which should name the journal sequence it covers; sync the journal up to
//! that sequence before writing the snapshot).
//!
//! Runs on the journal thread and at start-up. Cold path: file I/O.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::ffi::OsString;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::dated;

/// Why a snapshot cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("cannot {op} {} while saving the snapshot: {source}", path.display())]
    Write {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error("cannot read the snapshot {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("snapshot path {} names no file: give a file path such as state/engine_state.json", path.display())]
    NoFileName { path: PathBuf },
}

/// The temporary file [`write_atomic`] writes before renaming:
/// `<name>.tmp` in the same directory.
pub fn temp_path(path: &Path) -> Result<PathBuf, SnapshotError> {
    let name = path.file_name().ok_or_else(|| SnapshotError::NoFileName {
        path: path.to_path_buf(),
    })?;
    let mut tmp = OsString::from(name);
    tmp.push(".tmp");
    Ok(path.with_file_name(tmp))
}

/// Replace the file at `path` with `bytes` atomically and durably: write
/// `<name>.tmp`, fsync it, rename it over `path`, fsync the directory. The
/// directory is created if missing. On error the old file is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), SnapshotError> {
    let tmp = temp_path(path)?;
    let dir = dated::parent_dir(path);
    let err = |path: &Path, op: &'static str| {
        let path = path.to_path_buf();
        move |source| SnapshotError::Write { path, op, source }
    };
    fs::create_dir_all(dir).map_err(err(dir, "create directory"))?;
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(err(&tmp, "create"))?;
        file.write_all(bytes).map_err(err(&tmp, "write"))?;
        file.sync_all().map_err(err(&tmp, "sync"))?;
        drop(file);
        fs::rename(&tmp, path).map_err(err(path, "rename the temporary file over"))
    })();
    if written.is_err() {
        // Best effort: a leftover is harmless (never read, overwritten next
        // time), but do not leave one behind needlessly.
        let _ = fs::remove_file(&tmp);
        return written;
    }
    dated::sync_dir(dir).map_err(err(dir, "sync directory"))
}

/// The snapshot at `path`, or `None` when there is none yet. A leftover
/// temporary file is ignored.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>, SnapshotError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SnapshotError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Remove a temporary file left by a crash during [`write_atomic`]; returns
/// whether there was one. Optional: leftovers are harmless.
pub fn remove_leftover(path: &Path) -> Result<bool, SnapshotError> {
    let tmp = temp_path(path)?;
    match fs::remove_file(&tmp) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SnapshotError::Write {
            path: tmp,
            op: "remove",
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(test: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("lt-snapshot-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn writes_replace_and_absent_is_none() {
        let d = dir("replace");
        let path = d.join("state").join("engine_state.json");
        assert_eq!(read(&path).unwrap(), None);
        write_atomic(&path, b"{\"seq\":1}").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"{\"seq\":1}"[..]));
        write_atomic(&path, b"{\"seq\":2}").unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"{\"seq\":2}"[..]));
        assert!(!temp_path(&path).unwrap().exists());
        assert!(!remove_leftover(&path).unwrap());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_path_without_a_file_name_is_an_error() {
        let err = write_atomic(Path::new("/"), b"x").unwrap_err();
        assert!(matches!(err, SnapshotError::NoFileName { .. }), "{err}");
    }

    #[test]
    fn a_failed_rename_leaves_the_old_snapshot() {
        let d = dir("rename");
        let path = d.join("snap.json");
        write_atomic(&path, b"good").unwrap();
        // A directory where the temp file should go makes the write fail.
        fs::create_dir_all(temp_path(&path).unwrap().join("x")).unwrap();
        assert!(write_atomic(&path, b"new").is_err());
        assert_eq!(read(&path).unwrap().as_deref(), Some(&b"good"[..]));
        fs::remove_dir_all(&d).unwrap();
    }
}
