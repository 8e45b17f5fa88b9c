//! The dashboard pages' JSON twins: each serialises the struct its page
//! renders (`verdict_analysis::pages`), from the same call with the same
//! parameters, so a page and its twin show the same numbers.

use crate::AppState;
use crate::api::view_of;
use crate::error::ApiError;
use crate::params::Params;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use verdict_analysis::pages::{self, overview, readiness, run, suite, test, tests};
use verdict_store::Suite;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/overview", get(overview))
        .route("/suites/{slug}/summary", get(suite_summary))
        .route("/suites/{slug}/tests/search", get(tests_search))
        .route("/runs/{id}/summary", get(run_summary))
        .route("/runs/{id}/diff", get(run_diff))
        .route("/runs/{id}/failures", get(run_failures))
        .route("/tests/{id}/summary", get(test_summary))
        .route("/suites/{slug}/batches", get(batches))
        .route("/suites/{slug}/compare", get(compare))
        .route("/stats/required-passes", get(required_passes))
        .route("/suites/{slug}/report", get(suite_report))
        .route("/suites/{slug}/reports", get(suite_reports))
        .route("/reports/{id}", get(stored_report))
}

type Q = Query<HashMap<String, String>>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

use crate::api::suite_or_404 as suite_of;

pub(crate) async fn suite_by_id(s: &AppState, id: i64) -> Result<Suite, ApiError> {
    s.store.suites().await?.into_iter().find(|x| x.id == id).ok_or_else(|| ApiError::not_found(format!("no suite {id}")))
}

fn id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::bad_request(format!("{what} id {raw:?} is not a number")))
}

async fn overview(State(s): State<AppState>, Query(q): Q) -> Result<Json<overview::Overview>, ApiError> {
    let sel = verdict_core::range::parse_selection(|k| q.get(k).map(String::as_str), now_ms())
        .map_err(|e| ApiError::bad_request(format!("query parameter {}: {}", e.param, e.message)))?;
    let view = pages::span_view(&sel, "*".into())
        .ok_or_else(|| ApiError::bad_request("query parameter runs: the overview takes window, or from and to"))?;
    Ok(Json(overview::overview(s.store.as_ref(), view, now_ms()).await?))
}

async fn suite_summary(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<suite::SuiteSummary>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let view = view_of(&s, &suite, &Params(q)).await?;
    Ok(Json(suite::suite_summary(s.store.as_ref(), suite, view).await?))
}

async fn tests_search(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<tests::TestsPage>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let q = Params(q);
    let view = view_of(&s, &suite, &q).await?;
    let query = crate::ui::tests_query(&q)?;
    Ok(Json(tests::tests_page(s.store.as_ref(), &suite, view, query).await?))
}

/// The run's suite (runs are addressed by id alone on the API).
async fn run_suite(s: &AppState, run_id: i64) -> Result<Suite, ApiError> {
    let run = s.store.run(run_id).await?.ok_or_else(|| ApiError::not_found(format!("no run {run_id}")))?;
    suite_by_id(s, run.run.suite_id).await
}

/// The run page's `vs=`: a run id, `branch:NAME`, or (empty) the previous run.
pub(crate) fn vs(q: &Params) -> Result<run::Vs, ApiError> {
    run::Vs::parse(q.0.get("vs").map(String::as_str)).map_err(|m| ApiError::bad_request(format!("query parameter vs: {m}")))
}

pub(crate) fn run_query(q: &Params) -> Result<run::RunQuery, ApiError> {
    use verdict_store::dashboard::RunOutcome;
    let result = match q.text("result") {
        None => None,
        Some(r) => Some(
            [RunOutcome::Failed, RunOutcome::Flaky, RunOutcome::Passed, RunOutcome::Skipped]
                .into_iter()
                .find(|o| o.as_str() == r)
                .ok_or_else(|| ApiError::bad_request("query parameter result: one of failed, flaky, passed, skipped"))?,
        ),
    };
    Ok(run::RunQuery {
        result,
        q: q.text("q"),
        page: q.parsed::<usize>("page", "a page number (1, 2, ...)")?.unwrap_or(1),
        at: q.parsed::<i64>("at", "a test id")?,
    })
}

