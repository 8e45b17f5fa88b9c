//! The webhook sender: a task beside the HTTP server, apart from the write
//! path (an upload only writes outbox rows in its own transaction). It
//! claims due deliveries with a lease, posts them — signed in the Standard
//! Webhooks form, or as Slack text — and records each attempt and what
//! follows: delivered, retried on the schedule, dead, or the endpoint
//! disabled. A sender killed mid-attempt leaves a lease that lapses; the
//! delivery is sent again with the same `webhook-id` (receivers
//! de-duplicate on it), so nothing is lost and nothing is new twice.

use bytes::Bytes;
use futures_util::future::join_all;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use verdict_core::webhook::{
    ATTEMPT_TIMEOUT_SECS, Answer, Format, LOG_KEPT_MS, RESPONSE_KEPT_BYTES, SLACK_MAX_LINES, Secret, absolute_urls, answer_of, envelope,
    next_delay_ms, slack_body, slack_line,
};
use verdict_store::Store;
use verdict_store::webhooks::{AfterAttempt, Attempt, Attempted, Due};

/// How long a claim holds a delivery: past one attempt's timeout with room to record it.
const LEASE_MS: i64 = 60_000;
/// Deliveries claimed at a time.
const BATCH: i64 = 64;
/// How often an idle sender looks for due deliveries.
const POLL: Duration = Duration::from_millis(500);
/// The pause after a claim that found less than a batch.
const GATHER: Duration = Duration::from_millis(250);
/// Attempts recorded together: at most this many, or what a second brought.
const RECORD_EVERY: usize = 16;
const RECORD_AFTER: Duration = Duration::from_secs(1);
/// Slack asks for at most one message a second per incoming webhook.
const SLACK_GAP: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The HTTP client deliveries go out on: HTTP/1.1 over TCP or rustls
/// (ring, the system's roots); hyper follows no redirects (a 3xx is a
/// failure). Its own client, not reqwest's: the CLI's reqwest stays
/// without TLS features, and so without a process-wide crypto provider.
pub type Client = hyper_util::client::legacy::Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

pub fn client() -> Client {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(Duration::from_secs(10)));
    http.enforce_http(false);
    let https = match HttpsConnectorBuilder::new().with_provider_and_native_roots(provider.clone()) {
        Ok(b) => b.https_or_http().enable_http1().wrap_connector(http),
        Err(e) => {
            tracing::warn!(error = %e, "no system root certificates: webhooks to https:// URLs will fail");
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("ring supports the default TLS versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            HttpsConnectorBuilder::new().with_tls_config(config).https_or_http().enable_http1().wrap_connector(http)
        }
    };
    hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(https)
}

