//! The engine's threads end to end: simulator and CSV replay through the
//! feed, engine, paper-broker and journal threads into a real state
//! directory; byte-identical journals for identical inputs; a stopped or
//! torn run resumes to exactly the uninterrupted result.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::run::{files, run, temp_dir, write_sim_csv, Input};
use live_trading::config::DecisionTrigger;
use live_trading::engine::state::EngineState;
use live_trading::journal::{JournalReader, JournalRecord};
use live_trading::runtime::{RunError, StopReason};

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

#[test]
fn a_journal_from_another_input_is_refused() {
    let data = temp_dir("run-other-data");
    let csv = write_sim_csv(&data, 1, Some(60));
    let dir = temp_dir("run-other");
    run(
        DecisionTrigger::Cycle,
        Input::Replay(&csv),
        &dir,
        Some(40),
        None,
    )
    .unwrap();
    // The same days with every quote 0.1 % higher: another input.
    let text = std::fs::read_to_string(&csv[0]).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let f: Vec<&str> = line.split(',').collect();
            let up = |x: &str| x.parse::<f64>().unwrap() * 1.001;
            out.push_str(&format!(
                "{},{},{},{},{},{}",
                f[0],
                f[1],
                up(f[2]),
                f[3],
                up(f[4]),
                f[5]
            ));
        }
        out.push('\n');
    }
    std::fs::write(&csv[0], out).unwrap();
    match run(
        DecisionTrigger::Cycle,
        Input::Replay(&csv),
        &dir,
        None,
        None,
    ) {
        Err(RunError::Diverged { seq, .. }) => assert!(seq >= 1),
        Err(e) => panic!("expected a divergence, got {e}"),
        Ok(_) => panic!("a journal from another input was continued"),
    }
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
