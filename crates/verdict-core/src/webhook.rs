//! Webhooks, the pure part: the event types, the Standard Webhooks envelope
//! and signature, the retry schedule, message ids, and the Slack text
//! (`flaky-and-failures.md` §6.2). Sending and storing live at the edges.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// What happened, as a subscription names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// A test's flaky-detection state changed, or its control (muted, skipped, enabled).
    TestStateChanged,
    /// A failure cluster's first failure (on the default branch).
    ClusterCreated,
    /// A cluster failed far more today than in the week before (see [`spike`]).
    ClusterSpiked,
    /// A run on the default branch finished with failed tests.
    RunFailed,
    /// A settled (job, payload) batch has blocking failures (a new set of them).
    AggregateFailed,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::TestStateChanged,
        EventType::ClusterCreated,
        EventType::ClusterSpiked,
        EventType::RunFailed,
        EventType::AggregateFailed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::TestStateChanged => "test.state_changed",
            EventType::ClusterCreated => "cluster.created",
            EventType::ClusterSpiked => "cluster.spiked",
            EventType::RunFailed => "run.failed",
            EventType::AggregateFailed => "aggregate.failed",
        }
    }

    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        EventType::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| WebhookError(format!("unknown event {s:?}; known: {}", Self::names())))
    }

    pub fn names() -> String {
        EventType::ALL.map(EventType::name).join(", ")
    }
}

/// How a message is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `{"type","timestamp","data"}`, signed in the Standard Webhooks form.
    Standard,
    /// A Slack incoming webhook: `{"text"}` in mrkdwn, unsigned (the URL is the secret).
    Slack,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Standard => "standard",
            Format::Slack => "slack",
        }
    }

    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        match s {
            "standard" => Ok(Format::Standard),
            "slack" => Ok(Format::Slack),
            _ => Err(WebhookError(format!("unknown format {s:?}: standard or slack"))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(pub String);

pub const SECRET_PREFIX: &str = "whsec_";
/// The key lengths the Standard Webhooks spec allows.
pub const KEY_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A signing secret: `whsec_` and the base64 of its key.
#[derive(Clone, PartialEq)]
pub struct Secret {
    key: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn from_key(key: &[u8]) -> Result<Self, WebhookError> {
        if !KEY_BYTES.contains(&key.len()) {
            return Err(WebhookError(format!("a webhook key is 24 to 64 bytes, not {}", key.len())));
        }
        Ok(Secret { key: key.to_vec() })
    }

    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        let b64 = s.strip_prefix(SECRET_PREFIX).ok_or_else(|| WebhookError("a webhook secret starts with whsec_".into()))?;
        let key = B64.decode(b64).map_err(|_| WebhookError("a webhook secret is whsec_ and base64".into()))?;
        Self::from_key(&key)
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{SECRET_PREFIX}{}", B64.encode(&self.key))
    }
}

/// A ULID in Crockford base32 (48 bits of milliseconds, 80 random bits), sortable by time.
pub fn ulid(at_ms: u64, random: [u8; 10]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n: u128 = u128::from(at_ms & 0xFFFF_FFFF_FFFF) << 80;
    for (i, b) in random.iter().enumerate() {
        n |= u128::from(*b) << (8 * (9 - i));
    }
    (0..26).rev().map(|i| ALPHABET[((n >> (5 * i)) & 31) as usize] as char).collect()
}

/// A message's `webhook-id`.
pub fn message_id(at_ms: u64, random: [u8; 10]) -> String {
    format!("msg_{}", ulid(at_ms, random))
}

/// The delays before each attempt (Standard Webhooks' schedule): the first
/// at once, the last about three days after the event.
pub const SCHEDULE_SECS: [u64; 10] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
/// How long one attempt may take.
pub const ATTEMPT_TIMEOUT_SECS: u64 = 15;
/// An endpoint whose last this many messages died is disabled.
pub const DEAD_IN_A_ROW_DISABLES: i64 = 5;
/// The first bytes of an answer kept in the delivery log.
pub const RESPONSE_KEPT_BYTES: usize = 1024;
/// How long the delivery log keeps attempts.
pub const LOG_KEPT_MS: i64 = 30 * 86_400_000;

/// When to try again after `failed` attempts have failed, in milliseconds
/// from now, or `None` when that was the last. `jitter` in [-1, 1] spreads
/// retries by ±10 %; a `Retry-After` longer than the schedule's wait is
/// honoured (up to a day).
pub fn next_delay_ms(failed: u32, jitter: f64, retry_after_secs: Option<u64>) -> Option<u64> {
    let base = *SCHEDULE_SECS.get(failed as usize)? as f64 * 1000.0;
    let jittered = (base * (1.0 + 0.1 * jitter.clamp(-1.0, 1.0))).round() as u64;
    let asked = retry_after_secs.map_or(0, |s| s.min(86_400) * 1000);
    Some(jittered.max(asked))
}

/// What an attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Delivered,
    /// Try again later (any status but 2xx and 410, or no answer).
    Failed,
    /// 410 Gone: the receiver asks never to be called again.
    Gone,
}

