//! The HTTP edge of Verdict: one module per protocol, each a thin adapter
//! between the wire and the store.

mod api;
mod auth;
mod body;
mod budget;
mod buildkite;
pub mod clusters;
mod error;
pub mod flaky;
mod metrics;
mod owners;
mod params;
mod prometheus;
pub mod pytest_monitor;
mod quarantine;
mod resim;
mod retention;
mod suite_cache;
mod suite_links;
mod summary;
mod test_plan;
mod twins;
mod ui;
pub mod webhook_sender;
mod webhooks;

use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use tower_http::trace::TraceLayer;
use verdict_store::Store;

pub use error::ApiError;

/// The multipart upload reader on its own, for the fuzz targets (`fuzz/`):
/// a `multipart/form-data` body with its Content-Type, as `POST /v1/uploads` reads it.
#[doc(hidden)]
pub async fn parse_multipart_upload(content_type: &str, body: Vec<u8>) -> Result<verdict_core::Upload, ApiError> {
    let mut headers = axum::http::HeaderMap::new();
    let value = axum::http::HeaderValue::from_str(content_type).map_err(|_| ApiError::bad_request("bad Content-Type"))?;
    headers.insert(axum::http::header::CONTENT_TYPE, value);
    buildkite::parse_multipart(&headers, body.into()).await
}

/// Settings the server needs once it runs; the CLI builds this from flags,
/// environment and defaults.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The base URL users reach this server at, for `run_url` links.
    pub public_url: String,
    /// When set, the read API needs `Authorization: Bearer <token>`.
    pub read_token: Option<String>,
    /// Largest request body accepted, as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body after gunzip: the defence against gzip bombs.
    pub max_decompressed_bytes: usize,
    /// How long a client may take to send a request body: a slow sender
    /// cannot hold a connection and its buffer forever.
    pub body_timeout: std::time::Duration,
    /// The suite pytest-monitor clients reach at `/api/v1` without a token
    /// (else only at `/t/<upload token>/api/v1`).
    pub pytest_monitor_suite: Option<String>,
    /// Connections served at once. Past it, new connections wait in the
    /// kernel's accept queue until one closes: the server keeps the file
    /// descriptors its database needs, and stays reachable once idle or
    /// stalled clients time out.
    pub max_connections: usize,
    /// How long a client may take to send a request head (and how long an
    /// idle kept-alive connection stays open before its next request).
    pub header_timeout: std::time::Duration,
    /// Memory that request bodies being read, inflated and parsed may hold
    /// at once (see `budget`); past it, uploads wait their turn.
    pub max_parse_memory: usize,
    /// Keep executions and pytest-monitor samples this many days (`retention`); `None`: forever.
    pub retention_days: Option<u32>,
}

impl ServerConfig {
    /// How long a stop waits for requests in flight before it drops them:
    /// long enough for any body to arrive (or time out) and be stored.
    pub fn drain_deadline(&self) -> std::time::Duration {
        self.body_timeout + std::time::Duration::from_secs(5)
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            read_token: None,
            max_body_bytes: 32 * 1024 * 1024,
            max_decompressed_bytes: 128 * 1024 * 1024,
            body_timeout: std::time::Duration::from_secs(120),
            pytest_monitor_suite: None,
            retention_days: None,
            max_connections: 4096,
            header_timeout: std::time::Duration::from_secs(30),
            max_parse_memory: 1024 * 1024 * 1024,
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub config: Arc<ServerConfig>,
    suites: Arc<suite_cache::SuiteCache>,
    memory: Arc<budget::MemoryBudget>,
    /// What `GET /metrics` reports (this server's counts since it started).
    telemetry: Arc<prometheus::Telemetry>,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, config: ServerConfig) -> Self {
        let memory = Arc::new(budget::MemoryBudget::new(config.max_parse_memory));
        AppState { store, config: Arc::new(config), suites: Arc::default(), memory, telemetry: Arc::default() }
    }
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(prometheus::scrape))
        .route("/v1/uploads", post(buildkite::upload))
        .route("/v1/test-ownerships", post(owners::upload))
        .route("/v1/summary", get(summary::get))
        .merge(quarantine::routes())
        .merge(test_plan::routes())
        // The open pytest-monitor base answers reads only with the read token
        // (when there is one): its sessions name CI hosts and branches.
        .nest(
            "/api/v1",
            api::routes(state.clone()).merge(
                pytest_monitor::routes().layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_read_token_on_reads)),
            ),
        )
        .nest("/t/{token}/api/v1", pytest_monitor::routes())
        .nest("/resim/v1", resim::routes(state.clone()))
        .merge(ui::routes(state.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .layer(axum::middleware::from_fn(refuse_nul_in_uri))
        .layer(axum::middleware::from_fn_with_state(state.clone(), prometheus::track))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A NUL character (`%00`) in a path or query parameter is 400 on every
/// route: no name Verdict stores can hold one (PostgreSQL cannot store it),
/// so it can only be a mistake or a probe.
async fn refuse_nul_in_uri(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    let uri = req.uri();
    let has_nul = |s: &str| s.as_bytes().windows(3).any(|w| w[0] == b'%' && w[1] == b'0' && w[2] == b'0');
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::bad_request("a NUL character (%00) is not allowed in a path or query parameter").into_response();
    }
    next.run(req).await
}

async fn health(axum::extract::State(state): axum::extract::State<AppState>) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({"status": "ok", "store": state.store.backend()}))
}

