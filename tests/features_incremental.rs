//! Incremental features against the batch reference (SPEC §3).
//!
//! Every bar of several generated bar series is pushed into a
//! [`FeatureState`]; after each bar, every feature of the catalogue must
//! equal `features::compute` over the frame the engine keeps (the last
//! `history_bars` bars) within the SPEC §0 tolerance, NaN agreeing with NaN.
//! The incremental arithmetic mirrors the batch and must be bit-identical for
//! every feature, the MACD family included (it reruns over the frame once
//! the frame slides). The
//! `features` vector cases are replayed bar by bar, warm flags must turn on
//! exactly at `rows_needed`, model rows must be the batch's `f32` values, and
//! a warmed-up state must not allocate.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros)]

mod common;

use common::alloc::allocations;
use live_trading::conformance::compare::Tolerance;
use live_trading::conformance::json::as_f64;
use live_trading::features::kind::CATALOGUE;
use live_trading::features::{
    compute_all, to_f32, BarFrame, Feature, FeatureSet, FeatureState, ModelFeatures, RowStatus,
};
use live_trading::testkit::SplitMix;
use serde_json::Value;

/// OHLCV columns of one generated symbol.
#[derive(Clone, Debug, Default)]
struct Bars {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl Bars {
    fn push(&mut self, o: f64, h: f64, l: f64, c: f64, v: f64) {
        self.open.push(o);
        self.high.push(h);
        self.low.push(l);
        self.close.push(c);
        self.volume.push(v);
    }

