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

/// The number the next part of suite `?1` gets.
pub(crate) const NEXT_PART: &str = "SELECT coalesce(max(n), 0) + 1 FROM analysis_parts WHERE suite_id = ?1";

/// Suite `?1`'s recorded parts after part `?2`, in order, each with whether
/// it is still its whole run (the run's first part, no infra upload, and no
/// upload since): then the run's statuses say which tests it had.
/// Parts whose first upload came after `?3` are left out (see [`replay_until`]).
pub(crate) const PARTS_SINCE: &str =
    "SELECT p.n, p.run_id, p.branch, p.at_ms, p.first_at, p.infra, CASE WHEN p.uploads = r.uploads THEN p.whole ELSE 0 END
     FROM analysis_parts p JOIN runs r ON r.id = p.run_id WHERE p.suite_id = ?1 AND p.n > ?2 AND p.first_at <= ?3 ORDER BY p.n";

/// The newest upload time a read must replay on listed rows: no part whose
/// uploads all came after the tests were last seen (kept to within
/// `LAST_SEEN_RESOLUTION_MS`) can hold them, so the page of a test that
/// stopped running long ago replays nothing.
pub(crate) fn replay_until(rows: &[(TrackRow, Option<i64>)]) -> i64 {
    let last_seen = rows.iter().map(|(r, _)| r.test.last_seen.timestamp_millis()).max().unwrap_or(i64::MAX);
    last_seen.saturating_add(crate::plan::LAST_SEEN_RESOLUTION_MS)
}

/// Whether run `?1` has no analysed upload yet.
pub(crate) const FIRST_OF_RUN: &str = "SELECT NOT EXISTS (SELECT 1 FROM uploads WHERE run_id = ?1 AND part_n IS NOT NULL)";

pub(crate) const INSERT_PART: &str = "INSERT INTO analysis_parts (suite_id, n, run_id, branch, at_ms, first_at, infra, uploads, whole)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// How a catch-up reads the tests of the parts it replays: a whole run's from
/// its statuses (one small row per test), any other part's from its executions.
pub(crate) struct ReplayReads {
    /// run id → part number.
    pub whole_runs: HashMap<i64, i64>,
    pub other_parts: Vec<i64>,
    /// The oldest upload of the other parts.
    pub oldest_other: Option<i64>,
}

impl ReplayReads {
    pub fn new(parts: &[(RecordedPart, bool)]) -> Self {
        let mut out = ReplayReads { whole_runs: HashMap::new(), other_parts: Vec::new(), oldest_other: None };
        for (p, whole) in parts.iter().filter(|(p, _)| !p.infra) {
            if *whole {
                out.whole_runs.insert(p.run_id, p.n);
            } else {
                out.other_parts.push(p.n);
                out.oldest_other = Some(out.oldest_other.map_or(p.first_at, |o: i64| o.min(p.first_at)));
            }
        }
        out
    }

    /// A test's rows in a whole run from its status bits (1 passed, 2 failed).
    pub fn rows_of(&self, run_id: i64, test_id: i64, status: i64) -> Vec<ReplayRow> {
        let Some(&n) = self.whole_runs.get(&run_id) else { return Vec::new() };
        // A skipped part is all passes; a failure (only if the data changed underneath) is put first.
        [(2, false, 0), (1, true, 1)]
            .into_iter()
            .filter(|(bit, _, _)| status & bit != 0)
            .map(|(_, passed, attempt)| ReplayRow { test_id, n, passed, attempt })
            .collect()
    }
}

pub(crate) const MARK_UPLOAD: &str = "UPDATE uploads SET part_n = ?2, part_infra = ?3 WHERE id = ?1";

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
    /// The part's uploads that met it on their own.
    pub infra_uploads: Vec<String>,
    pub tracks: Vec<TrackWrite>,
    pub events: Vec<(i64, String, Transition)>,
    pub days: Vec<(i64, String, i64, TrackCounts)>,
    /// The track whose state events the auto-quarantine policy follows, when it is on.
    pub quarantine_track: Option<String>,
    /// The part's tests with a passed or failed result, and those that failed every attempt (for `run.failed`).
    pub tests: usize,
    pub failed_tests: Vec<i64>,
    /// Set by the step: the part is its run's first (a run's `run.failed` is sent once).
    pub first_of_run: bool,
}

