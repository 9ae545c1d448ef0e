//! The market simulator and its training dataset.
//!
//! Determinism (same seed → the same events bit for bit, another seed →
//! others, a symbol's path independent of the rest of the universe), event
//! order, quote validity, the New York session calendar across a DST change,
//! bars against their quotes, and the statistical properties the issue asks
//! for: a U-shaped intraday volatility, spreads wider at the open and after
//! jumps, jumps at the configured rate, returns correlated through the
//! market factor. The statistical checks run over enough days and symbols
//! that their margins are many standard errors wide (the seeds are fixed,
//! so they are deterministic as well).
//!
//! The dataset: exact header, one row per symbol per bar, features equal to
//! the batch reference over the same bars, targets recomputed from the bars,
//! identical bytes for a seed, and a signal a model can learn.

// Test code: formatting is allowed.
#![allow(clippy::disallowed_macros)]

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Weekday};
use chrono_tz::Tz;

use live_trading::features::kind::CATALOGUE;
use live_trading::features::{compute, BarFrame};
use live_trading::feed::sim::dataset::{self, DatasetSpec};
use live_trading::feed::sim::{MarketSim, SimEvent, SimParams};
use live_trading::iso;
use live_trading::types::{Frac, Nanos};

fn params(days: u32, seed: u64) -> SimParams {
    SimParams {
        days,
        seed,
        ..SimParams::default()
    }
}

fn events(p: SimParams) -> Vec<SimEvent> {
    MarketSim::new(p).unwrap().collect()
}

/// Every float of an event as bits, so equality is bit for bit.
fn bits(e: &SimEvent) -> Vec<u64> {
    match *e {
        SimEvent::Quote {
            symbol,
            bid,
            ask,
            time,
        } => vec![0, symbol.0.into(), bid.to_bits(), ask.to_bits(), time.0],
        SimEvent::Bar {
            symbol,
            end,
            open,
            high,
            low,
            close,
            volume,
        } => vec![
            1,
            symbol.0.into(),
            end.0,
            open.to_bits(),
            high.to_bits(),
            low.to_bits(),
            close.to_bits(),
            volume.to_bits(),
        ],
    }
}

fn local(t: Nanos) -> DateTime<Tz> {
    DateTime::from_timestamp_nanos(t.0 as i64).with_timezone(&Tz::America__New_York)
}

/// Minutes after 09:30 New York time.
fn session_minute(t: Nanos) -> f64 {
    let l = local(t);
    f64::from(l.hour() * 60 + l.minute()) - 570.0
        + (f64::from(l.second()) + f64::from(l.nanosecond()) * 1e-9) / 60.0
}

/// Per symbol: the bars as (end, open, high, low, close, volume).
type BarRow = (Nanos, f64, f64, f64, f64, f64);

fn bars_by_symbol(events: &[SimEvent], n_symbols: usize) -> Vec<Vec<BarRow>> {
    let mut out = vec![Vec::new(); n_symbols];
    for e in events {
        if let Some((symbol, b)) = e.bar() {
            out[symbol.index()].push((b.end, b.open, b.high, b.low, b.close, b.volume));
        }
    }
    out
}

#[test]
fn the_same_seed_gives_the_same_events_bit_for_bit() {
    let a = events(params(2, 11));
    let b = events(params(2, 11));
    assert_eq!(a.len(), 2 * 390 * 6 * 7);
    assert!(a.iter().map(bits).eq(b.iter().map(bits)));
    let c = events(params(2, 12));
    assert_eq!(c.len(), a.len());
    let differ = a.iter().zip(&c).filter(|(x, y)| bits(x) != bits(y)).count();
    assert!(differ > a.len() * 9 / 10, "{differ} of {} differ", a.len());
}

