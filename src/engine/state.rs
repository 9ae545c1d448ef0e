//! The engine's persisted state (SPEC §18.3): what `engine_state.json`
//! holds, captured from a [`CycleEngine`] and restored into a fresh one.
//!
//! [`EngineState::capture_into`] runs on the engine thread after warm-up and
//! reuses the image's buffers (no allocation once the image has been filled
//! once). Converting to and from JSON ([`EngineState::to_json`],
//! [`EngineState::from_json`]) is cold: the journal thread writes the file,
//! start-up reads it. Not persisted (rebuilt from scratch, SPEC §21.19):
//! standardizer windows, confidence pairs, pending realisations, blend
//! histories.

use serde_json::{json, Map, Value};

use crate::engine::cycle::CycleEngine;
use crate::horizon::HorizonSet;
use crate::iso;
use crate::learning::bandit::BanditState;
use crate::learning::reward::Episode;
use crate::pipeline::risk::GuardrailState;
use crate::types::{HorizonId, Nanos, Side, SymbolId};

/// Version of the state file layout.
pub const STATE_VERSION: u64 = 1;

/// The persisted image, dense by symbol id.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineState {
    pub cycle_count: u64,
    pub cash: f64,
    /// Signed shares by symbol id (0 = flat).
    pub positions: Vec<f64>,
    /// The paper broker's next fill id.
    pub next_order_id: u64,
    /// The engine's next client order id.
    pub next_client_order_id: u64,
    /// Last valid mid by symbol id (NaN = never marked).
    pub marks: Vec<f64>,
    pub guardrails: GuardrailState,
    pub last_fill: Vec<Option<Nanos>>,
    pub episodes: Vec<Option<Episode>>,
    pub bandit: BanditState,
    /// Last journal sequence number the image covers (0 = none).
    pub journal_seq: u64,
}

/// Why a state file cannot be restored.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StateError {
    #[error("{key}: {problem}")]
    Field { key: String, problem: String },
    #[error("version {0}: this engine reads state version {STATE_VERSION}")]
    Version(u64),
    #[error("{key}: symbol {symbol:?} is not in the configured symbol list")]
    UnknownSymbol { key: String, symbol: String },
    #[error("restoring {what}: {message}")]
    Restore { what: &'static str, message: String },
}

fn field_err(key: &str, problem: impl Into<String>) -> StateError {
    StateError::Field {
        key: key.to_owned(),
        problem: problem.into(),
    }
}

impl EngineState {
    /// An empty image sized for `n_symbols` and `n_arms` (cold).
    pub fn with_capacity(n_symbols: usize, n_arms: usize) -> EngineState {
        EngineState {
            cycle_count: 0,
            cash: 0.0,
            positions: vec![0.0; n_symbols],
            next_order_id: 1,
            next_client_order_id: 1,
            marks: vec![f64::NAN; n_symbols],
            guardrails: GuardrailState {
                events: Vec::with_capacity(crate::pipeline::risk::DEFAULT_EVENT_CAPACITY),
                ..GuardrailState::default()
            },
            last_fill: vec![None; n_symbols],
            episodes: vec![None; n_symbols],
            bandit: BanditState {
                log_weights: vec![0.0; n_arms],
                t: 0,
                pulls: vec![0; n_arms],
            },
            journal_seq: 0,
        }
    }

    /// Copy the engine's persisted parts into this image, reusing its
    /// buffers: no allocation once they have the engine's sizes.
    pub fn capture_into(&mut self, engine: &CycleEngine) {
        let ledger = engine.ledger();
        self.cycle_count = engine.cycle_count();
        self.cash = ledger.cash();
        copy_into(&mut self.positions, ledger.positions());
        self.next_order_id = ledger.next_order_id();
        self.next_client_order_id = engine.next_client_id();
        copy_into(&mut self.marks, engine.marks());
        engine.guardrails().snapshot_into(&mut self.guardrails);
        copy_into(&mut self.last_fill, engine.last_fills());
        copy_into(&mut self.episodes, engine.episodes().all());
        let b = engine.bandit().state();
        self.bandit.t = b.t;
        copy_into(&mut self.bandit.log_weights, &b.log_weights);
        copy_into(&mut self.bandit.pulls, &b.pulls);
    }

