//! The training dataset (`live-trading sim dataset`): the simulator's bars
//! turned into one CSV row per symbol per bar, with the engine's own
//! features and the training targets, for `tools/export_model.py`.
//!
//! Schema (header row, comma-separated, rows in event order: bar end time,
//! then symbol id):
//!
//! `symbol,time,<catalogue features>,fwd_ret_<h>...,will_peak_<base>,will_valley_<base>`
//!
//! - `time`: the bar's end, ISO-8601 UTC ([`iso::format`]);
//! - features: every name of [`CATALOGUE`], in catalogue order, from the
//!   engine's incremental [`FeatureState`] over the last
//!   `data.history_bars` bars (the symbol's whole bar sequence, across
//!   sessions), written in Rust's shortest round-trip form (`{}` of `f64`);
//!   a value that is not warm or not finite is an EMPTY cell;
//! - `fwd_ret_<h>` for every configured horizon, ascending minutes:
//!   `C[t+n]/C[t] − 1` with `n = minutes(h)/bar_minutes` bars ahead in the
//!   symbol's own bar sequence (`1d` = 390 one-minute bars, crossing into
//!   the next session); empty when fewer than `n` bars follow;
//! - barrier labels of the base (shortest) horizon, `n` its bars: with
//!   `σ_bar` the SPEC §2 volatility at `t` (sample std of the last
//!   `volatility.vol_window` one-bar close returns, 20 by default) and
//!   `b = σ_bar·sqrt(n)`, walk bars `t+1..=t+n` until one touches a barrier:
//!   its low at or below `C[t]·(1−b)` → `will_peak = 1` (the price at `t`
//!   was a local peak); its high at or above `C[t]·(1+b)` →
//!   `will_valley = 1`; a bar touching both → `0,0`; no touch → `0,0`.
//!   Both empty when fewer than `n` bars follow, or `σ_bar` is unavailable
//!   or 0.
//!
//! Cold path (a command-line tool): allocates and writes freely. Rows wait
//! in a queue until their symbol has the bars the longest horizon needs,
//! so memory grows with that horizon, not with the number of days.

// Cold path: formatting is allowed here (.clippy.toml bans it elsewhere).
#![allow(clippy::disallowed_macros)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::config::EngineConfig;
use crate::features::kind::CATALOGUE;
use crate::features::{FeatureSet, FeatureSetError, FeatureState};
use crate::horizon::HorizonSet;
use crate::iso;
use crate::market::volatility::{Volatility, VolatilityParams};
use crate::types::Nanos;

use super::{MarketSim, SimError, SimParams};

/// What the dataset is computed with: the config keys it reads.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetSpec {
    /// `horizons`: one `fwd_ret_<h>` column each; the first is the base.
    pub horizons: HorizonSet,
    /// `volatility.bar_minutes`: must equal the simulator's bar interval.
    pub bar_minutes: u32,
    /// `data.history_bars`: the feature frame.
    pub history_bars: usize,
    /// `volatility.vol_window`: returns in the barrier labels' `σ_bar`.
    pub vol_window: usize,
}

impl Default for DatasetSpec {
    /// The config defaults (SPEC §20).
    fn default() -> Self {
        DatasetSpec {
            horizons: HorizonSet::default_set(),
            bar_minutes: 1,
            history_bars: 300,
            vol_window: 20,
        }
    }
}

impl DatasetSpec {
    /// The keys of a loaded config.
    pub fn from_config(config: &EngineConfig) -> DatasetSpec {
        DatasetSpec {
            horizons: config.horizons.clone(),
            bar_minutes: config.volatility.bar_minutes,
            history_bars: config.data.history_bars,
            vol_window: config.volatility.vol_window,
        }
    }

    /// The header's column names, in order.
    pub fn header(&self) -> Vec<String> {
        let mut columns = vec!["symbol".to_owned(), "time".to_owned()];
        columns.extend(CATALOGUE.iter().map(|&(name, _)| name.to_owned()));
        columns.extend(self.horizons.labels().map(|h| format!("fwd_ret_{h}")));
        let base = self.horizons.labels().next().unwrap_or_default();
        columns.push(format!("will_peak_{base}"));
        columns.push(format!("will_valley_{base}"));
        columns
    }

