//! `aggregate.failed`: the (job, payload) batches whose runs have settled
//! since they were last judged are judged as `GET …/aggregate` judges them
//! (at least `MINIMUM_ATTEMPTS` runs, the job's history), and each verdict is
//! kept; the store writes the event in the same transaction when the batch
//! has blocking failures that are not the set announced before.

use crate::AnalysisError;
use crate::aggregate::{HISTORY_DAYS, judge_batch};
use serde_json::json;
use std::collections::HashMap;
use verdict_core::decision::{DecisionConfig, MINIMUM_ATTEMPTS};
use verdict_core::metric_check::MetricConfig;
use verdict_store::Store;
use verdict_store::webhooks::BatchVerdict;

/// The least quiet time before a batch is judged, whatever its suite's `settle_secs`.
pub const MIN_SETTLE_MS: i64 = 5_000;
/// Batches judged per step.
pub const BATCHES_PER_STEP: i64 = 20;
/// Blocking failures an event lists (the count is whole).
pub const LISTED: usize = 20;

/// One step: judge what has settled — runs quiet for at least `settle_ms`, and
/// for their suite's `settle_secs` (the flaky settings) — the batches judged.
pub async fn judge_settled_batches(store: &dyn Store, settle_ms: i64, now_ms: i64) -> Result<usize, AnalysisError> {
    let since = now_ms - HISTORY_DAYS * 86_400_000;
    let batches = store.webhooks().settled_batches(now_ms - settle_ms, since, BATCHES_PER_STEP).await?;
    if batches.is_empty() {
        return Ok(0);
    }
    let slugs: HashMap<i64, String> = store.suites().await?.into_iter().map(|s| (s.id, s.slug)).collect();
    let mut settles: HashMap<i64, i64> = HashMap::new();
    let mut judged_n = 0;
    for batch in &batches {
        let suite_settle_ms = match settles.get(&batch.suite_id) {
            Some(ms) => *ms,
            None => {
                let ms = store.flaky().flaky_settings(batch.suite_id).await?.settle_secs * 1000;
                *settles.entry(batch.suite_id).or_insert(ms)
            }
        };
        if now_ms - batch.last_run_at_ms < suite_settle_ms {
            // Not quiet for its suite yet: a later step takes it. (A suite with a long settle time can
            // fill a step with such batches for a while; the steps come every 30 s.)
            continue;
        }
        judged_n += 1;
        let config = DecisionConfig::default();
        // A batch with runs but no results (all skipped, say) has no verdict:
        // it is kept as "nothing blocking", so it is not judged again until it changes.
        let (runs, mut blocking): (usize, Vec<(String, String)>) =
            match judge_batch(store, batch.suite_id, &batch.job, &batch.payload, &config, &MetricConfig::default()).await {
                Ok(judged) if judged.runs >= MINIMUM_ATTEMPTS as usize => {
                    (judged.runs, judged.tests.iter().filter(|t| t.blocks()).map(|t| (t.suite.clone(), t.name.clone())).collect())
                }
                Ok(judged) => (judged.runs, Vec::new()),
                Err(AnalysisError::NotFound(_)) => (0, Vec::new()),
                Err(e) => return Err(e),
            };
        blocking.sort();
        let slug = slugs.get(&batch.suite_id).cloned().unwrap_or_default();
        let q = |s: &str| {
            s.bytes()
                .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect::<String>()
        };
        let data = json!({
            "suite": slug, "job": batch.job, "payload": batch.payload, "runs": runs, "count": blocking.len(),
            "blocking_failures": blocking.iter().take(LISTED).map(|(scope, name)| json!({"scope": scope, "name": name})).collect::<Vec<_>>(),
            "url": format!("/s/{slug}/aggregate?job={}&payload={}", q(&batch.job), q(&batch.payload)),
            "owners": [],
        });
        let verdict =
            BatchVerdict { batch: batch.clone(), blocking: blocking.iter().map(|(scope, name)| format!("{scope}/{name}")).collect(), data };
        store.webhooks().record_batch_verdict(&verdict, now_ms).await?;
    }
    Ok(judged_n)
}
