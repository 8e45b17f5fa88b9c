//! The embedded default: one SQLite file in WAL mode, one writing connection
//! (driven by its own thread, see `writer`), a few read connections.

pub mod backup;
mod clusters;
mod controls;
mod dashboard;
mod flaky;
mod inbox;
mod monitor;
mod owners;
mod reads;
mod reports;
mod test_plans;
mod webhooks;
mod writer;
mod writes;

use crate::error::StoreError;
use crate::store::{HistoryFilter, Page, RunFilter, RunSelection, Store, TestFilter};
use crate::views::*;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use verdict_core::{Outcome, Upload};
use writer::Writer;

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_run_labels.sql")),
    (3, include_str!("migrations/0003_run_tests.sql")),
    (4, include_str!("migrations/0004_run_metrics.sql")),
    (5, include_str!("migrations/0005_pytest_monitor.sql")),
    (6, include_str!("migrations/0006_monitor_resources.sql")),
    (7, include_str!("migrations/0007_monitor_inbox.sql")),
    (8, include_str!("migrations/0008_session_pipeline.sql")),
    (9, include_str!("migrations/0009_run_test_flakes.sql")),
    (10, include_str!("migrations/0010_execution_outputs.sql")),
    (11, include_str!("migrations/0011_dashboard.sql")),
    (12, include_str!("migrations/0012_rollup_run_counts.sql")),
    (13, include_str!("migrations/0013_flaky.sql")),
    (14, include_str!("migrations/0014_clusters.sql")),
    (15, include_str!("migrations/0015_quiet_tracks.sql")),
    (16, include_str!("migrations/0016_test_controls.sql")),
    (17, include_str!("migrations/0017_test_plans.sql")),
    (18, include_str!("migrations/0018_webhooks.sql")),
    (19, include_str!("migrations/0019_owners.sql")),
    (20, include_str!("migrations/0020_cluster_spikes.sql")),
    (21, include_str!("migrations/0021_webhook_rotation.sql")),
    (22, include_str!("migrations/0022_aggregate_verdicts.sql")),
    (23, include_str!("migrations/0023_reports.sql")),
    (24, include_str!("migrations/0024_job_metrics.sql")),
    (25, include_str!("migrations/0025_monitor_by_run.sql")),
    (26, include_str!("migrations/0026_report_metrics_view.sql")),
];

pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Mutex<Vec<Connection>>>,
    counts: Arc<monitor::Counts>,
    inbox: Arc<inbox::Inbox>,
    /// The ReSim project UUID once read (it never changes once made).
    project: Arc<tokio::sync::OnceCell<uuid::Uuid>>,
}

