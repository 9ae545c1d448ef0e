//! Vector adapter for stage `engine_cycle` (SPEC §18): scripted bars,
//! quotes and model outputs through the real [`CycleEngine`] with the
//! paper broker inline; `restart` persists the state to JSON and reloads it
//! into a fresh engine (statistics start over, SPEC §21.19).

use serde_json::{json, Map, Value};

use crate::broker::paper::PaperBroker;
use crate::config::EngineConfig;
use crate::conformance::json::{
    array_field, as_f64, field, num, object_field, opt_field, opt_num, parse_time, str_field,
};
use crate::conformance::CaseError;
use crate::engine::cycle::{
    Controls, CycleEngine, CycleParams, CycleReport, InlinePaper, MarketView,
};
use crate::engine::state::EngineState;
use crate::horizon::{target_horizon, HorizonSet, TargetRole};
use crate::market::quote::Quote;
use crate::pipeline::decision::{ModelLayout, ReturnModel};
use crate::pipeline::gate::BarrierResolver;
use crate::types::{ModelId, Nanos, SymbolId, SymbolOrder};

/// Predictions kept for realisation per horizon.
const PENDING: usize = 1 << 16;

/// Run one `engine_cycle` case.
pub fn run(input: &Value) -> Result<Value, CaseError> {
    let overrides = opt_field(input, "config")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let config = EngineConfig::from_overrides(&overrides)
        .map_err(|e| CaseError::BadInput(format!("config: {e}")))?;
    let symbols: Vec<String> = array_field(input, "symbols")?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_owned)
                .ok_or_else(|| bad("symbols: expected strings"))
        })
        .collect::<Result<_, _>>()?;
    let models = Models::parse(object_field(input, "models")?, &config)?;
    let bars = parse_bars(object_field(input, "bars")?, &symbols)?;
    let order = SymbolOrder::from_names(&symbols).map_err(|e| bad(&e.to_string()))?;
    let params = CycleParams::from_config(&config, PENDING);
    let build = || -> Result<(CycleEngine, InlinePaper), CaseError> {
        let engine = CycleEngine::new(params.clone(), &models.layout, order.clone())
            .map_err(|e| bad(&e.to_string()))?;
        let broker = PaperBroker::new(config.paper_params(), order.clone())
            .map_err(|e| bad(&e.to_string()))?;
        Ok((engine, InlinePaper { broker }))
    };
    let (mut engine, mut router) = build()?;
    if let Some(initial) = opt_field(input, "initial") {
        seed(&mut engine, &mut router, initial, &symbols, &config)?;
    }

    let mut market = Scripted {
        n_models: models.names.len(),
        quotes: vec![None; symbols.len()],
        adv: vec![None; symbols.len()],
        outputs: vec![f64::NAN; symbols.len() * models.names.len()],
        closes: vec![Vec::new(); symbols.len()],
        data_time: vec![Nanos::ZERO; symbols.len()],
    };
    let ids: Vec<SymbolId> = (0..symbols.len()).map(|i| SymbolId(i as u16)).collect();
    let mut out = Vec::new();
    for (k, cycle) in array_field(input, "cycles")?.iter().enumerate() {
        let ctx = |e: CaseError| e.context(&format!("cycles[{k}]"));
        let t = parse_time(str_field(cycle, "time").map_err(ctx)?).map_err(ctx)?;
        if opt_field(cycle, "restart").and_then(Value::as_bool) == Some(true) {
            let mut image = EngineState::with_capacity(symbols.len(), config.horizons.len());
            image.capture_into(&engine);
            let text = image.to_json(&symbols, &config.horizons);
            let back = EngineState::from_json(&text, &symbols, &config.horizons)
                .map_err(|e| bad(&format!("restart: {e}")))?;
            let controls = engine.controls();
            let (mut fresh, mut fresh_router) = build()?;
            back.restore_into(&mut fresh)
                .map_err(|e| bad(&format!("restart: {e}")))?;
            fresh_router
                .broker
                .restore(
                    back.cash,
                    &back
                        .positions
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| **q != 0.0)
                        .map(|(i, &q)| (SymbolId(i as u16), q))
                        .collect::<Vec<_>>(),
                    back.next_order_id,
                )
                .map_err(|e| bad(&format!("restart: {e}")))?;
            fresh.set_controls(controls);
            engine = fresh;
            router = fresh_router;
        }
        market
            .load(cycle, t, &symbols, &models, &bars, config.data.history_bars)
            .map_err(ctx)?;
        let control = opt_field(cycle, "control");
        let flag = |key: &str| {
            control
                .and_then(|c| c.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        engine.set_controls(Controls {
            paused: flag("paused"),
            manual_kill: flag("kill_switch_active"),
            feed_stale: false,
            broker_down: false,
        });
        engine.run_cycle(t, &ids, &market, &mut router, &mut ());
        out.push(render(
            &engine,
            engine.report(),
            &symbols,
            &models,
            &config.horizons,
        ));
    }
    Ok(json!({ "cycles": out }))
}

