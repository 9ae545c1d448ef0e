//! Config files of every bad kind, written to a temp dir and loaded the way
//! the engine loads them: each must fail with a message naming the file, the
//! key path, the value seen and what is allowed. Also: the shipped files,
//! defaults, overrides, and the `config check` command's exit code.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use live_trading::config::{
    apply_override, ConfigErrors, DecisionTrigger, EngineConfig, Symbols, OVERRIDES,
};
use live_trading::types::{Frac, HorizonId, Nanos};
use serde_json::{json, Map, Value};

/// A fresh directory for one test.
fn temp_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("live-trading-config-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Load `text` from a real file; the error lines with the file name
/// replaced by `F` so expectations stay readable.
fn errors_of(test: &str, text: &str) -> Vec<String> {
    let dir = temp_dir(test);
    let path = write(&dir, "live_trading.yaml", text);
    let shown = path.display().to_string();
    match EngineConfig::load(&path) {
        Ok(c) => panic!("{test}: accepted:\n{c}"),
        Err(e) => lines(&e).iter().map(|l| l.replace(&shown, "F")).collect(),
    }
}

fn lines(e: &ConfigErrors) -> Vec<String> {
    e.iter().map(|e| e.to_string()).collect()
}

fn load(test: &str, text: &str) -> EngineConfig {
    let dir = temp_dir(test);
    let path = write(&dir, "live_trading.yaml", text);
    EngineConfig::load(&path).unwrap_or_else(|e| panic!("{test}: rejected:\n{e}"))
}

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config")
        .join(name)
}

