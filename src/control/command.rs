//! The operator commands a running engine accepts over the control socket.
//!
//! STAND-IN: this is the same enum as `crate::journal::ControlCommand`
//! (being written in `src/journal/record.rs`); when that lands, this file
//! becomes `pub use crate::journal::{ControlCommand, UnknownControlCommand};`
//! (same variants, `as_str`, `parse -> Result<_, UnknownControlCommand>`).
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

    /// The command named exactly by `text` (lowercase, no blanks). Cold:
    /// the error owns a copy of the text.
    pub fn parse(text: &str) -> Result<ControlCommand, UnknownControlCommand> {
        ControlCommand::ALL
            .into_iter()
            .find(|c| c.as_str() == text)
            .ok_or_else(|| UnknownControlCommand {
                text: text.to_owned(),
            })
    }
}

/// A control command that is not one of [`ControlCommand::ALL`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown control command {text:?}: expected pause, resume, stop, kill or reset-kill")]
pub struct UnknownControlCommand {
    pub text: String,
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
            assert_eq!(ControlCommand::parse(c.as_str()), Ok(c));
        }
        for bad in ["", "Pause", " pause", "reset_kill", "resetkill", "stop\n"] {
            assert!(ControlCommand::parse(bad).is_err(), "{bad:?}");
        }
    }
}
