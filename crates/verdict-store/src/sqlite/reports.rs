//! Reports on SQLite (see `crate::reports`).

use super::SqliteStore;
use crate::error::StoreError;
use crate::reports::*;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};
use uuid::Uuid;

fn report_of(r: &Row) -> rusqlite::Result<StoredReport> {
    Ok(StoredReport {
        id: r.get(0)?,
        report: NewReport {
            suite_id: r.get(1)?,
            branch: r.get(2)?,
            name: r.get(3)?,
            start_ms: r.get(4)?,
            end_ms: r.get(5)?,
            respect_revision: r.get(6)?,
            created_at_ms: r.get(7)?,
        },
        metrics_status: r.get(8)?,
        metrics_at_ms: r.get(9)?,
    })
}

fn resources_of(r: &Row) -> rusqlite::Result<JobResources> {
    Ok(JobResources {
        run_id: r.get(0)?,
        test_id: r.get(1)?,
        memory_mb: r.get(2)?,
        cpu_usage: r.get(3)?,
        user_time: r.get(4)?,
        kernel_time: r.get(5)?,
    })
}

fn job_of(r: &Row) -> rusqlite::Result<RunJob> {
    Ok(RunJob { test_id: r.get(0)?, scope: r.get(1)?, name: r.get(2)?, status: r.get(3)?, suite_id: r.get(4)? })
}

#[async_trait]
impl ReportsStore for SqliteStore {
    async fn project_id(&self) -> Result<Uuid, StoreError> {
        self.project.get_or_try_init(|| self.make_project_id()).await.copied()
    }

    async fn create_report(&self, report: NewReport) -> Result<StoredReport, StoreError> {
        self.writer
            .write_small(move |c| {
                let kept: i64 =
                    c.prepare_cached("SELECT count(*) FROM reports WHERE suite_id = ?1")?.query_row([report.suite_id], |r| r.get(0))?;
                if kept >= MAX_REPORTS_PER_SUITE {
                    return Err(StoreError::Conflict(format!("the suite has {MAX_REPORTS_PER_SUITE} reports, the most kept")));
                }
                Ok(c.prepare_cached(&format!(
                    "INSERT INTO reports (suite_id, branch, name, start_ms, end_ms, respect_revision, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING {REPORT_COLS}"
                ))?
                .query_row(
                    params![
                        report.suite_id,
                        report.branch,
                        report.name,
                        report.start_ms,
                        report.end_ms,
                        report.respect_revision,
                        report.created_at_ms
                    ],
                    report_of,
                )?)
            })
            .await
    }

