//! Failure clusters in the store (migration 0014): every failed execution
//! with a reason gets a cluster in its upload's transaction, a suite rule's
//! when one claims the reason, else its `verdict-reason-v1` cluster; the
//! per-cluster rows and per-day counts are kept by the same transaction.

use crate::error::StoreError;
use crate::views::Test;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::BTreeMap;
use verdict_core::clusters::rules::{Rule, RulePattern};
use verdict_core::clusters::{Algorithm, cluster};
use verdict_core::flaky::{Settings, is_infra};
use verdict_core::{ExecutionRecord, Outcome, Upload};

/// What a rule cluster's `algorithm` says.
pub const RULE_ALGORITHM: &str = "rule";
/// Rules a suite may have.
pub const MAX_RULES: usize = 100;

/// A suite's rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRule {
    pub id: String,
    pub name: String,
    #[serde(flatten)]
    pub pattern: RulePattern,
    pub bug_url: Option<String>,
    pub priority: i64,
}

impl StoredRule {
    pub(crate) fn from_parts(id: String, name: String, kind: &str, pattern: String, bug_url: Option<String>, priority: i64) -> Self {
        let pattern = if kind == "regex" { RulePattern::Regex(pattern) } else { RulePattern::Like(pattern) };
        StoredRule { id, name, pattern, bug_url, priority }
    }

    pub(crate) fn kind(&self) -> (&'static str, &str) {
        match &self.pattern {
            RulePattern::Like(p) => ("like", p),
            RulePattern::Regex(p) => ("regex", p),
        }
    }
}

/// One cluster's share of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterGroup {
    pub id: String,
    pub algorithm: &'static str,
    pub title: String,
    pub failures: i64,
    /// (index of the test in the write plan, failures).
    pub tests: Vec<(usize, i64)>,
}

/// An upload's clusters: per execution its cluster id, and per cluster its counts.
#[derive(Debug, Clone, Default)]
pub struct ClusterPlan {
    pub ids: Vec<Option<String>>,
    pub groups: Vec<ClusterGroup>,
    /// False for an infrastructure-failure upload: clustered, not counted.
    pub counted: bool,
}

/// Cluster the upload's failures. `test_of` maps each execution to its test
/// index; the suite's settings say what an infrastructure failure is.
pub fn plan_clusters(up: &Upload, test_of: &[usize], rules: &[StoredRule], settings: &Settings) -> ClusterPlan {
    let compiled: Vec<Rule> = rules.iter().filter_map(|r| Rule::new(r.id.clone(), r.priority, &r.pattern).ok()).collect();
    let names: std::collections::HashMap<&str, &str> = rules.iter().map(|r| (r.id.as_str(), r.name.as_str())).collect();
    let options = settings.clustering();
    let mut groups: BTreeMap<String, ClusterGroup> = BTreeMap::new();
    let mut ids = Vec::with_capacity(up.executions.len());
    for (e, &t) in up.executions.iter().zip(test_of) {
        let reason = e.failure_reason.as_deref().filter(|_| e.outcome == Outcome::Failed).unwrap_or("");
        let assigned = if reason.trim().is_empty() {
            None
        } else if let Some(rule) = verdict_core::clusters::rules::claiming(&compiled, reason) {
            Some((rule.id.clone(), RULE_ALGORITHM, names.get(rule.id.as_str()).copied().unwrap_or("").to_owned()))
        } else {
            cluster(reason, Algorithm::VerdictV1, &options).map(|c| {
                let title = c.title();
                (c.id, Algorithm::VerdictV1.name(), title)
            })
        };
        if let Some((id, algorithm, title)) = &assigned {
            let g = groups.entry(id.clone()).or_insert_with(|| ClusterGroup {
                id: id.clone(),
                algorithm,
                title: title.clone(),
                failures: 0,
                tests: Vec::new(),
            });
            g.failures += 1;
            match g.tests.iter_mut().find(|(i, _)| *i == t) {
                Some((_, n)) => *n += 1,
                None => g.tests.push((t, 1)),
            }
        }
        ids.push(assigned.map(|(id, _, _)| id));
    }
    let passed = up.executions.iter().filter(|e| e.outcome == Outcome::Passed).count() as u64;
    let failed = up.executions.iter().filter(|e| e.outcome == Outcome::Failed).count() as u64;
    ClusterPlan { ids, groups: groups.into_values().collect(), counted: !is_infra(passed, failed, settings) }
}