pub fn answer_of(status: Option<u16>) -> Answer {
    match status {
        Some(200..=299) => Answer::Delivered,
        Some(410) => Answer::Gone,
        _ => Answer::Failed,
    }
}

/// The signed body: `{"data","timestamp","type"}`, minified; `data`'s
/// relative `url`s made absolute against `base`.
pub fn envelope(kind: &str, at_ms: i64, data: &Value, base: &str) -> Vec<u8> {
    let mut data = data.clone();
    absolute_urls(&mut data, base);
    let body = serde_json::json!({"type": kind, "timestamp": rfc3339(at_ms), "data": data});
    serde_json::to_vec(&body).expect("a JSON value serialises")
}

use crate::range::rfc3339_ms as rfc3339;

/// Messages are stored with paths (`/s/app/tests/7`): the server's public
/// URL is its configuration, not the store's.
pub fn absolute_urls(v: &mut Value, base: &str) {
    match v {
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                match v {
                    Value::String(s) if k == "url" && s.starts_with('/') => *s = format!("{}{s}", base.trim_end_matches('/')),
                    _ => absolute_urls(v, base),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| absolute_urls(v, base)),
        _ => {}
    }
}

/// Slack's three escapes for text it shows (its formatting reference).
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A Slack link; `|`, which would end the URL part, is escaped too.
fn slack_link(url: &str, label: &str) -> String {
    format!("<{}|{}>", slack_escape(url).replace('|', "%7C"), slack_escape(label).replace('|', "¦"))
}

fn test_label(test: &Value) -> String {
    let name = test["name"].as_str().unwrap_or("");
    match test["scope"].as_str().unwrap_or("") {
        "" => name.to_owned(),
        scope => format!("{scope} › {name}"),
    }
}

/// Faster events than one message a second are joined, at most this many lines a message.
pub const SLACK_MAX_LINES: usize = 20;

/// One line of Slack text for a message (its `data` with absolute URLs).
pub fn slack_line(kind: &str, data: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let owners = match data["owners"].as_array() {
        Some(o) if !o.is_empty() => format!(", owners {}", slack_escape(&o.iter().map(s).collect::<Vec<_>>().join(" "))),
        _ => String::new(),
    };
    match kind {
        "test.state_changed" if data["change"] == "control" => {
            let (test, control) = (&data["test"], &data["control"]);
            let reason = control["reason"].as_str().map_or_else(String::new, |r| format!(": {}", slack_escape(r)));
            format!(
                "{} *{}*: {} by {}{reason}{owners}",
                if data["to"] == "enabled" { ":loud_sound:" } else { ":mute:" },
                slack_escape(&s(&data["to"])),
                slack_link(&s(&test["url"]), &test_label(test)),
                slack_escape(&s(&control["actor"]))
            )
        }
        "test.state_changed" => {
            let test = &data["test"];
            let label = test_label(test);
            let to = s(&data["to"]);
            let icon = match to.as_str() {
                "flaky" | "broken" => ":warning:",
                "muted" | "skipped" | "quarantined" => ":mute:",
                _ => ":white_check_mark:",
            };
            let ev = &data["evidence"];
            let rate = match (ev["runs"].as_f64(), ev["flaky_runs"].as_f64()) {
                (Some(n), Some(x)) if n > 0.0 && to == "flaky" => {
                    let r = crate::flaky::posterior::Posterior::of(n, x).rate();
                    format!(" {:.1}% of runs (95% CI {:.1}–{:.1}%),", 100.0 * r.mean, 100.0 * r.low, 100.0 * r.high)
                }
                _ => String::new(),
            };
            format!(
                "{icon} *{}* on {}: {}{rate} rule {}{owners}",
                slack_escape(&to),
                slack_escape(&s(&data["branch"])),
                slack_link(&s(&test["url"]), &label),
                slack_escape(&s(&data["rule"]))
            )
        }
        "cluster.created" => {
            let c = &data["cluster"];
            format!(":new: new failure cluster: {}{owners}", slack_link(&s(&c["url"]), &s(&c["title"])))
        }
        "cluster.spiked" => {
            let c = &data["cluster"];
            format!(
                ":chart_with_upwards_trend: failure cluster spiking: {}, {} failures today (about {:.1} a day before){owners}",
                slack_link(&s(&c["url"]), &s(&c["title"])),
                data["count_24h"],
                data["lambda"].as_f64().unwrap_or(0.0)
            )
        }
        "run.failed" => {
            let run = &data["run"];
            format!(
                ":x: run failed on {}: {}, {} failed of {}{owners}",
                slack_escape(&s(&data["branch"])),
                slack_link(&s(&run["url"]), &format!("run {}", run["id"])),
                data["failed"],
                data["tests"]
            )
        }
        "aggregate.failed" => format!(
            ":no_entry: {} blocking failures in job {} for {}: {}{owners}",
            data["count"],
            slack_escape(&s(&data["job"])),
            slack_escape(&s(&data["payload"])),
            slack_link(&s(&data["url"]), "the aggregate verdict")
        ),
        other => slack_escape(other),
    }
}