#[test]
fn a_symbols_path_depends_only_on_the_seed_and_its_own_parameters() {
    let full = events(params(1, 3));
    let mut p = params(1, 3);
    p.select_symbols(&["AAPL"]).unwrap();
    let alone = events(p);
    // AAPL is id 2 in the default universe, id 0 alone.
    let in_full: Vec<Vec<u64>> = full
        .iter()
        .filter(|e| e.symbol().0 == 2)
        .map(|e| bits(e)[2..].to_vec())
        .collect();
    let by_itself: Vec<Vec<u64>> = alone.iter().map(|e| bits(e)[2..].to_vec()).collect();
    assert_eq!(in_full.len(), 390 * 7);
    assert_eq!(in_full, by_itself);
}

#[test]
fn events_come_in_time_order_and_each_bar_follows_its_quotes() {
    let p = params(2, 5);
    let (q, n) = (p.quotes_per_bar as usize, p.symbols.len());
    let bar = Nanos::from_secs(60);
    let evs = events(p);
    assert!(evs.windows(2).all(|w| w[0].time() <= w[1].time()));
    // Per symbol: the quotes since its last bar.
    let mut since_bar: Vec<Vec<Nanos>> = vec![Vec::new(); n];
    let mut bars = 0;
    for e in &evs {
        match *e {
            SimEvent::Quote { symbol, time, .. } => {
                assert_eq!(time.0 % Nanos::PER_MICRO, 0, "microsecond times");
                since_bar[symbol.index()].push(time);
            }
            SimEvent::Bar { symbol, end, .. } => {
                let quotes = std::mem::take(&mut since_bar[symbol.index()]);
                assert_eq!(quotes.len(), q);
                assert!(quotes.windows(2).all(|w| w[0] < w[1]));
                assert!(quotes.iter().all(|&t| t.0 > end.0 - bar.0 && t < end));
                bars += 1;
            }
        }
    }
    assert_eq!(bars, 2 * 390 * n);
    assert!(since_bar.iter().all(Vec::is_empty));
}

#[test]
fn quotes_are_cent_prices_with_the_bid_below_the_ask() {
    let mut quotes = 0;
    for e in events(params(3, 9)) {
        if let SimEvent::Quote { bid, ask, .. } = e {
            for price in [bid, ask] {
                let cents = (price * 100.0).round();
                assert_eq!(cents / 100.0, price, "{price} is not a cent price");
            }
            assert!(bid > 0.0 && ask - bid >= 0.01 - 1e-9, "bid {bid} ask {ask}");
            quotes += 1;
        }
    }
    assert_eq!(quotes, 3 * 390 * 6 * 6);
}

#[test]
fn sessions_are_weekdays_from_0930_to_1600_new_york_across_dst() {
    // Thu 2024-03-07, Fri 03-08 (EST), then Mon 03-11, Tue 03-12 (EDT: DST
    // began on Sunday 03-10).
    let p = SimParams {
        start_date: NaiveDate::from_ymd_opt(2024, 3, 7).unwrap(),
        ..params(4, 1)
    };
    let evs = events(p);
    let mut days: Vec<NaiveDate> = Vec::new();
    for e in &evs {
        let l = local(e.time());
        assert!(!matches!(l.weekday(), Weekday::Sat | Weekday::Sun));
        let m = session_minute(e.time());
        match e {
            SimEvent::Quote { .. } => assert!(m > 0.0 && m < 390.0, "quote at {l}"),
            SimEvent::Bar { .. } => assert!((1.0..=390.0).contains(&m), "bar at {l}"),
        }
        if days.last() != Some(&l.date_naive()) {
            days.push(l.date_naive());
        }
    }
    let dates: Vec<String> = days.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        dates,
        ["2024-03-07", "2024-03-08", "2024-03-11", "2024-03-12"]
    );
    let bar_ends: Vec<Nanos> = evs
        .iter()
        .filter(|e| matches!(e, SimEvent::Bar { .. }) && e.symbol().0 == 0)
        .map(SimEvent::time)
        .collect();
    assert_eq!(bar_ends.len(), 4 * 390);
    // In UTC the open moves an hour earlier after the change.
    assert_eq!(iso::format(bar_ends[390]), "2024-03-08T14:31:00Z");
    assert_eq!(iso::format(bar_ends[2 * 390 - 1]), "2024-03-08T21:00:00Z");
    assert_eq!(iso::format(bar_ends[2 * 390]), "2024-03-11T13:31:00Z");
    assert_eq!(iso::format(bar_ends[3 * 390 - 1]), "2024-03-11T20:00:00Z");
}

