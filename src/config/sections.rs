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
    pub ibkr: IbkrConfig,
    pub live: LiveConfig,
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

/// `ibkr.*`: the connection to TWS or IB Gateway (issue #6). Times are
/// [`Nanos`]; paths are as written (the runtime resolves `order_ids_path`
/// against the state directory, like `engine.state_path`).
#[derive(Clone, Debug, PartialEq)]
pub struct IbkrConfig {
    /// Host name or IP address of TWS / IB Gateway.
    pub host: String,
    /// TCP port (4002 = IB Gateway paper, 4001 live; TWS 7497 / 7496).
    pub port: u16,
    /// API client id of the order connection (0 ≤ id ≤ 2³¹ − 1).
    pub client_id: i32,
    /// API client id of the market-data connection (`--feed ibkr`); never
    /// equal to `client_id`. Default `client_id + 1` (0 when `client_id`
    /// is 2³¹ − 1).
    pub md_client_id: i32,
    /// The account orders go to; `None` = the one account the gateway
    /// manages.
    pub account: Option<IbAccount>,
    /// `connect_timeout_ms`: TCP connect plus handshake (> 0).
    pub connect_timeout: Nanos,
    /// `reconnect_base_ms` / `reconnect_max_ms`: exponential backoff
    /// between reconnect attempts, first delay and cap (0 < base ≤ max).
    pub reconnect_base: Nanos,
    pub reconnect_max: Nanos,
    /// `probe_idle_ms`: silence after which `reqCurrentTime` is sent (> 0).
    pub probe_idle: Nanos,
    /// `probe_timeout_ms`: a probe unanswered this long drops the link (> 0).
    pub probe_timeout: Nanos,
    /// Messages per second sent at most (1 ≤ n ≤ 50, IB's limit).
    pub max_msgs_per_sec: u32,
    /// `reqMarketDataType` for `--feed ibkr`.
    pub market_data_type: MarketDataType,
    /// `commission_timeout_ms`: how long an execution waits for its
    /// commission report before it is reported without one (> 0).
    pub commission_timeout: Nanos,
    /// The persisted next order id (never reused across restarts).
    pub order_ids_path: PathBuf,
    /// Routing exchange of stock orders and market data (`SMART`).
    pub exchange: String,
    /// Contract currency (`USD`).
    pub currency: String,
}

/// An IB account code: 1 to 3 capital letters then digits (`DU1234567`,
/// `U1234567`). Paper accounts start with `DU`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IbAccount(String);

impl IbAccount {
    /// The code if it has the shape `[A-Z]{1,3}[0-9]+`.
    pub fn parse(code: &str) -> Option<IbAccount> {
        let letters = code.bytes().take_while(u8::is_ascii_uppercase).count();
        let rest = code.get(letters..)?;
        let ok = (1..=3).contains(&letters)
            && !rest.is_empty()
            && rest.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| IbAccount(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a paper-trading account (`DU…`).
    pub fn is_paper(&self) -> bool {
        is_paper_account(&self.0)
    }
}

impl std::fmt::Display for IbAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an IB account code names a paper-trading account: it starts
/// with `DU`. Everything else is treated as live.
pub fn is_paper_account(code: &str) -> bool {
    code.starts_with("DU")
}

/// `live.*`: what must hold before orders go to a live account, and when
/// entries may be opened.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveConfig {
    /// Annualised Sharpe the backtest report must reach (finite).
    pub min_backtest_sharpe: f64,
    /// Distinct dates of paper trading the journal must record.
    pub min_paper_days: u32,
    /// The backtest report (`backtest.json`); `--backtest-report` wins.
    pub backtest_report: Option<PathBuf>,
    /// Local time of day in `risk.session_timezone` when entries may open.
    pub entry_window: EntryWindowSpec,
    /// Which brokers the entry window applies to.
    pub entry_window_brokers: EntryWindowBrokers,
}

impl LiveConfig {
    /// Whether the entry window applies to a run on the given broker.
    pub fn entry_window_applies(&self, broker_is_ibkr: bool) -> bool {
        match self.entry_window_brokers {
            EntryWindowBrokers::All => true,
            EntryWindowBrokers::Ibkr => broker_is_ibkr,
        }
    }
}

/// A local time of day in whole minutes after midnight, 0 ≤ m ≤ 1440
/// (1440 = 24:00, the end of the day).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MinuteOfDay(u16);

impl MinuteOfDay {
    /// Minutes in a day; `MinuteOfDay(1440)` is 24:00.
    pub const DAY: u16 = 1440;

