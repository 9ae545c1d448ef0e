//! Phase 2 of loading: raw structs → validated [`EngineConfig`]. Checks
//! every range of SPEC §20 and the cross-key rules, converts units (`_pct`
//! ÷ 100 → [`Frac`], times → [`Nanos`]) and fills absent keys with the
//! defaults. Every violation is collected; an explicit value is never
//! replaced by its default.
//!
//! Cold path: start-up and `config check` only.

use std::path::{Path, PathBuf};

use chrono_tz::Tz;
use serde_json::Value;

use super::error::{Collector, Problem};
use super::raw::{self, RawConfig, ROOT};
use super::sections::*;
use crate::horizon::{parse_minutes, HorizonSet};
use crate::suggest::closest;
use crate::types::{Bps, Frac, Nanos};

/// A raw field as `(key, value)`: `at!(r.max_weight)`.
macro_rules! at {
    ($raw:ident . $field:ident) => {
        (stringify!($field), $raw.$field.clone())
    };
}

/// Validate a raw config; problems go to `errors` (the returned config is
/// only meaningful when none were found).
pub fn validate(raw: &RawConfig, errors: &mut Collector) -> EngineConfig {
    // Sections in file order, so errors come out in file order.
    let horizons = horizons(raw.horizons.as_deref(), errors);
    let volatility = volatility(raw.volatility.as_ref(), errors);
    let data = data(raw.data.as_ref(), errors);
    let standardization = standardization(raw.standardization.as_ref(), errors);
    let capacity_kappa = Section::new(errors, "").number(
        at!(raw.capacity_kappa),
        EngineConfig::default().capacity_kappa,
        Range::POSITIVE,
    );
    let confidence = confidence(raw.confidence.as_ref(), errors);
    let blending = blending(raw.blending.as_ref(), horizons.as_ref(), errors);
    let cost_model = cost_model(raw.cost_model.as_ref(), errors);
    let arbitration = arbitration(raw.arbitration.as_ref(), errors);
    let engine = engine(raw.engine.as_ref(), errors);
    let barrier_gate = barrier_gate(raw.barrier_gate.as_ref(), errors);
    let risk = risk(raw.risk.as_ref(), errors);
    let sizing = sizing(raw.sizing.as_ref(), errors);
    let paper = paper(raw.paper.as_ref(), errors);
    let online_learning = online_learning(raw.online_learning.as_ref(), errors);
    let reconciliation = reconciliation(raw.reconciliation.as_ref(), errors);
    let models = models(raw.models.as_ref());
    let cs_ranking = cs_ranking(raw.cs_ranking.as_ref(), errors);
    let logging = logging(raw.logging.as_ref(), errors);
    let decision = decision(raw.decision.as_ref(), errors);
    let ibkr = ibkr(raw.ibkr.as_ref(), errors);
    let live = live(raw.live.as_ref(), errors);
    EngineConfig {
        horizons: horizons.unwrap_or_else(HorizonSet::default_set),
        volatility,
        data,
        standardization,
        capacity_kappa,
        confidence,
        blending,
        cost_model,
        arbitration,
        engine,
        barrier_gate,
        risk,
        sizing,
        paper,
        online_learning,
        reconciliation,
        models,
        cs_ranking,
        logging,
        decision,
        ibkr,
        live,
    }
}

/// `horizons` (SPEC §1): every entry parsed, then distinct lengths.
/// `None` when the list is invalid (already reported).
fn horizons(raw: Option<&[String]>, errors: &mut Collector) -> Option<HorizonSet> {
    let Some(items) = raw else {
        return Some(HorizonSet::default_set());
    };
    let key = format!("{ROOT}.horizons");
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        if parse_minutes(item).is_err() {
            ok = false;
            errors.push(
                format!("{key}[{i}]"),
                Problem::Invalid {
                    value: format!("{item:?}"),
                    reason: "is not a horizon: expected N followed by m, h or d with N >= 1 \
                             (5m, 2h, 1d)"
                        .to_owned(),
                },
            );
        }
    }
    if !ok {
        return None;
    }
    HorizonSet::parse(items)
        .map_err(|e| {
            errors.push(
                key,
                Problem::Invalid {
                    value: raw::render(&Value::from(items.to_vec())),
                    reason: format!("is rejected: {e}"),
                },
            )
        })
        .ok()
}

fn volatility(r: Option<&raw::RawVolatility>, errors: &mut Collector) -> VolatilityConfig {
    let r = r.cloned().unwrap_or_default();
    let d = VolatilityConfig::default();
    let s = &mut Section::new(errors, "volatility");
    VolatilityConfig {
        bar_minutes: u32::try_from(s.count(at!(r.bar_minutes), d.bar_minutes as usize, 1))
            .unwrap_or(u32::MAX),
        vol_window: s.count(at!(r.vol_window), d.vol_window, 2),
    }
}

