//! The validated engine configuration (SPEC §20): one typed struct per
//! section of `live_trading.*`, in internal units: `_pct` keys become
//! [`Frac`] (divided by 100), `_bps` keys [`Bps`], times [`Nanos`], the
//! horizon list a [`HorizonSet`], the time zone a [`Tz`]. `Default` gives the
//! SPEC defaults.
//!
//! Cold path: built once at start-up; stages copy what they need into their
//! own `...Params`.

use crate::pipeline::temperature::TemperatureParams;
use std::path::PathBuf;

use chrono_tz::Tz;

use crate::horizon::HorizonSet;
use crate::types::{Bps, Frac, HorizonId, Nanos};

/// Everything under `live_trading:` after validation.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineConfig {
    /// `horizons`: sorted by minutes; the first is the base horizon.
    pub horizons: HorizonSet,
    pub volatility: VolatilityConfig,
    pub data: DataConfig,
    pub standardization: StandardizationConfig,
    /// `capacity_kappa`: share of ADV one planned trade may take (> 0).
    pub capacity_kappa: f64,
    pub confidence: ConfidenceConfig,
    pub blending: BlendingConfig,
    pub cost_model: CostModelConfig,
    pub arbitration: ArbitrationConfig,
    pub engine: EngineSettings,
    pub barrier_gate: BarrierGateConfig,
    pub risk: RiskConfig,
    pub sizing: SizingConfig,
    pub paper: PaperConfig,
    pub online_learning: OnlineLearningConfig,
    pub reconciliation: ReconciliationConfig,
    pub models: ModelsConfig,
    pub cs_ranking: CsRankingConfig,
    pub logging: LoggingConfig,
    pub decision: DecisionConfig,
}

/// `volatility.*` (SPEC §2).
#[derive(Clone, Debug, PartialEq)]
pub struct VolatilityConfig {
    /// Engine bar interval in whole minutes (≥ 1).
    pub bar_minutes: u32,
    /// One-bar returns in the σ window (≥ 2).
    pub vol_window: usize,
}

/// `data.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct DataConfig {
    /// Bars kept per symbol (≥ 3).
    pub history_bars: usize,
    /// Feed selection.
    pub backend: DataBackend,
    /// `cache_ttl_seconds` (≥ 0).
    pub cache_ttl: Nanos,
    /// `stale_after_ms`: a feed silent this long is stale (> 0).
    pub stale_after: Nanos,
    /// `ws_feed`: the Alpaca market-data feed the default URL names.
    pub ws_feed: WsFeedName,
    /// `ws_url`: the websocket URL (`ws://` or `wss://`); `None` = Alpaca's
    /// stream for `ws_feed`.
    pub ws_url: Option<String>,
    /// `ws_key_env` / `ws_secret_env`: environment variables holding the
    /// key and the secret (never the values themselves).
    pub ws_key_env: String,
    pub ws_secret_env: String,
    /// `ws_secrets_file`: a 0600 file of `NAME=value` lines, read instead
    /// of the environment when set.
    pub ws_secrets_file: Option<PathBuf>,
    /// `ws_roots_pem`: extra certificate roots (PEM) trusted besides the
    /// built-in web roots.
    pub ws_roots_pem: Option<PathBuf>,
}

impl DataConfig {
    /// The websocket URL: `ws_url`, else Alpaca's stream for `ws_feed`.
    pub fn ws_url(&self) -> String {
        self.ws_url.clone().unwrap_or_else(|| {
            format!(
                "wss://stream.data.alpaca.markets/v2/{}",
                self.ws_feed.name()
            )
        })
    }
}

/// `standardization.*` (SPEC §5).
#[derive(Clone, Debug, PartialEq)]
pub struct StandardizationConfig {
    /// FIFO capacity per model (≥ 3).
    pub window_size: usize,
    /// |z| cap (> 0).
    pub z_clip: f64,
}

