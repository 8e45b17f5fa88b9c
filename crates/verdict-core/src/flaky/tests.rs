//! The spec's §8 state histories, one trusted track `main` unless noted,
//! each letter a part on a new commit.

use super::sprt::Sprt;
use super::track::{Applied, Part, Rule, State, Track};
use super::{Settings, is_infra};

const MIN: i64 = 60_000;

fn part(i: i64, letter: char, commit: &str) -> Part {
    let attempts = match letter {
        'P' => vec![true],
        'F' => vec![false],
        'X' => vec![false, true],
        _ => unreachable!(),
    };
    Part {
        run_id: i,
        at_ms: 1_800_000_000_000 + i * MIN,
        commit: Some(commit.to_owned()),
        attempts,
        commit_passed_elsewhere: false,
        failed_seconds: 1.0,
        rerun_seconds: 10.0,
    }
}

/// Apply `letters` (each on its own commit), returning every part's result.
fn run(track: &mut Track, letters: &str, first: i64) -> Vec<Applied> {
    let s = Settings::default();
    letters.chars().enumerate().map(|(k, c)| track.apply(&part(first + k as i64, c, &format!("c{}", first + k as i64)), true, &s)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.0001
}

#[test]
fn three_spaced_flakes_in_sixty_parts_decide_nothing_yet() {
    let mut t = Track::default();
    let letters: String = (1..=60).map(|i| if i % 20 == 0 { 'X' } else { 'P' }).collect();
    let applied = run(&mut t, &letters, 1);
    assert!(applied.iter().all(|a| a.transitions.is_empty()));
    assert_eq!(t.state(), State::New);
    assert!(close(t.llr, 2.4775), "{}", t.llr);
    let needed = Sprt::default().runs_needed(t.llr, t.posterior.mean());
    assert_eq!((needed.min_flaky_runs_to_flaky, needed.min_clean_runs_to_healthy, needed.expected_runs_to_decide), (1, 132, Some(9)));
    assert!((t.posterior.w_n - 54.266).abs() < 0.001 && (t.posterior.w_x - 2.804).abs() < 0.001);
    let r = t.posterior.rate();
    assert!((r.mean - 0.0598).abs() < 0.0005 && (r.low - 0.0141).abs() < 0.0005 && (r.high - 0.1350).abs() < 0.0005);
    assert_eq!((t.evidence.retry, t.evidence.flaky_runs, t.evidence.runs), (3, 3, 60));
}

#[test]
fn two_retries_decide_flaky_and_seventy_two_clean_runs_clear_it() {
    let mut t = Track::default();
    let a = run(&mut t, "XX", 1);
    let tr = &a[1].transitions;
    assert_eq!(tr.len(), 1);
    assert_eq!((tr[0].from, tr[0].to, tr[0].rule, tr[0].run_id), (State::New, State::Flaky, Rule::Retry, 2));
    assert!(close(tr[0].llr, 3.2189), "the event keeps the deciding Λ");
    assert_eq!(t.fix().unwrap().clean_runs_to_confirm_fix, super::sprt::clean_runs_to_confirm_fix(t.old_rate.unwrap(), 0));
    let a = run(&mut t, &"P".repeat(72), 3);
    let changes: Vec<_> = a.iter().flat_map(|x| x.transitions.clone()).collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].from, changes[0].to, changes[0].rule, changes[0].run_id), (State::Flaky, State::Healthy, Rule::SprtClear, 74));
    assert!(t.fix().is_none(), "only a flaky track has a fix to prove");
}