fn data(r: Option<&raw::RawData>, errors: &mut Collector) -> DataConfig {
    let r = r.cloned().unwrap_or_default();
    let d = DataConfig::default();
    let s = &mut Section::new(errors, "data");
    DataConfig {
        history_bars: s.count(at!(r.history_bars), d.history_bars, 3),
        backend: s.choice(at!(r.backend), d.backend),
        cache_ttl: s.duration(
            at!(r.cache_ttl_seconds),
            d.cache_ttl,
            Range::NON_NEGATIVE,
            SECONDS,
        ),
        stale_after: s.duration(
            at!(r.stale_after_ms),
            d.stale_after,
            Range::POSITIVE,
            MILLIS,
        ),
        ws_feed: s.choice(at!(r.ws_feed), d.ws_feed),
        ws_url: r.ws_url.as_ref().and_then(|_| s.ws_url(at!(r.ws_url))),
        ws_key_env: s.env_name(at!(r.ws_key_env), &d.ws_key_env),
        ws_secret_env: s.env_name(at!(r.ws_secret_env), &d.ws_secret_env),
        ws_secrets_file: r
            .ws_secrets_file
            .as_ref()
            .map(|_| s.path(at!(r.ws_secrets_file), Path::new(""))),
        ws_roots_pem: r
            .ws_roots_pem
            .as_ref()
            .map(|_| s.path(at!(r.ws_roots_pem), Path::new(""))),
    }
}

fn standardization(
    r: Option<&raw::RawStandardization>,
    errors: &mut Collector,
) -> StandardizationConfig {
    let r = r.cloned().unwrap_or_default();
    let d = StandardizationConfig::default();
    let s = &mut Section::new(errors, "standardization");
    StandardizationConfig {
        window_size: s.count(at!(r.window_size), d.window_size, 3),
        z_clip: s.number(at!(r.z_clip), d.z_clip, Range::POSITIVE),
    }
}

fn confidence(r: Option<&raw::RawConfidence>, errors: &mut Collector) -> ConfidenceConfig {
    let r = r.cloned().unwrap_or_default();
    let d = ConfidenceConfig::default();
    let s = &mut Section::new(errors, "confidence");
    let c = ConfidenceConfig {
        ic_window: s.count(at!(r.ic_window), d.ic_window, 3),
        stability_window: s.count(at!(r.stability_window), d.stability_window, 1),
        min_ic_pairs: s.count(at!(r.min_ic_pairs), d.min_ic_pairs, 3),
        ic_floor: s.number(at!(r.ic_floor), d.ic_floor, Range::UNIT_OPEN),
    };
    if s.all_ok(&["ic_window", "min_ic_pairs"]) && c.min_ic_pairs > c.ic_window {
        s.out_of_range(
            "min_ic_pairs",
            c.min_ic_pairs.to_string(),
            format!("3 <= n <= {ROOT}.confidence.ic_window ({})", c.ic_window),
            None,
        );
    }
    c
}

fn blending(
    r: Option<&raw::RawBlending>,
    horizons: Option<&HorizonSet>,
    errors: &mut Collector,
) -> BlendingConfig {
    let r = r.cloned().unwrap_or_default();
    let d = BlendingConfig::default();
    let s = &mut Section::new(errors, "blending");
    let min_history = s.count(at!(r.min_history), d.min_history, 1);
    let history_size = s.count(at!(r.history_size), d.history_size, 1);
    if s.all_ok(&["min_history", "history_size"]) && history_size < min_history {
        s.out_of_range(
            "history_size",
            history_size.to_string(),
            format!("n >= {ROOT}.blending.min_history ({min_history})"),
            None,
        );
    }
    let default_set = HorizonSet::default_set();
    let set = horizons.unwrap_or(&default_set);
    let temperature = match &r.temperature {
        None => default_temperatures(set),
        Some(map) => {
            let mut seen: Vec<(String, f64)> = Vec::with_capacity(map.len());
            for (key, &t) in map {
                let label = key.trim().to_ascii_lowercase();
                // With an invalid horizon list there is nothing to check against.
                if horizons.is_some() && set.id_of(&label).is_none() {
                    let known: Vec<&str> = set.labels().collect();
                    s.push(
                        &format!("temperature.{key}"),
                        Problem::Invalid {
                            value: format!("{key:?}"),
                            reason: format!(
                                "is not a configured horizon (horizons: {})",
                                known.join(", ")
                            ),
                        },
                    );
                } else if seen.iter().any(|(l, _)| *l == label) {
                    s.push(
                        &format!("temperature.{key}"),
                        Problem::Invalid {
                            value: format!("{key:?}"),
                            reason: format!("is horizon {label} given a second time"),
                        },
                    );
                }
                seen.push((label, t));
            }
            temperatures_for(set, seen.iter().map(|(l, t)| (l.as_str(), *t)))
        }
    };
    BlendingConfig {
        ridge_lambda: s.number(at!(r.ridge_lambda), d.ridge_lambda, Range::POSITIVE),
        cost_penalty: s.number(at!(r.cost_penalty), d.cost_penalty, Range::NON_NEGATIVE),
        history_size,
        min_history,
        temperature,
    }
}

