//! One behaviour, two backends: every scenario here runs against a fresh
//! SQLite file and a fresh PostgreSQL schema. PostgreSQL must be reachable
//! (VERDICT_TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test):
//! these tests fail, loudly, when it is not.

use std::sync::Arc;
use verdict_core::{ExecutionRecord, FailureDetail, Outcome, RunEnv, RunResult, SuiteSlug, TagMap, Upload};
use verdict_store::testing::{Backend, TestStore};
use verdict_store::*;

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let f = TestStore::new(Backend::Sqlite).await; super::$name(f.store.clone()).await; f.cleanup().await; } )* }
        mod postgres { use super::*; $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let f = TestStore::new(Backend::Postgres).await; super::$name(f.store.clone()).await; f.cleanup().await; } )* }
    };
}

conformance!(
    suites_and_tokens,
    uploads_with_one_key_merge_into_one_run,
    tests_are_identified_by_scope_and_name,
    executions_keep_their_details,
    test_stats_use_rollups_and_durations,
    runs_filter_and_page_newest_first,
    runs_carry_job_and_payload_labels,
    batches_and_job_history_for_aggregation,
    an_upload_to_a_missing_suite_stores_nothing,
    concurrent_uploads_count_exactly,
    run_metrics_are_set_read_and_selected,
    monitor_pages_and_counts_stay_exact_as_samples_arrive,
    monitor_samples_from_concurrent_writers_all_land_and_a_refused_one_leaves_none,
    identity_columns_hold_the_longest_accepted_values,
    monitor_fields_hold_the_longest_accepted_values,
    list_pages_carry_a_bounded_part_of_each_result,
    run_counts_are_kept_as_uploads_arrive,
    dashboard_reads_give_series_cells_points_and_rollups,
    suite_link_templates_are_set_and_cleared,
    imported_uploads_carry_their_time,
    controls_are_set_listed_expired_and_kept_as_events,
    auto_quarantine_mutes_flaky_tests_in_the_analysis_step,
    webhook_messages_are_written_with_their_change_and_deliveries_are_claimed_leased_and_logged,
    owners_files_are_versioned_and_owners_reach_lists_and_events,
    cluster_spikes_are_announced_once_a_day,
    reports_and_the_rows_resim_reads,
);

/// Scenarios that also look at the store's own tables.
macro_rules! conformance_raw {
    ($($name:ident),* $(,)?) => {
        mod sqlite_raw { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let f = super::TestStore::new(super::Backend::Sqlite).await; super::$name(&f).await; f.cleanup().await; } )* }
        mod postgres_raw { $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() {
            let f = super::TestStore::new(super::Backend::Postgres).await; super::$name(&f).await; f.cleanup().await; } )* }
    };
}

conformance_raw!(quiet_tracks_skip_clean_runs_and_reads_catch_them_up, retention_cuts_raw_history_and_keeps_rollups);

/// `expire_history`: executions and pytest-monitor samples older than the cut
/// go in batches, oldest first; the rollups (and what reads them), runs and
/// their per-test results stay as they were; a second pass finds nothing.
async fn retention_cuts_raw_history_and_keeps_rollups(f: &TestStore) {
    let store = &f.store;
    let s = suite(store, "kept").await;
    let day = 86_400_000;
    let now = chrono::Utc::now().timestamp_millis();
    for (i, age_days) in [40, 30, 20, 1].into_iter().enumerate() {
        let execs = vec![
            exec("s", "a", Outcome::Passed, Some(1.0)),
            exec("s", "b", if i % 2 == 0 { Outcome::Failed } else { Outcome::Passed }, Some(2.0)),
        ];
        store.import_upload(s.id, upload(&format!("r{i}"), Some("main"), Some("c"), execs), now - age_days * day).await.unwrap();
    }
    let m = store.monitor();
    m.add_context(s.id, monitor_context()).await.unwrap();
    m.add_session(s.id, monitor_session("s1")).await.unwrap();
    // Past the size whose counts the SQLite store carries forward (1,000).
    for i in 0..1_100 {
        m.add_metric(s.id, monitor_sample(i, "s1")).await.unwrap();
    }
    let filter = TestFilter { days: 90, branch: Some("main".into()), page: Page::new(1, 100), only: None };
    let counts = |v: Vec<verdict_store::TestStats>| {
        v.into_iter().map(|t| (t.test.name, format!("{:?}", t.counts), t.executions, t.flaky)).collect::<Vec<_>>()
    };
    let before = counts(store.tests(s.id, &filter).await.unwrap());
    let runs_before = store.runs(s.id, &RunFilter::default()).await.unwrap().len();
    assert_eq!(f.scalar("SELECT count(*) FROM executions").await, 8);
    // Cut at 25 days: the 40- and 30-day-old runs' 4 executions go, 3 at a time.
    let cut = now - 25 * day;
    assert_eq!(store.expire_history(cut, 3).await.unwrap(), (3, 0));
    assert_eq!(store.expire_history(cut, 3).await.unwrap(), (1, 0));
    assert_eq!(store.expire_history(cut, 3).await.unwrap(), (0, 0));
    assert_eq!(f.scalar(&format!("SELECT count(*) FROM executions WHERE created_at < {cut}")).await, 0);
    assert_eq!(f.scalar("SELECT count(*) FROM executions").await, 4, "the raw history stops at the cut");
    assert_eq!(counts(store.tests(s.id, &filter).await.unwrap()), before, "what the rollups say is unchanged");
    assert_eq!(store.runs(s.id, &RunFilter::default()).await.unwrap().len(), runs_before, "the runs stay");
    assert_eq!(f.scalar("SELECT count(*) FROM run_tests").await, 8, "and their per-test results");
    // Samples: a cut after they arrived takes them all, oldest first; a count
    // kept from before (SQLite carries large ones forward) follows each batch.
    use verdict_store::monitor::{MetricFilter, MonitorList};
    let all = MonitorList::Metrics(MetricFilter::All);
    assert_eq!(m.count(s.id, &all).await.unwrap(), 1_100);
    let later = chrono::Utc::now().timestamp_millis() + 1;
    assert_eq!(store.expire_history(later, 500).await.unwrap(), (4, 500));
    assert_eq!(m.count(s.id, &all).await.unwrap(), 600, "a count follows a deletion");
    assert_eq!(store.expire_history(later, 500).await.unwrap(), (0, 500));
    assert_eq!(store.expire_history(later, 500).await.unwrap(), (0, 100));
    assert_eq!(store.expire_history(later, 500).await.unwrap(), (0, 0));
    assert_eq!(m.count(s.id, &all).await.unwrap(), 0);
}

async fn suite(store: &Arc<dyn Store>, slug: &str) -> Suite {
    store
        .create_suite(NewSuite {
            slug: SuiteSlug::parse(slug).unwrap(),
            name: format!("Suite {slug}"),
            default_branch: "main".into(),
            token_hash: token::hash(&format!("token-{slug}")),
        })
        .await
        .unwrap()
}

fn exec(scope: &str, name: &str, outcome: Outcome, duration: Option<f64>) -> ExecutionRecord {
    let mut e = ExecutionRecord::new(scope, name, outcome);
    e.duration = duration;
    e
}

fn upload(key: &str, branch: Option<&str>, commit: Option<&str>, executions: Vec<ExecutionRecord>) -> Upload {
    Upload {
        format: "json".into(),
        run_env: RunEnv {
            key: key.into(),
            branch: branch.map(Into::into),
            commit_sha: commit.map(Into::into),
            url: Some(format!("https://ci.example/{key}")),
            ..Default::default()
        },
        tags: TagMap::new(),
        executions,
        skipped: Default::default(),
    }
}

