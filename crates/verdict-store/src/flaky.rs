//! Flaky and broken tests in the store: the analysis queue, per (test,
//! track) state rows, state events and per-day counts (migration 0013).
//!
//! An upload's transaction queues it. The analysis step takes one run whose
//! newest queued upload has settled (`Settings::settle_secs`), reads that
//! part's executions, the tracks it touches and the same-commit passes, lets
//! [`plan_part`] (pure, shared by both backends) apply the part to each
//! track, and writes the tracks, events and day counts and deletes the queue
//! rows in one transaction: a crash loses nothing and counts nothing twice.

use crate::error::StoreError;
use crate::views::Test;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use verdict_core::Outcome;
use verdict_core::flaky::track::{Part, PartStatus, Transition};
use verdict_core::flaky::{ALL_BRANCHES, Settings, State, Track, is_infra};

/// Queue rows a step looks at (oldest first) to find a run that has settled.
pub const DUE_CANDIDATES: i64 = 128;

/// The runs of the oldest `?1` queue rows, oldest first, each with its suite,
/// its newest upload's time and the suite's settings (either dialect). Reads
/// a bounded slice of the queue by its key and each run's rows by its index,
/// so a long backlog (a recompute) costs each step the same.
pub(crate) const DUE_SQL: &str =
    "WITH oldest AS (SELECT run_id, min(seq) AS first FROM (SELECT run_id, seq FROM analysis_queue ORDER BY seq LIMIT ?1) o
                                                GROUP BY run_id)
    SELECT o.run_id, q.suite_id, max(q.queued_at), s.flaky_settings
    FROM oldest o JOIN analysis_queue q ON q.run_id = o.run_id JOIN suites s ON s.id = q.suite_id
    GROUP BY o.run_id, o.first, q.suite_id, s.flaky_settings ORDER BY o.first";

/// One executions row of the part being analysed.
#[derive(Debug, Clone, PartialEq)]
pub struct PartRow {
    pub test_id: i64,
    pub upload_id: String,
    pub outcome: Outcome,
    pub duration: Option<f64>,
    pub attempt: i64,
}

/// The run being analysed.
#[derive(Debug, Clone)]
pub struct PartRun {
    pub run_id: i64,
    pub suite_id: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub default_branch: String,
    /// The part's time: its newest upload's.
    pub at_ms: i64,
}

/// The tracks a run's evidence goes to: its branch when trusted, and `*`.
pub fn tracks_of(run: &PartRun, settings: &Settings) -> Vec<(String, bool)> {
    let mut tracks = vec![(ALL_BRANCHES.to_owned(), false)];
    if let Some(b) = run.branch.as_deref().filter(|b| settings.trusted(b, &run.default_branch)) {
        tracks.insert(0, (b.to_owned(), true));
    }
    tracks
}

/// A test's counts on a track: one day's to add (the analysis step), or a
/// window's sums (the flaky list). Only runs in which the test failed or
/// flaked are counted (`parts`): a clean run is in the track's evidence only.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct TrackCounts {
    pub parts: i64,
    pub flaky: i64,
    pub failed: i64,
    pub breakage: i64,
    pub runs_failed: i64,
    pub seconds_lost: f64,
}

/// What applying a part writes.
#[derive(Debug, Default)]
pub struct PartPlan {
    /// The part met the infrastructure rule: its evidence was set aside.
    pub infra: bool,
    pub tracks: Vec<(i64, String, Track)>,
    pub events: Vec<(i64, String, Transition)>,
    pub days: Vec<(i64, String, i64, TrackCounts)>,
}

/// The tests of a part whose evidence is all failed (F): the ones whose
/// same-commit passes the backend must look up.
pub fn failed_tests(rows: &[PartRow]) -> HashSet<i64> {
    let mut by: HashMap<i64, (bool, bool)> = HashMap::new();
    for r in rows {
        let e = by.entry(r.test_id).or_default();
        e.0 |= r.outcome == Outcome::Passed;
        e.1 |= r.outcome == Outcome::Failed;
    }
    by.into_iter().filter(|(_, (p, f))| *f && !*p).map(|(t, _)| t).collect()
}

