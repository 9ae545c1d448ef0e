//! Phase 1 of loading: YAML text → `serde_json::Value` tree → raw structs
//! that mirror the file (`deny_unknown_fields`, every field optional, no
//! ranges checked yet).
//!
//! Every problem is collected rather than the first one returned: unknown
//! keys (with the closest known key) and empty values are pruned from the
//! tree first, then the tree is deserialized with `serde_path_to_error`; each
//! type error is reported with its key path and the offending key removed
//! before trying again.
//!
//! Cold path: start-up and `config check` only.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{Collector, ConfigError, Problem};
use crate::suggest::closest;

/// The top-level key of `live_trading.yaml`.
pub const ROOT: &str = "live_trading";

/// One step of a key path inside a value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Append `steps` to a dotted key path (`a.b`, `a.list[2]`).
pub fn join_path(base: &str, steps: &[Step]) -> String {
    let mut out = base.to_owned();
    for step in steps {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A type a raw config value can have.
pub trait RawNode {
    /// What a value of this type looks like, for "expected …" messages.
    const EXPECTED: &'static str;
    /// Whether `null` means "empty" (sections) rather than "no value".
    const NULL_IS_EMPTY: bool = false;

    /// What is expected at `inner` steps below a value of this type.
    fn expected_at(inner: &[Step]) -> &'static str {
        let _ = inner;
        Self::EXPECTED
    }

    /// Remove and report unknown keys and empty values inside `value`
    /// (sections only; leaves have nothing to prune).
    fn prune(value: &mut Value, path: &str, errors: &mut Collector) {
        let _ = (value, path, errors);
    }
}

impl RawNode for f64 {
    const EXPECTED: &'static str = "a number";
}

impl RawNode for i64 {
    const EXPECTED: &'static str = "an integer";
}

impl RawNode for bool {
    const EXPECTED: &'static str = "true or false";
}

impl RawNode for String {
    const EXPECTED: &'static str = "a string";
}

impl RawNode for Vec<String> {
    const EXPECTED: &'static str = "a list of strings";
    fn expected_at(inner: &[Step]) -> &'static str {
        if inner.is_empty() {
            Self::EXPECTED
        } else {
            String::EXPECTED
        }
    }
}

impl RawNode for BTreeMap<String, f64> {
    const EXPECTED: &'static str = "a mapping of horizon to number";
    fn expected_at(inner: &[Step]) -> &'static str {
        if inner.is_empty() {
            Self::EXPECTED
        } else {
            f64::EXPECTED
        }
    }
}

/// Prune one field's value; `false` when it must be dropped (reported empty).
fn prune_field<T: RawNode>(value: &mut Value, path: &str, errors: &mut Collector) -> bool {
    if value.is_null() && !T::NULL_IS_EMPTY {
        errors.push(
            path,
            Problem::Empty {
                expected: T::EXPECTED,
            },
        );
        return false;
    }
    T::prune(value, path, errors);
    true
}

/// Declares a raw section: the struct (every field `Option`, unknown
/// fields denied), its `KEYS`, and its [`RawNode`] impl.
macro_rules! raw_section {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $ty:ty,)+ }) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: Option<$ty>,)+
        }

        impl $name {
            /// The keys this section accepts, in file order.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($field)),+];
        }

        impl RawNode for $name {
            const EXPECTED: &'static str = "a mapping";
            const NULL_IS_EMPTY: bool = true;

            fn expected_at(inner: &[Step]) -> &'static str {
                match inner.split_first() {
                    None => Self::EXPECTED,
                    $(Some((Step::Key(k), rest)) if k == stringify!($field) => {
                        <$ty as RawNode>::expected_at(rest)
                    })+
                    Some(_) => "a known key",
                }
            }

            fn prune(value: &mut Value, path: &str, errors: &mut Collector) {
                if value.is_null() {
                    *value = Value::Object(Map::new());
                }
                // Anything else than a mapping is reported by serde.
                let Value::Object(map) = value else { return };
                let keys: Vec<String> = map.keys().cloned().collect();
                for key in keys {
                    let child = join_path(path, &[Step::Key(key.clone())]);
                    let Some(v) = map.get_mut(&key) else { continue };
                    let keep = match key.as_str() {
                        $(stringify!($field) => prune_field::<$ty>(v, &child, errors),)+
                        _ => {
                            errors.push(child, Problem::UnknownKey {
                                closest: closest(&key, Self::KEYS),
                            });
                            false
                        }
                    };
                    if !keep {
                        map.shift_remove(&key);
                    }
                }
            }
        }
    };
}

