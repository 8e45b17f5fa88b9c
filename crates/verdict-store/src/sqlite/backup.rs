//! `verdict backup`: a consistent copy of the SQLite store while a server
//! may be writing it, by SQLite's online backup API.
//!
//! The copy is made in one step, so in one read transaction: a snapshot of
//! the store as of its start (with WAL the server's writers go on meanwhile;
//! a stepwise copy would restart at each of their commits and, under steady
//! uploads, might never end). It is written beside the target and renamed
//! into place once checked, so the target is never a partial file.

use crate::error::StoreError;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// What a backup holds, read back from the copy.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSummary {
    pub bytes: u64,
    pub suites: i64,
    pub runs: i64,
    pub executions: i64,
}

fn db_error(what: &str, path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Database(format!("{what} {}: {e}", path.display()))
}

pub fn backup(db: &Path, to: &Path) -> Result<BackupSummary, StoreError> {
    if !db.exists() {
        return Err(StoreError::NotFound(format!("no store at {}", db.display())));
    }
    if to.exists() {
        return Err(StoreError::Conflict(format!("{} exists: give a new file", to.display())));
    }
    let source = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| db_error("cannot open", db, e))?;
    source.busy_timeout(std::time::Duration::from_secs(30))?;
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
    let partial = to.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = copy(&source, &partial).and_then(|summary| {
        std::fs::rename(&partial, to).map_err(|e| db_error("cannot move the copy to", to, e))?;
        Ok(summary)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

fn copy(source: &Connection, to: &Path) -> Result<BackupSummary, StoreError> {
    let mut target = Connection::open(to).map_err(|e| db_error("cannot create", to, e))?;
    {
        use rusqlite::backup::{Backup, StepResult};
        let backup = Backup::new(source, &mut target)?;
        // -1: every page in one step (see the module's comment). Busy or
        // locked (the server's writer checkpointing): wait and try again.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                _ if std::time::Instant::now() > deadline => {
                    return Err(db_error("the store stayed locked for 60 s; no copy made of", to, "busy"));
                }
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }
    let check: String = target.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(db_error("the copy failed its check,", to, check));
    }
    let count = |table: &str| target.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0));
    let summary = BackupSummary { bytes: 0, suites: count("suites")?, runs: count("runs")?, executions: count("executions")? };
    drop(target);
    let bytes = std::fs::metadata(to).map_err(|e| db_error("cannot read", to, e))?.len();
    Ok(BackupSummary { bytes, ..summary })
}