/// Apply one part. `tracks` holds the stored rows of the part's tests on
/// the run's tracks (absent = new); `passed_elsewhere` the (test, track)
/// pairs that another run on this commit and track passed.
pub fn plan_part(
    run: &PartRun,
    settings: &Settings,
    rows: &[PartRow],
    mut tracks: HashMap<(i64, String), Track>,
    passed_elsewhere: &HashSet<(i64, String)>,
) -> PartPlan {
    // Uploads that are infrastructure failures add nothing (one dead CI node among healthy ones).
    let mut per_upload: HashMap<&str, (u64, u64)> = HashMap::new();
    for r in rows {
        let c = per_upload.entry(r.upload_id.as_str()).or_default();
        c.0 += u64::from(r.outcome == Outcome::Passed);
        c.1 += u64::from(r.outcome == Outcome::Failed);
    }
    let infra_uploads: HashSet<&str> = per_upload.iter().filter(|(_, (p, f))| is_infra(*p, *f, settings)).map(|(u, _)| *u).collect();
    let mut by_test: BTreeMap<i64, Vec<&PartRow>> = BTreeMap::new();
    let mut infra_tests: HashSet<i64> = HashSet::new();
    for r in rows {
        if infra_uploads.contains(r.upload_id.as_str()) {
            infra_tests.insert(r.test_id);
        } else if matches!(r.outcome, Outcome::Passed | Outcome::Failed) {
            by_test.entry(r.test_id).or_default().push(r);
        }
    }
    for v in by_test.values_mut() {
        v.sort_by_key(|r| r.attempt);
    }
    let statuses: Vec<(i64, Vec<bool>)> =
        by_test.iter().map(|(t, v)| (*t, v.iter().map(|r| r.outcome == Outcome::Passed).collect::<Vec<_>>())).collect();
    let failed = statuses.iter().filter(|(_, a)| a.iter().all(|p| !*p)).count() as u64;
    let part_infra = is_infra(statuses.len() as u64 - failed, failed, settings);
    let total_seconds: f64 = by_test.values().flatten().filter_map(|r| r.duration).sum();
    let with_failure = statuses.iter().filter(|(_, a)| a.iter().any(|p| !*p)).count().max(1) as f64;
    let rerun_seconds = total_seconds / with_failure;
    let day = run.at_ms.div_euclid(86_400_000);

    let mut plan = PartPlan { infra: part_infra || (!infra_uploads.is_empty() && by_test.is_empty()), ..PartPlan::default() };
    for (track, trusted) in tracks_of(run, settings) {
        if part_infra {
            for t in statuses.iter().map(|(t, _)| *t).chain(infra_tests.iter().copied()) {
                let mut tr = tracks.remove(&(t, track.clone())).unwrap_or_default();
                tr.ignore_infra();
                plan.tracks.push((t, track.clone(), tr));
            }
            continue;
        }
        for t in infra_tests.iter().filter(|t| !by_test.contains_key(t)) {
            let mut tr = tracks.remove(&(*t, track.clone())).unwrap_or_default();
            tr.ignore_infra();
            plan.tracks.push((*t, track.clone(), tr));
        }
        for (test_id, attempts) in &statuses {
            let failed_seconds = by_test[test_id].iter().filter(|r| r.outcome == Outcome::Failed).filter_map(|r| r.duration).sum();
            let part = Part {
                run_id: run.run_id,
                at_ms: run.at_ms,
                commit: run.commit.clone(),
                attempts: attempts.clone(),
                commit_passed_elsewhere: passed_elsewhere.contains(&(*test_id, track.clone())),
                failed_seconds,
                rerun_seconds,
            };
            let mut tr = tracks.remove(&(*test_id, track.clone())).unwrap_or_default();
            let lost_before = tr.evidence.ci_seconds_lost;
            let applied = tr.apply(&part, trusted, settings);
            let status = part.status();
            let delta = TrackCounts {
                parts: 1,
                flaky: applied.observations.iter().filter(|o| o.flaky).count() as i64,
                failed: i64::from(status == Some(PartStatus::Failed)),
                breakage: i64::from(applied.breakage),
                runs_failed: i64::from(matches!(status, Some(PartStatus::Failed | PartStatus::Both))),
                seconds_lost: tr.evidence.ci_seconds_lost - lost_before,
            };
            // A clean run adds nothing a window reads: most parts write no day row.
            if delta.flaky + delta.failed + delta.breakage + delta.runs_failed > 0 {
                plan.days.push((*test_id, track.clone(), day, delta));
            }
            plan.events.extend(applied.transitions.into_iter().map(|e| (*test_id, track.clone(), e)));
            plan.tracks.push((*test_id, track.clone(), tr));
        }
    }
    plan
}

