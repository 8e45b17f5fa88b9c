//! Reports on PostgreSQL (see `crate::reports`).

use super::{PgStore, dollars};
use crate::error::StoreError;
use crate::reports::*;
use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

fn report_of(r: &Row) -> StoredReport {
    StoredReport {
        id: r.get(0),
        report: NewReport {
            suite_id: r.get(1),
            branch: r.get(2),
            name: r.get(3),
            start_ms: r.get(4),
            end_ms: r.get(5),
            respect_revision: r.get(6),
            created_at_ms: r.get(7),
        },
        metrics_status: r.get(8),
        metrics_at_ms: r.get(9),
    }
}

fn job_of(r: &Row) -> RunJob {
    RunJob { test_id: r.get(0), scope: r.get(1), name: r.get(2), status: i64::from(r.get::<_, i16>(3)), suite_id: r.get(4) }
}

fn resources_of(r: &Row) -> JobResources {
    JobResources {
        run_id: r.get(0),
        test_id: r.get(1),
        memory_mb: r.get(2),
        cpu_usage: r.get(3),
        user_time: r.get(4),
        kernel_time: r.get(5),
    }
}

#[async_trait]
impl ReportsStore for PgStore {
    async fn project_id(&self) -> Result<Uuid, StoreError> {
        self.project.get_or_try_init(|| self.make_project_id()).await.copied()
    }

    async fn create_report(&self, report: NewReport) -> Result<StoredReport, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        // One creator per suite at a time, so the cap holds.
        tx.execute("SELECT 1 FROM suites WHERE id = $1 FOR UPDATE", &[&report.suite_id]).await?;
        let kept: i64 = tx.query_one("SELECT count(*) FROM reports WHERE suite_id = $1", &[&report.suite_id]).await?.get(0);
        if kept >= MAX_REPORTS_PER_SUITE {
            return Err(StoreError::Conflict(format!("the suite has {MAX_REPORTS_PER_SUITE} reports, the most kept")));
        }
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO reports (suite_id, branch, name, start_ms, end_ms, respect_revision, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {REPORT_COLS}"
                ),
                &[
                    &report.suite_id,
                    &report.branch,
                    &report.name,
                    &report.start_ms,
                    &report.end_ms,
                    &report.respect_revision,
                    &report.created_at_ms,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(report_of(&row))
    }