async fn suites_and_tokens(store: Arc<dyn Store>) {
    let a = suite(&store, "alpha").await;
    suite(&store, "beta").await;
    let dup = store
        .create_suite(NewSuite {
            slug: SuiteSlug::parse("alpha").unwrap(),
            name: "x".into(),
            default_branch: "main".into(),
            token_hash: "h".into(),
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let all: Vec<String> = store.suites().await.unwrap().into_iter().map(|s| s.slug).collect();
    assert_eq!(all, vec!["alpha", "beta"]);
    assert_eq!(store.suite_by_slug("alpha").await.unwrap().unwrap(), a);
    assert_eq!(store.suite_by_token_hash(&token::hash("token-alpha")).await.unwrap().unwrap().id, a.id);

    store.set_token_hash("alpha", &token::hash("new")).await.unwrap();
    assert!(store.suite_by_token_hash(&token::hash("token-alpha")).await.unwrap().is_none(), "old token revoked");
    assert_eq!(store.suite_by_token_hash(&token::hash("new")).await.unwrap().unwrap().id, a.id);
    assert!(matches!(store.set_token_hash("nope", "h").await, Err(StoreError::NotFound(_))));
}

async fn uploads_with_one_key_merge_into_one_run(store: Arc<dyn Store>) {
    let s = suite(&store, "merge").await;
    let first = store
        .write_upload(s.id, upload("build-1", Some("main"), Some("abc"), vec![exec("a", "skipped", Outcome::Skipped, None)]))
        .await
        .unwrap();
    assert_eq!(first.queued, 1);
    assert_eq!(store.run(first.run_id).await.unwrap().unwrap().run.result, "pending");

    let second = store.write_upload(s.id, upload("build-1", None, None, vec![exec("a", "ok", Outcome::Passed, Some(1.0))])).await.unwrap();
    assert_eq!(second.run_id, first.run_id, "same key, same run");
    assert_ne!(second.upload_id, first.upload_id);
    assert_eq!(store.run(first.run_id).await.unwrap().unwrap().run.result, "passed");

    store
        .write_upload(
            s.id,
            upload("build-1", None, None, vec![exec("a", "bad", Outcome::Failed, None), exec("a", "ok", Outcome::Passed, None)]),
        )
        .await
        .unwrap();
    // A later passing upload never turns a failed run green.
    store.write_upload(s.id, upload("build-1", None, None, vec![exec("a", "ok", Outcome::Passed, None)])).await.unwrap();

    let run = store.run(first.run_id).await.unwrap().unwrap();
    assert_eq!((run.run.result.as_str(), run.run.state.as_str(), run.run.uploads), ("failed", "finished", 4));
    assert_eq!(run.run.run_env.branch.as_deref(), Some("main"), "later uploads without a branch keep it");
    assert_eq!(run.run.run_env.commit_sha.as_deref(), Some("abc"));
    assert_eq!(run.counts, Counts { passed: 3, failed: 1, skipped: 1, pending: 0, unknown: 0 });
    assert_eq!(run.total, 5);

    let other =
        store.write_upload(s.id, upload("build-2", Some("main"), None, vec![exec("a", "ok", Outcome::Passed, None)])).await.unwrap();
    assert_ne!(other.run_id, first.run_id);
    let _ = RunResult::Pending;
}

async fn tests_are_identified_by_scope_and_name(store: Arc<dyn Store>) {
    let s = suite(&store, "ident").await;
    let t = suite(&store, "other").await;
    for (i, key) in ["r1", "r2", "r3"].iter().enumerate() {
        let mut e = exec("scope/a", "same", if i == 1 { Outcome::Failed } else { Outcome::Passed }, Some(i as f64));
        e.location = Some(format!("a.py:{i}"));
        store
            .write_upload(
                s.id,
                upload(key, Some("main"), Some(&format!("sha{i}")), vec![e, exec("scope/b", "same", Outcome::Passed, None)]),
            )
            .await
            .unwrap();
    }
    store.write_upload(t.id, upload("r1", None, None, vec![exec("scope/a", "same", Outcome::Passed, None)])).await.unwrap();

    let tests = store.tests(s.id, &TestFilter::default()).await.unwrap();
    assert_eq!(
        tests.iter().map(|t| (t.test.scope.as_str(), t.test.name.as_str())).collect::<Vec<_>>(),
        vec![("scope/a", "same"), ("scope/b", "same")]
    );
    let a = &tests[0];
    assert_eq!(a.test.location.as_deref(), Some("a.py:2"), "location as last seen");
    assert_eq!(store.tests(t.id, &TestFilter::default()).await.unwrap().len(), 1, "suites do not share tests");

    let history = store.test_history(a.test.id, &HistoryFilter::default(), Page::default()).await.unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history.iter().map(|h| h.commit_sha.clone().unwrap()).collect::<Vec<_>>(), vec!["sha2", "sha1", "sha0"], "newest first");
    assert_eq!(history[1].result, Outcome::Failed);
    assert_eq!(history[0].url.as_deref(), Some("https://ci.example/r3"));
    assert_eq!(store.test_history(a.test.id, &HistoryFilter::default(), Page::new(2, 2)).await.unwrap().len(), 1);
    assert_eq!(store.test(a.test.id).await.unwrap().unwrap().name, "same");
    assert!(store.test(999_999).await.unwrap().is_none());
}

async fn executions_keep_their_details(store: Arc<dyn Store>) {
    let s = suite(&store, "detail").await;
    let mut failed = exec("s", "boom", Outcome::Failed, Some(0.25));
    failed.failure_reason = Some("AssertionError: ünïcode".into());
    failed.failure_expanded = vec![FailureDetail { expanded: vec!["line 1".into()], backtrace: vec!["f.py:3".into()] }];
    failed.spans = Some(serde_json::json!([{"section": "sql", "duration": 0.1, "detail": {"query": "SELECT 1"}}]));
    failed.tags.insert("team".into(), "web".into());
    failed.system_out = Some("out".into());
    failed.attempt = 2;
    let r = store
        .write_upload(s.id, {
            // Upload-level tags apply to every execution; an execution's own tags win.
            let mut up = upload("k", None, None, vec![failed, exec("s", "fine", Outcome::Passed, None)]);
            up.tags = [("team", "platform"), ("ci.worker.id", "7")].into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            up
        })
        .await
        .unwrap();

    let only_failed = store.run_executions(r.run_id, Some(Outcome::Failed), Page::default()).await.unwrap();
    assert_eq!(only_failed.len(), 1);
    let e = &only_failed[0];
    assert_eq!((e.name.as_str(), e.duration, e.attempt), ("boom", Some(0.25), 2));
    assert_eq!(e.failure_reason.as_deref(), Some("AssertionError: ünïcode"));
    let d = e.detail.as_ref().unwrap();
    assert_eq!(d["failure_expanded"][0]["backtrace"][0], "f.py:3");
    assert_eq!(d["spans"][0]["detail"]["query"], "SELECT 1");
    assert!(d.get("system_out").is_none() && e.has_output && !e.detail_omitted, "output is not in a list: {d}");
    let output = store.execution_output(e.id).await.unwrap().unwrap();
    assert_eq!((output.system_out.as_deref(), output.system_err), (Some("out"), None));
    assert_eq!(store.execution(e.id).await.unwrap().as_ref(), Some(e), "the one result reads as listed (nothing was cut)");
    assert!(store.execution(999_999).await.unwrap().is_none() && store.execution_output(999_999).await.unwrap().is_none());
    assert_eq!(e.tags.get("team").map(String::as_str), Some("web"));
    assert_eq!(e.tags.get("ci.worker.id").map(String::as_str), Some("7"), "upload tags reach the execution");
    let fine = store.run_executions(r.run_id, Some(Outcome::Passed), Page::default()).await.unwrap();
    assert_eq!(fine[0].tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(store.run_executions(r.run_id, None, Page::default()).await.unwrap().len(), 2);
    assert!(store.run_executions(r.run_id, Some(Outcome::Pending), Page::default()).await.unwrap().is_empty());
}

async fn test_stats_use_rollups_and_durations(store: Arc<dyn Store>) {
    let s = suite(&store, "stats").await;
    // Run 1 on main: the test fails then passes on retry (attempt 1: a flake), plus 8 passes over 3 more runs.
    let retry = ExecutionRecord { attempt: 1, ..exec("s", "t", Outcome::Passed, Some(2.0)) };
    store.write_upload(s.id, upload("r1", Some("main"), None, vec![exec("s", "t", Outcome::Failed, Some(4.0)), retry])).await.unwrap();
    for (i, key) in ["r2", "r3", "r4"].iter().enumerate() {
        let execs = (0..3).map(|j| exec("s", "t", Outcome::Passed, Some((i * 3 + j) as f64 / 10.0))).collect();
        store.write_upload(s.id, upload(key, Some("main"), None, execs)).await.unwrap();
    }
    store
        .write_upload(
            s.id,
            upload("f1", Some("feature"), None, vec![exec("s", "t", Outcome::Failed, Some(100.0)), exec("s", "t", Outcome::Skipped, None)]),
        )
        .await
        .unwrap();

    let all = &store.tests(s.id, &TestFilter { days: 7, ..Default::default() }).await.unwrap()[0];
    assert_eq!(all.counts, Counts { passed: 10, failed: 2, skipped: 1, pending: 0, unknown: 0 });
    assert_eq!((all.executions, all.flaky), (13, 1));
    let rel = all.reliability.unwrap();
    assert_eq!((rel.successes, rel.trials), (10, 12));
    assert!(rel.low < rel.rate && rel.rate < rel.high);

    let main = &store.tests(s.id, &TestFilter { days: 7, branch: Some("main".into()), ..Default::default() }).await.unwrap()[0];
    assert_eq!((main.counts.passed, main.counts.failed), (10, 1));
    // Durations on main: 4.0, 2.0, 0.0..0.8 → 11 values, median 0.5 (sorted: 0,.1,.2,.3,.4,.5,.6,.7,.8,2,4).
    assert_eq!(main.duration_p50, Some(0.5));
    assert!((main.duration_p95.unwrap() - 3.0).abs() < 1e-9, "{:?}", main.duration_p95);

    let nothing = store.tests(s.id, &TestFilter { days: 7, branch: Some("nope".into()), ..Default::default() }).await.unwrap();
    assert_eq!(nothing[0].executions, 0);
    assert!(nothing[0].reliability.is_none() && nothing[0].duration_p50.is_none());
    let run1 = store.runs(s.id, &RunFilter { branch: Some("main".into()), ..Default::default() }).await.unwrap().pop().unwrap();
    assert_eq!(store.run(run1.id).await.unwrap().unwrap().flaky, 1);
}

async fn runs_filter_and_page_newest_first(store: Arc<dyn Store>) {
    let s = suite(&store, "runs").await;
    for i in 0..5 {
        let outcome = if i % 2 == 0 { Outcome::Passed } else { Outcome::Failed };
        let branch = if i < 3 { "main" } else { "dev" };
        store
            .write_upload(s.id, upload(&format!("k{i}"), Some(branch), Some(&format!("c{i}")), vec![exec("s", "t", outcome, None)]))
            .await
            .unwrap();
    }
    let keys = |runs: Vec<Run>| runs.into_iter().map(|r| r.run_env.key).collect::<Vec<_>>();
    assert_eq!(keys(store.runs(s.id, &RunFilter::default()).await.unwrap()), vec!["k4", "k3", "k2", "k1", "k0"]);
    assert_eq!(
        keys(store.runs(s.id, &RunFilter { branch: Some("main".into()), ..Default::default() }).await.unwrap()),
        vec!["k2", "k1", "k0"]
    );
    assert_eq!(keys(store.runs(s.id, &RunFilter { commit_sha: Some("c3".into()), ..Default::default() }).await.unwrap()), vec!["k3"]);
    assert_eq!(keys(store.runs(s.id, &RunFilter { key: Some("k2".into()), ..Default::default() }).await.unwrap()), vec!["k2"]);
    assert_eq!(
        keys(store.runs(s.id, &RunFilter { result: Some(RunResult::Failed), ..Default::default() }).await.unwrap()),
        vec!["k3", "k1"]
    );
    assert_eq!(keys(store.runs(s.id, &RunFilter { page: Page::new(2, 2), ..Default::default() }).await.unwrap()), vec!["k2", "k1"]);
    assert!(store.run(123_456).await.unwrap().is_none());
}

async fn an_upload_to_a_missing_suite_stores_nothing(store: Arc<dyn Store>) {
    let s = suite(&store, "real").await;
    let err = store.write_upload(s.id + 1000, upload("k", None, None, vec![exec("s", "t", Outcome::Passed, None)])).await;
    assert!(err.is_err(), "{err:?}");
    // The store still works, and nothing leaked into the real suite.
    store.write_upload(s.id, upload("k", None, None, vec![exec("s", "t", Outcome::Passed, None)])).await.unwrap();
    let runs = store.runs(s.id, &RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(store.run(runs[0].id).await.unwrap().unwrap().total, 1);
}

async fn concurrent_uploads_count_exactly(store: Arc<dyn Store>) {
    let s = suite(&store, "load").await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                // Overlapping tests in reversed orders, two shared run keys: the worst case for locks.
                let mut execs: Vec<_> = (0..50).map(|t| exec("shared", &format!("t{t}"), Outcome::Passed, Some(0.1))).collect();
                if w % 2 == 1 {
                    execs.reverse();
                }
                execs.push(exec("own", &format!("w{w}"), Outcome::Failed, None));
                store.write_upload(s.id, upload(&format!("run-{}", i % 2), Some("main"), None, execs)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let runs = store.runs(s.id, &RunFilter::default()).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs.iter().map(|r| r.uploads).sum::<i64>(), 80);
    let tests = store.tests(s.id, &TestFilter { days: 1, page: Page::new(1, 500), ..Default::default() }).await.unwrap();
    assert_eq!(tests.len(), 58);
    for t in &tests {
        let want = if t.test.scope == "shared" { (80, 0) } else { (0, 10) };
        assert_eq!((t.counts.passed, t.counts.failed), want, "{}", t.test.name);
    }
}

async fn runs_carry_job_and_payload_labels(store: Arc<dyn Store>) {
    let s = suite(&store, "labels").await;
    let labelled = |key: &str, job: Option<&str>, payload: Option<&str>| {
        let mut up = upload(key, Some("main"), None, vec![exec("s", "t", Outcome::Passed, None)]);
        up.run_env.job = job.map(Into::into);
        up.run_env.payload = payload.map(Into::into);
        up
    };
    for (i, job) in ["e2e-aws", "e2e-aws", "e2e-gcp"].iter().enumerate() {
        store.write_upload(s.id, labelled(&format!("k{i}"), Some(job), Some("4.16.0-rc.1"))).await.unwrap();
    }
    store.write_upload(s.id, labelled("k3", Some("e2e-aws"), Some("4.16.0-rc.2"))).await.unwrap();
    // A later upload without labels keeps them; one with labels fills them in.
    store.write_upload(s.id, labelled("k0", None, None)).await.unwrap();
    store.write_upload(s.id, labelled("k4", None, None)).await.unwrap();
    store.write_upload(s.id, labelled("k4", Some("e2e-gcp"), Some("4.16.0-rc.2"))).await.unwrap();
    let keys = |f: RunFilter| {
        let store = store.clone();
        async move {
            let mut k: Vec<String> = store.runs(s.id, &f).await.unwrap().into_iter().map(|r| r.run_env.key).collect();
            k.sort();
            k
        }
    };
    let batch = RunFilter { job: Some("e2e-aws".into()), payload: Some("4.16.0-rc.1".into()), ..Default::default() };
    assert_eq!(keys(batch).await, vec!["k0", "k1"]);
    assert_eq!(keys(RunFilter { job: Some("e2e-gcp".into()), ..Default::default() }).await, vec!["k2", "k4"]);
    assert_eq!(keys(RunFilter { payload: Some("4.16.0-rc.2".into()), ..Default::default() }).await, vec!["k3", "k4"]);
    let run = store
        .runs(s.id, &RunFilter { job: Some("e2e-gcp".into()), payload: Some("4.16.0-rc.2".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!((run[0].run_env.job.as_deref(), run[0].run_env.payload.as_deref()), (Some("e2e-gcp"), Some("4.16.0-rc.2")));
}

async fn batches_and_job_history_for_aggregation(store: Arc<dyn Store>) {
    let s = suite(&store, "agg").await;
    let run = |key: &str, job: &str, payload: &str, execs: Vec<ExecutionRecord>| {
        let mut up = upload(key, Some("main"), None, execs);
        up.run_env.job = Some(job.into());
        up.run_env.payload = Some(payload.into());
        up
    };
    use Outcome::{Failed as F, Passed as P};
    // History of job e2e: A always passes; B fails in h0, flakes in h1, passes after; C always fails.
    for i in 0..5 {
        let mut execs = vec![exec("s", "A", P, None), exec("s", "C", F, None)];
        match i {
            0 => execs.push(exec("s", "B", F, None)),
            1 => {
                // A flake split over two uploads of one run still counts once, as a flake.
                execs.push(exec("s", "B", F, None));
                store.write_upload(s.id, run("h1", "e2e", "p-old", vec![exec("s", "B", P, None)])).await.unwrap();
            }
            _ => execs.push(exec("s", "B", P, None)),
        }
        store.write_upload(s.id, run(&format!("h{i}"), "e2e", "p-old", execs)).await.unwrap();
    }
    // Another job, and the batch being judged: neither is history of e2e.
    store.write_upload(s.id, run("o0", "other", "p-old", vec![exec("s", "A", F, None)])).await.unwrap();
    store.write_upload(s.id, run("n0", "e2e", "p-new", vec![exec("s", "A", F, None), exec("s", "B", P, None)])).await.unwrap();
    store.write_upload(s.id, run("n1", "e2e", "p-new", vec![exec("s", "A", P, None)])).await.unwrap();

    let batch = store.batch_results(s.id, "e2e", "p-new").await.unwrap();
    let got: Vec<(&str, &str, Outcome)> = batch.iter().map(|b| (b.run_key.as_str(), b.name.as_str(), b.outcome)).collect();
    assert_eq!(got, vec![("n0", "A", F), ("n0", "B", P), ("n1", "A", P)]);
    assert!(store.batch_results(s.id, "e2e", "nope").await.unwrap().is_empty());

    let job = |since_ms: i64, max_runs: i64| RunSelection {
        job: Some("e2e".into()),
        exclude_payload: Some("p-new".into()),
        since_ms,
        max_runs,
        ..RunSelection::default()
    };
    let history = store.test_records(s.id, &job(0, 200)).await.unwrap();
    let h = |name: &str| history.iter().find(|h| h.name == name).cloned().unwrap();
    assert_eq!((h("A").passed, h("A").failed, h("A").flaked), (5, 0, 0), "the judged runs and other jobs are left out");
    assert_eq!((h("B").passed, h("B").failed, h("B").flaked), (3, 1, 1));
    assert_eq!(h("B").working_percentage(), Some(80.0), "flakes count as working");
    assert_eq!(h("C").working_percentage(), Some(0.0));
    let newest = store.test_records(s.id, &job(0, 3)).await.unwrap();
    assert_eq!(newest.iter().find(|h| h.name == "B").map(|h| (h.passed, h.failed, h.flaked)), Some((3, 0, 0)), "only the newest 3 runs");
    let future = chrono::Utc::now().timestamp_millis() + 86_400_000;
    assert!(store.test_records(s.id, &job(future, 200)).await.unwrap().is_empty());
    // By branch, every job and payload: A passed in h0..h4 and n1, failed in o0 and n0.
    let all = store.test_records(s.id, &RunSelection { branch: Some("main".into()), ..RunSelection::default() }).await.unwrap();
    let a = all.iter().find(|h| h.name == "A").unwrap();
    assert_eq!((a.passed, a.failed, a.flaked), (6, 2, 0));
    let none = store.test_records(s.id, &RunSelection { branch: Some("dev".into()), ..RunSelection::default() }).await.unwrap();
    assert!(none.is_empty());
}

async fn run_metrics_are_set_read_and_selected(store: Arc<dyn Store>) {
    let s = suite(&store, "metrics").await;
    let mut ids = Vec::new();
    for (key, payload) in [("h0", "old"), ("h1", "old"), ("n0", "new")] {
        let mut up = upload(key, Some("main"), None, vec![exec("s", "A", Outcome::Passed, None)]);
        up.run_env.job = Some("e2e".into());
        up.run_env.payload = Some(payload.into());
        ids.push(store.write_upload(s.id, up).await.unwrap().run_id);
    }
    store.write_run_metrics(ids[0], vec![("disruption".into(), 1.5), ("pull".into(), 10.0)]).await.unwrap();
    store.write_run_metrics(ids[1], vec![("disruption".into(), 2.5)]).await.unwrap();
    store.write_run_metrics(ids[2], vec![("disruption".into(), 9.0)]).await.unwrap();
    // A name set again takes the new value; the others stay.
    store.write_run_metrics(ids[0], vec![("pull".into(), 12.0)]).await.unwrap();
    let run = store.run(ids[0]).await.unwrap().unwrap();
    assert_eq!(run.metrics.into_iter().collect::<Vec<_>>(), vec![("disruption".to_owned(), 1.5), ("pull".to_owned(), 12.0)]);
    assert!(store.run(ids[2]).await.unwrap().unwrap().metrics.contains_key("disruption"));

    let pick = |payload: Option<&str>, exclude: Option<&str>| RunSelection {
        job: Some("e2e".into()),
        payload: payload.map(Into::into),
        exclude_payload: exclude.map(Into::into),
        ..RunSelection::default()
    };
    let got = |m: Vec<RunMetric>| m.into_iter().map(|m| (m.run_key, m.name, m.value)).collect::<Vec<_>>();
    assert_eq!(
        got(store.run_metrics(s.id, &pick(Some("new"), None)).await.unwrap()),
        vec![("n0".to_owned(), "disruption".to_owned(), 9.0)]
    );
    assert_eq!(
        got(store.run_metrics(s.id, &pick(None, Some("new"))).await.unwrap()),
        vec![
            ("h0".to_owned(), "disruption".to_owned(), 1.5),
            ("h0".to_owned(), "pull".to_owned(), 12.0),
            ("h1".to_owned(), "disruption".to_owned(), 2.5)
        ],
        "oldest run first, then by name"
    );
    // The batch selection also limits test records.
    let batch = store.test_records(s.id, &pick(Some("new"), None)).await.unwrap();
    assert_eq!(batch.iter().map(|r| (r.name.as_str(), r.passed)).collect::<Vec<_>>(), vec![("A", 1)]);
    let missing = store.write_run_metrics(ids[2] + 1000, vec![("x".into(), 1.0)]).await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))), "{missing:?}");
}

async fn monitor_pages_and_counts_stay_exact_as_samples_arrive(store: Arc<dyn Store>) {
    use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows};
    let sample = monitor_sample;
    let s = suite(&store, "pm").await;
    let other = suite(&store, "other").await;
    let m = store.monitor();
    for suite_id in [s.id, other.id] {
        m.add_context(suite_id, monitor_context()).await.unwrap();
        m.add_session(suite_id, monitor_session("s1")).await.unwrap();
        m.add_session(suite_id, monitor_session("s2")).await.unwrap();
    }
    // Past the size whose counts the SQLite store carries forward (1,000).
    for i in 0..1_250 {
        m.add_metric(s.id, sample(i, if i < 1_200 { "s1" } else { "s2" })).await.unwrap();
    }
    m.add_metric(other.id, sample(0, "s1")).await.unwrap();
    let all = MonitorList::Metrics(MetricFilter::All);
    let core = MonitorList::Metrics(MetricFilter::ComponentLike("core".into()));
    let s1 = MonitorList::Metrics(MetricFilter::Session("s1".into()));
    assert_eq!(
        (m.count(s.id, &all).await.unwrap(), m.count(s.id, &core).await.unwrap(), m.count(s.id, &s1).await.unwrap()),
        (1_250, 625, 1_200)
    );
    // More arrive: the counts follow, whether carried forward or not.
    for i in 1_250..1_260 {
        m.add_metric(s.id, sample(i, "s1")).await.unwrap();
    }
    assert_eq!(
        (m.count(s.id, &all).await.unwrap(), m.count(s.id, &core).await.unwrap(), m.count(s.id, &s1).await.unwrap()),
        (1_260, 630, 1_210)
    );
    assert_eq!(m.count(other.id, &all).await.unwrap(), 1, "another suite's samples are apart");
    // Pages: the last ones are read from the end and come back in id order.
    let times = |rows: MonitorRows| match rows {
        MonitorRows::Metrics(v) => v.iter().map(|x| x.total_time as i64).collect::<Vec<_>>(),
        _ => panic!("metrics expected"),
    };
    let (total, last) = m.page(s.id, &all, Box::new(|total| Some((total - total % 500, 500)))).await.unwrap();
    assert_eq!((total, times(last)), (1_260, (1_000..1_260).collect::<Vec<_>>()));
    let (_, middle) = m.page(s.id, &all, Box::new(|_| Some((500, 500)))).await.unwrap();
    assert_eq!(times(middle), (500..1_000).collect::<Vec<_>>());
    let (total, core_tail) = m.page(s.id, &core, Box::new(|total| Some((total - 5, 500)))).await.unwrap();
    assert_eq!((total, times(core_tail)), (630, vec![1_250, 1_252, 1_254, 1_256, 1_258]));
    let (_, none) = m.page(s.id, &all, Box::new(|_| None)).await.unwrap();
    assert_eq!(times(none), Vec::<i64>::new());
    // Components in order of first appearance, with a prefix, and counted.
    let components = |rows: MonitorRows| match rows {
        MonitorRows::Components(v) => v,
        _ => panic!("components expected"),
    };
    assert_eq!(components(m.rows(s.id, &MonitorList::Components { prefix: None }, 0, 500).await.unwrap()), ["Core", "ui"]);
    assert_eq!(components(m.rows(s.id, &MonitorList::Components { prefix: Some("U".into()) }, 0, 500).await.unwrap()), ["ui"]);
    assert_eq!(m.count(s.id, &MonitorList::Components { prefix: None }).await.unwrap(), 2);
}

fn monitor_context() -> verdict_core::monitor::MonitorContext {
    verdict_core::monitor::MonitorContext {
        h: "c".into(),
        cpu_count: 2,
        cpu_frequency: 1.0,
        cpu_type: String::new(),
        cpu_vendor: String::new(),
        ram_total: 1,
        machine_node: "n".into(),
        machine_type: "x".into(),
        machine_arch: "64bit".into(),
        system_info: "L".into(),
        python_info: "3".into(),
    }
}

fn monitor_session(h: &str) -> verdict_core::monitor::MonitorSession {
    verdict_core::monitor::MonitorSession {
        session_h: h.into(),
        run_date: "2026-11-22T00:00:00".into(),
        scm_ref: None,
        description: verdict_core::monitor::Description::default(),
    }
}

/// The i-th sample of `session`: total_time is i, the component alternates between "Core" and "ui".
fn monitor_sample(i: usize, session: &str) -> verdict_core::monitor::MonitorMetric {
    verdict_core::monitor::MonitorMetric {
        session_h: session.into(),
        context_h: "c".into(),
        item_start_time: "2026-11-22T00:00:00".into(),
        item_path: "pkg.t".into(),
        item: format!("test_{}", i % 3),
        item_variant: format!("test_{}", i % 3),
        item_fs_loc: "pkg/t.py".into(),
        kind: "function".into(),
        component: if i.is_multiple_of(2) { "Core".into() } else { "ui".into() },
        total_time: i as f64,
        user_time: 0.0,
        kernel_time: 0.0,
        cpu_usage: 0.0,
        mem_usage: 0.0,
    }
}

/// A SQLite store at `path` with suite "pm", one context, session "s1" and
/// its first `n` samples, written one at a time.
async fn sqlite_with_samples(path: &std::path::Path, n: usize) -> (Arc<dyn Store>, Suite) {
    let store: Arc<dyn Store> = Arc::new(verdict_store::sqlite::SqliteStore::open(path).unwrap());
    let s = suite(&store, "pm").await;
    let m = store.monitor();
    m.add_context(s.id, monitor_context()).await.unwrap();
    m.add_session(s.id, monitor_session("s1")).await.unwrap();
    for i in 0..n {
        m.add_metric(s.id, monitor_sample(i, "s1")).await.unwrap();
    }
    (store, s)
}

/// SQLite commits a pytest-monitor sample to an inbox and moves it into the
/// indexed table later. A sample acknowledged but not yet moved when the
/// process stopped (or crashed) is read after the restart, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_samples_waiting_at_a_stop_are_read_after_the_restart() {
    use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let (store, s) = sqlite_with_samples(&path, 30).await;
    let m = store.monitor();
    let all = MonitorList::Metrics(MetricFilter::All);
    assert_eq!(m.count(s.id, &all).await.unwrap(), 30, "a read sees every acknowledged sample");
    drop(store);
    // As if the process had stopped right after acknowledging two more: they are in the inbox only.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let waiting: i64 = raw.query_row("SELECT count(*) FROM monitor_inbox", [], |r| r.get(0)).unwrap();
    assert_eq!(waiting, 0, "the read moved what was waiting");
    raw.execute_batch(
        "INSERT INTO monitor_inbox SELECT NULL, suite_id, run_id, test_id, session_h, context_h, item_start_time, item_path, item,
           item_variant, item_fs_loc, kind, component, total_time + 100, user_time, kernel_time, cpu_usage, mem_usage, created_at
         FROM monitor_metrics ORDER BY id LIMIT 2",
    )
    .unwrap();
    drop(raw);
    let store: Arc<dyn Store> = Arc::new(verdict_store::sqlite::SqliteStore::open(&path).unwrap());
    let m = store.monitor();
    let (total, rows) = m.page(s.id, &all, Box::new(|total| Some((total - 3, 3)))).await.unwrap();
    let MonitorRows::Metrics(rows) = rows else { panic!("metrics expected") };
    assert_eq!((total, rows.iter().map(|r| r.total_time).collect::<Vec<_>>()), (32, vec![29.0, 100.0, 101.0]));
    m.add_metric(s.id, monitor_sample(31, "s1")).await.unwrap();
    assert_eq!(m.count(s.id, &all).await.unwrap(), 33, "new samples still arrive after the restart");
}

