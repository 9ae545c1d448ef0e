//! The journal thread: drains the engine's journal ring into the journal
//! files, the trade log, the decision history and the state snapshot, and
//! prints the console lines (each decision like the original system, a
//! portfolio line per cycle, a live status line on a terminal).
//!
//! Cold thread: formats, allocates and does I/O so that the engine thread
//! never does. Snapshots are written only after the journal is synced up to
//! the records before them, so a snapshot never covers a record that is
//! not on disk.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::engine::state::EngineState;
use crate::horizon::HorizonSet;
use crate::journal::{snapshot, JournalRecord, JournalWriter, TradeLog};
use crate::runtime::links::JournalMsg;
use crate::types::Decision;

/// What the console shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Console {
    /// Nothing (tests, benchmarks).
    Quiet,
    /// Every decision of every cycle and a portfolio line (cycle trigger).
    Decisions,
    /// Trades only and a portfolio line every `n` cycles (bar and quote
    /// triggers decide too often to print every decision).
    Trades { every: u64 },
}

/// Where the journal thread writes.
pub struct JournalConfig {
    pub journal: JournalWriter,
    pub trade_log: TradeLog,
    pub history: Option<PathBuf>,
    /// The records the journal held at start (recovery): the trade log and
    /// the history are brought in line with them before anything new.
    pub recovered: Vec<JournalRecord>,
    pub state_path: PathBuf,
    pub symbols: Vec<String>,
    pub horizons: HorizonSet,
    pub initial_cash: f64,
    pub console: Console,
}

/// What the journal thread did.
#[derive(Clone, Debug, Default)]
pub struct JournalSummary {
    pub records: u64,
    pub last_seq: u64,
    pub snapshots: u64,
    pub fills: u64,
    pub orders: u64,
    pub rejects: u64,
    /// The first write error, if any (the thread keeps draining so the
    /// engine never blocks, and reports it at exit).
    pub error: Option<String>,
}