impl SqliteStore {
    /// Open (creating if needed) `verdict.db` inside `dir`.
    pub fn open_dir(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(format!("cannot create data directory {}: {e}", dir.display())))?;
        Self::open(&dir.join("verdict.db"))
    }

    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        configure(&conn)?;
        // The writer's page cache: 32 MiB (SQLite's default is 2 MiB). The flaky
        // analysis step reads and rewrites a track row per test and track for
        // every run, spread over the whole table; with the default most of its
        // page reads went to the OS (bench/RESULTS.md, issue 14).
        conn.execute_batch("PRAGMA cache_size = -32768;")?;
        migrate(&conn)?;
        let inbox = inbox::Inbox::open(&conn)?;
        let writer = Writer::start(conn, Box::new(inbox::Mover(inbox.clone())));
        Ok(SqliteStore { path: path.to_owned(), writer, readers: Arc::default(), counts: Arc::default(), inbox, project: Arc::default() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run a read on a pooled connection, off the async threads.
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let run = self.pooled(f);
        tokio::task::spawn_blocking(run).await.map_err(|e| StoreError::Database(format!("read task failed: {e}")))?
    }

    /// Run a short read (a page, a count) in place on a multi-threaded runtime
    /// (the worker hands its other tasks over): such reads take tens of
    /// microseconds, and waking a blocking-pool thread cost about 0.1 ms.
    /// Reads that must run in parallel with others use `read`.
    async fn read_here<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match tokio::runtime::Handle::current().runtime_flavor() {
            tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(self.pooled(f)),
            _ => self.read(f).await,
        }
    }

    /// `f` on a connection from the reader pool (opened when none is free).
    fn pooled<T, F>(&self, f: F) -> impl FnOnce() -> Result<T, StoreError> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let path = self.path.clone();
        let readers = self.readers.clone();
        move || {
            let conn = match readers.lock().expect("reader pool").pop() {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
                    c.busy_timeout(std::time::Duration::from_secs(10))?;
                    c
                }
            };
            let out = f(&conn);
            readers.lock().expect("reader pool").push(conn);
            out
        }
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // FULL: a commit is on disk before the writer replies, so a 202 survives a
    // power cut, not only a crash. Group commit pays for the extra fsync.
    // temp_store MEMORY: each job runs in a savepoint, and SQLite would otherwise
    // open a statement journal file in /var/tmp for most statements in it.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;")?;
    Ok(())
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)")?;
    let current: i64 = conn.query_row("SELECT coalesce(max(version), 0) FROM schema_migrations", [], |r| r.get(0))?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)", (version, now_ms()))?;
        tx.commit()?;
    }
    Ok(())
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn expire_history(&self, cut_ms: i64, batch: i64) -> Result<(u64, u64), StoreError> {
        // Samples still in the inbox are moved first, so none is missed or kept.
        self.settle().await?;
        self.writer
            .write(move |c| {
                let executions = c.prepare_cached(crate::store::EXPIRE_EXECUTIONS)?.execute(rusqlite::params![cut_ms, batch])?;
                let samples = c.prepare_cached(crate::store::EXPIRE_SAMPLES)?.execute(rusqlite::params![cut_ms, batch])?;
                Ok((executions as u64, samples as u64))
            })
            .await
    }

    async fn gauges(&self) -> Result<crate::StoreGauges, StoreError> {
        let size = |suffix: &str| {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            std::fs::metadata(&name).map_or(0, |m| m.len())
        };
        Ok(crate::StoreGauges {
            write_queue: self.writer.queued() as u64,
            monitor_inbox: Some(self.inbox.waiting()),
            size_bytes: size("") + size("-wal"),
        })
    }

    fn monitor(&self) -> &dyn crate::monitor::MonitorStore {
        self
    }

    fn dashboard(&self) -> &dyn crate::dashboard::DashboardStore {
        self
    }

    fn flaky(&self) -> &dyn crate::flaky::FlakyStore {
        self
    }

    fn clusters(&self) -> &dyn crate::clusters::ClustersStore {
        self
    }

    fn controls(&self) -> &dyn crate::controls::ControlsStore {
        self
    }

    fn test_plans(&self) -> &dyn crate::test_plans::TestPlansStore {
        self
    }

    fn webhooks(&self) -> &dyn crate::webhooks::WebhooksStore {
        self
    }

    fn owners(&self) -> &dyn crate::owners::OwnersStore {
        self
    }

    fn reports(&self) -> &dyn crate::reports::ReportsStore {
        self
    }

    async fn create_suite(&self, suite: NewSuite) -> Result<Suite, StoreError> {
        self.writer.write(move |c| writes::create_suite(c, &suite)).await
    }

    async fn suites(&self) -> Result<Vec<Suite>, StoreError> {
        self.read(reads::suites).await
    }

    async fn suite_by_slug(&self, slug: &str) -> Result<Option<Suite>, StoreError> {
        let slug = slug.to_owned();
        self.read(move |c| reads::suite_where(c, "slug", &slug)).await
    }

    async fn suite_by_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError> {
        let hash = token_hash.to_owned();
        self.read(move |c| reads::suite_where(c, "token_hash", &hash)).await
    }

    async fn set_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError> {
        let (slug, hash) = (slug.to_owned(), token_hash.to_owned());
        self.writer.write(move |c| writes::set_token_hash(c, &slug, &hash)).await
    }

    async fn write_upload(&self, suite_id: i64, upload: Upload) -> Result<UploadReceipt, StoreError> {
        self.writer.write(move |c| writes::upload(c, suite_id, &upload, now_ms())).await
    }

    async fn import_upload(&self, suite_id: i64, upload: Upload, recorded_at_ms: i64) -> Result<UploadReceipt, StoreError> {
        self.writer.write(move |c| writes::upload(c, suite_id, &upload, recorded_at_ms)).await
    }

    async fn runs(&self, suite_id: i64, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let filter = filter.clone();
        self.read(move |c| reads::runs(c, suite_id, &filter)).await
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        self.read(move |c| reads::run(c, run_id)).await
    }

    async fn run_executions(&self, run_id: i64, result: Option<Outcome>, page: Page) -> Result<Vec<Execution>, StoreError> {
        self.read(move |c| reads::run_executions(c, run_id, result, page)).await
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>, StoreError> {
        self.read(move |c| reads::execution(c, id)).await
    }

    async fn execution_output(&self, id: i64) -> Result<Option<ExecutionOutput>, StoreError> {
        self.read(move |c| reads::execution_output(c, id)).await
    }

    async fn tests(&self, suite_id: i64, filter: &TestFilter) -> Result<Vec<TestStats>, StoreError> {
        let filter = filter.clone();
        self.read(move |c| reads::tests(c, suite_id, &filter)).await
    }

    async fn test(&self, test_id: i64) -> Result<Option<Test>, StoreError> {
        self.read(move |c| reads::test(c, test_id)).await
    }

    async fn test_history(&self, test_id: i64, filter: &HistoryFilter, page: Page) -> Result<Vec<HistoryEntry>, StoreError> {
        let filter = filter.clone();
        self.read(move |c| reads::test_history(c, test_id, &filter, page)).await
    }

    async fn batch_results(&self, suite_id: i64, job: &str, payload: &str) -> Result<Vec<BatchResult>, StoreError> {
        let (job, payload) = (job.to_owned(), payload.to_owned());
        self.read(move |c| reads::batch_results(c, suite_id, &job, &payload)).await
    }

    async fn test_records(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestRecord>, StoreError> {
        let selection = selection.clone();
        self.read(move |c| reads::test_records(c, suite_id, &selection)).await
    }

    async fn write_run_metrics(&self, run_id: i64, metrics: Vec<(String, f64)>) -> Result<(), StoreError> {
        self.writer.write(move |c| writes::run_metrics(c, run_id, &metrics)).await
    }

    async fn run_metrics(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<RunMetric>, StoreError> {
        let selection = selection.clone();
        self.read(move |c| reads::run_metrics(c, suite_id, &selection)).await
    }

    async fn test_durations(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestDurations>, StoreError> {
        let selection = selection.clone();
        self.read(move |c| reads::test_durations(c, suite_id, &selection)).await
    }
}
