//! Spread gate (SPEC §12): a symbol trades only on a present, valid, tight
//! and fresh quote. Quote age uses the injected event clock (the cycle's
//! decision time), never the wall clock.
//!
//! Engine thread, first stage of every symbol's decision. Hot path: no
//! allocation, no blocking, no logging.
//!
//! Checks in order: no quote → `no_quote`; spread NaN, ±∞ or < 0 →
//! `invalid_spread`; spread > `spread_max_bps` → `spread_too_wide`; age >
//! `quote_age_max_ms` → `quote_stale`; else `spread_ok`. Limits pass
//! (strict comparisons), negative ages pass, a quote without a time skips the
//! age check, and a disabled gate skips only the last two checks.

pub use crate::market::quote::{spread_bps, Quote};
use crate::types::{Bps, Nanos, Reason};

/// Spread-gate settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpreadGateParams {
    /// `risk.spread_max_bps`: widest spread allowed (> 0).
    pub spread_max_bps: Bps,
    /// `risk.quote_age_max_ms`: oldest quote allowed, in milliseconds (> 0).
    pub quote_age_max_ms: f64,
    /// `engine.enable_spread_gate`: when false only presence and validity of
    /// the quote are checked.
    pub enabled: bool,
}

impl Default for SpreadGateParams {
    fn default() -> Self {
        SpreadGateParams {
            spread_max_bps: Bps(12.0),
            quote_age_max_ms: 200.0,
            enabled: true,
        }
    }
}

/// The spread and age of a present quote, already measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuoteMetrics {
    /// Quoted spread in bps (may be NaN or ±∞ for an invalid quote).
    pub spread_bps: f64,
    /// `(decision time − quote time)` in ms; `None` skips the age check.
    pub quote_age_ms: Option<f64>,
}

/// The gate's verdict.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpreadOutcome {
    pub allowed: bool,
    /// `spread_ok` or the failing check's reason.
    pub reason: Reason,
    /// The measured spread; `None` when there is no quote.
    pub spread_bps: Option<f64>,
    /// The quote age; `None` unless the quote has a time and its spread
    /// passed the spread checks.
    pub quote_age_ms: Option<f64>,
}

/// The spread gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SpreadGate {
    params: SpreadGateParams,
}

impl SpreadGate {
    pub fn new(params: SpreadGateParams) -> SpreadGate {
        SpreadGate { params }
    }

    pub fn params(&self) -> &SpreadGateParams {
        &self.params
    }

    /// Gate a symbol's quote (`None`: no quote this cycle) at the cycle's
    /// decision time.
    pub fn check_quote(&self, quote: Option<&Quote>, decision_time: Nanos) -> SpreadOutcome {
        self.check(quote.map(|q| QuoteMetrics {
            spread_bps: spread_bps(q.bid, q.ask),
            quote_age_ms: q.time.map(|t| decision_time.millis_since(t)),
        }))
    }

    /// Gate already-measured quote metrics (`None`: no quote).
    pub fn check(&self, quote: Option<QuoteMetrics>) -> SpreadOutcome {
        let Some(q) = quote else {
            return SpreadOutcome {
                allowed: false,
                reason: Reason::NoQuote,
                spread_bps: None,
                quote_age_ms: None,
            };
        };
        let spread = q.spread_bps;
        let blocked = |reason, quote_age_ms| SpreadOutcome {
            allowed: false,
            reason,
            spread_bps: Some(spread),
            quote_age_ms,
        };
        if !spread.is_finite() || spread < 0.0 {
            return blocked(Reason::InvalidSpread, None);
        }
        if self.params.enabled {
            if spread > self.params.spread_max_bps.0 {
                return blocked(Reason::SpreadTooWide, None);
            }
            if q.quote_age_ms
                .is_some_and(|age| age > self.params.quote_age_max_ms)
            {
                return blocked(Reason::QuoteStale, q.quote_age_ms);
            }
        }
        SpreadOutcome {
            allowed: true,
            reason: Reason::SpreadOk,
            spread_bps: Some(spread),
            quote_age_ms: q.quote_age_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Nanos = Nanos(1_704_207_600_000_000_000);

    fn quote(bid: f64, ask: f64, age_ms: u64) -> Quote {
        Quote {
            bid,
            ask,
            time: Some(Nanos(T.0 - age_ms * Nanos::PER_MILLI)),
        }
    }

    #[test]
    fn spread_of_bad_prices() {
        assert!(spread_bps(f64::NAN, 100.0).is_nan());
        assert!(spread_bps(0.0, f64::INFINITY).is_nan());
        assert_eq!(spread_bps(0.0, 100.0), f64::INFINITY);
        assert_eq!(spread_bps(-1.0, 100.0), f64::INFINITY);
        assert_eq!(spread_bps(100.0, 100.0), 0.0);
        assert!(spread_bps(100.1, 100.0) < 0.0);
    }

    #[test]
    fn checks_run_in_spec_order() {
        let g = SpreadGate::new(SpreadGateParams::default());
        let reason = |q: Option<&Quote>| g.check_quote(q, T).reason;
        assert_eq!(reason(None), Reason::NoQuote);
        assert_eq!(
            reason(Some(&quote(100.1, 100.0, 5000))),
            Reason::InvalidSpread
        );
        assert_eq!(
            reason(Some(&quote(99.9, 100.1, 5000))),
            Reason::SpreadTooWide
        );
        assert_eq!(reason(Some(&quote(99.99, 100.01, 201))), Reason::QuoteStale);
        assert_eq!(reason(Some(&quote(99.99, 100.01, 200))), Reason::SpreadOk);
    }

    #[test]
    fn limits_pass_and_future_or_untimed_quotes_pass() {
        let g = SpreadGate::new(SpreadGateParams::default());
        let at_limit = QuoteMetrics {
            spread_bps: 12.0,
            quote_age_ms: Some(200.0),
        };
        assert!(g.check(Some(at_limit)).allowed);
        let future = g.check_quote(Some(&quote(99.99, 100.01, 0)), Nanos(T.0 - 300_000_000));
        assert!(future.allowed);
        assert_eq!(future.quote_age_ms, Some(-300.0));
        let untimed = Quote {
            time: None,
            ..quote(99.99, 100.01, 0)
        };
        let out = g.check_quote(Some(&untimed), T);
        assert!(out.allowed && out.quote_age_ms.is_none());
    }

    #[test]
    fn age_is_reported_only_past_the_spread_checks() {
        let g = SpreadGate::new(SpreadGateParams::default());
        let wide = g.check_quote(Some(&quote(99.9, 100.1, 5000)), T);
        assert_eq!((wide.spread_bps.is_some(), wide.quote_age_ms), (true, None));
        let stale = g.check_quote(Some(&quote(99.99, 100.01, 250)), T);
        assert_eq!(stale.quote_age_ms, Some(250.0));
    }

    #[test]
    fn disabled_gate_still_needs_a_valid_quote() {
        let g = SpreadGate::new(SpreadGateParams {
            enabled: false,
            ..SpreadGateParams::default()
        });
        assert_eq!(g.check_quote(None, T).reason, Reason::NoQuote);
        let zero_bid = g.check_quote(Some(&quote(0.0, 100.0, 0)), T);
        assert_eq!(zero_bid.reason, Reason::InvalidSpread);
        let wide_stale = g.check_quote(Some(&quote(90.0, 110.0, 60_000)), T);
        assert_eq!(wide_stale.reason, Reason::SpreadOk);
    }
}
