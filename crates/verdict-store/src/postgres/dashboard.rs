//! The dashboard's reads on PostgreSQL (see `crate::dashboard`).

use super::PgStore;
use super::reads::{RUN_COLS, TEST_COLS, execution_row, outcome, run_row, test_row};
use crate::dashboard::*;
use crate::error::StoreError;
use crate::views::*;
use async_trait::async_trait;
use tokio_postgres::Row;

/// `$1` suite, `$2` branch (NULL for all), `$3`..`$4` the range of `created_at`.
const IN_RANGE: &str = "suite_id = $1 AND ($2::text IS NULL OR branch = $2) AND created_at >= $3 AND created_at < $4";

const ROLLUP_SUMS: &str = "sum(passed)::bigint, sum(failed)::bigint, sum(skipped)::bigint, sum(pending)::bigint, sum(unknown)::bigint,
    sum(flaky)::bigint, sum(duration_sum)::float8, sum(duration_count)::bigint,
    sum(runs_passed)::bigint, sum(runs_failed)::bigint, sum(runs_flaky)::bigint";

fn totals_row(r: &Row) -> RollupTotals {
    totals_at(r, 0)
}

/// The day, the branch and `ROLLUP_SUMS`, from column `at` on.
fn totals_at(r: &Row, at: usize) -> RollupTotals {
    let c = |i: usize| at + i;
    RollupTotals {
        day: r.get(c(0)),
        branch: r.get(c(1)),
        counts: Counts { passed: r.get(c(2)), failed: r.get(c(3)), skipped: r.get(c(4)), pending: r.get(c(5)), unknown: r.get(c(6)) },
        flaky: r.get(c(7)),
        duration_sum: r.get(c(8)),
        duration_count: r.get(c(9)),
        runs_passed: r.get(c(10)),
        runs_failed: r.get(c(11)),
        runs_flaky: r.get(c(12)),
    }
}

#[async_trait]
impl DashboardStore for PgStore {
    async fn run_series(&self, r: &RunRange, limit: i64) -> Result<Vec<Run>, StoreError> {
        let sql = format!("SELECT {RUN_COLS} FROM runs WHERE {IN_RANGE} ORDER BY created_at DESC, id DESC LIMIT $5");
        let rows = self.client().await?.query(&sql, &[&r.suite_id, &r.branch, &r.since_ms, &r.until_ms, &limit]).await?;
        Ok(rows.iter().map(run_row).collect())
    }

