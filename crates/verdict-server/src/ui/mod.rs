//! The web dashboard: server-drawn pages over the same use cases as the JSON
//! API (`verdict_analysis::pages`). One module per page; each handler parses
//! the query, calls one page function and renders its struct through an
//! askama template (`templates/`). Charts are SVG drawn in `svg`. Pages work
//! without JavaScript; the one script only adds conveniences.

mod assets;
pub(crate) use report::page_path as report_page_path;
mod failures;
mod figures;
mod flaky;
mod format;
mod frame;
mod overview;
mod program_metrics;
mod readiness;
mod report;
mod run;
mod runs;
pub(crate) mod session;
mod signin;
mod suite;
mod svg;
mod test;
mod tests;
mod webhooks;

pub(crate) use tests::tests_query;

use crate::AppState;
use crate::error::ApiError;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
pub use frame::{Frame, Link};
use std::collections::HashMap;
use verdict_analysis::AnalysisError;
use verdict_analysis::pages::View;
use verdict_core::range::{ParamError, Selection, parse_selection};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(overview::page))
        .route("/s/{slug}", get(suite::page))
        .route("/s/{slug}/runs", get(runs::page))
        .route("/s/{slug}/runs/{run}", get(run::page))
        .route("/s/{slug}/tests", get(tests::page))
        .route("/s/{slug}/flaky", get(flaky::page))
        .route("/s/{slug}/failures", get(failures::list))
        .route("/s/{slug}/failures/{cluster}", get(failures::detail))
        .route("/s/{slug}/tests/{test}", get(test::page))
        .route("/s/{slug}/aggregate", get(readiness::aggregate))
        .route("/s/{slug}/compare", get(readiness::compare))
        .route("/s/{slug}/webhooks", get(webhooks::page))
        .route("/s/{slug}/report", get(report::page))
        .route("/reports/{report}", get(report::stored))
        .layer(axum::middleware::from_fn_with_state(state, signin::require_sign_in))
        .route("/signin", axum::routing::post(signin::submit).layer(axum::extract::DefaultBodyLimit::max(signin::MAX_FORM_BYTES)))
        .route("/static/{hash}/{file}", get(assets::serve))
}

/// The page's query string as a map (the last value of a repeated key wins).
pub(crate) type Query = axum::extract::Query<HashMap<String, String>>;

/// Why a page is not shown: an error page (400 names the parameter, 404
/// what is missing), or a redirect to the same page with its branch and
/// range filled in.
pub enum PageError {
    Shown {
        status: StatusCode,
        message: String,
    },
    /// A `302` to this location.
    Redirect(String),
}

impl PageError {
    pub fn bad(message: impl Into<String>) -> Self {
        PageError::Shown { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        PageError::Shown { status: StatusCode::NOT_FOUND, message: message.into() }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Shown { status: e.status, message: e.message }
    }
}

impl From<AnalysisError> for PageError {
    fn from(e: AnalysisError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<verdict_store::StoreError> for PageError {
    fn from(e: verdict_store::StoreError) -> Self {
        ApiError::from(e).into()
    }
}

impl From<ParamError> for PageError {
    fn from(e: ParamError) -> Self {
        PageError::bad(format!("query parameter {}: {}", e.param, e.message))
    }
}

#[derive(askama::Template)]
#[template(path = "error.html")]
struct ErrorHtml<'a> {
    frame: Frame,
    status: u16,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Redirect(to) => {
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(&to) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                r
            }
            PageError::Shown { status, message } => {
                let frame = Frame::new(format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")));
                let page = ErrorHtml { frame, status: status.as_u16(), message: &message };
                html(status, render(&page), None)
            }
        }
    }
}

/// Render a template; a template error (a bug, not a request's fault) is logged.
pub(crate) fn render(t: &impl askama::Template) -> String {
    t.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "page template failed");
        "<!doctype html><title>Error</title><p>This page failed to render; the server log has the details.</p>".into()
    })
}

/// A page with the headers every page carries: no inline script or style
/// can run, nothing is framed or sniffed, nothing is cached (pages change
/// with every upload), and the time the page took (`Server-Timing`).
pub(crate) fn html(status: StatusCode, body: String, timing: Option<&Timing>) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(t) = timing
        && let Ok(v) = HeaderValue::from_str(&t.header())
    {
        h.insert("server-timing", v);
    }
    response
}

/// Where a page's time went: reading (the use case) and rendering.
pub(crate) struct Timing {
    started: std::time::Instant,
    query: Option<std::time::Duration>,
}

impl Timing {
    pub fn start() -> Self {
        Timing { started: std::time::Instant::now(), query: None }
    }

    /// The use case is done; rendering starts.
    pub fn queried(&mut self) {
        self.query = Some(self.started.elapsed());
    }

    pub fn query_ms(&self) -> f64 {
        self.query.unwrap_or_else(|| self.started.elapsed()).as_secs_f64() * 1000.0
    }

