//! The dashboard's pages on the real server over both stores: status codes,
//! the numbers shown equal their JSON twin's, every link resolves, hostile
//! names render as text, sign-in, empty states, page weight.

mod common;

use common::Server;
use reqwest::StatusCode;
use serde_json::{Value, json};
use verdict_store::testing::Backend;

macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Postgres).await } )* }
    };
}

both!(
    pages_answer_for_a_seeded_suite,
    page_numbers_equal_their_twins,
    every_link_on_every_page_resolves,
    hostile_input_renders_as_text,
    pages_need_the_read_token_and_sign_in_sets_a_session,
    empty_states_say_what_to_do_next,
    suite_link_templates_link_commits_and_files,
    the_run_page_compares_with_the_previous_run,
    aggregate_and_compare_pages_show_the_cli_computations,
    the_flaky_page_ranks_and_explains,
    the_failures_pages_group_by_cause,
    batch_metric_thresholds_fail_report_batches,
    program_metrics_show_on_the_report_page,
);

const HOSTILE_NAME: &str = "<script>alert(1)</script>";
const HOSTILE_SCOPE: &str = "\"'&<>";
const HOSTILE_REASON: &str = "</svg><img src=x onerror=alert(1)>";
const HOSTILE_BRANCH: &str = "javascript:alert(1)";

/// Five runs on main, one on a release branch: `t_stable` always passes,
/// `t_broken` always fails, `t_sometimes` fails in runs 1 and 3, `t_flaky`
/// flakes in run 2 (a retried upload), plus a hostile test and a long name.
async fn seed(s: &Server) -> Vec<String> {
    // Within the 4096-byte name cap, far past what a page shows.
    let long = "n".repeat(4000);
    let mut run_ids = Vec::new();
    for i in 0..6 {
        let branch = if i == 5 { "release" } else { "main" };
        let sometimes = if i % 2 == 1 { "failed" } else { "passed" };
        let data = json!([
            {"scope": "tests.core", "name": "t_stable", "result": "passed", "file_name": "tests/core.py", "location": "tests/core.py:10", "history": {"duration": 0.5 + i as f64 / 10.0}},
            {"scope": "tests.core", "name": "t_broken", "result": "failed", "failure_reason": format!("AssertionError: expected 3 but got {i}"), "history": {"duration": 1.0}},
            {"scope": "tests.core", "name": "t_sometimes", "result": sometimes, "failure_reason": "Connection refused (os error 111)", "history": {"duration": 2.0}},
            {"scope": "tests.core", "name": "t_flaky", "result": "passed", "history": {"duration": 0.2}},
            {"scope": HOSTILE_SCOPE, "name": HOSTILE_NAME, "result": "failed", "failure_reason": HOSTILE_REASON, "history": {"duration": 0.1}},
            {"scope": "tests.long", "name": long, "result": "passed"},
        ]);
        let env = json!({"key": format!("k{i}"), "branch": branch, "commit_sha": format!("c0ffee{i}"), "number": format!("{}", 100 + i), "url": "javascript:alert(1)", "message": "<b>bold</b> change"});
        let (st, reply) = s.post_json(&json!({"format": "json", "run_env": env, "data": data})).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
        run_ids.push(reply["run_id"].as_str().unwrap().to_owned());
        if i == 2 {
            // The job retried: t_flaky failed in a second upload to the same run.
            let retry = json!([{"scope": "tests.core", "name": "t_flaky", "result": "failed", "failure_reason": "flake"}]);
            let (st, _) = s.post_json(&json!({"format": "json", "run_env": {"key": "k2"}, "data": retry})).await;
            assert_eq!(st, StatusCode::ACCEPTED);
        }
    }
    // A run on a hostile branch name.
    let env = json!({"key": "hostile", "branch": HOSTILE_BRANCH, "url": "javascript:alert(1)"});
    let (st, _) = s.post_json(&json!({"format": "json", "run_env": env, "data": [{"scope": "x", "name": "y", "result": "passed"}]})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    run_ids
}

struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

async fn page(s: &Server, path: &str) -> Page {
    let r = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    Page { status, headers, body: r.text().await.unwrap() }
}

async fn json_of(s: &Server, path: &str) -> Value {
    let (st, v) = s.get(path).await;
    assert_eq!(st, StatusCode::OK, "{path}: {v}");
    v
}

async fn test_id(s: &Server, name: &str) -> i64 {
    let v = json_of(s, "/api/v1/suites/web/tests/search?branch=*&window=14d&sort=name").await;
    // A prefix: a long name is stored cut (and marked).
    let found = v["rows"].as_array().unwrap().iter().find(|r| r["test"]["name"].as_str().is_some_and(|n| n.starts_with(name)));
    found.unwrap_or_else(|| panic!("no test {}", &name[..name.len().min(40)]))["test"]["id"].as_i64().unwrap()
}

/// Every value of an attribute in the page, unescaped.
fn attributes(html: &str, attr: &str) -> Vec<String> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            unescape(&rest[..rest.find('"').unwrap()])
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#38;", "&").replace("&amp;", "&").replace("&#34;", "\"").replace("&#39;", "'").replace("&#60;", "<").replace("&#62;", ">")
}

/// The `data-json` elements of a page: (path, the element's text).
fn data_json(html: &str) -> Vec<(String, String)> {
    let needle = " data-json=\"";
    html.match_indices(needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len()..];
            let path = rest[..rest.find('"').unwrap()].to_owned();
            let after = &rest[rest.find('>').unwrap() + 1..];
            (path, unescape(&after[..after.find('<').unwrap()]))
        })
        .collect()
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| match k.parse::<usize>() {
        Ok(i) => &v[i],
        Err(_) => &v[k],
    })
}

/// The first number in a text (`97.2% [..]` → 97.2).
fn first_number(text: &str) -> f64 {
    let start = text.find(|c: char| c.is_ascii_digit()).unwrap_or_else(|| panic!("no number in {text:?}"));
    let rest = &text[start..];
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    rest[..end].parse().unwrap()
}

const VIEW: &str = "branch=main&window=14d";

