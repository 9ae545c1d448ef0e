//! Going-live prerequisites (issue #6 item 7): before `--broker ibkr` may
//! send orders to a live (non-`DU`) account, [`check`] verifies
//!
//! 1. a backtest report whose Sharpe is at least `live.min_backtest_sharpe`;
//! 2. at least `live.min_paper_days` days of paper trading in the journal
//!    (counted through the session log, see [`super::sessions`]);
//! 3. risk limits within the live bounds [`LIVE_LIMITS`];
//! 4. the broker connected and the account verified among the accounts the
//!    gateway manages.
//!
//! Paper accounts (`DU…`) need none of this: the report says so and
//! passes. An account that cannot be verified counts as live. The caller
//! refuses to trade when [`PrereqReport::passed`] is false, unless the
//! operator passes `--override-prerequisites`, whose
//! [`override_note`] goes to the journal/log.
//!
//! Cold path: runs once at start-up on the main thread, after the broker
//! connected and before the engine starts; reads files and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::sessions::{self, SESSIONS_FILE};
use crate::config::{is_paper_account, EngineConfig};
use crate::types::Frac;

/// Upper bounds on the risk limits for a live account (fractions). The
/// config accepts anything up to 100 %; live trading accepts:
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LiveLimits {
    /// `risk.max_daily_loss_pct` ≤ 10 %.
    pub max_daily_loss: Frac,
    /// `risk.max_drawdown_pct` ≤ 25 %.
    pub max_drawdown: Frac,
    /// `risk.max_position_pct` ≤ 25 % (one symbol).
    pub max_position: Frac,
    /// `risk.max_gross_exposure` ≤ 2.0 (Reg T overnight margin: 2× equity).
    pub max_gross_exposure: Frac,
}

/// The live bounds checked by [`check`].
pub const LIVE_LIMITS: LiveLimits = LiveLimits {
    max_daily_loss: Frac(0.10),
    max_drawdown: Frac(0.25),
    max_position: Frac(0.25),
    max_gross_exposure: Frac(2.0),
};

/// What the prerequisite check looks at.
#[derive(Clone, Debug)]
pub struct PrereqContext<'a> {
    /// The validated config.
    pub config: &'a EngineConfig,
    /// The state directory (journal, session log).
    pub state_dir: &'a Path,
    /// The backtest report: `--backtest-report`, else `live.backtest_report`.
    pub backtest_report: Option<PathBuf>,
    /// Whether the broker connection (handshake and `managedAccounts`)
    /// succeeded.
    pub connected: bool,
    /// The accounts the gateway reported in `managedAccounts`.
    pub managed_accounts: Vec<String>,
}

/// Which account orders would go to, or why it is not known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TradingAccount {
    /// Verified: configured and managed, or the only managed account.
    Verified(String),
    NotConnected,
    /// `ibkr.account` is not among the managed accounts.
    NotManaged {
        configured: String,
    },
    /// Several managed accounts and no `ibkr.account`.
    Ambiguous,
    /// The gateway reported no account.
    NoAccounts,
}

impl<'a> PrereqContext<'a> {
    /// A context; `cli_report` (`--backtest-report`) wins over
    /// `live.backtest_report`.
    pub fn new(
        config: &'a EngineConfig,
        state_dir: &'a Path,
        cli_report: Option<&Path>,
        connected: bool,
        managed_accounts: Vec<String>,
    ) -> PrereqContext<'a> {
        PrereqContext {
            config,
            state_dir,
            backtest_report: cli_report
                .map(Path::to_path_buf)
                .or_else(|| config.live.backtest_report.clone()),
            connected,
            managed_accounts,
        }
    }

    /// The account orders would go to.
    pub fn trading_account(&self) -> TradingAccount {
        if !self.connected {
            return TradingAccount::NotConnected;
        }
        let managed = &self.managed_accounts;
        match (&self.config.ibkr.account, managed.as_slice()) {
            (Some(a), _) if managed.iter().any(|m| m == a.as_str()) => {
                TradingAccount::Verified(a.as_str().to_owned())
            }
            (Some(a), _) => TradingAccount::NotManaged {
                configured: a.as_str().to_owned(),
            },
            (None, [only]) => TradingAccount::Verified(only.clone()),
            (None, []) => TradingAccount::NoAccounts,
            (None, _) => TradingAccount::Ambiguous,
        }
    }

    /// Whether orders would go to a live account: anything but a verified
    /// `DU…` account (an unverified account counts as live).
    pub fn is_live(&self) -> bool {
        match self.trading_account() {
            TradingAccount::Verified(a) => !is_paper_account(&a),
            _ => true,
        }
    }
}

