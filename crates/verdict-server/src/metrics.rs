//! `POST /api/v1/runs/{id}/metrics`: named numbers for a run (such as seconds
//! of disruption), sent with the run's suite upload token.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use verdict_core::metric_check::{MAX_METRICS_PER_REQUEST, metric_problem};

pub async fn post(State(s): State<AppState>, Path(raw): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Value>, ApiError> {
    let suite = auth::suite_for_upload(&s, &headers).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let run_id: i64 = raw.parse().map_err(|_| ApiError::bad_request(format!("run id {raw:?} is not a number")))?;
    let not_found = || ApiError::not_found(format!("no run {run_id} in suite {:?}", suite.slug));
    // Another suite's run is answered as missing: a token does not reveal other suites.
    s.store.run(run_id).await?.filter(|r| r.run.suite_id == suite.id).ok_or_else(not_found)?;
    let metrics = parse(&body)?;
    s.store.write_run_metrics(run_id, metrics).await?;
    let run = s.store.run(run_id).await?.ok_or_else(not_found)?;
    Ok(Json(json!({"run_id": run_id, "metrics": run.metrics})))
}

/// `{"metrics": {"NAME": NUMBER, ...}}`, every name and value checked.
fn parse(body: &[u8]) -> Result<Vec<(String, f64)>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Some(Value::Object(metrics)) = value.get("metrics") else {
        return Err(ApiError::bad_request("expected a JSON object {\"metrics\": {\"NAME\": NUMBER, ...}}"));
    };
    if metrics.is_empty() || metrics.len() > MAX_METRICS_PER_REQUEST {
        return Err(ApiError::bad_request(format!("send between 1 and {MAX_METRICS_PER_REQUEST} metrics")));
    }
    metrics
        .iter()
        .map(|(name, v)| {
            let value = v.as_f64().ok_or_else(|| ApiError::bad_request(format!("metric {name:?}: the value must be a number, not {v}")))?;
            match metric_problem(name, value) {
                Some(why) => Err(ApiError::bad_request(why)),
                None => Ok((name.clone(), value)),
            }
        })
        .collect()
}