raw_section! {
    /// Everything under `live_trading:`, in file order.
    RawConfig {
        horizons: Vec<String>,
        volatility: RawVolatility,
        data: RawData,
        standardization: RawStandardization,
        capacity_kappa: f64,
        confidence: RawConfidence,
        blending: RawBlending,
        cost_model: RawCostModel,
        arbitration: RawArbitration,
        engine: RawEngine,
        barrier_gate: RawBarrierGate,
        risk: RawRisk,
        sizing: RawSizing,
        paper: RawPaper,
        online_learning: RawOnlineLearning,
        reconciliation: RawReconciliation,
        models: RawModels,
        cs_ranking: RawCsRanking,
        logging: RawLogging,
        decision: RawDecision,
        ibkr: RawIbkr,
        live: RawLive,
    }
}

raw_section! {
    /// `volatility.*`.
    RawVolatility {
        bar_minutes: i64,
        vol_window: i64,
    }
}

raw_section! {
    /// `data.*`.
    RawData {
        history_bars: i64,
        backend: String,
        cache_ttl_seconds: f64,
        stale_after_ms: f64,
        ws_feed: String,
        ws_url: String,
        ws_key_env: String,
        ws_secret_env: String,
        ws_secrets_file: String,
        ws_roots_pem: String,
    }
}

raw_section! {
    /// `standardization.*`.
    RawStandardization {
        window_size: i64,
        z_clip: f64,
    }
}

raw_section! {
    /// `confidence.*`.
    RawConfidence {
        ic_window: i64,
        stability_window: i64,
        min_ic_pairs: i64,
        ic_floor: f64,
    }
}

raw_section! {
    /// `blending.*`.
    RawBlending {
        ridge_lambda: f64,
        cost_penalty: f64,
        history_size: i64,
        min_history: i64,
        temperature: BTreeMap<String, f64>,
    }
}

raw_section! {
    /// `cost_model.*`.
    RawCostModel {
        k1: f64,
        k2: f64,
        k3: f64,
    }
}

raw_section! {
    /// `arbitration.*`.
    RawArbitration {
        entry_threshold_bps: f64,
        reserve_bps: f64,
    }
}

raw_section! {
    /// `engine.*`.
    RawEngine {
        enable_barrier_gate: bool,
        enable_spread_gate: bool,
        state_path: String,
        history_path: String,
    }
}

raw_section! {
    /// `barrier_gate.*`.
    RawBarrierGate {
        g_min: f64,
        gamma: f64,
        delta: f64,
        peak_threshold: f64,
        valley_threshold: f64,
    }
}

raw_section! {
    /// `risk.*`.
    RawRisk {
        spread_max_bps: f64,
        quote_age_max_ms: f64,
        max_daily_loss_pct: f64,
        max_drawdown_pct: f64,
        max_position_pct: f64,
        max_gross_exposure: f64,
        trade_cooldown_seconds: f64,
        session_timezone: String,
    }
}

raw_section! {
    /// `sizing.*`.
    RawSizing {
        z_max: f64,
        max_weight: f64,
        gross_target: f64,
        no_trade_band: f64,
    }
}

raw_section! {
    /// `paper.*`.
    RawPaper {
        initial_cash: f64,
        slippage_bps: f64,
        fee_bps: f64,
    }
}

raw_section! {
    /// `online_learning.*`.
    RawOnlineLearning {
        enabled: bool,
        eta_max: f64,
        reward_clip_bps: f64,
        blend_ratio: f64,
        min_samples: i64,
        ramp_up_samples: i64,
        gamma: f64,
    }
}

raw_section! {
    /// `reconciliation.*`.
    RawReconciliation {
        mode: String,
        periodic_interval: i64,
        qty_tolerance: f64,
    }
}

raw_section! {
    /// `models.*`.
    RawModels {
        verify_checksums: bool,
        strict_checksums: bool,
    }
}

raw_section! {
    /// `cs_ranking.*`.
    RawCsRanking {
        min_universe_size: i64,
    }
}

raw_section! {
    /// `logging.*`.
    RawLogging {
        level: String,
        trade_log_dir: String,
        state_path: String,
    }
}

raw_section! {
    /// `decision.*`.
    RawDecision {
        trigger: String,
        interval_seconds: f64,
    }
}

