//! Risk guardrails (SPEC §15, D14): validated limits, the once-per-cycle
//! check (trading date, daily loss, drawdown, kill switch, gross warning),
//! trading states, `validate_trade`, and the persisted guardrail state.
//!
//! Runs on the pinned engine thread. Hot path ([`Guardrails::check`],
//! [`Guardrails::validate_trade`], the operator setters): no allocation, no
//! blocking, no logging, no clock reads: time is the cycle's event time.
//! Cold path: [`RiskLimits::from_config`] (parses the time zone once) and the
//! persisted [`GuardrailState`] with its serde form (§15.3).
//!
//! # Kill events
//!
//! `kill_switch_triggered` / `kill_switch_cleared` events are kept in a ring
//! preallocated at construction ([`DEFAULT_EVENT_CAPACITY`] unless given):
//! when it is full the oldest event is dropped, so recording never
//! allocates. Each check also hands its new events to the caller in
//! [`CheckReport`] (at most two: a clear on a new trading date, then a
//! re-trigger), so the journal keeps the complete history while the
//! persisted state carries the newest events. A kill is sticky for the rest
//! of its trading date, so a date adds at most two events: the default ring
//! holds at least 512 trading dates of kills.
//!
//! # Operator controls
//!
//! A manual kill ([`Guardrails::set_manual_kill`]) and an operator pause are
//! separate from guardrail kills (§18.1, §21.18): they are not persisted
//! here, a new trading date does not clear them, and they never appear in
//! the event log.

use std::collections::VecDeque;

use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::types::SymbolOrder;
use crate::types::{Frac, Nanos, Pct, Reason, SymbolId, TradingState};

/// Events kept for the persisted state unless the caller asks for another
/// bound (see the module doc).
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;

/// The reason code of a `kill_switch_cleared` event.
pub const NEW_SESSION: &str = "new_session";

/// The risk keys as written in config (`risk.*`, percent keys in percent).
#[derive(Clone, Debug, PartialEq)]
pub struct RiskLimitsConfig {
    /// `risk.max_daily_loss_pct`, 0 < x ≤ 100.
    pub max_daily_loss_pct: Pct,
    /// `risk.max_drawdown_pct`, 0 < x ≤ 100.
    pub max_drawdown_pct: Pct,
    /// `risk.max_position_pct`, 0 < x ≤ 100.
    pub max_position_pct: Pct,
    /// `risk.max_gross_exposure`, a fraction > 0.
    pub max_gross_exposure: Frac,
    /// `risk.session_timezone`, an IANA zone name.
    pub session_timezone: String,
}

impl Default for RiskLimitsConfig {
    fn default() -> Self {
        RiskLimitsConfig {
            max_daily_loss_pct: Pct(2.0),
            max_drawdown_pct: Pct(10.0),
            max_position_pct: Pct(20.0),
            max_gross_exposure: Frac(1.0),
            session_timezone: String::from("America/New_York"),
        }
    }
}

/// Validated limits in internal units (fractions) and the parsed session
/// time zone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RiskLimits {
    pub max_daily_loss: Frac,
    pub max_drawdown: Frac,
    pub max_position: Frac,
    pub max_gross: Frac,
    /// The zone whose calendar date is the trading date.
    pub session_timezone: Tz,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            max_daily_loss: Frac(0.02),
            max_drawdown: Frac(0.10),
            max_position: Frac(0.20),
            max_gross: Frac(1.0),
            session_timezone: Tz::America__New_York,
        }
    }
}

/// A risk key whose value is outside its allowed range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RiskLimitsError {
    #[error("risk.{key} = {value}: must be a percent with 0 < x <= 100")]
    PercentOutOfRange { key: &'static str, value: f64 },
    #[error("risk.max_gross_exposure = {value}: must be a finite fraction > 0")]
    GrossNotPositive { value: f64 },
    #[error("risk.session_timezone = {value:?}: not an IANA time zone (for example America/New_York or UTC)")]
    UnknownTimezone { value: String },
}