/// A cluster spikes when its failures today (`today`, at least
/// [`SPIKE_MIN_FAILURES`]) are unlikely under its rate of the 7 days before:
/// `P(Poisson(λ) ≥ today) ≤` [`SPIKE_P`], with λ = (failures in those 7 days
/// + 0.5) / 7. Some((λ, p)) when it does.
pub fn spike(today: i64, week_before: i64) -> Option<(f64, f64)> {
    let lambda = (week_before.max(0) as f64 + 0.5) / 7.0;
    if today < SPIKE_MIN_FAILURES || (today as f64) <= lambda {
        return None;
    }
    let p = poisson_tail(lambda, today as u64);
    (p <= SPIKE_P).then_some((lambda, p))
}

pub const SPIKE_MIN_FAILURES: i64 = 5;
pub const SPIKE_P: f64 = 0.001;

/// P(X ≥ c) for X ~ Poisson(λ), for c > λ: the terms from c up, each
/// λ/(k+1) times the one before, until they no longer add anything.
fn poisson_tail(lambda: f64, c: u64) -> f64 {
    let ln_first = -lambda + c as f64 * lambda.ln() - statrs::function::gamma::ln_gamma(c as f64 + 1.0);
    let mut term = ln_first.exp();
    let mut sum = 0.0;
    let mut k = c;
    while term > 0.0 && term > sum * 1e-17 && k < c + 100_000 {
        sum += term;
        term *= lambda / (k + 1) as f64;
        k += 1;
    }
    sum.min(1.0)
}

