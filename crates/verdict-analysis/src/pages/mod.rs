//! What each dashboard page shows, computed once: the page renders these
//! structs as HTML and its JSON twin serialises the same struct, so that the
//! two cannot disagree (the dashboard spec, rule 5).

pub mod overview;
pub mod readiness;
pub mod run;
pub mod runs;
pub mod suite;
pub mod test;
pub mod tests;

use crate::AnalysisError;
use chrono::{DateTime, Utc};
use serde::Serialize;
use verdict_core::range::{Branch, Bucket, Range, Selection};
use verdict_core::stats::Proportion;
use verdict_store::dashboard::RunRange;
use verdict_store::{RunSelection, Store, Suite, ms_to_time};

pub(crate) const HOUR_MS: i64 = 3_600_000;
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// Runs a chart over a range reads at most: 90 days of a busy suite.
pub(crate) const MAX_SERIES_RUNS: i64 = 10_000;

/// The branch and span a page looks at, resolved against its suite.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The branch name, or `*` for all branches.
    pub branch: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The window (`14d`) when the page was asked for one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// The number of runs when the page was asked for the last N runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runs: Option<u32>,
    #[serde(skip)]
    pub since_ms: i64,
    #[serde(skip)]
    pub until_ms: i64,
    #[serde(skip)]
    pub bucket: Bucket,
    #[serde(skip)]
    pub range: Range,
}

impl View {
    /// The branch to filter on, `None` for all.
    pub fn branch_filter(&self) -> Option<&str> {
        (self.branch != "*").then_some(self.branch.as_str())
    }

    pub fn run_range(&self, suite_id: i64) -> RunRange {
        RunRange { suite_id, branch: self.branch_filter().map(str::to_owned), since_ms: self.since_ms, until_ms: self.until_ms }
    }

    pub fn run_selection(&self) -> RunSelection {
        RunSelection {
            branch: self.branch_filter().map(str::to_owned),
            since_ms: self.since_ms,
            until_ms: self.until_ms,
            ..Default::default()
        }
    }

    /// Rollup days covering the view: `[first, end)`.
    pub fn days(&self) -> (i64, i64) {
        (self.since_ms.div_euclid(DAY_MS), (self.until_ms - 1).div_euclid(DAY_MS) + 1)
    }

    /// The range just before, of the same length, for a Δ.
    pub fn previous(&self) -> View {
        let span = self.until_ms - self.since_ms;
        View {
            from: ms_to_time(self.since_ms - span),
            to: ms_to_time(self.since_ms),
            since_ms: self.since_ms - span,
            until_ms: self.since_ms,
            ..self.clone()
        }
    }

    /// The chart buckets of the view, `[start, end)` each: hours for a day,
    /// days otherwise, several days each when the span is longer than 90
    /// days (a `runs=N` view over a long history), so there are at most 91.
    pub fn buckets(&self) -> Vec<(i64, i64)> {
        let span = (self.until_ms - self.since_ms).max(1);
        let step = if self.bucket == Bucket::Hour { HOUR_MS } else { DAY_MS * ((span + 90 * DAY_MS - 1) / (90 * DAY_MS)).max(1) };
        let mut start = self.since_ms.div_euclid(step) * step;
        let mut out = Vec::new();
        while start < self.until_ms && out.len() < 200 {
            out.push((start, start + step));
            start += step;
        }
        out
    }
}

/// The index of the bucket holding `t`, if any.
pub(crate) fn bucket_of(buckets: &[(i64, i64)], t: i64) -> Option<usize> {
    let i = buckets.partition_point(|&(start, _)| start <= t);
    (i > 0 && t < buckets[i - 1].1).then(|| i - 1)
}

/// A view of a span of time (`window` or `from`/`to`) on `branch` (a name or
/// `*`); `None` for `runs=N`, which needs the store (see [`resolve`]).
pub fn span_view(sel: &Selection, branch: String) -> Option<View> {
    let (since_ms, until_ms, window) = match sel.range {
        Range::Window { days, to_ms } => (to_ms - i64::from(days) * DAY_MS, to_ms, Some(format!("{days}d"))),
        Range::Between { from_ms, to_ms } => (from_ms, to_ms, None),
        Range::LastRuns(_) => return None,
    };
    Some(View {
        branch,
        from: ms_to_time(since_ms),
        to: ms_to_time(until_ms),
        window,
        runs: None,
        since_ms,
        until_ms,
        bucket: sel.range.bucket(),
        range: sel.range,
    })
}

