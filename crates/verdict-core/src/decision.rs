//! The job-run-aggregator's per-test decision over a batch of job runs
//! (spec section 1.5), in upstream's order. Which tests always pass and which
//! may never fail is configuration; the defaults are upstream's lists.

use crate::aggregation::{required, strict_required};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Upstream's hard-coded minimum number of attempts.
pub const MINIMUM_ATTEMPTS: u32 = 6;
/// Working percentage assumed for a test with no history in the job.
pub const NO_HISTORY_WORKING_PERCENTAGE: u32 = 70;
/// Working percentage assumed when the history could not be read at all.
pub const HISTORY_ERROR_WORKING_PERCENTAGE: u32 = 99;

/// How a rule matches a test name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameMatch {
    Equals(String),
    Contains(String),
    EndsWith(String),
    Any,
}

impl NameMatch {
    fn matches(&self, name: &str) -> bool {
        match self {
            Self::Equals(s) => name == s,
            Self::Contains(s) => name.contains(s.as_str()),
            Self::EndsWith(s) => name.ends_with(s.as_str()),
            Self::Any => true,
        }
    }
}

/// A test that passes aggregation whatever its results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlwaysPass {
    pub name: NameMatch,
    /// Only in this suite path (nested suite names joined with `|||`).
    #[serde(default)]
    pub suite: Option<String>,
    /// Only for this job.
    #[serde(default)]
    pub job: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionConfig {
    pub minimum_attempts: u32,
    pub always_pass: Vec<AlwaysPass>,
    /// Tests that fail aggregation as soon as one run failed them, even a flake.
    pub never_fail: Vec<String>,
}

impl Default for DecisionConfig {
    /// Upstream's lists (ci-tools `pass_fail.go`).
    fn default() -> Self {
        let rule = |name: NameMatch, suite: Option<&str>, job: Option<&str>, reason: &str| AlwaysPass {
            name,
            suite: suite.map(Into::into),
            job: job.map(Into::into),
            reason: reason.into(),
        };
        DecisionConfig {
            minimum_attempts: MINIMUM_ATTEMPTS,
            always_pass: vec![
                rule(NameMatch::Any, Some("step graph"), None, "the step graph is judged by its steps"),
                rule(
                    NameMatch::Contains("Cluster should remain functional during upgrade".into()),
                    None,
                    None,
                    "an upgrade summary, judged by its parts",
                ),
                rule(NameMatch::EndsWith("-gather-azure-cli container test".into()), None, None, "a gather step"),
                rule(NameMatch::Equals("initialize".into()), None, None, "setup, not a test"),
                rule(
                    NameMatch::Equals("[sig-network] pods should successfully create sandboxes by other".into()),
                    Some("openshift-tests-upgrade"),
                    Some("periodic-ci-openshift-release-master-ci-4.10-upgrade-from-stable-4.9-e2e-aws-ovn-upgrade"),
                    "known to fail in this job",
                ),
            ],
            never_fail: vec!["Undiagnosed panic detected in pod".into()],
        }
    }
}

/// What the history says about a test in this job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum History {
    /// The history could not be read at all.
    Unavailable,
    /// No history for this (suite path, test name) in the job.
    Missing,
    /// Percentage of its historical runs in which it worked (flakes count as working).
    WorkingPercentage(f64),
}

impl History {
    /// The integer percentage the rule uses (truncated, as upstream does).
    pub fn percentage(self) -> u32 {
        match self {
            Self::Unavailable => HISTORY_ERROR_WORKING_PERCENTAGE,
            Self::Missing => NO_HISTORY_WORKING_PERCENTAGE,
            Self::WorkingPercentage(p) => p.clamp(0.0, 100.0).trunc() as u32,
        }
    }
}

/// One test's results in the judged job runs: one job-run id per result
/// entry (a retried test has several entries in one run).
#[derive(Debug, Clone, Default)]
pub struct Entries<'a> {
    pub passes: Vec<&'a str>,
    pub failures: Vec<&'a str>,
    pub skips: Vec<&'a str>,
}

