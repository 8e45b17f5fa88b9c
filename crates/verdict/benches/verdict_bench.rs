//! Verdict's benchmarks, each printing a ratio against a peer or a limit
//! measured in the same run. Run by hand:
//!
//!   cargo bench -p verdict --bench verdict_bench -- [ingest|junit|reads|clusters|aggregate|plan|webhooks|reports|all]
//!
//! PostgreSQL figures need VERDICT_TEST_DATABASE_URL (default
//! postgres://postgres@127.0.0.1:5432/test). Record results in bench/RESULTS.md.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use verdict_core::{SuiteSlug, Upload};
use verdict_store::testing::{Backend, TestStore};
use verdict_store::{NewSuite, Page, TestFilter, token};

#[path = "verdict_bench/reports.rs"]
mod reports;
#[path = "verdict_bench/webhooks.rs"]
mod webhooks;

const BIN: &str = env!("CARGO_BIN_EXE_verdict");

fn main() {
    let which = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_else(|| "all".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if which == "ingest" || which == "all" {
        // VERDICT_BENCH_STORE=sqlite (or postgres) measures one store only.
        let only = std::env::var("VERDICT_BENCH_STORE").unwrap_or_default();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if only.is_empty() || format!("{backend:?}").eq_ignore_ascii_case(&only) {
                rt.block_on(ingest(backend));
            }
        }
    }
    if which == "junit" || which == "all" {
        junit();
    }
    if which == "json" || which == "all" {
        json();
    }
    if which == "reads" || which == "all" {
        rt.block_on(reads());
    }
    if which == "clusters" || which == "all" {
        clusters();
    }
    if which == "plan" || which == "all" {
        rt.block_on(plan_bench());
    }
    if which == "reports" || which == "all" {
        rt.block_on(reports::reports());
    }
    if which == "webhooks" || which == "all" {
        rt.block_on(webhooks::webhooks());
    }
    if which == "aggregate" || which == "all" {
        aggregate_offline();
        rt.block_on(aggregate_from_store());
    }
}

// ---------------------------------------------------------------- helpers

/// Runs `PREFIX-2k` and `PREFIX-2k+1` build one commit (a build and its retry), as in CI;
/// a commit built a hundred times would make every failure look up a hundred runs.
fn commit_of(key: &str) -> String {
    match key.rsplit_once('-').and_then(|(p, i)| Some((p, i.parse::<u64>().ok()?))) {
        Some((prefix, i)) => format!("{prefix}-{}", i / 2),
        None => key.to_owned(),
    }
}

/// A Buildkite JSON upload body of `n` results shaped like real ones: 94%
/// passed, 5% failed with a reason and a backtrace, 1% skipped.
fn upload_body(key: &str, n: usize, branch: &str) -> Vec<u8> {
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let file = format!("spec/models/model_{}_spec.rb", i / 50);
            let mut r = json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "scope": format!("Model{} behaviour", i / 50),
                "name": format!("does thing number {i} correctly"),
                "location": format!("{file}:{}", 10 + i % 50),
                "file_name": file,
                "result": match i % 100 { 0..=4 => "failed", 5 => "skipped", _ => "passed" },
                "history": {"section": "top", "start_at": i as f64 * 0.01, "end_at": i as f64 * 0.01 + 0.005, "duration": 0.005 + (i % 7) as f64 * 0.001, "children": []},
            });
            if i % 100 < 5 {
                r["failure_reason"] = json!(format!("Expected {i} to eq {} (compared using ==)", i + 1));
                r["failure_expanded"] = json!([{"expanded": ["Failure/Error: expect(x).to eq(y)", format!("  expected: {}", i + 1), format!("       got: {i}")], "backtrace": [format!("./{file}:{}:in `block (2 levels)'", 10 + i % 50)]}]);
            }
            r
        })
        .collect();
    serde_json::to_vec(
        &json!({"format": "json", "run_env": {"CI": "buildkite", "key": key, "branch": branch, "commit_sha": commit_of(key)}, "data": data}),
    )
    .unwrap()
}