    /// Put this image into a freshly built engine of the same symbols and
    /// horizons (cold).
    pub fn restore_into(&self, engine: &mut CycleEngine) -> Result<(), StateError> {
        let restore = |what: &'static str, message: String| StateError::Restore { what, message };
        let parts = engine.parts_mut();
        let positions: Vec<(SymbolId, f64)> = self
            .positions
            .iter()
            .enumerate()
            .filter(|(_, q)| **q != 0.0)
            .map(|(i, &q)| (SymbolId(i as u16), q))
            .collect();
        parts
            .ledger
            .restore(self.cash, &positions, self.next_order_id)
            .map_err(|e| restore("broker", e.to_string()))?;
        parts
            .guardrails
            .restore(&self.guardrails)
            .map_err(|e| restore("guardrails", e.to_string()))?;
        parts
            .bandit
            .restore(&self.bandit)
            .map_err(|e| restore("bandit", e.to_string()))?;
        for (i, ep) in self.episodes.iter().enumerate() {
            parts
                .episodes
                .set_episode(SymbolId(i as u16), *ep)
                .map_err(|e| restore("episodes", e.to_string()))?;
        }
        *parts.cycle_count = self.cycle_count;
        *parts.next_client_id = self.next_client_order_id.max(1);
        copy_into_slice(parts.marks, &self.marks);
        copy_into_slice(parts.last_fill, &self.last_fill);
        Ok(())
    }

    /// The state file's JSON (SPEC §18.3), symbols by name (cold).
    #[allow(clippy::disallowed_macros)]
    pub fn to_json(&self, symbols: &[String], horizons: &HorizonSet) -> Value {
        let name = |i: usize| symbols.get(i).cloned().unwrap_or_else(|| i.to_string());
        let mut positions = Map::new();
        for (i, &q) in self.positions.iter().enumerate() {
            if q != 0.0 {
                positions.insert(name(i), json!(q));
            }
        }
        let mut marks = Map::new();
        for (i, &m) in self.marks.iter().enumerate() {
            if m.is_finite() {
                marks.insert(name(i), json!(m));
            }
        }
        let mut last = Map::new();
        for (i, t) in self.last_fill.iter().enumerate() {
            if let Some(t) = t {
                last.insert(name(i), json!(iso::format(*t)));
            }
        }
        let mut episodes = Map::new();
        for (i, ep) in self.episodes.iter().enumerate() {
            if let Some(ep) = ep {
                episodes.insert(
                    name(i),
                    json!({
                        "side": ep.side.as_str(),
                        "horizon": ep.arm.map(|h| horizons.get(h).label.clone()),
                        "entry_qty": ep.entry_qty,
                        "entry_notional": ep.entry_notional,
                        "exit_qty": ep.exit_qty,
                        "exit_notional": ep.exit_notional,
                        "fees": ep.fees,
                    }),
                );
            }
        }
        let arms: Vec<&str> = horizons.labels().collect();
        json!({
            "version": STATE_VERSION,
            "cycle_count": self.cycle_count,
            "broker": {
                "cash": self.cash,
                "positions": positions,
                "next_order_id": self.next_order_id,
            },
            "next_client_order_id": self.next_client_order_id,
            "marks": marks,
            "guardrails": serde_json::to_value(&self.guardrails).unwrap_or(Value::Null),
            "last_trade_time": last,
            "episodes": episodes,
            "bandit": {
                "arms": arms,
                "log_weights": self.bandit.log_weights,
                "T": self.bandit.t,
                "pulls": self.bandit.pulls,
            },
            "journal_seq": self.journal_seq,
        })
    }

