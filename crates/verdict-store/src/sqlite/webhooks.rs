//! Webhooks on SQLite (see `crate::webhooks`): the outbox written inside the
//! transactions that cause its events, and the deliveries' claims and log.

use super::SqliteStore;
use super::reads::test;
use crate::clusters::ClusterPlan;
use crate::error::StoreError;
use crate::flaky::{PartPlan, PartRun};
use crate::views::Test;
use crate::webhooks::*;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;
use verdict_core::webhook::EventType;

/// The suite's enabled endpoints (usually none: one indexed look-up).
pub(super) fn subscribers(c: &Connection, suite_id: i64) -> Result<Vec<Subscriber>, StoreError> {
    let mut st = c.prepare_cached(SUBSCRIBERS)?;
    let rows =
        st.query_map([suite_id], |r| Ok(Subscriber { id: r.get(0)?, events: parse_events(&r.get::<_, String>(1)?), owner: r.get(2)? }))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn slug_of(c: &Connection, suite_id: i64) -> Result<String, StoreError> {
    Ok(c.prepare_cached("SELECT slug FROM suites WHERE id = ?1")?.query_row([suite_id], |r| r.get(0))?)
}

pub(super) fn test_of(c: &Connection, test_id: i64) -> Result<Test, StoreError> {
    test(c, test_id)?.ok_or_else(|| StoreError::NotFound(format!("no test {test_id}")))
}

/// Put events in the outbox with a delivery per endpoint that takes them, in the caller's transaction.
pub(super) fn enqueue(c: &Connection, suite_id: i64, subs: &[Subscriber], events: &[Event], now_ms: i64) -> Result<(), StoreError> {
    let owners = super::owners::owners_file_in(c, suite_id)?.map(|f| crate::owners::parsed(&f));
    for e in events {
        let mut e = e.clone();
        if let Some(file) = &owners {
            crate::owners::fill_event_owners(&mut e.data, file);
        }
        let e = &e;
        let takers: Vec<&Subscriber> = subs.iter().filter(|s| s.takes(e)).collect();
        if takers.is_empty() {
            continue;
        }
        let id = new_message_id(now_ms);
        c.prepare_cached(INSERT_MESSAGE)?.execute(params![id, suite_id, e.kind.name(), e.at_ms, e.data.to_string()])?;
        let mut st = c.prepare_cached(INSERT_DELIVERY)?;
        for s in takers {
            st.execute(params![id, s.id, now_ms])?;
        }
    }
    Ok(())
}

/// Events of one kind, built only when an endpoint takes them.
pub(super) fn emit(
    c: &Connection,
    suite_id: i64,
    kind: EventType,
    now_ms: i64,
    build: impl FnOnce(&str) -> Result<Vec<Event>, StoreError>,
) -> Result<(), StoreError> {
    let subs = subscribers(c, suite_id)?;
    if !any_takes(&subs, kind) {
        return Ok(());
    }
    let events = build(&slug_of(c, suite_id)?)?;
    enqueue(c, suite_id, &subs, &events, now_ms)
}

/// The step's announcements (see `PartAnnouncement`), in its transaction.
pub(super) fn emit_part(c: &Connection, run: &PartRun, plan: &PartPlan, now_ms: i64) -> Result<(), StoreError> {
    let says = PartAnnouncement::of(run, plan);
    if says.is_empty() {
        return Ok(());
    }
    let subs = subscribers(c, run.suite_id)?;
    let ids = says.tests(&subs, plan);
    if ids.is_empty() {
        return Ok(());
    }
    let tests = ids.iter().map(|t| Ok((*t, test_of(c, *t)?))).collect::<Result<HashMap<_, _>, StoreError>>()?;
    let events = says.events(&slug_of(c, run.suite_id)?, &subs, run, plan, &tests, now_ms);
    enqueue(c, run.suite_id, &subs, &events, now_ms)
}

/// `cluster.created` for the upload's clusters first seen failing on the
/// default branch (`announced_at` is set once, so each is announced once).
pub(super) fn announce_clusters(
    c: &Connection,
    suite_id: i64,
    run: (i64, Option<&str>),
    branch: Option<&str>,
    plan: &ClusterPlan,
    upload_tests: (&[crate::plan::TestKey<'_>], &[i64]),
    now_ms: i64,
) -> Result<(), StoreError> {
    if plan.groups.is_empty() || !plan.counted {
        return Ok(());
    }
    let default: String = c.prepare_cached("SELECT default_branch FROM suites WHERE id = ?1")?.query_row([suite_id], |r| r.get(0))?;
    if branch != Some(default.as_str()) {
        return Ok(());
    }
    let mut mark = c.prepare_cached(ANNOUNCE_CLUSTER)?;
    let mut new = Vec::new();
    for g in &plan.groups {
        if mark.execute(params![suite_id, g.id, now_ms])? > 0 {
            new.push(g);
        }
    }
    let subs = subscribers(c, suite_id)?;
    let takes_new = !new.is_empty() && any_takes(&subs, EventType::ClusterCreated);
    // Spikes of the clusters that were there before, when an endpoint takes them.
    let mut spikes = Vec::new();
    if any_takes(&subs, EventType::ClusterSpiked) {
        let today = now_ms.div_euclid(86_400_000);
        for g in plan.groups.iter().filter(|g| !new.iter().any(|n| n.id == g.id)) {
            let (n, week): (i64, i64) =
                c.prepare_cached(CLUSTER_WEEK)?.query_row(params![suite_id, g.id, today], |r| Ok((r.get(0)?, r.get(1)?)))?;
            if let Some((lambda, p)) = verdict_core::webhook::spike(n, week)
                && c.prepare_cached(MARK_SPIKED)?.execute(params![suite_id, g.id, today])? > 0
            {
                spikes.push((g, (n, lambda, p)));
            }
        }
    }
    if !takes_new && spikes.is_empty() {
        return Ok(());
    }
    let slug = slug_of(c, suite_id)?;
    let created = new.iter().filter(|_| takes_new).map(|g| cluster_event(&slug, g, upload_tests, run, now_ms));
    let spiked = spikes.iter().map(|(g, s)| spike_event(&slug, g, upload_tests, run, *s, now_ms));
    let events: Vec<Event> = created.chain(spiked).collect();
    enqueue(c, suite_id, &subs, &events, now_ms)
}

fn endpoint_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Endpoint> {
    Ok(Endpoint {
        id: r.get(at)?,
        suite_id: r.get(at + 1)?,
        url: r.get(at + 2)?,
        secret: r.get(at + 3)?,
        format: r.get(at + 4)?,
        events: parse_events(&r.get::<_, String>(at + 5)?),
        owner: r.get(at + 6)?,
        description: r.get(at + 7)?,
        enabled: r.get::<_, i64>(at + 8)? != 0,
        disabled_reason: r.get(at + 9)?,
        created_at_ms: r.get(at + 10)?,
        previous_secret: r.get(at + 11)?,
        rotated_at_ms: r.get(at + 12)?,
    })
}

fn message_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        id: r.get(at)?,
        suite_id: r.get(at + 1)?,
        kind: r.get(at + 2)?,
        at_ms: r.get(at + 3)?,
        data: serde_json::from_str(&r.get::<_, String>(at + 4)?).unwrap_or_default(),
    })
}

