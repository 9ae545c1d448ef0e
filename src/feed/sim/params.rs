//! The simulator's parameters: the symbol universe, the calendar, the bar
//! grid and the dynamics, with defaults for a plausible US-equity day and
//! the validation [`MarketSim::new`](super::MarketSim::new) applies.
//!
//! Cold path: built and validated once, before the simulation starts.

use chrono::{Datelike, Days, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;

use crate::config::MAX_TICKER_LEN;
use crate::horizon::SESSION_MINUTES;
use crate::types::{Bps, Frac, Nanos};

/// Local time of the session open (hours, minutes); the session lasts
/// [`SESSION_MINUTES`] (09:30–16:00).
pub const SESSION_OPEN: (u32, u32) = (9, 30);
/// Most trading days one simulation may run (about 40 years).
pub const MAX_DAYS: u32 = 10_000;
/// Most quotes per bar per symbol.
pub const MAX_QUOTES_PER_BAR: u32 = 600;
/// Most symbols one simulation may hold.
pub const MAX_SYMBOLS: usize = 4096;
/// Trading sessions per year, for turning annual volatility into per-step.
pub const SESSIONS_PER_YEAR: f64 = 252.0;

/// One simulated instrument.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSymbol {
    /// Ticker, `[A-Z0-9.]{1,10}` (as `config/symbols.yaml`).
    pub name: String,
    /// Mid price at the first open (> 0).
    pub start_price: f64,
    /// Annualised volatility of the log price (≥ 0), market factor
    /// included: the idiosyncratic part is what `beta · market_vol` leaves.
    pub annual_vol: f64,
    /// Midday spread around which the quoted spread mean-reverts (> 0).
    pub base_spread_bps: Bps,
    /// Average daily dollar volume (> 0): bar volumes are `adv_usd / price`
    /// spread over the session.
    pub adv_usd: f64,
    /// Loading on the common market factor (finite).
    pub beta: f64,
}

impl SimSymbol {
    fn of(name: &str, price: f64, vol: f64, spread_bps: f64, adv_usd: f64, beta: f64) -> Self {
        SimSymbol {
            name: name.to_owned(),
            start_price: price,
            annual_vol: vol,
            base_spread_bps: Bps(spread_bps),
            adv_usd,
            beta,
        }
    }
}

/// The default universe, early-2024-like: SPY, QQQ, AAPL, MSFT, NVDA, IWM.
pub fn default_universe() -> Vec<SimSymbol> {
    vec![
        SimSymbol::of("SPY", 470.0, 0.14, 0.3, 30e9, 1.0),
        SimSymbol::of("QQQ", 400.0, 0.20, 0.5, 15e9, 1.2),
        SimSymbol::of("AAPL", 185.0, 0.25, 1.0, 10e9, 1.1),
        SimSymbol::of("MSFT", 370.0, 0.24, 1.0, 8e9, 1.1),
        SimSymbol::of("NVDA", 480.0, 0.50, 2.0, 20e9, 1.7),
        SimSymbol::of("IWM", 195.0, 0.22, 1.5, 6e9, 1.1),
    ]
}

/// A universe for `names` in that order (symbol id = index): the default
/// universe's parameters for its tickers, and for any other ticker a
/// generic large-cap (price 50–250 from the name, 25 % volatility, 2 bps
/// spread, $5 bn ADV, beta 1), so any configured symbol list simulates.
pub fn universe_for<S: AsRef<str>>(names: &[S]) -> Vec<SimSymbol> {
    let known = default_universe();
    names
        .iter()
        .map(|n| {
            let n = n.as_ref();
            known
                .iter()
                .find(|s| s.name == n)
                .cloned()
                .unwrap_or_else(|| {
                    let h = n
                        .bytes()
                        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
                    SimSymbol::of(n, 50.0 + (h % 200) as f64, 0.25, 2.0, 5e9, 1.0)
                })
        })
        .collect()
}