#[test]
fn a_pass_on_the_same_commit_explains_a_failure() {
    let s = Settings::default();
    let mut t = Track::default();
    let _ = t.apply(&part(1, 'F', "c1"), true, &s);
    let a = t.apply(&part(2, 'P', "c1"), true, &s);
    assert_eq!(a.observations.iter().filter(|o| o.flaky).count(), 1);
    assert_eq!(a.observations[0].rule, Some(Rule::SameCommit));
    assert!(close(t.llr, 1.5682), "{}", t.llr);
    let _ = t.apply(&part(3, 'F', "c2"), true, &s);
    let a = t.apply(&part(4, 'P', "c2"), true, &s);
    assert_eq!(a.transitions.len(), 1);
    assert_eq!((a.transitions[0].to, a.transitions[0].rule), (State::Flaky, Rule::SameCommit));
    assert!(close(a.transitions[0].llr, 3.1776));
    assert_eq!(a.transitions[0].commit.as_deref(), Some("c2"));
    assert!(close(t.llr, -0.0412), "the P after the decision: {}", t.llr);
    assert_eq!(t.evidence.same_commit, 2);
    assert!((t.evidence.ci_seconds_lost - 20.0).abs() < 1e-9, "two re-runs of 10 s each");
}

#[test]
fn a_failure_on_a_commit_that_passed_elsewhere_is_flaky_at_once() {
    let s = Settings::default();
    let mut t = Track::default();
    let mut f = part(1, 'F', "c1");
    f.commit_passed_elsewhere = true;
    let a = t.apply(&f, true, &s);
    assert_eq!(a.observations[0].rule, Some(Rule::SameCommit));
    assert!(t.pending.is_empty());
}

#[test]
fn one_failure_between_passes_is_a_transition() {
    let mut t = Track::default();
    let a = run(&mut t, "PFP", 1);
    assert!(a[1].observations.is_empty(), "the F waits");
    assert_eq!(a[2].observations[0].rule, Some(Rule::Transition));
    assert!(close(t.llr, 1.5270), "{}", t.llr);
}

#[test]
fn three_failures_in_a_row_break_and_two_passes_clear() {
    let mut t = Track::default();
    let a = run(&mut t, &"P".repeat(80), 1);
    assert_eq!(a[71].transitions[0].to, State::Healthy, "part 72");
    let a = run(&mut t, "FFFPP", 81);
    let tr = &a[2].transitions;
    assert_eq!((tr[0].from, tr[0].to, tr[0].rule, tr[0].run_id), (State::Healthy, State::Broken, Rule::Consecutive, 83));
    assert_eq!(a[2].breakage, 3);
    assert!(a.iter().all(|x| x.observations.iter().all(|o| !o.flaky)), "a breakage is no flaky observation");
    assert!(a[3].transitions.is_empty());
    let tr = &a[4].transitions;
    assert_eq!((tr[0].from, tr[0].to, tr[0].rule, tr[0].run_id), (State::Broken, State::Healthy, Rule::Consecutive, 85));
    assert!((t.transition_score(10) - 0.2).abs() < 1e-12);
    assert_eq!(t.state_rule(), Some(Rule::SprtClear), "healthy again: by the decision of part 72, not by the broken spell");
    assert_eq!(t.evidence.breakage_runs, 3);
}

#[test]
fn the_failure_rate_keeps_a_test_broken_with_hysteresis() {
    let mut t = Track::default();
    let a = run(&mut t, &"F".repeat(20), 1);
    assert_eq!((a[2].transitions[0].to, a[2].transitions[0].rule), (State::Broken, Rule::Consecutive));
    let mut t2 = Track::default();
    run(&mut t2, &"F".repeat(19), 1);
    assert!(!t2.failure_rate, "19 parts are below the minimum sample");
    assert!(t.failure_rate, "20/20 from part 20");
    let a = run(&mut t, "PP", 21);
    assert!(!t.consecutive && t.failure_rate && a.iter().all(|x| x.transitions.is_empty()), "20/22 keeps it broken");
    let a = run(&mut t, &"P".repeat(19), 23);
    let changes: Vec<_> = a.iter().flat_map(|x| x.transitions.clone()).collect();
    assert_eq!(changes.len(), 1);
    assert_eq!((changes[0].from, changes[0].to, changes[0].rule, changes[0].run_id), (State::Broken, State::New, Rule::FailureRate, 41));
}