fn cost_model(r: Option<&raw::RawCostModel>, errors: &mut Collector) -> CostModelConfig {
    let r = r.cloned().unwrap_or_default();
    let d = CostModelConfig::default();
    let s = &mut Section::new(errors, "cost_model");
    CostModelConfig {
        k1: s.number(at!(r.k1), d.k1, Range::NON_NEGATIVE),
        k2: s.number(at!(r.k2), d.k2, Range::NON_NEGATIVE),
        k3: s.number(at!(r.k3), d.k3, Range::NON_NEGATIVE),
    }
}

fn arbitration(r: Option<&raw::RawArbitration>, errors: &mut Collector) -> ArbitrationConfig {
    let r = r.cloned().unwrap_or_default();
    let d = ArbitrationConfig::default();
    let s = &mut Section::new(errors, "arbitration");
    ArbitrationConfig {
        entry_threshold_bps: Bps(s.number(
            at!(r.entry_threshold_bps),
            d.entry_threshold_bps.0,
            Range::NON_NEGATIVE,
        )),
        reserve_bps: s.number(at!(r.reserve_bps), d.reserve_bps, Range::NON_NEGATIVE),
    }
}

fn engine(r: Option<&raw::RawEngine>, errors: &mut Collector) -> EngineSettings {
    let r = r.cloned().unwrap_or_default();
    let d = EngineSettings::default();
    let s = &mut Section::new(errors, "engine");
    EngineSettings {
        enable_barrier_gate: r.enable_barrier_gate.unwrap_or(d.enable_barrier_gate),
        enable_spread_gate: r.enable_spread_gate.unwrap_or(d.enable_spread_gate),
        state_path: s.path(at!(r.state_path), &d.state_path),
        history_path: s.path(at!(r.history_path), &d.history_path),
    }
}

fn barrier_gate(r: Option<&raw::RawBarrierGate>, errors: &mut Collector) -> BarrierGateConfig {
    let r = r.cloned().unwrap_or_default();
    let d = BarrierGateConfig::default();
    let s = &mut Section::new(errors, "barrier_gate");
    BarrierGateConfig {
        g_min: s.number(at!(r.g_min), d.g_min, Range::UNIT),
        gamma: s.number(at!(r.gamma), d.gamma, Range::NON_NEGATIVE),
        delta: s.number(at!(r.delta), d.delta, Range::NON_NEGATIVE),
        peak_threshold: s.number(at!(r.peak_threshold), d.peak_threshold, Range::UNIT),
        valley_threshold: s.number(at!(r.valley_threshold), d.valley_threshold, Range::UNIT),
    }
}

fn risk(r: Option<&raw::RawRisk>, errors: &mut Collector) -> RiskConfig {
    let r = r.cloned().unwrap_or_default();
    let d = RiskConfig::default();
    let s = &mut Section::new(errors, "risk");
    RiskConfig {
        spread_max_bps: Bps(s.number(at!(r.spread_max_bps), d.spread_max_bps.0, Range::POSITIVE)),
        quote_age_max: s.duration(
            at!(r.quote_age_max_ms),
            d.quote_age_max,
            Range::POSITIVE,
            MILLIS,
        ),
        max_daily_loss: s.pct(at!(r.max_daily_loss_pct), d.max_daily_loss),
        max_drawdown: s.pct(at!(r.max_drawdown_pct), d.max_drawdown),
        max_position: s.pct(at!(r.max_position_pct), d.max_position),
        max_gross_exposure: s.frac(
            at!(r.max_gross_exposure),
            d.max_gross_exposure,
            Range::POSITIVE,
        ),
        trade_cooldown: s.duration(
            at!(r.trade_cooldown_seconds),
            d.trade_cooldown,
            Range::NON_NEGATIVE,
            SECONDS,
        ),
        session_timezone: s.timezone(at!(r.session_timezone), d.session_timezone),
    }
}

fn sizing(r: Option<&raw::RawSizing>, errors: &mut Collector) -> SizingConfig {
    let r = r.cloned().unwrap_or_default();
    let d = SizingConfig::default();
    let s = &mut Section::new(errors, "sizing");
    SizingConfig {
        z_max: s.number(at!(r.z_max), d.z_max, Range::POSITIVE),
        max_weight: s.frac(at!(r.max_weight), d.max_weight, Range::UNIT_OPEN_LO),
        gross_target: s.frac(at!(r.gross_target), d.gross_target, Range::POSITIVE),
        no_trade_band: s.frac(at!(r.no_trade_band), d.no_trade_band, Range::UNIT_OPEN_HI),
    }
}