#[test]
fn bars_are_built_from_their_quotes_mids() {
    let p = params(2, 21);
    let n = p.symbols.len();
    let mut mids: Vec<Vec<f64>> = vec![Vec::new(); n];
    for e in events(p) {
        match e {
            SimEvent::Quote {
                symbol, bid, ask, ..
            } => mids[symbol.index()].push((bid + ask) / 2.0),
            SimEvent::Bar {
                symbol,
                open,
                high,
                low,
                close,
                volume,
                ..
            } => {
                let m = std::mem::take(&mut mids[symbol.index()]);
                assert_eq!(open, m[0]);
                assert_eq!(close, m[m.len() - 1]);
                assert_eq!(high, m.iter().copied().fold(f64::MIN, f64::max));
                assert_eq!(low, m.iter().copied().fold(f64::MAX, f64::min));
                assert!(low <= open.min(close) && open.max(close) <= high);
                assert!(volume >= 1.0 && volume.fract() == 0.0, "volume {volume}");
            }
        }
    }
}

/// Mean of `f` over bars whose end falls in session minutes `(from, to]`.
fn mean_over<T>(xs: &[(f64, T)], from: f64, to: f64, f: impl Fn(&T) -> f64) -> f64 {
    let sel: Vec<f64> = xs
        .iter()
        .filter(|(m, _)| *m > from && *m <= to)
        .map(|(_, x)| f(x))
        .collect();
    sel.iter().sum::<f64>() / sel.len() as f64
}

#[test]
fn intraday_volatility_and_volume_are_u_shaped() {
    let p = params(10, 2);
    let n = p.symbols.len();
    let bars = bars_by_symbol(&events(p), n);
    // (session minute of the bar end, (squared log return, volume in USD)).
    let mut per_bar: Vec<(f64, (f64, f64))> = Vec::new();
    for symbol in &bars {
        for w in symbol.windows(2) {
            let m = session_minute(w[1].0);
            if m <= 1.0 {
                continue; // the first bar's return spans the night
            }
            let r = (w[1].4 / w[0].4).ln();
            per_bar.push((m, (r * r, w[1].5 * w[1].4)));
        }
    }
    let var = |from, to| mean_over(&per_bar, from, to, |x| x.0);
    let volume = |from, to| mean_over(&per_bar, from, to, |x| x.1);
    let (open, midday, close) = (var(0.0, 60.0), var(150.0, 240.0), var(330.0, 390.0));
    let ratio_open = (open / midday).sqrt();
    let ratio_close = (close / midday).sqrt();
    eprintln!("realised vol open/midday {ratio_open:.2}, close/midday {ratio_close:.2}");
    assert!(ratio_open > 1.5, "open hour vs midday: {ratio_open}");
    assert!(ratio_close > 1.4, "last hour vs midday: {ratio_close}");
    let (vo, vm, vc) = (
        volume(0.0, 60.0),
        volume(150.0, 240.0),
        volume(330.0, 390.0),
    );
    eprintln!(
        "volume open/midday {:.2}, close/midday {:.2}",
        vo / vm,
        vc / vm
    );
    assert!(vo > 1.5 * vm && vc > 1.5 * vm);
}

/// Every quote's spread, and each symbol's quote-to-quote moves.
struct Quotes {
    /// (session minute, spread bps) of every quote.
    spreads: Vec<(f64, f64)>,
    /// (|Δ log mid| from the symbol's previous quote in the same session,
    /// spread bps of this quote).
    moves: Vec<(f64, f64)>,
}

