//! The engine's threads end to end: simulator and CSV replay through the
//! feed, engine, paper-broker and journal threads into a real state
//! directory; byte-identical journals for identical inputs; a stopped or
//! torn run resumes to exactly the uninterrupted result.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::run::{files, run, run_controlled, temp_dir, write_sim_csv, Input};
use live_trading::config::DecisionTrigger;
use live_trading::engine::state::EngineState;
use live_trading::journal::{JournalReader, JournalRecord};
use live_trading::runtime::recovery::ImageSource;
use live_trading::runtime::{StartReport, StopReason};

fn journal(dir: &std::path::Path) -> Vec<JournalRecord> {
    JournalReader::open(&dir.join("journal"))
        .unwrap()
        .map(|r| r.unwrap().1)
        .collect()
}

#[test]
fn a_simulated_day_trades_journals_and_snapshots() {
    let dir = temp_dir("run-sim");
    let s = run(DecisionTrigger::Cycle, Input::Sim(1), &dir, None, None).unwrap();
    assert_eq!(s.stopped_by, StopReason::FeedEnded);
    assert!((385..=391).contains(&s.cycles), "cycles {}", s.cycles);
    assert_eq!(s.decisions, 3 * s.cycles);
    assert!(s.fills > 0, "no fill in a simulated day");
    let recs = journal(&dir);
    assert_eq!(recs.len() as u64, s.journal.records);
    let count = |f: fn(&JournalRecord) -> bool| recs.iter().filter(|r| f(r)).count() as u64;
    assert_eq!(
        count(|r| matches!(r, JournalRecord::Decision { .. })),
        s.decisions
    );
    assert_eq!(
        count(|r| matches!(r, JournalRecord::Cycle { .. })),
        s.cycles
    );
    assert_eq!(count(|r| matches!(r, JournalRecord::Fill { .. })), s.fills);
    // Every fill follows its order.
    for (i, r) in recs.iter().enumerate() {
        if let JournalRecord::Fill {
            client_order_id, ..
        } = r
        {
            assert!(
                matches!(recs[i - 1], JournalRecord::Order { client_order_id: c, .. } if c == *client_order_id)
            );
        }
    }
    // The snapshot is the end state.
    let text = std::fs::read_to_string(dir.join("engine_state.json")).unwrap();
    let names = common::run::symbols();
    let config = common::run::config(DecisionTrigger::Cycle);
    let state = EngineState::from_json(
        &serde_json::from_str(&text).unwrap(),
        &names,
        &config.horizons,
    )
    .unwrap();
    assert_eq!(state.cash, s.cash);
    assert_eq!(state.cycle_count, s.cycles);
    assert_eq!(state.journal_seq, s.journal.last_seq);
    // Trade log: one JSON line per order and fill.
    let mut lines = 0;
    for (name, bytes) in files(&dir.join("logs")) {
        assert!(name.ends_with(".jsonl"), "{name}");
        for line in String::from_utf8(bytes).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v.get("symbol").is_some(), "{line}");
            lines += 1;
        }
    }
    assert_eq!(lines, 2 * s.fills + s.rejects);
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    assert_eq!(history.lines().count() as u64, s.decisions);
}

