//! The tests list (`/s/{suite}/tests`): every test of the suite with its
//! record over the view's runs, searched, filtered, sorted and paged on the
//! server. Rates are per run: a run in which the test flaked is neither a
//! pass nor a failure of it, and counts in the flake rate.

use super::{TestRef, View, matches_search, rate};
use crate::AnalysisError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use verdict_core::stats::{Proportion, quantile};
use verdict_store::{Store, Suite};

/// Rows on one page of the list.
pub const PER_PAGE: usize = 100;
/// A test that failed in every run it ran, at least this many, is broken.
pub const BROKEN_MIN_RUNS: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TestState {
    /// Failed in every run it ran in the view, at least `BROKEN_MIN_RUNS`.
    Broken,
    /// Flaked (passed and failed) in at least one run of the view.
    Flaky,
    /// First seen inside the view.
    New,
    Healthy,
}

impl TestState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Broken => "broken",
            Self::Flaky => "flaky",
            Self::New => "new",
            Self::Healthy => "healthy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Broken, Self::Flaky, Self::New, Self::Healthy].into_iter().find(|t| t.as_str() == s)
    }
}

/// How the list is ordered; each rate by the bound its data can defend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// Upper bound of reliability, ascending: least reliable first.
    Reliability,
    /// Lower bound of the failure rate, descending.
    Failing,
    /// Lower bound of the flake rate, descending.
    Flaky,
    P50,
    P95,
    /// Summed duration in the view, descending.
    Total,
    /// First seen, newest first.
    New,
    /// Last seen, newest first.
    Last,
    Name,
}