fn overrides(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn shipped_config_loads_and_equals_the_defaults() {
    let c = EngineConfig::load(&shipped("live_trading.yaml")).unwrap();
    assert_eq!(c, EngineConfig::default());
    assert_eq!(c.risk.max_daily_loss, Frac(0.02));
    assert_eq!(c.risk.quote_age_max, Nanos::from_millis(200));
    assert_eq!(c.decision.trigger, DecisionTrigger::Cycle);
    assert_eq!(c.decision.interval, Nanos::from_secs(300));
    assert_eq!(c.data.stale_after, Nanos::from_millis(5000));
}

/// Every key of the shipped file (a key directly under `live_trading` other
/// than a section, or a key of a section) has a comment right above it, and
/// every key of the resolved config is in the file.
#[test]
fn shipped_config_documents_every_key() {
    let text = std::fs::read_to_string(shipped("live_trading.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut checked = 0;
    for (i, line) in lines.iter().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let section = indent == 2 && value.trim().is_empty();
        if !key.starts_with('#') && (indent == 2 || indent == 4) && !section {
            checked += 1;
            assert!(
                lines[i - 1].trim_start().starts_with('#'),
                "line {}: `{key}` has no comment above it",
                i + 1
            );
        }
    }
    fn keys(v: &Value) -> usize {
        match v {
            Value::Object(m) => m
                .iter()
                .map(|(k, v)| if k == "temperature" { 1 } else { keys(v) })
                .sum(),
            _ => 1,
        }
    }
    assert_eq!(checked, keys(&EngineConfig::default().to_value()));
}

#[test]
fn shipped_symbols_load() {
    let s = Symbols::load(&shipped("symbols.yaml")).unwrap();
    assert_eq!(s.as_slice(), ["SPY", "QQQ", "IWM", "AAPL", "MSFT"]);
}

#[test]
fn minimal_files_give_the_defaults() {
    assert_eq!(
        load("minimal_empty_map", "live_trading: {}\n"),
        EngineConfig::default()
    );
    assert_eq!(
        load("minimal_null", "live_trading:\n"),
        EngineConfig::default()
    );
    let c = load(
        "minimal_horizons",
        "live_trading:\n  horizons: [1d, 5m, 1h]\n  risk:\n",
    );
    assert_eq!(c.horizons.labels().collect::<Vec<_>>(), ["5m", "1h", "1d"]);
    assert_eq!(
        c.blending.temperature,
        [0.75, 1.0, 1.0],
        "SPEC map, others 1.0"
    );
    assert_eq!(c.risk, EngineConfig::default().risk);
}

#[test]
fn resolved_config_round_trips() {
    let c = load(
        "round_trip",
        "live_trading:\n  horizons: [2h, 15m]\n  risk:\n    max_position_pct: 7\n    \
         quote_age_max_ms: 0.5\n  online_learning:\n    gamma: 0.1\n  logging:\n    \
         state_path: old/state.json\n  blending:\n    temperature: {2h: 0.5}\n",
    );
    assert_eq!(c.risk.max_position, Frac(0.07));
    assert_eq!(c.blending.temperature(HorizonId(1)), 0.5);
    let printed = c.to_string();
    assert!(printed.contains("max_position_pct: 7.0"), "{printed}");
    let again = EngineConfig::from_yaml_str(&printed, "printed").unwrap();
    assert_eq!(again, c);
}

#[test]
fn unknown_keys_are_rejected_with_full_path_and_closest_key() {
    assert_eq!(
        errors_of(
            "unknown_nested",
            "live_trading:\n  risk:\n    max_daily_los_pct: 3.0\n",
        ),
        ["F: live_trading.risk.max_daily_los_pct: unknown key; did you mean `max_daily_loss_pct`?"]
    );
    assert_eq!(
        errors_of(
            "unknown_section",
            "live_trading:\n  riks:\n    fee_bps: 1\n"
        ),
        ["F: live_trading.riks: unknown key; did you mean `risk`?"]
    );
    assert_eq!(
        errors_of(
            "unknown_top_level",
            "live_trading:\n  capacity_kappa: 0.1\nlive_trade: {}\ncolour: red\n",
        ),
        [
            "F: live_trade: unknown key; did you mean `live_trading`?",
            "F: colour: unknown key",
        ]
    );
    assert_eq!(
        errors_of("missing_root", "risk:\n  max_daily_loss_pct: 2\n"),
        [
            "F: risk: unknown key",
            "F: live_trading: missing; the file must hold its settings under the top-level key `live_trading:`",
        ]
    );
}

#[test]
fn wrong_types_name_the_value_and_the_expected_type() {
    assert_eq!(
        errors_of(
            "wrong_types",
            "live_trading:\n  sizing:\n    z_max: three\n  online_learning:\n    enabled: yes\n    \
             min_samples: 10.5\n  horizons: 5m,10m\n  engine:\n    state_path: 7\n  \
             blending:\n    temperature:\n      5m: hot\n  risk:\n    max_drawdown_pct:\n",
        ),
        [
            "F: live_trading.risk.max_drawdown_pct: has no value; expected a number (remove the key to use the default)",
            "F: live_trading.sizing.z_max: \"three\" is a string, expected a number",
            "F: live_trading.online_learning.enabled: \"yes\" is a string, expected true or false",
            "F: live_trading.online_learning.min_samples: 10.5 is a decimal number, expected an integer",
            "F: live_trading.horizons: \"5m,10m\" is a string, expected a list of strings",
            "F: live_trading.engine.state_path: 7 is an integer, expected a string",
            "F: live_trading.blending.temperature.5m: \"hot\" is a string, expected a number",
        ]
    );
}

#[test]
fn out_of_range_values_name_the_allowed_range() {
    assert_eq!(
        errors_of(
            "ranges",
            "live_trading:\n  risk:\n    max_daily_loss_pct: 250\n    max_position_pct: 0\n    \
             spread_max_bps: -1\n    trade_cooldown_seconds: -0.5\n  confidence:\n    \
             ic_floor: 1\n    ic_window: 2\n  volatility:\n    vol_window: 1\n    bar_minutes: 0\n  \
             paper:\n    initial_cash: 0\n  barrier_gate:\n    g_min: 1.5\n  \
             reconciliation:\n    mode: sometimes\n    periodic_interval: 0\n  decision:\n    \
             interval_seconds: 0\n    trigger: tick\n  data:\n    stale_after_ms: -1\n    \
             backend: polygon\n  logging:\n    level: loud\n  capacity_kappa: 0\n",
        ),
        [
            "F: live_trading.volatility.bar_minutes: 0 is outside n >= 1",
            "F: live_trading.volatility.vol_window: 1 is outside n >= 2",
            "F: live_trading.data.backend: \"polygon\" is not one of sim, replay, alpaca, ibkr",
            "F: live_trading.data.stale_after_ms: -1 is outside x > 0",
            "F: live_trading.capacity_kappa: 0 is outside x > 0",
            "F: live_trading.confidence.ic_window: 2 is outside n >= 3",
            "F: live_trading.confidence.ic_floor: 1 is outside 0 < x < 1",
            "F: live_trading.barrier_gate.g_min: 1.5 is outside 0 <= x <= 1",
            "F: live_trading.risk.spread_max_bps: -1 is outside x > 0",
            "F: live_trading.risk.max_daily_loss_pct: 250 is outside 0 < pct <= 100",
            "F: live_trading.risk.max_position_pct: 0 is outside 0 < pct <= 100",
            "F: live_trading.risk.trade_cooldown_seconds: -0.5 is outside x >= 0",
            "F: live_trading.paper.initial_cash: 0 is outside x > 0",
            "F: live_trading.reconciliation.mode: \"sometimes\" is not one of warn, auto_sync, strict",
            "F: live_trading.reconciliation.periodic_interval: 0 is outside n >= 1",
            "F: live_trading.logging.level: \"loud\" is not one of trace, debug, info, warn, warning, error, critical",
            "F: live_trading.decision.trigger: \"tick\" is not one of cycle, bar, quote",
            "F: live_trading.decision.interval_seconds: 0 is outside x > 0",
        ]
    );
}

#[test]
fn percent_given_for_a_fraction_key_is_rejected_with_a_hint() {
    assert_eq!(
        errors_of(
            "pct_as_fraction",
            "live_trading:\n  sizing:\n    max_weight: 5\n    no_trade_band: 1\n    gross_target: 0\n  \
             risk:\n    max_gross_exposure: 0\n",
        ),
        [
            "F: live_trading.risk.max_gross_exposure: 0 is outside x > 0",
            "F: live_trading.sizing.max_weight: 5 is outside 0 < x <= 1 (`max_weight` is a fraction, not a percent: 5 % is 0.05)",
            "F: live_trading.sizing.gross_target: 0 is outside x > 0",
            "F: live_trading.sizing.no_trade_band: 1 is outside 0 <= x < 1",
        ]
    );
    // Percent keys take percent: 0.5 means half a percent and is accepted.
    let c = load(
        "pct_small",
        "live_trading:\n  risk:\n    max_daily_loss_pct: 0.5\n",
    );
    assert_eq!(c.risk.max_daily_loss, Frac(0.005));
}

#[test]
fn invalid_horizon_lists_are_rejected() {
    assert_eq!(
        errors_of("horizons_bad", "live_trading:\n  horizons: [5m, fast, 0m, 15m]\n"),
        [
            "F: live_trading.horizons[1]: \"fast\" is not a horizon: expected N followed by m, h or d with N >= 1 (5m, 2h, 1d)",
            "F: live_trading.horizons[2]: \"0m\" is not a horizon: expected N followed by m, h or d with N >= 1 (5m, 2h, 1d)",
        ]
    );
    assert_eq!(
        errors_of("horizons_dup", "live_trading:\n  horizons: [5m, 60m, 1h]\n"),
        ["F: live_trading.horizons: [\"5m\",\"60m\",\"1h\"] is rejected: \"60m\" and \"1h\" are both 60 minutes: horizons must have distinct lengths"]
    );
    assert_eq!(
        errors_of("horizons_empty", "live_trading:\n  horizons: []\n"),
        ["F: live_trading.horizons: [] is rejected: the list is empty: at least one horizon is needed"]
    );
    assert_eq!(
        errors_of(
            "temperature_unknown_horizon",
            "live_trading:\n  horizons: [5m, 15m]\n  blending:\n    temperature: {5m: 0.5, 2h: 0.9}\n",
        ),
        ["F: live_trading.blending.temperature.2h: \"2h\" is not a configured horizon (horizons: 5m, 15m)"]
    );
}

#[test]
fn bad_timezones_are_rejected() {
    assert_eq!(
        errors_of("tz_mars", "live_trading:\n  risk:\n    session_timezone: Mars/Olympus\n"),
        ["F: live_trading.risk.session_timezone: \"Mars/Olympus\" is not an IANA time zone name (e.g. America/New_York)"]
    );
    assert_eq!(
        errors_of("tz_case", "live_trading:\n  risk:\n    session_timezone: america/new_york\n"),
        ["F: live_trading.risk.session_timezone: \"america/new_york\" is not an IANA time zone name; did you mean `America/New_York`?"]
    );
    let c = load(
        "tz_ok",
        "live_trading:\n  risk:\n    session_timezone: Europe/London\n",
    );
    assert_eq!(c.risk.session_timezone.name(), "Europe/London");
}

#[test]
fn websocket_keys_are_checked() {
    let errors = errors_of(
        "ws_bad",
        "live_trading:\n  data:\n    ws_url: http://example.com/v2/iex\n    ws_key_env: PKXYZ-123\n    ws_feed: nasdaq\n",
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("F: live_trading.data.ws_feed: \"nasdaq\""),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains(
            "live_trading.data.ws_url: \"http://example.com/v2/iex\" is not a websocket URL"
        )),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains(
            "live_trading.data.ws_key_env: \"PKXYZ-123\" is not an environment variable name"
        )),
        "{errors:?}"
    );
    let c = load(
        "ws_ok",
        "live_trading:\n  data:\n    ws_feed: sip\n    ws_secrets_file: /etc/lt/alpaca.env\n",
    );
    assert_eq!(c.data.ws_url(), "wss://stream.data.alpaca.markets/v2/sip");
    assert_eq!(
        c.data.ws_secrets_file.as_deref(),
        Some(Path::new("/etc/lt/alpaca.env"))
    );
    let c = load(
        "ws_url",
        "live_trading:\n  data:\n    ws_url: ws://127.0.0.1:9000/v2/test\n",
    );
    assert_eq!(c.data.ws_url(), "ws://127.0.0.1:9000/v2/test");
}