impl Entries<'_> {
    /// (attempts, passes, failures) counted per job run: a run with both a
    /// pass and a failure (a flake) counts as a pass.
    pub fn run_counts(&self) -> (u32, u32, u32) {
        let passed: BTreeSet<&str> = self.passes.iter().copied().collect();
        let failed: BTreeSet<&str> = self.failures.iter().copied().filter(|r| !passed.contains(r)).collect();
        let (p, f) = (passed.len() as u32, failed.len() as u32);
        (p + f, p, f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    /// Only run-metric checks are skipped (too few runs, or no history).
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub status: Status,
    pub summary: String,
    pub attempts: u32,
    pub passes: u32,
    pub failures: u32,
    pub skips: u32,
    /// Set when the decision reached the history rule (step 7 onwards).
    pub working_percentage: Option<u32>,
    /// The history's working percentage whichever rule decided (the one the
    /// rule would use once enough runs are in).
    pub history_percentage: Option<u32>,
    pub strict_required: Option<u32>,
    pub required: Option<u32>,
}

/// Decide one test, in upstream's order of rules.
pub fn decide(job: &str, suite: &str, name: &str, entries: &Entries<'_>, history: History, config: &DecisionConfig) -> Decision {
    let (attempts, passes, failures) = entries.run_counts();
    let skips = entries.skips.len() as u32;
    let history_percentage = Some(history.percentage());
    let decision = |status, summary: String| Decision {
        history_percentage,
        status,
        summary,
        attempts,
        passes,
        failures,
        skips,
        working_percentage: None,
        strict_required: None,
        required: None,
    };
    let always = config
        .always_pass
        .iter()
        .find(|r| r.name.matches(name) && r.suite.as_deref().is_none_or(|s| s == suite) && r.job.as_deref().is_none_or(|j| j == job));
    if let Some(rule) = always {
        return decision(Status::Passed, format!("always passing {name:?}: {}", rule.reason));
    }
    let (raw_passes, raw_failures, raw_skips) = (entries.passes.len(), entries.failures.len(), entries.skips.len());
    if raw_passes == 0 && raw_failures == 0 {
        return decision(Status::Passed, "Did not run: skipped in every job run.".into());
    }
    if config.never_fail.iter().any(|n| n == name) && raw_failures > 0 {
        return decision(Status::Failed, format!("Failed {raw_failures} times: this test must never fail."));
    }
    if raw_passes == 0 && raw_skips > raw_failures {
        return decision(Status::Passed, "Probably intended to skip: skipped more often than it failed, and never passed.".into());
    }
    let counts = format!("Passed {passes} times, failed {failures} times");
    if attempts < config.minimum_attempts {
        return decision(
            Status::Failed,
            format!(
                "{counts}, skipped {skips} times: we require at least {} attempts to have a chance at success",
                config.minimum_attempts
            ),
        );
    }
    if raw_passes < 1 {
        return decision(Status::Failed, format!("{counts}, skipped {skips} times: we require at least one pass to consider it a success"));
    }
    let wp = history.percentage();
    let strict = strict_required(attempts, wp);
    let req = required(attempts, wp);
    let status = if passes < req { Status::Failed } else { Status::Passed };
    let pity = if passes < strict {
        format!(" (strict required number of passes is {strict} but 2 failures are allowed as pity factor)")
    } else {
        String::new()
    };
    let word = if status == Status::Failed { "Failed" } else { "Passed" };
    Decision {
        working_percentage: Some(wp),
        strict_required: Some(strict),
        required: Some(req),
        ..decision(status, format!("{word}: {counts}.  The historical pass rate is {wp}%.  The required number of passes is {req}{pity}."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries<'a>(passes: &[&'a str], failures: &[&'a str], skips: &[&'a str]) -> Entries<'a> {
        Entries { passes: passes.to_vec(), failures: failures.to_vec(), skips: skips.to_vec() }
    }

    const RUNS: [&str; 10] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"];

    #[test]
    fn flakes_count_as_passes_per_run() {
        let e = entries(&["r0", "r1", "r1"], &["r1", "r2", "r2"], &["r3"]);
        assert_eq!(e.run_counts(), (3, 2, 1));
    }

    #[test]
    fn summary_strings_are_upstreams() {
        let c = DecisionConfig::default();
        let e = entries(&RUNS[..8], &RUNS[8..], &[]);
        let d = decide("job", "suite", "t", &e, History::WorkingPercentage(100.0), &c);
        assert_eq!(d.status, Status::Passed);
        assert_eq!(
            d.summary,
            "Passed: Passed 8 times, failed 2 times.  The historical pass rate is 100%.  The required number of passes is 8 (strict required number of passes is 9 but 2 failures are allowed as pity factor)."
        );
        let e = entries(&RUNS[..3], &RUNS[3..], &[]);
        let d = decide("job", "suite", "t", &e, History::Missing, &c);
        assert_eq!(
            d.summary,
            "Passed: Passed 3 times, failed 7 times.  The historical pass rate is 70%.  The required number of passes is 3."
        );
        let d = decide("job", "suite", "t", &entries(&RUNS[..2], &RUNS[2..], &[]), History::Missing, &c);
        assert_eq!((d.status, d.summary.starts_with("Failed: Passed 2 times, failed 8 times.")), (Status::Failed, true));
    }

    #[test]
    fn rules_apply_in_upstream_order() {
        let c = DecisionConfig::default();
        let few = entries(&RUNS[..3], &[], &[]);
        let d = decide("job", "suite", "t", &few, History::Missing, &c);
        assert_eq!(
            d.summary,
            "Passed 3 times, failed 0 times, skipped 0 times: we require at least 6 attempts to have a chance at success"
        );
        assert_eq!(d.status, Status::Failed);
        let d = decide("job", "step graph", "anything", &few, History::Missing, &c);
        assert_eq!(d.status, Status::Passed, "always-pass comes first");
        let panic = entries(&RUNS, &["r0"], &[]);
        let d = decide("job", "suite", "Undiagnosed panic detected in pod", &panic, History::Missing, &c);
        assert_eq!(d.status, Status::Failed, "a flake of a never-fail test fails");
        assert_eq!(decide("job", "suite", "t", &entries(&[], &[], &RUNS), History::Missing, &c).status, Status::Passed, "did not run");
        let skipped_more = entries(&[], &RUNS[..2], &RUNS[2..]);
        assert_eq!(decide("job", "suite", "t", &skipped_more, History::Missing, &c).status, Status::Passed, "intended to skip");
        let never_passed = entries(&[], &RUNS, &[]);
        let d = decide("job", "suite", "t", &never_passed, History::Missing, &c);
        assert!(d.summary.ends_with("we require at least one pass to consider it a success"), "{}", d.summary);
        assert_eq!(History::Unavailable.percentage(), 99);
        assert_eq!(History::WorkingPercentage(95.9).percentage(), 95);
    }

    #[test]
    fn the_lists_are_configuration() {
        let mut c = DecisionConfig::default();
        c.never_fail.clear();
        c.always_pass.push(AlwaysPass { name: NameMatch::Equals("quarantined".into()), suite: None, job: None, reason: "muted".into() });
        let d = decide("job", "suite", "quarantined", &entries(&[], &RUNS, &[]), History::Missing, &c);
        assert_eq!((d.status, d.summary.as_str()), (Status::Passed, "always passing \"quarantined\": muted"));
        let d = decide("job", "suite", "Undiagnosed panic detected in pod", &entries(&RUNS, &["r0"], &[]), History::Missing, &c);
        assert_eq!(d.status, Status::Passed);
    }
}