/// Many writers at once (on SQLite some samples commit on the caller's thread,
/// the rest in the writer thread's groups), and one refused sample among
/// them: every accepted sample is there once, the refused one is not, and
/// writes go on after it.
async fn monitor_samples_from_concurrent_writers_all_land_and_a_refused_one_leaves_none(store: Arc<dyn Store>) {
    use verdict_store::monitor::{MetricFilter, MonitorList};
    let s = suite(&store, "pm").await;
    let m = store.monitor();
    m.add_context(s.id, monitor_context()).await.unwrap();
    m.add_session(s.id, monitor_session("s1")).await.unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    store.monitor().add_metric(s.id, monitor_sample(w * 50 + i, "s1")).await.unwrap();
                }
            })
        })
        .collect();
    let refused = m.add_metric(s.id, monitor_sample(999, "no-such-session")).await;
    assert!(matches!(refused, Err(StoreError::NotFound(ref why)) if why.starts_with("session_h")), "{refused:?}");
    for w in writers {
        w.await.unwrap();
    }
    m.add_metric(s.id, monitor_sample(400, "s1")).await.unwrap();
    let all = MonitorList::Metrics(MetricFilter::All);
    let (total, rows) = m.page(s.id, &all, Box::new(|_| Some((0, 500)))).await.unwrap();
    let verdict_store::monitor::MonitorRows::Metrics(rows) = rows else { panic!("metrics expected") };
    let mut times: Vec<i64> = rows.iter().map(|r| r.total_time as i64).collect();
    times.sort_unstable();
    assert_eq!((total, times), (401, (0..=400).collect::<Vec<_>>()));
}

