//! Writing report files (latency report, backtest outputs): parent
//! directories created, the path named in every error.
//!
//! Cold path (reports at exit): allocates and blocks on I/O.

use std::io;
use std::path::{Path, PathBuf};

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}; check that the directory exists or can be created, is writable, and the disk has space", .path.display())]
pub struct WriteError {
    /// The file (or the parent directory) that failed.
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Write `contents` to `path`, creating missing parent directories.
pub fn write_file(path: &Path, contents: &[u8]) -> Result<(), WriteError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| WriteError {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, contents).map_err(|source| WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// `prefix` with `ext` appended as an extension (`out/latency` + `json` →
/// `out/latency.json`; an existing extension is kept: `run.v2` →
/// `run.v2.json`).
pub fn with_extension(prefix: &Path, ext: &str) -> PathBuf {
    let mut name = prefix.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}
