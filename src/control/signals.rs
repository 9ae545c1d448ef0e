//! SIGINT and SIGTERM: the first asks for a graceful stop, a second one
//! while the first is pending exits at once with status 130.
//!
//! Installed once at start-up (cold). The handlers only store to an atomic
//! flag (async-signal-safe); the engine learns of it through
//! [`ControlReceiver::with_stop_flag`](super::ControlReceiver::with_stop_flag)
//! or by loading the flag itself.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use super::ControlError;

/// Exit status when a second SIGINT/SIGTERM arrives before the graceful
/// stop finished (128 + SIGINT, what shells report for Ctrl-C).
pub const SECOND_SIGNAL_EXIT_CODE: i32 = 130;

/// The flag of the handlers installed so far (one set per process).
static INSTALLED: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// Installs the SIGINT/SIGTERM handlers and returns the stop flag they
/// set. For each signal two actions run in order: exit with
/// [`SECOND_SIGNAL_EXIT_CODE`] if the flag is already set, then set it.
/// Calling it again returns the same flag without installing twice.
pub fn install_signal_handlers() -> Result<Arc<AtomicBool>, ControlError> {
    let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(stop) = installed.as_ref() {
        return Ok(Arc::clone(stop));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit must see the flag before this
        // signal sets it.
        flag::register_conditional_shutdown(signal, SECOND_SIGNAL_EXIT_CODE, Arc::clone(&stop))
            .map_err(ControlError::Signals)?;
        flag::register(signal, Arc::clone(&stop)).map_err(ControlError::Signals)?;
    }
    *installed = Some(Arc::clone(&stop));
    Ok(stop)
}