#[test]
fn two_replays_of_the_same_input_write_identical_files() {
    let data = temp_dir("run-replay-data");
    let csv = write_sim_csv(&data, 1, Some(150));
    let a = temp_dir("run-replay-a");
    let b = temp_dir("run-replay-b");
    let sa = run(DecisionTrigger::Cycle, Input::Replay(&csv), &a, None, None).unwrap();
    let sb = run(DecisionTrigger::Cycle, Input::Replay(&csv), &b, None, None).unwrap();
    assert!(sa.fills > 0, "the replay should trade");
    assert_eq!(sa.journal.records, sb.journal.records);
    let fa = files(&a);
    let fb = files(&b);
    assert_eq!(fa.len(), fb.len());
    for ((na, ba), (nb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(na, nb);
        assert!(ba == bb, "{na} differs between two replays");
    }
}

#[test]
fn a_stopped_or_torn_run_resumes_to_the_uninterrupted_result() {
    let data = temp_dir("run-resume-data");
    let csv = write_sim_csv(&data, 1, Some(120));
    let whole = temp_dir("run-resume-whole");
    let s = run(
        DecisionTrigger::Cycle,
        Input::Replay(&csv),
        &whole,
        None,
        None,
    )
    .unwrap();
    assert!(s.fills > 0);
    let want = files(&whole);
    for (k, cut) in [(5u64, 0u64), (37, 3), (64, 41), (90, 1)] {
        let dir = temp_dir(&format!("run-resume-{k}"));
        let first = run(
            DecisionTrigger::Cycle,
            Input::Replay(&csv),
            &dir,
            Some(k),
            None,
        )
        .unwrap();
        assert_eq!(first.stopped_by, StopReason::MaxCycles);
        // A torn write: cut bytes off the journal's last file.
        if cut > 0 {
            let mut jf: Vec<_> = std::fs::read_dir(dir.join("journal"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            jf.sort();
            let last = jf.last().unwrap();
            let len = std::fs::metadata(last).unwrap().len();
            std::fs::OpenOptions::new()
                .write(true)
                .open(last)
                .unwrap()
                .set_len(len - cut)
                .unwrap();
        }
        let resumed = run(
            DecisionTrigger::Cycle,
            Input::Replay(&csv),
            &dir,
            None,
            None,
        )
        .unwrap();
        assert!(resumed.recovered_records > 0);
        assert_eq!(
            resumed.cash.to_bits(),
            s.cash.to_bits(),
            "cash after resuming at cycle {k}"
        );
        let got = files(&dir);
        for ((nw, bw), (ng, bg)) in want.iter().zip(&got) {
            assert_eq!(nw, ng);
            assert!(
                bw == bg,
                "{nw} differs after resuming at cycle {k} (cut {cut})"
            );
        }
        assert_eq!(want.len(), got.len());
    }
}

/// Split the CSV files at `paths` by the time column: rows before `t` go
/// to `dir/a/`, the rest to `dir/b/` (two sessions of one market).
fn split_csv(
    paths: &[std::path::PathBuf],
    t: u64,
    dir: &std::path::Path,
) -> [Vec<std::path::PathBuf>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for (k, part) in ["a", "b"].iter().enumerate() {
        std::fs::create_dir_all(dir.join(part)).unwrap();
        for p in paths {
            let text = std::fs::read_to_string(p).unwrap();
            let mut lines = text.lines();
            let mut body = format!("{}\n", lines.next().unwrap());
            for l in lines {
                let ts: u64 = l.split(',').nth(1).unwrap().parse().unwrap();
                if (ts < t) == (k == 0) {
                    body.push_str(l);
                    body.push('\n');
                }
            }
            let dest = dir.join(part).join(p.file_name().unwrap());
            std::fs::write(&dest, body).unwrap();
            out[k].push(dest);
        }
    }
    out
}

/// Cash and positions implied by the journal's fills from `cash0`.
fn book_from_fills(recs: &[JournalRecord], cash0: f64) -> (f64, Vec<f64>) {
    let mut cash = cash0;
    let mut pos = vec![0.0; 3];
    for r in recs {
        if let JournalRecord::Fill {
            symbol,
            side,
            qty,
            price,
            fee,
            ..
        } = *r
        {
            let q = qty.as_f64();
            match side {
                live_trading::types::Side::Buy => {
                    cash -= q * price + fee;
                    pos[symbol.index()] += q;
                }
                live_trading::types::Side::Sell => {
                    cash += q * price - fee;
                    pos[symbol.index()] -= q;
                }
            }
        }
    }
    (cash, pos)
}

fn client_ids(recs: &[JournalRecord]) -> Vec<u64> {
    recs.iter()
        .filter_map(|r| match r {
            JournalRecord::Order {
                client_order_id, ..
            } => Some(*client_order_id),
            _ => None,
        })
        .collect()
}

// 2024-01-02T16:00:00Z: the simulated day's 11:00 New York.
const SPLIT: u64 = 1_704_211_200_000_000_000;

#[test]
fn a_book_continues_on_new_data_from_the_snapshot() {
    let data = temp_dir("run-next-data");
    let csv = write_sim_csv(&data, 1, Some(240));
    let [first, second] = split_csv(&csv, SPLIT, &data);
    let dir = temp_dir("run-next");
    let s1 = run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        None,
        None,
    )
    .unwrap();
    assert_eq!(s1.start, StartReport::Fresh);
    assert!(s1.fills > 0, "the first session should trade");
    let before = journal(&dir);
    let s2 = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir,
        None,
        None,
    )
    .unwrap();
    match &s2.start {
        StartReport::Resume {
            image,
            image_seq,
            tail_records,
            cash,
            unresolved_orders,
            ..
        } => {
            assert_eq!(*image, ImageSource::Snapshot);
            assert_eq!(*image_seq, before.len() as u64);
            assert_eq!(*tail_records, 0);
            assert_eq!(cash.to_bits(), s1.cash.to_bits());
            assert!(unresolved_orders.is_empty());
        }
        other => panic!("expected a resume, got {other:?}"),
    }
    assert!(
        s2.fills > 0,
        "the second session should trade after warm-up"
    );
    // The journal continues: the first session's records untouched, new
    // client order ids only.
    let after = journal(&dir);
    // (Debug text: decisions without an alpha carry NaN.)
    let text = |r: &[JournalRecord]| format!("{r:?}");
    assert!(
        text(&after[..before.len()]) == text(&before),
        "the first session's records changed"
    );
    let ids1 = client_ids(&before);
    let ids2 = client_ids(&after[before.len()..]);
    assert!(!ids2.is_empty());
    assert!(ids2.iter().all(|id| id > ids1.iter().max().unwrap()));
    // The book is the whole journal's fills from the initial cash.
    let (cash, pos) = book_from_fills(&after, s2.initial_cash);
    assert!((cash - s2.cash).abs() < 1e-6, "cash {cash} vs {}", s2.cash);
    for (name, q) in &s2.positions {
        let i = common::run::SYMBOLS.iter().position(|s| s == name).unwrap();
        assert_eq!(pos[i], *q, "{name}");
    }
    assert_eq!(
        pos.iter().filter(|q| **q != 0.0).count(),
        s2.positions.len()
    );
    // Cycle numbers continue.
    assert!(s2.cycles > 0);
    let text = std::fs::read_to_string(dir.join("engine_state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["cycle_count"].as_u64().unwrap(), s1.cycles + s2.cycles);
}

#[test]
fn a_crashed_second_session_re_runs_from_its_own_start() {
    let data = temp_dir("run-next2-data");
    let csv = write_sim_csv(&data, 1, Some(240));
    let [first, second] = split_csv(&csv, SPLIT, &data);
    let whole = temp_dir("run-next2-whole");
    run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &whole,
        None,
        None,
    )
    .unwrap();
    let s2 = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &whole,
        None,
        None,
    )
    .unwrap();
    let want = files(&whole);
    let dir = temp_dir("run-next2");
    run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        None,
        None,
    )
    .unwrap();
    let cut = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir,
        Some(70),
        None,
    )
    .unwrap();
    assert_eq!(cut.stopped_by, StopReason::MaxCycles);
    let again = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir,
        None,
        None,
    )
    .unwrap();
    match again.start {
        StartReport::Rerun {
            base_seq,
            journaled,
        } => {
            assert!(base_seq > 0);
            assert!(journaled > 0);
        }
        other => panic!("expected a re-run of the second session, got {other:?}"),
    }
    assert_eq!(again.cash.to_bits(), s2.cash.to_bits());
    let got = files(&dir);
    assert_eq!(want.len(), got.len());
    for ((nw, bw), (ng, bg)) in want.iter().zip(&got) {
        assert_eq!(nw, ng);
        assert!(bw == bg, "{nw} differs after re-running the second session");
    }
}