/// A stored track with its test, as lists and the state route read it.
#[derive(Debug, Clone, Serialize)]
pub struct TrackRow {
    pub test: Test,
    pub track: String,
    pub state: State,
    pub data: Track,
}

/// A stored state change.
#[derive(Debug, Clone, Serialize)]
pub struct StateEvent {
    pub test_id: i64,
    pub track: String,
    pub at_ms: i64,
    pub from: String,
    pub to: String,
    pub rule: String,
    pub run_id: Option<i64>,
    pub evidence: serde_json::Value,
}

/// Which tracks a flaky list reads.
#[derive(Debug, Clone)]
pub struct TrackQuery {
    pub suite_id: i64,
    pub track: String,
    /// The window's days, `[first_day, end_day)`.
    pub first_day: i64,
    pub end_day: i64,
    /// Only these states; empty: every state but healthy and new, plus any
    /// test with a flaky observation in the window.
    pub states: Vec<State>,
    /// The page, in the list's order (CI time lost in the window, then runs failed, then test id).
    pub limit: i64,
    pub offset: i64,
}

#[async_trait]
pub trait FlakyStore: Send + Sync {
    async fn flaky_settings(&self, suite_id: i64) -> Result<Settings, StoreError>;
    /// Validated by the caller.
    async fn set_flaky_settings(&self, suite_id: i64, settings: &Settings) -> Result<(), StoreError>;
    /// Analyse one run whose uploads have settled by `now_ms`; its id, or `None` when none is due.
    async fn analyse_due(&self, now_ms: i64) -> Result<Option<i64>, StoreError>;
    /// Start a suite's flaky states over: delete its tracks, events and day
    /// counts and queue every upload with results again, in the order they
    /// arrived, each at its own time, in one transaction. The number queued.
    async fn requeue_suite(&self, suite_id: i64) -> Result<i64, StoreError>;
    /// Uploads waiting for analysis: of one suite, or of all.
    async fn queue_depth(&self, suite_id: Option<i64>) -> Result<i64, StoreError>;
    /// One page of a flaky list with the window counts, and how many tests the whole list has.
    async fn flaky_tracks(&self, q: &TrackQuery) -> Result<(Vec<(TrackRow, TrackCounts)>, i64), StoreError>;
    /// One test's tracks.
    async fn test_tracks(&self, test_id: i64) -> Result<Vec<TrackRow>, StoreError>;
    /// The kept states of some tests on one track (tests without a row are left out).
    async fn states_of(&self, track: &str, test_ids: &[i64]) -> Result<Vec<(i64, State)>, StoreError>;
    /// One test's state changes, newest first.
    async fn test_events(&self, test_id: i64, limit: i64) -> Result<Vec<StateEvent>, StoreError>;
    /// Per day of `[first_day, end_day)` on a track: tests that flaked, and state changes to flaky and broken.
    async fn flaky_days(&self, suite_id: i64, track: &str, first_day: i64, end_day: i64) -> Result<Vec<FlakyDay>, StoreError>;
}

