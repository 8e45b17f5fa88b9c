//! Judging the runs of one job for one payload from the store: the runs are
//! the batch, the job's other recent runs are the history.

use crate::AnalysisError;
use std::collections::{BTreeMap, HashMap};
use verdict_core::batch::{CaseResult, JudgedTest, judge};
use verdict_core::decision::{DecisionConfig, History};
use verdict_core::metric_check::{HistoricalStats, MetricConfig, RunValue, judge_metrics};
use verdict_store::{RunSelection, Store};

/// Upstream's history: the last 200 runs of the job within 21 days.
pub const HISTORY_RUNS: i64 = 200;
pub const HISTORY_DAYS: i64 = 21;

/// A judged batch: how many runs it had, and each test's verdict (the run
/// metric checks last, in their own suite).
pub struct JudgedBatch {
    pub runs: usize,
    pub tests: Vec<JudgedTest>,
}

pub async fn judge_batch(
    store: &dyn Store,
    suite_id: i64,
    job: &str,
    payload: &str,
    config: &DecisionConfig,
    metric_config: &MetricConfig,
) -> Result<JudgedBatch, AnalysisError> {
    let since = chrono::Utc::now().timestamp_millis() - HISTORY_DAYS * 86_400_000;
    let history_runs = RunSelection {
        job: Some(job.to_owned()),
        exclude_payload: Some(payload.to_owned()),
        since_ms: since,
        max_runs: HISTORY_RUNS,
        ..RunSelection::default()
    };
    // The batch and the history are independent reads: run them at once.
    let (results, records) = tokio::try_join!(store.batch_results(suite_id, job, payload), store.test_records(suite_id, &history_runs))?;
    if results.is_empty() {
        return Err(AnalysisError::NotFound(format!("no runs of job {job:?} for payload {payload:?}")));
    }
    let mut runs: Vec<(String, Vec<CaseResult>)> = Vec::new();
    let mut last_run = None;
    for r in results {
        if last_run != Some(r.run_id) {
            runs.push((r.run_key.clone(), Vec::new()));
            last_run = Some(r.run_id);
        }
        if let Some((_, cases)) = runs.last_mut() {
            cases.push(CaseResult { suite: r.scope, name: r.name, outcome: r.outcome, lifecycle: None });
        }
    }
    let history: HashMap<(String, String), f64> =
        records.into_iter().filter_map(|h| h.working_percentage().map(|p| ((h.scope, h.name), p))).collect();
    let lookup = |suite: &str, name: &str| {
        history.get(&(suite.to_owned(), name.to_owned())).map_or(History::Missing, |&p| History::WorkingPercentage(p))
    };
    let mut tests = judge(&runs, job, lookup, config);

    let batch_runs = RunSelection { job: Some(job.to_owned()), payload: Some(payload.to_owned()), ..RunSelection::default() };
    let mut batch_metrics: BTreeMap<String, Vec<RunValue>> = BTreeMap::new();
    for m in store.run_metrics(suite_id, &batch_runs).await? {
        batch_metrics.entry(m.name).or_default().push(RunValue { run: m.run_key, value: m.value });
    }
    if !batch_metrics.is_empty() {
        let mut values: HashMap<String, Vec<f64>> = HashMap::new();
        for m in store.run_metrics(suite_id, &history_runs).await? {
            values.entry(m.name).or_default().push(m.value);
        }
        let metric_history = values.into_iter().filter_map(|(name, v)| HistoricalStats::new(v).map(|h| (name, h))).collect();
        tests.extend(judge_metrics(&batch_metrics, &metric_history, metric_config));
    }
    Ok(JudgedBatch { runs: runs.len(), tests })
}
