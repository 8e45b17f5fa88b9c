//! A suite's flaky-detection settings (spec §2.2's defaults table).

use super::posterior::MIN_HALF_LIFE_RUNS;
use super::sprt::Sprt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The flake rate of a healthy test (H0) and of a flaky one (H1).
    pub p0: f64,
    pub p1: f64,
    /// The SPRT's error rates: calling a healthy test flaky, and the reverse.
    pub alpha: f64,
    pub beta: f64,
    /// The rate t of "P(rate > t)".
    pub threshold: f64,
    /// Evidence loses half its weight every this many observations (≥ 200).
    pub half_life_runs: f64,
    /// Branches besides the default one whose code is expected to pass (Trunk's globs).
    pub tracked_branches: Vec<String>,
    /// Failed runs in a row that make a test broken, and passing runs in a row that clear it.
    pub broken_consecutive: u32,
    pub broken_clear_passes: u32,
    /// The failure-rate rule: over this many UTC days, with at least this many runs…
    pub failure_rate_window_days: i64,
    pub failure_rate_min_sample: u32,
    /// …broken at this share of failed runs or more, cleared below `resolve`.
    pub failure_rate_activate: f64,
    pub failure_rate_resolve: f64,
    /// A track with no observation for this long starts again as new.
    pub stale_days: i64,
    /// A failure waits this long for a pass on its commit, then is dropped uncounted.
    pub pending_days: i64,
    /// An upload (or run) with at least `infra_min_tests` passed or failed results of
    /// which this share failed is an infrastructure failure, left out.
    pub infra_threshold: f64,
    pub infra_min_tests: u32,
    /// Count infrastructure failures as evidence after all (off by default).
    pub include_infra: bool,
    /// Results Buildkite's transition score looks back over.
    pub transition_window: usize,
    /// Failure clustering: `mask` (LUCI's default) or `keep` the runs of digits
    /// that no other mask took (exit codes and counts stay visible).
    pub cluster_numbers: crate::clusters::Numbers,
    /// The suite's own masks (LUCI's `reason_mask_patterns`): regexes with one
    /// capturing group whose text becomes `%`, applied last, at most 20.
    pub cluster_masks: Vec<String>,
    /// A run is analysed once its newest upload is this old (seconds), so
    /// that a retry uploaded a little later joins the same part.
    pub settle_secs: i64,
    /// Auto-quarantine (off by default): a test that turns flaky on
    /// `quarantine_branch` is muted, and enabled again once healthy (see `quarantine::auto_change`).
    pub quarantine_auto: bool,
    /// The track auto-quarantine follows; `None` is the suite's default branch.
    pub quarantine_branch: Option<String>,
    /// Test-suite reports: thresholds on batch (run) metrics by name — the
    /// built-in `tests`, `failed`, `pass_rate`, `duration`, or a named run
    /// metric — that make a run a BLOCKER or WARNING batch.
    pub batch_metric_thresholds: std::collections::BTreeMap<String, crate::resim::status::MetricThreshold>,
    /// Thresholds on job metrics by name — `duration`, pytest-monitor's
    /// `memory_mb`, `cpu_percent`, `user_time`, `kernel_time`, or a named
    /// number — that mark a job's metric FAIL_BLOCK or FAIL_WARN.
    pub job_metric_thresholds: std::collections::BTreeMap<String, crate::resim::status::MetricThreshold>,
}

impl Default for Settings {
    fn default() -> Self {
        let sprt = Sprt::default();
        Settings {
            p0: sprt.p0,
            p1: sprt.p1,
            alpha: sprt.alpha,
            beta: sprt.beta,
            threshold: 0.02,
            half_life_runs: MIN_HALF_LIFE_RUNS,
            tracked_branches: Vec::new(),
            broken_consecutive: 3,
            broken_clear_passes: 2,
            failure_rate_window_days: 7,
            failure_rate_min_sample: 20,
            failure_rate_activate: 0.8,
            failure_rate_resolve: 0.5,
            stale_days: 30,
            pending_days: 14,
            infra_threshold: 0.8,
            infra_min_tests: 10,
            include_infra: false,
            transition_window: 10,
            settle_secs: 120,
            quarantine_auto: false,
            quarantine_branch: None,
            cluster_numbers: crate::clusters::Numbers::Mask,
            cluster_masks: Vec::new(),
            batch_metric_thresholds: Default::default(),
            job_metric_thresholds: Default::default(),
        }
    }
}

impl Settings {
    /// How the suite clusters failures (masks that do not compile are left out; `validate` refuses them).
    pub fn clustering(&self) -> crate::clusters::Clustering {
        crate::clusters::Clustering {
            numbers: self.cluster_numbers,
            masks: self.cluster_masks.iter().filter_map(|m| crate::clusters::SuiteMask::new(m).ok()).collect(),
        }
    }

    /// The track auto-quarantine follows, or `None` when it is off.
    pub fn quarantine_track<'a>(&'a self, default_branch: &'a str) -> Option<&'a str> {
        self.quarantine_auto.then(|| self.quarantine_branch.as_deref().unwrap_or(default_branch))
    }

