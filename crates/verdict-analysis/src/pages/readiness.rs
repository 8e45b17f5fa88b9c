//! The two "can this ship?" pages: the job-run verdict on a batch of
//! repeated runs (`/s/{suite}/aggregate`) and the component-readiness grid
//! of a basis against a sample (`/s/{suite}/compare`), over the same
//! computations as `verdict aggregate` and `verdict compare`.

use super::{DAY_MS, MAX_SERIES_RUNS};
use crate::AnalysisError;
use crate::aggregate::{HISTORY_DAYS, judge_batch};
use crate::compare::{ComparedTest, compare_selections, parse_selection};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use verdict_core::batch::JudgedTest;
use verdict_core::decision::{DecisionConfig, Status as DecisionStatus};
use verdict_core::metric_check::MetricConfig;
use verdict_core::readiness::{Options, Status};
use verdict_store::dashboard::RunRange;
use verdict_store::{Store, Suite};

/// One (job, payload) batch of recent runs.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRow {
    pub job: String,
    pub payload: String,
    pub runs: usize,
    pub latest: DateTime<Utc>,
}

/// The verdict on one batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchVerdict {
    pub job: String,
    pub payload: String,
    /// Runs in the batch.
    pub runs: usize,
    pub passed: bool,
    pub blocking_failures: usize,
    /// Failed and borderline tests first, then by name.
    pub tests: Vec<JudgedTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AggregatePage {
    pub suite: Suite,
    /// The recent batches (runs labelled with a job and a payload), newest first.
    pub batches: Vec<BatchRow>,
    pub verdict: Option<BatchVerdict>,
}

/// The recent batches and, with `job` and `payload`, the verdict on one.
pub async fn aggregate_page(
    store: &dyn Store,
    suite: Suite,
    batch: Option<(String, String)>,
    minimum_attempts: u32,
    now_ms: i64,
) -> Result<AggregatePage, AnalysisError> {
    let range = RunRange { suite_id: suite.id, branch: None, since_ms: now_ms - HISTORY_DAYS * DAY_MS, until_ms: now_ms + 1 };
    let mut by: BTreeMap<(String, String), BatchRow> = BTreeMap::new();
    for r in store.dashboard().run_series(&range, MAX_SERIES_RUNS).await? {
        let (Some(job), Some(payload)) = (r.run_env.job.clone(), r.run_env.payload.clone()) else { continue };
        let row = by.entry((job.clone(), payload.clone())).or_insert(BatchRow { job, payload, runs: 0, latest: r.created_at });
        row.runs += 1;
        row.latest = row.latest.max(r.created_at);
    }
    let mut batches: Vec<BatchRow> = by.into_values().collect();
    batches.sort_by(|a, b| b.latest.cmp(&a.latest).then_with(|| a.job.cmp(&b.job)));
    batches.truncate(100);
    let verdict = match batch {
        None => None,
        Some((job, payload)) => {
            let config = DecisionConfig { minimum_attempts, ..Default::default() };
            let judged = judge_batch(store, suite.id, &job, &payload, &config, &MetricConfig::default()).await?;
            let mut tests = judged.tests;
            let rank = |t: &JudgedTest| match t.decision.status {
                DecisionStatus::Failed => 0,
                DecisionStatus::Passed if t.decision.failures > 0 => 1,
                _ => 2,
            };
            tests.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| (&a.suite, &a.name).cmp(&(&b.suite, &b.name))));
            let blocking_failures = tests.iter().filter(|t| t.blocks()).count();
            Some(BatchVerdict { job, payload, runs: judged.runs, passed: blocking_failures == 0, blocking_failures, tests })
        }
    };
    Ok(AggregatePage { suite, batches, verdict })
}

/// One row of the readiness grid: a scope, its worst verdict and counts.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeCell {
    pub scope: String,
    pub worst: Status,
    pub tests: usize,
    pub regressed: usize,
    pub improved: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComparePage {
    pub suite: Suite,
    pub basis: String,
    pub sample: String,
    /// Scopes, worst first.
    pub scopes: Vec<ScopeCell>,
    /// The drill-down scope, when one is asked for.
    pub scope: Option<String>,
    /// Its tests (or, without a scope, the regressed ones), worst first, at most `MAX_COMPARED_ROWS`.
    pub tests: Vec<ComparedTest>,
    pub regressed: usize,
    pub improved: usize,
    pub total: usize,
}

/// Rows of tests a compare page lists at most.
pub const MAX_COMPARED_ROWS: usize = 500;

/// `verdict compare`'s computation as a grid by scope. `Err(message)` names a bad selection.
pub async fn compare_page(
    store: &dyn Store,
    suite: Suite,
    basis: &str,
    sample: &str,
    scope: Option<String>,
    now_ms: i64,
) -> Result<Result<ComparePage, String>, AnalysisError> {
    let b = match parse_selection(basis, now_ms) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("basis: {e}"))),
    };
    let s = match parse_selection(sample, now_ms) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("sample: {e}"))),
    };
    let rows = compare_selections(store, suite.id, &b, &s, &Options::default()).await?;
    let mut cells: BTreeMap<&str, ScopeCell> = BTreeMap::new();
    for r in &rows {
        let c = cells.entry(r.scope.as_str()).or_insert_with(|| ScopeCell {
            scope: r.scope.clone(),
            worst: Status::MissingBasisAndSample,
            tests: 0,
            regressed: 0,
            improved: 0,
        });
        c.tests += 1;
        if (r.comparison.status as i32) < (c.worst as i32) {
            c.worst = r.comparison.status;
        }
        c.regressed += usize::from(r.regressed());
        c.improved += usize::from(r.comparison.status == Status::SignificantImprovement);
    }
    let mut scopes: Vec<ScopeCell> = cells.into_values().collect();
    scopes.sort_by(|a, b| (a.worst as i32).cmp(&(b.worst as i32)).then(b.regressed.cmp(&a.regressed)).then_with(|| a.scope.cmp(&b.scope)));
    let regressed = rows.iter().filter(|r| r.regressed()).count();
    let improved = rows.iter().filter(|r| r.comparison.status == Status::SignificantImprovement).count();
    let total = rows.len();
    let tests: Vec<ComparedTest> = match &scope {
        Some(sc) => rows.into_iter().filter(|r| &r.scope == sc).take(MAX_COMPARED_ROWS).collect(),
        None => rows.into_iter().filter(ComparedTest::regressed).take(MAX_COMPARED_ROWS).collect(),
    };
    Ok(Ok(ComparePage { suite, basis: basis.to_owned(), sample: sample.to_owned(), scopes, scope, tests, regressed, improved, total }))
}