impl RiskLimits {
    /// Validate the config keys and convert percents to fractions. Cold
    /// path: parses the time zone name.
    pub fn from_config(raw: &RiskLimitsConfig) -> Result<RiskLimits, RiskLimitsError> {
        let pct = |key, p: Pct| {
            if p.0 > 0.0 && p.0 <= 100.0 {
                Ok(p.to_frac())
            } else {
                Err(RiskLimitsError::PercentOutOfRange { key, value: p.0 })
            }
        };
        let max_daily_loss = pct("max_daily_loss_pct", raw.max_daily_loss_pct)?;
        let max_drawdown = pct("max_drawdown_pct", raw.max_drawdown_pct)?;
        let max_position = pct("max_position_pct", raw.max_position_pct)?;
        let gross = raw.max_gross_exposure.0;
        if !(gross > 0.0 && gross.is_finite()) {
            return Err(RiskLimitsError::GrossNotPositive { value: gross });
        }
        let session_timezone =
            raw.session_timezone
                .parse::<Tz>()
                .map_err(|_| RiskLimitsError::UnknownTimezone {
                    value: raw.session_timezone.clone(),
                })?;
        Ok(RiskLimits {
            max_daily_loss,
            max_drawdown,
            max_position,
            max_gross: Frac(gross),
            session_timezone,
        })
    }
}

/// A kill-switch event (§15.1 step 1 and 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EventRecord", into = "EventRecord")]
pub enum GuardrailEvent {
    /// A guardrail kill (`daily_loss` or `drawdown`) at `time`.
    Triggered { reason: Reason, time: Nanos },
    /// The kill switch cleared at the first check of a new trading date.
    Cleared { time: Nanos },
}

impl GuardrailEvent {
    /// `kill_switch_triggered` or `kill_switch_cleared`.
    pub const fn event(self) -> Reason {
        match self {
            GuardrailEvent::Triggered { .. } => Reason::KillSwitchTriggered,
            GuardrailEvent::Cleared { .. } => Reason::KillSwitchCleared,
        }
    }

    /// The event's reason code: the kill reason, or [`NEW_SESSION`].
    pub const fn reason_code(self) -> &'static str {
        match self {
            GuardrailEvent::Triggered { reason, .. } => reason.code(),
            GuardrailEvent::Cleared { .. } => NEW_SESSION,
        }
    }

    /// When it happened (event time).
    pub const fn time(self) -> Nanos {
        match self {
            GuardrailEvent::Triggered { time, .. } | GuardrailEvent::Cleared { time } => time,
        }
    }
}

/// The outcome of one [`Guardrails::check`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CheckReport {
    pub state: TradingState,
    /// The guardrail kill reason, else `manual_kill`, else
    /// `non_positive_equity`; `None` when not halted.
    pub kill_reason: Option<Reason>,
    /// The stored trading date (`None` only before the first finite PV).
    pub session_date: Option<NaiveDate>,
    /// `(PV − day_start)/day_start`, 0 if `day_start ≤ 0`.
    pub daily_pnl: f64,
    /// `(peak − PV)/peak`, 0 if `peak ≤ 0`.
    pub drawdown: f64,
    pub peak_value: f64,
    pub day_start_value: f64,
    /// `Σ|w|` in sorted symbol order.
    pub gross_exposure: f64,
    /// `Σw` in sorted symbol order.
    pub net_exposure: f64,
    /// `gross_exposure_warning`: `Σ|w| > 0.9·max_gross`.
    pub gross_warning: bool,
    /// The `kill_switch_cleared` event of this check, if any.
    pub cleared: Option<GuardrailEvent>,
    /// The `kill_switch_triggered` event of this check, if any.
    pub triggered: Option<GuardrailEvent>,
}

