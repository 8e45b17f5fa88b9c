//! What one upload changes, computed before any SQL so that both backends
//! write exactly the same rows.

use std::collections::HashMap;
use verdict_core::{ExecutionRecord, Outcome, RunResult, Upload};

/// One distinct test of the upload, with the file and location last seen.
#[derive(Debug, Clone)]
pub struct TestKey<'a> {
    pub scope: &'a str,
    pub name: &'a str,
    pub file_name: Option<&'a str>,
    pub location: Option<&'a str>,
}

/// Counts to add to one (test, branch, day) rollup row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RollupDelta {
    pub counts: [i64; 5],
    pub flaky: i64,
    pub duration_sum: f64,
    pub duration_count: i64,
}

/// The `run_tests` status bit of a test that flaked in the run: it passed
/// and failed as attempts of one case, or in different uploads of the run
/// (a retried CI job). The other bits: 1 passed, 2 failed, 4 other outcome.
pub const STATUS_FLAKED: i16 = 8;

impl RollupDelta {
    /// The test's status bits in the run (the `run_tests` table). Uploads to
    /// one run OR them together, and set `STATUS_FLAKED` when one passed and
    /// another failed.
    pub fn run_status(&self) -> i16 {
        let [passed, failed, skipped, pending, unknown] = self.counts;
        i16::from(passed > 0)
            | i16::from(failed > 0) << 1
            | i16::from(skipped + pending + unknown > 0) << 2
            | if self.flaky > 0 { STATUS_FLAKED } else { 0 }
    }
}

impl RollupDelta {
    /// The test's summed seconds in this upload, for `run_tests.duration`;
    /// `None` when none of its results was timed.
    pub fn run_duration(&self) -> Option<f64> {
        (self.duration_count > 0).then_some(self.duration_sum)
    }
}

/// `run_tests.status` after an upload: the bits ORed, and `STATUS_FLAKED`
/// when one side passed and the other failed (as the writers' SQL does).
pub fn merged_status(old: i64, new: i64) -> i64 {
    let flaked = (old & 1 != 0 && new & 2 != 0) || (old & 2 != 0 && new & 1 != 0);
    old | new | if flaked { i64::from(STATUS_FLAKED) } else { 0 }
}

/// What an upload changes in a test's counters of its run, as
/// [passed, failed, flaky, skipped]: the test's status in the run before it
/// (`old`, `None` if the run had not seen the test) and the upload's. A run
/// counts once per test, under its latest outcome. The first three feed the
/// rollups' `runs_*`, all four the run's `tests_*`.
pub fn run_count_delta(old: Option<i64>, new: i64) -> [i64; 4] {
    let slot = |status: i64| match RunTestOutcome::of(status) {
        Some(RunTestOutcome::Passed) => Some(0),
        Some(RunTestOutcome::Failed) => Some(1),
        Some(RunTestOutcome::Flaked) => Some(2),
        None if status != 0 => Some(3),
        None => None,
    };
    let mut delta = [0; 4];
    let after = merged_status(old.unwrap_or(0), new);
    let (before, after) = (old.and_then(slot), slot(after));
    if before != after {
        if let Some(b) = before {
            delta[b] -= 1;
        }
        if let Some(a) = after {
            delta[a] += 1;
        }
    }
    delta
}

/// What an upload adds to its run's stored execution counts and test time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunTotals {
    pub passed: i64,
    pub failed: i64,
    pub total: i64,
    pub seconds: f64,
}

/// What a test's status in one run counts as when runs are judged together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTestOutcome {
    Passed,
    Failed,
    Flaked,
}

impl RunTestOutcome {
    pub fn of(status: i64) -> Option<Self> {
        if status & i64::from(STATUS_FLAKED) != 0 {
            Some(Self::Flaked)
        } else if status & 2 != 0 {
            Some(Self::Failed)
        } else if status & 1 != 0 {
            Some(Self::Passed)
        } else {
            None
        }
    }
}

