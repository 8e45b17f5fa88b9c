//! What every page shares (`templates/base.html`): breadcrumb, the suite's
//! sections, the branch and window controls, and a footer that links each
//! JSON twin and names the CLI command.

use super::{assets, format, link};
use verdict_analysis::pages::View;

#[derive(Debug, Clone)]
pub struct Link {
    pub label: String,
    pub href: String,
    /// The current choice (a window, a section).
    pub on: bool,
}

impl Link {
    pub fn new(label: impl Into<String>, href: impl Into<String>) -> Self {
        Link { label: label.into(), href: href.into(), on: false }
    }
}

/// The branch picker and window links, as a GET form that keeps the page's
/// other parameters.
#[derive(Debug, Clone)]
pub struct Controls {
    pub action: String,
    pub branch: String,
    /// Branches with runs in the view, then `*`.
    pub branches: Vec<String>,
    pub windows: Vec<Link>,
    /// `runs=` as given, or empty.
    pub runs: String,
    /// Other parameters of the page, kept as hidden fields.
    pub hidden: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Frame {
    pub title: String,
    pub crumbs: Vec<Link>,
    pub sections: Vec<Link>,
    pub controls: Option<Controls>,
    /// Test search of the suite (`/s/{suite}/tests?q=`), when in a suite.
    pub search: Option<(String, Vec<(String, String)>)>,
    pub twins: Vec<Link>,
    pub cli: Option<String>,
    pub store: &'static str,
    pub version: &'static str,
    pub css: String,
    pub js: String,
    pub query_ms: String,
}

impl Frame {
    pub fn new(title: impl Into<String>) -> Self {
        Frame {
            title: title.into(),
            crumbs: vec![Link::new("Suites", "/")],
            sections: Vec::new(),
            controls: None,
            search: None,
            twins: Vec::new(),
            cli: None,
            store: "",
            version: env!("CARGO_PKG_VERSION"),
            css: assets::href("verdict.css"),
            js: assets::href("verdict.js"),
            query_ms: String::new(),
        }
    }

    /// A page inside a suite: its crumb, its sections and the test search.
    pub fn in_suite(mut self, slug: &str, name: &str, view: &View, section: &str) -> Self {
        let base = format!("/s/{}", format::encode(slug, false));
        self.crumbs.push(Link::new(name, link(&base, view, &[])));
        self.sections = [
            ("summary", "Summary", base.clone()),
            ("runs", "Runs", format!("{base}/runs")),
            ("tests", "Tests", format!("{base}/tests")),
            ("flaky", "Flaky", format!("{base}/flaky")),
            ("failures", "Failures", format!("{base}/failures")),
            ("report", "Report", format!("{base}/report")),
            ("webhooks", "Webhooks", format!("{base}/webhooks")),
        ]
        .into_iter()
        .map(|(key, label, path)| Link { label: label.into(), href: link(&path, view, &[]), on: key == section })
        .collect();
        let keep = super::view_pairs(view).into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self.search = Some((format!("{base}/tests"), keep));
        self
    }

    /// The branch picker and window links for `action`, keeping `hidden`.
    pub fn with_controls(mut self, action: &str, view: &View, branches: &[(String, i64)], hidden: &[(&str, &str)]) -> Self {
        let mut names: Vec<String> = branches.iter().map(|(b, _)| b.clone()).collect();
        if view.branch != "*" && !names.contains(&view.branch) {
            names.insert(0, view.branch.clone());
        }
        names.push("*".into());
        let extra: Vec<(&str, &str)> = hidden.to_vec();
        let windows = verdict_core::range::WINDOWS
            .iter()
            .map(|d| {
                let w = format!("{d}d");
                let mut pairs: Vec<(&str, &str)> = vec![("branch", view.branch.as_str()), ("window", w.as_str())];
                pairs.extend(extra.iter().copied());
                Link { on: view.window.as_deref() == Some(w.as_str()), href: format!("{action}{}", format::query(&pairs)), label: w }
            })
            .collect();
        self.controls = Some(Controls {
            action: action.to_owned(),
            branch: view.branch.clone(),
            branches: names,
            windows,
            runs: view.runs.map(|n| n.to_string()).unwrap_or_default(),
            hidden: hidden.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        });
        self
    }

    pub fn crumb(mut self, label: impl Into<String>, href: impl Into<String>) -> Self {
        self.crumbs.push(Link::new(label, href));
        self
    }

    pub fn twin(mut self, label: impl Into<String>, href: impl Into<String>) -> Self {
        self.twins.push(Link::new(label, href));
        self
    }

    pub fn cli(mut self, command: impl Into<String>) -> Self {
        self.cli = Some(command.into());
        self
    }

    /// The store kind and the time the page's reads took, for the footer.
    pub fn served(mut self, store: &'static str, timing: &super::Timing) -> Self {
        self.store = store;
        self.query_ms = format!("{:.1} ms", timing.query_ms());
        self
    }
}

/// A time as a page shows it: relative, with the UTC time on hover.
#[derive(Debug, Clone)]
pub struct When {
    pub ago: String,
    pub utc: String,
    pub iso: String,
}

impl When {
    pub fn new(t: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Self {
        When { ago: format::ago(t, now), utc: format::utc(t), iso: format::iso(t) }
    }
}

/// The letter of an outcome or run class, never shown by colour alone.
pub fn letter(class: &str) -> &'static str {
    match class {
        "passed" => "P",
        "failed" => "F",
        "flaky" => "K",
        "skipped" => "S",
        "absent" => "·",
        _ => "?",
    }
}

/// A run as a badge: its class letter, number and when.
#[derive(Debug, Clone)]
pub struct RunBadge {
    pub class: &'static str,
    pub letter: &'static str,
    pub number: String,
    pub href: String,
    pub ago: String,
    pub utc: String,
    pub iso: String,
}

impl RunBadge {
    pub fn new(p: &verdict_analysis::pages::suite::RunPoint, href: String, now: chrono::DateTime<chrono::Utc>) -> Self {
        let when = When::new(p.created_at, now);
        let class = p.class.as_str();
        RunBadge {
            class,
            letter: letter(class),
            number: p.number.clone().unwrap_or_else(|| p.id.to_string()),
            href,
            ago: when.ago,
            utc: when.utc,
            iso: when.iso,
        }
    }
}
