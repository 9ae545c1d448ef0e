//! The session log `state/sessions.jsonl`: one JSON line per run start
//! saying how that run traded — paper, live, dry run or simulated — so
//! that the journal's records can be attributed to it and paper trading
//! days counted ([`paper_days`]).
//!
//! Why a log of its own: the journal's records carry no broker (they are
//! fixed-size `Copy` messages), and `session.json` holds only the latest
//! run. Each line is
//!
//! ```text
//! {"version":1,"base_seq":1234,"mode":"paper","broker":"ibkr","account":"DU1234567"}
//! ```
//!
//! where `base_seq` is the run's `session.json` `base_seq` (the last journal
//! sequence before the run's first record). A record with sequence `s`
//! belongs to the line with the greatest `base_seq < s` (of equal ones, the
//! last written: a re-run of the same input starts at the same base).
//! Records before the first line belong to no session and never count.
//!
//! Cold path: written once at start-up, read by the prerequisite check.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde_json::{json, Value};

use crate::config::is_paper_account;
use crate::journal::{JournalError, JournalReader, JournalRecord};
use crate::types::Nanos;

/// The session log's name inside the state directory.
pub const SESSIONS_FILE: &str = "sessions.jsonl";

/// Version of a session log line.
pub const SESSIONS_VERSION: u64 = 1;

/// How a run traded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TradingMode {
    /// Orders to a paper account (`DU…`), or the paper broker on a live
    /// feed: counts as paper trading.
    Paper,
    /// Orders to a live account.
    Live,
    /// `--dry-run`: connected and streaming, no order sent.
    DryRun,
    /// The paper broker on the simulator or a CSV replay (a backtest):
    /// never counts as paper trading.
    Simulated,
}

impl TradingMode {
    /// Every mode's name, in declaration order.
    pub const NAMES: &'static [&'static str] = &["paper", "live", "dry_run", "simulated"];

    pub fn name(self) -> &'static str {
        match self {
            TradingMode::Paper => "paper",
            TradingMode::Live => "live",
            TradingMode::DryRun => "dry_run",
            TradingMode::Simulated => "simulated",
        }
    }

    pub fn from_name(name: &str) -> Option<TradingMode> {
        match name {
            "paper" => Some(TradingMode::Paper),
            "live" => Some(TradingMode::Live),
            "dry_run" => Some(TradingMode::DryRun),
            "simulated" => Some(TradingMode::Simulated),
            _ => None,
        }
    }

    /// The mode of a run: `dry_run` wins; on IB the account decides (`DU…`
    /// paper, anything else or unknown live); the paper broker is paper
    /// trading only on a live feed (websocket or IB market data), else a
    /// simulation.
    pub fn of_run(
        broker: SessionBroker,
        account: Option<&str>,
        live_feed: bool,
        dry_run: bool,
    ) -> TradingMode {
        match (dry_run, broker) {
            (true, _) => TradingMode::DryRun,
            (false, SessionBroker::Ibkr) if account.is_some_and(is_paper_account) => {
                TradingMode::Paper
            }
            (false, SessionBroker::Ibkr) => TradingMode::Live,
            (false, SessionBroker::Paper) if live_feed => TradingMode::Paper,
            (false, SessionBroker::Paper) => TradingMode::Simulated,
        }
    }
}

/// Which broker a run used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionBroker {
    /// The in-process paper broker.
    Paper,
    /// Interactive Brokers (TWS / IB Gateway).
    Ibkr,
}

impl SessionBroker {
    pub fn name(self) -> &'static str {
        match self {
            SessionBroker::Paper => "paper",
            SessionBroker::Ibkr => "ibkr",
        }
    }

    pub fn from_name(name: &str) -> Option<SessionBroker> {
        match name {
            "paper" => Some(SessionBroker::Paper),
            "ibkr" => Some(SessionBroker::Ibkr),
            _ => None,
        }
    }
}

/// One line of the session log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMark {
    /// The run's `session.json` `base_seq`.
    pub base_seq: u64,
    pub mode: TradingMode,
    pub broker: SessionBroker,
    /// The IB account traded, if any.
    pub account: Option<String>,
}

impl SessionMark {
    fn to_line(&self) -> String {
        let mut line = json!({
            "version": SESSIONS_VERSION,
            "base_seq": self.base_seq,
            "mode": self.mode.name(),
            "broker": self.broker.name(),
            "account": self.account,
        })
        .to_string();
        line.push('\n');
        line
    }

    fn from_line(text: &str) -> Result<SessionMark, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
        let version = v.get("version").and_then(Value::as_u64);
        if version != Some(SESSIONS_VERSION) {
            return Err(format!(
                "version {}: this engine reads version {SESSIONS_VERSION}",
                v.get("version").unwrap_or(&Value::Null)
            ));
        }
        let base_seq = v
            .get("base_seq")
            .and_then(Value::as_u64)
            .ok_or("base_seq: expected a non-negative integer")?;
        let mode = v
            .get("mode")
            .and_then(Value::as_str)
            .and_then(TradingMode::from_name)
            .ok_or_else(|| format!("mode: expected one of {}", TradingMode::NAMES.join(", ")))?;
        let broker = v
            .get("broker")
            .and_then(Value::as_str)
            .and_then(SessionBroker::from_name)
            .ok_or("broker: expected paper or ibkr")?;
        let account = match v.get("account") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("account: expected a string or null".to_owned()),
        };
        Ok(SessionMark {
            base_seq,
            mode,
            broker,
            account,
        })
    }
}

