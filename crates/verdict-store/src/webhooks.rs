//! Webhooks in the store (migration 0018): a suite's endpoints, the outbox
//! and its deliveries. A message is written in the transaction of the change
//! that causes it (a state event, a control change, a cluster's first
//! failure on the default branch, a failed run), with one delivery per
//! matching endpoint, so an event is never lost and never made twice; the
//! sender (in the server, apart from the write path) claims due deliveries
//! with a lease, and a sender killed mid-attempt leaves a claim that lapses:
//! the delivery is sent again with the same message id.

use crate::error::StoreError;
use crate::views::Test;
use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};
use verdict_core::flaky::Transition;
use verdict_core::quarantine::Control;
use verdict_core::webhook::{EventType, Format, message_id};

/// An endpoint as it is asked for.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub suite_id: i64,
    pub url: String,
    /// `whsec_…` (Standard format); kept as given, it signs every message.
    pub secret: String,
    pub format: Format,
    /// The events it takes; empty: all.
    pub events: Vec<EventType>,
    /// Only events naming this owner (part of each event's `owners`).
    pub owner: Option<String>,
    pub description: Option<String>,
}

/// An endpoint as it is kept (its secret is not serialised: it is shown once, when made).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub suite_id: i64,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    pub format: String,
    pub events: Vec<String>,
    pub owner: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub created_at_ms: i64,
    /// The secret the last rotation replaced (signed with too for 24 h after it).
    #[serde(skip)]
    pub previous_secret: Option<String>,
    pub rotated_at_ms: Option<i64>,
}

/// How long after a rotation deliveries carry the old secret's signature too.
pub const ROTATION_OVERLAP_MS: i64 = 86_400_000;

impl Endpoint {
    /// The secrets to sign with at `now_ms`: the current one, and the one it replaced within a day.
    pub fn signing_secrets(&self, now_ms: i64) -> Vec<&str> {
        let mut out = vec![self.secret.as_str()];
        if let (Some(old), Some(at)) = (&self.previous_secret, self.rotated_at_ms)
            && now_ms - at < ROTATION_OVERLAP_MS
        {
            out.push(old);
        }
        out
    }
}

/// One outbox message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Message {
    pub id: String,
    pub suite_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub at_ms: i64,
    pub data: Value,
}

/// A delivery claimed for sending.
#[derive(Debug, Clone)]
pub struct Due {
    pub delivery_id: i64,
    /// Attempts made before this one.
    pub attempts: i64,
    pub message: Message,
    pub endpoint: Endpoint,
}

/// One attempt, as the log keeps it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Attempt {
    pub sent_at_ms: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
    /// The first KiB of the answer.
    pub response: Option<String>,
    pub duration_ms: i64,
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AfterAttempt {
    Delivered,
    /// Try again at this time.
    RetryAt(i64),
    /// The last attempt failed.
    Dead,
    /// 410: dead, and its endpoint disabled.
    Gone,
}

/// One attempt to record: the delivery it was for, what it got, what follows.
#[derive(Debug, Clone)]
pub struct Attempted {
    pub due: Due,
    pub attempt: Attempt,
    pub after: AfterAttempt,
}

/// A delivery with its attempts, newest first.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Delivery {
    pub id: i64,
    pub message_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `dead`.
    pub state: String,
    pub attempts: i64,
    pub next_at_ms: Option<i64>,
    pub last_status: Option<i64>,
    pub created_at_ms: i64,
    pub done_at_ms: Option<i64>,
    pub log: Vec<Attempt>,
}

/// An event to put in the outbox, with the owners endpoints may filter on.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub kind: EventType,
    pub at_ms: i64,
    pub data: Value,
}

impl Event {
    fn owners(&self) -> Vec<&str> {
        self.data["owners"].as_array().map_or_else(Vec::new, |o| o.iter().filter_map(Value::as_str).collect())
    }
}

/// An endpoint as the write path matches it.
#[derive(Debug, Clone)]
pub(crate) struct Subscriber {
    pub id: String,
    pub events: Vec<String>,
    pub owner: Option<String>,
}

impl Subscriber {
    pub fn takes(&self, e: &Event) -> bool {
        (self.events.is_empty() || self.events.iter().any(|k| k == e.kind.name()))
            && self.owner.as_deref().is_none_or(|o| e.owners().contains(&o))
    }
}

/// Whether any subscriber takes events of `kind` (before building them).
pub(crate) fn any_takes(subs: &[Subscriber], kind: EventType) -> bool {
    subs.iter().any(|s| s.events.is_empty() || s.events.iter().any(|k| k == kind.name()))
}

