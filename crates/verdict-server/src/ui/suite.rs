//! `/s/{suite}`: the suite summary.

use super::format::{self, count_delta, encode, rate, rate_delta};
use super::frame::{RunBadge, letter};
use super::{Frame, PageError, link, respond, svg};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::View;
use verdict_analysis::pages::suite::{RunClass, SuiteSummary, suite_summary};
use verdict_analysis::pages::tests::TestRow;
use verdict_store::dashboard::RunRange;

pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub delta: String,
    pub chart: String,
    pub json: &'static str,
    pub title: &'static str,
    pub thin: bool,
}

pub struct TopRow {
    pub href: String,
    pub scope: String,
    pub name: String,
    pub cols: Vec<String>,
}

pub struct RecentRun {
    pub badge: RunBadge,
    pub branch: String,
    pub commit: String,
    pub commit_href: Option<String>,
    pub message: String,
    pub counts: String,
    pub ci: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "suite.html")]
struct SuiteHtml {
    frame: Frame,
    name: String,
    slug: String,
    branch: String,
    default_branch: String,
    cards: Vec<Card>,
    outcomes: String,
    run_time: String,
    size: String,
    infra: i64,
    /// (label, count, JSON path) of what changed since the range before.
    changes: Vec<(&'static str, i64, &'static str)>,
    tops: Vec<(&'static str, Vec<&'static str>, Vec<TopRow>, String)>,
    recent: Vec<RecentRun>,
    /// No run at all in the suite: the upload commands instead of charts.
    never: bool,
    /// No run in this view (but some elsewhere).
    none_here: bool,
    wider: Vec<super::Link>,
    public_url: String,
}

fn card_count(label: &'static str, k: &verdict_analysis::pages::CountKpi, json: &'static str, title: &'static str) -> Card {
    Card {
        label,
        value: k.value.to_string(),
        delta: format!("{} vs the range before", count_delta(k.value, k.previous)),
        chart: svg::spark_bars(&k.series, label),
        json,
        title,
        thin: false,
    }
}

fn card_rate(label: &'static str, k: &verdict_analysis::pages::RateKpi, json: &'static str, title: &'static str) -> Card {
    Card {
        label,
        value: rate(&k.value),
        delta: format!("{} vs the range before", rate_delta(&k.value, &k.previous)),
        chart: svg::spark_line(&k.series, label),
        json,
        title,
        thin: format::is_thin(&k.value),
    }
}

fn bucket_title(start: chrono::DateTime<chrono::Utc>, end: chrono::DateTime<chrono::Utc>) -> String {
    format!("{} – {}", format::utc(start), format::utc(end))
}

