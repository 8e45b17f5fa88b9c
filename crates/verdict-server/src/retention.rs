//! `--retention-days N`: executions (with their outputs) and pytest-monitor
//! samples older than N days are deleted, off the upload path, in batches of
//! `BATCH` rows each its own short transaction, so uploads wait at most one
//! batch. Rollups, runs and their per-test results, test states, clusters
//! and reports stay, so the trends read from them survive. Every node runs
//! it; batches are idempotent, so nodes sharing a database only split work.

use std::sync::Arc;
use std::time::Duration;
use verdict_store::Store;

/// Rows deleted per transaction, of each kind.
pub const BATCH: i64 = 10_000;
/// How often a pass runs (the first one at start).
const EVERY: Duration = Duration::from_secs(3_600);
/// A pause between batches, leaving the writer to uploads.
const BETWEEN: Duration = Duration::from_millis(50);

pub async fn expiry_loop(store: Arc<dyn Store>, days: u32) {
    loop {
        let cut = chrono::Utc::now().timestamp_millis() - i64::from(days) * 86_400_000;
        let (mut executions, mut samples) = (0u64, 0u64);
        loop {
            match store.expire_history(cut, BATCH).await {
                Ok((0, 0)) => break,
                Ok((e, s)) => {
                    executions += e;
                    samples += s;
                    tokio::time::sleep(BETWEEN).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retention: a batch failed; the next pass goes on");
                    break;
                }
            }
        }
        if executions + samples > 0 {
            tracing::info!(days, executions, samples, "retention: deleted history older than the cut");
        }
        tokio::time::sleep(EVERY).await;
    }
}
