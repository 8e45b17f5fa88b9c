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

/// Batches judged per step.
pub const BATCHES_PER_STEP: i64 = 20;
/// Blocking failures an event lists (the count is whole).
pub const LISTED: usize = 20;

/// One step: judge what has settled (runs quiet for `settle_ms`); the batches judged.
pub async fn judge_settled_batches(store: &dyn Store, settle_ms: i64, now_ms: i64) -> Result<usize, AnalysisError> {
    let since = now_ms - HISTORY_DAYS * 86_400_000;
    let batches = store.webhooks().settled_batches(now_ms - settle_ms, since, BATCHES_PER_STEP).await?;
    if batches.is_empty() {
        return Ok(0);
    }
    let slugs: HashMap<i64, String> = store.suites().await?.into_iter().map(|s| (s.id, s.slug)).collect();
    for batch in &batches {
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
    Ok(batches.len())
}
