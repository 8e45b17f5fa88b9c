//! monitor-server-api's pagination (Flask-SQLAlchemy 2.5.1 `paginate` as
//! the original uses it): fixed page size, negative pages from the end,
//! relative `prev_url`/`next_url` that keep the request's query.

use crate::error::ApiError;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

const NOT_FOUND: &str =
    "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.";

/// The page a request asks for: `?page=N`, anything unparsable being 1.
pub fn requested_page(uri: &Uri) -> i64 {
    query_pairs(uri).into_iter().find(|(k, _)| k == "page").and_then(|(_, v)| v.parse().ok()).unwrap_or(1)
}

/// Resolve `page` against `total` rows: negative pages count from the end;
/// page 0, a page before the first, and a page past the end (except page 1) are 404.
pub fn resolve(page: i64, total: i64, size: i64) -> Result<(i64, i64), ApiError> {
    let pages = (total + size - 1) / size;
    let page = if page < 0 { pages + page + 1 } else { page };
    if page < 1 || (page > 1 && page > pages) {
        return Err(ApiError::not_found(NOT_FOUND));
    }
    Ok((page, pages))
}

/// The request's query arguments, decoded, in order.
pub fn query_args(uri: &Uri) -> Vec<(String, String)> {
    query_pairs(uri)
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode(&s.replace('+', " "));
    uri.query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The request's path and query with `page` set to `n`: in place when the
/// query had it, else appended; a repeated argument keeps its first value.
pub fn link(uri: &Uri, n: i64) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut had_page = false;
    for (k, v) in query_pairs(uri) {
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        if k == "page" {
            had_page = true;
            parts.push(format!("page={n}"));
        } else {
            parts.push(format!("{}={}", percent_encode(&k), percent_encode(&v)));
        }
    }
    if !had_page {
        parts.push(format!("page={n}"));
    }
    format!("{}?{}", uri.path(), parts.join("&"))
}

/// A paginated list: 200 with `{key: items, [prev_url], [next_url], total_page}`,
/// or 204 with no body when the page is empty.
pub fn list<T: Serialize>(uri: &Uri, key: &str, items: Vec<T>, page: i64, pages: i64) -> Response {
    if items.is_empty() {
        return (StatusCode::NO_CONTENT, [(header::CONTENT_TYPE, "application/json")]).into_response();
    }
    let prev = (page > 1).then(|| link(uri, page - 1));
    let next = (page < pages).then(|| link(uri, page + 1));
    json(StatusCode::OK, &Envelope { key, items, prev, next, total_page: pages })
}

/// The page envelope in the original's key order, its list key set per route.
struct Envelope<'a, T> {
    key: &'a str,
    items: Vec<T>,
    prev: Option<String>,
    next: Option<String>,
    total_page: i64,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(self.key, &self.items)?;
        if let Some(p) = &self.prev {
            m.serialize_entry("prev_url", p)?;
        }
        if let Some(n) = &self.next {
            m.serialize_entry("next_url", n)?;
        }
        m.serialize_entry("total_page", &self.total_page)?;
        m.end()
    }
}

/// A JSON body as the original writes it (its key order, a trailing newline).
pub fn json(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let mut text = serde_json::to_string(body).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// A JSON object whose keys keep the order given.
pub struct Ordered<'a>(pub Vec<(&'a str, serde_json::Value)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_resolve_like_flask_sqlalchemy() {
        assert_eq!(resolve(1, 0, 500).unwrap(), (1, 0), "page 1 of nothing is an empty page, not a 404");
        assert_eq!(resolve(-1, 46, 5).unwrap(), (10, 10));
        assert_eq!(resolve(-10, 46, 5).unwrap(), (1, 10));
        for (page, total) in [(0, 46), (-11, 46), (11, 46), (2, 0), (-1, 0)] {
            assert_eq!(resolve(page, total, 5).unwrap_err().status, StatusCode::NOT_FOUND, "page {page} of {total}");
        }
    }

    #[test]
    fn links_keep_the_query_and_replace_the_page() {
        let uri: Uri = "/api/v1/metrics/?page=2&foo=bar".parse().unwrap();
        assert_eq!(link(&uri, 3), "/api/v1/metrics/?page=3&foo=bar");
        let uri: Uri = "/api/v1/metrics/?a=1&a=2".parse().unwrap();
        assert_eq!(link(&uri, 2), "/api/v1/metrics/?a=1&page=2");
        assert_eq!(requested_page(&"/x?page=abc".parse().unwrap()), 1);
        assert_eq!(requested_page(&"/x?page=-1".parse().unwrap()), -1);
    }
}