#[test]
fn cross_key_rules() {
    assert_eq!(
        errors_of(
            "cross_keys",
            "live_trading:\n  confidence:\n    min_ic_pairs: 25\n  blending:\n    history_size: 3\n",
        ),
        [
            "F: live_trading.confidence.min_ic_pairs: 25 is outside 3 <= n <= live_trading.confidence.ic_window (20)",
            "F: live_trading.blending.history_size: 3 is outside n >= live_trading.blending.min_history (5)",
        ]
    );
    // A key that is itself out of range gives no second, derived error.
    assert_eq!(
        errors_of(
            "cross_keys_single",
            "live_trading:\n  confidence:\n    min_ic_pairs: 2\n    ic_window: 1\n",
        ),
        [
            "F: live_trading.confidence.ic_window: 1 is outside n >= 3",
            "F: live_trading.confidence.min_ic_pairs: 2 is outside n >= 3",
        ]
    );
    let c = load(
        "ramp_follows_min_samples",
        "live_trading:\n  online_learning:\n    min_samples: 7\n",
    );
    assert_eq!(c.online_learning.ramp_up_samples, 7);
}

#[test]
fn every_error_is_reported_together() {
    let errs = errors_of(
        "many",
        "live_trading:\n  risk:\n    max_daily_loss_pct: 250\n    max_positon_pct: 20\n  \
         sizing:\n    max_weight: 5\n    z_max: [3]\n  horizons: [5m, 5min]\n  \
         online_learning:\n    blend_ratio: 1.5\n",
    );
    assert_eq!(errs.len(), 6, "{errs:#?}");
    for expected in [
        "F: live_trading.risk.max_positon_pct: unknown key; did you mean `max_position_pct`?",
        "F: live_trading.sizing.z_max: [3] is a list, expected a number",
        "F: live_trading.horizons[1]: \"5min\" is not a horizon",
        "F: live_trading.risk.max_daily_loss_pct: 250 is outside 0 < pct <= 100",
        "F: live_trading.sizing.max_weight: 5 is outside 0 < x <= 1",
        "F: live_trading.online_learning.blend_ratio: 1.5 is outside 0 <= x <= 1",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(expected)),
            "missing `{expected}` in {errs:#?}"
        );
    }
}