/// One prerequisite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Prerequisite {
    BacktestSharpe,
    PaperDays,
    RiskLimits,
    BrokerAccount,
}

impl Prerequisite {
    pub fn name(self) -> &'static str {
        match self {
            Prerequisite::BacktestSharpe => "backtest Sharpe",
            Prerequisite::PaperDays => "paper trading days",
            Prerequisite::RiskLimits => "risk limits",
            Prerequisite::BrokerAccount => "broker and account",
        }
    }
}

/// One prerequisite's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct PrereqCheck {
    pub item: Prerequisite,
    pub passed: bool,
    /// One line: what was seen, and on failure how to fix it.
    pub detail: String,
}

/// The outcome of [`check`].
#[derive(Clone, Debug, PartialEq)]
pub struct PrereqReport {
    /// The verified account, if any.
    pub account: Option<String>,
    /// Whether the prerequisites apply (a live or unverified account).
    pub live: bool,
    /// The checks, in [`Prerequisite`] order; empty for a paper account.
    pub checks: Vec<PrereqCheck>,
}

impl PrereqReport {
    /// Whether orders may be sent: a paper account, or every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &PrereqCheck> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// The check of `item`, if it ran.
    pub fn get(&self, item: Prerequisite) -> Option<&PrereqCheck> {
        self.checks.iter().find(|c| c.item == item)
    }
}

/// ```text
/// prerequisites for live account U1234567:
///   ✓ backtest Sharpe — 1.42 >= live.min_backtest_sharpe 1.00 (backtest.json)
///   ✗ paper trading days — 3 recorded, live.min_paper_days needs 20: ...
/// 1 of 4 failed: fix them, or pass --override-prerequisites (journaled)
/// ```
impl fmt::Display for PrereqReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.live {
            return write!(
                f,
                "account {} is a paper account (DU…): no prerequisites apply; \
                 they are checked only before orders go to a live account",
                self.account.as_deref().unwrap_or("?")
            );
        }
        match &self.account {
            Some(a) => writeln!(f, "prerequisites for live account {a}:")?,
            None => writeln!(
                f,
                "prerequisites (account not verified, so treated as live):"
            )?,
        }
        for c in &self.checks {
            let mark = if c.passed { '✓' } else { '✗' };
            writeln!(f, "  {mark} {} — {}", c.item.name(), c.detail)?;
        }
        let failed = self.failures().count();
        if failed == 0 {
            write!(f, "all {} passed", self.checks.len())
        } else {
            write!(
                f,
                "{failed} of {} failed: fix them, or pass --override-prerequisites \
                 (journaled) to trade anyway",
                self.checks.len()
            )
        }
    }
}

/// Check every prerequisite (none for a verified paper account).
pub fn check(ctx: &PrereqContext<'_>) -> PrereqReport {
    let account = match ctx.trading_account() {
        TradingAccount::Verified(a) => Some(a),
        _ => None,
    };
    if !ctx.is_live() {
        return PrereqReport {
            account,
            live: false,
            checks: Vec::new(),
        };
    }
    PrereqReport {
        account,
        live: true,
        checks: vec![
            backtest(ctx),
            paper_days(ctx),
            risk_limits(ctx.config),
            broker_account(ctx),
        ],
    }
}

