//! The statuses ReSim's report reads, derived from a test's combined result
//! in a run (`run_tests.status` bits: 1 passed, 2 failed, 4 another outcome,
//! 8 flaked) and from metric thresholds. The mapping (README, "ReSim"):
//! passed → PASSED; passed after failing (flaked) → WARNING; failed →
//! BLOCKER; only skipped, pending or unknown results → CANCELLED. Verdict
//! stores no "errored" apart from "failed", so a job is never ERROR; a run
//! the flaky analysis found an infrastructure failure is an ERROR batch.

/// ReSim's `MetricStatus` (API strings), worst last in `rank`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricStatus {
    Passed,
    FailWarn,
    FailBlock,
    NotApplicable,
    NoStatusReported,
}

impl MetricStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "PASSED",
            Self::FailWarn => "FAIL_WARN",
            Self::FailBlock => "FAIL_BLOCK",
            Self::NotApplicable => "NOT_APPLICABLE",
            Self::NoStatusReported => "NO_STATUS_REPORTED",
        }
    }

    fn rank(self) -> u8 {
        match self {
            Self::NoStatusReported => 0,
            Self::NotApplicable => 1,
            Self::Passed => 2,
            Self::FailWarn => 3,
            Self::FailBlock => 4,
        }
    }

    /// The worse of two statuses (FAIL_BLOCK over FAIL_WARN over PASSED).
    pub fn worst(self, other: MetricStatus) -> MetricStatus {
        if other.rank() > self.rank() { other } else { self }
    }

    /// A value's status against a threshold: above `fails_above` or below
    /// `fails_below` fails with `fail`; else PASSED.
    pub fn of_value(value: f64, fails_above: Option<f64>, fails_below: Option<f64>, fail: MetricStatus) -> MetricStatus {
        if fails_above.is_some_and(|t| value > t) || fails_below.is_some_and(|t| value < t) { fail } else { Self::Passed }
    }
}

/// A suite's threshold on one batch metric (setting `batch_metric_thresholds`)
/// or job metric (`job_metric_thresholds`): a value above `fails_above` or
/// below `fails_below` fails the metric with `status` (`FAIL_BLOCK` by
/// default, or `FAIL_WARN`). A failed batch metric makes its batch a BLOCKER
/// (or WARNING); a failed job metric is marked on the metric only.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricThreshold {
    #[serde(default)]
    pub fails_above: Option<f64>,
    #[serde(default)]
    pub fails_below: Option<f64>,
    #[serde(default)]
    pub status: FailLevel,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FailLevel {
    #[default]
    FailBlock,
    FailWarn,
}

/// Thresholds kept per suite, and the longest metric name one may name.
pub const MAX_THRESHOLDS: usize = 50;
pub const MAX_THRESHOLD_NAME_CHARS: usize = 200;

impl MetricThreshold {
    pub fn status_of(&self, value: Option<f64>) -> MetricStatus {
        let fail = match self.status {
            FailLevel::FailBlock => MetricStatus::FailBlock,
            FailLevel::FailWarn => MetricStatus::FailWarn,
        };
        value.map_or(MetricStatus::Passed, |v| MetricStatus::of_value(v, self.fails_above, self.fails_below, fail))
    }

    /// A threshold of the setting `setting` (`batch_metric_thresholds` or `job_metric_thresholds`) on metric `name`.
    pub fn validate(&self, setting: &str, name: &str) -> Result<(), String> {
        if name.is_empty() || name.chars().count() > MAX_THRESHOLD_NAME_CHARS {
            return Err(format!("{setting}: a metric name is 1 to {MAX_THRESHOLD_NAME_CHARS} characters"));
        }
        if self.fails_above.is_none() && self.fails_below.is_none() {
            return Err(format!("{setting}.{name}: give fails_above, fails_below or both"));
        }
        if [self.fails_above, self.fails_below].iter().flatten().any(|v| !v.is_finite()) {
            return Err(format!("{setting}.{name}: the bounds must be finite numbers"));
        }
        if let (Some(above), Some(below)) = (self.fails_above, self.fails_below)
            && below > above
        {
            return Err(format!("{setting}.{name}: fails_below is above fails_above, so every value fails"));
        }
        Ok(())
    }
}

/// ReSim's `ConflatedJobStatus` of one test in one run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConflatedJob {
    Passed,
    Warning,
    Blocker,
    Error,
    Cancelled,
}

impl ConflatedJob {
    pub const ALL: [ConflatedJob; 5] = [Self::Passed, Self::Warning, Self::Blocker, Self::Error, Self::Cancelled];

