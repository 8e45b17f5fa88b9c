//! Flaky and broken tests over HTTP: the suite's list, one test's state,
//! the suite's settings; and the analysis loop that keeps the states.

use crate::api::suite_or_404 as suite_of;
use crate::error::ApiError;
use crate::params::Params;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use verdict_analysis::flaky::{self, FlakyList, FlakyQuery, TestState};
use verdict_core::flaky::Settings;
use verdict_store::Store;

/// Read routes (behind the read token).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/suites/{slug}/flaky", get(list))
        .route("/tests/{id}/state", get(state))
        .route("/suites/{slug}/settings", get(settings))
}

type Q = Query<HashMap<String, String>>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn flaky_query(q: &Params) -> Result<FlakyQuery, ApiError> {
    let bad = |e: String| ApiError::bad_request(format!("query parameter {e}"));
    Ok(FlakyQuery {
        branch: q.text("branch"),
        window_days: flaky::parse_window(q.text("window").as_deref()).map_err(bad)?,
        states: flaky::parse_states(q.text("state").as_deref()).map_err(bad)?,
        page: q.page()?,
        owner: crate::api::owner_filter(q)?,
    })
}

async fn list(State(s): State<AppState>, Path(slug): Path<String>, Query(q): Q) -> Result<Json<FlakyList>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    let query = flaky_query(&Params(q))?;
    Ok(Json(flaky::flaky_list(s.store.as_ref(), &suite, query, now_ms()).await?))
}

async fn state(State(s): State<AppState>, Path(raw): Path<String>, Query(q): Q) -> Result<Json<TestState>, ApiError> {
    let id: i64 = raw.parse().map_err(|_| ApiError::bad_request(format!("test id {raw:?} is not a number")))?;
    let test = s.store.test(id).await?.ok_or_else(|| ApiError::not_found(format!("no test {id}")))?;
    let suite = crate::twins::suite_by_id(&s, test.suite_id).await?;
    let branch = Params(q).text("branch");
    Ok(Json(flaky::test_state(s.store.as_ref(), &suite, id, branch.as_deref()).await?))
}

async fn settings(State(s): State<AppState>, Path(slug): Path<String>) -> Result<Json<Settings>, ApiError> {
    let suite = suite_of(&s, &slug).await?;
    Ok(Json(s.store.flaky().flaky_settings(suite.id).await?))
}

/// `PATCH /api/v1/suites/{slug}/settings` with the suite's upload token: the
/// keys given replace the current values; unknown keys and values out of
/// range are refused (422) and nothing changes. New values apply to new
/// observations.
pub async fn patch_settings(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Settings>, ApiError> {
    let suite = auth::own_suite(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let changes: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("expected a JSON object of settings: {e}")))?;
    let current = s.store.flaky().flaky_settings(suite.id).await?;
    let merged = merge(&current, changes).map_err(ApiError::unprocessable)?;
    s.store.flaky().set_flaky_settings(suite.id, &merged).await?;
    Ok(Json(merged))
}

/// The current settings with `changes` over them, checked.
pub fn merge(current: &Settings, changes: serde_json::Map<String, serde_json::Value>) -> Result<Settings, String> {
    let mut value = serde_json::to_value(current).map_err(|e| e.to_string())?;
    let object = value.as_object_mut().ok_or("settings are an object")?;
    for (k, v) in changes {
        if !object.contains_key(&k) {
            let known: Vec<&String> = object.keys().collect();
            return Err(format!("unknown setting {k:?}; the settings are {known:?}"));
        }
        object.insert(k, v);
    }
    let merged: Settings = serde_json::from_value(value).map_err(|e| format!("a setting has the wrong type: {e}"))?;
    merged.validate()?;
    Ok(merged)
}

/// How often the loop looks for expired mutes and skips.
pub const EXPIRY_EVERY: Duration = Duration::from_secs(60);

/// How often settled (job, payload) batches are looked for.
pub const BATCH_WATCH_EVERY: Duration = Duration::from_secs(30);

/// How long the loop sleeps when nothing is due.
pub const IDLE: Duration = Duration::from_millis(500);

/// Analyse settled runs, one transaction each, until the task is dropped.
/// A failed step is logged and retried later: the queue keeps its rows.
pub async fn analysis_loop(store: Arc<dyn Store>) {
    let mut expiry_due = tokio::time::Instant::now();
    let mut batches_due = tokio::time::Instant::now();
    loop {
        // Batches of repeated runs whose runs have settled are judged for `aggregate.failed`.
        if tokio::time::Instant::now() >= batches_due {
            batches_due = tokio::time::Instant::now() + BATCH_WATCH_EVERY;
            // Each suite's own settle time applies too; none settles faster than this.
            let settle_ms = verdict_analysis::batch_watch::MIN_SETTLE_MS;
            match verdict_analysis::batch_watch::judge_settled_batches(store.as_ref(), settle_ms, now_ms()).await {
                // A full step: there may be more; take them next time round.
                Ok(n) if n as i64 == verdict_analysis::batch_watch::BATCHES_PER_STEP => batches_due = tokio::time::Instant::now(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "judging settled batches failed; it will be retried"),
            }
        }
        // Mutes and skips whose time is up are undone here too, at most a minute late.
        if tokio::time::Instant::now() >= expiry_due {
            expiry_due = tokio::time::Instant::now() + EXPIRY_EVERY;
            match store.controls().expire_controls(now_ms()).await {
                // A full batch: there may be more; take them next time round.
                Ok(100..) => expiry_due = tokio::time::Instant::now(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "re-enabling expired mutes failed; it will be retried"),
            }
        }
        match store.flaky().analyse_due(now_ms()).await {
            Ok(Some(_)) => tokio::task::yield_now().await,
            Ok(None) => tokio::time::sleep(IDLE).await,
            Err(e) => {
                tracing::warn!(error = %e, "the flaky analysis step failed; it will be retried");
                tokio::time::sleep(IDLE * 10).await;
            }
        }
    }
}