impl CheckReport {
    /// This check's new events in the order they happened.
    pub fn events(&self) -> impl Iterator<Item = GuardrailEvent> {
        self.cleared.into_iter().chain(self.triggered)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Kill {
    reason: Reason,
    time: Nanos,
}

/// The guardrail state machine: one per engine, checked once per cycle.
#[derive(Clone, Debug)]
pub struct Guardrails {
    limits: RiskLimits,
    order: SymbolOrder,
    session_date: Option<NaiveDate>,
    day_start_value: f64,
    peak_value: f64,
    kill: Option<Kill>,
    manual_kill: bool,
    feed_stale: bool,
    broker_down: bool,
    paused: bool,
    /// Whether the last checked PV was a positive finite number.
    equity_ok: bool,
    events: VecDeque<GuardrailEvent>,
    event_capacity: usize,
}

impl Guardrails {
    /// Fresh guardrails (no trading date, peak 0, no kill) for the symbols
    /// of `order`, keeping up to [`DEFAULT_EVENT_CAPACITY`] events.
    pub fn new(limits: RiskLimits, order: SymbolOrder) -> Guardrails {
        Guardrails::with_event_capacity(limits, order, DEFAULT_EVENT_CAPACITY)
    }

    /// As [`Guardrails::new`], keeping up to `event_capacity` (at least 2)
    /// events; older ones are dropped.
    pub fn with_event_capacity(
        limits: RiskLimits,
        order: SymbolOrder,
        event_capacity: usize,
    ) -> Guardrails {
        let event_capacity = event_capacity.max(2);
        Guardrails {
            limits,
            order,
            session_date: None,
            day_start_value: 0.0,
            peak_value: 0.0,
            kill: None,
            manual_kill: false,
            feed_stale: false,
            broker_down: false,
            paused: false,
            equity_ok: true,
            events: VecDeque::with_capacity(event_capacity),
            event_capacity,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// The calendar date of `t` in the session time zone. No allocation:
    /// the zone's transition table is static.
    pub fn trading_date(&self, t: Nanos) -> Option<NaiveDate> {
        let secs = (t.0 / Nanos::PER_SEC) as i64;
        let nanos = (t.0 % Nanos::PER_SEC) as u32;
        let utc = DateTime::from_timestamp(secs, nanos)?;
        Some(
            utc.with_timezone(&self.limits.session_timezone)
                .date_naive(),
        )
    }

    /// Set or reset the operator's manual kill (HALTED `manual_kill` until
    /// reset; a new trading date does not clear it).
    pub fn set_manual_kill(&mut self, active: bool) {
        self.manual_kill = active;
    }

    /// Set or clear the stale-feed halt (HALTED for entries while market
    /// data has stopped).
    pub fn set_feed_stale(&mut self, stale: bool) {
        self.feed_stale = stale;
    }

    /// Set or clear the broker halt (HALTED for entries while a live
    /// broker is disconnected, degraded or not yet reconciled).
    pub fn set_broker_down(&mut self, down: bool) {
        self.broker_down = down;
    }

    /// Set or reset the operator pause (state PAUSED).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
    }

    /// Whether the guardrail kill switch (not the manual kill) is active.
    pub fn kill_switch_active(&self) -> bool {
        self.kill.is_some()
    }

    /// The reason trading is halted: guardrail kill, else manual kill, else
    /// non-positive equity at the last check.
    pub fn kill_reason(&self) -> Option<Reason> {
        if let Some(k) = self.kill {
            Some(k.reason)
        } else if self.manual_kill {
            Some(Reason::ManualKill)
        } else if self.feed_stale {
            Some(Reason::FeedStale)
        } else if self.broker_down {
            Some(Reason::BrokerDown)
        } else if !self.equity_ok {
            Some(Reason::NonPositiveEquity)
        } else {
            None
        }
    }

    /// PAUSED (operator), HALTED (any kill reason) or ACTIVE.
    pub fn state(&self) -> TradingState {
        if self.paused {
            TradingState::Paused
        } else if self.kill_reason().is_some() {
            TradingState::Halted
        } else {
            TradingState::Active
        }
    }

    /// §15.1: the once-per-cycle check with the start-of-cycle PV, the
    /// current weights (dense by symbol id; missing ids count as 0) and the
    /// cycle's event time.
    ///
    /// A non-finite PV changes no stored value (no date roll, peak or kill)
    /// and halts with `non_positive_equity`; daily P&L and drawdown are then
    /// NaN.
    pub fn check(&mut self, pv: f64, weights: &[f64], t: Nanos) -> CheckReport {
        let mut cleared = None;
        let mut triggered = None;
        let (daily_pnl, drawdown) = if pv.is_finite() {
            if let Some(date) = self.trading_date(t) {
                if self.session_date != Some(date) {
                    self.session_date = Some(date);
                    self.day_start_value = pv;
                    if self.kill.take().is_some() {
                        cleared = Some(self.record(GuardrailEvent::Cleared { time: t }));
                    }
                }
            }
            let day_start = self.day_start_value;
            let daily = if day_start <= 0.0 {
                0.0
            } else {
                (pv - day_start) / day_start
            };
            self.peak_value = self.peak_value.max(pv);
            let peak = self.peak_value;
            let drawdown = if peak <= 0.0 { 0.0 } else { (peak - pv) / peak };
            if self.kill.is_none() {
                let reason = if daily < -self.limits.max_daily_loss.0 {
                    Some(Reason::DailyLoss)
                } else if drawdown > self.limits.max_drawdown.0 {
                    Some(Reason::Drawdown)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    self.kill = Some(Kill { reason, time: t });
                    triggered = Some(self.record(GuardrailEvent::Triggered { reason, time: t }));
                }
            }
            (daily, drawdown)
        } else {
            (f64::NAN, f64::NAN)
        };
        self.equity_ok = pv > 0.0 && pv.is_finite();

        let weight = |id: SymbolId| weights.get(id.index()).copied().unwrap_or(0.0);
        let gross = self.order.sum(|id| weight(id).abs());
        let net = self.order.sum(weight);
        CheckReport {
            state: self.state(),
            kill_reason: self.kill_reason(),
            session_date: self.session_date,
            daily_pnl,
            drawdown,
            peak_value: self.peak_value,
            day_start_value: self.day_start_value,
            gross_exposure: gross,
            net_exposure: net,
            gross_warning: gross > 0.9 * self.limits.max_gross.0,
            cleared,
            triggered,
        }
    }

    /// Append to the bounded event log, dropping the oldest when full.
    fn record(&mut self, event: GuardrailEvent) -> GuardrailEvent {
        if self.events.len() >= self.event_capacity {
            self.events.pop_front();
        }
        self.events.push_back(event);
        event
    }

    /// §15.2: whether moving `symbol` from its current weight to `target`
    /// may trade. `weights` are the live weights, dense by symbol id
    /// (missing ids count as 0). `Ok` is `all_checks`; `Err` carries
    /// `kill_switch`, `position_limit` or `gross_exposure`.
    ///
    /// A reduction toward zero (current ≠ 0 and target = 0, or the same sign
    /// with a smaller size) passes in every state (§21.5). A NaN target or
    /// weight never passes the limit checks.
    pub fn validate_trade(
        &self,
        symbol: SymbolId,
        target: f64,
        weights: &[f64],
    ) -> Result<(), Reason> {
        let weight = |id: SymbolId| weights.get(id.index()).copied().unwrap_or(0.0);
        let current = weight(symbol);
        let same_sign = (target > 0.0 && current > 0.0) || (target < 0.0 && current < 0.0);
        let reduction =
            current != 0.0 && (target == 0.0 || (same_sign && target.abs() < current.abs()));
        if reduction {
            return Ok(());
        }
        if !self.state().allows_increase() {
            return Err(Reason::KillSwitch);
        }
        let max_position = self.limits.max_position.0;
        if !at_most(target.abs(), max_position) {
            return Err(Reason::PositionLimit);
        }
        let mut any_over = false;
        let mut gross = self.order.sum(|id| {
            let w = if id == symbol { target } else { weight(id) };
            any_over |= !at_most(w.abs(), max_position);
            w.abs()
        });
        if symbol.index() >= self.order.len() {
            gross += target.abs();
        }
        if any_over || !at_most(gross, self.limits.max_gross.0) {
            return Err(Reason::GrossExposure);
        }
        Ok(())
    }

    /// The events kept for persistence, oldest first.
    pub fn events(&self) -> impl ExactSizeIterator<Item = &GuardrailEvent> {
        self.events.iter()
    }

    /// The persisted state (§15.3). Cold path: allocates the event list,
    /// with room for the full event capacity so that later
    /// [`Guardrails::snapshot_into`] calls on it never allocate.
    pub fn snapshot(&self) -> GuardrailState {
        let mut out = GuardrailState {
            events: Vec::with_capacity(self.event_capacity),
            ..GuardrailState::default()
        };
        self.snapshot_into(&mut out);
        out
    }

    /// The persisted state written into `out`, reusing its event buffer:
    /// no allocation once `out.events` has room for the event capacity.
    pub fn snapshot_into(&self, out: &mut GuardrailState) {
        out.session_date = self.session_date;
        out.day_start_value = self.day_start_value;
        out.peak_value = self.peak_value;
        out.kill_switch_active = self.kill.is_some();
        out.kill_switch_reason = self.kill.map(|k| k.reason);
        out.kill_switch_time = self.kill.map(|k| k.time);
        out.events.clear();
        out.events.extend(self.events.iter().copied());
    }

    /// Restore a persisted state after a restart (operator controls are not
    /// part of it and keep their current values). Keeps the newest events
    /// when there are more than the capacity. Cold path.
    pub fn restore(&mut self, state: &GuardrailState) -> Result<(), GuardrailStateError> {
        for (field, value) in [
            ("day_start_value", state.day_start_value),
            ("peak_value", state.peak_value),
        ] {
            if !value.is_finite() {
                return Err(GuardrailStateError::NotFinite { field, value });
            }
        }
        let kill = if state.kill_switch_active {
            let reason = state
                .kill_switch_reason
                .ok_or(GuardrailStateError::KillWithoutReason)?;
            check_kill_reason(reason)?;
            let time = state
                .kill_switch_time
                .ok_or(GuardrailStateError::KillWithoutTime)?;
            Some(Kill { reason, time })
        } else {
            None
        };
        self.session_date = state.session_date;
        self.day_start_value = state.day_start_value;
        self.peak_value = state.peak_value;
        self.kill = kill;
        self.equity_ok = true;
        self.events.clear();
        let skip = state.events.len().saturating_sub(self.event_capacity);
        self.events.extend(state.events.iter().skip(skip).copied());
        Ok(())
    }
}

/// `x ≤ limit`, false when either is NaN: a NaN never passes a limit.
#[inline]
fn at_most(x: f64, limit: f64) -> bool {
    x <= limit
}

/// The persisted guardrail state (§15.3, part of the engine state). Its
/// serde form is the vector's: dates `YYYY-MM-DD`, times ISO-8601 UTC,
/// reasons as codes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StateRecord", into = "StateRecord")]
pub struct GuardrailState {
    pub session_date: Option<NaiveDate>,
    pub day_start_value: f64,
    pub peak_value: f64,
    pub kill_switch_active: bool,
    pub kill_switch_reason: Option<Reason>,
    pub kill_switch_time: Option<Nanos>,
    pub events: Vec<GuardrailEvent>,
}

impl GuardrailState {
    /// Apply a journaled kill-switch event on top of this state (start-up
    /// recovery of a journal tail that no snapshot covers). Cold path.
    pub fn apply_event(&mut self, event: GuardrailEvent) {
        match event {
            GuardrailEvent::Triggered { reason, time } => {
                self.kill_switch_active = true;
                self.kill_switch_reason = Some(reason);
                self.kill_switch_time = Some(time);
            }
            GuardrailEvent::Cleared { .. } => {
                self.kill_switch_active = false;
                self.kill_switch_reason = None;
                self.kill_switch_time = None;
            }
        }
        if !self.events.contains(&event) {
            self.events.push(event);
        }
    }
}

/// Why a persisted guardrail state cannot be restored.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GuardrailStateError {
    #[error("{field} = {value}: must be a finite number")]
    NotFinite { field: &'static str, value: f64 },
    #[error("kill_switch_active is true but kill_switch_reason is null")]
    KillWithoutReason,
    #[error("kill_switch_active is true but kill_switch_time is null")]
    KillWithoutTime,
    #[error("{field} = {value:?}: allowed daily_loss or drawdown")]
    BadKillReason { field: &'static str, value: String },
    #[error("{field} = {value:?}: {allowed}")]
    BadValue {
        field: &'static str,
        value: String,
        allowed: &'static str,
    },
}

fn check_kill_reason(reason: Reason) -> Result<Reason, GuardrailStateError> {
    match reason {
        Reason::DailyLoss | Reason::Drawdown => Ok(reason),
        other => Err(GuardrailStateError::BadKillReason {
            field: "kill_switch_reason",
            value: other.code().to_owned(),
        }),
    }
}

/// The wire form of a [`GuardrailEvent`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventRecord {
    event: String,
    reason: String,
    time: String,
}

impl From<GuardrailEvent> for EventRecord {
    fn from(e: GuardrailEvent) -> Self {
        EventRecord {
            event: e.event().code().to_owned(),
            reason: e.reason_code().to_owned(),
            time: iso::format(e.time()),
        }
    }
}

impl TryFrom<EventRecord> for GuardrailEvent {
    type Error = GuardrailStateError;

    fn try_from(r: EventRecord) -> Result<Self, Self::Error> {
        let time = iso::parse("events.time", &r.time)?;
        match (Reason::from_code(&r.event), r.reason.as_str()) {
            (Some(Reason::KillSwitchCleared), NEW_SESSION) => Ok(GuardrailEvent::Cleared { time }),
            (Some(Reason::KillSwitchTriggered), code) => {
                let reason = Reason::from_code(code)
                    .ok_or_else(|| GuardrailStateError::BadKillReason {
                        field: "events.reason",
                        value: code.to_owned(),
                    })
                    .and_then(check_kill_reason)?;
                Ok(GuardrailEvent::Triggered { reason, time })
            }
            (Some(Reason::KillSwitchCleared), other) => Err(GuardrailStateError::BadValue {
                field: "events.reason",
                value: other.to_owned(),
                allowed: "new_session for kill_switch_cleared",
            }),
            _ => Err(GuardrailStateError::BadValue {
                field: "events.event",
                value: r.event,
                allowed: "kill_switch_triggered or kill_switch_cleared",
            }),
        }
    }
}

/// The wire form of a [`GuardrailState`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateRecord {
    session_date: Option<String>,
    day_start_value: f64,
    peak_value: f64,
    kill_switch_active: bool,
    kill_switch_reason: Option<String>,
    kill_switch_time: Option<String>,
    events: Vec<GuardrailEvent>,
}

impl From<GuardrailState> for StateRecord {
    fn from(s: GuardrailState) -> Self {
        StateRecord {
            session_date: s.session_date.map(|d| d.format("%Y-%m-%d").to_string()),
            day_start_value: s.day_start_value,
            peak_value: s.peak_value,
            kill_switch_active: s.kill_switch_active,
            kill_switch_reason: s.kill_switch_reason.map(|r| r.code().to_owned()),
            kill_switch_time: s.kill_switch_time.map(iso::format),
            events: s.events,
        }
    }
}

impl TryFrom<StateRecord> for GuardrailState {
    type Error = GuardrailStateError;

    fn try_from(r: StateRecord) -> Result<Self, Self::Error> {
        let session_date = r
            .session_date
            .map(|s| {
                NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| {
                    GuardrailStateError::BadValue {
                        field: "session_date",
                        value: s,
                        allowed: "a date YYYY-MM-DD",
                    }
                })
            })
            .transpose()?;
        let kill_switch_reason = r
            .kill_switch_reason
            .map(|code| {
                Reason::from_code(&code)
                    .ok_or(GuardrailStateError::BadKillReason {
                        field: "kill_switch_reason",
                        value: code,
                    })
                    .and_then(check_kill_reason)
            })
            .transpose()?;
        let kill_switch_time = r
            .kill_switch_time
            .map(|s| iso::parse("kill_switch_time", &s))
            .transpose()?;
        Ok(GuardrailState {
            session_date,
            day_start_value: r.day_start_value,
            peak_value: r.peak_value,
            kill_switch_active: r.kill_switch_active,
            kill_switch_reason,
            kill_switch_time,
            events: r.events,
        })
    }
}

/// Timestamps of the persisted state, as `GuardrailStateError`s.
mod iso {
    use super::GuardrailStateError;
    use crate::types::Nanos;

