//! [`EntryWindow`]: whether new positions may be opened at an event time —
//! `live.entry_window` (regular 09:30–16:00, extended 04:00–20:00, an
//! explicit `HH:MM-HH:MM`, or always) in `risk.session_timezone`, on
//! weekdays.
//!
//! Runs on the ENGINE THREAD. Hot path: [`EntryWindow::allows`] allocates
//! nothing, never blocks, never logs and reads no clock — the event time is
//! passed in. It caches the UTC bounds of the current local date and of the
//! window on it, so a call inside the cached date is two comparisons; only
//! when `t` leaves the cached date does it recompute them (chrono-tz offset
//! lookups, static tables, no allocation).
//!
//! DST: the window is in local wall-clock time, so 09:30 New York is 13:30
//! UTC in summer and 14:30 UTC in winter; the bounds of each date are
//! computed from that date's own offsets. A local time skipped by a
//! spring-forward gap is moved forward by the gap (02:30 → 03:30); a
//! repeated one (fall back) maps to its first occurrence.
//!
//! Weekends (Saturday, Sunday in the local date) are closed. Exchange
//! holidays and early closes are NOT known: on those days the window is
//! open as on any weekday (the feed is silent on a holiday, so nothing is
//! decided anyway). `always` is open at every instant, weekends included.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Weekday,
};
use chrono_tz::Tz;

use crate::config::{EngineConfig, EntryWindowSpec, MinuteOfDay};
use crate::types::Nanos;

/// The entry window of one run, with its per-date cache.
#[derive(Clone, Debug)]
pub struct EntryWindow {
    /// Local `[open, close)`; `None`: always open.
    bounds: Option<(MinuteOfDay, MinuteOfDay)>,
    tz: Tz,
    /// UTC bounds `[day_start, day_end)` of the cached local date; empty
    /// (`day_start == day_end`) before the first call.
    day_start: Nanos,
    day_end: Nanos,
    /// UTC bounds `[open_at, close_at)` of the window on the cached date;
    /// empty on weekends.
    open_at: Nanos,
    close_at: Nanos,
}

impl EntryWindow {
    /// A window of `spec` in `tz`.
    pub fn new(spec: EntryWindowSpec, tz: Tz) -> EntryWindow {
        EntryWindow {
            bounds: spec.bounds(),
            tz,
            day_start: Nanos::ZERO,
            day_end: Nanos::ZERO,
            open_at: Nanos::ZERO,
            close_at: Nanos::ZERO,
        }
    }

    /// A window that is always open.
    pub fn always() -> EntryWindow {
        EntryWindow::new(EntryWindowSpec::Always, Tz::UTC)
    }

    /// The window of a run: `live.entry_window` in `risk.session_timezone`
    /// when `live.entry_window_brokers` covers the run's broker, else
    /// always open.
    pub fn for_run(config: &EngineConfig, broker_is_ibkr: bool) -> EntryWindow {
        if config.live.entry_window_applies(broker_is_ibkr) {
            EntryWindow::new(config.live.entry_window, config.risk.session_timezone)
        } else {
            EntryWindow::always()
        }
    }

    /// Whether the window never closes.
    pub fn is_always(&self) -> bool {
        self.bounds.is_none()
    }

    /// Whether an entry may be opened at event time `t`. A time with no
    /// calendar date (past year 262143) is outside the window.
    #[inline]
    pub fn allows(&mut self, t: Nanos) -> bool {
        if self.bounds.is_none() {
            return true;
        }
        if t < self.day_start || t >= self.day_end {
            self.recompute(t);
        }
        t >= self.open_at && t < self.close_at
    }

