//! `verdict run -- COMMAND`: run the tests, upload what they wrote, and
//! forgive the exit status only when every failed test is muted or skipped
//! (the flaky spec, §4.3; bktec's and Trunk's rule). Verdict being down, or
//! anything else going wrong here, never changes the command's status.

use crate::cli::{RunArgs, UploadArgs};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};
use verdict_core::{ExecutionRecord, Outcome};

/// How long one `GET /v1/quarantine` may take.
const QUARANTINE_TIMEOUT: Duration = Duration::from_secs(30);
const QUARANTINE_ATTEMPTS: u32 = 3;

pub fn run(args: RunArgs) -> ExitCode {
    let token = crate::upload::token_of(args.target.token.as_deref());
    if let Some(path) = &args.skip_list {
        write_skip_list(&args, token.as_deref().ok(), path);
        if args.command.is_empty() {
            return ExitCode::SUCCESS;
        }
    }
    let started = SystemTime::now();
    let (code, signalled) = match run_command(&args.command) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("verdict run: cannot start {:?}: {e}", args.command[0]);
            return ExitCode::from(127);
        }
    };
    let records = read_results(&args.results, started);
    if let (false, Some(records)) = (args.no_upload, records.as_ref().filter(|(r, _)| !r.is_empty())) {
        match &token {
            Ok(t) => match crate::upload::send(&records.0, records.1, &upload_args(&args), t) {
                Ok((url, run_id)) => {
                    eprintln!("verdict run: uploaded the results: {url}");
                    crate::summary::publish(&args.target, t, &run_id, "verdict run");
                }
                Err(e) => eprintln!("verdict run: warning: the upload failed (the exit status is unchanged by it): {e}"),
            },
            Err(e) => eprintln!("verdict run: warning: not uploaded: {e}"),
        }
    }
    let failed = records.map(|(r, _)| failed_tests(&r)).unwrap_or_default();
    let exit = decide(code, signalled, &args.forgive_exit_codes, &failed, || quarantine(&args, token.as_deref().ok()));
    ExitCode::from(u8::try_from(exit).unwrap_or(1))
}

/// The command's exit status and whether a signal ended it (then 128 + the signal).
fn run_command(command: &[String]) -> std::io::Result<(i32, bool)> {
    use std::os::unix::process::ExitStatusExt;
    let mut child = std::process::Command::new(&command[0]).args(&command[1..]).spawn()?;
    forward_signals(child.id() as i32);
    let status = child.wait()?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => (c, false),
        (None, Some(sig)) => (128 + sig, true),
        (None, None) => (1, false),
    })
}

/// SIGINT and SIGTERM sent to `verdict run` go on to the command, and do not
/// stop `verdict run` before the command has ended and its status is known.
fn forward_signals(pid: i32) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
        rt.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else { return };
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => libc::SIGINT,
                    _ = term.recv() => libc::SIGTERM,
                };
                // SAFETY: kill(2) with the child's pid and a valid signal number has no memory effects.
                unsafe { libc::kill(pid, sig) };
            }
        });
    });
}

/// The results written since `started` by the files matching `patterns`, and how many files: `None` when there
/// are none. A file that cannot be read is left out with a warning.
fn read_results(patterns: &[String], started: SystemTime) -> Option<(Vec<ExecutionRecord>, usize)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in patterns {
        match glob::glob(p) {
            Ok(paths) => files.extend(paths.filter_map(Result::ok).filter(|f| f.is_file())),
            Err(e) => eprintln!("verdict run: warning: bad pattern {p:?}: {e}"),
        }
    }
    files.sort();
    files.dedup();
    let (mut records, mut used) = (Vec::new(), 0);
    for f in files {
        let fresh = std::fs::metadata(&f).and_then(|m| m.modified()).is_ok_and(|t| t >= started);
        if !fresh {
            eprintln!("verdict run: warning: {} was not written by this run; ignored", f.display());
            continue;
        }
        match crate::upload::read_file(&f, None) {
            Ok(r) => {
                records.extend(r);
                used += 1;
            }
            Err(e) => eprintln!("verdict run: warning: {e}; ignored"),
        }
    }
    if used == 0 {
        eprintln!("verdict run: no result files written by this run match {patterns:?}");
        return None;
    }
    Some((records, used))
}