#[test]
fn a_journal_tail_past_the_snapshot_is_applied_exactly() {
    let data = temp_dir("run-tail-data");
    let csv = write_sim_csv(&data, 1, Some(240));
    let [first, second] = split_csv(&csv, SPLIT, &data);
    let dir = temp_dir("run-tail");
    // A snapshot that lags the journal (a crash between journal and
    // snapshot writes): keep the one from cycle 20, run on to cycle 60.
    run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        Some(20),
        None,
    )
    .unwrap();
    let early = std::fs::read(dir.join("engine_state.json")).unwrap();
    let full = run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        None,
        None,
    )
    .unwrap();
    std::fs::write(dir.join("engine_state.json"), &early).unwrap();
    let recs = journal(&dir);
    let early_seq = serde_json::from_slice::<serde_json::Value>(&early).unwrap()["journal_seq"]
        .as_u64()
        .unwrap() as usize;
    let fills_after = recs[early_seq..]
        .iter()
        .filter(|r| matches!(r, JournalRecord::Fill { .. }))
        .count() as u64;
    assert!(fills_after > 0, "the tail should hold fills");
    let s = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir,
        Some(1),
        None,
    )
    .unwrap();
    assert_resumed(&s.start, ImageSource::Snapshot, fills_after, full.cash);
    // Without any snapshot: the configured start plus the whole journal.
    let dir2 = temp_dir("run-tail-none");
    let full2 = run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir2,
        None,
        None,
    )
    .unwrap();
    std::fs::remove_file(dir2.join("engine_state.json")).unwrap();
    let s = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir2,
        Some(1),
        None,
    )
    .unwrap();
    assert_resumed(&s.start, ImageSource::Start, full2.fills, full2.cash);
}