/// `confidence.*` (SPEC §6).
#[derive(Clone, Debug, PartialEq)]
pub struct ConfidenceConfig {
    /// Pairs in the Spearman IC (≥ 3).
    pub ic_window: usize,
    /// Squared errors in the stability term (≥ 1).
    pub stability_window: usize,
    /// Pairs needed for a measured IC (3 ≤ x ≤ `ic_window`).
    pub min_ic_pairs: usize,
    /// IC floor and demotion level (0 < x < 1).
    pub ic_floor: f64,
}

/// `blending.*` (SPEC §7–§9).
#[derive(Clone, Debug, PartialEq)]
pub struct BlendingConfig {
    /// Ridge λ (> 0).
    pub ridge_lambda: f64,
    /// Cost penalty on IC (≥ 0).
    pub cost_penalty: f64,
    /// Calibrated values kept per model (≥ `min_history`).
    pub history_size: usize,
    /// History needed before ridge weights (≥ 1).
    pub min_history: usize,
    /// Temperature per configured horizon, indexed by [`HorizonId`]:
    /// the configured map's value, else 1.0. When the key is absent the
    /// SPEC map applies (5m 0.75, 10m 0.85, 15m 0.9).
    pub temperature: Vec<f64>,
}

impl BlendingConfig {
    /// The temperature of horizon `h` (1.0 for an id outside the set).
    pub fn temperature(&self, h: HorizonId) -> f64 {
        self.temperature.get(h.index()).copied().unwrap_or(1.0)
    }
}

/// SPEC §8's temperatures when `blending.temperature` is absent: the
/// temperature stage's own defaults, per configured horizon.
pub fn default_temperatures(horizons: &HorizonSet) -> Vec<f64> {
    let spec = TemperatureParams::default();
    horizons
        .iter()
        .map(|(_, h)| spec.for_minutes(h.minutes))
        .collect()
}

/// Per-horizon temperatures of `horizons` from a label → T map; horizons
/// missing from the map get 1.0.
pub fn temperatures_for<'a>(
    horizons: &HorizonSet,
    map: impl Iterator<Item = (&'a str, f64)> + Clone,
) -> Vec<f64> {
    horizons
        .labels()
        .map(|label| {
            map.clone()
                .find(|&(k, _)| k == label)
                .map_or(1.0, |(_, t)| t)
        })
        .collect()
}

/// `cost_model.*` (SPEC §10): dimensionless multipliers (≥ 0).
#[derive(Clone, Debug, PartialEq)]
pub struct CostModelConfig {
    pub k1: f64,
    pub k2: f64,
    pub k3: f64,
}

/// `arbitration.*` (SPEC §11).
#[derive(Clone, Debug, PartialEq)]
pub struct ArbitrationConfig {
    /// Score needed to trade, before the spread reserve (≥ 0).
    pub entry_threshold_bps: Bps,
    /// Multiplier on the quoted spread in bps added to the threshold (≥ 0);
    /// despite its name not an amount of bps.
    pub reserve_bps: f64,
}

/// `engine.*`.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineSettings {
    pub enable_barrier_gate: bool,
    /// `false` skips only the spread-width and quote-age checks (SPEC §12).
    pub enable_spread_gate: bool,
    /// Engine state snapshot (SPEC §18.3).
    pub state_path: PathBuf,
    /// Append-only decision history (JSONL).
    pub history_path: PathBuf,
}

/// `barrier_gate.*` (SPEC §13).
#[derive(Clone, Debug, PartialEq)]
pub struct BarrierGateConfig {
    /// Gate factor floor ([0, 1]).
    pub g_min: f64,
    /// Exponent on (1 − p_against) (≥ 0).
    pub gamma: f64,
    /// Exponent on (0.5 + 0.5·p_for) (≥ 0).
    pub delta: f64,
    /// Peak probability that blocks longs ([0, 1]).
    pub peak_threshold: f64,
    /// Valley probability that blocks shorts ([0, 1]).
    pub valley_threshold: f64,
}