/// One line for the journal and log when the operator overrides failed
/// prerequisites: which account, and every failed item with its detail.
pub fn override_note(report: &PrereqReport) -> String {
    let account = report.account.as_deref().unwrap_or("(unverified)");
    let failed: Vec<String> = report
        .failures()
        .map(|c| format!("{}: {}", c.item.name(), c.detail))
        .collect();
    if failed.is_empty() {
        format!("--override-prerequisites given for account {account}; every prerequisite passed")
    } else {
        format!(
            "prerequisites overridden (--override-prerequisites) for account {account}; \
             failed: {}",
            failed.join("; ")
        )
    }
}

fn pass(item: Prerequisite, detail: String) -> PrereqCheck {
    PrereqCheck {
        item,
        passed: true,
        detail,
    }
}

fn fail(item: Prerequisite, detail: String) -> PrereqCheck {
    PrereqCheck {
        item,
        passed: false,
        detail,
    }
}

/// The report's `sharpe` against `live.min_backtest_sharpe`.
fn backtest(ctx: &PrereqContext<'_>) -> PrereqCheck {
    let item = Prerequisite::BacktestSharpe;
    let min = ctx.config.live.min_backtest_sharpe;
    let Some(path) = &ctx.backtest_report else {
        return fail(
            item,
            "no backtest report: run a backtest and pass its backtest.json with \
             --backtest-report PATH or set live.backtest_report"
                .to_owned(),
        );
    };
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            return fail(
                item,
                format!("cannot read the backtest report {shown}: {e}; check the path"),
            )
        }
    };
    let v: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => {
            return fail(
                item,
                format!("{shown} is not JSON ({e}): pass the backtest.json a backtest wrote"),
            )
        }
    };
    let sharpe = match v.get("sharpe") {
        None => {
            return fail(
                item,
                format!("{shown} has no `sharpe` key: not a backtest report; pass the backtest.json a backtest wrote"),
            )
        }
        Some(Value::Null) => {
            return fail(
                item,
                format!("{shown}: Sharpe undefined (fewer than two returns, or returns that never vary): run a longer backtest"),
            )
        }
        Some(s) => match s.as_f64() {
            Some(x) if x.is_finite() => x,
            _ => {
                return fail(
                    item,
                    format!("{shown}: `sharpe` is {s}, not a number: regenerate the report"),
                )
            }
        },
    };
    if sharpe >= min {
        pass(
            item,
            format!("{sharpe:.2} >= live.min_backtest_sharpe {min:.2} ({shown})"),
        )
    } else {
        fail(
            item,
            format!(
                "{sharpe:.2} < live.min_backtest_sharpe {min:.2} ({shown}): improve the strategy \
                 and backtest again before trading live"
            ),
        )
    }
}

/// Paper trading days in the journal against `live.min_paper_days`.
fn paper_days(ctx: &PrereqContext<'_>) -> PrereqCheck {
    let item = Prerequisite::PaperDays;
    let need = ctx.config.live.min_paper_days as usize;
    let days = match sessions::paper_days(ctx.state_dir, ctx.config.risk.session_timezone) {
        Ok(d) => d,
        Err(e) => return fail(item, format!("cannot count them: {e}")),
    };
    let have = days.count();
    let span = match (days.dates.first(), days.dates.last()) {
        (Some(a), Some(b)) => format!(" ({a} to {b})"),
        _ => String::new(),
    };
    let unmarked = if days.unmarked_dates > 0 {
        format!(
            "; {} date(s) journaled before {SESSIONS_FILE} existed are not counted",
            days.unmarked_dates
        )
    } else {
        String::new()
    };
    let dir = ctx.state_dir.display();
    if have >= need {
        pass(
            item,
            format!("{have} recorded in {dir}{span} >= live.min_paper_days {need}{unmarked}"),
        )
    } else {
        fail(
            item,
            format!(
                "{have} recorded in {dir}{span} < live.min_paper_days {need}: paper-trade \
                 {} more day(s) with this state directory (a DU account, or --broker paper \
                 on a live feed){unmarked}",
                need - have
            ),
        )
    }
}

