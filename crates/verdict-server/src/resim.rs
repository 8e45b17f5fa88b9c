//! ReSim's report API at `/resim/v1` (the ReSim spec, §3): the GETs the
//! real `resim-open-core` report code makes, with every key its parser
//! requires, plus creating and listing reports. A thin adapter: the rows and
//! their statuses come from `verdict_analysis::resim`; this writes ReSim's JSON.
//!
//! Reads take the read token when the server has one (else any bearer);
//! creating a report takes the read token or the suite's upload token.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use verdict_analysis::resim::{self, BatchView, BuildView, JobView, MetricView, Project, ReportAsk, ReportView};

/// Largest `POST …/reports` body: a ReportInput is a few hundred bytes.
const MAX_REPORT_INPUT_BYTES: usize = 64 * 1024;

pub fn routes(state: AppState) -> Router<AppState> {
    let p = "/projects/{project}";
    Router::new()
        .route(&format!("{p}/reports"), get(list_reports).post(create_report))
        .route(&format!("{p}/reports/{{report}}"), get(get_report))
        .route(&format!("{p}/reports/{{report}}/metrics"), get(report_metrics))
        .route(&format!("{p}/batches"), get(list_batches))
        .route(&format!("{p}/batches/{{batch}}"), get(get_batch))
        .route(&format!("{p}/batches/{{batch}}/jobs"), get(list_jobs))
        .route(&format!("{p}/batches/{{batch}}/jobs/{{job}}/metrics"), get(job_metrics))
        .route(&format!("{p}/batches/{{batch}}/metrics"), get(batch_metrics))
        .route(&format!("{p}/builds/{{build}}"), get(get_build))
        .route(&format!("{p}/experiences/{{experience}}/experienceTags"), get(experience_tags))
        .fallback(|| async { ApiError::not_found("no such ReSim route: Verdict serves the report API subset (README, \"ReSim reports\")") })
        .layer(axum::middleware::from_fn_with_state(state, auth::require_read_token_on_reads))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    #[serde(rename = "pageToken")]
    page_token: Option<String>,
    search: Option<String>,
}

/// Lists that always fit one page take no page token but the empty one.
fn one_page(q: &PageQuery) -> Result<(), ApiError> {
    match q.page_token.as_deref() {
        Some(t) if !t.is_empty() => Err(ApiError::bad_request("pageToken: this list has one page")),
        _ => Ok(()),
    }
}

async fn project(state: &AppState, named: &str) -> Result<Project, ApiError> {
    let p = Project::of(state.store.as_ref()).await?;
    p.check(named)?;
    Ok(p)
}

use verdict_core::range::rfc3339_ms as time;

fn page(key: &str, items: Vec<Value>, next: Option<String>) -> Json<Value> {
    Json(json!({ key: items, "nextPageToken": next.unwrap_or_default() }))
}

fn report_json(p: &Project, r: &ReportView) -> Value {
    json!({
        "reportID": r.id,
        "projectID": p.id(),
        "testSuiteID": r.suite,
        "testSuiteRevision": resim::REVISION,
        "respectRevisionBoundary": r.respect_revision,
        "branchID": r.branch,
        "metricsBuildID": p.ids.of(verdict_core::resim::Kind::MetricsBuild, 0),
        "metricsSetName": null,
        "startTimestamp": time(r.start_ms),
        "endTimestamp": time(r.end_ms),
        "name": r.name,
        "outputLocation": "",
        // The native report is always computed on demand, so a stored report is done.
        "status": "SUCCEEDED",
        "statusHistory": [{"status": "SUCCEEDED", "updatedAt": time(r.created_ms)}],
        "lastUpdatedTimestamp": time(r.metrics_at_ms.unwrap_or(r.created_ms)),
        "creationTimestamp": time(r.created_ms),
        "userID": "",
        "orgID": "",
        "associatedAccount": "",
        "metricsStatus": r.metrics_status.as_deref().unwrap_or("NO_STATUS_REPORTED"),
        "triggeredVia": "LOCAL",
    })
}