/// Run the journal thread until [`JournalMsg::End`].
pub fn run(
    mut cfg: JournalConfig,
    mut rx: rtrb::Consumer<JournalMsg>,
    mut free: rtrb::Producer<Box<EngineState>>,
) -> JournalSummary {
    let mut s = JournalSummary::default();
    let fail = |s: &mut JournalSummary, e: String| {
        if s.error.is_none() {
            s.error = Some(e);
        }
    };
    // The trade log and the history derive from the journal: a crash may
    // have left them behind it or ahead of it. Cut what the journal lacks,
    // add what they lack, before anything new.
    let recovered = std::mem::take(&mut cfg.recovered);
    for (i, rec) in recovered.iter().enumerate() {
        if let Err(e) = cfg.trade_log.append(i as u64 + 1, rec) {
            fail(&mut s, e.to_string());
        }
    }
    let decisions: Vec<&JournalRecord> = recovered
        .iter()
        .filter(|r| matches!(r, JournalRecord::Decision { .. }))
        .collect();
    let mut history = cfg.history.clone().and_then(|p| {
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let kept = cut_lines(&p, decisions.len());
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .ok()
            .map(BufWriter::new)?;
        for rec in decisions.iter().skip(kept) {
            let _ = write_history_line(&mut file, rec, &cfg.symbols, &cfg.horizons);
        }
        Some(file)
    });
    let tty = std::io::stdout().is_terminal() && cfg.console != Console::Quiet;
    let mut out = std::io::stdout().lock();
    let mut lines: Vec<String> = Vec::new();
    let mut last_status = Instant::now();
    let mut status = String::new();
    let mut idle = 0u32;
    // A cycle batch ended; flushed once the ring is empty.
    let mut flush_due = false;
    loop {
        let msg = match rx.pop() {
            Ok(m) => {
                idle = 0;
                m
            }
            Err(_) => {
                if rx.is_abandoned() {
                    break;
                }
                // Caught up: hand the batch to the OS now (one write per
                // burst instead of one per cycle under the quote trigger).
                if flush_due {
                    flush_due = false;
                    if let Err(e) = cfg.journal.flush() {
                        fail(&mut s, e.to_string());
                    }
                    let _ = cfg.trade_log.flush();
                }
                // A cold thread: a few yields catch a burst's tail, then
                // sleep. Yielding longer only takes the CPU the engine and
                // feed threads need on a small host (the ring holds 65536
                // messages, over a second at 50k decisions/s).
                idle = idle.saturating_add(1);
                if idle > 4 {
                    std::thread::sleep(Duration::from_micros(200));
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
        };
        match msg {
            JournalMsg::Record(rec) => {
                let seq = match cfg.journal.append(&rec) {
                    Ok(seq) => seq,
                    Err(e) => {
                        fail(&mut s, e.to_string());
                        continue;
                    }
                };
                s.records += 1;
                s.last_seq = seq;
                if let Err(e) = cfg.trade_log.append(seq, &rec) {
                    fail(&mut s, e.to_string());
                }
                match rec {
                    JournalRecord::Order { .. } => s.orders += 1,
                    JournalRecord::Fill { .. } => s.fills += 1,
                    JournalRecord::Reject { .. } => s.rejects += 1,
                    _ => {}
                }
                if let (Some(h), JournalRecord::Decision { .. }) = (history.as_mut(), &rec) {
                    let _ = write_history_line(h, &rec, &cfg.symbols, &cfg.horizons);
                }
                console(&rec, &cfg, &mut lines, &mut status);
            }
            JournalMsg::Snapshot(mut image) => {
                let synced = cfg.journal.flush().and_then(|()| cfg.journal.sync());
                match synced {
                    Ok(()) => {
                        image.journal_seq = cfg.journal.last_seq();
                        let text = image.to_json(&cfg.symbols, &cfg.horizons);
                        let bytes = serde_json::to_vec_pretty(&text).unwrap_or_default();
                        match snapshot::write_atomic(&cfg.state_path, &bytes) {
                            Ok(()) => s.snapshots += 1,
                            Err(e) => fail(&mut s, e.to_string()),
                        }
                    }
                    Err(e) => fail(&mut s, e.to_string()),
                }
                let _ = free.push(image);
            }
            JournalMsg::Flush => flush_due = true,
            JournalMsg::End => break,
        }
        if !lines.is_empty() {
            if tty {
                let _ = write!(out, "\r\x1b[2K");
            }
            for l in lines.drain(..) {
                let _ = writeln!(out, "{l}");
            }
        }
        if tty && last_status.elapsed() > Duration::from_millis(500) && !status.is_empty() {
            let _ = write!(out, "\r\x1b[2K{status}");
            let _ = out.flush();
            last_status = Instant::now();
        }
    }
    if tty {
        let _ = write!(out, "\r\x1b[2K");
    }
    let _ = out.flush();
    for r in [cfg.journal.flush(), cfg.journal.sync()] {
        if let Err(e) = r {
            fail(&mut s, e.to_string());
        }
    }
    let _ = cfg.trade_log.flush();
    let _ = cfg.trade_log.sync();
    if let Some(h) = history.as_mut() {
        let _ = h.flush();
    }
    s.last_seq = cfg.journal.last_seq();
    s
}

fn name(cfg: &JournalConfig, id: crate::types::SymbolId) -> &str {
    cfg.symbols.get(id.index()).map_or("?", String::as_str)
}

/// Append `rec`'s line to the decision history (`engine.history_path`),
/// one JSON object per decision; other records write nothing. Written
/// field by field into the buffered file: the history runs once per
/// decision, so under the quote trigger once per quote.
fn write_history_line<W: Write>(
    out: &mut W,
    rec: &JournalRecord,
    symbols: &[String],
    horizons: &HorizonSet,
) -> std::io::Result<()> {
    let JournalRecord::Decision {
        cycle,
        time,
        symbol,
        decision,
        reason,
        horizon,
        side,
        shares,
        alpha,
        target_weight,
        proposed_weight,
    } = *rec
    else {
        return Ok(());
    };
    out.write_all(b"{\"time\":\"")?;
    crate::iso::write(out, time)?;
    write!(out, "\",\"cycle\":{cycle},\"symbol\":")?;
    json(out, symbols.get(symbol.index()).map_or("?", String::as_str))?;
    write!(
        out,
        ",\"decision\":\"{}\",\"reason\":\"{}\",\"horizon\":",
        decision.as_str(),
        reason.code()
    )?;
    match horizon {
        Some(h) => json(out, horizons.get(h).label.as_str())?,
        None => out.write_all(b"null")?,
    }
    write!(
        out,
        ",\"side\":{},\"shares\":{}",
        side.map_or(0, |s| s.sign()),
        shares.0
    )?;
    for (key, x) in [
        ("alpha", alpha),
        ("target_weight", target_weight),
        ("proposed_weight", proposed_weight),
    ] {
        write!(out, ",\"{key}\":")?;
        if x.is_finite() {
            json(out, &x)?;
        } else {
            out.write_all(b"null")?;
        }
    }
    out.write_all(b"}\n")
}

/// serde_json's own text for a string (escaped) or a number (shortest
/// round-trip), written without building a `Value`.
fn json<W: Write, T: serde::Serialize + ?Sized>(out: &mut W, v: &T) -> std::io::Result<()> {
    serde_json::to_writer(out, v).map_err(std::io::Error::other)
}

/// Console lines for one record.
fn console(rec: &JournalRecord, cfg: &JournalConfig, lines: &mut Vec<String>, status: &mut String) {
    match *rec {
        JournalRecord::Decision {
            symbol,
            decision,
            reason,
            horizon,
            shares,
            alpha,
            ..
        } => {
            let trade = decision == Decision::Trade && shares.0 != 0;
            let show = match cfg.console {
                Console::Quiet => false,
                Console::Decisions => true,
                Console::Trades { .. } => trade,
            };
            if !show {
                return;
            }
            let sym = name(cfg, symbol);
            let line = if trade {
                let verb = if shares.0 > 0 { "BUY" } else { "SELL" };
                let h = horizon.map_or_else(
                    || reason.code().to_owned(),
                    |h| cfg.horizons.get(h).label.clone(),
                );
                format!(
                    "{sym}: {verb} {} shares | α={alpha:+.6} | {h}",
                    shares.0.abs()
                )
            } else if decision == Decision::Blocked {
                format!("{sym}: BLOCKED | {}", reason.code())
            } else {
                format!("{sym}: HOLD | {}", reason.code())
            };
            lines.push(line);
        }
        JournalRecord::Cycle {
            cycle,
            time,
            cash,
            portfolio_value,
            state,
        } => {
            let pnl = portfolio_value - cfg.initial_cash;
            let pct = (portfolio_value / cfg.initial_cash - 1.0) * 100.0;
            let line = format!(
                "[{}] cycle {cycle} | {} | portfolio ${portfolio_value:.2} | P&L {pnl:+.2} ({pct:+.3}%) | cash ${cash:.2}",
                crate::iso::format(time),
                state.as_str()
            );
            *status = line.clone();
            let show = match cfg.console {
                Console::Quiet => false,
                Console::Decisions => true,
                Console::Trades { every } => every > 0 && cycle.is_multiple_of(every),
            };
            if show {
                lines.push(line);
            }
        }
        JournalRecord::Reject { symbol, reason, .. } if cfg.console != Console::Quiet => {
            lines.push(format!(
                "{}: order rejected | {}",
                name(cfg, symbol),
                reason.code()
            ));
        }
        JournalRecord::Kill { state, reason, .. } if cfg.console != Console::Quiet => {
            lines.push(format!(
                "trading state {} ({})",
                state.as_str(),
                reason.map_or("cleared", |r| r.code())
            ));
        }
        JournalRecord::Control { command, .. } if cfg.console != Console::Quiet => {
            lines.push(format!("control: {command}"));
        }
        _ => {}
    }
}

/// Keep at most the first `keep` complete lines of `path` (if it exists);
/// returns how many complete lines it kept.
fn cut_lines(path: &std::path::Path, keep: usize) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    let mut end = 0;
    let mut lines = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if lines == keep {
            break;
        }
        if b == b'\n' {
            lines += 1;
            end = i + 1;
        }
    }
    if end < bytes.len() {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = f.set_len(end as u64);
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{HorizonId, Nanos, Qty, Reason, Side, SymbolId};
    use serde_json::json;

    /// The history line as a `serde_json::Value` renders it: the format the
    /// file has always had.
    fn reference(rec: &JournalRecord, symbols: &[String], horizons: &HorizonSet) -> String {
        let JournalRecord::Decision {
            cycle,
            time,
            symbol,
            decision,
            reason,
            horizon,
            side,
            shares,
            alpha,
            target_weight,
            proposed_weight,
        } = *rec
        else {
            return String::new();
        };
        let num = |x: f64| if x.is_finite() { json!(x) } else { json!(null) };
        json!({
            "time": crate::iso::format(time),
            "cycle": cycle,
            "symbol": symbols[symbol.index()],
            "decision": decision.as_str(),
            "reason": reason.code(),
            "horizon": horizon.map(|h| horizons.get(h).label.clone()),
            "side": side.map_or(0, |s| s.sign()),
            "shares": shares.0,
            "alpha": num(alpha),
            "target_weight": num(target_weight),
            "proposed_weight": num(proposed_weight),
        })
        .to_string()
    }

    #[test]
    fn history_lines_are_the_json_a_value_would_print() {
        let horizons = crate::config::EngineConfig::default().horizons;
        let symbols = vec!["SPY".to_string(), "BRK \"B\"\\x".to_string()];
        let values = [
            0.0,
            -0.0,
            1e-7,
            0.1 + 0.2,
            -123456.789,
            1e300,
            f64::NAN,
            f64::INFINITY,
        ];
        let mut n = 0;
        for (k, &x) in values.iter().enumerate() {
            for horizon in [None, Some(HorizonId(0)), Some(HorizonId(1))] {
                for side in [None, Some(Side::Buy), Some(Side::Sell)] {
                    let rec = JournalRecord::Decision {
                        cycle: k as u64 * 1000 + 7,
                        time: Nanos(1_704_207_600_000_000_000 + k as u64 * 950_001),
                        symbol: SymbolId((k % 2) as u16),
                        decision: crate::types::Decision::Trade,
                        reason: Reason::ALL[k * 5 % Reason::ALL.len()],
                        horizon,
                        side,
                        shares: Qty(-(k as i64) * 17),
                        alpha: x,
                        target_weight: -x,
                        proposed_weight: x * 0.5,
                    };
                    let mut out = Vec::new();
                    write_history_line(&mut out, &rec, &symbols, &horizons).unwrap();
                    let want = reference(&rec, &symbols, &horizons) + "\n";
                    assert_eq!(String::from_utf8(out).unwrap(), want);
                    n += 1;
                }
            }
        }
        assert_eq!(n, values.len() * 9);
        // Other records write nothing.
        let mut out = Vec::new();
        let kill = JournalRecord::Kill {
            time: Nanos(1),
            state: crate::types::TradingState::Halted,
            reason: None,
        };
        write_history_line(&mut out, &kill, &symbols, &horizons).unwrap();
        assert!(out.is_empty());
    }
}
