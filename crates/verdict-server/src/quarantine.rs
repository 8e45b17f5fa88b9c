//! Quarantine over HTTP: Buildkite Test Engine's test-state paths and
//! objects under `/buildkite` (so scripts written for Buildkite work with the
//! base URL changed), and `GET /v1/quarantine`, what `verdict run` fetches.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Serialize;
use std::collections::HashMap;
use verdict_analysis::quarantine::{self, ControlAsk, QuarantineList};
use verdict_core::quarantine::{ControlState, Pin};
use verdict_store::Suite;
use verdict_store::controls::{Controlled, PinChange};

const BASE: &str = "/buildkite/v2/analytics/organizations/{org}/suites/{slug}/tests";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/{{id}}/{{action}}"), put(set))
        .route(&format!("{BASE}/{{which}}"), get(listed))
        .route(BASE, get(listed_by_query))
        .route("/v1/quarantine", get(quarantine_list))
}

/// Buildkite's test object, with Verdict's control fields beside it.
#[derive(Debug, Serialize)]
struct TestObject {
    id: String,
    url: String,
    web_url: String,
    scope: String,
    name: String,
    location: Option<String>,
    file_name: Option<String>,
    state: &'static str,
    set_by: &'static str,
    reason: Option<String>,
    /// RFC 3339.
    expires_at: Option<String>,
    pin: Option<&'static str>,
}

fn object(s: &AppState, org: &str, suite: &Suite, c: Controlled) -> TestObject {
    let base = s.config.public_url.trim_end_matches('/');
    let id = c.test.id;
    TestObject {
        id: id.to_string(),
        url: format!("{base}/buildkite/v2/analytics/organizations/{org}/suites/{}/tests/{id}", suite.slug),
        web_url: format!("{base}/s/{}/tests/{id}", suite.slug),
        scope: c.test.scope,
        name: c.test.name,
        location: c.test.location,
        file_name: c.test.file_name,
        state: c.control.state.name(),
        set_by: c.control.set_by.name(),
        reason: c.control.reason,
        expires_at: c.control.expires_at.and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.to_rfc3339()),
        pin: c.control.pin.map(Pin::name),
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The optional body of a PUT: `{"reason", "expires_at" (RFC 3339), "pin" ("always" | "never" | null), "by"}`.
fn ask_of(state: ControlState, body: &[u8]) -> Result<ControlAsk, ApiError> {
    let bad = |m: String| ApiError::bad_request(m);
    let fields: serde_json::Map<String, serde_json::Value> = if body.iter().all(u8::is_ascii_whitespace) {
        serde_json::Map::new()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| bad(format!("expected no body, or a JSON object {{\"reason\", \"expires_at\", \"pin\", \"by\"}}: {e}")))?
    };
    let mut ask = ControlAsk { state, reason: None, expires_at: None, pin: PinChange::Keep, actor: "api".into() };
    for (k, v) in fields {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::Null => Ok(None),
            serde_json::Value::String(s) => Ok(Some(s.clone())),
            _ => Err(bad(format!("{k}: expected a string or null"))),
        };
        match k.as_str() {
            "reason" => ask.reason = text(&v)?,
            "by" => ask.actor = text(&v)?.map_or_else(|| "api".into(), |by| format!("api:{by}")),
            "expires_at" => {
                ask.expires_at = text(&v)?
                    .map(|t| {
                        chrono::DateTime::parse_from_rfc3339(&t)
                            .map(|t| t.timestamp_millis())
                            .map_err(|e| bad(format!("expires_at: {t:?} is not an RFC 3339 time: {e}")))
                    })
                    .transpose()?
            }
            "pin" => {
                ask.pin = PinChange::Set(match text(&v)? {
                    None => None,
                    Some(p) => Some(Pin::parse(&p).ok_or_else(|| bad(format!("pin: \"always\", \"never\" or null, got {p:?}")))?),
                })
            }
            other => return Err(bad(format!("unknown field {other:?}: the body takes reason, expires_at, pin and by"))),
        }
    }
    Ok(ask)
}

