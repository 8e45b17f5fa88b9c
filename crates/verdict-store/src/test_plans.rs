//! Test plans in the store (migration 0017) and the timings they are made
//! from: per test its latest first-attempt durations.

use crate::error::StoreError;
use async_trait::async_trait;

/// How long a plan is kept: every job of a build asks within this.
pub const PLAN_KEPT_MS: i64 = 7 * 86_400_000;

/// A test's latest timed first attempts (passed or failed), newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTiming {
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    pub location: Option<String>,
    /// Seconds.
    pub durations: Vec<f64>,
}

impl TestTiming {
    /// The file the test is in: its `file_name`, else its `location` without `:line`, without a leading `./`
    /// (the path owners files match too).
    pub fn path(&self) -> Option<&str> {
        verdict_core::owners::test_path(self.file_name.as_deref(), self.location.as_deref()).filter(|p| !p.is_empty())
    }
}

/// Timings: the tests seen since `since_ms` with at most `per_test` durations each.
pub(crate) const TIMED_TESTS: &str =
    "SELECT id, scope, name, file_name, location FROM tests WHERE suite_id = ?1 AND last_seen >= ?2 ORDER BY id";
/// ?1 test, ?2 since, ?3 how many: passed (0) or failed (1) first attempts with a duration.
pub(crate) const LATEST_DURATIONS: &str = "SELECT duration FROM executions WHERE test_id = ?1 AND created_at >= ?2
     AND attempt = 0 AND outcome IN (0, 1) AND duration IS NOT NULL ORDER BY created_at DESC LIMIT ?3";

#[async_trait]
pub trait TestPlansStore: Send + Sync {
    /// Per test seen since `since_ms`, its latest `per_test` timed first attempts.
    async fn timings(&self, suite_id: i64, since_ms: i64, per_test: i64) -> Result<Vec<TestTiming>, StoreError>;
    /// The plan kept for `identifier`, if one was made in the last 7 days.
    async fn kept_plan(&self, suite_id: i64, identifier: &str, now_ms: i64) -> Result<Option<String>, StoreError>;
    /// Keep `plan` for `identifier` unless one is kept already; the kept one
    /// (so concurrent first requests all get one plan). Plans older than 7 days go.
    async fn keep_plan(&self, suite_id: i64, identifier: &str, plan: &str, now_ms: i64) -> Result<String, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tests_path_is_its_file_or_its_location_without_the_line() {
        let t = |file: Option<&str>, location: Option<&str>| TestTiming {
            scope: String::new(),
            name: String::new(),
            file_name: file.map(Into::into),
            location: location.map(Into::into),
            durations: vec![],
        };
        assert_eq!(t(Some("./spec/a_spec.rb"), Some("x:1")).path(), Some("spec/a_spec.rb"));
        assert_eq!(t(None, Some("./spec/b_spec.rb:12")).path(), Some("spec/b_spec.rb"));
        assert_eq!(t(None, None).path(), None);
    }
}
