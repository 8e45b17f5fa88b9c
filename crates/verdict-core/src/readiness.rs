//! Sippy's component-readiness comparison of one test between a basis (the
//! released past) and a sample (now): is the sample significantly worse, or
//! better? (spec section 6.)

use crate::fisher::{self, Table};
use serde::{Deserialize, Serialize};

/// One side's results: each job run contributes one success, failure or flake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub success: u64,
    pub failure: u64,
    pub flake: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.success + self.failure + self.flake
    }

    fn passes(&self, flake_as_failure: bool) -> u64 {
        if flake_as_failure { self.success } else { self.success + self.flake }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Percent; significant when p < 1 - confidence/100.
    pub confidence: f64,
    /// Percentage points of pass-rate drop tolerated before testing at all.
    pub pity_factor: f64,
    /// Fewer sample failures than this are never a regression.
    pub minimum_failure: u64,
    pub flake_as_failure: bool,
    /// Report a missing sample as not significant.
    pub ignore_missing: bool,
    /// Pass rate (percent) a test without basis must reach; 0 turns the rule off.
    pub pass_rate_required_new_tests: f64,
    /// Pass rate (percent) every test must reach, instead of the Fisher test; 0 turns it off.
    pub pass_rate_required_all_tests: f64,
}

impl Default for Options {
    /// Sippy's main view.
    fn default() -> Self {
        Options {
            confidence: 95.0,
            pity_factor: 5.0,
            minimum_failure: 3,
            flake_as_failure: false,
            ignore_missing: false,
            pass_rate_required_new_tests: 95.0,
            pass_rate_required_all_tests: 0.0,
        }
    }
}

impl Options {
    /// Sippy's main view with the three thresholds a user may change
    /// (`confidence` in percent, above 0 and below 100; `pity` in points of
    /// pass rate, 0 to 100; `min_fail` failures); `Err` names the bad one.
    pub fn with_thresholds(confidence: Option<f64>, pity: Option<f64>, min_fail: Option<u64>) -> Result<Self, String> {
        let mut o = Options::default();
        if let Some(c) = confidence {
            if !(c > 0.0 && c < 100.0) {
                return Err(format!("confidence must be above 0 and below 100 (percent), got {c}"));
            }
            o.confidence = c;
        }
        if let Some(p) = pity {
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("pity must be between 0 and 100 (points of pass rate), got {p}"));
            }
            o.pity_factor = p;
        }
        if let Some(m) = min_fail {
            o.minimum_failure = m;
        }
        Ok(o)
    }
}

/// Sippy's statuses, with its numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    ExtremeRegression = -500,
    SignificantRegression = -400,
    MissingSample = -100,
    NotSignificant = 0,
    MissingBasis = 100,
    MissingBasisAndSample = 200,
    SignificantImprovement = 300,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub status: Status,
    /// The one-sided Fisher p-value, where a Fisher test was made.
    pub p_value: Option<f64>,
    /// The table it was made on, `[[a, b], [c, d]]`.
    pub fisher_table: Option<[[u64; 2]; 2]>,
    pub basis_pass_rate: Option<f64>,
    pub sample_pass_rate: Option<f64>,
    pub explanations: Vec<String>,
}

/// A pass-rate drop beyond this (as a fraction) makes a significant regression extreme.
const EXTREME_DROP: f64 = 0.15;
/// Fewest sample runs for the pass-rate rule to judge a test.
const PASS_RATE_MIN_RUNS: u64 = 6;