    /// Cache the bounds of the local date of `t` (cold branch, once per
    /// date).
    #[cold]
    fn recompute(&mut self, t: Nanos) {
        // Whatever happens below, a failed lookup leaves the window closed.
        self.open_at = Nanos::ZERO;
        self.close_at = Nanos::ZERO;
        self.day_start = Nanos::ZERO;
        self.day_end = Nanos::ZERO;
        let Some((open, close)) = self.bounds else {
            return;
        };
        let Some(date) = local_date(t, self.tz) else {
            return;
        };
        let start = local_to_utc(self.tz, date, 0);
        let end = date
            .succ_opt()
            .and_then(|next| local_to_utc(self.tz, next, 0));
        let (Some(start), Some(end)) = (start, end) else {
            return;
        };
        // Midnight in a DST gap maps past it; t is still inside the date.
        let start = start.min(t);
        let end = if end > t {
            end
        } else {
            Nanos(t.0.saturating_add(1))
        };
        self.day_start = start;
        self.day_end = end;
        if matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return;
        }
        if let (Some(o), Some(c)) = (
            local_to_utc(self.tz, date, open.minutes()),
            local_to_utc(self.tz, date, close.minutes()),
        ) {
            self.open_at = o;
            self.close_at = c;
        }
    }
}

/// The local calendar date of `t` in `tz`.
fn local_date(t: Nanos, tz: Tz) -> Option<NaiveDate> {
    let secs = i64::try_from(t.0 / Nanos::PER_SEC).ok()?;
    let nanos = u32::try_from(t.0 % Nanos::PER_SEC).ok()?;
    let utc = DateTime::from_timestamp(secs, nanos)?;
    Some(utc.with_timezone(&tz).date_naive())
}

