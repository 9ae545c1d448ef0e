//! The engine thread allocates nothing after warm-up.
//!
//! A counting global allocator counts every allocation and reallocation made
//! by the armed thread. Each test builds its components (construction may
//! allocate), warms them up, arms the counter, runs thousands of calls and
//! expects exactly zero. Counting is per thread, so tests running in
//! parallel do not disturb each other.

// Test and measurement code: clocks and formatting are allowed.
#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

mod common;

use common::alloc::allocations;
use live_trading::broker::paper::{PaperBroker, PaperParams};
use live_trading::features::{Feature, FeatureSet, FeatureState};
use live_trading::feed::sim::{MarketSim, SimEvent, SimParams};
use live_trading::learning::bandit::{Bandit, BanditParams};
use live_trading::learning::reward::{EpisodeTracker, Fill};
use live_trading::market::volatility::{Volatility, VolatilityParams};
use live_trading::market::Quote;
use live_trading::models::lightgbm::LightGbmModel;
use live_trading::models::Predictor;
use live_trading::pipeline::arbitrate::{Arbiter, ArbiterInput, ArbiterParams, HorizonScore};
use live_trading::pipeline::blend::{BlendEntry, BlendParams, HorizonBlender};
use live_trading::pipeline::confidence::{ConfidenceInputs, ConfidenceParams, ConfidenceTracker};
use live_trading::pipeline::cost::CostParams;
use live_trading::pipeline::decision::SymbolDecision;
use live_trading::pipeline::gate::{BarrierGate, BarrierParams, BarrierProbs, SpreadGate};
use live_trading::pipeline::ridge::{RidgeParams, RidgeSolver};
use live_trading::pipeline::risk::{Guardrails, RiskLimits};
use live_trading::pipeline::size::{
    propose, Sized, Sizer, SizingIntent, SizingParams, SizingRequest,
};
use live_trading::pipeline::standardize::{StandardizeParams, Standardizer};
use live_trading::pipeline::temperature::Temperature;
use live_trading::testkit::{Scenario, SplitMix, START};
use live_trading::types::{Bps, HorizonId, ModelId, Nanos, Qty, Side, SymbolId, SymbolOrder};

/// The counter itself works: a `Vec` growing while armed is seen.
#[test]
fn counter_sees_allocations() {
    let n = allocations(|| {
        let v: Vec<u64> = (0..100).collect();
        std::hint::black_box(v);
    });
    assert!(n >= 1);
}

/// Whole warmed-up cycles: guardrail check, realisation, phase 1 for every
/// symbol, gross normalisation, risk validation, paper fills, episode
/// rewards and bandit updates, across trading-date changes.
#[test]
fn full_cycles_allocate_nothing_after_warm_up() {
    const SYMBOLS: usize = 8;
    let mut s = Scenario::full(SYMBOLS, 42);
    let order = s.order();
    let mut pipeline = s.pipeline().unwrap();
    let mut guard = Guardrails::new(RiskLimits::default(), order.clone());
    let mut broker = PaperBroker::new(PaperParams::default(), order).unwrap();
    let mut rewards = EpisodeTracker::new(SYMBOLS);
    let arms = s.layout.horizons.len();
    let bandit_params = BanditParams {
        min_samples: 5,
        ..BanditParams::default()
    };
    let mut bandit = Bandit::new(arms, bandit_params).unwrap();
    let mut decisions = vec![SymbolDecision::EMPTY; SYMBOLS];
    let mut weights = vec![0.0; SYMBOLS];
    let mut marks = vec![0.0; SYMBOLS];
    let mut preference = vec![1.0; arms];
    let mut snapshot = guard.snapshot();
    let mut trades = 0u64;

    let mut cycle = |s: &mut Scenario, trades: &mut u64| {
        s.step();
        for (i, q) in s.quotes.iter().enumerate() {
            broker.set_quote(SymbolId(i as u16), *q);
            marks[i] = q.mid();
        }
        let pv = broker.portfolio_value_at(&marks);
        broker.weights(&mut weights);
        guard.check(pv, &weights, s.time);
        bandit.preference_factors(&mut preference);
        pipeline.begin_cycle(s.time, pv, &preference, |id| Some(marks[id.index()]));
        for (i, d) in decisions.iter_mut().enumerate() {
            pipeline.decide(&s.input(i, pv), d);
        }
        pipeline.size_cycle(&mut decisions).unwrap();
        for d in decisions.iter_mut() {
            if !pipeline.validate(&guard, &weights, d) {
                continue;
            }
            let side = Side::of_delta(d.shares.0).unwrap();
            let Ok(fill) = broker.submit_shares(d.symbol, side, d.shares.abs()) else {
                continue;
            };
            *trades += 1;
            s.positions[d.symbol.index()] = Qty(broker.position(d.symbol) as i64);
            broker.weights(&mut weights);
            let f = Fill {
                qty: d.shares,
                price: fill.price,
                fee: fill.fee,
                arm: d.horizon,
            };
            if let Ok(Some(closed)) = rewards.apply_fill(d.symbol, &f) {
                let _ = bandit.learn(closed.arm, closed.reward.net);
            }
        }
        guard.snapshot_into(&mut snapshot);
    };

    // Warm-up: fill every window, history and queue past the longest horizon.
    for _ in 0..600 {
        cycle(&mut s, &mut trades);
    }
    let warm_trades = trades;
    let n = allocations(|| {
        for _ in 0..2_000 {
            cycle(&mut s, &mut trades);
        }
    });
    assert_eq!(n, 0, "allocations in 2000 warmed-up cycles");
    assert!(trades > warm_trades, "the measured cycles must trade");
    assert!(s.time.secs_since(START) > 86_400.0, "must cross a date");
}

