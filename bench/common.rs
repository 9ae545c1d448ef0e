//! Fixtures shared by the criterion benches (`stages.rs`) and the percentile
//! report (`latency.rs`): every stage with warmed-up state, and whole
//! decisions over a pre-recorded tape of scripted inputs, so the timed code
//! is only the engine's.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]
#![allow(dead_code)]

use std::hint::black_box;

use live_trading::broker::paper::{PaperBroker, PaperParams};
use live_trading::features::{Feature, FeatureSet, FeatureState};
use live_trading::feed::sim::{MarketSim, SimParams};
use live_trading::learning::bandit::{Bandit, BanditParams};
use live_trading::learning::reward::{EpisodeTracker, Fill};
use live_trading::market::volatility::{Volatility, VolatilityParams};
use live_trading::market::Quote;
use live_trading::models::artifact::{ModelPlan, PlanSettings};
use live_trading::models::backend::Backend;
use live_trading::models::lightgbm::{LightGbmModel, Objective};
use live_trading::models::ltw::{self, LtwModel};
use live_trading::models::onnx::{OnnxEngine, OnnxModel};
use live_trading::models::predict::{Predictors, SymbolModels};
use live_trading::models::Predictor;
use live_trading::pipeline::arbitrate::{Arbiter, ArbiterInput, ArbiterParams, HorizonScore};
use live_trading::pipeline::blend::{BlendEntry, BlendParams, HorizonBlender};
use live_trading::pipeline::confidence::{ConfidenceInputs, ConfidenceParams, ConfidenceTracker};
use live_trading::pipeline::cost::CostParams;
use live_trading::pipeline::decision::{DecisionPipeline, SymbolDecision, SymbolInput};
use live_trading::pipeline::gate::{
    BarrierGate, BarrierParams, BarrierProbs, BarrierResolver, SpreadGate, SpreadGateParams,
};
use live_trading::pipeline::ridge::{RidgeParams, RidgeSolver};
use live_trading::pipeline::risk::{Guardrails, RiskLimits};
use live_trading::pipeline::size::{
    propose, Sized, Sizer, SizingIntent, SizingParams, SizingRequest,
};
use live_trading::pipeline::standardize::{StandardizeParams, Standardizer};
use live_trading::pipeline::temperature::Temperature;
use live_trading::testkit::{Scenario, SplitMix, START};
use live_trading::types::{Bps, HorizonId, ModelId, Nanos, Qty, Side, SymbolId};

/// Symbols in the cycle benches.
pub const CYCLE_SYMBOLS: usize = 8;
/// Steps recorded on the tape.
const TAPE: usize = 1024;
const HORIZONS: [u32; 6] = [5, 10, 15, 30, 60, 390];

/// Every benchmarked unit, in pipeline order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Volatility,
    Zscore,
    Confidence,
    ConfidenceRecord,
    Ridge,
    Temperature,
    HorizonBlend,
    CostModel,
    Arbiter,
    SpreadGate,
    BarrierGate,
    Exits,
    Sizing,
    Risk,
    PaperBroker,
    Bandit,
    Reward,
    /// One bar into every catalogue feature (29) over a 300-bar frame.
    FeaturesBar,
    /// One row through the 50-tree LightGBM regression fixture.
    LightGbm,
    /// One row through a linear `.ltw` model (32 features, memory-mapped).
    LtwLinear,
    /// One row through a 200-tree LightGBM model (31 leaves, 32 features).
    LightGbm200,
    /// One row through an ONNX MLP 32 → 64 → 32 → 1 (native row program).
    OnnxMlp,
    /// The 200-tree model through the portable compiled walk (what CPUs
    /// without AVX2 run).
    LightGbm200Walk,
    /// The 200-tree model converted to `.ltw`, walked in place on the map.
    LtwTrees,
    /// One of the sample run's LightGBM models (40 trees × 8 leaves, 16
    /// features).
    SampleLightGbm,
    /// One of the sample run's MLPs (StandardScaler, 16 → 16 → 1).
    SampleMlp,
    /// One of the sample run's Ridge models (StandardScaler, 16 → 1).
    SampleRidge,
    /// The sample run for one symbol: 24 models (6 horizons × 3 families
    /// and 6 barrier classifiers), rows gathered from its features.
    PredictAll,
    /// Cycle start: guardrail check, realisation of due predictions, IC
    /// refresh of the models that received pairs.
    CycleStart,
    /// One symbol, every stage: phase 1, sizing, risk validation — the
    /// first decision after the cycle start (cold caches).
    Decision,
    /// The same for the last symbol of a cycle whose other 7 symbols were
    /// just decided (pooled state warm).
    DecisionInCycle,
    /// Eight symbols: guardrail check, realisation, decisions, sizing,
    /// validation.
    Cycle,
}

