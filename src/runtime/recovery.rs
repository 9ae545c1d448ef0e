//! Start-up recovery (DESIGN §7): what the state directory holds, and how a
//! run continues from it.
//!
//! A state directory records a **session** per run (`session.json`): an
//! identity of the run's input (for deterministic inputs), the journal
//! sequence the session started at and the engine state at that point.
//! Start-up picks one of three modes:
//!
//! - **Fresh**: nothing journaled yet.
//! - **Re-run**: the input is deterministic (simulator, unpaced CSV replay)
//!   and is the one the last session ran with the same config and symbols.
//!   The engine starts from the session's base state and re-executes the
//!   input; the records it produces are compared byte for byte with the
//!   journal after the base, orders with journaled outcomes are not sent
//!   again, and journaled control commands are applied where they were
//!   recorded. Journal and trade log come out identical to an
//!   uninterrupted run.
//! - **Resume**: any other input (new data, a paced or live feed). The
//!   engine loads the newest of the snapshot (`engine_state.json`) and the
//!   session base, applies the journal tail after it (orders, fills, kill
//!   switch events, cycle count; operator controls from the whole journal),
//!   the broker is put in line with the result and reconciled, and a new
//!   session starts at the journal's end. Market windows are not persisted
//!   (SPEC §18.3), so the engine warms up on the new data before it trades.
//!
//! Cold module: runs before the threads start.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::broker::paper::Fill;
use crate::config::EngineConfig;
use crate::engine::cycle::{Controls, CycleEngine};
use crate::engine::state::{EngineState, StateError};
use crate::horizon::HorizonSet;
use crate::journal::{snapshot, ControlCommand, JournalRecord};
use crate::pipeline::risk::GuardrailEvent;
use crate::types::{HorizonId, Reason, SymbolId, TradingState};

/// Version of `session.json`.
pub const SESSION_VERSION: u64 = 1;

/// The session file's name inside the state directory.
pub const SESSION_FILE: &str = "session.json";

/// One run's start point, as persisted in `session.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Session {
    /// Identity of a deterministic input with its config and symbols;
    /// `None` for inputs that cannot be re-run.
    pub input: Option<String>,
    /// The last journal sequence before the session's first record.
    pub base_seq: u64,
    /// The engine state at `base_seq` (`None` = the configured start).
    pub base: Option<EngineState>,
}

/// How this run starts.
#[derive(Debug)]
pub enum StartMode {
    /// Empty state directory.
    Fresh,
    /// Re-execute the same input from the session base.
    Rerun {
        base_seq: u64,
        base: Option<Box<EngineState>>,
    },
    /// Continue the book from the snapshot and the journal tail.
    Resume(Box<Resumed>),
}

/// The book recovered for a resumed run.
#[derive(Debug)]
pub struct Resumed {
    /// The recovered engine state, covering the whole journal.
    pub state: EngineState,
    /// Journal sequence the loaded image covered (snapshot or session base).
    pub image_seq: u64,
    /// Where the image came from.
    pub image: ImageSource,
    /// Tail records applied on top of the image.
    pub tail_records: u64,
    /// Tail fills applied.
    pub tail_fills: u64,
    /// Orders journaled without a fill or rejection: the crashed process
    /// took them with it (the paper broker is in-process), so they were not
    /// executed; listed for the operator.
    pub unresolved_orders: Vec<u64>,
}

/// Where a resumed run's image came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageSource {
    Snapshot,
    SessionBase,
    /// No image at all: the configured start plus the whole journal.
    Start,
}

/// Why the state directory cannot be continued.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: snapshot::SnapshotError,
    },
    #[error("{}: not valid JSON ({message}); restore it from a backup or remove it together with the journal to start afresh", path.display())]
    Json { path: PathBuf, message: String },
    #[error("{}: {problem}; restore it from a backup or remove it together with the journal to start afresh", path.display())]
    Session { path: PathBuf, problem: String },
    #[error("{}: {source}; the state was written for another symbol list or config — run with those, or use a fresh --state-dir", path.display())]
    State { path: PathBuf, source: StateError },
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: snapshot::SnapshotError,
    },
    #[error("journal: {0}")]
    Tail(String),
}