/// Serve HTTP/1.1 until `shutdown` resolves; requests in flight (uploads
/// above all) are finished before this returns.
///
/// Its own accept loop rather than `axum::serve`: every client Verdict serves
/// speaks HTTP/1.1, and pytest-monitor's opens a connection per request, so
/// what a connection costs matters. axum's loop sniffs each connection for
/// HTTP/2 and watches it with two channels; this one hands it to hyper's
/// HTTP/1 server directly (measured in one A/B run: `GET /healthz` on a new
/// connection, 0.26-0.28 -> 0.17-0.21 ms; see bench/RESULTS.md).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // On a runtime worker, not on the thread that called `block_on`: there,
    // each accept was a wake-up of that thread by the worker polling the
    // socket, and each new connection's task a wake-up of a worker. Here a
    // connection's task starts on the worker that accepted it. Measured with
    // `GET /healthz` on a new connection: 0.08-0.09 -> 0.04-0.06 ms.
    tokio::spawn(accept_loop(listener, state, shutdown)).await.map_err(std::io::Error::other)?
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::server::graceful::GracefulShutdown;
    use hyper_util::service::TowerToHyperService;
    let config = state.config.clone();
    // Dropped with the loop below: a step cut short rolls back and is redone.
    let analysis = AbortOnDrop(tokio::spawn(flaky::analysis_loop(state.store.clone())));
    // Deliveries go out beside the server, never on an upload's path.
    let sender = AbortOnDrop(tokio::spawn(webhook_sender::delivery_loop(state.store.clone(), config.public_url.clone())));
    let _retention = config.retention_days.map(|days| AbortOnDrop(tokio::spawn(retention::expiry_loop(state.store.clone(), days))));
    let app = router(state);
    let connections = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // The timer lets hyper drop a client that never finishes its request head.
    http.timer(TokioTimer::new()).header_read_timeout(config.header_timeout);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(config.max_connections.max(1)));
    let mut at_cap = RateLimitedLog::new(std::time::Duration::from_secs(10));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                at_cap.warn(|waited| {
                    tracing::warn!(
                        max_connections = config.max_connections,
                        times_since_last_log = waited,
                        "at the connection cap: new connections wait until one closes"
                    )
                });
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: not fatal; wait for connections to close.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let conn = connections.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    // A client that stalls its body or never reads its answer must not keep
    // the process alive: past the deadline, what is left is dropped. Every
    // upload already answered 202 was committed before its answer.
    let deadline = config.drain_deadline();
    if tokio::time::timeout(deadline, connections.shutdown()).await.is_err() {
        let open = config.max_connections.max(1).saturating_sub(slots.available_permits());
        tracing::warn!(open, deadline_secs = deadline.as_secs(), "connections still open after the drain deadline are dropped");
    }
    drop(analysis);
    drop(sender);
    Ok(())
}

/// Aborts its task when dropped (when the accept loop ends, however it ends).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A warning that is logged at most once per interval, with how many times
/// it was suppressed in between (a flood of refusals must not flood the log).
struct RateLimitedLog {
    interval: std::time::Duration,
    last: Option<std::time::Instant>,
    suppressed: u64,
}

impl RateLimitedLog {
    fn new(interval: std::time::Duration) -> Self {
        Self { interval, last: None, suppressed: 0 }
    }

    fn warn(&mut self, log: impl FnOnce(u64)) {
        if self.last.is_some_and(|at| at.elapsed() < self.interval) {
            self.suppressed += 1;
            return;
        }
        log(self.suppressed + 1);
        self.last = Some(std::time::Instant::now());
        self.suppressed = 0;
    }
}
