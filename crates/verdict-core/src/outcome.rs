use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The result of one execution, as Buildkite's collectors report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
    Skipped,
    Pending,
    Unknown,
}

impl Outcome {
    pub const ALL: [Outcome; 5] = [Self::Passed, Self::Failed, Self::Skipped, Self::Pending, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passed => "passed",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Pending => "pending",
            Self::Unknown => "unknown",
        }
    }

    /// Stable small integer used as the storage encoding.
    pub fn code(self) -> i16 {
        match self {
            Self::Passed => 0,
            Self::Failed => 1,
            Self::Skipped => 2,
            Self::Pending => 3,
            Self::Unknown => 4,
        }
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|o| i64::from(o.code()) == code)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Outcome {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| format!("unknown result {s:?}: expected one of passed, failed, skipped, pending, unknown"))
    }
}

/// The result of a whole run, derived from its executions (Buildkite semantics:
/// a run is failed as soon as any execution failed, even if it passed on retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    Pending,
    Passed,
    Failed,
}

impl RunResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Passed => "passed",
            Self::Failed => "failed",
        }
    }

    /// Combine the result a run had with the outcomes just added to it.
    pub fn after(self, outcomes: impl IntoIterator<Item = Outcome>) -> Self {
        outcomes.into_iter().fold(self, |acc, o| match (acc, o) {
            (Self::Failed, _) | (_, Outcome::Failed) => Self::Failed,
            (_, Outcome::Passed) => Self::Passed,
            (acc, _) => acc,
        })
    }
}

impl FromStr for RunResult {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pending" => Ok(Self::Pending),
            "passed" => Ok(Self::Passed),
            "failed" => Ok(Self::Failed),
            _ => Err(format!("unknown run result {s:?}: expected pending, passed or failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for o in Outcome::ALL {
            assert_eq!(Outcome::from_code(o.code().into()), Some(o));
            assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        }
        assert!("PASSED".parse::<Outcome>().is_err());
    }

    #[test]
    fn run_result_fails_once_any_execution_failed() {
        use Outcome::*;
        assert_eq!(RunResult::Pending.after([Skipped, Pending]), RunResult::Pending);
        assert_eq!(RunResult::Pending.after([Skipped, Passed]), RunResult::Passed);
        assert_eq!(RunResult::Passed.after([Failed, Passed]), RunResult::Failed);
        assert_eq!(RunResult::Failed.after([Passed]), RunResult::Failed);
    }
}