/// `risk.*` (SPEC §12, §15).
#[derive(Clone, Debug, PartialEq)]
pub struct RiskConfig {
    /// Widest tradable spread (> 0).
    pub spread_max_bps: Bps,
    /// `quote_age_max_ms`: oldest tradable quote (> 0).
    pub quote_age_max: Nanos,
    /// `max_daily_loss_pct` / 100.
    pub max_daily_loss: Frac,
    /// `max_drawdown_pct` / 100.
    pub max_drawdown: Frac,
    /// `max_position_pct` / 100.
    pub max_position: Frac,
    /// Σ|w| limit (fraction > 0).
    pub max_gross_exposure: Frac,
    /// `trade_cooldown_seconds`: minimum time between fills of one symbol.
    pub trade_cooldown: Nanos,
    /// Zone of the trading date used for daily resets.
    pub session_timezone: Tz,
}

/// `sizing.*` (SPEC §14).
#[derive(Clone, Debug, PartialEq)]
pub struct SizingConfig {
    /// |z| cap (> 0).
    pub z_max: f64,
    /// Weight at |z| = z_max ((0, 1]).
    pub max_weight: Frac,
    /// Σ|w| above which a cycle's proposals are scaled down (> 0).
    pub gross_target: Frac,
    /// Smallest weight change worth trading ([0, 1)).
    pub no_trade_band: Frac,
}

/// `paper.*` (SPEC §16).
#[derive(Clone, Debug, PartialEq)]
pub struct PaperConfig {
    /// Starting cash in dollars (> 0).
    pub initial_cash: f64,
    pub slippage_bps: Bps,
    pub fee_bps: Bps,
}

/// `online_learning.*` (SPEC §17).
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineLearningConfig {
    pub enabled: bool,
    /// Learning-rate cap (> 0).
    pub eta_max: f64,
    /// Rewards are clipped to ±this (> 0).
    pub reward_clip_bps: Bps,
    /// Largest share of the bandit in the horizon preference ([0, 1]).
    pub blend_ratio: f64,
    /// Updates before the bandit has any say.
    pub min_samples: u64,
    /// Updates over which its say ramps up (default `min_samples`).
    pub ramp_up_samples: u64,
    /// Seed key `gamma`: accepted, unused by Exp3-IX.
    pub gamma: Option<f64>,
}

/// `reconciliation.*` (SPEC §18.4).
#[derive(Clone, Debug, PartialEq)]
pub struct ReconciliationConfig {
    pub mode: ReconciliationMode,
    /// Cycles between reconciliations (≥ 1).
    pub periodic_interval: u64,
    /// Share difference tolerated before drift (≥ 0).
    pub qty_tolerance: f64,
}

/// `models.*` (SPEC §4).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelsConfig {
    pub verify_checksums: bool,
    /// A checksum mismatch refuses the run (else only a warning).
    pub strict_checksums: bool,
}

/// `cs_ranking.*` (SPEC §4).
#[derive(Clone, Debug, PartialEq)]
pub struct CsRankingConfig {
    /// Finite raws needed to rank a cycle (≥ 1).
    pub min_universe_size: usize,
}

/// `logging.*` (seed keys).
#[derive(Clone, Debug, PartialEq)]
pub struct LoggingConfig {
    pub level: LogLevel,
    /// Directory of the human-readable trade logs.
    pub trade_log_dir: PathBuf,
    /// Seed key, accepted; the engine's state file is `engine.state_path`.
    pub state_path: Option<PathBuf>,
}

/// `decision.*` (DESIGN §3).
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionConfig {
    pub trigger: DecisionTrigger,
    /// `interval_seconds`: event time between cycles (> 0).
    pub interval: Nanos,
}

/// A string key with a fixed set of values.
pub trait Choice: Copy + Sized + 'static {
    /// Every accepted spelling (matched ignoring ASCII case).
    const NAMES: &'static [&'static str];
    /// The value of an accepted spelling (already lower-cased).
    fn from_name(name: &str) -> Option<Self>;
    /// The canonical spelling.
    fn name(self) -> &'static str;
}

