//! One test's state on one track (spec §2.1–2.2): run parts in, observations,
//! state changes and impact out. Pure and O(1) per part (plus the few
//! pending failures a track holds), so the store can keep a track as one row
//! and apply each new part in the upload's analysis step.

use super::posterior::{Posterior, gamma};
use super::settings::Settings;
use super::sprt::{Decision, clean_runs_to_confirm_fix};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

const DAY_MS: i64 = 86_400_000;

/// The sequential decision underneath `broken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    #[default]
    New,
    Healthy,
    Flaky,
}

/// What a track shows: the health, unless broken overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    New,
    Healthy,
    Flaky,
    Broken,
}

impl State {
    pub const ALL: [State; 4] = [State::New, State::Healthy, State::Flaky, State::Broken];

    pub fn parse(s: &str) -> Option<State> {
        Self::ALL.into_iter().find(|x| x.name() == s)
    }

    pub fn name(self) -> &'static str {
        match self {
            State::New => "new",
            State::Healthy => "healthy",
            State::Flaky => "flaky",
            State::Broken => "broken",
        }
    }
}

/// Why a state changed, or why an observation is flaky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A failed and a passed attempt in one run.
    Retry,
    /// Failed on a commit where another run passed it.
    SameCommit,
    /// One or two failed runs between passing ones on a trusted branch.
    Transition,
    /// `broken_consecutive` failed runs in a row (set), or `broken_clear_passes` passing ones (cleared).
    Consecutive,
    /// The failure rate over the window reached `activate` (set) or fell below `resolve` (cleared).
    FailureRate,
    /// The SPRT decided the rate is at most p0.
    SprtClear,
    /// No observation for `stale_days`.
    Stale,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::Retry => "retry",
            Rule::SameCommit => "same_commit",
            Rule::Transition => "transition",
            Rule::Consecutive => "consecutive",
            Rule::FailureRate => "failure_rate",
            Rule::SprtClear => "sprt_clear",
            Rule::Stale => "stale",
        }
    }
}

/// A part's status from its passed/failed attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartStatus {
    /// P: passed only.
    Passed,
    /// F: failed every attempt.
    Failed,
    /// X: failed and passed.
    Both,
}

/// One run part of one test on one track: its non-infra passed/failed
/// executions (skipped, pending and unknown add nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub run_id: i64,
    pub at_ms: i64,
    pub commit: Option<String>,
    /// The attempts' results in attempt order: `true` passed.
    pub attempts: Vec<bool>,
    /// Another run (or an earlier part) on this commit and track passed the test.
    pub commit_passed_elsewhere: bool,
    /// Seconds of this test's failed attempts (an X part's lost time).
    pub failed_seconds: f64,
    /// The part's execution time divided by the tests that failed in it
    /// (what re-running the job for a flaky F costs).
    pub rerun_seconds: f64,
}

impl Part {
    pub fn status(&self) -> Option<PartStatus> {
        let passed = self.attempts.iter().any(|a| *a);
        let failed = self.attempts.iter().any(|a| !*a);
        match (passed, failed) {
            (true, false) => Some(PartStatus::Passed),
            (false, true) => Some(PartStatus::Failed),
            (true, true) => Some(PartStatus::Both),
            (false, false) => None,
        }
    }
}

/// A failed part waiting to be explained (by a pass on its commit, or by
/// the end of a short failure streak), or to be dropped after `pending_days`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub run_id: i64,
    pub at_ms: i64,
    pub commit: Option<String>,
    pub in_streak: bool,
    pub rerun_seconds: f64,
}

/// Counts by rule, the numbers behind a state.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Evidence {
    /// Parts seen (P, F or X).
    pub runs: u64,
    pub flaky_runs: u64,
    pub retry: u64,
    pub same_commit: u64,
    pub transition: u64,
    /// F parts.
    pub failed_runs: u64,
    /// F parts counted as breakage (excluded from the flake rate).
    pub breakage_runs: u64,
    pub infra_runs_ignored: u64,
    /// F or X parts, and the CI time their flakes cost.
    pub runs_failed: u64,
    pub ci_seconds_lost: f64,
}

/// Parts and failed parts of one UTC day, for the failure-rate window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    pub day: i64,
    pub parts: u32,
    pub failed: u32,
}

/// A change of a track's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    pub at_ms: i64,
    pub run_id: i64,
    pub from: State,
    pub to: State,
    pub rule: Rule,
    /// The numbers of that moment.
    pub llr: f64,
    pub runs: u64,
    pub flaky_runs: u64,
    pub commit: Option<String>,
}