fn bad(message: &str) -> CaseError {
    CaseError::BadInput(message.to_owned())
}

/// The models of the case: names in id order and the pipeline layout.
struct Models {
    names: Vec<String>,
    layout: ModelLayout,
}

impl Models {
    fn parse(v: &Map<String, Value>, config: &EngineConfig) -> Result<Models, CaseError> {
        let horizons = &config.horizons;
        let mut found: Vec<(String, String, String, Option<f64>)> = Vec::new();
        for (target, families) in v {
            let Some((label, _role)) = target_horizon(target) else {
                continue;
            };
            if horizons.id_of(label).is_none() {
                continue;
            }
            let families = families
                .as_object()
                .ok_or_else(|| bad(&format!("models.{target}: expected an object")))?;
            for (family, meta) in families {
                let interval = meta.get("interval_minutes").and_then(Value::as_f64);
                if interval.is_some_and(|m| m != f64::from(config.volatility.bar_minutes)) {
                    continue;
                }
                let ic = meta
                    .get("metrics")
                    .and_then(|m| m.get("ic"))
                    .and_then(Value::as_f64);
                found.push((
                    format!("{target}/{family}"),
                    target.clone(),
                    family.clone(),
                    ic,
                ));
            }
        }
        found.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut return_models = Vec::new();
        for (i, (_, target, _, ic)) in found.iter().enumerate() {
            if let Some((label, TargetRole::Return)) = target_horizon(target) {
                if let Some(h) = horizons.id_of(label) {
                    return_models.push(ReturnModel {
                        id: ModelId(i as u16),
                        horizon: h,
                        ic_prior: *ic,
                    });
                }
            }
        }
        let barrier = BarrierResolver::new(
            found.iter().map(|(_, t, f, _)| (t.as_str(), f.as_str())),
            horizons,
        );
        Ok(Models {
            names: found.iter().map(|f| f.0.clone()).collect(),
            layout: ModelLayout {
                horizons: horizons.clone(),
                return_models,
                barrier,
                n_models: found.len(),
            },
        })
    }
}

type Bars = Vec<Vec<(Nanos, f64)>>;

fn parse_bars(v: &Map<String, Value>, symbols: &[String]) -> Result<Bars, CaseError> {
    let mut bars = vec![Vec::new(); symbols.len()];
    for (name, list) in v {
        let Some(i) = symbols.iter().position(|s| s == name) else {
            continue;
        };
        let list = list
            .as_array()
            .ok_or_else(|| bad(&format!("bars.{name}: expected an array")))?;
        for (k, bar) in list.iter().enumerate() {
            let pair = bar
                .as_array()
                .filter(|p| p.len() == 2)
                .ok_or_else(|| bad(&format!("bars.{name}[{k}]: expected [time, close]")))?;
            let t = parse_time(pair[0].as_str().unwrap_or_default())?;
            bars[i].push((t, as_f64(&pair[1])?));
        }
    }
    Ok(bars)
}