#[test]
fn off_the_trusted_branches_a_failure_waits_for_its_commit_then_is_dropped() {
    let s = Settings::default();
    let mut t = Track::default();
    let a = t.apply(&part(1, 'F', "c1"), false, &s);
    assert!(a.observations.is_empty() && t.pending.len() == 1);
    let mut later = part(2, 'P', "c2");
    later.at_ms += 15 * 86_400_000;
    let a = t.apply(&later, false, &s);
    assert!(t.pending.is_empty(), "dropped after 14 days");
    assert_eq!(a.observations.iter().filter(|o| o.flaky).count(), 0, "uncounted");
    assert_eq!(t.evidence.flaky_runs, 0);
}

#[test]
fn untrusted_tracks_never_break() {
    let s = Settings::default();
    let mut t = Track::default();
    for i in 1..=30 {
        let a = t.apply(&part(i, 'F', &format!("c{i}")), false, &s);
        assert!(a.transitions.is_empty());
    }
    assert_eq!(t.state(), State::New);
}

#[test]
fn a_stale_track_starts_again() {
    let s = Settings::default();
    let mut t = Track::default();
    run(&mut t, "XX", 1);
    assert_eq!(t.state(), State::Flaky);
    let mut later = part(3, 'P', "c3");
    later.at_ms += 31 * 86_400_000;
    let a = t.apply(&later, true, &s);
    assert_eq!((a.transitions[0].from, a.transitions[0].to, a.transitions[0].rule), (State::Flaky, State::New, Rule::Stale));
}

#[test]
fn infrastructure_failures() {
    let s = Settings::default();
    assert!(is_infra(20, 80, &s), "80 of 100 failed");
    assert!(!is_infra(21, 79, &s), "79 of 100: counted");
    assert!(!is_infra(0, 9, &s), "9 results all failed: below the minimum of 10");
    assert!(!is_infra(20, 80, &Settings { include_infra: true, ..Settings::default() }), "the suite counts them after all");
    let mut t = Track::default();
    t.ignore_infra();
    assert_eq!((t.evidence.infra_runs_ignored, t.evidence.runs), (1, 0));
}

#[test]
fn skipped_only_parts_add_nothing() {
    let s = Settings::default();
    let mut t = Track::default();
    let mut p = part(1, 'P', "c1");
    p.attempts.clear();
    let a = t.apply(&p, true, &s);
    assert!(a.observations.is_empty() && t.evidence.runs == 0);
}

#[test]
fn a_quiet_track_replays_skipped_clean_runs_exactly() {
    let s = Settings::default();
    let mut eager = Track::default();
    run(&mut eager, &"P".repeat(80), 0);
    assert_eq!(eager.state(), State::Healthy, "72 clean runs decide healthy");
    assert!(eager.quiet(&s), "healthy, nothing pending, ten passes in a row");
    let until = eager.quiet_until(&s).unwrap();
    assert_eq!(until, eager.last_observed_ms.unwrap() + 30 * 86_400_000);

    // A hundred more clean runs (one SPRT restart among them): applied one by one, or skipped and replayed in one go.
    let mut lazy = eager.clone();
    run(&mut eager, &"P".repeat(100), 80);
    // What the store replays: no commit (a clean part of a quiet track needs none), the same attempts.
    let skipped: Vec<Part> = (80..180).map(|i| Part { commit: None, ..part(i, 'P', "c") }).collect();
    assert!(lazy.replay(&skipped, true, &s).is_empty());
    assert_eq!(lazy, eager);

    // A failure breaks the quiet until ten passes follow it.
    run(&mut eager, "F", 180);
    assert!(!eager.quiet(&s));
    run(&mut eager, "PPPPPPPPPP", 181);
    assert_eq!(eager.state(), State::Healthy);
    assert!(!eager.quiet(&s), "the failure is still in the failure-rate window's days");
}