async fn bench_suite(store: &TestStore) -> verdict_store::Suite {
    let new = NewSuite {
        slug: SuiteSlug::parse("bench").unwrap(),
        name: "bench".into(),
        default_branch: "main".into(),
        token_hash: token::hash("t"),
    };
    store.store.create_suite(new).await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn store_args(store: &TestStore) -> Vec<String> {
    let mut a = vec!["--data-dir".to_string(), store.dir.path().join("data").display().to_string()];
    if let Some(url) = &store.database_url {
        a.extend(["--database-url".to_string(), url.clone()]);
    }
    a
}

/// A `verdict serve` process, killed when dropped (also when a bench panics).
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(args: &[String]) -> (Server, u16) {
    let port = free_port();
    let child = Command::new(BIN)
        .args(args)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("VERDICT_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let child = Server(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

fn peak_rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    verdict_core::stats::quantile(v, q).unwrap_or(f64::NAN)
}

/// POST `bodies` to `/v1/uploads` from `CLIENTS` threads, each 202; the seconds it took.
fn post_uploads(port: u16, token: &str, bodies: Arc<Vec<Vec<u8>>>) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (bodies, token) = (bodies.clone(), token.to_owned());
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(300)).build().unwrap();
                for body in bodies.iter().skip(c).step_by(CLIENTS) {
                    let r = http
                        .post(format!("http://127.0.0.1:{port}/v1/uploads"))
                        .header("Authorization", format!("Token token=\"{token}\""))
                        .header("Content-Type", "application/json")
                        .body(body.clone())
                        .send()
                        .unwrap();
                    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    started.elapsed().as_secs_f64()
}

// ---------------------------------------------------------------- ingest

const CLIENTS: usize = 4;
const UPLOADS_PER_CLIENT: usize = 10;
const RESULTS: usize = 5000;

/// Write `uploads` straight into the store from `CLIENTS` concurrent tasks; the seconds it took.
async fn write_concurrently(store: &TestStore, suite_id: i64, uploads: Vec<Upload>) -> f64 {
    let mut per_client: Vec<Vec<Upload>> = (0..CLIENTS).map(|_| Vec::new()).collect();
    for (i, u) in uploads.into_iter().enumerate() {
        per_client[i % CLIENTS].push(u);
    }
    let started = Instant::now();
    let tasks: Vec<_> = per_client
        .into_iter()
        .map(|batch| {
            let store = store.store.clone();
            tokio::spawn(async move {
                for u in batch {
                    store.write_upload(suite_id, u).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// Run the analysis step until nothing is due; the seconds it took.
async fn analyse_all(store: &TestStore, runs: usize) -> f64 {
    let started = Instant::now();
    let mut analysed = 0;
    while store.store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {
        analysed += 1;
    }
    assert_eq!(analysed, runs, "every run analysed");
    started.elapsed().as_secs_f64()
}

async fn ingest(backend: Backend) {
    let name = format!("{backend:?}").to_lowercase();
    let bodies: Vec<Vec<u8>> = (0..CLIENTS * UPLOADS_PER_CLIENT).map(|i| upload_body(&format!("run-{i}"), RESULTS, "main")).collect();
    let total = (bodies.len() * RESULTS) as f64;
    let mb = bodies.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;

    // The limit: the same rows, already parsed, written straight into the same store.
    let direct = TestStore::new(backend).await;
    let suite = bench_suite(&direct).await;
    let uploads: Vec<Upload> = bodies.iter().map(|b| verdict_formats::buildkite::parse_json_body(b).unwrap()).collect();
    let direct_secs = write_concurrently(&direct, suite.id, uploads).await;
    let direct_rate = total / direct_secs;
    // The flaky analysis of those runs (in `verdict serve` it runs once a run has settled, apart from
    // the upload's transaction, on the same store): its rate, and the sustained rate of both together.
    // Every test is new here, so every track row is read, applied and written.
    let analysis_secs = analyse_all(&direct, CLIENTS * UPLOADS_PER_CLIENT).await;
    // The same suite once it has a history: 40 more runs (72 clean runs decide `healthy`; untimed),
    // then the same number of runs again, timed. Clean runs of quiet tests leave their rows alone.
    let more: Vec<Upload> = (0..CLIENTS * UPLOADS_PER_CLIENT)
        .map(|i| verdict_formats::buildkite::parse_json_body(&upload_body(&format!("warm-{i}"), RESULTS, "main")).unwrap())
        .collect();
    for u in more {
        direct.store.write_upload(suite.id, u).await.unwrap();
        direct.store.flaky().analyse_due(i64::MAX / 2).await.unwrap();
    }
    let mature: Vec<Upload> = (0..CLIENTS * UPLOADS_PER_CLIENT)
        .map(|i| verdict_formats::buildkite::parse_json_body(&upload_body(&format!("mature-{i}"), RESULTS, "main")).unwrap())
        .collect();
    let mature_direct_secs = write_concurrently(&direct, suite.id, mature).await;
    let mature_analysis_secs = analyse_all(&direct, CLIENTS * UPLOADS_PER_CLIENT).await;
    // And as `verdict serve` runs them: the analysis loop beside the uploads, until both are done.
    let overlap: Vec<Upload> = (0..CLIENTS * UPLOADS_PER_CLIENT)
        .map(|i| verdict_formats::buildkite::parse_json_body(&upload_body(&format!("overlap-{i}"), RESULTS, "main")).unwrap())
        .collect();
    let started = Instant::now();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let analysis = {
        let (store, writing) = (direct.store.clone(), writing.clone());
        tokio::spawn(async move {
            let mut analysed = 0;
            loop {
                match store.flaky().analyse_due(i64::MAX / 2).await.unwrap() {
                    Some(_) => analysed += 1,
                    None if writing.load(std::sync::atomic::Ordering::SeqCst) => tokio::time::sleep(Duration::from_millis(1)).await,
                    None => return analysed,
                }
            }
        })
    };
    write_concurrently(&direct, suite.id, overlap).await;
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(analysis.await.unwrap(), CLIENTS * UPLOADS_PER_CLIENT, "every run analysed");
    let overlap_secs = started.elapsed().as_secs_f64();
    direct.cleanup().await;

    // Verdict: the same bodies over loopback HTTP into a `verdict serve` process.
    let store = TestStore::new(backend).await;
    let args = store_args(&store);
    let out = Command::new(BIN).args(&args).args(["suite", "create", "bench"]).output().unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (server, port) = start_server(&args);
    let http_secs = post_uploads(port, &token, Arc::new(bodies));
    let http_rate = total / http_secs;
    let rss = peak_rss_mb(server.0.id());
    drop(server);
    store.cleanup().await;

    println!("ingest [{name}] {CLIENTS} clients x {UPLOADS_PER_CLIENT} uploads x {RESULTS} results ({mb:.1} MB of JSON)");
    println!("  direct store writes (no HTTP, no parsing): {direct_rate:>10.0} results/s");
    println!("  HTTP uploads into verdict serve:          {http_rate:>10.0} results/s");
    println!("  ratio HTTP / direct:                      {:>10.2}   (target >= 0.5)", http_rate / direct_rate);
    println!("  flaky analysis of the same runs (new):    {:>10.0} results/s", total / analysis_secs);
    println!(
        "  direct writes + analysis, sustained:      {:>10.0} results/s ({:.0}% fewer than direct)",
        total / (direct_secs + analysis_secs),
        100.0 * (1.0 - direct_secs / (direct_secs + analysis_secs))
    );
    println!("  with a history (runs 81-120):");
    println!("    direct store writes:                    {:>10.0} results/s", total / mature_direct_secs);
    println!("    flaky analysis of the same runs:        {:>10.0} results/s", total / mature_analysis_secs);
    println!(
        "    direct writes + analysis, one after the other: {:>10.0} results/s ({:.0}% fewer than direct)",
        total / (mature_direct_secs + mature_analysis_secs),
        100.0 * (1.0 - mature_direct_secs / (mature_direct_secs + mature_analysis_secs))
    );
    println!(
        "    direct writes with the analysis beside them:   {:>10.0} results/s ({:.0}% fewer than direct; target <= 25%)",
        total / overlap_secs,
        100.0 * (1.0 - mature_direct_secs / overlap_secs)
    );
    println!("  server peak RSS (VmHWM):                  {rss:>10.1} MB (target < 150)");
}

// ---------------------------------------------------------------- junit

fn junit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xml");
    let xml = big_junit(50_000_000);
    std::fs::write(&path, &xml).unwrap();
    let mb = xml.len() as f64 / 1e6;
    let mut best = f64::MAX;
    let mut cases = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let report = verdict_formats::junit::parse_with_cap(&xml, usize::MAX).unwrap(); // a file of any size, as `verdict upload` reads one
        best = best.min(started.elapsed().as_secs_f64());
        cases = report.testcases;
    }
    let ours = mb / best;
    println!("junit parse: {mb:.1} MB, {cases} testcases, single thread");
    println!("  verdict-formats:      {ours:>8.1} MB/s (best of 3) (target >= 150)");
    // The Rust peer: junit-parser (quick-xml into a tree of suites and cases).
    let mut peer_best = f64::MAX;
    let mut peer_cases = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let suites = junit_parser::from_reader(std::io::Cursor::new(&xml[..])).unwrap();
        peer_best = peer_best.min(started.elapsed().as_secs_f64());
        fn count(s: &junit_parser::TestSuite) -> usize {
            s.cases.len() + s.suites.iter().map(count).sum::<usize>()
        }
        peer_cases = suites.suites.iter().map(count).sum();
    }
    assert_eq!(peer_cases, cases, "both parsers must see every testcase");
    println!("  junit-parser 1.7 (Rust): {:>5.1} MB/s (best of 3); verdict-formats is {:.2}x it", mb / peer_best, peer_best / best);
    match python_junitparser(&path) {
        Ok((secs, their_cases)) => {
            assert_eq!(their_cases, cases, "both parsers must see every testcase");
            println!("  python junitparser:   {:>8.1} MB/s", mb / secs);
            println!("  ratio:                {:>8.1}x (target >= 20)", secs / best);
        }
        Err(e) => println!("  python junitparser: not measured: {e}"),
    }
}

/// Buildkite JSON: the typed reader (straight into results, caps applied)
/// against serde_json parsing the same body into a `Value`, which the reader
/// before it did first, in the same run.
fn json() {
    let body = upload_body("json-bench", 5000, "main");
    let mb = body.len() as f64 / 1e6;
    let best_of = |f: &dyn Fn() -> usize| {
        let mut best = f64::MAX;
        let mut n = 0;
        for _ in 0..20 {
            let started = Instant::now();
            n = f();
            best = best.min(started.elapsed().as_secs_f64());
        }
        (best, n)
    };
    let (typed, results) = best_of(&|| verdict_formats::buildkite::parse_json_body(&body).unwrap().executions.len());
    let (tree, _) = best_of(&|| match serde_json::from_slice::<serde_json::Value>(&body).unwrap() {
        serde_json::Value::Object(o) => o.len(),
        _ => 0,
    });
    println!("buildkite json parse: {mb:.1} MB, {results} results, single thread, best of 20");
    println!("  typed reader (results, caps):   {:>8.1} MB/s", mb / typed);
    println!("  serde_json::Value (tree only):  {:>8.1} MB/s", mb / tree);
    println!("  ratio:                          {:>8.2}x", tree / typed);
}

fn big_junit(target_bytes: usize) -> Vec<u8> {
    let mut s = String::with_capacity(target_bytes + 100_000);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"bench\">\n");
    let mut suite = 0;
    while s.len() < target_bytes {
        s.push_str(&format!("  <testsuite name=\"pkg.module{suite}\" tests=\"100\" time=\"12.5\">\n"));
        for i in 0..100 {
            let n = suite * 100 + i;
            match n % 20 {
                0 => s.push_str(&format!(
                    "    <testcase classname=\"pkg.module{suite}.TestClass\" name=\"test_case_{n}\" file=\"pkg/module{suite}.py\" line=\"{i}\" time=\"0.{i:03}\">\n      <failure message=\"AssertionError: expected {n} == {}&#10;second line\" type=\"AssertionError\">Traceback (most recent call last):\n  File &quot;pkg/module{suite}.py&quot;, line {i}, in test_case_{n}\n    assert a == b\nAssertionError: expected &lt;{n}&gt;</failure>\n      <system-out>captured stdout line 1\ncaptured stdout line 2</system-out>\n    </testcase>\n",
                    n + 1
                )),
                1 => s.push_str(&format!("    <testcase classname=\"pkg.module{suite}.TestClass\" name=\"test_case_{n}\" time=\"0\"><skipped message=\"not on linux\"/></testcase>\n")),
                _ => s.push_str(&format!("    <testcase classname=\"pkg.module{suite}.TestClass\" name=\"test_case_{n}\" file=\"pkg/module{suite}.py\" line=\"{i}\" time=\"0.{i:03}\"/>\n")),
            }
        }
        s.push_str("  </testsuite>\n");
        suite += 1;
    }
    s.push_str("</testsuites>\n");
    s.into_bytes()
}

/// Time junitparser reading the file and visiting every case's result, in a
/// venv under target/bench-venv (created on first use).
fn python_junitparser(path: &std::path::Path) -> Result<(f64, usize), String> {
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-venv");
    let py = venv.join("bin/python");
    if !py.exists() || !Command::new(&py).args(["-c", "import junitparser"]).status().map(|s| s.success()).unwrap_or(false) {
        let ok = Command::new("python3").args(["-m", "venv"]).arg(&venv).status().map(|s| s.success()).unwrap_or(false)
            && Command::new(venv.join("bin/pip"))
                .args(["install", "-q", "junitparser==4.0.2"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
        if !ok {
            return Err("could not install junitparser".into());
        }
    }
    let script = r#"
import sys, time
from junitparser import JUnitXml
best = None
for _ in range(3):
    t = time.perf_counter()
    xml = JUnitXml.fromfile(sys.argv[1])
    n = 0
    for suite in xml:
        for case in suite:
            _ = (case.classname, case.name, case.time, [r.message for r in case.result])
            n += 1
    e = time.perf_counter() - t
    best = e if best is None else min(best, e)
print(best, n)
"#;
    let out = Command::new(&py).args(["-c", script]).arg(path).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let secs = parts.next().and_then(|v| v.parse().ok()).ok_or("no timing")?;
    let n = parts.next().and_then(|v| v.parse().ok()).ok_or("no count")?;
    Ok((secs, n))
}

// ---------------------------------------------------------------- reads

const TESTS: usize = 20_000;
const RUNS: usize = 50;

async fn reads() {
    let store = TestStore::new(Backend::Sqlite).await;
    let suite = bench_suite(&store).await;
    let started = Instant::now();
    for run in 0..RUNS {
        let branch = if run % 5 == 0 { "feature" } else { "main" };
        // Uploads of 5000 parse like real ones; the store takes the run's four together.
        let mut whole: Option<Upload> = None;
        for part in 0..TESTS / RESULTS {
            let body = upload_body(&format!("run-{run}"), RESULTS, branch);
            let mut up = verdict_formats::buildkite::parse_json_body(&body).unwrap();
            for e in &mut up.executions {
                e.scope = format!("{}-{part}", e.scope);
            }
            match &mut whole {
                None => whole = Some(up),
                Some(w) => w.executions.extend(up.executions),
            }
        }
        store.store.write_upload(suite.id, whole.unwrap()).await.unwrap();
    }
    let load = started.elapsed();
    println!("reads [sqlite]: {} executions of {TESTS} tests in {RUNS} runs, loaded in {:.1}s", TESTS * RUNS, load.as_secs_f64());
    let check = store.store.tests(suite.id, &TestFilter { days: 30, page: Page::new(1, 1), ..Default::default() }).await.unwrap();
    assert_eq!(check[0].executions, RUNS as i64);

    let args = store_args(&store);
    // The server opens the same SQLite file the loader wrote.
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.replace(&store.dir.path().join("data").display().to_string(), &store.dir.path().display().to_string()))
        .collect();
    let (mut list, mut history) = tokio::task::spawn_blocking(move || measure_reads(&args)).await.unwrap();
    for (what, v) in [("test list (50 per page, 30 days)", &mut list), ("test history (50 newest)", &mut history)] {
        println!(
            "  {what:<34} p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms (target p95 < 20)",
            percentile(v, 0.5),
            percentile(v, 0.95),
            percentile(v, 0.99)
        );
    }
    store.cleanup().await;
}

/// Latencies (ms) of test-list pages and test histories over loopback HTTP.
fn measure_reads(args: &[String]) -> (Vec<f64>, Vec<f64>) {
    let (_server, port) = start_server(args);
    let http = reqwest::blocking::Client::new();
    let ids: Vec<i64> = {
        let v: Value =
            http.get(format!("http://127.0.0.1:{port}/api/v1/suites/bench/tests?per_page=500&page=7")).send().unwrap().json().unwrap();
        v.as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
    };
    let (mut list, mut history) = (Vec::new(), Vec::new());
    for i in 0..300 {
        let page = 1 + (i * 37) % (TESTS / 50);
        let t = Instant::now();
        let r = http.get(format!("http://127.0.0.1:{port}/api/v1/suites/bench/tests?days=30&per_page=50&page={page}")).send().unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().unwrap();
        list.push(t.elapsed().as_secs_f64() * 1e3);
        let id = ids[i % ids.len()];
        let t = Instant::now();
        let r = http.get(format!("http://127.0.0.1:{port}/api/v1/tests/{id}/history?per_page=50")).send().unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().unwrap();
        history.push(t.elapsed().as_secs_f64() * 1e3);
    }
    (list, history)
}

// ---------------------------------------------------------------- aggregate

const AGG_TESTS: usize = 50_000;
const AGG_RUNS: usize = 10;
const AGG_HISTORY_RUNS: usize = 200;

/// Whether test `i` fails in run `r`: about 2% of results, spread over tests and runs.
fn agg_fails(i: usize, r: usize) -> bool {
    (i * 7 + r * 13).is_multiple_of(50)
}

/// Wall seconds and peak RSS (MB) of a command, through GNU time.
fn timed(args: &[String]) -> (f64, f64, i32) {
    let out = Command::new("/usr/bin/time").args(["-f", "%e %M"]).arg(BIN).args(args).output().expect("GNU time (Debian package time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let secs: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    let kb: f64 = parts.next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
    (secs, kb / 1024.0, out.status.code().unwrap_or(-1))
}

fn aggregate_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["aggregate".into(), "--junit".into()];
    for r in 0..AGG_RUNS {
        let mut xml = String::from("<testsuites><testsuite name=\"e2e\">");
        for i in 0..AGG_TESTS {
            if i % 100 == 0 {
                xml.push_str(&format!("<testsuite name=\"group{}\">", i / 100));
            }
            let failure = if agg_fails(i, r) { "<failure message=\"boom\">trace</failure>" } else { "" };
            xml.push_str(&format!("<testcase name=\"test number {i}\" time=\"0.01\">{failure}</testcase>"));
            if i % 100 == 99 {
                xml.push_str("</testsuite>");
            }
        }
        xml.push_str("</testsuite></testsuites>");
        let path = dir.path().join(format!("run-{r}.xml"));
        std::fs::write(&path, xml).unwrap();
        args.push(path.display().to_string());
    }
    let history: Vec<Value> = (0..AGG_TESTS)
        .map(|i| json!({"suite": format!("e2e|||group{}", i / 100), "name": format!("test number {i}"), "working_percentage": 95.0 + (i % 6) as f64}))
        .collect();
    let hist = dir.path().join("history.json");
    std::fs::write(&hist, serde_json::to_vec(&history).unwrap()).unwrap();
    args.extend(["--history".into(), hist.display().to_string(), "--output".into(), dir.path().join("agg.xml").display().to_string()]);
    args.extend(["--json".into(), dir.path().join("summary.json").display().to_string()]);
    let mb: f64 =
        (0..AGG_RUNS).map(|r| std::fs::metadata(dir.path().join(format!("run-{r}.xml"))).unwrap().len() as f64).sum::<f64>() / 1e6;
    let (secs, rss, code) = timed(&args);
    println!("aggregate offline: {AGG_RUNS} JUnit files x {AGG_TESTS} tests ({mb:.0} MB), history of {AGG_TESTS} tests");
    println!("  wall {secs:.2} s (target < 2), peak RSS {rss:.0} MB, exit {code}");
}

async fn aggregate_from_store() {
    use verdict_core::{ExecutionRecord, Outcome, RunEnv, TagMap};
    // VERDICT_BENCH_DIR keeps the loaded database for reruns of the timed part.
    let kept = std::env::var_os("VERDICT_BENCH_DIR").map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| tmp.path().to_owned());
    let loaded = kept.is_some() && dir.join("verdict.db").exists();
    let store = verdict_store::sqlite::SqliteStore::open_dir(&dir).unwrap();
    let new = NewSuite {
        slug: SuiteSlug::parse("bench").unwrap(),
        name: "bench".into(),
        default_branch: "main".into(),
        token_hash: token::hash("t"),
    };
    let suite = if loaded {
        verdict_store::Store::suite_by_slug(&store, "bench").await.unwrap().unwrap()
    } else {
        verdict_store::Store::create_suite(&store, new).await.unwrap()
    };
    let run = |key: String, payload: String, r: usize| Upload {
        format: "json".into(),
        run_env: RunEnv { key, job: Some("e2e-bench".into()), payload: Some(payload), branch: Some("main".into()), ..Default::default() },
        tags: TagMap::new(),
        executions: (0..AGG_TESTS)
            .map(|i| {
                ExecutionRecord::new(
                    format!("group{}", i / 100),
                    format!("test number {i}"),
                    if agg_fails(i, r) { Outcome::Failed } else { Outcome::Passed },
                )
            })
            .collect(),
        skipped: Default::default(),
    };
    let started = Instant::now();
    for r in (0..AGG_HISTORY_RUNS).filter(|_| !loaded) {
        verdict_store::Store::write_upload(&store, suite.id, run(format!("old-{r}"), format!("old-{r}"), r)).await.unwrap();
    }
    for r in (0..AGG_RUNS).filter(|_| !loaded) {
        verdict_store::Store::write_upload(&store, suite.id, run(format!("new-{r}"), "new".into(), r + 1000)).await.unwrap();
    }
    let load = started.elapsed().as_secs_f64();
    drop(store);
    let args: Vec<String> =
        ["--data-dir", &dir.display().to_string(), "aggregate", "--suite", "bench", "--job", "e2e-bench", "--payload", "new", "--output"]
            .iter()
            .map(|s| s.to_string())
            .chain([dir.join("agg.xml").display().to_string()])
            .collect();
    let (secs, rss, code) = timed(&args);
    let executions = (AGG_HISTORY_RUNS + AGG_RUNS) * AGG_TESTS;
    println!(
        "aggregate from SQLite: {AGG_RUNS} runs x {AGG_TESTS} tests judged against {AGG_HISTORY_RUNS} historical runs ({executions} executions, loaded in {load:.0} s)"
    );
    println!("  wall {secs:.2} s (target < 3), peak RSS {rss:.0} MB (target < 500), exit {code}");
}

// ---------------------------------------------------------------- clusters

/// Failure messages of the kinds CI produces, each a template varied by numbers, ids and paths.
fn failure_messages(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| match i % 8 {
            0 => format!("Expected {i} to eq {} (compared using ==)", i + 1),
            1 => format!("Null pointer exception at ip 0x{:08x}", i * 2654435761usize % (1 << 32)),
            2 => format!("Could not connect to 10.0.{}.{}:5432: connection refused", i % 250, i % 7),
            3 => format!("request 123e4567-e89b-12d3-a456-{i:012} failed with status 503"),
            4 => format!("deadline exceeded at 2026-11-{:02}T12:30:{:02}.123Z after {}s", 1 + i % 28, i % 60, i % 90),
            5 => format!("FileNotFoundError: /tmp/tmp{i:x}_q/out.txt"),
            6 => format!(
                "thread 'main' panicked at src/lib.rs:{}:{}: index out of bounds: the len is {} but the index is {}",
                i % 900,
                i % 80,
                i % 10,
                i % 10 + 1
            ),
            _ => format!("AssertionError: assert {} == {}\n  where {} = compute(x)", i, i + 1, i),
        })
        .collect()
}

fn clusters() {
    use verdict_core::clusters::{Algorithm, Clustering, cluster_id, key};
    let messages = failure_messages(200_000);
    let bytes: usize = messages.iter().map(String::len).sum();
    let options = Clustering::default();
    let rate = |f: &dyn Fn(&str) -> usize| {
        let mut best = f64::MAX;
        let mut sink = 0usize;
        for _ in 0..3 {
            let started = Instant::now();
            for m in &messages {
                sink = sink.wrapping_add(f(m));
            }
            best = best.min(started.elapsed().as_secs_f64());
        }
        std::hint::black_box(sink);
        messages.len() as f64 / best
    };
    // LUCI's reference: its one regex over the LIKE-escaped text (reason-v6 without ids).
    let luci = regex::Regex::new(r"[/+0-9a-zA-Z]{10,}=+|[\-0-9a-fA-F \t]{16,}|[0-9a-fA-Fx]{8,}|[0-9]+").unwrap();
    let reference = rate(&|m| luci.replace_all(&m.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"), "%").len());
    let v6 = rate(&|m| key(m, Algorithm::ReasonV6, &options).map_or(0, |k| k.len()));
    let v1 = rate(&|m| key(m, Algorithm::VerdictV1, &options).map_or(0, |k| k.len()));
    let v1_id = rate(&|m| key(m, Algorithm::VerdictV1, &options).map_or(0, |k| cluster_id(&k).len()));
    let distinct: std::collections::HashSet<String> = messages.iter().filter_map(|m| key(m, Algorithm::VerdictV1, &options)).collect();
    println!(
        "clusters: {} failure messages ({:.1} MB), {} distinct verdict-reason-v1 keys, single thread, best of 3",
        messages.len(),
        bytes as f64 / 1e6,
        distinct.len()
    );
    println!("  LUCI's regex alone (the reference):  {reference:>12.0} messages/s");
    println!("  reason-v6 key:                       {v6:>12.0} messages/s   ({:.2} of the reference)", v6 / reference);
    println!(
        "  verdict-reason-v1 key:               {v1:>12.0} messages/s   ({:.2} of the reference; target >= 1,000,000)",
        v1 / reference
    );
    println!("  verdict-reason-v1 key + SHA-256 id:  {v1_id:>12.0} messages/s");
}

// ---------------------------------------------------------------- test plans

const PLAN_FILES: usize = 20_000;
const PLAN_NODES: usize = 50;

fn best_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .fold(f64::INFINITY, f64::min)
}

/// Issue 15's target: a plan for 20,000 files and 50 nodes in < 50 ms. The
/// peer is bktec's own fallback split of the same files (sort, then i mod N):
/// the least any split can cost. Then the whole HTTP call on SQLite, timings
/// read from the store (20,000 tests with 3 runs of history each).
async fn plan_bench() {
    use verdict_analysis::test_plan::{Format, PlanAsk, Target, plan_from};
    use verdict_store::test_plans::TestTiming;
    let file = |i: usize| format!("spec/models/area_{}/model_{i}_spec.rb", i % 97);
    let timings: Vec<TestTiming> = (0..PLAN_FILES * 5)
        .map(|t| TestTiming {
            scope: format!("Model{}", t / 5),
            name: format!("case {t}"),
            file_name: Some(format!("./{}", file(t / 5))),
            location: None,
            durations: (0..32).map(|k| 0.01 + ((t * 31 + k * 7) % 1000) as f64 / 100.0).collect(),
        })
        .collect();
    // 5% of the files are new: they get the median.
    let targets: Vec<Target> =
        (0..PLAN_FILES + PLAN_FILES / 20).map(|i| Target { format: Format::File, path: file(i), scope: None, name: None }).collect();
    let ask = PlanAsk { targets, parallelism: PLAN_NODES, max_parallelism: None, target_time_s: None, location_prefix: None };
    let empty = || verdict_analysis::quarantine::QuarantineList { suite: "bench".into(), muted: vec![], skipped: vec![] };
    let mut loads = Vec::new();
    let plan_ms = best_ms(10, || {
        let plan = plan_from(&timings, &ask, empty());
        loads = plan.nodes.iter().map(|n| n.iter().map(|p| p.estimate_ms).sum::<u64>()).collect();
    });
    let keys: Vec<&str> = ask.targets.iter().map(|t| t.path.as_str()).collect();
    let fallback_ms = best_ms(10, || {
        std::hint::black_box(verdict_core::test_plan::fallback(&keys, PLAN_NODES));
    });
    let (max, min) = (*loads.iter().max().unwrap() as f64, *loads.iter().min().unwrap() as f64);
    println!(
        "plan: {} files ({} tests' timings), {PLAN_NODES} nodes: plan {plan_ms:.1} ms (target < 50), bktec's fallback split {fallback_ms:.1} ms, ratio {:.1}; longest node {:.1}% above the shortest",
        ask.targets.len(),
        timings.len(),
        plan_ms / fallback_ms,
        (max / min - 1.0) * 100.0
    );

    // End to end: the HTTP call on SQLite with the timings read from the store.
    let store = TestStore::new(Backend::Sqlite).await;
    let suite = bench_suite(&store).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    for run in 0..3 {
        let executions = (0..PLAN_FILES)
            .map(|i| {
                let mut e = verdict_core::ExecutionRecord::new(format!("Model{i}"), "case", verdict_core::Outcome::Passed);
                e.file_name = Some(file(i));
                e.duration = Some(0.01 + ((i * 31 + run) % 1000) as f64 / 100.0);
                e
            })
            .collect();
        let up = Upload {
            format: "json".into(),
            run_env: verdict_core::RunEnv { key: format!("plan-{run}"), ..Default::default() },
            tags: Default::default(),
            executions,
            skipped: Default::default(),
        };
        store.store.import_upload(suite.id, up, now - 3_600_000 + run as i64).await.unwrap();
    }
    // The server opens the same SQLite file the loader wrote.
    let args = vec!["--data-dir".to_string(), store.dir.path().display().to_string()];
    let files: Vec<Value> = ask.targets.iter().map(|t| json!({"path": t.path})).collect();
    let times = tokio::task::spawn_blocking(move || {
        let (_server, port) = start_server(&args);
        let client = reqwest::blocking::Client::new();
        let url = format!("http://127.0.0.1:{port}/buildkite/v2/analytics/organizations/o/suites/bench/test_plan");
        (0..5)
            .map(|k| {
                let body = json!({"runner": "rspec", "identifier": format!("bench-{k}"), "parallelism": PLAN_NODES, "branch": "main", "tests": {"files": files}});
                let t = Instant::now();
                let r = client.post(&url).bearer_auth("t").json(&body).send().unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                let _: Value = r.json().unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect::<Vec<f64>>()
    })
    .await
    .unwrap();
    let mut times = times;
    println!(
        "plan over HTTP (SQLite, {PLAN_FILES} tests x 3 runs of history, {} files): p50 {:.0} ms, best {:.0} ms; the packing alone {plan_ms:.1} ms",
        ask.targets.len(),
        percentile(&mut times, 0.5),
        times.iter().copied().fold(f64::INFINITY, f64::min)
    );
    store.cleanup().await;
}
