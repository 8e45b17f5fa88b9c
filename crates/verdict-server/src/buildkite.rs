//! `POST /v1/uploads`, the Buildkite Test Analytics upload API: JSON bodies
//! (optionally gzip) and multipart forms, answered 202 only once stored.

use crate::AppState;
use crate::auth;
use crate::body::{BodyUse, ReadBody};
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
    // What the headers alone refuse is refused before the body is read.
    let gzip = is_gzip(&headers)?;
    let multipart = match content_type(&headers).as_str() {
        "multipart/form-data" => true,
        "application/x-www-form-urlencoded" => {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send the upload as multipart/form-data (curl -F) or as a JSON body (application/json)",
            ));
        }
        _ => false,
    };
    // Held until the upload is stored: the memory its body and results take.
    let mut body = crate::body::read(&state, &headers, body, BodyUse::Upload).await?;
    let bytes = if gzip { inflate(&state, &mut body).await? } else { body.bytes.clone() };
    let upload =
        if multipart { parse_multipart(&headers, bytes).await? } else { off_thread(move || buildkite::parse_json_body(&bytes)).await? };
    let skipped = upload.skipped.len();
    let reasons: Vec<String> = upload.skipped.reasons().iter().take(MAX_REASONS).cloned().collect();
    let (format, results, writing) = (upload.format.clone(), upload.executions.len(), std::time::Instant::now());
    let receipt = state.store.write_upload(suite.id, upload).await?;
    state.telemetry.upload_stored(&format, results, skipped, writing.elapsed());
    tracing::info!(suite = %suite.slug, run_id = receipt.run_id, queued = receipt.queued, skipped, "upload stored");
    // The run's page: collectors print it and CI logs link it.
    let run_url = format!("{}/s/{}/runs/{}", state.config.public_url.trim_end_matches('/'), suite.slug, receipt.run_id);
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

/// Whether the body is gzip (else identity); any other encoding is 415.
fn is_gzip(headers: &HeaderMap) -> Result<bool, ApiError> {
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("").trim().to_ascii_lowercase();
    match encoding.as_str() {
        "" | "identity" => Ok(false),
        "gzip" | "x-gzip" => Ok(true),
        other => {
            Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("Content-Encoding {other:?} is not supported: use gzip or none")))
        }
    }
}

/// Inflate a gzip body off the async threads, within the decompressed-size
/// limit and the memory budget. The memory is reserved for the size the gzip
/// trailer claims; a body that inflates to more takes more as it grows, if
/// the budget has it free, else it is answered 503 (busy).
async fn inflate(state: &AppState, body: &mut ReadBody) -> Result<Bytes, ApiError> {
    let limit = state.config.max_decompressed_bytes;
    let raw = std::mem::take(&mut body.bytes);
    let claim = claimed_size(&raw).min(limit);
    state.memory.grow(&mut body.reservation, inflate_cost(raw.len(), claim), state.config.body_timeout).await?;
    let memory = state.memory.clone();
    let mut reservation = std::mem::replace(&mut body.reservation, state.memory.empty());
    let (reservation, out) = tokio::task::spawn_blocking(move || {
        let out = inflate_within(&raw, limit, |len| memory.try_grow(&mut reservation, inflate_cost(raw.len(), len.min(limit))));
        (reservation, out)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("inflating failed: {e}")))?;
    body.reservation = reservation;
    out
}

/// The raw body, what it inflates to, and what parsing that builds.
fn inflate_cost(raw: usize, inflated: usize) -> usize {
    raw.saturating_add(inflated.saturating_mul(3))
}

/// The uncompressed size in the last gzip member's trailer (ISIZE, modulo
/// 2^32): a claim, used to reserve memory, never trusted for the limit.
fn claimed_size(raw: &[u8]) -> usize {
    match raw.len() {
        n if n >= 18 => u32::from_le_bytes([raw[n - 4], raw[n - 3], raw[n - 2], raw[n - 1]]) as usize,
        _ => 0,
    }
}

/// Inflate `raw`, asking `room(len)` for memory whenever the output passes
/// what it was given (doubling); refuse past `limit`.
fn inflate_within(raw: &[u8], limit: usize, mut room: impl FnMut(usize) -> bool) -> Result<Bytes, ApiError> {
    let mut decoder = flate2::read::MultiGzDecoder::new(raw);
    let mut out = Vec::with_capacity(claimed_size(raw).min(limit).min(raw.len().saturating_mul(64)));
    let mut granted = claimed_size(raw).min(limit);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = decoder.read(&mut chunk).map_err(|e| ApiError::bad_request(format!("the body is not valid gzip: {e}")))?;
        if n == 0 {
            return Ok(out.into());
        }
        if out.len() + n > limit {
            return Err(ApiError::too_large(format!("the body decompresses to more than the limit of {limit} bytes")));
        }
        if out.len() + n > granted {
            granted = (out.len() + n).max(granted.saturating_mul(2)).max(1 << 20);
            if !room(granted) {
                return Err(crate::budget::busy());
            }
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

pub(crate) async fn parse_multipart(headers: &HeaderMap, bytes: Bytes) -> Result<Upload, ApiError> {
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
