//! Throwaway stores for tests: a SQLite file in a temporary directory, or a
//! fresh schema in the PostgreSQL named by VERDICT_TEST_DATABASE_URL
//! (default postgres://postgres@127.0.0.1:5432/test). A test that asks for
//! PostgreSQL fails loudly when it is not there.

use crate::Store;
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn pg_url() -> String {
    std::env::var("VERDICT_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub dir: tempfile::TempDir,
    /// For PostgreSQL: the URL that opens this very schema (for a server process).
    pub database_url: Option<String>,
    schema: Option<String>,
}

/// A new PostgreSQL schema with nothing in it (no migrations run): its URL,
/// for server processes to migrate and share, and its name, for `drop_schema`.
pub async fn empty_postgres_schema() -> (String, String) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
    let schema = format!("e_{}_{nanos}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is required for this test ({}): {e}", pg_url()));
    tokio::spawn(conn);
    client.batch_execute(&format!("CREATE SCHEMA {schema}")).await.expect("create the test schema");
    let sep = if pg_url().contains('?') { '&' } else { '?' };
    (format!("{}{sep}options=-c%20search_path%3D{schema}", pg_url()), schema)
}

pub async fn drop_schema(schema: &str) {
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await.expect("connect to drop the schema");
    tokio::spawn(conn);
    client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop the test schema");
}

/// One number from a PostgreSQL database by URL.
pub async fn pg_scalar(url: &str, sql: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
    tokio::spawn(conn);
    client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        match backend {
            Backend::Sqlite => {
                let store = SqliteStore::open_dir(dir.path()).expect("open SQLite");
                TestStore { store: Arc::new(store), dir, database_url: None, schema: None }
            }
            Backend::Postgres => {
                static N: AtomicU32 = AtomicU32::new(0);
                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().subsec_nanos();
                let schema = format!("t_{}_{}_{nanos}", std::process::id(), N.fetch_add(1, Ordering::SeqCst));
                let store = PgStore::connect_in_schema(&pg_url(), &schema)
                    .await
                    .unwrap_or_else(|e| panic!("PostgreSQL is required for this test ({}): {e}", pg_url()));
                let sep = if pg_url().contains('?') { '&' } else { '?' };
                let url = format!("{}{sep}options=-c%20search_path%3D{schema}", pg_url());
                TestStore { store: Arc::new(store), dir, database_url: Some(url), schema: Some(schema) }
            }
        }
    }

    /// One number from the store's own tables, for checks the store API does not show
    /// (how many rows a step wrote, say). `sql` must work in both dialects.
    pub async fn scalar(&self, sql: &str) -> i64 {
        match &self.database_url {
            None => {
                let c = rusqlite::Connection::open(self.dir.path().join("verdict.db")).expect("open the SQLite file");
                c.query_row(sql, [], |r| r.get(0)).unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Some(url) => {
                let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
                tokio::spawn(conn);
                client.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
            }
        }
    }

    /// Drop the PostgreSQL schema (the temporary directory goes on drop).
    pub async fn cleanup(self) {
        if let Some(schema) = &self.schema {
            let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await.expect("connect to drop the schema");
            tokio::spawn(conn);
            client.batch_execute(&format!("DROP SCHEMA {schema} CASCADE")).await.expect("drop the test schema");
        }
    }
}
