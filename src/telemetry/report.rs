//! The latency report (DESIGN §8): per metric count, p50, p90, p99, p99.9
//! and max, a PASS/WARN/FAIL verdict against the original system's targets,
//! as an aligned text table, JSON and an SVG percentile plot.
//!
//! Verdicts are judged on **p99**: the median hides the tail that hurts a
//! trading loop, while the maximum is one sample (a page fault, a
//! descheduling) and would make the verdict a coin toss on long runs. The
//! histogram reports the top of a value's bucket, so a verdict errs on the
//! strict side by at most 0.1 %. A value exactly at a threshold fails that
//! threshold (`< 100 ms` is PASS, `100 ms` is WARN).
//!
//! Built and written on a cold thread (the journal thread or `main` at
//! exit): allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::files::{with_extension, write_file, WriteError};
use super::metric::Metric;
use super::plot;
use super::recorder::LatencyRecorder;

/// Outcome of a check against a target; ordered from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    Pass,
    Warn,
    Fail,
}

impl Verdict {
    /// `PASS`, `WARN` or `FAIL`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

/// A latency target of the original system, checked on p99: below
/// `pass_below_ns` passes, below `warn_below_ns` warns, anything else fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub pass_below_ns: u64,
    pub warn_below_ns: u64,
}

const MS: u64 = 1_000_000;
const S: u64 = 1_000_000_000;

impl Target {
    /// The target of `m`, if the original system had one: prediction
    /// < 100 ms (warn < 200 ms), blending < 10 ms (warn < 50 ms), full cycle
    /// < 500 ms (warn < 2 s), inference → order < 1 s (error at 2 s).
    pub const fn of(m: Metric) -> Option<Target> {
        let (pass, warn) = match m {
            Metric::Predict => (100 * MS, 200 * MS),
            Metric::Blend => (10 * MS, 50 * MS),
            Metric::Cycle => (500 * MS, 2 * S),
            Metric::InferenceToOrder => (S, 2 * S),
            _ => return None,
        };
        Some(Target {
            pass_below_ns: pass,
            warn_below_ns: warn,
        })
    }

    /// The verdict for a p99 of `nanos`.
    pub const fn verdict(&self, nanos: u64) -> Verdict {
        if nanos < self.pass_below_ns {
            Verdict::Pass
        } else if nanos < self.warn_below_ns {
            Verdict::Warn
        } else {
            Verdict::Fail
        }
    }
}

/// Percentiles of one metric, nanoseconds (tops of HDR buckets: within
/// 0.1 % of the recorded values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// One point of a percentile curve: `nines` is `−log10(1 − q)` (0 is the
/// minimum, 2 is p99, 4 is p99.99).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CurvePoint {
    pub nines: f64,
    pub nanos: u64,
}

/// Largest `nines` on the plot: p99.99.
pub const MAX_NINES: f64 = 4.0;
/// Curve points per decade of nines.
const CURVE_STEPS_PER_NINE: u32 = 20;

/// The report line of one metric.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricReport {
    pub metric: Metric,
    /// Samples recorded.
    pub count: u64,
    /// Samples above 60 s recorded as 60 s.
    pub clamped: u64,
    /// `None` without samples.
    pub stats: Option<Percentiles>,
    pub target: Option<Target>,
    /// `None` without a target or without samples.
    pub verdict: Option<Verdict>,
    /// Percentile curve for the plot (empty without samples).
    pub curve: Vec<CurvePoint>,
}

/// The whole report, built once from a recorder.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencyReport {
    /// One line per metric, in [`Metric::ALL`] order.
    pub metrics: Vec<MetricReport>,
    /// Worst verdict among metrics with a target and samples; `None` when
    /// no targeted metric has samples (the report is then not a PASS).
    pub overall: Option<Verdict>,
}

/// Files written by [`LatencyReport::write_all`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LatencyFiles {
    pub text: PathBuf,
    pub json: PathBuf,
    pub svg: PathBuf,
}

impl LatencyReport {
    /// Percentiles, curves and verdicts of every metric of `rec`.
    pub fn from_recorder(rec: &LatencyRecorder) -> LatencyReport {
        let metrics: Vec<MetricReport> =
            Metric::ALL.iter().map(|&m| metric_report(rec, m)).collect();
        let overall = metrics.iter().filter_map(|r| r.verdict).max();
        LatencyReport { metrics, overall }
    }

    /// The line of `m`.
    pub fn metric(&self, m: Metric) -> Option<&MetricReport> {
        self.metrics.iter().find(|r| r.metric == m)
    }

