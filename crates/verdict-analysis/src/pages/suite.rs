//! The suite summary (`/s/{suite}`): KPI cards with a Δ against the range
//! before, run outcomes and run time per bucket, suite size, the top tests
//! and the recent runs. Run figures come from the counts kept on `runs`.

use super::tests::{Sort, TestRow, fill_percentiles, sort_rows, test_rows};
use super::{CountKpi, MAX_SERIES_RUNS, RateKpi, View, bucket_of, rate};
use crate::AnalysisError;
use serde::Serialize;
use verdict_core::stats::{Proportion, quantile};
use verdict_store::{Run, Store, Suite};

/// Rows in each top list of the summary.
pub const TOP: usize = 10;
/// A run in which at least this share of its tests failed is flagged as an
/// infrastructure failure (Trunk's default).
pub const INFRA_FAILED_SHARE: f64 = 0.8;

/// How a run counts on the charts. A run with a failed execution is failed
/// (even when a retry passed); one whose only failures are flakes is shown
/// apart as `flaky`, and still counts as failed in the run reliability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunClass {
    Passed,
    Flaky,
    Failed,
    Pending,
}

impl RunClass {
    pub fn of(run: &Run) -> Self {
        match run.result.as_str() {
            "passed" => Self::Passed,
            "failed" if run.tests.failed == 0 && run.tests.flaky > 0 => Self::Flaky,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Flaky => "flaky",
            Self::Failed => "failed",
            Self::Pending => "pending",
        }
    }
}

/// Whether at least `INFRA_FAILED_SHARE` of a run's tests failed.
pub fn is_infra_failure(run: &Run) -> bool {
    let total = run.tests.total();
    total > 0 && run.tests.failed as f64 >= INFRA_FAILED_SHARE * total as f64
}

/// One chart bucket of runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunBucket {
    pub start: chrono::DateTime<chrono::Utc>,
    pub end: chrono::DateTime<chrono::Utc>,
    pub passed: i64,
    pub flaky: i64,
    pub failed: i64,
    pub pending: i64,
    /// Passed runs ÷ finished runs (passed + failed + flaky).
    pub reliability: Option<Proportion>,
    /// Of the runs' summed test seconds.
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    /// The most tests any run of the bucket had.
    pub tests: i64,
    /// Tests that flaked, summed over the bucket's runs.
    pub flaky_tests: i64,
}

/// A run as a chart point and a recent-runs row.
#[derive(Debug, Clone, Serialize)]
pub struct RunPoint {
    pub id: i64,
    pub number: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub message: Option<String>,
    pub url: Option<String>,
    pub class: RunClass,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub test_seconds: f64,
    pub tests: verdict_store::RunTestCounts,
}

impl RunPoint {
    pub fn of(r: &Run) -> Self {
        RunPoint {
            id: r.id,
            number: r.run_env.number.clone(),
            branch: r.run_env.branch.clone(),
            commit_sha: r.run_env.commit_sha.clone(),
            message: r.run_env.message.clone(),
            url: r.run_env.url.clone(),
            class: RunClass::of(r),
            created_at: r.created_at,
            test_seconds: r.test_seconds,
            tests: r.tests,
        }
    }
}