/// Every page of the first release, on the seeded suite.
fn first_pages(runs: &[String], test: i64) -> Vec<String> {
    vec![
        "/".to_owned(),
        format!("/s/web?{VIEW}"),
        format!("/s/web/runs?{VIEW}"),
        format!("/s/web/runs/{}?{VIEW}", runs[4]),
        format!("/s/web/tests?{VIEW}"),
        format!("/s/web/tests/{test}?{VIEW}"),
        format!("/s/web/report?{VIEW}"),
    ]
}

async fn pages_answer_for_a_seeded_suite(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let broken = test_id(&s, "t_broken").await;
    let mut paths = first_pages(&runs, broken);
    paths.push(format!("/s/web/tests/{broken}?branch=*&runs=3&strip=200"));
    for path in &paths {
        let p = page(&s, path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}: {}", p.body);
        assert!(p.headers["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        let csp = p.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(p.headers["cache-control"], "no-store");
        assert!(p.headers["server-timing"].to_str().unwrap().contains("query;dur="));
        assert!(p.body.len() <= 200 * 1024, "{path}: {} bytes", p.body.len());
        assert!(!p.body.contains(" style="), "{path}: no inline style (the CSP forbids it)");
        assert!(!p.body.contains("<script>") && !p.body.contains("http://cdn"), "{path}: no inline or third-party script");
    }
    // Without branch and window: a redirect to the page with both.
    let r = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = r.get(format!("{}/s/web/runs?result=failed", s.url)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["location"], "/s/web/runs?branch=main&result=failed&window=14d");
    // Bad parameters are 400 naming them; missing or foreign things are 404.
    for (path, word) in [
        ("/s/web?branch=main&window=3d".to_owned(), "window"),
        (format!("/s/web/tests?{VIEW}&sort=bogus"), "sort"),
        (format!("/s/web/tests/{broken}?{VIEW}&strip=7"), "strip"),
        (format!("/s/web/runs/{}?{VIEW}&vs=yesterday", runs[0]), "vs"),
        ("/s/web?branch=main&window=7d&runs=5".to_owned(), "window"),
    ] {
        let p = page(&s, &path).await;
        assert_eq!(p.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(p.body.contains(word), "{path}: {}", p.body);
    }
    for path in [format!("/s/nope?{VIEW}"), format!("/s/web/runs/999999?{VIEW}"), format!("/s/web/tests/abc?{VIEW}")] {
        assert_eq!(page(&s, &path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    // Another suite's run and test are not found through this suite.
    let other = s.create_other_suite("other").await;
    let (st, reply) = s
        .post_json_with(&other, &json!({"format": "json", "run_env": {"key": "o"}, "data": [{"name": "theirs", "result": "passed"}]}))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let theirs = reply["run_id"].as_str().unwrap();
    assert_eq!(page(&s, &format!("/s/web/runs/{theirs}?{VIEW}")).await.status, StatusCode::NOT_FOUND);
    // A fresh upload's run_url is the run's page, naming its number.
    let (_, reply) = s
        .post_json(&json!({"format": "json", "run_env": {"key": "fresh", "number": "4242"}, "data": [{"name": "t", "result": "passed"}]}))
        .await;
    let run_url = reply["run_url"].as_str().unwrap();
    let p = s.http.get(run_url).send().await.unwrap();
    assert_eq!(p.status(), StatusCode::OK);
    assert!(p.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(p.text().await.unwrap().contains("Run #4242"));
    s.finish().await;
}

async fn page_numbers_equal_their_twins(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let sometimes = test_id(&s, "t_sometimes").await;
    let pairs = [
        ("/".to_owned(), "/api/v1/overview?window=14d".to_owned()),
        (format!("/s/web?{VIEW}"), format!("/api/v1/suites/web/summary?{VIEW}")),
        (format!("/s/web/tests?{VIEW}"), format!("/api/v1/suites/web/tests/search?{VIEW}")),
        (format!("/s/web/tests/{sometimes}?{VIEW}"), format!("/api/v1/tests/{sometimes}/summary?{VIEW}")),
        (format!("/s/web/runs/{}?{VIEW}", runs[3]), format!("/api/v1/runs/{}/summary?{VIEW}", runs[3])),
        (format!("/s/web/report?{VIEW}"), format!("/api/v1/suites/web/report?{VIEW}")),
    ];
    for (page_path, twin_path) in &pairs {
        let p = page(&s, page_path).await;
        assert!(p.body.contains(&format!("href=\"{}", twin_path.replace('&', "&#38;"))), "{page_path} links its twin {twin_path}");
        let twin = json_of(&s, twin_path).await;
        let shown = data_json(&p.body);
        assert!(!shown.is_empty(), "{page_path} marks its numbers");
        for (path, text) in shown {
            let value = at(&twin, &path);
            let want = value.as_f64().unwrap_or_else(|| panic!("{page_path}: {path} is {value} in {twin_path}"));
            let want = if path.ends_with(".rate") { (want * 1000.0).round() / 10.0 } else { want };
            assert_eq!(first_number(&text), want, "{page_path}: {path} shows {text:?}");
        }
    }
    // The seeded numbers themselves: t_sometimes failed in 2 of 5 runs on main.
    let t = json_of(&s, &format!("/api/v1/tests/{sometimes}/summary?{VIEW}")).await;
    assert_eq!((t["runs"].as_i64(), t["failed_runs"].as_i64()), (Some(5), Some(2)));
    let p = page(&s, &format!("/s/web/tests/{sometimes}?{VIEW}")).await;
    assert!(p.body.contains("60.0% [23.1–88.2] n=5"), "reliability with its Wilson interval and n");
    // The executions table: this branch only, and filtered by outcome.
    let failed = json_of(&s, &format!("/api/v1/tests/{sometimes}/summary?{VIEW}&result=failed")).await;
    let rows = failed["executions"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|e| e["result"] == "failed" && e["branch"] == "main"));
    let all = json_of(&s, &format!("/api/v1/tests/{sometimes}/summary?branch=*&window=14d")).await;
    assert_eq!(all["executions"].as_array().unwrap().len(), 6, "five runs on main, one on release");
    let (_, history) = s.get(&format!("/api/v1/tests/{sometimes}/history?branch=release")).await;
    assert_eq!(history.as_array().unwrap().len(), 1);
    let summary = json_of(&s, &format!("/api/v1/suites/web/summary?{VIEW}")).await;
    assert_eq!(summary["kpis"]["runs"]["value"], 5);
    assert_eq!(summary["kpis"]["flaky_tests"]["value"], 1, "t_flaky flaked in run 2");
    let flaky: Vec<&str> = summary["most_flaky"].as_array().unwrap().iter().map(|r| r["test"]["name"].as_str().unwrap()).collect();
    assert_eq!(flaky, ["t_flaky"]);
    // The report: five runs on main, each with t_broken and the hostile test failing (blockers);
    // t_sometimes failed in two of them; the most failing tests first.
    let report = json_of(&s, &format!("/api/v1/suites/web/report?{VIEW}")).await;
    assert_eq!((report["totals"]["batches"].as_i64(), report["totals"]["fail_block_batches"].as_i64()), (Some(5), Some(5)));
    let row =
        |name: &str| report["experiences"].as_array().unwrap().iter().find(|e| e["name"] == format!("tests.core {name}")).cloned().unwrap();
    assert_eq!((row("t_sometimes")["counts"]["blocker"].as_i64(), row("t_sometimes")["counts"]["passed"].as_i64()), (Some(2), Some(3)));
    assert_eq!(row("t_flaky")["counts"]["warning"].as_i64(), Some(1), "the retried upload of run 2 flaked it");
    assert_eq!(report["experiences"][0]["counts"]["blocker"].as_i64(), Some(5), "an always-failing test first");
    // Nothing ran in the 14 days before: every test is new, none fixed or gone.
    let c = &summary["changes"];
    assert_eq!(
        (c["new_tests"].as_i64(), c["fixed"].as_i64(), c["gone_tests"].as_i64()),
        (summary["kpis"]["tests"]["value"].as_i64(), Some(0), Some(0))
    );
    s.finish().await;
}

async fn every_link_on_every_page_resolves(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let broken = test_id(&s, "t_broken").await;
    let mut seen = std::collections::BTreeSet::new();
    for path in first_pages(&runs, broken) {
        let p = page(&s, &path).await;
        let hrefs: Vec<String> = attributes(&p.body, "href").into_iter().chain(attributes(&p.body, "src")).collect();
        // Local links, links out over http(s), and the empty favicon (`data:,`, so the browser asks for none).
        let allowed = |h: &String| h.starts_with('/') || h.starts_with("https://") || h.starts_with("http://") || h == "data:,";
        assert!(hrefs.iter().all(allowed), "{path}: {hrefs:?}");
        assert!(!p.body.contains("href=\"javascript:"), "{path}");
        if path.contains("/tests/") {
            let cells: Vec<&String> = hrefs.iter().filter(|h| h.contains(&format!("#t-{broken}"))).collect();
            assert!(cells.len() >= 5, "strip cells link to the run page at the test: {cells:?}");
        }
        seen.extend(hrefs.into_iter().filter(|h| h.starts_with('/')).map(|h| h.split('#').next().unwrap().to_owned()));
    }
    assert!(seen.len() > 30, "{seen:?}");
    for href in seen {
        let r = s.http.get(format!("{}{href}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{href}");
    }
    s.finish().await;
}

async fn hostile_input_renders_as_text(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let hostile = test_id(&s, HOSTILE_NAME).await;
    let long = test_id(&s, &"n".repeat(500)).await;
    for path in [
        "/".to_owned(),
        format!("/s/web?{VIEW}"),
        format!("/s/web?branch={}&window=14d", "javascript%3Aalert%281%29"),
        "/s/web/runs?branch=*&window=14d".to_owned(),
        format!("/s/web/runs/{}?{VIEW}&expand=all", runs[4]),
        format!("/s/web/tests?{VIEW}"),
        format!("/s/web/tests/{hostile}?{VIEW}"),
        format!("/s/web/tests/{long}?{VIEW}"),
        format!("/s/web/report?{VIEW}"),
        format!("/s/web/report?branch={}&window=14d", "javascript%3Aalert%281%29"),
    ] {
        let p = page(&s, &path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        let b = &p.body;
        assert!(!b.contains("<script>alert") && !b.contains("<img src=x"), "{path}: raw markup from stored text");
        assert!(
            !b.contains("onerror=alert") || b.matches("onerror=alert").count() == b.matches("&#60;img src=x onerror=alert").count(),
            "{path}"
        );
        assert!(!b.contains("href=\"javascript:") && !b.contains("<b>bold"), "{path}");
        // Cut everywhere; whole only once, folded, on its own test page.
        let whole = if path.contains(&format!("/tests/{long}")) { 1 } else { 0 };
        assert_eq!(b.matches(&"n".repeat(4000)).count(), whole, "{path}");
        assert!(!b.replacen(&"n".repeat(4000), "", whole).contains(&"n".repeat(300)), "{path}: a long name is cut");
    }
    let p = page(&s, &format!("/s/web/tests/{hostile}?{VIEW}")).await;
    assert!(p.body.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "the name is there, escaped");
    assert!(p.body.contains("&#60;/svg&#62;&#60;img src=x onerror=alert(1)&#62;"), "the failure message is there, escaped");
    // The whole name is on its own route.
    let full = json_of(&s, &format!("/api/v1/tests/{long}")).await;
    assert_eq!(full["name"].as_str().unwrap().len(), 4000, "whole, on its own route");
    s.finish().await;
}

async fn pages_need_the_read_token_and_sign_in_sets_a_session(backend: Backend) {
    let s = Server::start_with(backend, Some("reader-secret")).await;
    seed(&s).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let target = format!("/s/web?{VIEW}");
    let p = page(&s, &target).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.body.contains("name=\"token\"") && !p.body.contains("t_broken"), "the form, no data");
    let signin =
        |token: &str| no_redirects.post(format!("{}/signin", s.url)).form(&[("token", token.to_owned()), ("next", target.clone())]).send();
    let wrong = signin("nope").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let right = signin("reader-secret").await.unwrap();
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()["location"], target.as_str());
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && !cookie.contains("reader-secret"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let with = |path: String| s.http.get(format!("{}{path}", s.url)).header("cookie", session.clone()).send();
    let ok = with(target.clone()).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert!(ok.text().await.unwrap().contains("t_broken"));
    assert_eq!(with("/api/v1/suites/web/runs".into()).await.unwrap().status(), StatusCode::OK, "the JSON API takes the session too");
    let forged = s.http.get(format!("{}/api/v1/suites", s.url)).header("cookie", "verdict_session=99999999999.00").send().await.unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    let basic = s.http.get(format!("{}{target}", s.url)).basic_auth("anyone", Some("reader-secret")).send().await.unwrap();
    assert_eq!(basic.status(), StatusCode::OK, "Basic with the token as password");
    let bearer = s.http.get(format!("{}{target}", s.url)).bearer_auth("reader-secret").send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::OK);
    // A sign-in never sends the user to another host.
    let away = no_redirects
        .post(format!("{}/signin", s.url))
        .form(&[("token", "reader-secret"), ("next", "//evil.example/")])
        .send()
        .await
        .unwrap();
    assert_eq!(away.headers()["location"], "/");
    s.finish().await;
}

async fn empty_states_say_what_to_do_next(backend: Backend) {
    let s = Server::start(backend).await;
    // A suite without runs: the upload command with this server's URL.
    let p = page(&s, &format!("/s/web?{VIEW}")).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("verdict upload") && p.body.contains(&s.url), "{}", p.body);
    // Runs elsewhere, none on this branch: say so and offer the wider query.
    s.post_json(&json!({"format": "json", "run_env": {"key": "k", "branch": "dev"}, "data": [{"name": "t", "result": "passed"}]})).await;
    let p = page(&s, &format!("/s/web?{VIEW}")).await;
    assert!(p.body.contains("No runs on") && p.body.contains("all branches"), "{}", p.body);
    let p = page(&s, &format!("/s/web/tests?{VIEW}&q=nothing*matches")).await;
    assert!(p.body.contains("No tests match"));
    s.finish().await;
    // No suites at all: the suite create command.
    let s = Server::start_empty(backend).await;
    let p = page(&s, "/").await;
    assert!(p.body.contains("verdict suite create"), "{}", p.body);
    s.finish().await;
}

async fn suite_link_templates_link_commits_and_files(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let run_page = format!("/s/web/runs/{}?{VIEW}", runs[4]);
    assert!(!page(&s, &run_page).await.body.contains("git.example"), "no template, no link");
    let links = json!({"commit_url": "https://git.example/o/r/commit/{commit}", "file_url": "https://git.example/o/r/blob/{commit}/{file}#L{line}"});
    let r = s.http.patch(format!("{}/api/v1/suites/web", s.url)).header("Authorization", s.auth()).json(&links).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let bad = s
        .http
        .patch(format!("{}/api/v1/suites/web", s.url))
        .header("Authorization", s.auth())
        .json(&json!({"commit_url": "javascript:{commit}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let anonymous = s.http.patch(format!("{}/api/v1/suites/web", s.url)).json(&links).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body = page(&s, &run_page).await.body;
    assert!(body.contains("href=\"https://git.example/o/r/commit/c0ffee4\""), "the commit links out");
    assert!(body.contains("href=\"https://git.example/o/r/blob/c0ffee4/tests/core.py#L10\""), "file:line links out");
    s.finish().await;
}

async fn the_run_page_compares_with_the_previous_run(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    // Run 3 (t_sometimes failed) against run 2 (it passed; t_flaky flaked there).
    let diff = json_of(&s, &format!("/api/v1/runs/{}/diff", runs[3])).await;
    assert_eq!(diff["compared"]["id"].as_i64().unwrap().to_string(), runs[2]);
    let group = |key: &str| -> Vec<String> {
        let g = diff["groups"].as_array().unwrap().iter().find(|g| g["key"] == key).unwrap();
        g["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(group("new_failures"), ["t_sometimes"]);
    assert_eq!(group("still_failing"), [HOSTILE_NAME.to_owned(), "t_broken".to_owned()]);
    assert!(group("fixed").is_empty() && group("new_tests").is_empty());
    let back = json_of(&s, &format!("/api/v1/runs/{}/diff?vs={}", runs[2], runs[1])).await;
    let flakes: Vec<&str> = back["groups"].as_array().unwrap().iter().find(|g| g["key"] == "new_flakes").unwrap()["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(flakes, ["t_flaky"]);
    let failures = json_of(&s, &format!("/api/v1/runs/{}/failures", runs[3])).await;
    let patterns: Vec<&str> = failures["groups"].as_array().unwrap().iter().map(|g| g["pattern"].as_str().unwrap()).collect();
    assert!(
        patterns.contains(&"AssertionError: expected <n> but got <n>") && patterns.contains(&"Connection refused (os error <n>)"),
        "{patterns:?}"
    );
    let p = page(&s, &format!("/s/web/runs/{}?{VIEW}", runs[3])).await;
    assert!(p.body.contains("New failures") && p.body.contains(&format!("id=\"t-{}\"", test_id(&s, "t_sometimes").await)));
    s.finish().await;
}

async fn aggregate_and_compare_pages_show_the_cli_computations(backend: Backend) {
    let s = Server::start(backend).await;
    seed(&s).await;
    // History: ten runs of the job on other payloads, all passing; the batch: three runs where t_x fails.
    for (i, (payload, result)) in
        (0..10).map(|i| (format!("p{i}"), "passed")).chain((0..3).map(|_| ("p-new".to_owned(), "failed"))).enumerate()
    {
        let env = json!({"key": format!("job-{i}"), "branch": "main", "job": "e2e", "payload": payload});
        let data = json!([{"scope": "e2e", "name": "t_x", "result": result, "failure_reason": "boom"}, {"scope": "e2e", "name": "t_y", "result": "passed"}]);
        let (st, _) = s.post_json(&json!({"format": "json", "run_env": env, "data": data})).await;
        assert_eq!(st, StatusCode::ACCEPTED);
    }
    let list = page(&s, "/s/web/aggregate").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("/s/web/aggregate?job=e2e&#38;payload=p-new"), "the batch is listed");
    let p = page(&s, "/s/web/aggregate?job=e2e&payload=p-new").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(">FAIL<") && p.body.contains("verdict aggregate --suite web --job e2e --payload p-new"));
    let twin = json_of(&s, "/api/v1/suites/web/batches?job=e2e&payload=p-new").await;
    assert_eq!(twin["verdict"]["runs"], 3);
    assert!(twin["verdict"]["blocking_failures"].as_u64().unwrap() >= 1);
    for (path, text) in data_json(&p.body) {
        assert_eq!(first_number(&text), at(&twin, &path).as_f64().unwrap(), "{path}");
    }
    let verdict = json_of(&s, "/api/v1/suites/web/aggregate?job=e2e&payload=p-new").await;
    assert_eq!(verdict["blocking_failures"], twin["verdict"]["blocking_failures"], "the page and the CLI's route agree");
    assert_eq!(page(&s, "/s/web/aggregate?job=e2e").await.status, StatusCode::BAD_REQUEST);

    // Ten runs expected, three in: each test says what the other seven must bring (8 passes of 10 at 100 %).
    let partial = json_of(&s, "/api/v1/suites/web/batches?job=e2e&payload=p-new&expected=10").await;
    let test = |name: &str| partial["verdict"]["tests"].as_array().unwrap().iter().find(|t| t["name"] == name).unwrap().clone();
    assert_eq!(test("t_x")["still_needed"], json!({"state": "cannot_pass", "passes": 8, "runs": 7}));
    assert_eq!(test("t_y")["still_needed"], json!({"state": "needs", "passes": 5, "runs": 7}));
    assert!(test("t_x")["p_value"].as_f64().unwrap() < 0.05, "0 of 3 against a history of 100 %");
    let p = page(&s, "/s/web/aggregate?job=e2e&payload=p-new&expected=10").await;
    assert!(p.body.contains("can no longer pass: needs 8 more passes, 7 runs left") && p.body.contains("needs 5 more passes in 7 runs"));
    assert!(p.body.contains("Why this threshold?") && p.body.contains("<svg class=\"bullet\""), "the failing test is explained");
    let table = json_of(&s, "/api/v1/stats/required-passes?attempts=3&working_percentage=100").await;
    assert_eq!(table["rows"].as_array().unwrap().len(), 4);
    assert!(
        p.body.contains("/api/v1/stats/required-passes?attempts=3&amp;working_percentage=100")
            || p.body.contains("/api/v1/stats/required-passes?attempts=3&#38;working_percentage=100")
    );
    for bad in ["attempts=0&working_percentage=90", "attempts=5&working_percentage=101", "attempts=5", "attempts=201&working_percentage=90"]
    {
        let (st, body) = s.get(&format!("/api/v1/stats/required-passes?{bad}")).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    let path = "/s/web/compare?basis=branch:main&sample=branch:release";
    let p = page(&s, path).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let twin = json_of(&s, "/api/v1/suites/web/compare?basis=branch:main&sample=branch:release").await;
    let shown = data_json(&p.body);
    assert_eq!(shown.len(), 3);
    for (path, text) in shown {
        assert_eq!(first_number(&text), at(&twin, &path).as_f64().unwrap(), "{path}");
    }
    assert!(twin["scopes"].as_array().unwrap().iter().any(|c| c["scope"] == "tests.core"));
    assert_eq!(page(&s, "/s/web/compare?basis=7d..30d&sample=7d").await.status, StatusCode::BAD_REQUEST);
    // Branch and window together, and the thresholds, as the CLI takes them.
    let both = json_of(&s, "/api/v1/suites/web/compare?basis=main:90d&sample=release:90d&confidence=99&pity=2&min_fail=1").await;
    assert_eq!(both["total"], twin["total"], "every run is in the last 90 days");
    assert_eq!((both["confidence"].as_f64(), both["pity"].as_f64(), both["min_fail"].as_u64()), (Some(99.0), Some(2.0), Some(1)));
    let p = page(&s, "/s/web/compare?basis=main:90d&sample=release:90d&confidence=99&pity=2&min_fail=1").await;
    assert!(p.body.contains("--confidence 99 --pity 2 --min-fail 1"), "the CLI line carries the thresholds");
    for bad in ["confidence=100", "pity=-1", "min_fail=x"] {
        assert_eq!(page(&s, &format!("/s/web/compare?{bad}")).await.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    s.finish().await;
}

async fn the_flaky_page_ranks_and_explains(backend: Backend) {
    let s = Server::start(backend).await;
    // The retried upload of run k2 must join its run's part: a second to settle.
    let r = s
        .http
        .patch(format!("{}/api/v1/suites/web/settings", s.url))
        .header("Authorization", s.auth())
        .json(&json!({"settle_secs": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    seed(&s).await;
    for _ in 0..200 {
        if s.store.store.flaky().queue_depth(None).await.unwrap() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let twin = json_of(&s, "/api/v1/suites/web/flaky?branch=main&window=14d").await;
    let names: Vec<&str> = twin["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(twin["total"], 4, "{names:?}");
    let first = &twin["tests"][0];
    assert_eq!(
        (first["name"].as_str(), first["state"].as_str(), first["rule"].as_str()),
        (Some("t_sometimes"), Some("flaky"), Some("transition"))
    );
    let state = |n: &str| twin["tests"].as_array().unwrap().iter().find(|t| t["name"] == n).unwrap()["state"].as_str().unwrap().to_owned();
    assert_eq!(state("t_broken"), "broken");
    assert_eq!(state("t_flaky"), "new", "one retry flake does not decide");

    let p = page(&s, "/s/web/flaky?branch=main&window=14d").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("href=\"/api/v1/suites/web/flaky?branch=main&#38;window=14d"), "links its twin");
    for (path, text) in data_json(&p.body) {
        let want = at(&twin, &path).as_f64().unwrap();
        let want = if path.ends_with(".mean") { (want * 1000.0).round() / 10.0 } else { want };
        assert_eq!(first_number(&text), want, "{path} shows {text:?}");
    }
    assert!(!p.body.contains(HOSTILE_NAME) && p.body.contains("&#60;script&#62;alert(1)"), "the hostile name is text");
    assert!(p.body.contains("<svg class=\"chart\""), "the per-day chart");
    let sometimes = test_id(&s, "t_sometimes").await;
    let t = page(&s, &format!("/s/web/tests/{sometimes}?{VIEW}")).await;
    assert!(t.body.contains("Flaky since") && t.body.contains("failed between passing runs"), "the test page says why");
    let summary = json_of(&s, &format!("/api/v1/tests/{sometimes}/summary?{VIEW}")).await;
    assert_eq!(summary["tracked"]["state"], "flaky", "and its twin carries the state");
    assert_eq!(page(&s, "/s/web/flaky?branch=main&window=14d&state=odd").await.status, StatusCode::BAD_REQUEST);
    let empty = page(&s, "/s/web/flaky?branch=release&window=14d").await;
    assert!(empty.body.contains("No flaky or broken test on this branch"), "release is not a tracked branch: its runs feed *");
    s.finish().await;
}

async fn the_failures_pages_group_by_cause(backend: Backend) {
    let s = Server::start(backend).await;
    let runs = seed(&s).await;
    let twin = json_of(&s, "/api/v1/suites/web/clusters?window=14d").await;
    let titles: Vec<&str> = twin["clusters"].as_array().unwrap().iter().map(|c| c["title"].as_str().unwrap()).collect();
    // t_broken's "expected 3 but got {i}" differ only in a number: one cluster of 5 failures on main plus the release run.
    let broken = twin["clusters"].as_array().unwrap().iter().find(|c| c["title"] == "AssertionError: expected % but got %").unwrap();
    assert_eq!(broken["impact"]["14d"]["failures"], 6, "{titles:?}");
    let p = page(&s, "/s/web/failures?branch=main&window=14d").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("href=\"/api/v1/suites/web/clusters?window=14d"), "links its twin");
    let shown = data_json(&p.body);
    assert_eq!(shown.len(), titles.len());
    for (path, text) in shown {
        assert_eq!(first_number(&text), at(&twin, &path).as_f64().unwrap(), "{path}");
    }
    assert!(!p.body.contains(HOSTILE_REASON) && p.body.contains("&#60;/svg&#62;&#60;img"), "a hostile reason is text");
    let id = broken["id"].as_str().unwrap();
    let c = page(&s, &format!("/s/web/failures/{id}?branch=main&window=14d")).await;
    assert_eq!(c.status, StatusCode::OK);
    let detail = json_of(&s, &format!("/api/v1/suites/web/clusters/{id}?days=14")).await;
    for (path, text) in data_json(&c.body) {
        assert_eq!(first_number(&text), at(&detail, &path).as_f64().unwrap(), "{path}");
    }
    assert!(c.body.contains("t_broken") && c.body.contains("<svg class=\"chart\""));
    assert_eq!(page(&s, "/s/web/failures/0000?branch=main&window=14d").await.status, StatusCode::NOT_FOUND);
    // The run page names its causes, linked to their pages.
    let r = page(&s, &format!("/s/web/runs/{}?{VIEW}", runs[1])).await;
    assert!(r.body.contains(&format!("/s/web/failures/{id}?")), "the run page links the cluster");
    s.finish().await;
}

/// A suite's threshold on a batch metric fails the runs past it, in the
/// ReSim API and in the native report alike; a bad threshold is refused.
async fn batch_metric_thresholds_fail_report_batches(backend: Backend) {
    let s = Server::start(backend).await;
    let patch = |body: Value| {
        let (http, url, auth) = (s.http.clone(), format!("{}/api/v1/suites/web/settings", s.url), s.auth());
        async move { http.patch(url).header("Authorization", auth).json(&body).send().await.unwrap().status() }
    };
    assert_eq!(patch(json!({"batch_metric_thresholds": {"pass_rate": {}}})).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        patch(json!({"batch_metric_thresholds": {"pass_rate": {"fails_below": 1, "colour": 2}}})).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let set = json!({"batch_metric_thresholds": {"duration": {"fails_above": 5, "status": "FAIL_WARN"}, "disruption": {"fails_above": 1}}});
    assert_eq!(patch(set).await, StatusCode::OK);
    assert_eq!(
        patch(json!({"job_metric_thresholds": {"duration": {"fails_below": 3, "fails_above": 1}}})).await,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    // A job whose test took over 4 s: its duration metric fails, the job (a passed test) stays PASSED.
    assert_eq!(patch(json!({"job_metric_thresholds": {"duration": {"fails_above": 4}}})).await, StatusCode::OK);
    // Three passing runs: one slow (10 s), one with a named metric past its bound, one within both.
    for (key, secs) in [("slow", 10.0), ("disrupted", 1.0), ("fine", 1.0)] {
        let body = json!({"format": "json", "run_env": {"key": key, "branch": "main"}, "data": [{"name": "t", "result": "passed", "history": {"duration": secs}}]});
        let (st, reply) = s.post_json(&body).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{reply}");
        if key == "disrupted" {
            let (st, m) = s.post_metrics(&reply["run_id"], &s.token, &json!({"metrics": {"disruption": 3.0}})).await;
            assert_eq!(st.as_u16() / 100, 2, "{m}");
        }
    }
    let report = json_of(&s, &format!("/api/v1/suites/web/report?{VIEW}")).await;
    let status_of = |key: &str| report["batches"].as_array().unwrap().iter().find(|b| b["name"] == key).unwrap()["status"].clone();
    assert_eq!((status_of("slow"), status_of("disrupted"), status_of("fine")), (json!("WARNING"), json!("BLOCKER"), json!("PASSED")));
    assert_eq!(report["totals"]["fail_warn_batches"], 1);
    let counts = report["batch_metric_status_counts"].as_array().unwrap();
    let row = |n: &str| counts.iter().find(|r| r["name"] == n).cloned().unwrap();
    assert_eq!((row("duration")["fail_warn"].as_i64(), row("duration")["passed"].as_i64()), (Some(1), Some(2)));
    assert_eq!(row("disruption")["fail_block"].as_i64(), Some(1));
    let jobs = report["job_metric_status_counts"].as_array().unwrap();
    let duration = jobs.iter().find(|r| r["name"] == "duration").cloned().unwrap();
    assert_eq!((duration["fail_block"].as_i64(), duration["passed"].as_i64()), (Some(1), Some(2)), "{jobs:?}");
    // The same through ReSim's API: the batch list and one batch's metrics.
    let (_, suites) = s.get("/api/v1/suites").await;
    assert_eq!(suites.as_array().unwrap().len(), 1);
    let project = {
        let (st, reports) = s.get("/resim/v1/projects/00000000-0000-4000-8000-000000000000/reports").await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{reports}");
        let msg = reports["message"].as_str().unwrap().to_owned();
        msg.rsplit(' ').next().unwrap().to_owned()
    };
    let any_batch = report["batches"][0]["batch_id"].as_str().unwrap().to_owned();
    let (st, batch) = s.get(&format!("/resim/v1/projects/{project}/batches/{any_batch}")).await;
    assert_eq!(st, StatusCode::OK, "{batch}");
    let search = format!("test_suite_id = \"{}\"", batch["testSuiteID"].as_str().unwrap());
    let url = reqwest::Url::parse_with_params(&format!("{}/resim/v1/projects/{project}/batches", s.url), &[("search", search)]).unwrap();
    let listed: Value = s.http.get(url).send().await.unwrap().json().await.unwrap();
    let by_name = |n: &str| listed["batches"].as_array().unwrap().iter().find(|b| b["friendlyName"] == n).cloned().unwrap();
    assert_eq!(
        (by_name("slow")["batchMetricsStatus"].as_str(), by_name("slow")["conflatedStatus"].as_str()),
        (Some("FAIL_WARN"), Some("WARNING"))
    );
    assert_eq!(by_name("disrupted")["batchMetricsStatus"].as_str(), Some("FAIL_BLOCK"));
    assert_eq!(by_name("fine")["conflatedStatus"].as_str(), Some("COMPLETE"));
    let slow = by_name("slow")["batchID"].as_str().unwrap().to_owned();
    let (_, metrics) = s.get(&format!("/resim/v1/projects/{project}/batches/{slow}/metrics")).await;
    let duration = metrics["batchMetrics"].as_array().unwrap().iter().find(|m| m["name"] == "duration").cloned().unwrap();
    assert_eq!((duration["value"].as_f64(), duration["status"].as_str()), (Some(10.0), Some("FAIL_WARN")));
    let (_, jobs) = s.get(&format!("/resim/v1/projects/{project}/batches/{slow}/jobs")).await;
    let job = &jobs["jobs"][0];
    assert_eq!(job["conflatedStatus"], "PASSED", "a job metric's threshold marks the metric, not the job");
    let (_, metrics) = s.get(&format!("/resim/v1/projects/{project}/batches/{slow}/jobs/{}/metrics", job["jobID"].as_str().unwrap())).await;
    let duration = metrics["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "duration").cloned().unwrap();
    assert_eq!((duration["value"].as_f64(), duration["status"].as_str()), (Some(10.0), Some("FAIL_BLOCK")));
    s.finish().await;
}

/// A report-metrics program's file as `verdict report run` stores it: one
/// metric of each kind the page shows (hostile names and text included)
/// and one it does not draw.
fn program_file() -> Vec<u8> {
    use prost::Message;
    use verdict_formats::resim_metrics::pb::{self, metric_values::MetricValues as V};
    use verdict_formats::resim_metrics::resim::proto::Uuid;
    let id = |n: u8| Some(Uuid { data: format!("00000000-0000-4000-8000-0000000000{n:02x}") });
    let job = pb::JobId { id: id(0xff) };
    let data = |n: u8, name: &str, t: pb::MetricsDataType, series: pb::series::Series| pb::MetricsData {
        metrics_data_id: Some(pb::MetricsDataId { id: id(n) }),
        data_type: t as i32,
        name: name.into(),
        data: Some(pb::metrics_data::Data::Series(pb::Series { series: Some(series) })),
        ..Default::default()
    };
    let plotly = |json: &str| {
        let figure = verdict_formats::resim_metrics::json_struct(serde_json::from_str(json).unwrap());
        V::PlotlyMetricValues(pb::PlotlyMetricValues { json: figure })
    };
    let metric = |n: u8, name: &str, t: pb::MetricType, status: pb::MetricStatus, values: V| pb::Metric {
        metric_id: Some(pb::MetricId { id: id(n) }),
        name: name.into(),
        r#type: t as i32,
        description: format!("about {name}"),
        status: status as i32,
        importance: pb::MetricImportance::HighImportance as i32,
        metric_values: Some(pb::MetricValues { metric_values: Some(values) }),
        parent_id: Some(pb::metric::ParentId::JobId(job.clone())),
        order: Some(f32::from(n)),
        should_display: Some(true),
        ..Default::default()
    };
    use pb::{MetricStatus as S, MetricType as T};
    let metrics = vec![
        metric(
            1,
            HOSTILE_NAME,
            T::ScalarMetricType,
            S::FailWarnMetricStatus,
            V::ScalarMetricValues(pb::ScalarMetricValues { value: Some(2.5), unit: Some("m".into()), failure_definition: None }),
        ),
        metric(
            2,
            "notes",
            T::TextMetricType,
            S::PassedMetricStatus,
            V::TextMetricValues(pb::TextMetricValues { text: format!("# Notes\n\n**ok** {HOSTILE_REASON} [click](javascript:alert(1))") }),
        ),
        metric(
            3,
            "totals",
            T::PlotlyMetricType,
            S::NotApplicableMetricStatus,
            plotly(&format!(
                r#"{{"data":[{{"type":"table","header":{{"values":["Name","Value"]}},"cells":{{"values":[["runs","{HOSTILE_REASON}"],[4,2]]}}}}]}}"#
            )),
        ),
        metric(
            4,
            "trend",
            T::PlotlyMetricType,
            S::NotApplicableMetricStatus,
            plotly(
                r#"{"layout":{"xaxis":{"title":{"text":"Time"}}},"data":[{"type":"scatter","name":"</svg>","x":["2024-03-03 02:00:00+00:00","2024-03-10 02:00:00+00:00"],"y":{"dtype":"f8","bdata":"AAAAAAAA9j8AAAAAAAADQA=="}}]}"#,
            ),
        ),
        metric(
            5,
            "spread",
            T::HistogramMetricType,
            S::PassedMetricStatus,
            V::HistogramMetricValues(pb::HistogramMetricValues {
                values_data_id: Some(pb::MetricsDataId { id: id(0x10) }),
                statuses_data_id: Some(pb::MetricsDataId { id: id(0x11) }),
                buckets: vec![pb::histogram_metric_values::Bucket { lower: Some(0.0), upper: Some(1.0) }],
                lower_bound: Some(0.0),
                upper_bound: Some(1.0),
                x_axis_name: None,
            }),
        ),
    ];
    pb::JobMetrics {
        job_id: Some(job),
        job_level_metrics: Some(pb::MetricCollection { metrics, metrics_status: S::FailWarnMetricStatus as i32 }),
        metrics_data: vec![
            data(
                0x10,
                "spread values",
                pb::MetricsDataType::DoubleSeriesDataType,
                pb::series::Series::Doubles(pb::DoubleSeries { series: vec![0.5] }),
            ),
            data(
                0x11,
                "spread statuses",
                pb::MetricsDataType::MetricStatusSeriesDataType,
                pb::series::Series::Statuses(pb::MetricStatusSeries { series: vec![S::PassedMetricStatus as i32] }),
            ),
        ],
        metrics_status: S::FailWarnMetricStatus as i32,
        events: vec![],
    }
    .encode_to_vec()
}

/// `verdict report run`'s store step: a valid file is kept and shown on the
/// report page (escaped), in the twin and in ReSim's reportMetrics; an
/// invalid one is refused and changes nothing.
async fn program_metrics_show_on_the_report_page(backend: Backend) {
    use verdict_analysis::resim;
    let s = Server::start(backend).await;
    seed(&s).await;
    let store = s.store.store.as_ref();
    let suite = store.suites().await.unwrap().into_iter().find(|x| x.slug == "web").unwrap();
    let ask = resim::ReportAsk {
        branch: "main".into(),
        name: Some("nightly".into()),
        start_ms: 0,
        end_ms: chrono::Utc::now().timestamp_millis() + 86_400_000,
        respect_revision: false,
    };
    let r = resim::create_report(store, &suite, ask, 1).await.unwrap();
    let p = resim::Project::of(store).await.unwrap();
    let empty = page(&s, &format!("/reports/{}", r.id)).await;
    assert!(
        empty.body.contains("No report-metrics program has run for this report yet"),
        "an empty state says what to run: {} {}",
        empty.status,
        &empty.body[empty.body.find("<main").unwrap_or(0)..]
    );
    let shown = resim::store_program_metrics(store, &p, &r, program_file(), 1_000).await.unwrap();
    assert_eq!((shown.metrics.len(), shown.status.as_str()), (5, "FAIL_WARN"));
    let mut broken = program_file();
    broken.truncate(broken.len() - 3);
    let refused = resim::store_program_metrics(store, &p, &r, broken, 2_000).await.unwrap_err().to_string();
    assert!(refused.starts_with("metrics.binproto: "), "{refused}");

    let twin = json_of(&s, &format!("/api/v1/reports/{}", r.id)).await;
    assert_eq!(twin["metrics_status"], "FAIL_WARN");
    assert_eq!(twin["metrics_stored"], "1970-01-01T00:00:01.000Z", "the refused file changed nothing");
    let kinds: Vec<&str> =
        twin["program_metrics"]["metrics"].as_array().unwrap().iter().map(|m| m["shown"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["scalar", "text", "table", "chart", "not_shown"]);
    let rows = json_of(&s, &format!("/resim/v1/projects/{}/reports/{}/metrics", p.id(), r.id)).await;
    let first = &rows["reportMetrics"][0];
    assert_eq!((first["type"].as_str(), first["value"].as_f64(), first["unit"].as_str()), (Some("SCALAR"), Some(2.5), Some("m")));
    assert_eq!(rows["reportMetrics"][1]["type"], "COMPOSITE");

    let shown = page(&s, &format!("/reports/{}", r.id)).await;
    assert_eq!(shown.status, StatusCode::OK);
    let body = &shown.body;
    for name in ["notes", "totals", "trend", "spread"] {
        assert!(body.contains(&format!(r#"<h3 class="metric">{name} "#)), "{name} is shown");
    }
    assert!(body.contains("2.5 m") && body.contains("<h1>Notes</h1>") && body.contains("<strong>ok</strong>"));
    assert!(body.contains("<td>runs</td><td>4</td>"), "the table's cells");
    assert!(body.contains("Not drawn: HISTOGRAM_METRIC_TYPE"), "a type not drawn is named");
    assert!(body.contains("<desc>about trend</desc>"), "the figure is drawn");
    for hostile in [HOSTILE_NAME, HOSTILE_REASON, "</svg>\""] {
        assert!(!body.contains(hostile), "{hostile} stays text: {}", &body[body.find(hostile).unwrap().saturating_sub(300)..][..400]);
    }
    assert!(!body.contains("href=\"javascript"), "no script link");
    assert!(body.contains("FAIL_WARN</span> · 5 metrics"), "the file's status and size");
    // The suite's report page lists it, as its twin does.
    let listed = json_of(&s, "/api/v1/suites/web/reports").await;
    assert_eq!((listed[0]["name"].as_str(), listed[0]["metrics_status"].as_str()), (Some("nightly"), Some("FAIL_WARN")));
    let list_page = page(&s, &format!("/s/web/report?{VIEW}")).await;
    let href = listed[0]["page"].as_str().unwrap().replace('&', "&#38;");
    assert!(list_page.body.contains(&format!(r#"<a href="{href}">nightly</a>"#)), "the page links the stored report");
    s.finish().await;
}
