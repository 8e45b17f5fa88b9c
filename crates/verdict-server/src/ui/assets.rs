//! The stylesheet and script, embedded in the binary and served under a
//! content hash (`/static/{hash}/{file}`) with an immutable cache: a new
//! build changes the hash, so a browser never holds a stale file.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 2] = [
    Asset { name: "verdict.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../../assets/verdict.css") },
    Asset { name: "verdict.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../../assets/verdict.js") },
];

/// Each asset's hash: the first 16 hex digits of its SHA-256.
fn hashes() -> &'static [String; 2] {
    static HASHES: OnceLock<[String; 2]> = OnceLock::new();
    HASHES.get_or_init(|| {
        ASSETS.each_ref().map(|a| {
            use sha2::{Digest, Sha256};
            Sha256::digest(a.bytes).iter().take(8).map(|b| format!("{b:02x}")).collect()
        })
    })
}

/// The URL path of an embedded asset by name.
pub fn href(name: &str) -> String {
    let i = ASSETS.iter().position(|a| a.name == name).expect("an embedded asset");
    format!("/static/{}/{}", hashes()[i], name)
}

pub async fn serve(Path((hash, name)): Path<(String, String)>) -> Response {
    let found = ASSETS.iter().zip(hashes()).find(|(a, h)| a.name == name && **h == hash);
    match found {
        Some((a, _)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(a.content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            a.bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset (a page from an older build?)").into_response(),
    }
}
