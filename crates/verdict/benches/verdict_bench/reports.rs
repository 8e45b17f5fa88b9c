//! The native test-suite report (issue 13's targets): over 200 runs × 5,000
//! tests (1M executions) on SQLite, p95 < 200 ms; over 5,000 runs × 2,000
//! tests (10M, with VERDICT_BENCH_REPORT_BIG=1) < 1 s. The limit measured in
//! the same run: one SQL scan (one thread) of the window's (run, test) rows,
//! their status and summed seconds: what the report must read.

use super::{percentile, start_server};
use std::time::Instant;
use verdict_analysis::reports;
use verdict_core::{ExecutionRecord, Outcome, RunEnv, Upload};
use verdict_store::reports::ReportWindow;
use verdict_store::testing::{Backend, TestStore};

/// Runs `runs` × `tests` on main, one commit per two runs, imported an
/// hour apart: 2% of results failed, 1% skipped, every run one flake.
async fn seed(store: &TestStore, suite_id: i64, runs: usize, tests: usize, start_ms: i64) {
    for r in 0..runs {
        let mut executions: Vec<ExecutionRecord> = (0..tests)
            .map(|t| {
                let outcome = match (t * 7 + r * 13) % 100 {
                    0 | 1 => Outcome::Failed,
                    2 => Outcome::Skipped,
                    _ => Outcome::Passed,
                };
                let mut e = ExecutionRecord::new(format!("Area{}", t / 100), format!("case {t}"), outcome);
                e.duration = (outcome != Outcome::Skipped).then(|| 0.01 + ((t * 31 + r) % 500) as f64 / 100.0);
                e
            })
            .collect();
        // One test flakes: a failed attempt, then a pass.
        let flaky = (r * 17) % tests;
        executions[flaky].outcome = Outcome::Failed;
        let mut retry = ExecutionRecord::new(format!("Area{}", flaky / 100), format!("case {flaky}"), Outcome::Passed);
        retry.attempt = 1;
        retry.duration = Some(0.5);
        executions.insert(flaky + 1, retry);
        let up = Upload {
            format: "json".into(),
            run_env: RunEnv {
                key: format!("r-{r}"),
                branch: Some("main".into()),
                commit_sha: Some(format!("c-{}", r / 2)),
                ..Default::default()
            },
            tags: Default::default(),
            executions,
            skipped: Default::default(),
        };
        store.store.import_upload(suite_id, up, start_ms + r as i64 * 60_000).await.unwrap();
    }
}

