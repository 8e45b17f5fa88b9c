//! `verdict report create|show|run`: test-suite reports on the store
//! (ReSim's model; see `verdict_analysis::resim`; `run` in `report_run`).

use crate::cli::{ReportCommand, StoreArgs};
use std::process::ExitCode;
use verdict_analysis::resim::{self, Project, ReportAsk, ReportView};

pub async fn run(store: StoreArgs, cmd: ReportCommand) -> ExitCode {
    match go(store, cmd).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Setup(e)) => {
            eprintln!("verdict report: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Program(e)) => {
            eprintln!("verdict report run: {e}");
            ExitCode::from(1)
        }
    }
}

/// Exit 2: the arguments, the report or the store; exit 1: the program `report run` ran.
enum Failure {
    Setup(String),
    Program(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Setup(e)
    }
}

/// A window length: a number and a unit (d, h, m): `28d`.
fn length_ms(text: &str) -> Result<i64, String> {
    let bad = || format!("--length {text:?}: a number and a unit, d, h or m (28d, 36h, 90m)");
    let unit = match text.chars().last().ok_or_else(bad)? {
        'd' => 86_400_000,
        'h' => 3_600_000,
        'm' => 60_000,
        _ => return Err(bad()),
    };
    let n: i64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
    if n <= 0 || n > 100 * 365 * 86_400_000 / unit {
        return Err(bad());
    }
    Ok(n * unit)
}

/// An RFC 3339 time or a UTC date, as the dashboard's `from`/`to` take them.
fn time_ms(flag: &str, text: &str) -> Result<i64, String> {
    verdict_core::range::instant(text)
        .ok_or_else(|| format!("--{flag} {text:?}: an RFC 3339 time (2024-03-01T00:00:00Z) or a date (2024-03-01)"))
}

fn show_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// A report-metrics program's `report_config.json` for report `r` (the ReSim spec, §2).
pub(crate) fn config_json(p: &Project, r: &ReportView, api_url: &str, token: &str) -> serde_json::Value {
    serde_json::json!({"authToken": token, "apiURL": api_url, "projectID": p.id(), "reportID": r.id})
}

async fn go(store: StoreArgs, cmd: ReportCommand) -> Result<(), Failure> {
    let now = crate::now_ms();
    match cmd {
        ReportCommand::Create { suite, branch, length, from, to, name, respect_revision_boundary, config_out, api_url, token } => {
            let (store, suite) = crate::failures::open(&store, &suite).await?;
            let end_ms = to.as_deref().map(|t| time_ms("to", t)).transpose()?.unwrap_or(now);
            let start_ms = match (from, length) {
                (Some(f), _) => time_ms("from", &f)?,
                (None, Some(l)) => end_ms - length_ms(&l)?,
                (None, None) => end_ms - 28 * 86_400_000,
            };
            let ask = ReportAsk { branch, name, start_ms, end_ms, respect_revision: respect_revision_boundary };
            let r = resim::create_report(store.as_ref(), &suite, ask, now).await.map_err(|e| e.to_string())?;
            let p = Project::of(store.as_ref()).await.map_err(|e| e.to_string())?;
            let config = serde_json::to_string_pretty(&config_json(&p, &r, &api_url, &token)).map_err(|e| e.to_string())?;
            if let Some(path) = config_out {
                std::fs::write(&path, format!("{config}\n")).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
            println!("report  {}", r.id);
            println!("project {}", p.id());
            println!("{config}");
        }
        ReportCommand::Run { id, api_url, token, inputs_dir, outputs_dir, command } => {
            let store = verdict_store::open(store.database_url.as_deref(), &store.data_dir)
                .await
                .map_err(|e| Failure::Setup(format!("cannot open the database: {e}")))?;
            let ask = crate::report_run::RunAsk { id, api_url, token, inputs_dir, outputs_dir, command };
            crate::report_run::run(store.as_ref(), ask, crate::now_ms).await.map_err(|e| match e {
                crate::report_run::RunError::Setup(m) => Failure::Setup(m),
                crate::report_run::RunError::Program(m) => Failure::Program(m),
            })?;
        }
        ReportCommand::Show { id, json } => {
            let store = verdict_store::open(store.database_url.as_deref(), &store.data_dir)
                .await
                .map_err(|e| format!("cannot open the database: {e}"))?;
            let p = Project::of(store.as_ref()).await.map_err(|e| e.to_string())?;
            let r = resim::report(store.as_ref(), &p, &id).await.map_err(|e| e.to_string())?;
            let report = verdict_analysis::reports::native(store.as_ref(), &verdict_analysis::reports::window_of(&r))
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let v = serde_json::json!({
                    "id": r.id, "project": p.id(), "name": r.name, "branch": r.branch_name,
                    "start": show_time(r.start_ms), "end": show_time(r.end_ms),
                    "respect_revision_boundary": r.respect_revision,
                    "report": report,
                });
                println!("{}", serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
                return Ok(());
            }
            let t = &report.totals;
            println!("report  {} ({})", r.id, r.name);
            println!("project {}", p.id());
            println!("branch  {}, from {} to {}", r.branch_name, show_time(r.start_ms), show_time(r.end_ms));
            println!("{} runs", t.batches);
            println!(
                "{} jobs; runs: {} passed, {} warning, {} blocker, {} error",
                t.tests, t.passed_batches, t.fail_warn_batches, t.fail_block_batches, t.error_batches
            );
            println!(
                "\n{:<10} {:<12} {:<8} {:>6} {:>6} {:>6} {:>6}  PASS RATE (95% CI)",
                "RUN", "BUILD", "STATUS", "PASS", "WARN", "BLOCK", "CANC"
            );
            for b in &report.batches {
                let rate = b
                    .pass_rate
                    .map_or_else(|| "—".to_owned(), |p| format!("{:.1}% [{:.1}–{:.1}]", p.rate * 100.0, p.low * 100.0, p.high * 100.0));
                let build: String = b.build_version.chars().take(12).collect();
                let s = &b.statuses;
                println!(
                    "{:<10} {build:<12} {:<8} {:>6} {:>6} {:>6} {:>6}  {rate}",
                    b.name, b.status, s.passed, s.warning, s.blocker, s.cancelled
                );
            }
            let failing: Vec<_> = report.experiences.iter().filter(|e| e.counts.blocker + e.counts.warning > 0).take(SHOWN_TESTS).collect();
            if !failing.is_empty() {
                println!("\nmost failing tests (blocker, warning runs):");
                for e in failing {
                    println!("  {:>5} {:>5}  {}", e.counts.blocker, e.counts.warning, e.name);
                }
            }
        }
    }
    Ok(())
}

/// Tests listed under "most failing" (`--json` has them all).
const SHOWN_TESTS: usize = 10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_times() {
        assert_eq!(length_ms("28d"), Ok(28 * 86_400_000));
        assert_eq!(length_ms("90m"), Ok(90 * 60_000));
        assert!(length_ms("0d").is_err());
        assert!(length_ms("3w").is_err());
        assert!(length_ms("").is_err());
        assert_eq!(time_ms("from", "2024-03-01"), Ok(1_709_251_200_000));
        assert_eq!(time_ms("from", "2024-03-01T01:00:00+01:00"), Ok(1_709_251_200_000));
        assert!(time_ms("from", "March").unwrap_err().contains("--from"));
    }
}
