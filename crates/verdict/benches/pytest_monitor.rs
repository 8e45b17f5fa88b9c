//! Native clients for benchmarking a pytest-monitor server, so that the
//! server is measured rather than the client: the harness's Python tools top
//! out near 2,800 req/s (one thread, a new connection per request) and 3,900
//! req/s (8 threads) against a server that does nothing, and add about a
//! third of a millisecond to every timed GET. Used by `bench/pytest_monitor.sh`
//! against both servers in the same run.
//!
//! `write`: what `bench/load_metrics.py` sends (a context, a session, then N
//! metrics of the same shape and size) from C concurrent clients on one
//! thread, keeping connections alive or opening one per request as the real
//! client does; prints one JSON line.
//!
//!   cargo bench -p verdict --bench pytest_monitor -- write --base http://127.0.0.1:PORT/api/v1 --n 5000 --concurrency 8 [--conn new] [--seed 1]
//!
//! `queries`: `bench/time_queries.py`'s routes and method (R rounds of N
//! sequential GETs per route, a new connection each, median of the round
//! medians); prints its JSON object. `--keep-alive`: one connection per route,
//! kept open where the server allows it.
//!
//!   cargo bench -p verdict --bench pytest_monitor -- queries --base http://127.0.0.1:PORT/api/v1 [--repeat 10] [--runs 3] [--keep-alive]
//!
//! `ping`: the median time of N GETs of `--base` (a full URL, say `/healthz`),
//! each on a new connection: the floor under every request.
//!
//! `stub`: a server on `--base` that answers 200 to anything and does
//! nothing else; `ping` against it is the floor of this machine's loopback.

#[path = "support/http1.rs"]
mod http1;

use http1::{Connection, split_url};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

#[derive(PartialEq)]
enum Mode {
    Write,
    Queries,
    Ping,
    Stub,
}

