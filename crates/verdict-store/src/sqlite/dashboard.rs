//! The dashboard's reads on SQLite (see `crate::dashboard`).

use super::SqliteStore;
use super::reads::{RUN_COLS, TEST_COLS, execution_row, outcome, run_row, test_row};
use crate::dashboard::*;
use crate::error::StoreError;
use crate::views::*;
use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

/// `?1` suite, `?2` branch (NULL for all), `?3`..`?4` the range of `created_at`.
const IN_RANGE: &str = "suite_id = ?1 AND (?2 IS NULL OR branch = ?2) AND created_at >= ?3 AND created_at < ?4";

/// Ids as a JSON array, for `IN (SELECT value FROM json_each(?))`: one
/// prepared statement whatever the number of ids.
fn json_ids(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

fn totals_row(r: &Row<'_>) -> rusqlite::Result<RollupTotals> {
    totals_at(r, 0)
}

/// The day, the branch and `ROLLUP_SUMS`, from column `at` on.
fn totals_at(r: &Row<'_>, at: usize) -> rusqlite::Result<RollupTotals> {
    let c = |i: usize| at + i;
    Ok(RollupTotals {
        day: r.get(c(0))?,
        branch: r.get(c(1))?,
        counts: Counts { passed: r.get(c(2))?, failed: r.get(c(3))?, skipped: r.get(c(4))?, pending: r.get(c(5))?, unknown: r.get(c(6))? },
        flaky: r.get(c(7))?,
        duration_sum: r.get(c(8))?,
        duration_count: r.get(c(9))?,
        runs_passed: r.get(c(10))?,
        runs_failed: r.get(c(11))?,
        runs_flaky: r.get(c(12))?,
    })
}

const ROLLUP_SUMS: &str =
    "sum(passed), sum(failed), sum(skipped), sum(pending), sum(unknown), sum(flaky), sum(duration_sum), sum(duration_count),
     sum(runs_passed), sum(runs_failed), sum(runs_flaky)";

fn run_series(c: &Connection, r: &RunRange, limit: i64) -> Result<Vec<Run>, StoreError> {
    let sql = format!("SELECT {RUN_COLS} FROM runs WHERE {IN_RANGE} ORDER BY created_at DESC, id DESC LIMIT ?5");
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![r.suite_id, r.branch, r.since_ms, r.until_ms, limit], run_row)?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn branches(c: &Connection, r: &RunRange) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = "SELECT branch, count(*) FROM runs WHERE suite_id = ?1 AND created_at >= ?2 AND created_at < ?3 AND branch IS NOT NULL
               GROUP BY branch ORDER BY count(*) DESC, branch LIMIT 50";
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![r.suite_id, r.since_ms, r.until_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn previous_run(c: &Connection, run: &Run, branch: Option<&str>) -> Result<Option<Run>, StoreError> {
    let sql = format!(
        "SELECT {RUN_COLS} FROM runs WHERE suite_id = ?1 AND (?2 IS NULL OR branch = ?2) AND state = 'finished'
           AND (created_at < ?3 OR (created_at = ?3 AND id < ?4))
         ORDER BY created_at DESC, id DESC LIMIT 1"
    );
    let mut st = c.prepare_cached(&sql)?;
    let mut rows = st.query_map(params![run.suite_id, branch, run.created_at.timestamp_millis(), run.id], run_row)?;
    Ok(rows.next().transpose()?)
}

fn run_tests(c: &Connection, run_id: i64) -> Result<Vec<RunTestRow>, StoreError> {
    let sql =
        format!("SELECT {TEST_COLS}, rt.status, rt.duration FROM run_tests rt JOIN tests t ON t.id = rt.test_id WHERE rt.run_id = ?1");
    let mut st = c.prepare_cached(&sql)?;
    let rows =
        st.query_map([run_id], |r| Ok(RunTestRow { test: test_row(r)?, outcome: RunOutcome::of_status(r.get(8)?), duration: r.get(9)? }))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn test_cells(c: &Connection, test_ids: &[i64], run_ids: &[i64]) -> Result<Vec<TestRunCell>, StoreError> {
    // Run by run over the primary key (run_id, test_id).
    let sql = "SELECT test_id, run_id, status, duration FROM run_tests
               WHERE run_id IN (SELECT value FROM json_each(?1)) AND test_id IN (SELECT value FROM json_each(?2))";
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![json_ids(run_ids), json_ids(test_ids)], |r| {
        Ok(TestRunCell { test_id: r.get(0)?, run_id: r.get(1)?, outcome: RunOutcome::of_status(r.get(2)?), duration: r.get(3)? })
    })?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn run_test_executions(c: &Connection, run_id: i64, test_ids: &[i64]) -> Result<Vec<Execution>, StoreError> {
    let cols = execution_cols(Execution::LISTED_REASON_BYTES, Execution::LISTED_DETAIL_BYTES);
    let sql = format!(
        "SELECT {cols} {EXECUTION_FROM} WHERE e.run_id = ?1 AND e.test_id IN (SELECT value FROM json_each(?2)) ORDER BY e.test_id, e.id"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![run_id, json_ids(test_ids)], |r| execution_row(r, Execution::LISTED_REASON_BYTES))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn test_points(c: &Connection, test_id: i64, r: &RunRange, limit: i64) -> Result<Vec<ExecutionPoint>, StoreError> {
    let sql = "SELECT e.run_id, e.created_at, e.outcome, e.duration FROM executions e JOIN runs r ON r.id = e.run_id
               WHERE e.test_id = ?1 AND e.created_at >= ?3 AND e.created_at < ?4 AND (?2 IS NULL OR r.branch = ?2)
               ORDER BY e.created_at, e.id LIMIT ?5";
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![test_id, r.branch, r.since_ms, r.until_ms, limit], |r| {
        Ok(ExecutionPoint { run_id: r.get(0)?, at_ms: r.get(1)?, outcome: outcome(r.get(2)?), duration: r.get(3)? })
    })?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn test_failures(c: &Connection, test_id: i64, r: &RunRange, limit: i64) -> Result<Vec<FailureRow>, StoreError> {
    let sql = format!(
        "SELECT e.id, e.run_id, e.created_at, r.branch, substr(e.failure_reason, 1, {}) FROM executions e JOIN runs r ON r.id = e.run_id
         WHERE e.test_id = ?1 AND e.outcome = 1 AND e.created_at >= ?3 AND e.created_at < ?4 AND (?2 IS NULL OR r.branch = ?2)
         ORDER BY e.created_at DESC, e.id DESC LIMIT ?5",
        Execution::LISTED_REASON_BYTES
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![test_id, r.branch, r.since_ms, r.until_ms, limit], |r| {
        Ok(FailureRow {
            execution_id: r.get(0)?,
            run_id: r.get(1)?,
            at_ms: r.get(2)?,
            branch: r.get(3)?,
            reason: listed_reason(r.get(4)?, Execution::LISTED_REASON_BYTES),
        })
    })?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn test_days(c: &Connection, test_id: i64, branch: Option<&str>, first: i64, end: i64) -> Result<Vec<RollupTotals>, StoreError> {
    let sql = format!(
        "SELECT day, '', {ROLLUP_SUMS} FROM rollups WHERE test_id = ?1 AND (?2 IS NULL OR branch = ?2) AND day >= ?3 AND day < ?4
         GROUP BY day ORDER BY day"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![test_id, branch, first, end], totals_row)?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn test_branches(c: &Connection, test_id: i64, first: i64, end: i64) -> Result<Vec<RollupTotals>, StoreError> {
    let sql = format!(
        "SELECT max(day), branch, {ROLLUP_SUMS} FROM rollups WHERE test_id = ?1 AND day >= ?2 AND day < ?3
         GROUP BY branch ORDER BY sum(passed + failed + skipped + pending + unknown) DESC, branch LIMIT 50"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![test_id, first, end], totals_row)?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn suite_test_totals(
    c: &Connection,
    suite_id: i64,
    branch: Option<&str>,
    first: i64,
    end: i64,
) -> Result<Vec<(i64, RollupTotals)>, StoreError> {
    // With a branch, the condition is a plain equality: each test's rows are
    // then one seek on the primary key (test_id, branch, day), not a scan of
    // every branch and day of it.
    let on_branch = if branch.is_some() { "r.branch = ?2" } else { "?2 IS NULL" };
    let sql = format!(
        "SELECT max(r.day), '', {ROLLUP_SUMS}, r.test_id FROM tests t JOIN rollups r ON r.test_id = t.id
         WHERE t.suite_id = ?1 AND {on_branch} AND r.day >= ?3 AND r.day < ?4 GROUP BY r.test_id"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![suite_id, branch, first, end], |r| Ok((r.get(13)?, totals_row(r)?)))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn suite_test_rows(
    c: &Connection,
    suite_id: i64,
    branch: Option<&str>,
    first: i64,
    end: i64,
) -> Result<Vec<(Test, RollupTotals)>, StoreError> {
    let on_branch = if branch.is_some() { "r.branch = ?2" } else { "?2 IS NULL" };
    let sql = format!(
        "SELECT {TEST_COLS}, max(r.day), '', {ROLLUP_SUMS} FROM tests t JOIN rollups r ON r.test_id = t.id
         WHERE t.suite_id = ?1 AND {on_branch} AND r.day >= ?3 AND r.day < ?4 GROUP BY t.id"
    );
    let mut st = c.prepare_cached(&sql)?;
    let rows = st.query_map(params![suite_id, branch, first, end], |r| Ok((test_row(r)?, totals_at(r, 8)?)))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

fn durations_of(c: &Connection, test_ids: &[i64], r: &RunRange) -> Result<Vec<(i64, f64)>, StoreError> {
    let sql = "SELECT e.test_id, e.duration FROM executions e JOIN runs r ON r.id = e.run_id
               WHERE e.test_id IN (SELECT value FROM json_each(?1)) AND e.created_at >= ?3 AND e.created_at < ?4
                 AND e.duration IS NOT NULL AND (?2 IS NULL OR r.branch = ?2)";
    let mut st = c.prepare_cached(sql)?;
    let rows = st.query_map(params![json_ids(test_ids), r.branch, r.since_ms, r.until_ms], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let rows = rows.collect::<Result<_, _>>()?;
    Ok(rows)
}

#[async_trait]
impl DashboardStore for SqliteStore {
    async fn run_series(&self, range: &RunRange, limit: i64) -> Result<Vec<Run>, StoreError> {
        let range = range.clone();
        self.read(move |c| run_series(c, &range, limit)).await
    }

    async fn branches(&self, range: &RunRange) -> Result<Vec<(String, i64)>, StoreError> {
        let range = range.clone();
        self.read(move |c| branches(c, &range)).await
    }

    async fn previous_run(&self, run: &Run, branch: Option<&str>) -> Result<Option<Run>, StoreError> {
        let (run, branch) = (run.clone(), branch.map(str::to_owned));
        self.read(move |c| previous_run(c, &run, branch.as_deref())).await
    }

    async fn run_tests(&self, run_id: i64) -> Result<Vec<RunTestRow>, StoreError> {
        self.read(move |c| run_tests(c, run_id)).await
    }

    async fn test_cells(&self, test_ids: &[i64], run_ids: &[i64]) -> Result<Vec<TestRunCell>, StoreError> {
        let (test_ids, run_ids) = (test_ids.to_vec(), run_ids.to_vec());
        self.read(move |c| test_cells(c, &test_ids, &run_ids)).await
    }

    async fn run_test_executions(&self, run_id: i64, test_ids: &[i64]) -> Result<Vec<Execution>, StoreError> {
        let test_ids = test_ids.to_vec();
        self.read(move |c| run_test_executions(c, run_id, &test_ids)).await
    }

    async fn test_points(&self, test_id: i64, range: &RunRange, limit: i64) -> Result<Vec<ExecutionPoint>, StoreError> {
        let range = range.clone();
        self.read(move |c| test_points(c, test_id, &range, limit)).await
    }

    async fn test_failures(&self, test_id: i64, range: &RunRange, limit: i64) -> Result<Vec<FailureRow>, StoreError> {
        let range = range.clone();
        self.read(move |c| test_failures(c, test_id, &range, limit)).await
    }

    async fn test_days(&self, test_id: i64, branch: Option<&str>, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError> {
        let branch = branch.map(str::to_owned);
        self.read(move |c| test_days(c, test_id, branch.as_deref(), first_day, end_day)).await
    }

    async fn test_branches(&self, test_id: i64, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError> {
        self.read(move |c| test_branches(c, test_id, first_day, end_day)).await
    }

    async fn suite_test_totals(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(i64, RollupTotals)>, StoreError> {
        let branch = branch.map(str::to_owned);
        self.read(move |c| suite_test_totals(c, suite_id, branch.as_deref(), first_day, end_day)).await
    }

    async fn suite_test_rows(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(Test, RollupTotals)>, StoreError> {
        let branch = branch.map(str::to_owned);
        self.read(move |c| suite_test_rows(c, suite_id, branch.as_deref(), first_day, end_day)).await
    }

    async fn durations_of(&self, test_ids: &[i64], range: &RunRange) -> Result<Vec<(i64, f64)>, StoreError> {
        let (test_ids, range) = (test_ids.to_vec(), range.clone());
        self.read(move |c| durations_of(c, &test_ids, &range)).await
    }

    async fn set_suite_links(&self, slug: &str, links: &SuiteLinks) -> Result<(), StoreError> {
        let (slug, links) = (slug.to_owned(), links.clone());
        self.writer.write(move |c| super::writes::set_suite_links(c, &slug, &links)).await
    }
}
