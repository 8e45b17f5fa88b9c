//! bktec's test-plan API (the flaky spec, §5.1–5.2) under `/buildkite`: so
//! bktec pointed at Verdict by `BUILDKITE_TEST_ENGINE_BASE_URL` gets a plan
//! built from Verdict's timings, with the suite's muted and skipped tests.
//! One plan per (suite, identifier), kept 7 days: every parallel job of a
//! build gets the plan the first one made, whatever its own body says.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use verdict_analysis::test_plan::{self, Format, Plan, PlanAsk, Target};
use verdict_store::Suite;

const BASE: &str = "/buildkite/v2/analytics/organizations/{org}/suites/{slug}";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/test_plan"), get(kept).post(create))
        .route(&format!("{BASE}/test_plan/filter_tests"), post(filter_tests))
        .route(&format!("{BASE}/test_plan_metadata"), post(metadata))
}

#[derive(Debug, Deserialize)]
struct PlanRequest {
    identifier: String,
    parallelism: usize,
    max_parallelism: Option<usize>,
    /// Seconds.
    target_time: Option<f64>,
    location_prefix: Option<String>,
    tests: Tests,
}

#[derive(Debug, Default, Deserialize)]
struct Tests {
    #[serde(default)]
    selectors: Vec<Selector>,
    #[serde(default)]
    examples: Vec<Example>,
    #[serde(default)]
    files: Vec<PathOnly>,
}

#[derive(Debug, Deserialize)]
struct Selector {
    value: String,
}

#[derive(Debug, Deserialize)]
struct PathOnly {
    path: String,
}

#[derive(Debug, Deserialize)]
struct Example {
    path: String,
    identifier: Option<String>,
    name: Option<String>,
    scope: Option<String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn check_identifier(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 255 {
        return Err(ApiError::bad_request("identifier: 1 to 255 bytes"));
    }
    Ok(())
}

fn json_of<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

/// `GET …/test_plan?identifier=&job_retry_count=`: the kept plan, or 404 until one is made.
async fn kept(
    State(s): State<AppState>,
    Path((_org, slug)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let suite = auth::suite_of_upload_token(&s, &headers, &slug).await?;
    let id = q.get("identifier").ok_or_else(|| ApiError::bad_request("query parameter identifier is required"))?;
    check_identifier(id)?;
    match s.store.test_plans().kept_plan(suite.id, id, now_ms()).await? {
        Some(plan) => Ok(plan_response(plan)),
        None => Err(ApiError::not_found(format!("no test plan for identifier {id:?} yet"))),
    }
}

fn plan_response(plan: String) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], plan).into_response()
}

