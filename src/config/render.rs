//! The resolved config written back in the file's keys and units (percent
//! for `_pct` keys, seconds or milliseconds for times), for `config check`
//! and logs. Loading the rendered text gives the same [`EngineConfig`].
//!
//! Cold path.

use std::fmt;
use std::path::Path;

use serde_json::{json, Map, Value};

use super::raw::ROOT;
use super::sections::{Choice, EngineConfig};
use crate::types::{Frac, Nanos};

impl EngineConfig {
    /// The whole file tree (`{"live_trading": {...}}`) with every key set.
    pub fn to_value(&self) -> Value {
        let c = self;
        let temperature: Map<String, Value> = c
            .horizons
            .labels()
            .zip(&c.blending.temperature)
            .map(|(label, &t)| (label.to_owned(), json!(t)))
            .collect();
        let mut online_learning = json!({
            "enabled": c.online_learning.enabled,
            "eta_max": c.online_learning.eta_max,
            "reward_clip_bps": c.online_learning.reward_clip_bps.0,
            "blend_ratio": c.online_learning.blend_ratio,
            "min_samples": c.online_learning.min_samples,
            "ramp_up_samples": c.online_learning.ramp_up_samples,
        });
        if let Some(gamma) = c.online_learning.gamma {
            online_learning["gamma"] = json!(gamma);
        }
        let mut logging = json!({
            "level": c.logging.level.name(),
            "trade_log_dir": path(&c.logging.trade_log_dir),
        });
        if let Some(p) = &c.logging.state_path {
            logging["state_path"] = json!(path(p));
        }
        let mut out = json!({ ROOT: {
            "horizons": c.horizons.labels().collect::<Vec<_>>(),
            "volatility": {
                "bar_minutes": c.volatility.bar_minutes,
                "vol_window": c.volatility.vol_window,
            },
            "data": {
                "history_bars": c.data.history_bars,
                "backend": c.data.backend.name(),
                "cache_ttl_seconds": per_unit(c.data.cache_ttl, Nanos::PER_SEC),
                "stale_after_ms": per_unit(c.data.stale_after, Nanos::PER_MILLI),
                "ws_feed": c.data.ws_feed.name(),
                "ws_key_env": c.data.ws_key_env,
                "ws_secret_env": c.data.ws_secret_env,
            },
            "standardization": {
                "window_size": c.standardization.window_size,
                "z_clip": c.standardization.z_clip,
            },
            "capacity_kappa": c.capacity_kappa,
            "confidence": {
                "ic_window": c.confidence.ic_window,
                "stability_window": c.confidence.stability_window,
                "min_ic_pairs": c.confidence.min_ic_pairs,
                "ic_floor": c.confidence.ic_floor,
            },
            "blending": {
                "ridge_lambda": c.blending.ridge_lambda,
                "cost_penalty": c.blending.cost_penalty,
                "history_size": c.blending.history_size,
                "min_history": c.blending.min_history,
                "temperature": temperature,
            },
            "cost_model": {
                "k1": c.cost_model.k1,
                "k2": c.cost_model.k2,
                "k3": c.cost_model.k3,
            },
            "arbitration": {
                "entry_threshold_bps": c.arbitration.entry_threshold_bps.0,
                "reserve_bps": c.arbitration.reserve_bps,
            },
            "engine": {
                "enable_barrier_gate": c.engine.enable_barrier_gate,
                "enable_spread_gate": c.engine.enable_spread_gate,
                "state_path": path(&c.engine.state_path),
                "history_path": path(&c.engine.history_path),
            },
            "barrier_gate": {
                "g_min": c.barrier_gate.g_min,
                "gamma": c.barrier_gate.gamma,
                "delta": c.barrier_gate.delta,
                "peak_threshold": c.barrier_gate.peak_threshold,
                "valley_threshold": c.barrier_gate.valley_threshold,
            },
            "risk": {
                "spread_max_bps": c.risk.spread_max_bps.0,
                "quote_age_max_ms": per_unit(c.risk.quote_age_max, Nanos::PER_MILLI),
                "max_daily_loss_pct": percent(c.risk.max_daily_loss),
                "max_drawdown_pct": percent(c.risk.max_drawdown),
                "max_position_pct": percent(c.risk.max_position),
                "max_gross_exposure": c.risk.max_gross_exposure.0,
                "trade_cooldown_seconds": per_unit(c.risk.trade_cooldown, Nanos::PER_SEC),
                "session_timezone": c.risk.session_timezone.name(),
            },
            "sizing": {
                "z_max": c.sizing.z_max,
                "max_weight": c.sizing.max_weight.0,
                "gross_target": c.sizing.gross_target.0,
                "no_trade_band": c.sizing.no_trade_band.0,
            },
            "paper": {
                "initial_cash": c.paper.initial_cash,
                "slippage_bps": c.paper.slippage_bps.0,
                "fee_bps": c.paper.fee_bps.0,
            },
            "online_learning": online_learning,
            "reconciliation": {
                "mode": c.reconciliation.mode.name(),
                "periodic_interval": c.reconciliation.periodic_interval,
                "qty_tolerance": c.reconciliation.qty_tolerance,
            },
            "models": {
                "verify_checksums": c.models.verify_checksums,
                "strict_checksums": c.models.strict_checksums,
            },
            "cs_ranking": {
                "min_universe_size": c.cs_ranking.min_universe_size,
            },
            "logging": logging,
            "decision": {
                "trigger": c.decision.trigger.name(),
                "interval_seconds": per_unit(c.decision.interval, Nanos::PER_SEC),
            },
            "ibkr": {
                "host": c.ibkr.host,
                "port": c.ibkr.port,
                "client_id": c.ibkr.client_id,
                "md_client_id": c.ibkr.md_client_id,
                "connect_timeout_ms": per_unit(c.ibkr.connect_timeout, Nanos::PER_MILLI),
                "reconnect_base_ms": per_unit(c.ibkr.reconnect_base, Nanos::PER_MILLI),
                "reconnect_max_ms": per_unit(c.ibkr.reconnect_max, Nanos::PER_MILLI),
                "probe_idle_ms": per_unit(c.ibkr.probe_idle, Nanos::PER_MILLI),
                "probe_timeout_ms": per_unit(c.ibkr.probe_timeout, Nanos::PER_MILLI),
                "max_msgs_per_sec": c.ibkr.max_msgs_per_sec,
                "market_data_type": c.ibkr.market_data_type.name(),
                "commission_timeout_ms": per_unit(c.ibkr.commission_timeout, Nanos::PER_MILLI),
                "order_ids_path": path(&c.ibkr.order_ids_path),
                "exchange": c.ibkr.exchange,
                "currency": c.ibkr.currency,
            },
            "live": {
                "min_backtest_sharpe": c.live.min_backtest_sharpe,
                "min_paper_days": c.live.min_paper_days,
                "entry_window": c.live.entry_window.to_string(),
                "entry_window_brokers": c.live.entry_window_brokers.name(),
            },
        }});
        if let Some(a) = &c.ibkr.account {
            out[ROOT]["ibkr"]["account"] = json!(a.as_str());
        }
        if let Some(p) = &c.live.backtest_report {
            out[ROOT]["live"]["backtest_report"] = json!(path(p));
        }
        let data = &mut out[ROOT]["data"];
        if let Some(u) = &c.data.ws_url {
            data["ws_url"] = json!(u);
        }
        if let Some(p) = &c.data.ws_secrets_file {
            data["ws_secrets_file"] = json!(path(p));
        }
        if let Some(p) = &c.data.ws_roots_pem {
            data["ws_roots_pem"] = json!(path(p));
        }
        out
    }
}

/// The resolved config as YAML.
impl fmt::Display for EngineConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_saphyr::to_string(&self.to_value()).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// A time in the key's unit.
fn per_unit(t: Nanos, unit: u64) -> f64 {
    t.0 as f64 / unit as f64
}

/// A fraction back in percent, without the noise of `x / 100 * 100`
/// (`0.07 * 100` is `7.000000000000001`): the shortest value with at most
/// nine decimals that loads back to the same fraction.
fn percent(f: Frac) -> f64 {
    let p = f.0 * 100.0;
    let clean = (p * 1e9).round() / 1e9;
    if clean / 100.0 == f.0 {
        clean
    } else {
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trips_without_noise() {
        for pct in [2.0, 7.0, 10.0, 0.3, 33.33, 100.0, 1e-7] {
            let back = percent(Frac(pct / 100.0));
            assert_eq!(back / 100.0, pct / 100.0);
            assert_eq!(back, pct, "{pct}");
        }
    }
}