/// One stored execution, as reclustering reads it back.
#[derive(Debug, Clone)]
pub struct StoredExecution {
    pub id: i64,
    pub run_id: i64,
    pub upload_id: String,
    pub test_id: i64,
    pub outcome: Outcome,
    pub failure_reason: Option<String>,
    pub created_at: i64,
}

/// One upload's executions rebuilt for `plan_clusters`: the upload (outcomes
/// and reasons only), each execution's test index, and the tests' ids.
pub fn upload_of(rows: &[StoredExecution]) -> (Upload, Vec<usize>, Vec<i64>) {
    let mut test_ids: Vec<i64> = Vec::new();
    let mut test_of = Vec::with_capacity(rows.len());
    let executions = rows
        .iter()
        .map(|r| {
            let t = test_ids.iter().position(|&t| t == r.test_id).unwrap_or_else(|| {
                test_ids.push(r.test_id);
                test_ids.len() - 1
            });
            test_of.push(t);
            ExecutionRecord { failure_reason: r.failure_reason.clone(), ..ExecutionRecord::new("", "", r.outcome) }
        })
        .collect();
    let up =
        Upload { format: String::new(), run_env: Default::default(), tags: Default::default(), executions, skipped: Default::default() };
    (up, test_of, test_ids)
}

/// Whether an upload has a failure to cluster (else its writer reads no rules).
pub fn has_reasons(up: &Upload) -> bool {
    up.executions.iter().any(|e| e.outcome == Outcome::Failed && e.failure_reason.is_some())
}

/// Failures, distinct tests and distinct runs over a span of days.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Impact {
    pub failures: i64,
    pub tests: i64,
    pub runs: i64,
}

/// A cluster with its impact over 1, 3 and 7 days and over the window asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterRow {
    pub id: String,
    pub algorithm: String,
    pub title: String,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub example_execution_id: i64,
    pub example_reason: Option<String>,
    pub example_test_id: i64,
    /// Keyed 1, 3, 7 and the window's days.
    pub impact: BTreeMap<i64, Impact>,
}

/// One day of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ClusterDay {
    pub day: i64,
    pub failures: i64,
    pub tests: i64,
    pub runs: i64,
}

/// A test a cluster touched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterTest {
    pub test: Test,
    pub failures: i64,
    pub last_failed_ms: i64,
}

/// A failure of a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterFailure {
    pub execution_id: i64,
    pub test_id: i64,
    pub run_id: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub at_ms: i64,
    pub reason: Option<String>,
    pub run_url: Option<String>,
}

/// A cluster's per-day counts, one query each (`?1` suite, `?2` cluster, `?3`..`?4` the days; both dialects).
pub(crate) type SetDay = fn(&mut ClusterDay, i64);
pub(crate) const DAY_COUNTS: [(&str, SetDay); 3] = [
    ("SELECT day, failures FROM cluster_days WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3 AND day < ?4", |d, n| d.failures = n),
    ("SELECT day, count(*) FROM cluster_tests WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3 AND day < ?4 GROUP BY day", |d, n| {
        d.tests = n
    }),
    ("SELECT day, count(*) FROM cluster_runs WHERE suite_id = ?1 AND cluster_id = ?2 AND day >= ?3 AND day < ?4 GROUP BY day", |d, n| {
        d.runs = n
    }),
];

/// Days a cluster list sums over besides its window.
pub const IMPACT_DAYS: [i64; 3] = [1, 3, 7];

/// The window's clusters, most failures first (?1 suite, ?2 first day, ?3
/// limit). `only_tests` (a clause on `test_id` over ?4) ranks them by the
/// failures of those tests alone; none: every failure, ?4 unused (`unused`
/// names it so that both forms take the same parameters).
/// ?1 run: its failed tests' clusters.
pub(crate) const RUN_TEST_CLUSTERS: &str = "SELECT DISTINCT test_id, cluster_id FROM executions
     WHERE run_id = ?1 AND outcome = 1 AND cluster_id IS NOT NULL ORDER BY test_id, cluster_id";

pub(crate) fn clusters_sql(cluster_cols: &str, only_tests: Option<&str>, unused: &str) -> String {
    let counted = match only_tests {
        None => format!("SELECT cluster_id, sum(failures) n FROM cluster_days WHERE suite_id = ?1 AND day >= ?2 AND {unused} IS NULL"),
        Some(clause) => format!("SELECT cluster_id, sum(failures) n FROM cluster_tests WHERE suite_id = ?1 AND day >= ?2 AND {clause}"),
    };
    format!(
        "SELECT {cluster_cols} FROM ({counted} GROUP BY cluster_id ORDER BY n DESC, cluster_id LIMIT ?3) top
         JOIN clusters c ON c.suite_id = ?1 AND c.cluster_id = top.cluster_id LEFT JOIN executions e ON e.id = c.example_execution_id
         ORDER BY top.n DESC, c.cluster_id"
    )
}