#[test]
fn ibkr_and_live_unknown_keys_and_wrong_types() {
    assert_eq!(
        errors_of(
            "ibkr_live_types",
            "live_trading:\n  ibkr:\n    clientid: 3\n    port: \"4002\"\n    host: 127\n    \
             market_data_type: 1\n    reconnect_max_ms: fast\n  live:\n    min_paper_day: 5\n    \
             min_backtest_sharpe: high\n    min_paper_days: 2.5\n    entry_window: 930\n    \
             backtest_report: [a]\n",
        ),
        [
            "F: live_trading.ibkr.clientid: unknown key; did you mean `client_id`?",
            "F: live_trading.live.min_paper_day: unknown key; did you mean `min_paper_days`?",
            "F: live_trading.ibkr.port: \"4002\" is a string, expected an integer",
            "F: live_trading.ibkr.host: 127 is an integer, expected a string",
            "F: live_trading.ibkr.market_data_type: 1 is an integer, expected a string",
            "F: live_trading.ibkr.reconnect_max_ms: \"fast\" is a string, expected a number",
            "F: live_trading.live.min_backtest_sharpe: \"high\" is a string, expected a number",
            "F: live_trading.live.min_paper_days: 2.5 is a decimal number, expected an integer",
            "F: live_trading.live.entry_window: 930 is an integer, expected a string",
            "F: live_trading.live.backtest_report: [\"a\"] is a list, expected a string",
        ]
    );
}

