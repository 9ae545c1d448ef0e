//! Building an [`Engine`] from a validated config, the symbol list and a
//! model plan: loads the models, sizes every buffer, wires the stages.
//!
//! Cold path: runs once at start-up, on the thread that will not trade (the
//! ONNX fallback leaves CPU state behind, see `models::onnx`).

use crate::config::EngineConfig;
use crate::engine::core::Engine;
use crate::engine::cycle::{CycleEngine, CycleError, CycleParams};
use crate::market::state::{MarketParams, MarketState};
use crate::models::artifact::{ArtifactErrors, ModelPlan};
use crate::models::predict::Predictors;
use crate::types::{Nanos, SymbolOrder, SymbolOrderError};

/// Why an engine cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("no symbols configured: list at least one in symbols.yaml or --symbols")]
    NoSymbols,
    #[error("symbols: {0}")]
    Symbols(#[from] SymbolOrderError),
    #[error("{0}")]
    Models(#[from] ArtifactErrors),
    #[error("engine: {0}")]
    Cycle(#[from] CycleError),
}

/// Most predictions kept waiting for realisation, per horizon.
const MAX_PENDING: usize = 1 << 20;

/// Pending-realisation capacity per horizon: every return model of every
/// symbol for as many cycles as the longest horizon spans, plus slack.
pub fn pending_capacity(config: &EngineConfig, n_symbols: usize, n_models: usize) -> usize {
    let longest = config
        .horizons
        .iter()
        .map(|(_, h)| u64::from(h.minutes) * 60)
        .max()
        .unwrap_or(300);
    let interval = (config.decision.interval.0 / Nanos::PER_SEC).max(1);
    let cycles = (longest / interval + 2) as usize;
    (n_symbols * n_models.max(1) * cycles).clamp(4096, MAX_PENDING)
}

/// The market-state parameters of a config.
pub fn market_params(config: &EngineConfig) -> MarketParams {
    MarketParams {
        bar_interval: Nanos::from_secs(u64::from(config.volatility.bar_minutes) * 60),
        history_bars: config.data.history_bars,
        adv_days: 20,
        day_offset: standard_offset(config.risk.session_timezone),
    }
}

/// The zone's UTC offset in seconds in January (its standard time).
fn standard_offset(tz: chrono_tz::Tz) -> i64 {
    use chrono::{Offset, TimeZone};
    let jan = chrono::NaiveDate::from_ymd_opt(2024, 1, 15)
        .and_then(|d| d.and_hms_opt(12, 0, 0))
        .unwrap_or_default();
    i64::from(tz.offset_from_utc_datetime(&jan).fix().local_minus_utc())
}

/// Load the plan's models and build the engine for `symbols` (caller
/// order = symbol ids).
pub fn build_engine(
    config: &EngineConfig,
    symbols: &[String],
    plan: &ModelPlan,
) -> Result<Engine, SetupError> {
    if symbols.is_empty() {
        return Err(SetupError::NoSymbols);
    }
    let mut predictors = Predictors::load(plan, config.data.history_bars)?;
    predictors.warm_up();
    let order = SymbolOrder::from_names(symbols)?;
    let layout = plan.layout();
    let params = CycleParams::from_config(
        config,
        pending_capacity(config, symbols.len(), layout.return_models.len()),
    );
    let cycle = CycleEngine::new(params, &layout, order)?;
    let market = MarketState::new(symbols.len(), market_params(config));
    Ok(Engine::new(
        cycle,
        market,
        predictors,
        config.decision.trigger,
        config.decision.interval,
    ))
}