/// The tests that failed: a failed result and no passed one of the same (scope, name) (a pass on retry cancels it).
pub fn failed_tests(records: &[ExecutionRecord]) -> Vec<(String, String)> {
    let key = |r: &ExecutionRecord| (r.scope.clone(), r.name.clone());
    let passed: HashSet<(String, String)> = records.iter().filter(|r| r.outcome == Outcome::Passed).map(key).collect();
    let mut failed: Vec<(String, String)> =
        records.iter().filter(|r| r.outcome == Outcome::Failed).map(key).filter(|k| !passed.contains(k)).collect();
    failed.sort();
    failed.dedup();
    failed
}

/// The exit status: `code`, or 0 when it is a forgivable failure whose failed tests are all quarantined.
/// `quarantine` is asked only when that could matter: the (scope, name) of the suite's muted and skipped tests.
pub fn decide(
    code: i32,
    signalled: bool,
    forgive: &[i32],
    failed: &[(String, String)],
    quarantine: impl FnOnce() -> Result<HashSet<(String, String)>, String>,
) -> i32 {
    if code == 0 {
        return 0;
    }
    if signalled || failed.is_empty() || !forgive.contains(&code) {
        return code;
    }
    let names = |tests: &[&(String, String)]| tests.iter().map(|(s, n)| format!("{s} › {n}")).collect::<Vec<_>>().join(", ");
    let quarantined = match quarantine() {
        Ok(q) => q,
        Err(e) => {
            eprintln!(
                "verdict run: warning: cannot ask Verdict which tests are muted ({e}); exit status {code} stands for: {}",
                names(&failed.iter().collect::<Vec<_>>())
            );
            return code;
        }
    };
    let (forgiven, counted): (Vec<_>, Vec<_>) = failed.iter().partition(|t| quarantined.contains(*t));
    if !forgiven.is_empty() {
        eprintln!("verdict run: muted or skipped, not counted: {}", names(&forgiven));
    }
    if counted.is_empty() {
        eprintln!("verdict run: every failed test is muted or skipped; exiting 0 instead of {code}");
        0
    } else {
        eprintln!("verdict run: failed and not muted: {}", names(&counted));
        code
    }
}

/// The suite's muted and skipped tests by (scope, name), from `GET /v1/quarantine`.
fn quarantine(args: &RunArgs, token: Option<&str>) -> Result<HashSet<(String, String)>, String> {
    let list = fetch_quarantine(args, token)?;
    let mut out = HashSet::new();
    for key in ["muted", "skipped"] {
        for t in list[key].as_array().into_iter().flatten() {
            out.insert((t["scope"].as_str().unwrap_or_default().to_owned(), t["name"].as_str().unwrap_or_default().to_owned()));
        }
    }
    Ok(out)
}

fn fetch_quarantine(args: &RunArgs, token: Option<&str>) -> Result<Value, String> {
    let token = token.ok_or("no upload token: set VERDICT_TOKEN or pass --suite-token")?;
    let client = reqwest::blocking::Client::builder().timeout(QUARANTINE_TIMEOUT).build().map_err(|e| e.to_string())?;
    let url = format!("{}/v1/quarantine", args.target.url.trim_end_matches('/'));
    crate::upload::with_retries(&url, QUARANTINE_ATTEMPTS, || {
        client.get(&url).header("Authorization", format!("Token token=\"{token}\"")).send()
    })
}

/// Write the suite's skipped tests for the runner (an empty file, with a warning, when Verdict cannot say).
fn write_skip_list(args: &RunArgs, token: Option<&str>, path: &PathBuf) {
    let lines: Vec<String> = match fetch_quarantine(args, token) {
        Ok(list) => list["skipped"].as_array().into_iter().flatten().filter_map(|t| skip_line(t, &args.skip_format)).collect(),
        Err(e) => {
            eprintln!("verdict run: warning: cannot fetch the skipped tests ({e}); nothing is skipped");
            Vec::new()
        }
    };
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    match std::fs::write(path, text) {
        Ok(()) => eprintln!("verdict run: {} skipped test(s) written to {}", lines.len(), path.display()),
        Err(e) => eprintln!("verdict run: warning: cannot write {}: {e}", path.display()),
    }
}

