//! The test page (`/s/{suite}/tests/{test}`): how reliable and how fast one
//! test is and how sure we are, its history strip, outcomes per bucket, its
//! durations and resource use, why it fails, per branch, every execution.
//! Rates are per run, as on the tests list.

use super::{DAY_MS, MAX_SERIES_RUNS, View, bucket_of, rate};
use crate::AnalysisError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use verdict_core::stats::{Proportion, clean_runs_to_call_fixed, quantile};
use verdict_core::{Outcome, reason};
use verdict_store::dashboard::{RunOutcome, RunRange};
use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows};
use verdict_store::{HistoryEntry, HistoryFilter, Page, Run, Store, Suite, Test, ms_to_time};

/// Strip lengths a page offers.
pub const STRIPS: [u32; 3] = [100, 200, 500];
/// Executions read for the duration chart at most.
pub const MAX_POINTS: i64 = 200_000;
/// Horizontal units of the point charts: at most two points each are kept.
pub const CHART_WIDTH: u32 = 960;
/// Failed results read for the reasons table.
pub const FAILURES_READ: i64 = 1000;
/// pytest-monitor samples read for the resources chart.
pub const RESOURCES_READ: i64 = 2000;
pub const EXECUTIONS_PER_PAGE: u32 = 50;
/// Targets for "clean runs needed to call it fixed".
pub const FIXED_TARGETS: [f64; 3] = [0.05, 0.02, 0.01];