/// The UTC instant of local `date` + `minutes` (up to 1440 = next
/// midnight) in `tz`: the first occurrence of a repeated local time; a
/// skipped one moved forward by the gap (02:30 → 03:30 on a one-hour gap).
fn local_to_utc(tz: Tz, date: NaiveDate, minutes: u16) -> Option<Nanos> {
    let local: NaiveDateTime = date.and_hms_opt(0, 0, 0)? + Duration::minutes(i64::from(minutes));
    let instant = match tz.from_local_datetime(&local) {
        LocalResult::Single(x) => x,
        LocalResult::Ambiguous(first, _) => first,
        // In a gap: read the wall time with the offset in force before the
        // gap (a day earlier), which moves it forward by the gap's length.
        LocalResult::None => {
            let before = tz
                .from_local_datetime(&(local - Duration::days(1)))
                .earliest()?;
            let offset = i64::from(before.offset().fix().local_minus_utc());
            let ns = (local - Duration::seconds(offset))
                .and_utc()
                .timestamp_nanos_opt()?;
            return u64::try_from(ns).ok().map(Nanos);
        }
    };
    let ns = instant.timestamp_nanos_opt()?;
    u64::try_from(ns).ok().map(Nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ny() -> Tz {
        Tz::America__New_York
    }

    /// Event time of a UTC wall-clock instant.
    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Nanos {
        let t = chrono::Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap();
        Nanos(u64::try_from(t.timestamp_nanos_opt().unwrap()).unwrap())
    }

    fn minus_1ns(t: Nanos) -> Nanos {
        Nanos(t.0 - 1)
    }

    /// Open exactly over `[open, close)` UTC and closed just outside.
    fn assert_window(w: &mut EntryWindow, open: Nanos, close: Nanos) {
        assert!(!w.allows(minus_1ns(open)), "open early");
        assert!(w.allows(open), "closed at open");
        assert!(w.allows(minus_1ns(close)), "closed before close");
        assert!(!w.allows(close), "open at close");
    }

    #[test]
    fn regular_session_in_winter_and_summer() {
        let mut w = EntryWindow::new(EntryWindowSpec::Regular, ny());
        // Winter (EST, UTC-5): 09:30 = 14:30 UTC.
        assert_window(&mut w, utc(2024, 1, 10, 14, 30), utc(2024, 1, 10, 21, 0));
        // Summer (EDT, UTC-4): 09:30 = 13:30 UTC.
        assert_window(&mut w, utc(2024, 7, 10, 13, 30), utc(2024, 7, 10, 20, 0));
    }

    /// 2024-03-10 (Sunday) clocks spring forward; Friday 8th is EST and
    /// Monday 11th EDT. 2024-11-03 (Sunday) they fall back; Friday 1st is
    /// EDT and Monday 4th EST.
    #[test]
    fn dst_changes_move_the_utc_bounds() {
        let mut w = EntryWindow::new(EntryWindowSpec::Regular, ny());
        assert_window(&mut w, utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21, 0));
        assert_window(&mut w, utc(2024, 3, 11, 13, 30), utc(2024, 3, 11, 20, 0));
        assert_window(&mut w, utc(2024, 11, 1, 13, 30), utc(2024, 11, 1, 20, 0));
        assert_window(&mut w, utc(2024, 11, 4, 14, 30), utc(2024, 11, 4, 21, 0));
        // Going backwards in time recomputes too.
        assert_window(&mut w, utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21, 0));
    }

    #[test]
    fn weekends_are_closed_except_for_always() {
        let mut w = EntryWindow::new(EntryWindowSpec::Extended, ny());
        // Saturday 2024-03-09 and Sunday 2024-03-10 (the DST day) at noon NY.
        assert!(!w.allows(utc(2024, 3, 9, 17, 0)));
        assert!(!w.allows(utc(2024, 3, 10, 16, 0)));
        // Friday 23:30 NY is Saturday UTC but still Friday locally: closed
        // by the 20:00 close, not the weekend; Friday 19:59 NY is open.
        assert!(w.allows(utc(2024, 3, 9, 0, 59)));
        assert!(!w.allows(utc(2024, 3, 9, 1, 0)));
        let mut a = EntryWindow::new(EntryWindowSpec::Always, ny());
        assert!(a.is_always());
        assert!(a.allows(utc(2024, 3, 9, 17, 0)));
        assert!(a.allows(Nanos(0)) && a.allows(Nanos(u64::MAX)));
    }

    #[test]
    fn extended_and_explicit_windows() {
        let mut w = EntryWindow::new(EntryWindowSpec::Extended, ny());
        // 04:00–20:00 EDT = 08:00–24:00 UTC.
        assert_window(&mut w, utc(2024, 7, 10, 8, 0), utc(2024, 7, 11, 0, 0));
        let spec = EntryWindowSpec::parse("09:45-15:30").unwrap();
        let mut w = EntryWindow::new(spec, ny());
        assert_window(&mut w, utc(2024, 1, 10, 14, 45), utc(2024, 1, 10, 20, 30));
        // 00:00-24:00 UTC: the whole weekday, and Thursday 11th opens again
        // at its midnight (no `assert_window`: the day before is open too).
        let spec = EntryWindowSpec::parse("00:00-24:00").unwrap();
        let mut w = EntryWindow::new(spec, Tz::UTC);
        assert!(w.allows(utc(2024, 1, 10, 0, 0)));
        assert!(w.allows(minus_1ns(utc(2024, 1, 11, 0, 0))));
        assert!(w.allows(utc(2024, 1, 11, 0, 0)));
        assert!(!w.allows(utc(2024, 1, 13, 0, 0)), "Saturday");
    }

    /// US and EU clocks change on Sundays, when the window is closed, so
    /// the gap and overlap mapping is tested directly.
    #[test]
    fn gap_times_map_past_the_gap() {
        let date = NaiveDate::from_ymd_opt(2024, 3, 10).unwrap();
        // 02:30 local does not exist; moved forward: 03:30 EDT = 07:30 UTC.
        assert_eq!(local_to_utc(ny(), date, 150), Some(utc(2024, 3, 10, 7, 30)));
        // Midnight and 03:00 exist: 05:00 and 07:00 UTC.
        assert_eq!(local_to_utc(ny(), date, 0), Some(utc(2024, 3, 10, 5, 0)));
        assert_eq!(local_to_utc(ny(), date, 180), Some(utc(2024, 3, 10, 7, 0)));
        // 01:30 on 2024-11-03 happens twice; the first is EDT (05:30 UTC).
        let date = NaiveDate::from_ymd_opt(2024, 11, 3).unwrap();
        assert_eq!(local_to_utc(ny(), date, 90), Some(utc(2024, 11, 3, 5, 30)));
    }

    #[test]
    fn for_run_applies_only_to_the_configured_brokers() {
        let c = EngineConfig::default();
        assert!(!EntryWindow::for_run(&c, true).is_always());
        assert!(EntryWindow::for_run(&c, false).is_always());
        let mut c = c;
        c.live.entry_window_brokers = crate::config::EntryWindowBrokers::All;
        assert!(!EntryWindow::for_run(&c, false).is_always());
    }
}