    pub fn sprt(&self) -> Sprt {
        Sprt { p0: self.p0, p1: self.p1, alpha: self.alpha, beta: self.beta }
    }

    /// Every value in range; `Err` names the first that is not.
    pub fn validate(&self) -> Result<(), String> {
        Sprt::new(self.p0, self.p1, self.alpha, self.beta)?;
        let unit =
            |name: &str, v: f64| if v > 0.0 && v < 1.0 { Ok(()) } else { Err(format!("{name} must be above 0 and below 1, got {v}")) };
        unit("threshold", self.threshold)?;
        unit("failure_rate_activate", self.failure_rate_activate)?;
        unit("failure_rate_resolve", self.failure_rate_resolve)?;
        unit("infra_threshold", self.infra_threshold)?;
        if self.failure_rate_resolve > self.failure_rate_activate {
            return Err("failure_rate_resolve must not be above failure_rate_activate".into());
        }
        if self.half_life_runs.is_nan() || self.half_life_runs < MIN_HALF_LIFE_RUNS {
            return Err(format!(
                "half_life_runs must be at least {MIN_HALF_LIFE_RUNS}: below it a test can never be shown to flake less than 2 % of the time, got {}",
                self.half_life_runs
            ));
        }
        for (name, v) in [
            ("broken_consecutive", i64::from(self.broken_consecutive)),
            ("broken_clear_passes", i64::from(self.broken_clear_passes)),
            ("failure_rate_window_days", self.failure_rate_window_days),
            ("stale_days", self.stale_days),
            ("pending_days", self.pending_days),
            ("transition_window", self.transition_window as i64),
        ] {
            if !(1..=10_000).contains(&v) {
                return Err(format!("{name} must be between 1 and 10000, got {v}"));
            }
        }
        if !(0..=86_400).contains(&self.settle_secs) {
            return Err(format!("settle_secs must be between 0 and 86400, got {}", self.settle_secs));
        }
        if self.cluster_masks.len() > 20 {
            return Err("at most 20 cluster_masks".into());
        }
        for m in &self.cluster_masks {
            crate::clusters::SuiteMask::new(m).map_err(|e| format!("cluster_masks {m:?}: {e}"))?;
        }
        if self.quarantine_branch.as_deref().is_some_and(|b| b.trim().is_empty() || b.len() > 255) {
            return Err("quarantine_branch must be a branch name (1 to 255 bytes) or null".into());
        }
        if self.tracked_branches.len() > 10 {
            return Err("at most 10 tracked_branches".into());
        }
        for (setting, thresholds) in
            [("batch_metric_thresholds", &self.batch_metric_thresholds), ("job_metric_thresholds", &self.job_metric_thresholds)]
        {
            if thresholds.len() > crate::resim::status::MAX_THRESHOLDS {
                return Err(format!("at most {} {setting}", crate::resim::status::MAX_THRESHOLDS));
            }
            for (name, t) in thresholds {
                t.validate(setting, name)?;
            }
        }
        Ok(())
    }

    /// Whether a branch's code is expected to pass: the default branch or a tracked glob.
    pub fn trusted(&self, branch: &str, default_branch: &str) -> bool {
        branch == default_branch || self.tracked_branches.iter().any(|g| glob_matches(g, branch))
    }
}

/// Trunk's branch globs: `*` any text (crossing `/`), `?` one character, the rest literal.
pub fn glob_matches(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    // Iterative wildcard matching with one backtrack point: linear in practice, never exponential.
    let (mut gi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) && g[gi] != '*' {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_hold() {
        assert_eq!(Settings::default().validate(), Ok(()));
        let short = Settings { half_life_runs: 50.0, ..Settings::default() };
        assert!(short.validate().unwrap_err().contains("at least 200"));
        assert!(Settings { p0: 0.1, ..Settings::default() }.validate().is_err());
        assert!(Settings { failure_rate_resolve: 0.9, ..Settings::default() }.validate().is_err());
        assert!(
            Settings { cluster_masks: vec!["no group".into()], ..Settings::default() }.validate().unwrap_err().contains("cluster_masks")
        );
        let keep: Settings = serde_json::from_str(r#"{"cluster_numbers": "keep", "cluster_masks": ["worker (\\d+)"]}"#).unwrap();
        assert_eq!((keep.validate(), keep.clustering().masks.len()), (Ok(()), 1));
        let parsed: Result<Settings, _> = serde_json::from_str(r#"{"p0": 0.02, "nope": 1}"#);
        assert!(parsed.is_err(), "unknown keys are refused");
    }

    #[test]
    fn globs() {
        assert!(glob_matches("release/*", "release/4.16"));
        assert!(glob_matches("*", "feature/x/y"), "* crosses /");
        assert!(glob_matches("v?", "v1") && !glob_matches("v?", "v10"));
        assert!(!glob_matches("main", "main2") && glob_matches("main", "main"));
        assert!(glob_matches("a*b*c", "aXXbYYc") && !glob_matches("a*b*c", "aXXbYY"));
        let s = Settings { tracked_branches: vec!["release/*".into()], ..Settings::default() };
        assert!(s.trusted("main", "main") && s.trusted("release/1", "main") && !s.trusted("feature", "main"));
    }
}
