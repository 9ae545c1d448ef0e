//! Configuration (SPEC §20): `config/live_trading.yaml` → validated
//! [`EngineConfig`], and `config/symbols.yaml` → [`Symbols`].
//!
//! Loading has two phases, and both collect every problem instead of
//! stopping at the first:
//! 1. `raw`: YAML → `serde_json::Value` tree → raw structs mirroring the
//!    file (`deny_unknown_fields`, all fields optional). Unknown keys are
//!    reported with their full path and the closest known key, wrong types
//!    with the value seen and the type expected.
//! 2. `validate`: ranges, cross-key rules, unit conversion (`_pct` ÷ 100
//!    → `Frac`, times → `Nanos`) and defaults for absent keys; an explicit
//!    value is never replaced by its default.
//!
//! Dotted overrides (`risk.max_position_pct: 25`, relative to
//! `live_trading.`) are applied to the tree before phase 1, for the
//! engine-cycle vectors and for command-line settings.
//!
//! Cold path: runs once at start-up (and in `live-trading config check`).

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

mod error;
mod params;
mod raw;
mod render;
mod sections;
mod symbols;
mod validate;

use std::path::Path;

use serde_json::{Map, Value};

pub use error::{ConfigError, ConfigErrors, Problem, OVERRIDES};
pub use raw::ROOT;
pub use sections::*;
pub use symbols::{Symbols, MAX_TICKER_LEN};

use error::Collector;

/// Where `live-trading` looks for its config by default.
pub const DEFAULT_CONFIG_PATH: &str = "config/live_trading.yaml";
/// Where `live-trading` looks for its symbol list by default.
pub const DEFAULT_SYMBOLS_PATH: &str = "config/symbols.yaml";

impl EngineConfig {
    /// Read and validate a config file.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigErrors> {
        EngineConfig::load_with_overrides(path, &Map::new())
    }

    /// Read a config file, apply dotted overrides (relative to
    /// `live_trading.`), then validate. Errors in overridden keys are
    /// labelled [`OVERRIDES`] instead of the file.
    pub fn load_with_overrides(
        path: &Path,
        overrides: &Map<String, Value>,
    ) -> Result<EngineConfig, ConfigErrors> {
        let file = path.display().to_string();
        let text = read_file(path)?;
        let mut tree = raw::parse_yaml(&text, &file)?;
        let overridden = apply_all(&mut tree, overrides)?;
        from_tree(&tree, &file, overridden)
    }

    /// Validate config YAML text; `file` labels the errors.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<EngineConfig, ConfigErrors> {
        let tree = raw::parse_yaml(text, file)?;
        from_tree(&tree, file, Vec::new())
    }

    /// The defaults with dotted overrides applied (`{"risk.max_position_pct":
    /// 25.0}`), validated like a file.
    pub fn from_overrides(overrides: &Map<String, Value>) -> Result<EngineConfig, ConfigErrors> {
        let mut tree = Value::Object(Map::new());
        tree[ROOT] = Value::Object(Map::new());
        let overridden = apply_all(&mut tree, overrides)?;
        from_tree(&tree, OVERRIDES, overridden)
    }
}

/// Validate a whole document tree (`{"live_trading": {...}}`).
fn from_tree(
    tree: &Value,
    file: &str,
    overridden: Vec<String>,
) -> Result<EngineConfig, ConfigErrors> {
    let mut errors = Collector::new(file, overridden);
    let raw = raw::load_config(tree, &mut errors);
    let config = validate::validate(&raw, &mut errors);
    errors.finish().into_result(config)
}

/// Apply every override; the full key paths set, or every override error.
fn apply_all(
    tree: &mut Value,
    overrides: &Map<String, Value>,
) -> Result<Vec<String>, ConfigErrors> {
    let mut errors = Vec::new();
    let mut paths = Vec::with_capacity(overrides.len());
    for (key, value) in overrides {
        match apply_override(tree, key, value.clone()) {
            Ok(path) => paths.push(path),
            Err(e) => errors.push(e),
        }
    }
    ConfigErrors(errors).into_result(paths)
}

/// Set `live_trading.<key>` in a document tree to `value`, creating missing
/// sections (`key` is dotted and relative to `live_trading.`; a leading
/// `live_trading.` is accepted too). Returns the full key path set. The key
/// itself is checked later, when the tree is loaded.
pub fn apply_override(tree: &mut Value, key: &str, value: Value) -> Result<String, ConfigError> {
    let relative = key.strip_prefix("live_trading.").unwrap_or(key);
    let full = format!("{ROOT}.{relative}");
    if relative.is_empty() || relative.split('.').any(str::is_empty) {
        return Err(ConfigError::new(
            OVERRIDES,
            full,
            Problem::Invalid {
                value: format!("{key:?}"),
                reason: "is not a dotted key path (e.g. `risk.max_position_pct`)".to_owned(),
            },
        ));
    }
    let mut node = tree;
    let mut at = String::new();
    for part in std::iter::once(ROOT).chain(relative.split('.')) {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(map) = node else {
            return Err(ConfigError::new(
                OVERRIDES,
                at,
                Problem::WrongType {
                    value: raw::render(node),
                    found: raw::kind(node),
                    expected: "a mapping",
                },
            ));
        };
        at = if at.is_empty() {
            part.to_owned()
        } else {
            format!("{at}.{part}")
        };
        node = map.entry(part).or_insert(Value::Null);
    }
    *node = value;
    Ok(full)
}

/// A config file's text, or why it cannot be read.
pub(crate) fn read_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            &path.display().to_string(),
            "",
            Problem::Unreadable(e.to_string()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_create_sections_and_replace_values() {
        let mut tree = json!({"live_trading": {"risk": {"max_position_pct": 20.0}, "paper": null}});
        let path = apply_override(&mut tree, "risk.max_position_pct", json!(25.0)).unwrap();
        assert_eq!(path, "live_trading.risk.max_position_pct");
        apply_override(&mut tree, "live_trading.sizing.z_max", json!(1.5)).unwrap();
        apply_override(&mut tree, "paper.fee_bps", json!(0)).unwrap();
        assert_eq!(
            tree,
            json!({"live_trading": {
                "risk": {"max_position_pct": 25.0},
                "paper": {"fee_bps": 0},
                "sizing": {"z_max": 1.5},
            }})
        );
    }

    #[test]
    fn overrides_into_non_mappings_fail() {
        let mut tree = json!({"live_trading": {"horizons": ["5m"]}});
        let e = apply_override(&mut tree, "horizons.first", json!("1m")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "<overrides>: live_trading.horizons: [\"5m\"] is a list, expected a mapping"
        );
        let e = apply_override(&mut tree, "risk..x", json!(1)).unwrap_err();
        assert!(e.to_string().contains("is not a dotted key path"), "{e}");
    }

    #[test]
    fn explicit_zero_never_falls_back_to_the_default() {
        let o = json!({"paper.fee_bps": 0, "sizing.no_trade_band": 0, "online_learning.ramp_up_samples": 0});
        let c = EngineConfig::from_overrides(o.as_object().unwrap()).unwrap();
        assert_eq!(c.paper.fee_bps.0, 0.0);
        assert_eq!(c.sizing.no_trade_band.0, 0.0);
        assert_eq!(c.online_learning.ramp_up_samples, 0);
        assert_eq!(c.online_learning.min_samples, 100);
    }
}