impl Stage {
    pub const ALL: [Stage; 32] = [
        Stage::Volatility,
        Stage::Zscore,
        Stage::Confidence,
        Stage::ConfidenceRecord,
        Stage::Ridge,
        Stage::Temperature,
        Stage::HorizonBlend,
        Stage::CostModel,
        Stage::Arbiter,
        Stage::SpreadGate,
        Stage::BarrierGate,
        Stage::Exits,
        Stage::Sizing,
        Stage::Risk,
        Stage::PaperBroker,
        Stage::Bandit,
        Stage::Reward,
        Stage::FeaturesBar,
        Stage::LightGbm,
        Stage::LtwLinear,
        Stage::LightGbm200,
        Stage::OnnxMlp,
        Stage::LightGbm200Walk,
        Stage::LtwTrees,
        Stage::SampleLightGbm,
        Stage::SampleMlp,
        Stage::SampleRidge,
        Stage::PredictAll,
        Stage::CycleStart,
        Stage::Decision,
        Stage::DecisionInCycle,
        Stage::Cycle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Volatility => "volatility",
            Stage::Zscore => "zscore",
            Stage::Confidence => "confidence",
            Stage::ConfidenceRecord => "confidence_record",
            Stage::Ridge => "ridge_weights",
            Stage::Temperature => "temperature",
            Stage::HorizonBlend => "horizon_blend",
            Stage::CostModel => "cost_model",
            Stage::Arbiter => "arbiter",
            Stage::SpreadGate => "spread_gate",
            Stage::BarrierGate => "barrier_gate",
            Stage::Exits => "exits",
            Stage::Sizing => "sizing",
            Stage::Risk => "risk_guardrails",
            Stage::PaperBroker => "paper_broker",
            Stage::Bandit => "bandit",
            Stage::Reward => "reward",
            Stage::FeaturesBar => "features_bar",
            Stage::LightGbm => "lightgbm_predict",
            Stage::LtwLinear => "ltw_linear_predict",
            Stage::LightGbm200 => "lightgbm_200_predict",
            Stage::OnnxMlp => "onnx_mlp_predict",
            Stage::LightGbm200Walk => "lightgbm_200_walk",
            Stage::LtwTrees => "ltw_trees_predict",
            Stage::SampleLightGbm => "sample_lightgbm_predict",
            Stage::SampleMlp => "sample_mlp_predict",
            Stage::SampleRidge => "sample_ridge_predict",
            Stage::PredictAll => "predict_all_horizons",
            Stage::CycleStart => "cycle_start",
            Stage::Decision => "full_decision",
            Stage::DecisionInCycle => "full_decision_in_cycle",
            Stage::Cycle => "full_cycle_8_symbols",
        }
    }

    pub fn what(self) -> &'static str {
        match self {
            Stage::Volatility => "σ_bar over 21 closes, σ_h for 6 horizons",
            Stage::Zscore => "standardize one raw output (window 10)",
            Stage::Confidence => "evaluate one model (IC cached until a new pair)",
            Stage::ConfidenceRecord => "record a realised pair, evaluate (Spearman, 20 pairs)",
            Stage::Ridge => "ridge weights, 3 models, Cholesky",
            Stage::Temperature => "temperature on 3 weights",
            Stage::HorizonBlend => "blend 3 models (history 50, ridge, temperature)",
            Stage::CostModel => "spread + timing + impact",
            Stage::Arbiter => "6 horizons: costs, scores, best, threshold",
            Stage::SpreadGate => "spread and quote age from a quote",
            Stage::BarrierGate => "resolve probabilities, entry gate",
            Stage::Exits => "exit check for a long position",
            Stage::Sizing => "8 symbols: gross, band, shares",
            Stage::Risk => "guardrail check (8 symbols) + validate_trade",
            Stage::PaperBroker => "submit and fill one order",
            Stage::Bandit => "Exp3-IX update + preference factors",
            Stage::FeaturesBar => "push a bar: all 29 features, 300-bar frame (MACD reruns it)",
            Stage::LightGbm => "predict one row, 50-tree regression model",
            Stage::LtwLinear => "predict one row, linear .ltw, 32 features, memory-mapped",
            Stage::LightGbm200 => "predict one row, LightGBM 200 trees x 31 leaves, 32 features",
            Stage::OnnxMlp => "predict one row, ONNX MLP 32-64-32-1 (native row program)",
            Stage::LightGbm200Walk => "the 200-tree model, portable compiled walk (no AVX2)",
            Stage::LtwTrees => "the 200-tree model as .ltw, walked in place on the map",
            Stage::SampleLightGbm => {
                "sample run fwd_ret_5m LightGBM: 40 trees x 8 leaves, 16 features"
            }
            Stage::SampleMlp => "sample run fwd_ret_5m MLP: scaler, 16-16-1 (native row program)",
            Stage::SampleRidge => "sample run fwd_ret_5m Ridge: scaler, 16-1 (native row program)",
            Stage::PredictAll => "sample run, 1 symbol: 24 models (6 horizons x 3 + 6 barrier)",
            Stage::Reward => "apply a fill to an episode",
            Stage::CycleStart => {
                "guardrail check, realise 8 symbols x 18 models' pairs, refresh IC"
            }
            Stage::Decision => {
                "1 symbol, 6 horizons x 3 families, all stages (first after cycle start)"
            }
            Stage::DecisionInCycle => "the same, last of 8 symbols in a cycle",
            Stage::Cycle => "8 symbols x 6 horizons x 3 families, all stages",
        }
    }
}

