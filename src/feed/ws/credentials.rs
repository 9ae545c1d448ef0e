//! API credentials for the market-data stream: loaded once at start-up from
//! environment variables or a 0600 secrets file, never from the command
//! line, never printed.
//!
//! Cold path (start-up, feed thread). `Debug` and `Display` print `***`;
//! no error of this module or of the client contains a key or a secret.

use std::fmt;
use std::path::{Path, PathBuf};

/// Default environment variable of the key id (Alpaca's name).
pub const DEFAULT_KEY_VAR: &str = "APCA_API_KEY_ID";
/// Default environment variable of the secret (Alpaca's name).
pub const DEFAULT_SECRET_VAR: &str = "APCA_API_SECRET_KEY";

/// A key id and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    key: String,
    secret: String,
}

/// Where credentials could not be loaded from. Never contains a key or a
/// secret.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "environment variable {var} is not set (or not UTF-8): export it, or use a secrets file"
    )]
    MissingVar { var: String },
    #[error("environment variable {var} is empty")]
    EmptyVar { var: String },
    #[error("cannot read secrets file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "secrets file {} has mode {mode:04o}; it must be readable by its owner only: chmod 600 {}",
        path.display(),
        path.display()
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("secrets file {} has no {name}=... line (or it is empty)", path.display())]
    MissingEntry { path: PathBuf, name: String },
    #[error("secrets file {} line {line}: expected NAME=VALUE, a #comment or a blank line", path.display())]
    Syntax { path: PathBuf, line: usize },
}

impl Credentials {
    /// Credentials from values (tests, the feed server's flags).
    pub fn new(key: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            key: key.into(),
            secret: secret.into(),
        }
    }

    /// From the environment variables `key_var` and `secret_var` (by default
    /// [`DEFAULT_KEY_VAR`] and [`DEFAULT_SECRET_VAR`]).
    pub fn from_env(key_var: &str, secret_var: &str) -> Result<Credentials, CredentialsError> {
        let read = |var: &str| match std::env::var(var) {
            Err(_) => Err(CredentialsError::MissingVar {
                var: var.to_owned(),
            }),
            Ok(v) if v.trim().is_empty() => Err(CredentialsError::EmptyVar {
                var: var.to_owned(),
            }),
            Ok(v) => Ok(v.trim().to_owned()),
        };
        Ok(Credentials {
            key: read(key_var)?,
            secret: read(secret_var)?,
        })
    }

    /// From a secrets file of `NAME=VALUE` lines (blank lines and `#`
    /// comments allowed; an optional `export ` prefix and quotes around the
    /// value are accepted), taking the entries named `key_var` and
    /// `secret_var`. On Unix the file must not be readable or writable by
    /// group or others (mode 0600 or 0400), else it is refused with the
    /// `chmod` that fixes it.
    pub fn from_file(
        path: &Path,
        key_var: &str,
        secret_var: &str,
    ) -> Result<Credentials, CredentialsError> {
        let read_err = |source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path)
                .map_err(read_err)?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(CredentialsError::Permissions {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        let (mut key, mut secret) = (None, None);
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let Some((name, value)) = line.split_once('=') else {
                return Err(CredentialsError::Syntax {
                    path: path.to_owned(),
                    line: i + 1,
                });
            };
            let value = unquote(value.trim());
            match name.trim() {
                n if n == key_var => key = Some(value.to_owned()),
                n if n == secret_var => secret = Some(value.to_owned()),
                _ => {}
            }
        }
        let entry = |v: Option<String>, name: &str| {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| CredentialsError::MissingEntry {
                    path: path.to_owned(),
                    name: name.to_owned(),
                })
        };
        Ok(Credentials {
            key: entry(key, key_var)?,
            secret: entry(secret, secret_var)?,
        })
    }

    /// The key id. Only the client's auth message should read it.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The secret. Only the client's auth message should read it.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// `text` with every occurrence of the key or the secret replaced by
    /// `***` (for server messages that end up in errors or logs).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in [&self.secret, &self.key] {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { key: ***, secret: *** }")
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_macros)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn temp_file(name: &str, text: &str, mode: u32) -> PathBuf {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lt-ws-creds-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        path
    }

    #[test]
    fn debug_and_display_hide_both_values() {
        let c = Credentials::new("KEYVALUE1", "SECRETVALUE2");
        for text in [format!("{c:?}"), format!("{c}")] {
            assert!(
                !text.contains("KEYVALUE1") && !text.contains("SECRETVALUE2"),
                "{text}"
            );
            assert!(text.contains("***"));
        }
        assert_eq!(
            c.redact("bad key KEYVALUE1/SECRETVALUE2"),
            "bad key ***/***"
        );
    }

    #[test]
    fn file_0600_is_read_with_comments_export_and_quotes() {
        let path = temp_file(
            "secrets.env",
            "# alpaca\n\nexport APCA_API_KEY_ID=\"PKTEST\"\nAPCA_API_SECRET_KEY = s3cr3t\nOTHER=x\n",
            0o600,
        );
        let c = Credentials::from_file(&path, DEFAULT_KEY_VAR, DEFAULT_SECRET_VAR).unwrap();
        assert_eq!((c.key(), c.secret()), ("PKTEST", "s3cr3t"));
    }

    #[cfg(unix)]
    #[test]
    fn file_readable_by_others_is_refused_with_the_fix() {
        let path = temp_file(
            "open.env",
            "APCA_API_KEY_ID=k\nAPCA_API_SECRET_KEY=topsecret\n",
            0o644,
        );
        let err = Credentials::from_file(&path, DEFAULT_KEY_VAR, DEFAULT_SECRET_VAR).unwrap_err();
        assert!(
            matches!(err, CredentialsError::Permissions { mode: 0o644, .. }),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains("chmod 600") && text.contains(&path.display().to_string()),
            "{text}"
        );
        assert!(!text.contains("topsecret"));
    }

    #[test]
    fn missing_entry_and_bad_line_are_named() {
        let path = temp_file("half.env", "APCA_API_KEY_ID=k\n", 0o600);
        let err = Credentials::from_file(&path, DEFAULT_KEY_VAR, DEFAULT_SECRET_VAR).unwrap_err();
        assert!(err.to_string().contains("APCA_API_SECRET_KEY"), "{err}");
        let path = temp_file("bad.env", "APCA_API_KEY_ID=k\nnonsense\n", 0o600);
        let err = Credentials::from_file(&path, DEFAULT_KEY_VAR, DEFAULT_SECRET_VAR).unwrap_err();
        assert!(
            matches!(err, CredentialsError::Syntax { line: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn env_variables_with_custom_names() {
        let (k, s) = ("LT_WS_TEST_KEY_7731", "LT_WS_TEST_SECRET_7731");
        // These variable names are unique to this test.
        std::env::set_var(k, "envkey");
        std::env::set_var(s, "envsecret");
        let c = Credentials::from_env(k, s).unwrap();
        assert_eq!((c.key(), c.secret()), ("envkey", "envsecret"));
        let err = Credentials::from_env(k, "LT_WS_TEST_UNSET_7731").unwrap_err();
        assert!(err.to_string().contains("LT_WS_TEST_UNSET_7731"), "{err}");
    }
}