#[async_trait]
pub trait ClustersStore: Send + Sync {
    /// Clusters with a failure in the last `window_days` before `today` (a day number), most failures first, at most `limit`.
    /// The window's clusters, most failures first; with `only`, the failures of those tests only rank them.
    async fn clusters(
        &self,
        suite_id: i64,
        today: i64,
        window_days: i64,
        limit: i64,
        only: Option<&[i64]>,
    ) -> Result<Vec<ClusterRow>, StoreError>;
    /// One cluster, `None` when the suite has no such cluster.
    async fn cluster(&self, suite_id: i64, id: &str, today: i64, window_days: i64) -> Result<Option<ClusterRow>, StoreError>;
    /// Its days in `[first_day, end_day)`.
    async fn cluster_days(&self, suite_id: i64, id: &str, first_day: i64, end_day: i64) -> Result<Vec<ClusterDay>, StoreError>;
    /// The tests it touched since `first_day`, most failures first.
    async fn cluster_tests(&self, suite_id: i64, id: &str, first_day: i64, limit: i64) -> Result<Vec<ClusterTest>, StoreError>;
    /// Its latest failures.
    async fn cluster_failures(&self, suite_id: i64, id: &str, limit: i64) -> Result<Vec<ClusterFailure>, StoreError>;
    /// A run's failed executions by cluster: (cluster id, title, failures), most first.
    async fn run_clusters(&self, run_id: i64) -> Result<Vec<(String, String, i64)>, StoreError>;
    /// A run's failed tests and the cluster of each failure: (test id, cluster id), by test.
    async fn run_test_clusters(&self, run_id: i64) -> Result<Vec<(i64, String)>, StoreError>;
    async fn rules(&self, suite_id: i64) -> Result<Vec<StoredRule>, StoreError>;
    /// Adds a rule (checked by the caller); `Conflict` past `MAX_RULES`.
    async fn add_rule(&self, suite_id: i64, rule: &StoredRule) -> Result<(), StoreError>;
    /// `NotFound` when the suite has no such rule.
    async fn remove_rule(&self, suite_id: i64, id: &str) -> Result<(), StoreError>;
    /// Cluster again, with today's rules and settings, the suite's failures
    /// stored since `since_ms`, and rebuild their days' counts, in one
    /// transaction. The failures clustered.
    async fn recluster(&self, suite_id: i64, since_ms: i64) -> Result<usize, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(name: &str, reason: &str) -> ExecutionRecord {
        ExecutionRecord { failure_reason: Some(reason.into()), ..ExecutionRecord::new("s", name, Outcome::Failed) }
    }

    #[test]
    fn failures_that_differ_only_in_masked_parts_share_a_cluster_and_a_rule_wins() {
        let up = Upload {
            format: "json".into(),
            run_env: Default::default(),
            tags: Default::default(),
            skipped: Default::default(),
            executions: vec![
                failed("a", "Null pointer exception at ip 0x45637271"),
                failed("b", "Null pointer exception at ip 0x12345678"),
                failed("a", "Could not connect to 10.0.0.1: connection refused"),
                ExecutionRecord::new("s", "c", Outcome::Passed),
                failed("c", ""),
            ],
        };
        let rule = StoredRule {
            id: "r1".into(),
            name: "db down".into(),
            pattern: RulePattern::Regex("connection refused".into()),
            bug_url: None,
            priority: 0,
        };
        let plan = plan_clusters(&up, &[0, 1, 0, 2, 2], &[rule], &Settings::default());
        assert_eq!(plan.ids[0].as_deref(), Some("7f84eaf83ed889ed19d0c60d43497743"));
        assert_eq!(plan.ids[0], plan.ids[1]);
        assert_eq!(plan.ids[2].as_deref(), Some("r1"), "the rule claims it");
        assert_eq!((plan.ids[3].as_ref(), plan.ids[4].as_ref()), (None, None), "a pass and an empty reason have no cluster");
        let npe = plan.groups.iter().find(|g| g.id.starts_with("7f84")).unwrap();
        assert_eq!((npe.failures, npe.tests.len(), npe.title.as_str()), (2, 2, "Null pointer exception at ip %"));
        let rule = plan.groups.iter().find(|g| g.id == "r1").unwrap();
        assert_eq!((rule.algorithm, rule.title.as_str()), (RULE_ALGORITHM, "db down"));
        assert!(plan.counted);
    }
}
