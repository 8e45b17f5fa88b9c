//! The three POSTs pytest-monitor makes. Each answers 201 only once stored;
//! a context or session that is already there with the same fields is 201
//! too (pytest-xdist workers race to create it, and the client stops sending
//! on anything but 201); the same hash with other fields is 409.

use super::query::{context_json, session_json};
use super::{PathArgs, paging, suite};
use crate::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use verdict_formats::pytest_monitor::{FieldError, order_description, parse_context, parse_metric, parse_session};
use verdict_store::StoreError;

/// Why a POST was refused.
pub enum Refused {
    /// 400 naming the field, in the original's `errors` shape plus a readable message.
    Field(FieldError),
    Other(ApiError),
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        Refused::Other(e)
    }
}

impl From<FieldError> for Refused {
    fn from(e: FieldError) -> Self {
        Refused::Field(e)
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Refused::Other(ApiError::new(StatusCode::CONFLICT, m)),
            // Only a metric's unknown session or context: the request's fault, named by field.
            StoreError::NotFound(m) => match m.split_once(": ") {
                Some((field, why)) => Refused::Field(FieldError { field: field.to_owned(), message: why.to_owned() }),
                None => Refused::Other(ApiError::bad_request(m)),
            },
            e => Refused::Other(e.into()),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::Field(e) => {
                paging::json(StatusCode::BAD_REQUEST, &json!({"errors": {e.field.clone(): e.message.clone()}, "message": e.to_string()}))
            }
            Refused::Other(e) => e.into_response(),
        }
    }
}

fn body(raw: &[u8]) -> Result<Value, Refused> {
    serde_json::from_slice(raw).map_err(|e| Refused::Other(ApiError::bad_request(format!("the body is not valid JSON: {e}"))))
}

pub async fn post_context(State(s): State<AppState>, args: PathArgs, headers: HeaderMap, raw: Body) -> Result<Response, Refused> {
    let suite = suite(&s, &args).await?;
    let raw = crate::body::read(&s, &headers, raw, crate::body::BodyUse::Small).await?;
    let context = parse_context(&body(&raw)?)?;
    s.store.monitor().add_context(suite.id, context.clone()).await?;
    Ok(paging::json(StatusCode::CREATED, &context_json(&context)))
}

pub async fn post_session(State(s): State<AppState>, args: PathArgs, headers: HeaderMap, raw: Body) -> Result<Response, Refused> {
    let suite = suite(&s, &args).await?;
    let raw = crate::body::read(&s, &headers, raw, crate::body::BodyUse::Small).await?;
    let mut session = parse_session(&body(&raw)?, args.get("session_hash").map(String::as_str))?;
    order_description(&mut session, &raw);
    s.store.monitor().add_session(suite.id, session.clone()).await?;
    Ok(paging::json(StatusCode::CREATED, &session_json(&session)))
}

pub async fn post_metric(State(s): State<AppState>, args: PathArgs, headers: HeaderMap, raw: Body) -> Result<Response, Refused> {
    let suite = suite(&s, &args).await?;
    let raw = crate::body::read(&s, &headers, raw, crate::body::BodyUse::Small).await?;
    let metric = parse_metric(&body(&raw)?)?;
    s.store.monitor().add_metric(suite.id, metric.clone()).await?;
    s.telemetry.sample_stored();
    Ok(paging::json(StatusCode::CREATED, &metric))
}