fn paper(r: Option<&raw::RawPaper>, errors: &mut Collector) -> PaperConfig {
    let r = r.cloned().unwrap_or_default();
    let d = PaperConfig::default();
    let s = &mut Section::new(errors, "paper");
    PaperConfig {
        initial_cash: s.number(at!(r.initial_cash), d.initial_cash, Range::POSITIVE),
        slippage_bps: Bps(s.number(at!(r.slippage_bps), d.slippage_bps.0, Range::NON_NEGATIVE)),
        fee_bps: Bps(s.number(at!(r.fee_bps), d.fee_bps.0, Range::NON_NEGATIVE)),
    }
}

fn online_learning(
    r: Option<&raw::RawOnlineLearning>,
    errors: &mut Collector,
) -> OnlineLearningConfig {
    let r = r.cloned().unwrap_or_default();
    let d = OnlineLearningConfig::default();
    let s = &mut Section::new(errors, "online_learning");
    let min_samples = s.count(at!(r.min_samples), d.min_samples as usize, 0) as u64;
    OnlineLearningConfig {
        enabled: r.enabled.unwrap_or(d.enabled),
        eta_max: s.number(at!(r.eta_max), d.eta_max, Range::POSITIVE),
        reward_clip_bps: Bps(s.number(
            at!(r.reward_clip_bps),
            d.reward_clip_bps.0,
            Range::POSITIVE,
        )),
        blend_ratio: s.number(at!(r.blend_ratio), d.blend_ratio, Range::UNIT),
        min_samples,
        // Absent: follows min_samples (SPEC §17.1).
        ramp_up_samples: s.count(at!(r.ramp_up_samples), min_samples as usize, 0) as u64,
        gamma: r.gamma,
    }
}

fn reconciliation(
    r: Option<&raw::RawReconciliation>,
    errors: &mut Collector,
) -> ReconciliationConfig {
    let r = r.cloned().unwrap_or_default();
    let d = ReconciliationConfig::default();
    let s = &mut Section::new(errors, "reconciliation");
    ReconciliationConfig {
        mode: s.choice(at!(r.mode), d.mode),
        periodic_interval: s.count(at!(r.periodic_interval), d.periodic_interval as usize, 1)
            as u64,
        qty_tolerance: s.number(at!(r.qty_tolerance), d.qty_tolerance, Range::NON_NEGATIVE),
    }
}

fn models(r: Option<&raw::RawModels>) -> ModelsConfig {
    let r = r.cloned().unwrap_or_default();
    let d = ModelsConfig::default();
    ModelsConfig {
        verify_checksums: r.verify_checksums.unwrap_or(d.verify_checksums),
        strict_checksums: r.strict_checksums.unwrap_or(d.strict_checksums),
    }
}

fn cs_ranking(r: Option<&raw::RawCsRanking>, errors: &mut Collector) -> CsRankingConfig {
    let r = r.cloned().unwrap_or_default();
    let d = CsRankingConfig::default();
    let s = &mut Section::new(errors, "cs_ranking");
    CsRankingConfig {
        min_universe_size: s.count(at!(r.min_universe_size), d.min_universe_size, 1),
    }
}

fn logging(r: Option<&raw::RawLogging>, errors: &mut Collector) -> LoggingConfig {
    let r = r.cloned().unwrap_or_default();
    let d = LoggingConfig::default();
    let s = &mut Section::new(errors, "logging");
    let state_path = r
        .state_path
        .as_ref()
        .map(|_| s.path(at!(r.state_path), Path::new("")));
    LoggingConfig {
        level: s.choice(at!(r.level), d.level),
        trade_log_dir: s.path(at!(r.trade_log_dir), &d.trade_log_dir),
        state_path,
    }
}

fn decision(r: Option<&raw::RawDecision>, errors: &mut Collector) -> DecisionConfig {
    let r = r.cloned().unwrap_or_default();
    let d = DecisionConfig::default();
    let s = &mut Section::new(errors, "decision");
    DecisionConfig {
        trigger: s.choice(at!(r.trigger), d.trigger),
        interval: s.duration(
            at!(r.interval_seconds),
            d.interval,
            Range::POSITIVE,
            SECONDS,
        ),
    }
}

/// Largest IB API client id (`2^31 - 1`).
const MAX_CLIENT_ID: i64 = i32::MAX as i64;
/// IB's limit on messages per second from one client.
const IB_MAX_MSGS_PER_SEC: i64 = 50;