/// One day of a suite's flakiness on a track.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct FlakyDay {
    pub day: i64,
    /// Tests with a flaky observation that day.
    pub flaky_tests: i64,
    pub became_flaky: i64,
    pub became_broken: i64,
    pub recovered: i64,
}

/// A flaky list's page in either dialect (`?N` placeholders; PostgreSQL swaps them for `$N`):
/// the window's sums per test, the tracks the filter keeps ranked on them and
/// counted before the limit, then only the page's rows with their test and data.
pub(crate) fn flaky_page_sql(test_cols: &str, states_cte: &str, any_state: &str) -> String {
    format!(
        "WITH {states_cte}, w AS (SELECT test_id, CAST(sum(parts) AS BIGINT) p, CAST(sum(flaky) AS BIGINT) f, CAST(sum(failed) AS BIGINT) fa,
                           CAST(sum(breakage) AS BIGINT) b, CAST(sum(runs_failed) AS BIGINT) rf, CAST(sum(seconds_lost) AS DOUBLE PRECISION) sl
                    FROM track_days WHERE suite_id = ?1 AND track = ?2 AND day >= ?3 AND day < ?4 GROUP BY test_id),
         ranked AS (SELECT tt.test_id, coalesce(w.p, 0) p, coalesce(w.f, 0) f, coalesce(w.fa, 0) fa, coalesce(w.b, 0) b,
                           coalesce(w.rf, 0) rf, coalesce(w.sl, 0) sl, count(*) OVER () total
                    FROM test_tracks tt LEFT JOIN w ON w.test_id = tt.test_id
                    WHERE tt.suite_id = ?1 AND tt.track = ?2
                      AND (CASE WHEN {any_state} THEN tt.state IN ('flaky', 'broken') OR coalesce(w.f, 0) > 0 ELSE tt.state IN (SELECT * FROM states) END)
                    ORDER BY sl DESC, rf DESC, tt.test_id LIMIT ?6 OFFSET ?7)
         SELECT {test_cols}, tt.track, tt.state, tt.data, r.p, r.f, r.fa, r.b, r.rf, r.sl, r.total
         FROM ranked r JOIN test_tracks tt ON tt.test_id = r.test_id AND tt.track = ?2 JOIN tests t ON t.id = r.test_id
         ORDER BY r.sl DESC, r.rf DESC, r.test_id"
    )
}

/// The statements of `requeue_suite`, in order, in either dialect (`?1` the suite).
pub(crate) const REQUEUE: [&str; 5] = [
    "DELETE FROM analysis_queue WHERE suite_id = ?1",
    "DELETE FROM test_tracks WHERE suite_id = ?1",
    "DELETE FROM test_state_events WHERE suite_id = ?1",
    "DELETE FROM track_days WHERE suite_id = ?1",
    "INSERT INTO analysis_queue (suite_id, run_id, upload_id, queued_at)
     SELECT r.suite_id, u.run_id, u.id, u.created_at FROM uploads u JOIN runs r ON r.id = u.run_id
     WHERE r.suite_id = ?1 AND u.queued > 0 ORDER BY u.created_at, u.run_id",
];

/// Counts a state change into its day.
pub(crate) fn count_change(d: &mut FlakyDay, from: &str, to: &str, n: i64) {
    match to {
        "flaky" => d.became_flaky += n,
        "broken" => d.became_broken += n,
        "healthy" | "new" if from == "flaky" || from == "broken" => d.recovered += n,
        _ => {}
    }
}

/// A state row's decoded `Track`, or a database error naming the row.
pub(crate) fn decode_track(test_id: i64, track: &str, data: &str) -> Result<Track, StoreError> {
    serde_json::from_str(data).map_err(|e| StoreError::Database(format!("test_tracks ({test_id}, {track:?}): {e}")))
}

