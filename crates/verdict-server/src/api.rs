//! Verdict's own read API (JSON). Open unless the server has a read token.

use crate::error::ApiError;
use crate::params::Params;
use crate::{AppState, auth};
use axum::extract::{Path, Query, State};
use axum::middleware;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::HashMap;
use verdict_analysis::owners;
use verdict_core::monitor::MonitorMetric;
use verdict_core::{Outcome, RunResult};
use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows};
use verdict_store::*;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/suites", get(suites))
        .route("/suites/{slug}", get(suite))
        .route("/suites/{slug}/runs", get(runs))
        .route("/suites/{slug}/tests", get(tests))
        .route("/suites/{slug}/owners", get(crate::owners::show))
        .route("/suites/{slug}/aggregate", get(aggregate))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/executions", get(executions))
        .route("/executions/{id}", get(execution))
        .route("/executions/{id}/output", get(execution_output))
        .route("/tests/{id}", get(test))
        .route("/tests/{id}/history", get(history))
        .route("/tests/{id}/resources", get(resources))
        .merge(crate::twins::routes())
        .merge(crate::flaky::routes())
        .merge(crate::clusters::routes())
        .layer(middleware::from_fn_with_state(state, auth::require_read_token))
        // Writes carry the suite's upload token instead of the read token.
        .route("/runs/{id}/metrics", post(crate::metrics::post))
        .route("/suites/{slug}", axum::routing::patch(crate::suite_links::patch))
        .route("/suites/{slug}/settings", axum::routing::patch(crate::flaky::patch_settings))
        .route("/suites/{slug}/cluster-rules", post(crate::clusters::add_rule))
        .route("/suites/{slug}/cluster-rules/{id}", axum::routing::delete(crate::clusters::remove_rule))
        // Webhooks carry the suite's manage token.
        .merge(crate::webhooks::routes())
}

type Q = Query<HashMap<String, String>>;

fn id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("{what} id {raw:?} is not a number")))
}

pub(crate) async fn suite_or_404(state: &AppState, slug: &str) -> Result<Suite, ApiError> {
    state.store.suite_by_slug(slug).await?.ok_or_else(|| ApiError::not_found(format!("no suite {slug:?}")))
}

async fn suites(State(s): State<AppState>) -> Result<Json<Vec<Suite>>, ApiError> {
    Ok(Json(s.store.suites().await?))
}

async fn suite(State(s): State<AppState>, Path(slug): Path<String>) -> Result<Json<Suite>, ApiError> {
    Ok(Json(suite_or_404(&s, &slug).await?))
}