/// Samples that nobody reads still leave the SQLite inbox: the writer thread
/// moves them when it is idle, also when every sample was committed on its
/// caller's thread and the writer thread itself saw no job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_samples_no_one_reads_are_moved_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("verdict.db");
    let (_store, _) = sqlite_with_samples(&path, 20).await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    let in_table = |table: &str| -> i64 { raw.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap() };
    // The move waits for 10 ms without a write; allow a slow machine far more.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_table("monitor_inbox") > 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!((in_table("monitor_inbox"), in_table("monitor_metrics")), (0, 20), "moved with no read to ask for it");
}

/// `n` characters that PostgreSQL cannot compress into an index entry (it
/// compresses a long key before it measures it): pseudo-random, from an
/// alphabet of 62 one-byte characters or of 4-byte ones.
fn incompressible(seed: u64, n: usize, four_byte: bool) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..n)
        .map(
            |_| {
                if four_byte {
                    char::from_u32(0x1_0000 + (next() % 0xF_0000) as u32).unwrap()
                } else {
                    ALNUM[(next() % 62) as usize] as char
                }
            },
        )
        .collect()
}

/// Every column a store indexes or is unique on holds the longest value the
/// parsers accept, on both stores (PostgreSQL refuses index entries over about
/// 2.7 kB); the checks refuse one byte more, so nothing longer reaches a store.
async fn identity_columns_hold_the_longest_accepted_values(store: Arc<dyn Store>) {
    use verdict_core::caps::{MAX_NAME_BYTES, MAX_RUN_LABEL_BYTES};
    let s = suite(&store, "long").await;
    let label = |seed| incompressible(seed, MAX_RUN_LABEL_BYTES, false);
    let labels = ["branch", "commit_sha", "job", "payload", "number", "job_id", "CI"];
    let pairs = |over: Option<&str>| {
        let mut p: Vec<(String, Option<String>)> = vec![("key".into(), Some(incompressible(1, 255, false)))];
        for (i, l) in labels.iter().enumerate() {
            let mut v = label(10 + i as u64);
            if over == Some(*l) {
                v.push('x');
            }
            p.push((l.to_string(), Some(v)));
        }
        p
    };
    for l in labels {
        let e = RunEnv::from_pairs(pairs(Some(l))).unwrap_err();
        assert!(e.contains(&format!("run_env[{l}]")), "{l}: {e}");
    }
    let mut over_key = pairs(None);
    over_key[0].1 = Some(incompressible(1, 256, false));
    assert!(RunEnv::from_pairs(over_key).unwrap_err().contains("run_env[key]"));
    let run_env = RunEnv::from_pairs(pairs(None)).unwrap();

    let ascii = |seed| incompressible(seed, MAX_NAME_BYTES, false);
    let wide = incompressible(3, MAX_NAME_BYTES / 4, true);
    assert_eq!(wide.len(), MAX_NAME_BYTES);
    let results = |outcome| {
        vec![
            exec(&ascii(4), &ascii(5), outcome, Some(1.0)),
            exec(&wide, &wide, outcome, None),
            exec("s", &(ascii(6) + "x"), outcome, None),
            exec(&(ascii(7) + "x"), "n", outcome, None),
        ]
    };
    for outcome in [Outcome::Passed, Outcome::Failed] {
        let mut up = Upload {
            format: "json".into(),
            run_env: run_env.clone(),
            tags: TagMap::new(),
            executions: results(outcome),
            skipped: Default::default(),
        };
        up.drop_invalid_records();
        assert_eq!((up.executions.len(), up.skipped.len()), (2, 2), "one byte over is a skipped record");
        let receipt = store.write_upload(s.id, up).await.unwrap();
        assert_eq!(receipt.queued, 2);
    }
    let tests = store.tests(s.id, &TestFilter::default()).await.unwrap();
    let mut names: Vec<(String, String, i64)> =
        tests.iter().map(|t| (t.test.scope.clone(), t.test.name.clone(), t.counts.failed)).collect();
    names.sort();
    let mut expected = vec![(ascii(4), ascii(5), 1), (wide.clone(), wide.clone(), 1)];
    expected.sort();
    assert_eq!(names, expected, "each test found again by its full scope and name, kept in full");

    let by = |f: fn(&mut RunFilter, String), v: &str| {
        let mut filter = RunFilter::default();
        f(&mut filter, v.to_owned());
        filter
    };
    let env = &run_env;
    for filter in [
        by(|f, v| f.branch = Some(v), env.branch.as_deref().unwrap()),
        by(|f, v| f.commit_sha = Some(v), env.commit_sha.as_deref().unwrap()),
        by(|f, v| f.job = Some(v), env.job.as_deref().unwrap()),
        by(|f, v| f.payload = Some(v), env.payload.as_deref().unwrap()),
    ] {
        let runs = store.runs(s.id, &filter).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].run_env, *env, "the labels are kept in full");
    }
    let job = env.job.clone().unwrap();
    let batch = store.batch_results(s.id, &job, env.payload.as_deref().unwrap()).await.unwrap();
    assert_eq!(batch.len(), 4, "both uploads' results, by the long job and payload");
}

/// The same for pytest-monitor: the longest session, context and sample
/// fields the parser accepts are stored and found again; one more character
/// is refused, naming the field.
async fn monitor_fields_hold_the_longest_accepted_values(store: Arc<dyn Store>) {
    use verdict_formats::pytest_monitor::{parse_context, parse_metric, parse_session};
    use verdict_store::monitor::{MetricFilter, MonitorList, MonitorRows};
    let s = suite(&store, "pm-long").await;
    let m = store.monitor();
    let wide = |seed, n| incompressible(seed, n, true);
    let (ctx_h, session_h) = (wide(1, 64), wide(2, 64));
    let branch = incompressible(3, verdict_core::caps::MAX_RUN_LABEL_BYTES, false);
    let context = serde_json::json!({
        "h": ctx_h, "cpu_count": 2, "cpu_frequency": 1.0, "cpu_type": wide(4, 64), "cpu_vendor": wide(5, 256),
        "ram_total": 1, "machine_node": wide(6, 512), "machine_type": wide(7, 32), "machine_arch": wide(8, 16),
        "system_info": wide(9, 256), "python_info": wide(10, 512)
    });
    let session = serde_json::json!({
        "session_h": session_h, "run_date": "2026-11-22T00:00:00", "scm_ref": wide(11, 128),
        "description": {"pipeline_branch": branch, "pipeline_build_no": incompressible(12, 1024, false), "__ci__": "ci"}
    });
    let (item, variant, component) = (wide(13, 2048), wide(14, 2048), wide(15, 512));
    let metric = serde_json::json!({
        "session_h": session_h, "context_h": ctx_h, "item_start_time": "2026-11-22T00:00:00",
        "item_path": wide(16, 4096), "item": item, "item_variant": variant, "item_fs_loc": wide(17, 2048),
        "kind": "function", "component": component, "total_time": 1.0, "user_time": 0.5, "kernel_time": 0.25,
        "cpu_usage": 0.5, "mem_usage": 2.0
    });
    // One character more in any field is refused, naming it.
    let longer = |body: &serde_json::Value, path: &[&str]| {
        let mut b = body.clone();
        let mut v = &mut b;
        for p in path {
            v = &mut v[*p];
        }
        *v = serde_json::Value::String(format!("{}x", v.as_str().unwrap()));
        b
    };
    for f in ["h", "cpu_type", "machine_node", "python_info"] {
        assert_eq!(parse_context(&longer(&context, &[f])).unwrap_err().field, f);
    }
    assert_eq!(parse_session(&longer(&session, &["scm_ref"]), None).unwrap_err().field, "scm_ref");
    assert_eq!(
        parse_session(&longer(&session, &["description", "pipeline_branch"]), None).unwrap_err().field,
        "description.pipeline_branch"
    );
    for f in ["item", "item_variant", "item_path", "component", "session_h"] {
        assert_eq!(parse_metric(&longer(&metric, &[f])).unwrap_err().field, f);
    }

    m.add_context(s.id, parse_context(&context).unwrap()).await.unwrap();
    m.add_session(s.id, parse_session(&session, None).unwrap()).await.unwrap();
    for _ in 0..2 {
        m.add_metric(s.id, parse_metric(&metric).unwrap()).await.unwrap();
    }
    for filter in [
        MetricFilter::Item(item.clone()),
        MetricFilter::Variant(variant.clone()),
        MetricFilter::ComponentItem(component.clone(), item.clone()),
        MetricFilter::ComponentVariant(component.clone(), variant.clone()),
        MetricFilter::Component(component.clone()),
        MetricFilter::Context(ctx_h.clone()),
        MetricFilter::Session(session_h.clone()),
        MetricFilter::Pipeline { pipeline: branch.clone(), build: None },
    ] {
        let list = MonitorList::Metrics(filter.clone());
        assert_eq!(m.count(s.id, &list).await.unwrap(), 2, "{filter:?}");
        match m.rows(s.id, &list, 0, 10).await.unwrap() {
            MonitorRows::Metrics(rows) => assert!(rows.iter().all(|r| r.item == item && r.item_variant == variant)),
            _ => panic!("metrics expected"),
        }
    }
    assert_eq!(m.count(s.id, &MonitorList::Metrics(MetricFilter::Item(format!("{item}x")))).await.unwrap(), 0);
    let tests = store.tests(s.id, &TestFilter::default()).await.unwrap();
    assert_eq!(tests.len(), 1, "one test for the sample's item, found again by its full name");
    let runs = store.runs(s.id, &RunFilter { branch: Some(branch.clone()), ..Default::default() }).await.unwrap();
    assert_eq!(runs.len(), 1, "the session's run, by its long pipeline branch");
}

/// A list page reads at most `Execution::LISTED_*` of each result (measured in
/// the database) and never its output; the result's own routes have the rest.
async fn list_pages_carry_a_bounded_part_of_each_result(store: Arc<dyn Store>) {
    use verdict_core::caps::{MAX_TEXT_BYTES, TRUNCATION_MARK};
    let s = suite(&store, "big").await;
    let text = "ü".repeat(MAX_TEXT_BYTES / 2);
    let mut big = exec("s", "big", Outcome::Failed, None);
    big.failure_reason = Some(text.clone());
    big.failure_expanded = vec![FailureDetail { expanded: vec![text.clone()], backtrace: vec![] }; 3];
    big.system_out = Some(text.clone());
    big.system_err = Some("err".into());
    let r = store.write_upload(s.id, upload("k", None, None, vec![big, exec("s", "small", Outcome::Passed, None)])).await.unwrap();
    let page = store.run_executions(r.run_id, None, Page::new(1, 500)).await.unwrap();
    let (listed, small) = (&page[0], &page[1]);
    assert!(listed.detail.is_none() && listed.detail_omitted && listed.has_output);
    let reason = listed.failure_reason.as_deref().unwrap();
    assert!(reason.len() as i64 <= Execution::LISTED_REASON_BYTES && reason.ends_with(TRUNCATION_MARK), "{}", reason.len());
    assert!(small.detail.is_none() && !small.detail_omitted && !small.has_output);
    let whole = store.execution(listed.id).await.unwrap().unwrap();
    assert_eq!(whole.failure_reason.as_deref(), Some(text.as_str()));
    assert_eq!(whole.detail.unwrap()["failure_expanded"][2]["expanded"][0], text.as_str());
    let output = store.execution_output(listed.id).await.unwrap().unwrap();
    assert_eq!((output.system_out.as_deref(), output.system_err.as_deref()), (Some(text.as_str()), Some("err")));
}

