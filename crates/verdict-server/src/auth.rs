//! Tokens in the forms real clients send them (spec 1.1):
//! `Token token="x"`, `Token token=x`, `Token token="x";`, `Token x`, `Bearer x`.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use verdict_store::{Suite, token};

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let raw = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = raw.split_once(char::is_whitespace)?;
    let rest = rest.trim();
    let value = if scheme.eq_ignore_ascii_case("token") {
        rest.strip_prefix("token=").unwrap_or(rest)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        rest
    } else {
        return None;
    };
    let value = value.trim().trim_end_matches(';').trim().trim_matches('"').trim();
    (!value.is_empty()).then_some(value)
}

/// The suite an upload token belongs to.
pub async fn suite_for_upload(state: &AppState, headers: &HeaderMap) -> Result<Suite, ApiError> {
    let token = bearer(headers)
        .ok_or_else(|| ApiError::unauthorized("missing upload token: send the suite's token as Authorization: Token token=\"...\""))?;
    state
        .store
        .suite_by_token_hash(&token::hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid upload token: no suite has this token (was it rotated?)"))
}

/// Middleware: with a `--read-token`, every read needs it as a bearer token.
pub async fn require_read_token(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    check_read_token(&state, req.headers())?;
    Ok(next.run(req).await)
}

/// Middleware for routes that take both reads and writes (pytest-monitor's
/// open base): reads need the read token, writes carry their own credential.
pub async fn require_read_token_on_reads(State(state): State<AppState>, req: Request, next: Next) -> Result<Response, ApiError> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        check_read_token(&state, req.headers())?;
    }
    Ok(next.run(req).await)
}

fn check_read_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(required) = state.config.read_token.as_deref() else {
        return Ok(());
    };
    match bearer(headers) {
        Some(given) if constant_time_eq(given.as_bytes(), required.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthorized("this server needs a read token: send Authorization: Bearer <token>")),
    }
}

/// Compare secrets in time that depends only on their lengths, so that the
/// time of a refusal does not tell how many leading bytes were right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_header_form() {
        for form in ["Token token=\"abc\"", "Token token=abc", "Token token=\"abc\";", "Token abc", "Bearer abc", "token  token=\"abc\" "] {
            let mut h = HeaderMap::new();
            h.insert("authorization", form.parse().unwrap());
            assert_eq!(bearer(&h), Some("abc"), "{form}");
        }
        let mut h = HeaderMap::new();
        h.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert("authorization", "Token token=\"\"".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }

    #[test]
    fn secrets_compare_by_every_byte() {
        assert!(constant_time_eq(b"reader-secret", b"reader-secret"));
        assert!(!constant_time_eq(b"reader-secret", b"reader-secreT"));
        assert!(!constant_time_eq(b"reader-secret", b"reader-secre"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