#[derive(Debug, Clone, Serialize)]
pub struct StripCell {
    pub run_id: i64,
    pub number: Option<String>,
    pub commit_sha: Option<String>,
    pub created_at: DateTime<Utc>,
    /// None: the test did not run in that run.
    pub outcome: Option<RunOutcome>,
    pub duration: Option<f64>,
    /// The first failure's reason in that run, when it failed or flaked.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StripRow {
    /// The branch, or `*`.
    pub branch: String,
    /// Oldest first, newest on the right.
    pub cells: Vec<StripCell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestKpis {
    /// Runs it passed in without a failure ÷ runs it passed, failed or flaked in.
    pub reliability: Option<Proportion>,
    pub reliability_before: Option<Proportion>,
    pub flake_rate: Option<Proportion>,
    pub flake_rate_before: Option<Proportion>,
    pub executions: i64,
    pub executions_before: i64,
    pub p50: Option<f64>,
    pub p50_before: Option<f64>,
    pub p95: Option<f64>,
    pub p95_before: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OutcomeBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub passed: i64,
    pub flaky: i64,
    pub failed: i64,
    pub skipped: i64,
    pub reliability: Option<Proportion>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DurationPoint {
    pub run_id: i64,
    pub at: DateTime<Utc>,
    pub seconds: f64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DurationBucket {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub executions: i64,
    /// Over every timed execution of the bucket, not the reduced points.
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub failures: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Durations {
    /// Timed executions in the view.
    pub executions: usize,
    /// Reduced to at most two per unit of `CHART_WIDTH` (min and max), oldest first.
    pub points: Vec<DurationPoint>,
    pub buckets: Vec<DurationBucket>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResourcePoint {
    /// pytest-monitor's ITEM_START_TIME, as sent.
    pub at: String,
    pub memory_mb: f64,
    pub cpu_percent: f64,
    /// User + kernel seconds.
    pub cpu_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonRow {
    pub pattern: String,
    pub count: usize,
    /// Of the failures read.
    pub share: f64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub branches: Vec<String>,
    /// Up to three runs with this failure, newest first.
    pub example_runs: Vec<i64>,
    /// Up to five distinct raw messages.
    pub messages: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BranchRow {
    pub branch: String,
    pub executions: i64,
    /// Passed ÷ passed and failed executions on that branch.
    pub reliability: Option<Proportion>,
    pub flaky: i64,
    pub mean_seconds: Option<f64>,
    pub last_day: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixedAfter {
    pub target: f64,
    pub clean_runs_needed: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestPage {
    pub suite: Suite,
    pub test: Test,
    /// From the suite's owners file (first = primary).
    pub owners: Vec<String>,
    pub view: View,
    pub strip_runs: u32,
    pub kpis: TestKpis,
    pub runs: i64,
    pub failed_runs: i64,
    pub flaky_runs: i64,
    /// Why the test is in its state, in words.
    pub state_line: String,
    /// The kept flaky/broken state on the view's branch (its track), once a run of it was analysed.
    pub tracked: Option<crate::flaky::TrackView>,
    /// Whether its failures count, and the last changes of that.
    pub control: verdict_core::quarantine::Control,
    pub control_history: Vec<verdict_store::controls::ControlEvent>,
    /// Consecutive clean (passed) runs, newest back, on the strip's branch.
    pub clean_runs: i64,
    pub fixed_after: Vec<FixedAfter>,
    pub strips: Vec<StripRow>,
    pub outcomes: Vec<OutcomeBucket>,
    pub durations: Durations,
    /// Empty without pytest-monitor samples.
    pub resources: Vec<ResourcePoint>,
    pub reasons: Vec<ReasonRow>,
    pub failures_read: usize,
    pub branches: Vec<BranchRow>,
    /// On the view's branch, newest first, `EXECUTIONS_PER_PAGE` a page.
    pub executions: Vec<HistoryEntry>,
    pub executions_page: u32,
    pub executions_result: Option<Outcome>,
}

/// The test, or `NotFound` when it is not in `suite`.
pub async fn test_in_suite(store: &dyn Store, suite: &Suite, test_id: i64) -> Result<Test, AnalysisError> {
    match store.test(test_id).await? {
        Some(t) if t.suite_id == suite.id => Ok(t),
        _ => Err(AnalysisError::NotFound(format!("no test {test_id} in suite {:?}", suite.slug))),
    }
}

/// Per-run record of one test: (passed, failed, flaky) runs.
fn record(outcomes: impl Iterator<Item = RunOutcome>) -> (i64, i64, i64) {
    outcomes.fold((0, 0, 0), |(p, f, k), o| match o {
        RunOutcome::Passed => (p + 1, f, k),
        RunOutcome::Failed => (p, f + 1, k),
        RunOutcome::Flaky => (p, f, k + 1),
        RunOutcome::Skipped => (p, f, k),
    })
}

async fn cells_in(store: &dyn Store, test_id: i64, runs: &[Run]) -> Result<HashMap<i64, (RunOutcome, Option<f64>)>, AnalysisError> {
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let cells = store.dashboard().test_cells(&[test_id], &ids).await?;
    Ok(cells.into_iter().map(|c| (c.run_id, (c.outcome, c.duration))).collect())
}

async fn strip_row(store: &dyn Store, suite: &Suite, test_id: i64, branch: &str, view: &View, n: u32) -> Result<StripRow, AnalysisError> {
    let range =
        RunRange { suite_id: suite.id, branch: (branch != "*").then(|| branch.to_owned()), since_ms: i64::MIN, until_ms: view.until_ms };
    let mut runs = store.dashboard().run_series(&range, i64::from(n)).await?;
    runs.reverse();
    let cells = cells_in(store, test_id, &runs).await?;
    let mut reasons: HashMap<i64, String> = HashMap::new();
    if let Some(first) = runs.first() {
        let span = RunRange { since_ms: first.created_at.timestamp_millis(), ..range };
        for f in store.dashboard().test_failures(test_id, &span, FAILURES_READ).await? {
            if let Some(r) = f.reason {
                // Newest first: the last one written per run is its first failure.
                reasons.insert(f.run_id, r);
            }
        }
    }
    let cells = runs
        .iter()
        .map(|r| {
            let (outcome, duration) = cells.get(&r.id).map_or((None, None), |&(o, d)| (Some(o), d));
            StripCell {
                run_id: r.id,
                number: r.run_env.number.clone(),
                commit_sha: r.run_env.commit_sha.clone(),
                created_at: r.created_at,
                outcome,
                duration,
                reason: matches!(outcome, Some(RunOutcome::Failed | RunOutcome::Flaky)).then(|| reasons.get(&r.id).cloned()).flatten(),
            }
        })
        .collect();
    Ok(StripRow { branch: branch.to_owned(), cells })
}

fn durations_of(points: Vec<verdict_store::dashboard::ExecutionPoint>, view: &View) -> Durations {
    let bounds = view.buckets();
    let mut buckets: Vec<DurationBucket> =
        bounds.iter().map(|&(s, e)| DurationBucket { start: ms_to_time(s), end: ms_to_time(e), ..Default::default() }).collect();
    let mut per_bucket: Vec<Vec<f64>> = vec![Vec::new(); bounds.len()];
    let timed: Vec<_> = points.iter().filter(|p| p.duration.is_some()).collect();
    for p in &points {
        if let Some(i) = bucket_of(&bounds, p.at_ms) {
            if p.outcome == Outcome::Failed {
                buckets[i].failures += 1;
            }
            if let Some(d) = p.duration {
                buckets[i].executions += 1;
                per_bucket[i].push(d);
            }
        }
    }
    for (b, d) in buckets.iter_mut().zip(&mut per_bucket) {
        b.p50 = quantile(d, 0.5);
        b.p95 = quantile(d, 0.95);
    }
    let xy: Vec<(f64, f64)> = timed.iter().map(|p| (p.at_ms as f64, p.duration.unwrap_or(0.0))).collect();
    let keep = verdict_core::reduce::min_max_buckets(&xy, view.since_ms as f64, view.until_ms as f64, CHART_WIDTH);
    let points = keep
        .into_iter()
        .map(|i| {
            let p = timed[i];
            DurationPoint { run_id: p.run_id, at: ms_to_time(p.at_ms), seconds: p.duration.unwrap_or(0.0), outcome: p.outcome }
        })
        .collect();
    Durations { executions: timed.len(), points, buckets }
}

fn reasons_of(failures: &[verdict_store::dashboard::FailureRow]) -> Vec<ReasonRow> {
    let mut by: HashMap<String, ReasonRow> = HashMap::new();
    for f in failures {
        let pattern = reason::normalise(f.reason.as_deref());
        let at = ms_to_time(f.at_ms);
        let row = by.entry(pattern.clone()).or_insert_with(|| ReasonRow {
            pattern,
            count: 0,
            share: 0.0,
            first_seen: at,
            last_seen: at,
            branches: Vec::new(),
            example_runs: Vec::new(),
            messages: Vec::new(),
        });
        row.count += 1;
        row.first_seen = row.first_seen.min(at);
        row.last_seen = row.last_seen.max(at);
        let branch = f.branch.clone().unwrap_or_default();
        if !row.branches.contains(&branch) {
            row.branches.push(branch);
        }
        if row.example_runs.len() < 3 && !row.example_runs.contains(&f.run_id) {
            row.example_runs.push(f.run_id);
        }
        if let Some(m) = &f.reason
            && row.messages.len() < 5
            && !row.messages.contains(m)
        {
            row.messages.push(m.clone());
        }
    }
    let total = failures.len().max(1) as f64;
    let mut rows: Vec<ReasonRow> = by
        .into_values()
        .map(|mut r| {
            r.share = r.count as f64 / total;
            r.branches.sort();
            r
        })
        .collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.pattern.cmp(&b.pattern)));
    rows
}

/// Control changes the test page shows (its twin `/tests/{id}/state` has more).
pub const CONTROL_EVENTS_SHOWN: usize = 10;

fn state_line(runs: i64, failed: i64, flaky: i64, clean: i64) -> String {
    if runs == 0 {
        return "No runs in this range.".into();
    }
    if failed == runs && runs >= super::tests::BROKEN_MIN_RUNS {
        return format!("In this range: failed in all {runs} runs.");
    }
    if flaky > 0 {
        return format!(
            "In this range: flaked in {flaky} of {runs} runs (passed and failed in the same run); {clean} clean runs since the last failure."
        );
    }
    if failed > 0 {
        return format!("In this range: failed in {failed} of {runs} runs; {clean} clean runs since the last failure.");
    }
    format!("In this range: passed in all {runs} runs.")
}

/// What a test page asks for beyond its view.
#[derive(Debug, Clone, Default)]
pub struct TestQuery {
    /// Runs in the history strip: one of `STRIPS`.
    pub strip_runs: u32,
    /// The executions table's page (1-based) and outcome filter.
    pub executions_page: u32,
    pub executions_result: Option<Outcome>,
}

pub async fn test_page(store: &dyn Store, suite: Suite, test_id: i64, view: View, query: TestQuery) -> Result<TestPage, AnalysisError> {
    let TestQuery { strip_runs, executions_page, executions_result } = query;
    let test = test_in_suite(store, &suite, test_id).await?;
    let dash = store.dashboard();
    let before = view.previous();
    let range = view.run_range(suite.id);
    let (first_day, end_day) = view.days();
    let monitor = MonitorList::Metrics(MetricFilter::Test(test_id));
    let range_before = before.run_range(suite.id);
    let history = HistoryFilter { branch: view.branch_filter().map(str::to_owned), result: executions_result };
    let (runs, runs_before, points, points_before, failures, branch_rows, executions, samples) = tokio::try_join!(
        dash.run_series(&range, MAX_SERIES_RUNS),
        dash.run_series(&range_before, MAX_SERIES_RUNS),
        dash.test_points(test_id, &range, MAX_POINTS),
        dash.test_points(test_id, &range_before, MAX_POINTS),
        dash.test_failures(test_id, &range, FAILURES_READ),
        dash.test_branches(test_id, first_day, end_day),
        store.test_history(test_id, &history, Page::new(executions_page, EXECUTIONS_PER_PAGE)),
        store.monitor().rows(suite.id, &monitor, 0, RESOURCES_READ),
    )?;
    let (cells, cells_before) = tokio::try_join!(cells_in(store, test_id, &runs), cells_in(store, test_id, &runs_before))?;
    let (passed, failed, flaky) = record(cells.values().map(|c| c.0));
    let (passed_b, failed_b, flaky_b) = record(cells_before.values().map(|c| c.0));
    let (n, n_b) = (passed + failed + flaky, passed_b + failed_b + flaky_b);
    let mut d: Vec<f64> = points.iter().filter_map(|p| p.duration).collect();
    let mut d_b: Vec<f64> = points_before.iter().filter_map(|p| p.duration).collect();
    let kpis = TestKpis {
        reliability: rate(passed, n),
        reliability_before: rate(passed_b, n_b),
        flake_rate: rate(flaky, n),
        flake_rate_before: rate(flaky_b, n_b),
        executions: points.len() as i64,
        executions_before: points_before.len() as i64,
        p50: quantile(&mut d, 0.5),
        p50_before: quantile(&mut d_b, 0.5),
        p95: quantile(&mut d, 0.95),
        p95_before: quantile(&mut d_b, 0.95),
    };

    let bounds = view.buckets();
    let mut outcomes: Vec<OutcomeBucket> =
        bounds.iter().map(|&(s, e)| OutcomeBucket { start: ms_to_time(s), end: ms_to_time(e), ..Default::default() }).collect();
    for r in &runs {
        let (Some(i), Some(&(o, _))) = (bucket_of(&bounds, r.created_at.timestamp_millis()), cells.get(&r.id)) else { continue };
        let b = &mut outcomes[i];
        match o {
            RunOutcome::Passed => b.passed += 1,
            RunOutcome::Failed => b.failed += 1,
            RunOutcome::Flaky => b.flaky += 1,
            RunOutcome::Skipped => b.skipped += 1,
        }
    }
    for b in &mut outcomes {
        b.reliability = rate(b.passed, b.passed + b.failed + b.flaky);
    }

    let strip_runs = if STRIPS.contains(&strip_runs) { strip_runs } else { STRIPS[0] };
    let mut strips = vec![strip_row(store, &suite, test_id, &view.branch, &view, strip_runs).await?];
    if strip_runs == STRIPS[0] && view.branch != suite.default_branch {
        strips.insert(0, strip_row(store, &suite, test_id, &suite.default_branch, &view, strip_runs).await?);
    }
    let clean = strips.last().map_or(0, |s| {
        s.cells.iter().rev().filter(|c| c.outcome.is_some()).take_while(|c| c.outcome == Some(RunOutcome::Passed)).count() as i64
    });

    let resources = match samples {
        MonitorRows::Metrics(rows) => rows
            .into_iter()
            .map(|m| ResourcePoint {
                at: m.item_start_time,
                memory_mb: m.mem_usage,
                cpu_percent: m.cpu_usage,
                cpu_seconds: m.user_time + m.kernel_time,
            })
            .collect(),
        _ => Vec::new(),
    };
    let branches = branch_rows
        .into_iter()
        .map(|b| BranchRow {
            branch: b.branch,
            executions: b.counts.total(),
            reliability: rate(b.counts.passed, b.counts.passed + b.counts.failed),
            flaky: b.flaky,
            mean_seconds: (b.duration_count > 0).then(|| b.duration_sum / b.duration_count as f64),
            last_day: ms_to_time(b.day * DAY_MS),
        })
        .collect();
    let failures_read = failures.len();
    let state = crate::flaky::test_state(store, &suite, test_id, Some(&view.branch)).await?;
    let mut control_history = state.control_history;
    control_history.truncate(CONTROL_EVENTS_SHOWN);
    let owners = crate::owners::Owners::of_suite(store, suite.id).await?;
    Ok(TestPage {
        owners: owners.of(test.file_name.as_deref(), test.location.as_deref()),
        tracked: state.tracks.into_iter().next(),
        control: state.control,
        control_history,
        state_line: state_line(n, failed, flaky, clean),
        fixed_after: FIXED_TARGETS.iter().map(|&t| FixedAfter { target: t, clean_runs_needed: clean_runs_to_call_fixed(t) }).collect(),
        clean_runs: clean,
        runs: n,
        failed_runs: failed,
        flaky_runs: flaky,
        durations: durations_of(points, &view),
        reasons: reasons_of(&failures),
        failures_read,
        suite,
        test,
        view,
        strip_runs,
        kpis,
        strips,
        outcomes,
        resources,
        branches,
        executions,
        executions_page: executions_page.max(1),
        executions_result,
    })
}
