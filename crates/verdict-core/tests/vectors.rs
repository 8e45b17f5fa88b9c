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
