//! Owners files on PostgreSQL (see `crate::owners`).

use super::{PgStore, dollars};
use crate::error::StoreError;
use crate::owners::*;
use async_trait::async_trait;
use tokio_postgres::{Error as PgError, GenericClient, Row};

fn stored_row(r: &Row) -> StoredOwners {
    StoredOwners { suite_id: r.get(0), version: r.get(1), content: r.get(2), uploaded_at_ms: r.get(3), uploaded_by: r.get(4) }
}

/// The suite's file, read in a transaction (the write path's events).
pub(super) async fn owners_file_in(c: &impl GenericClient, suite_id: i64) -> Result<Option<StoredOwners>, PgError> {
    Ok(c.query_opt(&dollars(OWNERS_FILE), &[&suite_id]).await?.as_ref().map(stored_row))
}

#[async_trait]
impl OwnersStore for PgStore {
    async fn set_owners_file(&self, suite_id: i64, content: &str, by: &str, now_ms: i64) -> Result<i64, StoreError> {
        let c = self.client().await?;
        Ok(c.query_one(&dollars(SET_OWNERS_FILE), &[&suite_id, &content, &now_ms, &by]).await?.get(0))
    }

    async fn owners_file(&self, suite_id: i64) -> Result<Option<StoredOwners>, StoreError> {
        let c = self.client().await?;
        Ok(owners_file_in(&**c, suite_id).await?)
    }

    async fn test_paths(&self, suite_id: i64) -> Result<Vec<TestPath>, StoreError> {
        let c = self.client().await?;
        let rows = c.query(&dollars(TEST_PATHS), &[&suite_id]).await?;
        Ok(rows.iter().map(|r| TestPath { id: r.get(0), file_name: r.get(1), location: r.get(2) }).collect())
    }
}
