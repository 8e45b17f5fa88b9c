//! The reads the dashboard's pages need beyond the JSON API's: run series
//! from the counts kept on `runs`, one run's tests, one test's cells, points
//! and daily rollups. Each is bounded by its arguments (a window, a list of
//! ids, a limit), never by what is stored.

use crate::error::StoreError;
use crate::plan::STATUS_FLAKED;
use crate::views::{Counts, Execution, Run, SuiteLinks, Test};
use async_trait::async_trait;
use serde::Serialize;
use verdict_core::Outcome;

/// A test's combined outcome in one run. Flaky is its own outcome: it passed
/// and failed as attempts of one case, or in two uploads of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunOutcome {
    Failed,
    Flaky,
    Passed,
    Skipped,
}

impl RunOutcome {
    /// From `run_tests.status` bits (1 passed, 2 failed, 4 other, 8 flaked).
    pub fn of_status(status: i64) -> Self {
        if status & i64::from(STATUS_FLAKED) != 0 {
            Self::Flaky
        } else if status & 2 != 0 {
            Self::Failed
        } else if status & 1 != 0 {
            Self::Passed
        } else {
            Self::Skipped
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Flaky => "flaky",
            Self::Passed => "passed",
            Self::Skipped => "skipped",
        }
    }
}

/// One test of one run with its combined outcome and summed seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunTestRow {
    pub test: Test,
    pub outcome: RunOutcome,
    pub duration: Option<f64>,
}

/// One test's combined outcome in one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TestRunCell {
    pub test_id: i64,
    pub run_id: i64,
    pub outcome: RunOutcome,
    pub duration: Option<f64>,
}

/// One execution of a test as a chart point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExecutionPoint {
    pub run_id: i64,
    pub at_ms: i64,
    pub outcome: Outcome,
    pub duration: Option<f64>,
}

/// One failed execution of a test, with its run's branch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureRow {
    pub execution_id: i64,
    pub run_id: i64,
    pub at_ms: i64,
    pub branch: Option<String>,
    pub reason: Option<String>,
}

/// A test's rollup counts, summed over one day (all branches, or one) or over
/// a range of days for one branch.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RollupTotals {
    /// The day (days since the epoch) or, summed over days, the last day seen.
    pub day: i64,
    /// The branch; empty for runs without one, or when summed over branches.
    pub branch: String,
    pub counts: Counts,
    pub flaky: i64,
    pub duration_sum: f64,
    pub duration_count: i64,
    /// Runs in which the test passed (and never failed), failed (and did
    /// not flake), flaked: each run once, under its latest outcome.
    pub runs_passed: i64,
    pub runs_failed: i64,
    pub runs_flaky: i64,
}

/// Runs of one suite created in a range of time, optionally on one branch.
#[derive(Debug, Clone)]
pub struct RunRange {
    pub suite_id: i64,
    pub branch: Option<String>,
    pub since_ms: i64,
    pub until_ms: i64,
}

#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// The range's runs, newest first, at most `limit`.
    async fn run_series(&self, range: &RunRange, limit: i64) -> Result<Vec<Run>, StoreError>;
    /// Branches with runs in the range (its `branch` ignored), busiest first, with their run counts.
    async fn branches(&self, range: &RunRange) -> Result<Vec<(String, i64)>, StoreError>;
    /// The newest run of the suite on `branch` created before `run` (never `run` itself).
    async fn previous_run(&self, run: &Run, branch: Option<&str>) -> Result<Option<Run>, StoreError>;
    /// Every test of a run with its outcome there.
    async fn run_tests(&self, run_id: i64) -> Result<Vec<RunTestRow>, StoreError>;
    /// The outcome of each of `test_ids` in each of `run_ids` where it ran.
    async fn test_cells(&self, test_ids: &[i64], run_ids: &[i64]) -> Result<Vec<TestRunCell>, StoreError>;
    /// The executions in a run of the tests named (listed columns, no output), by test then attempt.
    async fn run_test_executions(&self, run_id: i64, test_ids: &[i64]) -> Result<Vec<Execution>, StoreError>;
    /// A test's executions in the range, oldest first, at most `limit`.
    async fn test_points(&self, test_id: i64, range: &RunRange, limit: i64) -> Result<Vec<ExecutionPoint>, StoreError>;
    /// A test's failed executions in the range, newest first, at most `limit`.
    async fn test_failures(&self, test_id: i64, range: &RunRange, limit: i64) -> Result<Vec<FailureRow>, StoreError>;
    /// A test's rollups per day in `[first_day, end_day)`, on `branch` or summed over all.
    async fn test_days(&self, test_id: i64, branch: Option<&str>, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError>;
    /// A test's rollups per branch summed over `[first_day, end_day)`, `day` the last one seen.
    async fn test_branches(&self, test_id: i64, first_day: i64, end_day: i64) -> Result<Vec<RollupTotals>, StoreError>;
    /// Each test with rollups in `[first_day, end_day)` on `branch` (or all), with their sums, `day` the last one seen.
    async fn suite_test_rows(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(Test, RollupTotals)>, StoreError>;
    /// Each test's rollups summed over `[first_day, end_day)` on `branch` (or all), `day` the last one seen, by test id.
    async fn suite_test_totals(
        &self,
        suite_id: i64,
        branch: Option<&str>,
        first_day: i64,
        end_day: i64,
    ) -> Result<Vec<(i64, RollupTotals)>, StoreError>;
    /// The timed durations of `test_ids` in the range, by test id.
    async fn durations_of(&self, test_ids: &[i64], range: &RunRange) -> Result<Vec<(i64, f64)>, StoreError>;
    /// Set or clear (empty string) a suite's link templates.
    async fn set_suite_links(&self, slug: &str, links: &SuiteLinks) -> Result<(), StoreError>;
}
