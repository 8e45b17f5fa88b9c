//! PostgreSQL, for teams that run several stateless `verdict serve` nodes
//! against one database.

mod clusters;
mod controls;
mod dashboard;
mod flaky;
mod monitor;
mod owners;
mod reads;
mod reports;
mod test_plans;
mod webhooks;
mod writes;

use crate::error::StoreError;
use crate::store::{HistoryFilter, Page, RunFilter, RunSelection, Store, TestFilter};
use crate::views::*;
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use verdict_core::{Outcome, Upload};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_run_labels.sql")),
    (3, include_str!("migrations/0003_run_tests.sql")),
    (4, include_str!("migrations/0004_run_metrics.sql")),
    (5, include_str!("migrations/0005_pytest_monitor.sql")),
    (6, include_str!("migrations/0006_monitor_resources.sql")),
    (7, include_str!("migrations/0007_session_pipeline.sql")),
    (8, include_str!("migrations/0008_run_test_flakes.sql")),
    (9, include_str!("migrations/0009_long_identities.sql")),
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
/// SQL written for both dialects (`?1`, `?2`, ...) as PostgreSQL takes it (`$1`, `$2`, ...).
pub(crate) fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let numbered = c == '?' && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if numbered { '$' } else { c });
    }
    out
}

/// Serialises migrations of nodes that start at the same time.
const MIGRATION_LOCK: i64 = 0x0076_6572_6469_6374; // "verdict"

pub struct PgStore {
    pool: Pool,
    /// The ReSim project UUID once read (it never changes once made).
    project: std::sync::Arc<tokio::sync::OnceCell<uuid::Uuid>>,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?;
        Self::connect_with(config).await
    }

    /// Connect with every table inside `schema` (created if missing): one
    /// database can hold several independent Verdict stores, as tests do.
    pub async fn connect_in_schema(url: &str, schema: &str) -> Result<Self, StoreError> {
        if !schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
            return Err(StoreError::Database(format!("invalid schema name {schema:?}")));
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?;
        let (client, conn) = config.connect(NoTls).await?;
        tokio::spawn(conn);
        client.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}")).await?;
        config.options(format!("-c search_path={schema}"));
        Self::connect_with(config).await
    }

    async fn connect_with(config: tokio_postgres::Config) -> Result<Self, StoreError> {
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager).max_size(16).build().map_err(|e| StoreError::Database(format!("connection pool: {e}")))?;
        let store = PgStore { pool, project: Default::default() };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)").await?;
        let current: i64 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[]).await?.get(0);
        for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[version, &now_ms()]).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.pool.get().await?)
    }
}

/// What a test is unique on (see migration 0009): the SHA-256 of its scope,
/// a NUL and its name, the same bytes as the migration's `convert_to`.
pub(crate) fn test_identity(scope: &str, name: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(scope.as_bytes());
    h.update([0u8]);
    h.update(name.as_bytes());
    h.finalize().to_vec()
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn expire_history(&self, cut_ms: i64, batch: i64) -> Result<(u64, u64), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let executions = tx.execute(&dollars(crate::store::EXPIRE_EXECUTIONS), &[&cut_ms, &batch]).await?;
        let samples = tx.execute(&dollars(crate::store::EXPIRE_SAMPLES), &[&cut_ms, &batch]).await?;
        tx.commit().await?;
        Ok((executions, samples))
    }

    async fn gauges(&self) -> Result<crate::StoreGauges, StoreError> {
        let size: i64 = self.client().await?.query_one("SELECT pg_database_size(current_database())", &[]).await?.get(0);
        Ok(crate::StoreGauges { write_queue: self.pool.status().waiting as u64, monitor_inbox: None, size_bytes: size.max(0) as u64 })
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
        writes::create_suite(&**self.client().await?, &suite).await
    }

    async fn suites(&self) -> Result<Vec<Suite>, StoreError> {
        reads::suites(&**self.client().await?).await
    }

    async fn suite_by_slug(&self, slug: &str) -> Result<Option<Suite>, StoreError> {
        reads::suite_where(&**self.client().await?, "slug", slug).await
    }

    async fn suite_by_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError> {
        reads::suite_where(&**self.client().await?, "token_hash", token_hash).await
    }

    async fn set_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError> {
        writes::set_token_hash(&**self.client().await?, slug, token_hash).await
    }

    async fn write_upload(&self, suite_id: i64, upload: Upload) -> Result<UploadReceipt, StoreError> {
        let mut pooled = self.client().await?;
        let client: &mut tokio_postgres::Client = &mut pooled;
        writes::upload(client, suite_id, &upload, now_ms()).await
    }

    async fn import_upload(&self, suite_id: i64, upload: Upload, recorded_at_ms: i64) -> Result<UploadReceipt, StoreError> {
        let mut pooled = self.client().await?;
        let client: &mut tokio_postgres::Client = &mut pooled;
        writes::upload(client, suite_id, &upload, recorded_at_ms).await
    }

    async fn runs(&self, suite_id: i64, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        reads::runs(&**self.client().await?, suite_id, filter).await
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunDetail>, StoreError> {
        reads::run(&**self.client().await?, run_id).await
    }

    async fn run_executions(&self, run_id: i64, result: Option<Outcome>, page: Page) -> Result<Vec<Execution>, StoreError> {
        reads::run_executions(&**self.client().await?, run_id, result, page).await
    }

    async fn execution(&self, id: i64) -> Result<Option<Execution>, StoreError> {
        reads::execution(&**self.client().await?, id).await
    }

    async fn execution_output(&self, id: i64) -> Result<Option<ExecutionOutput>, StoreError> {
        reads::execution_output(&**self.client().await?, id).await
    }

    async fn tests(&self, suite_id: i64, filter: &TestFilter) -> Result<Vec<TestStats>, StoreError> {
        reads::tests(&**self.client().await?, suite_id, filter).await
    }

    async fn test(&self, test_id: i64) -> Result<Option<Test>, StoreError> {
        reads::test(&**self.client().await?, test_id).await
    }

    async fn test_history(&self, test_id: i64, filter: &HistoryFilter, page: Page) -> Result<Vec<HistoryEntry>, StoreError> {
        reads::test_history(&**self.client().await?, test_id, filter, page).await
    }

    async fn batch_results(&self, suite_id: i64, job: &str, payload: &str) -> Result<Vec<BatchResult>, StoreError> {
        reads::batch_results(&**self.client().await?, suite_id, job, payload).await
    }

    async fn test_records(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestRecord>, StoreError> {
        reads::test_records(&**self.client().await?, suite_id, selection).await
    }

    async fn write_run_metrics(&self, run_id: i64, metrics: Vec<(String, f64)>) -> Result<(), StoreError> {
        writes::run_metrics(&**self.client().await?, run_id, &metrics).await
    }

    async fn run_metrics(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<RunMetric>, StoreError> {
        reads::run_metrics(&**self.client().await?, suite_id, selection).await
    }

    async fn test_durations(&self, suite_id: i64, selection: &RunSelection) -> Result<Vec<TestDurations>, StoreError> {
        reads::test_durations(&**self.client().await?, suite_id, selection).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbered_placeholders_become_dollars() {
        assert_eq!(super::dollars("a = ?1 AND b IN (?12) AND c ? 'k'"), "a = $1 AND b IN ($12) AND c ? 'k'");
    }
}