fn charts(s: &SuiteSummary, runs_path: &str) -> (String, String, String) {
    let range_link = |start, end| {
        let (from, to) = (format::iso(start), format::iso(end));
        format!("{runs_path}{}", format::query(&[("branch", s.view.branch.as_str()), ("from", &from), ("to", &to)]))
    };
    let stacks: Vec<svg::Stack> = s
        .buckets
        .iter()
        .map(|b| svg::Stack {
            passed: b.passed,
            flaky: b.flaky,
            failed: b.failed,
            other: b.pending,
            rate: b.reliability,
            title: format!(
                "{}: {} passed, {} passed only with flakes, {} failed, {} pending; run reliability {}",
                bucket_title(b.start, b.end),
                b.passed,
                b.flaky,
                b.failed,
                b.pending,
                rate(&b.reliability)
            ),
            href: Some(range_link(b.start, b.end)),
        })
        .collect();
    let total: i64 = s.buckets.iter().map(|b| b.passed + b.flaky + b.failed + b.pending).sum();
    let outcomes = svg::stacked_bars(
        &stacks,
        "runs",
        &format!("{total} runs; stacks: passed, passed with flakes, failed; line: run reliability with its 95% band"),
    );
    let span = (s.view.until_ms - s.view.since_ms).max(1) as f64;
    let mut sets: Vec<svg::Points> =
        ["o-pass", "o-flaky", "o-fail", "o-skip"].iter().map(|c| svg::Points { class: c, xy: Vec::new() }).collect();
    let xy: Vec<(f64, f64)> = s.runs.iter().map(|r| ((r.created_at.timestamp_millis() - s.view.since_ms) as f64, r.test_seconds)).collect();
    let keep = verdict_core::reduce::min_max_buckets(&xy, 0.0, span, svg::WIDTH as u32);
    for i in keep {
        let set = match s.runs[i].class {
            RunClass::Passed => 0,
            RunClass::Flaky => 1,
            RunClass::Failed => 2,
            RunClass::Pending => 3,
        };
        sets[set].xy.push((xy[i].0 / span, xy[i].1));
    }
    let columns: Vec<svg::Column> = s
        .buckets
        .iter()
        .map(|b| svg::Column {
            title: format!(
                "{}: p50 {}, p95 {} of summed test time",
                bucket_title(b.start, b.end),
                format::seconds(b.p50_seconds),
                format::seconds(b.p95_seconds)
            ),
            href: Some(range_link(b.start, b.end)),
            marked: b.failed > 0,
        })
        .collect();
    let lines = [
        svg::Line { class: "p50", values: s.buckets.iter().map(|b| b.p50_seconds).collect() },
        svg::Line { class: "p95", values: s.buckets.iter().map(|b| b.p95_seconds).collect() },
    ];
    let run_time = svg::points_chart(
        &sets,
        &lines,
        &columns,
        svg::HEIGHT,
        "s",
        &format!("{} runs: summed test seconds per run, p50 and p95 per bucket", s.runs.len()),
    );
    let size_cols: Vec<svg::Column> = s
        .buckets
        .iter()
        .map(|b| svg::Column { title: format!("{}: {} tests", bucket_title(b.start, b.end), b.tests), href: None, marked: false })
        .collect();
    let size_line = [svg::Line { class: "p50", values: s.buckets.iter().map(|b| (b.tests > 0).then_some(b.tests as f64)).collect() }];
    let size = svg::points_chart(&[], &size_line, &size_cols, 120, "tests", "tests per run, the largest run of each bucket");
    (outcomes, run_time, size)
}

