//! Test plans on SQLite (see `crate::test_plans`).

use super::SqliteStore;
use crate::error::StoreError;
use crate::test_plans::*;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl TestPlansStore for SqliteStore {
    async fn timings(&self, suite_id: i64, since_ms: i64, per_test: i64) -> Result<Vec<TestTiming>, StoreError> {
        self.read(move |c| {
            let mut tests = c.prepare_cached(TIMED_TESTS)?;
            let mut latest = c.prepare_cached(LATEST_DURATIONS)?;
            let rows: Vec<(i64, TestTiming)> = tests
                .query_map(params![suite_id, since_ms], |r| {
                    Ok((
                        r.get(0)?,
                        TestTiming { scope: r.get(1)?, name: r.get(2)?, file_name: r.get(3)?, location: r.get(4)?, durations: vec![] },
                    ))
                })?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(rows.len());
            for (id, mut t) in rows {
                t.durations = latest.query_map(params![id, since_ms, per_test], |r| r.get(0))?.collect::<Result<_, _>>()?;
                out.push(t);
            }
            Ok(out)
        })
        .await
    }

    async fn kept_plan(&self, suite_id: i64, identifier: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        let identifier = identifier.to_owned();
        self.read_here(move |c| {
            Ok(c.prepare_cached("SELECT plan FROM test_plans WHERE suite_id = ?1 AND identifier = ?2 AND created_at > ?3")?
                .query_row(params![suite_id, identifier, now_ms - PLAN_KEPT_MS], |r| r.get(0))
                .optional()?)
        })
        .await
    }

    async fn keep_plan(&self, suite_id: i64, identifier: &str, plan: &str, now_ms: i64) -> Result<String, StoreError> {
        let (identifier, plan) = (identifier.to_owned(), plan.to_owned());
        self.writer
            .write_small(move |c| {
                c.prepare_cached("DELETE FROM test_plans WHERE created_at <= ?1")?.execute([now_ms - PLAN_KEPT_MS])?;
                c.prepare_cached(
                    "INSERT INTO test_plans (suite_id, identifier, plan, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?
                .execute(params![suite_id, identifier, plan, now_ms])?;
                Ok(c.prepare_cached("SELECT plan FROM test_plans WHERE suite_id = ?1 AND identifier = ?2")?
                    .query_row(params![suite_id, identifier], |r| r.get(0))?)
            })
            .await
    }
}