fn ibkr(r: Option<&raw::RawIbkr>, errors: &mut Collector) -> IbkrConfig {
    let r = r.cloned().unwrap_or_default();
    let d = IbkrConfig::default();
    let s = &mut Section::new(errors, "ibkr");
    let host = s.host(at!(r.host), &d.host);
    let port = s.int_in(at!(r.port), i64::from(d.port), 1, i64::from(u16::MAX));
    let client_id = s.int_in(at!(r.client_id), i64::from(d.client_id), 0, MAX_CLIENT_ID);
    // Absent: the next id after client_id (0 after the largest).
    let md_default = if client_id < MAX_CLIENT_ID {
        client_id + 1
    } else {
        0
    };
    let md_client_id = s.int_in(at!(r.md_client_id), md_default, 0, MAX_CLIENT_ID);
    if s.all_ok(&["client_id", "md_client_id"]) && md_client_id == client_id {
        s.fail(
            "md_client_id",
            Problem::Invalid {
                value: md_client_id.to_string(),
                reason: format!(
                    "equals {ROOT}.ibkr.client_id: the market-data connection needs its own client id (IB drops a second connection with the same id); remove the key to use client_id + 1"
                ),
            },
        );
    }
    let account = s.account(at!(r.account));
    let connect_timeout = s.duration(
        at!(r.connect_timeout_ms),
        d.connect_timeout,
        Range::POSITIVE,
        MILLIS,
    );
    let reconnect_base = s.duration(
        at!(r.reconnect_base_ms),
        d.reconnect_base,
        Range::POSITIVE,
        MILLIS,
    );
    let reconnect_max = s.duration(
        at!(r.reconnect_max_ms),
        d.reconnect_max,
        Range::POSITIVE,
        MILLIS,
    );
    if s.all_ok(&["reconnect_base_ms", "reconnect_max_ms"]) && reconnect_max < reconnect_base {
        s.out_of_range(
            "reconnect_max_ms",
            per_ms(reconnect_max),
            format!(
                "x >= {ROOT}.ibkr.reconnect_base_ms ({})",
                per_ms(reconnect_base)
            ),
            None,
        );
    }
    IbkrConfig {
        host,
        port: u16::try_from(port).unwrap_or(d.port),
        client_id: i32::try_from(client_id).unwrap_or(d.client_id),
        md_client_id: i32::try_from(md_client_id).unwrap_or(d.md_client_id),
        account,
        connect_timeout,
        reconnect_base,
        reconnect_max,
        probe_idle: s.duration(at!(r.probe_idle_ms), d.probe_idle, Range::POSITIVE, MILLIS),
        probe_timeout: s.duration(
            at!(r.probe_timeout_ms),
            d.probe_timeout,
            Range::POSITIVE,
            MILLIS,
        ),
        max_msgs_per_sec: u32::try_from(s.int_in(
            at!(r.max_msgs_per_sec),
            i64::from(d.max_msgs_per_sec),
            1,
            IB_MAX_MSGS_PER_SEC,
        ))
        .unwrap_or(d.max_msgs_per_sec),
        market_data_type: s.choice(at!(r.market_data_type), d.market_data_type),
        commission_timeout: s.duration(
            at!(r.commission_timeout_ms),
            d.commission_timeout,
            Range::POSITIVE,
            MILLIS,
        ),
        order_ids_path: s.path(at!(r.order_ids_path), &d.order_ids_path),
        exchange: s.code(at!(r.exchange), &d.exchange, CodeKind::Exchange),
        currency: s.code(at!(r.currency), &d.currency, CodeKind::Currency),
    }
}

/// A time in milliseconds, for messages.
fn per_ms(t: Nanos) -> String {
    (t.0 as f64 / MILLIS as f64).to_string()
}

fn live(r: Option<&raw::RawLive>, errors: &mut Collector) -> LiveConfig {
    let r = r.cloned().unwrap_or_default();
    let d = LiveConfig::default();
    let s = &mut Section::new(errors, "live");
    LiveConfig {
        min_backtest_sharpe: s.number(
            at!(r.min_backtest_sharpe),
            d.min_backtest_sharpe,
            Range::FINITE,
        ),
        min_paper_days: u32::try_from(s.int_in(
            at!(r.min_paper_days),
            i64::from(d.min_paper_days),
            0,
            i64::from(u32::MAX),
        ))
        .unwrap_or(d.min_paper_days),
        backtest_report: r
            .backtest_report
            .as_ref()
            .map(|_| s.path(at!(r.backtest_report), Path::new(""))),
        entry_window: s.entry_window(at!(r.entry_window), d.entry_window),
        entry_window_brokers: s.choice(at!(r.entry_window_brokers), d.entry_window_brokers),
    }
}

/// Which short code [`Section::code`] checks.
#[derive(Clone, Copy, Debug)]
enum CodeKind {
    /// IB exchange: 1 to 16 of `A-Z0-9` (`SMART`, `ISLAND`, `ARCA`).
    Exchange,
    /// ISO 4217: three capital letters (`USD`).
    Currency,
}

/// Nanoseconds per unit of a time key.
const SECONDS: u64 = Nanos::PER_SEC;
const MILLIS: u64 = Nanos::PER_MILLI;