async fn run_counts_are_kept_as_uploads_arrive(store: Arc<dyn Store>) {
    let s = suite(&store, "counted").await;
    let first = upload(
        "k",
        Some("main"),
        None,
        vec![
            exec("a", "passes", Outcome::Passed, Some(1.0)),
            exec("a", "fails", Outcome::Failed, Some(2.0)),
            exec("a", "later_fails", Outcome::Passed, Some(0.5)),
            exec("a", "skipped", Outcome::Skipped, None),
        ],
    );
    store.write_upload(s.id, first).await.unwrap();
    let run = store.runs(s.id, &RunFilter::default()).await.unwrap().pop().unwrap();
    assert_eq!(run.tests, RunTestCounts { passed: 2, failed: 1, flaky: 0, skipped: 1 });
    assert_eq!(run.executions, RunExecutionCounts { passed: 2, failed: 1, total: 4 });
    assert_eq!(run.test_seconds, 3.5);
    // A second upload into the run (a retried job): the test that passed now
    // failed too, so it flaked in this run; the counts are recounted, not added.
    let second = upload("k", Some("main"), None, vec![exec("a", "later_fails", Outcome::Failed, Some(0.25))]);
    store.write_upload(s.id, second).await.unwrap();
    let run = store.runs(s.id, &RunFilter::default()).await.unwrap().pop().unwrap();
    assert_eq!(run.tests, RunTestCounts { passed: 1, failed: 1, flaky: 1, skipped: 1 });
    assert_eq!(run.executions, RunExecutionCounts { passed: 2, failed: 2, total: 5 });
    assert_eq!(run.test_seconds, 3.75);
    let cells = store.dashboard().run_tests(run.id).await.unwrap();
    let of = |name: &str| cells.iter().find(|c| c.test.name == name).unwrap();
    assert_eq!((of("later_fails").outcome, of("later_fails").duration), (dashboard::RunOutcome::Flaky, Some(0.75)));
    assert_eq!((of("skipped").outcome, of("skipped").duration), (dashboard::RunOutcome::Skipped, None));
    assert_eq!(of("fails").outcome, dashboard::RunOutcome::Failed);
    // The rollups count the run once per test, under its latest outcome.
    let today = plan::day_of(chrono::Utc::now().timestamp_millis());
    let totals = store.dashboard().suite_test_totals(s.id, Some("main"), today - 1, today + 1).await.unwrap();
    let runs_of = |name: &str| {
        let id = of(name).test.id;
        let t = &totals.iter().find(|(t, _)| *t == id).unwrap().1;
        [t.runs_passed, t.runs_failed, t.runs_flaky]
    };
    assert_eq!(runs_of("later_fails"), [0, 0, 1], "passed, then failed in a second upload: one flaky run");
    assert_eq!((runs_of("passes"), runs_of("fails"), runs_of("skipped")), ([1, 0, 0], [0, 1, 0], [0, 0, 0]));
}

async fn dashboard_reads_give_series_cells_points_and_rollups(store: Arc<dyn Store>) {
    use dashboard::{RunOutcome, RunRange};
    let s = suite(&store, "dash").await;
    let other = suite(&store, "other").await;
    for (i, (branch, outcome)) in
        [("main", Outcome::Passed), ("main", Outcome::Failed), ("release", Outcome::Passed), ("main", Outcome::Failed)].iter().enumerate()
    {
        let mut e = exec("s", "t", *outcome, Some(1.0 + i as f64));
        e.failure_reason = (*outcome == Outcome::Failed).then(|| format!("boom {i}"));
        store
            .write_upload(s.id, upload(&format!("k{i}"), Some(branch), None, vec![e, exec("s", "u", Outcome::Passed, None)]))
            .await
            .unwrap();
    }
    store.write_upload(other.id, upload("x", Some("main"), None, vec![exec("s", "t", Outcome::Passed, None)])).await.unwrap();
    let d = store.dashboard();
    let all = RunRange { suite_id: s.id, branch: None, since_ms: i64::MIN, until_ms: i64::MAX };
    let runs = d.run_series(&all, 100).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.run_env.key.as_str()).collect::<Vec<_>>(), ["k3", "k2", "k1", "k0"], "newest first, this suite only");
    let main = RunRange { branch: Some("main".into()), ..all.clone() };
    assert_eq!(d.run_series(&main, 2).await.unwrap().len(), 2, "the limit holds");
    assert_eq!(d.branches(&all).await.unwrap(), vec![("main".to_owned(), 3), ("release".to_owned(), 1)]);
    let previous = d.previous_run(&runs[0], Some("main")).await.unwrap().unwrap();
    assert_eq!(previous.run_env.key, "k1", "the newest earlier run on the branch");
    assert!(d.previous_run(runs.last().unwrap(), Some("main")).await.unwrap().is_none());
    let t = d.run_tests(runs[0].id).await.unwrap().into_iter().find(|r| r.test.name == "t").unwrap().test;
    let ids: Vec<i64> = runs.iter().map(|r| r.id).collect();
    let mut cells = d.test_cells(&[t.id], &ids).await.unwrap();
    cells.sort_by_key(|c| c.run_id);
    assert_eq!(
        cells.iter().map(|c| c.outcome).collect::<Vec<_>>(),
        [RunOutcome::Passed, RunOutcome::Failed, RunOutcome::Passed, RunOutcome::Failed]
    );
    let points = d.test_points(t.id, &main, 100).await.unwrap();
    assert_eq!(points.iter().map(|p| p.duration).collect::<Vec<_>>(), [Some(1.0), Some(2.0), Some(4.0)], "oldest first, on main only");
    let failures = d.test_failures(t.id, &all, 100).await.unwrap();
    assert_eq!(failures.iter().map(|f| f.reason.as_deref()).collect::<Vec<_>>(), [Some("boom 3"), Some("boom 1")], "newest first");
    let today = plan::day_of(chrono::Utc::now().timestamp_millis());
    let days = d.test_days(t.id, None, today - 1, today + 1).await.unwrap();
    assert_eq!((days.len(), days[0].counts.passed, days[0].counts.failed), (1, 2, 2));
    let branches = d.test_branches(t.id, today - 1, today + 1).await.unwrap();
    assert_eq!(branches.iter().map(|b| (b.branch.as_str(), b.counts.total())).collect::<Vec<_>>(), [("main", 3), ("release", 1)]);
    let executions = d.run_test_executions(runs[0].id, &[t.id]).await.unwrap();
    assert_eq!((executions.len(), executions[0].failure_reason.as_deref()), (1, Some("boom 3")));
    let totals = d.suite_test_totals(s.id, Some("main"), today - 1, today + 1).await.unwrap();
    let of_t = totals.iter().find(|(id, _)| *id == t.id).unwrap();
    assert_eq!((totals.len(), of_t.1.counts.total(), of_t.1.duration_sum), (2, 3, 1.0 + 2.0 + 4.0), "this suite, this branch");
    let named = d.suite_test_rows(s.id, Some("main"), today - 1, today + 1).await.unwrap();
    let (named_t, named_totals) = named.iter().find(|(x, _)| x.id == t.id).unwrap();
    assert_eq!((named.len(), named_t.name.as_str(), named_totals.runs_passed, named_totals.runs_failed), (2, "t", 1, 2));
    let mut durations = d.durations_of(&[t.id], &main).await.unwrap();
    durations.sort_by(|a, b| a.1.total_cmp(&b.1));
    assert_eq!(durations, [(t.id, 1.0), (t.id, 2.0), (t.id, 4.0)]);
}

async fn suite_link_templates_are_set_and_cleared(store: Arc<dyn Store>) {
    suite(&store, "linked").await;
    let links = SuiteLinks { commit_url: Some("https://git.example/c/{commit}".into()), file_url: None };
    store.dashboard().set_suite_links("linked", &links).await.unwrap();
    let s = store.suite_by_slug("linked").await.unwrap().unwrap();
    assert_eq!((s.commit_url.as_deref(), s.file_url.as_deref()), (Some("https://git.example/c/{commit}"), None));
    let clear = SuiteLinks { commit_url: Some(String::new()), file_url: Some("https://git.example/f/{file}".into()) };
    store.dashboard().set_suite_links("linked", &clear).await.unwrap();
    let s = store.suite_by_slug("linked").await.unwrap().unwrap();
    assert_eq!((s.commit_url.as_deref(), s.file_url.as_deref()), (None, Some("https://git.example/f/{file}")), "empty clears, None keeps");
    assert!(matches!(store.dashboard().set_suite_links("missing", &links).await, Err(StoreError::NotFound(_))));
}

async fn imported_uploads_carry_their_time(store: Arc<dyn Store>) {
    let s = suite(&store, "imported").await;
    let at = chrono::Utc::now().timestamp_millis() - 30 * 86_400_000;
    let receipt =
        store.import_upload(s.id, upload("old", Some("main"), None, vec![exec("a", "t", Outcome::Failed, Some(1.5))]), at).await.unwrap();
    let run = store.run(receipt.run_id).await.unwrap().unwrap().run;
    assert_eq!(run.created_at.timestamp_millis(), at);
    let t = store.dashboard().run_tests(run.id).await.unwrap().pop().unwrap().test;
    assert_eq!(t.first_seen.timestamp_millis(), at);
    let day = plan::day_of(at);
    let days = store.dashboard().test_days(t.id, Some("main"), day, day + 1).await.unwrap();
    assert_eq!((days.len(), days[0].day, days[0].counts.failed), (1, day, 1), "the rollup of that day");
    let range = dashboard::RunRange { suite_id: s.id, branch: None, since_ms: at, until_ms: at + 1 };
    assert_eq!(store.dashboard().test_points(t.id, &range, 10).await.unwrap().len(), 1);
}

/// 120 runs of four tests on main: `clean` always passes, `late` fails in
/// run 115, `absent` is in every other run, `gone` stops after run 100 (quiet by then), and a
/// quarter of the runs get a second upload (`second`) analysed apart. Once
/// healthy and quiet their rows are left alone by clean runs; every read
/// still shows every run counted, on both tracks.
async fn quiet_tracks_skip_clean_runs_and_reads_catch_them_up(f: &TestStore) {
    let store = &f.store;
    let s = suite(store, "quiet").await;
    let (mut writes, mut first_runs) = (0, vec![]);
    for i in 0..120 {
        let mut execs = vec![
            exec("q", "clean", Outcome::Passed, Some(1.0)),
            exec("q", "late", if i == 115 { Outcome::Failed } else { Outcome::Passed }, Some(1.0)),
        ];
        if i % 2 == 0 {
            execs.push(exec("q", "absent", Outcome::Passed, Some(1.0)));
        }
        if i < 100 {
            execs.push(exec("q", "gone", Outcome::Passed, None));
        }
        let receipt = store.write_upload(s.id, upload(&format!("run-{i}"), Some("main"), Some(&format!("c{i}")), execs)).await.unwrap();
        if i < 2 {
            first_runs.push(receipt.run_id);
        }
        assert!(store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some());
        writes += 1;
        if i % 4 == 1 {
            // A second upload to the run, analysed as its own part: neither part is the whole run now.
            let more = vec![exec("q", "second", Outcome::Passed, Some(1.0))];
            store.write_upload(s.id, upload(&format!("run-{i}"), Some("main"), Some(&format!("c{i}")), more)).await.unwrap();
            assert!(store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some());
            writes += 1;
        }
    }
    assert!(store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_none());
    let rows_written = f.scalar("SELECT CAST(count(*) AS BIGINT) FROM test_tracks WHERE as_of < 150 AND quiet_until IS NOT NULL").await;
    // Only `clean` is quiet by then (healthy after 72 clean runs; `late` keeps its failure in the window).
    assert!(rows_written >= 1, "clean's rows were left alone by the last runs ({rows_written})");
    let parts = f.scalar("SELECT CAST(count(*) AS BIGINT) FROM analysis_parts").await;
    assert_eq!(parts, writes);

    let mut tests = store.dashboard().run_tests(first_runs[0]).await.unwrap();
    tests.extend(store.dashboard().run_tests(first_runs[1]).await.unwrap());
    let id = |name: &str| tests.iter().find(|t| t.test.name == name).map(|t| t.test.id).unwrap();
    for (name, runs, failed) in [("clean", 120, 0), ("late", 120, 1), ("absent", 60, 0), ("second", 30, 0), ("gone", 100, 0)] {
        let tracks = store.flaky().test_tracks(id(name)).await.unwrap();
        assert_eq!(tracks.len(), 2, "main and *");
        for t in &tracks {
            assert_eq!((t.data.evidence.runs, t.data.evidence.failed_runs), (runs, failed), "{name} on {}", t.track);
        }
    }
    let late = store.flaky().test_tracks(id("late")).await.unwrap();
    assert_eq!(late[0].data.recent.iter().filter(|p| !**p).count(), 1, "the failure is among the last ten results");
    // A listed healthy row is caught up as well.
    let q = flaky::TrackQuery {
        suite_id: s.id,
        track: "main".into(),
        first_day: 0,
        end_day: i64::MAX / 86_400_000,
        states: vec![verdict_core::flaky::State::Healthy],
        limit: 10,
        offset: 0,
        only: None,
    };
    let (listed, total) = store.flaky().flaky_tracks(&q).await.unwrap();
    assert_eq!(total, 3, "clean, late and gone; absent and second are still new");
    let clean = listed.iter().find(|(r, _)| r.test.name == "clean").unwrap();
    assert_eq!(clean.0.data.evidence.runs, 120);
}

