//! Going-live prerequisites against real files: a backtest report written
//! by the backtest writer, a journal written by the journal writer, the
//! session log written by `append_mark`, in a temp state directory. Each
//! prerequisite fails and passes; paper accounts skip them all. Also: the
//! entry window allocates nothing on its hot path.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use chrono::TimeZone;
use chrono_tz::Tz;
use common::alloc::allocations;
use live_trading::backtest::{BacktestMetrics, EquityPoint};
use live_trading::config::{EngineConfig, EntryWindowSpec, IbAccount};
use live_trading::journal::{JournalRecord, JournalWriter};
use live_trading::live::{
    append_mark, check, override_note, paper_days, EntryWindow, PrereqContext, PrereqReport,
    Prerequisite, SessionBroker, SessionMark, TradingAccount, TradingMode,
};
use live_trading::types::{Decision, Frac, Nanos, Qty, Reason, Side, SymbolId};

const NY: Tz = Tz::America__New_York;

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("live-trading-prereq-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Event time of 12:00 New York on `2024-03-<day>`.
fn noon(day: u32) -> Nanos {
    let t = NY.with_ymd_and_hms(2024, 3, day, 12, 0, 0).unwrap();
    Nanos(u64::try_from(t.timestamp_nanos_opt().unwrap()).unwrap())
}

/// Write a backtest report through the backtest writer: equity ×`growth`
/// then ×`dip` alternating over two session days; returns backtest.json.
fn backtest_report(dir: &Path, growth: f64, dip: f64) -> PathBuf {
    let mut equity = Vec::new();
    let mut e = 100_000.0;
    for (i, day) in [4u32, 5].iter().enumerate() {
        for k in 0..10u64 {
            e *= if (i as u64 * 10 + k).is_multiple_of(2) {
                growth
            } else {
                dip
            };
            equity.push(EquityPoint {
                time: Nanos(noon(*day).0 + k * 60 * Nanos::PER_SEC),
                equity: e,
            });
        }
    }
    let m = BacktestMetrics::compute(100_000.0, &equity, &[], &["5m"], 1, NY).unwrap();
    m.write_all(dir).unwrap().json
}

fn decision(time: Nanos) -> JournalRecord {
    JournalRecord::Decision {
        cycle: 1,
        time,
        symbol: SymbolId(0),
        decision: Decision::Hold,
        reason: Reason::NoSignal,
        horizon: None,
        side: None,
        shares: Qty(0),
        alpha: f64::NAN,
        target_weight: 0.0,
        proposed_weight: f64::NAN,
    }
}

fn fill(time: Nanos) -> JournalRecord {
    JournalRecord::Fill {
        client_order_id: 1,
        broker_order_id: 1,
        time,
        symbol: SymbolId(0),
        side: Side::Buy,
        qty: Qty(10),
        price: 100.0,
        fee: 0.1,
    }
}

fn mark(base_seq: u64, mode: TradingMode, broker: SessionBroker) -> SessionMark {
    SessionMark {
        base_seq,
        mode,
        broker,
        account: None,
    }
}

fn live_config() -> EngineConfig {
    let mut c = EngineConfig::default();
    c.ibkr.account = IbAccount::parse("U7654321");
    c
}

fn context<'a>(
    config: &'a EngineConfig,
    state: &'a Path,
    report: Option<&Path>,
    managed: &[&str],
) -> PrereqContext<'a> {
    let managed = managed.iter().map(|s| s.to_string()).collect();
    PrereqContext::new(config, state, report, true, managed)
}

fn item(report: &PrereqReport, item: Prerequisite) -> (bool, String) {
    let c = report.get(item).unwrap();
    (c.passed, c.detail.clone())
}

#[test]
fn a_paper_account_needs_no_prerequisites() {
    let dir = temp_dir("paper");
    let config = EngineConfig::default();
    let ctx = context(&config, &dir, None, &["DU1234567"]);
    assert_eq!(
        ctx.trading_account(),
        TradingAccount::Verified("DU1234567".into())
    );
    assert!(!ctx.is_live());
    let r = check(&ctx);
    assert!(r.passed() && !r.live && r.checks.is_empty());
    assert_eq!(r.account.as_deref(), Some("DU1234567"));
    let shown = r.to_string();
    assert!(shown.contains("DU1234567 is a paper account"), "{shown}");
    assert!(shown.contains("no prerequisites apply"), "{shown}");
}