    /// Whether the overall verdict is PASS.
    pub fn passed(&self) -> bool {
        self.overall == Some(Verdict::Pass)
    }

    /// `PASS`, `WARN`, `FAIL` or `NO DATA`.
    pub fn overall_str(&self) -> &'static str {
        self.overall.map_or("NO DATA", Verdict::as_str)
    }

    /// Metrics that have a target but no samples.
    pub fn unmeasured_targets(&self) -> Vec<Metric> {
        self.metrics
            .iter()
            .filter(|r| r.target.is_some() && r.count == 0)
            .map(|r| r.metric)
            .collect()
    }

    /// Aligned text table: times in ns, µs, ms or s with two decimals, the
    /// target column, the verdict column and the overall verdict with the
    /// reason it is not a PASS.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(format!(
            "{:<20} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<21} {}",
            "latency", "count", "p50", "p90", "p99", "p99.9", "max", "target (p99)", "verdict"
        ));
        for r in &self.metrics {
            let cell = |f: fn(&Percentiles) -> u64| {
                r.stats.as_ref().map_or("—".into(), |p| fmt_ns(f(p)))
            };
            let target = r.target.map_or(String::new(), |t| {
                format!(
                    "<{} warn <{}",
                    fmt_round(t.pass_below_ns),
                    fmt_round(t.warn_below_ns)
                )
            });
            let verdict = match (r.target, r.verdict) {
                (_, Some(v)) => v.as_str(),
                (Some(_), None) => "—",
                (None, None) => "",
            };
            line(format!(
                "{:<20} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10}  {:<21} {}",
                r.metric.label(),
                r.count,
                cell(|p| p.p50),
                cell(|p| p.p90),
                cell(|p| p.p99),
                cell(|p| p.p999),
                cell(|p| p.max),
                target,
                verdict
            ));
            if r.clamped > 0 {
                line(format!(
                    "{:<20} {} samples above 60 s counted as 60 s",
                    "", r.clamped
                ));
            }
        }
        let _ = write!(
            out,
            "overall: {} (worst p99 verdict of the targeted metrics",
            self.overall_str()
        );
        let missing = self.unmeasured_targets();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|m| m.label()).collect();
            let _ = write!(out, "; no samples for {}", names.join(", "));
        }
        out.push_str(")\n");
        if self.overall.is_none() {
            out.push_str("no targeted metric has samples, so the report cannot PASS\n");
        }
        out
    }

    /// JSON: `{"unit": "ns", "basis": "p99", "overall": …, "unmeasured":
    /// [names], "metrics": {name: {label, count, clamped, p50_ns, p90_ns,
    /// p99_ns, p999_ns, max_ns, target, verdict}}}` in that key order;
    /// percentiles and verdict are `null` without samples, `target` is
    /// `{"pass_below_ns", "warn_below_ns"}` or `null`.
    pub fn to_json(&self) -> Value {
        let mut metrics = Map::new();
        for r in &self.metrics {
            let get = |f: fn(&Percentiles) -> u64| r.stats.as_ref().map(f);
            let target = r.target.map(
                |t| json!({"pass_below_ns": t.pass_below_ns, "warn_below_ns": t.warn_below_ns}),
            );
            metrics.insert(
                r.metric.name().to_owned(),
                json!({
                    "label": r.metric.label(),
                    "count": r.count,
                    "clamped": r.clamped,
                    "p50_ns": get(|p| p.p50),
                    "p90_ns": get(|p| p.p90),
                    "p99_ns": get(|p| p.p99),
                    "p999_ns": get(|p| p.p999),
                    "max_ns": get(|p| p.max),
                    "target": target,
                    "verdict": r.verdict.map(Verdict::as_str),
                }),
            );
        }
        let unmeasured: Vec<&str> = self.unmeasured_targets().iter().map(|m| m.name()).collect();
        json!({
            "unit": "ns",
            "basis": "p99",
            "overall": self.overall_str(),
            "unmeasured": unmeasured,
            "metrics": metrics,
        })
    }

    /// A self-contained SVG percentile plot: x the percentile on a "nines"
    /// scale (0, 90, 99, 99.9, 99.99), y the latency on a log scale, one
    /// polyline per metric with samples, and a legend.
    pub fn to_svg(&self) -> String {
        plot::percentile_plot(self)
    }

    /// Write the table, JSON and plot next to each other: `path` is a prefix
    /// (`out/latency` → `out/latency.txt`, `.json`, `.svg`); a `.txt`,
    /// `.json` or `.svg` extension on `path` is dropped first, so
    /// `--latency-report out/latency.json` writes the same three files.
    /// Missing parent directories are created.
    pub fn write_all(&self, path: &Path) -> Result<LatencyFiles, WriteError> {
        let prefix = match path.extension().and_then(|e| e.to_str()) {
            Some("txt" | "json" | "svg") => path.with_extension(""),
            _ => path.to_path_buf(),
        };
        let files = LatencyFiles {
            text: with_extension(&prefix, "txt"),
            json: with_extension(&prefix, "json"),
            svg: with_extension(&prefix, "svg"),
        };
        write_file(&files.text, self.table().as_bytes())?;
        let mut json = serde_json::to_string_pretty(&self.to_json()).unwrap_or_default();
        json.push('\n');
        write_file(&files.json, json.as_bytes())?;
        write_file(&files.svg, self.to_svg().as_bytes())?;
        Ok(files)
    }
}

