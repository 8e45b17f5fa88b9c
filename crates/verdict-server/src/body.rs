//! Request bodies, read the same way on every route that takes one: only
//! after the request's credentials have been checked (a handler takes the
//! raw `Body` and calls [`read`] once it knows who is asking), within the
//! server's body limit and body timeout. A client without credentials can
//! therefore not hold a connection open by promising a body it never sends.

use crate::AppState;
use crate::budget::Reservation;
use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, StatusCode, header};

/// What a route does with its body, which sets its limit and what reading
/// and parsing it may cost in memory.
#[derive(Clone, Copy)]
pub enum BodyUse {
    /// An upload, read by the typed readers (at most about 1.2 times its size
    /// beside the body itself); gzip is inflated later, with its own reservation.
    Upload,
    /// A small JSON body (pytest-monitor, run metrics) parsed into a tree,
    /// which can cost tens of times its size: at most `SMALL_BODY_BYTES`.
    Small,
}

/// The largest body of the routes that take small ones: pytest-monitor sends
/// a few KiB.
pub const SMALL_BODY_BYTES: usize = 1024 * 1024;

impl BodyUse {
    fn limit(self, state: &AppState) -> usize {
        match self {
            BodyUse::Upload => state.config.max_body_bytes,
            BodyUse::Small => SMALL_BODY_BYTES.min(state.config.max_body_bytes),
        }
    }

    /// Memory to hold for a body of `len` bytes: the body, and what parsing it builds.
    fn cost(self, len: usize) -> usize {
        match self {
            BodyUse::Upload => len.saturating_mul(3),
            BodyUse::Small => len.saturating_mul(64),
        }
    }
}

/// A body, read, and the memory held for it until it is dropped.
pub struct ReadBody {
    pub bytes: Bytes,
    pub reservation: Reservation,
}

impl std::ops::Deref for ReadBody {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Reserve what the body can cost, then read it whole within the server's
/// body timeout and the route's limit.
pub async fn read(state: &AppState, headers: &HeaderMap, body: Body, use_: BodyUse) -> Result<ReadBody, ApiError> {
    let limit = use_.limit(state);
    let timeout = state.config.body_timeout;
    let bound = declared_length(headers).map_or(limit, |n| usize::try_from(n).unwrap_or(usize::MAX).min(limit));
    let reservation = state.memory.reserve(use_.cost(bound), timeout).await?;
    let bytes = tokio::time::timeout(timeout, read_capped(headers, body, limit)).await.map_err(|_| {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, format!("the request body did not arrive within {} s", timeout.as_secs()))
    })??;
    Ok(ReadBody { bytes, reservation })
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