fn change(state: verdict_core::quarantine::ControlState, reason: &str, at_ms: i64) -> controls::ControlChange {
    controls::ControlChange {
        state,
        rule: controls::ControlRule::Manual,
        reason: Some(reason.into()),
        expires_at: None,
        pin: controls::PinChange::Keep,
        actor: "cli:alice".into(),
        at_ms,
    }
}

async fn controls_are_set_listed_expired_and_kept_as_events(store: Arc<dyn Store>) {
    use verdict_core::quarantine::{ControlState, Pin, SetBy};
    let s = suite(&store, "ctl").await;
    let other = suite(&store, "other").await;
    let execs =
        vec![exec("a/b", "one", Outcome::Failed, None), exec("a", "two", Outcome::Passed, None), exec("", "three", Outcome::Passed, None)];
    let run = store.write_upload(s.id, upload("r1", Some("main"), None, execs)).await.unwrap().run_id;
    let tests = store.dashboard().run_tests(run).await.unwrap();
    let id = |name: &str| tests.iter().find(|t| t.test.name == name).map(|t| t.test.id).unwrap();
    let ctl = store.controls();

    assert_eq!(ctl.control(id("one")).await.unwrap().state, ControlState::Enabled, "a test nobody set is enabled");
    let muted = ctl.set_control(id("one"), &change(ControlState::Muted, "flaky in CI", 1_000)).await.unwrap();
    assert_eq!((muted.state, muted.set_by, muted.actor.as_str()), (ControlState::Muted, SetBy::Manual, "cli:alice"));
    let mut skip = change(ControlState::Skipped, "too slow", 2_000);
    skip.expires_at = Some(5_000);
    skip.pin = controls::PinChange::Set(Some(Pin::Never));
    ctl.set_control(id("two"), &skip).await.unwrap();
    let listed = ctl.controlled(s.id, ControlState::Muted).await.unwrap();
    assert_eq!(listed.iter().map(|c| c.test.name.as_str()).collect::<Vec<_>>(), ["one"]);
    assert_eq!(listed[0].control.reason.as_deref(), Some("flaky in CI"));
    assert_eq!(ctl.controlled(s.id, ControlState::Skipped).await.unwrap().len(), 1);
    assert!(ctl.controlled(other.id, ControlState::Muted).await.unwrap().is_empty(), "controls belong to their suite");
    assert!(matches!(ctl.set_control(999_999, &change(ControlState::Muted, "x", 1)).await, Err(StoreError::NotFound(_))));

    // Expiry: not yet at 4999, at 5000 the skip is undone, once.
    assert_eq!(ctl.expire_controls(4_999).await.unwrap(), 0);
    assert_eq!(ctl.expire_controls(5_000).await.unwrap(), 1);
    assert_eq!(ctl.expire_controls(6_000).await.unwrap(), 0);
    let two = ctl.control(id("two")).await.unwrap();
    assert_eq!((two.state, two.pin, two.expires_at), (ControlState::Enabled, Some(Pin::Never), None), "the pin stays");
    let events = ctl.control_events(id("two"), 10).await.unwrap();
    assert_eq!(
        events.iter().map(|e| (e.from.as_str(), e.to.as_str(), e.rule.as_str())).collect::<Vec<_>>(),
        [("skipped", "enabled", "expired"), ("enabled", "skipped", "manual")],
        "newest first"
    );
    assert_eq!(events[1].reason.as_deref(), Some("too slow"));

    // Names: scope and name, or scope/name, or a bare name for an empty scope.
    assert_eq!(ctl.tests_named(s.id, Some("a/b"), "one").await.unwrap().len(), 1);
    assert_eq!(ctl.tests_named(s.id, None, "a/b/one").await.unwrap()[0].id, id("one"));
    assert_eq!(ctl.tests_named(s.id, None, "three").await.unwrap()[0].id, id("three"));
    assert!(ctl.tests_named(other.id, None, "three").await.unwrap().is_empty());

    // Manage tokens: none until set; a new one replaces the old.
    assert!(ctl.suite_by_manage_token_hash(&token::hash("m1")).await.unwrap().is_none());
    ctl.set_manage_token_hash("ctl", &token::hash("m1")).await.unwrap();
    assert_eq!(ctl.suite_by_manage_token_hash(&token::hash("m1")).await.unwrap().map(|x| x.id), Some(s.id));
    ctl.set_manage_token_hash("ctl", &token::hash("m2")).await.unwrap();
    assert!(ctl.suite_by_manage_token_hash(&token::hash("m1")).await.unwrap().is_none());
    assert!(store.suite_by_token_hash(&token::hash("m2")).await.unwrap().is_none(), "a manage token is not an upload token");
    assert!(matches!(ctl.set_manage_token_hash("nope", "h").await, Err(StoreError::NotFound(_))));
}

/// Two runs on main where `wobbly` fails then passes on retry make it flaky
/// (rule retry); with auto-quarantine on, the step that records it also
/// mutes it. A test a person muted and then enabled is left alone; 72 clean
/// runs later the policy's own mute is undone. Off, nothing is muted.
async fn auto_quarantine_mutes_flaky_tests_in_the_analysis_step(store: Arc<dyn Store>) {
    use verdict_core::quarantine::{ControlState, Pin, SetBy};
    let on = suite(&store, "auto").await;
    let off = suite(&store, "manual").await;
    let mut settings = store.flaky().flaky_settings(on.id).await.unwrap();
    settings.quarantine_auto = true;
    store.flaky().set_flaky_settings(on.id, &settings).await.unwrap();
    let retried = |name: &str| {
        let mut again = exec("q", name, Outcome::Passed, Some(1.0));
        again.attempt = 1;
        vec![exec("q", name, Outcome::Failed, Some(1.0)), again]
    };
    let mut ids = std::collections::HashMap::new();
    for (s, slug) in [(&on, "auto"), (&off, "manual")] {
        for i in 0..2 {
            let mut execs = retried("wobbly");
            execs.extend(retried("pinned"));
            let run =
                store.write_upload(s.id, upload(&format!("{slug}-{i}"), Some("main"), Some(&format!("c{i}")), execs)).await.unwrap().run_id;
            for t in store.dashboard().run_tests(run).await.unwrap() {
                ids.insert((slug, t.test.name.clone()), t.test.id);
            }
            if i == 0 {
                // A person pins `pinned` never before it turns flaky.
                let mut pin = change(ControlState::Enabled, "keep it visible", 1);
                pin.pin = controls::PinChange::Set(Some(Pin::Never));
                store.controls().set_control(ids[&(slug, "pinned".to_owned())], &pin).await.unwrap();
            }
            while store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}
        }
    }
    let wobbly = ids[&("auto", "wobbly".to_owned())];
    let c = store.controls().control(wobbly).await.unwrap();
    assert_eq!((c.state, c.set_by), (ControlState::Muted, SetBy::Auto));
    assert_eq!(c.reason.as_deref(), Some("flaky on main (retry)"));
    assert_eq!(store.controls().control(ids[&("auto", "pinned".to_owned())]).await.unwrap().state, ControlState::Enabled, "pinned never");
    assert_eq!(store.controls().control(ids[&("manual", "wobbly".to_owned())]).await.unwrap().state, ControlState::Enabled, "policy off");
    let state_events = store.flaky().test_events(wobbly, 10).await.unwrap();
    let control_events = store.controls().control_events(wobbly, 10).await.unwrap();
    assert!(state_events.iter().any(|e| e.track == "main" && e.to == "flaky"));
    assert_eq!(control_events.len(), 1);
    assert_eq!((control_events[0].set_by.as_str(), control_events[0].rule.as_str()), ("auto", "auto"));
    assert_eq!(control_events[0].at_ms, state_events.iter().find(|e| e.track == "main" && e.to == "flaky").unwrap().at_ms);

    // Clean runs until the SPRT clears it: the policy enables what it muted.
    for i in 2..80 {
        let execs = vec![exec("q", "wobbly", Outcome::Passed, Some(1.0))];
        store.write_upload(on.id, upload(&format!("auto-{i}"), Some("main"), Some(&format!("c{i}")), execs)).await.unwrap();
        while store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}
    }
    let c = store.controls().control(wobbly).await.unwrap();
    assert_eq!(
        (c.state, c.set_by),
        (ControlState::Enabled, SetBy::Auto),
        "healthy again: {:?}",
        store.flaky().test_events(wobbly, 3).await.unwrap()
    );
}