fn seed(
    engine: &mut CycleEngine,
    router: &mut InlinePaper,
    initial: &Value,
    symbols: &[String],
    config: &EngineConfig,
) -> Result<(), CaseError> {
    let cash = match opt_field(initial, "cash") {
        Some(c) if !c.is_null() => as_f64(c)?,
        _ => config.paper.initial_cash,
    };
    let mut positions = Vec::new();
    if let Some(Value::Object(p)) = opt_field(initial, "positions") {
        for (name, pos) in p {
            let i = symbols
                .iter()
                .position(|s| s == name)
                .ok_or_else(|| bad(&format!("initial.positions.{name}: unknown symbol")))?;
            let shares = as_f64(field(pos, "shares")?)?;
            let price = as_f64(field(pos, "price")?)?;
            positions.push((SymbolId(i as u16), shares, price));
        }
    }
    engine
        .seed(cash, &positions)
        .map_err(|e| bad(&e.to_string()))?;
    let held: Vec<(SymbolId, f64)> = positions.iter().map(|&(s, q, _)| (s, q)).collect();
    router
        .broker
        .restore(cash, &held, 1)
        .map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// The scripted market of the current cycle.
struct Scripted {
    n_models: usize,
    quotes: Vec<Option<Quote>>,
    adv: Vec<Option<f64>>,
    outputs: Vec<f64>,
    closes: Vec<Vec<f64>>,
    data_time: Vec<Nanos>,
}

impl Scripted {
    fn load(
        &mut self,
        cycle: &Value,
        t: Nanos,
        symbols: &[String],
        models: &Models,
        bars: &Bars,
        history: usize,
    ) -> Result<(), CaseError> {
        let index = |name: &str| symbols.iter().position(|s| s == name);
        self.quotes.fill(None);
        if let Some(Value::Object(quotes)) = opt_field(cycle, "quotes") {
            for (name, q) in quotes {
                let Some(i) = index(name) else { continue };
                if q.is_null() {
                    continue;
                }
                let time = match opt_field(q, "time") {
                    Some(Value::String(s)) => Some(parse_time(s)?),
                    _ => None,
                };
                self.quotes[i] = Some(Quote {
                    bid: as_f64(field(q, "bid")?)?,
                    ask: as_f64(field(q, "ask")?)?,
                    time,
                });
            }
        }
        self.adv.fill(None);
        if let Some(Value::Object(adv)) = opt_field(cycle, "adv_usd") {
            for (name, a) in adv {
                if let Some(i) = index(name) {
                    self.adv[i] = Some(as_f64(a)?).filter(|x| x.is_finite() && *x > 0.0);
                }
            }
        }
        self.outputs.fill(f64::NAN);
        if let Some(Value::Object(outs)) = opt_field(cycle, "outputs") {
            for (name, per_model) in outs {
                let Some(i) = index(name) else { continue };
                let Some(per_model) = per_model.as_object() else {
                    continue;
                };
                for (model, raw) in per_model {
                    if let Some(m) = models.names.iter().position(|n| n == model) {
                        self.outputs[i * self.n_models + m] = as_f64(raw)?;
                    }
                }
            }
        }
        for (i, list) in bars.iter().enumerate() {
            let asof: Vec<&(Nanos, f64)> = list.iter().filter(|(bt, _)| *bt <= t).collect();
            let start = asof.len().saturating_sub(history);
            self.closes[i] = asof[start..].iter().map(|(_, c)| *c).collect();
            self.data_time[i] = asof.last().map_or(Nanos::ZERO, |(bt, _)| *bt);
        }
        Ok(())
    }
}

impl MarketView for Scripted {
    fn quote(&self, symbol: SymbolId) -> Option<Quote> {
        self.quotes.get(symbol.index()).copied().flatten()
    }
    fn closes(&self, symbol: SymbolId) -> &[f64] {
        self.closes.get(symbol.index()).map_or(&[], Vec::as_slice)
    }
    fn data_time(&self, symbol: SymbolId) -> Nanos {
        self.data_time
            .get(symbol.index())
            .copied()
            .unwrap_or(Nanos::ZERO)
    }
    fn adv_usd(&self, symbol: SymbolId) -> Option<f64> {
        self.adv.get(symbol.index()).copied().flatten()
    }
    fn outputs(&self, symbol: SymbolId) -> &[f64] {
        let start = symbol.index() * self.n_models;
        self.outputs
            .get(start..start + self.n_models)
            .unwrap_or(&[])
    }
}

fn render(
    engine: &CycleEngine,
    r: &CycleReport,
    symbols: &[String],
    models: &Models,
    horizons: &HorizonSet,
) -> Value {
    let label = |h: crate::types::HorizonId| horizons.get(h).label.clone();
    let paused = r.state == crate::types::TradingState::Paused;
    let check = r.check.filter(|_| !paused);
    let decisions: Vec<Value> = r
        .decisions
        .iter()
        .map(|cd| {
            let d = &cd.decision;
            let alphas = if d.alphas_reached {
                let mut m = Map::new();
                for (h, hz) in horizons.iter() {
                    if let Some(a) = d.alphas[h.index()] {
                        m.insert(hz.label.clone(), num(a));
                    }
                }
                Value::Object(m)
            } else {
                Value::Null
            };
            json!({
                "symbol": symbols[d.symbol.index()],
                "decision": d.decision.as_str(),
                "reason": d.reason.code(),
                "horizon": d.horizon.map(label),
                "side": d.side.map_or(0, |s| s.sign()),
                "current_weight": num(d.current_weight),
                "target_weight": num(d.target_weight),
                "proposed_weight": opt_num(d.proposed_weight),
                "shares": d.shares.0,
                "alpha": opt_num(d.alpha),
                "alphas": alphas,
                "demoted": d.demoted.iter().map(|m| models.names[m.index()].clone()).collect::<Vec<_>>(),
                "broker_error": cd.broker_error.map(|e| e.code()),
            })
        })
        .collect();
    let fills: Vec<Value> = r
        .fills
        .iter()
        .map(|f| {
            json!({
                "order_id": f.fill.order_id,
                "symbol": symbols[f.fill.symbol.index()],
                "side": f.fill.side.as_str(),
                "qty": num(f.fill.qty),
                "fill_price": num(f.fill.price),
                "fee": num(f.fill.fee),
            })
        })
        .collect();
    let ledger = engine.ledger();
    let mut positions = Map::new();
    for &id in engine.symbol_order().ids() {
        let q = ledger.position(id);
        if q != 0.0 {
            positions.insert(symbols[id.index()].clone(), num(q));
        }
    }
    let mut value = json!({
        "time": crate::iso::format(r.time),
        "cycle_number": r.cycle_number,
        "state": r.state.as_str(),
        "kill_reason": check.and_then(|c| c.kill_reason).map(|k| k.code()),
        "session_date": check.and_then(|c| c.session_date).map(|d| d.to_string()),
        "daily_pnl": check.map(|c| c.daily_pnl).map_or(Value::Null, num),
        "drawdown": check.map(|c| c.drawdown).map_or(Value::Null, num),
        "portfolio_value": num(r.portfolio_value),
        "decisions": decisions,
        "fills": fills,
        "cash": num(ledger.cash()),
        "positions": positions,
        "portfolio_value_after": num(r.portfolio_value_after),
    });
    let bandit = engine.bandit();
    if bandit.params().enabled {
        let n = horizons.len();
        let mut pref = vec![1.0; n];
        bandit.preference_factors(&mut pref);
        let per = |xs: &[f64]| -> Value {
            let mut m = Map::new();
            for ((_, h), &x) in horizons.iter().zip(xs) {
                m.insert(h.label.clone(), num(x));
            }
            Value::Object(m)
        };
        value["bandit"] = json!({
            "T": bandit.t(),
            "probabilities": per(bandit.probabilities()),
            "preference": per(&pref),
        });
    }
    value
}
