//! The run page (`/s/{suite}/runs/{run}`): what broke in this run that did
//! not break in the one compared, the failures grouped by cause, the tests
//! with their attempts and recent history, the slowest.

use super::suite::{RunClass, RunPoint, is_infra_failure};
use super::{TestRef, matches_search};
use crate::AnalysisError;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use verdict_core::{Outcome, reason};
use verdict_store::dashboard::{RunOutcome, RunRange, RunTestRow};
use verdict_store::{Execution, Page, RunDetail, Store, Suite};

pub const PER_PAGE: usize = 100;
/// Tests listed in each comparison group (the count is always whole).
pub const GROUP_LIMIT: usize = 100;
/// Failed results read for grouping by reason.
pub const FAILURES_READ: u32 = 500;
/// Runs in each row's history strip, this one the newest.
pub const HISTORY_RUNS: i64 = 10;
pub const SLOWEST: usize = 20;

/// The run compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vs {
    /// The previous finished run on the same branch.
    Previous,
    Run(i64),
    /// The latest finished run on that branch created before this one.
    Branch(String),
}

impl Vs {
    /// `RUN_ID`, `branch:NAME` or empty.
    pub fn parse(s: Option<&str>) -> Result<Vs, String> {
        match s.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Vs::Previous),
            Some(s) => match s.strip_prefix("branch:") {
                Some(b) if !b.is_empty() => Ok(Vs::Branch(b.to_owned())),
                _ => s.parse().map(Vs::Run).map_err(|_| "a run id or branch:NAME".to_owned()),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DiffGroup {
    /// new_failures, still_failing, fixed, new_flakes, new_tests, missing_tests.
    pub key: &'static str,
    pub label: &'static str,
    pub count: usize,
    /// At most `GROUP_LIMIT`, by name.
    pub tests: Vec<TestRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunDiff {
    pub run_id: i64,
    /// None when there is no run to compare with.
    pub compared: Option<RunPoint>,
    pub groups: Vec<DiffGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GroupedFailure {
    pub test: TestRef,
    pub execution_id: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureGroup {
    /// The masked first line (`verdict_core::reason`).
    pub pattern: String,
    /// Distinct tests with a failure of this pattern.
    pub tests: usize,
    pub failures: Vec<GroupedFailure>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunFailures {
    pub run_id: i64,
    /// Failed results read (at most `FAILURES_READ`).
    pub read: usize,
    /// Whether the run has more failed results than were read.
    pub truncated: bool,
    /// Largest first.
    pub groups: Vec<FailureGroup>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    pub execution_id: i64,
    pub attempt: i64,
    pub outcome: Outcome,
    pub duration: Option<f64>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryCell {
    pub run_id: i64,
    /// None: the test did not run in that run.
    pub outcome: Option<RunOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunTestGroup {
    pub test: TestRef,
    pub file_name: Option<String>,
    pub location: Option<String>,
    pub outcome: RunOutcome,
    pub attempts: Vec<Attempt>,
    /// Summed seconds of its attempts in the run.
    pub duration: Option<f64>,
    /// The last runs on this run's branch, oldest first, this run last.
    pub history: Vec<HistoryCell>,
    /// Its comparison group, if any.
    pub change: Option<&'static str>,
}

#[derive(Debug, Clone, Default)]
pub struct RunQuery {
    pub result: Option<RunOutcome>,
    pub q: Option<String>,
    pub page: usize,
    /// Show the page that holds this test (a history strip's link), whatever `page` says.
    pub at: Option<i64>,
}

/// One cluster's failures in a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunCluster {
    pub id: String,
    pub title: String,
    pub failures: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunPage {
    pub suite: Suite,
    pub run: RunDetail,
    pub class: RunClass,
    /// At least 80% of its tests failed.
    pub infra_failure: bool,
    pub diff: RunDiff,
    pub failures: RunFailures,
    /// The run's failures by cluster (most first): the causes it shares with other runs.
    pub clusters: Vec<RunCluster>,
    pub result: Option<RunOutcome>,
    pub q: Option<String>,
    pub page: usize,
    pub per_page: usize,
    /// Tests matching the filters, on all pages.
    pub total: usize,
    pub tests: Vec<RunTestGroup>,
    pub slowest: Vec<RunTestGroup>,
}

/// The run, or `NotFound` when it is not in `suite`.
pub async fn run_in_suite(store: &dyn Store, suite: &Suite, run_id: i64) -> Result<RunDetail, AnalysisError> {
    match store.run(run_id).await? {
        Some(r) if r.run.suite_id == suite.id => Ok(r),
        _ => Err(AnalysisError::NotFound(format!("no run {run_id} in suite {:?}", suite.slug))),
    }
}

fn outcome_rank(o: RunOutcome) -> u8 {
    match o {
        RunOutcome::Failed => 0,
        RunOutcome::Flaky => 1,
        RunOutcome::Passed => 2,
        RunOutcome::Skipped => 3,
    }
}

fn by_name(a: &RunTestRow, b: &RunTestRow) -> std::cmp::Ordering {
    (&a.test.scope, &a.test.name).cmp(&(&b.test.scope, &b.test.name))
}

/// Which comparison group a test falls in, from its outcome here and there.
fn change(here: Option<RunOutcome>, there: Option<RunOutcome>) -> Option<&'static str> {
    use RunOutcome::*;
    match (here, there) {
        (Some(Failed), Some(Passed | Flaky)) => Some("new_failures"),
        (Some(Failed), Some(Failed)) => Some("still_failing"),
        (Some(Passed), Some(Failed)) => Some("fixed"),
        (Some(Flaky), Some(Passed | Failed)) => Some("new_flakes"),
        (Some(_), None) => Some("new_tests"),
        (None, Some(_)) => Some("missing_tests"),
        _ => None,
    }
}

const GROUPS: [(&str, &str); 6] = [
    ("new_failures", "New failures"),
    ("still_failing", "Still failing"),
    ("fixed", "Fixed"),
    ("new_flakes", "New flakes"),
    ("new_tests", "New tests"),
    ("missing_tests", "Missing tests"),
];

async fn compared_run(store: &dyn Store, suite: &Suite, run: &RunDetail, vs: &Vs) -> Result<Option<verdict_store::Run>, AnalysisError> {
    let dash = store.dashboard();
    Ok(match vs {
        Vs::Previous => dash.previous_run(&run.run, run.run.run_env.branch.as_deref()).await?,
        Vs::Branch(b) => dash.previous_run(&run.run, Some(b)).await?,
        Vs::Run(id) => Some(run_in_suite(store, suite, *id).await?.run),
    })
}

fn diff_of(run_id: i64, compared: Option<&verdict_store::Run>, here: &[RunTestRow], there: &[RunTestRow]) -> RunDiff {
    let there_by: HashMap<i64, RunOutcome> = there.iter().map(|t| (t.test.id, t.outcome)).collect();
    let here_by: HashMap<i64, RunOutcome> = here.iter().map(|t| (t.test.id, t.outcome)).collect();
    let mut members: BTreeMap<&str, Vec<&RunTestRow>> = BTreeMap::new();
    if compared.is_some() {
        for t in here {
            if let Some(g) = change(Some(t.outcome), there_by.get(&t.test.id).copied()) {
                members.entry(g).or_default().push(t);
            }
        }
        for t in there.iter().filter(|t| !here_by.contains_key(&t.test.id)) {
            members.entry("missing_tests").or_default().push(t);
        }
    }
    let groups = GROUPS
        .iter()
        .map(|&(key, label)| {
            let mut tests = members.remove(key).unwrap_or_default();
            tests.sort_by(|a, b| by_name(a, b));
            DiffGroup { key, label, count: tests.len(), tests: tests.iter().take(GROUP_LIMIT).map(|t| TestRef::of(&t.test)).collect() }
        })
        .collect();
    RunDiff { run_id, compared: compared.map(RunPoint::of), groups }
}

/// The run compared with another (`vs`): the twin `GET /api/v1/runs/{id}/diff`.
pub async fn run_diff(store: &dyn Store, suite: &Suite, run_id: i64, vs: &Vs) -> Result<RunDiff, AnalysisError> {
    let run = run_in_suite(store, suite, run_id).await?;
    let compared = compared_run(store, suite, &run, vs).await?;
    let here = store.dashboard().run_tests(run_id).await?;
    let there = match &compared {
        Some(c) => store.dashboard().run_tests(c.id).await?,
        None => Vec::new(),
    };
    Ok(diff_of(run_id, compared.as_ref(), &here, &there))
}

/// The run's failed results grouped by masked reason: the twin `GET /api/v1/runs/{id}/failures`.
pub async fn run_failures(store: &dyn Store, run_id: i64) -> Result<RunFailures, AnalysisError> {
    let failed = store.run_executions(run_id, Some(Outcome::Failed), Page::new(1, FAILURES_READ)).await?;
    Ok(group_failures(run_id, failed))
}

fn group_failures(run_id: i64, failed: Vec<Execution>) -> RunFailures {
    let read = failed.len();
    let mut groups: HashMap<String, FailureGroup> = HashMap::new();
    for e in failed {
        let pattern = reason::normalise(e.failure_reason.as_deref());
        let g = groups.entry(pattern.clone()).or_insert_with(|| FailureGroup { pattern, tests: 0, failures: Vec::new() });
        if !g.failures.iter().any(|f| f.test.id == e.test_id) {
            g.tests += 1;
        }
        g.failures.push(GroupedFailure {
            test: TestRef { id: e.test_id, scope: e.scope, name: e.name },
            execution_id: e.id,
            reason: e.failure_reason,
        });
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.failures.len().cmp(&a.failures.len()).then_with(|| a.pattern.cmp(&b.pattern)));
    RunFailures { run_id, read, truncated: read as u32 == FAILURES_READ, groups }
}

pub async fn run_page(store: &dyn Store, suite: Suite, run_id: i64, vs: &Vs, query: RunQuery) -> Result<RunPage, AnalysisError> {
    let run = run_in_suite(store, &suite, run_id).await?;
    let dash = store.dashboard();
    let compared = compared_run(store, &suite, &run, vs).await?;
    let (mut here, failures) = tokio::try_join!(async { Ok(dash.run_tests(run_id).await?) }, run_failures(store, run_id))?;
    let there = match &compared {
        Some(c) => dash.run_tests(c.id).await?,
        None => Vec::new(),
    };
    let diff = diff_of(run_id, compared.as_ref(), &here, &there);
    let there_by: HashMap<i64, RunOutcome> = there.iter().map(|t| (t.test.id, t.outcome)).collect();

    let mut slowest: Vec<&RunTestRow> = here.iter().filter(|t| t.duration.is_some()).collect();
    slowest.sort_by(|a, b| b.duration.unwrap_or(0.0).total_cmp(&a.duration.unwrap_or(0.0)).then_with(|| by_name(a, b)));
    let slowest: Vec<RunTestRow> = slowest.into_iter().take(SLOWEST).cloned().collect();

    here.sort_by(|a, b| outcome_rank(a.outcome).cmp(&outcome_rank(b.outcome)).then_with(|| by_name(a, b)));
    if let Some(o) = query.result {
        here.retain(|t| t.outcome == o);
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        here.retain(|t| matches_search(q, &t.test.scope) || matches_search(q, &t.test.name));
    }
    let total = here.len();
    let page = match query.at.and_then(|id| here.iter().position(|t| t.test.id == id)) {
        Some(i) => i / PER_PAGE + 1,
        None => query.page.max(1),
    };
    let shown: Vec<RunTestRow> = here.into_iter().skip((page - 1) * PER_PAGE).take(PER_PAGE).collect();

    // The history strip: the last runs on this run's branch up to this one.
    let history_range = RunRange {
        suite_id: suite.id,
        branch: run.run.run_env.branch.clone(),
        since_ms: i64::MIN,
        until_ms: run.run.created_at.timestamp_millis() + 1,
    };
    let mut history_runs: Vec<i64> = dash.run_series(&history_range, HISTORY_RUNS + 1).await?.iter().map(|r| r.id).collect();
    if !history_runs.contains(&run_id) {
        history_runs.insert(0, run_id);
    }
    history_runs.truncate(HISTORY_RUNS as usize);
    history_runs.reverse();
    let ids: Vec<i64> = shown.iter().chain(&slowest).map(|t| t.test.id).collect();
    let (cells, executions) = tokio::try_join!(dash.test_cells(&ids, &history_runs), dash.run_test_executions(run_id, &ids))?;
    let cell: HashMap<(i64, i64), RunOutcome> = cells.iter().map(|c| ((c.test_id, c.run_id), c.outcome)).collect();
    let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
    for e in executions {
        attempts.entry(e.test_id).or_default().push(Attempt {
            execution_id: e.id,
            attempt: e.attempt,
            outcome: e.result,
            duration: e.duration,
            reason: e.failure_reason,
        });
    }
    let group = |t: &RunTestRow| RunTestGroup {
        test: TestRef::of(&t.test),
        file_name: t.test.file_name.clone(),
        location: t.test.location.clone(),
        outcome: t.outcome,
        attempts: attempts.get(&t.test.id).cloned().unwrap_or_default(),
        duration: t.duration,
        history: history_runs.iter().map(|&r| HistoryCell { run_id: r, outcome: cell.get(&(t.test.id, r)).copied() }).collect(),
        change: if compared.is_some() { change(Some(t.outcome), there_by.get(&t.test.id).copied()) } else { None },
    };
    let tests = shown.iter().map(group).collect();
    let slowest = slowest.iter().map(group).collect();
    let clusters = store
        .clusters()
        .run_clusters(run.run.id)
        .await?
        .into_iter()
        .map(|(id, title, failures)| RunCluster { id, title, failures })
        .collect();
    Ok(RunPage {
        clusters,
        class: RunClass::of(&run.run),
        infra_failure: is_infra_failure(&run.run),
        suite,
        run,
        diff,
        failures,
        result: query.result,
        q: query.q,
        page,
        per_page: PER_PAGE,
        total,
        tests,
        slowest,
    })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn comparison_groups_follow_the_spec_table() {
        use RunOutcome::*;
        assert_eq!(change(Some(Failed), Some(Passed)), Some("new_failures"));
        assert_eq!(change(Some(Failed), Some(Flaky)), Some("new_failures"));
        assert_eq!(change(Some(Failed), Some(Failed)), Some("still_failing"));
        assert_eq!(change(Some(Passed), Some(Failed)), Some("fixed"));
        assert_eq!(change(Some(Flaky), Some(Passed)), Some("new_flakes"));
        assert_eq!(change(Some(Flaky), Some(Failed)), Some("new_flakes"));
        assert_eq!(change(Some(Passed), None), Some("new_tests"));
        assert_eq!(change(None, Some(Passed)), Some("missing_tests"));
        assert_eq!(change(Some(Passed), Some(Passed)), None);
        assert_eq!(change(Some(Flaky), Some(Flaky)), None);
    }

    #[test]
    fn vs_reads_a_run_or_a_branch() {
        assert_eq!(Vs::parse(None), Ok(Vs::Previous));
        assert_eq!(Vs::parse(Some("")), Ok(Vs::Previous));
        assert_eq!(Vs::parse(Some("42")), Ok(Vs::Run(42)));
        assert_eq!(Vs::parse(Some("branch:main")), Ok(Vs::Branch("main".into())));
        assert!(Vs::parse(Some("branch:")).is_err());
        assert!(Vs::parse(Some("yesterday")).is_err());
    }
}
