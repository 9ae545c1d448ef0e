//! The engine's end of the control link: commands queued by the control
//! server (and a graceful stop requested by SIGINT/SIGTERM), polled once per
//! engine loop.
//!
//! Engine thread, hot path: [`ControlReceiver::try_recv`] does not
//! allocate, block or log.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam::channel::{Receiver, Sender};

use super::ControlCommand;

/// The engine's end of the control link. `Send`, not `Sync`: one engine
/// thread owns it.
#[derive(Debug)]
pub struct ControlReceiver {
    commands: Receiver<ControlCommand>,
    /// Set by the signal handlers ([`super::install_signal_handlers`]).
    stop_flag: Option<Arc<AtomicBool>>,
    /// The flag's `Stop` has been handed out.
    stop_delivered: Cell<bool>,
}

impl ControlReceiver {
    /// A bounded link of `capacity` commands (at least 1) with no socket
    /// behind it: the sender side is for tests and in-process drivers.
    pub fn channel(capacity: usize) -> (Sender<ControlCommand>, ControlReceiver) {
        let (tx, rx) = crossbeam::channel::bounded(capacity.max(1));
        (tx, ControlReceiver::from_channel(rx))
    }

    /// A receiver no command ever reaches (backtests without a control
    /// socket); a watched stop flag still works.
    pub fn detached() -> ControlReceiver {
        ControlReceiver::from_channel(crossbeam::channel::never())
    }

    pub(super) fn from_channel(commands: Receiver<ControlCommand>) -> ControlReceiver {
        ControlReceiver {
            commands,
            stop_flag: None,
            stop_delivered: Cell::new(false),
        }
    }

    /// Also delivers one [`ControlCommand::Stop`] once `flag` is set (by
    /// SIGINT/SIGTERM through [`super::install_signal_handlers`]).
    pub fn with_stop_flag(mut self, flag: Arc<AtomicBool>) -> ControlReceiver {
        self.stop_flag = Some(flag);
        self
    }

    /// The next command, if one is waiting. A signalled stop comes first,
    /// once; then queued commands in arrival order. Never blocks, never
    /// allocates.
    #[inline]
    pub fn try_recv(&self) -> Option<ControlCommand> {
        if let Some(flag) = &self.stop_flag {
            if !self.stop_delivered.get() && flag.load(Ordering::Relaxed) {
                self.stop_delivered.set(true);
                return Some(ControlCommand::Stop);
            }
        }
        self.commands.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_arrive_in_order_and_a_set_flag_stops_once() {
        let flag = Arc::new(AtomicBool::new(false));
        let (tx, rx) = ControlReceiver::channel(4);
        let rx = rx.with_stop_flag(Arc::clone(&flag));
        assert_eq!(rx.try_recv(), None);
        tx.send(ControlCommand::Pause).unwrap();
        tx.send(ControlCommand::Resume).unwrap();
        flag.store(true, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Some(ControlCommand::Stop));
        assert_eq!(rx.try_recv(), Some(ControlCommand::Pause));
        assert_eq!(rx.try_recv(), Some(ControlCommand::Resume));
        assert_eq!(rx.try_recv(), None, "the flag stays set but stops once");
    }

    #[test]
    fn a_detached_receiver_yields_nothing_but_the_stop_flag() {
        let flag = Arc::new(AtomicBool::new(false));
        let rx = ControlReceiver::detached().with_stop_flag(Arc::clone(&flag));
        assert_eq!(rx.try_recv(), None);
        flag.store(true, Ordering::Relaxed);
        assert_eq!(rx.try_recv(), Some(ControlCommand::Stop));
        assert_eq!(rx.try_recv(), None);
    }
}
