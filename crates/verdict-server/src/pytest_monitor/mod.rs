//! pytest-monitor's remote-server protocol (what pytest-monitor 1.6.6 sends)
//! and monitor-server-api 1.1.0's `/api/v1` query routes, over the suite's
//! store. Two bases: `/t/{token}/api/v1` (the suite's upload token in the
//! path, since the client cannot send headers) and, when the server names a
//! suite for it, `/api/v1` without authentication.

mod ingest;
mod paging;
mod query;
mod resources;

use crate::AppState;
use crate::error::ApiError;
use crate::suite_cache::SuiteKey;
use axum::Router;
use axum::routing::get;
use std::collections::HashMap;
use verdict_store::{Suite, token};

/// Routes relative to a base (`.../api/v1`).
pub fn routes() -> Router<AppState> {
    use ingest::*;
    use query::*;
    Router::new()
        .route("/contexts/", get(contexts).post(post_context))
        .route("/contexts/count", get(count_contexts))
        .route("/contexts/{environ_hash}", get(contexts).post(post_context))
        .route("/contexts/{context_hash}/metrics", get(metrics_by_context))
        .route("/contexts/{context_hash}/metrics/count", get(count_metrics_by_context))
        .route("/sessions/", get(sessions).post(post_session))
        .route("/sessions/count", get(count_sessions))
        .route("/sessions/{session_hash}", get(sessions).post(post_session))
        .route("/sessions/{session_hash}/metrics", get(metrics_by_session))
        .route("/sessions/{session_hash}/metrics/count", get(count_metrics_by_session))
        .route("/metrics/", get(metrics).post(post_metric))
        .route("/metrics/count", get(count_metrics))
        .route("/items/{item}/metrics", get(metrics_by_item))
        .route("/items/{item}/metrics/count", get(count_metrics_by_item))
        .route("/items/like/{item}/metrics", get(metrics_by_item_pattern))
        .route("/variants/{variant}/metrics", get(metrics_by_variant))
        .route("/variants/{variant}/metrics/count", get(count_metrics_by_variant))
        .route("/variants/like/{variant}/metrics", get(metrics_by_variant_pattern))
        .route("/filters/scope/{scope}/metrics", get(metrics_by_scope))
        .route("/filters/scope/{scope}/metrics/count", get(count_metrics_by_scope))
        .route("/filters/scm/{scm}/metrics", get(metrics_by_scm))
        .route("/filters/scm/{scm}/metrics/count", get(count_metrics_by_scm))
        .route("/filters/scm/{scm}/sessions", get(sessions_by_scm))
        .route("/components/", get(components))
        .route("/components/count", get(count_components))
        .route("/components/metrics", get(metrics_of_empty_component))
        .route("/components/items/{item}/metrics", get(metrics_of_empty_component_item))
        .route("/components/variants/{variant}/metrics", get(metrics_of_empty_component_variant))
        .route("/components/{component}", get(components))
        .route("/components/{component}/metrics", get(metrics_by_component))
        .route("/components/{component}/items/{item}/metrics", get(metrics_by_component_item))
        .route("/components/{component}/variants/{variant}/metrics", get(metrics_by_component_variant))
        .route("/components/{component}/pipelines", get(component_pipelines))
        .route("/components/{component}/pipelines/{pipeline}/builds", get(component_pipeline_builds))
        .route("/components/{component}/pipelines/{pipeline}/builds/{build_no}/sessions", get(component_build_sessions))
        .route("/pipelines/", get(pipelines))
        .route("/pipelines/{pipeline}/builds", get(pipeline_builds))
        .route("/pipelines/{pipeline}/builds/{build_no}/sessions", get(pipeline_build_sessions))
        .merge(resources::routes())
}

/// Path parameters of a route, including the base's `token` when there is one.
pub type PathArgs = axum::extract::Path<HashMap<String, String>>;

/// The suite a request is for: the one whose upload token is in the path,
/// or the server's unauthenticated pytest-monitor suite.
pub async fn suite(state: &AppState, args: &HashMap<String, String>) -> Result<Suite, ApiError> {
    let key = match args.get("token") {
        Some(t) => SuiteKey::TokenHash(token::hash(t)),
        None => SuiteKey::Slug(state.config.pytest_monitor_suite.clone().ok_or_else(|| {
            ApiError::not_found("pytest-monitor is served at /t/<upload token>/api/v1 (or start the server with --pytest-monitor-suite)")
        })?),
    };
    if let Some(suite) = state.suites.get(&key) {
        return Ok(suite);
    }
    let found = match &key {
        SuiteKey::TokenHash(h) => state
            .store
            .suite_by_token_hash(h)
            .await?
            .ok_or_else(|| ApiError::unauthorized("invalid upload token in the URL: no suite has this token (was it rotated?)"))?,
        SuiteKey::Slug(slug) => state
            .store
            .suite_by_slug(slug)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no suite {slug:?} (--pytest-monitor-suite)")))?,
    };
    state.suites.put(key, found.clone());
    Ok(found)
}

/// A path argument by name (routes always have the ones they name).
fn arg<'a>(args: &'a HashMap<String, String>, name: &str) -> &'a str {
    args.get(name).map_or("", String::as_str)
}