raw_section! {
    /// `ibkr.*`: the Interactive Brokers TWS / IB Gateway connection.
    RawIbkr {
        host: String,
        port: i64,
        client_id: i64,
        md_client_id: i64,
        account: String,
        connect_timeout_ms: f64,
        reconnect_base_ms: f64,
        reconnect_max_ms: f64,
        probe_idle_ms: f64,
        probe_timeout_ms: f64,
        max_msgs_per_sec: i64,
        market_data_type: String,
        commission_timeout_ms: f64,
        order_ids_path: String,
        exchange: String,
        currency: String,
    }
}

raw_section! {
    /// `live.*`: going live safely (prerequisites, entry window).
    RawLive {
        min_backtest_sharpe: f64,
        min_paper_days: i64,
        backtest_report: String,
        entry_window: String,
        entry_window_brokers: String,
    }
}

raw_section! {
    /// `symbols.yaml`.
    RawSymbols {
        symbols: Vec<String>,
    }
}

/// Parse YAML text into a tree (YAML 1.2 booleans only, so tickers such as
/// `ON` or `Y` stay strings; duplicate keys and non-finite numbers rejected).
pub fn parse_yaml(text: &str, file: &str) -> Result<Value, ConfigError> {
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| ConfigError::new(file, "", Problem::Syntax(e.without_snippet().to_string())))
}

/// The raw `live_trading:` section of a document tree. Missing or broken
/// parts are reported and left `None`.
pub fn load_config(doc: &Value, errors: &mut Collector) -> RawConfig {
    let mut top = match doc {
        Value::Null => Map::new(),
        Value::Object(map) => map.clone(),
        other => {
            errors.push(
                "",
                Problem::WrongType {
                    value: render(other),
                    found: kind(other),
                    expected: "a mapping with the key `live_trading`",
                },
            );
            return RawConfig::default();
        }
    };
    for key in top.keys().filter(|k| *k != ROOT) {
        errors.push(
            key.clone(),
            Problem::UnknownKey {
                closest: closest(key, &[ROOT]),
            },
        );
    }
    let Some(mut tree) = top.shift_remove(ROOT) else {
        errors.push(
            ROOT,
            Problem::Missing {
                expected: "the file must hold its settings under the top-level key `live_trading:`",
            },
        );
        return RawConfig::default();
    };
    RawConfig::prune(&mut tree, ROOT, errors);
    deserialize_collecting(tree, ROOT, errors)
}

/// A raw section at document level (`symbols.yaml`).
pub fn load_document<T>(doc: &Value, errors: &mut Collector) -> T
where
    T: RawNode + DeserializeOwned + Default,
{
    let mut tree = doc.clone();
    T::prune(&mut tree, "", errors);
    deserialize_collecting(tree, "", errors)
}

/// Deserialize `tree` as `T`, reporting each type error with its key path
/// and dropping the offending key until the rest deserializes.
fn deserialize_collecting<T>(mut tree: Value, path: &str, errors: &mut Collector) -> T
where
    T: RawNode + DeserializeOwned + Default,
{
    loop {
        let err = match serde_path_to_error::deserialize::<_, T>(&tree) {
            Ok(raw) => return raw,
            Err(e) => e,
        };
        let steps: Vec<Step> = err
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(Step::Key(key.clone())),
                serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
                _ => None,
            })
            .collect();
        let key = join_path(path, &steps);
        let problem = match lookup(&tree, &steps) {
            Some(seen) => wrong_type(seen, T::expected_at(&steps)),
            None => Problem::Invalid {
                value: String::new(),
                reason: err.inner().to_string(),
            },
        };
        errors.push(key, problem);
        if !remove_at(&mut tree, &steps) {
            return T::default();
        }
    }
}

fn wrong_type(seen: &Value, expected: &'static str) -> Problem {
    let found = kind(seen);
    if found == expected {
        // An integer that does not fit in 64 bits.
        return Problem::OutOfRange {
            value: render(seen),
            allowed: format!("{} <= n <= {}", i64::MIN, i64::MAX),
            hint: None,
        };
    }
    Problem::WrongType {
        value: render(seen),
        found,
        expected,
    }
}

/// What kind of YAML value `v` is, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a decimal number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value as seen in a message: JSON, strings quoted, long values cut.
pub fn render(v: &Value) -> String {
    const MAX: usize = 60;
    let text = v.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

fn lookup<'a>(tree: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(tree, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(i),
    })
}