    fn header(&self) -> String {
        let total = self.started.elapsed().as_secs_f64() * 1000.0;
        let query = self.query_ms();
        format!("query;dur={query:.1}, render;dur={:.1}, total;dur={total:.1}", (total - query).max(0.0))
    }
}

/// Render `t` as the page's 200 answer.
pub(crate) fn respond(t: &impl askama::Template, timing: &Timing) -> Response {
    html(StatusCode::OK, render(t), Some(timing))
}

/// The page's branch and range; a `302` to the same page with both filled
/// in when either is missing, so a copied address reproduces the page (the
/// dashboard spec, rule 2).
pub(crate) fn selection(uri: &axum::http::Uri, q: &HashMap<String, String>, default_branch: &str) -> Result<Selection, PageError> {
    let given = |k: &str| q.get(k).is_some_and(|v| !v.trim().is_empty());
    let has_range = given("window") || given("from") || given("to") || given("runs");
    if !given("branch") || !has_range {
        let mut pairs: Vec<(String, String)> =
            q.iter().filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !given("branch") {
            pairs.push(("branch".into(), default_branch.into()));
        }
        if !has_range {
            pairs.push(("window".into(), format!("{}d", verdict_core::range::DEFAULT_WINDOW_DAYS)));
        }
        pairs.sort();
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{}={}", format::encode(k, false), format::encode(v, false))).collect();
        return Err(PageError::Redirect(format!("{}?{}", uri.path(), query.join("&"))));
    }
    Ok(parse_selection(|k| q.get(k).map(String::as_str), now_ms())?)
}

/// What every page inside a suite starts from, extracted from the request:
/// its suite (404 when missing), its view (a redirect when the branch or
/// range is missing, 400 when one is wrong), the other query parameters, the
/// path's id, and the clock of the page's time.
pub(crate) struct SuitePage {
    pub suite: verdict_store::Suite,
    pub view: View,
    pub query: crate::params::Params,
    /// The raw `{run}`, `{test}` or `{cluster}` of the path, if any.
    pub id: Option<String>,
    pub timing: Timing,
}

impl SuitePage {
    /// The path's id as a number (404 when it is not one).
    pub fn id(&self, what: &str) -> Result<i64, PageError> {
        path_id(self.id.as_deref().unwrap_or(""), what)
    }
}

impl axum::extract::FromRequestParts<AppState> for SuitePage {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, PageError> {
        let timing = Timing::start();
        let axum::extract::Path(path) = axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|e| PageError::not_found(e.to_string()))?;
        let axum::extract::Query(q) =
            Query::from_request_parts(parts, state).await.map_err(|e| PageError::bad(format!("the query string: {e}")))?;
        let slug = path.get("slug").cloned().unwrap_or_default();
        let suite = suite_or_404(state, &slug).await?;
        let sel = selection(&parts.uri, &q, &suite.default_branch)?;
        let view = verdict_analysis::pages::resolve(state.store.as_ref(), &suite, &sel, now_ms()).await?;
        let id = path.get("run").or_else(|| path.get("test")).or_else(|| path.get("cluster")).cloned();
        Ok(SuitePage { suite, view, query: crate::params::Params(q), id, timing })
    }
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The view's branch and range as query pairs, for every link a page emits.
pub(crate) fn view_pairs(view: &View) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("branch", view.branch.clone())];
    match (&view.window, view.runs) {
        (Some(w), _) => pairs.push(("window", w.clone())),
        (None, Some(n)) => pairs.push(("runs", n.to_string())),
        (None, None) => {
            pairs.push(("from", format::iso(view.from)));
            pairs.push(("to", format::iso(view.to)));
        }
    }
    pairs
}

/// `path` with the view's branch and range and `extra` pairs as its query.
pub(crate) fn link(path: &str, view: &View, extra: &[(&str, &str)]) -> String {
    let base = view_pairs(view);
    let mut pairs: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    for (k, v) in extra {
        pairs.retain(|(key, _)| key != k);
        pairs.push((k, v));
    }
    format!("{path}{}", format::query(&pairs))
}

/// A run's page at one test's row: the page of the list that holds it
/// (`at=`), scrolled to its anchor (`#t-{test}`, highlighted by `:target`).
pub(crate) fn run_at_test(base: &str, view: &View, run_id: i64, test_id: i64) -> String {
    let at = test_id.to_string();
    format!("{}#t-{test_id}", link(&format!("{base}/runs/{run_id}"), view, &[("at", &at)]))
}

/// A path id (`/runs/{run}`), 404 when it is not a number.
pub(crate) fn path_id(raw: &str, what: &str) -> Result<i64, PageError> {
    raw.parse().map_err(|_| PageError::not_found(format!("no {what} {raw:?}")))
}

/// The suite of a page, 404 when there is none.
pub(crate) async fn suite_or_404(state: &AppState, slug: &str) -> Result<verdict_store::Suite, PageError> {
    state.store.suite_by_slug(slug).await?.ok_or_else(|| PageError::not_found(format!("no suite {slug:?}")))
}