/// The outbox is filled in the transactions that make its events: the
/// analysis step's state events and the auto-quarantine mute it causes, a
/// cluster's first failure on the default branch (not on another branch,
/// not twice), a run on main with failed tests, a person's mute. Each
/// message has a delivery per endpoint that takes its type; deliveries are
/// claimed with a lease, retried, delivered, and a 410 or five dead
/// messages in a row disable their endpoint.
async fn webhook_messages_are_written_with_their_change_and_deliveries_are_claimed_leased_and_logged(store: Arc<dyn Store>) {
    use verdict_core::quarantine::ControlState;
    use verdict_core::webhook::{EventType, Format};
    use webhooks::{AfterAttempt, Attempt, Attempted, NewEndpoint};
    let s = suite(&store, "hooks").await;
    let other = suite(&store, "quiet").await;
    let mut settings = store.flaky().flaky_settings(s.id).await.unwrap();
    settings.quarantine_auto = true;
    store.flaky().set_flaky_settings(s.id, &settings).await.unwrap();
    let wh = store.webhooks();
    let endpoint = |suite_id, events: Vec<EventType>| NewEndpoint {
        suite_id,
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        format: Format::Standard,
        events,
        owner: None,
        description: Some("team hook".into()),
    };
    let all = wh.add_endpoint(&endpoint(s.id, vec![]), 1_000).await.unwrap();
    let clusters_only = wh.add_endpoint(&endpoint(s.id, vec![EventType::ClusterCreated]), 1_001).await.unwrap();
    wh.add_endpoint(&endpoint(other.id, vec![]), 1_002).await.unwrap();
    assert_eq!(
        wh.endpoints(s.id).await.unwrap().iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [all.id.clone(), clusters_only.id.clone()]
    );
    assert_eq!(all.secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(all.enabled && all.id.starts_with("ep_"));

    let failing = |name: &str, reason: &str| {
        let mut e = exec("w", name, Outcome::Failed, Some(1.0));
        e.failure_reason = Some(reason.into());
        e
    };
    for i in 0..2 {
        let mut again = exec("w", "wobbly", Outcome::Passed, Some(1.0));
        again.attempt = 1;
        let execs = vec![failing("wobbly", "timeout after 30s"), again, failing("broken", "AssertionError: 1 != 2")];
        store.write_upload(s.id, upload(&format!("main-{i}"), Some("main"), Some(&format!("c{i}")), execs)).await.unwrap();
        while store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}
    }
    // A new failure on a feature branch: clustered, not announced.
    store.write_upload(s.id, upload("feat", Some("feature/x"), Some("f1"), vec![failing("other", "no such file /data")])).await.unwrap();
    while store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}

    let messages = wh.messages(s.id, 100).await.unwrap();
    let kinds: Vec<(&str, &str, &str)> =
        messages.iter().map(|m| (m.kind.as_str(), m.data["from"].as_str().unwrap_or(""), m.data["to"].as_str().unwrap_or(""))).collect();
    let count = |k: &str| kinds.iter().filter(|m| m.0 == k).count();
    assert_eq!(count("cluster.created"), 2, "two reasons on main, each once; the feature branch's none: {kinds:?}");
    assert_eq!(count("run.failed"), 2, "each run on main failed `broken`: {kinds:?}");
    assert!(kinds.contains(&("test.state_changed", "new", "flaky")), "{kinds:?}");
    assert!(kinds.contains(&("test.state_changed", "enabled", "muted")), "the auto-quarantine mute: {kinds:?}");
    let flaky = messages.iter().find(|m| m.data["to"] == "flaky").unwrap();
    assert_eq!(flaky.data["test"]["name"], "wobbly");
    assert_eq!(flaky.data["branch"], "main", "only trusted tracks are announced");
    assert_eq!(flaky.data["test"]["url"], format!("/s/hooks/tests/{}", flaky.data["test"]["id"]));
    let mute = messages.iter().find(|m| m.data["to"] == "muted").unwrap();
    assert_eq!((mute.data["change"].as_str(), mute.data["rule"].as_str()), (Some("control"), Some("auto_quarantine")));
    let failed_run = messages.iter().find(|m| m.kind == "run.failed").unwrap();
    assert_eq!((failed_run.data["failed"].as_i64(), failed_run.data["failed_tests"][0]["name"].as_str()), (Some(1), Some("broken")));
    assert!(messages.iter().all(|m| m.id.starts_with("msg_") && m.id.len() == 30));
    assert!(kinds.iter().all(|m| m != &("test.state_changed", "", "")));

    // A person's mute is an event too.
    let test_id = flaky.data["test"]["id"].as_i64().unwrap();
    store.controls().set_control(test_id, &change(ControlState::Skipped, "too slow", 5_000)).await.unwrap();
    let messages = wh.messages(s.id, 100).await.unwrap();
    let skip = messages.last().unwrap();
    assert_eq!((skip.data["to"].as_str(), skip.data["rule"].as_str()), (Some("skipped"), Some("manual")));

    // Deliveries: every message to `all`, the clusters to `clusters_only`; none for the other suite.
    let now = i64::MAX / 2;
    let due = wh.claim_due(now, 60_000, 1_000).await.unwrap();
    let to = |ep: &str| due.iter().filter(|d| d.endpoint.id == ep).count();
    assert_eq!(to(&all.id), messages.len());
    assert_eq!(to(&clusters_only.id), 2);
    assert_eq!(due.len(), messages.len() + 2, "no delivery for another suite's endpoint");
    assert!(wh.claim_due(now, 60_000, 1_000).await.unwrap().is_empty(), "leased");
    let again = wh.claim_due(now + 60_000, 60_000, 1_000).await.unwrap();
    assert_eq!(again.len(), due.len(), "a lapsed lease (a killed sender) is claimed again");
    assert_eq!(again[0].message.id, due[0].message.id, "with the same message id");

    let attempt = |status: Option<i64>, at: i64| Attempt {
        sent_at_ms: at,
        status_code: status,
        error: status.is_none().then(|| "connection refused".into()),
        response: status.map(|_| "ok".into()),
        duration_ms: 3,
    };
    let first = &again[0];
    wh.record_attempt(first, &attempt(None, now + 60_000), AfterAttempt::RetryAt(now + 250_000)).await.unwrap();
    assert!(
        !wh.claim_due(now + 200_000, 60_000, 1_000).await.unwrap().iter().any(|d| d.delivery_id == first.delivery_id),
        "not before its retry time"
    );
    let retried = wh.claim_due(now + 260_001, 60_000, 1_000).await.unwrap();
    let second = retried.iter().find(|d| d.delivery_id == first.delivery_id).expect("due again after its retry time");
    assert_eq!(second.attempts, 1);
    wh.record_attempt(second, &attempt(Some(204), now + 260_001), AfterAttempt::Delivered).await.unwrap();
    let log = wh.deliveries(&first.endpoint.id, 100).await.unwrap();
    let d = log.iter().find(|d| d.id == first.delivery_id).unwrap();
    assert_eq!((d.state.as_str(), d.attempts, d.last_status, d.next_at_ms), ("delivered", 2, Some(204), None));
    assert_eq!(d.log.iter().map(|a| a.status_code).collect::<Vec<_>>(), [Some(204), None], "newest first");
    assert_eq!(d.log[1].error.as_deref(), Some("connection refused"));
    assert!(wh.retry_delivery(&first.endpoint.id, first.delivery_id, now + 300_000).await.unwrap());
    assert!(!wh.retry_delivery(&clusters_only.id, first.delivery_id, now).await.unwrap(), "not that endpoint's");

    // 410 disables its endpoint: its other deliveries wait, unclaimed.
    let of_clusters: Vec<_> = retried.iter().filter(|d| d.endpoint.id == clusters_only.id).collect();
    wh.record_attempt(of_clusters[0], &attempt(Some(410), now + 260_001), AfterAttempt::Gone).await.unwrap();
    let ep = wh.endpoint(s.id, &clusters_only.id).await.unwrap().unwrap();
    assert!(!ep.enabled);
    assert_eq!(ep.disabled_reason.as_deref(), Some("the endpoint answered 410 Gone"));
    assert!(!wh.claim_due(now + 400_000, 60_000, 1_000).await.unwrap().iter().any(|d| d.endpoint.id == clusters_only.id));

    // Five dead in a row disable `all`.
    let pending: Vec<_> = wh.claim_due(now + 500_000, 60_000, 1_000).await.unwrap();
    assert!(pending.len() >= 5, "{}", pending.len());
    // Four in one transaction (as the sender records them): not yet five.
    let batch: Vec<Attempted> = pending
        .iter()
        .take(4)
        .map(|d| Attempted { due: d.clone(), attempt: attempt(Some(500), now + 500_000), after: AfterAttempt::Dead })
        .collect();
    wh.record_attempts(&batch).await.unwrap();
    assert!(wh.endpoint(s.id, &all.id).await.unwrap().unwrap().enabled, "four dead do not disable");
    let log = wh.deliveries(&all.id, 1_000).await.unwrap();
    assert!(batch.iter().all(|b| log.iter().any(|d| d.id == b.due.delivery_id && d.state == "dead")), "each of the batch recorded");
    wh.record_attempt(&pending[4], &attempt(Some(500), now + 500_000), AfterAttempt::Dead).await.unwrap();
    let ep = wh.endpoint(s.id, &all.id).await.unwrap().unwrap();
    assert_eq!((ep.enabled, ep.disabled_reason.as_deref()), (false, Some("its last 5 messages were never delivered")));

    // Removal: gone from the list, its pending deliveries end, its log stays.
    assert!(wh.remove_endpoint(s.id, &all.id, now).await.unwrap());
    assert!(!wh.remove_endpoint(s.id, &all.id, now).await.unwrap());
    assert!(!wh.remove_endpoint(other.id, &clusters_only.id, now).await.unwrap(), "another suite's");
    assert_eq!(wh.endpoints(s.id).await.unwrap().len(), 1);
    let log = wh.deliveries(&all.id, 1_000).await.unwrap();
    assert!(log.iter().all(|d| d.state != "pending") && !log.is_empty());
    assert_eq!(wh.prune_attempts(now + 400_000).await.unwrap(), 3, "attempts before the cut are forgotten");
}

/// An owners file replaces the last one (its version counts up); the lists
/// take an "only these tests" filter (what an owner filter becomes); events
/// carry the owners of their tests, and an endpoint with an owner takes only
/// the events naming it.
async fn owners_files_are_versioned_and_owners_reach_lists_and_events(store: Arc<dyn Store>) {
    use verdict_core::webhook::{EventType, Format};
    let s = suite(&store, "owned").await;
    assert_eq!(store.owners().owners_file(s.id).await.unwrap(), None);
    assert_eq!(store.owners().set_owners_file(s.id, "* @all\n", "cli", 1_000).await.unwrap(), 1);
    let file = "* @all\n*.rb @ruby\n/spec/payments/ payments billing\n";
    assert_eq!(store.owners().set_owners_file(s.id, file, "upload token", 2_000).await.unwrap(), 2);
    let kept = store.owners().owners_file(s.id).await.unwrap().unwrap();
    assert_eq!((kept.version, kept.content.as_str(), kept.uploaded_by.as_str(), kept.uploaded_at_ms), (2, file, "upload token", 2_000));

    let endpoint = |owner: Option<&str>| webhooks::NewEndpoint {
        suite_id: s.id,
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        format: Format::Standard,
        events: vec![EventType::RunFailed],
        owner: owner.map(Into::into),
        description: None,
    };
    let payments_hook = store.webhooks().add_endpoint(&endpoint(Some("payments")), 1_000).await.unwrap();
    let search_hook = store.webhooks().add_endpoint(&endpoint(Some("search")), 1_000).await.unwrap();
    let clusters_hook = store
        .webhooks()
        .add_endpoint(&webhooks::NewEndpoint { events: vec![EventType::ClusterCreated], ..endpoint(Some("payments")) }, 1_000)
        .await
        .unwrap();
    let in_file = |scope: &str, name: &str, file: &str, outcome: Outcome, reason: &str| {
        let mut e = exec(scope, name, outcome, Some(1.0));
        e.file_name = Some(file.into());
        e.failure_reason = (outcome == Outcome::Failed).then(|| reason.into());
        e
    };
    let execs = vec![
        in_file("Pay", "charges", "./spec/payments/charge_spec.rb", Outcome::Failed, "card declined"),
        in_file("Lib", "parses", "lib/parser.rb", Outcome::Failed, "unexpected token"),
        in_file("Docs", "builds", "docs/build.py", Outcome::Passed, ""),
    ];
    store.write_upload(s.id, upload("r1", Some("main"), Some("c1"), execs)).await.unwrap();
    while store.flaky().analyse_due(i64::MAX / 2).await.unwrap().is_some() {}

    let run_failed = store.webhooks().messages(s.id, 10).await.unwrap().into_iter().find(|m| m.kind == "run.failed").unwrap();
    // In the order of the failed tests the event lists.
    let listed: Vec<&str> = run_failed.data["failed_tests"].as_array().unwrap().iter().map(|t| t["scope"].as_str().unwrap()).collect();
    let expected = if listed == ["Lib", "Pay"] {
        serde_json::json!(["@ruby", "payments", "billing"])
    } else {
        serde_json::json!(["payments", "billing", "@ruby"])
    };
    assert_eq!(run_failed.data["owners"], expected, "the failed tests' owners, each once ({listed:?})");
    // New clusters name the tests that failed so, and their owners: only the payments one has a taker.
    let created: Vec<_> = store.webhooks().messages(s.id, 10).await.unwrap().into_iter().filter(|m| m.kind == "cluster.created").collect();
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(
        (created[0].data["cluster"]["title"].as_str(), created[0].data["tests"][0]["name"].as_str()),
        (Some("card declined"), Some("charges"))
    );
    assert_eq!(created[0].data["owners"], serde_json::json!(["payments", "billing"]));
    let due = store.webhooks().claim_due(i64::MAX / 2, 60_000, 100).await.unwrap();
    assert!(due.iter().any(|d| d.endpoint.id == clusters_hook.id));
    assert!(due.iter().any(|d| d.endpoint.id == payments_hook.id), "the payments endpoint takes it");
    assert!(!due.iter().any(|d| d.endpoint.id == search_hook.id), "an endpoint for another owner does not");

    let paths = store.owners().test_paths(s.id).await.unwrap();
    assert_eq!(paths.len(), 3);
    let pay = paths.iter().find(|t| t.path() == Some("spec/payments/charge_spec.rb")).unwrap().id;
    let only = TestFilter { days: 0, only: Some(vec![pay]), ..Default::default() };
    let listed = store.tests(s.id, &only).await.unwrap();
    assert_eq!(listed.iter().map(|t| t.test.id).collect::<Vec<_>>(), [pay]);
    assert_eq!(store.tests(s.id, &TestFilter { days: 0, only: Some(vec![]), ..Default::default() }).await.unwrap().len(), 0);
    assert_eq!(store.tests(s.id, &TestFilter { days: 0, ..Default::default() }).await.unwrap().len(), 3);

    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64 / 86_400_000;
    let all = store.clusters().clusters(s.id, today, 7, 10, None).await.unwrap();
    assert_eq!(all.len(), 2);
    let mine = store.clusters().clusters(s.id, today, 7, 10, Some(&[pay])).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].title, "card declined");

    let q = flaky::TrackQuery {
        suite_id: s.id,
        track: "main".into(),
        first_day: 0,
        end_day: i64::MAX / 86_400_000,
        states: vec![verdict_core::flaky::State::New],
        limit: 10,
        offset: 0,
        only: Some(vec![pay]),
    };
    let (tracks, total) = store.flaky().flaky_tracks(&q).await.unwrap();
    assert_eq!((tracks.len(), total), (1, 1));
    assert_eq!(tracks[0].0.test.id, pay);
}

