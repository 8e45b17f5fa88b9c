//! `PATCH /api/v1/suites/{slug}`: set the suite's link templates
//! (`{"commit_url": "...", "file_url": "..."}`, an empty string clears one),
//! sent with the suite's upload token, as `verdict suite update` does locally.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use verdict_core::links::check_template;
use verdict_store::{Suite, SuiteLinks};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LinksBody {
    commit_url: Option<String>,
    file_url: Option<String>,
}

pub async fn patch(State(s): State<AppState>, Path(slug): Path<String>, headers: HeaderMap, body: Body) -> Result<Json<Suite>, ApiError> {
    auth::own_suite(&s, &headers, &slug).await?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Small).await?;
    let links: LinksBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected {{\"commit_url\": \"...\", \"file_url\": \"...\"}}: {e}")))?;
    for (field, value, required) in [("commit_url", &links.commit_url, "{commit}"), ("file_url", &links.file_url, "{file}")] {
        if let Some(Err(e)) = value.as_deref().map(|v| check_template(v, required)) {
            return Err(ApiError::bad_request(format!("{field}: {e}")));
        }
    }
    s.store.dashboard().set_suite_links(&slug, &SuiteLinks { commit_url: links.commit_url, file_url: links.file_url }).await?;
    Ok(Json(s.store.suite_by_slug(&slug).await?.ok_or_else(|| ApiError::not_found(format!("no suite {slug:?}")))?))
}