pub(crate) fn parse_events(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// ?1 suite: the endpoints the write path fills.
pub(crate) const SUBSCRIBERS: &str =
    "SELECT id, events, owner FROM webhook_endpoints WHERE suite_id = ?1 AND removed_at IS NULL AND enabled = 1 ORDER BY id";
pub(crate) const INSERT_MESSAGE: &str = "INSERT INTO webhook_messages (id, suite_id, type, at_ms, data) VALUES (?1, ?2, ?3, ?4, ?5)";
pub(crate) const INSERT_DELIVERY: &str =
    "INSERT INTO webhook_deliveries (message_id, endpoint_id, state, next_at, created_at) VALUES (?1, ?2, 'pending', ?3, ?3)";
pub(crate) const ENDPOINT_COLS: &str =
    "id, suite_id, url, secret, format, events, owner, description, enabled, disabled_reason, created_at, previous_secret, rotated_at";
/// ?1 suite, ?2 endpoint, ?3 new secret, ?4 now.
pub(crate) const ROTATE_SECRET: &str = "UPDATE webhook_endpoints SET previous_secret = secret, secret = ?3, rotated_at = ?4
     WHERE suite_id = ?1 AND id = ?2 AND removed_at IS NULL";
pub(crate) const INSERT_ENDPOINT: &str =
    "INSERT INTO webhook_endpoints (id, suite_id, url, secret, format, events, owner, description, enabled, created_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9)";
/// ?1 suite, ?2 endpoint, ?3 now: removed endpoints keep their log; their pending deliveries end.
pub(crate) const REMOVE_ENDPOINT: &str =
    "UPDATE webhook_endpoints SET removed_at = ?3, enabled = 0 WHERE suite_id = ?1 AND id = ?2 AND removed_at IS NULL";
pub(crate) const END_PENDING: &str =
    "UPDATE webhook_deliveries SET state = 'dead', done_at = ?2, lease_until = NULL WHERE endpoint_id = ?1 AND state = 'pending'";
pub(crate) const INSERT_ATTEMPT: &str =
    "INSERT INTO webhook_attempts (delivery_id, sent_at, status_code, error, response, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/// ?1 delivery, ?2 state, ?3 next_at, ?4 status, ?5 done_at.
pub(crate) const AFTER_ATTEMPT: &str = "UPDATE webhook_deliveries SET attempts = attempts + 1, state = ?2, next_at = ?3,
     last_status = ?4, done_at = ?5, lease_until = NULL WHERE id = ?1";
/// ?1 endpoint, ?2 reason.
pub(crate) const DISABLE_ENDPOINT: &str = "UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2 WHERE id = ?1 AND enabled = 1";
/// ?1 endpoint, ?2 how many: the states of its last deliveries that ended.
pub(crate) const LAST_STATES: &str =
    "SELECT state FROM webhook_deliveries WHERE endpoint_id = ?1 AND state <> 'pending' ORDER BY id DESC LIMIT ?2";
pub(crate) const DELIVERY_COLS: &str = "d.id, d.message_id, m.type, d.state, d.attempts, d.next_at, d.last_status, d.created_at, d.done_at";
/// ?1 endpoint, ?2 limit.
pub(crate) fn deliveries_sql() -> String {
    format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
         WHERE d.endpoint_id = ?1 ORDER BY d.id DESC LIMIT ?2"
    )
}
pub(crate) const ATTEMPTS: &str = "SELECT sent_at, status_code, error, response, duration_ms FROM webhook_attempts
     WHERE delivery_id = ?1 ORDER BY id DESC LIMIT 20";
/// ?1 endpoint, ?2 delivery, ?3 now: send it again soon, whatever it ended as.
pub(crate) const RETRY: &str = "UPDATE webhook_deliveries SET state = 'pending', next_at = ?3, done_at = NULL, lease_until = NULL
     WHERE endpoint_id = ?1 AND id = ?2";
/// ?1 suite, ?2 limit: in the order they were written (their first delivery's).
pub(crate) const MESSAGES: &str = "SELECT m.id, m.suite_id, m.type, m.at_ms, m.data FROM webhook_messages m WHERE m.suite_id = ?1
     ORDER BY (SELECT min(d.id) FROM webhook_deliveries d WHERE d.message_id = m.id) LIMIT ?2";
