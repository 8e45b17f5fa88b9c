//! Test controls on SQLite (see `crate::controls`).

use super::SqliteStore;
use super::reads::{TEST_COLS, suite_where, test_row};
use crate::controls::*;
use crate::error::StoreError;
use crate::flaky::PartPlan;
use crate::views::{Suite, Test};
use crate::webhooks::control_event;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::collections::HashMap;
use verdict_core::quarantine::{Control, ControlState};
use verdict_core::webhook::EventType;

fn control_row(r: &Row<'_>, at: usize) -> rusqlite::Result<Control> {
    Ok(control_of(
        &r.get::<_, String>(at)?,
        &r.get::<_, String>(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get::<_, Option<String>>(at + 4)?.as_deref(),
        r.get(at + 5)?,
        r.get(at + 6)?,
    ))
}

pub(super) fn current(c: &Connection, test_id: i64) -> Result<Control, StoreError> {
    let mut st = c.prepare_cached(&format!("SELECT {CONTROL_COLS} FROM test_controls WHERE test_id = ?1"))?;
    Ok(st.query_row([test_id], |r| control_row(r, 0)).optional()?.unwrap_or_else(Control::enabled))
}

/// Write `change` over `before` with its event; the control as it now is.
fn write_change(c: &Connection, suite_id: i64, test_id: i64, before: &Control, change: &ControlChange) -> Result<Control, StoreError> {
    let after = change.applied_to(before);
    c.prepare_cached(UPSERT_CONTROL)?.execute(params![
        test_id,
        suite_id,
        after.state.name(),
        after.set_by.name(),
        after.reason,
        after.expires_at,
        after.pin.map(|p| p.name()),
        after.actor,
        after.at_ms
    ])?;
    c.prepare_cached(INSERT_CONTROL_EVENT)?.execute(params![
        test_id,
        suite_id,
        change.at_ms,
        before.state.name(),
        after.state.name(),
        after.set_by.name(),
        change.rule.name(),
        change.actor,
        change.reason
    ])?;
    super::webhooks::emit(c, suite_id, EventType::TestStateChanged, change.at_ms, |slug| {
        let test = super::webhooks::test_of(c, test_id)?;
        Ok(vec![control_event(slug, &test, before, &after, change.rule.event_rule())])
    })?;
    Ok(after)
}

/// The auto-quarantine policy over a part's state events, in the step's transaction.
pub(super) fn apply_policy(c: &Connection, suite_id: i64, plan: &PartPlan) -> Result<(), StoreError> {
    let Some(track) = plan.quarantine_track.as_deref() else { return Ok(()) };
    let mut controls = HashMap::new();
    for test in tests_on(&plan.events, track) {
        controls.insert(test, current(c, test)?);
    }
    for (test, before, change) in auto_changes(&plan.events, track, &mut controls) {
        write_change(c, suite_id, test, &before, &change)?;
    }
    Ok(())
}

fn suite_of_test(c: &Connection, test_id: i64) -> Result<i64, StoreError> {
    c.prepare_cached("SELECT suite_id FROM tests WHERE id = ?1")?
        .query_row([test_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no test {test_id}")))
}

#[async_trait]
impl ControlsStore for SqliteStore {
    async fn set_control(&self, test_id: i64, change: &ControlChange) -> Result<Control, StoreError> {
        let change = change.clone();
        self.writer
            .write_small(move |c| {
                let suite_id = suite_of_test(c, test_id)?;
                let before = current(c, test_id)?;
                write_change(c, suite_id, test_id, &before, &change)
            })
            .await
    }

    async fn control(&self, test_id: i64) -> Result<Control, StoreError> {
        self.read_here(move |c| current(c, test_id)).await
    }

    async fn controlled(&self, suite_id: i64, state: ControlState) -> Result<Vec<Controlled>, StoreError> {
        self.read_here(move |c| {
            let mut st = c.prepare_cached(&controlled_sql(TEST_COLS))?;
            let rows =
                st.query_map(params![suite_id, state.name()], |r| Ok(Controlled { test: test_row(r)?, control: control_row(r, 8)? }))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn control_events(&self, test_id: i64, limit: i64) -> Result<Vec<ControlEvent>, StoreError> {
        self.read_here(move |c| {
            let mut st = c.prepare_cached(CONTROL_EVENTS)?;
            let rows = st.query_map(params![test_id, limit], |r| {
                Ok(ControlEvent {
                    test_id: r.get(0)?,
                    at_ms: r.get(1)?,
                    from: r.get(2)?,
                    to: r.get(3)?,
                    set_by: r.get(4)?,
                    rule: r.get(5)?,
                    actor: r.get(6)?,
                    reason: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn expire_controls(&self, now_ms: i64) -> Result<usize, StoreError> {
        self.writer
            .write(move |c| {
                let due: Vec<(i64, i64)> =
                    c.prepare_cached(EXPIRED)?.query_map([now_ms], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?;
                for (test, suite) in &due {
                    let before = current(c, *test)?;
                    write_change(c, *suite, *test, &before, &expiry(now_ms))?;
                }
                Ok(due.len())
            })
            .await
    }

    async fn tests_named(&self, suite_id: i64, scope: Option<&str>, name: &str) -> Result<Vec<Test>, StoreError> {
        let (scope, name) = (scope.map(str::to_owned), name.to_owned());
        self.read_here(move |c| {
            let rows = match scope {
                Some(scope) => c
                    .prepare_cached(&tests_named_sql(TEST_COLS, true))?
                    .query_map(params![suite_id, scope, name], test_row)?
                    .collect::<Result<Vec<_>, _>>()?,
                None => c
                    .prepare_cached(&tests_named_sql(TEST_COLS, false))?
                    .query_map(params![suite_id, name], test_row)?
                    .collect::<Result<Vec<_>, _>>()?,
            };
            Ok(rows)
        })
        .await
    }

    async fn set_manage_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError> {
        let (slug, hash) = (slug.to_owned(), token_hash.to_owned());
        self.writer
            .write_small(move |c| {
                match c.prepare_cached("UPDATE suites SET manage_token_hash = ?2 WHERE slug = ?1")?.execute(params![slug, hash])? {
                    0 => Err(StoreError::NotFound(format!("no suite with slug {slug:?}"))),
                    _ => Ok(()),
                }
            })
            .await
    }

    async fn suite_by_manage_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError> {
        let hash = token_hash.to_owned();
        self.read_here(move |c| suite_where(c, "manage_token_hash", &hash)).await
    }
}
