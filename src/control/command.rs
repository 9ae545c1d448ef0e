//! The operator commands a running engine accepts over the control socket.
//!
//! STAND-IN: this is the same enum as `crate::journal::ControlCommand`
//! (being written in `src/journal/record.rs`); when that lands, this file
//! becomes `pub use crate::journal::ControlCommand;`.
//!
//! `Copy`, allocation-free; the engine thread matches on it.

use std::fmt;

/// An operator command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ControlCommand {
    /// Stop making new decisions; keep market state warm.
    Pause,
    /// Resume decisions after a pause.
    Resume,
    /// Graceful stop: no new decisions, flush, save, exit.
    Stop,
    /// Trip the kill switch.
    Kill,
    /// Reset a tripped kill switch.
    ResetKill,
}

impl ControlCommand {
    /// Every command, in protocol order.
    pub const ALL: [ControlCommand; 5] = [
        ControlCommand::Pause,
        ControlCommand::Resume,
        ControlCommand::Stop,
        ControlCommand::Kill,
        ControlCommand::ResetKill,
    ];

    /// The command's wire and CLI name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ControlCommand::Pause => "pause",
            ControlCommand::Resume => "resume",
            ControlCommand::Stop => "stop",
            ControlCommand::Kill => "kill",
            ControlCommand::ResetKill => "reset-kill",
        }
    }

    /// The command named exactly `name` (lowercase, no blanks).
    pub fn parse(name: &str) -> Option<ControlCommand> {
        ControlCommand::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for ControlCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_nothing_else_parses() {
        for c in ControlCommand::ALL {
            assert_eq!(ControlCommand::parse(c.as_str()), Some(c));
        }
        for bad in ["", "Pause", " pause", "reset_kill", "resetkill", "stop\n"] {
            assert_eq!(ControlCommand::parse(bad), None, "{bad:?}");
        }
    }
}
