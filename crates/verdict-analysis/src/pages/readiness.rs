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
use verdict_core::aggregation::{StillNeeded, p_value, still_needed};
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

/// Which batch to judge, and how.
#[derive(Debug, Clone)]
pub struct BatchAsk {
    pub job: String,
    pub payload: String,
    pub minimum_attempts: u32,
    /// The runs the batch will have when complete: with fewer in so far,
    /// each test says what the rest must bring.
    pub expected_runs: Option<u32>,
}

/// One test's verdict with what explains it.
#[derive(Debug, Clone, Serialize)]
pub struct AggregateTest {
    #[serde(flatten)]
    pub judged: JudgedTest,
    /// The one-sided Fisher p-value of its pass count against its history
    /// (none for run-metric checks and tests too rarely attempted).
    pub p_value: Option<f64>,
    /// While runs are missing (`expected_runs` above the runs in).
    pub still_needed: Option<StillNeeded>,
}

/// The verdict on one batch.
#[derive(Debug, Clone, Serialize)]
pub struct BatchVerdict {
    pub job: String,
    pub payload: String,
    /// Runs in the batch.
    pub runs: usize,
    pub expected_runs: Option<u32>,
    pub passed: bool,
    pub blocking_failures: usize,
    /// Failed and borderline tests first, then by name.
    pub tests: Vec<AggregateTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AggregatePage {
    pub suite: Suite,
    /// The recent batches (runs labelled with a job and a payload), newest first.
    pub batches: Vec<BatchRow>,
    pub verdict: Option<BatchVerdict>,
}

/// The recent batches and, when asked, the verdict on one.
pub async fn aggregate_page(store: &dyn Store, suite: Suite, ask: Option<BatchAsk>, now_ms: i64) -> Result<AggregatePage, AnalysisError> {
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
    let verdict = match ask {
        None => None,
        Some(ask) => Some(batch_verdict(store, &suite, ask).await?),
    };
    Ok(AggregatePage { suite, batches, verdict })
}

async fn batch_verdict(store: &dyn Store, suite: &Suite, ask: BatchAsk) -> Result<BatchVerdict, AnalysisError> {
    let config = DecisionConfig { minimum_attempts: ask.minimum_attempts, ..Default::default() };
    let judged = judge_batch(store, suite.id, &ask.job, &ask.payload, &config, &MetricConfig::default()).await?;
    // Runs still to come, the same for every test.
    let missing = ask.expected_runs.map(|e| e.saturating_sub(judged.runs as u32)).filter(|m| *m > 0);
    let mut tests: Vec<AggregateTest> = judged
        .tests
        .into_iter()
        .map(|judged| {
            let d = &judged.decision;
            let judged_on_history = d.attempts > 0 && d.status != DecisionStatus::Skipped;
            let p_value = d.history_percentage.filter(|_| judged_on_history).map(|wp| p_value(d.attempts, wp, d.passes));
            let still_needed = missing
                .zip(d.history_percentage.filter(|_| judged_on_history))
                .map(|(m, wp)| still_needed(d.attempts + m, d.attempts, d.passes, wp));
            AggregateTest { judged, p_value, still_needed }
        })
        .collect();
    let rank = |t: &AggregateTest| match t.judged.decision.status {
        DecisionStatus::Failed => 0,
        DecisionStatus::Passed if t.judged.decision.failures > 0 => 1,
        _ => 2,
    };
    tests.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| (&a.judged.suite, &a.judged.name).cmp(&(&b.judged.suite, &b.judged.name))));
    let blocking_failures = tests.iter().filter(|t| t.judged.blocks()).count();
    Ok(BatchVerdict {
        job: ask.job,
        payload: ask.payload,
        runs: judged.runs,
        expected_runs: ask.expected_runs,
        passed: blocking_failures == 0,
        blocking_failures,
        tests,
    })
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
    /// The thresholds used: confidence (percent), pity (points of pass rate), minimum sample failures.
    pub confidence: f64,
    pub pity: f64,
    pub min_fail: u64,
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

/// What the compare page is asked: two selections in `verdict compare`'s
/// grammar, the thresholds, and an optional drill-down scope.
#[derive(Debug, Clone)]
pub struct CompareAsk {
    pub basis: String,
    pub sample: String,
    pub scope: Option<String>,
    pub options: Options,
}

/// `verdict compare`'s computation as a grid by scope. `Err(message)` names a bad selection.
pub async fn compare_page(
    store: &dyn Store,
    suite: Suite,
    ask: CompareAsk,
    now_ms: i64,
) -> Result<Result<ComparePage, String>, AnalysisError> {
    let b = match parse_selection(&ask.basis, now_ms) {
        Ok(b) => b,
        Err(e) => return Ok(Err(format!("basis: {e}"))),
    };
    let s = match parse_selection(&ask.sample, now_ms) {
        Ok(s) => s,
        Err(e) => return Ok(Err(format!("sample: {e}"))),
    };
    let CompareAsk { basis, sample, scope, options } = ask;
    let rows = compare_selections(store, suite.id, &b, &s, &options).await?;
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
    Ok(Ok(ComparePage {
        suite,
        basis,
        sample,
        confidence: options.confidence,
        pity: options.pity_factor,
        min_fail: options.minimum_failure,
        scopes,
        scope,
        tests,
        regressed,
        improved,
        total,
    }))
}
