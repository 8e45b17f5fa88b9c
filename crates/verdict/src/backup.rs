//! `verdict backup --to FILE`: the SQLite store copied while the server runs
//! (`verdict_store::sqlite::backup`).

use crate::cli::{BackupArgs, StoreArgs};
use std::process::ExitCode;

pub fn run(store: StoreArgs, args: BackupArgs) -> ExitCode {
    if store.database_url.is_some() {
        eprintln!(
            "verdict backup: copies the embedded SQLite store; for PostgreSQL use pg_dump (pg_dump -Fc -f verdict.dump DATABASE_URL, README \"Backups\")"
        );
        return ExitCode::from(2);
    }
    let db = store.data_dir.join("verdict.db");
    let started = std::time::Instant::now();
    match verdict_store::sqlite::backup::backup(&db, &args.to) {
        Ok(s) => {
            println!(
                "{}: {} bytes, {} suites, {} runs, {} executions, copied in {:.1} s",
                args.to.display(),
                s.bytes,
                s.suites,
                s.runs,
                s.executions,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("verdict backup: {e}");
            ExitCode::from(2)
        }
    }
}