/// `cluster.spiked`: once per cluster and UTC day, when a known cluster's
/// failures today are unlikely under its rate of the week before (the
/// spec's Poisson rule); never for the upload that made the cluster.
async fn cluster_spikes_are_announced_once_a_day(store: Arc<dyn Store>) {
    use verdict_core::webhook::{EventType, Format};
    let s = suite(&store, "spiky").await;
    let hook = webhooks::NewEndpoint {
        suite_id: s.id,
        url: "http://127.0.0.1:9/hook".into(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        format: Format::Standard,
        events: vec![EventType::ClusterSpiked],
        owner: None,
        description: None,
    };
    store.webhooks().add_endpoint(&hook, 0).await.unwrap();
    const DAY: i64 = 86_400_000;
    let day0 = 20_000 * DAY;
    let failing = |n: usize, key: &str| {
        let execs = (0..n)
            .map(|i| {
                let mut e = exec("Pay", &format!("t{i}"), Outcome::Failed, Some(1.0));
                e.failure_reason = Some("connection reset by peer".into());
                e
            })
            .chain((0..20).map(|i| exec("Ok", &format!("p{i}"), Outcome::Passed, Some(1.0))))
            .collect();
        upload(key, Some("main"), Some(key), execs)
    };
    // Ten a day for the week before: λ = (70 + 0.5) / 7.
    for d in 0..7 {
        store.import_upload(s.id, failing(10, &format!("w{d}")), day0 + d * DAY + 3_600_000).await.unwrap();
    }
    let today = day0 + 7 * DAY;
    let spikes = || async {
        store.webhooks().messages(s.id, 100).await.unwrap().into_iter().filter(|m| m.kind == "cluster.spiked").collect::<Vec<_>>()
    };
    // The week's own first days spiked (ten after none is news); count from here.
    let before = spikes().await.len();
    assert!(before >= 1, "day 1 of the cluster (10 after 10) spiked");
    store.import_upload(s.id, failing(20, "a"), today + 1_000).await.unwrap();
    assert_eq!(spikes().await.len(), before, "20 today: p = 0.0036, not a spike");
    store.import_upload(s.id, failing(5, "b"), today + 2_000).await.unwrap();
    let got = spikes().await;
    assert_eq!(got.len(), before + 1, "25 today: p < 0.001");
    let last = got.last().unwrap();
    assert_eq!(last.data["count_24h"], 25);
    assert!((last.data["lambda"].as_f64().unwrap() - 70.5 / 7.0).abs() < 1e-9);
    assert!(last.data["p"].as_f64().unwrap() < 0.001);
    assert_eq!(last.data["cluster"]["title"], "connection reset by peer");
    store.import_upload(s.id, failing(10, "c"), today + 3_000).await.unwrap();
    assert_eq!(spikes().await.len(), before + 1, "once a day");
    store.import_upload(s.id, failing(40, "d"), today + DAY + 1_000).await.unwrap();
    assert_eq!(spikes().await.len(), before + 2, "the next day may spike again");
}

async fn reports_and_the_rows_resim_reads(store: Arc<dyn Store>) {
    use verdict_store::reports::NewReport;
    let s = suite(&store, "resim").await;
    let r = store.reports();
    let project = r.project_id().await.unwrap();
    assert_eq!(r.project_id().await.unwrap(), project, "made once, then the same");

    let report = NewReport {
        suite_id: s.id,
        branch: "main".into(),
        name: "nightly".into(),
        start_ms: 1_000,
        end_ms: 2_000,
        respect_revision: true,
        created_at_ms: 3_000,
    };
    let stored = r.create_report(report.clone()).await.unwrap();
    assert_eq!(stored.report, report);
    assert_eq!(stored.metrics_status, None);
    assert_eq!(r.report(stored.id).await.unwrap(), Some(stored.clone()));
    assert_eq!(r.report(stored.id + 1000).await.unwrap(), None);
    let second = r.create_report(NewReport { name: "second".into(), ..report }).await.unwrap();
    let ids = |v: Vec<verdict_store::reports::StoredReport>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(r.reports(Some(s.id), 0, 10).await.unwrap()), vec![stored.id, second.id]);
    assert_eq!(ids(r.reports(None, stored.id, 10).await.unwrap()), vec![second.id]);
    assert_eq!(ids(r.reports(Some(s.id + 1), 0, 10).await.unwrap()), Vec::<i64>::new());
    assert_eq!(ids(r.latest_reports(s.id, 10).await.unwrap()), vec![second.id, stored.id], "newest first");
    assert_eq!(ids(r.latest_reports(s.id, 1).await.unwrap()), vec![second.id]);
    // A program's metrics: kept whole with their status, replaced by the next run's.
    assert_eq!(r.report_metrics(stored.id).await.unwrap(), None);
    assert_eq!(r.report_metrics_view(stored.id).await.unwrap(), None);
    assert!(r.set_report_metrics(stored.id, vec![0, 1, 255], "{\"v\":1}".into(), "FAIL_WARN".into(), 4_000).await.unwrap());
    assert!(r.set_report_metrics(second.id, vec![7], "{}".into(), "PASSED".into(), 4_001).await.unwrap());
    assert!(!r.set_report_metrics(second.id + 1000, vec![7], "{}".into(), "PASSED".into(), 4_001).await.unwrap());
    assert_eq!(r.report_metrics(stored.id).await.unwrap(), Some(vec![0, 1, 255]));
    assert_eq!(r.report_metrics_view(stored.id).await.unwrap().as_deref(), Some("{\"v\":1}"));
    let kept = r.report(stored.id).await.unwrap().unwrap();
    assert_eq!((kept.metrics_status.as_deref(), kept.metrics_at_ms), (Some("FAIL_WARN"), Some(4_000)));
    assert!(r.set_report_metrics(stored.id, vec![9; 70_000], "{}".into(), "PASSED".into(), 5_000).await.unwrap());
    assert_eq!(r.report_metrics(stored.id).await.unwrap(), Some(vec![9; 70_000]));
    assert_eq!(r.report_metrics(second.id).await.unwrap(), Some(vec![7]));

    // Commit c1 first in run one (two results of a, one retried), again in run three.
    let mut retried = exec("s", "a", Outcome::Passed, Some(0.5));
    retried.attempt = 1;
    let one = store
        .write_upload(
            s.id,
            upload(
                "one",
                Some("main"),
                Some("c1"),
                vec![exec("s", "a", Outcome::Failed, Some(1.0)), retried, exec("s", "b", Outcome::Skipped, None)],
            ),
        )
        .await
        .unwrap();
    let two =
        store.write_upload(s.id, upload("two", Some("dev"), Some("c2"), vec![exec("s", "b", Outcome::Failed, Some(2.0))])).await.unwrap();
    store.write_upload(s.id, upload("three", Some("main"), Some("c1"), vec![exec("s", "a", Outcome::Passed, Some(3.0))])).await.unwrap();
    let jobs = r.run_jobs(one.run_id, 0, 10).await.unwrap();
    assert_eq!(jobs.iter().map(|j| (j.name.as_str(), j.status)).collect::<Vec<_>>(), vec![("a", 1 | 2 | 8), ("b", 4)]);
    let page = r.run_jobs(one.run_id, jobs[0].test_id, 10).await.unwrap();
    assert_eq!(page.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(), vec!["b"], "keyset paging by test id");
    let (job, seconds) = r.run_job(one.run_id, jobs[0].test_id).await.unwrap().unwrap();
    assert_eq!((job.scope.as_str(), seconds), ("s", Some(1.5)), "the attempts' durations summed");
    assert_eq!(r.run_job(one.run_id, jobs[1].test_id).await.unwrap().unwrap().1, None, "untimed");
    assert_eq!(r.run_job(two.run_id, jobs[0].test_id).await.unwrap(), None, "a did not run in run two");

    let window = verdict_store::reports::ReportWindow { suite_id: s.id, branch: Some("main".into()), since_ms: 0, until_ms: i64::MAX };
    let mut w = r.window_jobs(&window).await.unwrap();
    w.tests.sort_by(|a, b| a.name.cmp(&b.name));
    let counts: Vec<(&str, [i64; 4])> = w.tests.iter().map(|t| (t.name.as_str(), [t.passed, t.warning, t.blocker, t.cancelled])).collect();
    assert_eq!(
        counts,
        vec![("a", [1, 1, 0, 0]), ("b", [0, 0, 0, 1])],
        "run one: a flaked, b skipped; run three: a passed; run two is on dev"
    );
    w.durations.sort_by_key(|(run, _)| *run);
    assert_eq!(w.durations.len(), 2);
    assert_eq!(w.durations[0], (one.run_id, vec![1.5]));

    // Named numbers: the last result's value wins; an upload without any writes none.
    let mut m1 = exec("s", "m", Outcome::Passed, Some(1.0));
    m1.properties.push("metric:min_distance".into(), "0.5".into());
    let mut m2 = exec("s", "m", Outcome::Passed, Some(1.0));
    m2.attempt = 1;
    m2.properties.push("metric:min_distance".into(), "0.75".into());
    m2.properties.push("metric:speed".into(), "3".into());
    let four = store.write_upload(s.id, upload("four", Some("main"), Some("c3"), vec![m1, m2])).await.unwrap();
    let m = r.run_jobs(four.run_id, 0, 10).await.unwrap().remove(0).test_id;
    assert_eq!(r.job_metrics(four.run_id, m).await.unwrap(), vec![("min_distance".into(), 0.75), ("speed".into(), 3.0)]);
    assert_eq!(r.job_metrics(one.run_id, jobs[0].test_id).await.unwrap(), vec![]);
    let mut named = r.window_job_metrics(&window).await.unwrap();
    named.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(named, vec![(four.run_id, "min_distance".into(), 0.75), (four.run_id, "speed".into(), 3.0)]);

    // pytest-monitor samples of a job: a session of the same CI build (commit
    // c5, build 7) as the results' run; the latest sample of a test counts, a
    // module's sample and another build's session do not.
    let mut with_build = upload("five", Some("main"), Some("c5"), vec![exec("s", "a", Outcome::Passed, Some(1.0))]);
    with_build.run_env.number = Some("7".into());
    let five = store.write_upload(s.id, with_build).await.unwrap();
    let mon = store.monitor();
    mon.add_context(s.id, monitor_context()).await.unwrap();
    for (h, build) in [("build7", "7"), ("build8", "8")] {
        let mut session = monitor_session(h);
        session.scm_ref = Some("c5".into());
        session.description.0.push(("pipeline_build_no".into(), verdict_core::monitor::DescriptionValue::String(build.into())));
        mon.add_session(s.id, session).await.unwrap();
    }
    let sample = |session: &str, kind: &str, mem: f64| {
        let mut m = monitor_sample(0, session);
        (m.item_path, m.item_variant, m.kind, m.mem_usage, m.cpu_usage, m.user_time, m.kernel_time) =
            ("s".into(), "a".into(), kind.into(), mem, 0.5, 1.0, 0.25);
        m
    };
    for m in [
        sample("build7", "function", 50.0),
        sample("build7", "function", 60.0),
        sample("build7", "module", 99.0),
        sample("build8", "function", 70.0),
    ] {
        mon.add_metric(s.id, m).await.unwrap();
    }
    let a = r.run_jobs(five.run_id, 0, 10).await.unwrap().remove(0).test_id;
    let got = r.job_resources(five.run_id, a).await.unwrap().unwrap();
    assert_eq!((got.memory_mb, got.cpu_usage, got.user_time, got.kernel_time), (60.0, 0.5, 1.0, 0.25));
    assert_eq!(r.job_resources(one.run_id, a).await.unwrap(), None, "run one has no build number, so no session");
    let all = r.window_job_resources(&window).await.unwrap();
    let of_five: Vec<f64> = all.iter().filter(|x| x.run_id == five.run_id).map(|x| x.memory_mb).collect();
    assert_eq!(of_five, vec![60.0], "one sample per job: the latest of its build's session");
    assert!(all.iter().all(|x| x.memory_mb != 70.0), "build 8's session run has no branch, so it is not on main");

    let firsts = r.first_runs(s.id, &["c1".into(), "c2".into(), "never".into()]).await.unwrap();
    let mut firsts: Vec<(String, i64)> = firsts.into_iter().map(|f| (f.commit_sha, f.run_id)).collect();
    firsts.sort();
    assert_eq!(firsts, vec![("c1".into(), one.run_id), ("c2".into(), two.run_id)]);
    let mut branches = r.suite_branches(s.id).await.unwrap();
    branches.sort();
    assert_eq!(branches, vec!["dev", "main"]);
}