async fn run_summary(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<run::RunPage>, ApiError> {
    let run_id = id(&raw, "run")?;
    let suite = run_suite(&s, run_id).await?;
    let q = Params(q);
    Ok(Json(run::run_page(s.store.as_ref(), suite, run_id, &vs(&q)?, run_query(&q)?).await?))
}

async fn run_diff(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<run::RunDiff>, ApiError> {
    let run_id = id(&raw, "run")?;
    let suite = run_suite(&s, run_id).await?;
    Ok(Json(run::run_diff(s.store.as_ref(), &suite, run_id, &vs(&Params(q))?).await?))
}

async fn run_failures(State(s): State<AppState>, Path(raw): Path<String>) -> Result<Json<run::RunFailures>, ApiError> {
    let run_id = id(&raw, "run")?;
    run_suite(&s, run_id).await?;
    Ok(Json(run::run_failures(s.store.as_ref(), run_id).await?))
}

async fn test_summary(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<test::TestPage>, ApiError> {
    let test_id = id(&raw, "test")?;
    let t = s.store.test(test_id).await?.ok_or_else(|| ApiError::not_found(format!("no test {test_id}")))?;
    let suite = suite_by_id(&s, t.suite_id).await?;
    let q = Params(q);
    let view = view_of(&s, &suite, &q).await?;
    Ok(Json(test::test_page(s.store.as_ref(), suite, test_id, view, test_query(&q)?).await?))
}

/// The test page's strip length, executions page and `result=` filter.
pub(crate) fn test_query(q: &Params) -> Result<test::TestQuery, ApiError> {
    let strip_runs = q.parsed::<u32>("strip", "100, 200 or 500")?.unwrap_or(test::STRIPS[0]);
    if !test::STRIPS.contains(&strip_runs) {
        return Err(ApiError::bad_request("query parameter strip: 100, 200 or 500"));
    }
    Ok(test::TestQuery {
        strip_runs,
        executions_page: q.parsed::<u32>("page", "a page number (1, 2, ...)")?.unwrap_or(1).max(1),
        executions_result: q.parsed::<verdict_core::Outcome>("result", "passed, failed, skipped, pending or unknown")?,
    })
}

/// The aggregate page's batch (`job` and `payload`, together or neither) and `min_attempts`.
/// The aggregate page's batch: `job` and `payload` together, `min_attempts`, and `expected` (the runs the
/// batch will have, for "passes still needed" while it runs).
pub(crate) fn batch_query(q: &Params) -> Result<Option<readiness::BatchAsk>, ApiError> {
    let (job, payload) = match (q.text("job"), q.text("payload")) {
        (Some(j), Some(p)) => (j, p),
        (None, None) => return Ok(None),
        _ => return Err(ApiError::bad_request("query parameters job and payload go together")),
    };
    let minimum_attempts = q.parsed::<u32>("min_attempts", "a number")?.unwrap_or(verdict_core::decision::MINIMUM_ATTEMPTS);
    let expected_runs = q.parsed::<u32>("expected", "a number of runs")?;
    if expected_runs.is_some_and(|e| e > verdict_core::aggregation::MAX_TABLE_ATTEMPTS) {
        return Err(ApiError::bad_request(format!(
            "query parameter expected: at most {} runs",
            verdict_core::aggregation::MAX_TABLE_ATTEMPTS
        )));
    }
    Ok(Some(readiness::BatchAsk { job, payload, minimum_attempts, expected_runs }))
}

/// The compare page's `basis` and `sample` (`verdict compare`'s grammar; by default the 14 days before
/// the last 14 against the last 14), thresholds `confidence`, `pity`, `min_fail`, and drill-down `scope`.
pub(crate) fn compare_query(q: &Params) -> Result<readiness::CompareAsk, ApiError> {
    let options = verdict_core::readiness::Options::with_thresholds(
        q.parsed("confidence", "a percentage")?,
        q.parsed("pity", "points of pass rate")?,
        q.parsed("min_fail", "a number of failures")?,
    )
    .map_err(|e| ApiError::bad_request(format!("query parameter {e}")))?;
    Ok(readiness::CompareAsk {
        basis: q.text("basis").unwrap_or_else(|| "28d..14d".into()),
        sample: q.text("sample").unwrap_or_else(|| "14d".into()),
        scope: q.text("scope"),
        options,
    })
}

async fn batches(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<readiness::AggregatePage>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let ask = batch_query(&Params(q))?;
    Ok(Json(readiness::aggregate_page(s.store.as_ref(), suite, ask, now_ms()).await?))
}

async fn compare(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<readiness::ComparePage>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let page = readiness::compare_page(s.store.as_ref(), suite, compare_query(&Params(q))?, now_ms()).await?;
    Ok(Json(page.map_err(|m| ApiError::bad_request(format!("query parameter {m}")))?))
}

/// `verdict stats required-passes` as JSON: the aggregate page's "why this threshold?".
async fn required_passes(Query(q): Q) -> Result<Json<verdict_core::aggregation::ThresholdTable>, ApiError> {
    let q = Params(q);
    let attempts =
        q.parsed::<u32>("attempts", "a number of runs")?.ok_or_else(|| ApiError::bad_request("query parameter attempts is required"))?;
    let wp = q
        .parsed::<f64>("working_percentage", "a percentage")?
        .ok_or_else(|| ApiError::bad_request("query parameter working_percentage is required"))?;
    if !(0.0..=100.0).contains(&wp) {
        return Err(ApiError::bad_request(format!("query parameter working_percentage must be between 0 and 100, got {wp}")));
    }
    let table = verdict_core::aggregation::threshold_table(attempts, wp.trunc() as u32)
        .map_err(|e| ApiError::bad_request(format!("query parameter attempts: {e}")))?;
    Ok(Json(table))
}

/// The report page's twin: the native report over the page's branch and range.
async fn suite_report(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Q,
) -> Result<Json<verdict_analysis::reports::NativeReport>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let view = view_of(&s, &suite, &Params(q)).await?;
    Ok(Json(verdict_analysis::reports::native(s.store.as_ref(), &report_window(&suite, &view)).await?))
}

/// A stored report as lists show it.
pub(crate) fn report_entry(slug: &str, r: &verdict_analysis::resim::ReportView) -> serde_json::Value {
    let time = verdict_core::range::rfc3339_ms;
    serde_json::json!({
        "id": r.id,
        "name": r.name,
        "branch": r.branch_name,
        "start": time(r.start_ms),
        "end": time(r.end_ms),
        "created": time(r.created_ms),
        "metrics_status": r.metrics_status,
        "metrics_stored": r.metrics_at_ms.map(time),
        "page": crate::ui::report_page_path(slug, r),
    })
}

/// The suite's latest stored reports, newest first (the report page's list).
async fn suite_reports(State(s): State<AppState>, Path(slug): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    use verdict_analysis::resim;
    let suite = suite_of(&s, &slug).await?;
    let p = resim::Project::of(s.store.as_ref()).await?;
    let list = resim::suite_reports(s.store.as_ref(), &p, suite.id).await?;
    Ok(Json(serde_json::Value::Array(list.iter().map(|r| report_entry(&suite.slug, r)).collect())))
}

/// What a page's view covers, as a report's window.
pub(crate) fn report_window(suite: &Suite, view: &pages::View) -> verdict_store::reports::ReportWindow {
    verdict_store::reports::ReportWindow {
        suite_id: suite.id,
        branch: view.branch_filter().map(str::to_owned),
        since_ms: view.since_ms,
        until_ms: view.until_ms,
    }
}

/// A stored report (by its ReSim UUID) with its native metrics.
async fn stored_report(State(s): State<AppState>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    use verdict_analysis::{reports, resim};
    let store = s.store.as_ref();
    let p = resim::Project::of(store).await?;
    let r = resim::report(store, &p, &id).await?;
    let suite = suite_by_id(&s, r.suite_id).await?;
    let window = reports::window_of(&r);
    let (native, program) = tokio::join!(reports::native(store, &window), resim::program_metrics(store, &p, &r));
    let (native, program) = (native?, program?);
    let time = verdict_core::range::rfc3339_ms;
    Ok(Json(serde_json::json!({
        "id": r.id,
        "project": p.id(),
        "name": r.name,
        "suite": suite.slug,
        "branch": r.branch_name,
        "start": time(r.start_ms),
        "end": time(r.end_ms),
        "respect_revision_boundary": r.respect_revision,
        "page": crate::ui::report_page_path(&suite.slug, &r),
        "report": native,
        // What a report-metrics program wrote (`verdict report run`), as the page shows it; null until one ran.
        "metrics_status": r.metrics_status,
        "metrics_stored": r.metrics_at_ms.map(time),
        "program_metrics": program,
    })))
}