fn top_rows(rows: &[TestRow], base: &str, view: &View, cols: impl Fn(&TestRow) -> Vec<String>) -> Vec<TopRow> {
    rows.iter()
        .map(|r| TopRow {
            href: link(&format!("{base}/tests/{}", r.test.id), view, &[]),
            scope: r.test.scope.clone(),
            name: format::cut(&r.test.name, 160),
            cols: cols(r),
        })
        .collect()
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, query: _, id: _, mut timing } = page;
    let store = state.store.as_ref();
    let any = RunRange { suite_id: suite.id, branch: None, since_ms: i64::MIN, until_ms: i64::MAX };
    let never = store.dashboard().run_series(&any, 1).await?.is_empty();
    let s = suite_summary(store, suite, view).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let base = format!("/s/{}", encode(&s.suite.slug, false));
    let runs_path = format!("{base}/runs");
    let (outcomes, run_time, size) = charts(&s, &runs_path);
    let k = &s.kpis;
    let cards = vec![
        card_count(
            "Flaky tests",
            &k.flaky_tests,
            "kpis.flaky_tests.value",
            "Tests that passed and failed inside one run, retries included",
        ),
        card_count("Tests", &k.tests, "kpis.tests.value", "Distinct tests that ran"),
        card_rate(
            "Run reliability",
            &k.run_reliability,
            "kpis.run_reliability.value.rate",
            "Passed runs ÷ finished runs; a run with any failed execution is failed, even when a retry passed",
        ),
        card_count("Runs", &k.runs, "kpis.runs.value", "Runs in the range"),
        card_count("Failed runs", &k.failed_runs, "kpis.failed_runs.value", "Runs with a failed execution"),
        card_rate(
            "Execution reliability",
            &k.execution_reliability,
            "kpis.execution_reliability.value.rate",
            "Passed executions ÷ passed and failed executions, attempts included",
        ),
    ];
    let all = |sort: &str| link(&format!("{base}/tests"), &s.view, &[("sort", sort)]);
    let tops = vec![
        (
            "Most failing",
            vec!["failed runs", "failure rate"],
            top_rows(&s.most_failing, &base, &s.view, |r| vec![format!("{} / {}", r.failed_runs, r.runs), rate(&r.failure_rate)]),
            all("failing"),
        ),
        (
            "Most flaky",
            vec!["flaky runs", "flake rate"],
            top_rows(&s.most_flaky, &base, &s.view, |r| vec![format!("{} / {}", r.flaky_runs, r.runs), rate(&r.flake_rate)]),
            // The flaky page ranks them with their kept state, rule and interval.
            link(&format!("{base}/flaky"), &s.view, &[]),
        ),
        (
            "Slowest",
            vec!["p50", "p95", "executions", "total time"],
            top_rows(&s.slowest, &base, &s.view, |r| {
                vec![format::seconds(r.p50), format::seconds(r.p95), r.executions.to_string(), format::seconds(Some(r.total_seconds))]
            }),
            all("total"),
        ),
    ];
    let recent = s
        .recent_runs
        .iter()
        .map(|r| RecentRun {
            badge: RunBadge::new(r, link(&format!("{base}/runs/{}", r.id), &s.view, &[]), now),
            branch: r.branch.clone().unwrap_or_default(),
            commit: r.commit_sha.as_deref().map(format::short_sha).unwrap_or_default(),
            commit_href: format::fill_template(s.suite.commit_url.as_deref(), r.commit_sha.as_deref(), None, None),
            message: format::first_line(r.message.as_deref().unwrap_or(""), 80),
            counts: format!(
                "{} {} · {} {} · {} {} · {} {}",
                letter("passed"),
                r.tests.passed,
                letter("flaky"),
                r.tests.flaky,
                letter("failed"),
                r.tests.failed,
                letter("skipped"),
                r.tests.skipped
            ),
            ci: format::external(r.url.as_deref()),
        })
        .collect();
    let wider = vec![
        super::Link::new("90 days", link(&base, &s.view, &[("window", "90d")])),
        super::Link::new("all branches", link(&base, &s.view, &[("branch", "*")])),
    ];
    let twin = link(&format!("/api/v1/suites/{}/summary", encode(&s.suite.slug, false)), &s.view, &[]);
    let frame = Frame::new(s.suite.name.clone())
        .in_suite(&s.suite.slug, &s.suite.name, &s.view, "summary")
        .with_controls(&base, &s.view, &s.branches, &[])
        .twin("summary", twin)
        .twin("runs", link(&format!("/api/v1/suites/{}/runs", encode(&s.suite.slug, false)), &s.view, &[]))
        .cli(format!("verdict compare --suite {} --basis 28d..14d --sample 14d", s.suite.slug))
        .served(state.store.backend(), &timing);
    let html = SuiteHtml {
        frame,
        name: s.suite.name.clone(),
        slug: s.suite.slug.clone(),
        branch: s.view.branch.clone(),
        default_branch: s.suite.default_branch.clone(),
        cards,
        outcomes,
        run_time,
        size,
        infra: s.infra_failures,
        changes: vec![
            ("newly failing", s.changes.newly_failing, "changes.newly_failing"),
            ("fixed", s.changes.fixed, "changes.fixed"),
            ("new tests", s.changes.new_tests, "changes.new_tests"),
            ("gone tests", s.changes.gone_tests, "changes.gone_tests"),
        ],
        tops,
        recent,
        never,
        none_here: s.runs.is_empty(),
        wider,
        public_url: state.config.public_url.clone(),
    };
    Ok(respond(&html, &timing))
}
