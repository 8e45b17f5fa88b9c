//! The real `verdict` binary as users run it: suites from the CLI, a server
//! process killed with SIGKILL mid-upload (Buildkite uploads, pytest-monitor
//! samples) and restarted, SIGTERM finishing uploads in flight, and `verdict
//! upload` against it. On SQLite and PostgreSQL.

use serde_json::{Value, json};
use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use verdict_store::testing::{Backend, TestStore};

const BIN: &str = env!("CARGO_BIN_EXE_verdict");

struct Env {
    store: TestStore,
}

impl Env {
    async fn new(backend: Backend) -> Self {
        Env { store: TestStore::new(backend).await }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("VERDICT_DATABASE_URL").env_remove("VERDICT_TOKEN").env_remove("BUILDKITE_ANALYTICS_TOKEN");
        c.arg("--data-dir").arg(self.store.dir.path().join("data"));
        if let Some(url) = &self.store.database_url {
            c.arg("--database-url").arg(url);
        }
        c
    }

    fn create_suite(&self, slug: &str) -> String {
        let out = self.cmd().args(["suite", "create", slug, "--name", "Web app"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        assert!(token.starts_with("vdt_"), "only the token goes to stdout: {token:?}");
        token
    }

    /// A CLI command that talks to the server on `port` (no store arguments, no token).
    fn cmd_at(&self, port: u16) -> Command {
        let mut c = Command::new(BIN);
        c.env("VERDICT_URL", format!("http://127.0.0.1:{port}"));
        for v in ["VERDICT_TOKEN", "BUILDKITE_ANALYTICS_TOKEN", "GITHUB_STEP_SUMMARY"] {
            c.env_remove(v);
        }
        c
    }

    fn serve(&self, port: u16) -> ServerProcess {
        self.serve_with(port, &[])
    }

    fn serve_with(&self, port: u16, extra: &[&str]) -> ServerProcess {
        let mut child = self
            .cmd()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("verdict serve exited with {status}: {err}");
            }
            assert!(Instant::now() < deadline, "verdict serve did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        ServerProcess(Some(child))
    }
}

/// A `verdict serve` process, killed when dropped: a failing test leaves none behind.
struct ServerProcess(Option<Child>);

impl ServerProcess {
    fn id(&self) -> u32 {
        self.0.as_ref().expect("running").id()
    }

    /// SIGKILL, and reap.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_with_output(mut self) -> std::process::Output {
        self.0.take().expect("running").wait_with_output().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Wait (at most 30 s) until a server on `port` answers `/healthz`.
fn wait_until_up(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("http://127.0.0.1:{port}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "{what} on port {port} did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn upload_body(key: &str, n: usize) -> Value {
    let data: Vec<Value> =
        (0..n).map(|i| json!({"scope": "crash", "name": format!("t{i}"), "result": "passed", "history": {"duration": 0.001}})).collect();
    json!({"format": "json", "run_env": {"key": key}, "data": data})
}

/// `verdict upload` to the server on `port`, outside any CI.
fn upload_cmd(port: u16, token: &str) -> Command {
    let mut c = Command::new(BIN);
    c.arg("upload").env("VERDICT_URL", format!("http://127.0.0.1:{port}")).env("VERDICT_TOKEN", token);
    for ci in ["BUILDKITE_BUILD_ID", "GITHUB_RUN_ID", "CIRCLE_BUILD_NUM", "GITLAB_CI", "JENKINS_URL", "GITHUB_STEP_SUMMARY"] {
        c.env_remove(ci);
    }
    c
}

fn get(port: u16, path: &str) -> Value {
    reqwest::blocking::get(format!("http://127.0.0.1:{port}{path}")).unwrap().json().unwrap()
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let env = super::Env::new(super::Backend::Sqlite).await;
            let env = tokio::task::spawn_blocking(move || { super::$name(&env); env }).await.unwrap();
            env.store.cleanup().await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let env = super::Env::new(super::Backend::Postgres).await;
            let env = tokio::task::spawn_blocking(move || { super::$name(&env); env }).await.unwrap();
            env.store.cleanup().await; } )* }
    };
}

both!(
    sigkill_mid_upload_loses_nothing_that_was_accepted,
    sigkill_mid_pytest_monitor_samples_loses_none_that_got_201,
    sigterm_finishes_uploads_in_flight,
    sigterm_drops_stalled_clients_after_the_drain_deadline,
    cli_upload_splits_retries_and_never_breaks_the_build,
    aggregate_from_the_store,
    aggregate_checks_run_metrics,
    analyze_test_durations_between_branches,
    compare_branches,
    flaky_from_the_store,
    failures_from_the_store,
    sigkill_mid_analysis_loses_and_repeats_nothing,
    plan_shares_agree_across_nodes_and_fall_back_when_the_server_is_down,
    sigkill_between_webhook_attempts_resends_with_the_same_id_once,
    upload_writes_the_step_summary_and_annotates_the_build,
    a_reader_that_goes_away_ends_a_command_quietly,
    a_backup_taken_during_uploads_is_a_whole_store,
    retention_days_deletes_old_history_in_the_background
);

/// `verdict serve --retention-days 10` on a store with history 30 and 1 days
/// old: the old executions go (at start, then hourly), the recent ones and
/// every run stay, and the tests list (from the rollups) says the same as
/// before.
fn retention_days_deletes_old_history_in_the_background(env: &Env) {
    env.create_suite("web");
    let rt = tokio::runtime::Runtime::new().unwrap();
    // The store the CLI and the server open (the test store's SQLite file is another).
    let store = rt.block_on(verdict_store::open(env.store.database_url.as_deref(), &env.store.dir.path().join("data"))).unwrap();
    let day = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    let mut runs = Vec::new();
    rt.block_on(async {
        let suite = store.suites().await.unwrap().into_iter().find(|s| s.slug.as_str() == "web").unwrap();
        for (key, age) in [("old", 30), ("recent", 1)] {
            let upload = verdict_formats::buildkite::parse_json_body(upload_body(key, 5).to_string().as_bytes()).unwrap();
            runs.push(store.import_upload(suite.id, upload, now - age * day).await.unwrap().run_id);
        }
    });
    drop(store);
    let executions = |port: u16| -> Vec<usize> {
        runs.iter().map(|r| get(port, &format!("/api/v1/runs/{r}/executions")).as_array().map_or(0, Vec::len)).collect()
    };
    let port = free_port();
    let before = {
        let _server = env.serve(port);
        assert_eq!(executions(port), vec![5, 5]);
        get(port, "/api/v1/suites/web/tests?days=90")
    };
    let _server = env.serve_with(port, &["--retention-days", "10"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while executions(port) != vec![0, 5] {
        assert!(Instant::now() < deadline, "retention did not delete the 30-day-old executions: {:?}", executions(port));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(get(port, "/api/v1/suites/web/runs").as_array().unwrap().len(), 2, "the runs stay");
    assert_eq!(get(port, "/api/v1/suites/web/tests?days=90"), before, "the tests list, from the rollups, is unchanged");
}

/// `verdict backup` while uploads stream in: the copy is a whole store
/// (every upload answered 202 before it began is in it, no run in part),
/// which a server serves from another directory; an existing file is
/// refused; on PostgreSQL it points at pg_dump.
fn a_backup_taken_during_uploads_is_a_whole_store(env: &Env) {
    let copy_dir = env.store.dir.path().join("copy");
    let file = copy_dir.join("verdict.db");
    if env.store.database_url.is_some() {
        let out = env.cmd().args(["backup", "--to"]).arg(&file).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"), "{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let token = env.create_suite("web");
    let port = free_port();
    let _server = env.serve(port);
    let send = move |http: &reqwest::blocking::Client, key: &str| {
        http.post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&upload_body(key, RESULTS_PER_UPLOAD))
            .send()
    };
    let senders = Senders::start(4, 202, Arc::new(send));
    let before = senders.wait_for(20);
    std::fs::create_dir_all(&copy_dir).unwrap();
    let out = env.cmd().args(["backup", "--to"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains(" runs, ") && said.contains("1 suites"), "{said}");
    senders.wait_for(before.len() + 10); // the server went on taking uploads
    senders.stop();
    let again = env.cmd().args(["backup", "--to"]).arg(&file).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    assert_eq!(std::fs::read_dir(&copy_dir).unwrap().count(), 1, "no partial file is left beside the copy");

    let copy_port = free_port();
    let mut copy = ServerProcess(Some(
        Command::new(BIN)
            .args(["--data-dir"])
            .arg(&copy_dir)
            .args(["serve", "--listen", &format!("127.0.0.1:{copy_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    wait_until_up(copy_port, "a server on the copy");
    let runs = get(copy_port, "/api/v1/suites/web/runs?per_page=500");
    let runs = runs.as_array().unwrap();
    for key in &before {
        assert!(runs.iter().any(|r| r["key"] == key.as_str()), "upload {key}, accepted before the backup, is not in it");
    }
    for r in runs {
        let detail = get(copy_port, &format!("/api/v1/runs/{}", r["id"]));
        assert_eq!(detail["total"], RESULTS_PER_UPLOAD, "run {} is in the copy in part", r["key"]);
    }
    assert!(said.contains(&format!("{} runs", runs.len())), "the summary counts the copy's runs: {said}");
    copy.kill();
}

/// `verdict suite list | head -0`: the command stops at the closed pipe,
/// without a panic (it used to print "failed printing to stdout").
fn a_reader_that_goes_away_ends_a_command_quietly(env: &Env) {
    for i in 0..40 {
        env.create_suite(&format!("s{i}"));
    }
    let mut child = env.cmd().args(["suite", "list"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}", out.status);
}

const RESULTS_PER_UPLOAD: usize = 300;

/// Threads that each send one request after another (`send` with a key no
/// other request uses), keeping the keys answered `accepted_status`, until
/// stopped or the server is gone.
struct Senders {
    accepted: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

type SendFn = dyn Fn(&reqwest::blocking::Client, &str) -> reqwest::Result<reqwest::blocking::Response> + Send + Sync;

impl Senders {
    fn start(threads: usize, accepted_status: u16, send: Arc<SendFn>) -> Senders {
        let (accepted, stop) = (Arc::new(Mutex::new(Vec::<String>::new())), Arc::new(AtomicBool::new(false)));
        let workers = (0..threads)
            .map(|w| {
                let (accepted, stop, send) = (accepted.clone(), stop.clone(), send.clone());
                std::thread::spawn(move || {
                    let http = reqwest::blocking::Client::new();
                    for i in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let key = format!("w{w}_{i}");
                        match send(&http, &key) {
                            Ok(r) if r.status() == accepted_status => accepted.lock().unwrap().push(key),
                            Ok(r) => panic!("unexpected status {} while the server runs", r.status()),
                            Err(_) => break, // the server is gone
                        }
                    }
                })
            })
            .collect();
        Senders { accepted, stop, workers }
    }

    /// Wait until `n` requests were accepted; the keys accepted so far.
    fn wait_for(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.accepted.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "requests stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        self.accepted.lock().unwrap().clone()
    }

    /// Stop and join the threads; every key accepted.
    fn stop(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        self.workers.into_iter().for_each(|w| w.join().unwrap());
        self.accepted.lock().unwrap().clone()
    }
}

/// Eight senders until `enough` have been answered `accepted_status`; then
/// the server gets SIGKILL. The keys that were answered so, all of them.
fn send_until_killed(
    server: &mut ServerProcess,
    enough: usize,
    accepted_status: u16,
    send: impl Fn(&reqwest::blocking::Client, &str) -> reqwest::Result<reqwest::blocking::Response> + Send + Sync + 'static,
) -> Vec<String> {
    let senders = Senders::start(8, accepted_status, Arc::new(send));
    senders.wait_for(enough);
    server.kill(); // SIGKILL
    let accepted = senders.stop();
    assert!(accepted.len() >= enough);
    accepted
}

/// Every upload answered 202 before the kill is wholly there after the
/// restart; no upload is there in part.
fn sigkill_mid_upload_loses_nothing_that_was_accepted(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let accepted = send_until_killed(&mut server, 40, 202, move |http, key| {
        http.post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&upload_body(key, RESULTS_PER_UPLOAD))
            .send()
    });

    let port = free_port();
    let mut server = env.serve(port);
    let runs = get(port, "/api/v1/suites/web/runs?per_page=500");
    let runs = runs.as_array().unwrap();
    for key in &accepted {
        assert!(runs.iter().any(|r| r["key"] == key.as_str()), "accepted upload {key} is missing after the restart");
    }
    for r in runs {
        let detail = get(port, &format!("/api/v1/runs/{}", r["id"]));
        assert_eq!(detail["total"], RESULTS_PER_UPLOAD, "run {} is there in part", r["key"]);
    }
    assert!(runs.len() >= accepted.len());
    server.kill();
}

/// pytest-monitor samples answered 201 before a SIGKILL are all listed after
/// the restart. On SQLite most of them are still in the inbox when the
/// process dies (8 writers leave the writer no idle moment to move them).
fn sigkill_mid_pytest_monitor_samples_loses_none_that_got_201(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let base = format!("http://127.0.0.1:{port}/t/{token}/api/v1");
    let http = reqwest::blocking::Client::new();
    let context = json!({"cpu_count": 2, "cpu_frequency": 2.0, "cpu_type": "", "cpu_vendor": "", "ram_total": 1, "machine_node": "n",
        "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "L", "python_info": "3", "h": "c1"});
    assert_eq!(http.post(format!("{base}/contexts/")).json(&context).send().unwrap().status(), 201);
    let session = json!({"session_h": "s1", "run_date": "2026-11-29T00:00:00", "scm_ref": "abc", "description": {}});
    assert_eq!(http.post(format!("{base}/sessions/")).json(&session).send().unwrap().status(), 201);
    let accepted = send_until_killed(&mut server, 400, 201, move |http, item| {
        let metric = json!({"session_h": "s1", "context_h": "c1", "item_start_time": "2026-11-29T00:00:01", "item_path": "pkg.t",
            "item": item, "item_variant": item, "item_fs_loc": "pkg/t.py", "kind": "function", "component": "", "total_time": 1,
            "user_time": 0.5, "kernel_time": 0.1, "cpu_usage": 0.6, "mem_usage": 2.0});
        http.post(format!("{base}/metrics/")).json(&metric).send()
    });

    let port = free_port();
    let mut server = env.serve(port);
    let base = format!("/t/{token}/api/v1");
    let total = get(port, &format!("{base}/metrics/count"))["count"].as_u64().unwrap() as usize;
    let mut listed = std::collections::HashSet::new();
    for page in 1..=total.div_ceil(500) {
        for m in get(port, &format!("{base}/metrics/?page={page}"))["metrics"].as_array().unwrap() {
            listed.insert(m["item"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(listed.len(), total, "each sample is listed once");
    for item in &accepted {
        assert!(listed.contains(item), "sample {item} got 201 before the kill and is missing after the restart");
    }
    server.kill();
}

/// Uploads whose bodies are still arriving when SIGTERM comes are finished,
/// answered 202 and stored; then the server exits 0.
fn sigterm_finishes_uploads_in_flight(env: &Env) {
    use std::io::Read;
    let token = env.create_suite("web");
    let port = free_port();
    let server = env.serve(port);
    let mut conns: Vec<(std::net::TcpStream, Vec<u8>)> = (0..3)
        .map(|i| {
            let body = serde_json::to_vec(&upload_body(&format!("term-{i}"), 5000)).unwrap();
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let head = format!(
                "POST /v1/uploads HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token token=\"{token}\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes()).unwrap();
            let half = body.len() / 2;
            conn.write_all(&body[..half]).unwrap();
            (conn, body[half..].to_vec())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(300));
    for (conn, rest) in &mut conns {
        conn.write_all(rest).unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
    }
    let output = server.wait_with_output();
    assert!(output.status.success(), "graceful exit: {}", String::from_utf8_lossy(&output.stderr));

    let port = free_port();
    let mut server = env.serve(port);
    let runs = get(port, "/api/v1/suites/web/runs?per_page=500");
    assert_eq!(runs.as_array().unwrap().len(), 3);
    for r in runs.as_array().unwrap() {
        assert_eq!(get(port, &format!("/api/v1/runs/{}", r["id"]))["total"], 5000);
    }
    server.kill();
}

/// Clients that stall (a body that never comes on a route with credentials,
/// a request head never finished) cannot keep a stopping server alive: it
/// exits 0 within the drain deadline (body timeout + 5 s), and the upload
/// answered 202 before the stop is there after a restart.
fn sigterm_drops_stalled_clients_after_the_drain_deadline(env: &Env) {
    use std::io::Read;
    let token = env.create_suite("web");
    let port = free_port();
    let body_timeout = 2;
    let server = env.serve_with(port, &["--body-timeout-secs", &body_timeout.to_string()]);
    let body = serde_json::to_vec(&upload_body("before-stop", 3)).unwrap();
    let reply = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/uploads"))
        .header("Authorization", format!("Token token=\"{token}\""))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(reply.status(), 202);
    let run_id = reply.json::<Value>().unwrap()["run_id"].as_str().unwrap().to_owned();

    let stalled = [
        // A pytest-monitor sample with a valid token whose body never comes.
        format!("POST /t/{token}/api/v1/metrics/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"),
        // A request head that is never finished (hyper waits 30 s for it).
        "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nContent-Ty".to_owned(),
    ];
    let mut conns: Vec<std::net::TcpStream> = stalled
        .iter()
        .map(|head| {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(head.as_bytes()).unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let stopped_at = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    let output = server.wait_with_output();
    let took = stopped_at.elapsed();
    assert!(output.status.success(), "graceful exit: {}", String::from_utf8_lossy(&output.stderr));
    let deadline = Duration::from_secs(body_timeout + 5);
    assert!(took < deadline + Duration::from_secs(3), "the stop took {took:?}, past the drain deadline of {deadline:?}");
    // The stalled metric got its 408 once its body timed out; the half head got nothing.
    let mut reply = String::new();
    let _ = conns[0].read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    conns.clear();

    let port = free_port();
    let mut server = env.serve(port);
    assert_eq!(get(port, &format!("/api/v1/runs/{run_id}"))["total"], 3);
    server.kill();
}

fn cli_upload_splits_retries_and_never_breaks_the_build(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let dir = &env.store.dir.path().join("results");
    std::fs::create_dir_all(dir).unwrap();
    // 6001 testcases: two requests under one run key.
    let mut big = String::from("<testsuites><testsuite name=\"big\">");
    for i in 0..6001 {
        big.push_str(&format!("<testcase classname=\"Big\" name=\"t{i}\" time=\"0.001\"/>"));
    }
    big.push_str("<testcase classname=\"Big\" name=\"bad\"><failure message=\"nope\"/></testcase></testsuite></testsuites>");
    std::fs::write(dir.join("big.xml"), big).unwrap();
    std::fs::File::create(dir.join("small.json")).unwrap().write_all(br#"[{"scope":"s","name":"from json","result":"passed"}]"#).unwrap();

    let upload = |args: &[&str], token: &str| upload_cmd(port, token).args(args).output().unwrap();
    let pattern = format!("{}/*.*", dir.display());
    let out = upload(&[&pattern, "--branch", "main", "--commit", "abc", "--tag", "team=web"], &token);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Uploaded 6003 results (0 skipped) from 2 file(s)"), "{stderr}");
    let run_url = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    // The printed URL is the run's page (it fills in branch and window, then answers HTML naming the run).
    let page = reqwest::blocking::get(&run_url).unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let run_id = run_url.rsplit('/').next().unwrap().to_owned();
    assert!(run_url.ends_with(&format!("/s/web/runs/{run_id}")), "{run_url}");
    assert!(page.text().unwrap().contains(&format!("Run #{run_id}")), "the page names the run");
    let run: Value = reqwest::blocking::get(format!("http://127.0.0.1:{port}/api/v1/runs/{run_id}")).unwrap().json().unwrap();
    assert_eq!((run["total"].as_i64(), run["uploads"].as_i64(), run["result"].as_str()), (Some(6003), Some(2), Some("failed")));
    assert_eq!((run["branch"].as_str(), run["commit_sha"].as_str(), run["ci"].as_str()), (Some("main"), Some("abc"), Some("generic")));

    // A bad token: a clear message, exit 0 by default, exit 1 with --strict.
    let out = upload(&[&pattern], "vdt_wrong");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid upload token"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(upload(&[&pattern, "--strict"], "vdt_wrong").status.code(), Some(1));
    // A broken file: named with its line.
    let broken = env.store.dir.path().join("broken.xml");
    std::fs::write(&broken, "<testsuite>\n<testcase name='a'>\n</testsuite>").unwrap();
    let out = upload(&[broken.to_str().unwrap(), "--strict"], &token);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("broken.xml") && stderr.contains("line 3"), "{stderr}");

    // Token rotation: the old token stops working at once.
    let rotated = env.cmd().args(["suite", "token", "rotate", "web"]).output().unwrap();
    assert!(rotated.status.success());
    let new_token = String::from_utf8(rotated.stdout).unwrap().trim().to_owned();
    assert_eq!(upload(&[&pattern, "--strict"], &token).status.code(), Some(1));
    assert!(upload(&[&pattern, "--strict"], &new_token).status.success());

    // Retries then gives up on a server that is down, without failing the build.
    server.kill();
    let started = Instant::now();
    let out = upload(&[&pattern], &new_token);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("retrying") && stderr.contains("gave up after 5 attempts"), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(7), "backoff 0.5+1+2+4 s");

    let list = env.cmd().args(["suite", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains("web"));
}

/// `verdict serve --config FILE`: the file's settings apply, an environment
/// variable overrides the file and a flag overrides both; a bad file stops
/// the server with the file and line named; `verdict config check` agrees.
#[test]
fn a_config_file_is_overridden_by_the_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("verdict.toml");
    let data = dir.path().join("data");
    std::fs::write(
        &file,
        format!(
            "# the server's settings\nlisten = \"127.0.0.1:{port}\"\ndata_dir = {:?}\nread-token = \"from-file\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let check = Command::new(BIN).args(["config", "check"]).arg(&file).output().unwrap();
    assert!(check.status.success() && String::from_utf8_lossy(&check.stdout).contains("ok, 3 settings"), "{check:?}");
    // Which read token a server started so takes: the one that opens /metrics.
    let token_of = |env: Option<&str>, flag: Option<&str>| -> String {
        let mut c = Command::new(BIN);
        for v in ["VERDICT_READ_TOKEN", "VERDICT_LISTEN", "VERDICT_DATA_DIR", "VERDICT_DATABASE_URL", "VERDICT_CONFIG"] {
            c.env_remove(v);
        }
        c.arg("--config").arg(&file).arg("serve").stdout(Stdio::null()).stderr(Stdio::null());
        if let Some(t) = env {
            c.env("VERDICT_READ_TOKEN", t);
        }
        if let Some(t) = flag {
            c.args(["--read-token", t]);
        }
        let mut server = ServerProcess(Some(c.spawn().unwrap()));
        wait_until_up(port, "the server on the file's port");
        let http = reqwest::blocking::Client::new();
        let opens = |t: &str| http.get(format!("http://127.0.0.1:{port}/metrics")).bearer_auth(t).send().unwrap().status() == 200;
        let token = ["from-file", "from-env", "from-flag"].into_iter().find(|t| opens(t)).unwrap_or("none").to_owned();
        server.kill();
        token
    };
    assert_eq!(token_of(None, None), "from-file");
    assert_eq!(token_of(Some("from-env"), None), "from-env");
    assert_eq!(token_of(Some("from-env"), Some("from-flag")), "from-flag");
    assert!(data.join("verdict.db").exists(), "the file's data-dir was used");

    std::fs::write(&file, "listen = \"127.0.0.1:1\"\n\nmax_connections = \"many\"\ncolour = 1\n").unwrap();
    let out = Command::new(BIN).arg("--config").arg(&file).args(["serve"]).env_remove("VERDICT_CONFIG").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains(&format!("{}:4: unknown key \"colour\"", file.display())), "{err}");
    std::fs::write(&file, "max_connections = \"many\"\n").unwrap();
    let check = Command::new(BIN).args(["config", "check"]).arg(&file).output().unwrap();
    assert_eq!(check.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&check.stderr).contains(":1: max-connections: invalid value 'many'"), "{check:?}");
}

#[test]
fn stats_required_passes_explains_the_rule() {
    let out = Command::new(BIN).args(["stats", "required-passes", "--attempts", "10", "--working-percentage", "95.7"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("working percentage: 95%"), "{text}");
    assert!(text.contains("strict required passes: 7") && text.contains("required passes (at most attempts - 2): 7"), "{text}");
    // The spec's p-values for 6, 7 and 8 passes: 0.0016, 0.0147, 0.0946.
    let row = |n: &str| text.lines().find(|l| l.split_whitespace().next() == Some(n)).unwrap().to_owned();
    let p = |n: &str| row(n).split_whitespace().nth(1).unwrap().parse::<f64>().unwrap();
    assert!((p("6") - 0.0016).abs() < 5e-5 && row("6").contains("fail"), "{}", row("6"));
    assert!((p("7") - 0.0147).abs() < 5e-5 && row("7").contains("pass"), "{}", row("7"));
    assert!((p("8") - 0.0946).abs() < 5e-5 && !row("8").contains("significantly"), "{}", row("8"));
    assert!(text.contains("one pass below"), "the quirk is explained: {text}");
    let bad = Command::new(BIN).args(["stats", "required-passes", "--attempts", "0", "--working-percentage", "90"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let bad = Command::new(BIN).args(["stats", "required-passes", "--attempts", "5", "--working-percentage", "101"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("between 0 and 100"));
}

/// `verdict analyze-historical-data` on upstream's disruption vector: the sorted rows, the PR message and
/// require_review, appended on a second run; an empty input is an error.
#[test]
fn analyze_historical_disruptions_from_files() {
    let vectors: Value = serde_json::from_str(include_str!("../../verdict-core/tests/vectors/job-run-aggregator.json")).unwrap();
    let case = &vectors["analyze_historical_data_compare"];
    let dir = tempfile::tempdir().unwrap();
    let (current, new, out) = (dir.path().join("current.json"), dir.path().join("new.json"), dir.path().join("out"));
    std::fs::write(&current, case["input"]["current"].to_string()).unwrap();
    std::fs::write(&new, case["input"]["new"].to_string()).unwrap();
    let analyze = |new: &std::path::Path| {
        Command::new(BIN)
            .args(["analyze-historical-data", "--data-type", "disruptions", "--leeway", "30"])
            .args(["--target-release", "4.16", "--previous-release", "4.15"])
            .arg("--current")
            .arg(&current)
            .arg("--new")
            .arg(new)
            .arg("--output-dir")
            .arg(&out)
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let run = analyze(&new);
        assert_eq!(run.status.code(), Some(0), "increases exit 0: {}", String::from_utf8_lossy(&run.stderr));
    }
    let rows: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(out.join("results_disruptions.json")).unwrap()).unwrap();
    let keys: Vec<String> = rows
        .iter()
        .map(|r| {
            ["BackendName", "FromRelease", "Release", "Architecture", "Platform", "Network", "Topology"]
                .map(|k| r[k].as_str().unwrap())
                .join("_")
        })
        .collect();
    assert_eq!(serde_json::to_value(keys).unwrap(), case["expected"]["output_file_row_keys_in_order"]);
    let md = std::fs::read_to_string(out.join("pr_message.md")).unwrap();
    assert_eq!(md.matches("## disruptions Information").count(), 2, "appended: {md}");
    assert!(md.contains(case["expected"]["pr_table_rows"][0].as_str().unwrap()), "{md}");
    let review = std::fs::read_to_string(out.join("require_review")).unwrap();
    let want: Vec<&str> = case["expected"]["require_review_lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(review.lines().collect::<Vec<_>>(), [want.clone(), want].concat());

    let empty = dir.path().join("empty.json");
    std::fs::write(&empty, "[]").unwrap();
    let run = analyze(&empty);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("empty.json: no rows"), "{}", String::from_utf8_lossy(&run.stderr));
}

#[test]
fn aggregate_judges_repeated_runs_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Six runs: "stable" always passes; "degraded" (100% historically) passes 3 of 6; "retried" flakes once;
    // "informing" always fails but is informing; run-5 is a directory of two files.
    for i in 0..6 {
        let degraded = if i < 3 { "" } else { "<failure message=\"boom\"/>" };
        let retried = if i == 0 {
            "<testcase name=\"retried\"><failure/></testcase><testcase name=\"retried\"/>"
        } else {
            "<testcase name=\"retried\"/>"
        };
        let main = format!(
            "<testsuites><testsuite name=\"e2e\"><testcase name=\"stable\"/><testcase name=\"degraded\">{degraded}</testcase>{retried}\
             <testsuite name=\"nested\"><testcase name=\"informing\" lifecycle=\"informing\"><failure/></testcase></testsuite></testsuite></testsuites>"
        );
        if i == 5 {
            std::fs::create_dir_all(d.join("run-5/artifacts")).unwrap();
            std::fs::write(d.join("run-5/artifacts/junit_e2e.xml"), &main).unwrap();
            std::fs::write(d.join("run-5/junit_extra.xml"), "<testsuite name=\"extra\"><testcase name=\"once\"/></testsuite>").unwrap();
        } else {
            std::fs::write(d.join(format!("run-{i}.xml")), &main).unwrap();
        }
    }
    std::fs::write(d.join("history.json"), r#"[{"suite": "e2e", "name": "degraded", "working_percentage": 100.0}]"#).unwrap();
    let runs: Vec<String> =
        (0..6).map(|i| d.join(if i == 5 { "run-5".to_string() } else { format!("run-{i}.xml") }).display().to_string()).collect();
    let aggregate = |extra: &[&str]| {
        Command::new(BIN)
            .arg("aggregate")
            .arg("--junit")
            .args(&runs)
            .args(["--history", d.join("history.json").to_str().unwrap(), "--output", d.join("agg.xml").to_str().unwrap()])
            .args(["--json", d.join("summary.json").to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = aggregate(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a blocking failure: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("5 tests over 6 runs: 2 passed, 3 failed (2 blocking)"), "{stdout}");
    assert!(
        stdout.contains("Failed: Passed 3 times, failed 3 times.  The historical pass rate is 100%.  The required number of passes is 4"),
        "{stdout}"
    );

    let summary: Value = serde_json::from_slice(&std::fs::read(d.join("summary.json")).unwrap()).unwrap();
    let by_name = |n: &str| summary.as_array().unwrap().iter().find(|t| t["name"] == n).unwrap().clone();
    assert_eq!((by_name("stable")["status"].as_str(), by_name("stable")["attempts"].as_u64()), (Some("passed"), Some(6)));
    let retried = by_name("retried");
    assert_eq!(
        (retried["status"].as_str(), retried["passes"].as_u64(), retried["failure_runs"][0].as_str()),
        (Some("passed"), Some(6), Some("run-0"))
    );
    let degraded = by_name("degraded");
    assert_eq!(
        (degraded["working_percentage"].as_u64(), degraded["strict_required"].as_u64(), degraded["required"].as_u64()),
        (Some(100), Some(5), Some(4))
    );
    assert_eq!(by_name("once")["status"], "failed", "one attempt is fewer than 6");
    assert_eq!(by_name("informing")["suite"], "e2e|||nested");

    let xml = std::fs::read_to_string(d.join("agg.xml")).unwrap();
    assert!(xml.contains("<testsuite name=\"e2e\" tests=\"0\" skipped=\"0\" failures=\"2\" time=\"0\">"), "{xml}");
    assert!(xml.contains("*** NON-BLOCKING FAILURE"), "{xml}");

    // Lowering the bar to 1 attempt and dropping the degraded test's history: only informing fails, exit 0.
    std::fs::write(d.join("history.json"), "[]").unwrap();
    let out = aggregate(&["--min-attempts", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    // Bad input: exit 2 naming the file.
    std::fs::write(d.join("history.json"), "{").unwrap();
    let out = aggregate(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("history.json"));
}

/// `verdict aggregate --suite` judges what the server stored, with the same outputs as the offline mode.
fn aggregate_from_the_store(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let post = |key: String, payload: &str, steady: &str| {
        let body = json!({"format": "json", "run_env": {"key": key, "job": "e2e", "payload": payload},
            "data": [{"scope": "e2e", "name": "steady", "result": steady}, {"scope": "e2e", "name": "new", "result": "passed"}]});
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
    };
    for i in 0..8 {
        post(format!("old-{i}"), "v1", "passed");
    }
    for i in 0..6 {
        post(format!("new-{i}"), "v2", if i < 3 { "passed" } else { "failed" });
    }
    server.kill();
    let dir = tempfile::tempdir().unwrap();
    let (xml, summary) = (dir.path().join("agg.xml"), dir.path().join("summary.json"));
    let out = env
        .cmd()
        .args([
            "aggregate",
            "--suite",
            "web",
            "--job",
            "e2e",
            "--payload",
            "v2",
            "--output",
            xml.to_str().unwrap(),
            "--json",
            summary.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 tests over 6 runs: 1 passed, 1 failed (1 blocking)"), "{stdout}");
    assert!(stdout.contains("The historical pass rate is 100%.  The required number of passes is 4"), "{stdout}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    let new = summary.as_array().unwrap().iter().find(|t| t["name"] == "new").unwrap();
    assert_eq!(new["working_percentage"], 100, "history of the same job, other payloads");
    assert!(
        std::fs::read_to_string(&xml).unwrap().contains("<testsuite name=\"e2e\" tests=\"0\" skipped=\"0\" failures=\"1\" time=\"0\">")
    );
    let none = env.cmd().args(["aggregate", "--suite", "web", "--job", "e2e", "--payload", "v9"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no runs of job \"e2e\" for payload \"v9\""));
}

/// `verdict upload --metric` sets run metrics; `verdict aggregate --suite` checks them against the job's
/// history and fails on a regression, unless `--metric-config` switches the metric's checks off.
fn aggregate_checks_run_metrics(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.json");
    std::fs::write(&results, r#"[{"scope": "e2e", "name": "install", "result": "passed"}]"#).unwrap();
    let upload = |key: String, payload: &str, seconds: f64| {
        let metric = format!("disruption={seconds}");
        let out = upload_cmd(port, &token)
            .args([results.to_str().unwrap(), "--run-key", &key, "--tag", "job=e2e", "--tag", &format!("payload={payload}")])
            .args(["--metric", &metric, "--metric", "pulls=2", "--strict"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("Set 2 run metric(s)."));
    };
    for i in 0..20 {
        upload(format!("old-{i}"), "v1", f64::from(i % 4));
    }
    for i in 0..8 {
        upload(format!("new-{i}"), "v2", 40.0 + f64::from(i));
    }
    let bad = upload_cmd(port, &token).args([results.to_str().unwrap(), "--metric", "disruption=soon", "--strict"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("\"soon\" is not a number"), "{}", String::from_utf8_lossy(&bad.stderr));
    server.kill();

    let xml = dir.path().join("agg.xml");
    let aggregate = |extra: &[&str]| {
        env.cmd()
            .args(["aggregate", "--suite", "web", "--job", "e2e", "--payload", "v2", "--output", xml.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = aggregate(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("RunMetrics / disruption P70 should not be worse"), "{stdout}");
    assert!(stdout.contains("7 tests over 8 runs: 4 passed, 3 failed (3 blocking)"), "pulls never changed: {stdout}");
    let report = std::fs::read_to_string(&xml).unwrap();
    assert!(report.contains("<testsuite name=\"RunMetrics\" tests=\"0\" skipped=\"0\" failures=\"3\" time=\"0\">"), "{report}");

    let config = dir.path().join("metrics.json");
    std::fs::write(&config, r#"{"metrics": {"disruption": {}}}"#).unwrap();
    let out = aggregate(&["--metric-config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stdout));
    std::fs::write(&config, r#"{"default": {"percentiles": [{"percentile": 150}]}}"#).unwrap();
    let out = aggregate(&["--metric-config", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("percentiles are 1..99"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `verdict analyze-historical-data --data-type tests`: duration percentiles of the tests on one branch
/// against another, by the same leeway rule.
fn analyze_test_durations_between_branches(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let post = |key: String, branch: &str, slow: f64| {
        let data = json!([{"scope": "s", "name": "slow", "result": "passed", "history": {"duration": slow}},
                          {"scope": "s", "name": "steady", "result": "passed", "history": {"duration": 1.0}}]);
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&json!({"format": "json", "run_env": {"key": key, "branch": branch}, "data": data}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
    };
    for i in 0..10 {
        post(format!("main-{i}"), "main", 2.0);
        post(format!("feature-{i}"), "feature", 3.0 + f64::from(i) / 10.0);
    }
    server.kill();
    let out = env.store.dir.path().join("analysis");
    let run = env
        .cmd()
        .args(["analyze-historical-data", "--data-type", "tests", "--suite", "web", "--leeway", "10", "--min-job-runs", "5"])
        .args(["--current-window", "branch:main", "--new-window", "branch:feature", "--output-dir"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    let rows: Value = serde_json::from_str(&std::fs::read_to_string(out.join("results_tests.json")).unwrap()).unwrap();
    assert_eq!(rows[0]["TestName"], "slow");
    assert_eq!((rows[0]["P50"].as_str(), rows[0]["JobRuns"].as_i64()), (Some("3.45"), Some(10)));
    assert_eq!(rows[1]["P99"], "1.0");
    let review = std::fs::read_to_string(out.join("require_review")).unwrap();
    assert_eq!(review, "(tests) had (1) results increased in duration beyond specified leeway of 10.00%\n");
    let md = std::fs::read_to_string(out.join("pr_message.md")).unwrap();
    assert!(md.contains("| s | slow | 10 | 3.855s| 92.75% | 3.891s | 94.55% "), "{md}");
}

/// `verdict compare`: a test that broke on a branch is an extreme regression, a new failing test regresses by
/// the new-test pass rate, a healthy new one is only missing its basis; exit 1 when anything regressed.
fn compare_branches(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let post = |key: String, branch: &str, results: Vec<(&str, &str)>| {
        let data: Vec<Value> = results.into_iter().map(|(n, r)| json!({"scope": "s", "name": n, "result": r})).collect();
        let r = reqwest::blocking::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&json!({"format": "json", "run_env": {"key": key, "branch": branch}, "data": data}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 202);
    };
    for i in 0..20 {
        post(format!("m{i}"), "main", vec![("steady", "passed"), ("broke", "passed")]);
    }
    for i in 0..10 {
        let broke = if i < 2 { "passed" } else { "failed" };
        let fresh_bad = if i < 4 { "passed" } else { "failed" };
        post(format!("f{i}"), "feature", vec![("steady", "passed"), ("broke", broke), ("fresh", "passed"), ("fresh_bad", fresh_bad)]);
    }
    server.kill();
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("compare.json");
    let out = env
        .cmd()
        .args(["compare", "--suite", "web", "--basis", "main", "--sample", "feature", "--json", json_path.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("4 tests: 2 regressed, 0 improved"), "{stdout}");
    let rows: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let status = |n: &str| rows.as_array().unwrap().iter().find(|r| r["name"] == n).unwrap()["status"].as_str().unwrap().to_owned();
    assert_eq!(status("broke"), "ExtremeRegression");
    assert_eq!(status("fresh_bad"), "ExtremeRegression", "40% is far below the 95% a new test needs");
    assert_eq!(status("fresh"), "MissingBasis");
    assert_eq!(status("steady"), "NotSignificant");
    assert_eq!(rows[0]["name"], "broke", "worst first");
    // The same branch on both sides: nothing regressed.
    let same = env.cmd().args(["compare", "--suite", "web", "--basis", "main", "--sample", "main"]).output().unwrap();
    assert_eq!(same.status.code(), Some(0), "{}", String::from_utf8_lossy(&same.stdout));
    let bad = env.cmd().args(["compare", "--suite", "web", "--basis", "7d..30d", "--sample", "main"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--basis: window"));
    // A branch and a window together, as the compare page takes them; and the thresholds.
    let json_path2 = dir.path().join("windowed.json");
    let windowed = env
        .cmd()
        .args(["compare", "--suite", "web", "--basis", "main:7d", "--sample", "feature:7d", "--min-fail", "9"])
        .args(["--json", json_path2.to_str().unwrap()])
        .output()
        .unwrap();
    let rows: Value = serde_json::from_slice(&std::fs::read(&json_path2).unwrap()).unwrap();
    let status = |n: &str| rows.as_array().unwrap().iter().find(|r| r["name"] == n).unwrap()["status"].as_str().unwrap().to_owned();
    assert_eq!(rows.as_array().unwrap().len(), 4, "{}", String::from_utf8_lossy(&windowed.stdout));
    assert_eq!(status("broke"), "NotSignificant", "8 sample failures are fewer than --min-fail 9");
    let bad =
        env.cmd().args(["compare", "--suite", "web", "--basis", "main", "--sample", "feature", "--confidence", "100"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--confidence must be"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// `verdict flaky`: the states `verdict serve` kept, read back from the store as a table and as the API's JSON.
fn flaky_from_the_store(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let http = reqwest::blocking::Client::new();
    let auth = format!("Token token=\"{token}\"");
    let r = http
        .patch(format!("http://127.0.0.1:{port}/api/v1/suites/web/settings"))
        .header("Authorization", &auth)
        .json(&json!({"settle_secs": 0}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    for i in 0..2 {
        let data = json!([
            {"scope": "s", "name": "retried", "result": "failed", "attempt": 0},
            {"scope": "s", "name": "retried", "result": "passed", "attempt": 1},
            {"scope": "s", "name": "steady", "result": "passed"}
        ]);
        let body =
            json!({"format": "json", "run_env": {"key": format!("k{i}"), "branch": "main", "commit_sha": format!("c{i}")}, "data": data});
        let r = http.post(format!("http://127.0.0.1:{port}/v1/uploads")).header("Authorization", &auth).json(&body).send().unwrap();
        assert_eq!(r.status(), 202);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let list: Value = http.get(format!("http://127.0.0.1:{port}/api/v1/suites/web/flaky")).send().unwrap().json().unwrap();
        if list["pending_uploads"] == 0 && list["total"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "the server analysed the runs: {list}");
        std::thread::sleep(Duration::from_millis(100));
    }
    server.kill();
    let out = env.cmd().args(["flaky", "--suite", "web"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let row = stdout.lines().find(|l| l.contains("s / retried")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.starts_with("flaky") && row.contains("retry"), "{row}");
    assert!(!stdout.contains("steady") && stdout.contains("1 tests on main over 7 days"), "{stdout}");
    let json_out = env.cmd().args(["flaky", "--suite", "web", "--json", "--branch", "*"]).output().unwrap();
    let list: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!((list["branch"].as_str(), list["tests"][0]["name"].as_str()), (Some("*"), Some("retried")));
    let bad = env.cmd().args(["flaky", "--suite", "web", "--window", "3d"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--window"));
    // Starting over from the stored history gives the same states.
    let before: Value = serde_json::from_slice(&env.cmd().args(["flaky", "--suite", "web", "--json"]).output().unwrap().stdout).unwrap();
    let again = env.cmd().args(["flaky", "recompute", "--suite", "web"]).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("2 runs analysed"), "{}", String::from_utf8_lossy(&again.stdout));
    let after: Value = serde_json::from_slice(&env.cmd().args(["flaky", "--suite", "web", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(after["tests"][0]["state"], "flaky");
    assert_eq!(after["tests"][0]["evidence"], before["tests"][0]["evidence"]);
    assert_eq!(after["tests"][0]["evidence"]["retry"], 2, "counted once, not twice");
}

/// `verdict failures`: clusters read back from the store, and rules added, listed and removed on the command line.
fn failures_from_the_store(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let http = reqwest::blocking::Client::new();
    let auth = format!("Token token=\"{token}\"");
    let data = json!([
        {"scope": "s", "name": "a", "result": "failed", "failure_reason": "timeout after 30s on worker 7"},
        {"scope": "s", "name": "b", "result": "failed", "failure_reason": "timeout after 45s on worker 2"},
        {"scope": "s", "name": "c", "result": "passed"}
    ]);
    let body = json!({"format": "json", "run_env": {"key": "k1", "branch": "main"}, "data": data});
    let r = http.post(format!("http://127.0.0.1:{port}/v1/uploads")).header("Authorization", &auth).json(&body).send().unwrap();
    assert_eq!(r.status(), 202);
    server.kill();
    let out = env.cmd().args(["failures", "--suite", "web"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let row = stdout.lines().find(|l| l.contains("timeout after %s on worker %")).unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(row.split_whitespace().take(5).collect::<Vec<_>>(), ["2", "2", "2", "2", "1"], "{row}");
    let add = env
        .cmd()
        .args(["failures", "rule", "add", "--suite", "web", "--name", "slow workers", "--like", "timeout after %"])
        .output()
        .unwrap();
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let id = String::from_utf8_lossy(&add.stdout).trim().to_owned();
    let list = env.cmd().args(["failures", "rule", "list", "--suite", "web"]).output().unwrap();
    assert!(String::from_utf8_lossy(&list.stdout).contains(&format!("{id}     0  like   slow workers  timeout after %")));
    let bad = env.cmd().args(["failures", "rule", "add", "--suite", "web", "--name", "x", "--regex", "("]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("regex"));
    let json_out = env.cmd().args(["failures", "--suite", "web", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(v["clusters"][0]["impact"]["7d"]["failures"], 2);
    assert_eq!(v["clusters"][0]["title"], "slow workers", "the new rule claimed last week's failures");
    assert!(env.cmd().args(["failures", "rule", "remove", "--suite", "web", &id]).output().unwrap().status.success());
    let again = env.cmd().args(["failures", "rule", "remove", "--suite", "web", &id]).output().unwrap();
    assert_eq!(again.status.code(), Some(2), "removing it twice names the missing rule");
    // Without the rule, clustering the week again gives the failures back to their suggested cluster.
    let re = env.cmd().args(["failures", "recluster", "--suite", "web", "--days", "7"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&re.stdout).trim(), "2 failures of the last 7 days clustered again");
    let v: Value = serde_json::from_slice(&env.cmd().args(["failures", "--suite", "web", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(
        (v["clusters"][0]["kind"].as_str(), v["clusters"][0]["title"].as_str()),
        (Some("reason"), Some("timeout after %s on worker %"))
    );
}

/// The flaky analysis under SIGKILL: killed while it works through a backlog, restarted, it ends with every
/// run counted exactly once (the queue is its cursor, deleted in the transaction that applies each run).
fn sigkill_mid_analysis_loses_and_repeats_nothing(env: &Env) {
    const RUNS: usize = 40;
    let token = env.create_suite("web");
    let port = free_port();
    // Upload the backlog while runs wait to settle, then let the analysis loose and kill it mid-way.
    let mut server = env.serve(port);
    let http = reqwest::blocking::Client::new();
    let auth = format!("Token token=\"{token}\"");
    let settle = |secs: u64| {
        let r = http
            .patch(format!("http://127.0.0.1:{port}/api/v1/suites/web/settings"))
            .header("Authorization", &auth)
            .json(&json!({"settle_secs": secs}))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
    };
    settle(3600);
    for i in 0..RUNS {
        let data: Vec<Value> = (0..300)
            .map(|t| json!({"scope": "s", "name": format!("t{t}"), "result": if t == 0 && i % 2 == 1 { "failed" } else { "passed" }}))
            .collect();
        let body =
            json!({"format": "json", "run_env": {"key": format!("k{i}"), "branch": "main", "commit_sha": format!("c{i}")}, "data": data});
        let r = http.post(format!("http://127.0.0.1:{port}/v1/uploads")).header("Authorization", &auth).json(&body).send().unwrap();
        assert_eq!(r.status(), 202);
    }
    settle(0);
    let pending = |port: u16| -> i64 {
        let list: Value = http.get(format!("http://127.0.0.1:{port}/api/v1/suites/web/flaky")).send().unwrap().json().unwrap();
        list["pending_uploads"].as_i64().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut left = pending(port);
    while left as usize == RUNS {
        assert!(Instant::now() < deadline, "the analysis started");
        std::thread::sleep(Duration::from_millis(5));
        left = pending(port);
    }
    server.kill();
    assert!(left > 0, "killed with part of the backlog still queued ({left} uploads)");
    let port = free_port();
    let _server = env.serve(port);
    let deadline = Instant::now() + Duration::from_secs(30);
    while pending(port) > 0 {
        assert!(Instant::now() < deadline, "the restarted server finished the backlog");
        std::thread::sleep(Duration::from_millis(50));
    }
    let tests: Value = http.get(format!("http://127.0.0.1:{port}/api/v1/suites/web/tests?per_page=500")).send().unwrap().json().unwrap();
    for name in ["t0", "t7"] {
        let id = tests.as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["id"].as_i64().unwrap();
        let state: Value = http.get(format!("http://127.0.0.1:{port}/api/v1/tests/{id}/state")).send().unwrap().json().unwrap();
        for track in state["tracks"].as_array().unwrap() {
            assert_eq!(track["evidence"]["runs"], RUNS, "{name} on {}: every run counted once", track["branch"]);
        }
    }
    let t0 = tests.as_array().unwrap().iter().find(|t| t["name"] == "t0").unwrap()["id"].as_i64().unwrap();
    let state: Value = http.get(format!("http://127.0.0.1:{port}/api/v1/tests/{t0}/state")).send().unwrap().json().unwrap();
    let main = state["tracks"].as_array().unwrap().iter().find(|t| t["branch"] == "main").unwrap().clone();
    assert_eq!(main["evidence"]["transition"], (RUNS / 2 - 1) as u64, "each lone failure between passes is one flake: {main}");
}

/// `verdict plan` on two nodes of one build (same commit, same files, no
/// coordination) prints two disjoint shares that cover every file, balanced
/// by the timing history; with the server gone, both fall back to bktec's split.
fn plan_shares_agree_across_nodes_and_fall_back_when_the_server_is_down(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let secs = [("a", 10.0), ("b", 8.0), ("c", 7.0), ("d", 5.0), ("e", 4.0), ("f", 2.0)];
    let data: Vec<Value> = secs
        .iter()
        .map(|(f, s)| json!({"scope": "plan", "name": f, "file_name": format!("tests/{f}.py"), "result": "passed", "history": {"duration": s}}))
        .collect();
    let r = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/uploads"))
        .header("Authorization", format!("Token token=\"{token}\""))
        .json(&json!({"format": "json", "run_env": {"key": "history"}, "data": data}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 202);
    let files: Vec<String> = ["g", "f", "e", "d", "c", "b", "a"].iter().map(|f| format!("tests/{f}.py")).collect();
    let plan = |node: usize, extra: &[&str]| {
        let mut c = Command::new(BIN);
        c.args(["plan", "--suite", "web", "--node-index", &node.to_string(), "--node-total", "2"])
            .args(extra)
            .args(&files)
            .env("VERDICT_URL", format!("http://127.0.0.1:{port}"))
            .env("VERDICT_TOKEN", &token)
            .env("BUILDKITE_BUILD_ID", "build-7")
            .env("BUILDKITE_COMMIT", "c0ffee");
        let out = c.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        (String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let lines = |s: &str| s.lines().map(|l| l.trim_start_matches("tests/").trim_end_matches(".py").to_owned()).collect::<Vec<_>>();
    let (zero, _) = plan(0, &[]);
    let (one, _) = plan(1, &[]);
    assert_eq!(lines(&zero), ["a", "g", "e", "f"], "LPT with g at the median (6 s)");
    assert_eq!(lines(&one), ["b", "c", "d"]);
    let (json_out, _) = plan(1, &["--json"]);
    let v: Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(v["nodes"][0]["estimated_ms"], 22_000);
    assert_eq!(v["nodes"][1]["estimated_ms"], 20_000);
    assert_eq!(v["identifier"].as_str().unwrap().len(), 16);

    server.kill();
    let (zero, warned) = plan(0, &["--timeout-secs", "1"]);
    let (one, _) = plan(1, &["--timeout-secs", "1"]);
    assert!(warned.contains("using the fallback split"), "{warned}");
    assert_eq!(lines(&zero), ["a", "c", "e", "g"]);
    assert_eq!(lines(&one), ["b", "d", "f"]);
}

/// One request the hook took: its headers, body and when it came.
type Received = (std::collections::HashMap<String, String>, Vec<u8>, Instant);

/// A webhook receiver on a plain socket: it keeps each request's headers and
/// body and answers the first `fail_first` with 500, then 200.
struct Hook {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
}

impl Hook {
    fn start(fail_first: usize) -> Hook {
        use std::io::{BufRead, BufReader, Read};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let got: Arc<Mutex<Vec<_>>> = Arc::default();
        let kept = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut headers = std::collections::HashMap::new();
                let mut line = String::new();
                reader.read_line(&mut line).unwrap_or(0);
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let n: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; n];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let seen = {
                    let mut got = kept.lock().unwrap();
                    got.push((headers, body, Instant::now()));
                    got.len()
                };
                let status = if seen <= fail_first { "500 Internal Server Error" } else { "200 OK" };
                let _ = conn.write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").as_bytes());
            }
        });
        Hook { port, got }
    }

    fn wait_for(&self, n: usize, secs: u64) -> usize {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.got.lock().unwrap().len() < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.got.lock().unwrap().len()
    }
}

/// A mute's event gets a 500; the server is SIGKILLed before the retry 5 s
/// later; restarted, it sends the pending delivery with the same
/// `webhook-id` and body (signed anew), and never a third time.
fn sigkill_between_webhook_attempts_resends_with_the_same_id_once(env: &Env) {
    let token = env.create_suite("hooks");
    let port = free_port();
    let mut server = env.serve(port);
    let hook = Hook::start(1);
    let reply = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/uploads"))
        .header("Authorization", format!("Token token=\"{token}\""))
        .json(&upload_body("hooked", 1))
        .send()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 202);
    let out = env
        .cmd()
        .args(["webhook", "add", "hooks", "--url", &format!("http://127.0.0.1:{}/hook", hook.port), "--event", "test.state_changed"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (endpoint, secret) = stdout.trim().split_once('\t').expect("id and secret");
    let secret = verdict_core::webhook::Secret::parse(secret).unwrap();
    let out = env.cmd().args(["test", "mute", "hooks", "--name", "crash/t0", "--reason", "flaky"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    assert_eq!(hook.wait_for(1, 20), 1, "the first attempt");
    // Killed between attempts: once the 500 is recorded (a kill during an
    // attempt is resent too, once its 60 s lease lapses).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = env.cmd().args(["webhook", "deliveries", "hooks", endpoint, "--json"]).output().unwrap();
        let log: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if log["deliveries"][0]["attempts"].as_i64() == Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "the first attempt was never recorded: {log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let killed_at = Instant::now();
    let _server = env.serve(port);
    assert_eq!(hook.wait_for(2, 30), 2, "the pending delivery after the restart");
    std::thread::sleep(Duration::from_secs(3));
    let got = hook.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "delivered once after the retry: no third request");
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.0["webhook-id"], second.0["webhook-id"], "one message, one id");
    assert_eq!(first.1, second.1, "the same body");
    assert!(second.2 > killed_at);
    for (headers, body, _) in &got {
        let ts: i64 = headers["webhook-timestamp"].parse().unwrap();
        assert_eq!(headers["webhook-signature"], secret.sign(&headers["webhook-id"], ts, body));
    }
    let event: Value = serde_json::from_slice(&first.1).unwrap();
    assert_eq!((event["type"].as_str(), event["data"]["to"].as_str()), (Some("test.state_changed"), Some("muted")));
    assert_eq!(event["data"]["test"]["name"], "t0");

    let out = env.cmd().args(["webhook", "deliveries", "hooks", endpoint, "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &log["deliveries"][0];
    assert_eq!((d["state"].as_str(), d["attempts"].as_i64()), (Some("delivered"), Some(2)), "{log}");
    let out = env.cmd().args(["webhook", "list", "hooks"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains(endpoint));
}

/// `verdict upload` appends the run's summary to `$GITHUB_STEP_SUMMARY` and,
/// with `--annotate`, pipes it to `buildkite-agent annotate` (a recording
/// stand-in on PATH: the real agent only runs inside a Buildkite job);
/// `verdict summary --run-key` prints it; a server that is down is exit 1.
fn upload_writes_the_step_summary_and_annotates_the_build(env: &Env) {
    let token = env.create_suite("web");
    let port = free_port();
    let mut server = env.serve(port);
    let dir = env.store.dir.path().join("ci");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let results = dir.join("junit.xml");
    std::fs::write(
        &results,
        "<testsuite name=\"s\"><testcase classname=\"Cart\" name=\"adds_items\" time=\"0.1\"><failure message=\"expected 2 got 3\"/></testcase>\
         <testcase classname=\"Cart\" name=\"empties\" time=\"0.1\"/></testsuite>",
    )
    .unwrap();
    let agent = dir.join("bin/buildkite-agent");
    let got = dir.join("annotation.txt");
    std::fs::write(&agent, format!("#!/bin/sh\necho \"$@\" > {0}\ncat >> {0}\n", got.display())).unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let step_summary = dir.join("step_summary.md");
    std::fs::write(&step_summary, "earlier step\n").unwrap();
    let path = format!("{}:{}", dir.join("bin").display(), std::env::var("PATH").unwrap_or_default());
    let out = upload_cmd(port, &token)
        .args([results.to_str().unwrap(), "--run-key", "build-7", "--branch", "main", "--annotate"])
        .env("GITHUB_STEP_SUMMARY", &step_summary)
        .env("PATH", &path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("wrote the run's summary to $GITHUB_STEP_SUMMARY"), "{stderr}");
    let summary = std::fs::read_to_string(&step_summary).unwrap();
    assert!(
        summary.starts_with("earlier step\n### ❌ Verdict: 1 failed of 2 tests (1 new), 0 flaky, 0 muted — web on main"),
        "appended: {summary}"
    );
    assert!(summary.contains("Cart › adds\\_items"), "{summary}");
    assert!(summary.contains("(no earlier run to compare with)"));
    let annotation = std::fs::read_to_string(&got).unwrap();
    assert!(annotation.starts_with("annotate --context verdict --style error\n### ❌ Verdict"), "{annotation}");

    let printed = env.cmd_at(port).args(["summary", "--run-key", "build-7"]).env("VERDICT_TOKEN", &token).output().unwrap();
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    assert!(String::from_utf8_lossy(&printed.stdout).starts_with("### ❌ Verdict: 1 failed"));
    let missing = env.cmd_at(port).args(["summary", "--run-key", "nope"]).env("VERDICT_TOKEN", &token).output().unwrap();
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no run with key"), "{}", String::from_utf8_lossy(&missing.stderr));
    server.kill();
    let down = env.cmd_at(port).args(["summary", "--run", "1"]).env("VERDICT_TOKEN", &token).output().unwrap();
    assert_eq!(down.status.code(), Some(1), "the server is down");
    assert!(String::from_utf8_lossy(&down.stderr).contains("cannot reach"));
}

/// Two `verdict serve` nodes on one PostgreSQL database, as behind a load
/// balancer: started at the same moment on an empty schema (the migrations
/// run once, under the advisory lock), 16 uploaders spread over both, one
/// node SIGKILLed mid-stream; every upload answered 202 by either node is
/// wholly stored, both nodes read the same, a token rotated by the CLI stops
/// working on both within the suite cache's second, and pytest-monitor
/// samples sent to one are listed by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_postgres() {
    let (url, schema) = verdict_store::testing::empty_postgres_schema().await;
    let checked = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || two_nodes(&url)).await
    };
    let migrations = verdict_store::testing::pg_scalar(&url, "SELECT count(*) FROM schema_migrations").await;
    let latest = verdict_store::testing::pg_scalar(&url, "SELECT max(version) FROM schema_migrations").await;
    verdict_store::testing::drop_schema(&schema).await;
    checked.unwrap();
    assert_eq!(migrations, latest, "each migration applied once");
}

fn two_nodes(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let cmd = || {
        let mut c = Command::new(BIN);
        for v in ["VERDICT_DATABASE_URL", "VERDICT_TOKEN", "VERDICT_CONFIG", "VERDICT_READ_TOKEN", "BUILDKITE_ANALYTICS_TOKEN"] {
            c.env_remove(v);
        }
        c.arg("--data-dir").arg(dir.path().join("unused")).args(["--database-url", url]);
        c
    };
    let start = |port: u16| {
        let child =
            cmd().args(["serve", "--listen", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        ServerProcess(Some(child))
    };
    let up = |port: u16| wait_until_up(port, "a node");
    let (a, b) = (free_port(), free_port());
    let (mut node_a, _node_b) = (start(a), start(b));
    up(a);
    up(b);
    let out = cmd().args(["suite", "create", "web"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // Even threads upload to node a, odd ones to node b.
    let sender_token = token.clone();
    let send = move |http: &reqwest::blocking::Client, key: &str| {
        let w: usize = key[1..key.find('_').unwrap()].parse().unwrap();
        let port = if w % 2 == 0 { a } else { b };
        http.post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{sender_token}\""))
            .json(&upload_body(key, RESULTS_PER_UPLOAD))
            .send()
    };
    let senders = Senders::start(16, 202, Arc::new(send));
    let before = senders.wait_for(40);
    node_a.kill(); // SIGKILL, uploads to it in flight
    senders.wait_for(before.len() + 30); // node b goes on
    let accepted = senders.stop();
    let on_a: Vec<&String> = accepted.iter().filter(|k| k[1..k.find('_').unwrap()].parse::<usize>().unwrap() % 2 == 0).collect();
    assert!(!on_a.is_empty() && on_a.len() < accepted.len(), "both nodes took uploads");

    let a = free_port();
    let _node_a = start(a);
    up(a);
    let runs_b = get(b, "/api/v1/suites/web/runs?per_page=500");
    for key in &accepted {
        assert!(runs_b.as_array().unwrap().iter().any(|r| r["key"] == key.as_str()), "accepted upload {key} is missing");
    }
    for r in runs_b.as_array().unwrap() {
        assert_eq!(get(b, &format!("/api/v1/runs/{}", r["id"]))["total"], RESULTS_PER_UPLOAD, "run {} is there in part", r["key"]);
    }
    assert!(get(a, "/api/v1/suites/web/runs?per_page=500") == runs_b, "both nodes read the same runs");
    // A fixed range, so both answers cover the same instants.
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).format("%Y-%m-%d").to_string();
    let summary = format!("/api/v1/suites/web/summary?branch=*&from={}&to={}", day(-1), day(1));
    assert!(get(a, &summary) == get(b, &summary), "both nodes summarise the suite alike");

    // The old token, just used on both nodes (so cached there), then rotated by the CLI.
    let http = reqwest::blocking::Client::new();
    let upload = |port: u16, token: &str, key: &str| {
        http.post(format!("http://127.0.0.1:{port}/v1/uploads"))
            .header("Authorization", format!("Token token=\"{token}\""))
            .json(&upload_body(key, 1))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!((upload(a, &token, "cached-a"), upload(b, &token, "cached-b")), (202, 202));
    let out = cmd().args(["suite", "token", "rotate", "web"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rotated = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    std::thread::sleep(Duration::from_millis(1_100)); // the suite cache's TTL (1 s), and a margin
    assert_eq!((upload(a, &token, "old-a"), upload(b, &token, "old-b")), (401, 401), "the old token is refused by both nodes");
    assert_eq!((upload(a, &rotated, "new-a"), upload(b, &rotated, "new-b")), (202, 202));

    // pytest-monitor: a session and a sample through node a, listed by node b.
    let monitor = |port: u16, path: &str, body: Value| {
        http.post(format!("http://127.0.0.1:{port}/t/{rotated}/api/v1/{path}")).json(&body).send().unwrap().status().as_u16()
    };
    let context = json!({"cpu_count": 2, "cpu_frequency": 2445.4, "cpu_type": "", "cpu_vendor": "AMD", "ram_total": 24105,
        "machine_node": "ci", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux", "python_info": "3.11.7", "h": "ctx"});
    assert_eq!(monitor(a, "contexts/", context), 201);
    assert_eq!(
        monitor(a, "sessions/", json!({"session_h": "s1", "run_date": "2026-12-01T00:00:00", "scm_ref": "abc", "description": {}})),
        201
    );
    let sample = json!({"session_h": "s1", "context_h": "ctx", "item_start_time": "2026-12-01T00:00:00", "item_path": "pkg.t",
        "item": "test_x", "item_variant": "test_x", "item_fs_loc": "pkg/t.py", "kind": "function", "component": "",
        "total_time": 1, "user_time": 0.5, "kernel_time": 0.1, "cpu_usage": 0.6, "mem_usage": 2.5});
    assert_eq!(monitor(a, "metrics/", sample), 201);
    let listed: Value = http.get(format!("http://127.0.0.1:{b}/t/{rotated}/api/v1/sessions/s1/metrics")).send().unwrap().json().unwrap();
    assert_eq!(listed["metrics"].as_array().map(Vec::len), Some(1), "{listed}");
}
