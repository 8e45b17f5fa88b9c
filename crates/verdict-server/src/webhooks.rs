//! Webhook endpoints over HTTP, with the suite's manage token: add (the 201
//! answer shows the secret, once), list, remove, the delivery log, and a
//! retry on demand. The sender is `webhook_sender`.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::HashMap;
use verdict_analysis::webhooks::{self, AddError, Created, DeliveryLog, EndpointAsk};
use verdict_store::webhooks::Endpoint;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/suites/{slug}/webhooks", post(add).get(list))
        .route("/suites/{slug}/webhooks/{id}", delete(remove))
        .route("/suites/{slug}/webhooks/{id}/rotate", post(rotate))
        .route("/suites/{slug}/webhooks/{id}/deliveries", get(deliveries))
        .route("/suites/{slug}/webhooks/{id}/deliveries/{delivery}/retry", post(retry))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The body of `POST …/webhooks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddBody {
    url: String,
    secret: Option<String>,
    #[serde(default)]
    events: Vec<String>,
    format: Option<String>,
    owner: Option<String>,
    description: Option<String>,
}

/// `POST /api/v1/suites/{slug}/webhooks` `{"url", "secret"?, "events"?, "format"?, "owner"?, "description"?}` → 201.
async fn add(
    State(s): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let b: AddBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "expected {{\"url\": ..., \"secret\"?, \"events\"?: [...], \"format\"?: \"standard\" | \"slack\", \"owner\"?, \"description\"?}}: {e}"
        ))
    })?;
    let ask = EndpointAsk { url: b.url, secret: b.secret, events: b.events, format: b.format, owner: b.owner, description: b.description };
    match webhooks::add_endpoint(s.store.as_ref(), &suite, ask, now_ms()).await {
        Ok(created) => Ok((StatusCode::CREATED, Json(created))),
        Err(AddError::Invalid(m)) => Err(ApiError::unprocessable(m)),
        Err(AddError::Analysis(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    secret: Option<String>,
}

/// `POST …/webhooks/{id}/rotate` `{"secret"?}` (or no body) → `{"id", "secret"}`: the new secret, shown
/// once; for 24 h deliveries are signed with the old one too.
async fn rotate(
    State(s): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let ask: RotateBody = if body.bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody { secret: None }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("expected {{\"secret\"?: \"whsec_...\"}}: {e}")))?
    };
    match webhooks::rotate_secret(s.store.as_ref(), &suite, &id, ask.secret, now_ms()).await {
        Ok(secret) => Ok(Json(serde_json::json!({"id": id, "secret": secret}))),
        Err(AddError::Invalid(m)) => Err(ApiError::unprocessable(m)),
        Err(AddError::Analysis(e)) => Err(e.into()),
    }
}

async fn list(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap) -> Result<Json<Vec<Endpoint>>, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    Ok(Json(s.store.webhooks().endpoints(suite.id).await?))
}

async fn remove(State(s): State<AppState>, Path((slug, id)): Path<(String, String)>, headers: HeaderMap) -> Result<StatusCode, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    webhooks::remove_endpoint(s.store.as_ref(), &suite, &id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET …/webhooks/{id}/deliveries?limit=` (default 100, at most 500): newest first, each with its attempts.
async fn deliveries(
    State(s): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<DeliveryLog>, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    let limit = match q.get("limit") {
        None => 100,
        Some(l) => l
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=webhooks::MAX_LOG).contains(l))
            .ok_or_else(|| ApiError::bad_request(format!("limit: a number from 1 to {}, not {l:?}", webhooks::MAX_LOG)))?,
    };
    Ok(Json(webhooks::delivery_log(s.store.as_ref(), &suite, &id, limit).await?))
}

/// `POST …/webhooks/{id}/deliveries/{delivery}/retry` → 202: sent again shortly, with the same `webhook-id`.
async fn retry(
    State(s): State<AppState>,
    Path((slug, id, delivery)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    let delivery: i64 = delivery.parse().map_err(|_| ApiError::not_found(format!("no delivery {delivery:?}: delivery ids are numbers")))?;
    webhooks::retry(s.store.as_ref(), &suite, &id, delivery, now_ms()).await?;
    Ok(StatusCode::ACCEPTED)
}