/// The `{"text"}` body of one Slack message for up to [`SLACK_MAX_LINES`] lines.
pub fn slack_body(lines: &[String]) -> Vec<u8> {
    let text = lines.iter().take(SLACK_MAX_LINES).cloned().collect::<Vec<_>>().join("\n");
    serde_json::to_vec(&serde_json::json!({"text": text})).expect("a JSON value serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spikes_follow_the_poisson_rule() {
        // λ = 0.5/7: five failures in a day, after none, is a spike (p ≈ 1.5e-8).
        let (l, p) = spike(5, 0).unwrap();
        assert!((l - 0.5 / 7.0).abs() < 1e-12);
        assert!((p - 1.5e-8).abs() < 0.1e-8, "{p}");
        assert_eq!(spike(4, 0), None, "fewer than five is never a spike");
        // λ = (70 + 0.5)/7 ≈ 10.07: 20 today has p ≈ 0.0036 (no), 25 has p ≈ 7.6e-5 (yes).
        assert_eq!(spike(20, 70), None);
        let (_, p) = spike(25, 70).unwrap();
        assert!(p < 1e-4 && p > 1e-5, "{p}");
        assert_eq!(spike(10, 700), None, "at or under the usual rate");
        // The tail sums what Poisson's pmf gives: P(X ≥ 3 | λ = 1) = 1 - (1 + 1 + 1/2)/e.
        assert!((poisson_tail(1.0, 3) - (1.0 - 2.5 / std::f64::consts::E)).abs() < 1e-12);
        assert!(spike(1_000_000, 0).is_some(), "a huge count does not overflow");
    }

    #[test]
    fn the_standard_webhooks_vector_signs_alike() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert_eq!(secret.to_string(), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert!(Secret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_err());
        assert!(Secret::parse("whsec_c2hvcnQ=").is_err(), "5 bytes is too short a key");
        assert!(Secret::parse("whsec_!!!").is_err());
    }

    #[test]
    fn ulids_are_26_crockford_characters_in_time_order() {
        assert_eq!(ulid(0, [0; 10]), "00000000000000000000000000");
        assert_eq!(ulid(u64::MAX, [0xFF; 10]), "7ZZZZZZZZZZZZZZZZZZZZZZZZZ");
        // The spec's example: 01ARYZ6S41 is 1469918176385 ms.
        assert!(ulid(1_469_918_176_385, [0; 10]).starts_with("01ARYZ6S41"));
        assert!(message_id(1, [9; 10]) < message_id(2, [0; 10]));
    }

    #[test]
    fn retries_follow_the_schedule_with_jitter_and_retry_after() {
        assert_eq!(next_delay_ms(0, 0.0, None), Some(0));
        assert_eq!(next_delay_ms(1, 0.0, None), Some(5_000));
        assert_eq!(next_delay_ms(1, 1.0, None), Some(5_500));
        assert_eq!(next_delay_ms(2, -1.0, None), Some(270_000));
        assert_eq!(next_delay_ms(1, 0.0, Some(60)), Some(60_000));
        assert_eq!(next_delay_ms(1, 0.0, Some(10_000_000)), Some(86_400_000), "Retry-After is capped at a day");
        assert_eq!(next_delay_ms(9, 0.0, None), Some(86_400_000));
        assert_eq!(next_delay_ms(10, 0.0, None), None);
        let total: u64 = SCHEDULE_SECS.iter().sum();
        assert!((3 * 86_400..4 * 86_400).contains(&total), "about three days: {total} s");
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(answer_of(Some(204)), Answer::Delivered);
        assert_eq!(answer_of(Some(301)), Answer::Failed, "redirects are not followed");
        assert_eq!(answer_of(Some(410)), Answer::Gone);
        assert_eq!(answer_of(Some(500)), Answer::Failed);
        assert_eq!(answer_of(None), Answer::Failed);
    }

    #[test]
    fn the_envelope_is_minified_with_absolute_urls() {
        let data = serde_json::json!({"test": {"id": 7, "url": "/s/app/tests/7"}, "note": "/not/a/url", "run": {"url": "https://x/y"}});
        let body = envelope("test.state_changed", 1_614_265_330_000, &data, "http://verdict.example/");
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"data":{"note":"/not/a/url","run":{"url":"https://x/y"},"test":{"id":7,"url":"http://verdict.example/s/app/tests/7"}},"timestamp":"2021-02-25T15:02:10.000Z","type":"test.state_changed"}"#
        );
    }

    #[test]
    fn slack_lines_escape_and_link() {
        let data = serde_json::json!({
            "test": {"scope": "Checkout", "name": "applies <coupon> & tax", "url": "http://v/s/app/tests/7"},
            "branch": "main", "from": "new", "to": "flaky", "rule": "same_commit",
            "evidence": {"runs": 60, "flaky_runs": 3}, "owners": ["@payments"]
        });
        assert_eq!(
            slack_line("test.state_changed", &data),
            ":warning: *flaky* on main: <http://v/s/app/tests/7|Checkout › applies &lt;coupon&gt; &amp; tax> 5.7% of runs (95% CI 1.4–12.7%), rule same_commit, owners @payments"
        );
        let control = serde_json::json!({
            "test": {"scope": "", "name": "a|b", "url": "http://v/t/1"}, "change": "control", "from": "enabled", "to": "muted",
            "control": {"actor": "cli:alice", "reason": "flaky in <CI>"}, "owners": []
        });
        assert_eq!(slack_line("test.state_changed", &control), ":mute: *muted*: <http://v/t/1|a¦b> by cli:alice: flaky in &lt;CI&gt;");
        let lines: Vec<String> = (0..25).map(|i| format!("line {i}")).collect();
        let body: Value = serde_json::from_slice(&slack_body(&lines)).unwrap();
        assert_eq!(body["text"].as_str().unwrap().lines().count(), SLACK_MAX_LINES);
    }

    #[test]
    fn events_and_formats_parse_by_name() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.name()), Ok(e));
        }
        assert!(EventType::parse("test.exploded").unwrap_err().0.contains("test.state_changed"));
        assert_eq!(Format::parse("slack"), Ok(Format::Slack));
        assert!(Format::parse("teams").is_err());
    }
}