pub fn compare(basis: Option<Counts>, sample: Counts, o: &Options) -> Comparison {
    let basis = basis.filter(|b| b.total() > 0);
    let rate = |c: &Counts| c.passes(o.flake_as_failure) as f64 / c.total() as f64;
    let sample_rate = (sample.total() > 0).then(|| rate(&sample));
    let basis_rate = basis.as_ref().map(rate);
    let result = |status, p_value, fisher_table, explanations| Comparison {
        status,
        p_value,
        fisher_table,
        basis_pass_rate: basis_rate,
        sample_pass_rate: sample_rate,
        explanations,
    };
    let sample_failures = sample.total() - sample.passes(o.flake_as_failure);

    // Pass-rate mode: for new tests (no basis), or for every test when configured.
    let pass_rate_rule = |required: f64, otherwise: Status| {
        let regressed = sample.total() >= PASS_RATE_MIN_RUNS
            && sample_rate.is_some_and(|r| r * 100.0 < required)
            && sample_failures >= o.minimum_failure;
        let status = match sample_rate {
            Some(r) if regressed && r * 100.0 < required - (100.0 - required) => Status::ExtremeRegression,
            _ if regressed => Status::SignificantRegression,
            _ => otherwise,
        };
        result(status, None, None, Vec::new())
    };
    if basis.is_none() && o.pass_rate_required_new_tests > 0.0 {
        let otherwise = if o.pass_rate_required_all_tests > 0.0 { Status::NotSignificant } else { Status::MissingBasis };
        return pass_rate_rule(o.pass_rate_required_new_tests, otherwise);
    }
    if o.pass_rate_required_all_tests > 0.0 {
        return pass_rate_rule(o.pass_rate_required_all_tests, Status::NotSignificant);
    }

    // Fisher mode.
    let (Some(basis), Some(s_rate)) = (basis, sample_rate) else {
        let status = match (basis.is_some(), sample.total() > 0) {
            (false, false) => Status::MissingBasisAndSample,
            (_, false) if o.ignore_missing => Status::NotSignificant,
            (_, false) => Status::MissingSample,
            _ => Status::MissingBasis,
        };
        return result(status, None, None, Vec::new());
    };
    let b_rate = basis_rate.expect("basis present");
    if sample_failures < o.minimum_failure {
        return result(Status::NotSignificant, Some(0.0), None, Vec::new());
    }
    let (b_pass, s_pass) = (basis.passes(o.flake_as_failure), sample.passes(o.flake_as_failure));
    let (b_fail, s_fail) = (basis.total() - b_pass, sample.total() - s_pass);
    let improved = s_rate >= b_rate;
    let table = if improved {
        [[b_fail, b_pass], [s_fail, s_pass]]
    } else if b_rate - s_rate > o.pity_factor / 100.0 {
        [[s_fail, s_pass], [b_fail, b_pass]]
    } else {
        return result(Status::NotSignificant, None, None, Vec::new());
    };
    let p = fisher::greater(Table::new(table));
    let significant = p < 1.0 - o.confidence / 100.0;
    let status = match (significant, improved) {
        (false, _) => Status::NotSignificant,
        (true, true) => Status::SignificantImprovement,
        (true, false) if b_rate - s_rate > EXTREME_DROP => Status::ExtremeRegression,
        (true, false) => Status::SignificantRegression,
    };
    let explanations = match status {
        Status::ExtremeRegression | Status::SignificantRegression => vec![
            if status == Status::ExtremeRegression { "Extreme regression detected." } else { "Significant regression detected." }
                .to_string(),
            // Upstream prints (100 - p)% with p a fraction; kept for parity: it reads as "about 100%".
            format!("Fishers Exact probability of a regression: {:.2}%.", 100.0 - p),
            format!("Test pass rate dropped from {:.2}% to {:.2}%.", b_rate * 100.0, s_rate * 100.0),
        ],
        _ => Vec::new(),
    };
    result(status, Some(p), Some(table), explanations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(success: u64, failure: u64, flake: u64) -> Counts {
        Counts { success, failure, flake }
    }

    #[test]
    fn missing_sides() {
        let o = Options { pass_rate_required_new_tests: 0.0, ..Options::default() };
        assert_eq!(compare(None, c(0, 0, 0), &o).status, Status::MissingBasisAndSample);
        assert_eq!(compare(Some(c(10, 0, 0)), c(0, 0, 0), &o).status, Status::MissingSample);
        assert_eq!(compare(Some(c(10, 0, 0)), c(0, 0, 0), &Options { ignore_missing: true, ..o }).status, Status::NotSignificant);
        assert_eq!(compare(None, c(10, 0, 0), &o).status, Status::MissingBasis);
    }

    #[test]
    fn new_tests_must_reach_the_required_pass_rate() {
        let o = Options::default();
        assert_eq!(compare(None, c(5, 5, 0), &o).status, Status::ExtremeRegression, "50% < 95 - 5");
        assert_eq!(compare(None, c(92, 8, 0), &o).status, Status::SignificantRegression, "92% < 95");
        assert_eq!(compare(None, c(99, 1, 0), &o).status, Status::MissingBasis);
        assert_eq!(compare(None, c(3, 2, 0), &o).status, Status::MissingBasis, "fewer than 6 runs");
    }

    #[test]
    fn few_failures_or_a_small_drop_are_not_significant() {
        let o = Options::default();
        let r = compare(Some(c(1000, 0, 0)), c(8, 2, 0), &o);
        assert_eq!((r.status, r.p_value), (Status::NotSignificant, Some(0.0)));
        let r = compare(Some(c(1000, 30, 0)), c(93, 7, 0), &o);
        assert_eq!((r.status, r.p_value), (Status::NotSignificant, None), "within the pity factor");
    }
}
