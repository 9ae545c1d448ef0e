//! The control socket on real Unix sockets in a temp dir, the client's
//! errors, the engine-side receiver (allocation-free), and SIGINT/SIGTERM
//! (the second signal's exit status is checked in a child process).

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::alloc::allocations;
use live_trading::control::{
    install_signal_handlers, send, socket_path, ControlCommand, ControlError, ControlParams,
    ControlReceiver, ControlServer, SECOND_SIGNAL_EXIT_CODE,
};

/// A fresh temp dir standing in for a state dir.
fn state_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lt-ctl-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn running(params: ControlParams) -> (ControlServer, ControlReceiver, PathBuf) {
    let path = socket_path(&state_dir());
    let (mut server, rx) = ControlServer::bind_with(&path, params).unwrap();
    server.spawn().unwrap();
    (server, rx, path)
}

/// Sends raw bytes, closes the write side, returns the reply.
fn raw(path: &PathBuf, bytes: &[u8]) -> String {
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn the_socket_is_0600_and_every_command_round_trips_to_the_receiver() {
    let (server, rx, path) = running(ControlParams::default());
    let meta = std::fs::metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(server.path(), path);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["control.sock"], "the private bind dir is gone");
    for command in ControlCommand::ALL {
        let reply = send(&path, command).unwrap();
        assert_eq!(reply, format!("ok {}", command.as_str()));
        assert_eq!(rx.try_recv(), Some(command));
    }
    assert_eq!(rx.try_recv(), None);
}

#[test]
fn an_unknown_command_gets_an_error_reply_and_nothing_is_queued() {
    let (_server, rx, path) = running(ControlParams::default());
    assert_eq!(
        raw(&path, b"jump\n"),
        "error: unknown command \"jump\"; expected one of pause, resume, stop, kill, reset-kill\n"
    );
    assert!(raw(&path, b"PAUSE\n").starts_with("error: unknown command \"PAUSE\""));
    assert!(raw(&path, b"\n").starts_with("error: unknown command \"\""));
    assert_eq!(
        raw(&path, &[b'a'; 100]),
        "error: command line longer than 64 bytes\n"
    );
    assert_eq!(rx.try_recv(), None);
    // A line ended by closing the write side, and `\r\n`, are accepted.
    assert_eq!(raw(&path, b"kill"), "ok kill\n");
    assert_eq!(raw(&path, b"resume\r\n"), "ok resume\n");
    assert_eq!(rx.try_recv(), Some(ControlCommand::Kill));
    assert_eq!(rx.try_recv(), Some(ControlCommand::Resume));
}

#[test]
fn a_silent_client_times_out_and_the_server_keeps_serving() {
    let params = ControlParams {
        read_timeout: Duration::from_millis(100),
        ..ControlParams::default()
    };
    let (_server, rx, path) = running(params);
    let mut silent = UnixStream::connect(&path).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reply = String::new();
    silent.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "error: no command line within 100 ms\n");
    assert_eq!(send(&path, ControlCommand::Pause).unwrap(), "ok pause");
    assert_eq!(rx.try_recv(), Some(ControlCommand::Pause));
}

#[test]
fn a_full_queue_and_a_gone_engine_are_refused_with_a_reason() {
    let params = ControlParams {
        capacity: 1,
        ..ControlParams::default()
    };
    let (_server, rx, path) = running(params);
    send(&path, ControlCommand::Pause).unwrap();
    let err = send(&path, ControlCommand::Stop).unwrap_err();
    assert!(
        matches!(&err, ControlError::Refused { reply, .. } if reply.contains("already waiting")),
        "{err}"
    );
    assert_eq!(rx.try_recv(), Some(ControlCommand::Pause));
    assert_eq!(rx.try_recv(), None);
    drop(rx);
    let err = send(&path, ControlCommand::Stop).unwrap_err();
    assert!(err.to_string().contains("shutting down"), "{err}");
}

