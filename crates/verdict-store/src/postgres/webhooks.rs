//! Webhooks on PostgreSQL (see `crate::webhooks`): the outbox written inside
//! the transactions that cause its events; due deliveries claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease, so several nodes send side by side
//! and none sends what another holds.

use super::reads::{TEST_COLS, test_row};
use super::{PgStore, dollars};
use crate::clusters::ClusterPlan;
use crate::error::StoreError;
use crate::flaky::{PartPlan, PartRun};
use crate::views::Test;
use crate::webhooks::*;
use async_trait::async_trait;
use std::collections::HashMap;
use tokio_postgres::{Error as PgError, GenericClient, Row};
use verdict_core::webhook::EventType;

pub(super) async fn subscribers(tx: &impl GenericClient, suite_id: i64) -> Result<Vec<Subscriber>, PgError> {
    let rows = tx.query(&dollars(SUBSCRIBERS), &[&suite_id]).await?;
    Ok(rows.iter().map(|r| Subscriber { id: r.get(0), events: parse_events(r.get(1)), owner: r.get(2) }).collect())
}

async fn slug_of(tx: &impl GenericClient, suite_id: i64) -> Result<String, PgError> {
    Ok(tx.query_one("SELECT slug FROM suites WHERE id = $1", &[&suite_id]).await?.get(0))
}

async fn tests_of(tx: &impl GenericClient, ids: &[i64]) -> Result<HashMap<i64, Test>, PgError> {
    let rows = tx.query(&format!("SELECT {TEST_COLS} FROM tests t WHERE t.id = ANY($1)"), &[&ids]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let t = test_row(r);
            (t.id, t)
        })
        .collect())
}

/// Put events in the outbox with a delivery per endpoint that takes them, in the caller's transaction.
async fn enqueue(tx: &impl GenericClient, suite_id: i64, subs: &[Subscriber], events: &[Event], now_ms: i64) -> Result<(), PgError> {
    let owners = super::owners::owners_file_in(tx, suite_id).await?.map(|f| crate::owners::parsed(&f));
    for e in events {
        let mut e = e.clone();
        if let Some(file) = &owners {
            crate::owners::fill_event_owners(&mut e.data, file);
        }
        let e = &e;
        let takers: Vec<&str> = subs.iter().filter(|s| s.takes(e)).map(|s| s.id.as_str()).collect();
        if takers.is_empty() {
            continue;
        }
        let id = new_message_id(now_ms);
        tx.execute(&dollars(INSERT_MESSAGE), &[&id, &suite_id, &e.kind.name(), &e.at_ms, &e.data.to_string()]).await?;
        for s in takers {
            tx.execute(&dollars(INSERT_DELIVERY), &[&id, &s, &now_ms]).await?;
        }
    }
    Ok(())
}

/// A control change's event, in its transaction.
pub(super) async fn emit_control(
    tx: &impl GenericClient,
    suite_id: i64,
    test_id: i64,
    change: (&verdict_core::quarantine::Control, &verdict_core::quarantine::Control, &str),
) -> Result<(), PgError> {
    let subs = subscribers(tx, suite_id).await?;
    if !any_takes(&subs, EventType::TestStateChanged) {
        return Ok(());
    }
    let (before, after, rule) = change;
    let tests = tests_of(tx, &[test_id]).await?;
    let Some(test) = tests.get(&test_id) else { return Ok(()) };
    let event = control_event(&slug_of(tx, suite_id).await?, test, before, after, rule);
    enqueue(tx, suite_id, &subs, &[event], after.at_ms).await
}

