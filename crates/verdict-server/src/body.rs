//! Request bodies, read the same way on every route that takes one: only
//! after the request's credentials have been checked (a handler takes the
//! raw `Body` and calls [`read`] once it knows who is asking), within the
//! server's body limit and body timeout. A client without credentials can
//! therefore not hold a connection open by promising a body it never sends.

use crate::ServerConfig;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};

/// Read the whole body within `config.body_timeout` and `config.max_body_bytes`.
pub async fn read(config: &ServerConfig, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let timeout = config.body_timeout;
    tokio::time::timeout(timeout, read_capped(headers, body, config.max_body_bytes)).await.map_err(|_| {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {} s", timeout.as_secs()))
    })?
}

/// Read the body, refusing more than `limit` bytes. An oversize body is read
/// on (up to a bound) and thrown away before answering: closing a socket that
/// still holds unread data resets the connection, and the client would lose
/// the 413 that says what went wrong.
async fn read_capped(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let too_large = || ApiError::too_large(format!("the request body is larger than the limit of {limit} bytes: split the upload"));
    let drain_cap = limit.saturating_mul(4).max(64 * 1024 * 1024) as u64;
    let declared = declared_length(headers);
    if declared.is_some_and(|n| n > drain_cap) {
        return Err(too_large());
    }
    let mut body = body;
    let mut buf = Vec::with_capacity(declared.unwrap_or(0).min(limit as u64) as usize);
    let mut seen: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("could not read the request body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen += data.len() as u64;
        if seen > drain_cap {
            break;
        }
        if seen <= limit as u64 {
            buf.extend_from_slice(&data);
        }
    }
    if seen > limit as u64 {
        return Err(too_large());
    }
    Ok(buf.into())
}

/// The `Content-Length` the client announced, if it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok())
}
