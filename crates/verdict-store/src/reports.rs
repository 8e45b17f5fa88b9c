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
    pub suite_id: i64,
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

/// A job's pytest-monitor sample (the last one when a test has several in a
/// run): memory in MB, CPU as a share of wall time, user and kernel seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct JobResources {
    pub run_id: i64,
    pub test_id: i64,
    pub memory_mb: f64,
    pub cpu_usage: f64,
    pub user_time: f64,
    pub kernel_time: f64,
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
/// One run's (run, test) rows: a test's combined status and summed seconds in it.
pub(crate) const RUN_JOB_ROWS: &str = "SELECT test_id, status, duration FROM run_tests WHERE run_id = ?1";
/// The suite's tests seen since `?2`: pass an hour before the window, as
/// `last_seen` is refreshed at most hourly.
pub(crate) const TESTS_SEEN_SINCE: &str = "SELECT id, scope, name FROM tests WHERE suite_id = ?1 AND last_seen >= ?2";
pub(crate) const LAST_SEEN_SLACK_MS: i64 = 3_600_000;

/// What a native report reads of a window's (run, test) rows, reduced as
/// they are read: per test its runs by conflated status, per run its jobs' seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowJobs {
    pub tests: Vec<TestStatusCounts>,
    /// Per run, its timed jobs' durations (s), in no order.
    pub durations: Vec<(i64, Vec<f64>)>,
}

/// Per test, `[passed, warning, blocker, cancelled]`, from `run_tests.status`
/// (the mapping of `verdict_core::resim::status`), and per run its jobs'
/// seconds. The tests are kept sorted by id and each run's rows come in
/// test order (the key's), so a run is merged in by one walk, not a hash
/// per row: at 10M rows that was a third of the report.
#[derive(Debug, Default)]
pub(crate) struct JobTally {
    tests: Vec<(i64, [i64; 4])>,
    pub durations: Vec<(i64, Vec<f64>)>,
}

/// The `[passed, warning, blocker, cancelled]` slot of a `run_tests.status`.
fn slot_of(status: i64) -> usize {
    use verdict_core::resim::ConflatedJob::*;
    match verdict_core::resim::ConflatedJob::of_run_test(status) {
        Passed => 0,
        Warning => 1,
        Blocker => 2,
        Error | Cancelled => 3,
    }
}

impl JobTally {
    /// One run's rows `(test, status, seconds)`, best in test order (any order is counted right).
    pub fn add_run(&mut self, run_id: i64, rows: impl Iterator<Item = (i64, i64, Option<f64>)>) {
        let (mut seconds, mut fresh) = (Vec::new(), Vec::new());
        let (mut at, mut prev) = (0usize, i64::MIN);
        for (test, status, duration) in rows {
            if test < prev {
                at = self.tests.partition_point(|t| t.0 < test);
            }
            prev = test;
            while at < self.tests.len() && self.tests[at].0 < test {
                at += 1;
            }
            let slot = slot_of(status);
            match self.tests.get_mut(at) {
                Some((id, counts)) if *id == test => counts[slot] += 1,
                _ => {
                    let mut counts = [0; 4];
                    counts[slot] = 1;
                    fresh.push((test, counts));
                }
            }
            seconds.extend(duration);
        }
        if !fresh.is_empty() {
            self.tests.extend(fresh);
            self.settle();
        }
        self.durations.push((run_id, seconds));
    }

    /// Sorted by test, one entry per test (the counts of repeats summed).
    fn settle(&mut self) {
        self.tests.sort_unstable_by_key(|t| t.0);
        self.tests.dedup_by(|later, kept| {
            if later.0 != kept.0 {
                return false;
            }
            for k in 0..4 {
                kept.1[k] += later.1[k];
            }
            true
        });
    }

    pub fn merge(mut self, other: JobTally) -> JobTally {
        self.tests.extend(other.tests);
        self.settle();
        self.durations.extend(other.durations);
        self
    }

