//! Failure clusters as the API, the CLI and the pages show them (the flaky
//! spec's §3.3): a suite's clusters ranked by failures in a window with
//! their impact over 1, 3 and 7 days, one cluster's days, tests and latest
//! failures, and the suite's rules.

use crate::AnalysisError;
use crate::owners::{OwnerFilter, Owners};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use verdict_core::clusters::rules::{Rule, RulePattern};
use verdict_store::clusters::{ClusterRow, ClusterTest, Impact, RULE_ALGORITHM, StoredRule};
use verdict_store::{Store, StoreError, Suite};

use crate::pages::DAY_MS;
/// Clusters a list shows at most.
pub const MAX_CLUSTERS: i64 = 200;
/// Failures a cluster's page lists.
pub const RECENT_FAILURES: i64 = 50;
/// Tests a cluster's page lists.
pub const CLUSTER_TESTS: i64 = 100;

fn time(ms: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms)
}

fn day_label(day: i64) -> String {
    time(day * DAY_MS).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize)]
pub struct Example {
    pub execution_id: i64,
    pub test_id: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    pub id: String,
    /// `reason` (suggested by the failure text) or `rule` (a user rule claimed it).
    pub kind: &'static str,
    pub algorithm: String,
    pub title: String,
    /// The rule's pattern, for a rule cluster.
    pub rule: Option<StoredRule>,
    pub bug_url: Option<String>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
    /// Keyed "1d", "3d", "7d" and the window's days.
    pub impact: BTreeMap<String, Impact>,
    pub example: Example,
    /// Every owner of the tests that failed in it in the window (of its
    /// `OWNED_TESTS` most failing), each once, the most failing test's first.
    pub owners: Vec<String>,
}

/// The tests whose owners a cluster lists.
pub const OWNED_TESTS: i64 = 50;

