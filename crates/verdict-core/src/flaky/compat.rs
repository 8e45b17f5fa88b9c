//! Other systems' flakiness figures, reproduced so that a team moving to
//! Verdict can compare like with like (spec §1.2, §1.5, §1.6).

use statrs::function::gamma::ln_gamma;

/// A result in a sequence: passed, failed, or flaky (both, in one run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Pass,
    Fail,
    Flaky,
}

/// Buildkite's transition count: the adjacent pairs that differ among the
/// last `window` pass/fail results, divided by `window` even when fewer
/// results exist. `results` is oldest first; `true` = passed.
pub fn buildkite_transition_score(results: &[bool], window: usize) -> f64 {
    if window == 0 {
        return 0.0;
    }
    let last = &results[results.len().saturating_sub(window)..];
    let changes = last.windows(2).filter(|w| w[0] != w[1]).count();
    changes as f64 / window as f64
}

/// TestGrid's flakiness (`flakiness.go`), 0–100: flips per considered cell,
/// where a pass→fail change or a flaky cell is a flip and runs of 3 or more
/// failures are a breakage, skipped. `cells` is oldest first.
pub fn testgrid_flakiness(cells: &[Cell]) -> f64 {
    const IGNORE_FAILURES_IN_A_ROW: usize = 3;
    let (mut i, mut flips, mut considered, mut last_passing) = (0, 0u32, 0u32, true);
    while i < cells.len() {
        let failures = cells[i..].iter().take_while(|c| **c == Cell::Fail).count();
        if failures >= IGNORE_FAILURES_IN_A_ROW {
            i += failures;
            if i >= cells.len() {
                break;
            }
        }
        considered += 1;
        match cells[i] {
            Cell::Pass => last_passing = true,
            Cell::Flaky => {
                flips += 1;
                last_passing = true;
            }
            Cell::Fail => {
                if last_passing {
                    flips += 1;
                }
                last_passing = false;
            }
        }
        i += 1;
    }
    if considered == 0 { 0.0 } else { 100.0 * f64::from(flips) / f64::from(considered) }
}

/// ln of the Beta-Bernoulli marginal likelihood of `x` of `n` with prior Beta(a, b).
fn ln_marginal(x: f64, n: f64, a: f64, b: f64) -> f64 {
    ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + ln_gamma(x + a) + ln_gamma(n - x + b) - ln_gamma(n + a + b)
}

/// LUCI's changepoint gain (nats) for the best single split of a sequence
/// of runs (`true` = had an unexpected result), with its prior Beta(0.3, 0.5)
/// and no retries; LUCI splits when the gain exceeds ln(10⁴) ≈ 9.21.
pub fn luci_split_gain(unexpected: &[bool]) -> f64 {
    const A: f64 = 0.3;
    const B: f64 = 0.5;
    let n = unexpected.len();
    let total = unexpected.iter().filter(|u| **u).count() as f64;
    let whole = ln_marginal(total, n as f64, A, B);
    let mut left = 0.0;
    let mut best = f64::NEG_INFINITY;
    for (k, u) in unexpected.iter().enumerate().take(n.saturating_sub(1)) {
        left += f64::from(u8::from(*u));
        let k = (k + 1) as f64;
        let split = ln_marginal(left, k, A, B) + ln_marginal(total - left, n as f64 - k, A, B);
        best = best.max(split - whole);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> Vec<bool> {
        s.chars().map(|c| c == 'P').collect()
    }

    fn cells(s: &str) -> Vec<Cell> {
        s.chars()
            .map(|c| match c {
                'P' => Cell::Pass,
                'F' => Cell::Fail,
                _ => Cell::Flaky,
            })
            .collect()
    }

    #[test]
    fn buildkite_examples() {
        for (s, w, want) in [("FFFFF", 5, 0.0), ("PPFFF", 5, 0.2), ("PFPFF", 5, 0.6), ("PFFFFF", 5, 0.0), ("PF", 5, 0.2)] {
            assert!((buildkite_transition_score(&seq(s), w) - want).abs() < 1e-12, "{s}");
        }
        assert!((buildkite_transition_score(&seq("PPPFPPPFPP"), 10) - 0.4).abs() < 1e-12);
        assert!((buildkite_transition_score(&seq("PPPPPFFFFF"), 10) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn testgrid_examples() {
        for (s, want) in [("PFPFFFFP", 25.0), ("PFPFPFPFPF", 50.0), ("PXPPPPPPPP", 10.0), ("FFFFF", 0.0)] {
            assert!((testgrid_flakiness(&cells(s)) - want).abs() < 1e-9, "{s}: {}", testgrid_flakiness(&cells(s)));
        }
    }

    #[test]
    fn luci_changepoint_gains() {
        let run = |k: usize| std::iter::repeat_n(false, 20).chain(std::iter::repeat_n(true, k)).collect::<Vec<_>>();
        assert!((luci_split_gain(&run(3)) - 7.849).abs() < 0.001, "{}", luci_split_gain(&run(3)));
        assert!((luci_split_gain(&run(4)) - 9.684).abs() < 0.001, "{}", luci_split_gain(&run(4)));
    }
}
