//! `POST /v1/uploads`, the Buildkite Test Analytics upload API: JSON bodies
//! (optionally gzip) and multipart forms, answered 202 only once stored.

use crate::AppState;
use crate::auth;
use crate::error::ApiError;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};
use std::io::Read;
use verdict_core::Upload;
use verdict_formats::buildkite::{self, Data, Envelope};

/// How many skip reasons the response lists (the count is always exact).
const MAX_REASONS: usize = 20;

pub async fn upload(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<(StatusCode, Json<Value>), ApiError> {
    let suite = auth::suite_for_upload(&state, &headers).await?;
    let raw = crate::body::read(&state.config, &headers, body).await?;
    let bytes = decode(&headers, raw, state.config.max_decompressed_bytes)?;
    let upload = match content_type(&headers).as_str() {
        "multipart/form-data" => parse_multipart(&headers, bytes).await?,
        "application/x-www-form-urlencoded" => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the upload as multipart/form-data (curl -F) or as a JSON body (application/json)",
            ));
        }
        _ => off_thread(move || buildkite::parse_json_body(&bytes)).await?,
    };
    let skipped = upload.skipped.len();
    let reasons: Vec<String> = upload.skipped.reasons().iter().take(MAX_REASONS).cloned().collect();
    let receipt = state.store.write_upload(suite.id, upload).await?;
    tracing::info!(suite = %suite.slug, run_id = receipt.run_id, queued = receipt.queued, skipped, "upload stored");
    let run_url = format!("{}/api/v1/runs/{}", state.config.public_url.trim_end_matches('/'), receipt.run_id);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": receipt.upload_id,
            "run_id": receipt.run_id.to_string(),
            "queued": receipt.queued,
            "skipped": skipped,
            "errors": [],
            "run_url": run_url,
            "skipped_reasons": reasons,
        })),
    ))
}

/// Parsing is CPU work: keep it off the threads that serve connections.
async fn off_thread<F>(f: F) -> Result<Upload, ApiError>
where
    F: FnOnce() -> Result<Upload, verdict_formats::FormatError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("parsing failed: {e}")))?
        .map_err(|e| ApiError::unprocessable(e.message))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn decode(headers: &HeaderMap, raw: Bytes, limit: usize) -> Result<Bytes, ApiError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(raw),
        "gzip" | "x-gzip" => {
            let mut out = Vec::with_capacity(raw.len().saturating_mul(4).min(limit));
            let read = flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::bad_request(format!("the body is not valid gzip: {e}")))?;
            if read > limit {
                return Err(ApiError::too_large(format!("the body decompresses to more than the limit of {limit} bytes")));
            }
            Ok(out.into())
        }
        other => {
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content-Encoding {other:?} is not supported: use gzip or none")))
        }
    }
}

async fn parse_multipart(headers: &HeaderMap, bytes: Bytes) -> Result<Upload, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(ct).map_err(|e| ApiError::bad_request(format!("bad multipart Content-Type: {e}")))?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let bad = |e: multer::Error| ApiError::bad_request(format!("malformed multipart body: {e}"));

    let (mut format, mut run_env, mut tags, mut data) = (None, Vec::new(), Vec::new(), None::<Bytes>);
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        let value = field.bytes().await.map_err(bad)?;
        let text =
            || String::from_utf8(value.to_vec()).map_err(|_| ApiError::unprocessable(format!("form field {name:?} is not valid UTF-8")));
        if name == "data" {
            data.get_or_insert(value.clone());
        } else if name == "format" {
            format = Some(text()?);
        } else if let Some(key) = bracketed(&name, "run_env") {
            run_env.push((key.to_owned(), Some(text()?)));
        } else if let Some(key) = bracketed(&name, "tags") {
            tags.push((key.to_owned(), text()?));
        }
    }
    off_thread(move || {
        let data = data.as_deref().map(Data::Bytes);
        buildkite::assemble(Envelope { format, run_env, tags, data })
    })
    .await
}

/// `run_env[key]` → `key`.
fn bracketed<'a>(name: &'a str, prefix: &str) -> Option<&'a str> {
    name.strip_prefix(prefix)?.strip_prefix('[')?.strip_suffix(']')
}