pub(crate) fn encode_track(t: &Track) -> String {
    serde_json::to_string(t).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn event_evidence(e: &Transition) -> String {
    serde_json::json!({"llr": e.llr, "runs": e.runs, "flaky_runs": e.flaky_runs, "commit": e.commit}).to_string()
}

pub(crate) fn parse_state(s: &str) -> State {
    State::parse(s).unwrap_or(State::New)
}

/// The settings a suite keeps (absent or unreadable: the defaults).
pub(crate) fn settings_of(json: Option<&str>) -> Settings {
    json.and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(test_id: i64, upload: &str, outcome: Outcome, attempt: i64) -> PartRow {
        PartRow { test_id, upload_id: upload.into(), outcome, duration: Some(2.0), attempt }
    }

    fn run() -> PartRun {
        PartRun { run_id: 7, suite_id: 1, branch: Some("main".into()), commit: Some("c1".into()), default_branch: "main".into(), at_ms: 0 }
    }

    #[test]
    fn a_flake_split_across_two_uploads_is_one_retry() {
        let rows = [row(1, "u1", Outcome::Failed, 0), row(1, "u2", Outcome::Passed, 0), row(2, "u1", Outcome::Passed, 0)];
        let plan = plan_part(&run(), &Settings::default(), &rows, HashMap::new(), &HashSet::new());
        let main: Vec<_> = plan.days.iter().filter(|d| d.1 == "main").collect();
        assert_eq!(main.len(), 1, "a clean run writes no day row");
        let t1 = main.iter().find(|d| d.0 == 1).unwrap().3;
        assert_eq!((t1.parts, t1.flaky, t1.runs_failed), (1, 1, 1));
        let (_, _, track) = plan.tracks.iter().find(|(t, tr, _)| *t == 1 && tr == "main").unwrap();
        assert_eq!(track.evidence.retry, 1);
        assert_eq!(plan.tracks.len(), 4, "two tests on main and on *");
    }

    #[test]
    fn infra_uploads_and_parts_are_set_aside() {
        let mut rows: Vec<PartRow> = (0..10).map(|t| row(t, "dead", Outcome::Failed, 0)).collect();
        rows.extend((10..20).map(|t| row(t, "ok", Outcome::Passed, 0)));
        let plan = plan_part(&run(), &Settings::default(), &rows, HashMap::new(), &HashSet::new());
        assert!(!plan.infra, "the healthy upload is evidence");
        let counted = plan.tracks.iter().filter(|(_, tr, t)| tr == "main" && t.evidence.runs == 1).count();
        assert_eq!(counted, 10, "only the healthy upload's tests");
        let dead = plan.tracks.iter().find(|(t, tr, _)| *t == 0 && tr == "main").unwrap();
        assert_eq!((dead.2.evidence.infra_runs_ignored, dead.2.evidence.runs), (1, 0));

        let all_failed: Vec<PartRow> =
            (0..10).map(|t| row(t, "a", Outcome::Failed, 0)).chain((10..12).map(|t| row(t, "b", Outcome::Passed, 0))).collect();
        // Upload a: 10 of 10 failed (infra); b: 2 passed, below the minimum of 10, and the part has 2 tests.
        let plan = plan_part(&run(), &Settings::default(), &all_failed, HashMap::new(), &HashSet::new());
        assert_eq!(plan.tracks.iter().filter(|(_, tr, t)| tr == "main" && t.evidence.runs == 1).count(), 2);
    }

    #[test]
    fn untrusted_branches_feed_only_the_pooled_track() {
        let r = PartRun { branch: Some("feature".into()), ..run() };
        assert_eq!(tracks_of(&r, &Settings::default()), vec![("*".to_owned(), false)]);
        assert_eq!(tracks_of(&run(), &Settings::default()), vec![("main".to_owned(), true), ("*".to_owned(), false)]);
        assert_eq!(
            failed_tests(&[row(1, "u", Outcome::Failed, 0), row(2, "u", Outcome::Failed, 0), row(2, "u", Outcome::Passed, 1)]),
            HashSet::from([1])
        );
    }
}