    async fn report(&self, id: i64) -> Result<Option<StoredReport>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {REPORT_COLS} FROM reports WHERE id = ?1"))?.query_row([id], report_of).optional()?)
        })
        .await
    }

    async fn set_report_metrics(&self, id: i64, metrics: Vec<u8>, view: String, status: String, at_ms: i64) -> Result<bool, StoreError> {
        self.writer
            .write_small(move |c| Ok(c.prepare_cached(SET_REPORT_METRICS)?.execute(params![id, metrics, view, status, at_ms])? == 1))
            .await
    }

    async fn report_metrics_view(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.read_here(move |c| Ok(c.prepare_cached(REPORT_METRICS_VIEW)?.query_row([id], |r| r.get(0)).optional()?)).await
    }

    async fn report_metrics(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read_here(move |c| Ok(c.prepare_cached(REPORT_METRICS)?.query_row([id], |r| r.get(0)).optional()?)).await
    }

    async fn window_job_resources(&self, w: &ReportWindow) -> Result<Vec<JobResources>, StoreError> {
        // Samples acknowledged but still in the inbox are read too.
        self.settle().await?;
        let w = w.clone();
        self.read_here(move |c| {
            let rows = c
                .prepare_cached(&job_resources_sql(WINDOW_RESOURCE_RUNS, ""))?
                .query_map(params![w.suite_id, w.branch, w.since_ms, w.until_ms], resources_of)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(latest_per_job(rows.into_iter()))
        })
        .await
    }

    async fn job_resources(&self, run_id: i64, test_id: i64) -> Result<Option<JobResources>, StoreError> {
        self.settle().await?;
        self.read_here(move |c| {
            let rows = c
                .prepare_cached(&job_resources_sql(ONE_JOB.0, ONE_JOB.1))?
                .query_map(params![run_id, test_id], resources_of)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(latest_per_job(rows.into_iter()).pop())
        })
        .await
    }

    async fn latest_reports(&self, suite_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(&format!("SELECT {REPORT_COLS} FROM reports {LATEST_REPORTS}"))?
                .query_map(params![suite_id, limit], report_of)?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn reports(&self, suite_id: Option<i64>, after_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {REPORT_COLS} FROM reports WHERE (?1 IS NULL OR suite_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3"
            ))?
            .query_map(params![suite_id, after_id, limit], report_of)?
            .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn run_jobs(&self, run_id: i64, after_test_id: i64, limit: i64) -> Result<Vec<RunJob>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(RUN_JOBS)?.query_map(params![run_id, after_test_id, limit], job_of)?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn run_job(&self, run_id: i64, test_id: i64) -> Result<Option<(RunJob, Option<f64>)>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(RUN_JOB)?.query_row(params![run_id, test_id], |r| Ok((job_of(r)?, r.get(5)?))).optional()?)
        })
        .await
    }

    async fn first_runs(&self, suite_id: i64, commits: &[String]) -> Result<Vec<FirstRun>, StoreError> {
        let commits = commits.to_vec();
        self.read_here(move |c| {
            let mut first = c.prepare_cached(FIRST_RUN_OF_COMMIT)?;
            let mut out = Vec::with_capacity(commits.len());
            for sha in commits {
                if let Some((run_id, created_ms)) = first.query_row(params![suite_id, sha], |r| Ok((r.get(0)?, r.get(1)?))).optional()? {
                    out.push(FirstRun { commit_sha: sha, run_id, created_ms });
                }
            }
            Ok(out)
        })
        .await
    }

    async fn window_jobs(&self, window: &ReportWindow) -> Result<WindowJobs, StoreError> {
        let w = window.clone();
        let runs: Vec<i64> = self
            .read_here(move |c| {
                Ok(c.prepare_cached(WINDOW_RUNS)?
                    .query_map(params![w.suite_id, w.branch, w.since_ms, w.until_ms], |r| r.get(0))?
                    .collect::<Result<_, _>>()?)
            })
            .await?;
        // Two halves on two reader connections: the rows are read in parallel.
        let half = runs.len().div_ceil(2);
        let tally = |runs: Vec<i64>| {
            self.read(move |c| {
                let mut rows = c.prepare_cached(RUN_JOB_ROWS)?;
                let mut tally = JobTally::default();
                for run in runs {
                    let mut failed = None;
                    let got = rows.query_map([run], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                    tally.add_run(run, got.map_while(|row| row.map_err(|e| failed = Some(e)).ok()));
                    if let Some(e) = failed {
                        return Err(e.into());
                    }
                }
                Ok(tally)
            })
        };
        let (second, first) = (runs[half..].to_vec(), runs[..half].to_vec());
        let (a, b) = tokio::join!(tally(first), tally(second));
        let tally = a?.merge(b?);
        let (suite_id, since) = (window.suite_id, window.since_ms.saturating_sub(LAST_SEEN_SLACK_MS));
        let tests: Vec<(i64, String, String)> = self
            .read(move |c| {
                Ok(c.prepare_cached(TESTS_SEEN_SINCE)?
                    .query_map(params![suite_id, since], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()?)
            })
            .await?;
        Ok(tally.named(tests.into_iter()))
    }

    async fn job_metrics(&self, run_id: i64, test_id: i64) -> Result<Vec<(String, f64)>, StoreError> {
        self.read_here(move |c| {
            Ok(c.prepare_cached(JOB_METRICS)?
                .query_map(params![run_id, test_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn window_job_metrics(&self, window: &ReportWindow) -> Result<Vec<(i64, String, f64)>, StoreError> {
        let w = window.clone();
        self.read(move |c| {
            Ok(c.prepare_cached(WINDOW_JOB_METRICS)?
                .query_map(params![w.suite_id, w.branch, w.since_ms, w.until_ms], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn suite_branches(&self, suite_id: i64) -> Result<Vec<String>, StoreError> {
        self.read(move |c| Ok(c.prepare_cached(SUITE_BRANCHES)?.query_map([suite_id], |r| r.get(0))?.collect::<Result<_, _>>()?)).await
    }
}

impl SqliteStore {
    async fn make_project_id(&self) -> Result<Uuid, StoreError> {
        let read = |c: &rusqlite::Connection| -> Result<Option<String>, StoreError> {
            Ok(c.prepare_cached("SELECT value FROM server_identity WHERE name = 'resim_project'")?
                .query_row([], |r| r.get(0))
                .optional()?)
        };
        let value = match self.read_here(read).await? {
            Some(v) => v,
            None => {
                let fresh = Uuid::new_v4().to_string();
                self.writer
                    .write_small(move |c| {
                        c.prepare_cached("INSERT INTO server_identity (name, value) VALUES ('resim_project', ?1) ON CONFLICT DO NOTHING")?
                            .execute([fresh])?;
                        read(c)?.ok_or_else(|| StoreError::Database("the project id was not kept".into()))
                    })
                    .await?
            }
        };
        Uuid::parse_str(&value).map_err(|e| StoreError::Database(format!("stored project id {value:?}: {e}")))
    }
}
