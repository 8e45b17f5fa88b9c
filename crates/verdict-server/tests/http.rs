//! The real server on a random loopback port, over a throwaway SQLite file or
//! PostgreSQL schema, fed the requests captured from the real collectors.

use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::Arc;
use verdict_core::SuiteSlug;
use verdict_store::testing::Backend;
use verdict_store::{NewSuite, token};

mod common;
use common::*;

/// Send `head` (and `body`) on a new connection and read until the server closes it or `wait` passes.
async fn raw_exchange(s: &Server, head: &str, body: &[u8], wait: std::time::Duration) -> (String, std::time::Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://")).await.unwrap();
    // From before the head is sent: the server's timeout starts when the head arrives.
    let started = std::time::Instant::now();
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(body).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(wait, conn.read_to_end(&mut reply)).await;
    (String::from_utf8_lossy(&reply).into_owned(), started.elapsed())
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
    };
}

both!(
    metrics_are_prometheus_text_with_bounded_labels,
    captured_collector_bodies_are_stored,
    documented_curl_multipart_uploads,
    every_token_header_form,
    bad_input_is_refused_and_nothing_is_stored,
    read_api_answers_what_teams_ask,
    read_token_guards_the_read_api,
    sixteen_concurrent_uploaders,
    a_body_that_stalls_is_answered_408,
    aggregate_endpoint_judges_a_batch_against_history,
    run_metrics_are_posted_and_checked_against_history,
    pytest_monitor_ingest_checks_every_field_and_tolerates_races,
    pytest_monitor_resource_routes_rank_samples,
    junit_edges_are_stored_faithfully,
    nul_in_parameters_and_odd_flag_keys_are_client_errors_or_filters,
    list_pages_leave_output_to_its_own_route,
    mutated_uploads_are_answered_4xx_or_stored_whole,
    flaky_states_follow_crafted_histories,
    failures_cluster_by_cause_and_rules_win,
    tests_are_muted_skipped_and_enabled_through_buildkites_paths,
    bktec_gets_one_plan_per_identifier_balanced_by_timing_history,
    webhooks_are_signed_retried_with_one_id_logged_and_disabled_by_410,
    owners_files_resolve_by_the_last_match_and_filter_the_lists,
    run_summaries_compare_with_the_base_and_render_markdown,
);

/// Tests of the HTTP edge that no store decision takes part in: SQLite only.
macro_rules! sqlite_only {
    ($($name:ident),* $(,)?) => {
        mod edge { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
    };
}

sqlite_only!(
    credentials_are_checked_before_any_body_is_read,
    every_route_with_a_body_times_it_out,
    the_open_pytest_monitor_base_needs_the_read_token_for_reads,
    connections_past_the_cap_wait_for_a_free_slot,
    uploads_past_the_memory_budget_wait_their_turn,
);

/// A POST that promises a body and never sends it gets 401 at once when
/// its credentials are wrong: the body is never waited for.
async fn credentials_are_checked_before_any_body_is_read(backend: Backend) {
    let s = Server::start(backend).await;
    let mute = "/buildkite/v2/analytics/organizations/o/suites/web/tests/1/mute";
    let routes = [
        ("POST", "/v1/uploads", "Authorization: Token token=\"wrong\"\r\n"),
        ("POST", "/api/v1/runs/1/metrics", "Authorization: Token token=\"wrong\"\r\n"),
        ("POST", "/api/v1/runs/1/metrics", ""),
        ("POST", "/t/vdt_wrong/api/v1/metrics/", ""),
        ("POST", "/t/vdt_wrong/api/v1/sessions/", ""),
        ("POST", "/t/vdt_wrong/api/v1/contexts/", ""),
        ("PUT", mute, "Authorization: Bearer wrong\r\n"),
        ("PUT", mute, ""),
    ];
    for (method, path, auth) in routes {
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n");
        let (reply, took) = raw_exchange(&s, &head, b"", BODY_TIMEOUT * 5).await;
        assert!(reply.starts_with("HTTP/1.1 401"), "{path}: {reply:?}");
        assert!(took < BODY_TIMEOUT, "{path}: the refusal waited {took:?} for a body");
    }
    s.finish().await;
}

/// With good credentials, a body that stalls is answered 408 on every route that takes one.
async fn every_route_with_a_body_times_it_out(backend: Backend) {
    let s = Server::start(backend).await;
    let (_, up) = s.post_json(&json!({"format": "json", "run_env": {"key": "k"}, "data": [{"name": "t", "result": "passed"}]})).await;
    let run = up["run_id"].as_str().unwrap().to_owned();
    let test = s.store.store.controls().tests_named(s.suite_id, None, "t").await.unwrap()[0].id;
    let manage = token::generate();
    s.store.store.controls().set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let auth = format!("Authorization: {}\r\n", s.auth());
    let routes = [
        ("POST", format!("/api/v1/runs/{run}/metrics"), auth.clone()),
        ("POST", format!("/t/{}/api/v1/metrics/", s.token), String::new()),
        ("POST", "/api/v1/sessions/".to_owned(), String::new()),
        (
            "PUT",
            format!("/buildkite/v2/analytics/organizations/o/suites/web/tests/{test}/mute"),
            format!("Authorization: Bearer {manage}\r\n"),
        ),
    ];
    for (method, path, auth) in routes {
        let head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n");
        let (reply, took) = raw_exchange(&s, &head, b"{\"metr", BODY_TIMEOUT * 10).await;
        assert!(reply.starts_with("HTTP/1.1 408"), "{path}: {reply:?}");
        assert!(took >= BODY_TIMEOUT, "{path}: {took:?}");
    }
    s.finish().await;
}

/// With `--read-token`, pytest-monitor's open base answers reads only with
/// it; the client's POSTs still need nothing, and the token base is unchanged.
async fn the_open_pytest_monitor_base_needs_the_read_token_for_reads(backend: Backend) {
    let s = Server::start_with(backend, Some("reader-secret")).await;
    let context = json!({"cpu_count": 2, "cpu_frequency": 2445.4, "cpu_type": "", "cpu_vendor": "AMD", "ram_total": 24105,
        "machine_node": "localhost", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux",
        "python_info": "3.11.7", "h": "c1"});
    let r = s.http.post(format!("{}/api/v1/contexts/", s.url)).json(&context).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for path in [
        "/api/v1/contexts/",
        "/api/v1/sessions/",
        "/api/v1/metrics/",
        "/api/v1/contexts/count",
        "/api/v1/filters/scm/x/sessions",
        "/api/v1/resources/memory/head/metrics",
        "/api/v1/components/",
    ] {
        let (st, body) = s.get(path).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{path}: {body}");
        let r = s.http.get(format!("{}{path}", s.url)).header("Authorization", "Bearer reader-secreT").send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} with a wrong token");
        let r = s.http.get(format!("{}{path}", s.url)).header("Authorization", "Bearer reader-secret").send().await.unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }
    let (st, body) = s.get(&format!("/t/{}/api/v1/contexts/", s.token)).await;
    assert_eq!((st, body["contexts"][0]["h"].as_str()), (StatusCode::OK, Some("c1")));
    s.finish().await;
}

/// Past `max_connections`, a new connection waits until a slot frees: here
/// the slots are held by clients that send nothing, which the header timeout closes.
async fn connections_past_the_cap_wait_for_a_free_slot(backend: Backend) {
    let header_timeout = std::time::Duration::from_secs(1);
    let s = Server::start_config(backend, |c| {
        c.max_connections = 3;
        c.header_timeout = header_timeout;
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let (st, _) = s.get("/healthz").await;
    let waited = started.elapsed();
    assert_eq!(st, StatusCode::OK);
    assert!(waited >= header_timeout / 2, "the fourth connection was served at once ({waited:?}): no cap");
    assert!(waited < header_timeout * 5, "{waited:?}");
    // The idle clients were closed by the header timeout.
    for mut c in idle {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(header_timeout * 3, c.read(&mut buf)).await.expect("closed by the server");
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
    s.finish().await;
}

/// A report of zero tests is a stored, empty run; a suite that failed without
/// testcases fails its run; a flake needs attempts of one case (or a failure
/// and a pass in different uploads of the run), not two same-named results.
async fn junit_edges_are_stored_faithfully(backend: Backend) {
    let s = Server::start(backend).await;
    let junit = async |key: &str, xml: &str| {
        let form = Form::new().text("format", "junit").text("run_env[key]", key.to_owned()).text("data", xml.to_owned());
        let (status, reply) = s.post_form(form).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        let (_, run) = s.get(&format!("/api/v1/runs/{}", reply["run_id"].as_str().unwrap())).await;
        (reply, run)
    };
    let (reply, run) = junit("empty", "<testsuites/>").await;
    assert_eq!((reply["queued"].as_i64(), run["total"].as_i64(), run["result"].as_str()), (Some(0), Some(0), Some("pending")));

    let broken = r#"<testsuite name="com.x.BrokenTest"><error message="ClassNotFoundException"/></testsuite>"#;
    let (reply, run) = junit("broken", broken).await;
    assert_eq!((reply["queued"].as_i64(), run["result"].as_str()), (Some(1), Some("failed")));

    let plain =
        r#"<testsuite name="s"><testcase classname="m" name="p"/><testcase classname="m" name="p"><failure/></testcase></testsuite>"#;
    let (_, run) = junit("plain", plain).await;
    assert_eq!((run["total"].as_i64(), run["flaky"].as_i64()), (Some(2), Some(0)), "{run}");

    let retried = r#"<testsuite name="s"><testcase classname="m" name="r"><flakyFailure message="once"/></testcase></testsuite>"#;
    let (_, run) = junit("retried", retried).await;
    assert_eq!((run["total"].as_i64(), run["flaky"].as_i64()), (Some(2), Some(1)), "{run}");

    // A CI job retried in the same build: a failure in one upload, a pass in the next.
    junit("rerun-job", r#"<testsuite name="s"><testcase classname="m" name="j"><failure/></testcase></testsuite>"#).await;
    let (_, run) = junit("rerun-job", r#"<testsuite name="s"><testcase classname="m" name="j"/></testsuite>"#).await;
    assert_eq!((run["total"].as_i64(), run["flaky"].as_i64()), (Some(2), Some(1)), "{run}");
    s.finish().await;
}

/// `%00` anywhere in a path or query is 400 (PostgreSQL answered 503); a
/// `with_flags` key with `"` or `\` in it is a filter like any other (SQLite
/// answered 503 "bad JSON path").
async fn nul_in_parameters_and_odd_flag_keys_are_client_errors_or_filters(backend: Backend) {
    let s = Server::start(backend).await;
    for path in [
        "/api/v1/suites/%00".to_owned(),
        "/api/v1/suites/web/runs?branch=a%00b".to_owned(),
        "/api/v1/suites/web/tests?branch=%00".to_owned(),
        format!("/t/{}/api/v1/sessions/?with_flags=%00", s.token),
        format!("/t/{}/api/v1/items/%00/metrics", s.token),
    ] {
        let (st, body) = s.get(&path).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains("NUL"), "{body}");
    }
    let raw = r#"{"session_h": "s1", "run_date": "2026-11-22", "scm_ref": "abc", "description": {"we\"ird\\key": "1", "plain": "2"}}"#;
    let r = s
        .http
        .post(format!("{}/t/{}/api/v1/sessions/", s.url, s.token))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    for (flags, want) in [("%5C", 0), ("a%22b", 0), ("we%22ird%5Ckey", 1), ("plain", 1)] {
        let value = if flags == "plain" { "2" } else { "1" };
        let (st, body) = s.get(&format!("/t/{}/api/v1/sessions/?with_flags={flags}&restrict_flags={value}", s.token)).await;
        let found = body["sessions"].as_array().map_or(0, Vec::len);
        assert!(st == StatusCode::OK || st == StatusCode::NO_CONTENT, "{flags}: {st} {body}");
        assert_eq!(found, want, "{flags}: {body}");
    }
    s.finish().await;
}

async fn captured_collector_bodies_are_stored(backend: Backend) {
    let s = Server::start(backend).await;
    // (fixture, queued, gzip): pytest, jest, mocha, Ruby-style gzip, GitHub Actions env.
    // pytest and jest were captured with the same Buildkite build id: they merge into one run.
    let mut expected_totals = std::collections::HashMap::<String, u64>::new();
    let cases = [
        ("bk-pytest.json", 14, false),
        ("bk-jest.json", 10, false),
        ("bk-mocha.json", 5, false),
        ("bk-ruby-gzip.json", 2, true),
        ("bk-pytest-gha.json", 1, false),
    ];
    for (name, queued, gz) in cases {
        let body = fixture(name);
        let (status, reply) = if gz {
            s.post_raw(
                &[("Authorization", s.auth()), ("Content-Type", "application/json".into()), ("Content-Encoding", "gzip".into())],
                gzip(&body),
            )
            .await
        } else {
            s.post_json(&serde_json::from_slice(&body).unwrap()).await
        };
        assert_eq!(status, StatusCode::ACCEPTED, "{name}: {reply}");
        assert_eq!((reply["queued"].as_u64(), reply["skipped"].as_u64()), (Some(queued), Some(0)), "{name}: {reply}");
        assert_eq!(reply["errors"], json!([]));
        assert!(reply["id"].is_string() && reply["run_id"].is_string());
        let run_id = reply["run_id"].as_str().unwrap();
        assert_eq!(reply["run_url"], format!("{}/s/web/runs/{run_id}", s.url), "the run's page");
        let want = *expected_totals.entry(run_id.to_owned()).and_modify(|t| *t += queued).or_insert(queued);
        let (_, run) = s.get(&format!("/api/v1/runs/{run_id}")).await;
        assert_eq!(run["total"], want, "{name}: {run}");
    }
    // The pytest run, checked field by field through the read API.
    let py = fixture_json("bk-pytest.json");
    let (_, runs) = s.get(&format!("/api/v1/suites/web/runs?commit={}", py["run_env"]["commit_sha"].as_str().unwrap())).await;
    let run = &runs[0];
    assert_eq!((run["ci"].as_str(), run["branch"].as_str(), run["number"].as_str()), (Some("buildkite"), Some("main"), Some("42")));
    // run_env extras of the latest upload win: jest uploaded after pytest under this key.
    assert_eq!(run["env"]["collector"], "js-buildkite-test-collector");
    let (_, detail) = s.get(&format!("/api/v1/runs/{}", run["id"])).await;
    // pytest 9/3/2 plus jest 6/2/1 skipped/1 pending.
    assert_eq!(detail["counts"], json!({"passed": 15, "failed": 5, "skipped": 3, "pending": 1, "unknown": 0}));
    assert_eq!(detail["result"], "failed");
    let (_, failed) = s.get(&format!("/api/v1/runs/{}/executions?result=failed", run["id"])).await;
    let reasons: Vec<&str> = failed.as_array().unwrap().iter().map(|e| e["failure_reason"].as_str().unwrap_or("")).collect();
    assert!(reasons.contains(&"RuntimeError: boom from test body"), "{reasons:?}");
    let (_, with_spans) = s.get(&format!("/api/v1/runs/{}/executions?per_page=500", run["id"])).await;
    let spans = with_spans.as_array().unwrap().iter().find(|e| e["name"] == "test_with_spans").unwrap();
    let sections: Vec<&str> = spans["detail"]["spans"].as_array().unwrap().iter().map(|s| s["section"].as_str().unwrap()).collect();
    assert_eq!(sections, vec!["sql", "http", "annotation", "sleep"], "{spans}");
    let tagged = with_spans.as_array().unwrap().iter().find(|e| e["name"] == "test_with_execution_tags").unwrap();
    assert_eq!(tagged["tags"]["team"], "backend");
    // jest: pending and skipped both arrive; mocha: no id, null duration.
    assert_eq!(detail["uploads"], 2, "pytest and jest share a key");
    let (_, all_runs) = s.get("/api/v1/suites/web/runs?per_page=500").await;
    assert_eq!(all_runs.as_array().unwrap().len(), 4);
    s.finish().await;
}

async fn documented_curl_multipart_uploads(backend: Backend) {
    let s = Server::start(backend).await;
    // JUnit as a file part, then JSON as a file part in another part order, then data as a text field.
    let form = Form::new()
        .part("data", Part::bytes(fixture("pytest-junit.xml")).file_name("pytest-junit.xml").mime_str("application/xml").unwrap())
        .text("format", "junit")
        .text("run_env[CI]", "buildkite")
        .text("run_env[key]", "build-uuid-1")
        .text("run_env[branch]", "main")
        .text("run_env[commit_sha]", "abc123")
        .text("tags[team]", "frontend");
    let (status, reply) = s.post_form(form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["queued"], 14);
    let form = Form::new()
        .text("run_env[key]", "build-uuid-1")
        .text("tags[team]", "frontend")
        .part(
            "data",
            Part::bytes(fixture("pytest-collector.json")).file_name("pytest-collector.json").mime_str("application/octet-stream").unwrap(),
        )
        .text("format", "json");
    let (status, reply2) = s.post_form(form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply2}");
    assert_eq!(reply2["run_id"], reply["run_id"], "same run_env[key], same run");
    let text = String::from_utf8(fixture("pytest-collector.json")).unwrap();
    let form = Form::new().text("format", "json").text("run_env[key]", "text-field").text("data", text);
    let (status, reply3) = s.post_form(form).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply3}");

    let (_, run) = s.get(&format!("/api/v1/runs/{}", reply["run_id"].as_str().unwrap())).await;
    assert_eq!((run["uploads"].as_i64(), run["total"].as_i64()), (Some(2), Some(28)));
    assert_eq!(run["commit_sha"], "abc123");
    let (_, execs) = s.get(&format!("/api/v1/runs/{}/executions?per_page=500", reply["run_id"].as_str().unwrap())).await;
    // tags[team] applies to every execution, except where the execution names its own team.
    for e in execs.as_array().unwrap() {
        let own_tags = e["name"] == "test_with_execution_tags" && e["scope"] == "tests/test_sample.py";
        let want = if own_tags { "backend" } else { "frontend" };
        assert_eq!(e["tags"]["team"], want, "{e}");
    }
    s.finish().await;
}

async fn every_token_header_form(backend: Backend) {
    let s = Server::start(backend).await;
    let t = s.token.clone();
    let body =
        serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "k"}, "data": [{"name": "a", "result": "passed"}]})).unwrap();
    for form in [
        format!("Token token=\"{t}\""),
        format!("Token token={t}"),
        format!("Token token=\"{t}\";"),
        format!("Token {t}"),
        format!("Bearer {t}"),
    ] {
        let (status, reply) =
            s.post_raw(&[("Authorization", form.clone()), ("Content-Type", "application/json".into())], body.clone()).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{form}: {reply}");
    }
    s.finish().await;
}