/// Send until dropped (the server aborts it when it stops).
pub async fn delivery_loop(store: Arc<dyn Store>, public_url: String) {
    let client = client();
    let mut slack_sent: HashMap<String, Instant> = HashMap::new();
    let mut pruned = Instant::now() - Duration::from_secs(3600);
    loop {
        if pruned.elapsed() >= Duration::from_secs(3600) {
            match store.webhooks().prune_attempts(now_ms() - LOG_KEPT_MS).await {
                Ok(_) => pruned = Instant::now(),
                Err(e) => tracing::warn!(error = %e, "pruning the webhook delivery log failed"),
            }
        }
        match send_due(store.as_ref(), &client, &public_url, &mut slack_sent).await {
            Ok(0) => tokio::time::sleep(POLL).await,
            // A part batch: let more gather before the next claim, so that a
            // steady trickle of events costs a few writes a second, not two
            // per event (each is a commit on the store uploads write to).
            Ok(n) if n < BATCH as usize => tokio::time::sleep(GATHER).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "claiming webhook deliveries failed; trying again shortly");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Claim what is due and send it, endpoints side by side, each endpoint's in order: how many were claimed.
pub async fn send_due(
    store: &dyn Store,
    client: &Client,
    public_url: &str,
    slack_sent: &mut HashMap<String, Instant>,
) -> Result<usize, verdict_store::StoreError> {
    let due = store.webhooks().claim_due(now_ms(), LEASE_MS, BATCH).await?;
    let n = due.len();
    let mut by_endpoint: Vec<(String, Vec<Due>)> = Vec::new();
    for d in due {
        match by_endpoint.iter_mut().find(|(id, _)| *id == d.endpoint.id) {
            Some((_, list)) => list.push(d),
            None => by_endpoint.push((d.endpoint.id.clone(), vec![d])),
        }
    }
    let sends = by_endpoint.into_iter().map(|(id, list)| {
        let last = slack_sent.get(&id).copied();
        async move { (id, send_endpoint(store, client, public_url, list, last).await) }
    });
    for (id, last) in join_all(sends).await {
        if let Some(at) = last {
            slack_sent.insert(id, at);
        }
    }
    Ok(n)
}

/// One endpoint's claimed deliveries; for Slack, when its last message went.
/// Attempts are recorded a few at a time, each batch in one transaction: on
/// SQLite every record waits for the one writer that uploads use too.
async fn send_endpoint(store: &dyn Store, client: &Client, base: &str, list: Vec<Due>, last: Option<Instant>) -> Option<Instant> {
    let claimed = Instant::now();
    // No attempt starts past half the lease: one attempt (at most its timeout)
    // and its record still end inside the lease, so no other node sends the
    // same delivery meanwhile; the rest wait for their leases to lapse.
    let in_lease = || claimed.elapsed() < Duration::from_millis(LEASE_MS as u64 / 2);
    let slack = list[0].endpoint.format == Format::Slack.name();
    let mut done = Vec::new();
    if !slack {
        let mut recorded = Instant::now();
        for d in list.iter().take_while(|_| in_lease()) {
            let body = envelope(&d.message.kind, d.message.at_ms, &d.message.data, base);
            let sent = post(client, d, body).await;
            done.push(attempted(d, sent));
            if done.len() >= RECORD_EVERY || recorded.elapsed() >= RECORD_AFTER {
                record(store, &mut done).await;
                recorded = Instant::now();
            }
        }
        record(store, &mut done).await;
        return None;
    }
    // Slack: events joined into one text of at most 20 lines, a message a second at most.
    let mut last = last;
    for chunk in list.chunks(SLACK_MAX_LINES).take_while(|_| in_lease()) {
        if let Some(wait) = last.map(|at| SLACK_GAP.saturating_sub(at.elapsed())) {
            tokio::time::sleep(wait).await;
        }
        let lines: Vec<String> = chunk
            .iter()
            .map(|d| {
                let mut data = d.message.data.clone();
                absolute_urls(&mut data, base);
                slack_line(&d.message.kind, &data)
            })
            .collect();
        let sent = post_slack(client, &chunk[0], slack_body(&lines)).await;
        last = Some(Instant::now());
        done.extend(chunk.iter().map(|d| attempted(d, sent.clone())));
        record(store, &mut done).await;
    }
    last
}

/// What one attempt got: its log line and the receiver's `Retry-After`.
#[derive(Debug, Clone)]
struct Sent {
    attempt: Attempt,
    retry_after_secs: Option<u64>,
}

const USER_AGENT: &str = concat!("Verdict-Webhooks/", env!("CARGO_PKG_VERSION"));

async fn post(client: &Client, d: &Due, body: Vec<u8>) -> Sent {
    let timestamp = chrono::Utc::now().timestamp();
    // After a rotation, both signatures for a day, space-separated (receivers accept either).
    let mut signatures = Vec::new();
    for raw in d.endpoint.signing_secrets(now_ms()) {
        match Secret::parse(raw) {
            Ok(secret) => signatures.push(secret.sign(&d.message.id, timestamp, &body)),
            Err(e) => return failed(now_ms(), format!("the endpoint's secret is unusable: {e}"), 0),
        }
    }
    let signature = signatures.join(" ");
    let headers = [("webhook-id", d.message.id.clone()), ("webhook-timestamp", timestamp.to_string()), ("webhook-signature", signature)];
    exchange(client, &d.endpoint.url, &headers, body).await
}

async fn post_slack(client: &Client, d: &Due, body: Vec<u8>) -> Sent {
    exchange(client, &d.endpoint.url, &[], body).await
}

fn failed(sent_at_ms: i64, error: String, duration_ms: i64) -> Sent {
    Sent { attempt: Attempt { sent_at_ms, status_code: None, error: Some(error), response: None, duration_ms }, retry_after_secs: None }
}

/// One POST: its answer's status, `Retry-After` and first KiB, all within the attempt's timeout.
async fn exchange(client: &Client, url: &str, headers: &[(&str, String)], body: Vec<u8>) -> Sent {
    let (sent_at_ms, started) = (now_ms(), Instant::now());
    let elapsed = |s: Instant| s.elapsed().as_millis().min(i64::MAX as u128) as i64;
    let mut request = axum::http::Request::post(url).header("content-type", "application/json").header("user-agent", USER_AGENT);
    for (k, v) in headers {
        request = request.header(*k, v);
    }
    let request = match request.body(Full::new(Bytes::from(body))) {
        Ok(r) => r,
        Err(e) => return failed(sent_at_ms, format!("the endpoint's URL is unusable: {e}"), 0),
    };
    let attempt = async {
        let response = client.request(request).await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()?.trim().parse().ok());
        // Only the first KiB is kept: read no more than that.
        let mut body = response.into_body();
        let mut kept = Vec::new();
        while kept.len() < RESPONSE_KEPT_BYTES {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(chunk) = frame.data_ref() {
                        kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_KEPT_BYTES - kept.len())]);
                    }
                }
                _ => break,
            }
        }
        Ok::<_, String>((status, retry_after, kept))
    };
    match tokio::time::timeout(Duration::from_secs(ATTEMPT_TIMEOUT_SECS), attempt).await {
        Err(_) => failed(sent_at_ms, format!("timed out after {ATTEMPT_TIMEOUT_SECS} s"), elapsed(started)),
        Ok(Err(e)) => failed(sent_at_ms, e, elapsed(started)),
        Ok(Ok((status, retry_after_secs, kept))) => {
            let text = String::from_utf8_lossy(&kept).into_owned();
            Sent {
                attempt: Attempt {
                    sent_at_ms,
                    status_code: Some(i64::from(status)),
                    error: None,
                    response: (!text.is_empty()).then_some(text),
                    duration_ms: elapsed(started),
                },
                retry_after_secs,
            }
        }
    }
}