fn metric_report(rec: &LatencyRecorder, m: Metric) -> MetricReport {
    let h = rec.histogram(m);
    let count = h.len();
    let target = Target::of(m);
    if count == 0 {
        return MetricReport {
            metric: m,
            count,
            clamped: rec.clamped(m),
            stats: None,
            target,
            verdict: None,
            curve: Vec::new(),
        };
    }
    let stats = Percentiles {
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    };
    let steps = (MAX_NINES as u32) * CURVE_STEPS_PER_NINE;
    let curve = (0..=steps)
        .map(|k| {
            let nines = f64::from(k) / f64::from(CURVE_STEPS_PER_NINE);
            let q = 1.0 - 10f64.powf(-nines);
            CurvePoint {
                nines,
                nanos: h.value_at_quantile(q),
            }
        })
        .collect();
    MetricReport {
        metric: m,
        count,
        clamped: rec.clamped(m),
        stats: Some(stats),
        target,
        verdict: target.map(|t| t.verdict(stats.p99)),
        curve,
    }
}

/// `812 ns`, `12.34 µs`, `5.60 ms`, `1.25 s`.
pub fn fmt_ns(ns: u64) -> String {
    let v = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < MS {
        format!("{:.2} µs", v / 1e3)
    } else if ns < S {
        format!("{:.2} ms", v / 1e6)
    } else {
        format!("{:.2} s", v / 1e9)
    }
}

/// Like [`fmt_ns`] without decimals when the value is whole in its unit
/// (`100 ms`, `2 s`): for targets.
fn fmt_round(ns: u64) -> String {
    let (unit, per) = if ns < 1_000 {
        ("ns", 1)
    } else if ns < MS {
        ("µs", 1_000)
    } else if ns < S {
        ("ms", MS)
    } else {
        ("s", S)
    };
    if ns.is_multiple_of(per) {
        format!("{} {unit}", ns / per)
    } else {
        fmt_ns(ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_boundaries_are_strict() {
        let t = Target::of(Metric::Predict).unwrap();
        assert_eq!(t.verdict(100 * MS - 1), Verdict::Pass);
        assert_eq!(t.verdict(100 * MS), Verdict::Warn);
        assert_eq!(t.verdict(200 * MS - 1), Verdict::Warn);
        assert_eq!(t.verdict(200 * MS), Verdict::Fail);
        let t = Target::of(Metric::InferenceToOrder).unwrap();
        assert_eq!((t.pass_below_ns, t.warn_below_ns), (S, 2 * S));
        assert_eq!(Target::of(Metric::Blend).unwrap().warn_below_ns, 50 * MS);
        assert_eq!(Target::of(Metric::Cycle).unwrap().pass_below_ns, 500 * MS);
        assert_eq!(Target::of(Metric::Features), None);
        assert!(Verdict::Pass < Verdict::Warn && Verdict::Warn < Verdict::Fail);
    }

    #[test]
    fn units_are_readable() {
        assert_eq!(fmt_ns(812), "812 ns");
        assert_eq!(fmt_ns(12_346), "12.35 µs");
        assert_eq!(fmt_ns(5_600_000), "5.60 ms");
        assert_eq!(fmt_ns(1_250_000_000), "1.25 s");
        assert_eq!(fmt_round(100 * MS), "100 ms");
        assert_eq!(fmt_round(2 * S), "2 s");
        assert_eq!(fmt_round(1_500), "1.50 µs");
    }
}
