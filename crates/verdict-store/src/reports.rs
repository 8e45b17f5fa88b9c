//! Test-suite reports in the store (migration 0023) and the rows ReSim's
//! report API reads that the rest of the store does not already give: a
//! run's tests one page at a time, one test's results in one run, the first
//! run of each commit (a ReSim build), a suite's branches.

use crate::error::StoreError;
use async_trait::async_trait;
use uuid::Uuid;

/// Reports kept per suite; past it, creating one is refused (delete is not
/// offered yet, so this is the store's only bound on them).
pub const MAX_REPORTS_PER_SUITE: i64 = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    pub suite_id: i64,
    pub branch: String,
    pub name: String,
    /// The window `(start_ms, end_ms)`: both bounds exclusive, as ReSim's search sends them.
    pub start_ms: i64,
    pub end_ms: i64,
    pub respect_revision: bool,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub id: i64,
    pub report: NewReport,
    /// The stored metrics' overall status, once a report-metrics program ran.
    pub metrics_status: Option<String>,
    pub metrics_at_ms: Option<i64>,
}

/// One test's combined result in one run (`run_tests.status` bits).
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    pub test_id: i64,
    pub scope: String,
    pub name: String,
    pub status: i64,
}

/// The first run that carried a commit: ReSim's build.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstRun {
    pub commit_sha: String,
    pub run_id: i64,
    pub created_ms: i64,
}

/// Per test, its runs in a window by conflated status (the mapping of
/// `verdict_core::resim::status`): flaked, failed, passed, neither.
#[derive(Debug, Clone, PartialEq)]
pub struct TestStatusCounts {
    pub test_id: i64,
    pub scope: String,
    pub name: String,
    pub passed: i64,
    pub warning: i64,
    pub blocker: i64,
    pub cancelled: i64,
}

/// Which runs a native report covers: a suite's runs on one branch (or all)
/// created in `[since_ms, until_ms)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportWindow {
    pub suite_id: i64,
    pub branch: Option<String>,
    pub since_ms: i64,
    pub until_ms: i64,
}

pub(crate) const WINDOW_RUNS: &str =
    "SELECT id FROM runs WHERE suite_id = ?1 AND (?2 IS NULL OR branch = ?2) AND created_at >= ?3 AND created_at < ?4";
pub(crate) const TEST_STATUSES: &str = "SELECT t.id, t.scope, t.name, c.p, c.w, c.b, c.c FROM (
       SELECT rt.test_id, sum(CASE WHEN rt.status & 11 = 1 THEN 1 ELSE 0 END) AS p, sum(CASE WHEN rt.status & 8 = 8 THEN 1 ELSE 0 END) AS w,
              sum(CASE WHEN rt.status & 10 = 2 THEN 1 ELSE 0 END) AS b, sum(CASE WHEN rt.status & 11 = 0 THEN 1 ELSE 0 END) AS c
       FROM runs r JOIN run_tests rt ON rt.run_id = r.id
       WHERE r.suite_id = ?1 AND (?2 IS NULL OR r.branch = ?2) AND r.created_at >= ?3 AND r.created_at < ?4
       GROUP BY rt.test_id) c JOIN tests t ON t.id = c.test_id";
/// One run's timed results, for its tests' summed durations.
pub(crate) const RUN_DURATIONS: &str = "SELECT test_id, duration FROM executions WHERE run_id = ?1 AND duration IS NOT NULL";

/// Sum `(test, seconds)` rows per test: each job's duration.
pub(crate) fn job_seconds(rows: impl Iterator<Item = (i64, f64)>) -> Vec<f64> {
    let mut by_test: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
    for (test, s) in rows {
        *by_test.entry(test).or_default() += s;
    }
    by_test.into_values().collect()
}

pub(crate) const REPORT_COLS: &str =
    "id, suite_id, branch, name, start_ms, end_ms, respect_revision, created_at, metrics_status, metrics_at";
pub(crate) const RUN_JOBS: &str = "SELECT rt.test_id, t.scope, t.name, rt.status FROM run_tests rt JOIN tests t ON t.id = rt.test_id
     WHERE rt.run_id = ?1 AND rt.test_id > ?2 ORDER BY rt.test_id LIMIT ?3";
pub(crate) const RUN_JOB: &str = "SELECT rt.test_id, t.scope, t.name, rt.status FROM run_tests rt JOIN tests t ON t.id = rt.test_id
     WHERE rt.run_id = ?1 AND rt.test_id = ?2";
/// The summed duration of one test's timed results in one run, through the
/// (test_id, created_at) index: a run's executions were written between its
/// creation and its last update.
pub(crate) const JOB_SECONDS: &str = "SELECT sum(e.duration) FROM runs r JOIN executions e
       ON e.test_id = ?2 AND e.created_at BETWEEN r.created_at AND r.updated_at AND e.run_id = r.id
     WHERE r.id = ?1";
pub(crate) const FIRST_RUN_OF_COMMIT: &str =
    "SELECT id, created_at FROM runs WHERE suite_id = ?1 AND commit_sha = ?2 ORDER BY created_at, id LIMIT 1";
pub(crate) const SUITE_BRANCHES: &str = "SELECT DISTINCT branch FROM runs WHERE suite_id = ?1 AND branch IS NOT NULL";

#[async_trait]
pub trait ReportsStore: Send + Sync {
    /// This server's ReSim project UUID, made by the first call on a new store.
    async fn project_id(&self) -> Result<Uuid, StoreError>;
    /// Store a report; `Conflict` past `MAX_REPORTS_PER_SUITE`.
    async fn create_report(&self, report: NewReport) -> Result<StoredReport, StoreError>;
    async fn report(&self, id: i64) -> Result<Option<StoredReport>, StoreError>;
    /// Reports by id, oldest first, after `after_id`; of one suite or of all.
    async fn reports(&self, suite_id: Option<i64>, after_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError>;
    /// A run's tests in test-id order, after `after_test_id`.
    async fn run_jobs(&self, run_id: i64, after_test_id: i64, limit: i64) -> Result<Vec<RunJob>, StoreError>;
    /// One test's result in one run, with its summed duration (s) when timed.
    async fn run_job(&self, run_id: i64, test_id: i64) -> Result<Option<(RunJob, Option<f64>)>, StoreError>;
    /// Per commit, the first run that carried it (commits never seen are left out).
    async fn first_runs(&self, suite_id: i64, commits: &[String]) -> Result<Vec<FirstRun>, StoreError>;
    /// Per test that ran in the window, its runs by conflated status.
    async fn test_statuses(&self, window: &ReportWindow) -> Result<Vec<TestStatusCounts>, StoreError>;
    /// Per run of the window, its timed jobs' durations (s; a test's results in the run summed), in no order.
    async fn job_durations(&self, window: &ReportWindow) -> Result<Vec<(i64, Vec<f64>)>, StoreError>;
    /// Every branch a run of the suite named.
    async fn suite_branches(&self, suite_id: i64) -> Result<Vec<String>, StoreError>;
}
