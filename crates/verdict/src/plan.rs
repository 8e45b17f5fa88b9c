//! `verdict plan`: this node's share of the test files, from the server's
//! test-plan API (bktec's), or bktec's fallback split when the server cannot
//! answer. Never fails a build for want of a plan.

use crate::cli::PlanArgs;
use serde_json::{Value, json};
use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use verdict_core::test_plan::{default_identifier, fallback};

pub fn run(args: PlanArgs) -> ExitCode {
    let nodes = args.node_total as usize;
    if args.node_index >= nodes {
        eprintln!("verdict plan: --node-index {} must be below --node-total {nodes}", args.node_index);
        return ExitCode::from(2);
    }
    let items = match items(&args.items) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("verdict plan: {e}");
            return ExitCode::from(2);
        }
    };
    let commit = crate::ci::run_env(&crate::ci::from_process(), "").into_iter().find(|(k, _)| k == "commit_sha").map(|(_, v)| v);
    let identifier = args.identifier.clone().unwrap_or_else(|| default_identifier(commit.as_deref().unwrap_or(""), nodes, &items));
    let shares = match fetch(&args, &identifier, &items) {
        Ok(plan) => shares_of(&plan, nodes),
        Err(e) => {
            eprintln!(
                "verdict plan: warning: no plan from {} ({e}); using the fallback split (sorted, i-th to node i mod {nodes})",
                args.url
            );
            let keys: Vec<&str> = items.iter().map(String::as_str).collect();
            fallback(&keys, nodes).into_iter().map(|s| s.into_iter().map(|k| (k, None)).collect()).collect()
        }
    };
    if args.json {
        let out: Vec<Value> = shares
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let known: Vec<u64> = s.iter().filter_map(|(_, ms)| *ms).collect();
                json!({"node": n, "estimated_ms": (known.len() == s.len()).then(|| known.iter().sum::<u64>()),
                       "items": s.iter().map(|(k, _)| k).collect::<Vec<_>>()})
            })
            .collect();
        println!("{}", json!({"identifier": identifier, "nodes": out}));
    } else {
        for (k, _) in &shares[args.node_index] {
            println!("{k}");
        }
    }
    ExitCode::SUCCESS
}

/// The arguments, or stdin's lines for `-`.
fn items(args: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for a in args {
        if a == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(|e| format!("reading stdin: {e}"))?;
                if !line.trim().is_empty() {
                    out.push(line.trim().to_owned());
                }
            }
        } else {
            out.push(a.clone());
        }
    }
    if out.is_empty() {
        return Err("no files to plan".into());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// POST the plan request until it is answered or the time is up.
fn fetch(args: &PlanArgs, identifier: &str, items: &[String]) -> Result<Value, String> {
    let token = crate::upload::token_of(args.token.as_deref())?;
    let tests = if args.by == "test" {
        json!({"examples": items.iter().map(|i| json!({"path": i, "format": "example"})).collect::<Vec<_>>()})
    } else {
        json!({"files": items.iter().map(|i| json!({"path": i})).collect::<Vec<_>>()})
    };
    let body = json!({"runner": "verdict", "identifier": identifier, "parallelism": args.node_total, "tests": tests});
    let url = format!("{}/buildkite/v2/analytics/organizations/verdict/suites/{}/test_plan", args.url.trim_end_matches('/'), args.suite);
    let client = reqwest::blocking::Client::builder().timeout(Duration::from_secs(15)).build().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    let mut delay = Duration::from_millis(500);
    loop {
        let why = match client.post(&url).header("Authorization", format!("Bearer {token}")).json(&body).send() {
            Ok(r) if r.status().is_success() => return r.json().map_err(|e| format!("the plan is not JSON: {e}")),
            Ok(r) if r.status().is_client_error() && r.status() != 429 && r.status() != 409 => {
                let status = r.status();
                let msg = r.json::<Value>().ok().and_then(|v| v["message"].as_str().map(str::to_owned)).unwrap_or_default();
                return Err(format!("the server refused ({status}): {msg}"));
            }
            Ok(r) => format!("the server answered {}", r.status()),
            Err(e) => format!("cannot reach {url}: {e}"),
        };
        if Instant::now() + delay > deadline {
            return Err(why);
        }
        eprintln!("verdict plan: {why}; retrying in {:.1}s", delay.as_secs_f64());
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Per node, its items with their estimates (ms), from a plan.
fn shares_of(plan: &Value, nodes: usize) -> Vec<Vec<(String, Option<u64>)>> {
    (0..nodes)
        .map(|n| {
            plan["tasks"][n.to_string()]["tests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| (t["path"].as_str().or(t["value"].as_str()).unwrap_or_default().to_owned(), t["estimated_duration"].as_u64()))
                .collect()
        })
        .collect()
}