/// Each stage on its own, many calls after warm-up.
#[test]
fn every_stage_alone_allocates_nothing() {
    let mut rng = SplitMix::new(7);
    let horizons = [5u32, 10, 15, 30, 60, 390];
    let n_models = 3;

    let vol = Volatility::new(VolatilityParams::default());
    let closes: Vec<f64> = (0..21).map(|i| 100.0 + (i as f64).sin()).collect();
    let mut sigma_h = [0.0; 6];
    let mut std = Standardizer::new(&StandardizeParams::default(), n_models);
    let mut conf = ConfidenceTracker::new(&ConfidenceParams::default(), n_models);
    let mut ridge = RidgeSolver::new(&RidgeParams::default(), n_models);
    let corr = [1.0, 0.3, 0.2, 0.3, 1.0, 0.4, 0.2, 0.4, 1.0];
    let mut w = [0.0; 3];
    let mut blender = HorizonBlender::new(
        &BlendParams::default(),
        &RidgeParams::default(),
        Temperature::new(0.75),
        n_models,
    );
    let arbiter = Arbiter::new(ArbiterParams::default(), CostParams::default());
    let mut detail: [Option<HorizonScore>; 6] = [None; 6];
    let spread = SpreadGate::new(Default::default());
    let barrier = BarrierGate::new(BarrierParams::default());
    let order = SymbolOrder::from_names(&["A", "B", "C"]).unwrap();
    let mut sizer = Sizer::new(SizingParams::default(), order.clone()).unwrap();
    let mut sized = [Sized::EMPTY; 3];
    let mut guard = Guardrails::new(RiskLimits::default(), order.clone());
    let mut state = guard.snapshot();
    let mut broker = PaperBroker::new(PaperParams::default(), order).unwrap();
    let mut bandit = Bandit::new(6, BanditParams::default()).unwrap();
    let mut factors = [0.0; 6];
    let mut tracker = EpisodeTracker::new(3);

    let mut run = |k: u64| {
        let x = rng.unit();
        let t = START.saturating_add(Nanos::from_secs(k * 60));
        let v = vol.estimate(&closes).unwrap();
        vol.horizon_sigmas(v.sigma_bar, &horizons, &mut sigma_h);
        let mut entries = [BlendEntry {
            slot: 0,
            calibrated: 0.0,
            ic: 0.05,
            overall: 0.02,
            demoted: false,
            cost_share: 0.0,
        }; 3];
        for (m, e) in entries.iter_mut().enumerate() {
            let id = ModelId(m as u16);
            let z = std.standardize(id, x * (m as f64 + 1.0)).unwrap();
            conf.record(id, x, x * 0.5 + 0.001 * m as f64);
            let c = conf
                .evaluate(
                    id,
                    &ConfidenceInputs {
                        horizon_minutes: 5,
                        ic_prior: Some(0.05),
                        decision_time: t,
                        data_time: t,
                        adv_usd: Some(1e8),
                        planned_notional: 5_000.0,
                    },
                )
                .unwrap();
            e.slot = m;
            e.calibrated = z * c.overall;
        }
        ridge
            .weights(&[0.05, 0.03, 0.02], Some(&corr), None, &mut w)
            .unwrap();
        Temperature::new(0.85).apply(&mut w);
        let b = blender.blend(&entries, sigma_h[0], &mut w).unwrap();
        let alphas = [
            b.map(|b| b.alpha),
            Some(x * 1e-3),
            None,
            Some(-x * 1e-3),
            None,
            None,
        ];
        let out = arbiter.decide(
            &ArbiterInput {
                alphas: &alphas,
                horizon_minutes: &horizons,
                sigma_bar: v.sigma_bar,
                bar_minutes: 1,
                spread_bps: Bps(2.0),
                q_shares: 50.0,
                adv_shares: Some(1e6),
                preference: &factors,
            },
            &mut detail,
        );
        std::hint::black_box(out);
        let q = Quote {
            bid: 99.99,
            ask: 100.01,
            time: Some(t),
        };
        std::hint::black_box(spread.check_quote(Some(&q), t));
        let probs = BarrierProbs {
            p_peak: Some(0.3 + 0.2 * x),
            p_valley: Some(0.3),
        };
        std::hint::black_box(barrier.entry(Side::Buy, probs));
        std::hint::black_box(barrier.exit(Qty(10), probs, Some(x)));
        let requests = [
            SizingRequest {
                symbol: SymbolId(0),
                intent: SizingIntent::Entry(propose(&SizingParams::default(), 2.0 * x, 0.8)),
                current_weight: 0.0,
                position: Qty::ZERO,
                mid: 100.0,
            },
            SizingRequest {
                symbol: SymbolId(2),
                intent: SizingIntent::Entry(propose(&SizingParams::default(), -1.5, 1.0)),
                current_weight: 0.01,
                position: Qty(10),
                mid: 100.0,
            },
        ];
        sizer.size_group(1e5, &requests, &mut sized).unwrap();
        // Losses large enough to trip the kill switch, on changing dates.
        let day = Nanos::from_secs((k / 50) * 86_400);
        let pv = 1e5 * (1.0 - 0.001 * (k % 50) as f64);
        guard.check(pv, &[0.01, -0.02, 0.0], t.saturating_add(day));
        let _ = std::hint::black_box(guard.validate_trade(SymbolId(1), 0.05, &[0.01, -0.02, 0.0]));
        guard.snapshot_into(&mut state);
        broker.set_quote(SymbolId(0), q);
        let side = if k.is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        if let Ok(f) = broker.submit_shares(SymbolId(0), side, Qty(3)) {
            let fill = Fill {
                qty: Qty(3 * side.sign() as i64),
                price: f.price,
                fee: f.fee,
                arm: Some(HorizonId((k % 6) as u8)),
            };
            if let Ok(Some(ep)) = tracker.apply_fill(SymbolId(0), &fill) {
                let _ = bandit.learn(ep.arm, ep.reward.net);
            }
        }
        let _ = bandit.update(HorizonId((k % 6) as u8), Bps(10.0 * x));
        bandit.preference_factors(&mut factors);
        bandit.ensemble_weights(&mut factors);
    };

    for k in 0..200 {
        run(k);
    }
    let n = allocations(|| {
        for k in 200..5_200 {
            run(k);
        }
    });
    assert_eq!(n, 0, "allocations in 5000 calls of every stage");
}

