//! `/s/{suite}/report?branch=&from=&to=`: the native test-suite report over
//! the page's branch and range (what ReSim's default report metrics show,
//! from the store), and `/reports/{id}`: a stored report, as a redirect to
//! that page over its window. JSON twins: `/api/v1/suites/{suite}/report`
//! and `/api/v1/reports/{id}`.

use super::format::{self, encode};
use super::{Frame, PageError, link, respond, svg};
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use verdict_analysis::reports::{self, NativeReport};
use verdict_analysis::resim::{self, ReportView};

/// Characters of a test or run name shown (the whole name is on its own page).
const NAME_CHARS: usize = 160;
/// Tests listed in the per-test table (the most failing first).
const TESTS_SHOWN: usize = 50;

pub struct BatchLine {
    pub href: String,
    pub name: String,
    pub build: String,
    pub when: String,
    pub status: String,
    pub class: &'static str,
    pub passed: i64,
    pub warning: i64,
    pub blocker: i64,
    pub cancelled: i64,
    pub rate: String,
    pub p50: String,
    pub p95: String,
}

pub struct TestLine {
    pub href: String,
    pub name: String,
    pub passed: i64,
    pub warning: i64,
    pub blocker: i64,
    pub cancelled: i64,
}

pub struct MetricLine {
    pub name: String,
    pub unit: String,
    pub last: String,
    pub min: String,
    pub max: String,
    pub spark: String,
}

pub struct BoxLine {
    pub metric: String,
    pub build: String,
    pub when: String,
    pub jobs: usize,
    pub min: String,
    pub q1: String,
    pub median: String,
    pub q3: String,
    pub max: String,
}

#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportHtml {
    frame: Frame,
    name: String,
    branch: String,
    report: NativeReport,
    statuses: String,
    durations: String,
    batches: Vec<BatchLine>,
    tests: Vec<TestLine>,
    tests_more: usize,
    metrics: Vec<MetricLine>,
    boxes: Vec<BoxLine>,
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(format::utc).unwrap_or_default()
}

/// A job metric's value: seconds as durations, named numbers as they are.
fn value(v: f64, unit: Option<&str>) -> String {
    if unit == Some("s") { format::seconds(Some(v)) } else { number(v) }
}

fn number(v: f64) -> String {
    if v == v.round() && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v:.3}") }
}

/// The report page over a stored report's window (ReSim's bounds are
/// exclusive; the page's `from` is inclusive, so it starts 1 ms later).
pub fn page_path(slug: &str, r: &ReportView) -> String {
    let t = verdict_core::range::rfc3339_ms;
    let pairs = [("branch", r.branch_name.as_str()), ("from", &t(r.start_ms + 1)), ("to", &t(r.end_ms))];
    format!("/s/{}/report{}", encode(slug, false), format::query(&pairs))
}