    /// From the `run_tests.status` bits of one (run, test).
    pub fn of_run_test(status: i64) -> ConflatedJob {
        if status & 8 != 0 {
            Self::Warning
        } else if status & 2 != 0 {
            Self::Blocker
        } else if status & 1 != 0 {
            Self::Passed
        } else {
            Self::Cancelled
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "PASSED",
            Self::Warning => "WARNING",
            Self::Blocker => "BLOCKER",
            Self::Error => "ERROR",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// ReSim's `JobStatus`: the experience ran (SUCCEEDED) unless nothing ran.
    pub fn job_status(self) -> &'static str {
        match self {
            Self::Cancelled => "CANCELLED",
            Self::Error => "ERROR",
            _ => "SUCCEEDED",
        }
    }

    /// What the result alone says of the job's metrics (a failed test
    /// blocks, a flaked one warns); a metric threshold can only make it worse.
    pub fn metrics_status(self) -> MetricStatus {
        match self {
            Self::Passed => MetricStatus::Passed,
            Self::Warning => MetricStatus::FailWarn,
            Self::Blocker => MetricStatus::FailBlock,
            Self::Error | Self::Cancelled => MetricStatus::NoStatusReported,
        }
    }
}

/// ReSim's `ConflatedBatchStatus` and the conflated status the default
/// report computes (§4.1): ERROR for an infrastructure failure, else BLOCKER
/// or WARNING from the worst of the batch's and its jobs' metric statuses,
/// else COMPLETE (the report reads it as PASSED).
pub fn conflated_batch(infra: bool, batch_metrics: MetricStatus, jobs_metrics: MetricStatus) -> &'static str {
    let worst = batch_metrics.worst(jobs_metrics);
    if infra {
        "ERROR"
    } else if worst == MetricStatus::FailBlock {
        "BLOCKER"
    } else if worst == MetricStatus::FailWarn {
        "WARNING"
    } else {
        "COMPLETE"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tests_result_in_a_run_maps_to_one_conflated_status() {
        assert_eq!(ConflatedJob::of_run_test(1), ConflatedJob::Passed);
        assert_eq!(ConflatedJob::of_run_test(1 | 2 | 8), ConflatedJob::Warning);
        assert_eq!(ConflatedJob::of_run_test(2), ConflatedJob::Blocker);
        // Passed and failed as two same-named results, not attempts: failed.
        assert_eq!(ConflatedJob::of_run_test(1 | 2), ConflatedJob::Blocker);
        assert_eq!(ConflatedJob::of_run_test(4), ConflatedJob::Cancelled);
        assert_eq!(ConflatedJob::of_run_test(4 | 1), ConflatedJob::Passed);
    }

    #[test]
    fn a_threshold_fails_its_metric_above_or_below_its_bounds() {
        let t: MetricThreshold = serde_json::from_str(r#"{"fails_below": 95}"#).unwrap();
        assert_eq!(t.status_of(Some(90.0)), MetricStatus::FailBlock);
        assert_eq!(t.status_of(Some(95.0)), MetricStatus::Passed);
        assert_eq!(t.status_of(None), MetricStatus::Passed, "no value, nothing to fail");
        let w: MetricThreshold = serde_json::from_str(r#"{"fails_above": 60, "status": "FAIL_WARN"}"#).unwrap();
        assert_eq!(w.status_of(Some(61.0)), MetricStatus::FailWarn);
        assert!(serde_json::from_str::<MetricThreshold>(r#"{"fails_above": 1, "colour": 2}"#).is_err());
        assert!(
            serde_json::from_str::<MetricThreshold>(r#"{}"#)
                .unwrap()
                .validate("job_metric_thresholds", "x")
                .unwrap_err()
                .contains("give fails_above")
        );
        let crossed = MetricThreshold { fails_above: Some(1.0), fails_below: Some(2.0), status: FailLevel::FailBlock };
        assert!(crossed.validate("batch_metric_thresholds", "x").unwrap_err().contains("batch_metric_thresholds.x: fails_below is above"));
        assert!(t.validate("job_metric_thresholds", &"n".repeat(201)).is_err());
        assert!(t.validate("batch_metric_thresholds", "pass_rate").is_ok());
    }

    #[test]
    fn worst_status_and_thresholds() {
        use MetricStatus::*;
        assert_eq!(Passed.worst(FailWarn).worst(Passed), FailWarn);
        assert_eq!(FailBlock.worst(FailWarn), FailBlock);
        assert_eq!(NoStatusReported.worst(Passed), Passed);
        assert_eq!(MetricStatus::of_value(3.0, Some(2.0), None, FailBlock), FailBlock);
        assert_eq!(MetricStatus::of_value(2.0, Some(2.0), None, FailBlock), Passed);
        assert_eq!(MetricStatus::of_value(0.5, None, Some(0.9), FailWarn), FailWarn);
        assert_eq!(conflated_batch(true, Passed, Passed), "ERROR");
        assert_eq!(conflated_batch(false, Passed, FailWarn), "WARNING");
        assert_eq!(conflated_batch(false, FailBlock, FailWarn), "BLOCKER");
        assert_eq!(conflated_batch(false, Passed, Passed), "COMPLETE");
    }
}
