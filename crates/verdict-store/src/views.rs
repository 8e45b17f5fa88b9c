//! What reads return. These serialize directly as the JSON API's shapes.

use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use verdict_core::stats::Proportion;
use verdict_core::{Outcome, RunEnv, SuiteSlug};

pub fn ms_to_time(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Suite {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub default_branch: String,
    pub created_at: DateTime<Utc>,
    /// Link template for a commit, `{commit}` replaced (e.g. `https://github.com/o/r/commit/{commit}`).
    pub commit_url: Option<String>,
    /// Link template for a file and line: `{commit}`, `{file}`, `{line}` replaced.
    pub file_url: Option<String>,
}

/// A suite's link templates; `None` leaves one unchanged, `Some("")` clears it.
#[derive(Debug, Clone, Default)]
pub struct SuiteLinks {
    pub commit_url: Option<String>,
    pub file_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSuite {
    pub slug: SuiteSlug,
    pub name: String,
    pub default_branch: String,
    pub token_hash: String,
}

impl NewSuite {
    /// The suite as stored under `id` at `created_ms`.
    pub(crate) fn stored(&self, id: i64, created_ms: i64) -> Suite {
        Suite {
            id,
            slug: self.slug.to_string(),
            name: self.name.clone(),
            default_branch: self.default_branch.clone(),
            created_at: ms_to_time(created_ms),
            commit_url: None,
            file_url: None,
        }
    }
}

/// What the writer reports once an upload is durable.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadReceipt {
    pub upload_id: String,
    pub run_id: i64,
    pub queued: usize,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Counts {
    pub passed: i64,
    pub failed: i64,
    pub skipped: i64,
    pub pending: i64,
    pub unknown: i64,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome, n: i64) {
        *match outcome {
            Outcome::Passed => &mut self.passed,
            Outcome::Failed => &mut self.failed,
            Outcome::Skipped => &mut self.skipped,
            Outcome::Pending => &mut self.pending,
            Outcome::Unknown => &mut self.unknown,
        } += n;
    }

    pub fn total(&self) -> i64 {
        self.passed + self.failed + self.skipped + self.pending + self.unknown
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Run {
    pub id: i64,
    pub suite_id: i64,
    /// key, ci, url, branch, commit_sha, number, job_id, message, and the
    /// run_env keys Verdict does not model as `env`.
    #[serde(flatten)]
    pub run_env: RunEnv,
    pub state: String,
    pub result: String,
    pub uploads: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The run's tests by their combined outcome, kept at write time.
    pub tests: RunTestCounts,
    /// The run's executions (attempts included), kept at write time.
    pub executions: RunExecutionCounts,
    /// Summed duration of the run's timed executions, in seconds.
    pub test_seconds: f64,
    /// The flaky analysis found it (or an upload of it) an infrastructure
    /// failure: its results add no evidence to the tests' states.
    pub infra: bool,
    /// When the flaky analysis last took it (`None`: not yet).
    pub analyzed_at: Option<DateTime<Utc>>,
}

/// A run's tests by combined outcome: `passed` never failed, `failed` failed
/// and did not flake, `flaky` passed and failed as attempts (or across
/// uploads) of the run, `skipped` had only skipped, pending or unknown results.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RunTestCounts {
    pub passed: i64,
    pub failed: i64,
    pub flaky: i64,
    pub skipped: i64,
}

impl RunTestCounts {
    pub fn total(&self) -> i64 {
        self.passed + self.failed + self.flaky + self.skipped
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct RunExecutionCounts {
    pub passed: i64,
    pub failed: i64,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: Run,
    pub counts: Counts,
    pub total: i64,
    /// Tests that both passed and failed within this run.
    pub flaky: i64,
    /// The run's named metrics.
    pub metrics: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Execution {
    pub id: i64,
    pub run_id: i64,
    pub test_id: i64,
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    pub location: Option<String>,
    pub result: Outcome,
    pub duration: Option<f64>,
    pub attempt: i64,
    /// In a list, cut at `Execution::LISTED_REASON_BYTES` and marked.
    pub failure_reason: Option<String>,
    /// failure_expanded, spans, properties (those present). In a list, null
    /// when larger than `Execution::LISTED_DETAIL_BYTES` (`detail_omitted`).
    pub detail: Option<serde_json::Value>,
    pub detail_omitted: bool,
    /// Whether captured output (system_out, system_err) is stored: it is read
    /// on its own route, never in a list.
    pub has_output: bool,
    pub tags: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
}

impl Execution {
    /// What a list page carries of each result at most, so that a page costs
    /// a bounded amount whatever was uploaded; the result's own route has all.
    pub const LISTED_DETAIL_BYTES: i64 = 16 * 1024;
    pub const LISTED_REASON_BYTES: i64 = 4096;
}

/// A result's captured output, each stream at most `caps::MAX_TEXT_BYTES`.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct ExecutionOutput {
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Test {
    pub id: i64,
    pub suite_id: i64,
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    pub location: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestStats {
    #[serde(flatten)]
    pub test: Test,
    pub counts: Counts,
    pub executions: i64,
    pub flaky: i64,
    /// passed / (passed + failed) with its 95% Wilson interval; null without either.
    pub reliability: Option<Proportion>,
    pub duration_p50: Option<f64>,
    pub duration_p95: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HistoryEntry {
    pub execution_id: i64,
    pub run_id: i64,
    pub result: Outcome,
    pub duration: Option<f64>,
    pub attempt: i64,
    pub failure_reason: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub url: Option<String>,
    pub number: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TestStats {
    /// Assemble a test's statistics from its rollup sums and the durations of
    /// its executions in the window.
    pub fn from_parts(test: Test, counts: Counts, flaky: i64, mut durations: Vec<f64>) -> Self {
        use verdict_core::stats::{quantile, reliability};
        let reliability = reliability(counts.passed.max(0) as u64, counts.failed.max(0) as u64);
        TestStats {
            test,
            executions: counts.total(),
            flaky,
            reliability,
            duration_p50: quantile(&mut durations, 0.5),
            duration_p95: quantile(&mut durations, 0.95),
            counts,
        }
    }
}

/// An execution's tags: its upload's tags, overridden by its own (Buildkite semantics).
pub(crate) fn merged_tags(upload_tags: Option<String>, own: Option<String>) -> BTreeMap<String, String> {
    let mut tags = string_map(upload_tags);
    tags.extend(string_map(own));
    tags
}

/// Parse a JSON text column holding a string map; bad or missing data is empty.
pub(crate) fn string_map(json: Option<String>) -> BTreeMap<String, String> {
    json.and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

/// One result of one test in one run of a judged batch.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResult {
    pub run_id: i64,
    pub run_key: String,
    pub scope: String,
    pub name: String,
    pub outcome: Outcome,
}

/// A test's record over a selection of runs: in how many runs it passed (and
/// never failed), failed (and never passed), or both (flaked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRecord {
    pub test_id: i64,
    pub scope: String,
    pub name: String,
    pub passed: i64,
    pub failed: i64,
    pub flaked: i64,
}

impl TestRecord {
    /// Percentage of runs in which it worked: flakes count as working (upstream's rule).
    pub fn working_percentage(&self) -> Option<f64> {
        let total = self.passed + self.failed + self.flaked;
        (total > 0).then(|| 100.0 * (self.passed + self.flaked) as f64 / total as f64)
    }
}

/// One named metric value of one run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMetric {
    pub run_id: i64,
    pub run_key: String,
    pub name: String,
    pub value: f64,
}

/// A test's timed results over a selection of runs, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestDurations {
    pub scope: String,
    pub name: String,
    pub durations: Vec<f64>,
}

impl TestDurations {
    /// Group rows that arrive ordered by (scope, name).
    pub(crate) fn group(rows: impl IntoIterator<Item = (String, String, f64)>) -> Vec<TestDurations> {
        let mut out: Vec<TestDurations> = Vec::new();
        for (scope, name, d) in rows {
            match out.last_mut() {
                Some(last) if last.scope == scope && last.name == name => last.durations.push(d),
                _ => out.push(TestDurations { scope, name, durations: vec![d] }),
            }
        }
        out
    }
}

/// The columns of an execution read, for both stores: the failure reason cut
/// at `reason_max` bytes (in characters by SQL, then in bytes by
/// [`listed_reason`]) and the detail left out past `detail_max` bytes, both
/// measured in the database so that what is left out is never read.
pub(crate) fn execution_cols(reason_max: i64, detail_max: i64) -> String {
    format!(
        "e.id, e.run_id, e.test_id, t.scope, t.name, t.file_name, t.location, e.outcome, e.duration, e.attempt,
         substr(e.failure_reason, 1, {reason_max} + 1), CASE WHEN octet_length(e.detail) <= {detail_max} THEN e.detail END,
         coalesce(octet_length(e.detail) > {detail_max}, false), e.outputs IS NOT NULL, e.tags, e.created_at, u.tags"
    )
}

pub(crate) const EXECUTION_FROM: &str = "FROM executions e JOIN tests t ON t.id = e.test_id JOIN uploads u ON u.id = e.upload_id";

/// No cut: the one-execution route (within PostgreSQL's `int` lengths).
pub(crate) const WHOLE: i64 = (i32::MAX / 2) as i64;

pub(crate) fn listed_reason(reason: Option<String>, max: i64) -> Option<String> {
    reason.map(|r| verdict_core::caps::cap_text(r, usize::try_from(max).unwrap_or(usize::MAX)))
}

/// The output columns, each stream cut in the database to one character
/// more than the cap (so that a longer one is seen as longer) and then in bytes.
pub(crate) fn output_of(out: Option<String>, err: Option<String>) -> ExecutionOutput {
    let cap = |s: Option<String>| s.map(|s| verdict_core::caps::cap_text(s, verdict_core::caps::MAX_TEXT_BYTES));
    ExecutionOutput { system_out: cap(out), system_err: cap(err) }
}