/// Everything a simulation is built from. `Default` is six symbols over
/// 30 sessions from 2024-01-02, one-minute bars of six quotes each.
#[derive(Clone, Debug, PartialEq)]
pub struct SimParams {
    /// Run seed: the same seed gives the same events, bit for bit.
    pub seed: u64,
    /// The universe; index = `SymbolId`.
    pub symbols: Vec<SimSymbol>,
    /// First trading day; a Saturday or Sunday starts on the next Monday.
    pub start_date: NaiveDate,
    /// Trading days (weekdays; no holiday calendar), `1..=MAX_DAYS`.
    pub days: u32,
    /// Zone of the 09:30–16:00 session (`risk.session_timezone`).
    pub session_timezone: Tz,
    /// Bar interval (`volatility.bar_minutes`); must divide 390.
    pub bar_minutes: u32,
    /// Quotes per bar per symbol, at jittered times inside the bar.
    pub quotes_per_bar: u32,
    /// Annualised volatility of the common market factor (≥ 0).
    pub market_vol: f64,
    /// Expected jumps per symbol per session (≥ 0; Poisson).
    pub jump_intensity: f64,
    /// Mean absolute jump of the log price; each jump is uniform in
    /// `[0.5, 1.5] × jump_size`, random sign (`[0, 1)`).
    pub jump_size: Frac,
    /// The predictable part: stationary standard deviation of the
    /// mean-reverting pricing error, in one-bar volatilities (≥ 0; 0 makes
    /// returns unpredictable).
    pub reversion: f64,
    /// Half-life of the pricing error, in bars (> 0).
    pub reversion_half_life_bars: f64,
    /// Standard deviation of the log volatility regime (≥ 0).
    pub regime_vol: f64,
    /// Half-life of the volatility regime, in sessions (> 0).
    pub regime_half_life_sessions: f64,
    /// Standard deviation of the overnight gap, as a fraction of one
    /// session's (≥ 0).
    pub overnight_vol: f64,
}

impl Default for SimParams {
    fn default() -> Self {
        SimParams {
            seed: 7,
            symbols: default_universe(),
            start_date: NaiveDate::from_ymd_opt(2024, 1, 2)
                .unwrap_or_else(|| unreachable!("2024-01-02 is a date")),
            days: 30,
            session_timezone: Tz::America__New_York,
            bar_minutes: 1,
            quotes_per_bar: 6,
            market_vol: 0.13,
            jump_intensity: 0.5,
            jump_size: Frac(0.004),
            reversion: 1.25,
            reversion_half_life_bars: 3.0,
            regime_vol: 0.3,
            regime_half_life_sessions: 2.0,
            overnight_vol: 0.4,
        }
    }
}

/// Why a simulation cannot be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SimError {
    #[error("the simulator needs at least one symbol")]
    NoSymbols,
    #[error("{0} symbols: at most {MAX_SYMBOLS} are supported")]
    TooManySymbols(usize),
    #[error("symbol {0:?} appears twice")]
    DuplicateSymbol(String),
    #[error(
        "symbol {0:?} is not a ticker: expected 1-{MAX_TICKER_LEN} characters of A-Z, 0-9 and '.'"
    )]
    SymbolName(String),
    #[error("symbol {symbol}: {field} is {value}: must be {allowed}")]
    SymbolField {
        symbol: String,
        field: &'static str,
        value: f64,
        allowed: &'static str,
    },
    #[error(
        "symbol {symbol}: beta {beta} times market_vol {market_vol} exceeds annual_vol \
         {annual_vol}: the market factor alone would be more volatile than the symbol"
    )]
    Beta {
        symbol: String,
        beta: f64,
        market_vol: f64,
        annual_vol: f64,
    },
    #[error("{field} is {value}: must be {allowed}")]
    Field {
        field: &'static str,
        value: f64,
        allowed: &'static str,
    },
    #[error("days is {0}: must be in 1..={MAX_DAYS}")]
    Days(u32),
    #[error(
        "bar_minutes is {0}: must divide the 390-minute session \
         (1, 2, 3, 5, 6, 10, 13, 15, 26, 30, 39, 65, 78, 130, 195 or 390)"
    )]
    BarMinutes(u32),
    #[error("quotes_per_bar is {0}: must be in 1..={MAX_QUOTES_PER_BAR}")]
    QuotesPerBar(u32),
    #[error("the 09:30 open of {date} does not exist or is ambiguous in {zone}")]
    SessionTime { date: NaiveDate, zone: Tz },
    #[error("unknown symbol {name:?}: the default universe is {known}")]
    UnknownSymbol { name: String, known: String },
}

impl SimParams {
    /// Keep only the named symbols of [`SimParams::symbols`], in the given
    /// order (names are trimmed and upper-cased).
    ///
    /// # Errors
    /// [`SimError::UnknownSymbol`] for a name not in the current list,
    /// [`SimError::DuplicateSymbol`] for a name given twice.
    pub fn select_symbols<S: AsRef<str>>(&mut self, names: &[S]) -> Result<(), SimError> {
        let mut chosen: Vec<SimSymbol> = Vec::with_capacity(names.len());
        for name in names {
            let name = name.as_ref().trim().to_ascii_uppercase();
            if chosen.iter().any(|s| s.name == name) {
                return Err(SimError::DuplicateSymbol(name));
            }
            let Some(symbol) = self.symbols.iter().find(|s| s.name == name) else {
                let known: Vec<&str> = self.symbols.iter().map(|s| s.name.as_str()).collect();
                return Err(SimError::UnknownSymbol {
                    name,
                    known: known.join(", "),
                });
            };
            chosen.push(symbol.clone());
        }
        self.symbols = chosen;
        Ok(())
    }

