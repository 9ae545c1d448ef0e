//! Crash recovery of the real binary: `kill -9` a CSV replay at random
//! points, restart it on the same state directory, and require the final
//! journal, trade log, history and snapshot to be byte-identical to an
//! uninterrupted run's — so no fill is lost and no order is sent twice.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::run::{files, temp_dir, write_sim_csv};
use live_trading::journal::{JournalReader, JournalRecord};

fn command(csv: &[PathBuf], state: &Path) -> Command {
    let feed = format!(
        "replay:{}",
        csv.iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    let mut c = Command::new(env!("CARGO_BIN_EXE_live-trading"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "run",
            "--symbols",
            "SPY,QQQ,AAPL",
            "--interval",
            "60",
            "--quiet",
        ])
        .arg("--feed")
        .arg(feed)
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

fn run_to_end(csv: &[PathBuf], state: &Path) -> Duration {
    let t = Instant::now();
    let out = command(csv, state).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// SplitMix64: reproducible kill points.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[test]
fn kill_9_at_random_points_then_restart_equals_an_uninterrupted_run() {
    let data = temp_dir("recovery-data");
    let csv = write_sim_csv(&data, 1, Some(120));
    let whole = temp_dir("recovery-whole");
    let full = run_to_end(&csv, &whole);
    let want = files(&whole);
    let orders: Vec<u64> = JournalReader::open(&whole.join("journal"))
        .unwrap()
        .filter_map(|r| match r.unwrap().1 {
            JournalRecord::Order {
                client_order_id, ..
            } => Some(client_order_id),
            _ => None,
        })
        .collect();
    assert!(!orders.is_empty(), "the replay should trade");

    let mut seed = 20261121u64;
    let mut killed_mid_run = 0;
    let mut attempts = 0;
    while killed_mid_run < 10 {
        attempts += 1;
        assert!(
            attempts < 60,
            "could not kill a run mid-way ({killed_mid_run} of 10)"
        );
        let dir = temp_dir(&format!("recovery-{attempts}"));
        let delay = full.mul_f64(0.05 + 0.9 * (next(&mut seed) % 1000) as f64 / 1000.0);
        let mut child = command(&csv, &dir).spawn().unwrap();
        std::thread::sleep(delay);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        let journaled = dir.join("journal").exists()
            && JournalReader::open(&dir.join("journal"))
                .map(|r| r.count())
                .unwrap_or(0)
                > 0;
        if !finished && journaled {
            killed_mid_run += 1;
        }
        run_to_end(&csv, &dir);
        let got = files(&dir);
        assert_eq!(
            want.iter().map(|f| &f.0).collect::<Vec<_>>(),
            got.iter().map(|f| &f.0).collect::<Vec<_>>(),
            "files after a kill at {delay:?}"
        );
        for ((name, w), (_, g)) in want.iter().zip(&got) {
            assert!(w == g, "{name} differs after a kill at {delay:?}");
        }
        // Each order once.
        let mut ids: Vec<u64> = JournalReader::open(&dir.join("journal"))
            .unwrap()
            .filter_map(|r| match r.unwrap().1 {
                JournalRecord::Order {
                    client_order_id, ..
                } => Some(client_order_id),
                _ => None,
            })
            .collect();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n, "an order was journaled twice");
        assert_eq!(ids, orders);
    }
}
