//! The journal, snapshots and trade log on real files: records across a
//! date change read back equal, identical input gives identical bytes, a
//! torn tail is cut at every offset and appending continues, damage before
//! the tail is reported with its file and offset, snapshots survive a
//! leftover temp file, trade-log lines are JSON, and an engine thread feeds
//! a journal thread through an SPSC ring.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fs;
use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use live_trading::journal::{
    snapshot, ControlCommand, FrameProblem, JournalError, JournalReader, JournalRecord,
    JournalWriter, TradeLog, MAX_PAYLOAD,
};
use live_trading::types::{Decision, HorizonId, Nanos, Qty, Reason, Side, SymbolId, TradingState};

/// 2024-03-01T22:00:00Z, 17:00 in New York.
const START: u64 = 1_709_330_400 * Nanos::PER_SEC;
/// Ten minutes: 60 records span ten hours and cross New York's midnight.
const STEP: u64 = 600 * Nanos::PER_SEC;
const HEADER: u64 = 8;

fn ny() -> Tz {
    "America/New_York".parse().unwrap()
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lt-journal-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// `n` records of every kind, deterministic, at `START + i * STEP`.
fn records(n: u64) -> Vec<JournalRecord> {
    (0..n)
        .map(|i| {
            let time = Nanos(START + i * STEP);
            let symbol = SymbolId((i % 3) as u16);
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            match i % 8 {
                0 => JournalRecord::Decision {
                    cycle: i,
                    time,
                    symbol,
                    decision: Decision::Trade,
                    reason: Reason::AboveThreshold,
                    horizon: Some(HorizonId((i % 4) as u8)),
                    side: Some(side),
                    shares: Qty(i as i64 + 1),
                    alpha: 0.001 * i as f64,
                    target_weight: 0.05,
                    proposed_weight: if i % 16 == 0 { f64::NAN } else { 0.06 },
                },
                1 => JournalRecord::Order {
                    client_order_id: i,
                    cycle: i,
                    time,
                    symbol,
                    side,
                    qty: Qty(i as i64 + 1),
                    price: 500.0 + i as f64 * 0.01,
                    horizon: if i % 3 == 0 { None } else { Some(HorizonId(1)) },
                },
                2 => JournalRecord::Ack {
                    client_order_id: i - 1,
                    broker_order_id: 1000 + i,
                    time,
                },
                3 => JournalRecord::Fill {
                    client_order_id: i - 2,
                    broker_order_id: 1000 + i,
                    time,
                    symbol,
                    side,
                    qty: Qty(i as i64),
                    price: 512.34,
                    fee: 0.61,
                },
                4 => JournalRecord::Reject {
                    client_order_id: i,
                    time,
                    symbol,
                    reason: Reason::InsufficientFunds,
                },
                5 => JournalRecord::Kill {
                    time,
                    state: TradingState::Halted,
                    reason: if i % 2 == 0 {
                        None
                    } else {
                        Some(Reason::Drawdown)
                    },
                },
                6 => JournalRecord::Control {
                    time,
                    command: ControlCommand::ALL[(i as usize / 8) % 5],
                },
                _ => JournalRecord::Cycle {
                    cycle: i,
                    time,
                    cash: 100_000.0 - i as f64,
                    portfolio_value: 100_000.0 + i as f64,
                    state: TradingState::Active,
                },
            }
        })
        .collect()
}

/// Records compared by their encoding (a NaN field never equals itself).
fn same(a: &JournalRecord, b: &JournalRecord) -> bool {
    let (mut x, mut y) = ([0u8; MAX_PAYLOAD], [0u8; MAX_PAYLOAD]);
    let n = a.encode(&mut x);
    let m = b.encode(&mut y);
    a.kind() == b.kind() && x[..n] == y[..m]
}

fn frame_len(rec: &JournalRecord) -> u64 {
    (4 + 1 + 8 + rec.kind().payload_len() + 4) as u64
}

fn write_all(dir: &Path, recs: &[JournalRecord]) -> JournalWriter {
    let mut w = JournalWriter::open(dir, ny()).unwrap();
    for rec in recs {
        w.append(rec).unwrap();
    }
    w.sync().unwrap();
    w
}

fn read_all(dir: &Path) -> (Vec<(u64, JournalRecord)>, JournalReader) {
    let mut reader = JournalReader::open(dir).unwrap();
    let got = reader.by_ref().collect::<Result<Vec<_>, _>>().unwrap();
    (got, reader)
}

fn jnl_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jnl"))
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = fs::remove_dir_all(to);
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn assert_read_back(dir: &Path, want: &[JournalRecord]) {
    let (got, reader) = read_all(dir);
    assert!(reader.torn_tail().is_none());
    assert_eq!(got.len(), want.len());
    for (i, ((seq, rec), want)) in got.iter().zip(want).enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert!(same(rec, want), "seq {seq}: {rec:?} != {want:?}");
    }
}