async fn bad_input_is_refused_and_nothing_is_stored(backend: Backend) {
    let s = Server::start(backend).await;
    let json_ct = ("Content-Type", "application/json".to_string());
    let auth = ("Authorization", s.auth());
    let good = |data: Value| serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "k"}, "data": data})).unwrap();
    let one = good(json!([{"name": "a"}]));
    let many: Vec<Value> = (0..5001).map(|i| json!({"name": format!("t{i}")})).collect();
    let mut bomb = vec![b' '; MAX_INFLATED + 1024];
    bomb[..2].copy_from_slice(b"{}");
    // (what, headers, body, expected status, expected words in the message)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        ("no token", vec![json_ct.clone()], one.clone(), StatusCode::UNAUTHORIZED, "missing upload token"),
        ("wrong token", vec![("Authorization", "Token token=\"nope\"".into()), json_ct.clone()], one.clone(), StatusCode::UNAUTHORIZED, "invalid upload token"),
        ("unknown format", vec![auth.clone(), json_ct.clone()], br#"{"format":"tap","run_env":{"key":"k"},"data":[]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "unknown format"),
        ("documented, unsupported format", vec![auth.clone(), json_ct.clone()], br#"{"format":"jest-json","run_env":{"key":"k"},"data":[]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "not supported yet"),
        ("truncated JSON", vec![auth.clone(), json_ct.clone()], one[..one.len() - 5].to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "ends too early"),
        ("wrong JSON types", vec![auth.clone(), json_ct.clone()], br#"{"format":"json","run_env":{"key":"k"},"data":{"name":"a"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "data must be an array"),
        ("invalid UTF-8", vec![auth.clone(), json_ct.clone()], b"{\"format\":\"json\",\"run_env\":{\"key\":\"\xff\xfe\"},\"data\":[]}".to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "not valid JSON"),
        ("5001 results", vec![auth.clone(), json_ct.clone()], good(Value::Array(many)), StatusCode::UNPROCESSABLE_ENTITY, "5001 test results"),
        ("body over the limit", vec![auth.clone(), json_ct.clone()], vec![b' '; MAX_BODY + 1], StatusCode::PAYLOAD_TOO_LARGE, "larger than the limit"),
        ("gzip bomb", vec![auth.clone(), json_ct.clone(), ("Content-Encoding", "gzip".into())], gzip(&bomb), StatusCode::PAYLOAD_TOO_LARGE, "decompresses to more than"),
        ("XML DOCTYPE", vec![auth.clone(), json_ct.clone()], serde_json::to_vec(&json!({"format": "junit", "run_env": {"key": "k"}, "data": "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><testsuite><testcase classname=\"c\" name=\"n\"/></testsuite>"})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "DOCTYPE"),
        ("XML entity", vec![auth.clone(), json_ct.clone()], serde_json::to_vec(&json!({"format": "junit", "run_env": {"key": "k"}, "data": "<testsuite><testcase classname=\"c\" name=\"&xxe;\"/></testsuite>"})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "xxe"),
        ("empty data", vec![auth.clone(), json_ct.clone()], good(json!([])), StatusCode::UNPROCESSABLE_ENTITY, "no test results"),
        ("no run_env[key]", vec![auth.clone(), json_ct.clone()], br#"{"format":"json","run_env":{"branch":"main"},"data":[{"name":"a"}]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "run_env[key] is required"),
        ("bad gzip", vec![auth.clone(), json_ct.clone(), ("Content-Encoding", "gzip".into())], b"not gzip".to_vec(), StatusCode::BAD_REQUEST, "not valid gzip"),
        // Past what the stores index (PostgreSQL answered 503 for these and lost the upload).
        ("branch of 1025 bytes", vec![auth.clone(), json_ct.clone()], serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "k", "branch": "b".repeat(1025)}, "data": [{"name": "a"}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "run_env[branch] is longer than 1024 bytes"),
        ("commit of 3000 bytes", vec![auth.clone(), json_ct.clone()], serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "k", "commit_sha": "c".repeat(3000)}, "data": [{"name": "a"}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "run_env[commit_sha]"),
        ("101 run_env keys besides the key", vec![auth.clone(), json_ct.clone()], serde_json::to_vec(&json!({"format": "json", "run_env": (0..101).map(|i| (format!("x{i}"), json!("v"))).chain([("key".to_string(), json!("k"))]).collect::<serde_json::Map<_, _>>(), "data": [{"name": "a"}]})).unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "at most 100 are kept"),
        ("form-urlencoded", vec![auth.clone(), ("Content-Type", "application/x-www-form-urlencoded".into())], b"format=json".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "multipart/form-data"),
    ];
    for (what, headers, body, want_status, want_msg) in cases {
        let (status, reply) = s.post_raw(&headers, body).await;
        assert_eq!(status, want_status, "{what}: {reply}");
        let msg = reply["message"].as_str().unwrap_or_else(|| panic!("{what}: no message in {reply}"));
        assert!(msg.contains(want_msg), "{what}: {msg}");
    }
    // Empty multipart data and a multipart without a key.
    let (status, reply) = s
        .post_form(Form::new().text("format", "junit").text("run_env[key]", "k").part("data", Part::bytes(Vec::new()).file_name("e.xml")))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert!(reply["message"].as_str().unwrap().contains("empty"), "{reply}");
    let (status, reply) =
        s.post_form(Form::new().text("format", "junit").part("data", Part::bytes(fixture("pytest-junit.xml")).file_name("j.xml"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{reply}");
    assert_eq!(s.runs_stored().await, 0, "no bad upload stored anything");

    // An invalid record is skipped and counted, the rest stored.
    let (status, reply) =
        s.post_json(&json!({"format": "json", "run_env": {"key": "k"}, "data": [{"name": "ok"}, {"name": 5}, {"scope": "no name"}]})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!((reply["queued"].as_u64(), reply["skipped"].as_u64()), (Some(1), Some(2)), "{reply}");
    assert!(reply["skipped_reasons"][0].as_str().unwrap().contains("name must be a string"), "{reply}");
    assert_eq!(s.runs_stored().await, 1);
    s.finish().await;
}

async fn read_api_answers_what_teams_ask(backend: Backend) {
    let s = Server::start(backend).await;
    for (i, (branch, outcome)) in [("main", "passed"), ("main", "failed"), ("dev", "passed")].iter().enumerate() {
        let data = json!([{"scope": "s", "name": "t", "result": outcome, "history": {"duration": (i + 1) as f64}}, {"scope": "s", "name": "u", "result": "passed"}]);
        let (st, _) = s.post_json(&json!({"format": "json", "run_env": {"key": format!("k{i}"), "branch": branch, "commit_sha": format!("c{i}"), "job": "e2e"}, "data": data})).await;
        assert_eq!(st, StatusCode::ACCEPTED);
    }
    let (_, suites) = s.get("/api/v1/suites").await;
    assert_eq!(suites[0]["slug"], "web");
    let (st, body) = s.get("/api/v1/suites/nope/runs").await;
    assert_eq!((st, body["message"].as_str().unwrap()), (StatusCode::NOT_FOUND, "no suite \"nope\""));
    let (_, runs) = s.get("/api/v1/suites/web/runs?branch=main").await;
    assert_eq!(runs.as_array().unwrap().iter().map(|r| r["key"].as_str().unwrap()).collect::<Vec<_>>(), vec!["k1", "k0"]);
    // run_env[job] labels the run; its payload defaults to the commit.
    let (_, batch) = s.get("/api/v1/suites/web/runs?job=e2e&payload=c1").await;
    assert_eq!(
        batch.as_array().unwrap().iter().map(|r| (r["key"].as_str().unwrap(), r["payload"].as_str().unwrap())).collect::<Vec<_>>(),
        vec![("k1", "c1")]
    );
    let (_, failed) = s.get("/api/v1/suites/web/runs?result=failed").await;
    assert_eq!(failed.as_array().unwrap().len(), 1);
    let (_, paged) = s.get("/api/v1/suites/web/runs?per_page=1&page=3").await;
    assert_eq!(paged[0]["key"], "k0");

    let (_, tests) = s.get("/api/v1/suites/web/tests?days=7").await;
    let t = &tests[0];
    assert_eq!((t["name"].as_str(), t["counts"]["passed"].as_i64(), t["counts"]["failed"].as_i64()), (Some("t"), Some(2), Some(1)));
    assert_eq!(t["reliability"]["rate"].as_f64().unwrap(), 2.0 / 3.0);
    assert!(t["reliability"]["low"].as_f64().unwrap() < 0.5);
    assert_eq!(t["duration_p50"], 2.0);
    let (_, main_only) = s.get("/api/v1/suites/web/tests?branch=main").await;
    assert_eq!(main_only[0]["counts"]["passed"], 1);

    let (_, history) = s.get(&format!("/api/v1/tests/{}/history", t["id"])).await;
    let h: Vec<(&str, &str)> =
        history.as_array().unwrap().iter().map(|h| (h["commit_sha"].as_str().unwrap(), h["result"].as_str().unwrap())).collect();
    assert_eq!(h, vec![("c2", "passed"), ("c1", "failed"), ("c0", "passed")]);
    assert_eq!(history[0]["branch"], "dev");

    for (path, status, msg) in [
        ("/api/v1/runs/abc", StatusCode::BAD_REQUEST, "not a number"),
        ("/api/v1/runs/999999", StatusCode::NOT_FOUND, "no run 999999"),
        ("/api/v1/runs/999999/executions", StatusCode::NOT_FOUND, "no run"),
        ("/api/v1/tests/999999/history", StatusCode::NOT_FOUND, "no test"),
        ("/api/v1/suites/web/runs?result=green", StatusCode::BAD_REQUEST, "result=\"green\""),
        ("/api/v1/suites/web/tests?days=-1", StatusCode::BAD_REQUEST, "days"),
        ("/api/v1/suites/web/tests?per_page=501", StatusCode::BAD_REQUEST, "per_page"),
        ("/nowhere", StatusCode::NOT_FOUND, "no such route"),
    ] {
        let (st, body) = s.get(path).await;
        assert_eq!(st, status, "{path}: {body}");
        assert!(body["message"].as_str().unwrap().contains(msg), "{path}: {body}");
    }
    let (st, health) = s.get("/healthz").await;
    assert_eq!((st, health["status"].as_str()), (StatusCode::OK, Some("ok")));
    s.finish().await;
}

async fn read_token_guards_the_read_api(backend: Backend) {
    let s = Server::start_with(backend, Some("reader-secret")).await;
    let (st, body) = s.get("/api/v1/suites").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    let r = s.http.get(format!("{}/api/v1/suites", s.url)).header("Authorization", "Bearer reader-secret").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (st, _) = s.get("/healthz").await;
    assert_eq!(st, StatusCode::OK, "health stays open");
    // Metrics are a write: they take the suite's upload token, not the read token.
    let (_, up) = s.post_json(&json!({"format": "json", "run_env": {"key": "k"}, "data": [{"name": "t", "result": "passed"}]})).await;
    let (st, body) = s.post_metrics(&up["run_id"], &s.token, &json!({"metrics": {"m": 1}})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    s.finish().await;
}

async fn sixteen_concurrent_uploaders(backend: Backend) {
    let s = Arc::new(Server::start(backend).await);
    let mut tasks = Vec::new();
    for w in 0..16 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..(200 / 16 + usize::from(w < 200 % 16)) {
                // Eight uploads share each run key; every upload shares most tests.
                let data: Vec<Value> = (0..40)
                    .map(|t| json!({"scope": "load", "name": format!("t{t}"), "result": if t == 0 { "failed" } else { "passed" }, "history": {"duration": 0.01}}))
                    .chain(std::iter::once(json!({"scope": "own", "name": format!("w{w}-{i}"), "result": "skipped"})))
                    .collect();
                let (st, reply) = s.post_json(&json!({"format": "json", "run_env": {"key": format!("run-{}", (w * 13 + i) % 25)}, "data": data})).await;
                assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
                assert_eq!(reply["queued"], 41);
                ids.push(reply["id"].as_str().unwrap().to_owned());
            }
            ids
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    assert_eq!(ids.len(), 200);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 200, "upload ids are unique");
    let (_, runs) = s.get("/api/v1/suites/web/runs?per_page=500").await;
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 25);
    assert_eq!(runs.iter().map(|r| r["uploads"].as_i64().unwrap()).sum::<i64>(), 200);
    assert!(runs.iter().all(|r| r["result"] == "failed"));
    let (_, tests) = s.get("/api/v1/suites/web/tests?per_page=500&days=1").await;
    let tests = tests.as_array().unwrap();
    assert_eq!(tests.len(), 240);
    for t in tests.iter().filter(|t| t["scope"] == "load") {
        let want = if t["name"] == "t0" { (0, 200) } else { (200, 0) };
        assert_eq!((t["counts"]["passed"].as_i64().unwrap(), t["counts"]["failed"].as_i64().unwrap()), want, "{}", t["name"]);
    }
    let mut total = 0;
    for r in runs {
        let (_, d) = s.get(&format!("/api/v1/runs/{}", r["id"])).await;
        total += d["total"].as_i64().unwrap();
    }
    assert_eq!(total, 200 * 41);
    Arc::into_inner(s).unwrap().finish().await;
}

/// A client that sends half a body and stalls gets 408 and stores nothing.
async fn a_body_that_stalls_is_answered_408(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start(backend).await;
    let body = serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "slow"}, "data": [{"name": "a"}]})).unwrap();
    let mut conn = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.auth(),
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(&body[..body.len() / 2]).await.unwrap();
    let started = std::time::Instant::now();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(BODY_TIMEOUT * 10, conn.read_to_end(&mut reply)).await.expect("the server answers on its own");
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("did not arrive within 1 s"), "{reply}");
    assert!(started.elapsed() >= BODY_TIMEOUT);
    assert_eq!(s.runs_stored().await, 0);
    s.finish().await;
}

async fn aggregate_endpoint_judges_a_batch_against_history(backend: Backend) {
    let s = Server::start(backend).await;
    let up = |key: String, payload: &str, results: Vec<(&str, &str)>| {
        let data: Vec<Value> = results.into_iter().map(|(name, result)| json!({"scope": "e2e", "name": name, "result": result})).collect();
        json!({"format": "json", "run_env": {"key": key, "job": "e2e-aws", "payload": payload}, "data": data})
    };
    // History: "steady" always passed, "shaky" passed 1 run in 10.
    for i in 0..10 {
        let shaky = if i == 0 { "passed" } else { "failed" };
        assert_eq!(s.post_json(&up(format!("h{i}"), "4.15.0", vec![("steady", "passed"), ("shaky", shaky)])).await.0, StatusCode::ACCEPTED);
    }
    // The batch: steady passes 3 of 6 (history 100% requires 4); shaky passes 2 of 6 (history 10% requires 0).
    for i in 0..6 {
        let steady = if i < 3 { "passed" } else { "failed" };
        let shaky = if i < 2 { "passed" } else { "failed" };
        assert_eq!(s.post_json(&up(format!("n{i}"), "4.16.0", vec![("steady", steady), ("shaky", shaky)])).await.0, StatusCode::ACCEPTED);
    }
    let (st, body) = s.get("/api/v1/suites/web/aggregate?job=e2e-aws&payload=4.16.0").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["blocking_failures"], 1, "{body}");
    let t = |name: &str| body["tests"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(
        (t("steady")["status"].as_str(), t("steady")["working_percentage"].as_u64(), t("steady")["required"].as_u64()),
        (Some("failed"), Some(100), Some(4))
    );
    assert_eq!(
        (t("shaky")["status"].as_str(), t("shaky")["working_percentage"].as_u64(), t("shaky")["passes"].as_u64()),
        (Some("passed"), Some(10), Some(2))
    );
    assert_eq!(t("steady")["pass_runs"], json!(["n0", "n1", "n2"]));
    let (st, _) = s.get("/api/v1/suites/web/aggregate?job=e2e-aws&payload=9.9").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = s.get("/api/v1/suites/web/aggregate?payload=4.16.0").await;
    assert_eq!((st, body["message"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "query parameter job is required"));

    // aggregate.failed: the settled batch's verdict, written once for one set of blocking failures.
    use verdict_analysis::batch_watch::judge_settled_batches;
    let hook = verdict_store::webhooks::NewEndpoint {
        suite_id: s.suite_id,
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        format: verdict_core::webhook::Format::Standard,
        events: vec![verdict_core::webhook::EventType::AggregateFailed],
        owner: None,
        description: None,
    };
    let wh = s.store.store.webhooks();
    wh.add_endpoint(&hook, 0).await.unwrap();
    // The suite's settle time (120 s by default) applies.
    let later = || chrono::Utc::now().timestamp_millis() + 200_000;
    let soon = chrono::Utc::now().timestamp_millis() + 60_000;
    assert_eq!(judge_settled_batches(s.store.store.as_ref(), 0, soon).await.unwrap(), 0, "not settled yet for the suite");
    assert_eq!(judge_settled_batches(s.store.store.as_ref(), 0, later()).await.unwrap(), 2, "both batches judged");
    let failed = || async {
        let all = wh.messages(s.suite_id, 100).await.unwrap();
        all.into_iter().filter(|m| m.kind == "aggregate.failed" && m.data["payload"] == "4.16.0").collect::<Vec<_>>()
    };
    let got = failed().await;
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].data["count"].as_i64(), got[0].data["runs"].as_i64()), (Some(1), Some(6)));
    assert_eq!(got[0].data["blocking_failures"], json!([{"scope": "e2e", "name": "steady"}]));
    assert_eq!(got[0].data["url"], "/s/web/aggregate?job=e2e-aws&payload=4.16.0");
    assert_eq!(judge_settled_batches(s.store.store.as_ref(), 0, later()).await.unwrap(), 0, "nothing new to judge");
    // Another run of the batch: judged again; the same blocking set is no news.
    assert_eq!(s.post_json(&up("n6".into(), "4.16.0", vec![("steady", "failed"), ("shaky", "failed")])).await.0, StatusCode::ACCEPTED);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(judge_settled_batches(s.store.store.as_ref(), 0, later()).await.unwrap(), 1);
    assert_eq!(failed().await.len(), 1, "again only when the set changes");
    s.finish().await;
}