/// An allowed interval for a number; every bound also requires finiteness.
#[derive(Clone, Copy, Debug)]
struct Range {
    lo: Bound,
    hi: Bound,
}

#[derive(Clone, Copy, Debug)]
enum Bound {
    None,
    /// Excluded.
    Open(f64),
    /// Included.
    Closed(f64),
}

impl Range {
    const POSITIVE: Range = Range {
        lo: Bound::Open(0.0),
        hi: Bound::None,
    };
    const NON_NEGATIVE: Range = Range {
        lo: Bound::Closed(0.0),
        hi: Bound::None,
    };
    /// [0, 1]
    const UNIT: Range = Range {
        lo: Bound::Closed(0.0),
        hi: Bound::Closed(1.0),
    };
    /// (0, 1]
    const UNIT_OPEN_LO: Range = Range {
        lo: Bound::Open(0.0),
        hi: Bound::Closed(1.0),
    };
    /// [0, 1)
    const UNIT_OPEN_HI: Range = Range {
        lo: Bound::Closed(0.0),
        hi: Bound::Open(1.0),
    };
    /// (0, 1)
    const UNIT_OPEN: Range = Range {
        lo: Bound::Open(0.0),
        hi: Bound::Open(1.0),
    };
    /// Any finite number.
    const FINITE: Range = Range {
        lo: Bound::None,
        hi: Bound::None,
    };
    /// (0, 100], for `_pct` keys.
    const PERCENT: Range = Range {
        lo: Bound::Open(0.0),
        hi: Bound::Closed(100.0),
    };

    fn contains(self, v: f64) -> bool {
        let lo = match self.lo {
            Bound::None => true,
            Bound::Open(b) => v > b,
            Bound::Closed(b) => v >= b,
        };
        let hi = match self.hi {
            Bound::None => true,
            Bound::Open(b) => v < b,
            Bound::Closed(b) => v <= b,
        };
        v.is_finite() && lo && hi
    }

    /// SPEC style: `0 < pct <= 100`, `x >= 0`.
    fn describe(self, var: &str) -> String {
        match (self.lo, self.hi) {
            (Bound::None, Bound::None) => format!("finite {var}"),
            (lo, Bound::None) => match lo {
                Bound::Open(b) => format!("{var} > {b}"),
                _ => format!("{var} >= {}", lo.value()),
            },
            (Bound::None, hi) => match hi {
                Bound::Open(b) => format!("{var} < {b}"),
                _ => format!("{var} <= {}", hi.value()),
            },
            (lo, hi) => format!(
                "{} {} {var} {} {}",
                lo.value(),
                lo.op(),
                hi.op(),
                hi.value()
            ),
        }
    }

    /// Whether the range tops out at 1 (a fraction key with an upper bound).
    fn is_fraction(self) -> bool {
        matches!(self.hi, Bound::Open(b) | Bound::Closed(b) if b <= 1.0)
    }
}

impl Bound {
    fn value(self) -> f64 {
        match self {
            Bound::None => f64::NAN,
            Bound::Open(b) | Bound::Closed(b) => b,
        }
    }

    fn op(self) -> &'static str {
        match self {
            Bound::Open(_) => "<",
            _ => "<=",
        }
    }
}

/// The keys of one section being validated (`section` empty: keys directly
/// under `live_trading`).
struct Section<'a> {
    errors: &'a mut Collector,
    prefix: String,
    /// Keys of this section reported so far.
    failed: Vec<&'static str>,
}

