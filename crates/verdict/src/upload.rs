//! `verdict upload`: read result files, check them here (errors name the
//! file and line), and send them as Buildkite JSON uploads of at most 5000
//! results, all under one run key.

use crate::ci;
use crate::cli::UploadArgs;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use verdict_core::{ExecutionRecord, MAX_RESULTS_PER_UPLOAD};
use verdict_formats::buildkite::{self, result_json};
use verdict_formats::junit;

const ATTEMPTS: u32 = 5;

pub fn run(args: UploadArgs) -> ExitCode {
    let strict = args.strict;
    match upload(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("verdict upload: {e}");
            if strict {
                ExitCode::FAILURE
            } else {
                eprintln!("verdict upload: exiting 0 so the build is not broken by the upload (use --strict to fail)");
                ExitCode::SUCCESS
            }
        }
    }
}

fn upload(args: UploadArgs) -> Result<(), String> {
    let token = token_of(args.target.token.as_deref())?;
    let files = expand(&args.paths)?;
    let mut records = Vec::new();
    for file in &files {
        records.extend(read_file(file, args.format.as_deref())?);
    }
    if records.is_empty() {
        return Err(format!(
            "the files hold no test results: {}",
            files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let (run_url, run_id) = send(&records, files.len(), &args, &token)?;
    println!("{run_url}");
    crate::summary::publish(&args.target, &token, &run_id, "verdict upload");
    Ok(())
}

/// The upload token: `--token`/`VERDICT_TOKEN`, else `BUILDKITE_ANALYTICS_TOKEN`.
pub(crate) fn token_of(given: Option<&str>) -> Result<String, String> {
    given
        .map(str::to_owned)
        .or_else(|| std::env::var("BUILDKITE_ANALYTICS_TOKEN").ok())
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| "no upload token: set VERDICT_TOKEN (or BUILDKITE_ANALYTICS_TOKEN) or pass --token".to_owned())
}

/// Send `records` (read from `files` files) as uploads of at most 5000 under one run key; the run's URL.
/// Upload the records; the run's URL and id.
pub(crate) fn send(records: &[ExecutionRecord], files: usize, args: &UploadArgs, token: &str) -> Result<(String, String), String> {
    let results: Vec<Value> = records.iter().map(result_json).collect();
    let run_env = run_env(args);
    let tags = tags(&args.tags)?;
    let metrics = metrics(&args.metrics)?;
    let endpoint = format!("{}/v1/uploads", args.target.url.trim_end_matches('/'));
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;

    let bar = ProgressBar::new(results.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} results").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let (mut queued, mut skipped, mut run_url, mut run_id) = (0u64, 0u64, String::new(), String::new());
    for chunk in results.chunks(MAX_RESULTS_PER_UPLOAD) {
        let body = json!({"format": "json", "run_env": run_env, "tags": tags, "data": chunk});
        let reply = post_with_retries(&client, &endpoint, token, &body)?;
        queued += reply["queued"].as_u64().unwrap_or(0);
        skipped += reply["skipped"].as_u64().unwrap_or(0);
        for reason in reply["skipped_reasons"].as_array().into_iter().flatten() {
            bar.suspend(|| eprintln!("skipped: {}", reason.as_str().unwrap_or_default()));
        }
        run_url = reply["run_url"].as_str().unwrap_or_default().to_owned();
        run_id = reply["run_id"].as_str().unwrap_or_default().to_owned();
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    eprintln!("Uploaded {queued} results ({skipped} skipped) from {files} file(s).");
    if !metrics.is_empty() {
        let url = format!("{}/api/v1/runs/{run_id}/metrics", args.target.url.trim_end_matches('/'));
        post_with_retries(&client, &url, token, &json!({ "metrics": metrics }))?;
        eprintln!("Set {} run metric(s).", metrics.len());
    }
    Ok((run_url, run_id))
}

fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in patterns {
        let matches: Vec<PathBuf> =
            glob::glob(p).map_err(|e| format!("bad pattern {p:?}: {e}"))?.filter_map(Result::ok).filter(|f| f.is_file()).collect();
        if matches.is_empty() {
            return Err(format!("no file matches {p:?}"));
        }
        files.extend(matches);
    }
    files.sort();
    files.dedup();
    Ok(files)
}

pub(crate) fn read_file(path: &PathBuf, format: Option<&str>) -> Result<Vec<ExecutionRecord>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
    let format = match format {
        Some(f) => f,
        None if ext == "xml" => "junit",
        None if ext == "json" => "json",
        None => {
            return Err(format!("{}: cannot tell the format from the extension: pass --format junit or --format json", path.display()));
        }
    };
    let named = |e: verdict_formats::FormatError| format!("{}: {}", path.display(), e.message);
    let records = if format == "junit" {
        // Any number of results: they are sent in uploads of at most 5000.
        let report = junit::parse_with_cap(&bytes, usize::MAX).map_err(named)?;
        for why in report.skipped.reasons() {
            eprintln!("verdict upload: {}: will be skipped: {why}", path.display());
        }
        report.executions
    } else {
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: line {}, column {}: not valid JSON: {e}", path.display(), e.line(), e.column()))?;
        // Either a bare array of results (pytest --json, jest) or a whole upload body.
        let items = match value {
            Value::Array(items) => items,
            Value::Object(mut o) => match o.remove("data") {
                Some(Value::Array(items)) => items,
                _ => {
                    return Err(format!("{}: expected an array of test results or an object with a data array", path.display()));
                }
            },
            _ => {
                return Err(format!("{}: expected an array of test results", path.display()));
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            out.push(buildkite::parse_result(item).map_err(|why| format!("{}: result #{}: {why}", path.display(), i + 1))?);
        }
        out
    };
    // The server skips such records and counts them; say here which file they came from.
    for why in records.iter().filter_map(ExecutionRecord::problem) {
        eprintln!("verdict upload: {}: will be skipped: {why}", path.display());
    }
    Ok(records)
}

fn run_env(args: &UploadArgs) -> serde_json::Map<String, Value> {
    let generated = uuid::Uuid::new_v4().to_string();
    let mut env: serde_json::Map<String, Value> =
        ci::run_env(&ci::from_process(), &generated).into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    for (k, v) in [("key", &args.target.run_key), ("branch", &args.target.branch), ("commit_sha", &args.target.commit)] {
        if let Some(v) = v {
            env.insert(k.into(), v.clone().into());
        }
    }
    env.insert("collector".into(), "verdict-cli".into());
    env.insert("version".into(), env!("CARGO_PKG_VERSION").into());
    env
}

fn tags(raw: &[String]) -> Result<serde_json::Map<String, Value>, String> {
    raw.iter()
        .map(|t| t.split_once('=').map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).ok_or(format!("--tag {t:?} is not KEY=VALUE")))
        .collect()
}

fn metrics(raw: &[String]) -> Result<serde_json::Map<String, Value>, String> {
    let mut out = serde_json::Map::new();
    for m in raw {
        let (name, value) = m.split_once('=').ok_or(format!("--metric {m:?} is not NAME=VALUE"))?;
        let value: f64 = value.trim().parse().map_err(|_| format!("--metric {m:?}: {value:?} is not a number"))?;
        if let Some(why) = verdict_core::metric_check::metric_problem(name, value) {
            return Err(format!("--metric {m:?}: {why}"));
        }
        out.insert(name.to_owned(), value.into());
    }
    Ok(out)
}

/// Retry what may pass next time (5xx, connection errors); not what won't (4xx).
fn post_with_retries(client: &reqwest::blocking::Client, url: &str, token: &str, body: &Value) -> Result<Value, String> {
    with_retries(url, ATTEMPTS, || client.post(url).header("Authorization", format!("Token token=\"{token}\"")).json(body).send())
}

/// `send` until it answers 2xx (its JSON) or a 4xx, retrying 5xx and connection errors `attempts` times with backoff.
pub(crate) fn with_retries(
    url: &str,
    attempts: u32,
    send: impl Fn() -> reqwest::Result<reqwest::blocking::Response>,
) -> Result<Value, String> {
    let mut delay = Duration::from_millis(500);
    for attempt in 1..=attempts {
        let sent = send();
        let retry_reason = match sent {
            Ok(resp) if resp.status().is_success() => {
                return resp.json().map_err(|e| format!("the server's reply is not JSON: {e}"));
            }
            Ok(resp) if resp.status().is_server_error() => {
                format!("the server answered {}", resp.status())
            }
            Ok(resp) => {
                let status = resp.status();
                let msg = resp.json::<Value>().ok().and_then(|v| v["message"].as_str().map(str::to_owned)).unwrap_or_default();
                return Err(format!("the server refused {url} ({status}): {msg}"));
            }
            Err(e) => format!("cannot reach {url}: {e}"),
        };
        if attempt == attempts {
            return Err(format!("{retry_reason} (gave up after {attempts} attempts)"));
        }
        eprintln!("verdict: {retry_reason}; retrying in {:.1}s", delay.as_secs_f64());
        std::thread::sleep(delay);
        delay *= 2;
    }
    unreachable!("the loop returns on its last attempt")
}
