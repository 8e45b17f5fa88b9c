//! Issue 15's webhook targets, measured back to back on SQLite:
//!
//! - ingest over HTTP with and without a subscribed endpoint, the same bodies,
//!   rounds alternated (target: within 5%); the hooked rounds' uploads write
//!   over 100 events a second (new failure clusters on the default branch),
//!   and how soon after the last upload the last event arrives, and each
//!   event's lag, show whether delivery keeps up;
//! - the sender's capacity: a burst of events drained from the outbox, against
//!   the physical limit, the same bodies POSTed one after another by the same
//!   HTTP client to the same receiver with no store in between.

use super::{BIN, CLIENTS, RESULTS, UPLOADS_PER_CLIENT, percentile, post_uploads, start_server, upload_body};
use axum::body::Bytes;
use serde_json::Value;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use verdict_store::testing::{Backend, TestStore};

/// New causes per upload: 40 uploads in about 3 s make some 130 events a second.
const CAUSES_PER_UPLOAD: usize = 10;
const ROUNDS: usize = 5;
const BURST: usize = 2000;

/// What the receiver took: each event's id, its `timestamp` (when the
/// upload that made it arrived) and when it came, in ms since the epoch.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, i64, i64)>>>);

impl Received {
    fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    fn take(&self) -> Vec<(String, i64, i64)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A receiver that answers 200 at once (as a queueing receiver should) and keeps what came.
async fn receiver() -> (u16, Received) {
    let got = Received::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                let id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let at = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str()?).ok())
                    .map_or(0, |t| t.timestamp_millis());
                kept.0.lock().unwrap().push((id, at, now_ms()));
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (port, got)
}

/// A letters-only name for `n` (g–z: no digits or hex words for the masks to fold).
fn word(mut n: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'g' + (n % 20) as u8) as char);
        n /= 20;
        if n == 0 {
            return s;
        }
    }
}

/// The bench's upload body with its first `causes` failures given causes of their own.
fn with_causes(body: Vec<u8>, upload: usize, causes: usize) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(&body).unwrap();
    let failed = v["data"].as_array_mut().unwrap().iter_mut().filter(|r| r["result"] == "failed");
    for (k, r) in failed.take(causes).enumerate() {
        r["failure_reason"] = Value::from(format!("Widget {} refused the {} handshake", word(upload), word(k)));
    }
    serde_json::to_vec(&v).unwrap()
}

/// Arguments that open the SQLite file the bench's own handle reads.
fn same_file(store: &TestStore) -> Vec<String> {
    vec!["--data-dir".to_string(), store.dir.path().display().to_string()]
}

struct Round {
    results_per_s: f64,
    events: usize,
    events_per_s: f64,
    /// ms from the last upload's 202 until the last of its events arrived.
    drained_after_ms: f64,
    lags_ms: Vec<f64>,
}

