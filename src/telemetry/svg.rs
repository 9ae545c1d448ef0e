//! A tiny hand-written SVG builder shared by the latency percentile plot and
//! the backtest equity chart: shapes, escaped text, linear and log scales.
//! No dependency; the output is a self-contained `<svg>` document.
//!
//! Cold path (reports at exit): allocates and formats freely.

#![allow(clippy::disallowed_macros, clippy::disallowed_methods)]

use std::fmt::Write as _;

/// Horizontal text anchor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

impl Anchor {
    fn as_str(self) -> &'static str {
        match self {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        }
    }
}

/// Distinct line colours (colour-blind friendly first), cycled.
pub const PALETTE: [&str; 15] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
    "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#2ca02c", "#d62728",
];

/// The `i`-th palette colour (cycled).
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `&`, `<`, `>`, `"` and `'` escaped for text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Maps a data interval linearly onto a pixel interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearScale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl LinearScale {
    /// `d0 → r0`, `d1 → r1`. An empty data interval is widened by one unit
    /// each side so every value still maps to a finite pixel.
    pub fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> LinearScale {
        let (d0, d1) = if (d1 - d0).abs() > 0.0 && d0.is_finite() && d1.is_finite() {
            (d0, d1)
        } else {
            let mid = if d0.is_finite() { d0 } else { 0.0 };
            (mid - 1.0, mid + 1.0)
        };
        LinearScale { d0, d1, r0, r1 }
    }

    /// Pixel of `v`.
    pub fn map(&self, v: f64) -> f64 {
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }

    /// The data interval (after widening).
    pub fn domain(&self) -> (f64, f64) {
        (self.d0, self.d1)
    }
}

/// Maps whole decades `10^lo .. 10^hi` logarithmically onto pixels; values
/// at or below zero map to the bottom decade.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogScale {
    lin: LinearScale,
    lo: i32,
    hi: i32,
}

impl LogScale {
    /// The smallest range of whole decades holding `[min, max]` (at least
    /// one decade; non-positive values count as 1).
    pub fn covering(min: f64, max: f64, r0: f64, r1: f64) -> LogScale {
        let lg = |v: f64| if v > 1.0 { v.log10() } else { 0.0 };
        let lo = lg(min).floor() as i32;
        let hi = (lg(max).ceil() as i32).max(lo + 1);
        LogScale {
            lin: LinearScale::new(f64::from(lo), f64::from(hi), r0, r1),
            lo,
            hi,
        }
    }

    /// Pixel of `v`.
    pub fn map(&self, v: f64) -> f64 {
        let x = if v > 0.0 {
            v.log10().max(f64::from(self.lo))
        } else {
            f64::from(self.lo)
        };
        self.lin.map(x)
    }

    /// Exponents of the decades from bottom to top, inclusive.
    pub fn decades(&self) -> std::ops::RangeInclusive<i32> {
        self.lo..=self.hi
    }
}

/// How a line is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stroke<'a> {
    pub color: &'a str,
    pub width: f64,
    /// SVG dash array such as `"4 3"`; `None` for a solid line.
    pub dash: Option<&'a str>,
}

impl<'a> Stroke<'a> {
    /// A solid line.
    pub const fn solid(color: &'a str, width: f64) -> Stroke<'a> {
        Stroke {
            color,
            width,
            dash: None,
        }
    }

    /// A dashed line.
    pub const fn dashed(color: &'a str, width: f64, dash: &'a str) -> Stroke<'a> {
        Stroke {
            color,
            width,
            dash: Some(dash),
        }
    }
}

/// An SVG document being written.
#[derive(Debug)]
pub struct Svg {
    out: String,
}

