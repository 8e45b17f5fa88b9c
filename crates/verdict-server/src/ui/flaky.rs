//! `/s/{suite}/flaky`: the flaky and broken tests of a branch, ranked by the
//! CI time they cost, each with the rule that put it there and how sure
//! Verdict is; and the sentence the test page shows for a test's state.

use super::format::{self, encode};
use super::{Frame, PageError, link, respond, svg};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::flaky::{FlakyQuery, TrackView, flaky_list};
use verdict_core::flaky::State as TrackState;

/// A kept state's badge class (the outcome colours: broken red, flaky amber, healthy green).
pub fn state_class(state: Option<TrackState>) -> &'static str {
    match state {
        Some(TrackState::Broken) => "failed",
        Some(TrackState::Flaky) => "flaky",
        Some(TrackState::Healthy) => "passed",
        Some(TrackState::New) | None => "unknown",
    }
}

/// The days of a flaky or failures list: the view's window (the pages' default is 14 days).
pub fn window_days(view: &verdict_analysis::pages::View) -> i64 {
    view.window.as_deref().and_then(|w| w.strip_suffix('d')).and_then(|n| n.parse().ok()).unwrap_or(14)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The rate with its 95% credible interval, as every rate is shown; "–"
/// without evidence (no run counted, or every failure a breakage).
pub fn rate(t: &TrackView) -> String {
    let r = &t.rate.rate;
    if r.effective_runs < 1.0 {
        return "–".into();
    }
    format!("{} [{}–{}]", pct(r.mean), pct(r.low).trim_end_matches('%'), pct(r.high))
}

fn rule_words(rule: &str) -> &'static str {
    match rule {
        "retry" => "failed, then passed on a retry",
        "same_commit" => "passed and failed on one commit",
        "transition" => "failed between passing runs",
        "consecutive" => "failed runs in a row",
        "failure_rate" => "failed most runs of the window",
        "sprt_clear" => "the sequential test cleared it",
        "stale" => "no runs for a long time",
        _ => "",
    }
}

/// How it flaked, by rule.
fn flaked(t: &TrackView) -> String {
    let e = &t.evidence;
    if e.flaky_runs == 0 {
        return format!("no flake in {} runs", e.runs);
    }
    let by: Vec<String> =
        [(e.retry, "passed on retry"), (e.same_commit, "failed on a commit that passed"), (e.transition, "failed between passes")]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, w)| format!("{w} {n}×"))
            .collect();
    format!("flaked in {} of {} runs ({})", e.flaky_runs, e.runs, by.join(", "))
}

/// "Flaky since …: passed and failed on one commit in 4 of 412 runs; 5.7% [1.4–12.7]; 29 clean runs to call it fixed".
pub fn state_sentence(t: &TrackView) -> String {
    let threshold = t.rate.threshold;
    let since = t.since.map(format::utc).unwrap_or_default();
    let why = t.rule.map(rule_words).filter(|w| !w.is_empty()).map(|w| format!(" ({w})")).unwrap_or_default();
    let rate = format!("flake rate {}, P(rate > {}) = {:.2}", rate(t), pct(threshold), t.rate.p_above_threshold);
    match t.state {
        TrackState::Flaky => {
            let fix = t.fix.as_ref().map_or(String::new(), |f| {
                format!("; {} more clean runs in a row to call it fixed ({} so far)", f.clean_runs_to_confirm_fix, f.clean_streak)
            });
            format!("Flaky since {since}{why}: {}; {rate}{fix}.", flaked(t))
        }
        TrackState::Broken => format!(
            "Broken since {since}{why}: {} failed runs, {} of them counted as a breakage (not a flake); it leaves broken after passing runs in a row, or when its failure rate falls below the suite's threshold.",
            t.evidence.failed_runs, t.evidence.breakage_runs
        ),
        TrackState::Healthy => format!("Healthy since {since}{why}: {}; {rate}.", flaked(t)),
        TrackState::New => {
            let s = &t.sprt;
            let expected = s.expected_runs_to_decide.map_or(String::new(), |n| format!(", about {n} at the current rate"));
            format!(
                "No decision yet: {}; {rate}; the sequential test decides after {} more flaky runs or {} clean ones{expected}.",
                flaked(t),
                s.min_flaky_runs_to_flaky,
                s.min_clean_runs_to_healthy
            )
        }
    }
}

pub struct Row {
    pub href: String,
    pub scope: String,
    pub name: String,
    pub state: &'static str,
    pub class: &'static str,
    pub rule: &'static str,
    pub since: String,
    pub rate: String,
    /// Whether `rate` is a number (it is "–" without evidence).
    pub has_rate: bool,
    pub p_above: String,
    pub runs: String,
    pub needed: String,
    pub needed_title: &'static str,
    pub lost: String,
    pub runs_failed: i64,
    pub last_flaked: String,
    pub sentence: String,
}