pub struct WritePlan<'a> {
    /// Distinct tests, sorted by (scope, name) so that concurrent writers lock
    /// rows in one order.
    pub tests: Vec<TestKey<'a>>,
    /// For each execution, its index in `tests`.
    pub test_of: Vec<usize>,
    /// Per index in `tests`.
    pub rollups: Vec<RollupDelta>,
    pub result: RunResult,
}

impl<'a> WritePlan<'a> {
    pub fn new(upload: &'a Upload) -> Self {
        let mut index: HashMap<(&str, &str), usize> = HashMap::with_capacity(upload.executions.len());
        let mut tests: Vec<TestKey<'a>> = Vec::new();
        let mut first_index = Vec::with_capacity(upload.executions.len());
        for e in &upload.executions {
            let i = *index.entry((e.scope.as_str(), e.name.as_str())).or_insert_with(|| {
                tests.push(TestKey { scope: &e.scope, name: &e.name, file_name: None, location: None });
                tests.len() - 1
            });
            let t = &mut tests[i];
            t.file_name = e.file_name.as_deref().or(t.file_name);
            t.location = e.location.as_deref().or(t.location);
            first_index.push(i);
        }
        // Sort and remap.
        let mut order: Vec<usize> = (0..tests.len()).collect();
        order.sort_by(|&a, &b| (tests[a].scope, tests[a].name).cmp(&(tests[b].scope, tests[b].name)));
        let mut new_pos = vec![0; tests.len()];
        for (pos, &old) in order.iter().enumerate() {
            new_pos[old] = pos;
        }
        let sorted: Vec<TestKey<'a>> = order.iter().map(|&old| tests[old].clone()).collect();
        let test_of: Vec<usize> = first_index.into_iter().map(|i| new_pos[i]).collect();

        let mut rollups = vec![RollupDelta::default(); sorted.len()];
        // A flake is a pass and a failure among the attempts of one case:
        // the attempts of a case follow each other, the first being attempt 0.
        // Same-named results that are not attempts (parameterised tests
        // flattened to one name) are separate executions, not a flake.
        let mut case = vec![(false, false); sorted.len()];
        for (e, &t) in upload.executions.iter().zip(&test_of) {
            add(&mut rollups[t], e);
            if e.attempt == 0 {
                case[t] = (false, false);
            }
            match e.outcome {
                Outcome::Passed => case[t].0 = true,
                Outcome::Failed => case[t].1 = true,
                _ => {}
            }
            if case[t] == (true, true) {
                rollups[t].flaky = 1;
            }
        }
        let result = RunResult::Pending.after(upload.executions.iter().map(|e| e.outcome));
        WritePlan { tests: sorted, test_of, rollups, result }
    }

    pub fn run_totals(&self) -> RunTotals {
        let mut t = RunTotals::default();
        for r in &self.rollups {
            t.passed += r.counts[0];
            t.failed += r.counts[1];
            t.total += r.counts.iter().sum::<i64>();
            t.seconds += r.duration_sum;
        }
        t
    }
}

fn add(r: &mut RollupDelta, e: &ExecutionRecord) {
    r.counts[e.outcome.code() as usize] += 1;
    if let Some(d) = e.duration {
        r.duration_sum += d;
        r.duration_count += 1;
    }
}

/// `last_seen` is refreshed at most this often: rewriting every test row on
/// every upload would double the write cost of the common case.
pub const LAST_SEEN_RESOLUTION_MS: i64 = 3_600_000;

/// Whether a stored test row needs an update for what this upload saw.
pub fn test_row_is_stale(stored: (&Option<String>, &Option<String>, i64), seen: &TestKey<'_>, now: i64) -> bool {
    let (file_name, location, last_seen) = stored;
    let changed = |stored: &Option<String>, seen: Option<&str>| seen.is_some() && stored.as_deref() != seen;
    changed(file_name, seen.file_name) || changed(location, seen.location) || now - last_seen >= LAST_SEEN_RESOLUTION_MS
}