/// One step of scripted market data and model outputs.
struct Frame {
    quotes: Vec<Quote>,
    bars: Vec<Vec<f64>>,
    outputs: Vec<Vec<f64>>,
}

/// All fixtures, warmed up.
pub struct Fixtures {
    k: u64,
    rng: SplitMix,
    closes: Vec<f64>,
    sigma_h: [f64; 6],
    vol: Volatility,
    std: Standardizer,
    conf: ConfidenceTracker,
    ridge: RidgeSolver,
    corr: [f64; 9],
    w3: [f64; 3],
    blender: HorizonBlender,
    entries: [BlendEntry; 3],
    arbiter: Arbiter,
    detail: [Option<HorizonScore>; 6],
    spread: SpreadGate,
    barrier: BarrierGate,
    resolver: BarrierResolver,
    barrier_outputs: Vec<f64>,
    sizer: Sizer,
    requests: Vec<SizingRequest>,
    sized: Vec<Sized>,
    guard: Guardrails,
    weights: Vec<f64>,
    broker: PaperBroker,
    bandit: Bandit,
    factors: [f64; 6],
    tracker: EpisodeTracker,
    // Whole decisions.
    tape: Vec<Frame>,
    pipeline: DecisionPipeline,
    decisions: Vec<SymbolDecision>,
    cycle_guard: Guardrails,
    /// The current frame's quotes, stamped 50 ms before the decision.
    quotes: Vec<Quote>,
    /// The current frame's bars and model outputs, copied from the tape
    /// into fixed buffers as the feed and the predict stage would leave
    /// them (the decision benches exclude inference, not its cache state).
    bars: Vec<Vec<f64>>,
    outputs: Vec<Vec<f64>>,
    time: Nanos,
    data_time: Nanos,
    bar_close: f64,
    feature_state: FeatureState,
    feature_values: Vec<f64>,
    lgbm: LightGbmModel,
    /// Rows of standard-normal features, cycled: varied inputs, so that the
    /// walk's branches are as unpredictable as with market data.
    lgbm_rows: Vec<Vec<f32>>,
    models: ModelBench,
    /// Tape frame chosen by [`Fixtures::prepare`].
    at: usize,
    /// How the measured whole decisions ended, by reason code.
    pub outcomes: [u64; 64],
}