#[derive(askama::Template)]
#[template(path = "flaky.html")]
struct FlakyHtml {
    frame: Frame,
    name: String,
    chart: String,
    rows: Vec<Row>,
    total: usize,
    window_days: i64,
    threshold: String,
    half_life: f64,
    p0: String,
    p1: String,
    pending: i64,
    prev: Option<String>,
    next: Option<String>,
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let super::SuitePage { suite, view, query: params, id: _, mut timing } = page;
    let window_days = window_days(&view);
    let page_no = params.parsed::<u32>("page", "a page number (1, 2, ...)")?.unwrap_or(1);
    let query = FlakyQuery {
        branch: Some(view.branch.clone()),
        window_days,
        states: verdict_analysis::flaky::parse_states(params.text("state").as_deref())
            .map_err(|e| PageError::bad(format!("query parameter {e}")))?,
        page: verdict_store::Page::new(page_no, 50),
        owner: None,
    };
    let store = state.store.as_ref();
    let branches = store.dashboard().branches(&view.run_range(suite.id)).await?;
    let list = flaky_list(store, &suite, query, super::now_ms()).await?;
    timing.queried();
    let base = format!("/s/{}", encode(&suite.slug, false));
    let path = format!("{base}/flaky");
    let stacks: Vec<svg::Stack> = list
        .days
        .iter()
        .map(|d| {
            let day = chrono::DateTime::from_timestamp(d.day * 86_400, 0).map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
            svg::Stack {
                flaky: d.flaky_tests,
                title: format!(
                    "{day}: {} tests flaked; {} became flaky, {} broken, {} recovered",
                    d.flaky_tests, d.became_flaky, d.became_broken, d.recovered
                ),
                ..svg::Stack::default()
            }
        })
        .collect();
    let chart = svg::stacked_bars(&stacks, "tests", &format!("Tests that flaked per day over {window_days} days"));
    let rows = list
        .tests
        .iter()
        .map(|t| {
            let (needed, needed_title) = match &t.fix {
                _ if t.state == TrackState::Broken => ("–".into(), "a broken test leaves broken by passing runs in a row"),
                Some(f) => (f.clean_runs_to_confirm_fix.to_string(), "clean runs in a row still needed to call it fixed"),
                None => (
                    t.sprt.expected_runs_to_decide.map_or("–".into(), |n| n.to_string()),
                    "runs the sequential test expects before it decides, at the current rate",
                ),
            };
            Row {
                href: link(&format!("{base}/tests/{}", t.id), &view, &[]),
                scope: format::cut(&t.scope, 200),
                name: format::cut(&t.name, 200),
                state: t.state.name(),
                class: state_class(Some(t.state)),
                rule: t.rule.unwrap_or("–"),
                since: t.since.map(format::utc).unwrap_or_default(),
                rate: rate(t),
                has_rate: t.rate.rate.effective_runs >= 1.0,
                p_above: format!("{:.2}", t.rate.p_above_threshold),
                runs: format!("{} / {}", t.evidence.flaky_runs, t.evidence.runs),
                needed,
                needed_title,
                lost: format::seconds(Some(t.impact.ci_seconds_lost)),
                runs_failed: t.impact.runs_failed,
                last_flaked: t.last_flaked_at.map(format::utc).unwrap_or_default(),
                sentence: state_sentence(t),
            }
        })
        .collect();
    let keep_state = params.text("state").unwrap_or_default();
    let page_link = |n: u32| link(&path, &view, &[("state", &keep_state), ("page", &n.to_string())]);
    let twin = format!(
        "/api/v1/suites/{}/flaky{}",
        encode(&suite.slug, false),
        format::query(&[
            ("branch", &view.branch),
            ("window", &format!("{window_days}d")),
            ("state", &keep_state),
            ("page", &page_no.to_string())
        ])
    );
    let frame = Frame::new(format!("Flaky · {}", suite.name))
        .in_suite(&suite.slug, &suite.name, &view, "flaky")
        .crumb("Flaky", link(&path, &view, &[]))
        .with_controls(&path, &view, &branches, &[("state", &keep_state)])
        .twin("flaky", twin)
        .cli(format!("verdict flaky --suite {} --branch {} --window {window_days}d", suite.slug, view.branch))
        .served(state.store.backend(), &timing);
    let sprt = &list.method.sprt;
    let html = FlakyHtml {
        frame,
        name: suite.name.clone(),
        chart,
        rows,
        total: list.total,
        window_days,
        threshold: pct(list.threshold),
        half_life: list.method.half_life_runs,
        p0: pct(sprt.p0),
        p1: pct(sprt.p1),
        pending: list.pending_uploads,
        prev: (list.page > 1).then(|| page_link(list.page - 1)),
        next: ((list.page as usize) * (list.per_page as usize) < list.total).then(|| page_link(list.page + 1)),
    };
    Ok(respond(&html, &timing))
}