#[test]
fn ibkr_and_live_values_out_of_range() {
    assert_eq!(
        errors_of(
            "ibkr_live_ranges",
            "live_trading:\n  ibkr:\n    port: 0\n    client_id: 2147483648\n    md_client_id: -1\n    \
             connect_timeout_ms: 0\n    reconnect_base_ms: -5\n    probe_idle_ms: 0\n    \
             probe_timeout_ms: -1\n    max_msgs_per_sec: 51\n    commission_timeout_ms: 0\n  \
             live:\n    min_paper_days: -1\n",
        ),
        [
            "F: live_trading.ibkr.port: 0 is outside 1 <= n <= 65535",
            "F: live_trading.ibkr.client_id: 2147483648 is outside 0 <= n <= 2147483647",
            "F: live_trading.ibkr.md_client_id: -1 is outside 0 <= n <= 2147483647",
            "F: live_trading.ibkr.connect_timeout_ms: 0 is outside x > 0",
            "F: live_trading.ibkr.reconnect_base_ms: -5 is outside x > 0",
            "F: live_trading.ibkr.probe_idle_ms: 0 is outside x > 0",
            "F: live_trading.ibkr.probe_timeout_ms: -1 is outside x > 0",
            "F: live_trading.ibkr.max_msgs_per_sec: 51 is outside 1 <= n <= 50",
            "F: live_trading.ibkr.commission_timeout_ms: 0 is outside x > 0",
            "F: live_trading.live.min_paper_days: -1 is outside 0 <= n <= 4294967295",
        ]
    );
    assert_eq!(
        errors_of(
            "ibkr_port_high",
            "live_trading:\n  ibkr:\n    port: 70000\n    max_msgs_per_sec: 0\n"
        ),
        [
            "F: live_trading.ibkr.port: 70000 is outside 1 <= n <= 65535",
            "F: live_trading.ibkr.max_msgs_per_sec: 0 is outside 1 <= n <= 50",
        ]
    );
}

