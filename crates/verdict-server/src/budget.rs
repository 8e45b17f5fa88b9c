//! The memory that request bodies being read, inflated and parsed may hold at
//! once, across all requests: a semaphore counted in KiB. A request reserves
//! what its body can cost before it reads a byte of it (from its declared
//! length, or the limit), and more once it knows what a gzip body inflates to,
//! so that many large uploads at once wait their turn instead of exhausting
//! memory. A request larger than the whole budget runs alone.

use crate::error::ApiError;
use axum::http::StatusCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct MemoryBudget {
    sem: Arc<Semaphore>,
    total_kib: u32,
}

/// Memory held for one request; given back when it is dropped.
pub struct Reservation {
    permit: OwnedSemaphorePermit,
}

impl Reservation {
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.permit.num_permits() * 1024
    }
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).max(1);
        MemoryBudget { sem: Arc::new(Semaphore::new(total_kib as usize)), total_kib }
    }

    /// A reservation of nothing (a placeholder while the real one is moved).
    pub fn empty(&self) -> Reservation {
        Reservation { permit: self.sem.clone().try_acquire_many_owned(0).expect("zero permits are always there") }
    }

    fn kib(&self, bytes: usize) -> u32 {
        u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX).clamp(1, self.total_kib)
    }

    /// Wait (at most `wait`) until `bytes` are free, then hold them.
    pub async fn reserve(&self, bytes: usize, wait: Duration) -> Result<Reservation, ApiError> {
        let n = self.kib(bytes);
        match tokio::time::timeout(wait, self.sem.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(Reservation { permit }),
            Ok(Err(_)) | Err(_) => Err(busy()),
        }
    }

    /// Hold `bytes` in all for `r`, if that much is free now (no waiting: a
    /// request that already holds memory must not wait for more, or two such
    /// could wait for each other forever).
    pub fn try_grow(&self, r: &mut Reservation, bytes: usize) -> bool {
        let want = self.kib(bytes) as usize;
        let have = r.permit.num_permits();
        if want <= have {
            return true;
        }
        match self.sem.clone().try_acquire_many_owned((want - have) as u32) {
            Ok(more) => {
                r.permit.merge(more);
                true
            }
            Err(_) => false,
        }
    }

    /// Hold `bytes` in all for `r`: at once if free, else by waiting at most
    /// `wait` for the rest (the wait is bounded, so two requests that each
    /// hold some and want more cannot wait for each other forever).
    pub async fn grow(&self, r: &mut Reservation, bytes: usize, wait: Duration) -> Result<(), ApiError> {
        if self.try_grow(r, bytes) {
            return Ok(());
        }
        let more = self.kib(bytes).saturating_sub(r.permit.num_permits() as u32).max(1);
        match tokio::time::timeout(wait, self.sem.clone().acquire_many_owned(more)).await {
            Ok(Ok(permit)) => {
                r.permit.merge(permit);
                Ok(())
            }
            Ok(Err(_)) | Err(_) => Err(busy()),
        }
    }
}

pub fn busy() -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the server is busy reading other uploads: retry in a moment")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_wait_grow_and_return() {
        let b = MemoryBudget::new(10 * 1024);
        let mut a = b.reserve(6 * 1024, Duration::from_secs(1)).await.unwrap();
        assert!(b.reserve(6 * 1024, Duration::from_millis(50)).await.is_err(), "only 4 KiB are left");
        assert!(!b.try_grow(&mut a, 11 * 1024 + 1) || a.bytes() == 10 * 1024, "grows to the whole budget at most");
        assert_eq!(a.bytes(), 10 * 1024);
        drop(a);
        let big = b.reserve(1 << 30, Duration::from_secs(1)).await.unwrap();
        assert_eq!(big.bytes(), 10 * 1024, "a request larger than the budget takes all of it and runs alone");
    }
}