impl Fixtures {
    pub fn new() -> Fixtures {
        let mut scenario = Scenario::full(CYCLE_SYMBOLS, 2024);
        let order = scenario.order();
        let pipeline = scenario.pipeline().expect("scenario pipeline");
        let barrier_outputs = scenario.outputs[0].clone();
        let resolver = scenario.layout.barrier.clone();
        let mut tape = Vec::with_capacity(TAPE);
        for _ in 0..TAPE {
            scenario.step();
            tape.push(Frame {
                quotes: scenario.quotes.clone(),
                bars: scenario.closes.iter().map(|c| c.to_vec()).collect(),
                outputs: scenario.outputs.clone(),
            });
        }
        let sizing = SizingParams::default();
        let requests = (0..CYCLE_SYMBOLS)
            .map(|i| SizingRequest {
                symbol: SymbolId(i as u16),
                intent: SizingIntent::Entry(propose(&sizing, 0.5 * i as f64 - 1.5, 0.8)),
                current_weight: 0.001 * i as f64,
                position: Qty(i as i64),
                mid: 100.0 + i as f64,
            })
            .collect();
        let catalogue: Vec<Feature> = live_trading::features::kind::CATALOGUE
            .iter()
            .map(|&(name, _)| Feature::parse(name))
            .collect();
        let feature_set = FeatureSet::new(catalogue, 300).expect("feature set");
        let lgbm_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/models/lightgbm/regression.txt");
        let lgbm = LightGbmModel::load(lgbm_path).expect("LightGBM fixture");
        let mut f = Fixtures {
            k: 0,
            rng: SplitMix::new(99),
            closes: (0..21).map(|i| 100.0 + (i as f64 * 0.3).sin()).collect(),
            sigma_h: [0.0; 6],
            vol: Volatility::new(VolatilityParams::default()),
            std: Standardizer::new(&StandardizeParams::default(), 1),
            conf: ConfidenceTracker::new(&ConfidenceParams::default(), 1),
            ridge: RidgeSolver::new(&RidgeParams::default(), 3),
            corr: [1.0, 0.3, 0.2, 0.3, 1.0, 0.4, 0.2, 0.4, 1.0],
            w3: [0.0; 3],
            blender: HorizonBlender::new(
                &BlendParams::default(),
                &RidgeParams::default(),
                Temperature::new(0.75),
                3,
            ),
            entries: [BlendEntry {
                slot: 0,
                calibrated: 0.0,
                ic: 0.05,
                overall: 0.02,
                demoted: false,
                cost_share: 0.0,
            }; 3],
            arbiter: Arbiter::new(ArbiterParams::default(), CostParams::default()),
            detail: [None; 6],
            spread: SpreadGate::new(SpreadGateParams::default()),
            barrier: BarrierGate::new(BarrierParams::default()),
            resolver,
            barrier_outputs,
            sizer: Sizer::new(sizing, order.clone()).expect("sizer"),
            requests,
            sized: vec![Sized::EMPTY; CYCLE_SYMBOLS],
            guard: Guardrails::new(RiskLimits::default(), order.clone()),
            weights: (0..CYCLE_SYMBOLS).map(|i| 0.01 * i as f64 - 0.03).collect(),
            broker: PaperBroker::new(PaperParams::default(), order.clone()).expect("broker"),
            bandit: Bandit::new(
                6,
                BanditParams {
                    min_samples: 10,
                    ..BanditParams::default()
                },
            )
            .expect("bandit"),
            factors: [1.0; 6],
            tracker: EpisodeTracker::new(1),
            tape,
            pipeline,
            decisions: vec![SymbolDecision::EMPTY; CYCLE_SYMBOLS],
            cycle_guard: Guardrails::new(RiskLimits::default(), order),
            quotes: vec![Quote::untimed(0.0, 0.0); CYCLE_SYMBOLS],
            bars: vec![Vec::new(); CYCLE_SYMBOLS],
            outputs: vec![Vec::new(); CYCLE_SYMBOLS],
            time: START,
            data_time: START,
            at: 0,
            outcomes: [0; 64],
            bar_close: 100.0,
            feature_state: FeatureState::new(&feature_set),
            feature_values: vec![0.0; feature_set.len()],
            lgbm_rows: normal_rows(1024, lgbm.n_features(), 17),
            models: ModelBench::new(),
            lgbm,
        };
        f.broker
            .set_quote(SymbolId(0), Quote::untimed(99.99, 100.01));
        // Warm every window, history and queue.
        for _ in 0..2_000 {
            for s in Stage::ALL {
                f.prepare(s);
                f.run(s);
            }
        }
        f
    }

