//! Vector adapter for stage `reward` (SPEC §17.2).
//!
//! Episode cases trade one symbol; its name is the input's `symbol` when
//! given, else `"A"`. Horizon labels are interned into a [`HorizonSet`]: the
//! input's `horizons` when given, else every label its fills name.

use serde_json::{json, Value};

use crate::conformance::json::{
    array_field, as_i64, f64_field, field, num, opt_object_field, opt_str_field, str_field,
    CaseResult,
};
use crate::conformance::CaseError;
use crate::horizon::HorizonSet;
use crate::learning::reward::{trade_reward, Episode, EpisodeTracker, Fill, Reward};
use crate::types::{HorizonId, Qty, Side, SymbolId};

/// Run one `reward` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    match str_field(input, "kind")? {
        "single" => run_single(input),
        "episode" => run_episode(input),
        other => Err(CaseError::BadInput(format!("unknown kind `{other}`"))),
    }
}

fn bad(msg: String) -> CaseError {
    CaseError::BadInput(msg)
}

fn side_field(v: &Value, key: &str) -> CaseResult<Side> {
    match as_i64(field(v, key)?).map_err(|e| e.context(key))? {
        1 => Ok(Side::Buy),
        -1 => Ok(Side::Sell),
        other => Err(bad(format!("`{key}`: {other} is not 1 or -1"))),
    }
}

fn qty_field(v: &Value, key: &str) -> CaseResult<Qty> {
    as_i64(field(v, key)?).map(Qty).map_err(|e| e.context(key))
}

fn reward_json(r: &Reward) -> Value {
    json!({
        "gross_bps": num(r.gross.0),
        "fees_bps": num(r.fees.0),
        "net_bps": num(r.net.0),
    })
}

fn run_single(input: &Value) -> Result<Value, CaseError> {
    let rewards = array_field(input, "trades")?
        .iter()
        .map(|t| {
            let r = trade_reward(
                side_field(t, "side")?,
                f64_field(t, "entry_price")?,
                f64_field(t, "exit_price")?,
                f64_field(t, "qty")?,
                f64_field(t, "fees")?,
            );
            Ok(reward_json(&r))
        })
        .collect::<CaseResult<Vec<_>>>()?;
    Ok(json!({ "rewards": rewards }))
}

fn horizon_set(input: &Value, fills: &[Value]) -> CaseResult<Option<HorizonSet>> {
    let mut labels: Vec<&str> = Vec::new();
    if let Some(v) = input.get("horizons").filter(|v| !v.is_null()) {
        for h in v
            .as_array()
            .ok_or_else(|| bad("`horizons` is not an array".into()))?
        {
            labels.push(
                h.as_str()
                    .ok_or_else(|| bad(format!("`horizons`: {h} is not a string")))?,
            );
        }
    } else {
        for f in fills {
            if let Some(h) = opt_str_field(f, "horizon")? {
                if !labels.contains(&h) {
                    labels.push(h);
                }
            }
        }
    }
    if labels.is_empty() {
        return Ok(None);
    }
    HorizonSet::parse(&labels)
        .map(Some)
        .map_err(|e| bad(format!("horizons: {e}")))
}

fn run_episode(input: &Value) -> Result<Value, CaseError> {
    let symbol_name = opt_str_field(input, "symbol")?.unwrap_or("A");
    let symbol = SymbolId(0);
    let fills = array_field(input, "fills")?;
    let horizons = horizon_set(input, fills)?;
    let label = |arm: Option<HorizonId>| -> Value {
        match (arm, &horizons) {
            (Some(id), Some(set)) => json!(set.get(id).label),
            _ => Value::Null,
        }
    };

    let mut tracker = EpisodeTracker::new(1);
    if let Some(pos) = opt_object_field(input, "initial_position")? {
        let pos = Value::Object(pos.clone());
        tracker
            .seed_position(
                symbol,
                qty_field(&pos, "shares")?,
                f64_field(&pos, "price")?,
            )
            .map_err(|e| bad(format!("`initial_position`: {e}")))?;
    }
    let mut closed = Vec::new();
    for (i, f) in fills.iter().enumerate() {
        let arm = match opt_str_field(f, "horizon")? {
            None => None,
            Some(h) => horizons.as_ref().and_then(|set| set.id_of(h)),
        };
        let fill = Fill {
            qty: qty_field(f, "qty")?,
            price: f64_field(f, "price")?,
            fee: f64_field(f, "fee")?,
            arm,
        };
        let done = tracker
            .apply_fill(symbol, &fill)
            .map_err(|e| bad(format!("`fills[{i}]`: {e}")))?;
        if let Some(ep) = done {
            let mut row = json!({
                "symbol": symbol_name,
                "horizon": label(ep.arm),
                "side": ep.side.sign(),
                "entry_price": num(ep.entry_price),
                "exit_price": num(ep.exit_price),
                "qty": ep.qty.0,
                "fees": num(ep.fees),
            });
            if let (Some(obj), Value::Object(r)) = (row.as_object_mut(), reward_json(&ep.reward)) {
                obj.extend(r);
            }
            closed.push(row);
        }
    }
    let open = tracker
        .open_episode(symbol)
        .map_or(Value::Null, |ep: &Episode| {
            json!({
                "side": ep.side.sign(),
                "horizon": label(ep.arm),
                "entry_qty": ep.entry_qty,
                "entry_notional": num(ep.entry_notional),
                "exit_qty": ep.exit_qty,
                "exit_notional": num(ep.exit_notional),
                "fees": num(ep.fees),
                "open_qty": ep.open_qty(),
            })
        });
    Ok(json!({ "closed": closed, "open": open }))
}
