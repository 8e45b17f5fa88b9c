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
        None => {
            // Rarely more than 64 runs: memoise the cells asked for, not whole rows.
            let mut memo = LARGE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            *memo.entry((attempts, wp)).or_insert_with(|| computed_strict_required(attempts, wp))
        }
    }
}

static LARGE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<(u32, u32), u32>>> =
    std::sync::LazyLock::new(Default::default);

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

/// The most attempts a threshold table is drawn for, and the most runs a
/// batch may be expected to have: a table costs `attempts²` hypergeometric
/// terms, and upstream never runs a job more than 12 times.
pub const MAX_TABLE_ATTEMPTS: u32 = 200;

/// "Why this threshold?": for `attempts` runs against a history of
/// `working_percentage`, the p-value of every pass count and whether that
/// count passes, as `verdict stats required-passes` prints it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdTable {
    pub attempts: u32,
    pub working_percentage: u32,
    pub strict_required: u32,
    /// After the pity factor: what a batch is judged by.
    pub required: u32,
    pub alpha: f64,
    pub rows: Vec<ThresholdRow>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ThresholdRow {
    pub passes: u32,
    pub p_value: f64,
    /// This pass count meets the required number.
    pub passes_aggregation: bool,
    /// p ≤ α: significantly worse than history (it may still pass, by one).
    pub significantly_worse: bool,
}

/// The table for `attempts` (at most `MAX_TABLE_ATTEMPTS`) and a working percentage (0–100).
pub fn threshold_table(attempts: u32, working_percentage: u32) -> Result<ThresholdTable, String> {
    if attempts == 0 || attempts > MAX_TABLE_ATTEMPTS {
        return Err(format!("attempts must be between 1 and {MAX_TABLE_ATTEMPTS}, got {attempts}"));
    }
    if working_percentage > 100 {
        return Err(format!("the working percentage must be between 0 and 100, got {working_percentage}"));
    }
    let (strict, req) = (strict_required(attempts, working_percentage), required(attempts, working_percentage));
    let rows = (0..=attempts)
        .map(|passes| {
            let p = p_value(attempts, working_percentage, passes);
            ThresholdRow { passes, p_value: p, passes_aggregation: passes >= req, significantly_worse: p <= ALPHA }
        })
        .collect();
    Ok(ThresholdTable { attempts, working_percentage, strict_required: strict, required: req, alpha: ALPHA, rows })
}

/// While a batch is still running: what the test needs from the runs not yet in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StillNeeded {
    /// It already has the passes the full batch requires.
    Met,
    /// `passes` more passes in the `runs` runs still missing.
    Needs { passes: u32, runs: u32 },
    /// More passes are required than runs are left.
    CannotPass { passes: u32, runs: u32 },
}

/// With `expected` runs in the full batch, `attempts` of them in so far and
/// `passes` of those passed: what the rest must bring (required passes for
/// the full batch, by the aggregator's rule).
pub fn still_needed(expected: u32, attempts: u32, passes: u32, working_percentage: u32) -> StillNeeded {
    let runs = expected.saturating_sub(attempts);
    let more = required(expected.max(attempts), working_percentage).saturating_sub(passes);
    match more {
        0 => StillNeeded::Met,
        m if m > runs => StillNeeded::CannotPass { passes: m, runs },
        m => StillNeeded::Needs { passes: m, runs },
    }
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
    fn threshold_table_marks_the_boundary_one_pass_below_fisher() {
        // Spec 1.5.1, n = 10, p = 95: 7 of 10 passes (p = 0.0147) still passes; 6 does not.
        let t = threshold_table(10, 95).unwrap();
        assert_eq!((t.strict_required, t.required, t.rows.len()), (7, 7, 11));
        let r7 = &t.rows[7];
        assert!(r7.passes_aggregation && r7.significantly_worse);
        assert!(!t.rows[6].passes_aggregation);
        assert!(!t.rows[8].significantly_worse && t.rows[8].p_value > ALPHA);
        assert!(t.rows.windows(2).all(|w| w[0].p_value <= w[1].p_value), "p grows with the passes");
        assert!(threshold_table(0, 90).is_err() && threshold_table(MAX_TABLE_ATTEMPTS + 1, 90).is_err());
        assert!(threshold_table(5, 101).is_err());
    }

    #[test]
    fn still_needed_counts_against_the_full_batch() {
        // 10 runs expected at 95 %: 7 required. 4 of 5 passed so far: 3 more in 5 runs.
        assert_eq!(still_needed(10, 5, 4, 95), StillNeeded::Needs { passes: 3, runs: 5 });
        assert_eq!(still_needed(10, 5, 1, 95), StillNeeded::CannotPass { passes: 6, runs: 5 });
        assert_eq!(still_needed(10, 8, 7, 95), StillNeeded::Met);
        // More runs in than expected: judged on what is there.
        assert_eq!(still_needed(3, 10, 7, 95), StillNeeded::Met);
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
