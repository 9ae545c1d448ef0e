//! The traded universe, `config/symbols.yaml`:
//!
//! ```yaml
//! symbols: [SPY, QQQ, IWM, AAPL, MSFT]
//! ```
//!
//! A non-empty list of distinct upper-case tickers matching
//! `[A-Z0-9.]{1,10}`, in the caller's order (the order of a cycle).
//! Errors follow the same form as `live_trading.yaml`.
//!
//! Cold path: start-up and `config check` only.

use std::fmt;
use std::path::Path;

use super::error::{Collector, ConfigErrors, Problem};
use super::raw::{self, RawSymbols};
use super::read_file;

/// Longest accepted ticker.
pub const MAX_TICKER_LEN: usize = 10;

/// The validated symbol list, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbols(Vec<String>);

impl Symbols {
    /// Read and validate a symbols file.
    pub fn load(path: &Path) -> Result<Symbols, ConfigErrors> {
        let file = path.display().to_string();
        let text = read_file(path)?;
        Symbols::from_yaml_str(&text, &file)
    }

    /// Validate symbols YAML text; `file` labels the errors.
    pub fn from_yaml_str(text: &str, file: &str) -> Result<Symbols, ConfigErrors> {
        let doc = raw::parse_yaml(text, file)?;
        let mut errors = Collector::new(file, Vec::new());
        let raw: RawSymbols = raw::load_document(&doc, &mut errors);
        let symbols = match raw.symbols {
            Some(list) => validate(list, &mut errors),
            // Present but rejected: already reported.
            None if doc.get("symbols").is_some() => Vec::new(),
            None => {
                errors.push(
                    "symbols",
                    Problem::Missing {
                        expected: "the file must list the tickers under `symbols:`",
                    },
                );
                Vec::new()
            }
        };
        errors.finish().into_result(Symbols(symbols))
    }

    /// Validate a list given on the command line (`--symbols`), with the
    /// same rules as the file; errors name `--symbols`.
    pub fn from_list<S: AsRef<str>>(list: &[S]) -> Result<Symbols, ConfigErrors> {
        let items: Vec<serde_json::Value> = list
            .iter()
            .map(|s| serde_json::Value::String(s.as_ref().trim().to_owned()))
            .collect();
        let doc = serde_json::json!({ "symbols": items });
        let mut errors = Collector::new("--symbols", Vec::new());
        let raw: RawSymbols = raw::load_document(&doc, &mut errors);
        let symbols = raw
            .symbols
            .map(|list| validate(list, &mut errors))
            .unwrap_or_default();
        errors.finish().into_result(Symbols(symbols))
    }

    /// The tickers in file order.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true for a loaded list.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn validate(list: Vec<String>, errors: &mut Collector) -> Vec<String> {
    if list.is_empty() {
        errors.push(
            "symbols",
            Problem::Invalid {
                value: "[]".to_owned(),
                reason: "is empty; list at least one ticker".to_owned(),
            },
        );
    }
    for (i, ticker) in list.iter().enumerate() {
        let key = format!("symbols[{i}]");
        if let Some(reason) = ticker_problem(ticker) {
            errors.push(
                key,
                Problem::Invalid {
                    value: format!("{ticker:?}"),
                    reason,
                },
            );
        } else if list[..i].contains(ticker) {
            errors.push(
                key,
                Problem::Invalid {
                    value: format!("{ticker:?}"),
                    reason: "is listed twice".to_owned(),
                },
            );
        }
    }
    list
}

/// Why `t` is not a ticker, if it is not.
fn ticker_problem(t: &str) -> Option<String> {
    let valid = |b: u8| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.';
    if !t.is_empty() && t.len() <= MAX_TICKER_LEN && t.bytes().all(valid) {
        return None;
    }
    let upper = t.trim().to_ascii_uppercase();
    let hint = if upper != t && ticker_problem(&upper).is_none() {
        format!("; write it as {upper}")
    } else {
        String::new()
    };
    Some(format!(
        "is not a ticker: expected 1 to {MAX_TICKER_LEN} of A-Z, 0-9 and .{hint}"
    ))
}

impl fmt::Display for Symbols {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "symbols: [{}]", self.0.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        match Symbols::from_yaml_str(text, "s.yaml") {
            Ok(s) => panic!("accepted {s}"),
            Err(e) => e.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn loads_tickers_in_order() {
        let s = Symbols::from_yaml_str("symbols: [SPY, QQQ, BRK.B, ON, Y]\n", "s.yaml").unwrap();
        assert_eq!(s.as_slice(), ["SPY", "QQQ", "BRK.B", "ON", "Y"]);
        assert_eq!(s.to_string(), "symbols: [SPY, QQQ, BRK.B, ON, Y]");
    }

    #[test]
    fn rejects_bad_lists() {
        assert_eq!(
            errors("symbols: [SPY, spy, SPY, TOOLONGTICKER]\n"),
            [
                "s.yaml: symbols[1]: \"spy\" is not a ticker: expected 1 to 10 of A-Z, 0-9 and .; write it as SPY",
                "s.yaml: symbols[2]: \"SPY\" is listed twice",
                "s.yaml: symbols[3]: \"TOOLONGTICKER\" is not a ticker: expected 1 to 10 of A-Z, 0-9 and .",
            ]
        );
        assert_eq!(
            errors("symbols: []\n"),
            ["s.yaml: symbols: [] is empty; list at least one ticker"]
        );
        assert_eq!(
            errors("symbol: [SPY]\n"),
            [
                "s.yaml: symbol: unknown key; did you mean `symbols`?",
                "s.yaml: symbols: missing; the file must list the tickers under `symbols:`",
            ]
        );
        assert_eq!(
            errors("symbols: [SPY, 1234]\n"),
            ["s.yaml: symbols[1]: 1234 is an integer, expected a string"]
        );
        assert_eq!(
            errors(""),
            ["s.yaml: symbols: missing; the file must list the tickers under `symbols:`"]
        );
    }
}
