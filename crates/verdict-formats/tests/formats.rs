//! Fixtures produced by real tools (pytest 8.4.2 --junitxml, cargo-nextest,
//! jest-junit, gotestsum 1.8.2 from Debian) and written from documented
//! formats (Surefire with reruns, ctest, Bazel test.xml, nested suites). Expected counts were
//! taken independently with Python's ElementTree.

use std::collections::BTreeMap;
use verdict_core::{ExecutionRecord, Outcome};
use verdict_formats::buildkite::{self, Data, Envelope};
use verdict_formats::junit;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn counts(execs: &[ExecutionRecord]) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for e in execs {
        *m.entry(e.outcome.as_str()).or_default() += 1;
    }
    m
}

fn upload_junit(bytes: &[u8]) -> Result<verdict_core::Upload, verdict_formats::FormatError> {
    buildkite::assemble(Envelope {
        format: Some("junit".into()),
        run_env: vec![("key".into(), Some("k".into()))],
        tags: vec![],
        data: Some(Data::Bytes(bytes)),
    })
}

#[track_caller]
fn check(name: &str, testcases: usize, passed: usize, failed: usize, skipped: usize) -> Vec<ExecutionRecord> {
    let report = junit::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(report.testcases, testcases, "{name} testcases");
    let c = counts(&report.executions);
    let got = (c.get("passed").copied().unwrap_or(0), c.get("failed").copied().unwrap_or(0), c.get("skipped").copied().unwrap_or(0));
    assert_eq!(got, (passed, failed, skipped), "{name}: (passed, failed, skipped)");
    report.executions
}

#[test]
fn pytest_junitxml() {
    let e = check("pytest.xml", 14, 9, 3, 2);
    assert_eq!(e.iter().filter(|e| e.scope == "tests.test_sample.TestGrouped").count(), 2);
    assert!(e.iter().all(|e| e.scope.starts_with("tests.test_sample")));
    let failing = e.iter().find(|e| e.name == "test_failing_assertion").unwrap();
    assert!(failing.failure_reason.as_deref().unwrap().starts_with("AssertionError: assert {'a': 1, 'b': 2}"));
    assert!(failing.failure_reason.as_deref().unwrap().contains('\n'), "&#10; in the message becomes a newline");
    assert!(failing.failure_expanded[0].expanded.iter().any(|l| l.contains("> ") || l.starts_with('>')), "&gt; is unescaped");
    let xfail = e.iter().find(|e| e.name == "test_expected_failure").unwrap();
    assert_eq!(xfail.failure_reason.as_deref(), Some("known bug"));
}

#[test]
fn nextest_junit() {
    let e = check("nextest.xml", 3, 2, 1, 0);
    let fails = e.iter().find(|e| e.name == "tests::fails").unwrap();
    assert_eq!(fails.scope, "nxsample");
    assert!(fails.failure_reason.as_deref().unwrap().contains("panicked at src/lib.rs:4:26"));
    assert!(fails.duration.unwrap() > 0.2);
    let prints = e.iter().find(|e| e.name == "tests::prints").unwrap();
    assert!(prints.system_out.as_deref().unwrap().contains("hello from stdout"));
    assert!(prints.system_err.is_none(), "empty system-err is not kept");
}

#[test]
fn jest_junit() {
    let e = check("jest-junit.xml", 10, 7, 2, 1);
    let failed = e.iter().find(|e| e.outcome == Outcome::Failed).unwrap();
    // jest-junit puts no message attribute on <failure>: the first text line is the reason.
    assert!(failed.failure_reason.as_deref().unwrap().starts_with("Error: expect(received)"), "{:?}", failed.failure_reason);
}

#[test]
fn surefire_flaky_and_rerun_attempts_are_all_kept() {
    let e = check("surefire-reruns.xml", 4, 2, 5, 1);
    let flaky: Vec<_> = e.iter().filter(|e| e.name == "checkoutIsFlaky").collect();
    assert_eq!(
        flaky.iter().map(|e| (e.attempt, e.outcome)).collect::<Vec<_>>(),
        vec![(0, Outcome::Failed), (1, Outcome::Failed), (2, Outcome::Passed)]
    );
    assert_eq!(flaky[0].failure_reason.as_deref(), Some("expected:<3> but was:<2>"));
    assert_eq!(flaky[0].failure_expanded[0].expanded[0], "org.opentest4j.AssertionFailedError");
    assert_eq!(flaky[0].duration, Some(2001.25), "thousands separator in time");
    let rerun: Vec<_> = e.iter().filter(|e| e.name == "removesItem").collect();
    assert_eq!(
        rerun.iter().map(|e| (e.attempt, e.outcome)).collect::<Vec<_>>(),
        vec![(0, Outcome::Failed), (1, Outcome::Failed), (2, Outcome::Failed)]
    );
    assert_eq!(rerun[2].failure_reason.as_deref(), Some("cart still not empty"));
    assert_eq!(rerun[0].system_out.as_deref(), Some("cart=<a,b> & more"), "CDATA kept verbatim");
}

