//! Going live safely (issue #6 item 7): the checks that stand between
//! `--broker ibkr` and a live account, and the trading-hours window for
//! entries.
//!
//! - [`prereq`]: [`check`] a [`PrereqContext`] into a [`PrereqReport`]
//!   (backtest Sharpe, paper trading days, risk limits, broker and account)
//!   and [`override_note`] for `--override-prerequisites`. Main thread,
//!   start-up; cold.
//! - [`sessions`]: `state/sessions.jsonl`, one line per run saying whether
//!   it traded paper, live, dry-run or simulated, so that the journal's days
//!   of paper trading can be counted. Main thread, start-up; cold.
//! - [`window`]: [`EntryWindow`], whether an entry may open at an event
//!   time. Engine thread; hot path (no allocation, no blocking, no logging).
//!
//! Config: `live.*` and `ibkr.*` in [`crate::config`].

pub mod prereq;
pub mod sessions;
pub mod window;

pub use prereq::{
    check, override_note, LiveLimits, PrereqCheck, PrereqContext, PrereqReport, Prerequisite,
    TradingAccount, LIVE_LIMITS,
};
pub use sessions::{
    append_mark, paper_days, read_marks, PaperDays, SessionBroker, SessionLogError, SessionMark,
    TradingMode, SESSIONS_FILE,
};
pub use window::EntryWindow;
