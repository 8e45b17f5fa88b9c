//! Component-readiness comparison of a suite's tests between two selections
//! of runs (a basis and a sample), each a branch or a window of days.

use crate::AnalysisError;
use serde::Serialize;
use std::collections::BTreeMap;
use verdict_core::readiness::{Comparison, Counts, Options, Status, compare};
use verdict_store::{RunSelection, Store, TestRecord};

const DAY_MS: i64 = 86_400_000;

/// Parse `30d..7d` (from 30 to 7 days ago), `7d` (the last 7 days), or a
/// branch name; `branch:NAME` forces a branch whose name looks like a window.
pub fn parse_selection(raw: &str, now_ms: i64) -> Result<RunSelection, String> {
    let days = |s: &str| s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()).filter(|n| *n >= 0);
    if let Some(branch) = raw.strip_prefix("branch:") {
        return Ok(RunSelection { branch: Some(branch.to_owned()), ..RunSelection::default() });
    }
    let window = match raw.split_once("..") {
        Some((from, to)) => days(from).zip(days(to)),
        None => days(raw).map(|n| (n, 0)),
    };
    match window {
        Some((from, to)) if from > to => {
            Ok(RunSelection { since_ms: now_ms - from * DAY_MS, until_ms: now_ms - to * DAY_MS, ..RunSelection::default() })
        }
        Some(_) => Err(format!("window {raw:?} is empty: write the older end first, as in 30d..7d")),
        None if raw.trim().is_empty() => Err("give a branch name or a window such as 7d or 30d..7d".into()),
        None => Ok(RunSelection { branch: Some(raw.to_owned()), ..RunSelection::default() }),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComparedTest {
    pub scope: String,
    pub name: String,
    pub basis: Counts,
    pub sample: Counts,
    #[serde(flatten)]
    pub comparison: Comparison,
}

impl ComparedTest {
    pub fn regressed(&self) -> bool {
        matches!(self.comparison.status, Status::ExtremeRegression | Status::SignificantRegression)
    }
}

fn counts(r: &TestRecord) -> Counts {
    Counts { success: r.passed.max(0) as u64, failure: r.failed.max(0) as u64, flake: r.flaked.max(0) as u64 }
}

/// Every test seen in either selection, worst verdict first.
pub async fn compare_selections(
    store: &dyn Store,
    suite_id: i64,
    basis: &RunSelection,
    sample: &RunSelection,
    options: &Options,
) -> Result<Vec<ComparedTest>, AnalysisError> {
    let mut both: BTreeMap<(String, String), (Option<Counts>, Counts)> = BTreeMap::new();
    for r in store.test_records(suite_id, basis).await? {
        both.entry((r.scope.clone(), r.name.clone())).or_default().0 = Some(counts(&r));
    }
    for r in store.test_records(suite_id, sample).await? {
        both.entry((r.scope.clone(), r.name.clone())).or_default().1 = counts(&r);
    }
    let mut rows: Vec<ComparedTest> = both
        .into_iter()
        .map(|((scope, name), (b, s))| ComparedTest {
            scope,
            name,
            basis: b.unwrap_or_default(),
            sample: s,
            comparison: compare(b, s, options),
        })
        .collect();
    rows.sort_by_key(|r| r.comparison.status as i32);
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections() {
        let now = 100 * DAY_MS;
        let w = parse_selection("30d..7d", now).unwrap();
        assert_eq!((w.since_ms, w.until_ms, w.branch), (70 * DAY_MS, 93 * DAY_MS, None));
        assert_eq!(parse_selection("7d", now).unwrap().since_ms, 93 * DAY_MS);
        assert_eq!(parse_selection("main", now).unwrap().branch.as_deref(), Some("main"));
        assert_eq!(parse_selection("branch:7d", now).unwrap().branch.as_deref(), Some("7d"));
        assert!(parse_selection("7d..30d", now).unwrap_err().contains("older end first"));
        assert!(parse_selection(" ", now).is_err());
    }
}
