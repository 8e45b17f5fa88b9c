//! The three POSTs pytest-monitor makes. Each answers 201 only once stored;
//! a context or session that is already there with the same fields is 201
//! too (pytest-xdist workers race to create it, and the client stops sending
//! on anything but 201); the same hash with other fields is 409.

use super::query::{context_json, session_json};
use super::{PathArgs, paging, suite};
use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use verdict_formats::pytest_monitor::{FieldError, order_description, parse_context, parse_metric, parse_session};
use verdict_store::StoreError;

fn body(raw: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(raw)
        .map_err(|e| paging::json(StatusCode::BAD_REQUEST, &json!({"message": format!("the body is not valid JSON: {e}")})))
}

/// 400 naming the field, in the original's `errors` shape plus a readable message.
fn invalid(e: FieldError) -> Response {
    paging::json(StatusCode::BAD_REQUEST, &json!({"errors": {e.field.clone(): e.message.clone()}, "message": e.to_string()}))
}

fn stored(r: Result<verdict_store::monitor::Added, StoreError>) -> Result<(), ApiError> {
    match r {
        Ok(_) => Ok(()),
        Err(StoreError::Conflict(m)) => Err(ApiError::new(StatusCode::CONFLICT, m)),
        Err(e) => Err(e.into()),
    }
}

pub async fn post_context(State(s): State<AppState>, args: PathArgs, raw: Bytes) -> Result<Response, ApiError> {
    let suite = suite(&s, &args).await?;
    let context = match body(&raw).and_then(|v| parse_context(&v).map_err(invalid)) {
        Ok(c) => c,
        Err(r) => return Ok(r),
    };
    stored(s.store.monitor().add_context(suite.id, context.clone()).await)?;
    Ok(paging::json(StatusCode::CREATED, &context_json(&context)))
}

pub async fn post_session(State(s): State<AppState>, args: PathArgs, raw: Bytes) -> Result<Response, ApiError> {
    let suite = suite(&s, &args).await?;
    let url_hash = args.get("session_hash").map(String::as_str);
    let mut session = match body(&raw).and_then(|v| parse_session(&v, url_hash).map_err(invalid)) {
        Ok(x) => x,
        Err(r) => return Ok(r),
    };
    order_description(&mut session, &raw);
    stored(s.store.monitor().add_session(suite.id, session.clone()).await)?;
    Ok(paging::json(StatusCode::CREATED, &session_json(&session)))
}

pub async fn post_metric(State(s): State<AppState>, args: PathArgs, raw: Bytes) -> Result<Response, ApiError> {
    let suite = suite(&s, &args).await?;
    let metric = match body(&raw).and_then(|v| parse_metric(&v).map_err(invalid)) {
        Ok(m) => m,
        Err(r) => return Ok(r),
    };
    match s.store.monitor().add_metric(suite.id, metric.clone()).await {
        Ok(()) => Ok(paging::json(StatusCode::CREATED, &metric)),
        // An unknown session or context is the request's fault: name the field.
        Err(StoreError::NotFound(m)) => {
            let field = m.split(':').next().unwrap_or_default().to_owned();
            Ok(invalid(FieldError { field, message: m.split_once(": ").map_or(m.clone(), |(_, why)| why.to_owned()) }))
        }
        Err(e) => Err(e.into()),
    }
}