    fn len(&self) -> usize {
        self.close.len()
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut SplitMix) -> f64 {
    let u1 = (rng.unit() + 1.0) / 2.0 + 1e-12;
    let u2 = (rng.unit() + 1.0) / 2.0;
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A random walk with drift, volatility regimes, overnight-style gaps,
/// intrabar ranges and volumes (some zero), starting at `start`.
fn random_walk(seed: u64, n: usize, start: f64) -> Bars {
    let mut rng = SplitMix::new(seed);
    let mut bars = Bars::default();
    let mut close = start;
    let mut sigma = 0.01;
    let drift = 0.0003 * rng.unit();
    for i in 0..n {
        if i % 150 == 0 {
            sigma = 0.002 + 0.025 * (rng.unit() + 1.0) / 2.0;
        }
        let open = if rng.unit() > 0.98 {
            close * (1.0 + 0.08 * rng.unit()) // gap
        } else {
            close
        };
        close = open * (1.0 + drift + sigma * normal(&mut rng));
        let high = open.max(close) * (1.0 + sigma * (rng.unit() + 1.0) / 2.0);
        let low = open.min(close) * (1.0 - sigma * (rng.unit() + 1.0) / 2.0);
        let volume = if rng.unit() > 0.9 {
            0.0
        } else {
            (1e5 * (1.0 + 0.8 * rng.unit())).round()
        };
        bars.push(open, high, low, close, volume);
    }
    bars
}

/// A random walk with a flat stretch (RSI's L = 0, zero band width, zero
/// ranges) and a stretch of zero volumes.
fn flat_and_quiet(seed: u64) -> Bars {
    let mut bars = random_walk(seed, 400, 80.0);
    let level = bars.close[99];
    for i in 100..160 {
        bars.open[i] = level;
        bars.high[i] = level;
        bars.low[i] = level;
        bars.close[i] = level;
    }
    for v in &mut bars.volume[200..240] {
        *v = 0.0;
    }
    bars
}

/// Bad data: NaN and infinite closes, a zero close, NaN highs and lows, an
/// infinite volume, and a huge (finite) bad tick.
fn bad_ticks(seed: u64) -> Bars {
    let mut bars = random_walk(seed, 420, 30.0);
    bars.close[50] = f64::NAN;
    bars.close[51] = f64::INFINITY;
    bars.close[130] = 0.0;
    bars.high[170] = f64::NAN;
    bars.low[171] = f64::NAN;
    bars.volume[180] = f64::INFINITY;
    bars.close[260] = bars.close[259] * 1e6;
    bars.close[300] = f64::NEG_INFINITY;
    bars
}

/// A steady climb: every change a gain, so RSI's L = 0 throughout.
fn monotonic(n: usize) -> Bars {
    let mut bars = Bars::default();
    for i in 0..n {
        let c = 20.0 + 0.25 * i as f64;
        bars.push(c - 0.1, c + 0.2, c - 0.2, c, 1000.0 + i as f64);
    }
    bars
}

fn catalogue() -> Vec<Feature> {
    let mut all: Vec<Feature> = CATALOGUE.iter().map(|&(_, f)| f).collect();
    all.push(Feature::Unknown);
    all
}

fn is_macd(f: Feature) -> bool {
    matches!(f, Feature::Macd | Feature::MacdSignal | Feature::MacdHist)
}

/// Which columns the feed provides.
#[derive(Clone, Copy, PartialEq)]
enum Columns {
    All,
    /// No High, Low or Volume: the state gets NaN, the batch no column.
    CloseOnly,
}

/// The batch frame of rows `lo..=t`.
fn frame(bars: &Bars, lo: usize, t: usize, columns: Columns) -> BarFrame {
    let col = |c: &Vec<f64>| Some(c[lo..=t].to_vec());
    match columns {
        Columns::All => BarFrame::from_columns(
            col(&bars.open),
            col(&bars.high),
            col(&bars.low),
            col(&bars.close),
            col(&bars.volume),
        ),
        Columns::CloseOnly => {
            BarFrame::from_columns(col(&bars.open), None, None, col(&bars.close), None)
        }
    }
    .unwrap()
}

/// Push every bar and compare every feature, warm flag and model row with
/// the batch over the last `history_bars` bars.
fn check(name: &str, bars: &Bars, history_bars: usize, columns: Columns) {
    let tol = Tolerance::default();
    let features = catalogue();
    let set = FeatureSet::new(features.iter().copied(), history_bars).unwrap();
    assert_eq!(set.features(), features.as_slice());
    // Two models: the catalogue order, and a short list in its own order.
    let short = [
        Feature::MacdHist,
        Feature::Rsi(14),
        Feature::Ret(1),
        Feature::CloseToLow52w,
    ];
    let models: Vec<(Vec<Feature>, ModelFeatures)> = [features[..29].to_vec(), short.to_vec()]
        .into_iter()
        .map(|list| {
            let m = set.model(&list).unwrap();
            (list, m)
        })
        .collect();

    let mut state = FeatureState::new(&set);
    let mut values = vec![0.0; set.len()];
    let mut expected = vec![0.0; set.len()];
    for t in 0..bars.len() {
        let nan_if_missing = |x: f64| if columns == Columns::All { x } else { f64::NAN };
        state.push_bar(
            bars.open[t],
            nan_if_missing(bars.high[t]),
            nan_if_missing(bars.low[t]),
            bars.close[t],
            nan_if_missing(bars.volume[t]),
        );
        let rows = (t + 1).min(history_bars);
        assert_eq!(state.rows(), rows);
        let batch = frame(bars, t + 1 - rows, t, columns);
        compute_all(&batch, &features, &mut expected);
        state.values(&mut values);

        for (i, &f) in features.iter().enumerate() {
            let (got, want) = (values[i], expected[i]);
            let at = || format!("{name} H={history_bars} bar {t} {f:?}");
            assert!(tol.close(want, got), "{}: {got} vs batch {want}", at());
            let same_nan = got.is_nan() && want.is_nan();
            assert!(
                same_nan || got.to_bits() == want.to_bits(),
                "{}: not bit-identical",
                at()
            );
            let warm = f.rows_needed().is_some_and(|need| rows >= need);
            assert_eq!(state.is_warm(f), warm, "{}: warm flag", at());
            assert_eq!(state.warm_mask() >> i & 1 == 1, warm, "{}: warm bit", at());
        }

        for (list, model) in &models {
            let mut row = vec![0.0f32; list.len()];
            let status = model.gather_f32(&state, &mut row);
            let mut want_f64 = vec![0.0; list.len()];
            compute_all(&batch, list, &mut want_f64);
            let mut want = vec![0.0f32; list.len()];
            to_f32(&want_f64, &mut want);
            for (k, &f) in list.iter().enumerate() {
                let (g, w) = (row[k], want[k]);
                let same = g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan());
                assert!(
                    same,
                    "{name} H={history_bars} bar {t} {f:?}: f32 {g} vs {w}"
                );
            }
            let all_warm = list
                .iter()
                .all(|f| f.rows_needed().is_some_and(|need| rows >= need));
            assert_eq!(model.is_warm(&state), all_warm);
            let expected_status = if !all_warm {
                RowStatus::NotWarm
            } else if want_f64.iter().any(|v| v.is_nan()) {
                RowStatus::HasNan
            } else {
                RowStatus::Ready
            };
            assert_eq!(status, expected_status, "{name} H={history_bars} bar {t}");
        }
    }
}

#[test]
fn random_walks_match_the_batch_over_a_sliding_40_bar_frame() {
    for seed in [1, 2, 3] {
        check("walk", &random_walk(seed, 700, 100.0), 40, Columns::All);
    }
    check("low price", &random_walk(4, 400, 2.5), 40, Columns::All);
}

#[test]
fn random_walks_match_the_batch_over_the_default_300_bar_frame() {
    check("walk", &random_walk(11, 800, 150.0), 300, Columns::All);
    check("walk", &random_walk(12, 650, 40.0), 300, Columns::All);
}

#[test]
fn flat_stretches_and_zero_volumes_match_the_batch() {
    for h in [40, 300] {
        check("flat", &flat_and_quiet(21), h, Columns::All);
    }
    check("climb", &monotonic(120), 40, Columns::All);
}

#[test]
fn bad_bars_give_the_batch_nans_and_recover_when_they_leave() {
    for h in [25, 40, 300] {
        check("bad", &bad_ticks(31), h, Columns::All);
    }
}

#[test]
fn missing_high_low_and_volume_columns_are_nan_like_the_batch() {
    check(
        "close only",
        &random_walk(41, 300, 60.0),
        40,
        Columns::CloseOnly,
    );
}

/// Frames that end exactly at a window edge: `d_0 = 0` of RSI and `TR_0`
/// of ATR at the frame's first row for good, 20-bar and 252-bar limits.
#[test]
fn frames_at_window_edges_match_the_batch() {
    let bars = random_walk(51, 320, 90.0);
    for h in [1, 2, 3, 7, 14, 15, 20, 21, 61] {
        check("edge", &bars, h, Columns::All);
    }
    check("52w edge", &random_walk(52, 300, 90.0), 253, Columns::All);
}

/// Prices far from zero with tiny moves: the windowed statistics stay
/// bit-identical; the MACD family stays within a few ε·max|C| of the batch
/// (both round at the price's scale, so the SPEC's 1e-12 absolute floor is
/// below what either can resolve there).
#[test]
fn large_price_offsets_keep_windows_exact_and_macd_at_rounding_level() {
    let mut bars = random_walk(61, 600, 1.0);
    for i in 0..bars.len() {
        let shift = |x: f64| 1e5 + 1e-3 * (x - 1.0);
        bars.open[i] = shift(bars.open[i]);
        bars.high[i] = shift(bars.high[i]);
        bars.low[i] = shift(bars.low[i]);
        bars.close[i] = shift(bars.close[i]);
    }
    let features = catalogue();
    let set = FeatureSet::new(features.iter().copied(), 40).unwrap();
    let mut state = FeatureState::new(&set);
    let mut expected = vec![0.0; set.len()];
    let mut worst = 0.0f64;
    for t in 0..bars.len() {
        state.push_bar(
            bars.open[t],
            bars.high[t],
            bars.low[t],
            bars.close[t],
            bars.volume[t],
        );
        let rows = (t + 1).min(40);
        compute_all(
            &frame(&bars, t + 1 - rows, t, Columns::All),
            &features,
            &mut expected,
        );
        for (i, &f) in features.iter().enumerate() {
            let (got, want) = (state.value(i), expected[i]);
            if is_macd(f) && !got.is_nan() {
                worst = worst.max((got - want).abs());
            }
            assert!(
                (got.is_nan() && want.is_nan()) || got.to_bits() == want.to_bits(),
                "bar {t} {f:?}: {got} vs {want}"
            );
        }
    }
    assert_eq!(
        worst, 0.0,
        "MACD must equal the batch exactly at high prices"
    );
}

#[test]
fn warm_flags_turn_on_exactly_at_rows_needed() {
    let bars = random_walk(71, 260, 50.0);
    for history_bars in [300, 30] {
        let features = catalogue();
        let set = FeatureSet::new(features.iter().copied(), history_bars).unwrap();
        let mut state = FeatureState::new(&set);
        let mut first_warm: Vec<Option<usize>> = vec![None; features.len()];
        for t in 0..bars.len() {
            state.push_bar(
                bars.open[t],
                bars.high[t],
                bars.low[t],
                bars.close[t],
                bars.volume[t],
            );
            for (i, &f) in features.iter().enumerate() {
                if state.is_warm(f) {
                    first_warm[i].get_or_insert(t + 1);
                } else {
                    assert!(first_warm[i].is_none(), "{f:?} went cold at bar {t}");
                }
            }
        }
        for (i, &f) in features.iter().enumerate() {
            let want = f.rows_needed().filter(|&need| need <= history_bars);
            assert_eq!(
                first_warm[i], want,
                "{f:?} with history_bars {history_bars}"
            );
        }
    }
}

/// The `features` vector cases, fed one row at a time.
#[test]
fn vector_cases_replayed_bar_by_bar() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/vectors/features.json"
    ))
    .unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let tol = Tolerance::from_doc(doc.get("tolerance")).unwrap();
    let mut checked = 0;
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let input = &case["input"];
        let columns: Vec<&str> = input["prices"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let rows = input["prices"]["rows"].as_array().unwrap();
        if rows.is_empty() {
            continue; // an error case: the engine never has an empty frame
        }
        let names: Vec<&str> = input["feature_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
        let list = Feature::parse_list(&names);
        for history_bars in [300, rows.len()] {
            let set = FeatureSet::new(list.iter().copied(), history_bars).unwrap();
            let model = set.model(&list).unwrap();
            let mut state = FeatureState::new(&set);
            for row in rows {
                let row = row.as_array().unwrap();
                let cell = |col: &str| {
                    columns
                        .iter()
                        .position(|&c| c == col)
                        .map_or(f64::NAN, |j| match &row[j] {
                            Value::Null => f64::NAN,
                            v => as_f64(v).unwrap(),
                        })
                };
                state.push_bar(
                    cell("Open"),
                    cell("High"),
                    cell("Low"),
                    cell("Close"),
                    cell("Volume"),
                );
            }
            let expected = &case["expected"];
            for (k, n) in names.iter().enumerate() {
                let want = as_f64(&expected["features"][*n]).unwrap();
                let got = state.value(set.index_of(list[k]).unwrap());
                assert!(tol.close(want, got), "{name} {n}: {got} vs {want}");
            }
            let mut row = vec![0.0f32; list.len()];
            model.gather_f32(&state, &mut row);
            for (k, want) in expected["features_f32"]
                .as_array()
                .unwrap()
                .iter()
                .enumerate()
            {
                let want = as_f64(want).unwrap();
                let got = f64::from(row[k]);
                assert!(
                    tol.close(want, got),
                    "{name} f32 {}: {got} vs {want}",
                    names[k]
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 2 * 13, "only {checked} replays");
}

#[test]
fn warmed_up_states_allocate_nothing() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1u8; 8]))) >= 1);
    let bars = bad_ticks(81);
    let features = catalogue();
    let set = FeatureSet::new(features.iter().copied(), 100).unwrap();
    let model = set.model(&features[..29]).unwrap();
    let mut state = FeatureState::new(&set);
    let mut values = vec![0.0; set.len()];
    let mut row = vec![0.0f32; model.len()];
    let mut ready = 0u64;
    let n = allocations(|| {
        for round in 0..5 {
            for t in 0..bars.len() {
                state.push_bar(
                    bars.open[t],
                    bars.high[t],
                    bars.low[t],
                    bars.close[t],
                    bars.volume[t],
                );
                state.values(&mut values);
                if model.gather_f32(&state, &mut row) == RowStatus::Ready && model.is_warm(&state) {
                    ready += 1;
                }
            }
            if round == 2 {
                state.clear();
            }
        }
    });
    assert_eq!(n, 0, "allocations while pushing bars");
    assert!(ready > 0);
}