    /// Named by `tests` (id, scope, name); tests without a name row are left out.
    pub fn named(self, tests: impl Iterator<Item = (i64, String, String)>) -> WindowJobs {
        let counted = self.tests;
        let tests = tests
            .filter_map(|(id, scope, name)| {
                let at = counted.binary_search_by_key(&id, |t| t.0).ok()?;
                let [passed, warning, blocker, cancelled] = counted[at].1;
                Some(TestStatusCounts { test_id: id, scope, name, passed, warning, blocker, cancelled })
            })
            .collect();
        WindowJobs { tests, durations: self.durations }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_counts_runs_in_any_order_once_per_test() {
        let mut a = JobTally::default();
        a.add_run(1, [(1, 1, Some(1.0)), (2, 2, None), (5, 1 | 2 | 8, Some(2.0))].into_iter());
        a.add_run(2, [(5, 1, None), (1, 4, None), (3, 1, Some(0.5))].into_iter());
        let mut b = JobTally::default();
        b.add_run(3, [(2, 1, None), (1, 1, None)].into_iter());
        let t = a.merge(b);
        assert_eq!(t.tests, vec![(1, [2, 0, 0, 1]), (2, [1, 0, 1, 0]), (3, [1, 0, 0, 0]), (5, [1, 1, 0, 0])]);
        let named = t.named([(5, "s".into(), "e".into()), (9, "s".into(), "gone".into())].into_iter());
        assert_eq!(named.tests.len(), 1);
        assert_eq!((named.tests[0].passed, named.tests[0].warning), (1, 1));
        assert_eq!(named.durations, vec![(1, vec![1.0, 2.0]), (2, vec![0.5]), (3, vec![])]);
    }
}

pub(crate) const REPORT_COLS: &str =
    "id, suite_id, branch, name, start_ms, end_ms, respect_revision, created_at, metrics_status, metrics_at";
pub(crate) const LATEST_REPORTS: &str = "WHERE suite_id = ?1 ORDER BY id DESC LIMIT ?2";
pub(crate) const SET_REPORT_METRICS: &str =
    "UPDATE reports SET metrics = ?2, metrics_view = ?3, metrics_status = ?4, metrics_at = ?5 WHERE id = ?1";
pub(crate) const REPORT_METRICS: &str = "SELECT metrics FROM reports WHERE id = ?1 AND metrics IS NOT NULL";
pub(crate) const REPORT_METRICS_VIEW: &str = "SELECT metrics_view FROM reports WHERE id = ?1 AND metrics_view IS NOT NULL";
pub(crate) const RUN_JOBS: &str =
    "SELECT rt.test_id, t.scope, t.name, rt.status, t.suite_id FROM run_tests rt JOIN tests t ON t.id = rt.test_id
     WHERE rt.run_id = ?1 AND rt.test_id > ?2 ORDER BY rt.test_id LIMIT ?3";
pub(crate) const RUN_JOB: &str =
    "SELECT rt.test_id, t.scope, t.name, rt.status, t.suite_id, rt.duration FROM run_tests rt JOIN tests t ON t.id = rt.test_id
     WHERE rt.run_id = ?1 AND rt.test_id = ?2";
pub(crate) const JOB_METRICS: &str = "SELECT name, value FROM job_metrics WHERE run_id = ?1 AND test_id = ?2 ORDER BY name";
pub(crate) const WINDOW_JOB_METRICS: &str = "SELECT m.run_id, m.name, m.value FROM runs r JOIN job_metrics m ON m.run_id = r.id
     WHERE r.suite_id = ?1 AND (?2 IS NULL OR r.branch = ?2) AND r.created_at >= ?3 AND r.created_at < ?4";
/// The samples of jobs: those of their own run (a pytest-monitor session is
/// a run), or of a pytest-monitor session of the same CI build (the same
/// commit and build number) when the results came by another way; samples
/// of modules left out. Ordered so the last of each (run, test) is the
/// latest sample. `runs` picks the runs (`r`), `tests` narrows the samples (`m`).
pub(crate) fn job_resources_sql(runs: &str, tests: &str) -> String {
    let cols = "m.test_id, m.mem_usage, m.cpu_usage, m.user_time, m.kernel_time, m.id";
    let samples = format!("m.kind = 'function' AND m.test_id IS NOT NULL{tests}");
    format!(
        "SELECT run_id, test_id, mem_usage, cpu_usage, user_time, kernel_time FROM (
           SELECT r.id AS run_id, {cols} AS sample FROM runs r JOIN monitor_metrics m ON m.run_id = r.id WHERE {runs} AND {samples}
           UNION ALL
           SELECT r.id, {cols} FROM runs r
             JOIN runs s ON s.suite_id = r.suite_id AND s.commit_sha = r.commit_sha AND s.number = r.number AND s.id <> r.id
             JOIN monitor_metrics m ON m.run_id = s.id WHERE {runs} AND {samples}
         ) x ORDER BY run_id, test_id, sample"
    )
}
pub(crate) const WINDOW_RESOURCE_RUNS: &str =
    "r.suite_id = ?1 AND (?2 IS NULL OR r.branch = ?2) AND r.created_at >= ?3 AND r.created_at < ?4";