/// Tests whose record changed between the range before and this one.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Changes {
    /// Ran in both; failed (not only flaked) now, never before.
    pub newly_failing: i64,
    /// Ran in both; failed before, never now.
    pub fixed: i64,
    /// Ran now, not in the range before.
    pub new_tests: i64,
    /// Ran in the range before, not now.
    pub gone_tests: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Kpis {
    /// Tests that flaked in at least one run.
    pub flaky_tests: CountKpi,
    /// Tests that ran.
    pub tests: CountKpi,
    /// Passed runs ÷ finished runs.
    pub run_reliability: RateKpi,
    pub runs: CountKpi,
    pub failed_runs: CountKpi,
    /// Passed executions ÷ passed and failed executions.
    pub execution_reliability: RateKpi,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuiteSummary {
    pub suite: Suite,
    pub view: View,
    /// Branches with runs in the view's span, busiest first.
    pub branches: Vec<(String, i64)>,
    pub kpis: Kpis,
    pub buckets: Vec<RunBucket>,
    /// Every run of the view, oldest first (the run time chart).
    pub runs: Vec<RunPoint>,
    /// Runs in which at least 80% of the tests failed.
    pub infra_failures: i64,
    /// What changed since the range before.
    pub changes: Changes,
    pub most_failing: Vec<TestRow>,
    pub most_flaky: Vec<TestRow>,
    pub slowest: Vec<TestRow>,
    /// The newest runs, newest first.
    pub recent_runs: Vec<RunPoint>,
}

struct RunTotals {
    runs: i64,
    failed: i64,
    passed: i64,
    exec_passed: i64,
    exec_failed: i64,
}

fn totals(runs: &[Run]) -> RunTotals {
    let mut t = RunTotals { runs: 0, failed: 0, passed: 0, exec_passed: 0, exec_failed: 0 };
    for r in runs {
        t.runs += 1;
        match RunClass::of(r) {
            RunClass::Passed => t.passed += 1,
            RunClass::Failed | RunClass::Flaky => t.failed += 1,
            RunClass::Pending => {}
        }
        t.exec_passed += r.executions.passed;
        t.exec_failed += r.executions.failed;
    }
    t
}

/// How many rows a top list of `rows` keeps.
fn top_len(rows: &[TestRow], keep: impl Fn(&TestRow) -> bool) -> usize {
    rows.iter().filter(|r| keep(r)).count().min(TOP)
}

/// What changed between two ranges, from each test's failed runs in this
/// range (`now`: (test id, failed runs)) and the one before (by test id).
pub fn changes_between(now: impl Iterator<Item = (i64, i64)>, before: &std::collections::HashMap<i64, i64>) -> Changes {
    let mut changes = Changes::default();
    let mut seen = std::collections::HashSet::new();
    for (id, failed) in now {
        seen.insert(id);
        match before.get(&id) {
            None => changes.new_tests += 1,
            Some(&0) if failed > 0 => changes.newly_failing += 1,
            Some(&f) if f > 0 && failed == 0 => changes.fixed += 1,
            Some(_) => {}
        }
    }
    changes.gone_tests = before.keys().filter(|id| !seen.contains(id)).count() as i64;
    changes
}

pub async fn suite_summary(store: &dyn Store, suite: Suite, view: View) -> Result<SuiteSummary, AnalysisError> {
    let dash = store.dashboard();
    let before = view.previous();
    let (range, range_before) = (view.run_range(suite.id), before.run_range(suite.id));
    let (mut runs, previous_runs, branches, rows, previous_rows) = tokio::try_join!(
        async { Ok(dash.run_series(&range, MAX_SERIES_RUNS).await?) },
        async { Ok(dash.run_series(&range_before, MAX_SERIES_RUNS).await?) },
        async { Ok(dash.branches(&range).await?) },
        test_rows(store, &suite, &view),
        // The range before needs counts only, not names.
        async { Ok(dash.suite_test_totals(suite.id, before.branch_filter(), before.days().0, before.days().1).await?) },
    )?;
    runs.reverse();
    let bounds = view.buckets();
    let mut buckets: Vec<RunBucket> = bounds
        .iter()
        .map(|&(s, e)| RunBucket { start: verdict_store::ms_to_time(s), end: verdict_store::ms_to_time(e), ..Default::default() })
        .collect();
    let mut seconds: Vec<Vec<f64>> = vec![Vec::new(); bounds.len()];
    let mut exec = vec![(0i64, 0i64); bounds.len()];
    for r in &runs {
        let Some(i) = bucket_of(&bounds, r.created_at.timestamp_millis()) else { continue };
        let b = &mut buckets[i];
        match RunClass::of(r) {
            RunClass::Passed => b.passed += 1,
            RunClass::Flaky => b.flaky += 1,
            RunClass::Failed => b.failed += 1,
            RunClass::Pending => b.pending += 1,
        }
        b.tests = b.tests.max(r.tests.total());
        b.flaky_tests += r.tests.flaky;
        seconds[i].push(r.test_seconds);
        exec[i].0 += r.executions.passed;
        exec[i].1 += r.executions.failed;
    }
    for (b, s) in buckets.iter_mut().zip(&mut seconds) {
        b.reliability = rate(b.passed, b.passed + b.failed + b.flaky);
        b.p50_seconds = quantile(s, 0.5);
        b.p95_seconds = quantile(s, 0.95);
    }
    let (now, then) = (totals(&runs), totals(&previous_runs));
    let flaky_now = rows.iter().filter(|r| r.flaky_runs > 0).count() as i64;
    let flaky_then = previous_rows.iter().filter(|(_, r)| r.runs_flaky > 0).count() as i64;
    let kpis = Kpis {
        flaky_tests: CountKpi { value: flaky_now, previous: flaky_then, series: buckets.iter().map(|b| b.flaky_tests).collect() },
        tests: CountKpi {
            value: rows.len() as i64,
            previous: previous_rows.len() as i64,
            series: buckets.iter().map(|b| b.tests).collect(),
        },
        run_reliability: RateKpi {
            value: rate(now.passed, now.passed + now.failed),
            previous: rate(then.passed, then.passed + then.failed),
            series: buckets.iter().map(|b| b.reliability.map(|p| p.rate)).collect(),
        },
        runs: CountKpi {
            value: now.runs,
            previous: then.runs,
            series: buckets.iter().map(|b| b.passed + b.failed + b.flaky + b.pending).collect(),
        },
        failed_runs: CountKpi { value: now.failed, previous: then.failed, series: buckets.iter().map(|b| b.failed + b.flaky).collect() },
        execution_reliability: RateKpi {
            value: rate(now.exec_passed, now.exec_passed + now.exec_failed),
            previous: rate(then.exec_passed, then.exec_passed + then.exec_failed),
            series: exec.iter().map(|&(p, f)| rate(p, p + f).map(|p| p.rate)).collect(),
        },
    };
    let top = |sort: Sort, keep: &dyn Fn(&TestRow) -> bool| {
        let mut picked: Vec<TestRow> = rows.iter().filter(|r| keep(r)).cloned().collect();
        sort_rows(&mut picked, sort, false);
        picked.truncate(TOP);
        picked
    };
    // One read of the three lists' durations.
    let mut shown: Vec<TestRow> =
        [top(Sort::Failing, &|r| r.failed_runs > 0), top(Sort::Flaky, &|r| r.flaky_runs > 0), top(Sort::Total, &|r| r.executions > 0)]
            .concat();
    let (failing_n, flaky_n) = (top_len(&rows, |r| r.failed_runs > 0), top_len(&rows, |r| r.flaky_runs > 0));
    fill_percentiles(store, &suite, &view, &mut shown).await?;
    let slowest = shown.split_off(failing_n + flaky_n);
    let most_flaky = shown.split_off(failing_n);
    let most_failing = shown;
    let infra_failures = runs.iter().filter(|r| is_infra_failure(r)).count() as i64;
    let before_failed: std::collections::HashMap<i64, i64> = previous_rows
        .iter()
        .filter(|(_, r)| r.runs_passed + r.runs_failed + r.runs_flaky > 0)
        .map(|(id, r)| (*id, r.runs_failed))
        .collect();
    let changes = changes_between(rows.iter().map(|r| (r.test.id, r.failed_runs)), &before_failed);
    let recent_runs = runs.iter().rev().take(TOP).map(RunPoint::of).collect();
    Ok(SuiteSummary {
        runs: runs.iter().map(RunPoint::of).collect(),
        suite,
        view,
        branches,
        kpis,
        buckets,
        infra_failures,
        changes,
        most_failing,
        most_flaky,
        slowest,
        recent_runs,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn changes_since_the_range_before() {
        let before = [(1, 0), (2, 3), (3, 1), (4, 0)].into_iter().collect();
        let now = [(1, 2), (2, 0), (3, 1), (5, 0)].into_iter();
        assert_eq!(changes_between(now, &before), Changes { newly_failing: 1, fixed: 1, new_tests: 1, gone_tests: 1 });
    }
}