fn batch_json(p: &Project, b: &BatchView) -> Value {
    let run = &b.run;
    let t = run.tests;
    json!({
        "associatedAccount": "",
        "batchID": b.id,
        "projectID": p.id(),
        "testSuiteID": b.suite,
        "testSuiteRevision": resim::REVISION,
        "branchID": b.branch,
        "buildID": b.build,
        "systemID": p.ids.of(verdict_core::resim::Kind::System, run.suite_id),
        "metricsBuildID": p.ids.of(verdict_core::resim::Kind::MetricsBuild, 0),
        "friendlyName": run.run_env.number.clone().unwrap_or_else(|| run.run_env.key.clone()),
        "description": run.run_env.message.clone().unwrap_or_default(),
        "creationTimestamp": time(run.created_at.timestamp_millis()),
        "lastUpdatedTimestamp": time(run.updated_at.timestamp_millis()),
        "status": b.status(),
        "conflatedStatus": b.conflated,
        "batchMetricsStatus": b.batch_metrics.as_str(),
        "jobsMetricsStatus": b.jobs_metrics.as_str(),
        "overallMetricsStatus": b.batch_metrics.worst(b.jobs_metrics).as_str(),
        "totalJobs": t.total(),
        "batchType": "NORMAL",
        "userID": "",
        "orgID": "",
    })
}

fn job_json(p: &Project, b: &BatchView, j: &JobView) -> Value {
    json!({
        "jobID": j.id,
        "batchID": b.id,
        "projectID": p.id(),
        "buildID": b.build,
        "branchID": b.branch,
        "systemID": p.ids.of(verdict_core::resim::Kind::System, b.run.suite_id),
        "experienceID": j.experience,
        "experienceName": j.experience_name,
        "conflatedStatus": j.conflated.as_str(),
        "jobStatus": j.conflated.job_status(),
        "jobMetricsStatus": j.conflated.metrics_status().as_str(),
        "creationTimestamp": time(b.run.created_at.timestamp_millis()),
        "lastUpdatedTimestamp": time(b.run.updated_at.timestamp_millis()),
        "userID": "",
        "orgID": "",
    })
}

fn metric_json(p: &Project, owner: (&str, uuid::Uuid), m: &MetricView) -> Value {
    let mut v = json!({
        "projectID": p.id(),
        "name": m.name,
        "type": "SCALAR",
        "status": m.status.as_str(),
        "value": m.value,
        "unit": m.unit,
        "dataIDs": [],
        "eventMetric": false,
    });
    v[owner.0] = json!(owner.1);
    v
}

fn build_json(p: &Project, b: &BuildView) -> Value {
    json!({
        "buildID": b.id,
        "branchID": b.branch,
        "projectID": p.id(),
        "systemID": b.system,
        "description": b.description,
        "version": b.version,
        "imageUri": "",
        "buildSpecification": "",
        "creationTimestamp": time(b.created_ms),
        "updateTimestamp": time(b.created_ms),
        "associatedAccount": "",
        "userID": "",
        "updateUserID": "",
        "orgID": "",
        "name": b.version,
    })
}

async fn get_report(State(state): State<AppState>, Path((named, report)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    let r = resim::report(state.store.as_ref(), &p, &report).await?;
    Ok(Json(report_json(&p, &r)))
}

async fn list_reports(
    State(state): State<AppState>,
    Path(named): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    let list = resim::reports(state.store.as_ref(), &p, q.page_token.as_deref()).await?;
    Ok(page("reports", list.items.iter().map(|r| report_json(&p, r)).collect(), list.next))
}

/// The metrics a report-metrics program wrote for the report (`verdict
/// report run`), one row per metric of its file: SCALAR with the value and
/// unit, else COMPOSITE (the spec's §5.4); none until a program ran.
async fn report_metrics(
    State(state): State<AppState>,
    Path((named, report)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    let store = state.store.as_ref();
    let r = resim::report(store, &p, &report).await?;
    let rows = resim::report_metric_rows(store, &p, &r, q.page_token.as_deref()).await?;
    let created = r.metrics_at_ms.map(time);
    let items = rows
        .items
        .iter()
        .map(|m| {
            json!({
                "metricID": m.id,
                "reportID": r.id,
                "projectID": p.id(),
                "name": m.name,
                "type": if m.scalar { "SCALAR" } else { "COMPOSITE" },
                "value": m.value,
                "unit": m.unit,
                "status": m.status,
                "eventMetric": m.event_metric,
                "creationTimestamp": created,
                "dataIDs": [],
                "userID": "",
                "orgID": "",
            })
        })
        .collect();
    Ok(page("reportMetrics", items, rows.next))
}

/// ReSim's `ReportInput`; unknown keys are refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReportInput {
    #[serde(rename = "testSuiteID")]
    test_suite_id: String,
    #[serde(rename = "branchID")]
    branch_id: String,
    start_timestamp: String,
    end_timestamp: Option<String>,
    name: Option<String>,
    respect_revision_boundary: Option<bool>,
    test_suite_revision: Option<i64>,
    // Accepted as ReSim's client sends them; Verdict has one metrics build and no metrics sets.
    #[serde(rename = "metricsBuildID")]
    _metrics_build_id: Option<String>,
    #[serde(rename = "metricsSetName")]
    _metrics_set_name: Option<String>,
    #[serde(rename = "associatedAccount")]
    _associated_account: Option<String>,
    #[serde(rename = "triggeredVia")]
    _triggered_via: Option<String>,
    #[serde(rename = "poolLabels")]
    _pool_labels: Option<Vec<String>>,
}

fn parse_rfc3339(what: &str, text: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| ApiError::bad_request(format!("{what}: {text:?} is not an RFC 3339 time")))
}