#[test]
fn records_across_a_date_change_read_back_equal() {
    let dir = temp_dir("dates");
    let recs = records(60);
    let (first, rest) = recs.split_at(25);
    let w = write_all(&dir, first);
    assert_eq!(w.last_seq(), 25);
    drop(w);

    // Reopen and continue: the sequence goes on where it stopped.
    let mut w = JournalWriter::open(&dir, ny()).unwrap();
    assert_eq!(w.recovery().last_seq, 25);
    assert_eq!(w.recovery().records, 25);
    assert_eq!(w.recovery().cut, None);
    for (i, rec) in rest.iter().enumerate() {
        assert_eq!(w.append(rec).unwrap(), 26 + i as u64);
    }
    w.flush().unwrap();
    drop(w);

    // 17:00 ET + 7h crosses midnight in New York: two files by session date.
    let names: Vec<String> = jnl_files(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["2024-03-01.jnl", "2024-03-02.jnl"]);
    let first_day = recs
        .iter()
        .filter(|r| r.time().0 < START + 7 * 3600 * Nanos::PER_SEC)
        .map(frame_len)
        .sum::<u64>();
    assert_eq!(
        fs::metadata(dir.join("2024-03-01.jnl")).unwrap().len(),
        HEADER + first_day
    );
    assert_read_back(&dir, &recs);

    // The tail after a snapshot: only later records, older file skipped.
    let tail: Vec<_> = JournalReader::read_from(&dir, 50)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tail.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (51..=60).collect::<Vec<_>>()
    );
    assert!(same(&tail[0].1, &recs[50]));
    let mut past_end = JournalReader::read_from(&dir, 60).unwrap();
    assert!(past_end.next().is_none());
    assert_eq!(past_end.last_seq(), 60);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_late_record_stays_in_the_current_file() {
    let dir = temp_dir("late");
    let mut w = JournalWriter::open(&dir, Tz::UTC).unwrap();
    let day2 = Nanos(START + 3 * 3600 * Nanos::PER_SEC); // 2024-03-02T01:00Z
    let ack = |time| JournalRecord::Ack {
        client_order_id: 1,
        broker_order_id: 2,
        time,
    };
    w.append(&ack(Nanos(START))).unwrap();
    w.append(&ack(day2)).unwrap();
    w.append(&ack(Nanos(START + 1))).unwrap(); // a day-1 time after day 2 began
    w.flush().unwrap();
    assert!(w.current_file().unwrap().ends_with("2024-03-02.jnl"));
    let day2_len = fs::metadata(dir.join("2024-03-02.jnl")).unwrap().len();
    assert_eq!(day2_len, HEADER + 2 * frame_len(&ack(day2)));
    let (got, _) = read_all(&dir);
    assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn identical_input_gives_identical_bytes() {
    let recs = records(80);
    let names: Vec<String> = ["SPY", "QQQ", "IWM"].map(String::from).to_vec();
    let horizons: Vec<String> = ["5m", "15m", "60m", "1d"].map(String::from).to_vec();
    let run = |name: &str| {
        let dir = temp_dir(name);
        let mut w = JournalWriter::open(&dir.join("journal"), ny()).unwrap();
        let mut log = TradeLog::open(&dir.join("trades"), ny(), &names, &horizons).unwrap();
        for rec in &recs {
            let seq = w.append(rec).unwrap();
            log.append(seq, rec).unwrap();
        }
        w.sync().unwrap();
        log.sync().unwrap();
        dir
    };
    let (a, b) = (run("same-a"), run("same-b"));
    for sub in ["journal", "trades"] {
        let list = |d: &Path| {
            let mut v: Vec<_> = fs::read_dir(d.join(sub))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let files = list(&a);
        assert_eq!(files, list(&b));
        assert_eq!(files.len(), 2, "{sub}: {files:?}");
        for f in files {
            let x = fs::read(a.join(sub).join(&f)).unwrap();
            let y = fs::read(b.join(sub).join(&f)).unwrap();
            assert!(!x.is_empty());
            assert_eq!(x, y, "{sub}/{f:?} differs");
        }
    }
    fs::remove_dir_all(&a).unwrap();
    fs::remove_dir_all(&b).unwrap();
}

#[test]
fn a_torn_tail_is_cut_at_every_offset_and_appending_continues() {
    let base = temp_dir("torn-base");
    let recs = records(60);
    drop(write_all(&base, &recs));
    let last = jnl_files(&base).pop().unwrap();
    let name = last.file_name().unwrap().to_owned();
    let full = fs::metadata(&last).unwrap().len();
    let last_start = full - frame_len(&recs[59]);
    let extra = JournalRecord::Control {
        time: Nanos(START + 61 * STEP),
        command: ControlCommand::Stop,
    };

    let work = temp_dir("torn-work");
    for cut_at in last_start..full {
        copy_dir(&base, &work);
        let file = work.join(&name);
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(cut_at)
            .unwrap();

        // The reader reports the tail and changes nothing.
        let (got, reader) = read_all(&work);
        assert_eq!(got.len(), 59);
        let torn = reader.torn_tail().cloned();
        assert_eq!(fs::metadata(&file).unwrap().len(), cut_at);

        let mut w = JournalWriter::open(&work, ny()).unwrap();
        assert_eq!(w.recovery().last_seq, 59, "cut at {cut_at}");
        assert_eq!(w.recovery().cut, torn);
        if cut_at == last_start {
            assert_eq!(torn, None);
        } else {
            let torn = torn.unwrap();
            assert_eq!(torn.file, file);
            assert_eq!(torn.offset, last_start);
            assert_eq!(torn.bytes, cut_at - last_start);
            assert!(matches!(torn.problem, FrameProblem::Truncated { .. }));
        }
        assert_eq!(w.append(&extra).unwrap(), 60);
        w.flush().unwrap();
        drop(w);

        assert_eq!(
            fs::metadata(&file).unwrap().len(),
            last_start + frame_len(&extra)
        );
        let mut want = recs[..59].to_vec();
        want.push(extra);
        assert_read_back(&work, &want);
    }
    fs::remove_dir_all(&base).unwrap();
    fs::remove_dir_all(&work).unwrap();
}

#[test]
fn a_file_cut_inside_its_header_gets_its_header_back() {
    let base = temp_dir("header-base");
    let recs = records(60);
    drop(write_all(&base, &recs));
    let last = jnl_files(&base).pop().unwrap();
    let name = last.file_name().unwrap().to_owned();
    let work = temp_dir("header-work");
    let in_first_file = recs
        .iter()
        .filter(|r| r.time().0 < START + 7 * 3600 * Nanos::PER_SEC)
        .count() as u64;
    for cut_at in 0..HEADER {
        copy_dir(&base, &work);
        let file = work.join(&name);
        fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .unwrap()
            .set_len(cut_at)
            .unwrap();
        let mut w = JournalWriter::open(&work, ny()).unwrap();
        assert_eq!(w.recovery().last_seq, in_first_file);
        assert_eq!(
            w.recovery().cut.as_ref().map(|t| t.bytes),
            (cut_at > 0).then_some(cut_at)
        );
        let seq = w.append(&recs[in_first_file as usize]).unwrap();
        assert_eq!(seq, in_first_file + 1);
        w.flush().unwrap();
        drop(w);
        assert_read_back(&work, &recs[..=in_first_file as usize]);
    }
    fs::remove_dir_all(&base).unwrap();
    fs::remove_dir_all(&work).unwrap();
}

#[test]
fn damage_in_an_older_file_names_the_file_and_offset() {
    let dir = temp_dir("older");
    let recs = records(60);
    drop(write_all(&dir, &recs));
    let first = jnl_files(&dir).remove(0);
    let third = HEADER + recs[..2].iter().map(frame_len).sum::<u64>();
    let mut bytes = fs::read(&first).unwrap();
    bytes[third as usize + 20] ^= 0x01;
    fs::write(&first, &bytes).unwrap();
    let before: Vec<Vec<u8>> = jnl_files(&dir)
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();

    let Err(err) = JournalWriter::open(&dir, ny()) else {
        panic!("opened a damaged journal");
    };
    match &err {
        JournalError::Corrupt {
            file,
            offset,
            problem,
        } => {
            assert_eq!(file, &first);
            assert_eq!(*offset, third);
            assert!(matches!(problem, FrameProblem::Checksum { .. }));
        }
        other => panic!("wrong error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("2024-03-01.jnl") && msg.contains(&format!("byte {third}")),
        "{msg}"
    );
    // Nothing was cut.
    let after: Vec<Vec<u8>> = jnl_files(&dir)
        .iter()
        .map(|p| fs::read(p).unwrap())
        .collect();
    assert_eq!(before, after);

    // The reader yields the good records before the damage, then the error.
    let items: Vec<_> = JournalReader::open(&dir).unwrap().collect();
    assert_eq!(items.len(), 3);
    assert!(items[..2].iter().all(Result::is_ok));
    assert!(matches!(items[2], Err(JournalError::Corrupt { .. })));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_before_good_records_of_the_last_file_is_not_a_torn_tail() {
    let dir = temp_dir("last-middle");
    let recs = records(60);
    drop(write_all(&dir, &recs));
    let last = jnl_files(&dir).pop().unwrap();
    let mut bytes = fs::read(&last).unwrap();
    // The length field of the second record of the last file.
    let in_first_file = recs
        .iter()
        .filter(|r| r.time().0 < START + 7 * 3600 * Nanos::PER_SEC)
        .count();
    let second = HEADER + frame_len(&recs[in_first_file]);
    bytes[second as usize + 2] = 0xff;
    fs::write(&last, &bytes).unwrap();
    match JournalWriter::open(&dir, ny()) {
        Err(JournalError::Corrupt {
            file,
            offset,
            problem,
        }) => {
            assert_eq!(file, last);
            assert_eq!(offset, second);
            assert!(matches!(problem, FrameProblem::BadLength { .. }));
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("cut good records as a torn tail"),
    }
    assert_eq!(fs::read(&last).unwrap(), bytes);

    // The same damage in the very last record is a torn tail.
    fs::remove_dir_all(&dir).unwrap();
    drop(write_all(&dir, &recs));
    let mut bytes = fs::read(&last).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x80;
    fs::write(&last, &bytes).unwrap();
    let w = JournalWriter::open(&dir, ny()).unwrap();
    let cut = w.recovery().cut.clone().unwrap();
    assert_eq!(cut.offset, n as u64 - frame_len(&recs[59]));
    assert!(matches!(cut.problem, FrameProblem::Checksum { .. }));
    assert_eq!(w.last_seq(), 59);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_records_and_unknown_kinds_are_errors() {
    let recs = records(60);

    // A missing day: the next file does not continue the sequence.
    let dir = temp_dir("gap");
    let mut w = JournalWriter::open(&dir, Tz::UTC).unwrap();
    for rec in &recs {
        w.append(rec).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let files = jnl_files(&dir);
    assert_eq!(files.len(), 2, "UTC midnight is 2h after START");
    fs::remove_file(&files[0]).unwrap();
    // Without the first day the journal starts later: fine for a full read...
    let (got, _) = read_all(&dir);
    assert_eq!(got.first().map(|(s, _)| *s), Some(13));
    // ...but not for a tail that needs the missing records.
    let err = JournalReader::read_from(&dir, 5)
        .unwrap()
        .find_map(Result::err)
        .unwrap();
    assert!(
        matches!(
            err,
            JournalError::SeqGap {
                expected: 6,
                found: 13,
                ..
            }
        ),
        "{err}"
    );
    fs::remove_dir_all(&dir).unwrap();

    // A well-checksummed frame of a kind this build does not know.
    let dir = temp_dir("unknown-kind");
    drop(write_all(&dir, &recs[..3]));
    let file = jnl_files(&dir).pop().unwrap();
    let mut frame = Vec::new();
    frame.extend_from_slice(&(9u32 + 2).to_le_bytes());
    frame.push(200);
    frame.extend_from_slice(&4u64.to_le_bytes());
    frame.extend_from_slice(&[7, 7]);
    let crc = crc32fast::hash(&frame);
    frame.extend_from_slice(&crc.to_le_bytes());
    let mut bytes = fs::read(&file).unwrap();
    let offset = bytes.len() as u64;
    bytes.extend_from_slice(&frame);
    fs::write(&file, &bytes).unwrap();
    match JournalWriter::open(&dir, ny()) {
        Err(JournalError::Record {
            offset: at, seq, ..
        }) => assert_eq!((at, seq), (offset, 4)),
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("accepted an unknown record kind"),
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_leftover_temp_file_never_replaces_a_good_snapshot() {
    let dir = temp_dir("snapshot");
    let path = dir.join("state").join("engine_state.json");
    assert_eq!(snapshot::read(&path).unwrap(), None);
    snapshot::write_atomic(&path, br#"{"journal_seq":41}"#).unwrap();

    // A crash while writing the next snapshot leaves a partial temp file.
    let tmp = snapshot::temp_path(&path).unwrap();
    assert_eq!(tmp, dir.join("state").join("engine_state.json.tmp"));
    fs::write(&tmp, br#"{"journal_se"#).unwrap();
    assert_eq!(
        snapshot::read(&path).unwrap().as_deref(),
        Some(&br#"{"journal_seq":41}"#[..])
    );

    // The next write replaces the snapshot and leaves no temp file.
    snapshot::write_atomic(&path, br#"{"journal_seq":42}"#).unwrap();
    assert!(!tmp.exists());
    assert_eq!(
        snapshot::read(&path).unwrap().as_deref(),
        Some(&br#"{"journal_seq":42}"#[..])
    );
    fs::write(&tmp, b"junk").unwrap();
    assert!(snapshot::remove_leftover(&path).unwrap());
    assert!(!tmp.exists());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn trade_log_lines_are_json_and_replays_are_not_logged_twice() {
    let dir = temp_dir("trades");
    let names: Vec<String> = ["SPY", "QQQ"].map(String::from).to_vec();
    let horizons: Vec<String> = ["5m", "15m"].map(String::from).to_vec();
    let recs = records(60);
    let mut log = TradeLog::open(&dir, ny(), &names, &horizons).unwrap();
    let mut logged = Vec::new();
    for (i, rec) in recs.iter().enumerate() {
        let seq = i as u64 + 1;
        if log.append(seq, rec).unwrap() {
            logged.push((seq, *rec));
        }
    }
    log.flush().unwrap();
    drop(log);

    let mut lines = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2);
    for f in &files {
        let text = fs::read_to_string(f).unwrap();
        assert!(text.ends_with('\n'));
        lines.extend(text.lines().map(String::from));
    }
    assert_eq!(lines.len(), logged.len());
    let trades = recs
        .iter()
        .filter(|r| {
            matches!(
                r,
                JournalRecord::Order { .. }
                    | JournalRecord::Fill { .. }
                    | JournalRecord::Reject { .. }
            )
        })
        .count();
    assert_eq!(logged.len(), trades);
    for (line, (seq, rec)) in lines.iter().zip(&logged) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], *seq);
        assert_eq!(
            live_trading::iso::parse(v["time"].as_str().unwrap()),
            Some(rec.time())
        );
        match *rec {
            JournalRecord::Fill {
                symbol,
                side,
                qty,
                price,
                fee,
                client_order_id,
                ..
            } => {
                assert_eq!(v["event"], "fill");
                let name = names
                    .get(symbol.index())
                    .cloned()
                    .unwrap_or(format!("#{}", symbol.0));
                assert_eq!(v["symbol"], name);
                assert_eq!(v["side"], side.as_str());
                assert_eq!(v["qty"], qty.0);
                assert_eq!(v["price"], price);
                assert_eq!(v["fee"], fee);
                assert_eq!(v["client_order_id"], client_order_id);
            }
            JournalRecord::Order { horizon, .. } => {
                assert_eq!(v["event"], "order");
                match horizon {
                    Some(h) => assert_eq!(v["horizon"], horizons[h.index()]),
                    None => assert!(v["horizon"].is_null()),
                }
            }
            JournalRecord::Reject { .. } => {
                assert_eq!(v["event"], "reject");
                assert_eq!(v["reason"], "insufficient_funds");
            }
            other => panic!("logged a {:?}", other.kind()),
        }
    }
    assert!(lines.iter().any(|l| l.contains("\"symbol\":\"#2\"")));

    // A crash mid-line: the partial line is cut on open, and replaying the
    // journal from the start logs only what is missing.
    let last = files.last().unwrap();
    let full = fs::read(last).unwrap();
    let cut = full.len() - 10;
    fs::write(last, &full[..cut]).unwrap();
    let mut log = TradeLog::open(&dir, ny(), &names, &horizons).unwrap();
    let before_last = logged[logged.len() - 2].0;
    assert_eq!(log.last_seq(), before_last);
    let mut rewritten = 0;
    for (i, rec) in recs.iter().enumerate() {
        if log.append(i as u64 + 1, rec).unwrap() {
            rewritten += 1;
        }
    }
    log.flush().unwrap();
    assert_eq!(rewritten, 1);
    assert_eq!(fs::read(last).unwrap(), full);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_engine_thread_feeds_the_journal_thread_through_a_ring() {
    let dir = temp_dir("ring");
    let recs = records(5_000);
    let (mut tx, mut rx) = rtrb::RingBuffer::<JournalRecord>::new(64);
    let to_send = recs.clone();
    let engine = std::thread::spawn(move || {
        for rec in to_send {
            let mut rec = rec;
            // Journal records are never dropped: wait while the ring is full.
            loop {
                match tx.push(rec) {
                    Ok(()) => break,
                    Err(rtrb::PushError::Full(back)) => {
                        rec = back;
                        std::thread::yield_now();
                    }
                }
            }
        }
    });
    let journal_dir = dir.clone();
    let journal = std::thread::spawn(move || {
        let mut w = JournalWriter::open(&journal_dir, ny()).unwrap();
        loop {
            match rx.pop() {
                Ok(rec) => {
                    w.append(&rec).unwrap();
                }
                // Abandoned and empty: the engine is done and everything it
                // pushed was popped (checked in this order, nothing is lost).
                Err(_) if rx.is_abandoned() && rx.slots() == 0 => break,
                Err(_) => {
                    w.flush().unwrap();
                    std::thread::yield_now();
                }
            }
        }
        w.sync().unwrap();
        w.last_seq()
    });
    engine.join().unwrap();
    assert_eq!(journal.join().unwrap(), 5_000);
    assert_read_back(&dir, &recs);
    assert!(
        jnl_files(&dir).len() > 30,
        "5000 ten-minute steps span five weeks"
    );
    fs::remove_dir_all(&dir).unwrap();
}
