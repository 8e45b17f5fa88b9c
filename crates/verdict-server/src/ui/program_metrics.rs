//! A stored report's program metrics (what `verdict report run` collected)
//! as blocks of the report page: scalars, text (markdown, with any HTML in
//! it shown as text and links and images reduced to their words), tables,
//! and figures drawn by `figures`; types Verdict does not draw are named.

use super::figures;
use verdict_formats::resim_metrics::{ProgramMetric, ProgramMetrics, Shown};

/// Characters of a text metric rendered; the rest is in the JSON twin.
const TEXT_CHARS: usize = 20_000;
/// Rows of a table shown; the JSON twin has up to `MAX_TABLE_ROWS`.
const TABLE_ROWS: usize = 50;

pub struct ProgramBlock {
    pub name: String,
    pub description: String,
    pub metric_type: String,
    pub status: String,
    pub class: &'static str,
    /// `scalar`, `html` (pre-rendered, escaped: text and figures), `table` or `none`.
    pub kind: &'static str,
    pub scalar: String,
    pub html: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub rows_more: usize,
    pub why: String,
}

/// Markdown as HTML, safely: raw HTML becomes text, links and images their text.
pub fn markdown(md: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let cut: String = md.chars().take(TEXT_CHARS).collect();
    let events = Parser::new_ext(&cut, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).filter_map(|e| match e {
        Event::Html(t) | Event::InlineHtml(t) => Some(Event::Text(t)),
        Event::Start(Tag::Link { .. } | Tag::Image { .. }) | Event::End(TagEnd::Link | TagEnd::Image) => None,
        e => Some(e),
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events);
    html
}

/// The badge class of a metric status.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "PASSED" => "passed",
        "FAIL_WARN" => "flaky",
        "FAIL_BLOCK" => "failed",
        _ => "unknown",
    }
}

fn block(m: &ProgramMetric) -> ProgramBlock {
    let mut b = ProgramBlock {
        name: m.name.clone(),
        description: m.description.clone(),
        metric_type: m.metric_type.clone(),
        status: m.status.clone(),
        class: status_class(&m.status),
        kind: "none",
        scalar: String::new(),
        html: String::new(),
        header: vec![],
        rows: vec![],
        rows_more: 0,
        why: String::new(),
    };
    let desc = if m.description.is_empty() { m.name.clone() } else { m.description.clone() };
    match &m.shown {
        Shown::Scalar { value, unit } => {
            b.kind = "scalar";
            b.scalar = format!(
                "{}{}",
                verdict_formats::resim_metrics::show_number(*value),
                unit.as_deref().map(|u| format!(" {u}")).unwrap_or_default()
            );
        }
        Shown::Text { markdown: md } => {
            b.kind = "html";
            b.html = format!(r#"<div class="md">{}</div>"#, markdown(md));
        }
        Shown::Table { header, rows, rows_total } => {
            b.kind = "table";
            b.header = header.clone();
            b.rows = rows.iter().take(TABLE_ROWS).cloned().collect();
            b.rows_more = rows_total - b.rows.len();
        }
        Shown::Chart(c) => {
            b.kind = "html";
            b.html = figures::chart(c, &desc);
            let named: Vec<(String, Option<String>)> =
                c.traces.iter().enumerate().map(|(i, t)| (t.name.clone().unwrap_or_else(|| format!("series {}", i + 1)), None)).collect();
            if named.len() > 1 {
                b.html.push_str(&figures::legend(&named));
            }
        }
        Shown::Bars(bars) => {
            b.kind = "html";
            b.html = figures::bars(bars, &desc);
            let named: Vec<(String, Option<String>)> = bars.categories.iter().map(|c| (c.name.clone(), c.color.clone())).collect();
            b.html.push_str(&figures::legend(&named));
        }
        Shown::NotShown { why } => b.why = format!("{}: {why}", m.metric_type),
    }
    b
}

/// The blocks a page shows: the metrics the program marked for display, in its order.
pub fn blocks(m: &ProgramMetrics) -> Vec<ProgramBlock> {
    m.metrics.iter().filter(|m| m.should_display).map(block).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_its_formatting_but_no_html_links_or_images() {
        let html = markdown("# Title\n\n**bold** <script>alert(1)</script> [x](javascript:alert(1)) ![i](http://e/i.png)\n\n- a\n- b");
        assert!(html.contains("<h1>Title</h1>") && html.contains("<strong>bold</strong>") && html.contains("<li>a</li>"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script"), "{html}");
        assert!(!html.contains("href") && !html.contains("<img") && !html.contains("javascript"), "{html}");
    }
}
