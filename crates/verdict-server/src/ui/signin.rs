//! With `--read-token`, pages need the token: a page request without it gets
//! a sign-in form (and no data); a correct token sets the session cookie.

use super::{Frame, html, render, session};
use crate::AppState;
use crate::auth::{constant_time_eq, has_read_access};
use axum::extract::{Form, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// A sign-in form is a token and a path.
pub const MAX_FORM_BYTES: usize = 8 * 1024;

#[derive(askama::Template)]
#[template(path = "signin.html")]
struct SignInHtml {
    frame: Frame,
    next: String,
    failed: bool,
}

fn form(next: String, failed: bool) -> Response {
    let page = SignInHtml { frame: Frame::new("Sign in"), next, failed };
    html(StatusCode::UNAUTHORIZED, render(&page), None)
}

/// Middleware on the pages: pass with read access, else the sign-in form.
pub async fn require_sign_in(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if has_read_access(&state, req.headers()) {
        return next.run(req).await;
    }
    let back = req.uri().path_and_query().map_or("/".to_owned(), |p| p.as_str().to_owned());
    form(back, false)
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    token: String,
    #[serde(default)]
    next: String,
}

/// Only a path on this server: `//host` or `https://…` would send the user away.
fn local_path(next: &str) -> &str {
    if next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") { next } else { "/" }
}

pub async fn submit(State(state): State<AppState>, Form(f): Form<SignIn>) -> Response {
    let Some(required) = state.config.read_token.as_deref() else {
        return redirect(local_path(&f.next), None);
    };
    if !constant_time_eq(f.token.trim().as_bytes(), required.as_bytes()) {
        return form(local_path(&f.next).to_owned(), true);
    }
    let value = session::issue(required, chrono::Utc::now().timestamp());
    let secure = state.config.public_url.starts_with("https://");
    redirect(local_path(&f.next), Some(session::set_cookie(&value, secure)))
}

fn redirect(to: &str, cookie: Option<String>) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_server() {
        assert_eq!(super::local_path("/s/web/runs/3"), "/s/web/runs/3");
        assert_eq!(super::local_path("//evil.example/"), "/");
        assert_eq!(super::local_path("https://evil.example/"), "/");
        assert_eq!(super::local_path("/\\evil.example"), "/");
        assert_eq!(super::local_path(""), "/");
    }
}
