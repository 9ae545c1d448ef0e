//! Vector adapter for stage `paper_broker` (SPEC §16): a sequence of
//! `quote` and `order` ops against one broker.
//!
//! The edge work happens here: symbols are upper-cased and interned up front
//! in byte-wise sorted order, side strings go through [`parse_side`], and a
//! quantity that is not a number is an invalid quantity.

use serde_json::{json, Map, Value};

use crate::broker::paper::{parse_side, PaperBroker, PaperParams, Quote};
use crate::conformance::json::{array_field, as_f64, f64_field, field, num, str_field};
use crate::conformance::CaseError;
use crate::types::SymbolOrder;
use crate::types::{Bps, SymbolId};

/// Run one `paper_broker` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let params = PaperParams {
        initial_cash: f64_field(input, "initial_cash")?,
        slippage_bps: Bps(f64_field(input, "slippage_bps")?),
        fee_bps: Bps(f64_field(input, "fee_bps")?),
    };
    let ops = array_field(input, "ops")?;
    let mut names = ops
        .iter()
        .map(|op| str_field(op, "symbol").map(str::to_ascii_uppercase))
        .collect::<Result<Vec<_>, _>>()?;
    names.sort();
    names.dedup();
    let order = SymbolOrder::from_names(&names).map_err(|e| CaseError::BadInput(e.to_string()))?;
    let mut broker =
        PaperBroker::new(params, order).map_err(|e| CaseError::BadInput(e.to_string()))?;
    let id_of = |op: &Value| -> Result<SymbolId, CaseError> {
        let name = str_field(op, "symbol")?.to_ascii_uppercase();
        names
            .binary_search(&name)
            .map(|i| SymbolId(i as u16))
            .map_err(|_| CaseError::BadInput(format!("symbol `{name}` was not interned")))
    };

    let mut steps = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        let step = match str_field(op, "op")? {
            "quote" => {
                let quote = Quote::untimed(f64_field(op, "bid")?, f64_field(op, "ask")?);
                broker.set_quote(id_of(op)?, quote);
                json!({"spread_bps": num(quote.spread_bps())})
            }
            "order" => {
                let symbol = id_of(op)?;
                // A quantity that is not a number is rejected like NaN.
                let qty = as_f64(field(op, "qty")?).unwrap_or(f64::NAN);
                let result = parse_side(str_field(op, "side")?)
                    .and_then(|side| broker.submit(symbol, side, qty));
                let mut out = match result {
                    Ok(f) => json!({
                        "order_id": f.order_id,
                        "status": "filled",
                        "error": null,
                        "fill_price": num(f.price),
                        "filled_qty": num(f.qty),
                        "notional": num(f.notional),
                        "fee": num(f.fee),
                    }),
                    Err(r) => json!({"order_id": null, "status": "rejected", "error": r.code()}),
                };
                if let Value::Object(m) = &mut out {
                    m.extend(account(&broker, &names));
                }
                out
            }
            other => {
                return Err(CaseError::BadInput(format!(
                    "ops[{i}]: unknown op `{other}`"
                )))
            }
        };
        steps.push(step);
    }
    Ok(json!({"steps": steps, "fill_count": broker.fill_count()}))
}

/// Cash, positions, portfolio value, weights and P&L after an order.
fn account(broker: &PaperBroker, names: &[String]) -> Map<String, Value> {
    let mut weights = vec![0.0; names.len()];
    let has_weights = broker.weights(&mut weights);
    let mut positions = Map::new();
    let mut weight_map = Map::new();
    for (i, name) in names.iter().enumerate() {
        let id = SymbolId(i as u16);
        let pos = broker.position(id);
        if pos == 0.0 {
            continue;
        }
        positions.insert(name.clone(), num(pos));
        if has_weights && broker.quote(id).is_some() {
            weight_map.insert(name.clone(), num(weights[i]));
        }
    }
    let mut m = Map::new();
    m.insert("cash".into(), num(broker.cash()));
    m.insert("positions".into(), Value::Object(positions));
    m.insert("portfolio_value".into(), num(broker.portfolio_value()));
    m.insert("weights".into(), Value::Object(weight_map));
    m.insert("pnl".into(), num(broker.pnl()));
    m.insert("pnl_pct".into(), num(broker.pnl_pct()));
    m
}
