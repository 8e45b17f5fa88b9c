//! `/s/{suite}/runs/{run}`: one run, compared with the one before.

use super::format::{self, encode};
use super::frame::{When, letter};
use super::{Frame, PageError, link, respond};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::View;
use verdict_analysis::pages::run::{RunTestGroup, run_page};
use verdict_store::dashboard::RunOutcome;

pub struct TestLink {
    pub href: String,
    pub anchor: String,
    pub scope: String,
    pub name: String,
}

pub struct Group {
    pub key: &'static str,
    pub label: &'static str,
    pub count: usize,
    pub tests: Vec<TestLink>,
}

pub struct Failure {
    pub test: TestLink,
    pub reason: String,
}

pub struct Reason {
    pub pattern: String,
    pub tests: usize,
    pub count: usize,
    pub first: String,
    pub failures: Vec<Failure>,
}

/// One run of a row's history: its outcome as class and letter (the test
/// page's strip links each run; here, 100 rows of 10 links would be most
/// of the page's weight).
pub struct HistoryCell {
    pub class: &'static str,
    pub letter: &'static str,
}

pub struct Row {
    pub id: i64,
    pub class: &'static str,
    pub letter: &'static str,
    pub test: TestLink,
    pub location: Option<(String, Option<String>)>,
    pub attempts: String,
    pub attempts_title: String,
    pub duration: String,
    pub history: Vec<HistoryCell>,
    pub change: String,
    pub reason: String,
}