#[test]
fn ctest_output_junit() {
    let e = check("ctest.xml", 4, 1, 1, 2);
    let notrun = e.iter().find(|e| e.name == "gpu_kernels").unwrap();
    assert_eq!(notrun.failure_reason.as_deref(), Some("Required resources unavailable"));
}

#[test]
fn bazel_test_xml_without_classname_takes_the_suite_name() {
    let e = check("bazel-test.xml", 1, 0, 1, 0);
    assert_eq!(e[0].scope, "//server/auth:token_test");
    assert_eq!(e[0].duration, Some(7.0));
}

#[test]
fn gotestsum_junit() {
    let e = check("gotestsum.xml", 6, 4, 1, 1);
    let fail = e.iter().find(|e| e.name == "TestCompact").unwrap();
    assert_eq!(fail.failure_reason.as_deref(), Some("Failed"));
    assert!(fail.failure_expanded[0].expanded.iter().any(|l| l.contains("compaction left 3 segments")));
    // gotestsum lists subtests and their parent as separate testcases.
    assert!(e.iter().any(|e| e.name == "TestGet/missing_key") && e.iter().any(|e| e.name == "TestGet"));
    let skipped = e.iter().find(|e| e.name == "TestWindowsPaths").unwrap();
    assert!(skipped.failure_reason.as_deref().unwrap().starts_with("=== RUN   TestWindowsPaths"), "{:?}", skipped.failure_reason);
}

#[test]
fn nested_suites_properties_files_and_missing_names() {
    let e = check("nested-suites.xml", 4, 3, 1, 0);
    let inner = e.iter().find(|e| e.name == "no_classname_takes_inner").unwrap();
    assert_eq!(inner.scope, "inner");
    assert_eq!(inner.location.as_deref(), Some("spec/inner_spec.rb:12"));
    assert_eq!(e.iter().find(|e| e.name == "no_classname_takes_outer").unwrap().scope, "outer");
    let props = e.iter().find(|e| e.name == "with_props").unwrap();
    assert_eq!(props.duration, None, "empty time attribute");
    assert_eq!(props.properties.get("owner"), Some("team-a"));
    assert_eq!(props.properties.get("note"), Some("multi\nline"));
    assert_eq!(props.system_err.as_deref(), Some("warning: deprecated"));
    // The nameless testcase is kept under the placeholder name, so that its result is seen.
    let up = upload_junit(&fixture("nested-suites.xml")).unwrap();
    assert_eq!((up.executions.len(), up.skipped.len()), (4, 0));
    assert_eq!(up.executions.iter().filter(|e| e.name == junit::UNNAMED).count(), 1);
}

#[test]
fn junit_refuses_doctype_and_unknown_entities() {
    let doctype = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><testsuite><testcase name="a" classname="b">&lol;</testcase></testsuite>"#;
    let err = junit::parse(doctype).unwrap_err().message;
    assert!(err.contains("DOCTYPE"), "{err}");
    let entity = br#"<testsuite><testcase name="a" classname="b"><failure>&xxe;</failure></testcase></testsuite>"#;
    let err = junit::parse(entity).unwrap_err().message;
    assert!(err.contains("entity &xxe;"), "{err}");
}

#[test]
fn junit_errors_name_the_problem_and_line() {
    let err = junit::parse(b"<testsuite>\n<testcase name='a'>\n</testsuite>").unwrap_err().message;
    assert!(err.contains("line 3"), "{err}");
    assert!(junit::parse(b"  ").unwrap_err().message.contains("empty"));
    assert!(junit::parse(b"<html><body/></html>").unwrap_err().message.contains("<testsuites> or <testsuite>"));
    assert!(junit::parse(b"<testsuite>\xff</testsuite>").unwrap_err().message.contains("UTF-8"));
}

