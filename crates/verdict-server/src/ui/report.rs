//! `/s/{suite}/report?branch=&from=&to=`: the native test-suite report over
//! the page's branch and range (what ReSim's default report metrics show,
//! from the store), and `/reports/{id}`: a stored report, as a redirect to
//! that page over its window with `report=` naming it, so the page adds the
//! metrics its report-metrics program wrote (`verdict report run`). JSON
//! twins: `/api/v1/suites/{suite}/report` and `/api/v1/reports/{id}`.

use super::format::{self, encode};
use super::program_metrics::{self, ProgramBlock};
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
    pub memory: String,
    pub cpu: String,
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

/// The stored report a page shows (`report=`), with its program's metrics.
pub struct StoredLine {
    pub id: String,
    pub name: String,
    pub created: String,
    /// The report's window (bounds exclusive, as ReSim's).
    pub window: String,
    pub status: String,
    pub class: &'static str,
    pub stored: String,
    pub count: usize,
    pub blocks: Vec<ProgramBlock>,
    pub cli: String,
}

/// A stored report in the page's list.
pub struct ListedReport {
    pub href: String,
    pub name: String,
    pub branch: String,
    pub window: String,
    pub created: String,
    pub status: String,
    pub class: &'static str,
}

#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportHtml {
    frame: Frame,
    stored: Option<StoredLine>,
    listed: Vec<ListedReport>,
    name: String,
    branch: String,
    report: NativeReport,
    statuses: String,
    durations: String,
    /// Memory and CPU per run (empty without pytest-monitor samples).
    resources: String,
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
    let (id, from, to) = (r.id.to_string(), t(r.start_ms + 1), t(r.end_ms));
    // A window longer than a page's range is still the report's: the page
    // reads it from the report (`report=`), the controls show their default.
    let fits = r.end_ms - r.start_ms - 1 <= verdict_core::range::MAX_RANGE_DAYS * 86_400_000;
    let pairs: Vec<(&str, &str)> = if fits {
        vec![("branch", r.branch_name.as_str()), ("from", &from), ("to", &to), ("report", &id)]
    } else {
        vec![("branch", r.branch_name.as_str()), ("report", &id)]
    };
    format!("/s/{}/report{}", encode(slug, false), format::query(&pairs))
}

pub async fn stored(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let store = state.store.as_ref();
    let p = resim::Project::of(store).await?;
    let r = resim::report(store, &p, &id).await?;
    let suite = crate::twins::suite_by_id(&state, r.suite_id).await?;
    Ok((StatusCode::FOUND, [(header::LOCATION, page_path(&suite.slug, &r))]).into_response())
}