    /// Untimed setup before one call of `stage`: the whole-decision stages
    /// move to the next minute and tape frame; `full_decision` also starts
    /// the cycle, which `cycle_start` measures on its own.
    pub fn prepare(&mut self, stage: Stage) {
        match stage {
            Stage::CycleStart => {
                // Decisions of the cycle that ends feed the queue, so the
                // measured start realises a steady-state batch of pairs.
                self.at = self.advance();
                self.decide_all();
            }
            Stage::Cycle => self.at = self.advance(),
            Stage::Decision | Stage::DecisionInCycle => {
                self.at = self.advance();
                let quotes = &self.quotes;
                self.cycle_guard.check(1e5, &self.weights, self.time);
                self.pipeline
                    .begin_cycle(self.time, 1e5, &self.factors, |id| {
                        Some(quotes[id.index()].mid())
                    });
                if stage == Stage::DecisionInCycle {
                    for i in 1..CYCLE_SYMBOLS {
                        let input =
                            Self::input(&self.bars, &self.outputs, &self.quotes, i, self.data_time);
                        self.pipeline.decide(&input, &mut self.decisions[i]);
                    }
                }
            }
            _ => {}
        }
    }

    /// Whether `stage` needs [`Fixtures::prepare`] before every call.
    pub fn needs_prepare(stage: Stage) -> bool {
        matches!(
            stage,
            Stage::CycleStart | Stage::Decision | Stage::DecisionInCycle | Stage::Cycle
        )
    }