async fn create_report(
    State(state): State<AppState>,
    Path(named): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    // A write: the read token, or the upload token of the report's suite;
    // checked before the body is read.
    let by_token = if state.config.read_token.is_some() && auth::has_read_access(&state, &headers) {
        None
    } else {
        Some(auth::suite_for_upload(&state, &headers).await?)
    };
    let p = project(&state, &named).await?;
    let body = axum::body::to_bytes(body, MAX_REPORT_INPUT_BYTES)
        .await
        .map_err(|_| ApiError::too_large(format!("a ReportInput is at most {MAX_REPORT_INPUT_BYTES} bytes")))?;
    let input: ReportInput = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("ReportInput: {e}")))?;
    let store = state.store.as_ref();
    let suite = resim::suite_of(store, &p, &input.test_suite_id).await?;
    if by_token.is_some_and(|s| s.id != suite.id) {
        return Err(ApiError::forbidden("this upload token belongs to another suite than testSuiteID"));
    }
    if input.test_suite_revision.is_some_and(|r| r != resim::REVISION) {
        return Err(ApiError::bad_request("testSuiteRevision: Verdict suites have one revision, 0"));
    }
    let branch_uuid = uuid::Uuid::parse_str(&input.branch_id)
        .map_err(|_| ApiError::bad_request(format!("branchID {:?} is not a UUID", input.branch_id)))?;
    let branch = resim::branch_of(store, &p, suite.id, branch_uuid)
        .await?
        .ok_or_else(|| ApiError::bad_request(format!("branchID {}: no run of the suite named this branch", input.branch_id)))?;
    let now = chrono::Utc::now().timestamp_millis();
    let ask = ReportAsk {
        branch,
        name: input.name,
        start_ms: parse_rfc3339("startTimestamp", &input.start_timestamp)?,
        end_ms: input.end_timestamp.as_deref().map(|t| parse_rfc3339("endTimestamp", t)).transpose()?.unwrap_or(now),
        respect_revision: input.respect_revision_boundary.unwrap_or(false),
    };
    let r = resim::create_report(store, &suite, ask, now).await?;
    Ok((StatusCode::CREATED, Json(report_json(&p, &r))).into_response())
}

async fn list_batches(
    State(state): State<AppState>,
    Path(named): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    let list = resim::batches(state.store.as_ref(), &p, q.search.as_deref().unwrap_or(""), q.page_token.as_deref()).await?;
    Ok(page("batches", list.items.iter().map(|b| batch_json(&p, b)).collect(), list.next))
}

async fn get_batch(State(state): State<AppState>, Path((named, batch)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    Ok(Json(batch_json(&p, &resim::batch(state.store.as_ref(), &p, &batch).await?)))
}

async fn list_jobs(
    State(state): State<AppState>,
    Path((named, batch)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    let (b, list) = resim::jobs(state.store.as_ref(), &p, &batch, q.page_token.as_deref()).await?;
    Ok(page("jobs", list.items.iter().map(|j| job_json(&p, &b, j)).collect(), list.next))
}

async fn job_metrics(
    State(state): State<AppState>,
    Path((named, batch, job)): Path<(String, String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    one_page(&q)?;
    let (j, metrics) = resim::job_metrics(state.store.as_ref(), &p, &batch, &job).await?;
    let items = metrics.iter().map(|m| metric_json(&p, ("jobID", j.id), m)).collect();
    Ok(page("metrics", items, None))
}

async fn batch_metrics(
    State(state): State<AppState>,
    Path((named, batch)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    one_page(&q)?;
    let (b, metrics) = resim::batch_metrics(state.store.as_ref(), &p, &batch).await?;
    let items = metrics.iter().map(|m| metric_json(&p, ("batchID", b.id), m)).collect();
    Ok(page("batchMetrics", items, None))
}

async fn get_build(State(state): State<AppState>, Path((named, build)): Path<(String, String)>) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    Ok(Json(build_json(&p, &resim::build(state.store.as_ref(), &p, &build).await?)))
}

async fn experience_tags(
    State(state): State<AppState>,
    Path((named, experience)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let p = project(&state, &named).await?;
    one_page(&q)?;
    resim::experience_tags(state.store.as_ref(), &p, &experience).await?;
    Ok(page("experienceTags", vec![], None))
}