    /// Check every field (see each field's doc for its range).
    ///
    /// # Errors
    /// The first problem found.
    pub fn validate(&self) -> Result<(), SimError> {
        if self.symbols.is_empty() {
            return Err(SimError::NoSymbols);
        }
        if self.symbols.len() > MAX_SYMBOLS {
            return Err(SimError::TooManySymbols(self.symbols.len()));
        }
        field("market_vol", self.market_vol, ">= 0", |x| x >= 0.0)?;
        for (i, s) in self.symbols.iter().enumerate() {
            validate_symbol(s, self.market_vol)?;
            if self.symbols[..i].iter().any(|o| o.name == s.name) {
                return Err(SimError::DuplicateSymbol(s.name.clone()));
            }
        }
        if !(1..=MAX_DAYS).contains(&self.days) {
            return Err(SimError::Days(self.days));
        }
        if self.bar_minutes == 0 || !SESSION_MINUTES.is_multiple_of(self.bar_minutes) {
            return Err(SimError::BarMinutes(self.bar_minutes));
        }
        if !(1..=MAX_QUOTES_PER_BAR).contains(&self.quotes_per_bar) {
            return Err(SimError::QuotesPerBar(self.quotes_per_bar));
        }
        let steps = f64::from(self.steps_per_session());
        field(
            "jump_intensity",
            self.jump_intensity,
            ">= 0 and at most one jump per quote step",
            |x| x >= 0.0 && x <= steps,
        )?;
        field("jump_size", self.jump_size.0, "in [0, 1)", |x| {
            (0.0..1.0).contains(&x)
        })?;
        field("reversion", self.reversion, ">= 0", |x| x >= 0.0)?;
        field(
            "reversion_half_life_bars",
            self.reversion_half_life_bars,
            "> 0",
            |x| x > 0.0,
        )?;
        field("regime_vol", self.regime_vol, "in [0, 5]", |x| {
            (0.0..=5.0).contains(&x)
        })?;
        field(
            "regime_half_life_sessions",
            self.regime_half_life_sessions,
            "> 0",
            |x| x > 0.0,
        )?;
        field("overnight_vol", self.overnight_vol, ">= 0", |x| x >= 0.0)?;
        Ok(())
    }

    /// Bars in one session.
    pub fn bars_per_session(&self) -> u32 {
        SESSION_MINUTES / self.bar_minutes.max(1)
    }

    /// Quote steps in one session.
    pub(super) fn steps_per_session(&self) -> u32 {
        self.bars_per_session() * self.quotes_per_bar
    }

    /// The UTC open of every trading day: weekdays from `start_date`.
    ///
    /// # Errors
    /// [`SimError::SessionTime`] when 09:30 of a day does not exist (or is
    /// ambiguous) in the session zone, or the calendar runs out.
    pub fn session_opens(&self) -> Result<Vec<Nanos>, SimError> {
        let mut opens = Vec::with_capacity(self.days as usize);
        let mut date = self.start_date;
        while opens.len() < self.days as usize {
            if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
                opens.push(session_open(date, self.session_timezone)?);
            }
            date = date
                .checked_add_days(Days::new(1))
                .ok_or(SimError::SessionTime {
                    date,
                    zone: self.session_timezone,
                })?;
        }
        Ok(opens)
    }
}

/// 09:30 local time of `date` in `zone`, as UTC nanoseconds.
fn session_open(date: NaiveDate, zone: Tz) -> Result<Nanos, SimError> {
    let bad = SimError::SessionTime { date, zone };
    let local = date
        .and_hms_opt(SESSION_OPEN.0, SESSION_OPEN.1, 0)
        .ok_or_else(|| bad.clone())?;
    zone.from_local_datetime(&local)
        .single()
        .and_then(|t| t.timestamp_nanos_opt())
        .and_then(|n| u64::try_from(n).ok())
        .map(Nanos)
        .ok_or(bad)
}

fn field(
    field: &'static str,
    value: f64,
    allowed: &'static str,
    ok: impl Fn(f64) -> bool,
) -> Result<(), SimError> {
    if value.is_finite() && ok(value) {
        Ok(())
    } else {
        Err(SimError::Field {
            field,
            value,
            allowed,
        })
    }
}

