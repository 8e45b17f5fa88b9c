//! pytest-monitor samples on their way into `monitor_metrics` (see migration
//! 0007). A sample is durable once it is in the inbox; readers of samples
//! first have the writer move what is waiting, so every read sees every
//! sample that was acknowledged before it.

use super::writer::{Background, Want};
use crate::error::StoreError;
use crate::monitor::METRIC_COLS;
use rusqlite::Connection;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many samples are waiting. Only transactions on the writing connection
/// change it (on the writer thread or a caller's, one at a time), so it is
/// exact once they commit. A failed insert leaves
/// it high (one needless move); a failed move leaves it low, but never at zero
/// while samples wait (`unsettled`), and the next move counts again.
pub(crate) struct Inbox {
    waiting: AtomicI64,
    last_move: Mutex<Instant>,
}

impl Inbox {
    /// Samples waiting at open (left by a crash or a stop): moved by the first read or idle moment.
    pub fn open(c: &Connection) -> Result<Arc<Self>, StoreError> {
        let waiting = c.query_row("SELECT count(*) FROM monitor_inbox", [], |r| r.get(0))?;
        Ok(Arc::new(Inbox { waiting: AtomicI64::new(waiting), last_move: Mutex::new(Instant::now()) }))
    }

    /// Samples acknowledged and not yet moved.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Acquire).max(0) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.load(Ordering::Acquire) == 0
    }

    /// Called inside the transaction that put a sample in.
    pub fn added(&self) {
        self.waiting.fetch_add(1, Ordering::AcqRel);
    }

    /// After a move that did not commit: the samples are still waiting.
    pub fn unsettled(&self) {
        let _ = self.waiting.compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Move up to `most` samples (all when `None`), oldest first, into
    /// `monitor_metrics`; runs in the writer's open transaction.
    pub fn move_samples(&self, c: &Connection, most: Option<i64>) -> Result<(), StoreError> {
        *self.last_move.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let last: Option<i64> = c
            .prepare_cached("SELECT max(id) FROM (SELECT id FROM monitor_inbox ORDER BY id LIMIT ?1)")?
            .query_row([most.unwrap_or(-1)], |r| r.get(0))?;
        let Some(last) = last else {
            self.waiting.store(0, Ordering::Release);
            return Ok(());
        };
        c.prepare_cached(&format!(
            "INSERT INTO monitor_metrics (suite_id, run_id, test_id, created_at, {METRIC_COLS})
             SELECT suite_id, run_id, test_id, created_at, {METRIC_COLS} FROM monitor_inbox WHERE id <= ?1 ORDER BY id"
        ))?
        .execute([last])?;
        let moved = c.prepare_cached("DELETE FROM monitor_inbox WHERE id <= ?1")?.execute([last])? as i64;
        if most.is_none() {
            // Everything up to the newest sample moved: nothing waits.
            self.waiting.store(0, Ordering::Release);
        } else if self.waiting.fetch_sub(moved, Ordering::AcqRel) < moved {
            // The count had drifted low (a failed transaction): count again.
            self.waiting.store(c.query_row("SELECT count(*) FROM monitor_inbox", [], |r| r.get(0))?, Ordering::Release);
        }
        Ok(())
    }
}

/// The writer's work between jobs: moving waiting samples.
pub(crate) struct Mover(pub Arc<Inbox>);

impl Mover {
    /// One step moves this many: tens of milliseconds, the longest a write that arrives meanwhile waits.
    const STEP: i64 = 1_000;
    /// Past this many waiting, or when the last move is this old, steps run
    /// between jobs too: a steady stream of samples with no 10 ms pause must
    /// not grow the inbox (and the next read's wait) without bound.
    const URGENT: i64 = 10_000;
    const STALE: Duration = Duration::from_secs(1);
}

impl Background for Mover {
    fn wanted(&self) -> Want {
        match self.0.waiting.load(Ordering::Acquire) {
            0 => Want::Nothing,
            n if n >= Self::URGENT => Want::Now,
            _ if self.0.last_move.lock().unwrap_or_else(|e| e.into_inner()).elapsed() >= Self::STALE => Want::Now,
            _ => Want::WhenIdle,
        }
    }

    fn step(&mut self, c: &Connection) -> Result<(), StoreError> {
        self.0.move_samples(c, Some(Self::STEP))
    }

    fn failed(&mut self) {
        self.0.unsettled();
    }
}