#[test]
fn a_second_engine_cannot_bind_a_live_socket() {
    let (mut first, rx, path) = running(ControlParams::default());
    let err = ControlServer::bind(&path).unwrap_err();
    assert!(
        matches!(err, ControlError::AlreadyRunning { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    // The first engine is undisturbed, also when it was bound but not spawned.
    assert_eq!(send(&path, ControlCommand::Resume).unwrap(), "ok resume");
    assert_eq!(rx.try_recv(), Some(ControlCommand::Resume));
    let unspawned = socket_path(&state_dir());
    let (_idle, _idle_rx) = ControlServer::bind(&unspawned).unwrap();
    assert!(matches!(
        ControlServer::bind(&unspawned),
        Err(ControlError::AlreadyRunning { .. })
    ));
    // Once the first shuts down, its file is gone and the path is free.
    first.shutdown();
    assert!(!path.exists());
    let (mut second, rx2) = ControlServer::bind(&path).unwrap();
    second.spawn().unwrap();
    assert_eq!(send(&path, ControlCommand::Stop).unwrap(), "ok stop");
    assert_eq!(rx2.try_recv(), Some(ControlCommand::Stop));
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let path = socket_path(&state_dir());
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "std leaves the socket file behind");
    assert!(matches!(
        send(&path, ControlCommand::Pause),
        Err(ControlError::NotListening { .. })
    ));
    let (mut server, rx) = ControlServer::bind(&path).unwrap();
    server.spawn().unwrap();
    assert_eq!(send(&path, ControlCommand::Pause).unwrap(), "ok pause");
    assert_eq!(rx.try_recv(), Some(ControlCommand::Pause));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let path = socket_path(&state_dir());
    std::fs::write(&path, b"precious").unwrap();
    let err = ControlServer::bind(&path).unwrap_err();
    assert!(matches!(err, ControlError::NotASocket { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn dropping_the_server_stops_it_and_removes_the_socket_file() {
    let (server, _rx, path) = running(ControlParams::default());
    assert!(path.exists());
    drop(server);
    assert!(!path.exists());
    assert!(matches!(
        send(&path, ControlCommand::Pause),
        Err(ControlError::NotListening { .. })
    ));
    // Never spawned: the same.
    let path = socket_path(&state_dir());
    let (server, _rx) = ControlServer::bind(&path).unwrap();
    drop(server);
    assert!(!path.exists());
}

#[test]
fn the_client_says_how_to_start_an_engine_when_nothing_listens() {
    let path = socket_path(&state_dir());
    let err = send(&path, ControlCommand::Stop).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ControlError::NotListening { .. }), "{err:?}");
    assert!(text.contains(&*path.to_string_lossy()), "{text}");
    assert!(
        text.contains("start one with `live-trading run --state-dir <dir>`"),
        "{text}"
    );
}

#[test]
fn a_socket_path_too_long_for_the_kernel_is_refused_clearly() {
    let long = state_dir().join("x".repeat(120));
    let err = ControlServer::bind(&long).unwrap_err();
    assert!(
        matches!(err, ControlError::PathLength { len, .. } if len > 107),
        "{err:?}"
    );
}

#[test]
fn try_recv_allocates_nothing() {
    let (_server, rx, path) = running(ControlParams::default());
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let rx = rx.with_stop_flag(std::sync::Arc::clone(&flag));
    for c in [
        ControlCommand::Pause,
        ControlCommand::Kill,
        ControlCommand::ResetKill,
    ] {
        send(&path, c).unwrap();
    }
    flag.store(true, Ordering::Relaxed);
    let mut got = Vec::with_capacity(8);
    let n = allocations(|| {
        for _ in 0..10_000 {
            if let Some(c) = rx.try_recv() {
                got.push(c);
            }
        }
    });
    assert_eq!(n, 0);
    assert_eq!(
        got,
        [
            ControlCommand::Stop,
            ControlCommand::Pause,
            ControlCommand::Kill,
            ControlCommand::ResetKill
        ]
    );
}

#[test]
fn sigint_sets_the_stop_flag_and_the_receiver_delivers_one_stop() {
    let flag = install_signal_handlers().unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &flag,
        &install_signal_handlers().unwrap()
    ));
    assert!(!flag.load(Ordering::SeqCst));
    let rx = ControlReceiver::detached().with_stop_flag(std::sync::Arc::clone(&flag));
    assert_eq!(rx.try_recv(), None);
    signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
    assert!(flag.load(Ordering::SeqCst));
    assert_eq!(rx.try_recv(), Some(ControlCommand::Stop));
    assert_eq!(rx.try_recv(), None);
}

const CHILD_ENV: &str = "LT_CONTROL_SIGNAL_CHILD";

#[test]
fn a_second_signal_exits_at_once_with_status_130() {
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "second_signal_child",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(SECOND_SIGNAL_EXIT_CODE));
}

/// Run by [`a_second_signal_exits_at_once_with_status_130`] in a child
/// process: SIGINT sets the flag, SIGTERM then exits the process with 130.
#[test]
#[ignore = "run as a child process by a_second_signal_exits_at_once_with_status_130"]
fn second_signal_child() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let flag = install_signal_handlers().unwrap();
    signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
    assert!(flag.load(Ordering::SeqCst), "the first signal only asks");
    signal_hook::low_level::raise(signal_hook::consts::SIGTERM).unwrap();
    panic!("the second signal did not end the process");
}