#[test]
fn ibkr_and_live_bad_choices_and_strings() {
    assert_eq!(
        errors_of(
            "ibkr_live_choices",
            "live_trading:\n  ibkr:\n    host: http://gw:4002\n    account: du1234567\n    \
             market_data_type: realtime\n    order_ids_path: \" \"\n    exchange: smart\n    \
             currency: USDT\n  live:\n    entry_window: lunch\n    entry_window_brokers: paper\n",
        ),
        [
            "F: live_trading.ibkr.host: \"http://gw:4002\" is not a host name or IP address (e.g. 127.0.0.1 or gateway.local); no scheme, port or blanks: the port is ibkr.port",
            "F: live_trading.ibkr.account: \"du1234567\" is not an IB account code: expected 1 to 3 capital letters then digits (DU1234567 for paper, U1234567 for live); remove the key to use the gateway's only account",
            "F: live_trading.ibkr.market_data_type: \"realtime\" is not one of live, frozen, delayed, delayed_frozen",
            "F: live_trading.ibkr.order_ids_path: \" \" is empty; expected a file path",
            "F: live_trading.ibkr.exchange: \"smart\" is not an IB exchange code: expected 1 to 16 of A-Z and 0-9 (SMART, ISLAND, ARCA)",
            "F: live_trading.ibkr.currency: \"USDT\" is not a currency code: expected three capital letters (USD, EUR)",
            "F: live_trading.live.entry_window: \"lunch\" is not an entry window: expected regular, extended, always or HH:MM-HH:MM (open < close) in risk.session_timezone, e.g. 09:45-15:30",
            "F: live_trading.live.entry_window_brokers: \"paper\" is not one of ibkr, all",
        ]
    );
    for bad in [
        "9:30-16:00",
        "16:00-09:30",
        "09:30-09:30",
        "09:30-24:01",
        "09:60-10:00",
        "09:30",
    ] {
        let errs = errors_of(
            "entry_window_shapes",
            &format!("live_trading:\n  live:\n    entry_window: \"{bad}\"\n"),
        );
        assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
        assert!(
            errs[0].starts_with(&format!(
                "F: live_trading.live.entry_window: \"{bad}\" is not an entry window"
            )),
            "{errs:?}"
        );
    }
    for bad in ["U", "1234", "ABCD123", "DU12a"] {
        let errs = errors_of(
            "account_shapes",
            &format!("live_trading:\n  ibkr:\n    account: \"{bad}\"\n"),
        );
        assert_eq!(errs.len(), 1, "{bad}: {errs:?}");
    }
}

#[test]
fn ibkr_cross_key_rules() {
    assert_eq!(
        errors_of(
            "ibkr_cross",
            "live_trading:\n  ibkr:\n    client_id: 5\n    md_client_id: 5\n    \
             reconnect_base_ms: 2000\n    reconnect_max_ms: 1000\n",
        ),
        [
            "F: live_trading.ibkr.md_client_id: 5 equals live_trading.ibkr.client_id: the market-data connection needs its own client id (IB drops a second connection with the same id); remove the key to use client_id + 1",
            "F: live_trading.ibkr.reconnect_max_ms: 1000 is outside x >= live_trading.ibkr.reconnect_base_ms (2000)",
        ]
    );
    // An md_client_id left out follows client_id.
    let c = load("md_follows", "live_trading:\n  ibkr:\n    client_id: 7\n");
    assert_eq!((c.ibkr.client_id, c.ibkr.md_client_id), (7, 8));
    let c = load(
        "md_wraps",
        "live_trading:\n  ibkr:\n    client_id: 2147483647\n",
    );
    assert_eq!(c.ibkr.md_client_id, 0);
    let c = load(
        "base_eq_max",
        "live_trading:\n  ibkr:\n    reconnect_base_ms: 800\n    reconnect_max_ms: 800\n",
    );
    assert_eq!(c.ibkr.reconnect_max, Nanos::from_millis(800));
}