/// An observation made while applying a part (for the per-day counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Observation {
    pub flaky: bool,
    /// Why flaky; `None` for clean.
    pub rule: Option<Rule>,
}

/// What applying one part did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Applied {
    pub transitions: Vec<Transition>,
    pub observations: Vec<Observation>,
    pub breakage: u32,
}

/// Stored as one JSON row per (test, track): fields at their default are
/// left out, so a quiet test's row stays small (the analysis step writes
/// one per test and track for every run).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Track {
    pub health: Health,
    /// The SPRT's log-likelihood ratio since its last decision.
    pub llr: f64,
    pub posterior: Posterior,
    /// `broken` by the consecutive rule and by the failure-rate rule.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub consecutive: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub failure_rate: bool,
    /// P or X parts in a row while broken.
    #[serde(skip_serializing_if = "is_zero")]
    pub clear_passes: u32,
    /// Clean observations since the last flaky one.
    #[serde(skip_serializing_if = "is_zero")]
    pub clean_streak: u64,
    /// The posterior mean at the last flaky observation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observed_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_flaked_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_flaked_ms: Option<i64>,
    /// When the shown state last changed, and by which rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since_rule: Option<Rule>,
    /// The rule of the last change of the health underneath (what a flaky or
    /// healthy test shows as its reason, also after a spell of broken).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_rule: Option<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayCount>,
    /// The last `transition_window` pass/fail executions, oldest first.
    #[serde(skip_serializing_if = "VecDeque::is_empty")]
    pub recent: VecDeque<bool>,
    pub evidence: Evidence,
}

