//! Judging the runs of one job for one payload from the store: the runs are
//! the batch, the job's other recent runs are the history.

use crate::error::ApiError;
use std::collections::HashMap;
use verdict_core::batch::{CaseResult, JudgedTest, judge};
use verdict_core::decision::{DecisionConfig, History};
use verdict_store::{RunSelection, Store};

/// Upstream's history: the last 200 runs of the job within 21 days.
pub const HISTORY_RUNS: i64 = 200;
pub const HISTORY_DAYS: i64 = 21;

/// A judged batch: how many runs it had, and each test's verdict.
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
) -> Result<JudgedBatch, ApiError> {
    let results = store.batch_results(suite_id, job, payload).await?;
    if results.is_empty() {
        return Err(ApiError::not_found(format!("no runs of job {job:?} for payload {payload:?}")));
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
    let since = chrono::Utc::now().timestamp_millis() - HISTORY_DAYS * 86_400_000;
    let history: HashMap<(String, String), f64> = store
        .test_records(
            suite_id,
            &RunSelection {
                job: Some(job.to_owned()),
                exclude_payload: Some(payload.to_owned()),
                since_ms: since,
                max_runs: HISTORY_RUNS,
                ..RunSelection::default()
            },
        )
        .await?
        .into_iter()
        .filter_map(|h| h.working_percentage().map(|p| ((h.scope, h.name), p)))
        .collect();
    let lookup = |suite: &str, name: &str| {
        history.get(&(suite.to_owned(), name.to_owned())).map_or(History::Missing, |&p| History::WorkingPercentage(p))
    };
    Ok(JudgedBatch { runs: runs.len(), tests: judge(&runs, job, lookup, config) })
}
