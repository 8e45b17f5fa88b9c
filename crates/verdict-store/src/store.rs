use crate::error::StoreError;
use crate::views::*;
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;
use verdict_core::{Outcome, RunResult, Upload};

/// A page request: 1-based page number and page size.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub const MAX_PER_PAGE: u32 = 500;

    pub fn new(page: u32, per_page: u32) -> Self {
        Self { page: page.max(1), per_page: per_page.clamp(1, Self::MAX_PER_PAGE) }
    }

    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }

    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(1, 50)
    }
}

#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// The run's key (`run_env.key`): at most one run.
    pub key: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub job: Option<String>,
    pub payload: Option<String>,
    pub result: Option<RunResult>,
    /// Only runs created at or after this time (ms).
    pub since_ms: Option<i64>,
    /// Only runs created before this time (ms).
    pub until_ms: Option<i64>,
    pub page: Page,
}

#[derive(Debug, Clone, Default)]
pub struct TestFilter {
    /// Only executions of the last `days` days count (rollup days, UTC).
    pub days: u32,
    pub branch: Option<String>,
    pub page: Page,
    /// Only these tests (an owner filter); none: every test.
    pub only: Option<Vec<i64>>,
}

/// Which of a test's executions its history lists.
#[derive(Debug, Clone, Default)]
pub struct HistoryFilter {
    /// Only those of runs on this branch.
    pub branch: Option<String>,
    pub result: Option<Outcome>,
}

/// Which runs a per-test record or metric history is computed over: the
/// newest `max_runs` runs created in `[since_ms, until_ms)` that match the
/// optional filters.
#[derive(Debug, Clone)]
pub struct RunSelection {
    pub job: Option<String>,
    pub branch: Option<String>,
    /// Only the runs labelled with this payload (a batch being judged).
    pub payload: Option<String>,
    /// Leave out the runs labelled with this payload (a batch being judged).
    pub exclude_payload: Option<String>,
    pub since_ms: i64,
    pub until_ms: i64,
    pub max_runs: i64,
}

impl Default for RunSelection {
    fn default() -> Self {
        RunSelection {
            job: None,
            branch: None,
            payload: None,
            exclude_payload: None,
            since_ms: i64::MIN,
            until_ms: i64::MAX,
            max_runs: i64::MAX,
        }
    }
}