/// `start` is a resume from `image` that applied `fills` journaled fills
/// and arrived at exactly `cash`.
fn assert_resumed(start: &StartReport, image: ImageSource, fills: u64, cash: f64) {
    match start {
        StartReport::Resume {
            image: seen,
            tail_fills,
            cash: got,
            ..
        } => {
            assert_eq!(*seen, image);
            assert_eq!(*tail_fills, fills);
            assert_eq!(got.to_bits(), cash.to_bits());
        }
        other => panic!("expected a resume, got {other:?}"),
    }
}

#[test]
fn operator_commands_survive_a_restart() {
    use live_trading::control::ControlReceiver;
    use live_trading::journal::ControlCommand;
    let data = temp_dir("run-ctl-data");
    let csv = write_sim_csv(&data, 1, Some(240));
    let [first, second] = split_csv(&csv, SPLIT, &data);
    let dir = temp_dir("run-ctl");
    // Kill by hand part-way, then stop.
    let (tx, rx) = ControlReceiver::channel(8);
    let on_event: Box<dyn FnMut(u64) + Send> = Box::new(move |n| {
        if n == 110_000 {
            tx.send(ControlCommand::Kill).unwrap();
        }
        if n == 140_000 {
            tx.send(ControlCommand::Stop).unwrap();
        }
    });
    let s = run_controlled(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        None,
        Some(on_event),
        rx,
    )
    .unwrap();
    assert_eq!(s.stopped_by, StopReason::Stop);
    assert_eq!(s.state, live_trading::types::TradingState::Halted);
    // The same input again: a re-run that re-applies the kill where it was
    // journaled (no divergence) and trades nothing after it.
    let again = run(
        DecisionTrigger::Cycle,
        Input::Replay(&first),
        &dir,
        None,
        None,
    )
    .unwrap();
    assert!(
        matches!(again.start, StartReport::Rerun { .. }),
        "{:?}",
        again.start
    );
    assert_eq!(again.stopped_by, StopReason::FeedEnded);
    let recs = journal(&dir);
    let kill = recs
        .iter()
        .position(|r| {
            matches!(
                r,
                JournalRecord::Control {
                    command: ControlCommand::Kill,
                    ..
                }
            )
        })
        .unwrap();
    assert!(recs[..kill]
        .iter()
        .any(|r| matches!(r, JournalRecord::Order { .. })));
    assert!(recs[kill..]
        .iter()
        .all(|r| !matches!(r, JournalRecord::Order { .. })));
    assert!(recs[kill..].iter().any(|r| matches!(
        r,
        JournalRecord::Decision {
            reason: live_trading::types::Reason::ManualKill,
            ..
        } | JournalRecord::Decision {
            reason: live_trading::types::Reason::KillSwitch,
            ..
        }
    )));
    // New data: the resumed book is still killed by hand.
    let next = run(
        DecisionTrigger::Cycle,
        Input::Replay(&second),
        &dir,
        None,
        None,
    )
    .unwrap();
    assert!(matches!(next.start, StartReport::Resume { .. }));
    assert_eq!(next.state, live_trading::types::TradingState::Halted);
    assert_eq!(next.fills, 0);
}

