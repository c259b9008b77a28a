//! The cost curve of docs/benchmarks.md as an SVG: seconds against N (both logarithmic) for each
//! burst and its floor, so the gap between operator and floor reads at a glance.

use std::fmt::Write;

use crate::report::RunReport;

const W: f64 = 640.0;
const H: f64 = 360.0;
const LEFT: f64 = 60.0;
const BOTTOM: f64 = 40.0;
const TOP: f64 = 20.0;
const RIGHT: f64 = 150.0;

/// A line of the plot: its label, its colour and its value in a run.
type Series = (&'static str, &'static str, fn(&RunReport) -> f64);

/// The SVG, or `None` with fewer than one run.
pub fn cost_curve(runs: &[RunReport]) -> Option<String> {
    if runs.is_empty() {
        return None;
    }
    let series: [Series; 4] = [
        ("create floor", "#999999", |r| r.floor.seconds),
        ("create burst", "#1f77b4", |r| r.converge.convergence.seconds),
        ("change floor", "#cccccc", |r| r.change_floor.seconds),
        ("change burst", "#ff7f0e", |r| r.change.convergence.seconds),
    ];
    let ns: Vec<f64> = runs.iter().map(|r| r.n as f64).collect();
    let values: Vec<f64> =
        runs.iter().flat_map(|r| series.iter().map(move |s| (s.2)(r))).filter(|v| *v > 0.0).collect();
    let (x_min, x_max) =
        (ns.iter().copied().fold(f64::MAX, f64::min) / 2.0, ns.iter().copied().fold(0.0, f64::max) * 2.0);
    let (y_min, y_max) =
        (values.iter().copied().fold(f64::MAX, f64::min) / 2.0, values.iter().copied().fold(0.0, f64::max) * 2.0);
    let x = |v: f64| LEFT + (v.ln() - x_min.ln()) / (x_max.ln() - x_min.ln()) * (W - LEFT - RIGHT);
    let y = |v: f64| H - BOTTOM - (v.max(y_min).ln() - y_min.ln()) / (y_max.ln() - y_min.ln()) * (H - BOTTOM - TOP);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let (x0, x1, y0, y1) = (LEFT, W - RIGHT, H - BOTTOM, TOP);
    let _ = write!(svg, r#"<path d="M{x0} {y1}V{y0}H{x1}" fill="none" stroke="black"/>"#);
    for n in &ns {
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{n}</text>"#, x(*n), y0 + 16.0);
    }
    let _ = write!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">ExposedAPIs (N)</text>"#,
        (x0 + x1) / 2.0,
        H - 6.0
    );
    let mut tick = 10f64.powf(y_min.log10().ceil());
    while tick < y_max {
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{tick} s</text>"#, x0 - 6.0, y(tick) + 4.0);
        let _ = write!(svg, r##"<path d="M{x0} {:.1}H{x1}" stroke="#eeeeee"/>"##, y(tick));
        tick *= 10.0;
    }
    for (i, (label, color, value)) in series.iter().enumerate() {
        let points: Vec<String> = runs.iter().map(|r| format!("{:.1},{:.1}", x(r.n as f64), y(value(r)))).collect();
        let dash = if label.ends_with("floor") { r#" stroke-dasharray="5,4""# } else { "" };
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            points.join(" ")
        );
        let ly = TOP + 16.0 * i as f64 + 8.0;
        let _ = write!(svg, r#"<path d="M{:.1} {ly}h20" stroke="{color}" stroke-width="2"{dash}/>"#, x1 + 12.0);
        let _ = write!(svg, r#"<text x="{:.1}" y="{:.1}">{label}</text>"#, x1 + 36.0, ly + 4.0);
    }
    svg.push_str("</svg>\n");
    Some(svg)
}
