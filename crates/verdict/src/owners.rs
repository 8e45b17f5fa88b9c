//! `verdict owners upload|show|of` (and `verdict suite owners SUITE FILE`):
//! a suite's owners file, on the store.

use crate::cli::{OwnersCommand, StoreArgs};
use std::process::ExitCode;
use verdict_analysis::owners::{self, Owners, UploadError};

pub async fn run(store: StoreArgs, cmd: OwnersCommand) -> ExitCode {
    match go(store, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict owners: {e}");
            ExitCode::from(2)
        }
    }
}

/// Keep `file` as the suite's owners file; the lines left out are printed with their numbers.
pub async fn upload_into(store: &dyn verdict_store::Store, slug: &str, file: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    let done = owners::upload(store, &suite, &bytes, "cli", crate::now_ms()).await.map_err(|e| match e {
        UploadError::Invalid(e) => format!("{}: {e}", file.display()),
        UploadError::Store(e) => e.to_string(),
    })?;
    for p in &done.problems {
        eprintln!("{}:{}: {} ({})", file.display(), p.line, p.problem, p.text);
    }
    eprintln!(
        "Stored {} as the owners file of {} (version {}, {} lines with owners).",
        file.display(),
        suite.slug,
        done.version,
        done.rules
    );
    Ok(())
}

async fn go(store: StoreArgs, cmd: OwnersCommand) -> Result<(), String> {
    match cmd {
        OwnersCommand::Upload { suite, file } => {
            let store = verdict_store::open(store.database_url.as_deref(), &store.data_dir)
                .await
                .map_err(|e| format!("cannot open the database: {e}"))?;
            upload_into(store.as_ref(), &suite, &file).await
        }
        OwnersCommand::Show { suite, json } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let view = owners::owners_view(store.as_ref(), suite.id).await.map_err(|e| e.to_string())?;
            let view = view.ok_or_else(|| format!("suite {:?} has no owners file", suite.slug))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&view).map_err(|e| e.to_string())?);
            } else {
                print!("{}", view.stored.content);
                eprintln!("(version {}, {} lines with owners, {} left out)", view.stored.version, view.rules, view.problems.len());
            }
            Ok(())
        }
        OwnersCommand::Of { suite, paths } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let owners = Owners::of_suite(store.as_ref(), suite.id).await.map_err(|e| e.to_string())?;
            for p in paths {
                let of = owners.of(Some(&p), None);
                println!("{p}\t{}", if of.is_empty() { "(no owner)".to_owned() } else { of.join(" ") });
            }
            Ok(())
        }
    }
}