/// Days since the Unix epoch, the rollup bucket.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

/// The first rollup day and first millisecond inside a `days` window
/// ending today (0 = all time).
pub fn window_start(days: u32) -> (i64, i64) {
    if days == 0 {
        return (i64::MIN, i64::MIN);
    }
    let first_day = day_of(chrono::Utc::now().timestamp_millis()) - i64::from(days) + 1;
    (first_day, first_day * 86_400_000)
}

/// Everything of an execution that is read rarely, as one JSON document
/// (borrowed, not copied: this runs once per stored result).
pub fn detail_json(e: &ExecutionRecord) -> Option<String> {
    #[derive(serde::Serialize)]
    struct Detail<'a> {
        #[serde(skip_serializing_if = "<[_]>::is_empty")]
        failure_expanded: &'a [verdict_core::FailureDetail],
        #[serde(skip_serializing_if = "Option::is_none")]
        spans: Option<&'a serde_json::Value>,
        #[serde(skip_serializing_if = "verdict_core::Properties::is_empty")]
        properties: &'a verdict_core::Properties,
    }
    let d = Detail { failure_expanded: &e.failure_expanded, spans: e.spans.as_ref(), properties: &e.properties };
    let empty = d.failure_expanded.is_empty() && d.spans.is_none() && d.properties.is_empty();
    (!empty).then(|| serde_json::to_string(&d).unwrap_or_default())
}

/// The captured output of a result, kept apart from its detail (list pages
/// never read it).
pub fn outputs_json(e: &ExecutionRecord) -> Option<String> {
    use crate::views::ExecutionOutput;
    (e.system_out.is_some() || e.system_err.is_some()).then(|| {
        let o = ExecutionOutput { system_out: e.system_out.clone(), system_err: e.system_err.clone() };
        serde_json::to_string(&o).unwrap_or_default()
    })
}