pub async fn stored(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let store = state.store.as_ref();
    let p = resim::Project::of(store).await?;
    let r = resim::report(store, &p, &id).await?;
    let suite = crate::twins::suite_by_id(&state, r.suite_id).await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, page_path(&suite.slug, &r))]).into_response())
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, mut timing, .. } = page;
    let window = crate::twins::report_window(&suite, &view);
    let range = view.run_range(suite.id);
    let (report, branches) = tokio::join!(reports::native(state.store.as_ref(), &window), state.store.dashboard().branches(&range));
    let (report, branches) = (report?, branches?);
    timing.queried();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let stacks: Vec<svg::Stack> = report
        .batches
        .iter()
        .map(|b| svg::Stack {
            passed: b.statuses.passed,
            flaky: b.statuses.warning,
            failed: b.statuses.blocker,
            other: b.statuses.cancelled,
            rate: b.pass_rate,
            title: format!(
                "run {} (build {}, {}): {} passed, {} warning (flaked), {} blocker (failed), {} cancelled (skipped); pass rate {}",
                format::cut(&b.name, NAME_CHARS),
                format::short_sha(&b.build_version),
                at(b.build_ms),
                b.statuses.passed,
                b.statuses.warning,
                b.statuses.blocker,
                b.statuses.cancelled,
                format::rate(&b.pass_rate)
            ),
            href: Some(link(&format!("{base}/runs/{}", b.run_id), &view, &[])),
        })
        .collect();
    let statuses =
        svg::stacked_bars(&stacks, "tests", "tests per run by status, oldest build first, with the pass rate and its 95% interval");
    let columns: Vec<svg::Column> = report
        .batches
        .iter()
        .map(|b| svg::Column {
            title: format!("run {}: p50 {}, p95 {}", format::cut(&b.name, NAME_CHARS), format::seconds(b.p50_s), format::seconds(b.p95_s)),
            href: Some(link(&format!("{base}/runs/{}", b.run_id), &view, &[])),
            marked: b.statuses.blocker > 0,
        })
        .collect();
    let lines = [
        svg::Line { class: "p50", values: report.batches.iter().map(|b| b.p50_s).collect() },
        svg::Line { class: "p95", values: report.batches.iter().map(|b| b.p95_s).collect() },
    ];
    let durations = svg::points_chart(&[], &lines, &columns, 160, "s", "p50 and p95 test duration per run");
    let batches = report
        .batches
        .iter()
        .map(|b| BatchLine {
            href: link(&format!("{base}/runs/{}", b.run_id), &view, &[]),
            name: format::cut(&b.name, NAME_CHARS),
            build: format::short_sha(&b.build_version),
            when: at(b.build_ms),
            status: b.status.to_owned(),
            class: match b.status {
                "PASSED" => "passed",
                "WARNING" => "flaky",
                _ => "failed",
            },
            passed: b.statuses.passed,
            warning: b.statuses.warning,
            blocker: b.statuses.blocker,
            cancelled: b.statuses.cancelled,
            rate: format::rate(&b.pass_rate),
            p50: format::seconds(b.p50_s),
            p95: format::seconds(b.p95_s),
        })
        .collect();
    let tests = report
        .experiences
        .iter()
        .take(TESTS_SHOWN)
        .map(|t| TestLine {
            href: link(&format!("{base}/tests/{}", t.test_id), &view, &[]),
            name: format::cut(&t.name, NAME_CHARS),
            passed: t.counts.passed,
            warning: t.counts.warning,
            blocker: t.counts.blocker,
            cancelled: t.counts.cancelled,
        })
        .collect();
    let metrics = report
        .batch_metrics
        .iter()
        .map(|m| {
            let (lo, hi) = m.points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(_, v)| (lo.min(v), hi.max(v)));
            let span = if hi > lo { hi - lo } else { 1.0 };
            let scaled: Vec<Option<f64>> = m.points.iter().map(|&(_, v)| Some((v - lo) / span)).collect();
            MetricLine {
                name: m.name.clone(),
                unit: m.unit.unwrap_or("").to_owned(),
                last: m.points.last().map_or_else(String::new, |&(_, v)| number(v)),
                min: number(lo),
                max: number(hi),
                spark: svg::spark_line(&scaled, &format!("{} per run, from {} to {}", m.name, number(lo), number(hi))),
            }
        })
        .collect();
    let boxes = report
        .job_metrics
        .iter()
        .flat_map(|m| {
            m.by_build.iter().map(move |b| BoxLine {
                metric: if m.unit.is_some() { format!("{} ({})", m.name, m.unit.unwrap_or("")) } else { m.name.clone() },
                build: format::short_sha(&b.version),
                when: at(b.build_ms),
                jobs: b.jobs,
                min: value(b.min, m.unit),
                q1: value(b.q1, m.unit),
                median: value(b.median, m.unit),
                q3: value(b.q3, m.unit),
                max: value(b.max, m.unit),
            })
        })
        .collect();
    let path = format!("{base}/report");
    let frame = Frame::new(format!("Report · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "report")
        .crumb("Report", link(&path, &view, &[]))
        .with_controls(&path, &view, &branches, &[])
        .twin("report", link(&format!("/api/v1/suites/{}/report", encode(&suite.slug, false)), &view, &[]))
        .cli(format!("verdict report create --suite {} --branch {}", suite.slug, view.branch))
        .served(state.store.backend(), &timing);
    let tests_more = report.experiences.len().saturating_sub(TESTS_SHOWN);
    let html = ReportHtml {
        frame,
        name: suite.name.clone(),
        branch: view.branch.clone(),
        report,
        statuses,
        durations,
        batches,
        tests,
        tests_more,
        metrics,
        boxes,
    };
    Ok(respond(&html, &timing))
}