    /// One call of `stage`.
    #[inline]
    pub fn run(&mut self, stage: Stage) {
        self.k = self.k.wrapping_add(1);
        let k = self.k;
        match stage {
            Stage::Volatility => {
                let v = self
                    .vol
                    .estimate(black_box(&self.closes))
                    .map_or(0.0, |v| v.sigma_bar);
                self.vol.horizon_sigmas(v, &HORIZONS, &mut self.sigma_h);
                black_box(&self.sigma_h);
            }
            Stage::Zscore => {
                let x = self.rng.unit();
                black_box(self.std.standardize(ModelId(0), x));
            }
            Stage::Confidence => {
                let mut inputs = confidence_inputs();
                inputs.planned_notional += self.rng.unit();
                black_box(self.conf.evaluate(ModelId(0), &inputs));
            }
            Stage::ConfidenceRecord => {
                let x = self.rng.unit();
                self.conf
                    .record(ModelId(0), x, 0.5 * x + 0.1 * self.rng.unit());
                black_box(self.conf.evaluate(ModelId(0), &confidence_inputs()));
            }
            Stage::Ridge => {
                let ic = [0.05, 0.03 + 0.01 * self.rng.unit(), 0.02];
                black_box(
                    self.ridge
                        .weights(&ic, Some(&self.corr), None, &mut self.w3)
                        .ok(),
                );
            }
            Stage::Temperature => {
                let mut w = [0.6, 0.3 + 0.01 * self.rng.unit(), 0.1];
                Temperature::new(0.75).apply(black_box(&mut w));
                black_box(w);
            }
            Stage::HorizonBlend => {
                for (m, e) in self.entries.iter_mut().enumerate() {
                    e.slot = m;
                    e.calibrated = 0.01 * self.rng.unit();
                }
                black_box(self.blender.blend(&self.entries, 0.002, &mut self.w3).ok());
            }
            Stage::CostModel => {
                let sigma = 0.001 + 0.0001 * self.rng.unit();
                black_box(CostParams::default().cost(Bps(2.0), sigma, 500.0, Some(1e6)));
            }
            Stage::Arbiter => {
                let x = self.rng.unit() * 1e-3;
                let alphas = [
                    Some(x),
                    Some(2.0 * x),
                    Some(-x),
                    None,
                    Some(0.5 * x),
                    Some(x),
                ];
                black_box(self.arbiter.decide(
                    &ArbiterInput {
                        alphas: &alphas,
                        horizon_minutes: &HORIZONS,
                        sigma_bar: 0.0005,
                        bar_minutes: 1,
                        spread_bps: Bps(2.0),
                        q_shares: 50.0,
                        adv_shares: Some(1e6),
                        preference: &self.factors,
                    },
                    &mut self.detail,
                ));
            }
            Stage::SpreadGate => {
                let t = START.saturating_add(Nanos(k % 1_000 * 1_000));
                let q = Quote {
                    bid: 99.99,
                    ask: 100.01 + 0.001 * self.rng.unit(),
                    time: Some(START),
                };
                black_box(self.spread.check_quote(Some(&q), t));
            }
            Stage::BarrierGate => {
                self.barrier_outputs[18] = 0.3 + 0.2 * self.rng.unit();
                let r = self
                    .resolver
                    .resolve(&self.barrier_outputs, HorizonId(2), HorizonId(0));
                black_box(self.barrier.entry(Side::Buy, r.probs));
            }
            Stage::Exits => {
                let probs = BarrierProbs {
                    p_peak: Some(0.3 + 0.2 * self.rng.unit()),
                    p_valley: Some(0.3),
                };
                black_box(self.barrier.exit(Qty(100), probs, Some(1e-4)));
            }
            Stage::Sizing => {
                let x = self.rng.unit();
                self.requests[0].intent =
                    SizingIntent::Entry(propose(&SizingParams::default(), 3.0 * x, 0.9));
                black_box(
                    self.sizer
                        .size_group(1e5, &self.requests, &mut self.sized)
                        .ok(),
                );
            }
            Stage::Risk => {
                let day = Nanos::from_secs((k / 10_000) * 86_400);
                let t = START.saturating_add(day).saturating_add(Nanos(k % 10_000));
                let pv = 1e5 * (1.0 + 0.001 * self.rng.unit());
                black_box(self.guard.check(pv, &self.weights, t));
                let _ = black_box(self.guard.validate_trade(SymbolId(3), 0.04, &self.weights));
            }
            Stage::PaperBroker => {
                let side = if k.is_multiple_of(2) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let _ = black_box(self.broker.submit_shares(SymbolId(0), side, Qty(5)));
            }
            Stage::Bandit => {
                let arm = HorizonId((k % 6) as u8);
                let _ = black_box(self.bandit.update(arm, Bps(20.0 * self.rng.unit())));
                self.bandit.preference_factors(&mut self.factors);
            }
            Stage::Reward => {
                let qty = if k.is_multiple_of(2) {
                    Qty(10)
                } else {
                    Qty(-10)
                };
                let fill = Fill {
                    qty,
                    price: 100.0 + self.rng.unit(),
                    fee: 0.1,
                    arm: Some(HorizonId(0)),
                };
                let _ = black_box(self.tracker.apply_fill(SymbolId(0), &fill));
            }
            Stage::FeaturesBar => {
                let open = self.bar_close;
                self.bar_close *= 1.0 + 0.002 * self.rng.unit();
                let c = self.bar_close;
                self.feature_state
                    .push_bar(open, open.max(c) * 1.001, open.min(c) * 0.999, c, 1e6);
                self.feature_state.values(&mut self.feature_values);
                black_box(&self.feature_values);
            }
            Stage::LightGbm => {
                let row = &self.lgbm_rows[(k % self.lgbm_rows.len() as u64) as usize];
                black_box(self.lgbm.predict(black_box(row)));
            }
            Stage::LtwLinear => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize];
                black_box(m.linear.predict(black_box(row)));
            }
            Stage::LightGbm200 => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize];
                black_box(m.lgbm_200.predict(black_box(row)));
            }
            Stage::OnnxMlp => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize];
                black_box(m.mlp.predict(black_box(row)));
            }
            Stage::LightGbm200Walk => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize];
                let walk = m.lgbm_200.ensemble().compiled().expect("compiled walk");
                black_box(walk.sum(black_box(row.as_slice())));
            }
            Stage::LtwTrees => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize];
                black_box(m.ltw_200.predict(black_box(row)));
            }
            Stage::SampleLightGbm | Stage::SampleMlp | Stage::SampleRidge => {
                let m = &mut self.models;
                let row = &m.rows[(k % m.rows.len() as u64) as usize][..16];
                let model = match stage {
                    Stage::SampleLightGbm => &mut m.sample[0],
                    Stage::SampleMlp => &mut m.sample[1],
                    _ => &mut m.sample[2],
                };
                black_box(model.predict(black_box(row)));
            }
            Stage::PredictAll => {
                let m = &mut self.models;
                let state = &m.states[(k % m.states.len() as u64) as usize];
                black_box(m.predictors.predict(&m.symbol, state, &mut m.out));
                black_box(&m.out);
            }
            Stage::CycleStart => self.cycle_start(),
            Stage::Decision | Stage::DecisionInCycle => self.decision(),
            Stage::Cycle => self.cycle(),
        }
    }

    /// Next minute and tape frame; the frame's quotes are stamped 50 ms
    /// before the decision, its last bar ends at the decision.
    fn advance(&mut self) -> usize {
        self.time = self.time.saturating_add(Nanos::from_secs(60));
        self.data_time = self.time;
        let at = (self.k % TAPE as u64) as usize;
        let stamp = Nanos(self.time.0 - 50 * Nanos::PER_MILLI);
        let frame = &self.tape[at];
        for (q, f) in self.quotes.iter_mut().zip(&frame.quotes) {
            *q = Quote {
                time: Some(stamp),
                ..*f
            };
        }
        for (c, f) in self.bars.iter_mut().zip(&frame.bars) {
            c.clear();
            c.extend_from_slice(f);
        }
        for (o, f) in self.outputs.iter_mut().zip(&frame.outputs) {
            o.clear();
            o.extend_from_slice(f);
        }
        at
    }

    fn input<'a>(
        closes: &'a [Vec<f64>],
        outputs: &'a [Vec<f64>],
        quotes: &'a [Quote],
        i: usize,
        time: Nanos,
    ) -> SymbolInput<'a> {
        SymbolInput {
            symbol: SymbolId(i as u16),
            quote: Some(&quotes[i]),
            closes: &closes[i],
            data_time: time,
            adv_usd: Some(5e8),
            outputs: &outputs[i],
            position: Qty::ZERO,
            current_weight: 0.0,
            remember: true,
        }
    }

    fn cycle_start(&mut self) {
        let quotes = &self.quotes;
        black_box(self.cycle_guard.check(1e5, &self.weights, self.time));
        self.pipeline
            .begin_cycle(self.time, 1e5, &self.factors, |id| {
                Some(quotes[id.index()].mid())
            });
    }

    fn decision(&mut self) {
        let d = &mut self.decisions[..1];
        self.pipeline.decide(
            &Self::input(&self.bars, &self.outputs, &self.quotes, 0, self.data_time),
            &mut d[0],
        );
        let _ = self.pipeline.size_cycle(d);
        self.pipeline
            .validate(&self.cycle_guard, &self.weights, &mut d[0]);
        self.outcomes[d[0].reason as usize] += 1;
        black_box(&d[0]);
    }

    fn decide_all(&mut self) {
        for (i, d) in self.decisions.iter_mut().enumerate() {
            self.pipeline.decide(
                &Self::input(&self.bars, &self.outputs, &self.quotes, i, self.data_time),
                d,
            );
        }
        let _ = self.pipeline.size_cycle(&mut self.decisions);
    }

    fn cycle(&mut self) {
        let quotes = &self.quotes;
        black_box(self.cycle_guard.check(1e5, &self.weights, self.time));
        self.pipeline
            .begin_cycle(self.time, 1e5, &self.factors, |id| {
                Some(quotes[id.index()].mid())
            });
        for (i, d) in self.decisions.iter_mut().enumerate() {
            self.pipeline.decide(
                &Self::input(&self.bars, &self.outputs, &self.quotes, i, self.data_time),
                d,
            );
        }
        let _ = self.pipeline.size_cycle(&mut self.decisions);
        for d in self.decisions.iter_mut() {
            self.pipeline.validate(&self.cycle_guard, &self.weights, d);
        }
        black_box(&self.decisions);
    }
}

