//! The sequential decision (spec §2.4): Wald's SPRT of H0 θ = p0 (healthy)
//! against H1 θ = p1 (flaky), repeated: after each decision the
//! log-likelihood ratio Λ restarts at 0.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sprt {
    pub p0: f64,
    pub p1: f64,
    pub alpha: f64,
    pub beta: f64,
}

impl Default for Sprt {
    fn default() -> Self {
        Sprt { p0: 0.01, p1: 0.05, alpha: 0.05, beta: 0.05 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Flaky,
    Healthy,
    Continue,
}

/// What it takes to decide from here.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunsNeeded {
    pub llr: f64,
    pub decision: Decision,
    pub min_flaky_runs_to_flaky: u64,
    pub min_clean_runs_to_healthy: u64,
    /// At the posterior mean's drift; `None` near the indifference rate.
    pub expected_runs_to_decide: Option<u64>,
}

impl Sprt {
    /// Checks the parameters: 0 < p0 < p1 < 1, error rates in (0, ½).
    pub fn new(p0: f64, p1: f64, alpha: f64, beta: f64) -> Result<Self, String> {
        if !(p0 > 0.0 && p0 < p1 && p1 < 1.0) {
            return Err(format!("flaky.p0 and flaky.p1 need 0 < p0 < p1 < 1, got {p0} and {p1}"));
        }
        for (name, v) in [("flaky.alpha", alpha), ("flaky.beta", beta)] {
            if !(v > 0.0 && v < 0.5) {
                return Err(format!("{name} must be above 0 and below 0.5, got {v}"));
            }
        }
        Ok(Sprt { p0, p1, alpha, beta })
    }

    /// The step a flaky observation adds: ln(p1/p0).
    pub fn up(&self) -> f64 {
        (self.p1 / self.p0).ln()
    }

    /// The step a clean observation adds: ln((1 − p1)/(1 − p0)), negative.
    pub fn down(&self) -> f64 {
        ((1.0 - self.p1) / (1.0 - self.p0)).ln()
    }

    /// The upper bound A = ln((1 − β)/α): flaky at or above it.
    pub fn upper(&self) -> f64 {
        ((1.0 - self.beta) / self.alpha).ln()
    }

    /// The lower bound B = ln(β/(1 − α)): healthy at or below it.
    pub fn lower(&self) -> f64 {
        (self.beta / (1.0 - self.alpha)).ln()
    }

    /// Λ after one observation, and the decision if it reached a bound
    /// (the caller restarts Λ at 0 after a decision).
    pub fn step(&self, llr: f64, flaky: bool) -> (f64, Decision) {
        let llr = llr + if flaky { self.up() } else { self.down() };
        let decision = if llr >= self.upper() {
            Decision::Flaky
        } else if llr <= self.lower() {
            Decision::Healthy
        } else {
            Decision::Continue
        };
        (llr, decision)
    }

    /// The flake rate at which the drift is zero: −d/(u − d).
    pub fn indifference_rate(&self) -> f64 {
        -self.down() / (self.up() - self.down())
    }

    /// Runs needed from Λ, with the posterior mean `rate` for the expected count.
    pub fn runs_needed(&self, llr: f64, rate: f64) -> RunsNeeded {
        let (u, d) = (self.up(), self.down());
        let to_flaky = ((self.upper() - llr) / u).ceil().max(0.0) as u64;
        let to_healthy = ((llr - self.lower()) / -d).ceil().max(0.0) as u64;
        let drift = rate * u + (1.0 - rate) * d;
        let expected = if drift.abs() < 0.001 {
            None
        } else if drift > 0.0 {
            Some(((self.upper() - llr) / drift).ceil().max(0.0) as u64)
        } else {
            Some(((llr - self.lower()) / -drift).ceil().max(0.0) as u64)
        };
        RunsNeeded {
            llr,
            decision: Decision::Continue,
            min_flaky_runs_to_flaky: to_flaky,
            min_clean_runs_to_healthy: to_healthy,
            expected_runs_to_decide: expected,
        }
    }
}

/// Consecutive clean runs that reject "still flaky at `old_rate`" at 95 %:
/// the least n with (1 − r)^n ≤ 0.05, less the clean streak so far.
pub fn clean_runs_to_confirm_fix(old_rate: f64, clean_streak: u64) -> u64 {
    if !(old_rate > 0.0 && old_rate < 1.0) {
        return 0;
    }
    let n = (0.05f64.ln() / (1.0 - old_rate).ln()).ceil() as u64;
    n.saturating_sub(clean_streak)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn spec_constants() {
        let s = Sprt::default();
        assert!(close(s.up(), 1.6094379, 1e-7) && close(s.down(), -0.0412430, 1e-7));
        assert!(close(s.upper(), 2.9444390, 1e-7) && close(s.lower(), -2.9444390, 1e-7));
        assert!(close(s.indifference_rate(), 0.025, 0.0005));
        assert!(Sprt::new(0.05, 0.01, 0.05, 0.05).is_err() && Sprt::new(0.01, 0.05, 0.0, 0.05).is_err());
    }

    #[test]
    fn decisions_from_zero() {
        let s = Sprt::default();
        let (l, d) = s.step(0.0, true);
        assert_eq!(d, Decision::Continue);
        let (l, d) = s.step(l, true);
        assert!(close(l, 3.2189, 0.0001) && d == Decision::Flaky, "two flaky runs in a row decide flaky");
        let mut l = 0.0;
        for i in 1..=72 {
            let (next, d) = s.step(l, false);
            l = next;
            if i == 71 {
                assert!(close(l, -2.9282, 0.0001) && d == Decision::Continue);
            }
            if i == 72 {
                assert!(close(l, -2.9695, 0.0001) && d == Decision::Healthy);
            }
        }
        assert!(close(s.up() / -s.down(), 39.0, 0.05), "one flaky run cancels 39 clean runs");
    }

    #[test]
    fn worked_example_runs_needed() {
        // 60 parts flaky at 20, 40 and 60: Λ = 3u − 57|d|, never at a bound.
        let s = Sprt::default();
        let mut l = 0.0;
        for i in 1..=60 {
            let (next, d) = s.step(l, i % 20 == 0);
            assert_eq!(d, Decision::Continue, "part {i}");
            l = next;
        }
        assert!(close(l, 2.4775, 0.0001), "{l}");
        let n = s.runs_needed(l, 0.0598);
        assert_eq!((n.min_flaky_runs_to_flaky, n.min_clean_runs_to_healthy, n.expected_runs_to_decide), (1, 132, Some(9)));
        assert_eq!(s.runs_needed(0.0, s.indifference_rate()).expected_runs_to_decide, None);
    }

    #[test]
    fn fix_proofs() {
        assert_eq!(clean_runs_to_confirm_fix(0.10, 0), 29);
        assert_eq!(clean_runs_to_confirm_fix(0.20, 0), 14);
        assert_eq!(clean_runs_to_confirm_fix(0.02, 0), 149);
        assert_eq!(clean_runs_to_confirm_fix(3.5 / 61.0, 0), 51);
        assert_eq!(clean_runs_to_confirm_fix(0.05, 0), 59, "zero-failure proof of < 5 %");
        assert_eq!(clean_runs_to_confirm_fix(0.01, 0), 299);
        assert_eq!(clean_runs_to_confirm_fix(0.10, 30), 0);
        assert_eq!(clean_runs_to_confirm_fix(0.10, 9), 20);
    }
}
