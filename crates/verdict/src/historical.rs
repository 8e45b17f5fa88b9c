//! `verdict analyze-historical-data`: percentile allowances, current against
//! new, from files (disruptions, alerts) or from the store (test durations).

use crate::cli::{AnalyzeArgs, StoreArgs};
use serde::de::DeserializeOwned;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use verdict_analysis::compare::parse_selection;
use verdict_core::historical::{self, AlertRow, DisruptionRow, PercentileRow, TestDurationRow, seconds_string};
use verdict_core::stats::quantile;
use verdict_store::TestDurations;

pub fn run(store: StoreArgs, args: AnalyzeArgs) -> ExitCode {
    let outcome = match args.data_type.as_str() {
        "disruptions" => from_files::<DisruptionRow>(&args),
        "alerts" => from_files::<AlertRow>(&args),
        _ => crate::runtime().block_on(from_store(&store, &args)),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(format!("analyze-historical-data: {e}")),
    }
}

fn from_files<R: PercentileRow + DeserializeOwned>(args: &AnalyzeArgs) -> Result<(), String> {
    let (Some(current), Some(new), Some(target), Some(previous)) = (&args.current, &args.new, &args.target_release, &args.previous_release)
    else {
        return Err(format!("--data-type {} needs --current, --new, --target-release and --previous-release", args.data_type));
    };
    let (current, new) = (read_rows::<R>(current)?, read_rows::<R>(new)?);
    write_outputs(args, &current, &new, &[previous.as_str(), target.as_str()])
}

async fn from_store(store: &StoreArgs, args: &AnalyzeArgs) -> Result<(), String> {
    let slug = args.suite.as_deref().ok_or("--data-type tests needs --suite (the durations come from the store)")?;
    let now = crate::now_ms();
    let current_window = parse_selection(&args.current_window, now).map_err(|e| format!("--current-window: {e}"))?;
    let new_window = parse_selection(&args.new_window, now).map_err(|e| format!("--new-window: {e}"))?;
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    let rows = async |window| -> Result<Vec<TestDurationRow>, String> {
        Ok(store.test_durations(suite.id, window).await.map_err(|e| e.to_string())?.into_iter().map(duration_row).collect())
    };
    let (current, new) = (rows(&current_window).await?, rows(&new_window).await?);
    if current.is_empty() || new.is_empty() {
        let which = if current.is_empty() {
            format!("--current-window {}", args.current_window)
        } else {
            format!("--new-window {}", args.new_window)
        };
        return Err(format!("no timed results of suite {slug:?} in {which}"));
    }
    write_outputs(args, &current, &new, &[])
}

fn duration_row(t: TestDurations) -> TestDurationRow {
    let mut d = t.durations;
    let mut p = |q: f64| seconds_string(quantile(&mut d, q).unwrap_or(0.0));
    let (p95, p99, p75, p50) = (p(0.95), p(0.99), p(0.75), p(0.50));
    TestDurationRow { suite: t.scope, test_name: t.name, job_runs: d.len() as i64, p95, p99, p75, p50 }
}

fn read_rows<R: DeserializeOwned>(path: &Path) -> Result<Vec<R>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: Vec<R> =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: line {}, column {}: {e}", path.display(), e.line(), e.column()))?;
    if rows.is_empty() {
        return Err(format!("{}: no rows", path.display()));
    }
    Ok(rows)
}

fn write_outputs<R: PercentileRow>(args: &AnalyzeArgs, current: &[R], new: &[R], releases: &[&str]) -> Result<(), String> {
    if !(args.leeway.is_finite() && args.leeway >= 0.0) {
        return Err(format!("--leeway {} must be 0 or more", args.leeway));
    }
    let dt = args.data_type.as_str();
    let c = historical::compare(current, new, releases, args.leeway);
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let output = dir.join(args.output_file.clone().unwrap_or_else(|| format!("results_{dt}.json").into()));
    std::fs::write(&output, historical::output_file(new, releases)).map_err(|e| format!("{}: {e}", output.display()))?;
    append(&dir.join("pr_message.md"), &historical::pr_message::<R>(dt, &c, args.leeway, args.min_job_runs))?;
    let review = historical::require_review(dt, &c, args.leeway);
    if !review.is_empty() {
        append(&dir.join("require_review"), &review)?;
    }
    eprintln!(
        "{dt}: {} compared, {} increased beyond {:.2}%, {} decreased, {} added, {} missing; rows written to {}",
        c.compared.len(),
        c.increases,
        args.leeway,
        c.decreases,
        c.added.len(),
        c.missing.len(),
        output.display()
    );
    Ok(())
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