/// The identity of a deterministic input run with `config` on `symbols`:
/// a hex SHA-256 of the three. `None` when `input` is `None`.
pub fn identity(input: Option<&str>, config: &EngineConfig, symbols: &[String]) -> Option<String> {
    let input = input?;
    let mut h = Sha256::new();
    h.update(input.as_bytes());
    h.update([0]);
    h.update(config.to_value().to_string().as_bytes());
    h.update([0]);
    h.update(symbols.join(",").as_bytes());
    Some(
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
    )
}

/// Read `session.json` in `state_dir` (`None` if there is none).
pub fn read_session(
    state_dir: &Path,
    symbols: &[String],
    horizons: &HorizonSet,
) -> Result<Option<Session>, RecoveryError> {
    let path = state_dir.join(SESSION_FILE);
    let Some(v) = read_json(&path)? else {
        return Ok(None);
    };
    let bad = |problem: &str| RecoveryError::Session {
        path: path.clone(),
        problem: problem.to_owned(),
    };
    let version = v.get("version").and_then(Value::as_u64);
    if version != Some(SESSION_VERSION) {
        return Err(bad(&format!(
            "version {}: this engine reads session version {SESSION_VERSION}",
            v.get("version").unwrap_or(&Value::Null)
        )));
    }
    let input = match v.get("input") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(_) => return Err(bad("input: expected a string or null")),
    };
    let base_seq = v
        .get("base_seq")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("base_seq: expected a non-negative integer"))?;
    let base = match v.get("base") {
        None | Some(Value::Null) => None,
        Some(b) => Some(
            EngineState::from_json(b, symbols, horizons).map_err(|source| {
                RecoveryError::State {
                    path: path.clone(),
                    source,
                }
            })?,
        ),
    };
    Ok(Some(Session {
        input,
        base_seq,
        base,
    }))
}

/// Write `session` atomically into `state_dir`.
pub fn write_session(
    state_dir: &Path,
    session: &Session,
    symbols: &[String],
    horizons: &HorizonSet,
) -> Result<(), RecoveryError> {
    let path = state_dir.join(SESSION_FILE);
    let v = json!({
        "version": SESSION_VERSION,
        "input": session.input,
        "base_seq": session.base_seq,
        "base": session.base.as_ref().map(|b| b.to_json(symbols, horizons)),
    });
    let bytes = serde_json::to_vec_pretty(&v).unwrap_or_default();
    snapshot::write_atomic(&path, &bytes).map_err(|source| RecoveryError::Write { path, source })
}

/// Read the snapshot at `path` (`None` if there is none).
pub fn read_snapshot(
    path: &Path,
    symbols: &[String],
    horizons: &HorizonSet,
) -> Result<Option<EngineState>, RecoveryError> {
    let Some(v) = read_json(path)? else {
        return Ok(None);
    };
    EngineState::from_json(&v, symbols, horizons)
        .map(Some)
        .map_err(|source| RecoveryError::State {
            path: path.to_path_buf(),
            source,
        })
}

