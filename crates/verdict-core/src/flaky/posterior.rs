//! The flake rate's posterior (spec §2.3): θ, the chance that a run part of
//! this test on this track shows a flaky failure, with a Jeffreys
//! Beta(½, ½) prior, updated in O(1) per observation with exponential
//! forgetting so that old flakes of a fixed test fade (half their weight
//! every `half_life_runs` observations) without a reset.

use serde::Serialize;
use statrs::function::beta::beta_reg;

/// The prior's parameters (Jeffreys).
pub const PRIOR: f64 = 0.5;
/// The smallest half-life a suite may set: below it the effective sample
/// (≈ 1.443 × h) is too small ever to show a rate below 2 % (spec §2.3).
pub const MIN_HALF_LIFE_RUNS: f64 = 200.0;

/// Weighted counts of the observations: `n` runs, `x` of them flaky.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct Posterior {
    pub w_n: f64,
    pub w_x: f64,
}

/// The forgetting factor γ = 0.5^(1/h); `h = ∞` (or 0) forgets nothing.
pub fn gamma(half_life_runs: f64) -> f64 {
    if half_life_runs.is_finite() && half_life_runs > 0.0 { 0.5f64.powf(1.0 / half_life_runs) } else { 1.0 }
}

/// The most weight the observations can have with forgetting γ: 1/(1 − γ).
pub fn effective_cap(gamma: f64) -> f64 {
    if gamma < 1.0 { 1.0 / (1.0 - gamma) } else { f64::INFINITY }
}

/// A 95 % credible interval and the mean.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
    /// The observations' weight (w_n): the runs the estimate rests on.
    pub effective_runs: f64,
}

impl Posterior {
    /// Counts without forgetting.
    pub fn of(runs: f64, flaky: f64) -> Self {
        Posterior { w_n: runs, w_x: flaky }
    }

    /// One observation (flaky or clean), forgetting the past by γ.
    pub fn observe(&mut self, flaky: bool, gamma: f64) {
        self.w_n = gamma * self.w_n + 1.0;
        self.w_x = gamma * self.w_x + f64::from(u8::from(flaky));
    }

    fn ab(self) -> (f64, f64) {
        (PRIOR + self.w_x, PRIOR + (self.w_n - self.w_x).max(0.0))
    }

    pub fn mean(self) -> f64 {
        let (a, b) = self.ab();
        a / (a + b)
    }

    /// P(θ ≤ t): the regularized incomplete beta function.
    pub fn cdf(self, t: f64) -> f64 {
        let (a, b) = self.ab();
        if t <= 0.0 {
            0.0
        } else if t >= 1.0 {
            1.0
        } else {
            beta_reg(a, b, t)
        }
    }

    /// P(θ > t).
    pub fn p_above(self, t: f64) -> f64 {
        1.0 - self.cdf(t)
    }

