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