struct Args {
    mode: Mode,
    repeat: usize,
    runs: usize,
    base: String,
    n: usize,
    concurrency: usize,
    new_connection: bool,
    /// `queries`: one kept-alive connection per route instead of one per GET.
    keep_alive: bool,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        mode: Mode::Write,
        repeat: 10,
        runs: 3,
        base: String::new(),
        n: 5000,
        concurrency: 8,
        new_connection: false,
        keep_alive: false,
        seed: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => a.base = value(),
            "--n" => a.n = value().parse().expect("--n N"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--conn" => a.new_connection = value() == "new",
            "--keep-alive" => a.keep_alive = true,
            "--seed" => a.seed = value().parse().expect("--seed S"),
            "--repeat" => a.repeat = value().parse().expect("--repeat N"),
            "--runs" => a.runs = value().parse().expect("--runs R"),
            "write" => a.mode = Mode::Write,
            "queries" => a.mode = Mode::Queries,
            "ping" => a.mode = Mode::Ping,
            "stub" => a.mode = Mode::Stub,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    assert!(a.base.starts_with("http://127.0.0.1:"), "--base must be a loopback URL");
    a
}

const COMPONENTS: [&str; 6] = ["", "compA", "compB.sub", "core", "core.io", "ui"];

/// The i-th metric, as `load_metrics.py`'s `make_metric` builds it.
fn metric(i: usize, session: &str, context: &str) -> Value {
    let (module, function) = (i % 40, i % 7);
    let variant = if function % 2 == 1 { format!("test_fn_{function}[{}, x]", i % 13) } else { format!("test_fn_{function}") };
    let total = 0.001 + (i % 97) as f64 / 1000.0;
    let (user, kernel) = (total * 0.6, total * 0.1);
    json!({
        "session_h": session, "context_h": context,
        "item_start_time": format!("2026-01-01T00:00:{:02}.{:06}", i % 60, i % 999_999),
        "item_path": format!("pkg.tests.test_mod_{module}"), "item": format!("test_fn_{function}"), "item_variant": variant,
        "item_fs_loc": format!("pkg/tests/test_mod_{module}.py"), "kind": "function", "component": COMPONENTS[module % COMPONENTS.len()],
        "total_time": total, "user_time": user, "kernel_time": kernel, "cpu_usage": (user + kernel) / total,
        "mem_usage": 0.25 + (i % 50) as f64 / 8.0,
    })
}

/// POSTs `body` as JSON; the status, or 0 when the exchange failed.
async fn post(c: &mut Connection, path: &str, body: &Value) -> u16 {
    let bytes = serde_json::to_vec(body).expect("JSON");
    c.post_json(path, &bytes).await.map(|r| r.status).unwrap_or(0)
}

async fn run(a: Args) -> Value {
    let (addr, prefix) = split_url(&a.base);
    let prefix = prefix.trim_end_matches('/').to_owned();
    let mut setup = Connection::new(addr, false);
    let context_h = format!("{:032x}", 0xC0FFEE_u64 ^ a.seed);
    let context = json!({"h": context_h, "cpu_count": 2, "cpu_frequency": 2445.406, "cpu_type": "", "cpu_vendor": "AMD EPYC",
        "ram_total": 24105, "machine_node": format!("native-loadgen-{}", a.seed), "machine_type": "x86_64", "machine_arch": "64bit",
        "system_info": "Linux - 6.1", "python_info": "3.11.7 (main) [GCC 12.2.0]"});
    let found = setup.get(&format!("{prefix}/contexts/{context_h}")).await.map(|r| r.status).unwrap_or(0);
    if found != 200 {
        assert_eq!(post(&mut setup, &format!("{prefix}/contexts/"), &context).await, 201, "creating the context");
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let session_h = format!("{:032x}", nanos ^ u128::from(a.seed));
    let session = json!({"session_h": session_h, "run_date": "2026-11-22T09:00:00.000001", "scm_ref": format!("{:08x}{:032x}", (a.seed as u32).wrapping_mul(0x9E37_79B9), u128::from(a.seed)),
        "description": {"description": format!("native load run {}", a.seed), "pipeline_branch": format!("branch-{}", a.seed % 5), "pipeline_build_no": a.seed.to_string(),
            "__ci__": "circleci", "env": "ci"}});
    assert_eq!(post(&mut setup, &format!("{prefix}/sessions/"), &session).await, 201, "creating the session");

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (next, path, session_h, context_h) = (next.clone(), format!("{prefix}/metrics/"), session_h.clone(), context_h.clone());
            let mut c = Connection::new(addr, !a.new_connection);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= a.n {
                        return done;
                    }
                    let body = metric(i, &session_h, &context_h);
                    let t = Instant::now();
                    let status = post(&mut c, &path, &body).await;
                    done.push((t.elapsed().as_secs_f64(), status));
                }
            })
        })
        .collect();
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.expect("a worker"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Until every acknowledged sample can be read: a count of them all (Verdict's
    // SQLite store first moves what is still in its inbox into the indexed table).
    let counted = setup.get(&format!("{prefix}/metrics/count")).await.map(|r| r.status).unwrap_or(0);
    assert_eq!(counted, 200, "counting the samples");
    let readable = started.elapsed().as_secs_f64();
    let errors = results.iter().filter(|(_, s)| *s != 201).count();
    let mut latency: Vec<f64> = results.iter().map(|(l, _)| l * 1000.0).collect();
    latency.sort_by(f64::total_cmp);
    let at = |q: f64| latency.get(((latency.len() as f64 * q) as usize).min(latency.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "generator": "native", "n": results.len(), "concurrency": a.concurrency,
        "conn_mode": if a.new_connection { "new" } else { "reuse" }, "elapsed_s": round(elapsed),
        // Only stored samples count: a refusal is not throughput.
        "rps": ((results.len() - errors) as f64 / elapsed * 10.0).round() / 10.0, "errors": errors,
        "readable_s": round(readable), "readable_rps": ((results.len() - errors) as f64 / readable * 10.0).round() / 10.0,
        "lat_ms": {"p50": round(at(0.5)), "p90": round(at(0.9)), "p99": round(at(0.99))},
    })
}

/// The routes `time_queries.py` times, with a session hash and an scm prefix from `/sessions/`.
fn query_routes(session: &str, scm: &str) -> Vec<String> {
    let s = session;
    [
        "/sessions/",
        "/sessions/count",
        &format!("/sessions/{s}"),
        &format!("/sessions/{s}/metrics"),
        &format!("/sessions/{s}/metrics/count"),
        "/sessions/?with_flags=env&restrict_flags=ci",
        "/contexts/",
        "/metrics/",
        "/metrics/?page=-1",
        "/metrics/count",
        &format!("/filters/scm/{scm}/metrics"),
        &format!("/filters/scm/{scm}/metrics/count"),
        &format!("/filters/scm/{scm}/sessions"),
        "/filters/scope/function/metrics",
        "/filters/scope/function/metrics/count",
        "/components/",
        "/components/count",
        "/components/core/metrics",
        "/components/core/pipelines",
        "/items/test_fn_3/metrics",
        "/items/test_fn_3/metrics/count",
        "/items/like/fn_3/metrics",
        "/variants/test_fn_2/metrics",
        "/variants/like/x%5D/metrics",
        "/pipelines/",
        "/pipelines/branch-1/builds",
        "/pipelines/branch-1/builds/1/sessions",
        "/resources/memory/head/metrics",
        "/resources/cpu/tail/100/metrics",
        "/resources/memory/pipelines/branch-1/head/metrics",
        "/resources/memory/components/core/head/metrics",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// One GET on `c` (a new connection unless it keeps them alive): (status, body size, seconds).
async fn timed_get(c: &mut Connection, path: &str) -> (u16, usize, f64) {
    let t = Instant::now();
    let r = c.get(path).await.expect("a GET");
    (r.status, r.body.len(), t.elapsed().as_secs_f64())
}

/// The floor of one request: N GETs of `--base` itself (say `/healthz`), each on a new connection.
async fn ping(a: Args) -> Value {
    let mut times = Vec::new();
    for _ in 0..a.n {
        let (addr, path) = split_url(&a.base);
        times.push(timed_get(&mut Connection::new(addr, false), path).await.2);
    }
    json!({"url": a.base, "n": a.n, "median_ms": (median(times) * 100_000.0).round() / 100.0})
}

/// A server that does nothing but answer 200 to every request on
/// `--base http://127.0.0.1:PORT`: `ping` against it is the floor of a request
/// on a new connection on this machine (kernel and loopback, no HTTP stack).
async fn stub(a: Args) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(split_url(&a.base).0).await.expect("the stub's port");
    loop {
        let Ok((mut s, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = s.read(&mut chunk).await {
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
        });
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 }
}

async fn time_queries(a: Args) -> String {
    let (addr, prefix) = split_url(&a.base);
    let listed = Connection::new(addr, false).get(&format!("{}/sessions/", prefix.trim_end_matches('/'))).await.expect("GET /sessions/");
    let sessions: Value = serde_json::from_slice(&listed.body).unwrap_or(Value::Null);
    let list = sessions["sessions"].as_array().cloned().unwrap_or_default();
    let session = list.get(list.len() / 2).and_then(|s| s["session_h"].as_str()).unwrap_or("none").to_owned();
    let scm: String = list.iter().find_map(|s| s["scm_ref"].as_str().filter(|r| !r.is_empty())).unwrap_or("none").chars().take(8).collect();
    // In the order the routes are timed (a JSON map here would sort them), as time_queries.py prints them.
    let mut out = Vec::new();
    for route in query_routes(&session, &scm) {
        let url = format!("{}{route}", a.base);
        let mut conn = Connection::new(addr, a.keep_alive);
        let (mut status, mut size, mut medians, mut all) = (0, 0, Vec::new(), Vec::new());
        for _ in 0..a.runs {
            let mut round = Vec::new();
            for _ in 0..a.repeat {
                let (st, sz, secs) = timed_get(&mut conn, split_url(&url).1).await;
                (status, size) = (st, sz);
                round.push(secs);
            }
            all.extend(&round);
            medians.push(median(round));
        }
        let first = all[0];
        all.sort_by(f64::total_cmp);
        let p95 = all[((all.len() as f64 * 0.95) as usize).min(all.len() - 1)];
        let ms = |s: f64| (s * 100_000.0).round() / 100.0;
        let run_medians: Vec<f64> = medians.iter().map(|m| ms(*m)).collect();
        eprintln!(
            "{route:60} {status} {size:>8}B  first {:>9.2} ms  median {:>9.2} ms  p95 {:>9.2} ms",
            ms(first),
            ms(median(medians.clone())),
            ms(p95)
        );
        out.push(format!(
            "{}:{}",
            json!(route),
            json!({"status": status, "bytes": size, "first_ms": ms(first), "median_ms": ms(median(medians)), "p95_ms": ms(p95),
                "run_medians_ms": run_medians}),
        ));
    }
    format!("{{{}}}", out.join(","))
}

fn main() {
    let a = args();
    // One thread: the client uses at most one of the machine's cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let out = match a.mode {
        Mode::Write => rt.block_on(run(a)).to_string(),
        Mode::Queries => rt.block_on(time_queries(a)),
        Mode::Ping => rt.block_on(ping(a)).to_string(),
        Mode::Stub => rt.block_on(stub(a)),
    };
    println!("{out}");
}