fn confidence_inputs() -> ConfidenceInputs {
    ConfidenceInputs {
        horizon_minutes: 5,
        ic_prior: Some(0.05),
        decision_time: START,
        data_time: START,
        adv_usd: Some(1e8),
        planned_notional: 5_000.0,
    }
}

/// `n` rows of `k` standard-normal values (Box–Muller), as `f32`.
pub fn normal_rows(n: usize, k: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix::new(seed);
    (0..n)
        .map(|_| {
            (0..k)
                .map(|_| {
                    let (u, v) = (rng.unit().max(1e-12), rng.unit());
                    ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
                })
                .collect()
        })
        .collect()
}

/// The model back-ends' fixtures: the three single-row benches and
/// the sample run.
struct ModelBench {
    rows: Vec<Vec<f32>>,
    linear: LtwModel,
    lgbm_200: LightGbmModel,
    ltw_200: LtwModel,
    mlp: OnnxModel,
    /// The sample run's fwd_ret_5m LightGBM, MLP and Ridge back-ends.
    sample: Vec<Backend>,
    predictors: Predictors,
    symbol: SymbolModels,
    /// Feature states of one simulated symbol at 64 bars after warm-up,
    /// cycled so that every call predicts another row.
    states: Vec<FeatureState>,
    out: Vec<f64>,
}

