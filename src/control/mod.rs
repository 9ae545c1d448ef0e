//! Operator control of a running engine: `live-trading control
//! pause|resume|stop|kill|reset-kill` over a local Unix socket, and
//! SIGINT/SIGTERM as a graceful stop.
//!
//! - [`ControlCommand`]: the commands;
//! - [`ControlServer`]: the socket (mode 0600, one line per connection) on
//!   its own cold thread, queueing commands into a bounded channel;
//! - [`ControlReceiver`]: the engine thread's end of that channel, polled
//!   every loop without allocating or blocking;
//! - [`send`]: the client the CLI runs;
//! - [`install_signal_handlers`]: SIGINT/SIGTERM set a stop flag; a second
//!   signal while the first is pending exits with status 130. The flag is
//!   handed to [`ControlReceiver::with_stop_flag`], so the engine sees a
//!   signal as one more [`ControlCommand::Stop`] on the same poll.
//!
//! Everything here except [`ControlReceiver::try_recv`] is cold.

mod client;
mod command;
mod receiver;
mod server;
mod signals;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use client::{send, send_with_timeout, DEFAULT_TIMEOUT};
pub use command::{ControlCommand, UnknownControlCommand};
pub use receiver::ControlReceiver;
pub use server::{ControlParams, ControlServer, MAX_LINE, MAX_SOCKET_PATH};
pub use signals::{install_signal_handlers, SECOND_SIGNAL_EXIT_CODE};

/// The socket's file name inside the state directory.
pub const SOCKET_FILE_NAME: &str = "control.sock";

/// The commands, as listed in error replies.
pub const EXPECTED_COMMANDS: &str = "pause, resume, stop, kill, reset-kill";

/// Where the engine with state directory `state_dir` listens.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(SOCKET_FILE_NAME)
}

/// What went wrong on either end of the control link.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(
        "an engine is already listening on {}: stop it first \
         (`live-trading control stop`) or give this one another --state-dir",
        .path.display()
    )]
    AlreadyRunning { path: PathBuf },
    #[error(
        "{} exists and is not a socket: refusing to replace it; move it away \
         or give the engine another --state-dir",
        .path.display()
    )]
    NotASocket { path: PathBuf },
    #[error(
        "control socket path {} is {len} bytes: Unix sockets allow 1 to {MAX_SOCKET_PATH}; \
         use a shorter --state-dir",
        .path.display()
    )]
    PathLength { path: PathBuf, len: usize },
    #[error(
        "no engine is listening on {}: start one with `live-trading run --state-dir <dir>`",
        .path.display()
    )]
    NotListening { path: PathBuf },
    #[error(
        "permission denied on {}: the control socket is mode 0600; run this as the \
         user that started the engine",
        .path.display()
    )]
    PermissionDenied { path: PathBuf },
    #[error(
        "the engine on {} did not answer within {} ms",
        .path.display(),
        .timeout.as_millis()
    )]
    Timeout { path: PathBuf, timeout: Duration },
    #[error("the engine on {} closed the connection without a reply", .path.display())]
    NoReply { path: PathBuf },
    #[error("the engine on {} refused: {reply}", .path.display())]
    Refused { path: PathBuf, reply: String },
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the control thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("cannot install the SIGINT/SIGTERM handlers: {0}")]
    Signals(#[source] std::io::Error),
}
