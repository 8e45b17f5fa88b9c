//! A native load generator for pytest-monitor's `POST /metrics/`, so that a
//! server is measured rather than the client: the harness's Python generator
//! tops out near 2,800 req/s (one thread, a new connection per request) and
//! 3,900 req/s (8 threads) against a server that does nothing.
//!
//! It sends what `bench/load_metrics.py` sends (a context, a session, then N
//! metrics of the same shape and size) from C concurrent clients on one
//! thread, keeping connections alive or opening one per request as the real
//! client does, and prints one JSON line. Used by `bench/pytest_monitor.sh`
//! against both servers in the same run:
//!
//!   cargo bench -p verdict --bench monitor_load -- --base http://127.0.0.1:PORT/api/v1 --n 5000 --concurrency 8 [--conn new] [--seed 1]

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Args {
    base: String,
    n: usize,
    concurrency: usize,
    new_connection: bool,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args { base: String::new(), n: 5000, concurrency: 8, new_connection: false, seed: 0 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--base" => a.base = value(),
            "--n" => a.n = value().parse().expect("--n N"),
            "--concurrency" => a.concurrency = value().parse().expect("--concurrency C"),
            "--conn" => a.new_connection = value() == "new",
            "--seed" => a.seed = value().parse().expect("--seed S"),
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

fn client(new_connection: bool) -> reqwest::Client {
    let b = reqwest::Client::builder().timeout(Duration::from_secs(60));
    // No idle connection is kept, so every request opens its own (as requests.post() does).
    let b = if new_connection { b.pool_max_idle_per_host(0) } else { b };
    b.build().expect("an HTTP client")
}

async fn post(c: &reqwest::Client, url: String, body: &Value) -> u16 {
    match c.post(url).json(body).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            status
        }
        Err(_) => 0,
    }
}

async fn run(a: Args) -> Value {
    let setup = client(true);
    let context_h = format!("{:032x}", 0xC0FFEE_u64 ^ a.seed);
    let context = json!({"h": context_h, "cpu_count": 2, "cpu_frequency": 2445.406, "cpu_type": "", "cpu_vendor": "AMD EPYC",
        "ram_total": 24105, "machine_node": format!("native-loadgen-{}", a.seed), "machine_type": "x86_64", "machine_arch": "64bit",
        "system_info": "Linux - 6.1", "python_info": "3.11.7 (main) [GCC 12.2.0]"});
    let found = setup.get(format!("{}/contexts/{context_h}", a.base)).send().await.map(|r| r.status().as_u16()).unwrap_or(0);
    if found != 200 {
        assert_eq!(post(&setup, format!("{}/contexts/", a.base), &context).await, 201, "creating the context");
    }
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let session_h = format!("{:032x}", nanos ^ u128::from(a.seed));
    let session = json!({"session_h": session_h, "run_date": "2026-11-22T09:00:00.000001", "scm_ref": format!("{:040x}", a.seed),
        "description": {"description": format!("native load run {}", a.seed), "pipeline_branch": "branch-0", "pipeline_build_no": "0",
            "__ci__": "circleci", "env": "ci"}});
    assert_eq!(post(&setup, format!("{}/sessions/", a.base), &session).await, 201, "creating the session");

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (next, base, session_h, context_h) = (next.clone(), a.base.clone(), session_h.clone(), context_h.clone());
            let c = client(a.new_connection);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= a.n {
                        return done;
                    }
                    let body = metric(i, &session_h, &context_h);
                    let t = Instant::now();
                    let status = post(&c, format!("{base}/metrics/"), &body).await;
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
    let errors = results.iter().filter(|(_, s)| *s != 201).count();
    let mut latency: Vec<f64> = results.iter().map(|(l, _)| l * 1000.0).collect();
    latency.sort_by(f64::total_cmp);
    let at = |q: f64| latency.get(((latency.len() as f64 * q) as usize).min(latency.len().saturating_sub(1))).copied().unwrap_or(0.0);
    let round = |x: f64| (x * 100.0).round() / 100.0;
    json!({
        "generator": "native", "n": results.len(), "concurrency": a.concurrency,
        "conn_mode": if a.new_connection { "new" } else { "reuse" }, "elapsed_s": round(elapsed),
        "rps": (results.len() as f64 / elapsed * 10.0).round() / 10.0, "errors": errors,
        "lat_ms": {"p50": round(at(0.5)), "p90": round(at(0.9)), "p99": round(at(0.99))},
    })
}

fn main() {
    let a = args();
    // One thread: the generator uses at most one of the machine's cores.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    println!("{}", rt.block_on(run(a)));
}