async fn runs(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<Vec<Run>>, ApiError> {
    let q = Params(q);
    let suite = suite_or_404(&s, &slug).await?;
    // The dashboard's range grammar, when given (the runs page's twin);
    // without it, all runs.
    let (since_ms, until_ms) = if ["window", "from", "to", "runs"].iter().any(|k| q.text(k).is_some()) {
        let view = view_of(&s, &suite, &q).await?;
        (Some(view.since_ms), Some(view.until_ms))
    } else {
        (None, None)
    };
    let filter = RunFilter {
        key: q.text("key"),
        branch: q.text("branch").filter(|b| b != "*"),
        commit_sha: q.text("commit").or_else(|| q.text("commit_sha")),
        job: q.text("job"),
        payload: q.text("payload"),
        result: q.parsed::<RunResult>("result", "passed, failed or pending")?,
        since_ms,
        until_ms,
        page: q.page()?,
    };
    Ok(Json(s.store.runs(suite.id, &filter).await?))
}

/// The branch and range of a dashboard twin (the spec's grammar, §2.2).
pub(crate) async fn view_of(s: &AppState, suite: &Suite, q: &Params) -> Result<verdict_analysis::pages::View, ApiError> {
    let sel = verdict_core::range::parse_selection(|k| q.0.get(k).map(String::as_str), chrono::Utc::now().timestamp_millis())
        .map_err(|e| ApiError::bad_request(format!("query parameter {}: {}", e.param, e.message)))?;
    Ok(verdict_analysis::pages::resolve(s.store.as_ref(), suite, &sel, chrono::Utc::now().timestamp_millis()).await?)
}

async fn tests(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<Vec<owners::Owned<TestStats>>>, ApiError> {
    let q = Params(q);
    let suite = suite_or_404(&s, &slug).await?;
    let days = q.parsed::<u32>("days", "a number of days (0 for all time)")?.unwrap_or(30);
    let filter = TestFilter { days, branch: q.text("branch"), page: q.page()?, only: None };
    let owner = owner_filter(&q)?;
    Ok(Json(owners::tests_list(s.store.as_ref(), suite.id, filter, owner.as_ref()).await?))
}

/// `owner=team-a,!team-b` of the tests, flaky and clusters lists.
pub(crate) fn owner_filter(q: &Params) -> Result<Option<owners::OwnerFilter>, ApiError> {
    owners::OwnerFilter::parse(q.text("owner").as_deref()).map_err(|e| ApiError::bad_request(format!("query parameter {e}")))
}

/// The aggregator's verdict on the runs of `job` for `payload`: one object per test.
async fn aggregate(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<serde_json::Value>, ApiError> {
    let q = Params(q);
    let suite = suite_or_404(&s, &slug).await?;
    let job = q.text("job").ok_or_else(|| ApiError::bad_request("query parameter job is required"))?;
    let payload =
        q.text("payload").ok_or_else(|| ApiError::bad_request("query parameter payload is required (the commit, unless runs name one)"))?;
    let min = q.parsed::<u32>("min_attempts", "a number")?.unwrap_or(verdict_core::decision::MINIMUM_ATTEMPTS);
    let config = verdict_core::decision::DecisionConfig { minimum_attempts: min, ..Default::default() };
    let metrics = verdict_core::metric_check::MetricConfig::default();
    let batch = verdict_analysis::aggregate::judge_batch(s.store.as_ref(), suite.id, &job, &payload, &config, &metrics).await?;
    let blocking = batch.tests.iter().filter(|t| t.blocks()).count();
    Ok(Json(serde_json::json!({"job": job, "payload": payload, "runs": batch.runs, "blocking_failures": blocking, "tests": batch.tests})))
}

async fn run(State(s): State<AppState>, Path(raw): Path<String>) -> Result<Json<RunDetail>, ApiError> {
    let run_id = id(&raw, "run")?;
    Ok(Json(s.store.run(run_id).await?.ok_or_else(|| ApiError::not_found(format!("no run {run_id}")))?))
}

async fn executions(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<Vec<Execution>>, ApiError> {
    let q = Params(q);
    let run_id = id(&raw, "run")?;
    let result = q.parsed::<Outcome>("result", "passed, failed, skipped, pending or unknown")?;
    let page = s.store.run_executions(run_id, result, q.page()?).await?;
    // An empty page is the only case that needs to know whether the run exists.
    if page.is_empty() && s.store.run(run_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no run {run_id}")));
    }
    Ok(Json(page))
}

/// One result with all its detail (a list page leaves out what is large).
async fn execution(State(s): State<AppState>, Path(raw): Path<String>) -> Result<Json<Execution>, ApiError> {
    let execution_id = id(&raw, "execution")?;
    Ok(Json(s.store.execution(execution_id).await?.ok_or_else(|| ApiError::not_found(format!("no execution {execution_id}")))?))
}

/// One result's captured output, never part of a list.
async fn execution_output(State(s): State<AppState>, Path(raw): Path<String>) -> Result<Json<ExecutionOutput>, ApiError> {
    let execution_id = id(&raw, "execution")?;
    Ok(Json(s.store.execution_output(execution_id).await?.ok_or_else(|| ApiError::not_found(format!("no execution {execution_id}")))?))
}

async fn test(State(s): State<AppState>, Path(raw): Path<String>) -> Result<Json<owners::Owned<Test>>, ApiError> {
    let test_id = id(&raw, "test")?;
    let test = s.store.test(test_id).await?.ok_or_else(|| ApiError::not_found(format!("no test {test_id}")))?;
    Ok(Json(owners::test_with_owners(s.store.as_ref(), test).await?))
}

async fn history(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let q = Params(q);
    let test_id = id(&raw, "test")?;
    let filter = HistoryFilter {
        branch: q.text("branch").filter(|b| b != "*"),
        result: q.parsed::<Outcome>("result", "passed, failed, skipped, pending or unknown")?,
    };
    let page = s.store.test_history(test_id, &filter, q.page()?).await?;
    if page.is_empty() && s.store.test(test_id).await?.is_none() {
        return Err(ApiError::not_found(format!("no test {test_id}")));
    }
    Ok(Json(page))
}

/// The test's pytest-monitor resource samples (time, CPU, memory), newest first.
async fn resources(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<Vec<MonitorMetric>>, ApiError> {
    let q = Params(q);
    let test_id = id(&raw, "test")?;
    let test = s.store.test(test_id).await?.ok_or_else(|| ApiError::not_found(format!("no test {test_id}")))?;
    let page = q.page()?;
    let list = MonitorList::Metrics(MetricFilter::Test(test_id));
    match s.store.monitor().rows(test.suite_id, &list, page.offset(), page.limit()).await? {
        MonitorRows::Metrics(rows) => Ok(Json(rows)),
        _ => Ok(Json(vec![])),
    }
}