#[test]
fn a_live_account_with_nothing_recorded_is_refused_with_reasons() {
    let dir = temp_dir("nothing");
    let config = live_config();
    let r = check(&context(&config, &dir, None, &["U7654321", "DU1"]));
    assert!(r.live && !r.passed());
    assert_eq!(r.checks.len(), 4);
    let (ok, detail) = item(&r, Prerequisite::BacktestSharpe);
    assert!(!ok && detail.contains("--backtest-report PATH"), "{detail}");
    let (ok, detail) = item(&r, Prerequisite::PaperDays);
    assert!(
        !ok && detail.contains("0 recorded") && detail.contains("< live.min_paper_days 20"),
        "{detail}"
    );
    assert!(item(&r, Prerequisite::RiskLimits).0);
    let (ok, detail) = item(&r, Prerequisite::BrokerAccount);
    assert!(
        ok && detail.contains("account U7654321 verified (live)"),
        "{detail}"
    );
    let shown = r.to_string();
    assert!(
        shown.starts_with("prerequisites for live account U7654321:\n"),
        "{shown}"
    );
    assert!(
        shown.contains("  ✗ backtest Sharpe — no backtest report"),
        "{shown}"
    );
    assert!(shown.contains("  ✓ risk limits — "), "{shown}");
    assert!(
        shown.ends_with(
            "2 of 4 failed: fix them, or pass --override-prerequisites (journaled) to trade anyway"
        ),
        "{shown}"
    );
    let note = override_note(&r);
    assert!(note.starts_with("prerequisites overridden (--override-prerequisites) for account U7654321; failed: backtest Sharpe: no backtest report"), "{note}");
    assert!(note.contains("; paper trading days: 0 recorded"), "{note}");
    assert!(!note.contains('\n'), "one line: {note}");
}

#[test]
fn backtest_sharpe_passes_fails_and_explains() {
    let dir = temp_dir("backtest");
    let config = live_config();
    let good = backtest_report(&dir.join("good"), 1.002, 1.001);
    let bad = backtest_report(&dir.join("bad"), 1.01, 0.985);
    let flat = backtest_report(&dir.join("flat"), 1.0, 1.0);
    let sharpe = |p: &Path| {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
        v["sharpe"].as_f64()
    };
    let (good_s, bad_s) = (sharpe(&good).unwrap(), sharpe(&bad).unwrap());
    assert!(good_s > 1.0 && bad_s < 1.0, "{good_s} {bad_s}");
    assert_eq!(sharpe(&flat), None, "constant equity has no Sharpe");

    let run = |p: &Path| {
        item(
            &check(&context(&config, &dir, Some(p), &["U7654321"])),
            Prerequisite::BacktestSharpe,
        )
    };
    let (ok, detail) = run(&good);
    assert!(ok, "{detail}");
    assert!(
        detail.starts_with(&format!("{good_s:.2} >= live.min_backtest_sharpe 1.00 (")),
        "{detail}"
    );
    let (ok, detail) = run(&bad);
    assert!(!ok, "{detail}");
    assert!(
        detail.starts_with(&format!("{bad_s:.2} < live.min_backtest_sharpe 1.00 (")),
        "{detail}"
    );
    let (ok, detail) = run(&flat);
    assert!(!ok && detail.contains("Sharpe undefined"), "{detail}");
    let (ok, detail) = run(&dir.join("missing.json"));
    assert!(
        !ok && detail.contains("cannot read the backtest report"),
        "{detail}"
    );
    let not_json = dir.join("backtest.txt");
    std::fs::write(&not_json, "Sharpe 3.0").unwrap();
    let (ok, detail) = run(&not_json);
    assert!(!ok && detail.contains("is not JSON"), "{detail}");
    let other = dir.join("latency.json");
    std::fs::write(&other, "{\"p50\": 12}").unwrap();
    let (ok, detail) = run(&other);
    assert!(!ok && detail.contains("has no `sharpe` key"), "{detail}");

    // The threshold comes from the config; the command line wins over
    // live.backtest_report.
    let mut strict = live_config();
    strict.live.min_backtest_sharpe = good_s + 1.0;
    strict.live.backtest_report = Some(bad.clone());
    let ctx = PrereqContext::new(&strict, &dir, None, true, vec!["U7654321".into()]);
    assert_eq!(ctx.backtest_report.as_deref(), Some(bad.as_path()));
    let ctx = PrereqContext::new(&strict, &dir, Some(&good), true, vec!["U7654321".into()]);
    let (ok, detail) = item(&check(&ctx), Prerequisite::BacktestSharpe);
    assert!(
        !ok && detail.contains(&format!("< live.min_backtest_sharpe {:.2}", good_s + 1.0)),
        "{detail}"
    );
}