    /// Bars ahead of each horizon, ascending.
    fn bars_ahead(&self) -> Result<Vec<usize>, DatasetError> {
        self.horizons
            .iter()
            .map(|(_, h)| {
                if self.bar_minutes == 0 || !h.minutes.is_multiple_of(self.bar_minutes) {
                    Err(DatasetError::Horizon {
                        label: h.label.clone(),
                        minutes: h.minutes,
                        bar_minutes: self.bar_minutes,
                    })
                } else {
                    Ok((h.minutes / self.bar_minutes) as usize)
                }
            })
            .collect()
    }
}

/// What a written dataset holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DatasetSummary {
    /// Data rows (the header not counted): `symbols × bars_per_symbol`.
    pub rows: u64,
    pub symbols: usize,
    /// Trading sessions simulated.
    pub days: u32,
    pub bars_per_symbol: u64,
    /// End of the first and of the last bar.
    pub first: Nanos,
    pub last: Nanos,
}

/// Why a dataset cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("simulator: {0}")]
    Sim(#[from] SimError),
    #[error(
        "the simulator's bars are {sim} minutes but volatility.bar_minutes is {config}: \
         build the simulator with the config's bar interval"
    )]
    BarMinutes { sim: u32, config: u32 },
    #[error(
        "horizon {label} ({minutes} minutes) is not a whole number of \
         {bar_minutes}-minute bars: choose a bar interval that divides every horizon"
    )]
    Horizon {
        label: String,
        minutes: u32,
        bar_minutes: u32,
    },
    #[error("features: {0}")]
    Features(#[from] FeatureSetError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the dataset: {0}")]
    Write(#[from] io::Error),
}

/// Simulate `params` and write the dataset to `path` (through a temporary
/// file beside it, renamed into place when complete).
///
/// # Errors
/// Invalid parameters, a spec that does not fit them, or an I/O failure
/// (naming the file).
pub fn write_file(
    path: &Path,
    params: SimParams,
    spec: &DatasetSpec,
) -> Result<DatasetSummary, DatasetError> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DatasetError::Io { path, source }
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = File::create(&tmp).map_err(io_error(&tmp))?;
    let mut out = BufWriter::new(file);
    let summary = match write(params, spec, &mut out) {
        Ok(summary) => summary,
        Err(e) => {
            drop(out);
            let _ = std::fs::remove_file(&tmp);
            return Err(match e {
                DatasetError::Write(source) => DatasetError::Io { path: tmp, source },
                other => other,
            });
        }
    };
    out.flush().map_err(io_error(&tmp))?;
    drop(out);
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    Ok(summary)
}

/// Simulate `params` and write the dataset (header and rows) to `out`.
///
/// # Errors
/// Invalid parameters, a simulator bar interval other than
/// `spec.bar_minutes`, a horizon that is not whole bars, or a write failure.
pub fn write<W: Write>(
    params: SimParams,
    spec: &DatasetSpec,
    mut out: W,
) -> Result<DatasetSummary, DatasetError> {
    if params.bar_minutes != spec.bar_minutes {
        return Err(DatasetError::BarMinutes {
            sim: params.bar_minutes,
            config: spec.bar_minutes,
        });
    }
    let ahead = spec.bars_ahead()?;
    let longest = ahead.iter().copied().max().unwrap_or(0);
    let base = ahead.first().copied().unwrap_or(0);
    let set = FeatureSet::new(CATALOGUE.iter().map(|&(_, f)| f), spec.history_bars)?;
    let sim = MarketSim::new(params)?;
    let volatility = Volatility::new(VolatilityParams {
        vol_window: spec.vol_window,
        bar_minutes: spec.bar_minutes,
    });
    let names: Vec<String> = sim.symbols().to_vec();
    let days = sim.params().days;
    let mut bars: Vec<Bars> = names.iter().map(|_| Bars::new(&set)).collect();
    writeln!(out, "{}", spec.header().join(","))?;
    let rows = Rows {
        names: &names,
        ahead: &ahead,
        base,
        volatility: &volatility,
    };
    let mut pending: VecDeque<Row> = VecDeque::new();
    let mut summary = DatasetSummary {
        rows: 0,
        symbols: names.len(),
        days,
        bars_per_symbol: 0,
        first: Nanos::ZERO,
        last: Nanos::ZERO,
    };
    for event in sim {
        let Some((symbol, bar)) = event.bar() else {
            continue;
        };
        let Some(b) = bars.get_mut(symbol.index()) else {
            continue;
        };
        b.features
            .push_bar(bar.open, bar.high, bar.low, bar.close, bar.volume);
        b.close.push(bar.close);
        b.high.push(bar.high);
        b.low.push(bar.low);
        pending.push_back(Row {
            symbol: symbol.index(),
            index: b.close.len() - 1,
            end: bar.end,
            features: b.features.as_slice().into(),
        });
        if summary.first == Nanos::ZERO {
            summary.first = bar.end;
        }
        summary.last = bar.end;
        while let Some(row) = pending.front() {
            let complete = bars
                .get(row.symbol)
                .is_some_and(|b| b.close.len() > row.index + longest);
            if !complete {
                break;
            }
            if let Some(row) = pending.pop_front() {
                rows.write(&mut out, &row, &bars)?;
                summary.rows += 1;
            }
        }
    }
    while let Some(row) = pending.pop_front() {
        rows.write(&mut out, &row, &bars)?;
        summary.rows += 1;
    }
    summary.bars_per_symbol = bars.first().map_or(0, |b| b.close.len() as u64);
    out.flush()?;
    Ok(summary)
}

