//! Charts drawn on the server as SVG text: pure functions from typed series
//! to a string, integer coordinates in a fixed `viewBox` (scaled by CSS),
//! colours from CSS classes (the CSP forbids `style=`), every label escaped,
//! hover details in `<title>`, links in `<a href>`. No clock, no randomness:
//! the same series gives the same bytes (the snapshot tests rely on it).

use super::format::esc;
use std::fmt::Write;
use verdict_core::stats::Proportion;

/// Full-width charts.
pub const WIDTH: i64 = 960;
pub const HEIGHT: i64 = 220;
const LEFT: i64 = 48;
const RIGHT: i64 = 912;
const TOP: i64 = 12;
const BOTTOM: i64 = 196;

fn open(out: &mut String, w: i64, h: i64, class: &str, desc: &str) {
    let _ = write!(
        out,
        r#"<svg class="{class}" viewBox="0 0 {w} {h}" role="img" xmlns="http://www.w3.org/2000/svg"><desc>{}</desc>"#,
        esc(desc)
    );
}

fn y_of(v: f64, max: f64, top: i64, bottom: i64) -> i64 {
    if max <= 0.0 {
        return bottom;
    }
    bottom - ((v / max).clamp(0.0, 1.0) * (bottom - top) as f64).round() as i64
}

/// A number for an axis label: `12`, `1.5`, `0.25`.
fn tick(v: f64) -> String {
    if v >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bars per bucket, for a KPI card (120 × 24).
pub fn spark_bars(values: &[i64], desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, 120, 24, "spark", desc);
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let n = values.len().max(1) as i64;
    let w = (120 / n).max(1);
    let mut path = String::new();
    for (i, &v) in values.iter().enumerate() {
        if v <= 0 {
            continue;
        }
        let h = ((v as f64 / max) * 22.0).round().max(1.0) as i64;
        let _ = write!(path, "M{} 24v-{h}h{}v{h}z", i as i64 * w, (w - 1).max(1));
    }
    let _ = write!(out, r#"<path class="bar" d="{path}"/></svg>"#);
    out
}

/// A rate line per bucket (0..1), for a KPI card; gaps where there is no data.
pub fn spark_line(values: &[Option<f64>], desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, 120, 24, "spark", desc);
    let n = (values.len() as i64 - 1).max(1);
    let mut path = String::new();
    let mut pen_down = false;
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = i as i64 * 120 / n;
                let y = 22 - (v.clamp(0.0, 1.0) * 20.0).round() as i64;
                let _ = write!(path, "{}{x} {y}", if pen_down { "L" } else { "M" });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    let _ = write!(out, r#"<path class="line" d="{path}"/></svg>"#);
    out
}

/// A bullet chart (120 × 16): the bar is `value` on a scale of `scale`,
/// the tick is `target` (the aggregate page: passes against required passes of N).
pub fn bullet(value: u32, target: u32, scale: u32, meets: bool, desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, 120, 16, "bullet", desc);
    let x = |v: u32| i64::from(v.min(scale)) * 118 / i64::from(scale.max(1)) + 1;
    let class = if meets { "bar" } else { "bar fail" };
    let _ = write!(
        out,
        r#"<rect class="track" x="1" y="4" width="118" height="8"/><rect class="{class}" x="1" y="4" width="{}" height="8"/><path class="target" d="M{} 1v14"/></svg>"#,
        x(value) - 1,
        x(target)
    );
    out
}

/// One bucket of a stacked outcome chart.
#[derive(Debug, Clone, Default)]
pub struct Stack {
    pub passed: i64,
    pub flaky: i64,
    pub failed: i64,
    pub other: i64,
    /// Drawn as a line with its Wilson band on the right axis (0–100%).
    pub rate: Option<Proportion>,
    pub title: String,
    pub href: Option<String>,
}

