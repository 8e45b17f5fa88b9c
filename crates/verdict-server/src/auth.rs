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
/// The suite of the upload token, which must be the suite of `slug`: a suite's
/// writes (settings, links, rules) take its own token. Another suite's slug is
/// answered as missing: a token does not reveal other suites.
pub async fn own_suite(state: &AppState, headers: &HeaderMap, slug: &str) -> Result<Suite, ApiError> {
    let suite = suite_for_upload(state, headers).await?;
    if suite.slug != slug {
        return Err(ApiError::not_found(format!("no suite {slug:?} for this token")));
    }
    Ok(suite)
}

/// The suite `slug` when the request carries its upload token; another suite's token is 403 (bktec's answer).
pub async fn suite_of_upload_token(state: &AppState, headers: &HeaderMap, slug: &str) -> Result<Suite, ApiError> {
    let suite = suite_for_upload(state, headers).await?;
    if suite.slug != slug {
        return Err(ApiError::forbidden(format!("this upload token belongs to another suite, not {slug:?}")));
    }
    Ok(suite)
}

pub async fn suite_for_upload(state: &AppState, headers: &HeaderMap) -> Result<Suite, ApiError> {
    let token = bearer(headers)
        .ok_or_else(|| ApiError::unauthorized("missing upload token: send the suite's token as Authorization: Token token=\"...\""))?;
    state
        .store
        .suite_by_token_hash(&token::hash(token))
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid upload token: no suite has this token (was it rotated?)"))
}

/// The suite of an upload token or a manage token, and which it was.
pub async fn suite_for_upload_or_manage(state: &AppState, headers: &HeaderMap) -> Result<(Suite, &'static str), ApiError> {
    let token = bearer(headers)
        .ok_or_else(|| ApiError::unauthorized("missing token: send the suite's upload or manage token as Authorization: Bearer ..."))?;
    let hash = token::hash(token);
    if let Some(suite) = state.store.suite_by_token_hash(&hash).await? {
        return Ok((suite, "upload token"));
    }
    match state.store.controls().suite_by_manage_token_hash(&hash).await? {
        Some(suite) => Ok((suite, "manage token")),
        None => Err(ApiError::unauthorized("invalid token: no suite has this upload or manage token (was it rotated?)")),
    }
}

/// The suite `slug` when the request carries its manage token (what changes
/// test controls). Another suite's manage token, or an upload token, is 403;
/// no token or an unknown one, 401. Checked before any body is read.
pub async fn manage_suite(state: &AppState, headers: &HeaderMap, slug: &str) -> Result<Suite, ApiError> {
    let token = bearer(headers).ok_or_else(|| {
        ApiError::unauthorized(
            "missing manage token: send the suite's manage token (verdict suite token manage SLUG) as Authorization: Bearer ...",
        )
    })?;
    let hash = token::hash(token);
    match state.store.controls().suite_by_manage_token_hash(&hash).await? {
        Some(suite) if suite.slug == slug => Ok(suite),
        Some(_) => Err(ApiError::forbidden(format!("this manage token belongs to another suite, not {slug:?}"))),
        None if state.store.suite_by_token_hash(&hash).await?.is_some() => Err(ApiError::forbidden(
            "an upload token cannot change test states: use the suite's manage token (verdict suite token manage SLUG)",
        )),
        None => Err(ApiError::unauthorized("invalid manage token: no suite has this token (was it rotated?)")),
    }
}

/// The suite `slug` for a read of its quarantine lists: with the read token
/// (or when the read API is open), or with the suite's upload or manage
/// token; another suite's token is 403.
pub async fn suite_reader(state: &AppState, headers: &HeaderMap, slug: &str) -> Result<Suite, ApiError> {
    // A suite's token names its suite, also when the read API is open.
    if let Some(token) = bearer(headers) {
        let hash = token::hash(token);
        let suite = match state.store.suite_by_token_hash(&hash).await? {
            Some(s) => Some(s),
            None => state.store.controls().suite_by_manage_token_hash(&hash).await?,
        };
        match suite {
            Some(s) if s.slug == slug => return Ok(s),
            Some(_) => return Err(ApiError::forbidden(format!("this token belongs to another suite, not {slug:?}"))),
            None => {}
        }
    }
    if has_read_access(state, headers) {
        return crate::api::suite_or_404(state, slug).await;
    }
    Err(ApiError::unauthorized("send the read token, or the suite's upload or manage token, as Authorization: Bearer ..."))
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

pub(crate) fn check_read_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if has_read_access(state, headers) {
        Ok(())
    } else {
        Err(ApiError::unauthorized("this server needs a read token: send Authorization: Bearer <token>, or sign in on a page"))
    }
}

/// Whether a request may read: no read token is set, or it sends the token
/// (`Bearer`, or `Basic` with the token as password), or a valid session cookie.
pub fn has_read_access(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(required) = state.config.read_token.as_deref() else {
        return true;
    };
    let given = bearer(headers).map(str::to_owned).or_else(|| basic_password(headers));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), required.as_bytes())) {
        return true;
    }
    let now = chrono::Utc::now().timestamp();
    crate::ui::session::from_headers(headers).is_some_and(|v| crate::ui::session::is_valid(v, required, now))
}

/// The password of `Authorization: Basic`, for scripts that can only send that.
fn basic_password(headers: &HeaderMap) -> Option<String> {
    use base64::Engine;
    let raw = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = raw.split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.split_once(':').map(|(_, password)| password.to_owned())
}

/// Compare secrets in time that depends only on their lengths, so that the
/// time of a refusal does not tell how many leading bytes were right.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
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
