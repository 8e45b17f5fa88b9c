//! Test controls on PostgreSQL (see `crate::controls`).

use super::reads::{TEST_COLS, suite_where, test_row};
use super::{PgStore, dollars};
use crate::controls::*;
use crate::error::StoreError;
use crate::flaky::PartPlan;
use crate::views::{Suite, Test};
use async_trait::async_trait;
use std::collections::HashMap;
use tokio_postgres::{GenericClient, Row};
use verdict_core::quarantine::{Control, ControlState};

fn control_row(r: &Row, at: usize) -> Control {
    control_of(r.get(at), r.get(at + 1), r.get(at + 2), r.get(at + 3), r.get(at + 4), r.get(at + 5), r.get(at + 6))
}

/// The tests' controls, their rows locked in test order (one lock order for
/// people and the analysis step): a row is made first where none was.
async fn locked(tx: &impl GenericClient, suite_id: i64, tests: &[i64]) -> Result<HashMap<i64, Control>, StoreError> {
    tx.execute(
        "INSERT INTO test_controls (test_id, suite_id, state, set_by, actor, updated_at)
         SELECT t, $2, 'enabled', 'manual', '', 0 FROM unnest($1::bigint[]) AS x(t) ORDER BY t ON CONFLICT (test_id) DO NOTHING",
        &[&tests, &suite_id],
    )
    .await?;
    let rows = tx
        .query(&format!("SELECT test_id, {CONTROL_COLS} FROM test_controls WHERE test_id = ANY($1) ORDER BY test_id FOR UPDATE"), &[&tests])
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), control_row(r, 1))).collect())
}

async fn write_change(
    tx: &impl GenericClient,
    suite_id: i64,
    test_id: i64,
    before: &Control,
    change: &ControlChange,
) -> Result<Control, StoreError> {
    let after = change.applied_to(before);
    tx.execute(
        &dollars(UPSERT_CONTROL),
        &[
            &test_id,
            &suite_id,
            &after.state.name(),
            &after.set_by.name(),
            &after.reason,
            &after.expires_at,
            &after.pin.map(|p| p.name()),
            &after.actor,
            &after.at_ms,
        ],
    )
    .await?;
    tx.execute(
        &dollars(INSERT_CONTROL_EVENT),
        &[
            &test_id,
            &suite_id,
            &change.at_ms,
            &before.state.name(),
            &after.state.name(),
            &after.set_by.name(),
            &change.rule.name(),
            &change.actor,
            &change.reason,
        ],
    )
    .await?;
    super::webhooks::emit_control(tx, suite_id, test_id, (before, &after, change.rule.event_rule())).await?;
    Ok(after)
}

/// The auto-quarantine policy over a part's state events, in the step's transaction.
pub(super) async fn apply_policy(tx: &impl GenericClient, suite_id: i64, plan: &PartPlan) -> Result<(), StoreError> {
    let Some(track) = plan.quarantine_track.as_deref() else { return Ok(()) };
    let tests = tests_on(&plan.events, track);
    if tests.is_empty() {
        return Ok(());
    }
    let mut controls = locked(tx, suite_id, &tests).await?;
    for (test, before, change) in auto_changes(&plan.events, track, &mut controls) {
        write_change(tx, suite_id, test, &before, &change).await?;
    }
    Ok(())
}

#[async_trait]
impl ControlsStore for PgStore {
    async fn set_control(&self, test_id: i64, change: &ControlChange) -> Result<Control, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let suite_id: i64 = tx
            .query_opt("SELECT suite_id FROM tests WHERE id = $1", &[&test_id])
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no test {test_id}")))?
            .get(0);
        let before = locked(&*tx, suite_id, &[test_id]).await?.remove(&test_id).unwrap_or_else(Control::enabled);
        let after = write_change(&*tx, suite_id, test_id, &before, change).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn control(&self, test_id: i64) -> Result<Control, StoreError> {
        let row =
            self.client().await?.query_opt(&format!("SELECT {CONTROL_COLS} FROM test_controls WHERE test_id = $1"), &[&test_id]).await?;
        Ok(row.map_or_else(Control::enabled, |r| control_row(&r, 0)))
    }

    async fn controlled(&self, suite_id: i64, state: ControlState) -> Result<Vec<Controlled>, StoreError> {
        let rows = self.client().await?.query(&dollars(&controlled_sql(TEST_COLS)), &[&suite_id, &state.name()]).await?;
        Ok(rows.iter().map(|r| Controlled { test: test_row(r), control: control_row(r, 8) }).collect())
    }

    async fn control_events(&self, test_id: i64, limit: i64) -> Result<Vec<ControlEvent>, StoreError> {
        let rows = self.client().await?.query(&dollars(CONTROL_EVENTS), &[&test_id, &limit]).await?;
        Ok(rows
            .iter()
            .map(|r| ControlEvent {
                test_id: r.get(0),
                at_ms: r.get(1),
                from: r.get(2),
                to: r.get(3),
                set_by: r.get(4),
                rule: r.get(5),
                actor: r.get(6),
                reason: r.get(7),
            })
            .collect())
    }

    async fn expire_controls(&self, now_ms: i64) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // Several nodes may run this at once: each takes rows the others have not.
        let due = tx.query(&format!("{} FOR UPDATE SKIP LOCKED", dollars(EXPIRED)), &[&now_ms]).await?;
        for r in &due {
            let (test, suite): (i64, i64) = (r.get(0), r.get(1));
            let before = tx
                .query_opt(&format!("SELECT {CONTROL_COLS} FROM test_controls WHERE test_id = $1"), &[&test])
                .await?
                .map_or_else(Control::enabled, |r| control_row(&r, 0));
            write_change(&*tx, suite, test, &before, &expiry(now_ms)).await?;
        }
        tx.commit().await?;
        Ok(due.len())
    }

    async fn tests_named(&self, suite_id: i64, scope: Option<&str>, name: &str) -> Result<Vec<Test>, StoreError> {
        let c = self.client().await?;
        let rows = match scope {
            Some(scope) => c.query(&dollars(&tests_named_sql(TEST_COLS, true)), &[&suite_id, &scope, &name]).await?,
            None => c.query(&dollars(&tests_named_sql(TEST_COLS, false)), &[&suite_id, &name]).await?,
        };
        Ok(rows.iter().map(test_row).collect())
    }

    async fn set_manage_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError> {
        match self.client().await?.execute("UPDATE suites SET manage_token_hash = $2 WHERE slug = $1", &[&slug, &token_hash]).await? {
            0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
            _ => Ok(()),
        }
    }

    async fn suite_by_manage_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError> {
        suite_where(&**self.client().await?, "manage_token_hash", token_hash).await
    }
}
