//! `/s/{suite}/tests`: every test, searched, filtered and sorted on the server.

use super::format::{self, encode, rate};
use super::{Frame, PageError, link, respond};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::tests::{PER_PAGE, Sort, TestState, TestsQuery, tests_page};

pub struct Row {
    pub href: String,
    pub scope: String,
    pub name: String,
    pub file: String,
    pub state: &'static str,
    /// The kept flaky/broken state ("–" before its first analysed run).
    pub tracked: &'static str,
    pub tracked_class: &'static str,
    pub reliability: String,
    pub thin: bool,
    pub flake_rate: String,
    pub runs: String,
    pub p50: String,
    pub p95: String,
    pub total: String,
    pub last_seen: super::frame::When,
    pub first_seen: String,
}

#[derive(askama::Template)]
#[template(path = "tests.html")]
struct TestsHtml {
    frame: Frame,
    name: String,
    rows: Vec<Row>,
    heads: Vec<(&'static str, Option<String>, bool)>,
    q: String,
    states: Vec<(&'static str, bool)>,
    total: usize,
    first: usize,
    prev: Option<String>,
    next: Option<String>,
}

/// Query parameters of the tests list (shared with its twin).
pub(crate) fn tests_query(q: &crate::params::Params) -> Result<TestsQuery, crate::error::ApiError> {
    use crate::error::ApiError;
    let sort = match q.text("sort") {
        None => Sort::Reliability,
        Some(s) => Sort::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "query parameter sort={s:?}: one of {}",
                Sort::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?,
    };
    let state = match q.text("state") {
        None => None,
        Some(s) => Some(
            TestState::parse(&s)
                .ok_or_else(|| ApiError::bad_request(format!("query parameter state={s:?}: one of broken, flaky, new, healthy")))?,
        ),
    };
    let reverse = match q.text("dir").as_deref() {
        None | Some("natural") => false,
        Some("reverse") => true,
        Some(d) => return Err(ApiError::bad_request(format!("query parameter dir={d:?}: natural or reverse"))),
    };
    Ok(TestsQuery {
        q: q.text("q"),
        state,
        sort,
        reverse,
        page: q.parsed::<usize>("page", "a page number (1, 2, ...)")?.unwrap_or(1).max(1),
    })
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, query: params, id: _, mut timing } = page;
    let query = tests_query(&params)?;
    let store = state.store.as_ref();
    let branches = store.dashboard().branches(&view.run_range(suite.id)).await?;
    let p = tests_page(store, &suite, view, query).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let path = format!("{base}/tests");
    let q_s = p.q.clone().unwrap_or_default();
    let state_s = p.state.map(|s| s.as_str()).unwrap_or("");
    // The list's own parameters, `extra` replacing some; owned, then borrowed by `refs`.
    let keep = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        let dir = if p.dir == "reverse" { "reverse" } else { "" };
        let mut pairs: Vec<(String, String)> = [("q", q_s.as_str()), ("state", state_s), ("sort", p.sort.as_str()), ("dir", dir)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        pairs
    };

    let head = |label: &'static str, sort: Option<Sort>| {
        let href = sort.map(|s| {
            let reverse = if s == p.sort && p.dir != "reverse" { "reverse" } else { "" };
            link(&path, &p.view, &pairs(&keep(&[("sort", s.as_str()), ("dir", reverse), ("page", "")])))
        });
        (label, href, sort == Some(p.sort))
    };
    let heads = vec![
        head("Test", Some(Sort::Name)),
        head("State", None),
        head("In range", None),
        head("Reliability", Some(Sort::Reliability)),
        head("Flake rate", Some(Sort::Flaky)),
        head("Runs (failed)", Some(Sort::Failing)),
        head("p50", Some(Sort::P50)),
        head("p95", Some(Sort::P95)),
        head("Total time", Some(Sort::Total)),
        head("Last seen", Some(Sort::Last)),
        head("First seen", Some(Sort::New)),
    ];
    let rows = p
        .rows
        .iter()
        .map(|r| Row {
            href: link(&format!("{base}/tests/{}", r.test.id), &p.view, &[]),
            scope: r.test.scope.clone(),
            name: format::cut(&r.test.name, 200),
            file: r.file_name.clone().unwrap_or_default(),
            state: r.state.as_str(),
            tracked: r.tracked_state.map_or("–", |s| s.name()),
            tracked_class: super::flaky::state_class(r.tracked_state),
            reliability: rate(&r.reliability),
            thin: format::is_thin(&r.reliability),
            flake_rate: rate(&r.flake_rate),
            runs: format!("{} ({})", r.runs, r.failed_runs),
            p50: format::seconds(r.p50),
            p95: format::seconds(r.p95),
            total: format::seconds(Some(r.total_seconds)),
            last_seen: super::frame::When::new(r.last_seen, now),
            first_seen: r.first_seen.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let page_link = |n: usize| {
        let n = n.to_string();
        link(&path, &p.view, &pairs(&keep(&[("page", n.as_str())])))
    };
    let twin = link(
        &format!("/api/v1/suites/{}/tests/search", encode(&suite.slug, false)),
        &p.view,
        &pairs(&keep(&[("page", &p.page.to_string())])),
    );
    let kept = keep(&[]);
    let hidden = pairs(&kept);
    let frame = Frame::new(format!("Tests · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &p.view, "tests")
        .crumb("Tests", link(&path, &p.view, &[]))
        .with_controls(&path, &p.view, &branches, &hidden)
        .twin("tests", twin)
        .served(state.store.backend(), &timing);
    let html = TestsHtml {
        frame,
        name: suite.name.clone(),
        rows,
        heads,
        q: q_s.clone(),
        states: ["broken", "flaky", "new", "healthy"].iter().map(|s| (*s, *s == state_s)).collect(),
        total: p.total,
        first: (p.page - 1) * PER_PAGE + 1,
        prev: (p.page > 1).then(|| page_link(p.page - 1)),
        next: (p.page * PER_PAGE < p.total).then(|| page_link(p.page + 1)),
    };
    Ok(respond(&html, &timing))
}

/// Owned pairs borrowed as `link` takes them.
fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}