pub(crate) const ONE_JOB: (&str, &str) = ("r.id = ?1", " AND m.test_id = ?2");

/// One sample per (run, test): the latest, of rows ordered by `job_resources_sql`.
pub(crate) fn latest_per_job(rows: impl Iterator<Item = JobResources>) -> Vec<JobResources> {
    let mut out: Vec<JobResources> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some(last) if last.run_id == r.run_id && last.test_id == r.test_id => *last = r,
            _ => out.push(r),
        }
    }
    out
}

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
    /// Keep a report-metrics program's output (`metrics.binproto`, already
    /// validated), what a page shows of it (`view`, JSON) and its overall
    /// status, replacing any earlier; false when the report does not exist.
    async fn set_report_metrics(&self, id: i64, metrics: Vec<u8>, view: String, status: String, at_ms: i64) -> Result<bool, StoreError>;
    /// The stored output, once a program ran.
    async fn report_metrics(&self, id: i64) -> Result<Option<Vec<u8>>, StoreError>;
    /// What a page shows of it, once a program ran.
    async fn report_metrics_view(&self, id: i64) -> Result<Option<String>, StoreError>;
    /// A suite's latest reports, newest first.
    async fn latest_reports(&self, suite_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError>;
    /// Reports by id, oldest first, after `after_id`; of one suite or of all.
    async fn reports(&self, suite_id: Option<i64>, after_id: i64, limit: i64) -> Result<Vec<StoredReport>, StoreError>;
    /// A run's tests in test-id order, after `after_test_id`.
    async fn run_jobs(&self, run_id: i64, after_test_id: i64, limit: i64) -> Result<Vec<RunJob>, StoreError>;
    /// One test's result in one run, with its summed duration (s) when timed.
    async fn run_job(&self, run_id: i64, test_id: i64) -> Result<Option<(RunJob, Option<f64>)>, StoreError>;
    /// One job's named numbers (`metric:NAME`), by name.
    async fn job_metrics(&self, run_id: i64, test_id: i64) -> Result<Vec<(String, f64)>, StoreError>;
    /// Every named number of the window's jobs: `(run_id, name, value)`.
    async fn window_job_metrics(&self, window: &ReportWindow) -> Result<Vec<(i64, String, f64)>, StoreError>;
    /// The pytest-monitor samples of the window's jobs (see `job_resources_sql`), one per job.
    async fn window_job_resources(&self, window: &ReportWindow) -> Result<Vec<JobResources>, StoreError>;
    /// One job's sample, when it has one.
    async fn job_resources(&self, run_id: i64, test_id: i64) -> Result<Option<JobResources>, StoreError>;
    /// Per commit, the first run that carried it (commits never seen are left out).
    async fn first_runs(&self, suite_id: i64, commits: &[String]) -> Result<Vec<FirstRun>, StoreError>;
    /// The window's (run, test) rows, reduced: per test its runs by
    /// conflated status, per run its timed jobs' durations (s; a test's
    /// results in the run summed).
    async fn window_jobs(&self, window: &ReportWindow) -> Result<WindowJobs, StoreError>;
    /// Every branch a run of the suite named.
    async fn suite_branches(&self, suite_id: i64) -> Result<Vec<String>, StoreError>;
}
