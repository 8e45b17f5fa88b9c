//! `/s/{suite}/failures` and `/s/{suite}/failures/{cluster}`: failures
//! grouped by their cause, most failures in the window first, and one
//! cause's days, tests and latest failures.

use super::flaky::window_days;
use super::format::{self, encode};
use super::{Frame, PageError, link, respond, run_at_test, svg};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::clusters::{ClusterView, cluster_detail, cluster_list};

pub struct Row {
    pub href: String,
    pub title: String,
    pub kind: &'static str,
    pub d1: i64,
    pub d3: i64,
    pub d7: i64,
    pub window: i64,
    pub tests: i64,
    pub runs: i64,
    pub last_seen: String,
    pub example: String,
}

#[derive(askama::Template)]
#[template(path = "failures.html")]
struct FailuresHtml {
    frame: Frame,
    name: String,
    window_days: i64,
    rows: Vec<Row>,
}

fn impact(c: &ClusterView, key: &str) -> verdict_store::clusters::Impact {
    c.impact.get(key).copied().unwrap_or_default()
}

pub async fn list(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, mut timing, .. } = page;
    let days = window_days(&view);
    let store = state.store.as_ref();
    let branches = store.dashboard().branches(&view.run_range(suite.id)).await?;
    let list = cluster_list(store, &suite, days, None, super::now_ms()).await?;
    timing.queried();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let path = format!("{base}/failures");
    let key = format!("{days}d");
    let rows = list
        .clusters
        .iter()
        .map(|c| {
            let w = impact(c, &key);
            Row {
                href: link(&format!("{path}/{}", encode(&c.id, false)), &view, &[]),
                title: format::cut(&c.title, 300),
                kind: c.kind,
                d1: impact(c, "1d").failures,
                d3: impact(c, "3d").failures,
                d7: impact(c, "7d").failures,
                window: w.failures,
                tests: w.tests,
                runs: w.runs,
                last_seen: c.last_seen.map(format::utc).unwrap_or_default(),
                example: format::cut(c.example.reason.as_deref().unwrap_or(""), 300),
            }
        })
        .collect();
    let frame = Frame::new(format!("Failures · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "failures")
        .crumb("Failures", link(&path, &view, &[]))
        .with_controls(&path, &view, &branches, &[])
        .twin("clusters", format!("/api/v1/suites/{}/clusters?window={days}d", encode(&suite.slug, false)))
        .cli(format!("verdict failures --suite {} --window {days}d", suite.slug))
        .served(state.store.backend(), &timing);
    Ok(respond(&FailuresHtml { frame, name: suite.name.clone(), window_days: days, rows }, &timing))
}

pub struct TestLine {
    pub href: String,
    pub scope: String,
    pub name: String,
    pub failures: i64,
    pub last_failed: String,
}

pub struct FailureLine {
    pub href: String,
    pub test_href: String,
    pub at: String,
    pub branch: String,
    pub commit: String,
    pub reason: String,
}

#[derive(askama::Template)]
#[template(path = "cluster.html")]
struct ClusterHtml {
    frame: Frame,
    title: String,
    kind: &'static str,
    algorithm: String,
    pattern: String,
    bug_url: Option<String>,
    first_seen: String,
    last_seen: String,
    cards: Vec<(String, i64, i64, i64)>,
    chart: String,
    window_days: i64,
    tests: Vec<TestLine>,
    failures: Vec<FailureLine>,
    example: String,
}

pub async fn detail(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, id, mut timing, .. } = page;
    let id = id.unwrap_or_default();
    let days = window_days(&view);
    let d = cluster_detail(state.store.as_ref(), &suite, &id, days, super::now_ms()).await?;
    timing.queried();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let path = format!("{base}/failures/{}", encode(&id, false));
    let c = &d.cluster;
    let stacks: Vec<svg::Stack> = d
        .daily
        .iter()
        .map(|day| svg::Stack {
            failed: day.failures,
            title: format!("{}: {} failures of {} tests in {} runs", day.day, day.failures, day.tests, day.runs),
            ..svg::Stack::default()
        })
        .collect();
    let chart = svg::stacked_bars(&stacks, "failures", &format!("Failures of this cluster per day over {days} days"));
    let mut cards: Vec<(String, i64, i64, i64)> =
        ["1d", "3d", "7d"].iter().map(|k| (k.to_string(), impact(c, k).failures, impact(c, k).tests, impact(c, k).runs)).collect();
    let wk = format!("{days}d");
    if !cards.iter().any(|(k, ..)| *k == wk) {
        let w = impact(c, &wk);
        cards.push((wk, w.failures, w.tests, w.runs));
    }
    let tests = d
        .tests
        .iter()
        .map(|t| TestLine {
            href: link(&format!("{base}/tests/{}", t.id), &view, &[]),
            scope: format::cut(&t.scope, 200),
            name: format::cut(&t.name, 200),
            failures: t.failures,
            last_failed: t.last_failed_at.map(format::utc).unwrap_or_default(),
        })
        .collect();
    let failures = d
        .recent_failures
        .iter()
        .map(|f| FailureLine {
            href: run_at_test(&base, &view, f.run_id, f.test_id),
            test_href: link(&format!("{base}/tests/{}", f.test_id), &view, &[]),
            at: f.at.map(format::utc).unwrap_or_default(),
            branch: f.branch.clone().unwrap_or_default(),
            commit: f.commit.as_deref().map(format::short_sha).unwrap_or_default(),
            reason: format::cut(f.reason.as_deref().unwrap_or(""), 300),
        })
        .collect();
    let pattern = c.rule.as_ref().map_or_else(String::new, |r| match &r.pattern {
        verdict_core::clusters::rules::RulePattern::Like(p) => format!("reason LIKE \"{p}\""),
        verdict_core::clusters::rules::RulePattern::Regex(p) => format!("reason matches /{p}/"),
    });
    let frame = Frame::new(format!("{} · Failures · {}", format::cut(&c.title, 60), suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "failures")
        .crumb("Failures", link(&format!("{base}/failures"), &view, &[]))
        .crumb(format::cut(&c.title, 60), link(&path, &view, &[]))
        .twin("cluster", format!("/api/v1/suites/{}/clusters/{}?days={days}", encode(&suite.slug, false), encode(&id, false)))
        .served(state.store.backend(), &timing);
    let html = ClusterHtml {
        frame,
        title: format::cut(&c.title, 500),
        kind: c.kind,
        algorithm: c.algorithm.clone(),
        pattern: format::cut(&pattern, 600),
        bug_url: c.bug_url.clone().filter(|u| u.starts_with("https://") || u.starts_with("http://")),
        first_seen: c.first_seen.map(format::utc).unwrap_or_default(),
        last_seen: c.last_seen.map(format::utc).unwrap_or_default(),
        cards,
        chart,
        window_days: days,
        tests,
        failures,
        example: format::cut(c.example.reason.as_deref().unwrap_or(""), 4000),
    };
    Ok(respond(&html, &timing))
}