/// ?1 suite, ?2 cluster, ?3 now.
pub(crate) const ANNOUNCE_CLUSTER: &str =
    "UPDATE clusters SET announced_at = ?3 WHERE suite_id = ?1 AND cluster_id = ?2 AND announced_at IS NULL";
/// ?1 suite, ?2 cluster, ?3 today: its failures today and in the 7 days before.
pub(crate) const CLUSTER_WEEK: &str = "SELECT CAST(coalesce(sum(CASE WHEN day = ?3 THEN failures ELSE 0 END), 0) AS BIGINT),
            CAST(coalesce(sum(CASE WHEN day < ?3 THEN failures ELSE 0 END), 0) AS BIGINT)
     FROM cluster_days WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3 - 7 AND day <= ?3";
/// ?1 suite, ?2 cluster, ?3 today: whether this is its first spike today.
pub(crate) const MARK_SPIKED: &str =
    "UPDATE clusters SET spiked_day = ?3 WHERE suite_id = ?1 AND cluster_id = ?2 AND (spiked_day IS NULL OR spiked_day < ?3)";
pub(crate) const PRUNE_ATTEMPTS: &str = "DELETE FROM webhook_attempts WHERE sent_at < ?1";
/// The columns a claim reads: the delivery, its message and its endpoint.
pub(crate) fn due_cols() -> String {
    let ep = ENDPOINT_COLS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ");
    format!("d.id, d.attempts, m.id, m.suite_id, m.type, m.at_ms, m.data, {ep}")
}

/// The message id of a new message.
pub(crate) fn new_message_id(now_ms: i64) -> String {
    message_id(now_ms.max(0) as u64, rand::random())
}

/// An endpoint's id: `ep_` and a ULID.
pub fn new_endpoint_id(now_ms: i64) -> String {
    format!("ep_{}", verdict_core::webhook::ulid(now_ms.max(0) as u64, rand::random()))
}

/// The state after an attempt, its next time and its done time.
pub(crate) fn after_columns(after: AfterAttempt, now_ms: i64) -> (&'static str, i64, Option<i64>) {
    match after {
        AfterAttempt::Delivered => ("delivered", now_ms, Some(now_ms)),
        AfterAttempt::RetryAt(at) => ("pending", at, None),
        AfterAttempt::Dead | AfterAttempt::Gone => ("dead", now_ms, Some(now_ms)),
    }
}

fn test_json(slug: &str, t: &Test) -> Value {
    json!({
        "id": t.id, "scope": t.scope, "name": t.name, "file_name": t.file_name, "location": t.location,
        "url": format!("/s/{slug}/tests/{}", t.id),
    })
}

fn run_json(slug: &str, run_id: i64, commit: Option<&str>) -> Value {
    json!({"id": run_id, "commit": commit, "url": format!("/s/{slug}/runs/{run_id}")})
}

/// `test.state_changed` for a state event on a trusted track.
pub(crate) fn state_event(slug: &str, test: &Test, track: &str, e: &Transition) -> Event {
    Event {
        kind: EventType::TestStateChanged,
        at_ms: e.at_ms,
        data: json!({
            "suite": slug, "test": test_json(slug, test), "change": "state", "branch": track,
            "from": e.from.name(), "to": e.to.name(), "rule": e.rule.name(),
            "evidence": {"llr": e.llr, "runs": e.runs, "flaky_runs": e.flaky_runs, "commit": e.commit},
            "owners": [], "run": run_json(slug, e.run_id, e.commit.as_deref()),
        }),
    }
}

/// `test.state_changed` for a control change (muted, skipped, enabled).
pub(crate) fn control_event(slug: &str, test: &Test, before: &Control, after: &Control, rule: &str) -> Event {
    Event {
        kind: EventType::TestStateChanged,
        at_ms: after.at_ms,
        data: json!({
            "suite": slug, "test": test_json(slug, test), "change": "control",
            "from": before.state.name(), "to": after.state.name(), "rule": rule,
            "control": {"set_by": after.set_by.name(), "actor": after.actor, "reason": after.reason, "expires_at": after.expires_at},
            "owners": [],
        }),
    }
}