async fn measure(label: &str, runs: usize, tests: usize, target_ms: f64, repeats: usize) {
    let store = TestStore::new(Backend::Sqlite).await;
    let suite = super::bench_suite(&store).await;
    let start_ms = chrono::Utc::now().timestamp_millis() - (runs as i64 + 10) * 60_000;
    let t0 = Instant::now();
    seed(&store, suite.id, runs, tests, start_ms).await;
    let seeded = t0.elapsed().as_secs_f64();
    let window =
        ReportWindow { suite_id: suite.id, branch: Some("main".into()), since_ms: start_ms, until_ms: start_ms + runs as i64 * 60_000 };
    let report = reports::native(store.store.as_ref(), &window).await.unwrap();
    assert_eq!(report.totals.batches as usize, runs);
    assert_eq!(report.totals.tests as usize, runs * tests);
    let mut times = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        std::hint::black_box(reports::native(store.store.as_ref(), &window).await.unwrap());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let cond = format!(
        "r.suite_id = {} AND r.branch = 'main' AND r.created_at >= {} AND r.created_at < {}",
        suite.id, window.since_ms, window.until_ms
    );
    let mut limits = Vec::new();
    for _ in 0..repeats.min(5) {
        let t = Instant::now();
        store
            .scalar(&format!(
                "SELECT sum(rt.status) + CAST(coalesce(sum(rt.duration), 0) AS INTEGER) FROM runs r JOIN run_tests rt ON rt.run_id = r.id WHERE {cond}"
            ))
            .await;
        limits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (p50, p95) = (percentile(&mut times, 0.5), percentile(&mut times, 0.95));
    let limit = percentile(&mut limits, 0.5);
    println!(
        "report {label}: {runs} runs × {tests} tests ({:.1}M executions, seeded in {seeded:.0} s) on SQLite: native report p50 {p50:.0} ms, p95 {p95:.0} ms (target < {target_ms:.0}); the raw scan of its rows {limit:.0} ms, ratio {:.2}",
        (runs * (tests + 1)) as f64 / 1e6,
        p95 / limit
    );
}

pub async fn reports() {
    measure("1M", 200, 5000, 200.0, 20).await;
    if std::env::var("VERDICT_BENCH_REPORT_BIG").is_ok_and(|v| v == "1") {
        measure("10M", 5000, 2000, 1000.0, 5).await;
    }
    versus_resim().await;
}

/// Side by side on 50 runs × 200 tests: ReSim's `default_report_metrics`
/// (open-core 0.16.0, from target/real-clients, as tests/real-clients/resim.sh
/// installs it) against this server's ReSim API, and the native report over
/// HTTP; and the API's throughput on the jobs and job-metrics pages.
async fn versus_resim() {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/real-clients/resim-0.16/bin/python");
    if !python.exists() {
        println!("report vs ReSim: skipped: {} is missing (bash tests/real-clients/resim.sh installs it)", python.display());
        return;
    }
    let store = TestStore::new(Backend::Sqlite).await;
    let suite = super::bench_suite(&store).await;
    let start_ms = chrono::Utc::now().timestamp_millis() - 3_600_000 * 24;
    seed(&store, suite.id, 50, 200, start_ms).await;
    let ask = verdict_analysis::resim::ReportAsk {
        branch: "main".into(),
        name: None,
        start_ms: start_ms - 1,
        end_ms: start_ms + 50 * 60_000,
        respect_revision: false,
    };
    let r = verdict_analysis::resim::create_report(store.store.as_ref(), &suite, ask, start_ms + 50 * 60_000).await.unwrap();
    let p = verdict_analysis::resim::Project::of(store.store.as_ref()).await.unwrap();
    let args = vec!["--data-dir".to_string(), store.dir.path().display().to_string()];
    let (_server, port) = tokio::task::spawn_blocking(move || start_server(&args)).await.unwrap();
    let api = format!("http://127.0.0.1:{port}/resim/v1");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("report_config.json");
    std::fs::write(&config, serde_json::json!({"authToken": "x", "apiURL": api, "projectID": p.id(), "reportID": r.id}).to_string())
        .unwrap();
    // Counts the client's requests by wrapping httpx's send.
    let driver = r#"
import asyncio, sys, time, httpx
n = 0
send = httpx.AsyncClient.send
async def counted(self, *a, **k):
    global n; n += 1
    return await send(self, *a, **k)
httpx.AsyncClient.send = counted
import logging; logging.disable(logging.INFO)
import resim.metrics.default_report_metrics as drm
sys.argv = ["drm", "--report-config", sys.argv[1], "--output-path", sys.argv[2]]
t = time.perf_counter(); asyncio.run(drm.main()); print(time.perf_counter() - t, n)
"#;
    let out = std::process::Command::new(&python)
        .args(["-W", "ignore", "-c", driver, &config.display().to_string(), &dir.path().join("metrics.binproto").display().to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let resim_s: f64 = parts.next().unwrap().parse().unwrap();
    let requests: u64 = parts.next().unwrap().parse().unwrap();
    let http = reqwest::Client::new();
    let mut native = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let body = http.get(format!("http://127.0.0.1:{port}/api/v1/reports/{}", r.id)).send().await.unwrap().bytes().await.unwrap();
        native.push(t.elapsed().as_secs_f64());
        assert!(body.len() > 1000);
    }
    let native_s = percentile(&mut native, 0.5);
    // Throughput of the pages the client pages through most: one batch's jobs, and each job's metrics.
    let mut list = reqwest::Url::parse(&format!("{api}/projects/{}/batches", p.id())).unwrap();
    list.query_pairs_mut().append_pair("search", &verdict_analysis::resim::report_search(&r));
    let batches: serde_json::Value = http.get(list).send().await.unwrap().json().await.unwrap();
    let batch = batches["batches"][0]["batchID"].as_str().unwrap().to_owned();
    let jobs_url = format!("{api}/projects/{}/batches/{batch}/jobs", p.id());
    let jobs: serde_json::Value = http.get(&jobs_url).send().await.unwrap().json().await.unwrap();
    let job = jobs["jobs"][0]["jobID"].as_str().unwrap().to_owned();
    let metrics_url = format!("{api}/projects/{}/batches/{batch}/jobs/{job}/metrics", p.id());
    let rate = |url: String| {
        let http = http.clone();
        async move {
            let t = Instant::now();
            for _ in 0..500 {
                let r = http.get(&url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
            }
            500.0 / t.elapsed().as_secs_f64()
        }
    };
    let (jobs_rate, metrics_rate) = (rate(jobs_url).await, rate(metrics_url).await);
    println!(
        "report vs ReSim (50 runs × 200 tests, SQLite): default_report_metrics (open-core 0.16.0) against /resim/v1 {resim_s:.2} s, {requests} requests; the native report over HTTP {:.0} ms: ratio {:.0}; ReSim API one connection: jobs page (100 jobs) {jobs_rate:.0}/s, job metrics {metrics_rate:.0}/s",
        native_s * 1000.0,
        resim_s / native_s
    );
}