    pub use crate::iso::format;

    /// Parse an RFC 3339 timestamp at or after the epoch.
    pub fn parse(field: &'static str, s: &str) -> Result<Nanos, GuardrailStateError> {
        crate::iso::parse(s).ok_or_else(|| GuardrailStateError::BadValue {
            field,
            value: s.to_owned(),
            allowed: "an ISO-8601 timestamp at or after 1970-01-01T00:00:00Z",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = Nanos::PER_SEC;
    /// 2024-01-02T15:00:00Z.
    const T0: Nanos = Nanos(1_704_207_600 * SEC);
    const DAY: u64 = 86_400 * SEC;

    fn guard(names: &[&str]) -> Guardrails {
        Guardrails::new(
            RiskLimits::default(),
            SymbolOrder::from_names(names).unwrap(),
        )
    }

    fn at(t: Nanos, dt_secs: u64) -> Nanos {
        Nanos(t.0 + dt_secs * SEC)
    }

    #[test]
    fn limits_validate_each_key_and_convert_percents() {
        let ok = RiskLimits::from_config(&RiskLimitsConfig::default()).unwrap();
        assert_eq!(ok, RiskLimits::default());
        let bad = |f: fn(&mut RiskLimitsConfig)| {
            let mut c = RiskLimitsConfig::default();
            f(&mut c);
            RiskLimits::from_config(&c).unwrap_err()
        };
        assert_eq!(
            bad(|c| c.max_daily_loss_pct = Pct(150.0)),
            RiskLimitsError::PercentOutOfRange {
                key: "max_daily_loss_pct",
                value: 150.0
            }
        );
        assert!(matches!(
            bad(|c| c.max_position_pct = Pct(0.0)),
            RiskLimitsError::PercentOutOfRange {
                key: "max_position_pct",
                ..
            }
        ));
        assert!(matches!(
            bad(|c| c.max_drawdown_pct = Pct(f64::NAN)),
            RiskLimitsError::PercentOutOfRange { .. }
        ));
        assert!(matches!(
            bad(|c| c.max_gross_exposure = Frac(0.0)),
            RiskLimitsError::GrossNotPositive { .. }
        ));
        let e = bad(|c| c.session_timezone = "Mars/Olympus".into());
        assert!(e.to_string().contains("Mars/Olympus"), "{e}");
        let c = RiskLimitsConfig {
            max_drawdown_pct: Pct(100.0),
            ..RiskLimitsConfig::default()
        };
        assert_eq!(RiskLimits::from_config(&c).unwrap().max_drawdown, Frac(1.0));
    }

    #[test]
    fn trading_date_follows_the_session_zone_across_dst() {
        let g = guard(&[]);
        // 2024-03-10T05:30:00Z is 00:30 EST on March 10 (before the switch).
        let t = Nanos(1_710_048_600 * SEC);
        assert_eq!(g.trading_date(t), NaiveDate::from_ymd_opt(2024, 3, 10));
        // 2024-03-11T03:30:00Z is 23:30 EDT on March 10.
        let t = Nanos(1_710_127_800 * SEC);
        assert_eq!(g.trading_date(t), NaiveDate::from_ymd_opt(2024, 3, 10));
    }

    #[test]
    fn daily_loss_kill_is_sticky_then_clears_on_a_new_date() {
        let mut g = guard(&[]);
        g.check(100_000.0, &[], T0);
        let r = g.check(98_000.0, &[], at(T0, 60));
        assert_eq!(r.state, TradingState::Active, "exactly -2% does not kill");
        let r = g.check(97_999.0, &[], at(T0, 120));
        assert_eq!(r.kill_reason, Some(Reason::DailyLoss));
        assert!(matches!(
            r.triggered,
            Some(GuardrailEvent::Triggered { .. })
        ));
        let r = g.check(100_000.0, &[], at(T0, 180));
        assert_eq!((r.state, r.triggered), (TradingState::Halted, None));
        let r = g.check(99_000.0, &[], Nanos(T0.0 + DAY));
        assert_eq!(r.state, TradingState::Active);
        assert_eq!(r.events().count(), 1);
        assert_eq!(r.day_start_value, 99_000.0);
        assert_eq!(g.events().len(), 2);
    }

    #[test]
    fn drawdown_kill_may_retrigger_in_the_clearing_check() {
        let mut g = guard(&[]);
        g.check(100_000.0, &[], T0);
        let r = g.check(89_000.0, &[], Nanos(T0.0 + DAY));
        assert_eq!(r.kill_reason, Some(Reason::Drawdown));
        let r = g.check(88_000.0, &[], Nanos(T0.0 + 2 * DAY));
        let kinds: Vec<_> = r.events().map(GuardrailEvent::event).collect();
        assert_eq!(
            kinds,
            [Reason::KillSwitchCleared, Reason::KillSwitchTriggered]
        );
        assert_eq!(r.state, TradingState::Halted);
    }

    #[test]
    fn manual_kill_and_non_positive_equity_halt_without_events() {
        let mut g = guard(&["A"]);
        g.set_manual_kill(true);
        let r = g.check(100.0, &[0.1], T0);
        assert_eq!(r.kill_reason, Some(Reason::ManualKill));
        let r = g.check(100.0, &[0.1], Nanos(T0.0 + DAY));
        assert_eq!(
            r.kill_reason,
            Some(Reason::ManualKill),
            "a new date keeps it"
        );
        g.set_manual_kill(false);
        let r = g.check(f64::NAN, &[0.1], at(T0, DAY / SEC + 60));
        assert_eq!(r.kill_reason, Some(Reason::NonPositiveEquity));
        assert!(r.daily_pnl.is_nan());
        assert_eq!(r.peak_value, 100.0);
        assert_eq!(g.events().len(), 0);
        g.set_paused(true);
        assert_eq!(g.state(), TradingState::Paused);
    }

    #[test]
    fn reductions_pass_in_every_state_and_limits_apply_in_order() {
        let mut g = guard(&["A", "B", "C"]);
        let w = [0.05, -0.04, 0.0];
        assert_eq!(
            g.validate_trade(SymbolId(0), 0.25, &w),
            Err(Reason::PositionLimit)
        );
        assert_eq!(g.validate_trade(SymbolId(2), 0.2, &w), Ok(()));
        // Another symbol above the position limit blocks new exposure.
        let over = [0.3, -0.2, 0.0];
        assert_eq!(
            g.validate_trade(SymbolId(2), 0.1, &over),
            Err(Reason::GrossExposure)
        );
        let tight = Guardrails::new(
            RiskLimits {
                max_gross: Frac(0.5),
                ..RiskLimits::default()
            },
            SymbolOrder::from_names(&["A", "B", "C"]).unwrap(),
        );
        let heavy = [0.2, -0.2, 0.0];
        assert_eq!(
            tight.validate_trade(SymbolId(2), 0.11, &heavy),
            Err(Reason::GrossExposure)
        );
        assert_eq!(tight.validate_trade(SymbolId(2), -0.1, &heavy), Ok(()));
        assert_eq!(
            g.validate_trade(SymbolId(0), f64::NAN, &w),
            Err(Reason::PositionLimit)
        );
        g.check(100_000.0, &w, T0);
        g.check(97_000.0, &w, at(T0, 60));
        assert_eq!(g.state(), TradingState::Halted);
        assert_eq!(g.validate_trade(SymbolId(0), 0.02, &w), Ok(()));
        assert_eq!(g.validate_trade(SymbolId(0), 0.0, &w), Ok(()));
        assert_eq!(
            g.validate_trade(SymbolId(1), 0.01, &w),
            Err(Reason::KillSwitch)
        );
        assert_eq!(
            g.validate_trade(SymbolId(2), 0.0, &w),
            Err(Reason::KillSwitch)
        );
        assert_eq!(
            g.validate_trade(SymbolId(9), 0.01, &w),
            Err(Reason::KillSwitch)
        );
    }

    #[test]
    fn exposures_sum_in_sorted_order_and_warn_above_ninety_percent() {
        let mut g = guard(&["B", "A"]);
        let r = g.check(1.0, &[-0.04, 0.05], T0);
        assert_eq!(r.net_exposure, 0.010000000000000002);
        assert!(!r.gross_warning);
        let r = g.check(1.0, &[-0.5, 0.41], T0);
        assert!(r.gross_warning);
    }

    #[test]
    fn event_ring_keeps_the_newest_within_its_bound() {
        let mut g = Guardrails::with_event_capacity(
            RiskLimits::default(),
            SymbolOrder::from_names::<&str>(&[]).unwrap(),
            3,
        );
        g.check(100.0, &[], T0);
        for day in 1..=3 {
            g.check(50.0, &[], Nanos(T0.0 + day * DAY));
        }
        // day 1: trigger; day 2: clear + trigger; day 3: clear + trigger.
        assert_eq!(g.events().len(), 3);
        assert_eq!(
            g.events().next().map(|e| e.event()),
            Some(Reason::KillSwitchTriggered)
        );
    }

    #[test]
    fn persisted_state_round_trips_through_json() {
        let mut g = guard(&[]);
        g.check(100_000.0, &[], T0);
        g.check(97_000.0, &[], Nanos(T0.0 + 1_500));
        let state = g.snapshot();
        let text = serde_json::to_string(&state).unwrap();
        assert!(text.contains("\"kill_switch_time\":\"2024-01-02T15:00:00.000001500Z\""));
        assert!(text.contains("\"session_date\":\"2024-01-02\""));
        let back: GuardrailState = serde_json::from_str(&text).unwrap();
        assert_eq!(back, state);
        let mut fresh = guard(&[]);
        fresh.restore(&back).unwrap();
        assert_eq!(fresh.state(), TradingState::Halted);
        assert_eq!(fresh.snapshot(), state);
        let bad = text.replace("daily_loss", "cooldown");
        assert!(serde_json::from_str::<GuardrailState>(&bad).is_err());
        let mut broken = state.clone();
        broken.kill_switch_reason = None;
        assert_eq!(
            fresh.restore(&broken),
            Err(GuardrailStateError::KillWithoutReason)
        );
    }

    #[test]
    fn iso_times_print_like_the_vectors() {
        assert_eq!(iso::format(T0), "2024-01-02T15:00:00Z");
        assert_eq!(
            iso::format(Nanos(T0.0 + 950_000_000)),
            "2024-01-02T15:00:00.950000Z"
        );
        assert_eq!(iso::parse("t", "2024-01-02T15:00:00Z"), Ok(T0));
        assert!(iso::parse("t", "1969-12-31T23:59:59Z").is_err());
    }
}