/// Stacked bars (passed, flaky, failed, other) per bucket, with the pass
/// rate as a line and its Wilson interval as a shaded band.
pub fn stacked_bars(stacks: &[Stack], unit: &str, desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, WIDTH, HEIGHT, "chart", desc);
    let max = stacks.iter().map(|s| s.passed + s.flaky + s.failed + s.other).max().unwrap_or(0).max(1) as f64;
    let n = stacks.len().max(1) as i64;
    let slot = (RIGHT - LEFT) / n;
    let bar = (slot * 4 / 5).max(1);
    // The right axis only when a rate is drawn on it.
    axes(&mut out, max, unit, stacks.iter().any(|s| s.rate.is_some()), BOTTOM, HEIGHT);
    for (i, s) in stacks.iter().enumerate() {
        let x = LEFT + i as i64 * slot + (slot - bar) / 2;
        let mut y = BOTTOM;
        let _ = write!(out, "<g>");
        if let Some(href) = &s.href {
            let _ = write!(out, r#"<a href="{}">"#, esc(href));
        }
        let _ = write!(out, "<title>{}</title>", esc(&s.title));
        // A transparent column, so the whole bucket carries the hover and the link.
        let _ = write!(out, r#"<rect class="hit" x="{}" y="{TOP}" width="{slot}" height="{}"/>"#, LEFT + i as i64 * slot, BOTTOM - TOP);
        for (count, class) in [(s.passed, "o-pass"), (s.flaky, "o-flaky"), (s.failed, "o-fail"), (s.other, "o-skip")] {
            if count <= 0 {
                continue;
            }
            let h = ((count as f64 / max) * (BOTTOM - TOP) as f64).round().max(1.0) as i64;
            let _ = write!(out, r#"<rect class="{class}" x="{x}" y="{}" width="{bar}" height="{h}"/>"#, y - h);
            y -= h;
        }
        if s.href.is_some() {
            let _ = write!(out, "</a>");
        }
        let _ = write!(out, "</g>");
    }
    rate_overlay(&mut out, stacks.iter().map(|s| s.rate).collect::<Vec<_>>().as_slice(), slot);
    out.push_str("</svg>");
    out
}

/// The left axis (0 to `max`, labelled `unit`) of a chart `height` high whose plot ends at `bottom`.
fn axes(out: &mut String, max: f64, unit: &str, right_percent: bool, bottom: i64, height: i64) {
    let _ = write!(
        out,
        r#"<path class="axis" d="M{LEFT} {TOP}V{bottom}H{RIGHT}"/><text class="tick" x="{}" y="{}">{}</text><text class="tick" x="{}" y="{bottom}">0</text><text class="tick" x="{LEFT}" y="{}">{}</text>"#,
        LEFT - 4,
        TOP + 8,
        tick(max),
        LEFT - 4,
        height - 4,
        esc(unit)
    );
    if right_percent {
        let _ = write!(out, r#"<text class="tick r" x="{}" y="{}">100%</text>"#, RIGHT + 4, TOP + 8);
    }
}

/// The rate line over bucket centres and its Wilson band, on the 0–100% axis.
fn rate_overlay(out: &mut String, rates: &[Option<Proportion>], slot: i64) {
    let y = |v: f64| y_of(v, 1.0, TOP, BOTTOM);
    let centre = |i: usize| LEFT + i as i64 * slot + slot / 2;
    // One band and one line per run of buckets with data.
    let mut runs: Vec<Vec<(usize, Proportion)>> = vec![Vec::new()];
    for (i, r) in rates.iter().enumerate() {
        match r {
            Some(p) => runs.last_mut().expect("one run at least").push((i, *p)),
            None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
            None => {}
        }
    }
    for run in runs.iter().filter(|r| !r.is_empty()) {
        if let [(i, p)] = run.as_slice() {
            // One bucket alone: its interval as a whisker and its rate as a short mark.
            let (x, half) = (centre(*i), (slot / 3).max(1));
            let _ = write!(
                out,
                r#"<path class="whisker" d="M{x} {}V{}"/><path class="rate" d="M{} {}H{}"/>"#,
                y(p.high),
                y(p.low),
                x - half,
                y(p.rate),
                x + half
            );
            continue;
        }
        let mut band = String::new();
        for (k, (i, p)) in run.iter().enumerate() {
            let _ = write!(band, "{}{} {}", if k == 0 { "M" } else { "L" }, centre(*i), y(p.high));
        }
        for (i, p) in run.iter().rev() {
            let _ = write!(band, "L{} {}", centre(*i), y(p.low));
        }
        let mut line = String::new();
        for (k, (i, p)) in run.iter().enumerate() {
            let _ = write!(line, "{}{} {}", if k == 0 { "M" } else { "L" }, centre(*i), y(p.rate));
        }
        let _ = write!(out, r#"<path class="band" d="{band}Z"/><path class="rate" d="{line}"/>"#);
    }
}

/// A set of points of one outcome, `x` in `0..=1` of the chart's span.
#[derive(Debug, Clone, Default)]
pub struct Points {
    pub class: &'static str,
    pub xy: Vec<(f64, f64)>,
}

/// A line through bucket centres (p50, p95), gaps where a bucket has no value.
#[derive(Debug, Clone, Default)]
pub struct Line {
    pub class: &'static str,
    pub values: Vec<Option<f64>>,
}

/// A hover and link column per bucket.
#[derive(Debug, Clone, Default)]
pub struct Column {
    pub title: String,
    pub href: Option<String>,
    /// A tick under the axis (a bucket with a failure).
    pub marked: bool,
}

/// Points coloured by outcome with percentile lines per bucket (`height` 220
/// for a full chart, 120 for a small multiple).
pub fn points_chart(points: &[Points], lines: &[Line], columns: &[Column], height: i64, unit: &str, desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, WIDTH, height, "chart", desc);
    let bottom = height - 24;
    let max = points
        .iter()
        .flat_map(|p| p.xy.iter().map(|&(_, y)| y))
        .chain(lines.iter().flat_map(|l| l.values.iter().flatten().copied()))
        .fold(0.0f64, f64::max);
    let max = if max > 0.0 { max * 1.05 } else { 1.0 };
    axes(&mut out, max, unit, false, bottom, height);
    let n = columns.len().max(1) as i64;
    let slot = ((RIGHT - LEFT) / n).max(1);
    for (i, c) in columns.iter().enumerate() {
        let x = LEFT + i as i64 * slot;
        let _ = write!(out, "<g>");
        if let Some(href) = &c.href {
            let _ = write!(out, r#"<a href="{}">"#, esc(href));
        }
        let _ = write!(
            out,
            r#"<title>{}</title><rect class="hit" x="{x}" y="{TOP}" width="{slot}" height="{}"/>"#,
            esc(&c.title),
            bottom - TOP
        );
        if c.href.is_some() {
            let _ = write!(out, "</a>");
        }
        if c.marked {
            let _ = write!(out, r#"<rect class="o-fail" x="{x}" y="{}" width="{}" height="3"/>"#, bottom + 2, slot.max(2));
        }
        let _ = write!(out, "</g>");
    }
    for p in points {
        let mut d = String::new();
        for &(x, y) in &p.xy {
            let px = LEFT + (x.clamp(0.0, 1.0) * (RIGHT - LEFT) as f64).round() as i64;
            let _ = write!(d, "M{px} {}h0", y_of(y, max, TOP, bottom));
        }
        if !d.is_empty() {
            let _ = write!(out, r#"<path class="pt {}" d="{d}"/>"#, p.class);
        }
    }
    for l in lines {
        let mut d = String::new();
        for (i, v) in l.values.iter().enumerate() {
            let Some(v) = v else { continue };
            let x = LEFT + i as i64 * slot + slot / 2;
            let y = y_of(*v, max, TOP, bottom);
            let joined = i > 0 && l.values[i - 1].is_some();
            let alone = !joined && l.values.get(i + 1).is_none_or(|n| n.is_none());
            if alone {
                // A value with no neighbour: a short level mark across its bucket.
                let _ = write!(d, "M{} {y}H{}", x - slot / 3, x + slot / 3);
            } else {
                let _ = write!(d, "{}{x} {y}", if joined { "L" } else { "M" });
            }
        }
        if !d.is_empty() {
            let _ = write!(out, r#"<path class="{}" d="{d}"/>"#, l.class);
        }
    }
    out.push_str("</svg>");
    out
}

/// One cell of a history strip.
#[derive(Debug, Clone)]
pub struct Cell {
    /// `o-pass`, `o-fail`, `o-flaky`, `o-skip`, or `o-absent` (did not run).
    pub class: &'static str,
    /// Height as a share of the row (duration ÷ the row's longest); absent cells are a tick.
    pub height: f64,
    pub title: String,
    pub href: String,
}

/// A history strip row (960 × 40): one cell per run, newest on the right.
pub fn strip(cells: &[Cell], desc: &str) -> String {
    let mut out = String::new();
    open(&mut out, WIDTH, 40, "strip", desc);
    let n = cells.len().max(1) as i64;
    // At most 24 units a cell, so a short history stays a strip, right-aligned.
    let slot = (WIDTH / n.max(40)).max(1);
    let w = (slot - 1).max(1);
    let offset = WIDTH - slot * n;
    for (i, c) in cells.iter().enumerate() {
        let x = offset + i as i64 * slot;
        let h = if c.class == "o-absent" { 3 } else { (c.height.clamp(0.0, 1.0) * 34.0).round() as i64 + 4 };
        let _ = write!(
            out,
            r#"<a href="{}"><title>{}</title><rect class="hit" x="{x}" y="0" width="{slot}" height="40"/><rect class="{}" x="{x}" y="{}" width="{w}" height="{h}"/></a>"#,
            esc(&c.href),
            esc(&c.title),
            c.class,
            40 - h
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_everywhere() {
        let hostile = "</svg><img src=x onerror=alert(1)>";
        let bars = stacked_bars(
            &[Stack { passed: 1, failed: 1, title: hostile.into(), href: Some("javascript:\"><x".into()), ..Default::default() }],
            "runs",
            hostile,
        );
        assert!(!bars.contains("<img"), "{bars}");
        assert!(!bars.contains("\"><x"));
        let s = strip(&[Cell { class: "o-fail", height: 0.5, title: hostile.into(), href: "/x\"y".into() }], hostile);
        assert!(!s.contains("<img") && !s.contains("x\"y"), "{s}");
    }

    #[test]
    fn same_series_same_bytes_integer_coordinates() {
        let stacks: Vec<Stack> = (0..14)
            .map(|i| Stack {
                passed: i,
                failed: 14 - i,
                rate: verdict_core::stats::reliability(i as u64, 14 - i as u64),
                ..Default::default()
            })
            .collect();
        let a = stacked_bars(&stacks, "runs", "d");
        assert_eq!(a, stacked_bars(&stacks, "runs", "d"));
        let fraction = a.as_bytes().windows(3).any(|w| w[0].is_ascii_digit() && w[1] == b'.' && w[2].is_ascii_digit());
        assert!(!fraction, "integer coordinates only: {a}");
        assert_eq!(a.matches("<path class=\"band\"").count(), 1, "one band over a run of buckets with data");
    }

    #[test]
    fn empty_series_draw_an_empty_frame() {
        let s = points_chart(&[], &[], &[], 220, "s", "none");
        assert!(s.starts_with("<svg") && s.ends_with("</svg>"));
        assert!(!s.contains("class=\"pt"));
        assert!(spark_bars(&[], "x").contains("d=\"\""));
    }
}