/// Per-bar features and a LightGBM prediction, warmed up: every feature of
/// the catalogue over a 300-bar frame that keeps sliding, the model's f32
/// row gathered and predicted.
#[test]
fn features_and_tree_prediction_allocate_nothing() {
    let names = [
        "ret_1d",
        "ret_5d",
        "ret_10d",
        "ret_20d",
        "ret_60d",
        "vol_5",
        "vol_10",
        "vol_20",
        "vol_60",
        "rsi_14",
        "rsi_7",
        "rsi_21",
        "ma_ratio_10",
        "ma_ratio_20",
        "ma_ratio_50",
        "bb_position",
        "bb_width",
        "macd",
        "macd_signal",
        "macd_hist",
        "mom_5",
        "mom_10",
        "mom_20",
        "atr_14",
        "high_low_range",
        "volume_ma_ratio",
        "volume_change",
        "close_to_high_52w",
        "close_to_low_52w",
    ];
    let features = Feature::parse_list(&names);
    let set = FeatureSet::new(features.iter().copied(), 300).unwrap();
    let mut state = FeatureState::new(&set);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/models/lightgbm");
    let mut model = LightGbmModel::load(dir.join("regression.txt")).unwrap();
    let n = model.n_features();
    // The model's columns: the first n catalogue features.
    let model_features = set.model(&features[..n]).unwrap();
    let mut row = vec![0.0f32; n];
    let mut values = vec![0.0; set.len()];
    let mut rng = SplitMix::new(5);
    let mut close = 100.0;
    let mut bar = |state: &mut FeatureState| {
        let open = close;
        close *= 1.0 + 0.002 * rng.unit();
        let (hi, lo) = (open.max(close) * 1.001, open.min(close) * 0.999);
        state.push_bar(open, hi, lo, close, 1e6 * (1.5 + rng.unit()));
    };
    let mut predictions = 0u32;
    let mut step = |state: &mut FeatureState| {
        bar(state);
        state.values(&mut values);
        model_features.gather_f32(state, &mut row);
        if model.predict(&row).is_some_and(f64::is_finite) {
            predictions += 1;
        }
    };
    for _ in 0..400 {
        step(&mut state);
    }
    let n_alloc = allocations(|| {
        for _ in 0..3_000 {
            step(&mut state);
        }
    });
    assert_eq!(n_alloc, 0, "allocations in 3000 warmed-up bars");
    assert!(predictions > 3_000, "the model must predict on warm rows");
}

