//! Flaky and broken tests as the API, the CLI and the pages show them (the
//! flaky spec's §2.7): a suite's list on one track with each test's
//! evidence, rate, sequential decision, fix proof and impact, and one test's
//! tracks and state changes. Read from the stored state only.

use crate::AnalysisError;
use crate::owners::Owners;
use chrono::{DateTime, Utc};
use serde::Serialize;
use verdict_core::flaky::posterior::Rate;
use verdict_core::flaky::sprt::{Decision, RunsNeeded};
use verdict_core::flaky::track::{Evidence, Fix};
use verdict_core::flaky::{ALL_BRANCHES, Health, Settings, State, Track};
use verdict_store::flaky::{FlakyDay, StateEvent, TrackCounts, TrackQuery, TrackRow};
use verdict_store::{Page, Store, Suite};

use crate::pages::DAY_MS;

fn time(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(DateTime::from_timestamp_millis)
}

#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub prior: &'static str,
    pub half_life_runs: f64,
    pub sprt: verdict_core::flaky::sprt::Sprt,
}

#[derive(Debug, Clone, Serialize)]
pub struct RateView {
    #[serde(flatten)]
    pub rate: Rate,
    /// The suite's threshold t, and P(rate > t).
    pub threshold: f64,
    pub p_above_threshold: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Compat {
    /// Buildkite's changes / W over the last W pass/fail executions.
    pub transition_score: f64,
    pub transition_window: usize,
    /// Trunk's failure rate: runs with a failed execution / runs.
    pub failure_rate: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Impact {
    pub runs_failed: i64,
    pub ci_seconds_lost: f64,
}

/// One test on one track.
#[derive(Debug, Clone, Serialize)]
pub struct TrackView {
    pub id: i64,
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    /// From the suite's owners file (first = primary).
    pub owners: Vec<String>,
    pub branch: String,
    pub state: State,
    pub health: Health,
    pub since: Option<DateTime<Utc>>,
    /// The rule behind this state: what made it broken, or what set its health.
    pub rule: Option<&'static str>,
    pub evidence: Evidence,
    pub rate: RateView,
    pub sprt: RunsNeeded,
    /// In the flaky state: the clean runs still needed to call it fixed.
    pub fix: Option<Fix>,
    pub compat: Compat,
    pub first_flaked_at: Option<DateTime<Utc>>,
    pub last_flaked_at: Option<DateTime<Utc>>,
    /// Over the window (the list) or all time (a test's state).
    pub impact: Impact,
    /// The window's counts (lists only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<TrackCounts>,
}

fn track_view(row: &TrackRow, settings: &Settings, window: Option<TrackCounts>) -> TrackView {
    let t: &Track = &row.data;
    let sprt = settings.sprt();
    let mut needed = sprt.runs_needed(t.llr, t.posterior.mean());
    needed.decision = match t.health {
        Health::New => Decision::Continue,
        Health::Healthy => Decision::Healthy,
        Health::Flaky => Decision::Flaky,
    };
    let impact = match window {
        Some(w) => Impact { runs_failed: w.runs_failed, ci_seconds_lost: w.seconds_lost },
        None => Impact { runs_failed: t.evidence.runs_failed as i64, ci_seconds_lost: t.evidence.ci_seconds_lost },
    };
    let e = &t.evidence;
    TrackView {
        id: row.test.id,
        scope: row.test.scope.clone(),
        name: row.test.name.clone(),
        file_name: row.test.file_name.clone(),
        owners: Vec::new(),
        branch: row.track.clone(),
        state: t.state(),
        health: t.health,
        since: time(t.since_ms),
        rule: t.state_rule().map(|r| r.name()),
        evidence: *e,
        rate: RateView {
            rate: t.posterior.rate(),
            threshold: settings.threshold,
            p_above_threshold: t.posterior.p_above(settings.threshold),
        },
        sprt: needed,
        fix: t.fix(),
        compat: Compat {
            transition_score: t.transition_score(settings.transition_window),
            transition_window: settings.transition_window,
            failure_rate: (e.runs > 0).then(|| e.runs_failed as f64 / e.runs as f64),
        },
        first_flaked_at: time(t.first_flaked_ms),
        last_flaked_at: time(t.last_flaked_ms),
        impact,
        window,
    }
}

fn with_owners(mut view: TrackView, row: &TrackRow, owners: &Owners) -> TrackView {
    view.owners = owners.of(row.test.file_name.as_deref(), row.test.location.as_deref());
    view
}

/// `window` as the flaky list takes it: 1d, 7d (the default), 14d, 28d or 90d.
pub fn parse_window(raw: Option<&str>) -> Result<i64, String> {
    match raw {
        None => Ok(7),
        Some(w) => w
            .strip_suffix('d')
            .and_then(|n| n.parse::<i64>().ok())
            .filter(|n| verdict_core::range::WINDOWS.iter().any(|w| i64::from(*w) == *n))
            .ok_or_else(|| format!("window: one of 1d, 7d, 14d, 28d, 90d, got {w:?}")),
    }
}

/// `state` (comma-separated): new, healthy, flaky, broken.
pub fn parse_states(raw: Option<&str>) -> Result<Vec<State>, String> {
    let Some(raw) = raw else { return Ok(Vec::new()) };
    raw.split(',')
        .map(|s| State::parse(s.trim()).ok_or_else(|| format!("state: new, healthy, flaky or broken, got {:?}", s.trim())))
        .collect()
}

#[derive(Debug, Clone)]
pub struct FlakyQuery {
    /// A track: a branch name or `*`; `None`: the default branch.
    pub branch: Option<String>,
    pub window_days: i64,
    pub states: Vec<State>,
    pub page: Page,
    /// `owner=`: only tests it takes.
    pub owner: Option<crate::owners::OwnerFilter>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlakyList {
    pub suite: String,
    pub branch: String,
    pub window_days: i64,
    pub threshold: f64,
    pub method: Method,
    /// Ranked by CI time lost in the window, then runs failed, then test id.
    pub tests: Vec<TrackView>,
    pub page: u32,
    pub per_page: u32,
    pub total: usize,
    /// Per day of the window: tests that flaked, and changes of state.
    pub days: Vec<FlakyDay>,
    /// The suite's uploads not analysed yet (they settle for `settle_secs` first).
    pub pending_uploads: i64,
}

pub async fn flaky_list(store: &dyn Store, suite: &Suite, q: FlakyQuery, now_ms: i64) -> Result<FlakyList, AnalysisError> {
    let settings = store.flaky().flaky_settings(suite.id).await?;
    let branch = q.branch.unwrap_or_else(|| suite.default_branch.clone());
    let end_day = now_ms.div_euclid(DAY_MS) + 1;
    let first_day = end_day - q.window_days;
    let owners = Owners::of_suite(store, suite.id).await?;
    let only = match &q.owner {
        Some(f) => Some(crate::owners::tests_owned(store, suite.id, f).await?),
        None => None,
    };
    let query = TrackQuery {
        suite_id: suite.id,
        track: branch.clone(),
        first_day,
        end_day,
        states: q.states,
        limit: q.page.limit(),
        offset: q.page.offset(),
        only,
    };
    let (rows, days, pending) = tokio::try_join!(
        store.flaky().flaky_tracks(&query),
        store.flaky().flaky_days(suite.id, &branch, first_day, end_day),
        store.flaky().queue_depth(Some(suite.id)),
    )?;
    // Ranked and paged in the store: rates (credible intervals by bisection) are computed for the page only.
    let (rows, total) = rows;
    let total = total as usize;
    let tests = rows.iter().map(|(row, w)| with_owners(track_view(row, &settings, Some(*w)), row, &owners)).collect();
    Ok(FlakyList {
        suite: suite.slug.clone(),
        branch,
        window_days: q.window_days,
        threshold: settings.threshold,
        method: method(&settings),
        tests,
        page: q.page.page,
        per_page: q.page.per_page,
        total,
        days,
        pending_uploads: pending,
    })
}

fn method(settings: &Settings) -> Method {
    Method { prior: "beta(0.5,0.5)", half_life_runs: settings.half_life_runs, sprt: settings.sprt() }
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub at: Option<DateTime<Utc>>,
    pub branch: String,
    pub from: String,
    pub to: String,
    pub rule: String,
    pub run_id: Option<i64>,
    pub evidence: serde_json::Value,
}

impl From<StateEvent> for EventView {
    fn from(e: StateEvent) -> Self {
        EventView { at: time(Some(e.at_ms)), branch: e.track, from: e.from, to: e.to, rule: e.rule, run_id: e.run_id, evidence: e.evidence }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TestState {
    pub test_id: i64,
    pub method: Method,
    pub threshold: f64,
    /// The default branch first, `*` last.
    pub tracks: Vec<TrackView>,
    /// Newest first, at most `EVENTS_READ`.
    pub history: Vec<EventView>,
    /// Whether its failures count (enabled, muted, skipped), and who set it.
    pub control: verdict_core::quarantine::Control,
    /// Its control changes, newest first, at most `EVENTS_READ`.
    pub control_history: Vec<verdict_store::controls::ControlEvent>,
}

/// State changes a test's state lists.
pub const EVENTS_READ: i64 = 200;

pub async fn test_state(store: &dyn Store, suite: &Suite, test_id: i64, branch: Option<&str>) -> Result<TestState, AnalysisError> {
    let settings = store.flaky().flaky_settings(suite.id).await?;
    let (tracks, events, control, control_history) = tokio::try_join!(
        store.flaky().test_tracks(test_id),
        store.flaky().test_events(test_id, EVENTS_READ),
        store.controls().control(test_id),
        store.controls().control_events(test_id, EVENTS_READ)
    )?;
    let keep = |b: &str| branch.is_none_or(|want| want == b);
    let owners = Owners::of_suite(store, suite.id).await?;
    let mut tracks: Vec<TrackView> =
        tracks.iter().filter(|t| keep(&t.track)).map(|t| with_owners(track_view(t, &settings, None), t, &owners)).collect();
    // The default branch first, then others, `*` last.
    tracks.sort_by_key(|t| (t.branch != suite.default_branch, t.branch == ALL_BRANCHES, t.branch.clone()));
    let history = events.into_iter().filter(|e| keep(&e.track)).map(EventView::from).collect();
    Ok(TestState { test_id, method: method(&settings), threshold: settings.threshold, tracks, history, control, control_history })
}