fn quotes(p: SimParams) -> (Quotes, u64) {
    let n = p.symbols.len();
    let mut sim = MarketSim::new(p).unwrap();
    let mut last: Vec<Option<(Nanos, f64)>> = vec![None; n];
    let mut q = Quotes {
        spreads: Vec::new(),
        moves: Vec::new(),
    };
    for e in sim.by_ref() {
        if let SimEvent::Quote {
            symbol,
            bid,
            ask,
            time,
        } = e
        {
            let mid = (bid + ask) / 2.0;
            let bps = (ask - bid) / mid * 1e4;
            q.spreads.push((session_minute(time), bps));
            let prev = last[symbol.index()].replace((time, mid));
            // Within a session: quotes less than an hour apart.
            let hour = Nanos::from_secs(3600);
            if let Some((_, m0)) = prev.filter(|(t0, _)| time.0 - t0.0 < hour.0) {
                q.moves.push(((mid / m0).ln().abs(), bps));
            }
        }
    }
    (q, sim.jumps())
}

#[test]
fn spreads_widen_at_the_open() {
    let (q, _) = quotes(params(5, 4));
    let open = mean_over(&q.spreads, 0.0, 10.0, |&s| s);
    let midday = mean_over(&q.spreads, 150.0, 240.0, |&s| s);
    eprintln!("spread bps: open {open:.2}, midday {midday:.2}");
    assert!(open > 1.4 * midday, "open {open} vs midday {midday}");
}

#[test]
fn jumps_arrive_at_the_configured_rate_and_widen_the_spread() {
    // 2 jumps per symbol per session of 3-9 % over 20 sessions × 6 symbols:
    // 240 expected (Poisson sd 15.5); a normal quote step moves < 0.5 %.
    let p = SimParams {
        jump_intensity: 2.0,
        jump_size: Frac(0.06),
        ..params(20, 8)
    };
    let expected = 2.0 * 20.0 * 6.0;
    let (q, jumps) = quotes(p);
    eprintln!("jumps {jumps}, expected {expected}");
    assert!((jumps as f64 - expected).abs() < 0.25 * expected, "{jumps}");
    let big: Vec<&(f64, f64)> = q.moves.iter().filter(|(d, _)| *d > 0.02).collect();
    eprintln!("quote moves > 2 %: {}", big.len());
    // Jumps on a session's first step hide in the overnight gap.
    assert!(big.len() as u64 <= jumps && big.len() as f64 >= 0.97 * jumps as f64);
    let after_jump = big.iter().map(|(_, s)| s).sum::<f64>() / big.len() as f64;
    let overall = q.moves.iter().map(|(_, s)| s).sum::<f64>() / q.moves.len() as f64;
    eprintln!("spread bps after a jump {after_jump:.2}, overall {overall:.2}");
    assert!(after_jump > 2.0 * overall);

    let (q, jumps) = quotes(SimParams {
        jump_intensity: 0.0,
        ..params(5, 8)
    });
    assert_eq!(jumps, 0);
    let largest = q.moves.iter().map(|m| m.0).fold(0.0, f64::max);
    assert!(largest < 0.02, "largest move without jumps {largest}");
}

#[test]
fn returns_are_correlated_through_the_market_factor() {
    let p = params(5, 6);
    let bars = bars_by_symbol(&events(p), 6);
    let returns =
        |s: usize| -> Vec<f64> { bars[s].windows(2).map(|w| (w[1].4 / w[0].4).ln()).collect() };
    let corr = |a: &[f64], b: &[f64]| {
        let n = a.len() as f64;
        let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
        let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
        let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
        let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
        cov / (va * vb).sqrt()
    };
    let (spy, qqq) = (returns(0), returns(1));
    let c = corr(&spy, &qqq);
    eprintln!("SPY/QQQ one-minute return correlation {c:.3}");
    assert!(c > 0.25, "{c}");
}

// ---- the dataset -------------------------------------------------------

