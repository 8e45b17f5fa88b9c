//! `/`: every suite in one table, inactive ones folded away.

use super::format::rate;
use super::{Frame, PageError, Query, Timing, link, respond, svg};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::overview::{SuiteRow, overview};
use verdict_core::range::parse_selection;

pub struct Row {
    pub slug: String,
    pub name: String,
    pub href: String,
    pub tests: i64,
    pub runs: i64,
    pub runs_chart: String,
    pub reliability: String,
    pub thin: bool,
    pub flaky: i64,
    pub broken: i64,
    pub last_run: Option<super::frame::RunBadge>,
    pub last_upload: Option<super::frame::When>,
}

pub struct Group {
    pub folded: bool,
    pub rows: Vec<Row>,
}

#[derive(askama::Template)]
#[template(path = "overview.html")]
struct OverviewHtml {
    frame: Frame,
    window: String,
    windows: Vec<super::Link>,
    /// Active suites, then (folded) the inactive ones.
    groups: Vec<Group>,
    empty: bool,
    public_url: String,
}

fn row(r: &SuiteRow, view: &verdict_analysis::pages::View, now: chrono::DateTime<chrono::Utc>) -> Row {
    let mut v = view.clone();
    v.branch = r.suite.default_branch.clone();
    let base = format!("/s/{}", super::format::encode(&r.suite.slug, false));
    Row {
        href: link(&base, &v, &[]),
        slug: r.suite.slug.clone(),
        name: r.suite.name.clone(),
        tests: r.tests,
        runs: r.runs,
        runs_chart: svg::spark_bars(&r.runs_per_bucket, &format!("{} runs in the window", r.runs)),
        reliability: rate(&r.run_reliability),
        thin: super::format::is_thin(&r.run_reliability),
        flaky: r.flaky,
        broken: r.broken,
        last_run: r.last_run.as_ref().map(|p| super::frame::RunBadge::new(p, link(&format!("{base}/runs/{}", p.id), &v, &[]), now)),
        last_upload: r.last_upload.map(|t| super::frame::When::new(t, now)),
    }
}

pub async fn page(State(state): State<AppState>, axum::extract::Query(q): Query) -> Result<Response, PageError> {
    let mut timing = Timing::start();
    let sel = parse_selection(|k| q.get(k).map(String::as_str), super::now_ms())?;
    // Each suite is shown on its own default branch: the view's branch is `*`.
    let view = verdict_analysis::pages::span_view(&sel, "*".into())
        .ok_or_else(|| PageError::bad("query parameter runs: the overview takes window, or from and to"))?;
    let o = overview(state.store.as_ref(), view.clone(), super::now_ms()).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let window = view.window.clone().unwrap_or_else(|| "14d".into());
    let windows = verdict_core::range::WINDOWS
        .iter()
        .map(|d| super::Link { label: format!("{d}d"), href: format!("/?window={d}d"), on: window == format!("{d}d") })
        .collect();
    let frame = Frame::new("Suites")
        .twin("overview", format!("/api/v1/overview?window={window}"))
        .cli("verdict suite list")
        .served(state.store.backend(), &timing);
    let html = OverviewHtml {
        frame,
        windows,
        empty: o.suites.is_empty() && o.inactive.is_empty(),
        groups: [(false, &o.suites), (true, &o.inactive)]
            .into_iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|(folded, rows)| Group { folded, rows: rows.iter().map(|r| row(r, &o.view, now)).collect() })
            .collect(),
        window,
        public_url: state.config.public_url.clone(),
    };
    Ok(respond(&html, &timing))
}