/// `cluster.created`: a cluster's first failure on the default branch, with
/// the upload's tests that failed so (the first 20; their owners are the event's).
pub(crate) fn cluster_event(
    slug: &str,
    g: &crate::clusters::ClusterGroup,
    upload_tests: (&[crate::plan::TestKey<'_>], &[i64]),
    run: (i64, Option<&str>),
    at_ms: i64,
) -> Event {
    Event { kind: EventType::ClusterCreated, at_ms, data: cluster_data(slug, g, upload_tests, run) }
}

/// `cluster.spiked`: `today` failures today against `lambda` a day before (see `verdict_core::webhook::spike`).
pub(crate) fn spike_event(
    slug: &str,
    g: &crate::clusters::ClusterGroup,
    upload_tests: (&[crate::plan::TestKey<'_>], &[i64]),
    run: (i64, Option<&str>),
    (today, lambda, p): (i64, f64, f64),
    at_ms: i64,
) -> Event {
    let mut data = cluster_data(slug, g, upload_tests, run);
    data["count_24h"] = json!(today);
    data["lambda"] = json!(lambda);
    data["p"] = json!(p);
    Event { kind: EventType::ClusterSpiked, at_ms, data }
}

/// What both cluster events say: the cluster, the run, and the upload's tests that failed so (the first 20).
fn cluster_data(
    slug: &str,
    g: &crate::clusters::ClusterGroup,
    upload_tests: (&[crate::plan::TestKey<'_>], &[i64]),
    run: (i64, Option<&str>),
) -> Value {
    let (keys, ids) = upload_tests;
    let tests: Vec<Value> = g
        .tests
        .iter()
        .take(20)
        .filter_map(|&(i, _)| {
            let (t, id) = (keys.get(i)?, ids.get(i)?);
            Some(json!({"id": id, "scope": t.scope, "name": t.name, "file_name": t.file_name, "location": t.location,
                        "url": format!("/s/{slug}/tests/{id}")}))
        })
        .collect();
    let id = &g.id;
    json!({
        "suite": slug, "cluster": {"id": id, "kind": g.algorithm, "title": g.title, "url": format!("/s/{slug}/failures/{id}")},
        "example": {"run": run_json(slug, run.0, run.1)}, "tests": tests, "owners": [],
    })
}

/// What `run.failed` says of a run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FailedRun<'a> {
    pub run_id: i64,
    pub branch: &'a str,
    pub commit: Option<&'a str>,
    pub tests: usize,
    pub failed: usize,
    /// The first 20 of them.
    pub failed_tests: Vec<&'a Test>,
    pub infra: bool,
}

/// `run.failed`: a run on the default branch finished (was analysed) with failed tests.
pub(crate) fn run_failed_event(slug: &str, r: &FailedRun<'_>, at_ms: i64) -> Event {
    let failed: Vec<Value> = r.failed_tests.iter().take(20).map(|t| test_json(slug, t)).collect();
    Event {
        kind: EventType::RunFailed,
        at_ms,
        data: json!({
            "suite": slug, "branch": r.branch, "run": run_json(slug, r.run_id, r.commit), "tests": r.tests,
            "failed": r.failed, "failed_tests": failed, "infra": r.infra, "owners": [],
        }),
    }
}

/// What a flaky analysis step announces: its state events on trusted tracks
/// and, for a run's first part on the default branch with failed tests, `run.failed`.
pub(crate) struct PartAnnouncement<'a> {
    states: Vec<&'a (i64, String, Transition)>,
    failed_run: bool,
}

impl<'a> PartAnnouncement<'a> {
    pub fn of(run: &crate::flaky::PartRun, plan: &'a crate::flaky::PartPlan) -> Self {
        PartAnnouncement {
            // `*` pools every branch, where code is not expected to pass: its changes are not news.
            states: plan.events.iter().filter(|(_, track, _)| track != verdict_core::flaky::ALL_BRANCHES).collect(),
            failed_run: plan.first_of_run && !plan.failed_tests.is_empty() && run.branch.as_deref() == Some(run.default_branch.as_str()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && !self.failed_run
    }

    /// The tests whose rows the events need, given who takes what.
    pub fn tests(&self, subs: &[Subscriber], plan: &crate::flaky::PartPlan) -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::new();
        if any_takes(subs, EventType::TestStateChanged) {
            ids.extend(self.states.iter().map(|(t, _, _)| *t));
        }
        if self.failed_run && any_takes(subs, EventType::RunFailed) {
            ids.extend(plan.failed_tests.iter().take(20));
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn events(
        &self,
        slug: &str,
        subs: &[Subscriber],
        run: &crate::flaky::PartRun,
        plan: &crate::flaky::PartPlan,
        tests: &std::collections::HashMap<i64, Test>,
        now_ms: i64,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        if any_takes(subs, EventType::TestStateChanged) {
            for (t, track, e) in &self.states {
                if let Some(test) = tests.get(t) {
                    events.push(state_event(slug, test, track, e));
                }
            }
        }
        if self.failed_run && any_takes(subs, EventType::RunFailed) {
            let failed: Vec<&Test> = plan.failed_tests.iter().filter_map(|t| tests.get(t)).collect();
            let r = FailedRun {
                run_id: run.run_id,
                branch: &run.default_branch,
                commit: run.commit.as_deref(),
                tests: plan.tests,
                failed: plan.failed_tests.len(),
                failed_tests: failed,
                infra: plan.infra,
            };
            events.push(run_failed_event(slug, &r, now_ms));
        }
        events
    }
}

/// A (job, payload) batch whose runs changed since it was last judged and have settled.
#[derive(Debug, Clone, PartialEq)]
pub struct SettledBatch {
    pub suite_id: i64,
    pub job: String,
    pub payload: String,
    /// Its runs' latest `updated_at`.
    pub last_run_at_ms: i64,
}

/// A batch's verdict as the watcher records it.
#[derive(Debug, Clone)]
pub struct BatchVerdict {
    pub batch: SettledBatch,
    /// Its blocking failures, as `scope/name`, sorted.
    pub blocking: Vec<String>,
    /// The `aggregate.failed` event's data, sent when `blocking` is not empty and not the set recorded before.
    pub data: Value,
}

/// ?1 settled before, ?2 since, ?3 limit.
pub(crate) const SETTLED_BATCHES: &str = "SELECT r.suite_id, r.job, r.payload, max(r.updated_at) FROM runs r
     WHERE r.job IS NOT NULL AND r.payload IS NOT NULL AND r.updated_at >= ?2
     GROUP BY r.suite_id, r.job, r.payload
     HAVING max(r.updated_at) <= ?1 AND max(r.updated_at) > coalesce((SELECT v.last_run_at FROM aggregate_verdicts v
       WHERE v.suite_id = r.suite_id AND v.job = r.job AND v.payload = r.payload), -1)
     ORDER BY max(r.updated_at) LIMIT ?3";
/// ?1 suite, ?2 job, ?3 payload.
pub(crate) const LAST_VERDICT: &str = "SELECT blocking FROM aggregate_verdicts WHERE suite_id = ?1 AND job = ?2 AND payload = ?3";
/// ?1 suite, ?2 job, ?3 payload, ?4 blocking, ?5 last run, ?6 now.
pub(crate) const KEEP_VERDICT: &str = "INSERT INTO aggregate_verdicts (suite_id, job, payload, blocking, last_run_at, judged_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (suite_id, job, payload)
     DO UPDATE SET blocking = excluded.blocking, last_run_at = excluded.last_run_at, judged_at = excluded.judged_at";

/// Whether a verdict is news: blocking failures, and not the set announced before.
pub(crate) fn verdict_is_news(blocking: &[String], before: Option<&str>) -> bool {
    let before: Vec<String> = before.and_then(|b| serde_json::from_str(b).ok()).unwrap_or_default();
    !blocking.is_empty() && blocking != before.as_slice()
}

/// Webhook endpoints, the outbox and its deliveries.
#[async_trait]
pub trait WebhooksStore: Send + Sync {
    /// Keep a new endpoint; it takes the events made from now on.
    async fn add_endpoint(&self, e: &NewEndpoint, now_ms: i64) -> Result<Endpoint, StoreError>;
    /// The suite's endpoints (not removed), oldest first.
    async fn endpoints(&self, suite_id: i64) -> Result<Vec<Endpoint>, StoreError>;
    async fn endpoint(&self, suite_id: i64, id: &str) -> Result<Option<Endpoint>, StoreError>;
    /// Replace an endpoint's secret (the old one signs too for 24 h): whether there was one.
    async fn rotate_secret(&self, suite_id: i64, id: &str, secret: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Remove an endpoint (its pending deliveries end; its log stays): whether there was one.
    async fn remove_endpoint(&self, suite_id: i64, id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Claim up to `limit` due deliveries of enabled endpoints for `lease_ms`, oldest due first.
    async fn claim_due(&self, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<Due>, StoreError>;
    /// Log attempts and move their deliveries on, in one transaction (the
    /// sender records a batch at once, so that it adds few writes beside
    /// uploads); a dead delivery disables an endpoint whose last five
    /// deliveries all died.
    async fn record_attempts(&self, done: &[Attempted]) -> Result<(), StoreError>;
    /// One attempt ([`Self::record_attempts`] of one).
    async fn record_attempt(&self, due: &Due, attempt: &Attempt, after: AfterAttempt) -> Result<(), StoreError> {
        self.record_attempts(&[Attempted { due: due.clone(), attempt: attempt.clone(), after }]).await
    }
    /// An endpoint's deliveries, newest first, each with its last attempts.
    async fn deliveries(&self, endpoint_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError>;
    /// Send a delivery again now: whether it was the endpoint's.
    async fn retry_delivery(&self, endpoint_id: &str, delivery_id: i64, now_ms: i64) -> Result<bool, StoreError>;
    /// Forget attempts older than `before_ms` (the log keeps 30 days).
    async fn prune_attempts(&self, before_ms: i64) -> Result<usize, StoreError>;
    /// Batches (runs with a job and a payload) updated since `since_ms`, settled by `settled_before_ms`, not judged since.
    async fn settled_batches(&self, settled_before_ms: i64, since_ms: i64, limit: i64) -> Result<Vec<SettledBatch>, StoreError>;
    /// Keep a batch's verdict and, in the same transaction, write `aggregate.failed` when it is news: whether it was.
    async fn record_batch_verdict(&self, v: &BatchVerdict, now_ms: i64) -> Result<bool, StoreError>;
    /// Messages the outbox holds for a suite, oldest first (for tests and the delivery log).
    async fn messages(&self, suite_id: i64, limit: i64) -> Result<Vec<Message>, StoreError>;
}

/// Whether the last states (newest first) say the endpoint should be disabled.
pub(crate) fn all_dead(states: &[String]) -> bool {
    states.len() as i64 >= verdict_core::webhook::DEAD_IN_A_ROW_DISABLES && states.iter().all(|s| s == "dead")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventType, owners: &[&str]) -> Event {
        Event { kind, at_ms: 0, data: json!({"owners": owners}) }
    }

    #[test]
    fn a_batch_verdict_is_news_when_its_blocking_set_is_new() {
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(verdict_is_news(&set(&["e2e/a"]), None), "first blocking verdict");
        assert!(!verdict_is_news(&set(&["e2e/a"]), Some(r#"["e2e/a"]"#)), "the same set again");
        assert!(verdict_is_news(&set(&["e2e/a", "e2e/b"]), Some(r#"["e2e/a"]"#)), "a new set");
        assert!(!verdict_is_news(&[], Some(r#"["e2e/a"]"#)), "no blocking failures: nothing to say");
        assert!(verdict_is_news(&set(&["e2e/a"]), Some("[]")), "blocking again after a clean verdict");
    }

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_for_a_day() {
        let mut e = Endpoint {
            id: "ep_1".into(),
            suite_id: 1,
            url: "http://x".into(),
            secret: "new".into(),
            format: "standard".into(),
            events: vec![],
            owner: None,
            description: None,
            enabled: true,
            disabled_reason: None,
            created_at_ms: 0,
            previous_secret: None,
            rotated_at_ms: None,
        };
        assert_eq!(e.signing_secrets(5), ["new"]);
        (e.previous_secret, e.rotated_at_ms) = (Some("old".into()), Some(1_000));
        assert_eq!(e.signing_secrets(1_000 + ROTATION_OVERLAP_MS - 1), ["new", "old"]);
        assert_eq!(e.signing_secrets(1_000 + ROTATION_OVERLAP_MS), ["new"], "a day later only the new one");
    }

    #[test]
    fn subscribers_take_their_events_and_owners() {
        let all = Subscriber { id: "a".into(), events: vec![], owner: None };
        let clusters = Subscriber { id: "b".into(), events: vec!["cluster.created".into()], owner: None };
        let payments = Subscriber { id: "c".into(), events: vec![], owner: Some("payments".into()) };
        let e = ev(EventType::TestStateChanged, &["payments", "billing"]);
        assert!(all.takes(&e) && !clusters.takes(&e) && payments.takes(&e));
        let e = ev(EventType::ClusterCreated, &["@ruby"]);
        assert!(all.takes(&e) && clusters.takes(&e) && !payments.takes(&e));
        assert!(any_takes(std::slice::from_ref(&clusters), EventType::ClusterCreated));
        assert!(!any_takes(&[clusters], EventType::RunFailed));
    }

    #[test]
    fn five_dead_in_a_row_disable() {
        let dead = |n| vec!["dead".to_owned(); n];
        assert!(!all_dead(&dead(4)));
        assert!(all_dead(&dead(5)));
        let mut mixed = dead(5);
        mixed[2] = "delivered".into();
        assert!(!all_dead(&mixed));
    }
}