fn validate_symbol(s: &SimSymbol, market_vol: f64) -> Result<(), SimError> {
    let ticker = s.name.len() <= MAX_TICKER_LEN
        && !s.name.is_empty()
        && s.name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.');
    if !ticker {
        return Err(SimError::SymbolName(s.name.clone()));
    }
    let check = |field: &'static str, value: f64, allowed: &'static str, ok: bool| {
        if value.is_finite() && ok {
            Ok(())
        } else {
            Err(SimError::SymbolField {
                symbol: s.name.clone(),
                field,
                value,
                allowed,
            })
        }
    };
    check("start_price", s.start_price, "> 0", s.start_price > 0.0)?;
    check("annual_vol", s.annual_vol, ">= 0", s.annual_vol >= 0.0)?;
    let spread = s.base_spread_bps.0;
    check("base_spread_bps", spread, "in (0, 1000]", {
        spread > 0.0 && spread <= 1000.0
    })?;
    check("adv_usd", s.adv_usd, "> 0", s.adv_usd > 0.0)?;
    check("beta", s.beta, "finite", true)?;
    if (s.beta * market_vol).abs() > s.annual_vol {
        return Err(SimError::Beta {
            symbol: s.name.clone(),
            beta: s.beta,
            market_vol,
            annual_vol: s.annual_vol,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(change: impl FnOnce(&mut SimParams)) -> SimParams {
        let mut p = SimParams::default();
        change(&mut p);
        p
    }

    #[test]
    fn defaults_are_valid() {
        let p = SimParams::default();
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(p.bars_per_session(), 390);
        assert_eq!(p.symbols.len(), 6);
    }

    #[test]
    fn bad_fields_are_named() {
        let p = with(|p| p.bar_minutes = 7);
        assert_eq!(p.validate(), Err(SimError::BarMinutes(7)));
        let p = with(|p| p.symbols[1].start_price = f64::NAN);
        assert!(matches!(
            p.validate(),
            Err(SimError::SymbolField {
                field: "start_price",
                ..
            })
        ));
        let p = with(|p| p.symbols[0].beta = 3.0);
        assert!(matches!(p.validate(), Err(SimError::Beta { .. })));
        let p = with(|p| p.symbols[2].name = "SPY".into());
        assert_eq!(p.validate(), Err(SimError::DuplicateSymbol("SPY".into())));
        let p = with(|p| p.symbols[2].name = "a,b".into());
        assert!(matches!(p.validate(), Err(SimError::SymbolName(_))));
        let p = with(|p| p.days = 0);
        assert_eq!(p.validate(), Err(SimError::Days(0)));
        let p = with(|p| p.quotes_per_bar = 0);
        assert_eq!(p.validate(), Err(SimError::QuotesPerBar(0)));
        let p = with(|p| p.jump_size = Frac(-0.1));
        assert!(matches!(
            p.validate(),
            Err(SimError::Field {
                field: "jump_size",
                ..
            })
        ));
        let p = with(|p| p.symbols.clear());
        assert_eq!(p.validate(), Err(SimError::NoSymbols));
    }

    #[test]
    fn select_keeps_the_given_order() {
        let mut p = SimParams::default();
        p.select_symbols(&["nvda", " SPY"]).unwrap();
        let names: Vec<_> = p.symbols.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["NVDA", "SPY"]);
        assert!(matches!(
            p.select_symbols(&["TSLA"]),
            Err(SimError::UnknownSymbol { .. })
        ));
        assert!(matches!(
            p.select_symbols(&["SPY", "SPY"]),
            Err(SimError::DuplicateSymbol(_))
        ));
    }

    #[test]
    fn sessions_skip_weekends_and_follow_dst() {
        // Friday 2024-03-08 (EST), then Monday 2024-03-11 (EDT).
        let p = SimParams {
            start_date: NaiveDate::from_ymd_opt(2024, 3, 8).unwrap(),
            days: 2,
            ..SimParams::default()
        };
        let opens = p.session_opens().unwrap();
        assert_eq!(crate::iso::format(opens[0]), "2024-03-08T14:30:00Z");
        assert_eq!(crate::iso::format(opens[1]), "2024-03-11T13:30:00Z");
        // A Saturday start rolls to Monday.
        let p = SimParams {
            start_date: NaiveDate::from_ymd_opt(2024, 1, 6).unwrap(),
            days: 1,
            ..p
        };
        assert_eq!(
            crate::iso::format(p.session_opens().unwrap()[0]),
            "2024-01-08T14:30:00Z"
        );
    }
}