impl Sort {
    pub const ALL: [Sort; 9] =
        [Sort::Reliability, Sort::Failing, Sort::Flaky, Sort::P50, Sort::P95, Sort::Total, Sort::New, Sort::Last, Sort::Name];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Reliability => "reliability",
            Sort::Failing => "failing",
            Sort::Flaky => "flaky",
            Sort::P50 => "p50",
            Sort::P95 => "p95",
            Sort::Total => "total",
            Sort::New => "new",
            Sort::Last => "last",
            Sort::Name => "name",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct TestsQuery {
    pub q: Option<String>,
    pub state: Option<TestState>,
    pub sort: Sort,
    /// Reverse the sort's natural direction.
    pub reverse: bool,
    /// 1-based.
    pub page: usize,
}

impl Default for TestsQuery {
    fn default() -> Self {
        TestsQuery { q: None, state: None, sort: Sort::Reliability, reverse: false, page: 1 }
    }
}

/// One test's record over the view.
#[derive(Debug, Clone, Serialize)]
pub struct TestRow {
    pub test: TestRef,
    pub file_name: Option<String>,
    /// What the test did in the view (window-based; `state=` filters on it).
    pub state: TestState,
    /// The kept flaky/broken state on the view's branch (`None` until a run of it was analysed).
    pub tracked_state: Option<verdict_core::flaky::State>,
    /// Runs it passed or failed or flaked in.
    pub runs: i64,
    pub passed_runs: i64,
    pub failed_runs: i64,
    pub flaky_runs: i64,
    /// Runs passed without a failure ÷ runs.
    pub reliability: Option<Proportion>,
    pub failure_rate: Option<Proportion>,
    pub flake_rate: Option<Proportion>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    /// Summed seconds of its timed executions, from the daily rollups of the
    /// whole UTC days the view touches.
    pub total_seconds: f64,
    /// Its executions (attempts included), from the same rollups.
    pub executions: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestsPage {
    pub view: View,
    pub q: Option<String>,
    pub state: Option<TestState>,
    pub sort: Sort,
    /// `natural` (the sort's own direction) or `reverse`.
    pub dir: &'static str,
    pub page: usize,
    pub per_page: usize,
    /// Tests matching the search and state, on all pages.
    pub total: usize,
    pub rows: Vec<TestRow>,
}

/// Whether a test failed in every run it ran (passed, failed, flaky runs), at least `BROKEN_MIN_RUNS`.
pub fn is_broken(passed: i64, failed: i64, flaky: i64) -> bool {
    failed >= BROKEN_MIN_RUNS && passed == 0 && flaky == 0
}

/// Every test with a run in the view, unsorted, from the daily rollups of
/// the whole UTC days the view touches: run counts by outcome, total time,
/// executions. p50 and p95 are left for [`fill_percentiles`], which reads
/// them exactly for the rows a page shows.
pub async fn test_rows(store: &dyn Store, suite: &Suite, view: &View) -> Result<Vec<TestRow>, AnalysisError> {
    let (first_day, end_day) = view.days();
    let found = store.dashboard().suite_test_rows(suite.id, view.branch_filter(), first_day, end_day).await?;
    let mut rows = Vec::with_capacity(found.len());
    for (t, r) in &found {
        let runs = r.runs_passed + r.runs_failed + r.runs_flaky;
        if runs == 0 {
            continue;
        }
        let state = if is_broken(r.runs_passed, r.runs_failed, r.runs_flaky) {
            TestState::Broken
        } else if r.runs_flaky > 0 {
            TestState::Flaky
        } else if t.first_seen.timestamp_millis() >= view.since_ms {
            TestState::New
        } else {
            TestState::Healthy
        };
        rows.push(TestRow {
            test: TestRef::of(t),
            file_name: t.file_name.clone(),
            state,
            tracked_state: None,
            runs,
            passed_runs: r.runs_passed,
            failed_runs: r.runs_failed,
            flaky_runs: r.runs_flaky,
            reliability: rate(r.runs_passed, runs),
            failure_rate: rate(r.runs_failed, runs),
            flake_rate: rate(r.runs_flaky, runs),
            total_seconds: r.duration_sum,
            executions: r.counts.total(),
            p50: None,
            p95: None,
            first_seen: t.first_seen,
            last_seen: t.last_seen,
        });
    }
    Ok(rows)
}

/// p50 and p95 of `rows` from every timed execution of theirs in the view.
pub async fn fill_percentiles(store: &dyn Store, suite: &Suite, view: &View, rows: &mut [TestRow]) -> Result<(), AnalysisError> {
    let ids: Vec<i64> = rows.iter().map(|r| r.test.id).collect();
    let mut by: HashMap<i64, Vec<f64>> = HashMap::new();
    for (id, d) in store.dashboard().durations_of(&ids, &view.run_range(suite.id)).await? {
        by.entry(id).or_default().push(d);
    }
    for r in rows {
        let d = by.entry(r.test.id).or_default();
        r.p50 = quantile(d, 0.5);
        r.p95 = quantile(d, 0.95);
    }
    Ok(())
}

/// Order `rows` by `sort`: the bound of each rate its data can defend,
/// ties to the larger n, then by name.
pub fn sort_rows(rows: &mut [TestRow], sort: Sort, reverse: bool) {
    use std::cmp::Ordering;
    let high = |p: &Option<Proportion>| p.map_or(f64::INFINITY, |p| p.high);
    let low = |p: &Option<Proportion>| p.map_or(f64::NEG_INFINITY, |p| p.low);
    let num = |v: Option<f64>| v.unwrap_or(f64::NEG_INFINITY);
    let name = |r: &TestRow| (r.test.scope.clone(), r.test.name.clone());
    rows.sort_by(|a, b| {
        let key: Ordering = match sort {
            Sort::Reliability => high(&a.reliability).total_cmp(&high(&b.reliability)).then(b.runs.cmp(&a.runs)),
            Sort::Failing => low(&b.failure_rate).total_cmp(&low(&a.failure_rate)).then(b.runs.cmp(&a.runs)),
            Sort::Flaky => low(&b.flake_rate).total_cmp(&low(&a.flake_rate)).then(b.runs.cmp(&a.runs)),
            Sort::P50 => num(b.p50).total_cmp(&num(a.p50)),
            Sort::P95 => num(b.p95).total_cmp(&num(a.p95)),
            Sort::Total => b.total_seconds.total_cmp(&a.total_seconds),
            Sort::New => b.first_seen.cmp(&a.first_seen),
            Sort::Last => b.last_seen.cmp(&a.last_seen),
            Sort::Name => Ordering::Equal,
        };
        let key = key.then_with(|| name(a).cmp(&name(b)));
        if reverse { key.reverse() } else { key }
    });
}

pub async fn tests_page(store: &dyn Store, suite: &Suite, view: View, query: TestsQuery) -> Result<TestsPage, AnalysisError> {
    let mut rows = test_rows(store, suite, &view).await?;
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        rows.retain(|r| {
            matches_search(q, &r.test.scope)
                || matches_search(q, &r.test.name)
                || r.file_name.as_deref().is_some_and(|f| matches_search(q, f))
        });
    }
    if let Some(state) = query.state {
        rows.retain(|r| r.state == state);
    }
    let by_percentile = matches!(query.sort, Sort::P50 | Sort::P95);
    if by_percentile {
        // Every row's percentiles, to sort by them: a read of every timed
        // execution of the view (the slow path, see bench/RESULTS.md; a
        // duration sketch in the rollups would make it cheap).
        fill_percentiles(store, suite, &view, &mut rows).await?;
    }
    sort_rows(&mut rows, query.sort, query.reverse);
    let total = rows.len();
    let page = query.page.max(1);
    let mut rows: Vec<TestRow> = rows.into_iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).collect();
    if !by_percentile {
        fill_percentiles(store, suite, &view, &mut rows).await?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.test.id).collect();
    let states: HashMap<i64, verdict_core::flaky::State> = store.flaky().states_of(&view.branch, &ids).await?.into_iter().collect();
    for r in &mut rows {
        r.tracked_state = states.get(&r.test.id).copied();
    }
    Ok(TestsPage {
        view,
        q: query.q,
        state: query.state,
        sort: query.sort,
        dir: if query.reverse { "reverse" } else { "natural" },
        page,
        per_page: PER_PAGE,
        total,
        rows,
    })
}
