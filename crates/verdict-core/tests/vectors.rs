//! The upstream vectors of job-run-aggregator (copied from
//! shared/vectors/job-run-aggregator.json), each one a test.

use serde_json::Value;
use verdict_core::aggregation::{required, strict_required};
use verdict_core::decision::Status;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/job-run-aggregator.json")).unwrap()
}

#[test]
fn required_passes_table_is_reproduced_exactly() {
    let v = vectors();
    let table = v["required_passes_table"]["by_attempts"].as_object().unwrap();
    assert_eq!(table.len(), 13);
    let mut mismatches = Vec::new();
    for (n, row) in table {
        let n: u32 = n.parse().unwrap();
        let row = row.as_array().unwrap();
        assert_eq!(row.len(), 101);
        for (p, want) in row.iter().enumerate() {
            let got = strict_required(n, p as u32);
            if u64::from(got) != want.as_u64().unwrap() {
                mismatches.push(format!("n={n} p={p}: got {got}, want {want}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{} mismatches: {:?}", mismatches.len(), &mismatches[..mismatches.len().min(10)]);
}

#[test]
fn required_passes_spot_checks() {
    for c in vectors()["required_passes_spot_checks"].as_array().unwrap() {
        let (n, p) = (c["attempts"].as_u64().unwrap() as u32, c["working_percentage"].as_u64().unwrap() as u32);
        assert_eq!(u64::from(strict_required(n, p)), c["strict_required"].as_u64().unwrap(), "{c}");
        assert_eq!(u64::from(required(n, p)), c["required_after_pity"].as_u64().unwrap(), "{c}");
    }
}

#[test]
fn check_failed_vectors() {
    use verdict_core::decision::{DecisionConfig, Entries, History, Status, decide};
    let v = vectors();
    let cases = v["aggregator_check_failed"]["upstream"].as_array().unwrap();
    assert!(!cases.is_empty());
    for c in cases {
        let i = &c["input"];
        let ids = |k: &str| i[k].as_array().unwrap().iter().map(|x| x.as_str().unwrap()).collect::<Vec<_>>();
        let entries = Entries { passes: ids("pass_job_run_ids"), failures: ids("failure_job_run_ids"), skips: ids("skip_job_run_ids") };
        let history = if i["history_query_error"].as_bool().unwrap() {
            History::Unavailable
        } else {
            i["historical_working_percentage"].as_f64().map_or(History::Missing, History::WorkingPercentage)
        };
        let config = DecisionConfig { minimum_attempts: i["minimum_attempts"].as_u64().unwrap() as u32, ..DecisionConfig::default() };
        let d = decide("job", i["suite_path"].as_str().unwrap(), i["test_name"].as_str().unwrap(), &entries, history, &config);
        let e = &c["expected"];
        let want = if e["status"] == "passed" { Status::Passed } else { Status::Failed };
        assert_eq!(d.status, want, "{}: {}", c["name"], d.summary);
        assert_eq!(d.strict_required.map(u64::from), e["strict_required"].as_u64(), "{}", c["name"]);
        assert_eq!(d.required.map(u64::from), e["required"].as_u64(), "{}", c["name"]);
    }
}

#[test]
fn sippy_component_readiness_vectors() {
    use verdict_core::readiness::{Counts, Options, compare};
    let v = vectors();
    let cases = v["sippy_component_readiness_fisher"].as_array().unwrap();
    assert!(!cases.is_empty());
    let counts = |c: &Value| Counts {
        success: c["success"].as_u64().unwrap(),
        failure: c["failure"].as_u64().unwrap(),
        flake: c["flake"].as_u64().unwrap(),
    };
    for case in cases {
        let o = &case["options"];
        let opts = Options {
            confidence: o["confidence"].as_f64().unwrap(),
            pity_factor: o["pity_factor"].as_f64().unwrap(),
            minimum_failure: o["minimum_failure"].as_u64().unwrap(),
            flake_as_failure: o["flake_as_failure"].as_bool().unwrap(),
            ..Options::default()
        };
        let r = compare(Some(counts(&case["base"])), counts(&case["sample"]), &opts);
        let e = &case["expected"];
        let name = case["name"].as_str().unwrap();
        assert_eq!(serde_json::to_value(r.status).unwrap(), e["status"], "{name}");
        let table: Vec<Vec<u64>> = serde_json::from_value(e["fisher_table_greater"].clone()).unwrap();
        let got = r.fisher_table.unwrap();
        assert_eq!(vec![got[0].to_vec(), got[1].to_vec()], table, "{name}");
        let (p, want) = (r.p_value.unwrap(), e["fisher_p"].as_f64().unwrap());
        assert!(((p - want) / want).abs() < 1e-9, "{name}: p {p} vs {want}");
        if let Some(x) = e.get("explanations") {
            assert_eq!(serde_json::to_value(&r.explanations).unwrap(), *x, "{name}");
        }
    }
}

fn run_values(v: &Value) -> Vec<verdict_core::metric_check::RunValue> {
    let mut runs: Vec<(u32, f64)> =
        v.as_object().unwrap().iter().map(|(k, x)| (k.trim_start_matches("run_").parse().unwrap(), x.as_f64().unwrap())).collect();
    runs.sort_by_key(|r| r.0);
    runs.into_iter().map(|(i, value)| verdict_core::metric_check::RunValue { run: format!("run_{i}"), value }).collect()
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Passed => "passed",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    }
}

#[test]
fn disruption_percentile_checks() {
    use verdict_core::metric_check::{percentile_check, percentile_once};
    let v = vectors();
    let cases = v["aggregator_disruption_percentile"]["upstream"].as_array().unwrap();
    assert_eq!(cases.len(), 15);
    for c in cases {
        let i = &c["input"];
        let values = run_values(&i["seconds_unavailable_by_run"]);
        let k = i["percentile"].as_u64().unwrap() as u32;
        let h = i["historical_percentile_value"].as_f64().unwrap();
        let r = if i["grace_retry_enabled"].as_bool().unwrap() {
            percentile_check(&values, k, h, i["grace_seconds"].as_f64().unwrap())
        } else {
            percentile_once(&values, k, h)
        };
        let e = &c["expected"];
        assert_eq!(status_name(r.status), e["status"], "{}: {r:?}", c["name"]);
        assert_eq!(r.failing.len() as u64, e["failed_count"].as_u64().unwrap(), "{}", c["name"]);
        assert_eq!(r.passing.len() as u64, e["success_count"].as_u64().unwrap(), "{}", c["name"]);
    }
    let single = v["aggregator_disruption_percentile"]["upstream_inner_single_pass"].as_array().unwrap();
    assert_eq!(single.len(), 4);
    for c in single {
        let i = &c["input"];
        let r = percentile_once(
            &run_values(&i["seconds_unavailable_by_run"]),
            i["percentile"].as_u64().unwrap() as u32,
            i["threshold_seconds"].as_f64().unwrap(),
        );
        let e = &c["expected"];
        assert_eq!(status_name(r.status), e["status"], "{}", c["name"]);
        assert_eq!(r.required, e["required_passes"].as_i64(), "{}", c["name"]);
        assert_eq!(r.failing.len() as u64, e["failed_count"].as_u64().unwrap(), "{}", c["name"]);
        assert_eq!(r.passing.len() as u64, e["success_count"].as_u64().unwrap(), "{}", c["name"]);
    }
}

#[test]
fn analyze_historical_data_compare() {
    use verdict_core::historical::{DisruptionRow, compare, output_file, pr_message, require_review, table_row};
    let v = vectors();
    let case = &v["analyze_historical_data_compare"];
    let input = &case["input"];
    let rows = |k: &str| -> Vec<DisruptionRow> { serde_json::from_value(input[k].clone()).unwrap() };
    let (current, new) = (rows("current"), rows("new"));
    let leeway = input["leeway_percent"].as_f64().unwrap();
    let releases = [input["previous_release"].as_str().unwrap(), input["target_release"].as_str().unwrap()];
    let c = compare(&current, &new, &releases, leeway);
    let e = &case["expected"];
    assert_eq!(c.increases as u64, e["increase_count_p99"].as_u64().unwrap());
    assert_eq!(c.decreases as u64, e["decrease_count_p99"].as_u64().unwrap());
    assert_eq!(serde_json::to_value(&c.added).unwrap(), e["added_keys"]);
    assert_eq!(serde_json::to_value(&c.missing).unwrap(), e["missing_keys_as_emitted"]);
    for want in e["per_row"].as_array().unwrap() {
        let key = want["key"].as_str().unwrap();
        let Some(got) = c.compared.iter().find(|r| r.key == key) else {
            assert!(c.added.iter().any(|k| k == key), "{key} is neither compared nor added");
            continue;
        };
        let secs = |ms: i64| ms as f64 / 1000.0;
        assert_eq!(secs(got.new_p95_ms), want["new_p95_seconds"].as_f64().unwrap(), "{key}");
        assert_eq!(secs(got.new_p99_ms), want["new_p99_seconds"].as_f64().unwrap(), "{key}");
        assert_eq!(got.job_results, want["job_results"].as_i64().unwrap(), "{key}");
        assert_eq!(secs(got.p95_increase_ms), want["p95_increase_recorded_seconds"].as_f64().unwrap(), "{key}");
        assert!((got.p95_percent - want["p95_percent_recorded"].as_f64().unwrap()).abs() < 1e-9, "{key}");
        assert_eq!(secs(got.p99_increase_ms), want["p99_increase_recorded_seconds"].as_f64().unwrap(), "{key}");
        assert!((got.p99_percent - want["p99_percent_recorded"].as_f64().unwrap()).abs() < 1e-9, "{key}");
    }
    // The output file: new rows of the two releases, unchanged, sorted by key.
    let out: Vec<DisruptionRow> = serde_json::from_str(&output_file(&new, &releases)).unwrap();
    let keys: Vec<String> = out.iter().map(verdict_core::historical::PercentileRow::key).collect();
    assert_eq!(serde_json::to_value(&keys).unwrap(), e["output_file_row_keys_in_order"]);
    assert!(output_file(&new, &releases).starts_with("[\n  {\n    \"BackendName\": "), "2-space indent, upstream's field order");
    // The PR message table and the review lines.
    let md = pr_message::<DisruptionRow>("disruptions", &c, leeway, 100);
    for row in e["pr_table_rows"].as_array().unwrap() {
        assert!(md.lines().any(|l| l == row.as_str().unwrap()), "{md}");
    }
    let table_rows: Vec<String> = c.compared.iter().filter(|r| r.job_results >= 100 && r.p99_increase_ms > 0).map(table_row).collect();
    assert_eq!(serde_json::to_value(&table_rows).unwrap(), e["pr_table_rows"]);
    let counts = &e["pr_message_counts"];
    let line = format!("There were (`{}`) added jobs and (`{}`) were removed.", counts["added"], counts["removed"]);
    assert!(md.contains(&line), "{md}");
    assert!(md.contains("### Comparisons were above allowed leeway of `30.00%`"), "{md}");
    let review: Vec<&str> = e["require_review_lines"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    assert_eq!(require_review("disruptions", &c, leeway).lines().collect::<Vec<_>>(), review);
}