impl ModelBench {
    fn new() -> ModelBench {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let bench = root.join("tests/data/models/bench");
        let rows = normal_rows(1024, 32, 23);
        // A linear .ltw of 32 weights, written where it is mapped from.
        let ltw_path = std::env::temp_dir().join(format!("lt-bench-{}.ltw", std::process::id()));
        let weights: Vec<f64> = normal_rows(1, 32, 5)[0]
            .iter()
            .map(|&w| f64::from(w))
            .collect();
        ltw::write_linear(&ltw_path, &weights, 0.01, Objective::Regression).expect("write .ltw");
        let linear = LtwModel::open(&ltw_path).expect("linear .ltw");
        let _ = std::fs::remove_file(&ltw_path); // the mapping stays valid
        let lgbm_200 = LightGbmModel::load(bench.join("lightgbm_200.txt")).expect("200 trees");
        let ltw_path =
            std::env::temp_dir().join(format!("lt-bench-200-{}.ltw", std::process::id()));
        ltw::write_lightgbm(&ltw_path, &lgbm_200).expect("write .ltw");
        let ltw_200 = LtwModel::open(&ltw_path).expect("200 trees .ltw");
        let _ = std::fs::remove_file(&ltw_path); // the mapping stays valid
        let mlp = OnnxModel::load(&bench.join("mlp.onnx"), 32).expect("MLP");
        assert_eq!(mlp.engine(), OnnxEngine::Native);

        let plan = ModelPlan::load(&root.join("config/sample-run"), &PlanSettings::default())
            .expect("sample run");
        let sample = ["LightGBM", "MLP", "Ridge"]
            .iter()
            .map(|family| {
                let id = plan
                    .id_of(&format!("fwd_ret_5m/{family}"))
                    .expect("sample run model");
                Backend::load(plan.model(id).expect("planned")).expect("sample back-end")
            })
            .collect();
        let mut predictors = Predictors::load(&plan, 300).expect("sample run back-ends");
        predictors.warm_up();
        let symbol = predictors.symbol_state();
        let mut sim = MarketSim::new(SimParams {
            days: 1,
            ..SimParams::default()
        })
        .expect("simulator");
        let mut state = FeatureState::new(predictors.feature_set());
        let mut states = Vec::new();
        let mut bars = 0;
        while let Some(event) = sim.next_event() {
            if let Some((SymbolId(0), b)) = event.bar() {
                state.push_bar(b.open, b.high, b.low, b.close, b.volume);
                bars += 1;
                if bars > 60 && bars % 5 == 0 && states.len() < 64 {
                    states.push(state.clone());
                }
            }
        }
        let out = vec![0.0; predictors.len()];
        ModelBench {
            rows,
            linear,
            lgbm_200,
            ltw_200,
            mlp,
            sample,
            predictors,
            symbol,
            states,
            out,
        }
    }
}
