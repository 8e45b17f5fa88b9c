//! `/s/{suite}/aggregate` and `/s/{suite}/compare`: can this ship?

use super::format::{self, encode};
use super::svg;
use super::{Frame, PageError, Query, Timing, respond, suite_or_404};
use crate::AppState;
use axum::extract::{Path, State};
use axum::response::Response;
use verdict_analysis::pages::readiness::{AggregateTest, aggregate_page, compare_page};
use verdict_core::aggregation::{StillNeeded, threshold_table};
use verdict_core::decision::Status as DecisionStatus;
use verdict_core::readiness::Status;

pub struct BatchLink {
    pub job: String,
    pub payload: String,
    pub runs: usize,
    pub latest: String,
    pub href: String,
}

pub struct JudgedRow {
    pub class: &'static str,
    pub status: &'static str,
    pub scope: String,
    pub name: String,
    pub passes: String,
    pub working: String,
    pub required: String,
    pub p_value: String,
    pub still_needed: String,
    pub summary: String,
    /// Failing and borderline tests: passes against required passes of N.
    pub bullet: Option<String>,
    /// Failing and borderline tests: the p-value of every pass count.
    pub threshold: Vec<ThresholdLine>,
    pub threshold_href: String,
}

pub struct ThresholdLine {
    pub passes: u32,
    pub p_value: String,
    pub verdict: &'static str,
    pub worse: bool,
    pub observed: bool,
}

#[derive(askama::Template)]
#[template(path = "aggregate.html")]
struct AggregateHtml {
    frame: Frame,
    batches: Vec<BatchLink>,
    job: String,
    payload: String,
    min_attempts: u32,
    expected: String,
    runs_href: String,
    verdict: Option<(bool, usize, usize)>,
    rows: Vec<JudgedRow>,
}

fn decision_label(s: DecisionStatus) -> (&'static str, &'static str) {
    match s {
        DecisionStatus::Passed => ("passed", "passed"),
        DecisionStatus::Failed => ("failed", "failed"),
        DecisionStatus::Skipped => ("skipped", "skipped"),
    }
}

fn still_needed_text(s: Option<StillNeeded>) -> String {
    match s {
        None => String::new(),
        Some(StillNeeded::Met) => "has the passes it needs".into(),
        Some(StillNeeded::Needs { passes, runs }) => {
            format!("needs {passes} more {} in {}", word(passes, "pass", "passes"), count(runs, "run"))
        }
        Some(StillNeeded::CannotPass { passes, runs }) => {
            format!("can no longer pass: needs {passes} more {}, {} left", word(passes, "pass", "passes"), count(runs, "run"))
        }
    }
}

fn word<'a>(n: u32, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