pub fn tags_json(tags: &verdict_core::TagMap) -> Option<String> {
    (!tags.is_empty()).then(|| serde_json::to_string(tags).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_core::{RunEnv, TagMap};

    fn exec(scope: &str, name: &str, o: Outcome, d: Option<f64>) -> ExecutionRecord {
        let mut e = ExecutionRecord::new(scope, name, o);
        e.duration = d;
        e
    }

    #[test]
    fn plan_dedupes_sorts_and_counts_flakes() {
        let up = Upload {
            format: "junit".into(),
            run_env: RunEnv { key: "k".into(), ..Default::default() },
            tags: TagMap::new(),
            executions: vec![
                exec("b", "t", Outcome::Failed, Some(1.0)),
                exec("a", "t", Outcome::Passed, Some(2.0)),
                ExecutionRecord { attempt: 1, ..exec("b", "t", Outcome::Passed, None) },
                exec("a", "u", Outcome::Skipped, Some(0.5)),
                exec("a", "t", Outcome::Failed, None),
            ],
            skipped: Default::default(),
        };
        let plan = WritePlan::new(&up);
        let names: Vec<_> = plan.tests.iter().map(|t| (t.scope, t.name)).collect();
        assert_eq!(names, vec![("a", "t"), ("a", "u"), ("b", "t")]);
        assert_eq!(plan.test_of, vec![2, 0, 2, 1, 0]);
        assert_eq!(plan.rollups[2].counts, [1, 1, 0, 0, 0]);
        assert_eq!(plan.rollups[2].flaky, 1, "failed, then passed on retry (attempt 1)");
        assert_eq!(plan.rollups[2].run_status(), 1 | 2 | STATUS_FLAKED);
        assert_eq!((plan.rollups[2].duration_sum, plan.rollups[2].duration_count), (1.0, 1));
        assert_eq!(plan.rollups[0].counts, [1, 1, 0, 0, 0]);
        assert_eq!(plan.rollups[0].flaky, 0, "two plain results of one name, one passed and one failed: not a flake");
        assert_eq!(RunTestOutcome::of(plan.rollups[0].run_status().into()), Some(RunTestOutcome::Failed));
        assert_eq!(plan.result, RunResult::Failed);
    }

    #[test]
    fn test_rows_are_rewritten_only_when_something_changed_or_an_hour_passed() {
        let seen = TestKey { scope: "s", name: "n", file_name: Some("a.py"), location: Some("a.py:3") };
        let (file, loc) = (Some("a.py".to_string()), Some("a.py:3".to_string()));
        assert!(!test_row_is_stale((&file, &loc, 1_000), &seen, 1_000 + LAST_SEEN_RESOLUTION_MS - 1));
        assert!(test_row_is_stale((&file, &loc, 1_000), &seen, 1_000 + LAST_SEEN_RESOLUTION_MS));
        assert!(test_row_is_stale((&file, &Some("a.py:2".into()), 1_000), &seen, 1_000));
        let unknown = TestKey { scope: "s", name: "n", file_name: None, location: None };
        assert!(!test_row_is_stale((&file, &loc, 1_000), &unknown, 1_000), "an upload without a location keeps the stored one");
    }

    #[test]
    fn detail_holds_only_what_is_there_and_output_goes_apart() {
        let mut e = exec("s", "t", Outcome::Failed, None);
        assert_eq!((detail_json(&e), outputs_json(&e)), (None, None));
        e.system_out = Some("out".into());
        assert_eq!(detail_json(&e), None, "output is not detail");
        e.spans = Some(serde_json::json!([{"section": "sql"}]));
        assert_eq!(detail_json(&e).as_deref(), Some(r#"{"spans":[{"section":"sql"}]}"#));
        assert_eq!(outputs_json(&e).as_deref(), Some(r#"{"system_out":"out","system_err":null}"#));
    }

    #[test]
    fn a_run_counts_once_per_test_under_its_latest_outcome() {
        assert_eq!(run_count_delta(None, 1), [1, 0, 0, 0], "first seen passing");
        assert_eq!(run_count_delta(None, 2), [0, 1, 0, 0]);
        assert_eq!(run_count_delta(None, 4), [0, 0, 0, 1], "skipped only: a skipped test of the run, no run of it for the rollups");
        assert_eq!(run_count_delta(Some(1), 1), [0, 0, 0, 0], "passed again in a second upload");
        assert_eq!(run_count_delta(Some(1), 2), [-1, 0, 1, 0], "passed, then failed in a retried job: flaky");
        assert_eq!(run_count_delta(Some(2), 1 | 2 | 8), [0, -1, 1, 0]);
        assert_eq!(run_count_delta(Some(11), 2), [0, 0, 0, 0], "flaky stays flaky");
        assert_eq!(run_count_delta(Some(4), 2), [0, 1, 0, -1]);
        assert_eq!(run_count_delta(Some(1), 4), [0, 0, 0, 0], "passed and skipped: passed");
        assert_eq!(merged_status(1, 2), 11);
    }

    #[test]
    fn days_are_utc_buckets() {
        assert_eq!(day_of(0), 0);
        assert_eq!(day_of(86_400_000 - 1), 0);
        assert_eq!(day_of(-1), -1);
    }
}

/// The upload's named numbers as `job_metrics` rows `(test_id, name, value)`:
/// one per (test, name), the last result's value winning, in (test, name)
/// order (the lock order of concurrent writers). Empty for most uploads.
pub fn job_metric_rows(up: &Upload, test_of: &[usize], test_ids: &[i64]) -> Vec<(i64, String, f64)> {
    let mut rows: std::collections::BTreeMap<(i64, String), f64> = std::collections::BTreeMap::new();
    for (e, &t) in up.executions.iter().zip(test_of) {
        for (name, value) in e.properties.metrics() {
            rows.insert((test_ids[t], name.to_owned()), value);
        }
    }
    rows.into_iter().map(|((t, n), v)| (t, n, v)).collect()
}