/// A track row to write, with what the next steps read without decoding it.
#[derive(Debug)]
pub struct TrackWrite {
    pub test_id: i64,
    pub track: String,
    /// `Track::quiet_until` under the suite's settings.
    pub quiet_until: Option<i64>,
    pub data: Track,
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

/// A part's executions sorted into what the rules read: which uploads and
/// whether the whole part are infrastructure failures, and per test its
/// passed/failed attempts from the other uploads.
pub struct PartFacts<'a> {
    infra_uploads: HashSet<&'a str>,
    by_test: BTreeMap<i64, Vec<&'a PartRow>>,
    /// Tests with results in an infra upload (some also have others).
    infra_tests: HashSet<i64>,
    /// Per test in `by_test`, its attempts in order: `true` passed.
    statuses: Vec<(i64, Vec<bool>)>,
    part_infra: bool,
}

impl<'a> PartFacts<'a> {
    pub fn new(rows: &'a [PartRow], settings: &Settings) -> Self {
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
        PartFacts { infra_uploads, by_test, infra_tests, statuses, part_infra }
    }
}

/// What the analysis step first reads of a stored track row: where it was
/// last written, and its data unless it is quiet (a quiet row's data is read
/// only if this part needs it).
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The suite's part (`analysis_parts.n`) that last wrote the row.
    pub as_of: i64,
    pub quiet_until: Option<i64>,
    pub data: Option<Track>,
}

/// How many of its suite's parts a quiet row may skip before a clean run
/// writes it again (24–55, spread by test so that a suite's rows do not all
/// come due in one run): it bounds what catching the row up reads.
pub fn refresh_after(test_id: i64) -> i64 {
    24 + ((test_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59) as i64
}

/// A quiet row to catch up: (test, track, the part that last wrote it).
pub type CatchUp = (i64, String, i64);

/// Which of a part's track rows the step leaves alone and which quiet rows
/// it must first catch up.
#[derive(Debug, Default)]
pub struct PartSplit {
    /// (test, index of the track in `tracks_of`): a run in which the test
    /// only passed, on a quiet row that is not due. Replayable, so not written.
    pub skip: HashSet<(i64, usize)>,
    /// (test, track, as_of): quiet rows this part writes, to catch up first.
    pub catch_up: Vec<(i64, String, i64)>,
}

/// Split part `n` of its suite (see [`PartSplit`]).
/// `probes` are keyed by (test, index of the track in `tracks_of`).
pub fn split_part(run: &PartRun, settings: &Settings, facts: &PartFacts<'_>, probes: &HashMap<(i64, usize), Probe>, n: i64) -> PartSplit {
    let mut out = PartSplit::default();
    for (ti, (track, _)) in tracks_of(run, settings).into_iter().enumerate() {
        let written = facts
            .statuses
            .iter()
            .map(|(t, a)| (*t, Some(a)))
            .chain(facts.infra_tests.iter().filter(|t| !facts.by_test.contains_key(t)).map(|t| (*t, None)));
        for (test, attempts) in written {
            let key = (test, ti);
            let Some(probe) = probes.get(&key).filter(|p| p.quiet_until.is_some()) else { continue };
            let clean = attempts.is_some_and(|a| a.iter().all(|p| *p)) && !facts.part_infra;
            let due = probe.quiet_until.is_some_and(|u| run.at_ms > u) || n - probe.as_of > refresh_after(test);
            if clean && !due {
                out.skip.insert(key);
            } else {
                out.catch_up.push((test, track.clone(), probe.as_of));
            }
        }
    }
    out
}

/// A part of a suite as the analysis step recorded it (`analysis_parts`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedPart {
    pub n: i64,
    pub run_id: i64,
    pub branch: Option<String>,
    pub at_ms: i64,
    /// The oldest of its uploads: executions of later parts are no older.
    pub first_at: i64,
    pub infra: bool,
}

/// A passed or failed execution of a recorded part's non-infra upload.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayRow {
    pub test_id: i64,
    pub n: i64,
    pub passed: bool,
    pub attempt: i64,
}