    /// Read a state file's JSON for `symbols` and `horizons` (cold).
    #[allow(clippy::disallowed_macros)]
    pub fn from_json(
        v: &Value,
        symbols: &[String],
        horizons: &HorizonSet,
    ) -> Result<EngineState, StateError> {
        let n = symbols.len();
        let mut s = EngineState::with_capacity(n, horizons.len());
        let obj = v
            .as_object()
            .ok_or_else(|| field_err("state", "expected a JSON object"))?;
        let version = get_u64(obj, "version")?;
        if version != STATE_VERSION {
            return Err(StateError::Version(version));
        }
        let id_of = |key: &str, name: &str| -> Result<usize, StateError> {
            symbols
                .iter()
                .position(|s| s == name)
                .ok_or_else(|| StateError::UnknownSymbol {
                    key: key.to_owned(),
                    symbol: name.to_owned(),
                })
        };
        s.cycle_count = get_u64(obj, "cycle_count")?;
        let broker = get_obj(obj, "broker")?;
        s.cash = get_f64(broker, "broker.cash")?;
        s.next_order_id = get_u64(broker, "broker.next_order_id")?;
        for (name, q) in get_obj(broker, "broker.positions")? {
            let key = format!("broker.positions.{name}");
            let i = id_of(&key, name)?;
            s.positions[i] = as_f64(q, &key)?;
        }
        s.next_client_order_id = obj
            .get("next_client_order_id")
            .map(|x| as_u64(x, "next_client_order_id"))
            .transpose()?
            .unwrap_or(1);
        s.journal_seq = obj
            .get("journal_seq")
            .map(|x| as_u64(x, "journal_seq"))
            .transpose()?
            .unwrap_or(0);
        for (name, m) in get_obj(obj, "marks")? {
            let key = format!("marks.{name}");
            let i = id_of(&key, name)?;
            s.marks[i] = as_f64(m, &key)?;
        }
        s.guardrails =
            serde_json::from_value(obj.get("guardrails").cloned().unwrap_or(Value::Null))
                .map_err(|e| field_err("guardrails", e.to_string()))?;
        for (name, t) in get_obj(obj, "last_trade_time")? {
            let key = format!("last_trade_time.{name}");
            let i = id_of(&key, name)?;
            let text = t
                .as_str()
                .ok_or_else(|| field_err(&key, "expected an ISO-8601 time"))?;
            s.last_fill[i] =
                Some(iso::parse(text).ok_or_else(|| field_err(&key, "expected an ISO-8601 time"))?);
        }
        for (name, e) in get_obj(obj, "episodes")? {
            let key = format!("episodes.{name}");
            let i = id_of(&key, name)?;
            let e = e
                .as_object()
                .ok_or_else(|| field_err(&key, "expected an object"))?;
            let side = match e.get("side").and_then(Value::as_str) {
                Some("BUY") => Side::Buy,
                Some("SELL") => Side::Sell,
                _ => return Err(field_err(&format!("{key}.side"), "expected BUY or SELL")),
            };
            let arm = match e.get("horizon") {
                None | Some(Value::Null) => None,
                Some(Value::String(label)) => Some(horizons.id_of(label).ok_or_else(|| {
                    field_err(
                        &format!("{key}.horizon"),
                        format!("{label:?} is not a configured horizon"),
                    )
                })?),
                Some(_) => return Err(field_err(&format!("{key}.horizon"), "expected a label")),
            };
            s.episodes[i] = Some(Episode {
                side,
                arm: arm.map(|h: HorizonId| h),
                entry_qty: get_i64(e, &format!("{key}.entry_qty"), "entry_qty")?,
                entry_notional: get_f64(e, "entry_notional")?,
                exit_qty: get_i64(e, &format!("{key}.exit_qty"), "exit_qty")?,
                exit_notional: get_f64(e, "exit_notional")?,
                fees: get_f64(e, "fees")?,
            });
        }
        let bandit = get_obj(obj, "bandit")?;
        s.bandit = serde_json::from_value(Value::Object(bandit.clone()))
            .map_err(|e| field_err("bandit", e.to_string()))?;
        if s.bandit.log_weights.len() != horizons.len() {
            return Err(field_err(
                "bandit.log_weights",
                format!(
                    "{} arms, but {} horizons are configured",
                    s.bandit.log_weights.len(),
                    horizons.len()
                ),
            ));
        }
        Ok(s)
    }
}

fn copy_into<T: Copy>(dst: &mut Vec<T>, src: &[T]) {
    dst.clear();
    dst.extend_from_slice(src);
}

fn copy_into_slice<T: Copy>(dst: &mut [T], src: &[T]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

fn get_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
) -> Result<&'a Map<String, Value>, StateError> {
    let short = key.rsplit('.').next().unwrap_or(key);
    obj.get(short)
        .and_then(Value::as_object)
        .ok_or_else(|| field_err(key, "missing, or not an object"))
}

fn get_f64(obj: &Map<String, Value>, key: &str) -> Result<f64, StateError> {
    let short = key.rsplit('.').next().unwrap_or(key);
    as_f64(obj.get(short).unwrap_or(&Value::Null), key)
}

fn get_u64(obj: &Map<String, Value>, key: &str) -> Result<u64, StateError> {
    let short = key.rsplit('.').next().unwrap_or(key);
    as_u64(obj.get(short).unwrap_or(&Value::Null), key)
}

fn get_i64(obj: &Map<String, Value>, key: &str, short: &str) -> Result<i64, StateError> {
    obj.get(short)
        .and_then(Value::as_i64)
        .ok_or_else(|| field_err(key, "expected an integer"))
}

#[allow(clippy::disallowed_macros)]
fn as_f64(v: &Value, key: &str) -> Result<f64, StateError> {
    v.as_f64()
        .filter(|x| x.is_finite())
        .ok_or_else(|| field_err(key, format!("expected a finite number, found {v}")))
}

#[allow(clippy::disallowed_macros)]
fn as_u64(v: &Value, key: &str) -> Result<u64, StateError> {
    v.as_u64()
        .ok_or_else(|| field_err(key, format!("expected a non-negative integer, found {v}")))
}