fn describe(e: &hyper_util::client::legacy::Error) -> String {
    let what = if e.is_connect() { "could not connect" } else { "failed" };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text.chars().take(500).collect()
}

/// What follows an attempt: the spec's schedule with ±10 % jitter.
fn after(d: &Due, sent: &Sent) -> AfterAttempt {
    match answer_of(sent.attempt.status_code.and_then(|s| u16::try_from(s).ok())) {
        Answer::Delivered => AfterAttempt::Delivered,
        Answer::Gone => AfterAttempt::Gone,
        Answer::Failed => {
            let failed = u32::try_from(d.attempts + 1).unwrap_or(u32::MAX);
            match next_delay_ms(failed, jitter(d.delivery_id, failed), sent.retry_after_secs) {
                Some(wait) => AfterAttempt::RetryAt(sent.attempt.sent_at_ms + wait as i64),
                None => AfterAttempt::Dead,
            }
        }
    }
}

/// A spread in [-1, 1] that differs between deliveries and attempts (so
/// retries of many deliveries that failed together do not arrive together).
fn jitter(delivery_id: i64, attempt: u32) -> f64 {
    let mut x = (delivery_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    (x % 2001) as f64 / 1000.0 - 1.0
}

fn attempted(d: &Due, sent: Sent) -> Attempted {
    Attempted { after: after(d, &sent), due: d.clone(), attempt: sent.attempt }
}

/// Record `done` (then empty) in one transaction.
async fn record(store: &dyn Store, done: &mut Vec<Attempted>) {
    if done.is_empty() {
        return;
    }
    if let Err(e) = store.webhooks().record_attempts(done).await {
        // Their leases lapse and the deliveries are sent again, with the same ids.
        tracing::warn!(error = %e, deliveries = done.len(), "recording webhook attempts failed");
    }
    done.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range_and_varies() {
        let all: Vec<f64> = (0..200).map(|i| jitter(i, 1)).collect();
        assert!(all.iter().all(|j| (-1.0..=1.0).contains(j)));
        assert!(all.iter().any(|j| *j < -0.5) && all.iter().any(|j| *j > 0.5));
        assert_ne!(jitter(7, 1), jitter(7, 2));
    }
}