/// The parts each quiet row skipped since `as_of`, as the step would have
/// applied them: the recorded parts of its track in order, with the test's
/// attempts in each. `parts` in order of `n`.
pub fn skipped_parts(test_id: i64, track: &str, as_of: i64, parts: &[RecordedPart], rows: &[ReplayRow]) -> Vec<Part> {
    let mut attempts: BTreeMap<i64, Vec<(i64, bool)>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.test_id == test_id && r.n > as_of) {
        attempts.entry(r.n).or_default().push((r.attempt, r.passed));
    }
    parts
        .iter()
        .filter(|p| p.n > as_of && !p.infra && (track == ALL_BRANCHES || p.branch.as_deref() == Some(track)))
        .filter_map(|p| {
            let mut a = attempts.remove(&p.n)?;
            a.sort_by_key(|(attempt, _)| *attempt);
            Some(Part {
                run_id: p.run_id,
                at_ms: p.at_ms,
                commit: None,
                attempts: a.into_iter().map(|(_, passed)| passed).collect(),
                commit_passed_elsewhere: false,
                failed_seconds: 0.0,
                rerun_seconds: 0.0,
            })
        })
        .collect()
}

/// Catch quiet rows up: replay on each the parts it skipped. The events
/// this makes (none, unless the settings changed since) with their rows.
pub fn catch_up(
    tracks: &mut HashMap<(i64, String), Track>,
    need: &[(i64, String, i64)],
    parts: &[RecordedPart],
    rows: &[ReplayRow],
    settings: &Settings,
) -> Vec<(i64, String, Transition)> {
    let mut by_test: HashMap<i64, Vec<ReplayRow>> = HashMap::new();
    for r in rows {
        by_test.entry(r.test_id).or_default().push(r.clone());
    }
    let mut events = Vec::new();
    for (test, track, as_of) in need {
        let Some(t) = tracks.get_mut(&(*test, track.clone())) else { continue };
        let skipped = skipped_parts(*test, track, *as_of, parts, by_test.get(test).map_or(&[][..], Vec::as_slice));
        events.extend(t.replay(&skipped, track != ALL_BRANCHES, settings).into_iter().map(|e| (*test, track.clone(), e)));
    }
    events
}