impl<'a> Section<'a> {
    fn new(errors: &'a mut Collector, section: &str) -> Section<'a> {
        let prefix = if section.is_empty() {
            ROOT.to_owned()
        } else {
            format!("{ROOT}.{section}")
        };
        Section {
            errors,
            prefix,
            failed: Vec::new(),
        }
    }

    fn push(&mut self, name: &str, problem: Problem) {
        self.errors.push(format!("{}.{name}", self.prefix), problem);
    }

    fn fail(&mut self, name: &'static str, problem: Problem) {
        self.failed.push(name);
        self.push(name, problem);
    }

    fn out_of_range(
        &mut self,
        name: &'static str,
        value: String,
        allowed: String,
        hint: Option<String>,
    ) {
        self.fail(
            name,
            Problem::OutOfRange {
                value,
                allowed,
                hint,
            },
        );
    }

    /// Whether none of `names` has been reported (for cross-key rules).
    fn all_ok(&self, names: &[&str]) -> bool {
        names.iter().all(|n| !self.failed.contains(n))
    }

    fn number(
        &mut self,
        (name, raw): (&'static str, Option<f64>),
        default: f64,
        range: Range,
    ) -> f64 {
        match raw {
            None => default,
            Some(v) if range.contains(v) => v,
            Some(v) => {
                self.out_of_range(name, v.to_string(), range.describe("x"), None);
                default
            }
        }
    }

    /// A weight or limit given as a fraction; a percent in its place (1 <
    /// x <= 100 where the range ends at 1) gets a hint.
    fn frac(
        &mut self,
        (name, raw): (&'static str, Option<f64>),
        default: Frac,
        range: Range,
    ) -> Frac {
        match raw {
            None => default,
            Some(v) if range.contains(v) => Frac(v),
            Some(v) => {
                let hint = (range.is_fraction() && v > 1.0 && v <= 100.0).then(|| {
                    format!(
                        "`{name}` is a fraction, not a percent: {v} % is {}",
                        v / 100.0
                    )
                });
                self.out_of_range(name, v.to_string(), range.describe("x"), hint);
                default
            }
        }
    }

    /// A `_pct` key: percent in the file (0 < pct ≤ 100), fraction inside.
    fn pct(&mut self, (name, raw): (&'static str, Option<f64>), default: Frac) -> Frac {
        match raw {
            None => default,
            Some(v) if Range::PERCENT.contains(v) => Frac(v / 100.0),
            Some(v) => {
                self.out_of_range(name, v.to_string(), Range::PERCENT.describe("pct"), None);
                default
            }
        }
    }

    /// An integer key with a lower bound.
    fn count(
        &mut self,
        (name, raw): (&'static str, Option<i64>),
        default: usize,
        min: i64,
    ) -> usize {
        match raw {
            None => default,
            Some(n) if n >= min => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => {
                self.out_of_range(name, n.to_string(), format!("n >= {min}"), None);
                default
            }
        }
    }

    /// An integer key within `lo <= n <= hi`.
    fn int_in(
        &mut self,
        (name, raw): (&'static str, Option<i64>),
        default: i64,
        lo: i64,
        hi: i64,
    ) -> i64 {
        match raw {
            None => default,
            Some(n) if (lo..=hi).contains(&n) => n,
            Some(n) => {
                self.out_of_range(name, n.to_string(), format!("{lo} <= n <= {hi}"), None);
                default
            }
        }
    }

    /// A host name (letters, digits and `-` in dot-separated labels) or an
    /// IP address; no scheme, port or blanks.
    fn host(&mut self, (name, raw): (&'static str, Option<String>), default: &str) -> String {
        let Some(text) = raw else {
            return default.to_owned();
        };
        let is_ip = text.parse::<std::net::IpAddr>().is_ok();
        let is_name = !text.is_empty()
            && text.len() <= 253
            && text.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if is_ip || is_name {
            return text;
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason: "is not a host name or IP address (e.g. 127.0.0.1 or gateway.local); no scheme, port or blanks: the port is ibkr.port"
                .to_owned(),
        };
        self.fail(name, problem);
        default.to_owned()
    }

    /// An exchange or currency code.
    fn code(
        &mut self,
        (name, raw): (&'static str, Option<String>),
        default: &str,
        kind: CodeKind,
    ) -> String {
        let Some(text) = raw else {
            return default.to_owned();
        };
        let (ok, expected) = match kind {
            CodeKind::Exchange => (
                (1..=16).contains(&text.len())
                    && text
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
                "is not an IB exchange code: expected 1 to 16 of A-Z and 0-9 (SMART, ISLAND, ARCA)",
            ),
            CodeKind::Currency => (
                text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()),
                "is not a currency code: expected three capital letters (USD, EUR)",
            ),
        };
        if ok {
            return text;
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason: expected.to_owned(),
        };
        self.fail(name, problem);
        default.to_owned()
    }

    /// An optional IB account code (`[A-Z]{1,3}[0-9]+`).
    fn account(&mut self, (name, raw): (&'static str, Option<String>)) -> Option<IbAccount> {
        let text = raw?;
        if let Some(a) = IbAccount::parse(&text) {
            return Some(a);
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason: "is not an IB account code: expected 1 to 3 capital letters then digits (DU1234567 for paper, U1234567 for live); remove the key to use the gateway's only account"
                .to_owned(),
        };
        self.fail(name, problem);
        None
    }

    fn entry_window(
        &mut self,
        (name, raw): (&'static str, Option<String>),
        default: EntryWindowSpec,
    ) -> EntryWindowSpec {
        let Some(text) = raw else { return default };
        if let Some(w) = EntryWindowSpec::parse(&text) {
            return w;
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason: format!(
                "is not an entry window: expected {} in risk.session_timezone, e.g. 09:45-15:30",
                EntryWindowSpec::NAMES
            ),
        };
        self.fail(name, problem);
        default
    }

    /// A time key in `unit` (nanoseconds per unit), rounded to whole ns.
    fn duration(
        &mut self,
        (name, raw): (&'static str, Option<f64>),
        default: Nanos,
        range: Range,
        unit: u64,
    ) -> Nanos {
        let Some(v) = raw else { return default };
        if !range.contains(v) {
            self.out_of_range(name, v.to_string(), range.describe("x"), None);
            return default;
        }
        let ns = (v * unit as f64).round();
        if ns >= u64::MAX as f64 {
            let allowed = format!("x < {}", u64::MAX / unit);
            self.out_of_range(name, v.to_string(), allowed, None);
            return default;
        }
        if ns == 0.0 && v > 0.0 {
            let allowed = format!("{} and at least 1 ns", range.describe("x"));
            self.out_of_range(name, v.to_string(), allowed, None);
            return default;
        }
        Nanos(ns as u64)
    }

    fn path(&mut self, (name, raw): (&'static str, Option<String>), default: &Path) -> PathBuf {
        match raw {
            None => default.to_path_buf(),
            Some(p) if !p.trim().is_empty() => PathBuf::from(p),
            Some(p) => {
                let problem = Problem::Invalid {
                    value: format!("{p:?}"),
                    reason: "is empty; expected a file path".to_owned(),
                };
                self.fail(name, problem);
                default.to_path_buf()
            }
        }
    }

    fn choice<C: Choice>(&mut self, (name, raw): (&'static str, Option<String>), default: C) -> C {
        let Some(text) = raw else { return default };
        match C::from_name(&text.trim().to_ascii_lowercase()) {
            Some(c) => c,
            None => {
                let problem = Problem::NotOneOf {
                    value: format!("{text:?}"),
                    allowed: C::NAMES,
                };
                self.fail(name, problem);
                default
            }
        }
    }

    /// A `ws://` or `wss://` URL with a host.
    fn ws_url(&mut self, (name, raw): (&'static str, Option<String>)) -> Option<String> {
        let text = raw?;
        let t = text.trim();
        let rest = t.strip_prefix("ws://").or_else(|| t.strip_prefix("wss://"));
        if rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
            return Some(t.to_owned());
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason:
                "is not a websocket URL; expected ws://HOST[:PORT]/PATH or wss://HOST[:PORT]/PATH"
                    .to_owned(),
        };
        self.fail(name, problem);
        None
    }

    /// The name of an environment variable (`[A-Za-z_][A-Za-z0-9_]*`).
    fn env_name(&mut self, (name, raw): (&'static str, Option<String>), default: &str) -> String {
        let Some(text) = raw else {
            return default.to_owned();
        };
        let ok = text
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            return text;
        }
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason: "is not an environment variable name (letters, digits, _); put the NAME of the variable here, never the key itself".to_owned(),
        };
        self.fail(name, problem);
        default.to_owned()
    }

    fn timezone(&mut self, (name, raw): (&'static str, Option<String>), default: Tz) -> Tz {
        let Some(text) = raw else { return default };
        if let Ok(tz) = text.parse::<Tz>() {
            return tz;
        }
        let names: Vec<&'static str> = chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name()).collect();
        let reason = match closest(text.trim(), &names) {
            Some(name) => format!("is not an IANA time zone name; did you mean `{name}`?"),
            None => "is not an IANA time zone name (e.g. America/New_York)".to_owned(),
        };
        let problem = Problem::Invalid {
            value: format!("{text:?}"),
            reason,
        };
        self.fail(name, problem);
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_read_like_spec() {
        assert_eq!(Range::PERCENT.describe("pct"), "0 < pct <= 100");
        assert_eq!(Range::POSITIVE.describe("x"), "x > 0");
        assert_eq!(Range::NON_NEGATIVE.describe("x"), "x >= 0");
        assert_eq!(Range::UNIT_OPEN_HI.describe("x"), "0 <= x < 1");
        assert!(Range::UNIT.contains(0.0) && Range::UNIT.contains(1.0));
        assert!(!Range::UNIT_OPEN.contains(0.0) && !Range::UNIT_OPEN.contains(1.0));
        assert!(!Range::NON_NEGATIVE.contains(f64::INFINITY));
        assert!(!Range::NON_NEGATIVE.contains(f64::NAN));
    }

    #[test]
    fn durations_round_to_whole_nanoseconds() {
        let mut c = Collector::new("f", Vec::new());
        let mut s = Section::new(&mut c, "risk");
        assert_eq!(
            s.duration(("a", Some(0.1)), Nanos::ZERO, Range::POSITIVE, MILLIS),
            Nanos(100_000)
        );
        assert_eq!(
            s.duration(("b", Some(1e-12)), Nanos(7), Range::POSITIVE, MILLIS),
            Nanos(7)
        );
        assert_eq!(
            s.duration(("c", Some(1e30)), Nanos(7), Range::POSITIVE, SECONDS),
            Nanos(7)
        );
        let errs: Vec<String> = c.finish().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            errs,
            [
                "f: live_trading.risk.b: 0.000000000001 is outside x > 0 and at least 1 ns",
                "f: live_trading.risk.c: 1000000000000000000000000000000 is outside x < 18446744073",
            ]
        );
    }
}