/// Why the session log or the journal cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SessionLogError {
    #[error("cannot {op} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        op: &'static str,
        source: io::Error,
    },
    #[error(
        "{}: line {line}: {problem}; fix or remove the line (a removed line makes its \
         session's days count as unknown, never as paper)",
        path.display()
    )]
    BadLine {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
}

/// Append `mark` to `state_dir/sessions.jsonl` and fsync it. The runtime
/// calls this at start-up, right after writing `session.json`.
pub fn append_mark(state_dir: &Path, mark: &SessionMark) -> Result<(), SessionLogError> {
    let path = state_dir.join(SESSIONS_FILE);
    let io = |op| {
        let path = path.clone();
        move |source| SessionLogError::Io { path, op, source }
    };
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(io("open"))?;
    file.write_all(mark.to_line().as_bytes())
        .map_err(io("append to"))?;
    file.sync_all().map_err(io("fsync"))
}

/// Every mark of `state_dir/sessions.jsonl` in file order (none without
/// the file). A last line without its newline is a torn append and is
/// ignored; any other bad line is an error naming the file and line.
pub fn read_marks(state_dir: &Path) -> Result<Vec<SessionMark>, SessionLogError> {
    let path = state_dir.join(SESSIONS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(SessionLogError::Io {
                path,
                op: "read",
                source,
            })
        }
    };
    let complete = text.ends_with('\n');
    let lines: Vec<&str> = text.lines().collect();
    let mut marks = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match SessionMark::from_line(line) {
            Ok(m) => marks.push(m),
            Err(_) if i + 1 == lines.len() && !complete => break,
            Err(problem) => {
                return Err(SessionLogError::BadLine {
                    path,
                    line: i + 1,
                    problem,
                })
            }
        }
    }
    Ok(marks)
}

/// What the journal records about paper trading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaperDays {
    /// Distinct local dates (in the session time zone) with a decision or
    /// fill journaled by a paper-trading session, oldest first.
    pub dates: Vec<NaiveDate>,
    /// Distinct dates with decisions or fills of no marked session
    /// (journaled before the session log existed); not counted.
    pub unmarked_dates: usize,
}

impl PaperDays {
    /// Number of paper trading days.
    pub fn count(&self) -> usize {
        self.dates.len()
    }
}

/// Count the paper trading days recorded in `state_dir`: the journal in
/// `state_dir/journal` attributed to sessions through the session log.
/// A torn journal tail ends the reading (as at start-up).
pub fn paper_days(state_dir: &Path, tz: Tz) -> Result<PaperDays, SessionLogError> {
    let mut marks = read_marks(state_dir)?;
    // Stable: of equal bases, the last written stays last and wins.
    marks.sort_by_key(|m| m.base_seq);
    let mut paper = BTreeSet::new();
    let mut unmarked = BTreeSet::new();
    for item in JournalReader::open(&state_dir.join("journal"))? {
        let (seq, rec) = item?;
        let (JournalRecord::Decision { time, .. } | JournalRecord::Fill { time, .. }) = rec else {
            continue;
        };
        let Some(date) = local_date(time, tz) else {
            continue;
        };
        let owner = marks.partition_point(|m| m.base_seq < seq);
        match owner.checked_sub(1).and_then(|i| marks.get(i)) {
            Some(m) if m.mode == TradingMode::Paper => {
                paper.insert(date);
            }
            Some(_) => {}
            None => {
                unmarked.insert(date);
            }
        }
    }
    Ok(PaperDays {
        dates: paper.into_iter().collect(),
        unmarked_dates: unmarked.len(),
    })
}

fn local_date(t: Nanos, tz: Tz) -> Option<NaiveDate> {
    let secs = i64::try_from(t.0 / Nanos::PER_SEC).ok()?;
    let nanos = u32::try_from(t.0 % Nanos::PER_SEC).ok()?;
    Some(
        DateTime::from_timestamp(secs, nanos)?
            .with_timezone(&tz)
            .date_naive(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lt-live-sessions-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn modes_of_runs() {
        use SessionBroker::*;
        use TradingMode as M;
        assert_eq!(M::of_run(Ibkr, Some("DU123"), true, false), M::Paper);
        assert_eq!(M::of_run(Ibkr, Some("U123"), true, false), M::Live);
        assert_eq!(M::of_run(Ibkr, None, true, false), M::Live);
        assert_eq!(M::of_run(Ibkr, Some("DU123"), true, true), M::DryRun);
        assert_eq!(M::of_run(Paper, None, true, false), M::Paper);
        assert_eq!(M::of_run(Paper, None, false, false), M::Simulated);
    }

    #[test]
    fn marks_round_trip_and_a_torn_last_line_is_ignored() {
        let dir = temp("round_trip");
        let a = SessionMark {
            base_seq: 0,
            mode: TradingMode::Paper,
            broker: SessionBroker::Ibkr,
            account: Some("DU1".into()),
        };
        let b = SessionMark {
            base_seq: 40,
            mode: TradingMode::Simulated,
            broker: SessionBroker::Paper,
            account: None,
        };
        append_mark(&dir, &a).unwrap();
        append_mark(&dir, &b).unwrap();
        assert_eq!(read_marks(&dir).unwrap(), [a.clone(), b.clone()]);
        let path = dir.join(SESSIONS_FILE);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"version\":1,\"base_");
        std::fs::write(&path, &text).unwrap();
        assert_eq!(read_marks(&dir).unwrap(), [a, b]);
        text.push_str("\n{}\n");
        std::fs::write(&path, &text).unwrap();
        let e = read_marks(&dir).unwrap_err().to_string();
        assert!(e.contains("sessions.jsonl: line 3: not JSON"), "{e}");
        assert!(read_marks(&dir.join("nowhere")).unwrap().is_empty());
    }
}