#[test]
fn ibkr_and_live_values_load_and_round_trip() {
    use live_trading::config::{EntryWindowBrokers, EntryWindowSpec, MarketDataType, MinuteOfDay};
    let c = load(
        "ibkr_live_ok",
        "live_trading:\n  ibkr:\n    host: gw.example.com\n    port: 7497\n    account: U1234567\n    \
         market_data_type: Delayed_Frozen\n    probe_idle_ms: 2500.5\n    exchange: ISLAND\n  \
         live:\n    min_backtest_sharpe: -0.5\n    min_paper_days: 0\n    entry_window: \" 09:45 - 15:30 \"\n    \
         entry_window_brokers: all\n    backtest_report: runs/bt/backtest.json\n",
    );
    assert_eq!(c.ibkr.host, "gw.example.com");
    assert_eq!(c.ibkr.port, 7497);
    assert_eq!(
        c.ibkr.account.as_ref().map(|a| a.as_str()),
        Some("U1234567")
    );
    assert!(!c.ibkr.account.as_ref().unwrap().is_paper());
    assert_eq!(c.ibkr.market_data_type, MarketDataType::DelayedFrozen);
    assert_eq!(c.ibkr.market_data_type.code(), 4);
    assert_eq!(c.ibkr.probe_idle, Nanos(2_500_500_000));
    assert_eq!(c.live.min_backtest_sharpe, -0.5);
    assert_eq!(c.live.min_paper_days, 0);
    assert_eq!(
        c.live.entry_window,
        EntryWindowSpec::Custom {
            open: MinuteOfDay::hm(9, 45).unwrap(),
            close: MinuteOfDay::hm(15, 30).unwrap()
        }
    );
    assert_eq!(c.live.entry_window_brokers, EntryWindowBrokers::All);
    assert!(c.live.entry_window_applies(false));
    assert_eq!(
        c.live.backtest_report.as_deref(),
        Some(Path::new("runs/bt/backtest.json"))
    );
    let printed = c.to_string();
    assert!(printed.contains("entry_window: 09:45-15:30"), "{printed}");
    assert!(printed.contains("account: U1234567"), "{printed}");
    assert_eq!(EngineConfig::from_yaml_str(&printed, "printed").unwrap(), c);
    let ip6 = load("ibkr_ipv6", "live_trading:\n  ibkr:\n    host: \"::1\"\n");
    assert_eq!(ip6.ibkr.host, "::1");
    let d = EngineConfig::default();
    assert_eq!(d.live.entry_window, EntryWindowSpec::Regular);
    assert!(!d.live.entry_window_applies(false) && d.live.entry_window_applies(true));
}

#[test]
fn syntax_and_io_errors_name_the_file() {
    assert_eq!(
        errors_of("syntax", "live_trading:\n  risk: {max_daily_loss_pct: 2\n"),
        ["F: invalid YAML: unclosed bracket '{' at line 2, column 9"]
    );
    assert_eq!(
        errors_of("duplicate", "live_trading:\n  capacity_kappa: 0.1\n  capacity_kappa: 0.2\n"),
        ["F: invalid YAML: duplicate mapping key: capacity_kappa, set DuplicateKeyPolicy in Options if acceptable at line 3, column 3"]
    );
    let missing = temp_dir("io").join("nope.yaml");
    let e = EngineConfig::load(&missing).unwrap_err();
    assert_eq!(e.len(), 1);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read the file: ", missing.display())),
        "{e}"
    );
}

#[test]
fn overrides_apply_on_top_of_defaults() {
    // As in the engine_cycle vectors: dotted keys relative to `live_trading.`.
    let c = EngineConfig::from_overrides(&overrides(json!({
        "risk.max_position_pct": 25.0,
        "sizing.max_weight": 0.15,
        "confidence.ic_window": 8,
        "confidence.min_ic_pairs": 8,
        "online_learning.ramp_up_samples": 0,
    })))
    .unwrap();
    assert_eq!(c.risk.max_position, Frac(0.25));
    assert_eq!(c.sizing.max_weight, Frac(0.15));
    assert_eq!((c.confidence.ic_window, c.confidence.min_ic_pairs), (8, 8));
    assert_eq!(c.online_learning.ramp_up_samples, 0);
    assert_eq!(
        c.risk.max_daily_loss,
        Frac(0.02),
        "untouched keys keep defaults"
    );
    assert_eq!(
        EngineConfig::from_overrides(&Map::new()).unwrap(),
        EngineConfig::default()
    );

    let errs = EngineConfig::from_overrides(&overrides(json!({
        "risk.max_position_pc": 25.0,
        "sizing.max_weight": 5,
    })))
    .unwrap_err();
    assert_eq!(
        lines(&errs),
        [
            "<overrides>: live_trading.risk.max_position_pc: unknown key; did you mean `max_position_pct`?",
            "<overrides>: live_trading.sizing.max_weight: 5 is outside 0 < x <= 1 (`max_weight` is a fraction, not a percent: 5 % is 0.05)",
        ]
    );
}

