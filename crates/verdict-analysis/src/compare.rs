//! Component-readiness comparison of a suite's tests between two selections
//! of runs (a basis and a sample), each a branch or a window of days.

use crate::AnalysisError;
use serde::Serialize;
use std::collections::BTreeMap;
use verdict_core::readiness::{Comparison, Counts, Options, Status, compare};
use verdict_store::{RunSelection, Store, TestRecord};

const DAY_MS: i64 = 86_400_000;

/// Parse a selection: `30d..7d` (from 30 to 7 days ago), `7d` (the last 7
/// days), a branch name, or both as `BRANCH:WINDOW` (`main:37d..7d`);
/// `branch:NAME` forces a branch whose name looks like a window, and
/// `branch:NAME:WINDOW` combines that with a window.
pub fn parse_selection(raw: &str, now_ms: i64) -> Result<RunSelection, String> {
    if raw.trim().is_empty() {
        return Err("give a branch name, a window such as 7d or 30d..7d, or both as main:30d..7d".into());
    }
    let explicit = raw.strip_prefix("branch:");
    let rest = explicit.unwrap_or(raw);
    // A window after the last colon, with a branch before it.
    if let Some((branch, window)) = rest.rsplit_once(':')
        && let Some(w) = window_of(window, now_ms)
    {
        if branch.is_empty() {
            return Err(format!("{raw:?}: name the branch before the colon, as in main:{window}"));
        }
        return w.map(|(since_ms, until_ms)| RunSelection {
            branch: Some(branch.to_owned()),
            since_ms,
            until_ms,
            ..RunSelection::default()
        });
    }
    match (explicit, window_of(raw, now_ms)) {
        (None, Some(w)) => w.map(|(since_ms, until_ms)| RunSelection { since_ms, until_ms, ..RunSelection::default() }),
        _ => Ok(RunSelection { branch: Some(rest.to_owned()), ..RunSelection::default() }),
    }
}

/// `Some` when `raw` has the shape of a window (`7d`, `30d..7d`), with its
/// bounds or why it is empty.
fn window_of(raw: &str, now_ms: i64) -> Option<Result<(i64, i64), String>> {
    let days = |s: &str| s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()).filter(|n| (0..=36_500).contains(n));
    let (from, to) = match raw.split_once("..") {
        Some((from, to)) => days(from).zip(days(to))?,
        None => (days(raw)?, 0),
    };
    Some(if from > to {
        Ok((now_ms - from * DAY_MS, now_ms - to * DAY_MS))
    } else {
        Err(format!("window {raw:?} is empty: write the older end first, as in 30d..7d"))
    })
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
        let both = parse_selection("main:37d..7d", now).unwrap();
        assert_eq!((both.branch.as_deref(), both.since_ms, both.until_ms), (Some("main"), 63 * DAY_MS, 93 * DAY_MS));
        let forced = parse_selection("branch:7d:14d", now).unwrap();
        assert_eq!((forced.branch.as_deref(), forced.since_ms), (Some("7d"), 86 * DAY_MS));
        assert_eq!(parse_selection("feature:login", now).unwrap().branch.as_deref(), Some("feature:login"), "a colon alone is a name");
        assert!(parse_selection("main:7d..30d", now).unwrap_err().contains("older end first"));
        assert!(parse_selection(":7d", now).unwrap_err().contains("name the branch"));
    }
}