/// Every risk limit within [`LIVE_LIMITS`].
fn risk_limits(config: &EngineConfig) -> PrereqCheck {
    let item = Prerequisite::RiskLimits;
    let r = &config.risk;
    let l = LIVE_LIMITS;
    // Rounded to a millionth of a percent: 0.15 × 100 prints 15, not
    // 15.000000000000002.
    let pct = |f: Frac| format!("{} %", (f.0 * 1e8).round() / 1e6);
    let limits = [
        (
            "risk.max_daily_loss_pct",
            r.max_daily_loss,
            l.max_daily_loss,
            true,
        ),
        (
            "risk.max_drawdown_pct",
            r.max_drawdown,
            l.max_drawdown,
            true,
        ),
        (
            "risk.max_position_pct",
            r.max_position,
            l.max_position,
            true,
        ),
        (
            "risk.max_gross_exposure",
            r.max_gross_exposure,
            l.max_gross_exposure,
            false,
        ),
    ];
    let show = |v: Frac, percent: bool| {
        if percent {
            pct(v)
        } else {
            v.0.to_string()
        }
    };
    let mut bad = Vec::new();
    let mut seen = Vec::new();
    for (key, value, max, percent) in limits {
        seen.push(format!("{key} {}", show(value, percent)));
        if !(value.0.is_finite() && value.0 > 0.0 && value.0 <= max.0) {
            bad.push(format!(
                "{key} is {} (live allows > 0 and <= {})",
                show(value, percent),
                show(max, percent)
            ));
        }
    }
    if bad.is_empty() {
        pass(item, format!("{} within the live bounds", seen.join(", ")))
    } else {
        fail(
            item,
            format!("{}: lower them in the config", bad.join("; ")),
        )
    }
}

/// Connected, and the account among the managed ones.
fn broker_account(ctx: &PrereqContext<'_>) -> PrereqCheck {
    let item = Prerequisite::BrokerAccount;
    let ib = &ctx.config.ibkr;
    let managed = ctx.managed_accounts.join(", ");
    match ctx.trading_account() {
        TradingAccount::Verified(a) => pass(
            item,
            format!("connected to {}:{}; account {a} verified (live)", ib.host, ib.port),
        ),
        TradingAccount::NotConnected => fail(
            item,
            format!(
                "not connected to {}:{}: start TWS or IB Gateway with the API enabled there \
                 (ibkr.host, ibkr.port)",
                ib.host, ib.port
            ),
        ),
        TradingAccount::NotManaged { configured } => fail(
            item,
            format!(
                "ibkr.account {configured} is not among the accounts the gateway manages \
                 ({managed}): fix ibkr.account or log the gateway in to that account"
            ),
        ),
        TradingAccount::Ambiguous => fail(
            item,
            format!("the gateway manages several accounts ({managed}): set ibkr.account to the one to trade"),
        ),
        TradingAccount::NoAccounts => fail(
            item,
            "the gateway reported no managed account: check the login of TWS / IB Gateway"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_within_the_live_bounds() {
        let c = risk_limits(&EngineConfig::default());
        assert!(c.passed, "{}", c.detail);
        assert!(
            c.detail.contains("risk.max_daily_loss_pct 2 %"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn a_limit_above_its_live_bound_fails_and_names_it() {
        let mut config = EngineConfig::default();
        config.risk.max_daily_loss = Frac(0.15);
        config.risk.max_gross_exposure = Frac(3.0);
        let c = risk_limits(&config);
        assert!(!c.passed);
        assert!(
            c.detail
                .contains("risk.max_daily_loss_pct is 15 % (live allows > 0 and <= 10 %)"),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("risk.max_gross_exposure is 3"),
            "{}",
            c.detail
        );
        assert!(!c.detail.contains("max_drawdown"), "{}", c.detail);
    }
}