#[derive(askama::Template)]
#[template(path = "run.html")]
struct RunHtml {
    frame: Frame,
    number: String,
    class: &'static str,
    letter: &'static str,
    facts: Vec<(&'static str, String, Option<String>)>,
    counts: Vec<(&'static str, i64, &'static str, &'static str)>,
    metrics: Vec<(String, String)>,
    aggregate: Option<String>,
    infra: bool,
    /// The flaky analysis set it aside.
    set_aside: bool,
    compared: Option<(String, String)>,
    vs: String,
    groups: Vec<Group>,
    reasons: Vec<Reason>,
    reasons_truncated: bool,
    /// (link, title, failures) per cluster.
    causes: Vec<(String, String, i64)>,
    expand: bool,
    expand_href: String,
    rows: Vec<Row>,
    slowest: Vec<Row>,
    results: Vec<(&'static str, bool)>,
    q: String,
    total: usize,
    prev: Option<String>,
    next: Option<String>,
    page: usize,
}

fn test_link(base: &str, view: &View, run_id: i64, id: i64, scope: &str, name: &str) -> TestLink {
    TestLink {
        href: link(&format!("{base}/tests/{id}"), view, &[]),
        anchor: super::run_at_test(base, view, run_id, id),
        scope: scope.to_owned(),
        name: format::cut(name, 200),
    }
}

/// One test's row; `commit` fills the suite's file link template.
fn row(g: &RunTestGroup, base: &str, view: &View, run_id: i64, suite: &verdict_store::Suite, commit: Option<&str>) -> Row {
    let class = g.outcome.as_str();
    let (passed, failed) = g.attempts.iter().fold((0, 0), |(p, f), a| match a.outcome {
        verdict_core::Outcome::Passed => (p + 1, f),
        verdict_core::Outcome::Failed => (p, f + 1),
        _ => (p, f),
    });
    let others = g.attempts.len() - passed - failed;
    let mut attempts = Vec::new();
    if passed > 0 {
        attempts.push(format!("✓{passed}"));
    }
    if failed > 0 {
        attempts.push(format!("✗{failed}"));
    }
    if others > 0 {
        attempts.push(format!("·{others}"));
    }
    let attempts_title = g
        .attempts
        .iter()
        .map(|a| format!("attempt {}: {} {}", a.attempt, a.outcome, format::seconds(a.duration)))
        .collect::<Vec<_>>()
        .join("; ");
    let reason = g.attempts.iter().find_map(|a| a.reason.as_deref()).map(|r| format::first_line(r, 300)).unwrap_or_default();
    let location = format::code_place(g.file_name.as_deref(), g.location.as_deref(), suite.file_url.as_deref(), commit);
    Row {
        id: g.test.id,
        class,
        letter: letter(class),
        test: test_link(base, view, run_id, g.test.id, &g.test.scope, &g.test.name),
        location,
        attempts: attempts.join(" "),
        attempts_title,
        duration: format::seconds(g.duration),
        history: g
            .history
            .iter()
            .map(|c| {
                let class = c.outcome.map_or("absent", RunOutcome::as_str);
                HistoryCell { class, letter: letter(class) }
            })
            .collect(),
        change: g.change.map_or(String::new(), |c| c.replace('_', " ")),
        reason,
    }
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let run_id = page.id("run")?;
    let super::SuitePage { suite, view, query: params, id: _, mut timing } = page;
    let q = &params.0;
    let vs = crate::twins::vs(&params)?;
    let query = crate::twins::run_query(&params)?;
    let store = state.store.as_ref();
    let p = run_page(store, suite, run_id, &vs, query).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let suite = &p.suite;
    let base = format!("/s/{}", encode(&suite.slug, false));
    let run = &p.run.run;
    let env = &run.run_env;
    let number = env.number.clone().unwrap_or_else(|| run.id.to_string());
    let created = When::new(run.created_at, now);
    let facts = vec![
        ("Branch", env.branch.clone().unwrap_or_else(|| "–".into()), None),
        (
            "Commit",
            format!(
                "{} {}",
                env.commit_sha.as_deref().map(format::short_sha).unwrap_or_else(|| "–".into()),
                format::first_line(env.message.as_deref().unwrap_or(""), 120)
            ),
            format::fill_template(suite.commit_url.as_deref(), env.commit_sha.as_deref(), None, None),
        ),
        ("Job", env.job.clone().unwrap_or_else(|| "–".into()), None),
        ("Payload", env.payload.clone().unwrap_or_else(|| "–".into()), None),
        ("CI", env.ci.clone().unwrap_or_else(|| env.url.clone().unwrap_or_else(|| "–".into())), format::external(env.url.as_deref())),
        ("Created", format!("{} ({})", created.utc, created.ago), None),
        ("Updated", format::utc(run.updated_at), None),
        ("Uploads", run.uploads.to_string(), None),
        ("State", run.state.clone(), None),
    ];
    let t = &run.tests;
    let counts = vec![
        ("passed", t.passed, "run.tests.passed", "P"),
        ("failed", t.failed, "run.tests.failed", "F"),
        ("flaky", t.flaky, "run.tests.flaky", "K"),
        ("skipped", t.skipped, "run.tests.skipped", "S"),
    ];
    let groups = p
        .diff
        .groups
        .iter()
        .map(|g| Group {
            key: g.key,
            label: g.label,
            count: g.count,
            tests: g.tests.iter().map(|t| test_link(&base, &view, run.id, t.id, &t.scope, &t.name)).collect(),
        })
        .collect();
    let reasons = p
        .failures
        .groups
        .iter()
        .map(|g| Reason {
            pattern: g.pattern.clone(),
            tests: g.tests,
            count: g.failures.len(),
            first: g.failures.first().and_then(|f| f.reason.as_deref()).map(|r| format::first_line(r, 300)).unwrap_or_default(),
            failures: g
                .failures
                .iter()
                .take(50)
                .map(|f| Failure {
                    test: test_link(&base, &view, run.id, f.test.id, &f.test.scope, &f.test.name),
                    reason: format::cut(f.reason.as_deref().unwrap_or("(no message)"), 2000),
                })
                .collect(),
        })
        .collect();
    let run_path = format!("{base}/runs/{}", run.id);
    let result_s = p.result.map(|r| r.as_str()).unwrap_or("");
    let q_s = p.q.clone().unwrap_or_default();
    let vs_s = q.get("vs").cloned().unwrap_or_default();
    let page_link = |n: usize| {
        let n = n.to_string();
        link(&run_path, &view, &[("result", result_s), ("q", &q_s), ("vs", &vs_s), ("page", &n)])
    };
    let aggregate = match (&env.job, &env.payload) {
        (Some(j), Some(pl)) => {
            Some(format!("/api/v1/suites/{}/aggregate{}", encode(&suite.slug, false), format::query(&[("job", j), ("payload", pl)])))
        }
        _ => None,
    };
    let frame = Frame::new(format!("Run #{number} · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "runs")
        .crumb("Runs", link(&format!("{base}/runs"), &view, &[]))
        .crumb(format!("#{number}"), link(&run_path, &view, &[]))
        .twin("run", format!("/api/v1/runs/{}", run.id))
        .twin("diff", format!("/api/v1/runs/{}/diff{}", run.id, format::query(&[("vs", &vs_s)])))
        .twin("failures", format!("/api/v1/runs/{}/failures", run.id))
        .twin("page", link(&format!("/api/v1/runs/{}/summary", run.id), &view, &[("result", result_s), ("q", &q_s), ("vs", &vs_s)]))
        .served(state.store.backend(), &timing);
    let html = RunHtml {
        frame,
        number,
        class: p.class.as_str(),
        letter: letter(p.class.as_str()),
        facts,
        counts,
        metrics: p.run.metrics.iter().map(|(k, v)| (k.clone(), format!("{v}"))).collect(),
        aggregate,
        infra: p.infra_failure,
        set_aside: p.run.run.infra,
        compared: p.diff.compared.as_ref().map(|c| {
            (
                format!("#{} ({})", c.number.clone().unwrap_or_else(|| c.id.to_string()), format::utc(c.created_at)),
                link(&format!("{base}/runs/{}", c.id), &view, &[]),
            )
        }),
        vs: vs_s.clone(),
        groups,
        reasons,
        reasons_truncated: p.failures.truncated,
        causes: p
            .clusters
            .iter()
            .map(|c| (link(&format!("{base}/failures/{}", encode(&c.id, false)), &view, &[]), format::cut(&c.title, 200), c.failures))
            .collect(),
        expand: q.get("expand").is_some_and(|v| v == "all"),
        expand_href: link(&run_path, &view, &[("result", result_s), ("q", &q_s), ("vs", &vs_s), ("expand", "all")]),
        rows: p.tests.iter().map(|g| row(g, &base, &view, run.id, suite, env.commit_sha.as_deref())).collect(),
        slowest: p.slowest.iter().map(|g| row(g, &base, &view, run.id, suite, env.commit_sha.as_deref())).collect(),
        results: ["failed", "flaky", "passed", "skipped"].iter().map(|r| (*r, *r == result_s)).collect(),
        q: q_s.clone(),
        total: p.total,
        prev: (p.page > 1).then(|| page_link(p.page - 1)),
        next: (p.page * p.per_page < p.total).then(|| page_link(p.page + 1)),
        page: p.page,
    };
    Ok(respond(&html, &timing))
}