#[test]
fn bad_input_is_counted_and_held_with_reason_codes_never_fatal() {
    use std::io::Write;
    let data = temp_dir("run-bad-data");
    let csv = write_sim_csv(&data, 1, Some(60));
    // Corrupt the quotes file: the last SPY quote before 10:00 New York
    // (15:00 UTC) crossed, the last QQQ quote before it NaN; and add a
    // malformed row, an unknown symbol and a row out of time order.
    let text = std::fs::read_to_string(&csv[0]).unwrap();
    let boundary = 1_704_207_600_000_000_000u64; // 2024-01-02T15:00:00Z
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last_before = |lines: &[String], sym: &str| {
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with(&format!("{sym},")))
            .filter(|(_, l)| l.split(',').nth(1).unwrap().parse::<u64>().unwrap() < boundary)
            .map(|(i, _)| i)
            .next_back()
            .unwrap()
    };
    let spy = last_before(&lines, "SPY");
    let t: Vec<String> = lines[spy].split(',').map(str::to_owned).collect();
    lines[spy] = format!("SPY,{},500.10,100,500.00,100", t[1]);
    let qqq = last_before(&lines, "QQQ");
    let t: Vec<String> = lines[qqq].split(',').map(str::to_owned).collect();
    lines[qqq] = format!("QQQ,{},NaN,100,400.00,100", t[1]);
    lines.insert(100, "SPY,not-a-time,1,1,1,1".to_owned());
    lines.insert(200, "ZZZZ,1704205800000000000,10,1,10.1,1".to_owned());
    lines.insert(300, "AAPL,1704205800000000000,185,1,185.1,1".to_owned());
    let mut f = std::fs::File::create(&csv[0]).unwrap();
    for l in &lines {
        writeln!(f, "{l}").unwrap();
    }
    drop(f);
    let dir = temp_dir("run-bad");
    let s = run(
        DecisionTrigger::Cycle,
        Input::Replay(&csv),
        &dir,
        None,
        None,
    )
    .unwrap();
    assert_eq!(s.stopped_by, StopReason::FeedEnded);
    let r = s.replay.unwrap();
    assert_eq!(r.malformed, 1, "{r}");
    assert_eq!(r.unknown_symbol, 1, "{r}");
    assert_eq!(r.out_of_order, 1, "{r}");
    assert_eq!(r.suspect_quotes, 2, "{r}");
    assert_eq!(s.market.bad_quotes, 2);
    // The cycle at 15:00 decided SPY on the crossed quote and QQQ on the
    // NaN one: both held by the spread gate.
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let at = |sym: &str| -> serde_json::Value {
        history
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["time"] == "2024-01-02T15:00:00Z" && v["symbol"] == sym)
            .unwrap_or_else(|| panic!("no {sym} decision at 15:00"))
    };
    assert_eq!(at("SPY")["decision"], "HOLD");
    assert_eq!(at("SPY")["reason"], "invalid_spread");
    assert_eq!(at("QQQ")["decision"], "HOLD");
    assert_eq!(at("QQQ")["reason"], "invalid_spread");
}