fn count(n: u32, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Rows that get a bullet chart and a threshold table: the failed and the
/// borderline (passed with failures), at most this many, to bound the page.
const EXPLAINED_ROWS: usize = 50;

fn judged_row(t: &AggregateTest, explain: bool) -> JudgedRow {
    let d = &t.judged.decision;
    let (class, status) = decision_label(d.status);
    let table = t
        .judged
        .decision
        .history_percentage
        .filter(|_| explain && d.attempts > 0 && (d.status == DecisionStatus::Failed || d.failures > 0))
        .and_then(|wp| threshold_table(d.attempts, wp).ok());
    let threshold = table.as_ref().map_or_else(Vec::new, |t| {
        t.rows
            .iter()
            .map(|r| ThresholdLine {
                passes: r.passes,
                p_value: format!("{:.4}", r.p_value),
                verdict: if r.passes_aggregation { "pass" } else { "fail" },
                worse: r.significantly_worse,
                observed: r.passes == d.passes,
            })
            .collect()
    });
    let bullet = table.as_ref().map(|tb| {
        svg::bullet(
            d.passes,
            tb.required,
            d.attempts,
            d.passes >= tb.required,
            &format!("{} passes of {} attempts; {} required", d.passes, d.attempts, tb.required),
        )
    });
    JudgedRow {
        class,
        status,
        scope: format::cut(&t.judged.suite, 200),
        name: format::cut(&t.judged.name, 200),
        passes: format!("{} / {}", d.passes, d.attempts),
        working: d.working_percentage.or(d.history_percentage).map_or("–".into(), |w| format!("{w}%")),
        required: d.required.map_or("–".into(), |r| r.to_string()),
        p_value: t.p_value.map_or("–".into(), |p| format!("{p:.4}")),
        still_needed: still_needed_text(t.still_needed),
        summary: format::cut(&d.summary, 300),
        threshold_href: table.as_ref().map_or_else(String::new, |tb| {
            format!("/api/v1/stats/required-passes?attempts={}&working_percentage={}", tb.attempts, tb.working_percentage)
        }),
        bullet,
        threshold,
    }
}

pub async fn aggregate(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::Query(q): Query,
) -> Result<Response, PageError> {
    let mut timing = Timing::start();
    let suite = suite_or_404(&state, &slug).await?;
    let ask = crate::twins::batch_query(&crate::params::Params(q))?;
    let min_attempts = ask.as_ref().map_or(verdict_core::decision::MINIMUM_ATTEMPTS, |a| a.minimum_attempts);
    let expected = ask.as_ref().and_then(|a| a.expected_runs).map_or_else(String::new, |e| e.to_string());
    let p = aggregate_page(state.store.as_ref(), suite, ask, super::now_ms()).await?;
    timing.queried();
    let base = format!("/s/{}", encode(&p.suite.slug, false));
    let path = format!("{base}/aggregate");
    let batches = p
        .batches
        .iter()
        .map(|b| BatchLink {
            href: format!("{path}{}", format::query(&[("job", &b.job), ("payload", &b.payload)])),
            job: b.job.clone(),
            payload: b.payload.clone(),
            runs: b.runs,
            latest: format::utc(b.latest),
        })
        .collect();
    let rows =
        p.verdict.as_ref().map_or_else(Vec::new, |v| v.tests.iter().enumerate().map(|(i, t)| judged_row(t, i < EXPLAINED_ROWS)).collect());
    let (job, payload) = p.verdict.as_ref().map_or((String::new(), String::new()), |v| (v.job.clone(), v.payload.clone()));
    let batch =
        [("job", job.as_str()), ("payload", payload.as_str()), ("min_attempts", &min_attempts.to_string()), ("expected", &expected)];
    let twin = format!("/api/v1/suites/{}/batches{}", encode(&p.suite.slug, false), format::query(&batch));
    let runs_href = format!("{base}/runs{}", format::query(&[("job", &job), ("payload", &payload), ("branch", "*"), ("window", "28d")]));
    let mut frame = Frame::new(format!("Aggregate · {}", p.suite.name))
        .crumb(p.suite.name.clone(), base.clone())
        .crumb("Aggregate", path.clone())
        .twin("batches", twin);
    if !job.is_empty() {
        frame = frame
            .twin("verdict", format!("/api/v1/suites/{}/aggregate{}", encode(&p.suite.slug, false), format::query(&batch[..3])))
            .cli(format!("verdict aggregate --suite {} --job {job} --payload {payload}", p.suite.slug));
    }
    let html = AggregateHtml {
        frame: frame.served(state.store.backend(), &timing),
        batches,
        verdict: p.verdict.as_ref().map(|v| (v.passed, v.blocking_failures, v.runs)),
        job,
        payload,
        min_attempts,
        expected,
        runs_href,
        rows,
    };
    Ok(respond(&html, &timing))
}

/// Each verdict's mark, distinct in shape and not only colour.
fn status_mark(s: Status) -> (&'static str, &'static str, &'static str) {
    match s {
        Status::ExtremeRegression => ("failed", "✗✗", "extreme regression"),
        Status::SignificantRegression => ("failed", "✗", "significant regression"),
        Status::MissingSample => ("skipped", "◌", "missing sample"),
        Status::NotSignificant => ("passed", "✓", "not significant"),
        Status::MissingBasis => ("skipped", "○", "missing basis"),
        Status::MissingBasisAndSample => ("skipped", "∅", "missing basis and sample"),
        Status::SignificantImprovement => ("passed", "▲", "significant improvement"),
    }
}

pub struct ScopeRow {
    pub class: &'static str,
    pub mark: &'static str,
    pub label: &'static str,
    pub scope: String,
    pub href: String,
    pub tests: usize,
    pub regressed: usize,
    pub improved: usize,
}

pub struct ComparedRow {
    pub class: &'static str,
    pub mark: &'static str,
    pub label: &'static str,
    pub scope: String,
    pub name: String,
    pub basis: String,
    pub sample: String,
    pub p_value: String,
}

#[derive(askama::Template)]
#[template(path = "compare.html")]
struct CompareHtml {
    frame: Frame,
    basis: String,
    sample: String,
    confidence: String,
    pity: String,
    min_fail: String,
    scope: String,
    scopes: Vec<ScopeRow>,
    tests: Vec<ComparedRow>,
    regressed: usize,
    improved: usize,
    total: usize,
}

pub async fn compare(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    axum::extract::Query(q): Query,
) -> Result<Response, PageError> {
    let mut timing = Timing::start();
    let suite = suite_or_404(&state, &slug).await?;
    let ask = crate::twins::compare_query(&crate::params::Params(q))?;
    let (basis, sample) = (ask.basis.clone(), ask.sample.clone());
    let p = compare_page(state.store.as_ref(), suite, ask, super::now_ms())
        .await?
        .map_err(|m| PageError::bad(format!("query parameter {m}")))?;
    timing.queried();
    let base = format!("/s/{}", encode(&p.suite.slug, false));
    let path = format!("{base}/compare");
    let (confidence, pity, min_fail) = (p.confidence.to_string(), p.pity.to_string(), p.min_fail.to_string());
    let ask = |scope: &str| {
        format::query(&[
            ("basis", &basis),
            ("sample", &sample),
            ("confidence", &confidence),
            ("pity", &pity),
            ("min_fail", &min_fail),
            ("scope", scope),
        ])
    };
    let scopes = p
        .scopes
        .iter()
        .map(|c| {
            let (class, mark, label) = status_mark(c.worst);
            ScopeRow {
                class,
                mark,
                label,
                scope: format::cut(&c.scope, 200),
                href: format!("{path}{}", ask(&c.scope)),
                tests: c.tests,
                regressed: c.regressed,
                improved: c.improved,
            }
        })
        .collect();
    let counts = |c: &verdict_core::readiness::Counts, rate: Option<f64>| {
        format!("{} / {} ({})", c.success, c.success + c.failure + c.flake, rate.map_or("–".into(), |r| format!("{:.1}%", r * 100.0)))
    };
    let tests = p
        .tests
        .iter()
        .map(|t| {
            let (class, mark, label) = status_mark(t.comparison.status);
            ComparedRow {
                class,
                mark,
                label,
                scope: format::cut(&t.scope, 200),
                name: format::cut(&t.name, 200),
                basis: counts(&t.basis, t.comparison.basis_pass_rate),
                sample: counts(&t.sample, t.comparison.sample_pass_rate),
                p_value: t.comparison.p_value.map_or("–".into(), |p| format!("{p:.2e}")),
            }
        })
        .collect();
    let scope = p.scope.clone().unwrap_or_default();
    let query = ask(&scope);
    let defaults = verdict_core::readiness::Options::default();
    let mut cli = format!("verdict compare --suite {} --basis {basis} --sample {sample}", p.suite.slug);
    if p.confidence != defaults.confidence {
        cli += &format!(" --confidence {confidence}");
    }
    if p.pity != defaults.pity_factor {
        cli += &format!(" --pity {pity}");
    }
    if p.min_fail != defaults.minimum_failure {
        cli += &format!(" --min-fail {min_fail}");
    }
    let frame = Frame::new(format!("Compare · {}", p.suite.name))
        .crumb(p.suite.name.clone(), base.clone())
        .crumb("Compare", path.clone())
        .twin("compare", format!("/api/v1/suites/{}/compare{query}", encode(&p.suite.slug, false)))
        .cli(cli)
        .served(state.store.backend(), &timing);
    let html = CompareHtml {
        frame,
        basis,
        sample,
        confidence,
        pity,
        min_fail,
        scope,
        scopes,
        tests,
        regressed: p.regressed,
        improved: p.improved,
        total: p.total,
    };
    Ok(respond(&html, &timing))
}