const HEADER: &str = "symbol,time,ret_1d,ret_5d,ret_10d,ret_20d,ret_60d,vol_5d,vol_10d,\
vol_20d,vol_60d,rsi_14,rsi_7,rsi_21,ma_ratio_10,ma_ratio_20,ma_ratio_50,bb_position,\
bb_width,macd,macd_signal,macd_hist,mom_5d,mom_10d,mom_20d,atr_14,high_low_range,\
volume_ma_ratio,volume_change,close_to_high_52w,close_to_low_52w,fwd_ret_5m,\
fwd_ret_10m,fwd_ret_15m,fwd_ret_30m,fwd_ret_60m,fwd_ret_1d,will_peak_5m,will_valley_5m";

fn small_dataset_params(seed: u64) -> SimParams {
    let mut p = params(2, seed);
    p.select_symbols(&["MSFT", "IWM"]).unwrap();
    p
}

fn write_dataset(p: SimParams, name: &str) -> (Vec<u8>, dataset::DatasetSummary) {
    let path = std::env::temp_dir().join(format!("lt-sim-{}-{name}.csv", std::process::id()));
    let summary = dataset::write_file(&path, p, &DatasetSpec::default()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    (bytes, summary)
}

fn cell(s: &str) -> f64 {
    if s.is_empty() {
        f64::NAN
    } else {
        s.parse().unwrap()
    }
}

fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-9_f64.max(1e-9 * a.abs().max(b.abs()))
}

#[test]
fn the_dataset_has_the_schema_features_and_targets_of_its_bars() {
    let p = small_dataset_params(7);
    let (bytes, summary) = write_dataset(p.clone(), "a");
    let text = String::from_utf8(bytes.clone()).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(HEADER));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let bars_per_symbol = 2 * 390;
    assert_eq!(rows.len(), 2 * bars_per_symbol);
    assert_eq!(summary.rows, rows.len() as u64);
    assert_eq!(summary.bars_per_symbol, bars_per_symbol as u64);
    let width = HEADER.split(',').count();
    assert!(rows.iter().all(|r| r.len() == width));

    // The same bars, straight from the simulator.
    let bars = bars_by_symbol(&events(p), 2);
    // Rows in event order: bar end, then symbol.
    for (i, row) in rows.iter().enumerate() {
        let (s, t) = (i % 2, i / 2);
        assert_eq!(row[0], ["MSFT", "IWM"][s]);
        assert_eq!(row[1], iso::format(bars[s][t].0));
    }

    let n_features = CATALOGUE.len();
    for &(s, t) in &[
        (0, 0),
        (1, 4),
        (0, 25),
        (1, 70),
        (0, 299),
        (1, 300),
        (0, 555),
        (1, 779),
    ] {
        let row = &rows[2 * t + s];
        let b = &bars[s];
        let from = (t + 1).saturating_sub(300);
        let col = |k: usize| {
            b[from..=t]
                .iter()
                .map(|x| [x.1, x.2, x.3, x.4, x.5][k])
                .collect()
        };
        let frame = BarFrame::from_columns(
            Some(col(0)),
            Some(col(1)),
            Some(col(2)),
            Some(col(3)),
            Some(col(4)),
        )
        .unwrap();
        for (j, &(name, feature)) in CATALOGUE.iter().enumerate() {
            let (got, want) = (cell(row[2 + j]), compute(&frame, feature));
            assert!(same(got, want), "{name} at ({s},{t}): {got} vs {want}");
        }
        // Forward returns: 5, 10, 15, 30, 60, 390 bars ahead.
        let close: Vec<f64> = b.iter().map(|x| x.4).collect();
        for (k, n) in [5, 10, 15, 30, 60, 390].into_iter().enumerate() {
            let got = cell(row[2 + n_features + k]);
            let want = close.get(t + n).map_or(f64::NAN, |c| c / close[t] - 1.0);
            assert!(same(got, want), "fwd {n} at ({s},{t}): {got} vs {want}");
        }
        // Barrier labels: σ of the last 20 returns, b = σ·sqrt(5).
        let (peak, valley) = (row[width - 2], row[width - 1]);
        let window = &close[t.saturating_sub(20)..=t];
        if window.len() < 3 || t + 5 >= close.len() {
            assert_eq!((peak, valley), ("", ""), "({s},{t})");
            continue;
        }
        let r: Vec<f64> = window.windows(2).map(|w| w[1] / w[0] - 1.0).collect();
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        let sigma =
            (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (r.len() - 1) as f64).sqrt();
        let width_b = sigma * 5f64.sqrt();
        let (up, down) = (close[t] * (1.0 + width_b), close[t] * (1.0 - width_b));
        let mut want = ("0", "0");
        for x in &b[t + 1..=t + 5] {
            match (x.2 >= up, x.3 <= down) {
                (true, true) => break,
                (false, true) => {
                    want = ("1", "0");
                    break;
                }
                (true, false) => {
                    want = ("0", "1");
                    break;
                }
                (false, false) => {}
            }
        }
        assert_eq!((peak, valley), want, "barrier at ({s},{t})");
    }
    // Labels are present wherever 5 bars follow (σ is never 0 here).
    let labelled = rows.iter().filter(|r| !r[width - 1].is_empty()).count();
    assert_eq!(labelled, 2 * (bars_per_symbol - 2 - 5));

    // Deterministic bytes for a seed; another seed writes others.
    assert_eq!(write_dataset(small_dataset_params(7), "b").0, bytes);
    assert_ne!(write_dataset(small_dataset_params(8), "c").0, bytes);
}

