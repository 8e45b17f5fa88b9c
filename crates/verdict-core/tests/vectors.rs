//! The upstream vectors of job-run-aggregator (copied from
//! shared/vectors/job-run-aggregator.json), each one a test.

use serde_json::Value;
use verdict_core::aggregation::{required, strict_required};

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