/// `POST …/test_plan`: the kept plan for the identifier, else a new one (kept).
async fn create(
    State(s): State<AppState>,
    Path((_org, slug)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let suite = auth::suite_of_upload_token(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Upload).await?;
    let req: PlanRequest = json_of(&body, "expected bktec's test plan request {\"identifier\", \"parallelism\", \"tests\", ...}")?;
    check_identifier(&req.identifier)?;
    let now = now_ms();
    if let Some(plan) = s.store.test_plans().kept_plan(suite.id, &req.identifier, now).await? {
        return Ok(plan_response(plan));
    }
    let (ask, shapes) = ask_of(&req);
    ask.check().map_err(ApiError::bad_request)?;
    let plan = test_plan::make_plan(s.store.as_ref(), &suite, &ask, now).await?;
    let text = answer(&req.identifier, &plan, &ask, &shapes).to_string();
    Ok(plan_response(s.store.test_plans().keep_plan(suite.id, &req.identifier, &text, now).await?))
}

/// How each target is written back: as bktec sent it.
enum Shape {
    File,
    Selector,
    Example { identifier: Option<String>, name: Option<String>, scope: Option<String> },
}

fn ask_of(req: &PlanRequest) -> (PlanAsk, Vec<Shape>) {
    let mut targets = Vec::new();
    let mut shapes = Vec::new();
    for f in &req.tests.files {
        targets.push(Target { format: Format::File, path: f.path.clone(), scope: None, name: None });
        shapes.push(Shape::File);
    }
    for sel in &req.tests.selectors {
        targets.push(Target { format: Format::Selector, path: sel.value.clone(), scope: None, name: None });
        shapes.push(Shape::Selector);
    }
    for e in &req.tests.examples {
        targets.push(Target { format: Format::Example, path: e.path.clone(), scope: e.scope.clone(), name: e.name.clone() });
        shapes.push(Shape::Example { identifier: e.identifier.clone(), name: e.name.clone(), scope: e.scope.clone() });
    }
    let ask = PlanAsk {
        targets,
        parallelism: req.parallelism,
        max_parallelism: req.max_parallelism,
        target_time_s: req.target_time,
        location_prefix: req.location_prefix.clone(),
    };
    (ask, shapes)
}

/// The plan as bktec reads it (`internal/plan/type.go`).
fn answer(identifier: &str, plan: &Plan, ask: &PlanAsk, shapes: &[Shape]) -> Value {
    let mut tasks = serde_json::Map::new();
    for (n, node) in plan.nodes.iter().enumerate() {
        let tests: Vec<Value> = node
            .iter()
            .map(|p| {
                let t = &ask.targets[p.target];
                let mut v = match &shapes[p.target] {
                    Shape::File => json!({"path": t.path, "format": "file"}),
                    Shape::Selector => json!({"value": t.path, "format": "selector"}),
                    Shape::Example { identifier, name, scope } => {
                        json!({"path": t.path, "format": "example", "identifier": identifier, "name": name, "scope": scope})
                    }
                };
                v["estimated_duration"] = p.estimate_ms.into();
                v["timing_sample_size"] = p.samples.into();
                v
            })
            .collect();
        tasks.insert(n.to_string(), json!({"node_number": n, "tests": tests}));
    }
    let listed = |tests: &[verdict_analysis::quarantine::QuarantinedTest]| -> Vec<Value> {
        tests.iter().map(|t| json!({"scope": t.scope, "name": t.name, "path": t.file_name.clone().unwrap_or_default()})).collect()
    };
    let timing: serde_json::Map<String, Value> = plan
        .timing
        .iter()
        .map(|f| (f.format.name().to_owned(), json!({"median_duration": f.median_ms, "default_duration": f.default_ms})))
        .collect();
    json!({
        "identifier": identifier,
        "parallelism": plan.nodes.len(),
        "experiment": "",
        "tasks": tasks,
        "muted_tests": listed(&plan.quarantine.muted),
        "skipped_tests": listed(&plan.quarantine.skipped),
        "timing_metadata": timing,
        "known_timings_ratio": plan.known_ratio,
    })
}

#[derive(Debug, Deserialize)]
struct FilterRequest {
    files: Vec<PathOnly>,
}

/// `POST …/test_plan/filter_tests`: of the files sent, those holding skipped tests.
async fn filter_tests(
    State(s): State<AppState>,
    Path((_org, slug)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let suite: Suite = auth::suite_of_upload_token(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Upload).await?;
    let req: FilterRequest = json_of(&body, "expected {\"files\": [{\"path\": ...}]}")?;
    let files: Vec<String> = req.files.into_iter().map(|f| f.path).collect();
    let holding = test_plan::files_with_skipped(s.store.as_ref(), &suite, &files).await?;
    Ok(Json(json!({"tests": holding.into_iter().map(|p| json!({"path": p})).collect::<Vec<_>>()})))
}

/// `POST …/test_plan_metadata`: bktec's statistics after a run; logged, answered `{}`.
async fn metadata(
    State(s): State<AppState>,
    Path((_org, slug)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let suite = auth::suite_of_upload_token(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let v: Value = json_of(&body, "expected a JSON object")?;
    tracing::info!(suite = suite.slug, statistics = %v["statistics"], "bktec test plan metadata");
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request as bktec v3 sends it and the answer it reads: every node
    /// key present, files and examples written back in their own shape.
    #[test]
    fn requests_and_answers_have_bktecs_shape() {
        let req: PlanRequest = serde_json::from_value(json!({
            "runner": "rspec", "identifier": "abc123", "parallelism": 3, "branch": "main",
            "tests": {"files": [{"path": "spec/b_spec.rb"}],
                      "examples": [{"format": "example", "identifier": "./spec/a_spec.rb[1:2]", "name": "works", "path": "spec/a_spec.rb[1:2]", "scope": "A"}]},
            "selection": {"strategy": "x", "params": {"top": "100"}}, "metadata": {"git_diff": ""}
        }))
        .unwrap();
        let (ask, shapes) = ask_of(&req);
        let empty = verdict_analysis::quarantine::QuarantineList { suite: "web".into(), muted: vec![], skipped: vec![] };
        let plan = test_plan::plan_from(&[], &ask, empty);
        let v = answer("abc123", &plan, &ask, &shapes);
        assert_eq!((v["identifier"].as_str(), v["parallelism"].as_u64()), (Some("abc123"), Some(3)));
        assert_eq!(v["tasks"].as_object().unwrap().keys().collect::<Vec<_>>(), ["0", "1", "2"]);
        let all: Vec<&Value> = (0..3).flat_map(|n| v["tasks"][n.to_string()]["tests"].as_array().unwrap()).collect();
        assert_eq!(all.len(), 2);
        let example = all.iter().find(|t| t["format"] == "example").unwrap();
        assert_eq!((example["identifier"].as_str(), example["estimated_duration"].as_u64()), (Some("./spec/a_spec.rb[1:2]"), Some(1000)));
        assert_eq!(v["timing_metadata"]["file"], json!({"median_duration": null, "default_duration": 1000}));
        assert_eq!(v["known_timings_ratio"], 0.0);
    }
}
