//! `/s/{suite}/runs`: the runs list.

use super::format::{self, encode};
use super::frame::letter;
use super::{Frame, PageError, link, respond};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::runs::{RunsQuery, runs_page};
use verdict_core::RunResult;

pub struct Row {
    pub class: &'static str,
    pub letter: &'static str,
    pub number: String,
    pub href: String,
    pub labels: String,
    pub branch: String,
    pub commit: String,
    pub commit_href: Option<String>,
    pub message: String,
    pub when: super::frame::When,
    pub seconds: String,
    pub tests: [(&'static str, i64); 4],
    pub uploads: i64,
    pub ci: Option<String>,
}

#[derive(askama::Template)]
#[template(path = "runs.html")]
struct RunsHtml {
    frame: Frame,
    name: String,
    rows: Vec<Row>,
    filters: Vec<(&'static str, String)>,
    results: Vec<(&'static str, bool)>,
    prev: Option<String>,
    next: Option<String>,
    page: u32,
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, query: params, id: _, mut timing } = page;
    let query = RunsQuery {
        result: params.parsed::<RunResult>("result", "passed, failed or pending")?,
        job: params.text("job"),
        payload: params.text("payload"),
        commit: params.text("commit"),
        page: params.parsed::<u32>("page", "a page number (1, 2, ...)")?.unwrap_or(1),
    };
    let store = state.store.as_ref();
    let branches = store.dashboard().branches(&view.run_range(suite.id)).await?;
    let p = runs_page(store, &suite, view, query).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let result = p.query.result.map(|r| r.as_str()).unwrap_or("");
    let filter_pairs: Vec<(&str, &str)> = vec![
        ("result", result),
        ("job", p.query.job.as_deref().unwrap_or("")),
        ("payload", p.query.payload.as_deref().unwrap_or("")),
        ("commit", p.query.commit.as_deref().unwrap_or("")),
    ];
    let rows = p
        .runs
        .iter()
        .map(|r| {
            let env = &r.run.run_env;
            let labels = [env.job.as_deref().map(|j| format!("job {j}")), env.payload.as_deref().map(|p| format!("payload {p}"))]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · ");
            let class = r.class.as_str();
            Row {
                class,
                letter: letter(class),
                number: env.number.clone().unwrap_or_else(|| r.run.id.to_string()),
                href: link(&format!("{base}/runs/{}", r.run.id), &p.view, &[]),
                labels,
                branch: env.branch.clone().unwrap_or_default(),
                commit: env.commit_sha.as_deref().map(format::short_sha).unwrap_or_default(),
                commit_href: format::fill_template(suite.commit_url.as_deref(), env.commit_sha.as_deref(), None, None),
                message: format::first_line(env.message.as_deref().unwrap_or(""), 80),
                when: super::frame::When::new(r.run.created_at, now),
                seconds: format::seconds(Some(r.run.test_seconds)),
                tests: [
                    ("passed", r.run.tests.passed),
                    ("flaky", r.run.tests.flaky),
                    ("failed", r.run.tests.failed),
                    ("skipped", r.run.tests.skipped),
                ],
                uploads: r.run.uploads,
                ci: format::external(env.url.as_deref()),
            }
        })
        .collect();
    let path = format!("{base}/runs");
    let page_link = |n: u32| {
        let n = n.to_string();
        let mut extra = filter_pairs.clone();
        extra.push(("page", n.as_str()));
        link(&path, &p.view, &extra)
    };
    let twin_pairs: Vec<(&str, &str)> = filter_pairs.clone();
    let frame = Frame::new(format!("Runs · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &p.view, "runs")
        .crumb("Runs", link(&path, &p.view, &[]))
        .with_controls(&path, &p.view, &branches, &filter_pairs)
        .twin("runs", link(&format!("/api/v1/suites/{}/runs", encode(&suite.slug, false)), &p.view, &twin_pairs))
        .served(state.store.backend(), &timing);
    let html = RunsHtml {
        frame,
        name: suite.name.clone(),
        rows,
        filters: vec![
            ("job", p.query.job.clone().unwrap_or_default()),
            ("payload", p.query.payload.clone().unwrap_or_default()),
            ("commit", p.query.commit.clone().unwrap_or_default()),
        ],
        results: ["passed", "failed", "pending"].iter().map(|r| (*r, *r == result)).collect(),
        prev: (p.query.page > 1).then(|| page_link(p.query.page - 1)),
        next: p.has_next.then(|| page_link(p.query.page + 1)),
        page: p.query.page,
    };
    Ok(respond(&html, &timing))
}
