//! `POST /v1/test-ownerships`: a suite's owners file, as Buildkite takes it
//! (`curl -H "Authorization: Bearer TOKEN" -F file=@TESTOWNERS`), with the
//! suite's upload or manage token; and `GET /api/v1/suites/{slug}/owners`.

use crate::error::ApiError;
use crate::{AppState, auth};
use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use verdict_analysis::owners::{self, OwnersView, UploadError, Uploaded};
use verdict_core::owners::MAX_FILE_BYTES;

pub async fn upload(State(s): State<AppState>, headers: HeaderMap, body: Body) -> Result<Json<Uploaded>, ApiError> {
    let (suite, by) = auth::suite_for_upload_or_manage(&s, &headers).await?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(ct).map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the owners file as multipart/form-data with a field named file (curl -F file=@TESTOWNERS)",
        )
    })?;
    let body = crate::body::read(&s, &headers, body, crate::body::BodyUse::Upload).await?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(body.bytes.clone()) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| ApiError::bad_request(format!("malformed multipart body: {e}"));
    let mut file = None;
    while let Some(field) = form.next_field().await.map_err(bad)? {
        if field.name() == Some("file") && file.is_none() {
            file = Some(field.bytes().await.map_err(bad)?);
        }
    }
    let file = file.ok_or_else(|| ApiError::bad_request("no form field named file: send the owners file as -F file=@TESTOWNERS"))?;
    if file.len() > MAX_FILE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the owners file is {} bytes; at most {MAX_FILE_BYTES} are allowed", file.len()),
        ));
    }
    let now = chrono::Utc::now().timestamp_millis();
    match owners::upload(s.store.as_ref(), &suite, &file, by, now).await {
        Ok(done) => {
            tracing::info!(suite = %suite.slug, version = done.version, rules = done.rules, "owners file stored");
            Ok(Json(done))
        }
        Err(UploadError::Invalid(e)) => Err(ApiError::unprocessable(e.to_string())),
        Err(UploadError::Store(e)) => Err(e.into()),
    }
}

pub async fn show(State(s): State<AppState>, Path(slug): Path<String>) -> Result<Json<OwnersView>, ApiError> {
    let suite = crate::api::suite_or_404(&s, &slug).await?;
    match owners::owners_view(s.store.as_ref(), suite.id).await? {
        Some(v) => Ok(Json(v)),
        None => Err(ApiError::not_found(format!("suite {slug:?} has no owners file (POST /v1/test-ownerships, or verdict owners upload)"))),
    }
}