macro_rules! choice {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal $(| $alias:literal)*,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vdoc])* $variant,)+ }

        impl Choice for $name {
            const NAMES: &'static [&'static str] = &[$($text, $($alias,)*)+];
            fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text $(| $alias)* => Some($name::$variant),)+
                    _ => None,
                }
            }
            fn name(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }
    };
}

choice! {
    /// `data.backend`: where market data comes from.
    DataBackend {
        /// Built-in simulator.
        Sim = "sim",
        /// Recorded quotes and bars.
        Replay = "replay",
        Alpaca = "alpaca",
        Ibkr = "ibkr",
    }
}

choice! {
    /// `data.ws_feed`: which Alpaca v2 stock stream.
    WsFeedName {
        /// IEX only (free plan).
        Iex = "iex",
        /// All US exchanges.
        Sip = "sip",
        /// SIP delayed 15 minutes.
        DelayedSip = "delayed_sip",
        /// Alpaca's always-on test stream (symbol FAKEPACA).
        Test = "test",
    }
}

choice! {
    /// `reconciliation.mode` (SPEC §18.4).
    ReconciliationMode {
        /// Log drift only.
        Warn = "warn",
        /// Adopt the broker's quantities.
        AutoSync = "auto_sync",
        /// Stop the engine.
        Strict = "strict",
    }
}

choice! {
    /// `decision.trigger` (DESIGN §3): when the pipeline runs.
    DecisionTrigger {
        /// Every `interval_seconds`, all symbols together.
        Cycle = "cycle",
        /// A symbol when its bar closes.
        Bar = "bar",
        /// A symbol on every quote.
        Quote = "quote",
    }
}

choice! {
    /// `logging.level`; the Python names `warning` and `critical` are
    /// accepted for `warn` and `error`.
    LogLevel {
        Trace = "trace",
        Debug = "debug",
        Info = "info",
        Warn = "warn" | "warning",
        Error = "error" | "critical",
    }
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            horizons: HorizonSet::default_set(),
            volatility: VolatilityConfig::default(),
            data: DataConfig::default(),
            standardization: StandardizationConfig::default(),
            capacity_kappa: 0.1,
            confidence: ConfidenceConfig::default(),
            blending: BlendingConfig::default(),
            cost_model: CostModelConfig::default(),
            arbitration: ArbitrationConfig::default(),
            engine: EngineSettings::default(),
            barrier_gate: BarrierGateConfig::default(),
            risk: RiskConfig::default(),
            sizing: SizingConfig::default(),
            paper: PaperConfig::default(),
            online_learning: OnlineLearningConfig::default(),
            reconciliation: ReconciliationConfig::default(),
            models: ModelsConfig::default(),
            cs_ranking: CsRankingConfig::default(),
            logging: LoggingConfig::default(),
            decision: DecisionConfig::default(),
        }
    }
}

impl Default for VolatilityConfig {
    fn default() -> Self {
        VolatilityConfig {
            bar_minutes: 1,
            vol_window: 20,
        }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            history_bars: 300,
            backend: DataBackend::Sim,
            cache_ttl: Nanos::from_secs(60),
            stale_after: Nanos::from_millis(5000),
            ws_feed: WsFeedName::Iex,
            ws_url: None,
            ws_key_env: "APCA_API_KEY_ID".to_owned(),
            ws_secret_env: "APCA_API_SECRET_KEY".to_owned(),
            ws_secrets_file: None,
            ws_roots_pem: None,
        }
    }
}

impl Default for StandardizationConfig {
    fn default() -> Self {
        StandardizationConfig {
            window_size: 10,
            z_clip: 3.0,
        }
    }
}

impl Default for ConfidenceConfig {
    fn default() -> Self {
        ConfidenceConfig {
            ic_window: 20,
            stability_window: 10,
            min_ic_pairs: 20,
            ic_floor: 0.01,
        }
    }
}