impl Svg {
    /// A `width × height` document with a white background and `title` (an
    /// accessible `<title>` element).
    pub fn new(width: f64, height: f64, title: &str) -> Svg {
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <title>{}</title>\n\
             <rect x=\"0\" y=\"0\" width=\"{width:.0}\" height=\"{height:.0}\" fill=\"white\"/>\n",
            escape(title)
        );
        Svg { out }
    }

    /// A straight line from `a` to `b`.
    pub fn line(&mut self, a: (f64, f64), b: (f64, f64), stroke: Stroke<'_>) {
        let _ = write!(
            self.out,
            "<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\" stroke-width=\"{}\"",
            a.0,
            a.1,
            b.0,
            b.1,
            escape(stroke.color),
            stroke.width
        );
        if let Some(d) = stroke.dash {
            let _ = write!(self.out, " stroke-dasharray=\"{}\"", escape(d));
        }
        self.out.push_str("/>\n");
    }

    /// An outlined or filled rectangle (`"none"` for no fill or stroke).
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\" stroke=\"{}\"/>",
            w.max(0.0),
            h.max(0.0),
            escape(fill),
            escape(stroke)
        );
    }

    /// An open line through `points` (non-finite points are skipped); does
    /// nothing with fewer than two finite points. `label` becomes a
    /// `data-series` attribute.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64, label: &str) {
        let pts = point_list(points);
        if pts.1 < 2 {
            return;
        }
        let _ = writeln!(
            self.out,
            "<polyline data-series=\"{}\" points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"/>",
            escape(label),
            pts.0,
            escape(stroke)
        );
    }

    /// A closed filled shape through `points` (non-finite points skipped);
    /// does nothing with fewer than three finite points.
    pub fn polygon(&mut self, points: &[(f64, f64)], fill: &str, opacity: f64) {
        let pts = point_list(points);
        if pts.1 < 3 {
            return;
        }
        let _ = writeln!(
            self.out,
            "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"{opacity}\" stroke=\"none\"/>",
            pts.0,
            escape(fill)
        );
    }

    /// Escaped text at `(x, y)` (baseline), `size` px.
    pub fn text(&mut self, x: f64, y: f64, anchor: Anchor, size: f64, content: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{}\" font-size=\"{size}\">{}</text>",
            anchor.as_str(),
            escape(content)
        );
    }

    /// Escaped text rotated −90° about `(x, y)` (a vertical axis title).
    pub fn vertical_text(&mut self, x: f64, y: f64, size: f64, content: &str) {
        let _ = writeln!(
            self.out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"{size}\" transform=\"rotate(-90 {x:.1} {y:.1})\">{}</text>",
            escape(content)
        );
    }

    /// The finished document.
    pub fn finish(mut self) -> String {
        self.out.push_str("</svg>\n");
        self.out
    }
}

/// `"x,y x,y …"` of the finite points, and how many there are.
fn point_list(points: &[(f64, f64)]) -> (String, usize) {
    let mut s = String::with_capacity(points.len() * 14);
    let mut n = 0;
    for &(x, y) in points
        .iter()
        .filter(|(x, y)| x.is_finite() && y.is_finite())
    {
        if n > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x:.1},{y:.1}");
        n += 1;
    }
    (s, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_map_ends_and_widen_empty_domains() {
        let s = LinearScale::new(0.0, 10.0, 100.0, 200.0);
        assert_eq!((s.map(0.0), s.map(5.0), s.map(10.0)), (100.0, 150.0, 200.0));
        let flat = LinearScale::new(3.0, 3.0, 0.0, 10.0);
        assert_eq!(flat.domain(), (2.0, 4.0));
        assert_eq!(flat.map(3.0), 5.0);
        let log = LogScale::covering(150.0, 20_000.0, 0.0, 300.0);
        assert_eq!(log.decades(), 2..=5);
        assert_eq!((log.map(100.0), log.map(100_000.0)), (0.0, 300.0));
        assert_eq!(log.map(0.0), 0.0, "non-positive values sit on the floor");
        assert_eq!(LogScale::covering(0.0, 0.0, 0.0, 1.0).decades(), 0..=1);
    }

    #[test]
    fn text_is_escaped_and_degenerate_shapes_are_dropped() {
        let mut svg = Svg::new(100.0, 50.0, "a < b & \"c\"");
        svg.text(1.0, 2.0, Anchor::End, 10.0, "<script>");
        svg.polyline(&[(0.0, 0.0), (f64::NAN, 1.0)], "red", 1.0, "x");
        svg.polygon(&[(0.0, 0.0), (1.0, 1.0)], "red", 0.5);
        let doc = svg.finish();
        assert!(doc.contains("<title>a &lt; b &amp; &quot;c&quot;</title>"));
        assert!(doc.contains("&lt;script&gt;"));
        assert!(!doc.contains("<polyline") && !doc.contains("<polygon"));
        assert!(doc.starts_with("<svg") && doc.ends_with("</svg>\n"));
    }
}