    async fn report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        let row = self.client().await?.query_opt(&format!("SELECT {REPORT_COLS} FROM reports WHERE id = $1"), &[&id]).await?;
        Ok(row.as_ref().map(report_of))
    }

    async fn set_report_metrics(&self, id: i64, metrics: Vec<u8>, view: String, status: String, at_ms: i64) -> Result<bool, StoreError> {
        let sql = dollars(SET_REPORT_METRICS);
        Ok(self.client().await?.execute(&sql, &[&id, &metrics, &view, &status, &at_ms]).await? == 1)
    }

    async fn report_metrics_view(&self, id: i64) -> Result<Option<String>, StoreError> {
        let sql = dollars(REPORT_METRICS_VIEW);
        Ok(self.client().await?.query_opt(&sql, &[&id]).await?.map(|r| r.get(0)))
    }

    async fn report_metrics(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let sql = dollars(REPORT_METRICS);
        Ok(self.client().await?.query_opt(&sql, &[&id]).await?.map(|r| r.get(0)))
    }

    async fn window_job_resources(&self, w: &ReportWindow) -> Result<Vec<JobResources>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &dollars(&job_resources_sql(WINDOW_RESOURCE_RUNS, "")).replace("$2 IS NULL", "$2::text IS NULL"),
                &[&w.suite_id, &w.branch, &w.since_ms, &w.until_ms],
            )
            .await?;
        Ok(latest_per_job(rows.iter().map(resources_of)))
    }

    async fn job_resources(&self, run_id: i64, test_id: i64) -> Result<Option<JobResources>, StoreError> {
        let rows = self.client().await?.query(&dollars(&job_resources_sql(ONE_JOB.0, ONE_JOB.1)), &[&run_id, &test_id]).await?;
        Ok(latest_per_job(rows.iter().map(resources_of)).pop())
    }

    async fn latest_reports(&self, suite_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError> {
        let sql = dollars(&format!("SELECT {REPORT_COLS} FROM reports {LATEST_REPORTS}"));
        Ok(self.client().await?.query(&sql, &[&suite_id, &limit]).await?.iter().map(report_of).collect())
    }

    async fn reports(&self, suite_id: Option<i64>, after_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError> {
        let rows = self
            .client()
            .await?
            .query(
                &format!("SELECT {REPORT_COLS} FROM reports WHERE ($1::bigint IS NULL OR suite_id = $1) AND id > $2 ORDER BY id LIMIT $3"),
                &[&suite_id, &after_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(report_of).collect())
    }

    async fn run_jobs(&self, run_id: i64, after_test_id: i64, limit: i64) -> Result<Vec<RunJob>, StoreError> {
        let rows = self.client().await?.query(&dollars(RUN_JOBS), &[&run_id, &after_test_id, &limit]).await?;
        Ok(rows.iter().map(job_of).collect())
    }

    async fn run_job(&self, run_id: i64, test_id: i64) -> Result<Option<(RunJob, Option<f64>)>, StoreError> {
        let row = self.client().await?.query_opt(&dollars(RUN_JOB), &[&run_id, &test_id]).await?;
        Ok(row.map(|r| (job_of(&r), r.get(5))))
    }

    async fn first_runs(&self, suite_id: i64, commits: &[String]) -> Result<Vec<FirstRun>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT s.sha, f.id, f.created_at FROM unnest($2::text[]) AS s(sha)
                 CROSS JOIN LATERAL (SELECT id, created_at FROM runs WHERE suite_id = $1 AND commit_sha = s.sha
                                     ORDER BY created_at, id LIMIT 1) f",
                &[&suite_id, &commits],
            )
            .await?;
        Ok(rows.iter().map(|r| FirstRun { commit_sha: r.get(0), run_id: r.get(1), created_ms: r.get(2) }).collect())
    }

    async fn window_jobs(&self, window: &ReportWindow) -> Result<WindowJobs, StoreError> {
        let w = window;
        let c = self.client().await?;
        let runs = c
            .query(&dollars(WINDOW_RUNS).replace("$2 IS NULL", "$2::text IS NULL"), &[&w.suite_id, &w.branch, &w.since_ms, &w.until_ms])
            .await?;
        let mut run_ids: Vec<i64> = runs.iter().map(|r| r.get(0)).collect();
        // In the rows' order: the walk below takes each run's rows in turn.
        run_ids.sort_unstable();
        let rows = c
            .query("SELECT run_id, test_id, status, duration FROM run_tests WHERE run_id = ANY($1) ORDER BY run_id, test_id", &[&run_ids])
            .await?;
        let mut tally = JobTally::default();
        let mut at = 0;
        for &run in &run_ids {
            let start = at;
            while at < rows.len() && rows[at].get::<_, i64>(0) == run {
                at += 1;
            }
            tally.add_run(run, rows[start..at].iter().map(|r| (r.get(1), i64::from(r.get::<_, i16>(2)), r.get(3))));
        }
        let tests = c.query(&dollars(TESTS_SEEN_SINCE), &[&w.suite_id, &w.since_ms.saturating_sub(LAST_SEEN_SLACK_MS)]).await?;
        Ok(tally.named(tests.iter().map(|r| (r.get(0), r.get(1), r.get(2)))))
    }

    async fn job_metrics(&self, run_id: i64, test_id: i64) -> Result<Vec<(String, f64)>, StoreError> {
        let rows = self.client().await?.query(&dollars(JOB_METRICS), &[&run_id, &test_id]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn window_job_metrics(&self, window: &ReportWindow) -> Result<Vec<(i64, String, f64)>, StoreError> {
        let w = window;
        let sql = dollars(WINDOW_JOB_METRICS).replace("$2 IS NULL", "$2::text IS NULL");
        let rows = self.client().await?.query(&sql, &[&w.suite_id, &w.branch, &w.since_ms, &w.until_ms]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    async fn suite_branches(&self, suite_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = self.client().await?.query(&dollars(SUITE_BRANCHES), &[&suite_id]).await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}

impl PgStore {
    async fn make_project_id(&self) -> Result<Uuid, StoreError> {
        let c = self.client().await?;
        let fresh = Uuid::new_v4().to_string();
        c.execute("INSERT INTO server_identity (name, value) VALUES ('resim_project', $1) ON CONFLICT DO NOTHING", &[&fresh]).await?;
        let value: String = c.query_one("SELECT value FROM server_identity WHERE name = 'resim_project'", &[]).await?.get(0);
        Uuid::parse_str(&value).map_err(|e| StoreError::Database(format!("stored project id {value:?}: {e}")))
    }
}
