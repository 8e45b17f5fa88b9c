//! Owners files on SQLite (see `crate::owners`).

use super::SqliteStore;
use crate::error::StoreError;
use crate::owners::*;
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

pub(super) fn stored_row(r: &Row<'_>) -> rusqlite::Result<StoredOwners> {
    Ok(StoredOwners { suite_id: r.get(0)?, version: r.get(1)?, content: r.get(2)?, uploaded_at_ms: r.get(3)?, uploaded_by: r.get(4)? })
}

/// The suite's file, read in a transaction (the write path's events).
pub(super) fn owners_file_in(c: &Connection, suite_id: i64) -> Result<Option<StoredOwners>, StoreError> {
    Ok(c.prepare_cached(OWNERS_FILE)?.query_row([suite_id], stored_row).optional()?)
}

#[async_trait]
impl OwnersStore for SqliteStore {
    async fn set_owners_file(&self, suite_id: i64, content: &str, by: &str, now_ms: i64) -> Result<i64, StoreError> {
        let (content, by) = (content.to_owned(), by.to_owned());
        self.writer
            .write_small(move |c| Ok(c.prepare_cached(SET_OWNERS_FILE)?.query_row(params![suite_id, content, now_ms, by], |r| r.get(0))?))
            .await
    }

    async fn owners_file(&self, suite_id: i64) -> Result<Option<StoredOwners>, StoreError> {
        self.read_here(move |c| owners_file_in(c, suite_id)).await
    }

    async fn test_paths(&self, suite_id: i64) -> Result<Vec<TestPath>, StoreError> {
        self.read(move |c| {
            Ok(c.prepare_cached(TEST_PATHS)?
                .query_map([suite_id], |r| Ok(TestPath { id: r.get(0)?, file_name: r.get(1)?, location: r.get(2)? }))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }
}