/// The report `report=` names, which must be of this suite, and its program's metrics.
async fn stored_line(state: &AppState, suite_id: i64, id: &str) -> Result<(StoredLine, ReportView), PageError> {
    let store = state.store.as_ref();
    let p = resim::Project::of(store).await?;
    let r = resim::report(store, &p, id).await?;
    if r.suite_id != suite_id {
        return Err(PageError::not_found(format!("report {id} is of another suite")));
    }
    let metrics = resim::program_metrics(store, &p, &r).await?;
    let status = r.metrics_status.clone().unwrap_or_else(|| "NO_STATUS_REPORTED".into());
    let line = StoredLine {
        id: r.id.to_string(),
        name: format::cut(&r.name, NAME_CHARS),
        created: at(r.created_ms),
        window: format!("{} to {}", at(r.start_ms), at(r.end_ms)),
        class: program_metrics::status_class(&status),
        status,
        stored: r.metrics_at_ms.map(at).unwrap_or_default(),
        count: metrics.as_ref().map_or(0, |m| m.metrics.len()),
        blocks: metrics.as_ref().map(program_metrics::blocks).unwrap_or_default(),
        cli: format!(
            "verdict report run {} -- python -m resim.metrics.default_report_metrics --report-config {{config}} --output-path {{output}}",
            r.id
        ),
    };
    Ok((line, r))
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, mut timing, query, .. } = page;
    let range = view.run_range(suite.id);
    // A stored report is shown over its own window, whatever the range controls say.
    let (stored, window) = match query.text("report") {
        Some(id) => {
            let (line, r) = stored_line(&state, suite.id, &id).await?;
            (Some(line), reports::window_of(&r))
        }
        None => (None, crate::twins::report_window(&suite, &view)),
    };
    let project = resim::Project::of(state.store.as_ref()).await?;
    let (report, branches, listed) = tokio::join!(
        reports::native(state.store.as_ref(), &window),
        state.store.dashboard().branches(&range),
        resim::suite_reports(state.store.as_ref(), &project, suite.id)
    );
    let (report, branches) = (report?, branches?);
    let listed = listed?
        .iter()
        .map(|r| {
            let status = r.metrics_status.clone().unwrap_or_else(|| "no program run".into());
            ListedReport {
                href: page_path(&suite.slug, r),
                name: format::cut(&r.name, NAME_CHARS),
                branch: format::cut(&r.branch_name, NAME_CHARS),
                window: format!("{} to {}", at(r.start_ms), at(r.end_ms)),
                created: at(r.created_ms),
                class: program_metrics::status_class(&status),
                status,
            }
        })
        .collect();
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
            memory: b.p50_memory_mb.map_or_else(|| "–".into(), |v| format!("{v:.1} MB")),
            cpu: b.p50_cpu_percent.map_or_else(|| "–".into(), |v| format!("{v:.0}%")),
        })
        .collect();
    // pytest-monitor's resources per run, where its samples are linked to the runs' jobs.
    let sampled = report.batches.iter().any(|b| b.p50_memory_mb.is_some());
    // Each run's column says its own figure (not the duration chart's), and marks no failures.
    let resource_chart = |values: Vec<Option<f64>>, unit: &str, desc: &str| {
        let columns: Vec<svg::Column> = report
            .batches
            .iter()
            .zip(&values)
            .map(|(b, v)| svg::Column {
                title: format!(
                    "run {}: {}",
                    format::cut(&b.name, NAME_CHARS),
                    v.map_or_else(|| "no samples".to_owned(), |v| format!("median {v:.1} {unit}"))
                ),
                href: Some(link(&format!("{base}/runs/{}", b.run_id), &view, &[])),
                marked: false,
            })
            .collect();
        svg::points_chart(&[], &[svg::Line { class: "p50", values }], &columns, 120, unit, desc)
    };
    let resources = if sampled {
        format!(
            "{}{}",
            resource_chart(report.batches.iter().map(|b| b.p50_memory_mb).collect(), "MB", "median memory of the run's sampled tests (MB)"),
            resource_chart(
                report.batches.iter().map(|b| b.p50_cpu_percent).collect(),
                "%",
                "median CPU of the run's sampled tests (% of wall time)"
            )
        )
    } else {
        String::new()
    };
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
    let mut frame = Frame::new(format!("Report · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "report")
        .crumb("Report", link(&path, &view, &[]))
        .with_controls(&path, &view, &branches, &[])
        .twin("report", link(&format!("/api/v1/suites/{}/report", encode(&suite.slug, false)), &view, &[]))
        .twin("stored reports", format!("/api/v1/suites/{}/reports", encode(&suite.slug, false)));
    frame = match &stored {
        Some(s) => frame.twin("stored report and its metrics", format!("/api/v1/reports/{}", s.id)).cli(s.cli.clone()),
        None => frame.cli(format!("verdict report create --suite {} --branch {}", suite.slug, view.branch)),
    };
    let frame = frame.served(state.store.backend(), &timing);
    let tests_more = report.experiences.len().saturating_sub(TESTS_SHOWN);
    let html = ReportHtml {
        frame,
        stored,
        listed,
        name: suite.name.clone(),
        branch: view.branch.clone(),
        report,
        statuses,
        durations,
        resources,
        batches,
        tests,
        tests_more,
        metrics,
        boxes,
    };
    Ok(respond(&html, &timing))
}
