//! The reason-code catalogue (SPEC §19): every code a decision, gate, kill
//! switch, broker rejection or config check can carry.
//!
//! `code()` is the snake_case wire name used in vectors and journals; `text()`
//! is the human sentence for cold-path logs. Neither allocates.

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $text:literal; )*) => {
        /// A machine-readable reason attached to decisions, gates, kills and
        /// rejections.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason in catalogue order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant),*];

            /// The snake_case code (`"below_threshold"`).
            pub const fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// A human sentence for logs and reports.
            pub const fn text(self) -> &'static str {
                match self { $(Reason::$variant => $text,)* }
            }

            /// The reason with the given snake_case code.
            pub fn from_code(code: &str) -> Option<Reason> {
                match code { $($code => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    // TRADE
    AboveThreshold => "above_threshold", "arbiter passed, sized and filled";
    PeakExit => "peak_exit", "long closed: peak probability above exit threshold";
    ValleyExit => "valley_exit", "short closed: valley probability above exit threshold";
    AlphaExit => "alpha_exit", "position closed: base-horizon alpha turned against it";
    // HOLD: spread gate
    NoQuote => "no_quote", "no quote for the symbol";
    InvalidSpread => "invalid_spread", "spread is not a finite non-negative number";
    SpreadTooWide => "spread_too_wide", "spread above risk.spread_max_bps";
    QuoteStale => "quote_stale", "quote older than risk.quote_age_max_ms";
    // HOLD: data, arbiter, sizing, cooldown, internal
    InsufficientHistory => "insufficient_history", "fewer than 2 valid bar returns for volatility";
    NoAlphas => "no_alphas", "no horizon produced an alpha";
    BelowThreshold => "below_threshold", "best horizon score below the entry threshold";
    NoSignal => "no_signal", "best horizon alpha is exactly zero";
    NoTradeBand => "no_trade_band", "weight change inside the no-trade band";
    ZeroShares => "zero_shares", "sized trade rounds to zero shares";
    Cooldown => "cooldown", "a fill for this symbol is within the cooldown";
    Error => "error", "internal error";
    // BLOCKED
    BarrierPeakBlock => "barrier_peak_block", "long entry blocked: peak probability too high";
    BarrierValleyBlock => "barrier_valley_block", "short entry blocked: valley probability too high";
    KillSwitch => "kill_switch", "trading halted: only reductions allowed";
    PositionLimit => "position_limit", "target weight above risk.max_position_pct";
    GrossExposure => "gross_exposure", "trade would breach gross exposure or position limits";
    OrderRejected => "order_rejected", "the broker rejected the order";
    OrderPending => "order_pending", "an earlier order for the symbol is still working at the broker";
    OutsideTradingHours => "outside_trading_hours", "entry outside the trading-hours window (live.entry_window)";
    // Gate-level and validation outcomes
    SpreadOk => "spread_ok", "spread and quote age within limits";
    NormalEntry => "normal_entry", "entry allowed";
    ValleyBounce => "valley_bounce", "long entry allowed with valley bounce";
    PeakRejection => "peak_rejection", "short entry allowed with peak rejection";
    NoBarrierModel => "no_barrier_model", "no barrier classifier: gate disabled";
    HoldPosition => "hold_position", "no exit condition";
    Flat => "flat", "no position";
    AllChecks => "all_checks", "all risk checks passed";
    // Trace
    ModelDemoted => "model_demoted", "measured IC at or below -ic_floor: model demoted";
    // Kill reasons and guardrail events
    DailyLoss => "daily_loss", "daily loss limit breached";
    Drawdown => "drawdown", "drawdown limit breached";
    ManualKill => "manual_kill", "operator kill switch";
    FeedStale => "feed_stale", "market data stopped (data.stale_after_ms): entries halted until it flows again";
    BrokerDown => "broker_down", "the live broker is disconnected, degraded or not yet reconciled: entries halted until it is reconciled";
    NonPositiveEquity => "non_positive_equity", "portfolio value is not positive";
    KillSwitchTriggered => "kill_switch_triggered", "kill switch triggered";
    KillSwitchCleared => "kill_switch_cleared", "kill switch cleared on a new trading date";
    Paused => "paused", "operator pause";
    GrossExposureWarning => "gross_exposure_warning", "gross exposure above 90% of its limit";
    // Broker rejections
    InsufficientFunds => "insufficient_funds", "not enough cash for the buy";
    InsufficientMargin => "insufficient_margin", "not enough cash to cover the short";
    InvalidSide => "invalid_side", "order side is neither BUY nor SELL";
    InvalidQuantity => "invalid_quantity", "order quantity is not a positive finite number";
    OrderCancelled => "order_cancelled", "the broker cancelled the order (its unfilled rest)";
    BrokerRejected => "broker_rejected", "the live broker rejected the order (see its error code in the log)";
    // Config
    ConfigError => "config_error", "invalid configuration";
    InvalidHorizon => "invalid_horizon", "horizon is not N followed by m, h or d";
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &r in Reason::ALL {
            assert!(seen.insert(r.code()), "duplicate code {}", r.code());
            assert_eq!(Reason::from_code(r.code()), Some(r));
            assert!(!r.text().is_empty());
        }
        assert_eq!(Reason::from_code("nope"), None);
    }

    #[test]
    fn catalogue_covers_spec_section_19() {
        let spec = [
            "above_threshold",
            "peak_exit",
            "valley_exit",
            "alpha_exit",
            "no_quote",
            "invalid_spread",
            "spread_too_wide",
            "quote_stale",
            "insufficient_history",
            "no_alphas",
            "below_threshold",
            "no_signal",
            "no_trade_band",
            "zero_shares",
            "cooldown",
            "barrier_peak_block",
            "barrier_valley_block",
            "kill_switch",
            "position_limit",
            "gross_exposure",
            "order_rejected",
            "insufficient_funds",
            "insufficient_margin",
            "invalid_side",
            "invalid_quantity",
            "error",
            "spread_ok",
            "normal_entry",
            "valley_bounce",
            "peak_rejection",
            "no_barrier_model",
            "hold_position",
            "model_demoted",
            "daily_loss",
            "drawdown",
            "manual_kill",
            "non_positive_equity",
            "paused",
            "gross_exposure_warning",
            "config_error",
            "invalid_horizon",
        ];
        for code in spec {
            assert!(Reason::from_code(code).is_some(), "missing {code}");
        }
    }
}
