//! The control socket: a Unix stream socket (mode 0600) on which a running
//! engine accepts one command line per connection and queues it for the
//! engine thread.
//!
//! Runs on its own cold thread ([`ControlServer::spawn`]); it blocks, sleeps
//! and logs. The engine thread only sees the bounded channel behind
//! [`ControlReceiver`].
//!
//! # Protocol
//!
//! A client connects, writes one line (`pause\n`, at most
//! [`MAX_LINE`] bytes before the newline; closing its write side instead of
//! the newline also ends the line) within the read timeout, and reads one
//! reply line: `ok <command>` once the command is queued for the engine
//! (queued, not yet applied), or `error: <why>`. Connections are served one
//! at a time.
//!
//! # Binding safely
//!
//! The socket is bound inside a fresh private directory (mode 0700) next to
//! the final path, set to 0600 there, and then hard-linked to the final
//! path, so it is never reachable with a wider mode. (A process-wide umask
//! would also work but would race with every other thread creating files.)
//! `link` fails when the final path exists, so two engines starting at once
//! cannot replace each other's socket. A socket file nobody answers on is
//! stale and removed first; a live one is an error; anything that is not a
//! socket is left alone and is an error.

// Cold thread: formatting replies is fine here.
#![allow(clippy::disallowed_macros)]

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{Sender, TrySendError};

use super::{ControlCommand, ControlError, ControlReceiver, EXPECTED_COMMANDS};

/// Longest command line accepted, newline excluded.
pub const MAX_LINE: usize = 64;
/// Longest socket path the kernel accepts (`sun_path` minus its NUL).
pub const MAX_SOCKET_PATH: usize = 107;
/// How often the idle server thread checks for shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Most bytes read and discarded after the reply (see `drain`).
const DRAIN_LIMIT: usize = 4096;

/// Server settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlParams {
    /// Commands that may wait for the engine; a command arriving when this
    /// many are waiting gets an `error:` reply. Default 16.
    pub capacity: usize,
    /// How long a connection may take to send its line; also the write
    /// timeout for the reply. Default 1 s.
    pub read_timeout: Duration,
}

impl Default for ControlParams {
    fn default() -> ControlParams {
        ControlParams {
            capacity: 16,
            read_timeout: Duration::from_secs(1),
        }
    }
}

/// A bound control socket; [`spawn`](ControlServer::spawn) serves it on its
/// own thread. Dropping it (or [`shutdown`](ControlServer::shutdown)) stops
/// the thread and removes the socket file.
///
/// ```no_run
/// use std::path::Path;
/// use live_trading::control::{install_signal_handlers, socket_path, ControlServer};
///
/// let (mut server, commands) = ControlServer::bind(&socket_path(Path::new("state")))?;
/// server.spawn()?;
/// let commands = commands.with_stop_flag(install_signal_handlers()?);
/// // engine thread, every loop:
/// while let Some(command) = commands.try_recv() {
///     // apply pause / resume / stop / kill / reset-kill
/// }
/// # Ok::<(), live_trading::control::ControlError>(())
/// ```
#[derive(Debug)]
pub struct ControlServer {
    path: PathBuf,
    /// Device and inode of the socket file, so shutdown removes only ours.
    identity: (u64, u64),
    /// Until spawned.
    idle: Option<(UnixListener, Sender<ControlCommand>)>,
    params: ControlParams,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    removed: bool,
}

impl ControlServer {
    /// Binds `socket_path` with default [`ControlParams`].
    pub fn bind(socket_path: &Path) -> Result<(ControlServer, ControlReceiver), ControlError> {
        ControlServer::bind_with(socket_path, ControlParams::default())
    }

