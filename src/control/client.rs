//! The client side of the control socket: what
//! `live-trading control <command>` runs.
//!
//! Cold: a short-lived CLI process.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use super::{ControlCommand, ControlError};

/// How long [`send`] waits for the engine's reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
/// Longest reply read.
const MAX_REPLY: usize = 1024;

/// Sends `command` to the engine listening on `socket_path` and returns its
/// `ok ...` reply; an `error: ...` reply is [`ControlError::Refused`].
pub fn send(socket_path: &Path, command: ControlCommand) -> Result<String, ControlError> {
    send_with_timeout(socket_path, command, DEFAULT_TIMEOUT)
}

/// [`send`] with a chosen reply timeout.
pub fn send_with_timeout(
    socket_path: &Path,
    command: ControlCommand,
    timeout: Duration,
) -> Result<String, ControlError> {
    let path = socket_path.to_path_buf();
    let mut stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ControlError::NotListening { path: path.clone() }
        }
        io::ErrorKind::PermissionDenied => ControlError::PermissionDenied { path: path.clone() },
        _ => ControlError::Io {
            action: "connect to",
            path: path.clone(),
            source: e,
        },
    })?;
    let io_error = |action: &'static str| {
        let path = path.clone();
        move |source: io::Error| match source.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ControlError::Timeout {
                path: path.clone(),
                timeout,
            },
            _ => ControlError::Io {
                action,
                path: path.clone(),
                source,
            },
        }
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(io_error("configure the connection to"))?;
    stream
        .write_all(command.as_str().as_bytes())
        .and_then(|()| stream.write_all(b"\n"))
        .map_err(io_error("send the command to"))?;
    let mut reply = Vec::with_capacity(64);
    (&mut stream)
        .take(MAX_REPLY as u64)
        .read_to_end(&mut reply)
        .map_err(io_error("read the reply from"))?;
    let reply = String::from_utf8_lossy(&reply);
    let reply = reply.lines().next().unwrap_or("").trim().to_owned();
    if reply.is_empty() {
        return Err(ControlError::NoReply { path });
    }
    if reply.starts_with("error:") {
        return Err(ControlError::Refused { path, reply });
    }
    Ok(reply)
}