/// One symbol's bars so far and its feature state.
struct Bars {
    close: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    features: FeatureState,
}

impl Bars {
    fn new(set: &FeatureSet) -> Bars {
        Bars {
            close: Vec::new(),
            high: Vec::new(),
            low: Vec::new(),
            features: FeatureState::new(set),
        }
    }
}

/// A row waiting for its targets' future bars.
struct Row {
    symbol: usize,
    /// The bar's index in the symbol's sequence.
    index: usize,
    end: Nanos,
    features: Box<[f64]>,
}

/// Row formatting: names, horizons and the barrier's volatility.
struct Rows<'a> {
    names: &'a [String],
    ahead: &'a [usize],
    base: usize,
    volatility: &'a Volatility,
}

impl Rows<'_> {
    fn write<W: Write>(&self, out: &mut W, row: &Row, bars: &[Bars]) -> io::Result<()> {
        let (Some(name), Some(b)) = (self.names.get(row.symbol), bars.get(row.symbol)) else {
            return Ok(());
        };
        write!(out, "{name},{}", iso::format(row.end))?;
        for &v in row.features.iter() {
            cell(out, v)?;
        }
        for &n in self.ahead {
            cell(out, forward_return(&b.close, row.index, n))?;
        }
        match self.barrier(b, row.index) {
            Some((peak, valley)) => write!(out, ",{},{}", u8::from(peak), u8::from(valley))?,
            None => write!(out, ",,")?,
        }
        writeln!(out)
    }

    /// `(will_peak, will_valley)` at bar `t`, or `None` when unavailable.
    fn barrier(&self, b: &Bars, t: usize) -> Option<(bool, bool)> {
        let n = self.base;
        let closes = b.close.get(..=t)?;
        let sigma = self.volatility.estimate(closes).ok()?.sigma_bar;
        barrier_labels(&b.close, &b.high, &b.low, t, n, sigma)
    }
}

/// An f64 cell: `,` then the shortest round-trip form, empty when not
/// finite.
fn cell<W: Write>(out: &mut W, v: f64) -> io::Result<()> {
    if v.is_finite() {
        write!(out, ",{v}")
    } else {
        write!(out, ",")
    }
}

/// `C[t+n]/C[t] − 1`; NaN when fewer than `n` bars follow `t`.
fn forward_return(close: &[f64], t: usize, n: usize) -> f64 {
    match (close.get(t), t.checked_add(n).and_then(|i| close.get(i))) {
        (Some(&now), Some(&later)) => later / now - 1.0,
        _ => f64::NAN,
    }
}