fn read_json(path: &Path) -> Result<Option<Value>, RecoveryError> {
    let bytes = snapshot::read(path).map_err(|source| RecoveryError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let Some(bytes) = bytes else { return Ok(None) };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| RecoveryError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
}

/// Decide how to start. `records` is the whole journal (record `i` has
/// sequence `i + 1`); `identity` is this run's input identity.
pub fn start_mode(
    records: &[JournalRecord],
    session: Option<Session>,
    snapshot: Option<EngineState>,
    identity: Option<&str>,
) -> StartMode {
    let last = records.len() as u64;
    if last == 0 && snapshot.is_none() && session.as_ref().is_none_or(|s| s.base.is_none()) {
        return StartMode::Fresh;
    }
    if let Some(s) = &session {
        if identity.is_some() && s.input.as_deref() == identity && s.base_seq <= last {
            return StartMode::Rerun {
                base_seq: s.base_seq,
                base: s.base.clone().map(Box::new),
            };
        }
    }
    // Resume from the newest image that the journal covers.
    let mut image: Option<(EngineState, ImageSource)> = None;
    if let Some(s) = snapshot.filter(|s| s.journal_seq <= last) {
        image = Some((s, ImageSource::Snapshot));
    }
    if let Some(Session {
        base: Some(mut b),
        base_seq,
        ..
    }) = session
    {
        b.journal_seq = base_seq;
        let newer = image
            .as_ref()
            .is_none_or(|(img, _)| img.journal_seq < b.journal_seq);
        if base_seq <= last && newer {
            image = Some((b, ImageSource::SessionBase));
        }
    }
    let (state, source, seq) = match image {
        Some((s, src)) => {
            let seq = s.journal_seq;
            (Some(s), src, seq)
        }
        None => (None, ImageSource::Start, 0),
    };
    StartMode::Resume(Box::new(Resumed {
        state: state.unwrap_or_else(|| EngineState::with_capacity(0, 0)),
        image_seq: seq,
        image: source,
        tail_records: 0,
        tail_fills: 0,
        unresolved_orders: Vec::new(),
    }))
}

/// Bring `engine` to the end of the journal: restore the resumed image
/// (unless it is [`ImageSource::Start`]), apply the records after it, and
/// set the operator controls from the whole journal. Fills `resumed`'s
/// counters and its `state` with the result (covering `records.len()`).
pub fn resume(
    engine: &mut CycleEngine,
    resumed: &mut Resumed,
    records: &[JournalRecord],
) -> Result<(), RecoveryError> {
    let n_syms = engine.symbol_order().len();
    let n_arms = engine.horizons().len();
    if resumed.image != ImageSource::Start {
        resumed
            .state
            .restore_into(engine)
            .map_err(|e| RecoveryError::Tail(e.to_string()))?;
    }
    let from = usize::try_from(resumed.image_seq)
        .unwrap_or(usize::MAX)
        .min(records.len());
    let tail = &records[from..];
    let mut horizon_of: HashMap<u64, Option<HorizonId>> = HashMap::new();
    let mut outcome: HashMap<u64, bool> = HashMap::new();
    let mut next_client = 0u64;
    let mut cycle_count = None;
    let mut kills: Vec<(TradingState, Option<Reason>, crate::types::Nanos)> = Vec::new();
    for rec in tail {
        match *rec {
            JournalRecord::Order {
                client_order_id,
                horizon,
                ..
            } => {
                horizon_of.insert(client_order_id, horizon);
                outcome.entry(client_order_id).or_insert(false);
                next_client = next_client.max(client_order_id.saturating_add(1));
            }
            JournalRecord::Fill {
                client_order_id,
                time,
                ..
            } => {
                if let Some((_, fill)) = fill_of(rec) {
                    let horizon = horizon_of.get(&client_order_id).copied().flatten();
                    engine.apply_fill(&fill, horizon, time);
                }
                outcome.insert(client_order_id, true);
                resumed.tail_fills += 1;
            }
            JournalRecord::Reject {
                client_order_id, ..
            } => {
                outcome.insert(client_order_id, true);
            }
            JournalRecord::Kill {
                time,
                state,
                reason,
            } => kills.push((state, reason, time)),
            JournalRecord::Cycle { cycle, .. } => cycle_count = Some(cycle),
            JournalRecord::Decision { .. }
            | JournalRecord::Ack { .. }
            | JournalRecord::Control { .. } => {}
        }
    }
    resumed.tail_records = tail.len() as u64;
    let mut unresolved: Vec<u64> = outcome
        .into_iter()
        .filter(|&(_, done)| !done)
        .map(|(id, _)| id)
        .collect();
    unresolved.sort_unstable();
    resumed.unresolved_orders = unresolved;

    // Counters and kill events go through the image.
    let mut image = EngineState::with_capacity(n_syms, n_arms);
    image.capture_into(engine);
    image.next_client_order_id = image.next_client_order_id.max(next_client).max(1);
    if let Some(c) = cycle_count {
        image.cycle_count = image.cycle_count.max(c);
    }
    for (state, reason, time) in kills {
        // Guardrail kills and their clearing; other halts (manual kill,
        // stale feed, equity) are not guardrail state.
        let event = match (state, reason) {
            (TradingState::Halted, Some(r @ (Reason::DailyLoss | Reason::Drawdown))) => {
                GuardrailEvent::Triggered { reason: r, time }
            }
            (_, None) => GuardrailEvent::Cleared { time },
            _ => continue,
        };
        image.guardrails.apply_event(event);
    }
    image
        .restore_into(engine)
        .map_err(|e| RecoveryError::Tail(e.to_string()))?;
    engine.set_controls(controls_from(records));
    image.journal_seq = records.len() as u64;
    resumed.state = image;
    Ok(())
}

/// A journaled fill as the broker reported it: (client order id, fill).
pub fn fill_of(rec: &JournalRecord) -> Option<(u64, Fill)> {
    let JournalRecord::Fill {
        client_order_id,
        broker_order_id,
        symbol,
        side,
        qty,
        price,
        fee,
        ..
    } = *rec
    else {
        return None;
    };
    let q = qty.as_f64();
    Some((
        client_order_id,
        Fill {
            order_id: broker_order_id,
            symbol,
            side,
            qty: q,
            price,
            notional: q * price,
            fee,
        },
    ))
}

/// The operator controls in force after `records`: the last pause/resume
/// and the last kill/reset-kill command win.
pub fn controls_from(records: &[JournalRecord]) -> Controls {
    let mut c = Controls::default();
    for rec in records {
        if let JournalRecord::Control { command, .. } = *rec {
            apply_command(&mut c, command);
        }
    }
    c
}

/// Apply an operator command to `controls` (`Stop` changes nothing).
pub fn apply_command(controls: &mut Controls, command: ControlCommand) {
    match command {
        ControlCommand::Pause => controls.paused = true,
        ControlCommand::Resume => controls.paused = false,
        ControlCommand::Kill => controls.manual_kill = true,
        ControlCommand::ResetKill => controls.manual_kill = false,
        ControlCommand::Stop => {}
    }
}

/// §18.4 reconciliation of the engine's book against the broker's report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reconciliation {
    /// (symbol, internal, broker) where |broker − internal| > tolerance.
    pub drift: Vec<(SymbolId, f64, f64)>,
    /// Internal positions the broker does not report.
    pub orphans: Vec<(SymbolId, f64)>,
}