/// Journal: records 1–2 before any session mark (March 1), a simulated
/// session (March 4–5), a paper IB session (March 6–8, decisions and a
/// fill; the 8th twice), a live session (March 11), a dry run (March 12)
/// and a paper-broker session on a live feed (March 13).
#[test]
fn paper_days_count_only_paper_sessions() {
    let dir = temp_dir("paper_days");
    let mut w = JournalWriter::open(&dir.join("journal"), NY).unwrap();
    let mut seq = 0;
    let mut put = |rec: JournalRecord| {
        seq = w.append(&rec).unwrap();
        seq
    };
    put(decision(noon(1)));
    let unmarked_end = put(decision(noon(1)));
    append_mark(
        &dir,
        &mark(unmarked_end, TradingMode::Simulated, SessionBroker::Paper),
    )
    .unwrap();
    put(decision(noon(4)));
    let sim_end = put(fill(noon(5)));
    let mut paper = mark(sim_end, TradingMode::Paper, SessionBroker::Ibkr);
    paper.account = Some("DU1234567".into());
    append_mark(&dir, &paper).unwrap();
    put(decision(noon(6)));
    put(fill(noon(7)));
    put(decision(noon(8)));
    let paper_end = put(decision(Nanos(noon(8).0 + 3600 * Nanos::PER_SEC)));
    append_mark(
        &dir,
        &mark(paper_end, TradingMode::Live, SessionBroker::Ibkr),
    )
    .unwrap();
    let live_end = put(decision(noon(11)));
    append_mark(
        &dir,
        &mark(live_end, TradingMode::DryRun, SessionBroker::Ibkr),
    )
    .unwrap();
    let dry_end = put(decision(noon(12)));
    append_mark(
        &dir,
        &mark(dry_end, TradingMode::Paper, SessionBroker::Paper),
    )
    .unwrap();
    put(decision(noon(13)));
    w.sync().unwrap();
    drop(w);

    let days = paper_days(&dir, NY).unwrap();
    let dates: Vec<String> = days.dates.iter().map(ToString::to_string).collect();
    assert_eq!(
        dates,
        ["2024-03-06", "2024-03-07", "2024-03-08", "2024-03-13"]
    );
    assert_eq!(days.unmarked_dates, 1);

    let mut config = live_config();
    config.live.min_paper_days = 4;
    let r = check(&context(&config, &dir, None, &["U7654321"]));
    let (ok, detail) = item(&r, Prerequisite::PaperDays);
    assert!(ok, "{detail}");
    assert!(detail.contains("4 recorded in"), "{detail}");
    assert!(
        detail.contains("(2024-03-06 to 2024-03-13) >= live.min_paper_days 4"),
        "{detail}"
    );
    assert!(
        detail.contains("1 date(s) journaled before sessions.jsonl existed are not counted"),
        "{detail}"
    );
    config.live.min_paper_days = 6;
    let r = check(&context(&config, &dir, None, &["U7654321"]));
    let (ok, detail) = item(&r, Prerequisite::PaperDays);
    assert!(
        !ok && detail.contains("< live.min_paper_days 6: paper-trade 2 more day(s)"),
        "{detail}"
    );

    // A re-run of the same input writes a second mark with the same base:
    // the last one wins (here the live session becomes paper).
    append_mark(
        &dir,
        &mark(paper_end, TradingMode::Paper, SessionBroker::Paper),
    )
    .unwrap();
    assert_eq!(paper_days(&dir, NY).unwrap().count(), 5);

    // A damaged session log line is an error naming the file and line.
    std::fs::write(dir.join("sessions.jsonl"), "{\"version\":1}\n").unwrap();
    let r = check(&context(&config, &dir, None, &["U7654321"]));
    let (ok, detail) = item(&r, Prerequisite::PaperDays);
    assert!(
        !ok && detail.contains("sessions.jsonl: line 1: base_seq"),
        "{detail}"
    );
}

