//! The job-run-aggregator rule (OpenShift ci-tools): how many of `n` repeated
//! runs of a job must pass a test, given its historical working percentage,
//! for the batch not to count as a regression.
//!
//! Upstream hard-codes a table made by `required-pass-rate.py`; here the rule
//! is computed, so that it reproduces that table and extends to any `n`.

use crate::fisher::{self, Table};
use std::sync::OnceLock;

/// Historical runs the script compares against.
pub const CORPUS: u64 = 250;
/// Significance of the one-sided Fisher test.
pub const ALPHA: f64 = 0.05;
/// Upstream never requires more than `attempts - 2` passes (TRT-2487).
pub const PITY: u32 = 2;

/// The p-value that `passes` of `attempts` is worse than a history of
/// `working_percentage` (an integer percentage, as upstream truncates it).
pub fn p_value(attempts: u32, working_percentage: u32, passes: u32) -> f64 {
    let wp = working_percentage.min(100);
    // Python's round() rounds halves to even; 250·p/100 has halves at odd p.
    let hist_pass = (CORPUS as f64 * f64::from(wp) / 100.0).round_ties_even() as u64;
    let passes = passes.min(attempts);
    fisher::greater(Table::new([[hist_pass, u64::from(passes)], [CORPUS - hist_pass, u64::from(attempts - passes)]]))
}

/// The strict required number of passes (upstream's `TABLE[n][p]`): one less
/// than the first pass count that is not significantly worse than history.
/// Rows 1 and 2 keep upstream's hand-set legacy values.
pub fn strict_required(attempts: u32, working_percentage: u32) -> u32 {
    let wp = working_percentage.min(100);
    // A batch asks the same few (attempts, percentage) pairs for every test:
    // each row of the table is computed once.
    match ROWS.get(attempts as usize) {
        Some(row) => row.get_or_init(|| std::array::from_fn(|p| computed_strict_required(attempts, p as u32)))[wp as usize],
        None => computed_strict_required(attempts, wp),
    }
}

const CACHED_ATTEMPTS: usize = 64;
static ROWS: [OnceLock<[u32; 101]>; CACHED_ATTEMPTS + 1] = [const { OnceLock::new() }; CACHED_ATTEMPTS + 1];

fn computed_strict_required(attempts: u32, wp: u32) -> u32 {
    match attempts {
        0 => 0,
        1 => u32::from(wp >= 96),
        2 => u32::from(wp >= 79),
        n => match (0..=n).find(|&t| p_value(n, wp, t) > ALPHA) {
            Some(0) => 0,
            Some(t) => t - 1,
            // Never reached with these inputs (t = n has p = 1); upstream's rule.
            None if wp == 100 => computed_strict_required(n, 98),
            None => 0,
        },
    }
}

/// The required number after the pity factor: never more than `attempts - 2`.
pub fn required(attempts: u32, working_percentage: u32) -> u32 {
    strict_required(attempts, working_percentage).min(attempts.saturating_sub(PITY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example_n10_p95() {
        // Spec 1.5.1: p-values for t = 6, 7, 8 are 0.0016, 0.0147, 0.0946 → t* = 8 → 7.
        assert!((p_value(10, 95, 6) - 0.0016).abs() < 5e-5);
        assert!((p_value(10, 95, 7) - 0.0147).abs() < 5e-5);
        assert!((p_value(10, 95, 8) - 0.0946).abs() < 5e-5);
        assert_eq!(strict_required(10, 95), 7);
    }

    #[test]
    fn pity_caps_at_two_failures() {
        assert_eq!((strict_required(10, 100), required(10, 100)), (9, 8));
        assert_eq!((strict_required(12, 100), required(12, 100)), (11, 10));
        assert_eq!(required(1, 100), 0);
    }

    #[test]
    fn extends_past_twelve_attempts() {
        let mut last = 0;
        for n in 13..=40 {
            let r = strict_required(n, 95);
            assert!(r >= last && r < n, "n={n}: {r}");
            last = r;
        }
    }
}
