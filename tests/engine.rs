//! The engine over the simulator and the sample run, in process: every
//! trigger mode decides, trades on the inline paper broker and is
//! deterministic.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::path::Path;

use live_trading::broker::paper::PaperBroker;
use live_trading::config::{DecisionTrigger, EngineConfig};
use live_trading::engine::cycle::{CycleEngine, CycleReport, InlinePaper};
use live_trading::engine::setup::build_engine;
use live_trading::engine::{CycleSink, Engine};
use live_trading::feed::sim::{universe_for, MarketSim, SimParams};
use live_trading::feed::MarketEvent;
use live_trading::models::artifact::{ModelPlan, PlanSettings};
use live_trading::types::{Decision, Reason, SymbolOrder};

const SYMBOLS: [&str; 5] = ["SPY", "QQQ", "IWM", "AAPL", "MSFT"];

fn config(trigger: DecisionTrigger) -> EngineConfig {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut c = EngineConfig::load(&root.join("config/live_trading.yaml")).unwrap();
    c.decision.trigger = trigger;
    c.decision.interval = live_trading::types::Nanos::from_secs(60);
    c
}

#[derive(Default)]
struct Tally {
    cycles: u64,
    decisions: u64,
    trades: u64,
    fills: Vec<(u64, u16, f64, f64)>,
    reasons: std::collections::BTreeMap<&'static str, u64>,
}

impl CycleSink for Tally {
    fn on_cycle(&mut self, r: &CycleReport, _: &CycleEngine) {
        self.cycles += 1;
        for d in &r.decisions {
            self.decisions += 1;
            *self.reasons.entry(d.decision.reason.code()).or_default() += 1;
            if d.decision.decision == Decision::Trade {
                self.trades += 1;
            }
        }
        for f in &r.fills {
            self.fills
                .push((f.fill.order_id, f.fill.symbol.0, f.fill.qty, f.fill.price));
        }
    }
}

fn run(trigger: DecisionTrigger, days: u32) -> (Tally, Engine, InlinePaper) {
    let config = config(trigger);
    let names: Vec<String> = SYMBOLS.iter().map(|s| s.to_string()).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sample-run");
    let plan = ModelPlan::load(&root, &PlanSettings::from_config(&config)).unwrap();
    let mut engine = build_engine(&config, &names, &plan).unwrap();
    let mut router = InlinePaper {
        broker: PaperBroker::new(
            config.paper_params(),
            SymbolOrder::from_names(&names).unwrap(),
        )
        .unwrap(),
    };
    let mut sim = MarketSim::new(SimParams {
        symbols: universe_for(&names),
        days,
        quotes_per_bar: 600,
        ..SimParams::default()
    })
    .unwrap();
    let mut tally = Tally::default();
    while let Some(e) = sim.next_event() {
        engine.on_event(&MarketEvent::from(e), &mut router, &mut tally, &mut ());
    }
    (tally, engine, router)
}

#[test]
fn cycle_trigger_decides_every_symbol_every_interval_and_trades() {
    let (t, engine, router) = run(DecisionTrigger::Cycle, 1);
    eprintln!("{:?}", t.reasons);
    // One-minute cycles over a 390-minute session.
    assert!((385..=391).contains(&t.cycles), "cycles {}", t.cycles);
    assert_eq!(t.decisions, 5 * t.cycles);
    assert!(
        t.reasons.contains_key(Reason::InsufficientHistory.code()),
        "warm-up holds"
    );
    assert!(
        !t.fills.is_empty(),
        "no trade in a simulated day: {:?}",
        t.reasons
    );
    // The engine's ledger is the broker's.
    let ledger = engine.cycle().ledger();
    assert_eq!(ledger.cash(), router.broker.cash());
    assert_eq!(ledger.positions(), router.broker.positions());
}

#[test]
fn runs_are_deterministic() {
    let (a, ea, _) = run(DecisionTrigger::Cycle, 1);
    let (b, eb, _) = run(DecisionTrigger::Cycle, 1);
    assert_eq!(a.fills, b.fills);
    assert_eq!(a.reasons, b.reasons);
    assert_eq!(
        ea.cycle().ledger().cash().to_bits(),
        eb.cycle().ledger().cash().to_bits()
    );
}

#[test]
fn bar_and_quote_triggers_decide_per_symbol() {
    let (bar, _, _) = run(DecisionTrigger::Bar, 1);
    // One decision per symbol per bar.
    assert!(bar.decisions >= 5 * 380, "bar decisions {}", bar.decisions);
    assert_eq!(bar.decisions, bar.cycles);
    let (quote, engine, _) = run(DecisionTrigger::Quote, 1);
    let quotes = engine.market().counters().quotes;
    assert_eq!(quote.decisions, quotes, "one decision per quote");
    assert!(quote.reasons.contains_key(Reason::Cooldown.code()) || !quote.fills.is_empty());
    // Each prediction waits for realisation once, not once per quote: no
    // pending queue overflows, and what waits is bounded by the bars of
    // the longest horizon (60 one-minute bars), not by the quotes.
    let pipeline = engine.cycle().pipeline();
    assert_eq!(pipeline.pending_dropped(), 0);
    let models = engine.predictors().len();
    assert!(models > 0);
    assert!(
        pipeline.pending_len() <= 5 * models * 61,
        "{} predictions pending",
        pipeline.pending_len()
    );
    assert!(pipeline.pending_len() > 0);
}