#[test]
fn risk_limits_above_the_live_bounds_fail() {
    let dir = temp_dir("risk");
    let mut config = live_config();
    config.risk.max_drawdown = Frac(0.5);
    config.risk.max_position = Frac(0.3);
    let r = check(&context(&config, &dir, None, &["U7654321"]));
    let (ok, detail) = item(&r, Prerequisite::RiskLimits);
    assert!(!ok);
    assert_eq!(
        detail,
        "risk.max_drawdown_pct is 50 % (live allows > 0 and <= 25 %); \
         risk.max_position_pct is 30 % (live allows > 0 and <= 25 %): lower them in the config"
    );
    config.risk.max_drawdown = Frac(0.25);
    config.risk.max_position = Frac(0.25);
    config.risk.max_gross_exposure = Frac(2.0);
    let r = check(&context(&config, &dir, None, &["U7654321"]));
    assert!(
        item(&r, Prerequisite::RiskLimits).0,
        "the bounds themselves pass"
    );
}

#[test]
fn the_account_must_be_connected_and_verified() {
    let dir = temp_dir("account");
    let config = live_config();
    // Not connected: unknown account, treated as live.
    let ctx = PrereqContext::new(&config, &dir, None, false, Vec::new());
    assert_eq!(ctx.trading_account(), TradingAccount::NotConnected);
    let r = check(&ctx);
    assert!(r.live && r.account.is_none());
    let (ok, detail) = item(&r, Prerequisite::BrokerAccount);
    assert!(
        !ok && detail.starts_with("not connected to 127.0.0.1:4002"),
        "{detail}"
    );
    assert!(r
        .to_string()
        .starts_with("prerequisites (account not verified, so treated as live):"));
    // Configured account not managed by the gateway.
    let r = check(&context(&config, &dir, None, &["U1111111", "DU2"]));
    let (ok, detail) = item(&r, Prerequisite::BrokerAccount);
    assert!(
        !ok && detail.contains(
            "ibkr.account U7654321 is not among the accounts the gateway manages (U1111111, DU2)"
        ),
        "{detail}"
    );
    // No ibkr.account and several managed accounts, or none.
    let open = EngineConfig::default();
    let ctx = context(&open, &dir, None, &["U1", "DU2"]);
    assert_eq!(ctx.trading_account(), TradingAccount::Ambiguous);
    let (ok, detail) = item(&check(&ctx), Prerequisite::BrokerAccount);
    assert!(!ok && detail.contains("set ibkr.account"), "{detail}");
    let ctx = context(&open, &dir, None, &[]);
    assert_eq!(ctx.trading_account(), TradingAccount::NoAccounts);
    assert!(ctx.is_live());
    // A configured paper account among several: no prerequisites.
    let mut paper = EngineConfig::default();
    paper.ibkr.account = IbAccount::parse("DU2");
    let r = check(&context(&paper, &dir, None, &["U1", "DU2"]));
    assert!(r.passed() && !r.live);
}

#[test]
fn every_prerequisite_met_passes() {
    let dir = temp_dir("all_pass");
    let report = backtest_report(&dir.join("bt"), 1.002, 1.001);
    let mut w = JournalWriter::open(&dir.join("journal"), NY).unwrap();
    append_mark(&dir, &mark(0, TradingMode::Paper, SessionBroker::Ibkr)).unwrap();
    for day in [4, 5, 6] {
        w.append(&decision(noon(day))).unwrap();
    }
    w.sync().unwrap();
    let mut config = live_config();
    config.live.min_paper_days = 3;
    let r = check(&context(&config, &dir, Some(&report), &["U7654321"]));
    assert!(r.passed(), "{r}");
    assert!(r.to_string().ends_with("all 4 passed"), "{r}");
    assert!(override_note(&r).contains("every prerequisite passed"));
}

/// `allows` runs on the engine thread: no allocation, date changes and DST
/// included.
#[test]
fn entry_window_allocates_nothing() {
    let mut w = EntryWindow::new(EntryWindowSpec::Regular, NY);
    let start = noon(1).0;
    let mut open = 0u32;
    let n = allocations(|| {
        // Every 7 minutes over ~40 days across the March DST change.
        for k in 0..8_000u64 {
            if w.allows(Nanos(start + k * 7 * 60 * Nanos::PER_SEC)) {
                open += 1;
            }
        }
    });
    assert_eq!(n, 0);
    // The samples run from Friday March 1, 12:00 to Tuesday April 9, 10:13
    // New York time: March 1 from noon, the 26 weekdays March 4 – April 8
    // (390 minutes, ~56 samples each) and April 9 from 09:30. Counted
    // independently with Python's zoneinfo over the same 8000 instants:
    // 1488.
    assert_eq!(open, 1488);
}
