//! Tokens in the forms real clients send them (spec 1.1):
//! `Token token="x"`, `Token token=x`, `Token token="x";`, `Token x`, `Bearer x`.

use crate::AppState;
use crate::error::ApiError;
use axum::http::HeaderMap;
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
}
