//! `verdict aggregate --junit RUN...`: the offline job-run aggregator.

use crate::cli::{AggregateArgs, StoreArgs};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verdict_core::batch::{CaseResult, JudgedTest, judge};
use verdict_core::decision::{DecisionConfig, History, Status};
use verdict_core::metric_check::MetricConfig;
use verdict_formats::{aggregated, junit};

pub fn run(store: StoreArgs, args: AggregateArgs) -> ExitCode {
    let judged = match &args.suite {
        Some(slug) => crate::runtime().block_on(from_store(&store, slug, &args)),
        None => from_files(&args),
    };
    match judged.and_then(|(judged, runs)| write_outputs(&args, &judged, runs)) {
        Ok(blocking) if blocking > 0 => ExitCode::FAILURE,
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict aggregate: {e}");
            ExitCode::from(2)
        }
    }
}

/// The batch from the store: the runs of --job for --payload in --suite.
async fn from_store(store: &StoreArgs, slug: &str, args: &AggregateArgs) -> Result<(Vec<JudgedTest>, usize), String> {
    let store =
        verdict_store::open(store.database_url.as_deref(), &store.data_dir).await.map_err(|e| format!("cannot open the database: {e}"))?;
    let suite = store.suite_by_slug(slug).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("no suite {slug:?}"))?;
    let payload = args.payload.as_deref().unwrap_or_default();
    let config = DecisionConfig { minimum_attempts: args.min_attempts, ..DecisionConfig::default() };
    let metrics = match &args.metric_config {
        Some(path) => read_metric_config(path)?,
        None => MetricConfig::default(),
    };
    let batch = verdict_analysis::aggregate::judge_batch(store.as_ref(), suite.id, &args.job, payload, &config, &metrics)
        .await
        .map_err(|e| e.to_string())?;
    Ok((batch.tests, batch.runs))
}

/// The batch from JUnit files, one run per --junit argument.
fn from_files(args: &AggregateArgs) -> Result<(Vec<JudgedTest>, usize), String> {
    let mut runs: Vec<(String, Vec<CaseResult>)> = Vec::new();
    for path in &args.runs {
        let id = run_id(path)?;
        if runs.iter().any(|(other, _)| *other == id) {
            return Err(format!("two runs are named {id:?}: give each run its own file or directory name"));
        }
        let mut results = Vec::new();
        for file in junit_files(path)? {
            let bytes = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let report = junit::parse_with_cap(&bytes, usize::MAX).map_err(|e| format!("{}: {}", file.display(), e.message))?;
            results.extend(report.executions.iter().enumerate().map(|(i, e)| CaseResult {
                suite: report.suite_path(i),
                name: e.name.clone(),
                outcome: e.outcome,
                lifecycle: report.origins[i].lifecycle.as_deref().map(str::to_owned),
            }));
        }
        runs.push((id, results));
    }
    let history = match &args.history {
        Some(path) => read_history(path)?,
        None => HashMap::new(),
    };
    let config = DecisionConfig { minimum_attempts: args.min_attempts, ..DecisionConfig::default() };
    let judged = judge(
        &runs,
        &args.job,
        |suite, name| history.get(&(suite.to_owned(), name.to_owned())).map_or(History::Missing, |&p| History::WorkingPercentage(p)),
        &config,
    );
    Ok((judged, runs.len()))
}

/// Write the report files and the table; returns how many tests failed in a blocking way.
fn write_outputs(args: &AggregateArgs, judged: &[JudgedTest], runs: usize) -> Result<usize, String> {
    std::fs::write(&args.output, aggregated::write(judged)).map_err(|e| format!("{}: {e}", args.output.display()))?;
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(judged).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(print_table(judged, runs))
}

fn run_id(path: &Path) -> Result<String, String> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| format!("{}: no usable file name for a run id", path.display()))?;
    Ok(name.strip_suffix(".xml").unwrap_or(name).to_owned())
}

fn junit_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let pattern = format!("{}/**/*.xml", glob::Pattern::escape(&path.display().to_string()));
    let mut files: Vec<PathBuf> = glob::glob(&pattern).map_err(|e| e.to_string())?.filter_map(Result::ok).collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no .xml files in this run's directory", path.display()));
    }
    Ok(files)
}

fn read_metric_config(path: &Path) -> Result<MetricConfig, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config: MetricConfig =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: line {}, column {}: {e}", path.display(), e.line(), e.column()))?;
    match config.problem() {
        Some(why) => Err(format!("{}: {why}", path.display())),
        None => Ok(config),
    }
}

fn read_history(path: &Path) -> Result<HashMap<(String, String), f64>, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        suite: String,
        name: String,
        working_percentage: f64,
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rows: Vec<Row> = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{}: line {}, column {}: {e} (expected [{{\"suite\", \"name\", \"working_percentage\"}}, ...])",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    rows.into_iter()
        .map(|r| {
            if (0.0..=100.0).contains(&r.working_percentage) {
                Ok(((r.suite, r.name), r.working_percentage))
            } else {
                Err(format!("{}: working_percentage {} of {:?} is not between 0 and 100", path.display(), r.working_percentage, r.name))
            }
        })
        .collect()
}

/// Print the failed tests and a summary line; returns the number of blocking failures.
fn print_table(judged: &[JudgedTest], runs: usize) -> usize {
    let failed: Vec<&JudgedTest> = judged.iter().filter(|t| t.decision.status == Status::Failed).collect();
    let blocking = failed.iter().filter(|t| t.blocks()).count();
    if !failed.is_empty() {
        println!("{:<12} {:>8} {:>8} {:>8}  SUITE / TEST", "FAILED", "PASSES", "REQUIRED", "HISTORY");
        for t in &failed {
            let d = &t.decision;
            let kind = if t.blocks() { "blocking" } else { "informing" };
            let required = d.required.map_or("-".to_string(), |r| r.to_string());
            let history = d.working_percentage.map_or("-".to_string(), |w| format!("{w}%"));
            println!("{kind:<12} {:>8} {required:>8} {history:>8}  {} / {}", format!("{}/{}", d.passes, d.attempts), t.suite, t.name);
            println!("{:<12} {}", "", d.summary);
        }
        println!();
    }
    let skipped = judged.iter().filter(|t| t.decision.status == Status::Skipped).count();
    println!(
        "{} tests over {runs} runs: {} passed, {} failed ({blocking} blocking){}",
        judged.len(),
        judged.len() - failed.len() - skipped,
        failed.len(),
        if skipped > 0 { format!(", {skipped} skipped") } else { String::new() }
    );
    blocking
}
