//! The SVG percentile plot of a [`LatencyReport`]: x is the percentile on a
//! "nines" scale (`−log10(1 − q)`: 0, 90, 99, 99.9, 99.99 equally spaced),
//! y the latency on a log scale in whole decades, one polyline per metric
//! with samples, a legend with each metric's p99 and verdict.
//!
//! Cold path (reports at exit): allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use super::report::{fmt_ns, CurvePoint, LatencyReport, MAX_NINES};
use super::svg::{color, Anchor, LinearScale, LogScale, Stroke, Svg};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = WIDTH - 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = HEIGHT - 70.0;
const GRID: &str = "#dddddd";
const AXIS: &str = "#333333";

/// Percentile labels of the whole nines.
const NINES_LABELS: [&str; 5] = ["0", "90", "99", "99.9", "99.99"];

/// The document; see the module doc.
pub fn percentile_plot(report: &LatencyReport) -> String {
    let title = format!(
        "Latency percentiles — overall {} (p99 against targets)",
        report.overall_str()
    );
    let curves: Vec<Curve<'_>> = report
        .metrics
        .iter()
        .filter(|r| !r.curve.is_empty())
        .map(|r| {
            let mut text = r.metric.label().to_owned();
            if let Some(s) = &r.stats {
                text.push_str(&format!("  p99 {}", fmt_ns(s.p99)));
            }
            if let Some(v) = r.verdict {
                text.push_str(&format!(" {}", v.as_str()));
            }
            Curve {
                id: r.metric.name().to_owned(),
                color: color(r.metric.index()),
                points: &r.curve,
                legend: vec![text],
            }
        })
        .collect();
    nines_chart(&Chart {
        title: &title,
        y_label: "latency (log scale)",
        empty: "no samples recorded",
        curves: &curves,
    })
}

/// One polyline of a [`nines_chart`] and its legend lines.
pub struct Curve<'a> {
    /// The polyline's id in the document.
    pub id: String,
    pub color: &'a str,
    pub points: &'a [CurvePoint],
    /// The legend: the first line beside the colour swatch, the rest below
    /// it in a smaller font.
    pub legend: Vec<String>,
}

/// A percentile chart: title, y-axis label, the note shown when no curve
/// has samples, and the curves.
pub struct Chart<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub empty: &'a str,
    pub curves: &'a [Curve<'a>],
}

/// Percentile curves on a "nines" x scale and a log-latency y scale (see
/// the module doc), one polyline and legend entry per curve.
pub fn nines_chart(chart: &Chart<'_>) -> String {
    let mut svg = Svg::new(WIDTH, HEIGHT, chart.title);
    svg.text(LEFT, 28.0, Anchor::Start, 16.0, chart.title);
    let all = || {
        chart
            .curves
            .iter()
            .flat_map(|c| c.points.iter())
            .map(|p| p.nanos)
    };
    let lo = all().min().unwrap_or(1);
    let hi = all().max().unwrap_or(1_000);
    let x = LinearScale::new(0.0, MAX_NINES, LEFT, RIGHT);
    let y = LogScale::covering(lo as f64, hi as f64, BOTTOM, TOP);

    // Grid and axes.
    for (i, label) in NINES_LABELS.iter().enumerate() {
        let px = x.map(i as f64);
        svg.line((px, TOP), (px, BOTTOM), Stroke::solid(GRID, 1.0));
        svg.text(px, BOTTOM + 18.0, Anchor::Middle, 12.0, label);
    }
    for d in y.decades() {
        let py = y.map(10f64.powi(d));
        svg.line((LEFT, py), (RIGHT, py), Stroke::solid(GRID, 1.0));
        svg.text(LEFT - 8.0, py + 4.0, Anchor::End, 12.0, &decade_label(d));
    }
    svg.rect(LEFT, TOP, RIGHT - LEFT, BOTTOM - TOP, "none", AXIS);
    svg.text(
        (LEFT + RIGHT) / 2.0,
        HEIGHT - 25.0,
        Anchor::Middle,
        13.0,
        "percentile (%)",
    );
    svg.vertical_text(24.0, (TOP + BOTTOM) / 2.0, 13.0, chart.y_label);
    if chart.curves.iter().all(|c| c.points.is_empty()) {
        svg.text(
            (LEFT + RIGHT) / 2.0,
            (TOP + BOTTOM) / 2.0,
            Anchor::Middle,
            14.0,
            chart.empty,
        );
    }

    // One polyline per curve, and its legend entry.
    let legend_x = RIGHT + 20.0;
    let mut ly = TOP + 8.0;
    for c in chart.curves.iter().filter(|c| !c.points.is_empty()) {
        let pts: Vec<(f64, f64)> = c
            .points
            .iter()
            .map(|p| (x.map(p.nines), y.map(p.nanos as f64)))
            .collect();
        svg.polyline(&pts, c.color, 1.8, &c.id);
        svg.line(
            (legend_x, ly - 4.0),
            (legend_x + 22.0, ly - 4.0),
            Stroke::solid(c.color, 2.5),
        );
        for (k, line) in c.legend.iter().enumerate() {
            let (dy, size) = if k == 0 {
                (0.0, 11.0)
            } else {
                (14.0 * k as f64, 10.0)
            };
            svg.text(legend_x + 28.0, ly + dy, Anchor::Start, size, line);
        }
        ly += 20.0 + 14.0 * c.legend.len().saturating_sub(1) as f64;
    }
    svg.finish()
}

/// `1 ns`, `10 ns`, `100 ns`, `1 µs`, … `100 s`.
fn decade_label(exp: i32) -> String {
    let unit = ["ns", "µs", "ms", "s"];
    let e = exp.max(0);
    let group = ((e / 3) as usize).min(unit.len() - 1);
    let shift = e - 3 * group as i32;
    format!("{} {}", 10u64.pow(shift as u32), unit[group])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decades_are_labelled_in_units() {
        let labels: Vec<String> = (0..=11).map(decade_label).collect();
        assert_eq!(labels[0], "1 ns");
        assert_eq!(labels[3], "1 µs");
        assert_eq!(labels[5], "100 µs");
        assert_eq!(labels[9], "1 s");
        assert_eq!(labels[11], "100 s");
    }
}