    /// `h:m`, `None` past 24:00 or with m ≥ 60.
    pub const fn hm(h: u16, m: u16) -> Option<MinuteOfDay> {
        if m < 60 && h <= 24 && h * 60 + m <= Self::DAY {
            Some(MinuteOfDay(h * 60 + m))
        } else {
            None
        }
    }

    /// Minutes after midnight.
    pub const fn minutes(self) -> u16 {
        self.0
    }

    /// Parse `HH:MM` (two digits each, 00:00 to 24:00).
    pub fn parse(text: &str) -> Option<MinuteOfDay> {
        let (h, m) = text.split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let h: u16 = h.parse().ok()?;
        let m: u16 = m.parse().ok()?;
        MinuteOfDay::hm(h, m)
    }
}

impl std::fmt::Display for MinuteOfDay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

/// `live.entry_window`: when new positions may be opened (exits and
/// reductions are never held back). Weekdays only, except `Always`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryWindowSpec {
    /// `regular`: 09:30–16:00.
    Regular,
    /// `extended`: 04:00–20:00 (pre-market and after hours).
    Extended,
    /// `always`: no window, weekends included.
    Always,
    /// `HH:MM-HH:MM`: `open` < `close`, the same day.
    Custom {
        open: MinuteOfDay,
        close: MinuteOfDay,
    },
}

impl EntryWindowSpec {
    /// Every accepted spelling, for messages.
    pub const NAMES: &'static str = "regular, extended, always or HH:MM-HH:MM (open < close)";

    /// `[open, close)` in local time; `None` for `Always`.
    pub fn bounds(self) -> Option<(MinuteOfDay, MinuteOfDay)> {
        let regular = (MinuteOfDay(9 * 60 + 30), MinuteOfDay(16 * 60));
        let extended = (MinuteOfDay(4 * 60), MinuteOfDay(20 * 60));
        match self {
            EntryWindowSpec::Regular => Some(regular),
            EntryWindowSpec::Extended => Some(extended),
            EntryWindowSpec::Always => None,
            EntryWindowSpec::Custom { open, close } => Some((open, close)),
        }
    }

    /// Parse a spelling (names ignore ASCII case and surrounding blanks).
    pub fn parse(text: &str) -> Option<EntryWindowSpec> {
        let t = text.trim();
        match t.to_ascii_lowercase().as_str() {
            "regular" => return Some(EntryWindowSpec::Regular),
            "extended" => return Some(EntryWindowSpec::Extended),
            "always" => return Some(EntryWindowSpec::Always),
            _ => {}
        }
        let (a, b) = t.split_once('-')?;
        let open = MinuteOfDay::parse(a.trim())?;
        let close = MinuteOfDay::parse(b.trim())?;
        (open < close).then_some(EntryWindowSpec::Custom { open, close })
    }
}

/// The spelling [`EntryWindowSpec::parse`] reads back.
impl std::fmt::Display for EntryWindowSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EntryWindowSpec::Regular => f.write_str("regular"),
            EntryWindowSpec::Extended => f.write_str("extended"),
            EntryWindowSpec::Always => f.write_str("always"),
            EntryWindowSpec::Custom { open, close } => write!(f, "{open}-{close}"),
        }
    }
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

