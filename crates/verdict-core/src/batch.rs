//! Judging a batch of repeated runs of one job: merge their results per test
//! (suite path, name) and decide each test by the aggregator's rule.

use crate::decision::{Decision, DecisionConfig, Entries, History, Status, decide};
use crate::outcome::Outcome;
use serde::Serialize;
use std::collections::HashMap;

/// One result of one test in one run.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    pub suite: String,
    pub name: String,
    pub outcome: Outcome,
    pub lifecycle: Option<String>,
}

/// A test's results across the batch and the decision on them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgedTest {
    pub suite: String,
    pub name: String,
    pub lifecycle: Option<String>,
    /// Run ids, one per result entry, in run order.
    pub pass_runs: Vec<String>,
    pub failure_runs: Vec<String>,
    pub skip_runs: Vec<String>,
    #[serde(flatten)]
    pub decision: Decision,
}

impl JudgedTest {
    /// A failed test blocks unless its JUnit lifecycle is `informing`.
    pub fn blocks(&self) -> bool {
        self.decision.status == Status::Failed && self.lifecycle.as_deref() != Some("informing")
    }
}

/// Merge the runs (`(run id, results)`, in the order given) and judge every
/// test, in order of first appearance. `history` gives a test's history by
/// (suite path, name).
pub fn judge(
    runs: &[(String, Vec<CaseResult>)],
    job: &str,
    history: impl Fn(&str, &str) -> History,
    config: &DecisionConfig,
) -> Vec<JudgedTest> {
    struct Merged<'a> {
        suite: &'a str,
        name: &'a str,
        lifecycle: Option<&'a str>,
        entries: Entries<'a>,
    }
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    let mut merged: Vec<Merged<'_>> = Vec::new();
    for (run_id, results) in runs {
        for r in results {
            let i = *index.entry((r.suite.as_str(), r.name.as_str())).or_insert_with(|| {
                merged.push(Merged { suite: &r.suite, name: &r.name, lifecycle: None, entries: Entries::default() });
                merged.len() - 1
            });
            let m = &mut merged[i];
            m.lifecycle = m.lifecycle.or(r.lifecycle.as_deref());
            match r.outcome {
                Outcome::Failed => m.entries.failures.push(run_id),
                Outcome::Skipped => m.entries.skips.push(run_id),
                _ => m.entries.passes.push(run_id),
            }
        }
    }
    let owned = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect();
    merged
        .into_iter()
        .map(|m| JudgedTest {
            suite: m.suite.to_owned(),
            name: m.name.to_owned(),
            lifecycle: m.lifecycle.map(str::to_owned),
            pass_runs: owned(&m.entries.passes),
            failure_runs: owned(&m.entries.failures),
            skip_runs: owned(&m.entries.skips),
            decision: decide(job, m.suite, m.name, &m.entries, history(m.suite, m.name), config),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(suite: &str, name: &str, outcome: Outcome) -> CaseResult {
        CaseResult { suite: suite.into(), name: name.into(), outcome, lifecycle: None }
    }

    #[test]
    fn merges_by_suite_and_name_and_judges() {
        let config = DecisionConfig { minimum_attempts: 3, ..DecisionConfig::default() };
        let mut runs = Vec::new();
        for i in 0..4 {
            let mut results = vec![case("e2e", "stable", Outcome::Passed), case("e2e|||inner", "stable", Outcome::Failed)];
            // "broken" fails in every run; "retried" flakes in run 0 (fail then pass).
            results.push(CaseResult { lifecycle: Some("informing".into()), ..case("e2e", "broken", Outcome::Failed) });
            if i == 0 {
                results.push(case("e2e", "retried", Outcome::Failed));
            }
            results.push(case("e2e", "retried", Outcome::Passed));
            runs.push((format!("run-{i}"), results));
        }
        let judged =
            judge(&runs, "job", |_, name| if name == "stable" { History::WorkingPercentage(100.0) } else { History::Missing }, &config);
        let names: Vec<(&str, &str)> = judged.iter().map(|t| (t.suite.as_str(), t.name.as_str())).collect();
        assert_eq!(names, vec![("e2e", "stable"), ("e2e|||inner", "stable"), ("e2e", "broken"), ("e2e", "retried")]);
        assert_eq!(judged[0].decision.status, Status::Passed);
        assert_eq!(judged[1].decision.status, Status::Failed, "same name, other suite: its own test");
        assert!(judged[1].blocks());
        assert_eq!(judged[2].decision.status, Status::Failed);
        assert!(!judged[2].blocks(), "informing failures do not block");
        let retried = &judged[3];
        assert_eq!((retried.decision.attempts, retried.decision.passes, retried.decision.failures), (4, 4, 0), "a flake counts as a pass");
        assert_eq!(retried.failure_runs, vec!["run-0"]);
    }
}
