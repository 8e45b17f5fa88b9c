//! Test plans on PostgreSQL (see `crate::test_plans`).

use super::{PgStore, dollars};
use crate::error::StoreError;
use crate::test_plans::*;
use async_trait::async_trait;

#[async_trait]
impl TestPlansStore for PgStore {
    async fn timings(&self, suite_id: i64, since_ms: i64, per_test: i64) -> Result<Vec<TestTiming>, StoreError> {
        let c = self.client().await?;
        // One statement: per test, its latest durations through the (test_id, created_at) index.
        let rows = c
            .query(
                &format!(
                    "SELECT t.scope, t.name, t.file_name, t.location,
                            ARRAY(SELECT duration FROM ({}) d) AS durations
                     FROM ({}) t",
                    dollars(LATEST_DURATIONS).replace("$1", "t.id"),
                    dollars(TIMED_TESTS)
                ),
                &[&suite_id, &since_ms, &per_test],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| TestTiming { scope: r.get(0), name: r.get(1), file_name: r.get(2), location: r.get(3), durations: r.get(4) })
            .collect())
    }

    async fn kept_plan(&self, suite_id: i64, identifier: &str, now_ms: i64) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT plan FROM test_plans WHERE suite_id = $1 AND identifier = $2 AND created_at > $3",
                &[&suite_id, &identifier, &(now_ms - PLAN_KEPT_MS)],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn keep_plan(&self, suite_id: i64, identifier: &str, plan: &str, now_ms: i64) -> Result<String, StoreError> {
        let c = self.client().await?;
        c.execute("DELETE FROM test_plans WHERE created_at <= $1", &[&(now_ms - PLAN_KEPT_MS)]).await?;
        c.execute(
            "INSERT INTO test_plans (suite_id, identifier, plan, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&suite_id, &identifier, &plan, &now_ms],
        )
        .await?;
        Ok(c.query_one("SELECT plan FROM test_plans WHERE suite_id = $1 AND identifier = $2", &[&suite_id, &identifier]).await?.get(0))
    }
}
