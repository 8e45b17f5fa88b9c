//! Failure clusters over HTTP: a suite's clusters, one cluster, and the
//! suite's rules (listed with the read token, changed with the upload token).

use crate::api::suite_or_404 as suite_of;
use crate::error::ApiError;
use crate::params::Params;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use verdict_analysis::clusters::{self, ClusterDetail, ClusterList, NewRule};
use verdict_analysis::flaky::parse_window;
use verdict_store::clusters::StoredRule;

/// Read routes (behind the read token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/suites/{slug}/clusters", get(list))
        .route("/suites/{slug}/clusters/{id}", get(detail))
        .route("/suites/{slug}/cluster-rules", get(rules))
}

type Q = Query<HashMap<String, String>>;

/// A new rule is applied to this many days of stored failures.
const RULE_DAYS: i64 = 7;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `days=` of a cluster's page: 1 to 90, default 14.
pub(crate) fn days(q: &Params) -> Result<i64, ApiError> {
    let d = q.parsed::<i64>("days", "a number of days")?.unwrap_or(14);
    if !(1..=90).contains(&d) {
        return Err(ApiError::bad_request(format!("query parameter days: 1 to 90, got {d}")));
    }
    Ok(d)
}

pub(crate) fn window(q: &Params) -> Result<i64, ApiError> {
    parse_window(q.text("window").as_deref()).map_err(|e| ApiError::bad_request(format!("query parameter {e}")))
}

async fn list(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<ClusterList>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let q = Params(q);
    let (window, owner) = (window(&q)?, crate::api::owner_filter(&q)?);
    Ok(Json(clusters::cluster_list(s.store.as_ref(), &suite, window, owner.as_ref(), now_ms()).await?))
}

async fn detail(State(s): State<AppState>, Path((slug, id)): Path<(String, String)>, Query(q): Q) -> Result<Json<ClusterDetail>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let days = days(&Params(q))?;
    Ok(Json(clusters::cluster_detail(s.store.as_ref(), &suite, &id, days, now_ms()).await?))
}

async fn rules(State(s): State<AppState>, Path(slug): Path<String>) -> Result<Json<Vec<StoredRule>>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    Ok(Json(s.store.clusters().rules(suite.id).await?))
}

/// `POST /api/v1/suites/{slug}/cluster-rules` with the upload token:
/// `{"name", "like" | "regex", "bug_url"?, "priority"?}` → 201 and the rule. It claims new failures.
pub async fn add_rule(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<StoredRule>), ApiError> {
    let suite = auth::own_suite(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let asked: NewRule = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("expected {{\"name\": ..., \"like\": ... or \"regex\": ..., \"bug_url\": ...}}: {e}"))
    })?;
    let rule = clusters::new_rule(asked).map_err(ApiError::unprocessable)?;
    s.store.clusters().add_rule(suite.id, &rule).await?;
    // The last 7 days' failures are clustered again with the new rule, after the reply. A crash
    // before it ends leaves them as they were (`verdict failures recluster` redoes it).
    let store = s.store.clone();
    tokio::spawn(async move {
        let since = now_ms() - RULE_DAYS * 86_400_000;
        if let Err(e) = store.clusters().recluster(suite.id, since).await {
            tracing::warn!(error = %e, suite = suite.slug, "applying a new rule to the last 7 days failed");
        }
    });
    Ok((StatusCode::CREATED, Json(rule)))
}

/// `DELETE /api/v1/suites/{slug}/cluster-rules/{id}` with the upload token → 204.
pub async fn remove_rule(
    State(s): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let suite = auth::own_suite(&s, &headers, &slug).await?;
    s.store.clusters().remove_rule(suite.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