/// Resolve a page's selection against its suite at `now_ms`: the default
/// branch filled in, `runs=N` turned into the span of those runs.
pub async fn resolve(store: &dyn Store, suite: &Suite, sel: &Selection, now_ms: i64) -> Result<View, AnalysisError> {
    let branch = match &sel.branch {
        Branch::Default => suite.default_branch.clone(),
        Branch::Named(b) => b.clone(),
        Branch::All => "*".to_owned(),
    };
    if let Some(view) = span_view(sel, branch.clone()) {
        return Ok(view);
    }
    let Range::LastRuns(n) = sel.range else { unreachable!("span_view takes every other range") };
    let range = RunRange {
        suite_id: suite.id,
        branch: sel.branch.resolve(&suite.default_branch).map(str::to_owned),
        since_ms: i64::MIN,
        until_ms: now_ms + 1,
    };
    let last = store.dashboard().run_series(&range, i64::from(n)).await?;
    let since_ms = last.last().map_or(now_ms, |r| r.created_at.timestamp_millis());
    let until_ms = now_ms + 1;
    Ok(View {
        branch,
        from: ms_to_time(since_ms),
        to: ms_to_time(until_ms),
        window: None,
        runs: Some(n),
        since_ms,
        until_ms,
        bucket: sel.range.bucket(),
        range: sel.range,
    })
}

/// A test named on a page: enough to link and label it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TestRef {
    pub id: i64,
    pub scope: String,
    pub name: String,
}

impl TestRef {
    pub fn of(t: &verdict_store::Test) -> Self {
        TestRef { id: t.id, scope: t.scope.clone(), name: t.name.clone() }
    }
}

/// A count with the same count over the range before (the Δ).
#[derive(Debug, Clone, Serialize)]
pub struct CountKpi {
    pub value: i64,
    pub previous: i64,
    /// Per bucket, for the sparkline.
    pub series: Vec<i64>,
}

/// A rate with the same rate over the range before (the Δ).
#[derive(Debug, Clone, Serialize)]
pub struct RateKpi {
    pub value: Option<Proportion>,
    pub previous: Option<Proportion>,
    pub series: Vec<Option<f64>>,
}

/// The 95% Wilson interval of `successes` out of `trials`; `None` when nothing was tried.
pub fn rate(successes: i64, trials: i64) -> Option<Proportion> {
    verdict_core::stats::wilson(successes.max(0) as u64, trials.max(0) as u64, 1.959_963_984_540_054)
}

/// Whether `text` matches a search `pattern`: case-insensitive, `*` any
/// run of characters, otherwise a substring anywhere (so `*Browser*Test`
/// and `BrowserTest` both find `tests.ui.BrowserSmokeTest` only if in order).
pub fn matches_search(pattern: &str, text: &str) -> bool {
    let (pattern, text) = (pattern.to_lowercase(), text.to_lowercase());
    let mut at = 0;
    for part in pattern.split('*').filter(|p| !p.is_empty()) {
        match text[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn search_is_substring_with_wildcards_in_order() {
        assert!(matches_search("browser", "tests/ui › BrowserSmokeTest"));
        assert!(matches_search("*Browser*Test", "tests/ui › BrowserSmokeTest"));
        assert!(!matches_search("Smoke*Browser", "tests/ui › BrowserSmokeTest"), "parts match in order");
        assert!(matches_search("", "anything"));
        assert!(matches_search("**", "anything"));
        assert!(!matches_search("login", "tests/ui › BrowserSmokeTest"));
    }

    #[test]
    fn a_long_span_gets_wider_buckets_that_still_cover_it() {
        let sel = Selection { branch: Branch::All, range: Range::Between { from_ms: 0, to_ms: 400 * DAY_MS } };
        let view = span_view(&sel, "*".into()).unwrap();
        let b = view.buckets();
        assert!(b.len() <= 91, "{}", b.len());
        assert_eq!((b[0].0, b.last().unwrap().1 >= 400 * DAY_MS), (0, true), "from the start to the end");
        let noon = 100 * DAY_MS + 12 * HOUR_MS;
        let day = span_view(&Selection { branch: Branch::All, range: Range::Window { days: 14, to_ms: noon } }, "*".into()).unwrap();
        assert_eq!(day.buckets().len(), 15, "14 × 24 h from mid-day: 15 UTC days");
    }

    #[test]
    fn buckets_cover_the_view_and_find_their_times() {
        let b = vec![(0, 10), (10, 20), (20, 30)];
        assert_eq!(bucket_of(&b, 0), Some(0));
        assert_eq!(bucket_of(&b, 19), Some(1));
        assert_eq!(bucket_of(&b, 30), None);
        assert_eq!(bucket_of(&b, -1), None);
    }
}