/// Remove the innermost map entry on `steps` (a bad list item drops the
/// whole list). `false` when there is no such entry.
fn remove_at(tree: &mut Value, steps: &[Step]) -> bool {
    let Some(last_key) = steps.iter().rposition(|s| matches!(s, Step::Key(_))) else {
        return false;
    };
    let Step::Key(key) = &steps[last_key] else {
        return false;
    };
    let parent = steps[..last_key]
        .iter()
        .try_fold(tree, |v, step| match step {
            Step::Key(k) => v.get_mut(k),
            Step::Index(i) => v.get_mut(i),
        });
    match parent {
        Some(Value::Object(map)) => map.shift_remove(key).is_some(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn load(doc: Value) -> (RawConfig, Vec<String>) {
        let mut c = Collector::new("f.yaml", Vec::new());
        let raw = load_config(&doc, &mut c);
        (raw, c.finish().iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn keys_come_from_the_struct() {
        assert_eq!(
            RawSizing::KEYS,
            ["z_max", "max_weight", "gross_target", "no_trade_band"]
        );
        assert!(RawConfig::KEYS.contains(&"capacity_kappa"));
    }

    #[test]
    fn reports_every_type_error_and_keeps_the_rest() {
        let (raw, errs) = load(json!({"live_trading": {
            "risk": {"max_daily_loss_pct": "two", "max_drawdown_pct": 9, "spread_max_bps": [1]},
            "confidence": {"ic_window": 20.5},
            "horizons": ["5m", 15],
        }}));
        assert_eq!(
            errs,
            [
                "f.yaml: live_trading.risk.max_daily_loss_pct: \"two\" is a string, expected a number",
                "f.yaml: live_trading.risk.spread_max_bps: [1] is a list, expected a number",
                "f.yaml: live_trading.confidence.ic_window: 20.5 is a decimal number, expected an integer",
                "f.yaml: live_trading.horizons[1]: 15 is an integer, expected a string",
            ]
        );
        let risk = raw.risk.unwrap();
        assert_eq!(risk.max_drawdown_pct, Some(9.0));
        assert_eq!(risk.max_daily_loss_pct, None);
        assert_eq!(raw.horizons, None);
    }

    #[test]
    fn unknown_and_empty_keys_are_reported_with_paths() {
        let (raw, errs) = load(json!({
            "live_tradin": 1,
            "live_trading": {"risk": {"max_daily_los_pct": 3, "fee_bps": null}, "sizng": {}, "paper": null},
        }));
        assert_eq!(
            errs,
            [
                "f.yaml: live_tradin: unknown key; did you mean `live_trading`?",
                "f.yaml: live_trading.risk.max_daily_los_pct: unknown key; did you mean `max_daily_loss_pct`?",
                "f.yaml: live_trading.risk.fee_bps: unknown key",
                "f.yaml: live_trading.sizng: unknown key; did you mean `sizing`?",
            ]
        );
        assert_eq!(
            raw.paper,
            Some(RawPaper::default()),
            "a null section is empty"
        );
    }

    #[test]
    fn empty_leaf_values_are_rejected() {
        let (_, errs) = load(json!({"live_trading": {"risk": {"max_daily_loss_pct": null}}}));
        assert_eq!(
            errs,
            ["f.yaml: live_trading.risk.max_daily_loss_pct: has no value; expected a number (remove the key to use the default)"]
        );
    }

    #[test]
    fn document_shape_errors() {
        let (_, errs) = load(json!([1]));
        assert_eq!(
            errs,
            ["f.yaml: [1] is a list, expected a mapping with the key `live_trading`"]
        );
        let (_, errs) = load(Value::Null);
        assert!(
            errs[0].starts_with("f.yaml: live_trading: missing;"),
            "{errs:?}"
        );
        let (_, errs) = load(json!({"live_trading": {"risk": 5, "capacity_kappa": 1.0}}));
        assert_eq!(
            errs,
            ["f.yaml: live_trading.risk: 5 is an integer, expected a mapping"]
        );
    }

    #[test]
    fn oversized_integers_are_out_of_range() {
        let (_, errs) = load(json!({"live_trading": {"data": {"history_bars": u64::MAX}}}));
        assert_eq!(
            errs,
            ["f.yaml: live_trading.data.history_bars: 18446744073709551615 is outside -9223372036854775808 <= n <= 9223372036854775807"]
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_line_and_column() {
        let e = parse_yaml("a: [1, 2\n", "f.yaml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.yaml: invalid YAML: unclosed bracket '[' at line 1, column 4"
        );
        assert!(
            parse_yaml("a: 1\na: 2\n", "f.yaml").is_err(),
            "duplicate keys"
        );
        assert!(
            parse_yaml("a: .inf\n", "f.yaml").is_err(),
            "non-finite numbers"
        );
        assert_eq!(
            parse_yaml("a: [ON, y]\n", "f.yaml").unwrap(),
            json!({"a": ["ON", "y"]})
        );
    }
}