/// The market simulator (the feed thread's default source) allocates
/// nothing after construction: every quote and bar of three sessions,
/// across bar and session boundaries.
#[test]
fn market_simulator_allocates_nothing_after_construction() {
    let params = SimParams {
        days: 3,
        ..SimParams::default()
    };
    let per_session = 390 * params.symbols.len() as u64;
    let mut sim = MarketSim::new(params).unwrap();
    let (mut quotes, mut bars) = (0u64, 0u64);
    let n_alloc = allocations(|| {
        while let Some(event) = sim.next_event() {
            match event {
                SimEvent::Quote { .. } => quotes += 1,
                SimEvent::Bar { .. } => bars += 1,
            }
        }
    });
    assert_eq!(n_alloc, 0, "allocations in {} events", quotes + bars);
    assert_eq!(bars, 3 * per_session);
    assert_eq!(quotes, 6 * bars);
}

#[test]
fn predicting_the_sample_run_allocates_nothing() {
    use live_trading::feed::sim::{MarketSim, SimParams};
    use live_trading::models::artifact::{ModelPlan, PlanSettings};
    use live_trading::models::predict::Predictors;

    let run = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sample-run");
    let plan = ModelPlan::load(&run, &PlanSettings::default()).unwrap();
    let mut predictors = Predictors::load(&plan, 300).unwrap();
    predictors.warm_up();
    let mut sim = MarketSim::new(SimParams {
        days: 2,
        ..SimParams::default()
    })
    .unwrap();
    let n = sim.symbols().len();
    let mut features: Vec<FeatureState> = (0..n)
        .map(|_| FeatureState::new(predictors.feature_set()))
        .collect();
    let mut symbols: Vec<_> = (0..n).map(|_| predictors.symbol_state()).collect();
    let mut out = vec![0.0; predictors.len()];
    let mut predicted = 0u64;
    let mut step = |sim: &mut MarketSim| -> bool {
        let Some(event) = sim.next_event() else {
            return false;
        };
        if let Some((symbol, bar)) = event.bar() {
            let i = symbol.index();
            features[i].push_bar(bar.open, bar.high, bar.low, bar.close, bar.volume);
            predictors.on_bar(&mut symbols[i], &features[i], &bar);
            predicted += u64::from(
                predictors
                    .predict(&symbols[i], &features[i], &mut out)
                    .predicted,
            );
        }
        true
    };
    // Warm up on the first 100 bars of every symbol.
    let warm_up = 100 * n * 7;
    for _ in 0..warm_up {
        assert!(step(&mut sim));
    }
    let n_alloc = allocations(|| while step(&mut sim) {});
    assert_eq!(n_alloc, 0, "allocations predicting 24 models per bar");
    assert!(predicted > 24 * 600 * n as u64, "{predicted} predictions");
}

/// The real engine thread, with its links to the feed, paper-broker and
/// journal threads, allocates nothing once warm, in every trigger mode:
/// the counter is armed on the engine thread itself after warm-up.
#[test]
fn the_engine_thread_allocates_nothing_after_warm_up_in_every_trigger_mode() {
    use common::run::{run, temp_dir, Input};
    use live_trading::config::DecisionTrigger;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    const WARM: u64 = 150_000;
    for (trigger, max_cycles) in [
        (DecisionTrigger::Cycle, None),
        (DecisionTrigger::Bar, Some(600)),
        (DecisionTrigger::Quote, Some(200_000)),
    ] {
        let seen = Arc::new(AtomicU64::new(0));
        let counted = Arc::new(AtomicU64::new(u64::MAX));
        let (s, c) = (seen.clone(), counted.clone());
        let probe = Box::new(move |events: u64| {
            if events == WARM {
                common::alloc::arm();
            }
            if events >= WARM {
                s.store(events - WARM, Ordering::Relaxed);
                c.store(common::alloc::counted(), Ordering::Relaxed);
            }
        });
        let dir = temp_dir(&format!("noalloc-{trigger:?}"));
        let summary = run(trigger, Input::Sim(1), &dir, max_cycles, Some(probe)).unwrap();
        let events = seen.load(Ordering::Relaxed);
        assert!(
            events >= 5_000,
            "{trigger:?}: only {events} events after warm-up"
        );
        assert!(summary.cycles > 0);
        assert_eq!(
            counted.load(Ordering::Relaxed),
            0,
            "{trigger:?}: allocations on the engine thread in {events} warm events ({} cycles, {} fills)",
            summary.cycles,
            summary.fills
        );
    }
}