const DUE_WHERE: &str = "FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
     WHERE d.state = 'pending' AND d.next_at <= ?1 AND (d.lease_until IS NULL OR d.lease_until <= ?1) AND e.enabled = 1";

#[async_trait]
impl WebhooksStore for SqliteStore {
    async fn add_endpoint(&self, e: &NewEndpoint, now_ms: i64) -> Result<Endpoint, StoreError> {
        let e = e.clone();
        self.writer
            .write_small(move |c| {
                let id = new_endpoint_id(now_ms);
                let events = serde_json::to_string(&e.events.iter().map(|k| k.name()).collect::<Vec<_>>()).unwrap_or_default();
                c.prepare_cached(INSERT_ENDPOINT)?.execute(params![
                    id,
                    e.suite_id,
                    e.url,
                    e.secret,
                    e.format.name(),
                    events,
                    e.owner,
                    e.description,
                    now_ms
                ])?;
                let mut st = c.prepare_cached(&format!("SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE id = ?1"))?;
                Ok(st.query_row([id], |r| endpoint_row(r, 0))?)
            })
            .await
    }

    async fn endpoints(&self, suite_id: i64) -> Result<Vec<Endpoint>, StoreError> {
        self.read_here(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE suite_id = ?1 AND removed_at IS NULL ORDER BY created_at, id"
            ))?;
            Ok(st.query_map([suite_id], |r| endpoint_row(r, 0))?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn endpoint(&self, suite_id: i64, id: &str) -> Result<Option<Endpoint>, StoreError> {
        let id = id.to_owned();
        self.read_here(move |c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {ENDPOINT_COLS} FROM webhook_endpoints WHERE suite_id = ?1 AND id = ?2 AND removed_at IS NULL"
            ))?;
            Ok(st.query_row(params![suite_id, id], |r| endpoint_row(r, 0)).optional()?)
        })
        .await
    }

    async fn rotate_secret(&self, suite_id: i64, id: &str, secret: &str, now_ms: i64) -> Result<bool, StoreError> {
        let (id, secret) = (id.to_owned(), secret.to_owned());
        self.writer.write_small(move |c| Ok(c.prepare_cached(ROTATE_SECRET)?.execute(params![suite_id, id, secret, now_ms])? > 0)).await
    }

    async fn remove_endpoint(&self, suite_id: i64, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        self.writer
            .write_small(move |c| {
                let removed = c.prepare_cached(REMOVE_ENDPOINT)?.execute(params![suite_id, id, now_ms])? > 0;
                if removed {
                    c.prepare_cached(END_PENDING)?.execute(params![id, now_ms])?;
                }
                Ok(removed)
            })
            .await
    }

    async fn claim_due(&self, now_ms: i64, lease_ms: i64, limit: i64) -> Result<Vec<Due>, StoreError> {
        // A look on a reader first: the sender polls, and most polls find nothing.
        let any = self
            .read_here(move |c| {
                Ok(c.prepare_cached(&format!("SELECT 1 {DUE_WHERE} LIMIT 1"))?.query_row([now_ms], |_| Ok(())).optional()?)
            })
            .await?;
        if any.is_none() {
            return Ok(Vec::new());
        }
        self.writer
            .write_small(move |c| {
                let ids: Vec<i64> = c
                    .prepare_cached(&format!("SELECT d.id {DUE_WHERE} ORDER BY d.next_at, d.id LIMIT ?2"))?
                    .query_map(params![now_ms, limit], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut lease = c.prepare_cached("UPDATE webhook_deliveries SET lease_until = ?2 WHERE id = ?1")?;
                let mut read = c.prepare_cached(&format!(
                    "SELECT {} FROM webhook_deliveries d JOIN webhook_messages m ON m.id = d.message_id
                     JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = ?1",
                    due_cols()
                ))?;
                let mut due = Vec::with_capacity(ids.len());
                for id in ids {
                    lease.execute(params![id, now_ms + lease_ms])?;
                    due.push(read.query_row([id], |r| {
                        Ok(Due { delivery_id: r.get(0)?, attempts: r.get(1)?, message: message_row(r, 2)?, endpoint: endpoint_row(r, 7)? })
                    })?);
                }
                Ok(due)
            })
            .await
    }

    async fn record_attempts(&self, done: &[Attempted]) -> Result<(), StoreError> {
        let done: Vec<(i64, String, Attempt, AfterAttempt)> =
            done.iter().map(|d| (d.due.delivery_id, d.due.endpoint.id.clone(), d.attempt.clone(), d.after)).collect();
        self.writer
            .write_small(move |c| {
                for (delivery, endpoint, a, after) in &done {
                    c.prepare_cached(INSERT_ATTEMPT)?.execute(params![
                        delivery,
                        a.sent_at_ms,
                        a.status_code,
                        a.error,
                        a.response,
                        a.duration_ms
                    ])?;
                    let (state, next_at, done_at) = after_columns(*after, a.sent_at_ms);
                    c.prepare_cached(AFTER_ATTEMPT)?.execute(params![delivery, state, next_at, a.status_code, done_at])?;
                    let reason = match after {
                        AfterAttempt::Gone => Some("the endpoint answered 410 Gone".to_owned()),
                        AfterAttempt::Dead => {
                            let n = verdict_core::webhook::DEAD_IN_A_ROW_DISABLES;
                            let states: Vec<String> =
                                c.prepare_cached(LAST_STATES)?.query_map(params![endpoint, n], |r| r.get(0))?.collect::<Result<_, _>>()?;
                            all_dead(&states).then(|| format!("its last {n} messages were never delivered"))
                        }
                        _ => None,
                    };
                    if let Some(reason) = reason {
                        c.prepare_cached(DISABLE_ENDPOINT)?.execute(params![endpoint, reason])?;
                    }
                }
                Ok(())
            })
            .await
    }

    async fn deliveries(&self, endpoint_id: &str, limit: i64) -> Result<Vec<Delivery>, StoreError> {
        let id = endpoint_id.to_owned();
        self.read_here(move |c| {
            let mut st = c.prepare_cached(&deliveries_sql())?;
            let mut out: Vec<Delivery> = st
                .query_map(params![id, limit], |r| {
                    let state: String = r.get(3)?;
                    Ok(Delivery {
                        id: r.get(0)?,
                        message_id: r.get(1)?,
                        kind: r.get(2)?,
                        next_at_ms: (state == "pending").then(|| r.get(5)).transpose()?,
                        state,
                        attempts: r.get(4)?,
                        last_status: r.get(6)?,
                        created_at_ms: r.get(7)?,
                        done_at_ms: r.get(8)?,
                        log: Vec::new(),
                    })
                })?
                .collect::<Result<_, _>>()?;
            let mut st = c.prepare_cached(ATTEMPTS)?;
            for d in &mut out {
                d.log = st
                    .query_map([d.id], |r| {
                        Ok(Attempt {
                            sent_at_ms: r.get(0)?,
                            status_code: r.get(1)?,
                            error: r.get(2)?,
                            response: r.get(3)?,
                            duration_ms: r.get(4)?,
                        })
                    })?
                    .collect::<Result<_, _>>()?;
            }
            Ok(out)
        })
        .await
    }

    async fn retry_delivery(&self, endpoint_id: &str, delivery_id: i64, now_ms: i64) -> Result<bool, StoreError> {
        let id = endpoint_id.to_owned();
        self.writer.write_small(move |c| Ok(c.prepare_cached(RETRY)?.execute(params![id, delivery_id, now_ms])? > 0)).await
    }

    async fn prune_attempts(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.writer.write(move |c| Ok(c.prepare_cached(PRUNE_ATTEMPTS)?.execute([before_ms])?)).await
    }

    async fn settled_batches(&self, settled_before_ms: i64, since_ms: i64, limit: i64) -> Result<Vec<SettledBatch>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(SETTLED_BATCHES)?
                .query_map(params![settled_before_ms, since_ms, limit], |r| {
                    Ok(SettledBatch { suite_id: r.get(0)?, job: r.get(1)?, payload: r.get(2)?, last_run_at_ms: r.get(3)? })
                })?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn record_batch_verdict(&self, v: &BatchVerdict, now_ms: i64) -> Result<bool, StoreError> {
        let v = v.clone();
        self.writer
            .write_small(move |c| {
                let b = &v.batch;
                let before: Option<String> =
                    c.prepare_cached(LAST_VERDICT)?.query_row(params![b.suite_id, b.job, b.payload], |r| r.get(0)).optional()?;
                let blocking = serde_json::to_string(&v.blocking).expect("strings serialise");
                c.prepare_cached(KEEP_VERDICT)?.execute(params![b.suite_id, b.job, b.payload, blocking, b.last_run_at_ms, now_ms])?;
                if !verdict_is_news(&v.blocking, before.as_deref()) {
                    return Ok(false);
                }
                let event = Event { kind: EventType::AggregateFailed, at_ms: now_ms, data: v.data.clone() };
                emit(c, b.suite_id, EventType::AggregateFailed, now_ms, |_| Ok(vec![event]))?;
                Ok(true)
            })
            .await
    }

    async fn messages(&self, suite_id: i64, limit: i64) -> Result<Vec<Message>, StoreError> {
        self.read_here(move |c| {
            let mut st = c.prepare_cached(MESSAGES)?;
            Ok(st.query_map(params![suite_id, limit], |r| message_row(r, 0))?.collect::<Result<_, _>>()?)
        })
        .await
    }
}