/// The barrier labels of bar `t` over the next `n` bars for a one-bar
/// volatility `sigma` (see the module doc); `None` when fewer than `n`
/// bars follow or `sigma` is 0 or not finite.
fn barrier_labels(
    close: &[f64],
    high: &[f64],
    low: &[f64],
    t: usize,
    n: usize,
    sigma: f64,
) -> Option<(bool, bool)> {
    let last = t.checked_add(n)?;
    if last >= close.len() || last >= high.len() || last >= low.len() {
        return None;
    }
    if !(sigma.is_finite() && sigma > 0.0) {
        return None;
    }
    let b = sigma * (n as f64).sqrt();
    let c = *close.get(t)?;
    let (upper, lower) = (c * (1.0 + b), c * (1.0 - b));
    for j in t + 1..=last {
        let up = high.get(j).is_some_and(|&h| h >= upper);
        let down = low.get(j).is_some_and(|&l| l <= lower);
        match (up, down) {
            (true, true) => return Some((false, false)),
            (false, true) => return Some((true, false)),
            (true, false) => return Some((false, true)),
            (false, false) => {}
        }
    }
    Some((false, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_returns_need_every_bar() {
        let c = [100.0, 101.0, 99.0];
        assert_eq!(forward_return(&c, 0, 1), 101.0 / 100.0 - 1.0);
        assert_eq!(forward_return(&c, 0, 2), 99.0 / 100.0 - 1.0);
        assert!(forward_return(&c, 1, 2).is_nan());
        assert!(forward_return(&c, usize::MAX, 1).is_nan());
    }

    #[test]
    fn barrier_labels_follow_the_first_touch() {
        let close = [100.0, 100.0, 100.0, 100.0];
        // b = 0.01·sqrt(2) ≈ 1.41 %: barriers 101.414 and 98.586.
        let lab = |high: [f64; 4], low: [f64; 4]| barrier_labels(&close, &high, &low, 0, 2, 0.01);
        // Lower touched first: the price at t was a peak.
        assert_eq!(
            lab([100.0, 100.5, 102.0, 0.0], [100.0, 98.5, 99.0, 0.0]),
            Some((true, false))
        );
        // Upper touched first: a valley.
        assert_eq!(
            lab([100.0, 101.5, 100.0, 0.0], [100.0, 99.5, 98.0, 0.0]),
            Some((false, true))
        );
        // Both in one bar: neither.
        assert_eq!(
            lab([100.0, 101.5, 100.0, 0.0], [100.0, 98.5, 99.0, 0.0]),
            Some((false, false))
        );
        // No touch within n bars (bar 3 is beyond the horizon).
        assert_eq!(
            lab([100.0, 101.0, 101.0, 200.0], [100.0, 99.0, 99.0, 50.0]),
            Some((false, false))
        );
        // Too few bars, or no volatility.
        assert_eq!(barrier_labels(&close, &close, &close, 2, 2, 0.01), None);
        assert_eq!(barrier_labels(&close, &close, &close, 0, 2, 0.0), None);
        assert_eq!(barrier_labels(&close, &close, &close, 0, 2, f64::NAN), None);
    }

    #[test]
    fn header_lists_features_then_targets() {
        let spec = DatasetSpec {
            horizons: HorizonSet::parse(&["1d", "5m"]).unwrap(),
            ..DatasetSpec::default()
        };
        let h = spec.header();
        assert_eq!(h.len(), 2 + CATALOGUE.len() + 2 + 2);
        assert_eq!(&h[..3], ["symbol", "time", "ret_1d"]);
        assert_eq!(
            &h[h.len() - 4..],
            ["fwd_ret_5m", "fwd_ret_1d", "will_peak_5m", "will_valley_5m"]
        );
    }

    #[test]
    fn mismatched_intervals_are_refused() {
        let spec = DatasetSpec {
            bar_minutes: 5,
            ..DatasetSpec::default()
        };
        let params = SimParams {
            days: 1,
            ..SimParams::default()
        };
        assert!(matches!(
            write(params.clone(), &spec, Vec::new()),
            Err(DatasetError::BarMinutes { sim: 1, config: 5 })
        ));
        let spec = DatasetSpec {
            horizons: HorizonSet::parse(&["5m", "13m"]).unwrap(),
            bar_minutes: 5,
            ..DatasetSpec::default()
        };
        let params = SimParams {
            bar_minutes: 5,
            ..params
        };
        assert!(matches!(
            write(params, &spec, Vec::new()),
            Err(DatasetError::Horizon { minutes: 13, .. })
        ));
    }
}