/// Ranks (1-based; ties are not expected in continuous data).
fn ranks(x: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut r = vec![0.0; x.len()];
    for (rank, &i) in idx.iter().enumerate() {
        r[i] = rank as f64 + 1.0;
    }
    r
}

fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let m = (n + 1.0) / 2.0;
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - m) * (y - m)).sum();
    let var: f64 = ra.iter().map(|x| (x - m) * (x - m)).sum();
    cov / var
}

#[test]
fn the_dataset_carries_a_signal_a_model_can_learn() {
    // Mean reversion: recent moves predict the next bars' returns with the
    // opposite sign (IC about -0.08 for these features; noise is ~0.01).
    let (bytes, _) = write_dataset(params(8, 7), "signal");
    let text = String::from_utf8(bytes).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let target = col("fwd_ret_5m");
    for feature in ["ma_ratio_10", "bb_position", "ret_5d"] {
        let f = col(feature);
        let (x, y): (Vec<f64>, Vec<f64>) = rows
            .iter()
            .filter(|r| !r[f].is_empty() && !r[target].is_empty())
            .map(|r| (cell(r[f]), cell(r[target])))
            .unzip();
        let ic = spearman(&x, &y);
        eprintln!(
            "{feature} vs fwd_ret_5m: Spearman {ic:.4} over {} rows",
            x.len()
        );
        assert!(ic < -0.04, "{feature}: {ic}");
    }
}

#[test]
fn the_command_writes_the_dataset_and_reports_errors() {
    let exe = env!("CARGO_BIN_EXE_live-trading");
    let root = env!("CARGO_MANIFEST_DIR");
    let path = std::env::temp_dir().join(format!("lt-sim-{}-cli.csv", std::process::id()));
    let out = std::process::Command::new(exe)
        .current_dir(root)
        .args([
            "sim",
            "dataset",
            "--days",
            "1",
            "--seed",
            "3",
            "--symbols",
            "qqq",
        ])
        .arg("--out")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = String::from_utf8(out.stdout).unwrap();
    assert!(
        summary.contains("390 rows, 1 symbols x 390 bars"),
        "{summary}"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(text.lines().next(), Some(HEADER));
    assert_eq!(text.lines().count(), 1 + 390);
    assert!(text.lines().skip(1).all(|l| l.starts_with("QQQ,")));

    let out = std::process::Command::new(exe)
        .current_dir(root)
        .args(["sim", "dataset", "--symbols", "TSLA", "--out"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown symbol \"TSLA\""), "{err}");
    assert!(!path.exists());
}
