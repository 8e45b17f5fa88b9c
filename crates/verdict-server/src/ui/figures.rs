//! A report-metrics program's figures drawn on the server as SVG (the
//! dashboard's rule: no third-party JavaScript): plotly scatter/line, box and
//! bar traces and ReSim's batchwise bar charts, from
//! `verdict_formats::resim_metrics`. Same conventions as `svg`: integer
//! coordinates in a fixed viewBox, every label escaped, hover text in
//! `<title>`. Series colours are classes `f0`…`f5`; a batchwise chart's own
//! colours (validated `#RRGGBB[AA]` by the format) go in `fill` attributes,
//! which the CSP allows (it forbids `style`).

use super::format::esc;
use std::fmt::Write;
use verdict_formats::resim_metrics::{Bars, Chart, TraceKind, Xs};

const W: i64 = 960;
const H: i64 = 250;
const LEFT: i64 = 64;
const RIGHT: i64 = 940;
const TOP: i64 = 12;
const BOTTOM: i64 = 200;
/// Points drawn per line or point trace; longer traces are thinned evenly
/// (the JSON twin has them all).
pub const MAX_DRAWN: usize = 2_000;
const SERIES_CLASSES: usize = 6;

/// A value for an axis label: `12`, `-1.5`, `0.025`, `3.2e6`.
fn label(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        format!("{v:.1e}")
    } else if v == v.round() {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}").trim_end_matches('0').to_owned()
    }
}

fn day(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// A linear scale from `lo..hi` onto `a..b` pixels; a flat range is widened.
#[derive(Clone, Copy)]
struct Scale {
    lo: f64,
    hi: f64,
    a: i64,
    b: i64,
}

impl Scale {
    fn new(lo: f64, hi: f64, a: i64, b: i64) -> Scale {
        let (lo, hi) = if !(lo.is_finite() && hi.is_finite()) {
            (0.0, 1.0)
        } else if hi > lo {
            (lo, hi)
        } else {
            (lo - 1.0, hi + 1.0)
        };
        Scale { lo, hi, a, b }
    }

    fn at(&self, v: f64) -> i64 {
        let t = ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0);
        self.a + (t * (self.b - self.a) as f64).round() as i64
    }
}