#[test]
fn overrides_on_a_file_are_labelled_as_overrides() {
    let dir = temp_dir("file_overrides");
    let path = write(
        &dir,
        "live_trading.yaml",
        "live_trading:\n  risk:\n    max_daily_loss_pct: 300\n",
    );
    let errs = EngineConfig::load_with_overrides(
        &path,
        &overrides(json!({"sizing.z_max": -1, "risk.max_drawdown_pct": 5})),
    )
    .unwrap_err();
    assert_eq!(
        lines(&errs),
        [
            format!(
                "{}: live_trading.risk.max_daily_loss_pct: 300 is outside 0 < pct <= 100",
                path.display()
            ),
            format!("{OVERRIDES}: live_trading.sizing.z_max: -1 is outside x > 0"),
        ]
    );
    let mut tree = json!({"live_trading": {"risk": {"max_daily_loss_pct": 300}}});
    apply_override(&mut tree, "risk.max_daily_loss_pct", json!(3)).unwrap();
    assert_eq!(tree["live_trading"]["risk"]["max_daily_loss_pct"], json!(3));
}

#[test]
fn bad_symbol_files_are_rejected() {
    let dir = temp_dir("symbols");
    let path = write(
        &dir,
        "symbols.yaml",
        "symbols: [SPY, spy, SPY]\ntickers: []\n",
    );
    let shown = path.display().to_string();
    let errs: Vec<String> = lines(&Symbols::load(&path).unwrap_err())
        .iter()
        .map(|l| l.replace(&shown, "F"))
        .collect();
    assert_eq!(
        errs,
        [
            "F: tickers: unknown key",
            "F: symbols[1]: \"spy\" is not a ticker: expected 1 to 10 of A-Z, 0-9 and .; write it as SPY",
            "F: symbols[2]: \"SPY\" is listed twice",
        ]
    );
}

fn run_check(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_live-trading"))
        .args(["config", "check"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn config_check_exits_2_and_prints_every_error() {
    let dir = temp_dir("cli_bad");
    let path = write(
        &dir,
        "live_trading.yaml",
        "live_trading:\n  risk:\n    max_daily_loss_pct: 250\n    max_daily_los_pct: 3\n",
    );
    let (code, stdout, stderr) = run_check(&["--config", path.to_str().unwrap()]);
    assert_eq!(code, 2, "stdout: {stdout}\nstderr: {stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    let shown = path.display();
    assert!(
        stderr.contains(&format!(
            "{shown}: live_trading.risk.max_daily_loss_pct: 250 is outside 0 < pct <= 100"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{shown}: live_trading.risk.max_daily_los_pct: unknown key; did you mean `max_daily_loss_pct`?"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("config check failed: 2 errors"), "{stderr}");
}

#[test]
fn config_check_prints_the_resolved_shipped_config() {
    let (code, stdout, stderr) = run_check(&["--symbols", "config/symbols.yaml"]);
    assert_eq!(code, 0, "stderr: {stderr}");
    let printed = stdout
        .strip_suffix("symbols: [SPY, QQQ, IWM, AAPL, MSFT]\n")
        .unwrap_or_else(|| panic!("no symbols line in {stdout}"));
    assert_eq!(
        EngineConfig::from_yaml_str(printed, "stdout").unwrap(),
        EngineConfig::default()
    );
}