#[test]
fn json_body_variants() {
    let body = br#"{"format":"junit","run_env":{"key":"k","CI":null},"data":"<testsuite><testcase classname='a' name='b'/></testsuite>"}"#;
    let up = buildkite::parse_json_body(body).unwrap();
    assert_eq!((up.format.as_str(), up.executions.len(), up.run_env.ci.clone()), ("junit", 1, None));

    let body = br#"{"run_env":{"key":"k","number":42},"data":[{"name":"t","history":{"duration":null}},{"name":7},{"scope":"s"},{"name":"r","result":"weird"}]}"#;
    let up = buildkite::parse_json_body(body).unwrap();
    assert_eq!(up.run_env.number.as_deref(), Some("42"));
    assert_eq!(up.executions.len(), 1);
    assert_eq!(up.executions[0].outcome, Outcome::Unknown, "a missing result is unknown");
    assert_eq!(up.skipped.len(), 3, "{:?}", up.skipped);
    assert!(up.skipped.reasons()[0].contains("result #2: name must be a string"), "{:?}", up.skipped);
}

#[test]
fn json_envelope_errors() {
    let cases: [(&[u8], &str); 9] = [
        (br#"{"format":"json","run_env":{"key":"k"},"data":[]}"#, "no test results"),
        (br#"{"format":"json","run_env":{"key":"k"},"data":[{"name":"a""#, "ends too early"),
        (br#"{"format":"json","run_env":{"key":"k"},"data":{"name":"a"}}"#, "data must be an array"),
        (br#"{"format":"json","run_env":"k","data":[]}"#, "run_env must be an object"),
        (br#"{"format":"json","run_env":{"branch":"main"},"data":[]}"#, "run_env[key] is required"),
        (br#"{"format":"rspec-json","run_env":{"key":"k"},"data":[]}"#, "not supported yet"),
        (br#"{"format":"tap","run_env":{"key":"k"},"data":[]}"#, "unknown format"),
        (br#"{"format":"json","run_env":{"key":"k"},"tags":{"mut.x":"1"},"data":[]}"#, "reserved"),
        (br#"{"format":"json","run_env":{"key":"k"}}"#, "data is required"),
    ];
    for (body, want) in cases {
        let err = buildkite::parse_json_body(body).unwrap_err().message;
        assert!(err.contains(want), "{} -> {err}", String::from_utf8_lossy(body));
    }
    let many = format!(r#"{{"format":"json","run_env":{{"key":"k"}},"data":[{}]}}"#, vec![r#"{"name":"a"}"#; 5001].join(","));
    assert!(buildkite::parse_json_body(many.as_bytes()).unwrap_err().message.contains("5001 test results"));
}

/// The JSON reader keeps what fits and says what it cut or left out, in the
/// stored data itself (issue 11's caps; the README lists them).
#[test]
fn json_text_and_arrays_are_capped_and_marked() {
    use verdict_core::caps::*;
    let long = "é".repeat(MAX_TEXT_BYTES);
    let details: Vec<serde_json::Value> =
        (0..25).map(|i| serde_json::json!({"expanded": vec![format!("line {i}"); MAX_DETAIL_LINES + 5], "backtrace": ["b"]})).collect();
    let props: serde_json::Map<String, serde_json::Value> =
        (0..MAX_PROPERTIES + 3).map(|i| (format!("p{i}"), serde_json::json!(if i == 0 { long.clone() } else { "v".into() }))).collect();
    let spans: Vec<serde_json::Value> =
        (0..5000).map(|i| serde_json::json!({"section": "sql", "duration": 0.1, "detail": {"query": if i == 0 { long.clone() } else { format!("SELECT {i}") }}})).collect();
    let deep: serde_json::Value = serde_json::from_str(&format!("{}1{}", "[".repeat(20), "]".repeat(20))).unwrap();
    let body = serde_json::json!({
        "format": "json",
        "run_env": {"key": "k", "message": long},
        "data": [
            {"name": "t", "result": "failed", "failure_reason": long, "system_out": long, "system_err": "short",
             "location": "l".repeat(MAX_NAME_BYTES + 1), "failure_expanded": details, "properties": props,
             "history": {"duration": 1.5, "children": spans}},
            {"name": "é".repeat(MAX_NAME_BYTES / 2) + "x"},
            {"name": "deep", "history": {"children": [{"a": deep}, {"section": "ok"}]}},
        ]
    });
    let up = buildkite::parse_json_body(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert!(up.run_env.message.as_ref().unwrap().ends_with(TRUNCATION_MARK));
    assert_eq!(up.executions.len(), 2);
    assert!(up.skipped.reasons()[0].contains("longer than 4096 bytes"), "{:?}", up.skipped);
    let r = &up.executions[0];
    for text in [&r.failure_reason, &r.system_out, &r.location] {
        let text = text.as_deref().unwrap();
        assert!(text.ends_with(TRUNCATION_MARK) && text.len() <= MAX_TEXT_BYTES, "{}", &text[text.len() - 40..]);
    }
    assert_eq!(r.system_err.as_deref(), Some("short"));
    assert_eq!(r.failure_expanded.len(), MAX_FAILURE_DETAILS + 1);
    assert_eq!(r.failure_expanded[MAX_FAILURE_DETAILS].expanded, ["[... 5 more failures not kept by Verdict]"]);
    let first = &r.failure_expanded[0];
    assert_eq!(
        (first.expanded.len(), first.expanded.last().unwrap().as_str()),
        (MAX_DETAIL_LINES + 1, "[... 5 more lines truncated by Verdict]")
    );
    assert_eq!(first.backtrace, ["b"]);
    assert_eq!(r.properties.values("(truncated by Verdict)"), ["3 more properties not kept"]);
    assert!(r.properties.get("p0").unwrap().ends_with(TRUNCATION_MARK));
    let kept = r.spans.as_ref().unwrap().as_array().unwrap();
    let marker = kept.last().unwrap()["truncated_by_verdict"]["spans_not_kept"].as_u64().unwrap();
    assert!(kept.len() > 10 && kept.len() as u64 + marker == 5001, "{} kept, {marker} not", kept.len());
    assert!(kept[0]["detail"]["query"].as_str().unwrap().len() <= MAX_SPAN_TEXT_BYTES);
    assert_eq!(r.duration, Some(1.5));
    let deep = up.executions[1].spans.as_ref().unwrap();
    assert_eq!(deep, &serde_json::json!([{"section": "ok"}, {"truncated_by_verdict": {"spans_not_kept": 1}}]));
}

/// A key past its cap is refused or marked, never passed off as a shorter one
/// (a cut at a character boundary can land under the cap).
#[test]
fn long_keys_are_refused_or_marked() {
    use verdict_core::caps::{MAX_NAME_BYTES, TRUNCATION_MARK};
    let wide = "é".repeat(200);
    let body = serde_json::json!({"format": "json", "run_env": {"key": "k", wide.clone(): "v"}, "data": [{"name": "t"}]});
    let err = buildkite::parse_json_body(&serde_json::to_vec(&body).unwrap()).unwrap_err().message;
    assert!(err.contains("longer than 256 bytes"), "{err}");
    let name = "é".repeat(MAX_NAME_BYTES);
    let body = serde_json::json!({"format": "json", "run_env": {"key": "k"}, "data": [
        {"name": "t", "properties": {name.clone(): "v"}, "history": {"children": [{name.clone(): 1}, {"ok": 1}]}}]});
    let up = buildkite::parse_json_body(&serde_json::to_vec(&body).unwrap()).unwrap();
    let r = &up.executions[0];
    let json = serde_json::to_value(&r.properties).unwrap();
    let (kept, _) = json.as_object().unwrap().iter().next().unwrap();
    assert!(kept.len() <= MAX_NAME_BYTES && kept.ends_with(TRUNCATION_MARK), "{}", kept.len());
    assert_eq!(r.spans.as_ref().unwrap(), &serde_json::json!([{"ok": 1}, {"truncated_by_verdict": {"spans_not_kept": 1}}]));
}

#[test]
fn result_json_round_trips_every_field() {
    for e in junit::parse(&fixture("surefire-reruns.xml"))
        .unwrap()
        .executions
        .into_iter()
        .chain(junit::parse(&fixture("nested-suites.xml")).unwrap().executions)
    {
        let back = buildkite::parse_result(buildkite::result_json(&e)).unwrap();
        assert_eq!(back, e);
    }
}

#[test]
fn suite_paths_and_lifecycle_are_reported() {
    let xml = br#"<testsuites name="root"><testsuite name="a"><testcase name="t1" lifecycle="informing"/><testsuite name="b"><testcase name="t2"><failure/></testcase></testsuite><testcase name="t3"/></testsuite><testsuite name="c"><testcase name="t4"/></testsuite></testsuites>"#;
    let r = junit::parse(xml).unwrap();
    let paths: Vec<(&str, String)> = (0..r.executions.len()).map(|i| (r.executions[i].name.as_str(), r.suite_path(i))).collect();
    let want = [("t1", "a"), ("t2", "a|||b"), ("t3", "a"), ("t4", "c")];
    assert_eq!(paths, want.map(|(n, p)| (n, p.to_owned())));
    assert_eq!(r.origins[0].lifecycle.as_deref(), Some("informing"));
    assert_eq!(r.origins[1].lifecycle, None);
    // Reruns: every attempt carries its testcase's origin.
    let r = junit::parse(&fixture("surefire-reruns.xml")).unwrap();
    assert_eq!(r.origins.len(), r.executions.len());
    assert!((0..r.executions.len()).all(|i| r.suite_path(i) == "com.example.CartTest"));
}

#[test]
fn aggregated_report_round_trips_through_our_parser() {
    use verdict_core::batch::{CaseResult, judge};
    use verdict_core::decision::{DecisionConfig, History};
    let runs: Vec<(String, Vec<CaseResult>)> = (0..6)
        .map(|i| {
            let c = |suite: &str, name: &str, outcome, lifecycle: Option<&str>| CaseResult {
                suite: suite.into(),
                name: name.into(),
                outcome,
                lifecycle: lifecycle.map(Into::into),
            };
            (
                format!("run-{i}"),
                vec![
                    c("e2e", "ok <&> \"quoted\"", Outcome::Passed, None),
                    c("e2e|||nested", "broken", Outcome::Failed, None),
                    c("e2e", "informing", Outcome::Failed, Some("informing")),
                ],
            )
        })
        .collect();
    let judged = judge(&runs, "job", |_, _| History::Missing, &DecisionConfig::default());
    let xml = verdict_formats::aggregated::write(&judged);
    let back = junit::parse(xml.as_bytes()).unwrap();
    let got: Vec<(String, &str, Outcome)> =
        (0..back.executions.len()).map(|i| (back.suite_path(i), back.executions[i].name.as_str(), back.executions[i].outcome)).collect();
    let got: Vec<(&str, &str, Outcome)> = got.iter().map(|(p, n, o)| (p.as_str(), *n, *o)).collect();
    assert_eq!(
        got,
        vec![
            ("e2e", "ok <&> \"quoted\"", Outcome::Passed),
            ("e2e", "informing", Outcome::Failed),
            ("e2e|||nested", "broken", Outcome::Failed)
        ]
    );
    assert!(xml.contains(r#"<testsuite name="e2e" tests="0" skipped="0" failures="2" time="0">"#), "{xml}");
    assert!(xml.contains(r#"<testsuite name="nested" tests="0" skipped="0" failures="1" time="0">"#), "{xml}");
    let informing = &back.executions[1];
    assert!(informing.failure_reason.as_deref().unwrap().starts_with("*** NON-BLOCKING FAILURE"), "{:?}", informing.failure_reason);
    assert!(
        informing
            .failure_reason
            .as_deref()
            .unwrap()
            .contains("\nPassed 0 times, failed 6 times, skipped 0 times: we require at least one pass"),
        "the message keeps its newline: {:?}",
        informing.failure_reason
    );
    let out = back.executions[2].system_out.as_deref().unwrap();
    assert!(
        out.contains("name: \"broken\"\ntestsuitename: \"e2e|||nested\"\nsummary: \"")
            && out.contains("passes: []\nfailures:\n- jobrunid: \"run-0\"\n"),
        "{out}"
    );
}

/// The edges of the format where real files lost or invented results (issue 11, section 5).
mod junit_edges {
    use super::*;

    fn parse(xml: &str) -> junit::JunitReport {
        junit::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{xml}"))
    }

    #[test]
    fn a_truncated_file_or_content_after_the_root_is_refused_with_its_line() {
        let err = junit::parse(b"<testsuite name='s'>\n<testcase name='a'/>\n<testcase name='b'>").unwrap_err().message;
        assert!(err.contains("line 3") && err.contains("unclosed <testcase>") && err.contains("cut short"), "{err}");
        let err = junit::parse(b"<testsuites>\n<testsuite name='s'>\n<testcase name='a'/>\n").unwrap_err().message;
        assert!(err.contains("unclosed <testsuite>"), "{err}");
        let err = junit::parse(b"<testsuite name='s'/>\n<testsuite name='t'/>").unwrap_err().message;
        assert!(err.contains("after the root element") && err.contains("line 2"), "{err}");
        let err = junit::parse(b"<testsuite name='s'/>trailing").unwrap_err().message;
        assert!(err.contains("after the root element"), "{err}");
        assert!(junit::parse(b"<testsuite name='s'/>\n  <!-- written by x -->\n").is_ok(), "whitespace and comments may follow");
    }

    #[test]
    fn nameless_testcases_are_kept_under_a_placeholder() {
        // JUnit 5 failing in @BeforeAll, as Surefire 3 writes it; jest's test('').
        let r = parse(
            r#"<testsuite name="S"><testcase classname="com.x.FooTest" name=""><error message="boom" type="IllegalState"/></testcase><testcase classname="j" name=" "/><testcase classname="k"/></testsuite>"#,
        );
        let got: Vec<_> = r.executions.iter().map(|e| (e.scope.as_str(), e.name.as_str(), e.outcome)).collect();
        assert_eq!(
            got,
            [
                ("com.x.FooTest", junit::UNNAMED, Outcome::Failed),
                ("j", junit::UNNAMED, Outcome::Passed),
                ("k", junit::UNNAMED, Outcome::Passed)
            ]
        );
        assert_eq!(r.executions[0].failure_reason.as_deref(), Some("boom"));
    }

    #[test]
    fn a_suite_level_error_without_testcases_is_a_failed_result() {
        let xml = r#"<testsuites><testsuite name="com.x.BrokenTest" tests="1" errors="1"><error message="ClassNotFoundException" type="java.lang.ClassNotFoundException">at a.b(C.java:1)</error></testsuite><testsuite name="ok"><testcase name="t"/></testsuite></testsuites>"#;
        let up = upload_junit(xml.as_bytes()).unwrap();
        let failed: Vec<_> = up.executions.iter().filter(|e| e.outcome == Outcome::Failed).collect();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].scope.as_str(), failed[0].name.as_str()), ("com.x.BrokenTest", junit::SUITE_FAILURE_NAME));
        assert_eq!(failed[0].failure_reason.as_deref(), Some("ClassNotFoundException"));
        assert!(failed[0].failure_expanded[0].expanded.iter().any(|l| l.contains("C.java:1")));
        // A suite with testcases of its own keeps them and adds nothing (as Jenkins reads it).
        let r = parse(r#"<testsuite name="s"><failure message="teardown"/><testcase name="t"/></testsuite>"#);
        assert_eq!(r.executions.len(), 1);
    }

    #[test]
    fn a_report_of_zero_testcases_is_accepted() {
        for xml in ["<testsuites/>", "<testsuite name='empty' tests='0'></testsuite>"] {
            let up = upload_junit(xml.as_bytes()).unwrap();
            assert_eq!((up.executions.len(), up.skipped.len()), (0, 0), "{xml}");
        }
    }

    #[test]
    fn status_attributes_that_say_it_did_not_run_are_skipped() {
        let r = parse(
            r#"<testsuite name="s"><testcase name="a" status="disabled"/><testcase name="b" status="notrun"/><testcase name="c" status="skipped"/><testcase name="d" status="run"/><testcase name="e" status="disabled"><failure/></testcase></testsuite>"#,
        );
        let got: Vec<_> = r.executions.iter().map(|e| e.outcome).collect();
        assert_eq!(got, [Outcome::Skipped, Outcome::Skipped, Outcome::Skipped, Outcome::Passed, Outcome::Failed]);
    }

    #[test]
    fn decimal_commas_and_negative_times() {
        let r = parse(
            r#"<testsuite name="s"><testcase name="a" time="0,014"/><testcase name="b" time="1,234"/><testcase name="c" time="-0.5"/></testsuite>"#,
        );
        let got: Vec<_> = r.executions.iter().map(|e| e.duration).collect();
        assert_eq!(got, [Some(0.014), Some(1234.0), Some(0.0)]);
    }

    #[test]
    fn repeated_property_names_keep_every_value_in_order() {
        let r = parse(
            r#"<testsuite name="s"><testcase name="a"><properties><property name="tag" value="a"/><property name="tag" value="b"/><property name="t">x</property><property name="t">y</property></properties></testcase></testsuite>"#,
        );
        let p = &r.executions[0].properties;
        assert_eq!((p.values("tag"), p.values("t")), (&["a".to_owned(), "b".to_owned()][..], &["x".to_owned(), "y".to_owned()][..]));
        let back = buildkite::parse_result(buildkite::result_json(&r.executions[0])).unwrap();
        assert_eq!(&back.properties, p, "the JSON extension carries repeats as arrays");
    }

    #[test]
    fn every_failure_of_a_testcase_is_kept() {
        // pytest: a call failure, then a teardown error.
        let r = parse(
            r#"<testsuite name="s"><testcase classname="m" name="t"><failure message="assert 1 == 2">call trace</failure><error message="error in teardown">teardown trace</error></testcase></testsuite>"#,
        );
        let e = &r.executions[0];
        assert_eq!((r.executions.len(), e.failure_reason.as_deref()), (1, Some("assert 1 == 2")));
        assert_eq!(e.failure_expanded.len(), 2);
        assert!(e.failure_expanded[0].expanded.iter().any(|l| l == "call trace"));
        assert!(e.failure_expanded[1].expanded.iter().any(|l| l == "error in teardown"));
        assert!(e.failure_expanded[1].expanded.iter().any(|l| l == "teardown trace"));
    }

    #[test]
    fn same_named_testcases_are_separate_executions_not_attempts() {
        let r = parse(
            r#"<testsuite name="s"><testcase classname="m" name="p"/><testcase classname="m" name="p"><failure/></testcase></testsuite>"#,
        );
        assert_eq!(r.executions.iter().map(|e| (e.attempt, e.outcome)).collect::<Vec<_>>(), [(0, Outcome::Passed), (0, Outcome::Failed)]);
    }

    #[test]
    fn documents_in_latin1_and_utf16_are_decoded() {
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><testsuite name=\"s\"><testcase classname=\"m\" name=\"caf\xe9\"/></testsuite>";
        assert_eq!(junit::parse(latin1).unwrap().executions[0].name, "café");
        let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><testsuite name=\"s\"><testcase classname=\"m\" name=\"über\"/></testsuite>";
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(junit::parse(&utf16).unwrap().executions[0].name, "über");
    }
}

/// Inputs that once expanded far past their size (issue 11, section 1): what
/// each keeps is bounded while it is read.
mod junit_amplification {
    use super::*;

    #[test]
    fn results_are_counted_as_they_appear_attempts_included() {
        let cases: String = (0..4000).map(|i| format!("<testcase classname='c' name='t{i}'/>")).collect();
        let reruns = "<rerunFailure/>".repeat(90);
        let xml = format!(
            "<testsuite name='s'>{cases}{}</testsuite>",
            (0..20).map(|i| format!("<testcase name='r{i}'><failure/>{reruns}</testcase>")).collect::<String>()
        );
        let err = junit::parse(xml.as_bytes()).unwrap_err().message;
        assert!(err.contains("more than 5000 test results (attempts included)"), "{err}");
        let xml = format!("<testsuite name='s'>{}<unclosed>", "<testcase name='t'/>".repeat(5001));
        assert!(junit::parse(xml.as_bytes()).unwrap_err().message.contains("more than 5000"), "the cap stops the parse before the end");
    }

    #[test]
    fn attempts_past_the_cap_are_counted_as_skipped() {
        let xml =
            format!("<testsuite name='s'><testcase classname='c' name='flaky'>{}</testcase></testsuite>", "<flakyFailure/>".repeat(20_000));
        let r = junit::parse(xml.as_bytes()).unwrap();
        assert_eq!(r.executions.len(), verdict_core::caps::MAX_ATTEMPTS_PER_CASE);
        assert_eq!(r.skipped.len(), 20_001 - verdict_core::caps::MAX_ATTEMPTS_PER_CASE);
        assert!(r.skipped.reasons()[0].contains("attempts past the first 100"), "{:?}", r.skipped);
        assert_eq!(r.executions.last().unwrap().outcome, Outcome::Passed);
    }

    #[test]
    fn an_oversize_name_is_skipped_with_all_its_attempts() {
        let name = "n".repeat(1_000_000);
        let xml = format!(
            "<testsuite name='s'><testcase classname='c' name='{name}'>{}</testcase><testcase name='ok'/></testsuite>",
            "<flakyFailure/>".repeat(1500)
        );
        let r = junit::parse(xml.as_bytes()).unwrap();
        assert_eq!(r.executions.len(), 1);
        assert_eq!(r.skipped.len(), 1501);
        assert!(r.skipped.reasons()[0].contains("longer than 4096 bytes"), "{:?}", r.skipped);
    }

    #[test]
    fn deep_or_long_suite_nesting_is_refused() {
        let deep: String = (0..3000).map(|i| format!("<testsuite name='{}'><testcase name='t{i}'/>", "s".repeat(200))).collect();
        let err = junit::parse(deep.as_bytes()).unwrap_err().message;
        assert!(err.contains("nested more than 64 deep"), "{err}");
        let long = format!("<testsuite name='{}'><testcase name='t'/></testsuite>", "s".repeat(1_000_000));
        assert!(junit::parse(long.as_bytes()).unwrap_err().message.contains("longer than 4096 bytes"));
        let wide: String = (0..40).map(|_| format!("<testsuite name='{}'>", "s".repeat(4000))).collect();
        assert!(junit::parse(wide.as_bytes()).unwrap_err().message.contains("add up to more than 16384 bytes"));
        let elements = format!("<testsuite name='s'><testcase name='t'>{}</testcase></testsuite>", "<x>".repeat(300));
        assert!(junit::parse(elements.as_bytes()).unwrap_err().message.contains("nested more than 256 deep"));
    }

    #[test]
    fn failure_text_is_capped_in_bytes_lines_and_count() {
        let text = "l\n".repeat(100_000);
        let failures = format!("<failure message='first'>{text}</failure>").repeat(30);
        let xml = format!("<testsuite name='s'><testcase name='t'>{failures}</testcase></testsuite>");
        let r = junit::parse(xml.as_bytes()).unwrap();
        let d = &r.executions[0].failure_expanded;
        assert_eq!(d.len(), verdict_core::caps::MAX_FAILURE_DETAILS + 1, "20 details and one that counts the rest");
        assert!(d.iter().all(|d| d.expanded.len() <= verdict_core::caps::MAX_DETAIL_LINES + 1));
        assert!(d[0].expanded.last().unwrap().contains("more lines truncated by Verdict"), "{:?}", d[0].expanded.last());
        assert!(d.last().unwrap().expanded[0].contains("10 more failures not kept"), "{:?}", d.last());
    }
}

#[test]
fn named_numbers_of_a_result_from_junit_properties_and_json_metrics() {
    let xml = br#"<testsuite name="s"><testcase classname="sim" name="merge" time="1.5">
        <properties><property name="metric:min_distance" value="0.75"/><property name="owner" value="x"/></properties>
      </testcase></testsuite>"#;
    let up = upload_junit(xml).unwrap();
    assert_eq!(up.executions[0].properties.metrics(), vec![("min_distance", 0.75)]);
    let body = br#"{"format":"json","run_env":{"key":"k"},"data":[
        {"scope":"sim","name":"merge","result":"passed","metrics":{"min_distance":1.25,"latency_ms":12},"properties":{"owner":"x"}}]}"#;
    let up = buildkite::parse_json_body(body).unwrap();
    let e = &up.executions[0];
    assert_eq!(e.properties.metrics(), vec![("latency_ms", 12.0), ("min_distance", 1.25)]);
    assert_eq!(e.properties.get("owner"), Some("x"), "properties given beside metrics are kept");
    // Past the properties' cap (100 names) the rest are counted, not kept.
    let many: serde_json::Map<String, serde_json::Value> = (0..150).map(|i| (format!("m{i:03}"), serde_json::json!(i))).collect();
    let body = serde_json::json!({"format": "json", "run_env": {"key": "k"}, "data": [{"name": "t", "result": "passed", "metrics": many}]});
    let up = buildkite::parse_json_body(&serde_json::to_vec(&body).unwrap()).unwrap();
    let p = &up.executions[0].properties;
    assert_eq!(p.metrics().len(), 100);
    assert_eq!(p.values("(truncated by Verdict)"), ["50 more properties not kept"]);
    // A value that is not a number makes the result invalid: skipped, counted, with the reason.
    let bad = br#"{"format":"json","run_env":{"key":"k"},"data":[
        {"name":"a","result":"passed","metrics":{"m":"fast"}},{"name":"b","result":"passed"}]}"#;
    let up = buildkite::parse_json_body(bad).unwrap();
    assert_eq!(up.executions.len(), 1);
    assert_eq!(up.skipped.len(), 1);
    assert!(up.skipped.reasons()[0].contains("metrics must map names to finite numbers"), "{:?}", up.skipped);
}