/// Apply one part. `tracks` holds the stored rows of the part's tests on
/// the run's tracks (absent = new), quiet ones caught up; `skip` the rows
/// [`split_part`] left alone; `passed_elsewhere` the (test, track) pairs
/// that another run on this commit and track passed.
pub fn plan_part(
    run: &PartRun,
    settings: &Settings,
    facts: &PartFacts<'_>,
    mut tracks: HashMap<(i64, String), Track>,
    skip: &HashSet<(i64, usize)>,
    passed_elsewhere: &HashSet<(i64, String)>,
) -> PartPlan {
    let PartFacts { infra_uploads, by_test, infra_tests, statuses, part_infra } = facts;
    let total_seconds: f64 = by_test.values().flatten().filter_map(|r| r.duration).sum();
    let with_failure = statuses.iter().filter(|(_, a)| a.iter().any(|p| !*p)).count().max(1) as f64;
    let rerun_seconds = total_seconds / with_failure;
    let day = run.at_ms.div_euclid(86_400_000);

    let mut plan = PartPlan {
        infra: *part_infra || (!infra_uploads.is_empty() && by_test.is_empty()),
        infra_uploads: infra_uploads.iter().map(|u| (*u).to_owned()).collect(),
        quarantine_track: settings.quarantine_track(&run.default_branch).map(str::to_owned),
        tests: statuses.len(),
        failed_tests: statuses.iter().filter(|(_, a)| !a.is_empty() && a.iter().all(|p| !*p)).map(|(t, _)| *t).collect(),
        ..PartPlan::default()
    };
    let write = |plan: &mut PartPlan, test_id: i64, track: &str, data: Track| {
        plan.tracks.push(TrackWrite { test_id, track: track.to_owned(), quiet_until: data.quiet_until(settings), data });
    };
    for (ti, (track, trusted)) in tracks_of(run, settings).into_iter().enumerate() {
        if *part_infra {
            // Each test once: one with results in both an infra upload and another.
            for t in statuses.iter().map(|(t, _)| *t).chain(infra_tests.iter().filter(|t| !by_test.contains_key(t)).copied()) {
                let mut tr = tracks.remove(&(t, track.clone())).unwrap_or_default();
                tr.ignore_infra();
                write(&mut plan, t, &track, tr);
            }
            continue;
        }
        for t in infra_tests.iter().filter(|t| !by_test.contains_key(t)) {
            let mut tr = tracks.remove(&(*t, track.clone())).unwrap_or_default();
            tr.ignore_infra();
            write(&mut plan, *t, &track, tr);
        }
        for (test_id, attempts) in statuses {
            if skip.contains(&(*test_id, ti)) {
                continue;
            }
            let key = (*test_id, track.clone());
            let failed_seconds = by_test[test_id].iter().filter(|r| r.outcome == Outcome::Failed).filter_map(|r| r.duration).sum();
            let part = Part {
                run_id: run.run_id,
                at_ms: run.at_ms,
                commit: run.commit.clone(),
                attempts: attempts.clone(),
                commit_passed_elsewhere: passed_elsewhere.contains(&key),
                failed_seconds,
                rerun_seconds,
            };
            let mut tr = tracks.remove(&key).unwrap_or_default();
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
            write(&mut plan, *test_id, &track, tr);
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
    /// Only these tests (an owner filter); none: every test.
    pub only: Option<Vec<i64>>,
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
pub(crate) fn flaky_page_sql(test_cols: &str, states_cte: &str, any_state: &str, only: &str) -> String {
    format!(
        "WITH {states_cte}, w AS (SELECT test_id, CAST(sum(parts) AS BIGINT) p, CAST(sum(flaky) AS BIGINT) f, CAST(sum(failed) AS BIGINT) fa,
                           CAST(sum(breakage) AS BIGINT) b, CAST(sum(runs_failed) AS BIGINT) rf, CAST(sum(seconds_lost) AS DOUBLE PRECISION) sl
                    FROM track_days WHERE suite_id = ?1 AND track = ?2 AND day >= ?3 AND day < ?4 GROUP BY test_id),
         ranked AS (SELECT tt.test_id, coalesce(w.p, 0) p, coalesce(w.f, 0) f, coalesce(w.fa, 0) fa, coalesce(w.b, 0) b,
                           coalesce(w.rf, 0) rf, coalesce(w.sl, 0) sl, count(*) OVER () total
                    FROM test_tracks tt LEFT JOIN w ON w.test_id = tt.test_id
                    WHERE tt.suite_id = ?1 AND tt.track = ?2 AND {only}
                      AND (CASE WHEN {any_state} THEN tt.state IN ('flaky', 'broken') OR coalesce(w.f, 0) > 0 ELSE tt.state IN (SELECT * FROM states) END)
                    ORDER BY sl DESC, rf DESC, tt.test_id LIMIT ?6 OFFSET ?7)
         SELECT {test_cols}, tt.track, tt.state, tt.data, r.p, r.f, r.fa, r.b, r.rf, r.sl, r.total, tt.as_of, tt.quiet_until
         FROM ranked r JOIN test_tracks tt ON tt.test_id = r.test_id AND tt.track = ?2 JOIN tests t ON t.id = r.test_id
         ORDER BY r.sl DESC, r.rf DESC, r.test_id"
    )
}

/// The quiet rows among listed ones, as `catch_up` takes them: (test, track, as_of), and their data.
pub(crate) fn quiet_listed(rows: &[(TrackRow, Option<i64>)]) -> (Vec<CatchUp>, HashMap<(i64, String), Track>) {
    let quiet = rows.iter().filter_map(|(r, as_of)| as_of.map(|a| (r, a)));
    let need = quiet.clone().map(|(r, a)| (r.test.id, r.track.clone(), a)).collect();
    (need, quiet.map(|(r, _)| ((r.test.id, r.track.clone()), r.data.clone())).collect())
}

/// Put caught-up data back into the listed rows.
pub(crate) fn put_caught_up(rows: &mut [(TrackRow, Option<i64>)], mut tracks: HashMap<(i64, String), Track>) -> Vec<TrackRow> {
    rows.iter_mut()
        .map(|(r, _)| {
            if let Some(t) = tracks.remove(&(r.test.id, r.track.clone())) {
                r.state = t.state();
                r.data = t;
            }
            r.clone()
        })
        .collect()
}

/// The statements of `requeue_suite`, in order, in either dialect (`?1` the suite).
pub(crate) const REQUEUE: [&str; 7] = [
    "DELETE FROM analysis_queue WHERE suite_id = ?1",
    "DELETE FROM analysis_parts WHERE suite_id = ?1",
    "UPDATE uploads SET part_n = NULL, part_infra = 0 WHERE run_id IN (SELECT id FROM runs WHERE suite_id = ?1)",
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

    fn plan(rows: &[PartRow]) -> PartPlan {
        let s = Settings::default();
        plan_part(&run(), &s, &PartFacts::new(rows, &s), HashMap::new(), &HashSet::new(), &HashSet::new())
    }

    fn run() -> PartRun {
        PartRun { run_id: 7, suite_id: 1, branch: Some("main".into()), commit: Some("c1".into()), default_branch: "main".into(), at_ms: 0 }
    }

    #[test]
    fn a_flake_split_across_two_uploads_is_one_retry() {
        let rows = [row(1, "u1", Outcome::Failed, 0), row(1, "u2", Outcome::Passed, 0), row(2, "u1", Outcome::Passed, 0)];
        let planned = plan(&rows);
        let main: Vec<_> = planned.days.iter().filter(|d| d.1 == "main").collect();
        assert_eq!(main.len(), 1, "a clean run writes no day row");
        let t1 = main.iter().find(|d| d.0 == 1).unwrap().3;
        assert_eq!((t1.parts, t1.flaky, t1.runs_failed), (1, 1, 1));
        let track = &planned.tracks.iter().find(|w| w.test_id == 1 && w.track == "main").unwrap().data;
        assert_eq!(track.evidence.retry, 1);
        assert_eq!(planned.tracks.len(), 4, "two tests on main and on *");
    }

    #[test]
    fn infra_uploads_and_parts_are_set_aside() {
        let mut rows: Vec<PartRow> = (0..10).map(|t| row(t, "dead", Outcome::Failed, 0)).collect();
        rows.extend((10..20).map(|t| row(t, "ok", Outcome::Passed, 0)));
        let planned = plan(&rows);
        assert!(!planned.infra, "the healthy upload is evidence");
        assert_eq!(planned.infra_uploads, ["dead"]);
        let counted = planned.tracks.iter().filter(|w| w.track == "main" && w.data.evidence.runs == 1).count();
        assert_eq!(counted, 10, "only the healthy upload's tests");
        let dead = &planned.tracks.iter().find(|w| w.test_id == 0 && w.track == "main").unwrap().data;
        assert_eq!((dead.evidence.infra_runs_ignored, dead.evidence.runs), (1, 0));

        let all_failed: Vec<PartRow> =
            (0..10).map(|t| row(t, "a", Outcome::Failed, 0)).chain((10..12).map(|t| row(t, "b", Outcome::Passed, 0))).collect();
        // Upload a: 10 of 10 failed (infra); b: 2 passed, below the minimum of 10, and the part has 2 tests.
        let planned = plan(&all_failed);
        assert_eq!(planned.tracks.iter().filter(|w| w.track == "main" && w.data.evidence.runs == 1).count(), 2);
    }

    /// The analysis step over an in-memory store, with quiet rows left
    /// alone (`lazy`) or every row rewritten every time.
    struct Sim {
        lazy: bool,
        rows: HashMap<(i64, String), (i64, Option<i64>, Track)>,
        parts: Vec<RecordedPart>,
        executions: Vec<(ReplayRow, bool)>,
        events: Vec<(i64, String, Transition)>,
        skipped: usize,
    }

    impl Sim {
        fn step(&mut self, run: &PartRun, rows: &[PartRow], s: &Settings) {
            let n = self.parts.len() as i64 + 1;
            let facts = PartFacts::new(rows, s);
            let tracks = tracks_of(run, s);
            let probes: HashMap<(i64, usize), Probe> = self
                .rows
                .iter()
                .filter_map(|((t, tr), (as_of, quiet, data))| {
                    let ti = tracks.iter().position(|(name, _)| name == tr)?;
                    let quiet = if self.lazy { *quiet } else { None };
                    Some(((*t, ti), Probe { as_of: *as_of, quiet_until: quiet, data: quiet.is_none().then(|| data.clone()) }))
                })
                .collect();
            let split = split_part(run, s, &facts, &probes, n);
            self.skipped += split.skip.len();
            let mut stored: HashMap<(i64, String), Track> =
                probes.into_iter().filter_map(|((t, ti), p)| p.data.map(|d| ((t, tracks[ti].0.clone()), d))).collect();
            for (t, tr, _) in &split.catch_up {
                stored.insert((*t, tr.clone()), self.rows[&(*t, tr.clone())].2.clone());
            }
            let replay: Vec<ReplayRow> = self.executions.iter().filter(|(_, infra)| !infra).map(|(r, _)| r.clone()).collect();
            let caught = catch_up(&mut stored, &split.catch_up, &self.parts, &replay, s);
            let mut planned = plan_part(run, s, &facts, stored, &split.skip, &HashSet::new());
            planned.events.splice(0..0, caught);
            self.events.extend(planned.events);
            for w in planned.tracks {
                self.rows.insert((w.test_id, w.track), (n, w.quiet_until, w.data));
            }
            self.parts.push(RecordedPart {
                n,
                run_id: run.run_id,
                branch: run.branch.clone(),
                at_ms: run.at_ms,
                first_at: run.at_ms,
                infra: planned.infra,
            });
            for r in rows.iter().filter(|r| matches!(r.outcome, Outcome::Passed | Outcome::Failed)) {
                let replay = ReplayRow { test_id: r.test_id, n, passed: r.outcome == Outcome::Passed, attempt: r.attempt };
                self.executions.push((replay, planned.infra_uploads.contains(&r.upload_id)));
            }
        }

        /// Every row as a read would show it.
        fn caught_up(&self, s: &Settings) -> BTreeMap<(i64, String), Track> {
            let need: Vec<(i64, String, i64)> =
                self.rows.iter().filter(|(_, (_, q, _))| q.is_some()).map(|((t, tr), (a, _, _))| (*t, tr.clone(), *a)).collect();
            let mut tracks: HashMap<(i64, String), Track> = self.rows.iter().map(|(k, (_, _, t))| (k.clone(), t.clone())).collect();
            let replay: Vec<ReplayRow> = self.executions.iter().filter(|(_, infra)| !infra).map(|(r, _)| r.clone()).collect();
            assert!(catch_up(&mut tracks, &need, &self.parts, &replay, s).is_empty());
            tracks.into_iter().collect()
        }
    }

    #[test]
    fn leaving_quiet_rows_alone_changes_no_state_or_figure() {
        let s = Settings::default();
        let new = |lazy| Sim { lazy, rows: HashMap::new(), parts: vec![], executions: vec![], events: vec![], skipped: 0 };
        let (mut lazy, mut eager) = (new(true), new(false));
        let mut x: u64 = 7;
        let mut rand = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % 1000
        };
        for i in 0..400i64 {
            let branch = if i % 7 == 3 { "feature" } else { "main" };
            let run = PartRun {
                run_id: i,
                suite_id: 1,
                branch: Some(branch.into()),
                commit: Some(format!("c{}", i / 2)),
                default_branch: "main".into(),
                at_ms: 1_800_000_000_000 + i * 3_600_000,
            };
            let mut rows = Vec::new();
            let dead = i % 97 == 50; // a whole infra run
            for t in 0..40i64 {
                if t >= 30 && i % 3 == 0 {
                    continue; // not in every run
                }
                let upload = if t % 2 == 0 { "a" } else { "b" };
                let fails = dead
                    || match t {
                        0..=2 => rand() < 60,         // flaky
                        3 => (150..220).contains(&i), // broken, then fixed
                        4 => i == 300,                // one failure late
                        _ => false,
                    };
                rows.push(row(t, upload, if fails { Outcome::Failed } else { Outcome::Passed }, 0));
                if fails && t < 3 && rand() < 500 {
                    rows.push(row(t, upload, Outcome::Passed, 1)); // a retry
                }
                if t == 5 && i % 11 == 0 {
                    rows.push(row(t, upload, Outcome::Skipped, 0));
                }
            }
            if i == 120 {
                // An upload of a dead node among healthy ones.
                rows.extend((0..12).map(|t| row(t, "dead", Outcome::Failed, 0)));
            }
            lazy.step(&run, &rows, &s);
            eager.step(&run, &rows, &s);
        }
        assert!(lazy.skipped > 5_000, "most clean runs leave their rows alone ({})", lazy.skipped);
        assert_eq!(eager.skipped, 0);
        assert_eq!(lazy.caught_up(&s), eager.caught_up(&s));
        assert_eq!(lazy.events, eager.events);
        assert!(eager.events.iter().any(|(t, _, e)| *t == 3 && e.to == State::Broken), "the history has state changes");
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