fn is_zero<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl Track {
    pub fn state(&self) -> State {
        if self.consecutive || self.failure_rate {
            return State::Broken;
        }
        match self.health {
            Health::New => State::New,
            Health::Healthy => State::Healthy,
            Health::Flaky => State::Flaky,
        }
    }

    /// Apply one part. `trusted`: the track is the default branch or a
    /// tracked one (failure streaks and the broken rules apply there only).
    pub fn apply(&mut self, part: &Part, trusted: bool, settings: &Settings) -> Applied {
        let mut out = Applied::default();
        self.expire(part.at_ms, part.run_id, settings, &mut out);
        let Some(status) = part.status() else { return out };
        for a in &part.attempts {
            self.recent.push_back(*a);
        }
        while self.recent.len() > settings.transition_window {
            self.recent.pop_front();
        }
        self.evidence.runs += 1;
        if trusted {
            // Only the failure-rate rule reads the days, and it runs on trusted tracks only.
            self.count_day(part.at_ms, status == PartStatus::Failed, settings);
        }
        let ctx = Ctx { part, settings };
        match status {
            PartStatus::Both | PartStatus::Passed => {
                if status == PartStatus::Both {
                    self.evidence.runs_failed += 1;
                    self.evidence.ci_seconds_lost += part.failed_seconds;
                }
                self.explain_pending(&ctx, trusted, &mut out);
                let rule = (status == PartStatus::Both).then_some(Rule::Retry);
                self.observe(&ctx, rule, &mut out);
                if self.broken() {
                    self.clear_passes += 1;
                    if self.consecutive && self.clear_passes >= settings.broken_clear_passes {
                        self.set_broken(&ctx, Rule::Consecutive, false, &mut out);
                    }
                }
            }
            PartStatus::Failed => {
                self.evidence.runs_failed += 1;
                self.evidence.failed_runs += 1;
                self.clear_passes = 0;
                if part.commit.is_some() && part.commit_passed_elsewhere {
                    self.evidence.ci_seconds_lost += part.rerun_seconds;
                    self.observe(&ctx, Some(Rule::SameCommit), &mut out);
                } else if trusted && self.broken() {
                    self.evidence.breakage_runs += 1;
                    out.breakage += 1;
                } else if trusted {
                    self.pending.push(Pending {
                        run_id: part.run_id,
                        at_ms: part.at_ms,
                        commit: part.commit.clone(),
                        in_streak: true,
                        rerun_seconds: part.rerun_seconds,
                    });
                    let streak = self.pending.iter().filter(|p| p.in_streak).count();
                    if streak >= settings.broken_consecutive as usize {
                        self.pending.retain(|p| !p.in_streak);
                        self.evidence.breakage_runs += streak as u64;
                        out.breakage += streak as u32;
                        self.set_broken(&ctx, Rule::Consecutive, true, &mut out);
                    }
                } else if part.commit.is_some() {
                    // Off the trusted branches a failure is explained only by a pass on its commit.
                    self.pending.push(Pending {
                        run_id: part.run_id,
                        at_ms: part.at_ms,
                        commit: part.commit.clone(),
                        in_streak: false,
                        rerun_seconds: part.rerun_seconds,
                    });
                }
            }
        }
        if trusted {
            self.evaluate_failure_rate(&ctx, &mut out);
        }
        for t in out.transitions.iter_mut().filter(|t| t.run_id == part.run_id) {
            t.commit.clone_from(&part.commit);
        }
        out
    }

    /// An infrastructure-failure part: stored, but no evidence.
    pub fn ignore_infra(&mut self) {
        self.evidence.infra_runs_ignored += 1;
    }

    /// Drop pending failures older than `pending_days`, and return a track
    /// without an observation for `stale_days` to `new`. Also run on its own
    /// (a periodic sweep) with `run_id` 0.
    pub fn expire(&mut self, now_ms: i64, run_id: i64, settings: &Settings, out: &mut Applied) {
        let cut = now_ms - settings.pending_days * DAY_MS;
        self.pending.retain(|p| p.at_ms >= cut);
        let stale = self.last_observed_ms.is_some_and(|t| now_ms - t > settings.stale_days * DAY_MS);
        if stale && (self.health != Health::New || self.broken() || self.llr != 0.0) {
            let from = self.state();
            self.health = Health::New;
            self.health_rule = Some(Rule::Stale);
            self.llr = 0.0;
            self.consecutive = false;
            self.failure_rate = false;
            self.clear_passes = 0;
            self.pending.retain(|p| !p.in_streak);
            self.changed(from, now_ms, run_id, None, Rule::Stale, out);
        }
    }

    fn broken(&self) -> bool {
        self.consecutive || self.failure_rate
    }

    /// On a P or X: pending failures of the same commit are flaky (`same_commit`),
    /// then on a trusted track the rest of the failure streak (`transition`).
    fn explain_pending(&mut self, ctx: &Ctx<'_>, trusted: bool, out: &mut Applied) {
        let commit = ctx.part.commit.as_deref();
        let (same, rest): (Vec<Pending>, Vec<Pending>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| commit.is_some() && p.commit.as_deref() == commit);
        self.pending = rest;
        for p in same {
            self.evidence.ci_seconds_lost += p.rerun_seconds;
            self.observe(ctx, Some(Rule::SameCommit), out);
        }
        if trusted {
            let (streak, rest): (Vec<Pending>, Vec<Pending>) = std::mem::take(&mut self.pending).into_iter().partition(|p| p.in_streak);
            self.pending = rest;
            for p in streak {
                self.evidence.ci_seconds_lost += p.rerun_seconds;
                self.observe(ctx, Some(Rule::Transition), out);
            }
        }
    }

    /// One observation: flaky with its rule, or clean (`None`).
    fn observe(&mut self, ctx: &Ctx<'_>, flaky: Option<Rule>, out: &mut Applied) {
        let s = ctx.settings;
        self.posterior.observe(flaky.is_some(), gamma(s.half_life_runs));
        let at = ctx.part.at_ms;
        self.last_observed_ms = Some(at);
        match flaky {
            Some(rule) => {
                self.evidence.flaky_runs += 1;
                match rule {
                    Rule::Retry => self.evidence.retry += 1,
                    Rule::SameCommit => self.evidence.same_commit += 1,
                    Rule::Transition => self.evidence.transition += 1,
                    _ => {}
                }
                self.clean_streak = 0;
                self.old_rate = Some(self.posterior.mean());
                self.first_flaked_ms.get_or_insert(at);
                self.last_flaked_ms = Some(at);
            }
            None => self.clean_streak += 1,
        }
        out.observations.push(Observation { flaky: flaky.is_some(), rule: flaky });
        let (llr, decision) = s.sprt().step(self.llr, flaky.is_some());
        let from = self.state();
        let (health, rule) = match decision {
            Decision::Continue => {
                self.llr = llr;
                return;
            }
            Decision::Flaky => (Health::Flaky, flaky.unwrap_or(Rule::Retry)),
            Decision::Healthy => (Health::Healthy, Rule::SprtClear),
        };
        self.llr = 0.0;
        if self.health != health {
            self.health = health;
            self.health_rule = Some(rule);
            // The event keeps the deciding Λ, not the restarted one.
            self.changed(from, at, ctx.part.run_id, Some(llr), rule, out);
        }
    }

    fn set_broken(&mut self, ctx: &Ctx<'_>, rule: Rule, on: bool, out: &mut Applied) {
        let from = self.state();
        match rule {
            Rule::Consecutive => self.consecutive = on,
            _ => self.failure_rate = on,
        }
        if on {
            self.clear_passes = 0;
        }
        self.changed(from, ctx.part.at_ms, ctx.part.run_id, None, rule, out);
    }

    fn count_day(&mut self, at_ms: i64, failed: bool, settings: &Settings) {
        let day = at_ms.div_euclid(DAY_MS);
        match self.days.iter_mut().find(|d| d.day == day) {
            Some(d) => {
                d.parts += 1;
                d.failed += u32::from(failed);
            }
            None => self.days.push(DayCount { day, parts: 1, failed: u32::from(failed) }),
        }
        self.days.retain(|d| d.day > day - settings.failure_rate_window_days);
    }

    fn evaluate_failure_rate(&mut self, ctx: &Ctx<'_>, out: &mut Applied) {
        let s = ctx.settings;
        let (parts, failed) = self.days.iter().fold((0u32, 0u32), |(p, f), d| (p + d.parts, f + d.failed));
        if parts < s.failure_rate_min_sample {
            return;
        }
        let rate = f64::from(failed) / f64::from(parts);
        if !self.failure_rate && rate >= s.failure_rate_activate {
            self.set_broken(ctx, Rule::FailureRate, true, out);
        } else if self.failure_rate && rate < s.failure_rate_resolve {
            self.set_broken(ctx, Rule::FailureRate, false, out);
        }
    }

    fn changed(&mut self, from: State, at_ms: i64, run_id: i64, llr: Option<f64>, rule: Rule, out: &mut Applied) {
        let to = self.state();
        if to == from {
            return;
        }
        self.since_ms = Some(at_ms);
        self.since_rule = Some(rule);
        out.transitions.push(Transition {
            at_ms,
            run_id,
            from,
            to,
            rule,
            llr: llr.unwrap_or(self.llr),
            runs: self.evidence.runs,
            flaky_runs: self.evidence.flaky_runs,
            commit: None,
        });
    }

    /// The rule behind the shown state: what made it broken, or what set its health.
    pub fn state_rule(&self) -> Option<Rule> {
        if self.state() == State::Broken { self.since_rule } else { self.health_rule }
    }

    /// Clean runs still needed to call a flaky test fixed (flaky state only).
    pub fn fix(&self) -> Option<Fix> {
        let old_rate = self.old_rate.filter(|_| self.health == Health::Flaky)?;
        Some(Fix {
            old_rate,
            clean_streak: self.clean_streak,
            clean_runs_to_confirm_fix: clean_runs_to_confirm_fix(old_rate, self.clean_streak),
        })
    }

    /// Whether a run in which this test only passes can change nothing but
    /// counters and the posterior's decay: healthy, not broken, nothing
    /// pending, the last `transition_window` results all passes and no
    /// failure in the failure-rate window. The analysis step leaves such a
    /// track's row alone for a clean run and replays those runs
    /// ([`Track::replay`]) when the row is next needed, so a quiet
    /// suite's runs cost a read, not a row rewrite per test.
    pub fn quiet(&self, settings: &Settings) -> bool {
        self.state() == State::Healthy
            && self.pending.is_empty()
            && self.recent.len() >= settings.transition_window
            && self.recent.iter().all(|r| *r)
            && self.days.iter().all(|d| d.failed == 0)
            && self.last_observed_ms.is_some()
    }

    /// Until when a quiet track may skip clean runs: no gap between two of
    /// them can reach `stale_days` before then, so none of them could have
    /// changed the state (§2.2 stale rule). `None` when not quiet.
    pub fn quiet_until(&self, settings: &Settings) -> Option<i64> {
        self.last_observed_ms.filter(|_| self.quiet(settings)).map(|t| t + settings.stale_days * DAY_MS)
    }

    /// Apply parts a quiet track skipped, in order, exactly as the
    /// analysis step would have applied them one by one.
    pub fn replay(&mut self, parts: &[Part], trusted: bool, settings: &Settings) -> Vec<Transition> {
        parts.iter().flat_map(|p| self.apply(p, trusted, settings).transitions).collect()
    }

    /// Buildkite's transition score over the recent executions.
    pub fn transition_score(&self, window: usize) -> f64 {
        super::compat::buildkite_transition_score(&self.recent.iter().copied().collect::<Vec<_>>(), window)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Fix {
    pub old_rate: f64,
    pub clean_streak: u64,
    pub clean_runs_to_confirm_fix: u64,
}

struct Ctx<'a> {
    part: &'a Part,
    settings: &'a Settings,
}