    /// The `q` quantile, by bisection to 1e-10.
    pub fn quantile(self, q: f64) -> f64 {
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        while hi - lo > 1e-10 {
            let mid = 0.5 * (lo + hi);
            if self.cdf(mid) < q {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    }

    /// The mean and the equal-tailed 95 % credible interval.
    pub fn rate(self) -> Rate {
        Rate { mean: self.mean(), low: self.quantile(0.025), high: self.quantile(0.975), effective_runs: self.w_n }
    }

    /// Clean observations needed from here until P(θ < t) ≥ `confidence`
    /// (with forgetting γ), or `None` when forgetting caps the evidence
    /// below what that takes.
    pub fn clean_runs_to_certify(self, t: f64, confidence: f64, gamma: f64) -> Option<u64> {
        // Clean runs tend to w_n = 1/(1 − γ), w_x = 0: if that is not enough, nothing is.
        if gamma < 1.0 && (Posterior { w_n: effective_cap(gamma), w_x: 0.0 }).cdf(t) < confidence {
            return None;
        }
        let mut p = self;
        (0..=1_000_000u64).find(|_| {
            let done = p.cdf(t) >= confidence;
            p.observe(false, gamma);
            done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// §2.3's table and §8's posterior checks (no forgetting), to ±0.0005.
    #[test]
    fn spec_table_without_forgetting() {
        let rows = [
            // flaky, runs, mean, low, high, P(>2%), P(>5%), P(<1%)
            (3.0, 60.0, 0.0574, 0.0143, 0.1274, 0.936, 0.537, 0.009),
            (1.0, 100.0, 0.0149, 0.0011, 0.0458, 0.258, 0.017, 0.429),
            (0.0, 100.0, 0.0050, 0.0, 0.0247, 0.044, 0.001, 0.844),
            (2.0, 10.0, 0.227, 0.0441, 0.503, 0.996, 0.967, 0.001),
            (0.0, 20.0, 0.0238, 0.0, 0.117, 0.366, 0.149, 0.477),
        ];
        for (x, n, mean, low, high, p2, p5, below1) in rows {
            let p = Posterior::of(n, x);
            let r = p.rate();
            assert!(close(r.mean, mean, 0.0005), "{x}/{n} mean {}", r.mean);
            assert!(close(r.low, low, 0.0005) && close(r.high, high, 0.0005), "{x}/{n} CrI {}–{}", r.low, r.high);
            assert!(close(p.p_above(0.02), p2, 0.0005) && close(p.p_above(0.05), p5, 0.0005), "{x}/{n} P(>t)");
            assert!(close(p.cdf(0.01), below1, 0.0005), "{x}/{n} P(<1%) {}", p.cdf(0.01));
        }
        let p = Posterior::of(60.0, 3.0);
        assert!(close(p.p_above(0.02), 0.9363, 0.0005) && close(p.p_above(0.05), 0.5368, 0.0005));
        let none = Posterior::default().rate();
        assert!(close(none.mean, 0.5, 1e-9) && close(none.low, 0.0015, 0.0005) && close(none.high, 0.9985, 0.0005));
    }

    #[test]
    fn clean_runs_to_certify_a_low_rate() {
        let fresh = Posterior::default();
        assert_eq!(fresh.clean_runs_to_certify(0.05, 0.95, 1.0), Some(38));
        assert_eq!(fresh.clean_runs_to_certify(0.02, 0.95, 1.0), Some(95));
        assert_eq!(fresh.clean_runs_to_certify(0.01, 0.95, 1.0), Some(191));
        let after = Posterior::of(60.0, 3.0);
        assert_eq!(after.clean_runs_to_certify(0.02, 0.95, 1.0), Some(290));
        assert_eq!(after.clean_runs_to_certify(0.01, 0.95, 1.0), Some(642));
        assert_eq!(after.clean_runs_to_certify(0.005, 0.95, 1.0), Some(1345));
    }

    /// §2.3 "why h ≥ 200" and §8's forgetting checks.
    #[test]
    fn forgetting() {
        let g50 = gamma(50.0);
        assert!(close(g50, 0.9862327, 1e-7) && close(effective_cap(g50), 72.636, 0.001));
        let steady = Posterior { w_n: effective_cap(g50), w_x: 0.0 };
        assert!(close(steady.quantile(0.975), 0.03388, 0.00005), "{}", steady.quantile(0.975));
        assert_eq!(Posterior::default().clean_runs_to_certify(0.02, 0.95, g50), None, "h = 50 never shows < 2 %");
        let g200 = gamma(200.0);
        assert!(close(g200, 0.9965403, 1e-7) && close(effective_cap(g200), 289.039, 0.001));
        assert_eq!(Posterior::default().clean_runs_to_certify(0.02, 0.95, g200), Some(115));
        assert_eq!(Posterior::default().clean_runs_to_certify(0.01, 0.95, g200), Some(312));
        let steady = Posterior { w_n: effective_cap(g200), w_x: 0.0 };
        assert!(close(steady.quantile(0.975), 0.0086, 0.00005), "{}", steady.quantile(0.975));
    }

    /// The worked example: 60 parts, flaky at 20, 40 and 60, h = 200.
    #[test]
    fn worked_example_with_forgetting() {
        let g = gamma(200.0);
        let mut p = Posterior::default();
        for i in 1..=60 {
            p.observe(i % 20 == 0, g);
        }
        assert!(close(p.w_n, 54.266, 0.001) && close(p.w_x, 2.804, 0.001), "{p:?}");
        let r = p.rate();
        assert!(close(r.mean, 0.0598, 0.0005) && close(r.low, 0.0141, 0.0005) && close(r.high, 0.1350, 0.0005), "{r:?}");
        assert!(close(p.p_above(0.02), 0.936, 0.0005) && close(p.p_above(0.05), 0.561, 0.0005));
    }
}