choice! {
    /// `ibkr.market_data_type`: IB's `reqMarketDataType`.
    MarketDataType {
        /// Real-time (needs a subscription).
        Live = "live",
        /// The last quote at the close, outside trading hours.
        Frozen = "frozen",
        /// 15–20 minutes delayed, free.
        Delayed = "delayed",
        /// Delayed, frozen outside trading hours.
        DelayedFrozen = "delayed_frozen",
    }
}

impl MarketDataType {
    /// The code `reqMarketDataType` sends (1 live, 2 frozen, 3 delayed,
    /// 4 delayed frozen).
    pub fn code(self) -> u8 {
        match self {
            MarketDataType::Live => 1,
            MarketDataType::Frozen => 2,
            MarketDataType::Delayed => 3,
            MarketDataType::DelayedFrozen => 4,
        }
    }
}

choice! {
    /// `live.entry_window_brokers`: which brokers the entry window holds
    /// back.
    EntryWindowBrokers {
        /// Only `--broker ibkr` (paper runs over simulated or replayed data
        /// are not affected).
        Ibkr = "ibkr",
        /// Every broker, the paper broker included.
        All = "all",
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
            ibkr: IbkrConfig::default(),
            live: LiveConfig::default(),
        }
    }
}

impl Default for IbkrConfig {
    fn default() -> Self {
        IbkrConfig {
            host: "127.0.0.1".to_owned(),
            port: 4002,
            client_id: 1,
            md_client_id: 2,
            account: None,
            connect_timeout: Nanos::from_millis(5000),
            reconnect_base: Nanos::from_millis(500),
            reconnect_max: Nanos::from_millis(30_000),
            probe_idle: Nanos::from_millis(10_000),
            probe_timeout: Nanos::from_millis(4000),
            max_msgs_per_sec: 45,
            market_data_type: MarketDataType::Live,
            commission_timeout: Nanos::from_millis(5000),
            order_ids_path: PathBuf::from("state/ibkr_order_ids.json"),
            exchange: "SMART".to_owned(),
            currency: "USD".to_owned(),
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            min_backtest_sharpe: 1.0,
            min_paper_days: 20,
            backtest_report: None,
            entry_window: EntryWindowSpec::Regular,
            entry_window_brokers: EntryWindowBrokers::Ibkr,
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

    #[test]
    fn account_codes() {
        for ok in ["DU1234567", "U1234567", "DFU1", "F9"] {
            assert_eq!(
                IbAccount::parse(ok).map(|a| a.to_string()),
                Some(ok.to_owned())
            );
        }
        for bad in ["", "U", "1234", "ABCD1", "du123", "DU12a", "DU 12"] {
            assert_eq!(IbAccount::parse(bad), None, "{bad}");
        }
        assert!(IbAccount::parse("DU1").unwrap().is_paper());
        assert!(!IbAccount::parse("U1").unwrap().is_paper());
    }

    #[test]
    fn entry_windows_parse_and_print_back() {
        assert_eq!(
            EntryWindowSpec::parse(" Regular "),
            Some(EntryWindowSpec::Regular)
        );
        assert_eq!(
            EntryWindowSpec::Regular.bounds(),
            Some((MinuteOfDay(570), MinuteOfDay(960)))
        );
        assert_eq!(EntryWindowSpec::Always.bounds(), None);
        let w = EntryWindowSpec::parse("00:00-24:00").unwrap();
        assert_eq!(w.to_string(), "00:00-24:00");
        assert_eq!(EntryWindowSpec::parse(&w.to_string()), Some(w));
        for bad in [
            "",
            "09:30",
            "9:30-16:00",
            "16:00-09:30",
            "10:00-10:00",
            "24:00-24:01",
            "aa:bb-cc:dd",
        ] {
            assert_eq!(EntryWindowSpec::parse(bad), None, "{bad}");
        }
        assert_eq!(MinuteOfDay::hm(25, 0), None);
        assert_eq!(MinuteOfDay::hm(u16::MAX, 0), None);
        assert_eq!(MarketDataType::Delayed.code(), 3);
    }
}