fn open(out: &mut String, desc: &str) {
    let _ =
        write!(out, r#"<svg class="chart" viewBox="0 0 {W} {H}" role="img" xmlns="http://www.w3.org/2000/svg"><desc>{}</desc>"#, esc(desc));
}

/// The frame: the y axis with its lowest, middle and highest labels, the x
/// axis, and both titles.
fn frame(out: &mut String, y: Scale, x_labels: &[(i64, String)], x_title: Option<&str>, y_title: Option<&str>) {
    let _ = write!(out, r#"<path class="axis" d="M{LEFT} {TOP}V{BOTTOM}H{RIGHT}"/>"#);
    for v in [y.lo, (y.lo + y.hi) / 2.0, y.hi] {
        let _ = write!(out, r#"<text class="tick" x="{}" y="{}">{}</text>"#, LEFT - 4, y.at(v) + 4, esc(&label(v)));
    }
    // Two labels (the axis' ends) hang inward, so neither is cut at the edge; more are centred.
    let ends = x_labels.len() == 2;
    for (i, (x, text)) in x_labels.iter().enumerate() {
        let anchor = match (ends, i) {
            (true, 0) => "r",
            (true, _) => "",
            _ => "mid",
        };
        let _ = write!(out, r#"<text class="tick {anchor}" x="{x}" y="{}">{}</text>"#, BOTTOM + 14, esc(text));
    }
    if let Some(t) = x_title {
        let _ = write!(out, r#"<text class="tick mid" x="{}" y="{}">{}</text>"#, (LEFT + RIGHT) / 2, H - 10, esc(t));
    }
    if let Some(t) = y_title {
        let _ = write!(out, r#"<text class="tick mid" transform="translate(12 {}) rotate(-90)">{}</text>"#, (TOP + BOTTOM) / 2, esc(t));
    }
}

/// Every trace's x values on one numeric axis: times as ms, labels by
/// their first appearance (shared by all traces).
fn positions(chart: &Chart) -> (Vec<Vec<f64>>, Vec<String>, bool) {
    let mut labels: Vec<String> = Vec::new();
    let times = chart.traces.iter().all(|t| matches!(t.x, Xs::Times(_)));
    let xs = chart
        .traces
        .iter()
        .map(|t| match &t.x {
            Xs::Times(v) => v.iter().map(|&ms| ms as f64).collect(),
            Xs::Numbers(v) => v.clone(),
            Xs::Labels(v) => v
                .iter()
                .map(|l| match labels.iter().position(|k| k == l) {
                    Some(i) => i as f64,
                    None => {
                        labels.push(l.clone());
                        (labels.len() - 1) as f64
                    }
                })
                .collect(),
        })
        .collect();
    (xs, labels, times)
}

fn x_labels(x: Scale, labels: &[String], times: bool) -> Vec<(i64, String)> {
    if !labels.is_empty() {
        let step = labels.len().div_ceil(12).max(1);
        return labels.iter().enumerate().step_by(step).map(|(i, l)| (x.at(i as f64), super::format::cut(l, 24))).collect();
    }
    let show = |v: f64| if times { day(v as i64) } else { label(v) };
    vec![(x.at(x.lo), show(x.lo)), (x.at(x.hi), show(x.hi))]
}

/// Quartiles by linear interpolation, as plotly's box does by default.
fn quartiles(sorted: &[f64]) -> [f64; 5] {
    let q = |p: f64| {
        let at = p * (sorted.len() - 1) as f64;
        let (i, f) = (at.floor() as usize, at.fract());
        sorted[i] + f * (sorted.get(i + 1).unwrap_or(&sorted[i]) - sorted[i])
    };
    [sorted[0], q(0.25), q(0.5), q(0.75), sorted[sorted.len() - 1]]
}

/// Plotly scatter/line, box and bar traces on shared axes.
pub fn chart(c: &Chart, desc: &str) -> String {
    let (xs, labels, times) = positions(c);
    let finite = |v: &&f64| v.is_finite();
    let (xlo, xhi) = xs.iter().flatten().filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let has_bars = c.traces.iter().any(|t| t.kind == TraceKind::Bar);
    let (mut ylo, mut yhi) =
        c.traces.iter().flat_map(|t| t.y.iter()).filter(finite).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if has_bars {
        (ylo, yhi) = (ylo.min(0.0), yhi.max(0.0));
    }
    let pad = if yhi > ylo { (yhi - ylo) * 0.05 } else { 0.0 };
    let y = Scale::new(ylo - if has_bars && ylo == 0.0 { 0.0 } else { pad }, yhi + pad, BOTTOM, TOP);
    // Keep the outermost boxes and bars inside the frame.
    let (xlo, xhi) = if labels.is_empty() { (xlo, xhi) } else { (-0.5, labels.len() as f64 - 0.5) };
    let inset = if labels.is_empty() && c.traces.iter().any(|t| matches!(t.kind, TraceKind::Box | TraceKind::Bar)) { 24 } else { 0 };
    let x = Scale::new(xlo, xhi, LEFT + 8 + inset, RIGHT - 8 - inset);
    let mut out = String::new();
    open(&mut out, desc);
    frame(&mut out, y, &x_labels(x, &labels, times), c.x_title.as_deref(), c.y_title.as_deref());
    let show_x = |v: f64| {
        if times {
            day(v as i64)
        } else if !labels.is_empty() {
            labels.get(v as usize).cloned().unwrap_or_default()
        } else {
            label(v)
        }
    };
    for (k, (t, tx)) in c.traces.iter().zip(&xs).enumerate() {
        let class = format!("f{}", k % SERIES_CLASSES);
        let pairs: Vec<(f64, f64)> = tx.iter().copied().zip(t.y.iter().copied()).filter(|(a, b)| a.is_finite() && b.is_finite()).collect();
        match t.kind {
            TraceKind::Line | TraceKind::Points => {
                let step = pairs.len().div_ceil(MAX_DRAWN).max(1);
                let mut d = String::new();
                for (i, &(px, py)) in pairs.iter().step_by(step).enumerate() {
                    let _ = match t.kind {
                        TraceKind::Line => write!(d, "{}{} {}", if i == 0 { "M" } else { "L" }, x.at(px), y.at(py)),
                        _ => write!(d, "M{} {}h0", x.at(px), y.at(py)),
                    };
                }
                let shape = if t.kind == TraceKind::Line { "fl" } else { "fp" };
                let _ = write!(out, r#"<path class="{shape} {class}" d="{d}"/>"#);
            }
            TraceKind::Bar => {
                let width = ((RIGHT - LEFT) as usize / pairs.len().max(1) * 3 / 5).clamp(2, 40) as i64;
                for &(px, py) in &pairs {
                    let (top, bottom) = (y.at(py.max(0.0)), y.at(py.min(0.0)));
                    let _ = write!(
                        out,
                        r#"<rect class="{class}" x="{}" y="{top}" width="{width}" height="{}"><title>{}: {}</title></rect>"#,
                        x.at(px) - width / 2,
                        (bottom - top).max(1),
                        esc(&show_x(px)),
                        esc(&label(py))
                    );
                }
            }
            TraceKind::Box => {
                let mut groups: Vec<(f64, Vec<f64>)> = Vec::new();
                for &(px, py) in &pairs {
                    match groups.iter_mut().find(|g| g.0 == px) {
                        Some(g) => g.1.push(py),
                        None => groups.push((px, vec![py])),
                    }
                }
                groups.sort_by(|a, b| a.0.total_cmp(&b.0));
                let width = ((RIGHT - LEFT) as usize / groups.len().max(1) / 2).clamp(4, 40) as i64;
                for (px, mut values) in groups {
                    values.sort_by(f64::total_cmp);
                    let [lo, q1, med, q3, hi] = quartiles(&values);
                    let cx = x.at(px);
                    let _ = write!(
                        out,
                        r#"<g><title>{}: {} values; min {}, q1 {}, median {}, q3 {}, max {}</title><path class="fl {class}" d="M{cx} {}V{}M{cx} {}V{}"/><rect class="fbox {class}" x="{}" y="{}" width="{width}" height="{}"/><path class="fl {class}" d="M{} {}h{width}"/></g>"#,
                        esc(&show_x(px)),
                        values.len(),
                        label(lo),
                        label(q1),
                        label(med),
                        label(q3),
                        label(hi),
                        y.at(hi),
                        y.at(q3),
                        y.at(q1),
                        y.at(lo),
                        cx - width / 2,
                        y.at(q3),
                        (y.at(q1) - y.at(q3)).max(1),
                        cx - width / 2,
                        y.at(med),
                    );
                }
            }
        }
    }
    out.push_str("</svg>");
    out
}

/// ReSim's batchwise bar chart: one bar per batch (ordered by time), its
/// categories stacked or side by side, in the program's colours.
pub fn bars(b: &Bars, desc: &str) -> String {
    let n = b.categories.iter().map(|c| c.points.len()).max().unwrap_or(0);
    let time_of = |i: usize| b.categories.iter().find_map(|c| c.points.get(i).map(|p| p.0)).unwrap_or(0);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| time_of(i));
    let value = |c: usize, i: usize| b.categories[c].points.get(i).map_or(0.0, |p| p.1).max(0.0);
    let top = (0..n)
        .map(|i| {
            let vs = (0..b.categories.len()).map(|c| value(c, i));
            if b.stacked { vs.sum::<f64>() } else { vs.fold(0.0, f64::max) }
        })
        .fold(0.0, f64::max);
    let y = Scale::new(0.0, if top > 0.0 { top } else { 1.0 }, BOTTOM, TOP);
    let mut out = String::new();
    open(&mut out, desc);
    let slot = ((RIGHT - LEFT - 16) / n.max(1) as i64).max(1);
    let first_last = match (order.first(), order.last()) {
        (Some(&f), Some(&l)) => {
            vec![(LEFT + 8 + slot / 2, day(time_of(f))), (LEFT + 8 + (n as i64 - 1) * slot + slot / 2, day(time_of(l)))]
        }
        _ => vec![],
    };
    frame(&mut out, y, &first_last, b.x_title.as_deref(), b.y_title.as_deref());
    let groups = b.categories.len().max(1) as i64;
    for (k, &i) in order.iter().enumerate() {
        let x0 = LEFT + 8 + k as i64 * slot;
        let bar = (slot * 4 / 5).max(1);
        let title: Vec<String> = b.categories.iter().enumerate().map(|(c, cat)| format!("{} {}", cat.name, label(value(c, i)))).collect();
        let _ = write!(out, "<g><title>{}: {}</title>", esc(&day(time_of(i))), esc(&title.join(", ")));
        let mut base = BOTTOM;
        for (c, cat) in b.categories.iter().enumerate() {
            let v = value(c, i);
            if v <= 0.0 {
                continue;
            }
            let h = (BOTTOM - y.at(v)).max(1);
            let fill =
                cat.color.as_deref().map_or_else(|| format!(r#"class="f{}""#, c % SERIES_CLASSES), |hex| format!(r#"fill="{}""#, esc(hex)));
            let (x, w, top) = if b.stacked {
                (x0 + (slot - bar) / 2, bar, base - h)
            } else {
                let w = (bar / groups).max(1);
                (x0 + (slot - bar) / 2 + c as i64 * w, w, BOTTOM - h)
            };
            let _ = write!(out, r#"<rect {fill} x="{x}" y="{top}" width="{w}" height="{h}"/>"#);
            if b.stacked {
                base -= h;
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// A legend: one swatch and name per series, as HTML (escaped).
pub fn legend(entries: &[(String, Option<String>)]) -> String {
    let mut out = String::from(r#"<p class="legend">"#);
    for (k, (name, colour)) in entries.iter().enumerate() {
        let fill = colour.as_deref().map_or_else(|| format!(r#"class="f{}""#, k % SERIES_CLASSES), |hex| format!(r#"fill="{}""#, esc(hex)));
        let _ =
            write!(out, r#"<span><svg class="sw" viewBox="0 0 10 10"><rect {fill} width="10" height="10"/></svg> {}</span>"#, esc(name));
    }
    out.push_str("</p>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_formats::resim_metrics::{BarsCategory, Trace};

    fn trace(kind: TraceKind, x: Xs, y: Vec<f64>) -> Trace {
        Trace { kind, name: Some("<n>".into()), x, y }
    }

    #[test]
    fn boxes_lines_and_labels_are_drawn_and_escaped() {
        let c = Chart {
            x_title: Some("<x>".into()),
            y_title: Some("d & m".into()),
            traces: vec![
                trace(TraceKind::Box, Xs::Times(vec![0, 0, 0, 86_400_000]), vec![1.0, 2.0, 3.0, 5.0]),
                trace(TraceKind::Line, Xs::Times(vec![0, 86_400_000]), vec![2.0, 5.0]),
            ],
        };
        let svg = chart(&c, "a <chart>");
        assert!(svg.contains(&format!("<desc>{}</desc>", esc("a <chart>"))) && svg.contains(&esc("<x>")) && svg.contains(&esc("d & m")));
        assert!(!svg.contains("<chart>") && !svg.contains("<x>") && !svg.contains("d & m"));
        assert_eq!(svg.matches(r#"class="fbox f0""#).count(), 2, "one box per distinct x");
        assert!(svg.contains("3 values; min 1, q1 1.5, median 2, q3 2.5, max 3"), "{svg}");
        assert!(svg.contains(r#"class="fl f1""#), "the second trace is a line in the second colour");
        assert!(svg.contains("1970-01-01 00:00") && svg.contains("1970-01-02 00:00"));
        assert_eq!(svg, chart(&c, "a <chart>"), "the same figure draws the same bytes");
    }

    #[test]
    fn long_traces_are_thinned_and_labels_placed() {
        let n = 10 * MAX_DRAWN;
        let c = Chart {
            x_title: None,
            y_title: None,
            traces: vec![trace(TraceKind::Points, Xs::Numbers((0..n).map(|i| i as f64).collect()), vec![1.0; n])],
        };
        assert_eq!(chart(&c, "").matches("h0").count(), MAX_DRAWN);
        let c = Chart {
            x_title: None,
            y_title: None,
            traces: vec![trace(TraceKind::Bar, Xs::Labels(vec!["a".into(), "<b>".into()]), vec![1.0, -2.0])],
        };
        let svg = chart(&c, "");
        assert!(svg.contains(&esc("<b>: -2")) && !svg.contains("<b>"));
    }

    #[test]
    fn batchwise_bars_stack_in_time_order_with_their_colours() {
        let b = Bars {
            x_title: Some("Time".into()),
            y_title: None,
            stacked: true,
            categories: vec![
                BarsCategory { name: "PASSED".into(), color: Some("#7CA0FB".into()), points: vec![(2_000, 4.0), (1_000, 3.0)] },
                BarsCategory { name: "BLOCKER".into(), color: None, points: vec![(2_000, 0.0), (1_000, 1.0)] },
            ],
        };
        let svg = bars(&b, "statuses");
        assert_eq!(svg.matches(r##"fill="#7CA0FB""##).count(), 2);
        assert_eq!(svg.matches(r#"class="f1""#).count(), 1, "a zero is not drawn");
        let first = svg.find("PASSED 3").unwrap();
        assert!(first < svg.find("PASSED 4").unwrap(), "the earlier batch is drawn first");
        let l = legend(&[("<p>".into(), Some("#FA7070".into()))]);
        assert!(l.contains(&esc("<p>")) && !l.contains("<p>"));
    }
}