async fn run_metrics_are_posted_and_checked_against_history(backend: Backend) {
    let s = Server::start(backend).await;
    let mut run_ids = Vec::new();
    let mut upload = async |key: String, payload: &str| {
        let body = json!({"format": "json", "run_env": {"key": key, "job": "e2e-aws", "payload": payload},
                          "data": [{"scope": "e2e", "name": "steady", "result": "passed"}]});
        let (st, reply) = s.post_json(&body).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
        run_ids.push(reply["run_id"].clone());
        reply["run_id"].clone()
    };
    // History: 20 runs with 0..4 s of disruption (P70 = 3). The batch: 8 runs, every one far worse.
    for i in 0..20 {
        let id = upload(format!("h{i}"), "4.15.0").await;
        let (st, body) = s.post_metrics(&id, &s.token, &json!({"metrics": {"disruption": (i % 5) as f64}})).await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    for i in 0..8 {
        let id = upload(format!("n{i}"), "4.16.0").await;
        let disruption = 60.0 - f64::from(i);
        let (st, body) = s.post_metrics(&id, &s.token, &json!({"metrics": {"disruption": disruption, "image-pulls": 3}})).await;
        assert_eq!((st, body["metrics"]["image-pulls"].as_f64()), (StatusCode::OK, Some(3.0)), "{body}");
    }
    let (st, run) = s.get(&format!("/api/v1/runs/{}", run_ids[20].as_str().unwrap())).await;
    assert_eq!((st, run["metrics"].clone()), (StatusCode::OK, json!({"disruption": 60.0, "image-pulls": 3.0})));

    let (st, body) = s.get("/api/v1/suites/web/aggregate?job=e2e-aws&payload=4.16.0").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let checks: Vec<(String, String)> = body["tests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["suite"] == "RunMetrics")
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned()))
        .collect();
    let want = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
    assert_eq!(
        checks,
        want(&[
            ("disruption P70 should not be worse", "failed"),
            ("disruption P85 should not be worse", "failed"),
            ("disruption mean should be less than historical plus 5 standard deviations", "failed"),
            ("image-pulls P70 should not be worse", "skipped"),
            ("image-pulls P85 should not be worse", "skipped"),
            ("image-pulls mean should be less than historical plus 5 standard deviations", "skipped"),
        ])
    );
    assert_eq!(body["blocking_failures"], 3, "the metric failures block: {body}");

    // Bad requests are refused and change nothing.
    let first = &run_ids[0];
    for (body, why) in [
        (json!({"metrics": {"disruption": "3"}}), "must be a number"),
        (json!({"metrics": {}}), "between 1 and 100"),
        (json!({"disruption": 3}), "expected a JSON object"),
        (json!({"metrics": {"bad\nname": 3}}), "no control characters"),
        (json!({"metrics": {"": 3}}), "1 to 200 characters"),
    ] {
        let (st, reply) = s.post_metrics(first, &s.token, &body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert!(reply["message"].as_str().unwrap().contains(why), "{reply}");
    }
    let (st, _) = s.post_metrics(first, "not-a-token", &json!({"metrics": {"x": 1}})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s.post_metrics(&json!("abc"), &s.token, &json!({"metrics": {"x": 1}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, _) = s.post_metrics(&json!(999_999), &s.token, &json!({"metrics": {"x": 1}})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Another suite's token cannot touch this suite's runs.
    let other = token::generate();
    let new = NewSuite {
        slug: SuiteSlug::parse("other").unwrap(),
        name: "O".into(),
        default_branch: "main".into(),
        token_hash: token::hash(&other),
    };
    s.store.store.create_suite(new).await.unwrap();
    let (st, reply) = s.post_metrics(first, &other, &json!({"metrics": {"x": 1}})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{reply}");
    let (_, run) = s.get(&format!("/api/v1/runs/{}", first.as_str().unwrap())).await;
    assert_eq!(run["metrics"], json!({"disruption": 0.0}));
    s.finish().await;
}

async fn pytest_monitor_ingest_checks_every_field_and_tolerates_races(backend: Backend) {
    let s = Server::start(backend).await;
    let base = format!("{}/t/{}/api/v1", s.url, s.token);
    let post = async |path: &str, body: &Value| {
        let r = s.http.post(format!("{base}{path}")).json(body).send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let get = async |path: &str| {
        let r = s.http.get(format!("{base}{path}")).send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    let context = json!({"cpu_count": 2, "cpu_frequency": 2445.406, "cpu_type": "", "cpu_vendor": "AMD EPYC", "ram_total": 24105,
        "machine_node": "localhost", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "Linux - 6.1",
        "python_info": "3.11.7", "h": "3e865845a72a7351583b194fdcc83e71"});
    let (st, body) = post("/contexts/", &context).await;
    assert_eq!((st, body["h"].clone(), body["cpu_frequency"].clone()), (StatusCode::CREATED, context["h"].clone(), json!(2445)));
    // pytest-xdist workers race to create the same context: the same fields are 201 again, other fields 409.
    assert_eq!(post("/contexts/", &context).await.0, StatusCode::CREATED);
    let mut other = context.clone();
    other["ram_total"] = json!(1);
    let (st, body) = post("/contexts/", &other).await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    // Raw text: a json! map would sort the description's keys before sending.
    let raw = r#"{"session_h": "s1", "run_date": "2026-11-22", "scm_ref": "abc", "description": {"b": "2", "a": "1"}}"#;
    let session: Value = serde_json::from_str(raw).unwrap();
    let r = s.http.post(format!("{base}/sessions/")).header("content-type", "application/json").body(raw).send().await.unwrap();
    let (st, body) = (r.status(), r.json::<Value>().await.unwrap());
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        json!({"session_h": "s1", "run_date": "2026-11-22T00:00:00", "scm_ref": "abc", "tags": [{"name": "b", "value": "2"}, {"name": "a", "value": "1"}]})
    );
    let r = s.http.post(format!("{base}/sessions/")).header("content-type", "application/json").body(raw).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "the identical session again");
    let mut later = session.clone();
    later["scm_ref"] = json!("def");
    assert_eq!(post("/sessions/", &later).await.0, StatusCode::CONFLICT);

    let metric = json!({"session_h": "s1", "context_h": context["h"], "item_start_time": "2026-11-22T02:59:07", "item_path": "pkg.t",
        "item": "test_x", "item_variant": "test_x", "item_fs_loc": "pkg/t.py", "kind": "function", "component": "",
        "total_time": 1, "user_time": 0.5, "kernel_time": 0.1, "cpu_usage": 0.6, "mem_usage": 2.5});
    let (st, body) = post("/metrics/", &metric).await;
    assert_eq!((st, body["total_time"].clone()), (StatusCode::CREATED, json!(1.0)), "{body}");
    for (field, bad, why) in [
        ("total_time", json!("1"), "must be a number, not a string"),
        ("component", Value::Null, "must be a string, not null"),
        ("session_h", json!("unknown"), "no session"),
        ("context_h", json!("unknown"), "no context"),
    ] {
        let mut body = metric.clone();
        body[field] = bad;
        let (st, reply) = post("/metrics/", &body).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{field}: {reply}");
        assert!(reply["errors"][field].as_str().unwrap().contains(why), "{reply}");
        assert!(reply["message"].as_str().unwrap().starts_with(&format!("{field}: ")), "{reply}");
    }
    let mut bad_date = session.clone();
    bad_date["session_h"] = json!("s2");
    bad_date["run_date"] = json!("not a date");
    assert_eq!(post("/sessions/", &bad_date).await.0, StatusCode::BAD_REQUEST);
    let (st, _) = get("/sessions/s2").await;
    assert_eq!(st, StatusCode::NO_CONTENT, "a refused session is not stored (and empty lists are 204)");
    assert_eq!(get("/metrics/count").await.1, json!({"count": 1}), "refused metrics are not stored");
    let mut long_branch = session.clone();
    long_branch["session_h"] = json!("s3");
    long_branch["description"] = json!({"pipeline_branch": "b".repeat(1025)});
    let (st, reply) = post("/sessions/", &long_branch).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{reply}");
    assert!(reply["message"].as_str().unwrap().starts_with("description.pipeline_branch: is longer than 1024 bytes"), "{reply}");
    // NUL in a field, and the longest item (PostgreSQL answered 503 to both): stored.
    let mut odd = metric.clone();
    odd["item"] = json!("\u{1F600}".repeat(2048));
    odd["item_variant"] = json!("test_\u{0}nul");
    odd["component"] = json!("c\u{0}");
    let (st, reply) = post("/metrics/", &odd).await;
    assert_eq!(st, StatusCode::CREATED, "{reply}");
    assert_eq!((reply["item_variant"].as_str(), reply["component"].as_str()), (Some("test_\u{fffd}nul"), Some("c\u{fffd}")));
    assert_eq!(get("/metrics/count").await.1, json!({"count": 2}));
    // The sample is the test's, beside its results.
    let (_, tests) = s.get("/api/v1/suites/web/tests?days=0").await;
    let test = tests.as_array().unwrap().iter().find(|t| t["scope"] == "pkg.t" && t["name"] == "test_x").unwrap().clone();
    let (_, samples) = s.get(&format!("/api/v1/tests/{}/resources", test["id"])).await;
    assert_eq!(samples[0]["mem_usage"], json!(2.5));
    // The token-less base is the configured suite; a wrong token is 401.
    let r = s.http.get(format!("{}/api/v1/metrics/count", s.url)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"count": 2}));
    let r = s.http.get(format!("{}/t/not-a-token/api/v1/metrics/count", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    s.finish().await;
}

async fn pytest_monitor_resource_routes_rank_samples(backend: Backend) {
    let s = Server::start(backend).await;
    let base = format!("{}/t/{}/api/v1", s.url, s.token);
    let post = async |path: &str, body: Value| {
        let r = s.http.post(format!("{base}{path}")).json(&body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{path}: {}", r.text().await.unwrap());
    };
    let get = async |path: &str| {
        let r = s.http.get(format!("{base}{path}")).send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
    };
    post(
        "/contexts/",
        json!({"cpu_count": 2, "cpu_frequency": 2.0, "cpu_type": "", "cpu_vendor": "", "ram_total": 1,
        "machine_node": "n", "machine_type": "x86_64", "machine_arch": "64bit", "system_info": "L", "python_info": "3", "h": "c1"}),
    )
    .await;
    for (h, branch, build) in [("s1", "main", "1"), ("s2", "main", "2"), ("s3", "nightly", "1")] {
        let description = json!({"pipeline_branch": branch, "pipeline_build_no": build});
        post("/sessions/", json!({"session_h": h, "run_date": "2026-11-22", "scm_ref": "abc", "description": description})).await;
    }
    // (session, component, mem_usage, cpu_usage); the two 4.0s tie on memory.
    let samples =
        [("s1", "core", 4.0, 0.9), ("s1", "ui", 9.5, 0.1), ("s2", "core", 1.0, 0.5), ("s3", "core", 4.0, 0.7), ("s3", "ui", 0.5, 0.3)];
    for (i, (session, component, mem, cpu)) in samples.into_iter().enumerate() {
        post(
            "/metrics/",
            json!({"session_h": session, "context_h": "c1", "item_start_time": "2026-11-22T02:59:07", "item_path": "pkg.t",
            "item": format!("test_{i}"), "item_variant": format!("test_{i}"), "item_fs_loc": "pkg/t.py", "kind": "function",
            "component": component, "total_time": 1, "user_time": 0.5, "kernel_time": 0.1, "cpu_usage": cpu, "mem_usage": mem}),
        )
        .await;
    }
    let items =
        |body: &Value| -> Vec<String> { body["metrics"].as_array().unwrap().iter().map(|m| m["item"].as_str().unwrap().into()).collect() };
    let (st, body) = get("/resources/memory/head/metrics").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(items(&body), ["test_1", "test_0", "test_3", "test_2", "test_4"], "most memory first, ties in the order they came");
    // The original's key order (a Value would sort the keys).
    let raw = s.http.get(format!("{base}/resources/memory/head/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        raw.starts_with(r#"{"metrics":[{"#) && raw.trim_end().ends_with(r#"}],"prev_url":null,"next_url":null,"total_page":1}"#),
        "{raw}"
    );
    assert_eq!(items(&get("/resources/memory/tail/2/metrics").await.1), ["test_4", "test_2"]);
    assert_eq!(items(&get("/resources/cpu/head/1/metrics").await.1), ["test_0"]);
    assert_eq!(items(&get("/resources/memory/pipelines/main/tail/metrics").await.1), ["test_2", "test_0", "test_1"]);
    assert_eq!(items(&get("/resources/memory/pipelines/main/builds/1/head/metrics").await.1), ["test_1", "test_0"]);
    assert_eq!(items(&get("/resources/cpu/components/core/tail/2/metrics").await.1), ["test_2", "test_3"]);
    // Empty is still 200 with the envelope; an unknown resource or a non-number max is 404.
    let (st, body) = get("/resources/memory/components/Core/head/metrics").await;
    assert_eq!((st, items(&body).len()), (StatusCode::OK, 0), "components match exactly, case included");
    assert_eq!(get("/resources/memory/head/0/metrics").await.1["metrics"], json!([]));
    let (st, body) = get("/resources/disk/head/metrics").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body["message"].as_str().unwrap().contains("memory, cpu, kernel_time, user_time, total_time"), "{body}");
    assert_eq!(get("/resources/memory/head/-3/metrics").await.0, StatusCode::NOT_FOUND);
    s.finish().await;
}

/// Read amplification (issue 11): a page of results never carries their
/// output, and a large detail only on the result's own route.
async fn list_pages_leave_output_to_its_own_route(backend: Backend) {
    let s = Server::start_with(backend, Some("reader")).await;
    let big = "o".repeat(70_000);
    let results: Vec<Value> = (0..8)
        .map(|i| {
            json!({"name": format!("t{i}"), "result": "failed", "system_out": big, "system_err": "e",
            "failure_expanded": [{"expanded": vec!["x".repeat(500); 40]}]})
        })
        .collect();
    let (st, reply) = s.post_json(&json!({"format": "json", "run_env": {"key": "k"}, "data": results})).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
    let run = reply["run_id"].as_str().unwrap();
    let read = async |path: &str, token: Option<&str>| {
        let mut r = s.http.get(format!("{}{path}", s.url));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        let r = r.send().await.unwrap();
        (r.status(), r.json::<Value>().await.unwrap())
    };
    let (st, page) = read(&format!("/api/v1/runs/{run}/executions?per_page=500"), Some("reader")).await;
    assert_eq!(st, StatusCode::OK, "{page}");
    let page = page.as_array().unwrap();
    assert_eq!(page.len(), 8);
    for e in page {
        assert!(e.get("system_out").is_none() && e["has_output"] == true && e["detail"].is_null() && e["detail_omitted"] == true, "{e}");
    }
    let id = page[0]["id"].as_i64().unwrap();
    let (_, output) = read(&format!("/api/v1/executions/{id}/output"), Some("reader")).await;
    let out = output["system_out"].as_str().unwrap();
    assert!(out.len() <= 64 * 1024 && out.ends_with("[... truncated by Verdict]"), "{}", out.len());
    assert_eq!(output["system_err"], "e");
    let (_, one) = read(&format!("/api/v1/executions/{id}"), Some("reader")).await;
    assert_eq!(one["detail"]["failure_expanded"][0]["expanded"].as_array().unwrap().len(), 40);
    for path in [format!("/api/v1/executions/{id}"), format!("/api/v1/executions/{id}/output")] {
        assert_eq!(read(&path, None).await.0, StatusCode::UNAUTHORIZED, "{path} needs the read token");
    }
    assert_eq!(read("/api/v1/executions/999999/output", Some("reader")).await.0, StatusCode::NOT_FOUND);
    s.finish().await;
}

/// The memory budget (issue 11): with room for one large upload at a time, a
/// second one waits while the first is being read, then goes through; a gzip
/// body that inflates past what its trailer claims takes more as it grows
/// (when the budget has it free; else it is 503, busy).
async fn uploads_past_the_memory_budget_wait_their_turn(backend: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start_config(backend, |c| {
        c.max_parse_memory = 1024 * 1024;
        c.body_timeout = std::time::Duration::from_secs(10);
    })
    .await;
    let results: Vec<Value> = (0..3000).map(|i| json!({"name": format!("test number {i:>60}"), "result": "passed"})).collect();
    let body = serde_json::to_vec(&json!({"format": "json", "run_env": {"key": "k"}, "data": results})).unwrap();
    assert!(body.len() > 200_000 && body.len() * 3 > 512 * 1024, "each reservation is over half the budget");
    // The first upload sends its head and half its body, and holds.
    let mut first = tokio::net::TcpStream::connect(s.url.trim_start_matches("http://")).await.unwrap();
    let head = format!(
        "POST /v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Token token=\"{}\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.token,
        body.len()
    );
    first.write_all(head.as_bytes()).await.unwrap();
    first.write_all(&body[..body.len() / 2]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let second = {
        let (http, url, auth, body) = (s.http.clone(), s.url.clone(), s.auth(), body.clone());
        tokio::spawn(async move {
            let r =
                http.post(format!("{url}/v1/uploads")).header("Authorization", auth).header("Content-Type", "application/json").body(body);
            r.send().await.unwrap().status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert!(!second.is_finished(), "the second upload was read while the first held the budget");
    first.write_all(&body[body.len() / 2..]).await.unwrap();
    let mut reply = vec![0u8; 12];
    first.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"HTTP/1.1 202");
    assert_eq!(second.await.unwrap(), StatusCode::ACCEPTED);
    let (_, runs) = s.get("/api/v1/suites/web/runs").await;
    assert_eq!(runs[0]["uploads"], 2);

    // Two gzip members: the trailer (the last member's) claims 10 bytes of the
    // 270 KB the body inflates to; more is granted as it grows, the budget being free.
    let mut members = gzip(&body[..body.len() - 10]);
    members.extend(gzip(&body[body.len() - 10..]));
    let headers = [("Authorization", s.auth()), ("Content-Type", "application/json".into()), ("Content-Encoding", "gzip".into())];
    let (st, reply) = s.post_raw(&headers, members).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
    assert_eq!(reply["queued"], 3000);
    s.finish().await;
}

/// The end-to-end fuzz property (issue 11): mutated multipart and JSON
/// uploads to a real server are answered 202 or 4xx, never 5xx, and every
/// result the 202s count is stored. The parsers' own fuzz targets are in
/// `verdict-formats/tests/fuzz.rs`.
async fn mutated_uploads_are_answered_4xx_or_stored_whole(backend: Backend) {
    let s = Server::start(backend).await;
    let boundary = "XyZ";
    let form = |key: &str, data: &[u8]| {
        let mut b = Vec::new();
        for (name, value) in [("format", &b"junit"[..]), ("run_env[key]", key.as_bytes()), ("run_env[branch]", b"main")] {
            b.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
            b.extend(value);
            b.extend(b"\r\n");
        }
        b.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"j.xml\"\r\n\r\n").as_bytes());
        b.extend(data);
        b.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        b
    };
    let seeds = [form("a", &fixture("pytest-junit.xml")), fixture("bk-pytest.json"), fixture("bk-jest.json")];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    let (mut queued, mut accepted) = (0u64, 0);
    for i in 0..300 {
        let which = i % seeds.len();
        let mut body = seeds[which].clone();
        for _ in 0..1 + next(3) {
            let at = next(body.len());
            match next(4) {
                0 => body[at] ^= 1 << next(8),
                1 => body.truncate(at),
                2 => {
                    let piece = body[at..(at + 1 + next(200)).min(body.len())].to_vec();
                    body.splice(at..at, piece.iter().copied().cycle().take(piece.len() * (1 + next(20))));
                }
                _ => body.insert(at, next(256) as u8),
            }
        }
        let ct = if which == 0 { format!("multipart/form-data; boundary={boundary}") } else { "application/json".into() };
        let (st, reply) = s.post_raw(&[("Authorization", s.auth()), ("Content-Type", ct)], body).await;
        assert!(st == StatusCode::ACCEPTED || st.is_client_error(), "input {i}: {st} {reply}");
        assert!(reply["message"].is_string() || st == StatusCode::ACCEPTED, "input {i}: {reply}");
        if st == StatusCode::ACCEPTED {
            accepted += 1;
            queued += reply["queued"].as_u64().unwrap();
        }
    }
    let (_, runs) = s.get("/api/v1/suites/web/runs?per_page=500").await;
    let mut stored = 0;
    for run in runs.as_array().unwrap() {
        let (_, detail) = s.get(&format!("/api/v1/runs/{}", run["id"])).await;
        stored += detail["total"].as_u64().unwrap();
    }
    assert!(accepted > 10, "the mutations should leave some uploads valid: {accepted}");
    assert_eq!(stored, queued, "every result the 202s counted is stored ({accepted} uploads accepted)");
    s.finish().await;
}

/// The flaky spec's rules through the real upload API: retries, a pass on the same commit, a breakage that
/// recovers, an infrastructure-failure upload set aside, and a flake split across two uploads of one run.
async fn flaky_states_follow_crafted_histories(backend: Backend) {
    let s = Server::start(backend).await;
    let patch = |body: Value, token: String| {
        let http = s.http.clone();
        let url = format!("{}/api/v1/suites/web/settings", s.url);
        async move {
            let r = http.patch(url).header("Authorization", format!("Token token=\"{token}\"")).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    // The two uploads of one run must land in one part: they settle for a second.
    let (st, set) = patch(json!({"settle_secs": 1}), s.token.clone()).await;
    assert_eq!(st, StatusCode::OK, "{set}");
    assert_eq!(set["settle_secs"], 1);
    for bad in [json!({"half_life_runs": 50}), json!({"nope": 1}), json!({"p0": "x"}), json!({"p0": 0.2})] {
        let (st, body) = patch(bad.clone(), s.token.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert!(body["message"].as_str().is_some());
    }
    assert_eq!(patch(json!({"settle_secs": 0}), "wrong".into()).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(s.get("/api/v1/suites/web/settings").await.1["settle_secs"], 1, "a refused change changes nothing");

    let result = |name: &str, r: &str| json!({"scope": "flaky", "name": name, "result": r, "history": {"duration": 2.0}});
    let retried = |name: &str| {
        vec![
            json!({"scope": "flaky", "name": name, "result": "failed", "attempt": 0, "history": {"duration": 3.0}}),
            json!({"scope": "flaky", "name": name, "result": "passed", "attempt": 1, "history": {"duration": 1.0}}),
        ]
    };
    let runs: Vec<(&str, &str, Vec<Value>)> = vec![
        (
            "r1",
            "c1",
            [retried("t_retry"), vec![result("t_same", "failed"), result("t_broken", "failed"), result("t_steady", "passed")]].concat(),
        ),
        ("r2", "c1", vec![result("t_same", "passed"), result("t_steady", "passed")]),
        (
            "r3",
            "c2",
            [retried("t_retry"), vec![result("t_same", "failed"), result("t_broken", "failed"), result("t_steady", "passed")]].concat(),
        ),
        ("r4", "c2", vec![result("t_same", "passed"), result("t_steady", "passed")]),
        ("r5", "c3", vec![result("t_broken", "failed"), result("t_steady", "passed")]),
        ("r6", "c4", vec![result("t_broken", "passed"), result("t_steady", "passed")]),
        ("r7", "c5", vec![result("t_broken", "passed"), result("t_steady", "passed")]),
        // A dead CI node: every result failed.
        ("r8", "c6", (0..10).map(|k| result(&format!("infra_{k}"), "failed")).chain([result("t_steady", "failed")]).collect()),
    ];
    for (key, commit, data) in runs {
        let env = json!({"key": key, "branch": "main", "commit_sha": commit});
        let (st, body) = s.post_json(&json!({"format": "json", "run_env": env, "data": data})).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    }
    // The retry arrives as a second upload to the same run.
    for r in ["failed", "passed"] {
        let env = json!({"key": "r9", "branch": "main", "commit_sha": "c7"});
        let (st, _) = s.post_json(&json!({"format": "json", "run_env": env, "data": [result("t_split", r)]})).await;
        assert_eq!(st, StatusCode::ACCEPTED);
    }
    let flaky = s.store.store.flaky();
    for _ in 0..200 {
        if flaky.queue_depth(None).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(flaky.queue_depth(None).await.unwrap(), 0, "the analysis loop drained the queue");

    let id = |name: &'static str| {
        let s = &s;
        async move {
            let tests = s.get("/api/v1/suites/web/tests?per_page=500").await.1;
            tests.as_array().unwrap().iter().find(|t| t["name"] == name).unwrap()["id"].as_i64().unwrap()
        }
    };
    let state = |name: &'static str| {
        let s = &s;
        async move {
            let (st, body) = s.get(&format!("/api/v1/tests/{}/state", id(name).await)).await;
            assert_eq!(st, StatusCode::OK, "{body}");
            body
        }
    };
    let main = |v: &Value| v["tracks"].as_array().unwrap().iter().find(|t| t["branch"] == "main").unwrap().clone();

    let retry = state("t_retry").await;
    let m = main(&retry);
    assert_eq!((m["state"].as_str(), m["rule"].as_str()), (Some("flaky"), Some("retry")), "{m}");
    assert_eq!((m["evidence"]["retry"].as_u64(), m["evidence"]["runs"].as_u64()), (Some(2), Some(2)));
    assert_eq!(m["sprt"]["decision"], "flaky");
    assert!(m["fix"]["clean_runs_to_confirm_fix"].as_u64().unwrap() > 0, "a flaky test says what proves it fixed");
    assert!((m["impact"]["ci_seconds_lost"].as_f64().unwrap() - 6.0).abs() < 1e-9, "two failed attempts of 3 s");
    assert_eq!(retry["history"][0]["rule"], "retry");
    assert_eq!(retry["tracks"].as_array().unwrap().last().unwrap()["branch"], "*", "the pooled track last");

    let same = main(&state("t_same").await);
    assert_eq!((same["state"].as_str(), same["rule"].as_str()), (Some("flaky"), Some("same_commit")), "{same}");
    assert_eq!(same["evidence"]["same_commit"], 2);
    assert!((same["sprt"]["llr"].as_f64().unwrap() - -0.0412).abs() < 0.0001, "Λ restarted after the decision, then one P");

    let broken = state("t_broken").await;
    let history: Vec<(String, String, String)> = broken["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["branch"] == "main")
        .map(|e| (e["from"].as_str().unwrap().into(), e["to"].as_str().unwrap().into(), e["rule"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        history,
        vec![("broken".into(), "new".into(), "consecutive".into()), ("new".into(), "broken".into(), "consecutive".into())],
        "newest first"
    );
    assert_eq!(main(&broken)["evidence"]["breakage_runs"], 3);
    assert_eq!(main(&broken)["evidence"]["flaky_runs"], 0, "a breakage is not a flake");
    let star = broken["tracks"].as_array().unwrap().iter().find(|t| t["branch"] == "*").unwrap().clone();
    assert_eq!(star["evidence"]["breakage_runs"], 0, "the pooled track is not trusted: no breakage there");

    let steady = main(&state("t_steady").await);
    assert_eq!((steady["state"].as_str(), steady["evidence"]["runs"].as_u64()), (Some("new"), Some(7)));
    assert_eq!(steady["evidence"]["infra_runs_ignored"], 1, "the dead node's run is set aside");
    assert_eq!(steady["evidence"]["failed_runs"], 0);
    assert_eq!(main(&state("infra_3").await)["evidence"]["infra_runs_ignored"], 1);
    let runs = s.get("/api/v1/suites/web/runs?branch=*").await.1;
    let infra_of = |key: &str| runs.as_array().unwrap().iter().find(|r| r["key"] == key).unwrap()["infra"].clone();
    assert_eq!((infra_of("r8"), infra_of("r7")), (json!(true), json!(false)), "the run is marked");

    let split = main(&state("t_split").await);
    assert_eq!(
        (split["evidence"]["runs"].as_u64(), split["evidence"]["retry"].as_u64()),
        (Some(1), Some(1)),
        "one run, one retry: {split}"
    );

    let (st, list) = s.get("/api/v1/suites/web/flaky?window=7d").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    // Lost time: t_same's two failed runs are re-runs of jobs of 10 s with 3 failing tests (2 × 10/3 s);
    // t_retry's two failed attempts took 3 s each; t_split's failed attempt 2 s.
    assert_eq!(names, vec!["t_same", "t_retry", "t_split"], "ranked by CI time lost");
    let lost: Vec<f64> = list["tests"].as_array().unwrap().iter().map(|t| t["impact"]["ci_seconds_lost"].as_f64().unwrap()).collect();
    assert!((lost[0] - 20.0 / 3.0).abs() < 1e-9 && (lost[1] - 6.0).abs() < 1e-9 && (lost[2] - 2.0).abs() < 1e-9, "{lost:?}");
    assert_eq!(list["total"], 3);
    assert_eq!(list["branch"], "main");
    assert_eq!(list["method"]["sprt"]["p1"], 0.05);
    let today = list["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (today["flaky_tests"].as_i64(), today["became_flaky"].as_i64(), today["became_broken"].as_i64()),
        (Some(3), Some(2), Some(1))
    );
    let second = s.get("/api/v1/suites/web/flaky?window=7d&per_page=1&page=2").await.1;
    assert_eq!((second["total"].as_i64(), second["tests"][0]["name"].as_str()), (Some(3), Some("t_retry")), "paged in the list's order");
    let past = s.get("/api/v1/suites/web/flaky?window=7d&per_page=1&page=9").await.1;
    assert_eq!((past["total"].as_i64(), past["tests"].as_array().map(Vec::len)), (Some(3), Some(0)), "past the last page");
    let broken_only = s.get("/api/v1/suites/web/flaky?state=new").await.1;
    assert!(broken_only["tests"].as_array().unwrap().iter().any(|t| t["name"] == "t_broken"));
    for bad in ["window=3d", "state=odd", "page=0x"] {
        assert_eq!(s.get(&format!("/api/v1/suites/web/flaky?{bad}")).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(s.get("/api/v1/tests/999999/state").await.0, StatusCode::NOT_FOUND);

    // The toggle: a suite that counts its infrastructure failures after all.
    assert_eq!(patch(json!({"include_infra": true, "settle_secs": 0}), s.token.clone()).await.0, StatusCode::OK);
    let dead: Vec<Value> = (0..10).map(|k| result(&format!("infra_{k}"), "failed")).collect();
    let env = json!({"key": "r10", "branch": "main", "commit_sha": "c9"});
    assert_eq!(s.post_json(&json!({"format": "json", "run_env": env, "data": dead})).await.0, StatusCode::ACCEPTED);
    for _ in 0..200 {
        if flaky.queue_depth(None).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let e = main(&state("infra_3").await)["evidence"].clone();
    assert_eq!((e["failed_runs"].as_u64(), e["infra_runs_ignored"].as_u64()), (Some(1), Some(1)), "counted from then on: {e}");
    s.finish().await;
}

/// Failures that differ only in masked parts share a cluster; a user rule claims what it matches from then on;
/// an infrastructure-failure upload is clustered but not counted.
async fn failures_cluster_by_cause_and_rules_win(backend: Backend) {
    let s = Server::start(backend).await;
    let failed = |name: &str, reason: &str| json!({"scope": "c", "name": name, "result": "failed", "failure_reason": reason});
    let upload = |key: &str, data: Vec<Value>| json!({"format": "json", "run_env": {"key": key, "branch": "main"}, "data": data});
    let passing: Vec<Value> = (0..10).map(|i| json!({"scope": "c", "name": format!("ok{i}"), "result": "passed"})).collect();
    let run1 = [
        vec![
            failed("a", "Null pointer exception at ip 0x45637271"),
            failed("b", "Null pointer exception at ip 0x12345678"),
            failed("c", "Could not connect to 10.0.0.1: connection refused"),
        ],
        passing.clone(),
    ]
    .concat();
    assert_eq!(s.post_json(&upload("r1", run1)).await.0, StatusCode::ACCEPTED);
    let (st, list) = s.get("/api/v1/suites/web/clusters?window=7d").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let clusters = list["clusters"].as_array().unwrap();
    assert_eq!(clusters.len(), 2, "{list}");
    let npe = &clusters[0];
    assert_eq!(npe["id"], "7f84eaf83ed889ed19d0c60d43497743", "LUCI's id of the masked reason");
    assert_eq!((npe["kind"].as_str(), npe["title"].as_str()), (Some("reason"), Some("Null pointer exception at ip %")));
    assert_eq!(npe["impact"]["7d"], json!({"failures": 2, "tests": 2, "runs": 1}));
    assert_eq!(npe["impact"]["1d"]["failures"], 2);

    let post_rule = |body: Value, token: String| {
        let http = s.http.clone();
        let url = format!("{}/api/v1/suites/web/cluster-rules", s.url);
        async move {
            let r = http.post(url).header("Authorization", format!("Token token=\"{token}\"")).json(&body).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (st, rule) =
        post_rule(json!({"name": "db down", "regex": "connection (refused|reset)", "bug_url": "https://bugs.example/1"}), s.token.clone())
            .await;
    assert_eq!(st, StatusCode::CREATED, "{rule}");
    let rule_id = rule["id"].as_str().unwrap().to_owned();
    assert_eq!(rule_id.len(), 32);
    for bad in [
        json!({"name": "x", "like": "a", "regex": "b"}),
        json!({"name": "x", "regex": "("}),
        json!({"name": "x", "like": "a\\q"}),
        json!({"name": "", "like": "a"}),
        json!({"name": "x", "like": "a", "bug_url": "javascript:alert(1)"}),
    ] {
        let (st, body) = post_rule(bad.clone(), s.token.clone()).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    assert_eq!(post_rule(json!({"name": "x", "nope": 1}), s.token.clone()).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(post_rule(json!({"name": "x", "like": "a"}), "wrong".into()).await.0, StatusCode::UNAUTHORIZED);

    let run2 = [vec![failed("c", "Could not connect to 10.0.0.2: connection refused")], passing.clone()].concat();
    assert_eq!(s.post_json(&upload("r2", run2)).await.0, StatusCode::ACCEPTED);
    // A dead node: ten results, all failed.
    let dead: Vec<Value> = (0..10).map(|i| failed(&format!("d{i}"), &format!("boom {i}"))).collect();
    assert_eq!(s.post_json(&upload("r3", dead)).await.0, StatusCode::ACCEPTED);

    // The new rule also claims the last 7 days' failures, applied in the background after the reply.
    let mut list = Value::Null;
    for _ in 0..100 {
        list = s.get("/api/v1/suites/web/clusters").await.1;
        let claimed = list["clusters"].as_array().unwrap().iter().any(|c| c["title"] == "db down" && c["impact"]["7d"]["failures"] == 2);
        if claimed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let by_title = |t: &str| list["clusters"].as_array().unwrap().iter().find(|c| c["title"] == t).cloned();
    let db = by_title("db down").expect("the rule's cluster");
    assert_eq!(
        (db["kind"].as_str(), db["id"].as_str(), db["bug_url"].as_str()),
        (Some("rule"), Some(rule_id.as_str()), Some("https://bugs.example/1"))
    );
    assert_eq!(
        db["impact"]["7d"],
        json!({"failures": 2, "tests": 1, "runs": 2}),
        "the rule claims the new failure and last week's: {list}"
    );
    assert!(by_title("Could not connect to %.%.%.%: connection refused").is_none(), "no failure is left to the suggested cluster: {list}");
    assert_eq!(by_title("Null pointer exception at ip %").unwrap()["impact"]["7d"]["failures"], 2, "reclustering keeps the others whole");
    assert!(by_title("boom %").is_none(), "an infrastructure failure is clustered but not counted: {list}");

    let (st, detail) = s.get("/api/v1/suites/web/clusters/7f84eaf83ed889ed19d0c60d43497743?days=14").await;
    assert_eq!(st, StatusCode::OK, "{detail}");
    assert_eq!(detail["daily"].as_array().unwrap().len(), 14);
    assert_eq!(detail["daily"].as_array().unwrap().last().unwrap()["failures"], 2);
    let tests: Vec<&str> = detail["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(tests.len(), 2);
    assert!(tests.contains(&"a") && tests.contains(&"b"));
    let recent = detail["recent_failures"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    let run_link = recent[0]["links"]["run"].as_str().unwrap();
    assert_eq!(s.get(run_link).await.0, StatusCode::OK, "the failure links its run");
    assert!(recent[0]["reason"].as_str().unwrap().starts_with("Null pointer exception at ip 0x"));
    assert_eq!(s.get("/api/v1/suites/web/clusters/ffff?days=14").await.0, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/api/v1/suites/web/clusters?window=5d").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/api/v1/suites/web/clusters/x?days=0").await.0, StatusCode::BAD_REQUEST);

    let delete = |id: String, token: String| {
        let http = s.http.clone();
        let url = format!("{}/api/v1/suites/web/cluster-rules/{id}", s.url);
        async move { http.delete(url).header("Authorization", format!("Token token=\"{token}\"")).send().await.unwrap().status() }
    };
    assert_eq!(delete(rule_id.clone(), "wrong".into()).await, StatusCode::UNAUTHORIZED);
    assert_eq!(delete(rule_id.clone(), s.token.clone()).await, StatusCode::NO_CONTENT);
    assert_eq!(delete(rule_id.clone(), s.token.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(s.get("/api/v1/suites/web/cluster-rules").await.1, json!([]));

    // A suite's own mask: the worker's name is masked too, so both failures share a cluster.
    let r = s
        .http
        .patch(format!("{}/api/v1/suites/web/settings", s.url))
        .header("Authorization", s.auth())
        .json(&json!({"cluster_masks": ["on worker ([a-z]+)"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bad = s
        .http
        .patch(format!("{}/api/v1/suites/web/settings", s.url))
        .header("Authorization", s.auth())
        .json(&json!({"cluster_masks": ["("]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let run4 = [vec![failed("e", "stuck on worker alpha"), failed("f", "stuck on worker beta")], passing].concat();
    assert_eq!(s.post_json(&upload("r4", run4)).await.0, StatusCode::ACCEPTED);
    let list = s.get("/api/v1/suites/web/clusters").await.1;
    let stuck = list["clusters"].as_array().unwrap().iter().find(|c| c["title"] == "stuck on worker %").cloned();
    assert_eq!(stuck.map(|c| c["impact"]["7d"]["failures"].clone()), Some(json!(2)), "{list}");
    s.finish().await;
}

/// Buildkite's test-state paths under `/buildkite`: the manage token writes,
/// upload tokens and other suites' tokens do not; the lists, `GET /v1/quarantine`,
/// the test's state twin and its page show each change.
async fn tests_are_muted_skipped_and_enabled_through_buildkites_paths(backend: Backend) {
    let s = Server::start(backend).await;
    let other = s.create_other_suite("other").await;
    let results = vec![
        json!({"scope": "cart", "name": "applies coupon", "result": "failed", "file_name": "spec/cart_spec.rb", "location": "spec/cart_spec.rb:4"}),
        json!({"scope": "cart", "name": "totals", "result": "passed"}),
    ];
    let (st, _) = s.post_json(&json!({"format": "json", "run_env": {"key": "q1", "branch": "main"}, "data": results})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    s.post_json_with(
        &other,
        &json!({"format": "json", "run_env": {"key": "o1"}, "data": [{"scope": "x", "name": "y", "result": "passed"}]}),
    )
    .await;
    let ctl = s.store.store.controls();
    let id_of = |suite: i64, name: &'static str| async move { ctl.tests_named(suite, None, name).await.unwrap()[0].id };
    let coupon = id_of(s.suite_id, "cart/applies coupon").await;
    let totals = id_of(s.suite_id, "cart/totals").await;
    let other_suite = s.store.store.suite_by_slug("other").await.unwrap().unwrap();
    let foreign = id_of(other_suite.id, "x/y").await;
    let manage = token::generate();
    ctl.set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let other_manage = token::generate();
    ctl.set_manage_token_hash("other", &token::hash(&other_manage)).await.unwrap();

    let base = format!("{}/buildkite/v2/analytics/organizations/acme/suites", s.url);
    let put = |path: String, token: Option<String>, body: Option<&'static str>| {
        let mut req = s.http.put(format!("{base}/{path}"));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (token, want) in [(None, 401), (Some("nope".to_owned()), 401), (Some(s.token.clone()), 403), (Some(other_manage.clone()), 403)] {
        let (st, body) = put(format!("web/tests/{coupon}/mute"), token.clone(), None).await;
        assert_eq!(st.as_u16(), want, "{token:?}: {body}");
        assert!(body["message"].as_str().is_some());
    }
    assert_eq!(ctl.control(coupon).await.unwrap().state, verdict_core::quarantine::ControlState::Enabled, "refused: nothing changed");

    // Buildkite sends no body.
    let (st, muted) = put(format!("web/tests/{coupon}/mute"), Some(manage.clone()), None).await;
    assert_eq!(st, StatusCode::OK, "{muted}");
    assert_eq!(muted["id"], coupon.to_string());
    assert_eq!(
        (muted["scope"].as_str(), muted["name"].as_str(), muted["state"].as_str()),
        (Some("cart"), Some("applies coupon"), Some("muted"))
    );
    assert_eq!(muted["url"], format!("{base}/web/tests/{coupon}"));
    assert_eq!(muted["web_url"], format!("{}/s/web/tests/{coupon}", s.url));
    assert_eq!((muted["file_name"].as_str(), muted["set_by"].as_str()), (Some("spec/cart_spec.rb"), Some("manual")));
    let (st, skipped) = put(
        format!("web/tests/{totals}/skip"),
        Some(manage.clone()),
        Some(r#"{"reason": "too slow", "pin": "never", "by": "alice", "expires_at": "2099-01-01T00:00:00Z"}"#),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{skipped}");
    assert_eq!((skipped["reason"].as_str(), skipped["pin"].as_str()), (Some("too slow"), Some("never")));
    assert!(skipped["expires_at"].as_str().unwrap().starts_with("2099-01-01"));

    for (path, body, want) in [
        (format!("web/tests/{foreign}/mute"), None, 404),
        (format!("web/tests/{coupon}/freeze"), None, 404),
        ("web/tests/abc/mute".to_owned(), None, 404),
        (format!("web/tests/{coupon}/mute"), Some(r#"{"nope": 1}"#), 400),
        (format!("web/tests/{coupon}/mute"), Some(r#"{"expires_at": "2000-01-01T00:00:00Z"}"#), 422),
        (format!("web/tests/{coupon}/enable"), Some(r#"{"expires_at": "2099-01-01T00:00:00Z"}"#), 422),
    ] {
        let (st, answer) = put(path.clone(), Some(manage.clone()), body).await;
        assert_eq!(st.as_u16(), want, "{path} {body:?}: {answer}");
    }
    assert_eq!(ctl.control(coupon).await.unwrap().state, verdict_core::quarantine::ControlState::Muted, "refused bodies changed nothing");

    // Lists: Buildkite's paths and query form, with any of the suite's tokens; another suite's token is 403.
    let get = |path: String, token: String| {
        let req = s.http.get(format!("{}{path}", s.url)).header("Authorization", format!("Token token=\"{token}\""));
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for token in [s.token.clone(), manage.clone()] {
        let (st, list) = get("/buildkite/v2/analytics/organizations/acme/suites/web/tests/muted".into(), token).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect::<Vec<_>>(), ["applies coupon"]);
    }
    let (_, list) = get("/buildkite/v2/analytics/organizations/acme/suites/web/tests?state=skipped".into(), s.token.clone()).await;
    assert_eq!(list[0]["name"], "totals");
    assert_eq!(
        get("/buildkite/v2/analytics/organizations/acme/suites/web/tests/muted".into(), other.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        get("/buildkite/v2/analytics/organizations/acme/suites/web/tests?state=all".into(), s.token.clone()).await.0,
        StatusCode::BAD_REQUEST
    );
    let (st, q) = get("/v1/quarantine".into(), s.token.clone()).await;
    assert_eq!(st, StatusCode::OK, "{q}");
    assert_eq!(q["suite"], "web");
    assert_eq!((q["muted"][0]["scope"].as_str(), q["muted"][0]["name"].as_str()), (Some("cart"), Some("applies coupon")));
    assert_eq!(q["skipped"][0]["name"], "totals");
    let (_, q_other) = get("/v1/quarantine".into(), other.clone()).await;
    assert_eq!(
        (q_other["suite"].as_str(), q_other["muted"].as_array().map(Vec::len)),
        (Some("other"), Some(0)),
        "the token names the suite"
    );
    assert_eq!(get("/v1/quarantine".into(), manage.clone()).await.0, StatusCode::UNAUTHORIZED, "an upload token names the suite");

    // The state twin and the page show the control and its history.
    let (_, state) = s.get(&format!("/api/v1/tests/{totals}/state")).await;
    assert_eq!((state["control"]["state"].as_str(), state["control"]["actor"].as_str()), (Some("skipped"), Some("api:alice")));
    assert_eq!(state["control_history"][0]["to"], "skipped");
    let page = s.http.get(format!("{}/s/web/tests/{coupon}", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("data-control") && page.contains("Muted: it runs"), "the page shows the mute");
    assert!(page.contains("Quarantine history (1)"));

    let (st, enabled) = put(format!("web/tests/{coupon}/enable"), Some(manage.clone()), None).await;
    assert_eq!((st, enabled["state"].as_str()), (StatusCode::OK, Some("enabled")));
    let (_, list) = get("/buildkite/v2/analytics/organizations/acme/suites/web/tests/muted".into(), s.token.clone()).await;
    assert_eq!(list, json!([]));
    let events = ctl.control_events(coupon, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| (e.from.as_str(), e.to.as_str(), e.actor.as_str())).collect::<Vec<_>>(),
        [("muted", "enabled", "api"), ("enabled", "muted", "api")]
    );
    s.finish().await;
}

/// bktec's test-plan calls (spec §5, as bktec's `internal/api` sends and reads them) over a crafted timing
/// history: files a 10 s, b 8, c 7, d 5, e 4, f 2 (each file's tests' median) pack onto two nodes as the
/// spec's example; an unknown file gets the median; one identifier gets one plan whatever the later bodies say.
async fn bktec_gets_one_plan_per_identifier_balanced_by_timing_history(backend: Backend) {
    let s = Server::start(backend).await;
    let other = s.create_other_suite("other").await;
    // Two tests in a (4 s and 6 s medians), one in each other file; three runs, the middle duration the median.
    let files = [
        ("a", vec![("a1", 4.0), ("a2", 6.0)]),
        ("b", vec![("b1", 8.0)]),
        ("c", vec![("c1", 7.0)]),
        ("d", vec![("d1", 5.0)]),
        ("e", vec![("e1", 4.0)]),
        ("f", vec![("f1", 2.0)]),
    ];
    for (run, factor) in [("p1", 0.5), ("p2", 1.0), ("p3", 3.0)] {
        let data: Vec<Value> = files
            .iter()
            .flat_map(|(f, tests)| tests.iter().map(move |(name, secs)| json!({"scope": "plan", "name": name, "file_name": format!("./spec/{f}_spec.rb"), "result": "passed", "history": {"duration": secs * factor}})))
            .collect();
        assert_eq!(s.post_json(&json!({"format": "json", "run_env": {"key": run}, "data": data})).await.0, StatusCode::ACCEPTED);
    }
    let manage = token::generate();
    s.store.store.controls().set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let muted = s.store.store.controls().tests_named(s.suite_id, None, "plan/f1").await.unwrap()[0].id;
    let r = s
        .http
        .put(format!("{}/buildkite/v2/analytics/organizations/o/suites/web/tests/{muted}/mute", s.url))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let base = format!("{}/buildkite/v2/analytics/organizations/acme/suites/web", s.url);
    let post = |path: &'static str, token: String, body: Value| {
        let req = s
            .http
            .post(format!("{base}/{path}"))
            .bearer_auth(token)
            .header("User-Agent", "Buildkite Test Engine Client/2.0.0 (linux/amd64)")
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let get = |query: &'static str, token: String| {
        let req = s.http.get(format!("{base}/test_plan?{query}")).bearer_auth(token);
        async move { req.send().await.unwrap().status() }
    };
    let request = |files: &[&str]| {
        json!({"runner": "rspec", "identifier": "build-1/step-1", "parallelism": 2, "branch": "main",
               "tests": {"files": files.iter().map(|f| json!({"path": format!("spec/{f}_spec.rb")})).collect::<Vec<_>>()}})
    };
    assert_eq!(get("identifier=build-1/step-1&job_retry_count=0", s.token.clone()).await, StatusCode::NOT_FOUND, "no plan yet");
    assert_eq!(post("test_plan", other.clone(), request(&["a"])).await.0, StatusCode::FORBIDDEN, "another suite's token");
    assert_eq!(post("test_plan", "nope".into(), request(&["a"])).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(post("test_plan", s.token.clone(), json!({"identifier": "x"})).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        post("test_plan", s.token.clone(), json!({"identifier": "x", "parallelism": 0, "tests": {}})).await.0,
        StatusCode::BAD_REQUEST
    );

    let (st, plan) = post("test_plan", s.token.clone(), request(&["a", "b", "c", "d", "e", "f", "g"])).await;
    assert_eq!(st, StatusCode::OK, "{plan}");
    let node = |plan: &Value, n: &str| -> Vec<(String, u64)> {
        plan["tasks"][n]["tests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["path"].as_str().unwrap().to_owned(), t["estimated_duration"].as_u64().unwrap()))
            .collect()
    };
    let short = |v: Vec<(String, u64)>| {
        v.into_iter().map(|(p, ms)| (p.trim_start_matches("spec/").trim_end_matches("_spec.rb").to_owned(), ms / 1000)).collect::<Vec<_>>()
    };
    // g (unknown) = the median of 10, 8, 7, 5, 4, 2 = 6 s; LPT: a, b, c, g, d, e, then f to the tie's lowest node.
    assert_eq!(short(node(&plan, "0")), [("a".into(), 10), ("g".into(), 6), ("e".into(), 4), ("f".into(), 2)]);
    assert_eq!(short(node(&plan, "1")), [("b".into(), 8), ("c".into(), 7), ("d".into(), 5)]);
    assert_eq!((plan["tasks"]["0"]["node_number"].as_u64(), plan["parallelism"].as_u64()), (Some(0), Some(2)));
    assert_eq!(plan["tasks"]["0"]["tests"][0]["timing_sample_size"], 3);
    assert_eq!(plan["tasks"]["0"]["tests"][0]["format"], "file");
    assert_eq!(plan["timing_metadata"]["file"], json!({"median_duration": 6000.0, "default_duration": 1000}));
    assert!((plan["known_timings_ratio"].as_f64().unwrap() - 6.0 / 7.0).abs() < 1e-9);
    assert_eq!(plan["muted_tests"], json!([{"scope": "plan", "name": "f1", "path": "./spec/f_spec.rb"}]));

    // Every other job of the build gets that plan, whatever it sends.
    let (_, again) = post("test_plan", s.token.clone(), request(&["a"])).await;
    assert_eq!(again, plan);
    let kept =
        s.http.get(format!("{base}/test_plan?identifier=build-1/step-1&job_retry_count=1")).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(kept.json::<Value>().await.unwrap(), plan);

    let (st, filtered) = post("test_plan/filter_tests", s.token.clone(), json!({"files": [{"path": "spec/a_spec.rb"}], "env": {}})).await;
    assert_eq!((st, filtered), (StatusCode::OK, json!({"tests": []})));
    let r = s
        .http
        .put(format!("{}/buildkite/v2/analytics/organizations/o/suites/web/tests/{muted}/skip", s.url))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let (_, filtered) =
        post("test_plan/filter_tests", s.token.clone(), json!({"files": [{"path": "spec/a_spec.rb"}, {"path": "spec/f_spec.rb"}]})).await;
    assert_eq!(filtered, json!({"tests": [{"path": "spec/f_spec.rb"}]}), "the file holding a skipped test");
    let stats = json!({"version": "2.0.0", "env": {}, "timeline": [], "statistics": {"total": 7, "passed_on_first_run": 7, "passed_on_retry": 0, "muted_passed": 0, "muted_failed": 0, "failed": 0, "skipped": 0}});
    assert_eq!(post("test_plan_metadata", s.token.clone(), stats).await, (StatusCode::OK, json!({})));
    s.finish().await;
}

/// Endpoints are managed with the manage token; an upload's new failure
/// cluster and a person's mute reach a local receiver signed in the Standard
/// Webhooks form; a 500 is retried about 5 s later with the same
/// `webhook-id`; the log shows both attempts; a retry on demand sends it
/// again; Slack gets text; a 410 disables its endpoint.
async fn webhooks_are_signed_retried_with_one_id_logged_and_disabled_by_410(backend: Backend) {
    use verdict_core::webhook::Secret;
    let s = Server::start(backend).await;
    let rx = Receiver::start(&[("/hook", &[500]), ("/gone", &[410])]).await;
    let ctl = s.store.store.controls();
    let manage = token::generate();
    ctl.set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let other_manage = token::generate();
    s.create_other_suite("other").await;
    ctl.set_manage_token_hash("other", &token::hash(&other_manage)).await.unwrap();
    let api = format!("{}/api/v1/suites/web/webhooks", s.url);
    let call = |method: reqwest::Method, url: String, token: Option<&str>, body: Option<Value>| {
        let mut req = s.http.request(method, url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let hook = json!({"url": format!("{}/hook", rx.url), "events": ["test.state_changed", "cluster.created"]});
    for (token, want) in [(None, 401), (Some(s.token.as_str()), 403), (Some(other_manage.as_str()), 403)] {
        let (st, body) = call(reqwest::Method::POST, api.clone(), token, Some(hook.clone())).await;
        assert_eq!(st, want, "{token:?}: {body}");
        assert!(body["message"].is_string());
    }
    for (body, want) in [
        (json!({"url": "ftp://x"}), 422),
        (json!({"url": "https://x", "events": ["test.exploded"]}), 422),
        (json!({"url": "https://x", "secret": "plain"}), 422),
        (json!({"url": "https://x", "bogus": 1}), 400),
        (json!([1]), 400),
    ] {
        let (st, answer) = call(reqwest::Method::POST, api.clone(), Some(&manage), Some(body.clone())).await;
        assert_eq!(st, want, "{body}: {answer}");
    }
    assert!(s.store.store.webhooks().endpoints(s.suite_id).await.unwrap().is_empty(), "refused: nothing kept");
    let (st, made) = call(reqwest::Method::POST, api.clone(), Some(&manage), Some(hook)).await;
    assert_eq!(st, 201, "{made}");
    let secret = Secret::parse(made["secret"].as_str().unwrap()).expect("a whsec_ secret, shown once");
    let hook_id = made["id"].as_str().unwrap().to_owned();
    let slack = json!({"url": format!("{}/slack", rx.url), "format": "slack", "events": ["test.state_changed"]});
    assert_eq!(call(reqwest::Method::POST, api.clone(), Some(&manage), Some(slack)).await.0, 201);
    let (st, listed) = call(reqwest::Method::GET, api.clone(), Some(&manage), None).await;
    assert_eq!(st, 200);
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(listed[0].get("secret").is_none(), "the secret is not listed: {listed}");

    // A new failure on main (cluster.created in the upload's transaction), then a person's mute.
    let result = json!({"scope": "cart", "name": "applies <coupon> & tax", "result": "failed", "failure_reason": "timeout after 30s"});
    let (st, _) = s.post_json(&json!({"format": "json", "run_env": {"key": "w1", "branch": "main"}, "data": [result]})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let test_id = ctl.tests_named(s.suite_id, Some("cart"), "applies <coupon> & tax").await.unwrap()[0].id;
    let put = |action: &str| {
        let url = format!("{}/buildkite/v2/analytics/organizations/acme/suites/web/tests/{test_id}/{action}", s.url);
        call(reqwest::Method::PUT, url, Some(&manage), Some(json!({"reason": "flaky in CI", "by": "alice"})))
    };
    assert_eq!(put("mute").await.0, 200);

    let got = rx.wait_for("/hook", 3, 30).await;
    assert_eq!(got.len(), 3, "{got:?}");
    for r in &got {
        let (id, ts) = (r.header("webhook-id"), r.header("webhook-timestamp"));
        assert_eq!(r.header("webhook-signature"), secret.sign(&id, ts.parse().unwrap(), &r.body), "signed over the exact bytes");
        assert!(id.starts_with("msg_"));
        assert!((chrono::Utc::now().timestamp() - ts.parse::<i64>().unwrap()).abs() < 60);
        assert_eq!(r.header("content-type"), "application/json");
    }
    let (first, retried) = (&got[0], &got[2]);
    assert_eq!(first.json()["type"], "cluster.created", "the first message got the 500");
    assert_eq!(retried.header("webhook-id"), first.header("webhook-id"), "a retry keeps its id");
    assert_eq!(retried.body, first.body, "and its body");
    let gap = retried.at - first.at;
    assert!(gap >= std::time::Duration::from_millis(4_400) && gap < std::time::Duration::from_secs(15), "5 s ± 10 %: {gap:?}");
    let cluster = first.json();
    let cluster_id = cluster["data"]["cluster"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cluster["data"]["cluster"]["url"], format!("{}/s/web/failures/{cluster_id}", s.url));
    let muted = got[1].json();
    assert_eq!((muted["type"].as_str(), muted["data"]["to"].as_str()), (Some("test.state_changed"), Some("muted")));
    assert_eq!(muted["data"]["test"]["url"], format!("{}/s/web/tests/{test_id}", s.url));
    assert_eq!((muted["data"]["rule"].as_str(), muted["data"]["control"]["actor"].as_str()), (Some("manual"), Some("api:alice")));

    let slack = rx.wait_for("/slack", 1, 10).await;
    assert_eq!(slack.len(), 1, "the cluster is not a Slack event here");
    assert!(slack[0].header("webhook-signature").is_empty(), "Slack messages are unsigned");
    let text = slack[0].json()["text"].as_str().unwrap().to_owned();
    assert_eq!(
        text,
        format!(":mute: *muted*: <{}/s/web/tests/{test_id}|cart › applies &lt;coupon&gt; &amp; tax> by api:alice: flaky in CI", s.url)
    );

    // The log: newest first, each delivery with its attempts. The sender
    // records attempts in batches (up to a second after they were sent), so
    // the log may trail what the receiver has seen: wait for it.
    let log_url = format!("{api}/{hook_id}/deliveries");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let log = loop {
        let (st, log) = call(reqwest::Method::GET, log_url.clone(), Some(&manage), None).await;
        assert_eq!(st, 200, "{log}");
        let settled = log["deliveries"].as_array().is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["state"] == "delivered"));
        if settled || std::time::Instant::now() > deadline {
            break log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let deliveries = log["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    let c = deliveries.iter().find(|d| d["type"] == "cluster.created").unwrap();
    assert_eq!(
        (c["state"].as_str(), c["attempts"].as_i64(), c["message_id"].as_str()),
        (Some("delivered"), Some(2), Some(&*first.header("webhook-id")))
    );
    let statuses: Vec<i64> = c["log"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [200, 500]);
    assert_eq!(c["log"][1]["response"], "thanks");
    assert_eq!(call(reqwest::Method::GET, log_url.clone(), Some(&other_manage), None).await.0, 403);
    assert_eq!(call(reqwest::Method::GET, format!("{log_url}?limit=0"), Some(&manage), None).await.0, 400);
    assert_eq!(call(reqwest::Method::GET, format!("{api}/ep_nope/deliveries"), Some(&manage), None).await.0, 404);

    // A retry on demand: the same id once more.
    let retry = format!("{log_url}/{}/retry", c["id"]);
    assert_eq!(call(reqwest::Method::POST, retry, Some(&manage), None).await.0, 202);
    let got = rx.wait_for("/hook", 4, 10).await;
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].header("webhook-id"), first.header("webhook-id"));

    // Rotation: a new secret, shown once; for a day deliveries carry both signatures, space-separated.
    let rotate = format!("{api}/{hook_id}/rotate");
    let (st, rotated) = call(reqwest::Method::POST, rotate.clone(), Some(&manage), None).await;
    assert_eq!(st, 200, "{rotated}");
    let new_secret = Secret::parse(rotated["secret"].as_str().unwrap()).unwrap();
    assert_eq!(call(reqwest::Method::POST, rotate.clone(), Some(&manage), Some(json!({"secret": "plain"}))).await.0, 422);
    assert_eq!(call(reqwest::Method::POST, rotate.clone(), Some(&other_manage), None).await.0, 403);
    assert_eq!(call(reqwest::Method::POST, format!("{api}/ep_nope/rotate"), Some(&manage), None).await.0, 404);
    assert_eq!(put("skip").await.0, 200);
    let got = rx.wait_for("/hook", 5, 10).await;
    assert_eq!(got.len(), 5);
    let r = &got[4];
    let (id, ts) = (r.header("webhook-id"), r.header("webhook-timestamp").parse().unwrap());
    assert_eq!(r.header("webhook-signature"), format!("{} {}", new_secret.sign(&id, ts, &r.body), secret.sign(&id, ts, &r.body)));

    // 410 Gone disables its endpoint.
    let (st, gone) = call(reqwest::Method::POST, api.clone(), Some(&manage), Some(json!({"url": format!("{}/gone", rx.url)}))).await;
    assert_eq!(st, 201);
    assert_eq!(put("enable").await.0, 200);
    assert_eq!(rx.wait_for("/gone", 1, 10).await.len(), 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let disabled = loop {
        let e = s.store.store.webhooks().endpoint(s.suite_id, gone["id"].as_str().unwrap()).await.unwrap().unwrap();
        if !e.enabled || std::time::Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((disabled.enabled, disabled.disabled_reason.as_deref()), (false, Some("the endpoint answered 410 Gone")));

    // The page: endpoints by host only (a Slack URL is its own secret), each with its deliveries.
    let page = s.http.get(format!("{}/s/web/webhooks", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(&hook_id) && page.contains(&first.header("webhook-id")), "{page}");
    assert!(page.contains(&format!("{}/…", rx.url)));
    assert!(!page.contains("/hook") && !page.contains("/slack"), "no URL path on the page");
    assert!(page.contains("the endpoint answered 410 Gone"));

    // Removal.
    assert_eq!(call(reqwest::Method::DELETE, format!("{api}/{hook_id}"), Some(&manage), None).await.0, 204);
    assert_eq!(call(reqwest::Method::DELETE, format!("{api}/{hook_id}"), Some(&manage), None).await.0, 404);
    assert_eq!(call(reqwest::Method::GET, api.clone(), Some(&manage), None).await.1.as_array().unwrap().len(), 2);
    s.finish().await;
}

/// An owners file goes in through Buildkite's path with the upload or the
/// manage token (the spec's vector: the last matching line wins, the
/// ownerless line is reported and ignored); tests, flaky and cluster lists
/// carry owners and filter on them; the test page names them.
async fn owners_files_resolve_by_the_last_match_and_filter_the_lists(backend: Backend) {
    let s = Server::start(backend).await;
    let owners_url = format!("{}/v1/test-ownerships", s.url);
    let file = "# the spec's vector\n* @all\n*.rb @ruby\n/spec/payments/ payments billing\nspec/payments/legacy_spec.rb\n";
    let send = |token: Option<String>, form: Option<Form>| {
        let mut req = s.http.post(owners_url.clone());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req = match form {
            Some(f) => req.multipart(f),
            None => req.header("Content-Type", "text/plain").body(file),
        };
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let form = || Form::new().part("file", Part::bytes(file.as_bytes().to_vec()).file_name("TESTOWNERS"));
    // Refused before the body counts: no token, a wrong one; then a body that is not a form, a form without `file`.
    for (token, body, want) in [
        (None, Some(form()), 401),
        (Some("nope".to_owned()), Some(form()), 401),
        (Some(s.token.clone()), None, 415),
        (Some(s.token.clone()), Some(Form::new().text("other", "x")), 400),
        (Some(s.token.clone()), Some(Form::new().part("file", Part::bytes(b"ok @a\n\xff @b\n".to_vec()))), 422),
    ] {
        let (st, answer) = send(token, body).await;
        assert_eq!(st, want, "{answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    assert!(s.store.store.owners().owners_file(s.suite_id).await.unwrap().is_none(), "refused: nothing kept");
    let (st, answer) = send(Some(s.token.clone()), Some(form())).await;
    assert_eq!(st, 200, "{answer}");
    assert_eq!((answer["version"].as_i64(), answer["rules"].as_i64()), (Some(1), Some(3)));
    assert_eq!(answer["problems"][0]["line"], 5, "the ownerless line: {answer}");
    // The manage token may replace it.
    let manage = token::generate();
    s.store.store.controls().set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let (st, answer) = send(Some(manage), Some(form())).await;
    assert_eq!((st, answer["version"].as_i64()), (200, Some(2)), "{answer}");
    let (st, shown) = s.get("/api/v1/suites/web/owners").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!((shown["content"].as_str(), shown["uploaded_by"].as_str()), (Some(file), Some("manage token")));

    let result = |id: usize, scope: &str, file: &str, failed: bool| {
        let mut r = json!({"id": format!("00000000-0000-4000-8000-{id:012}"), "scope": scope, "name": "works", "file_name": file,
                           "result": if failed { "failed" } else { "passed" }, "history": {"duration": 0.5}});
        if failed {
            r["failure_reason"] = json!(format!("{scope} broke"));
        }
        r
    };
    let data = json!([
        result(1, "Pay", "./spec/payments/x_spec.rb", true),
        result(2, "Legacy", "spec/payments/legacy_spec.rb", false),
        result(3, "Lib", "lib/a.rb", true),
        result(4, "Readme", "README.md", false),
    ]);
    for i in 0..2 {
        let (st, body) = s.post_json(&json!({"format": "json", "run_env": {"key": format!("r{i}"), "branch": "main", "commit_sha": format!("c{i}")}, "data": data})).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{body}");
    }
    let (_, tests) = s.get("/api/v1/suites/web/tests?days=0").await;
    let owners_of = |scope: &str| tests.as_array().unwrap().iter().find(|t| t["scope"] == scope).unwrap()["owners"].clone();
    assert_eq!(owners_of("Pay"), json!(["payments", "billing"]));
    assert_eq!(owners_of("Legacy"), json!(["payments", "billing"]));
    assert_eq!(owners_of("Lib"), json!(["@ruby"]));
    assert_eq!(owners_of("Readme"), json!(["@all"]));
    let scopes = |v: &Value, key: &str| -> Vec<String> {
        let list = if key.is_empty() { v.as_array().unwrap().clone() } else { v[key].as_array().unwrap().clone() };
        let mut s: Vec<String> = list.iter().map(|t| t["scope"].as_str().unwrap_or_default().to_owned()).collect();
        s.sort();
        s
    };
    let (_, payments) = s.get("/api/v1/suites/web/tests?days=0&owner=payments").await;
    assert_eq!(scopes(&payments, ""), ["Legacy", "Pay"]);
    let (_, not_billing) = s.get("/api/v1/suites/web/tests?days=0&owner=!billing").await;
    assert_eq!(scopes(&not_billing, ""), ["Lib", "Readme"]);
    let (st, bad) = s.get("/api/v1/suites/web/tests?owner=a,,b").await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");

    let pay_id = tests.as_array().unwrap().iter().find(|t| t["scope"] == "Pay").unwrap()["id"].as_i64().unwrap();
    let (_, one) = s.get(&format!("/api/v1/tests/{pay_id}")).await;
    assert_eq!(one["owners"], json!(["payments", "billing"]));

    let (_, clusters) = s.get("/api/v1/suites/web/clusters").await;
    assert_eq!(clusters["clusters"].as_array().unwrap().len(), 2, "{clusters}");
    let (_, mine) = s.get("/api/v1/suites/web/clusters?owner=payments").await;
    let mine = mine["clusters"].as_array().unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0]["title"].as_str(), &mine[0]["owners"]), (Some("Pay broke"), &json!(["payments", "billing"])));

    // Analyse both runs now (the server's own loop may hold a run's rows for a moment: retry until none wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        while s.store.store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}
        if s.store.store.flaky().queue_depth(Some(s.suite_id)).await.unwrap() == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the runs were never analysed");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, flaky) = s.get("/api/v1/suites/web/flaky?state=new,broken,flaky,healthy&owner=@ruby").await;
    assert_eq!(scopes(&flaky, "tests"), ["Lib"], "{flaky}");
    assert_eq!(flaky["tests"][0]["owners"], json!(["@ruby"]));

    let page = s.http.get(format!("{}/s/web/tests/{pay_id}", s.url)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Owners: payments (primary), billing"), "the test page names its owners");
    s.finish().await;
}

/// A run against its base: a feature-branch run is measured against the
/// latest run on main before it; new failures carry their cause and owners,
/// muted failures are apart, the slower tests are named; Markdown stays
/// escaped; the suite's token sees its own runs only.
async fn run_summaries_compare_with_the_base_and_render_markdown(backend: Backend) {
    let s = Server::start(backend).await;
    let form = Form::new().part("file", Part::bytes(b"/spec/payments/ payments\n".to_vec()));
    let r = s.http.post(format!("{}/v1/test-ownerships", s.url)).bearer_auth(&s.token).multipart(form).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let result = |name: &str, outcome: &str, secs: f64| {
        let mut r = json!({"scope": "Pay", "name": name, "file_name": "spec/payments/pay_spec.rb", "result": outcome, "history": {"duration": secs}});
        if outcome == "failed" {
            r["failure_reason"] = json!(format!("{name} declined <card>"));
        }
        r
    };
    let post = |key: &str, branch: &str, data: Value| {
        let body = json!({"format": "json", "run_env": {"key": key, "branch": branch, "commit_sha": key}, "data": data});
        let s = &s;
        async move {
            let (st, answer) = s.post_json(&body).await;
            assert_eq!(st, StatusCode::ACCEPTED, "{answer}");
            answer["run_id"].as_str().unwrap().to_owned()
        }
    };
    let base = post(
        "base",
        "main",
        json!([
            result("a", "passed", 0.1),
            result("b", "failed", 0.1),
            result("c", "failed", 0.1),
            result("d", "passed", 0.1),
            result("m", "passed", 0.1)
        ]),
    )
    .await;
    let mut retried = result("e", "passed", 0.1);
    retried["attempt"] = json!(1);
    let head = post(
        "head",
        "feature/x",
        json!([
            result("a", "failed", 0.1),
            result("b", "failed", 0.1),
            result("c", "passed", 0.1),
            result("d", "passed", 2.0),
            result("m", "failed", 0.1),
            result("e", "failed", 0.1),
            retried
        ]),
    )
    .await;
    // m is muted: its failure does not fail the build.
    let manage = token::generate();
    s.store.store.controls().set_manage_token_hash("web", &token::hash(&manage)).await.unwrap();
    let tests = s.store.store.tests(s.suite_id, &verdict_store::TestFilter { days: 0, ..Default::default() }).await.unwrap();
    let m = tests.iter().find(|t| t.test.name == "m").unwrap().test.id;
    let r = s
        .http
        .put(format!("{}/buildkite/v2/analytics/organizations/o/suites/web/tests/{m}/mute", s.url))
        .bearer_auth(&manage)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());

    let get = |query: String, token: Option<String>| {
        let mut req = s.http.get(format!("{}/v1/summary?{query}", s.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (st, body) = get(format!("run={head}"), Some(s.token.clone())).await;
    assert_eq!(st, 200, "{body}");
    let sum: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        sum["base"]["id"].as_str().map(str::to_owned).or_else(|| sum["base"]["id"].as_i64().map(|i| i.to_string())),
        Some(base.clone())
    );
    let names = |key: &str| -> Vec<String> {
        sum[key]["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names("new_failures"), ["a"], "{sum}");
    assert_eq!(names("still_failing"), ["b"]);
    assert_eq!(names("fixed"), ["c"]);
    assert_eq!(names("flaky"), ["e"]);
    assert_eq!(names("muted"), ["m"]);
    assert_eq!(sum["slower"][0]["name"], "d");
    let a = &sum["new_failures"]["tests"][0];
    assert_eq!(a["owners"], json!(["payments"]));
    assert_eq!(a["cause"]["title"], "a declined <card>");
    assert!(a["url"].as_str().unwrap().starts_with(&format!("{}/s/web/tests/", s.url)));

    let (st, md) = get("run_key=head&format=github-summary".into(), Some(s.token.clone())).await;
    assert_eq!(st, 200, "{md}");
    assert!(md.starts_with("### ❌ Verdict: 2 failed of 6 tests (1 new), 1 flaky, 1 muted — web on feature/x"), "{md}");
    assert!(md.contains("a declined \\<card\\>"), "escaped: {md}");
    assert!(md.contains("**Muted failures (they do not fail the build) (1)**"));

    // Who may ask: another suite's token sees no run of this one; no token on a closed server is 401; bad asks are 400.
    let other = s.create_other_suite("other").await;
    assert_eq!(get(format!("run={head}"), Some(other)).await.0, 404);
    assert_eq!(get("run=1&run_key=x".into(), Some(s.token.clone())).await.0, 400);
    assert_eq!(get(format!("run={head}&format=html"), Some(s.token.clone())).await.0, 400);
    assert_eq!(get("run_key=nope".into(), Some(s.token.clone())).await.0, 404);
    assert_eq!(get("run_key=head".into(), None).await.0, 400, "an open read API still needs suite= for a key");
    assert_eq!(get("run_key=head&suite=web".into(), None).await.0, 200);
    s.finish().await;

    let closed = Server::start_with(Backend::Sqlite, Some("reader")).await;
    let r = closed.http.get(format!("{}/v1/summary?run=1", closed.url)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    closed.finish().await;
}

/// `GET /metrics` parses as Prometheus text: uploads, results and refusals
/// counted, requests by route pattern (never by the path sent, so a token in
/// a path never shows), the store's gauges; behind the read token when set.
async fn metrics_are_prometheus_text_with_bounded_labels(backend: Backend) {
    let s = Server::start_with(backend, Some("reader")).await;
    let data: Vec<Value> = (0..7).map(|i| json!({"name": format!("t{i}"), "result": "passed"})).collect();
    let (st, _) = s.post_json(&json!({"format": "json", "run_env": {"key": "k1"}, "data": data})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let (st, _) = s.post_json_with("vdt_wrong", &json!({"format": "json", "run_env": {"key": "k2"}, "data": []})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let leaked = format!("{}/t/{}/api/v1/contexts/", s.url, s.token);
    assert_eq!(s.http.get(&leaked).send().await.unwrap().status().as_u16() / 100, 2, "a pytest-monitor read through the token path");
    assert_eq!(
        s.http.get(format!("{}/metrics", s.url)).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the read token is needed"
    );
    let r = s.http.get(format!("{}/metrics", s.url)).bearer_auth("reader").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    assert!(!text.contains(&s.token), "the upload token never appears");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape.samples.iter().find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v))).map(|x| match x.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
    };
    assert_eq!(value("verdict_uploads_accepted_total", &[("format", "json")]), Some(1.0));
    assert_eq!(value("verdict_results_accepted_total", &[]), Some(7.0));
    assert_eq!(value("verdict_requests_refused_total", &[("status", "401")]), Some(2.0), "the bad token and the scrape without one");
    assert_eq!(value("verdict_http_requests_total", &[("route", "/v1/uploads"), ("status", "202")]), Some(1.0));
    let routes: Vec<&str> =
        scrape.samples.iter().filter(|x| x.metric == "verdict_http_requests_total").filter_map(|x| x.labels.get("route")).collect();
    assert!(routes.contains(&"/t/:token/api/v1/contexts/"), "the route's pattern: {routes:?}");
    assert!(value("verdict_database_size_bytes", &[]).unwrap() > 0.0);
    assert!(value("verdict_store_write_queue", &[]).is_some());
    let latency =
        scrape.samples.iter().find(|x| x.metric == "verdict_http_request_duration_seconds" && x.labels.get("route") == Some("/v1/uploads"));
    assert!(matches!(latency.map(|x| &x.value), Some(prometheus_parse::Value::Histogram(_))), "a latency histogram per route");
    let writes = scrape.samples.iter().find(|x| x.metric == "verdict_store_write_results").unwrap();
    let prometheus_parse::Value::Histogram(buckets) = &writes.value else { panic!("a histogram") };
    assert_eq!(buckets.iter().find(|b| b.less_than == 10.0).map(|b| b.count), Some(1.0), "one write of 7 results");
    s.finish().await;
}
