//! `verdict summary`: a run against its base, from the server, as Markdown
//! for where developers look; and what `verdict upload` and `verdict run`
//! do with it after an upload: append it to `$GITHUB_STEP_SUMMARY` when that
//! is set, and pipe it to `buildkite-agent annotate` with `--annotate`.

use crate::cli::{SummaryArgs, Target};
use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::Duration;

const ATTEMPTS: u32 = 3;
const TIMEOUT: Duration = Duration::from_secs(30);

/// Which run: its id (from an upload's answer) or its key.
pub enum Which<'a> {
    Id(&'a str),
    Key(&'a str),
}

pub fn run(args: SummaryArgs) -> ExitCode {
    let token = crate::upload::token_of(args.target.token.as_deref());
    let which = match (&args.run, &args.target.run_key) {
        (Some(id), None) => Which::Id(id),
        (None, Some(key)) => Which::Key(key),
        _ => {
            eprintln!("verdict summary: give --run ID or --run-key KEY");
            return ExitCode::from(2);
        }
    };
    let text = match fetch(&args.target, token.as_deref().ok(), &which, &args.format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("verdict summary: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{text}");
    if args.target.annotate {
        annotate(&args.target, token.as_deref().ok(), &which);
    }
    ExitCode::SUCCESS
}

/// The summary text (`format`: json, markdown, github-summary or buildkite-annotation).
pub fn fetch(target: &Target, token: Option<&str>, which: &Which, format: &str) -> Result<String, String> {
    let (key, value) = match which {
        Which::Id(id) => ("run", *id),
        Which::Key(k) => ("run_key", *k),
    };
    let base = format!("{}/v1/summary", target.url.trim_end_matches('/'));
    let url = reqwest::Url::parse_with_params(&base, &[(key, value), ("format", format)]).map_err(|e| format!("{base}: {e}"))?;
    let client = reqwest::blocking::Client::builder().timeout(TIMEOUT).build().map_err(|e| e.to_string())?;
    let mut last = String::new();
    for attempt in 1..=ATTEMPTS {
        let mut req = client.get(url.clone());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        match req.send() {
            Ok(r) if r.status().is_success() => return r.text().map_err(|e| format!("reading the summary: {e}")),
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                let body: serde_json::Value = r.json().unwrap_or_default();
                return Err(format!("the server refused {url} ({status}): {}", body["message"].as_str().unwrap_or_default()));
            }
            Ok(r) => last = format!("the server answered {}", r.status()),
            Err(e) => last = format!("cannot reach {url}: {e}"),
        }
        if attempt < ATTEMPTS {
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
        }
    }
    Err(last)
}

/// After an upload: the step summary and the annotation, each best effort (a warning, never an exit status).
pub fn publish(target: &Target, token: &str, run_id: &str, tool: &str) {
    let which = Which::Id(run_id);
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) {
        let written = fetch(target, Some(token), &which, "github-summary").and_then(|text| {
            let mut f = std::fs::OpenOptions::new().append(true).create(true).open(&path).map_err(|e| e.to_string())?;
            f.write_all(text.as_bytes()).and_then(|()| f.write_all(b"\n")).map_err(|e| e.to_string())
        });
        match written {
            Ok(()) => eprintln!("{tool}: wrote the run's summary to $GITHUB_STEP_SUMMARY"),
            Err(e) => eprintln!("{tool}: warning: no step summary: {e}"),
        }
    }
    if target.annotate {
        annotate(target, Some(token), &which);
    }
}

/// `buildkite-agent annotate --context verdict --style success|error` with the summary on its stdin.
fn annotate(target: &Target, token: Option<&str>, which: &Which) {
    let text = match fetch(target, token, which, "buildkite-annotation") {
        Ok(t) => t,
        Err(e) => return eprintln!("verdict: warning: no annotation: {e}"),
    };
    let style = if text.starts_with("### ✅") { "success" } else { "error" };
    let child = Command::new("buildkite-agent")
        .args(["annotate", "--context", "verdict", "--style", style])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return eprintln!("verdict: warning: --annotate: cannot run buildkite-agent (is it on PATH?): {e}"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    match child.wait() {
        Ok(s) if s.success() => eprintln!("verdict: annotated the build"),
        Ok(s) => eprintln!("verdict: warning: buildkite-agent annotate exited {s}"),
        Err(e) => eprintln!("verdict: warning: buildkite-agent annotate: {e}"),
    }
}