/// `PUT …/tests/{id}/{skip|mute|enable}` with the suite's manage token → 200 and the test object.
async fn set(
    State(s): State<AppState>,
    Path((org, slug, id, action)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<TestObject>, ApiError> {
    let suite = auth::manage_suite(&s, &headers, &slug).await?;
    let state = match action.as_str() {
        "mute" => ControlState::Muted,
        "skip" => ControlState::Skipped,
        "enable" => ControlState::Enabled,
        _ => return Err(ApiError::not_found(format!("no action {action:?}: mute, skip or enable"))),
    };
    let test_id: i64 = id.parse().map_err(|_| ApiError::not_found(format!("no test {id:?}: Verdict's test ids are numbers")))?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let ask = ask_of(state, &body)?;
    let now = now_ms();
    ask.check(now).map_err(ApiError::unprocessable)?;
    let controlled = quarantine::set_control(s.store.as_ref(), &suite, test_id, ask, now).await?;
    Ok(Json(object(&s, &org, &suite, controlled)))
}

async fn list_of(s: &AppState, org: &str, slug: &str, headers: &HeaderMap, which: &str) -> Result<Json<Vec<TestObject>>, ApiError> {
    let suite = auth::suite_reader(s, headers, slug).await?;
    let state = match which {
        "muted" => ControlState::Muted,
        "skipped" => ControlState::Skipped,
        _ => return Err(ApiError::not_found(format!("no list {which:?}: muted or skipped"))),
    };
    let rows = s.store.controls().controlled(suite.id, state).await?;
    Ok(Json(rows.into_iter().map(|c| object(s, org, &suite, c)).collect()))
}

/// `GET …/tests/{muted|skipped}` with the read token or the suite's upload or manage token.
async fn listed(
    State(s): State<AppState>,
    Path((org, slug, which)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Result<Json<Vec<TestObject>>, ApiError> {
    list_of(&s, &org, &slug, &headers, &which).await
}

/// `GET …/tests?state=muted|skipped` (Buildkite's newer form).
async fn listed_by_query(
    State(s): State<AppState>,
    Path((org, slug)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Json<Vec<TestObject>>, ApiError> {
    match q.get("state").map(String::as_str) {
        Some(which @ ("muted" | "skipped")) => list_of(&s, &org, &slug, &headers, which).await,
        _ => Err(ApiError::bad_request("query parameter state: muted or skipped")),
    }
}

/// `GET /v1/quarantine` with an upload token: the token's suite's muted and skipped tests.
async fn quarantine_list(State(s): State<AppState>, headers: HeaderMap) -> Result<Json<QuarantineList>, ApiError> {
    let suite = auth::suite_for_upload(&s, &headers).await?;
    Ok(Json(quarantine::quarantine_list(s.store.as_ref(), &suite).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_optional_and_checked() {
        let a = ask_of(ControlState::Muted, b"").unwrap();
        assert_eq!((a.reason, a.pin, a.actor.as_str()), (None, PinChange::Keep, "api"));
        let a = ask_of(ControlState::Muted, br#"{"reason": "flaky", "pin": "never", "by": "alice", "expires_at": "2030-01-01T00:00:00Z"}"#)
            .unwrap();
        assert_eq!((a.reason.as_deref(), a.pin, a.actor.as_str()), (Some("flaky"), PinChange::Set(Some(Pin::Never)), "api:alice"));
        assert_eq!(a.expires_at, Some(1_893_456_000_000));
        assert_eq!(ask_of(ControlState::Enabled, br#"{"pin": null}"#).unwrap().pin, PinChange::Set(None));
        for bad in [&br#"{"nope": 1}"#[..], br#"{"pin": "sometimes"}"#, br#"{"expires_at": "tomorrow"}"#, br#"{"reason": 5}"#, b"[1]", b"{"]
        {
            assert_eq!(ask_of(ControlState::Muted, bad).err().map(|e| e.status.as_u16()), Some(400), "{}", String::from_utf8_lossy(bad));
        }
    }
}