    /// Binds `socket_path` (mode 0600): refuses when a live engine answers
    /// there or when the path is not a socket, replaces a stale socket.
    pub fn bind_with(
        socket_path: &Path,
        params: ControlParams,
    ) -> Result<(ControlServer, ControlReceiver), ControlError> {
        let path = socket_path.to_path_buf();
        check_length(&path)?;
        clear_stale(&path)?;
        let listener = bind_private(&path)?;
        let meta = fs::metadata(&path).map_err(|source| ControlError::Io {
            action: "inspect the new socket",
            path: path.clone(),
            source,
        })?;
        let (tx, rx) = crossbeam::channel::bounded(params.capacity.max(1));
        log::info!("control socket listening on {}", path.display());
        Ok((
            ControlServer {
                path,
                identity: (meta.dev(), meta.ino()),
                idle: Some((listener, tx)),
                params,
                stop: Arc::new(AtomicBool::new(false)),
                thread: None,
                removed: false,
            },
            ControlReceiver::from_channel(rx),
        ))
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts serving on a thread named `control`. Calling it again does
    /// nothing.
    pub fn spawn(&mut self) -> Result<(), ControlError> {
        let Some((listener, tx)) = self.idle.take() else {
            return Ok(());
        };
        listener
            .set_nonblocking(true)
            .map_err(|source| ControlError::Io {
                action: "configure",
                path: self.path.clone(),
                source,
            })?;
        let stop = Arc::clone(&self.stop);
        let params = self.params;
        let thread = std::thread::Builder::new()
            .name("control".into())
            .spawn(move || serve(&listener, &tx, &stop, params))
            .map_err(ControlError::Spawn)?;
        self.thread = Some(thread);
        Ok(())
    }

    /// Stops the thread (within one poll interval, or after the connection
    /// being served) and removes the socket file if it is still ours.
    pub fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the control thread panicked");
            }
        }
        self.idle = None;
        if !self.removed {
            self.removed = true;
            let ours =
                fs::symlink_metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.identity);
            if ours {
                if let Err(e) = fs::remove_file(&self.path) {
                    log::warn!("cannot remove {}: {e}", self.path.display());
                }
            }
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The kernel's limit on socket paths, checked for a clear message.
fn check_length(path: &Path) -> Result<(), ControlError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH || len == 0 {
        return Err(ControlError::PathLength {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Leaves the path free: absent, or a stale socket that is then removed.
fn clear_stale(path: &Path) -> Result<(), ControlError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ControlError::Io {
                action: "inspect",
                path: path.to_path_buf(),
                source,
            })
        }
    };
    if !meta.file_type().is_socket() {
        return Err(ControlError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(ControlError::AlreadyRunning {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(ControlError::Io {
                        action: "remove the stale socket",
                        path: path.to_path_buf(),
                        source,
                    })
                }
            }
            log::info!("removed a stale control socket at {}", path.display());
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Err(ControlError::PermissionDenied {
                path: path.to_path_buf(),
            })
        }
        Err(source) => Err(ControlError::Io {
            action: "probe the existing socket",
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Binds in a private directory beside `path`, sets 0600, links into place.
fn bind_private(path: &Path) -> Result<UnixListener, ControlError> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let io_error = |action: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |source| ControlError::Io {
            action,
            path: at,
            source,
        }
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir = parent.join(format!(
        ".ctl{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(io_error("create a private directory", &dir))?;
    let temp = dir.join("s");
    let result = (|| {
        check_length(&temp)?;
        let listener = UnixListener::bind(&temp).map_err(io_error("bind", &temp))?;
        fs::set_permissions(&temp, fs::Permissions::from_mode(0o600))
            .map_err(io_error("set mode 0600 on", &temp))?;
        match fs::hard_link(&temp, path) {
            Ok(()) => Ok(listener),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(ControlError::AlreadyRunning {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => Err(ControlError::Io {
                action: "link the socket to",
                path: path.to_path_buf(),
                source,
            }),
        }
    })();
    let _ = fs::remove_file(&temp);
    if let Err(e) = fs::remove_dir(&dir) {
        log::warn!("cannot remove {}: {e}", dir.display());
    }
    result
}

/// The server loop: accept, answer, until `stop`.
fn serve(
    listener: &UnixListener,
    commands: &Sender<ControlCommand>,
    stop: &AtomicBool,
    params: ControlParams,
) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => answer(stream, commands, params),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log::warn!("control socket: accept failed: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// What one connection's line came to.
enum Line {
    /// The line (newline removed); may be empty.
    Complete(usize),
    /// The peer closed without sending anything: a liveness probe.
    Nothing,
    TooLong,
    TimedOut,
    Failed(io::Error),
}

/// Reads one line into `buf`.
fn read_line(stream: &mut UnixStream, buf: &mut [u8; MAX_LINE + 1]) -> Line {
    let mut len = 0;
    loop {
        if let Some(end) = buf
            .get(..len)
            .and_then(|b| b.iter().position(|&c| c == b'\n'))
        {
            return Line::Complete(end);
        }
        let Some(rest) = buf.get_mut(len..).filter(|r| !r.is_empty()) else {
            return Line::TooLong;
        };
        match stream.read(rest) {
            Ok(0) if len == 0 => return Line::Nothing,
            Ok(0) => return Line::Complete(len),
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Line::TimedOut
            }
            Err(e) => return Line::Failed(e),
        }
    }
}

/// Serves one connection: read a line, queue the command, reply.
fn answer(mut stream: UnixStream, commands: &Sender<ControlCommand>, params: ControlParams) {
    let setup = stream
        .set_nonblocking(false)
        .and_then(|()| stream.set_read_timeout(Some(params.read_timeout)))
        .and_then(|()| stream.set_write_timeout(Some(params.read_timeout)));
    if let Err(e) = setup {
        log::warn!("control socket: cannot configure a connection: {e}");
        return;
    }
    let mut buf = [0u8; MAX_LINE + 1];
    let reply = match read_line(&mut stream, &mut buf) {
        Line::Nothing => return,
        Line::Failed(e) => {
            log::warn!("control socket: read failed: {e}");
            return;
        }
        Line::TimedOut => format!(
            "error: no command line within {} ms",
            params.read_timeout.as_millis()
        ),
        Line::TooLong => format!("error: command line longer than {MAX_LINE} bytes"),
        Line::Complete(end) => {
            let raw = buf.get(..end).unwrap_or_default();
            let text = String::from_utf8_lossy(raw);
            let text = text.trim();
            match ControlCommand::parse(text) {
                Ok(command) => queue(command, commands),
                Err(_) => {
                    log::warn!("control socket: unknown command {text:?}");
                    format!("error: unknown command {text:?}; expected one of {EXPECTED_COMMANDS}")
                }
            }
        }
    };
    let sent = stream
        .write_all(reply.as_bytes())
        .and_then(|()| stream.write_all(b"\n"));
    if let Err(e) = sent {
        log::warn!("control socket: cannot send the reply {reply:?}: {e}");
        return;
    }
    drain(&mut stream);
}

/// Ends a connection cleanly: closes our write side (the client sees the
/// end of the reply) and reads what the client still sends, up to
/// [`DRAIN_LIMIT`] bytes or the read timeout. Closing a Unix socket with
/// unread input resets the connection, and the client would lose the reply.
fn drain(stream: &mut UnixStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut sink = [0u8; 512];
    let mut left = DRAIN_LIMIT;
    while left > 0 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

/// Queues a command for the engine and says how that went.
fn queue(command: ControlCommand, commands: &Sender<ControlCommand>) -> String {
    let name = command.as_str();
    match commands.try_send(command) {
        Ok(()) => {
            log::info!("control: {name} queued for the engine");
            format!("ok {name}")
        }
        Err(TrySendError::Full(_)) => {
            log::warn!("control: {name} refused, the engine's queue is full");
            format!(
                "error: {} commands are already waiting for the engine; try again",
                commands.capacity().unwrap_or(0)
            )
        }
        Err(TrySendError::Disconnected(_)) => {
            format!("error: the engine is shutting down; {name} was not queued")
        }
    }
}