/// One skipped test as `format` lists it; `None` when it cannot be (pytest without a file).
fn skip_line(t: &Value, format: &str) -> Option<String> {
    let (scope, name) = (t["scope"].as_str().unwrap_or_default(), t["name"].as_str().unwrap_or_default());
    match format {
        "names" => Some(name.to_owned()),
        "pytest" => {
            let file = t["file_name"].as_str()?.trim_start_matches("./");
            // pytest's node ids: the file, the class if any (the scope's last dotted part when it is one), the name.
            let class = scope.rsplit('.').next().filter(|c| c.chars().next().is_some_and(char::is_uppercase));
            Some(match class {
                Some(c) => format!("{file}::{c}::{name}"),
                None => format!("{file}::{name}"),
            })
        }
        _ => Some(format!("{scope}/{name}")),
    }
}

fn upload_args(args: &RunArgs) -> UploadArgs {
    UploadArgs { paths: Vec::new(), format: None, target: args.target.clone(), tags: Vec::new(), strict: false, metrics: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, outcome: Outcome) -> ExecutionRecord {
        ExecutionRecord::new("s", name, outcome)
    }

    fn key(name: &str) -> (String, String) {
        ("s".into(), name.into())
    }

    fn muted(names: &[&str]) -> impl FnOnce() -> Result<HashSet<(String, String)>, String> {
        let set: HashSet<_> = names.iter().map(|n| key(n)).collect();
        move || Ok(set)
    }

    #[test]
    fn a_pass_on_retry_cancels_a_failure() {
        let r = [
            rec("a", Outcome::Failed),
            rec("a", Outcome::Passed),
            rec("b", Outcome::Failed),
            rec("b", Outcome::Failed),
            rec("c", Outcome::Skipped),
        ];
        assert_eq!(failed_tests(&r), [key("b")]);
    }

    /// The spec's acceptance checks (§8, `verdict run`).
    #[test]
    fn the_exit_status_is_forgiven_only_when_every_failure_is_quarantined() {
        let one = [1];
        assert_eq!(decide(1, false, &one, &[key("A")], muted(&["A"])), 0, "{{A muted}} -> 0");
        assert_eq!(decide(1, false, &one, &[key("A"), key("B")], muted(&["A"])), 1, "{{A muted, B}} -> 1");
        assert_eq!(decide(2, false, &one, &[key("A")], muted(&["A"])), 2, "exit 2 with only muted failures -> 2");
        assert_eq!(decide(1, false, &one, &[], muted(&[])), 1, "no results -> 1");
        assert_eq!(decide(1, false, &one, &[key("A")], || Err("connection refused".into())), 1, "unreachable -> 1");
        assert_eq!(decide(0, false, &one, &[], || panic!("not asked")), 0);
        assert_eq!(decide(137, true, &[137], &[key("A")], || panic!("not asked")), 137, "a signal is never forgiven");
        assert_eq!(decide(3, false, &[1, 3], &[key("A")], muted(&["A"])), 0, "a listed code");
    }

    #[test]
    fn skip_lines_per_runner() {
        let t = serde_json::json!({"scope": "tests.test_cart.TestCart", "name": "test_total", "file_name": "./tests/test_cart.py"});
        assert_eq!(skip_line(&t, "pytest").as_deref(), Some("tests/test_cart.py::TestCart::test_total"));
        assert_eq!(skip_line(&t, "names").as_deref(), Some("test_total"));
        assert_eq!(skip_line(&t, "lines").as_deref(), Some("tests.test_cart.TestCart/test_total"));
        let bare = serde_json::json!({"scope": "tests.test_cart", "name": "test_x", "file_name": "tests/test_cart.py"});
        assert_eq!(skip_line(&bare, "pytest").as_deref(), Some("tests/test_cart.py::test_x"));
        assert_eq!(skip_line(&serde_json::json!({"scope": "s", "name": "n"}), "pytest"), None);
    }
}