/// Defaults for the default horizon set.
impl Default for BlendingConfig {
    fn default() -> Self {
        BlendingConfig {
            ridge_lambda: 0.15,
            cost_penalty: 0.5,
            history_size: 50,
            min_history: 5,
            temperature: default_temperatures(&HorizonSet::default_set()),
        }
    }
}

impl Default for CostModelConfig {
    fn default() -> Self {
        CostModelConfig {
            k1: 1.0,
            k2: 0.15,
            k3: 1.0,
        }
    }
}

impl Default for ArbitrationConfig {
    fn default() -> Self {
        ArbitrationConfig {
            entry_threshold_bps: Bps(2.0),
            reserve_bps: 0.5,
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            enable_barrier_gate: true,
            enable_spread_gate: true,
            state_path: PathBuf::from("state/engine_state.json"),
            history_path: PathBuf::from("state/history.jsonl"),
        }
    }
}

impl Default for BarrierGateConfig {
    fn default() -> Self {
        BarrierGateConfig {
            g_min: 0.2,
            gamma: 1.0,
            delta: 0.5,
            peak_threshold: 0.6,
            valley_threshold: 0.55,
        }
    }
}

impl Default for RiskConfig {
    fn default() -> Self {
        RiskConfig {
            spread_max_bps: Bps(12.0),
            quote_age_max: Nanos::from_millis(200),
            max_daily_loss: Frac(0.02),
            max_drawdown: Frac(0.10),
            max_position: Frac(0.20),
            max_gross_exposure: Frac(1.0),
            trade_cooldown: Nanos::from_secs(5),
            session_timezone: Tz::America__New_York,
        }
    }
}

impl Default for SizingConfig {
    fn default() -> Self {
        SizingConfig {
            z_max: 3.0,
            max_weight: Frac(0.05),
            gross_target: Frac(0.5),
            no_trade_band: Frac(0.008),
        }
    }
}

impl Default for PaperConfig {
    fn default() -> Self {
        PaperConfig {
            initial_cash: 100_000.0,
            slippage_bps: Bps(5.0),
            fee_bps: Bps(1.0),
        }
    }
}

impl Default for OnlineLearningConfig {
    fn default() -> Self {
        OnlineLearningConfig {
            enabled: true,
            eta_max: 0.07,
            reward_clip_bps: Bps(50.0),
            blend_ratio: 0.3,
            min_samples: 100,
            ramp_up_samples: 100,
            gamma: None,
        }
    }
}

impl Default for ReconciliationConfig {
    fn default() -> Self {
        ReconciliationConfig {
            mode: ReconciliationMode::Warn,
            periodic_interval: 100,
            qty_tolerance: 0.01,
        }
    }
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            verify_checksums: true,
            strict_checksums: true,
        }
    }
}

impl Default for CsRankingConfig {
    fn default() -> Self {
        CsRankingConfig {
            min_universe_size: 5,
        }
    }
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            level: LogLevel::Info,
            trade_log_dir: PathBuf::from("logs/trades"),
            state_path: None,
        }
    }
}

impl Default for DecisionConfig {
    fn default() -> Self {
        DecisionConfig {
            trigger: DecisionTrigger::Cycle,
            interval: Nanos::from_secs(300),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_temperatures_follow_the_horizons() {
        let b = BlendingConfig::default();
        assert_eq!(b.temperature, [0.75, 0.85, 0.9, 1.0, 1.0, 1.0]);
        assert_eq!(b.temperature(HorizonId(0)), 0.75);
        assert_eq!(b.temperature(HorizonId(40)), 1.0);
    }

    #[test]
    fn choices_accept_aliases_and_name_canonically() {
        assert_eq!(LogLevel::from_name("warning"), Some(LogLevel::Warn));
        assert_eq!(LogLevel::Warn.name(), "warn");
        assert_eq!(
            ReconciliationMode::from_name("auto_sync"),
            Some(ReconciliationMode::AutoSync)
        );
        assert_eq!(DecisionTrigger::from_name("tick"), None);
        assert!(DataBackend::NAMES.contains(&"ibkr"));
    }
}