    async fn branches(&self, r: &RunRange) -> Result<Vec<(String, i64)>, StoreError> {
        let sql = "SELECT branch, count(*) FROM runs WHERE suite_id = $1 AND created_at >= $2 AND created_at < $3 AND branch IS NOT NULL
                   GROUP BY branch ORDER BY count(*) DESC, branch LIMIT 50";
        let rows = self.client().await?.query(sql, &[&r.suite_id, &r.since_ms, &r.until_ms]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn previous_run(&self, run: &Run, branch: Option<&str>) -> Result<Option<Run>, StoreError> {
        let sql = format!(
            "SELECT {RUN_COLS} FROM runs WHERE suite_id = $1 AND ($2::text IS NULL OR branch = $2) AND state = 'finished'
               AND (created_at < $3 OR (created_at = $3 AND id < $4))
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        let at = run.created_at.timestamp_millis();
        let row = self.client().await?.query_opt(&sql, &[&run.suite_id, &branch, &at, &run.id]).await?;
        Ok(row.as_ref().map(run_row))
    }

    async fn run_tests(&self, run_id: i64) -> Result<Vec<RunTestRow>, StoreError> {
        let sql =
            format!("SELECT {TEST_COLS}, rt.status, rt.duration FROM run_tests rt JOIN tests t ON t.id = rt.test_id WHERE rt.run_id = $1");
        let rows = self.client().await?.query(&sql, &[&run_id]).await?;
        Ok(rows
            .iter()
            .map(|r| RunTestRow { test: test_row(r), outcome: RunOutcome::of_status(r.get::<_, i16>(8).into()), duration: r.get(9) })
            .collect())
    }

    async fn test_cells(&self, test_ids: &[i64], run_ids: &[i64]) -> Result<Vec<TestRunCell>, StoreError> {
        let sql = "SELECT test_id, run_id, status, duration FROM run_tests WHERE run_id = ANY($1) AND test_id = ANY($2)";
        let rows = self.client().await?.query(sql, &[&run_ids, &test_ids]).await?;
        Ok(rows
            .iter()
            .map(|r| TestRunCell {
                test_id: r.get(0),
                run_id: r.get(1),
                outcome: RunOutcome::of_status(r.get::<_, i16>(2).into()),
                duration: r.get(3),
            })
            .collect())
    }

    async fn run_test_executions(&self, run_id: i64, test_ids: &[i64]) -> Result<Vec<Execution>, StoreError> {
        let cols = execution_cols(Execution::LISTED_REASON_BYTES, Execution::LISTED_DETAIL_BYTES);
        let sql = format!("SELECT {cols} {EXECUTION_FROM} WHERE e.run_id = $1 AND e.test_id = ANY($2) ORDER BY e.test_id, e.id");
        let rows = self.client().await?.query(&sql, &[&run_id, &test_ids]).await?;
        Ok(rows.iter().map(|r| execution_row(r, Execution::LISTED_REASON_BYTES)).collect())
    }

    async fn test_points(&self, test_id: i64, r: &RunRange, limit: i64) -> Result<Vec<ExecutionPoint>, StoreError> {
        let sql = "SELECT e.run_id, e.created_at, e.outcome, e.duration FROM executions e JOIN runs r ON r.id = e.run_id
                   WHERE e.test_id = $1 AND e.created_at >= $3 AND e.created_at < $4 AND ($2::text IS NULL OR r.branch = $2)
                   ORDER BY e.created_at, e.id LIMIT $5";
        let rows = self.client().await?.query(sql, &[&test_id, &r.branch, &r.since_ms, &r.until_ms, &limit]).await?;
        Ok(rows
            .iter()
            .map(|r| ExecutionPoint { run_id: r.get(0), at_ms: r.get(1), outcome: outcome(r.get(2)), duration: r.get(3) })
            .collect())
    }

    async fn test_failures(&self, test_id: i64, r: &RunRange, limit: i64) -> Result<Vec<FailureRow>, StoreError> {
        let sql = format!(
            "SELECT e.id, e.run_id, e.created_at, r.branch, substr(e.failure_reason, 1, {}) FROM executions e JOIN runs r ON r.id = e.run_id
             WHERE e.test_id = $1 AND e.outcome = 1 AND e.created_at >= $3 AND e.created_at < $4 AND ($2::text IS NULL OR r.branch = $2)
             ORDER BY e.created_at DESC, e.id DESC LIMIT $5",
            Execution::LISTED_REASON_BYTES
        );
        let rows = self.client().await?.query(&sql, &[&test_id, &r.branch, &r.since_ms, &r.until_ms, &limit]).await?;
        Ok(rows
            .iter()
            .map(|r| FailureRow {
                execution_id: r.get(0),
                run_id: r.get(1),
                at_ms: r.get(2),
                branch: r.get(3),
                reason: listed_reason(r.get(4), Execution::LISTED_REASON_BYTES),
            })
            .collect())
    }

    async fn test_days(&self, test_id: i64, branch: Option<&str>, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError> {
        let sql = format!(
            "SELECT day, ''::text, {ROLLUP_SUMS} FROM rollups WHERE test_id = $1 AND ($2::text IS NULL OR branch = $2) AND day >= $3 AND day < $4
             GROUP BY day ORDER BY day"
        );
        let rows = self.client().await?.query(&sql, &[&test_id, &branch, &first_day, &end_day]).await?;
        Ok(rows.iter().map(totals_row).collect())
    }

    async fn test_branches(&self, test_id: i64, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError> {
        let sql = format!(
            "SELECT max(day), branch, {ROLLUP_SUMS} FROM rollups WHERE test_id = $1 AND day >= $2 AND day < $3
             GROUP BY branch ORDER BY sum(passed + failed + skipped + pending + unknown) DESC, branch LIMIT 50"
        );
        let rows = self.client().await?.query(&sql, &[&test_id, &first_day, &end_day]).await?;
        Ok(rows.iter().map(totals_row).collect())
    }

    async fn suite_test_totals(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(i64, RollupTotals)>, StoreError> {
        // With a branch, a plain equality, so that the primary key (test_id, branch, day) serves it.
        let on_branch = if branch.is_some() { "r.branch = $2" } else { "$2::text IS NULL" };
        let sql = format!(
            "SELECT max(r.day), ''::text, {ROLLUP_SUMS}, r.test_id FROM tests t JOIN rollups r ON r.test_id = t.id
             WHERE t.suite_id = $1 AND {on_branch} AND r.day >= $3 AND r.day < $4 GROUP BY r.test_id"
        );
        let rows = self.client().await?.query(&sql, &[&suite_id, &branch, &first_day, &end_day]).await?;
        Ok(rows.iter().map(|r| (r.get(13), totals_row(r))).collect())
    }

    async fn suite_test_rows(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(Test, RollupTotals)>, StoreError> {
        let on_branch = if branch.is_some() { "r.branch = $2" } else { "$2::text IS NULL" };
        let sql = format!(
            "SELECT {TEST_COLS}, max(r.day), ''::text, {ROLLUP_SUMS} FROM tests t JOIN rollups r ON r.test_id = t.id
             WHERE t.suite_id = $1 AND {on_branch} AND r.day >= $3 AND r.day < $4 GROUP BY t.id"
        );
        let rows = self.client().await?.query(&sql, &[&suite_id, &branch, &first_day, &end_day]).await?;
        Ok(rows.iter().map(|r| (test_row(r), totals_at(r, 8))).collect())
    }

    async fn durations_of(&self, test_ids: &[i64], r: &RunRange) -> Result<Vec<(i64, f64)>, StoreError> {
        let sql = "SELECT e.test_id, e.duration FROM executions e JOIN runs r ON r.id = e.run_id
                   WHERE e.test_id = ANY($1) AND e.created_at >= $3 AND e.created_at < $4
                     AND e.duration IS NOT NULL AND ($2::text IS NULL OR r.branch = $2)";
        let rows = self.client().await?.query(sql, &[&test_ids, &r.branch, &r.since_ms, &r.until_ms]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn set_suite_links(&self, slug: &str, links: &SuiteLinks) -> Result<(), StoreError> {
        super::writes::set_suite_links(&**self.client().await?, slug, links).await
    }
}
