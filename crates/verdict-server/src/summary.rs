//! `GET /v1/summary?run=ID | run_key=KEY [&format=…]`: a run against its
//! base, as JSON or as Markdown for a CI step summary or a Buildkite
//! annotation. CI jobs call it with the suite's upload (or manage) token, as
//! `verdict upload` and `verdict run` do; with the read token (or when the
//! read API is open), `run_key` needs `suite=SLUG`.

use crate::error::ApiError;
use crate::params::Params;
use crate::{AppState, auth};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use verdict_analysis::summary::{self, Format, MAX_BYTES};
use verdict_store::{RunFilter, Suite, token};

pub async fn get(State(s): State<AppState>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let q = Params(q);
    let format = match q.text("format").as_deref() {
        None | Some("json") => None,
        Some(f) => Some(Format::parse(f).map_err(|e| ApiError::bad_request(format!("query parameter {e}")))?),
    };
    let own = match auth::bearer(&headers) {
        Some(t) => {
            let hash = token::hash(t);
            match s.store.suite_by_token_hash(&hash).await? {
                Some(suite) => Some(suite),
                None => s.store.controls().suite_by_manage_token_hash(&hash).await?,
            }
        }
        None => None,
    };
    if own.is_none() && !auth::has_read_access(&s, &headers) {
        return Err(ApiError::unauthorized("send the suite's upload or manage token, or the read token, as Authorization: Bearer ..."));
    }
    let (suite, run_id) = match (q.parsed::<i64>("run", "a run id")?, q.text("run_key")) {
        (Some(id), None) => {
            let run = s.store.run(id).await?.ok_or_else(|| ApiError::not_found(format!("no run {id}")))?;
            match own {
                Some(suite) if suite.id != run.run.suite_id => {
                    return Err(ApiError::not_found(format!("no run {id} in suite {:?}", suite.slug)));
                }
                Some(suite) => (suite, id),
                None => (crate::twins::suite_by_id(&s, run.run.suite_id).await?, id),
            }
        }
        (None, Some(key)) => {
            let suite: Suite = match (own, q.text("suite")) {
                (Some(suite), _) => suite,
                (None, Some(slug)) => crate::api::suite_or_404(&s, &slug).await?,
                (None, None) => return Err(ApiError::bad_request("run_key needs suite=SLUG (or the suite's token)")),
            };
            let filter = RunFilter { key: Some(key.clone()), ..Default::default() };
            let run = s.store.runs(suite.id, &filter).await?.into_iter().next();
            let run = run.ok_or_else(|| ApiError::not_found(format!("no run with key {key:?} in suite {:?}", suite.slug)))?;
            (suite, run.id)
        }
        _ => return Err(ApiError::bad_request("give one of run=ID or run_key=KEY")),
    };
    let summary = summary::run_summary(s.store.as_ref(), &suite, run_id, &s.config.public_url).await?;
    Ok(match format {
        None => Json(summary).into_response(),
        Some(f) => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], summary::render(&summary, f, MAX_BYTES)).into_response(),
    })
}