impl Reconciliation {
    /// No drift and no orphans.
    pub fn is_clean(&self) -> bool {
        self.drift.is_empty() && self.orphans.is_empty()
    }
}

/// Compare internal positions (dense by symbol id) with the broker's
/// explicit report (symbol, quantity); SPEC §18.4. A symbol the broker
/// does not report is not "flat": a non-zero internal position there is an
/// orphan.
pub fn reconcile(internal: &[f64], broker: &[(SymbolId, f64)], tolerance: f64) -> Reconciliation {
    let mut out = Reconciliation::default();
    for &(s, q) in broker {
        let mine = internal.get(s.index()).copied().unwrap_or(0.0);
        if (q - mine).abs() > tolerance {
            out.drift.push((s, mine, q));
        }
    }
    for (i, &q) in internal.iter().enumerate() {
        let s = SymbolId(i as u16);
        if q != 0.0 && !broker.iter().any(|&(b, _)| b == s) {
            out.orphans.push((s, q));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Nanos;

    fn control(command: ControlCommand) -> JournalRecord {
        JournalRecord::Control {
            time: Nanos(1),
            command,
        }
    }

    fn cycle(c: u64) -> JournalRecord {
        JournalRecord::Cycle {
            cycle: c,
            time: Nanos(c),
            cash: 1.0,
            portfolio_value: 1.0,
            state: TradingState::Active,
        }
    }

    fn session(input: Option<&str>, base_seq: u64, base: bool) -> Session {
        Session {
            input: input.map(str::to_owned),
            base_seq,
            base: base.then(|| EngineState::with_capacity(1, 1)),
        }
    }

    #[test]
    fn the_mode_follows_the_journal_the_session_and_the_input() {
        assert!(matches!(
            start_mode(&[], None, None, Some("a")),
            StartMode::Fresh
        ));
        let recs = vec![cycle(1), cycle(2)];
        // Same deterministic input: re-run from the session base.
        match start_mode(&recs, Some(session(Some("a"), 1, true)), None, Some("a")) {
            StartMode::Rerun { base_seq, base } => {
                assert_eq!(base_seq, 1);
                assert!(base.is_some());
            }
            other => panic!("{other:?}"),
        }
        // Another input, or one that cannot be re-run: resume.
        for id in [Some("b"), None] {
            assert!(matches!(
                start_mode(&recs, Some(session(Some("a"), 0, false)), None, id),
                StartMode::Resume(_)
            ));
        }
        // A live session never re-runs, even against a live input.
        assert!(matches!(
            start_mode(&recs, Some(session(None, 0, false)), None, None),
            StartMode::Resume(_)
        ));
        // The newest image wins: the snapshot at 2 over the base at 1.
        let mut snap = EngineState::with_capacity(1, 1);
        snap.journal_seq = 2;
        match start_mode(
            &recs,
            Some(session(None, 1, true)),
            Some(snap.clone()),
            None,
        ) {
            StartMode::Resume(r) => {
                assert_eq!(r.image, ImageSource::Snapshot);
                assert_eq!(r.image_seq, 2);
            }
            other => panic!("{other:?}"),
        }
        snap.journal_seq = 0;
        match start_mode(
            &recs,
            Some(session(None, 1, true)),
            Some(snap.clone()),
            None,
        ) {
            StartMode::Resume(r) => {
                assert_eq!(r.image, ImageSource::SessionBase);
                assert_eq!(r.image_seq, 1);
            }
            other => panic!("{other:?}"),
        }
        // A snapshot ahead of the journal (journal lost) is not trusted.
        snap.journal_seq = 9;
        match start_mode(&recs, None, Some(snap), None) {
            StartMode::Resume(r) => assert_eq!(r.image, ImageSource::Start),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_last_operator_command_of_each_kind_wins() {
        assert_eq!(controls_from(&[]), Controls::default());
        let recs = [
            control(ControlCommand::Kill),
            control(ControlCommand::Pause),
            cycle(1),
            control(ControlCommand::Resume),
            control(ControlCommand::Stop),
        ];
        assert_eq!(
            controls_from(&recs),
            Controls {
                paused: false,
                manual_kill: true,
                feed_stale: false,
                broker_down: false,
            }
        );
        let mut c = controls_from(&recs);
        apply_command(&mut c, ControlCommand::ResetKill);
        assert!(!c.manual_kill);
    }

    #[test]
    fn drift_and_orphans_follow_spec_18_4() {
        let internal = [10.0, 0.0, -5.0];
        // Symbol 0 within tolerance, symbol 1 held at the broker only,
        // symbol 2 not reported at all: an orphan, not "flat".
        let r = reconcile(
            &internal,
            &[(SymbolId(0), 10.005), (SymbolId(1), 3.0)],
            0.01,
        );
        assert_eq!(r.drift, vec![(SymbolId(1), 0.0, 3.0)]);
        assert_eq!(r.orphans, vec![(SymbolId(2), -5.0)]);
        assert!(!r.is_clean());
        let r = reconcile(&internal, &[(SymbolId(0), 10.0), (SymbolId(2), -5.0)], 0.01);
        assert!(r.is_clean());
    }

    #[test]
    fn a_session_file_round_trips_and_bad_ones_name_the_problem() {
        let dir = std::env::temp_dir().join(format!("lt-session-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let symbols = vec!["SPY".to_owned()];
        let horizons = HorizonSet::default_set();
        assert!(read_session(&dir, &symbols, &horizons).unwrap().is_none());
        let mut base = EngineState::with_capacity(1, horizons.len());
        base.cash = 1234.5;
        base.positions[0] = 7.0;
        let s = Session {
            input: Some("abc".into()),
            base_seq: 42,
            base: Some(base),
        };
        write_session(&dir, &s, &symbols, &horizons).unwrap();
        let back = read_session(&dir, &symbols, &horizons).unwrap().unwrap();
        assert_eq!(back.input.as_deref(), Some("abc"));
        assert_eq!(back.base_seq, 42);
        let b = back.base.unwrap();
        assert_eq!(b.cash, 1234.5);
        assert_eq!(b.positions, vec![7.0]);
        std::fs::write(dir.join(SESSION_FILE), "{\"version\": 1}").unwrap();
        let e = read_session(&dir, &symbols, &horizons)
            .unwrap_err()
            .to_string();
        assert!(e.contains("base_seq"), "{e}");
        assert!(e.contains(SESSION_FILE), "{e}");
        std::fs::write(dir.join(SESSION_FILE), "{").unwrap();
        let e = read_session(&dir, &symbols, &horizons)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid JSON"), "{e}");
    }
}