fn view(row: ClusterRow, rules: &HashMap<String, StoredRule>) -> ClusterView {
    let rule = (row.algorithm == RULE_ALGORITHM).then(|| rules.get(&row.id).cloned()).flatten();
    ClusterView {
        kind: if row.algorithm == RULE_ALGORITHM { "rule" } else { "reason" },
        bug_url: rule.as_ref().and_then(|r| r.bug_url.clone()),
        title: rule.as_ref().map_or(row.title.clone(), |r| r.name.clone()),
        rule,
        first_seen: time(row.first_seen_ms),
        last_seen: time(row.last_seen_ms),
        impact: row.impact.iter().map(|(d, i)| (format!("{d}d"), *i)).collect(),
        example: Example { execution_id: row.example_execution_id, test_id: row.example_test_id, reason: row.example_reason },
        owners: Vec::new(),
        algorithm: row.algorithm,
        id: row.id,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterList {
    pub suite: String,
    pub window_days: i64,
    /// Most failures in the window first.
    pub clusters: Vec<ClusterView>,
}

async fn rules_by_id(store: &dyn Store, suite: &Suite) -> Result<HashMap<String, StoredRule>, verdict_store::StoreError> {
    Ok(store.clusters().rules(suite.id).await?.into_iter().map(|r| (r.id.clone(), r)).collect())
}

/// The window's clusters; with an owner filter, those that failed tests it
/// takes, ranked by those failures.
pub async fn cluster_list(
    store: &dyn Store,
    suite: &Suite,
    window_days: i64,
    owner: Option<&OwnerFilter>,
    now_ms: i64,
) -> Result<ClusterList, AnalysisError> {
    let today = now_ms.div_euclid(DAY_MS);
    let only = match owner {
        Some(f) => Some(crate::owners::tests_owned(store, suite.id, f).await?),
        None => None,
    };
    let (rows, rules, owners) = tokio::try_join!(
        store.clusters().clusters(suite.id, today, window_days, MAX_CLUSTERS, only.as_deref()),
        rules_by_id(store, suite),
        Owners::of_suite(store, suite.id)
    )?;
    let first_day = today - window_days + 1;
    let mut clusters: Vec<ClusterView> = rows.into_iter().map(|r| view(r, &rules)).collect();
    for c in &mut clusters {
        c.owners = cluster_owners(store, suite.id, &c.id, first_day, &owners).await?;
    }
    Ok(ClusterList { suite: suite.slug.clone(), window_days, clusters })
}

async fn cluster_owners(store: &dyn Store, suite_id: i64, id: &str, first_day: i64, owners: &Owners) -> Result<Vec<String>, StoreError> {
    if owners.is_empty() {
        return Ok(Vec::new());
    }
    Ok(owners_of_tests(owners, &store.clusters().cluster_tests(suite_id, id, first_day, OWNED_TESTS).await?))
}

/// Every owner of the first `OWNED_TESTS` of `tests`, each once, in their order.
fn owners_of_tests(owners: &Owners, tests: &[ClusterTest]) -> Vec<String> {
    owners.of_all(tests.iter().take(OWNED_TESTS as usize).map(|t| (t.test.file_name.as_deref(), t.test.location.as_deref())))
}

#[derive(Debug, Clone, Serialize)]
pub struct DayView {
    pub day: String,
    pub failures: i64,
    pub tests: i64,
    pub runs: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TestView {
    pub id: i64,
    pub scope: String,
    pub name: String,
    /// Failures in the window.
    pub failures: i64,
    pub last_failed_at: Option<DateTime<Utc>>,
    pub owners: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub run: String,
    pub test: String,
    pub history: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureView {
    pub execution_id: i64,
    pub test_id: i64,
    pub run_id: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    pub run_url: Option<String>,
    pub links: Links,
}

#[derive(Debug, Clone, Serialize)]
pub struct ClusterDetail {
    #[serde(flatten)]
    pub cluster: ClusterView,
    pub window_days: i64,
    pub daily: Vec<DayView>,
    pub tests: Vec<TestView>,
    pub recent_failures: Vec<FailureView>,
}

pub async fn cluster_detail(
    store: &dyn Store,
    suite: &Suite,
    id: &str,
    window_days: i64,
    now_ms: i64,
) -> Result<ClusterDetail, AnalysisError> {
    let today = now_ms.div_euclid(DAY_MS);
    let c = store.clusters();
    let first_day = today - window_days + 1;
    let (row, rules, days, tests, failures) = tokio::try_join!(
        c.cluster(suite.id, id, today, window_days),
        rules_by_id(store, suite),
        c.cluster_days(suite.id, id, first_day, today + 1),
        c.cluster_tests(suite.id, id, first_day, CLUSTER_TESTS),
        c.cluster_failures(suite.id, id, RECENT_FAILURES),
    )?;
    let row = row.ok_or_else(|| AnalysisError::NotFound(format!("no cluster {id:?} in suite {:?}", suite.slug)))?;
    let owners = Owners::of_suite(store, suite.id).await?;
    let mut cluster = view(row, &rules);
    cluster.owners = owners_of_tests(&owners, &tests);
    Ok(ClusterDetail {
        cluster,
        window_days,
        daily: days.into_iter().map(|d| DayView { day: day_label(d.day), failures: d.failures, tests: d.tests, runs: d.runs }).collect(),
        tests: tests
            .into_iter()
            .map(|t| TestView {
                owners: owners.of(t.test.file_name.as_deref(), t.test.location.as_deref()),
                id: t.test.id,
                scope: t.test.scope,
                name: t.test.name,
                failures: t.failures,
                last_failed_at: time(t.last_failed_ms),
            })
            .collect(),
        recent_failures: failures
            .into_iter()
            .map(|f| FailureView {
                links: Links {
                    run: format!("/api/v1/runs/{}", f.run_id),
                    test: format!("/api/v1/tests/{}", f.test_id),
                    history: format!("/api/v1/tests/{}/history", f.test_id),
                },
                execution_id: f.execution_id,
                test_id: f.test_id,
                run_id: f.run_id,
                branch: f.branch,
                commit: f.commit,
                at: time(f.at_ms),
                reason: f.reason,
                run_url: f.run_url,
            })
            .collect(),
    })
}

/// A rule as a user asks for it: `like` or `regex`, a name, an optional bug link and priority.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub name: String,
    pub like: Option<String>,
    pub regex: Option<String>,
    pub bug_url: Option<String>,
    #[serde(default)]
    pub priority: i64,
}

/// Names are at most this long.
pub const MAX_RULE_NAME_CHARS: usize = 200;

/// Check a new rule and give it a random 16-byte id. `Err` says what is wrong.
pub fn new_rule(r: NewRule) -> Result<StoredRule, String> {
    let name = r.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_RULE_NAME_CHARS {
        return Err(format!("name: 1 to {MAX_RULE_NAME_CHARS} characters"));
    }
    let pattern = match (r.like, r.regex) {
        (Some(l), None) => RulePattern::Like(l),
        (None, Some(x)) => RulePattern::Regex(x),
        _ => return Err("give exactly one of like and regex".into()),
    };
    if let Some(url) = r.bug_url.as_deref()
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err("bug_url: an http or https URL".into());
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    Rule::new(id.clone(), r.priority, &pattern).map_err(|e| e.to_string())?;
    Ok(StoredRule { id, name, pattern, bug_url: r.bug_url, priority: r.priority })
}