/// The flaky step's announcements (see `PartAnnouncement`), in its transaction.
pub(super) async fn emit_part(tx: &impl GenericClient, run: &PartRun, plan: &PartPlan, now_ms: i64) -> Result<(), PgError> {
    let says = PartAnnouncement::of(run, plan);
    if says.is_empty() {
        return Ok(());
    }
    let subs = subscribers(tx, run.suite_id).await?;
    let ids = says.tests(&subs, plan);
    if ids.is_empty() {
        return Ok(());
    }
    let tests = tests_of(tx, &ids).await?;
    let events = says.events(&slug_of(tx, run.suite_id).await?, &subs, run, plan, &tests, now_ms);
    enqueue(tx, run.suite_id, &subs, &events, now_ms).await
}

/// `cluster.created` for the upload's clusters first seen failing on the default branch.
pub(super) async fn announce_clusters(
    tx: &impl GenericClient,
    suite_id: i64,
    run: (i64, Option<&str>),
    branch: Option<&str>,
    plan: &ClusterPlan,
    upload_tests: (&[crate::plan::TestKey<'_>], &[i64]),
    now_ms: i64,
) -> Result<(), PgError> {
    if plan.groups.is_empty() || !plan.counted {
        return Ok(());
    }
    let default: String = tx.query_one("SELECT default_branch FROM suites WHERE id = $1", &[&suite_id]).await?.get(0);
    if branch != Some(default.as_str()) {
        return Ok(());
    }
    let mut new = Vec::new();
    for g in &plan.groups {
        if tx.execute(&dollars(ANNOUNCE_CLUSTER), &[&suite_id, &g.id, &now_ms]).await? > 0 {
            new.push(g);
        }
    }
    let subs = subscribers(tx, suite_id).await?;
    let mut events: Vec<Event> = Vec::new();
    let mut slug = None;
    if !new.is_empty() && any_takes(&subs, EventType::ClusterCreated) {
        let s = slug.insert(slug_of(tx, suite_id).await?);
        events.extend(new.iter().map(|g| cluster_event(s, g, upload_tests, run, now_ms)));
    }
    // Spikes of the clusters that were there before, when an endpoint takes them.
    if any_takes(&subs, EventType::ClusterSpiked) {
        let today = now_ms.div_euclid(86_400_000);
        for g in plan.groups.iter().filter(|g| !new.iter().any(|n| n.id == g.id)) {
            let row = tx.query_one(&dollars(CLUSTER_WEEK), &[&suite_id, &g.id, &today]).await?;
            let (n, week): (i64, i64) = (row.get(0), row.get(1));
            if let Some((lambda, p)) = verdict_core::webhook::spike(n, week)
                && tx.execute(&dollars(MARK_SPIKED), &[&suite_id, &g.id, &today]).await? > 0
            {
                let s = match &slug {
                    Some(s) => s.clone(),
                    None => slug.insert(slug_of(tx, suite_id).await?).clone(),
                };
                events.push(spike_event(&s, g, upload_tests, run, (n, lambda, p), now_ms));
            }
        }
    }
    if events.is_empty() {
        return Ok(());
    }
    enqueue(tx, suite_id, &subs, &events, now_ms).await
}

fn endpoint_row(r: &Row, at: usize) -> Endpoint {
    Endpoint {
        id: r.get(at),
        suite_id: r.get(at + 1),
        url: r.get(at + 2),
        secret: r.get(at + 3),
        format: r.get(at + 4),
        events: parse_events(r.get(at + 5)),
        owner: r.get(at + 6),
        description: r.get(at + 7),
        enabled: r.get::<_, i64>(at + 8) != 0,
        disabled_reason: r.get(at + 9),
        created_at_ms: r.get(at + 10),
        previous_secret: r.get(at + 11),
        rotated_at_ms: r.get(at + 12),
    }
}

fn message_row(r: &Row, at: usize) -> Message {
    Message {
        id: r.get(at),
        suite_id: r.get(at + 1),
        kind: r.get(at + 2),
        at_ms: r.get(at + 3),
        data: serde_json::from_str(r.get(at + 4)).unwrap_or_default(),
    }
}

#[async_trait]
impl WebhooksStore for PgStore {
    async fn add_endpoint(&self, e: &NewEndpoint, now_ms: i64) -> Result<Endpoint, StoreError> {
        let id = new_endpoint_id(now_ms);
        let events = serde_json::to_string(&e.events.iter().map(|k| k.name()).collect::<Vec<_>>()).unwrap_or_default();
        let c = self.client().await?;
        c.execute(
            &dollars(INSERT_ENDPOINT),
            &[&id, &e.suite_id, &e.url, &e.secret, &e.format.name(), &events, &e.owner, &e.description, &now_ms],
        )
        .await?;
        let row = c.query_one(&format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = $1"), &[&id]).await?;
        Ok(endpoint_row(&row, 0))
    }

    async fn endpoints(&self, suite_id: i64) -> Result<Vec<Endpoint>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE suite_id = $1 AND removed_at IS NULL ORDER BY created_at, id"
                ),
                &[&suite_id],
            )
            .await?;
        Ok(rows.iter().map(|r| endpoint_row(r, 0)).collect())
    }

    async fn endpoint(&self, suite_id: i64, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE suite_id = $1 AND id = $2 AND removed_at IS NULL"),
                &[&suite_id, &id],
            )
            .await?;
        Ok(row.map(|r| endpoint_row(&r, 0)))
    }

    async fn rotate_secret(&self, suite_id: i64, id: &str, secret: &str, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.client().await?.execute(&dollars(ROTATE_SECRET), &[&suite_id, &id, &secret, &now_ms]).await? > 0)
    }

    async fn remove_endpoint(&self, suite_id: i64, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let removed = tx.execute(&dollars(REMOVE_ENDPOINT), &[&suite_id, &id, &now_ms]).await? > 0;
        if removed {
            tx.execute(&dollars(END_PENDING), &[&id, &now_ms]).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn claim_due(&self, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<Due>, StoreError> {
        let c = self.client().await?;
        let until = now_ms + lease_ms;
        // One statement: the claim is the lease, and rows another node is claiming are skipped.
        let ids: Vec<i64> = c
            .query(
                "UPDATE webhook_deliveries SET lease_until = $2 WHERE id IN (
                   SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                   WHERE d.state = 'pending' AND d.next_at <= $1 AND (d.lease_until IS NULL OR d.lease_until <= $1) AND e.enabled = 1
                   ORDER BY d.next_at, d.id LIMIT $3 FOR UPDATE OF d SKIP LOCKED)
                 RETURNING id",
                &[&now_ms, &until, &limit],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = c
            .query(
                &format!(
                    "SELECT {} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
                     JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ANY($1) ORDER BY d.next_at, d.id",
                    due_cols()
                ),
                &[&ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Due { delivery_id: r.get(0), attempts: r.get(1), message: message_row(r, 2), endpoint: endpoint_row(r, 7) })
            .collect())
    }

    async fn record_attempts(&self, done: &[Attempted]) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        for Attempted { due, attempt: a, after } in done {
            tx.execute(&dollars(INSERT_ATTEMPT), &[&due.delivery_id, &a.sent_at_ms, &a.status_code, &a.error, &a.response, &a.duration_ms])
                .await?;
            let (state, next_at, done_at) = after_columns(*after, a.sent_at_ms);
            tx.execute(&dollars(AFTER_ATTEMPT), &[&due.delivery_id, &state, &next_at, &a.status_code, &done_at]).await?;
            let reason = match after {
                AfterAttempt::Gone => Some("the endpoint answered 410 Gone".to_owned()),
                AfterAttempt::Dead => {
                    let n = verdict_core::webhook::DEAD_IN_A_ROW_DISABLES;
                    let states: Vec<String> =
                        tx.query(&dollars(LAST_STATES), &[&due.endpoint.id, &n]).await?.iter().map(|r| r.get(0)).collect();
                    all_dead(&states).then(|| format!("its last {n} messages were never delivered"))
                }
                _ => None,
            };
            if let Some(reason) = reason {
                tx.execute(&dollars(DISABLE_ENDPOINT), &[&due.endpoint.id, &reason]).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(&self, endpoint_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let c = self.client().await?;
        let rows = c.query(&dollars(&deliveries_sql()), &[&endpoint_id, &limit]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let state: String = r.get(3);
            let id: i64 = r.get(0);
            let log = c
                .query(&dollars(ATTEMPTS), &[&id])
                .await?
                .iter()
                .map(|a| Attempt {
                    sent_at_ms: a.get(0),
                    status_code: a.get(1),
                    error: a.get(2),
                    response: a.get(3),
                    duration_ms: a.get(4),
                })
                .collect();
            out.push(Delivery {
                id,
                message_id: r.get(1),
                kind: r.get(2),
                next_at_ms: (state == "pending").then(|| r.get(5)),
                state,
                attempts: r.get(4),
                last_status: r.get(6),
                created_at_ms: r.get(7),
                done_at_ms: r.get(8),
                log,
            });
        }
        Ok(out)
    }

    async fn retry_delivery(&self, endpoint_id: &str, delivery_id: i64, now_ms: i64) -> Result<bool, StoreError> {
        Ok(self.client().await?.execute(&dollars(RETRY), &[&endpoint_id, &delivery_id, &now_ms]).await? > 0)
    }

    async fn prune_attempts(&self, before_ms: i64) -> Result<usize, StoreError> {
        Ok(self.client().await?.execute(&dollars(PRUNE_ATTEMPTS), &[&before_ms]).await? as usize)
    }

    async fn settled_batches(&self, settled_before_ms: i64, since_ms: i64, limit: i64) -> Result<Vec<SettledBatch>, StoreError> {
        let rows = self.client().await?.query(&dollars(SETTLED_BATCHES), &[&settled_before_ms, &since_ms, &limit]).await?;
        Ok(rows.iter().map(|r| SettledBatch { suite_id: r.get(0), job: r.get(1), payload: r.get(2), last_run_at_ms: r.get(3) }).collect())
    }

    async fn record_batch_verdict(&self, v: &BatchVerdict, now_ms: i64) -> Result<bool, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let b = &v.batch;
        // Nodes judging one batch at once are ordered by the row's lock: a
        // first verdict's row is made (as "nothing blocking") to be locked.
        tx.execute(
            "INSERT INTO aggregate_verdicts (suite_id, job, payload, blocking, last_run_at, judged_at)
             VALUES ($1, $2, $3, '[]', -1, $4) ON CONFLICT DO NOTHING",
            &[&b.suite_id, &b.job, &b.payload, &now_ms],
        )
        .await?;
        let before: Option<String> =
            tx.query_opt(&format!("{} FOR UPDATE", dollars(LAST_VERDICT)), &[&b.suite_id, &b.job, &b.payload]).await?.map(|r| r.get(0));
        let blocking = serde_json::to_string(&v.blocking).expect("strings serialise");
        tx.execute(&dollars(KEEP_VERDICT), &[&b.suite_id, &b.job, &b.payload, &blocking, &b.last_run_at_ms, &now_ms]).await?;
        let news = verdict_is_news(&v.blocking, before.as_deref());
        if news {
            let subs = subscribers(&*tx, b.suite_id).await?;
            let event = Event { kind: EventType::AggregateFailed, at_ms: now_ms, data: v.data.clone() };
            enqueue(&*tx, b.suite_id, &subs, &[event], now_ms).await?;
        }
        tx.commit().await?;
        Ok(news)
    }

    async fn messages(&self, suite_id: i64, limit: i64) -> Result<Vec<Message>, StoreError> {
        let rows = self.client().await?.query(&dollars(MESSAGES), &[&suite_id, &limit]).await?;
        Ok(rows.iter().map(|r| message_row(r, 0)).collect())
    }
}