/// One round on a fresh SQLite store: the bodies over HTTP, and with `hook`
/// an endpoint subscribed to every event, waited on until each has arrived.
async fn round(bodies: Arc<Vec<Vec<u8>>>, hook: Option<(u16, Received)>) -> Round {
    let store = TestStore::new(Backend::Sqlite).await;
    let args = same_file(&store);
    let cli = |extra: &[&str]| {
        let out = Command::new(BIN).args(&args).args(extra).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let token = cli(&["suite", "create", "bench"]).trim().to_owned();
    if let Some((port, got)) = &hook {
        cli(&["webhook", "add", "bench", "--url", &format!("http://127.0.0.1:{port}/hook")]);
        got.take();
    }
    let (server_args, posted) = (args.clone(), bodies.clone());
    let (secs, server) = tokio::task::spawn_blocking(move || {
        let (server, port) = start_server(&server_args);
        (post_uploads(port, &token, posted), server)
    })
    .await
    .unwrap();
    let ingest_done = now_ms();
    let results_per_s = (bodies.len() * RESULTS) as f64 / secs;
    let Some((_, got)) = hook else {
        drop(server);
        store.cleanup().await;
        return Round { results_per_s, events: 0, events_per_s: 0.0, drained_after_ms: 0.0, lags_ms: vec![] };
    };
    // Every event written by the uploads (run.failed comes later, once a run has settled: not waited for).
    let suite = store.store.suite_by_slug("bench").await.unwrap().unwrap();
    let written = store.store.webhooks().messages(suite.id, 1_000_000).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < written.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let received = got.take();
    drop(server);
    store.cleanup().await;
    let ids: std::collections::HashSet<&str> = received.iter().map(|(id, _, _)| id.as_str()).collect();
    assert!(written.iter().all(|m| ids.contains(m.id.as_str())), "every event written was delivered");
    assert_eq!(ids.len(), received.len(), "no event delivered twice");
    let first = written.iter().map(|m| m.at_ms).min().unwrap_or(0);
    let last = written.iter().map(|m| m.at_ms).max().unwrap_or(0);
    let arrived = received.iter().map(|r| r.2).max().unwrap_or(0);
    Round {
        results_per_s,
        events: written.len(),
        events_per_s: written.len() as f64 / ((last - first).max(1) as f64 / 1000.0),
        drained_after_ms: (arrived - ingest_done) as f64,
        lags_ms: received.iter().map(|(_, at, came)| (came - at) as f64).collect(),
    }
}

/// The sender draining `BURST` events written by one upload, then the same
/// bodies through the same client with no store: events per second each.
async fn burst(port: u16, got: Received) -> (f64, f64) {
    let store = TestStore::new(Backend::Sqlite).await;
    let args = same_file(&store);
    let out = Command::new(BIN).args(&args).args(["suite", "create", "bench"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = Command::new(BIN)
        .args(&args)
        .args(["webhook", "add", "bench", "--url", &format!("http://127.0.0.1:{port}/hook")])
        .output()
        .unwrap();
    assert!(out.status.success());
    got.take();
    // BURST failures of BURST causes, one in five results (a run with most of
    // its tests failed is an infrastructure failure, and makes no clusters news),
    // in uploads of the most results one may hold.
    let bodies: Vec<Vec<u8>> = (0..BURST * 5 / RESULTS)
        .map(|u| {
            let mut body: Value = serde_json::from_slice(&upload_body(&format!("burst-{u}"), RESULTS, "main")).unwrap();
            for (k, r) in body["data"].as_array_mut().unwrap().iter_mut().enumerate() {
                r["result"] = Value::from(if k % 5 == 0 { "failed" } else { "passed" });
                r["failure_reason"] = Value::from(format!("Gadget {} failed", word(u * RESULTS + k)));
            }
            serde_json::to_vec(&body).unwrap()
        })
        .collect();
    let bodies = Arc::new(bodies);
    let server_args = args.clone();
    let server = tokio::task::spawn_blocking(move || {
        let (server, port) = start_server(&server_args);
        post_uploads(port, &token, bodies);
        server
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while got.len() < BURST && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(got.len(), BURST, "the burst was delivered");
    // From the first arrival to the last: the sender's pace, not its poll interval.
    let came: Vec<i64> = got.take().iter().map(|r| r.2).collect();
    let drain_secs = (came.iter().max().unwrap() - came.iter().min().unwrap()).max(1) as f64 / 1000.0;
    // The peer: the bodies the sender would send (signed envelopes), POSTed in turn.
    let suite = store.store.suite_by_slug("bench").await.unwrap().unwrap();
    let messages = store.store.webhooks().messages(suite.id, BURST as i64).await.unwrap();
    drop(server);
    store.cleanup().await;
    let client = verdict_server::webhook_sender::client();
    let secret = verdict_core::webhook::Secret::parse(&verdict_store::token::webhook_secret()).unwrap();
    let started = Instant::now();
    for m in &messages {
        let body = verdict_core::webhook::envelope(&m.kind, m.at_ms, &m.data, "http://127.0.0.1");
        let ts = chrono::Utc::now().timestamp();
        let request = axum::http::Request::post(format!("http://127.0.0.1:{port}/hook"))
            .header("content-type", "application/json")
            .header("webhook-id", &m.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", secret.sign(&m.id, ts, &body))
            .body(http_body_util::Full::new(Bytes::from(body)))
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert!(response.status().is_success());
        http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
    }
    let raw_secs = started.elapsed().as_secs_f64();
    assert_eq!(got.len(), messages.len());
    ((BURST - 1) as f64 / drain_secs, messages.len() as f64 / raw_secs)
}

pub async fn webhooks() {
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..CLIENTS * UPLOADS_PER_CLIENT)
            .map(|i| with_causes(upload_body(&format!("run-{i}"), RESULTS, "main"), i, CAUSES_PER_UPLOAD))
            .collect(),
    );
    let (port, got) = receiver().await;
    let (mut plain, mut hooked) = (Vec::new(), Vec::new());
    // Alternated, and which goes first alternates too: a drift in the
    // machine's speed over the run then weighs on both alike.
    for i in 0..ROUNDS {
        if i % 2 == 0 {
            plain.push(round(bodies.clone(), None).await);
            hooked.push(round(bodies.clone(), Some((port, got.clone()))).await);
        } else {
            hooked.push(round(bodies.clone(), Some((port, got.clone()))).await);
            plain.push(round(bodies.clone(), None).await);
        }
    }
    let rate = |rounds: &[Round]| percentile(&mut rounds.iter().map(|r| r.results_per_s).collect::<Vec<_>>(), 0.5);
    let (p, h) = (rate(&plain), rate(&hooked));
    let mut lags: Vec<f64> = hooked.iter().flat_map(|r| r.lags_ms.iter().copied()).collect();
    println!("webhooks [sqlite] {ROUNDS} rounds, alternated, of {} uploads x {RESULTS} results over HTTP; median of rounds", bodies.len());
    println!("  ingest, no endpoint:                  {p:>10.0} results/s");
    println!("  ingest, one endpoint on every event:  {h:>10.0} results/s ({:+.1}%; target within 5%)", 100.0 * (h / p - 1.0));
    let each = |rounds: &[Round]| rounds.iter().map(|r| format!("{:.0}", r.results_per_s)).collect::<Vec<_>>().join(", ");
    println!("  each round, no endpoint / one endpoint: {} / {}", each(&plain), each(&hooked));
    for (i, r) in hooked.iter().enumerate() {
        println!(
            "  hooked round {}: {} events written at {:.0}/s during ingest (target load >= 100/s); all received {:.0} ms after the last upload",
            i + 1,
            r.events,
            r.events_per_s,
            r.drained_after_ms
        );
    }
    println!(
        "  lag from the upload's arrival (the event's timestamp) to its receipt, {} events: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        lags.len(),
        percentile(&mut lags, 0.5),
        percentile(&mut lags, 0.95),
        lags.iter().copied().fold(0.0, f64::max)
    );
    let (drain, raw) = burst(port, got).await;
    println!(
        "  burst of {BURST} events: sender {drain:>6.0} events/s; the same POSTs with no store {raw:>6.0}/s; ratio {:.2}; {:.1}x the 100/s target",
        drain / raw,
        drain / 100.0
    );
}
