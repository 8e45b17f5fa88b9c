//! The suites overview (`/`): one row per suite over a window, each on its
//! own default branch.

use super::suite::{RunClass, RunPoint};
use super::tests::is_broken;
use super::{DAY_MS, MAX_SERIES_RUNS, View, bucket_of, rate};
use crate::AnalysisError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use verdict_core::stats::Proportion;
use verdict_store::dashboard::RunRange;
use verdict_store::{Store, Suite};

/// A suite without an upload for this long is folded under "Inactive".
pub const INACTIVE_AFTER_MS: i64 = 30 * DAY_MS;

#[derive(Debug, Clone, Serialize)]
pub struct SuiteRow {
    pub suite: Suite,
    /// Tests that ran on the default branch in the window.
    pub tests: i64,
    /// Runs on any branch per bucket of the window.
    pub runs_per_bucket: Vec<i64>,
    pub runs: i64,
    /// Passed ÷ finished runs on the default branch.
    pub run_reliability: Option<Proportion>,
    /// Tests that flaked in a run on the default branch.
    pub flaky: i64,
    /// Tests that failed in every run they ran on the default branch (at least 3).
    pub broken: i64,
    pub last_run: Option<RunPoint>,
    pub last_upload: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub view: View,
    pub suites: Vec<SuiteRow>,
    /// Suites without an upload for 30 days.
    pub inactive: Vec<SuiteRow>,
}

pub async fn overview(store: &dyn Store, view: View, now_ms: i64) -> Result<Overview, AnalysisError> {
    let bounds = view.buckets();
    let (mut suites, mut inactive) = (Vec::new(), Vec::new());
    for suite in store.suites().await? {
        let dash = store.dashboard();
        let all = RunRange { suite_id: suite.id, branch: None, since_ms: view.since_ms, until_ms: view.until_ms };
        let mut on_default = view.clone();
        on_default.branch = suite.default_branch.clone();
        let latest = RunRange { since_ms: i64::MIN, until_ms: i64::MAX, ..all.clone() };
        // Counts only: the rollup sums without the tests' names.
        let (first_day, end_day) = on_default.days();
        let (runs, last, totals) = tokio::try_join!(
            dash.run_series(&all, MAX_SERIES_RUNS),
            dash.run_series(&latest, 1),
            dash.suite_test_totals(suite.id, on_default.branch_filter(), first_day, end_day),
        )?;
        let records: Vec<_> = totals.iter().map(|(_, t)| t).filter(|t| t.runs_passed + t.runs_failed + t.runs_flaky > 0).collect();
        let mut per_bucket = vec![0; bounds.len()];
        let (mut passed, mut finished) = (0, 0);
        for r in &runs {
            if let Some(i) = bucket_of(&bounds, r.created_at.timestamp_millis()) {
                per_bucket[i] += 1;
            }
            if r.run_env.branch.as_deref() == Some(suite.default_branch.as_str()) {
                match RunClass::of(r) {
                    RunClass::Passed => (passed, finished) = (passed + 1, finished + 1),
                    RunClass::Failed | RunClass::Flaky => finished += 1,
                    RunClass::Pending => {}
                }
            }
        }
        let last_upload = last.first().map(|r| r.updated_at);
        let row = SuiteRow {
            tests: records.len() as i64,
            runs_per_bucket: per_bucket,
            runs: runs.len() as i64,
            run_reliability: rate(passed, finished),
            flaky: records.iter().filter(|r| r.runs_flaky > 0).count() as i64,
            broken: records.iter().filter(|r| is_broken(r.runs_passed, r.runs_failed, r.runs_flaky)).count() as i64,
            last_run: last.first().map(RunPoint::of),
            last_upload,
            suite,
        };
        let active = last_upload.is_some_and(|t| now_ms - t.timestamp_millis() < INACTIVE_AFTER_MS)
            || row.suite.created_at.timestamp_millis() > now_ms - INACTIVE_AFTER_MS;
        if active { suites.push(row) } else { inactive.push(row) }
    }
    Ok(Overview { view, suites, inactive })
}