/// Everything Verdict persists. Each write is one transaction: all or nothing,
/// durable when the call returns `Ok`.
/// What an operator watches of a store (`GET /metrics`); `None` where the
/// store has no such thing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreGauges {
    /// Writes waiting for the writer (SQLite: jobs queued for its one
    /// connection; PostgreSQL: requests waiting for a pooled connection).
    pub write_queue: u64,
    /// pytest-monitor samples acknowledged and not yet moved to their table (SQLite).
    pub monitor_inbox: Option<u64>,
    /// The database's size on disk (SQLite: the file and its WAL; PostgreSQL: `pg_database_size`).
    pub size_bytes: u64,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> &'static str;

    async fn gauges(&self) -> Result<StoreGauges, StoreError>;

    /// Retention: delete up to `batch` executions (their outputs with them)
    /// and up to `batch` pytest-monitor samples created before `cut_ms`,
    /// oldest first, in one transaction; how many of each went. Rollups,
    /// runs and their per-test results (`run_tests`), test states, clusters
    /// and reports stay, so trends read from them do not change.
    async fn expire_history(&self, cut_ms: i64, batch: i64) -> Result<(u64, u64), StoreError>;

    /// pytest-monitor's contexts, sessions and resource samples.
    fn monitor(&self) -> &dyn crate::monitor::MonitorStore;

    /// The dashboard's series, cells and rollups.
    fn dashboard(&self) -> &dyn crate::dashboard::DashboardStore;

    /// Flaky and broken tests: the analysis queue, states, events.
    fn flaky(&self) -> &dyn crate::flaky::FlakyStore;

    /// Failure clusters and the suites' rules.
    fn clusters(&self) -> &dyn crate::clusters::ClustersStore;

    /// Test controls (enabled, muted, skipped) and the manage tokens that change them.
    fn controls(&self) -> &dyn crate::controls::ControlsStore;

    /// Test plans and the timings they are made from.
    fn test_plans(&self) -> &dyn crate::test_plans::TestPlansStore;

    /// Webhook endpoints, the outbox and its deliveries (see `crate::webhooks`).
    fn webhooks(&self) -> &dyn crate::webhooks::WebhooksStore;

    /// Owners files (see `crate::owners`).
    fn owners(&self) -> &dyn crate::owners::OwnersStore;

    /// Test-suite reports and the rows ReSim's report API reads (see `crate::reports`).
    fn reports(&self) -> &dyn crate::reports::ReportsStore;

    async fn create_suite(&self, suite: NewSuite) -> Result<Suite, StoreError>;
    async fn suites(&self) -> Result<Vec<Suite>, StoreError>;
    async fn suite_by_slug(&self, slug: &str) -> Result<Option<Suite>, StoreError>;
    async fn suite_by_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError>;
    /// Replace a suite's token; the old one stops working at once.
    async fn set_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError>;

    /// Store one parsed upload into the run named by its `run_env.key`.
    async fn write_upload(&self, suite_id: i64, upload: Upload) -> Result<UploadReceipt, StoreError>;
    /// Store an upload as if it had arrived at `recorded_at_ms`: its run,
    /// executions and rollup day carry that time. For importing history (and
    /// seeding benchmarks); no HTTP route reaches it. Import in time order.
    async fn import_upload(&self, suite_id: i64, upload: Upload, recorded_at_ms: i64) -> Result<UploadReceipt, StoreError>;

    async fn runs(&self, suite_id: i64, filter: &RunFilter) -> Result<Vec<Run>, StoreError>;
    async fn run(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError>;
    /// A page of a run's results, each within `Execution::LISTED_*` and without output.
    async fn run_executions(&self, run_id: i64, result: Option<Outcome>, page: Page) -> Result<Vec<Execution>, StoreError>;
    /// One result with all its detail (no output).
    async fn execution(&self, id: i64) -> Result<Option<Execution>, StoreError>;
    /// One result's captured output, each stream cut at `caps::MAX_TEXT_BYTES`.
    async fn execution_output(&self, id: i64) -> Result<Option<ExecutionOutput>, StoreError>;
    async fn tests(&self, suite_id: i64, filter: &TestFilter) -> Result<Vec<TestStats>, StoreError>;
    async fn test(&self, test_id: i64) -> Result<Option<Test>, StoreError>;
    async fn test_history(&self, test_id: i64, filter: &HistoryFilter, page: Page) -> Result<Vec<HistoryEntry>, StoreError>;

    /// Every result of the runs of `job` for `payload`, run by run (oldest run first).
    async fn batch_results(&self, suite_id: i64, job: &str, payload: &str) -> Result<Vec<BatchResult>, StoreError>;
    /// Per test, its record over the runs `selection` picks.
    async fn test_records(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestRecord>, StoreError>;

    /// Per test, the durations of its timed results in the runs `selection` picks, by (scope, name).
    async fn test_durations(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestDurations>, StoreError>;

    /// Set named metrics of a run; a name set again gets the new value.
    async fn write_run_metrics(&self, run_id: i64, metrics: Vec<(String, f64)>) -> Result<(), StoreError>;
    /// Every metric value of the runs `selection` picks, oldest run first, then by name.
    async fn run_metrics(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<RunMetric>, StoreError>;
}

/// The statements of `Store::expire_history` (`?1` the cut, `?2` the batch):
/// ids grow with time, so the oldest rows are the lowest ids and each batch
/// starts where the last ended.
pub(crate) const EXPIRE_EXECUTIONS: &str =
    "DELETE FROM executions WHERE id IN (SELECT id FROM executions WHERE created_at < ?1 ORDER BY id LIMIT ?2)";
pub(crate) const EXPIRE_SAMPLES: &str =
    "DELETE FROM monitor_metrics WHERE id IN (SELECT id FROM monitor_metrics WHERE created_at < ?1 ORDER BY id LIMIT ?2)";

/// Open the store a user configured: PostgreSQL when a URL is given, else
/// the embedded SQLite file under `data_dir`.
pub async fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Arc<dyn Store>, StoreError> {
    match database_url {
        Some(url) => Ok(Arc::new(crate::postgres::PgStore::connect(url).await?)),
        None => Ok(Arc::new(crate::sqlite::SqliteStore::open_dir(data_dir)?)),
    }
}
