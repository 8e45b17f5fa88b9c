//! `GET /metrics`: what an operator scrapes, in Prometheus' text format
//! (version 0.0.4). Each server has its own registry (no process-global
//! state), counted by a middleware on every route and by the upload routes;
//! the store's gauges are read at scrape time. Labels are bounded: a route
//! is its pattern (`/api/v1/runs/:id`, never the path a client sent, so a
//! token in `/t/:token/…` never shows), a status its code.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};
use std::time::Instant;

pub struct Telemetry {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    refused: IntCounterVec,
    uploads: IntCounterVec,
    results: IntCounter,
    skipped: IntCounter,
    samples: IntCounter,
    write_seconds: Histogram,
    write_results: Histogram,
    write_queue: IntGauge,
    monitor_inbox: IntGauge,
    database_bytes: IntGauge,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("a valid metric");
    registry.register(Box::new(c.clone())).expect("registered once");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric");
    registry.register(Box::new(g.clone())).expect("registered once");
    g
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("a valid metric");
    registry.register(Box::new(h.clone())).expect("registered once");
    h
}

/// Request and write latency buckets (s): 1 ms to 30 s.
const SECONDS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0];
/// Results per store write: one to a whole upload (5,000 results and more).
const RESULTS: [f64; 8] = [1.0, 10.0, 100.0, 500.0, 1_000.0, 5_000.0, 10_000.0, 50_000.0];

impl Default for Telemetry {
    fn default() -> Self {
        let r = Registry::new();
        let latency = HistogramVec::new(
            HistogramOpts::new("verdict_http_request_duration_seconds", "Time to answer a request, by route pattern")
                .buckets(SECONDS.to_vec()),
            &["route"],
        )
        .expect("a valid metric");
        r.register(Box::new(latency.clone())).expect("registered once");
        Telemetry {
            requests: counter_vec(
                &r,
                "verdict_http_requests_total",
                "Requests answered, by route pattern and status code",
                &["route", "status"],
            ),
            latency,
            refused: counter_vec(&r, "verdict_requests_refused_total", "Requests answered 4xx or 5xx, by status code", &["status"]),
            uploads: counter_vec(&r, "verdict_uploads_accepted_total", "Uploads stored (answered 202), by format", &["format"]),
            results: counter(&r, "verdict_results_accepted_total", "Results (executions) stored by accepted uploads"),
            skipped: counter(
                &r,
                "verdict_records_skipped_total",
                "Records of accepted uploads left out as invalid (the reasons are in each answer)",
            ),
            samples: counter(&r, "verdict_pytest_monitor_samples_accepted_total", "pytest-monitor resource samples stored"),
            write_seconds: histogram(
                &r,
                "verdict_store_write_seconds",
                "Time the store took to write an upload, durably",
                SECONDS.to_vec(),
            ),
            write_results: histogram(&r, "verdict_store_write_results", "Results per upload write (its batch size)", RESULTS.to_vec()),
            write_queue: gauge(
                &r,
                "verdict_store_write_queue",
                "Writes waiting for the store's writer (SQLite) or for a connection (PostgreSQL)",
            ),
            monitor_inbox: gauge(
                &r,
                "verdict_pytest_monitor_inbox",
                "pytest-monitor samples acknowledged, not yet moved to their table (SQLite)",
            ),
            database_bytes: gauge(&r, "verdict_database_size_bytes", "The database's size on disk"),
            registry: r,
        }
    }
}

impl Telemetry {
    /// An upload stored: its format, results, skipped records and how long the write took.
    pub fn upload_stored(&self, format: &str, results: usize, skipped: usize, write: std::time::Duration) {
        // Formats are the parsers' names; anything else is counted apart, so the label stays bounded.
        let format = match format {
            "json" | "junit" | "pytest-monitor" => format,
            _ => "other",
        };
        self.uploads.with_label_values(&[format]).inc();
        self.results.inc_by(results as u64);
        self.skipped.inc_by(skipped as u64);
        self.write_seconds.observe(write.as_secs_f64());
        self.write_results.observe(results as f64);
    }

    pub fn sample_stored(&self) {
        self.samples.inc();
    }
}

/// Counts and times every request by its route pattern.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // `{id}` written `:id`: simpler parsers of the text format split label values at braces.
    let route =
        req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().replace('{', ":").replace('}', ""));
    let started = Instant::now();
    let response = next.run(req).await;
    let t = &state.telemetry;
    let status = response.status();
    t.latency.with_label_values(&[route.as_str()]).observe(started.elapsed().as_secs_f64());
    t.requests.with_label_values(&[route.as_str(), status.as_str()]).inc();
    if status.is_client_error() || status.is_server_error() {
        t.refused.with_label_values(&[status.as_str()]).inc();
    }
    response
}

/// The scrape. With a read token it needs the token, as every read does.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, crate::ApiError> {
    crate::auth::check_read_token(&state, &headers)?;
    let t = &state.telemetry;
    let g = state.store.gauges().await?;
    t.write_queue.set(g.write_queue as i64);
    t.monitor_inbox.set(g.monitor_inbox.unwrap_or(0) as i64);
    t.database_bytes.set(g.size_bytes as i64);
    let mut out = Vec::new();
    let encoder = TextEncoder::new();
    encoder
        .encode(&t.registry.gather(), &mut out)
        .map_err(|e| crate::ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, encoder.format_type().to_owned())], out).into_response())
}
