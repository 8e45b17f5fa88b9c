//! `/s/{suite}/tests/{test}`: one test's reliability, history and speed.

use super::format::{self, count_delta, encode, rate, rate_delta};
use super::frame::{When, letter};
use super::{Frame, PageError, link, respond, svg};
use crate::AppState;
use axum::extract::State;
use axum::response::Response;
use verdict_analysis::pages::View;
use verdict_analysis::pages::test::{STRIPS, StripRow, TestPage, test_page};
use verdict_core::Outcome;
use verdict_store::dashboard::RunOutcome;

pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub delta: String,
    pub json: &'static str,
    pub thin: bool,
}

pub struct Strip {
    pub branch: String,
    pub svg: String,
}

pub struct Reason {
    pub pattern: String,
    pub count: usize,
    pub share: String,
    pub first: String,
    pub last: String,
    pub branches: String,
    pub examples: Vec<(String, String)>,
    pub messages: Vec<String>,
}

pub struct BranchRow {
    pub branch: String,
    pub href: String,
    pub executions: i64,
    pub reliability: String,
    pub flaky: i64,
    pub mean: String,
    pub last: String,
}

pub struct ExecRow {
    pub when: When,
    pub run: String,
    pub run_href: String,
    pub branch: String,
    pub commit: String,
    pub ci: Option<String>,
    pub attempt: i64,
    pub class: &'static str,
    pub letter: &'static str,
    pub duration: String,
    pub reason: String,
}

#[derive(askama::Template)]
#[template(path = "test.html")]
struct TestHtml {
    frame: Frame,
    scope: String,
    /// The name as a heading shows it (cut), and the whole when it was cut.
    name: String,
    whole_name: Option<String>,
    location: Option<(String, Option<String>)>,
    first_seen: String,
    last_seen: String,
    cards: Vec<Card>,
    runs: (i64, i64, i64),
    /// "Owners: payments (primary), billing", when the suite's owners file names any.
    owners: Option<String>,
    state_line: String,
    /// The kept state on the view's branch, in words.
    tracked_line: Option<String>,
    /// Whether its failures count (muted, skipped), in words; none for a test nobody controlled.
    control_line: Option<(String, &'static str)>,
    control_rows: Vec<ControlRow>,
    flaky_href: String,
    clean: i64,
    fixed: Vec<(String, u64)>,
    strips: Vec<Strip>,
    strip_links: Vec<super::Link>,
    outcomes: String,
    durations: String,
    resources: Vec<(&'static str, String)>,
    reasons: Vec<Reason>,
    branches: Vec<BranchRow>,
    executions: Vec<ExecRow>,
    /// The executions table's outcome filters.
    exec_filters: Vec<super::Link>,
    prev: Option<String>,
    next: Option<String>,
}

struct ControlRow {
    at: String,
    change: String,
    by: String,
    why: String,
}

fn owners_line(owners: &[String]) -> Option<String> {
    let (primary, rest) = owners.split_first()?;
    let mut line = format!("Owners: {primary} (primary)");
    for o in rest {
        line.push_str(", ");
        line.push_str(o);
    }
    Some(line)
}

fn ms_utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(format::utc).unwrap_or_default()
}

/// "Muted since 2026-12-01 10:00 UTC by cli:alice: flaky in CI; until …; pinned never", with its badge class.
fn control_line(c: &verdict_core::quarantine::Control) -> Option<(String, &'static str)> {
    use verdict_core::quarantine::{ControlState, SetBy};
    if c.at_ms == 0 && c.pin.is_none() {
        return None;
    }
    let (what, class) = match c.state {
        ControlState::Muted => ("Muted: it runs, but its failures do not fail the build (verdict run)", "o-flaky"),
        ControlState::Skipped => ("Skipped: not run where the runner can skip it", "o-skip"),
        ControlState::Enabled => ("Enabled: its failures count", "o-pass"),
    };
    let mut line = what.to_owned();
    if c.at_ms > 0 {
        let how = if c.set_by == SetBy::Auto { " (auto-quarantine)" } else { "" };
        line.push_str(&format!(" since {} by {}{how}", ms_utc(c.at_ms), c.actor));
    }
    if let Some(r) = &c.reason {
        line.push_str(&format!(": {}", format::cut(r, 300)));
    }
    if let Some(at) = c.expires_at {
        line.push_str(&format!("; until {}", ms_utc(at)));
    }
    if let Some(p) = c.pin {
        line.push_str(&format!("; pinned {}", p.name()));
    }
    line.push('.');
    Some((line, class))
}

fn class_of(o: Option<RunOutcome>) -> &'static str {
    match o {
        Some(RunOutcome::Passed) => "o-pass",
        Some(RunOutcome::Failed) => "o-fail",
        Some(RunOutcome::Flaky) => "o-flaky",
        Some(RunOutcome::Skipped) => "o-skip",
        None => "o-absent",
    }
}

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Passed => "o-pass",
        Outcome::Failed => "o-fail",
        _ => "o-skip",
    }
}

fn strip_svg(row: &StripRow, base: &str, view: &View, test_id: i64) -> String {
    let longest = row.cells.iter().filter_map(|c| c.duration).fold(0.0f64, f64::max);
    let cells: Vec<svg::Cell> = row
        .cells
        .iter()
        .map(|c| {
            let outcome = c.outcome.map_or("did not run", RunOutcome::as_str);
            let number = c.number.clone().unwrap_or_else(|| c.run_id.to_string());
            // Past 100 cells, short titles keep the page within its budget (the run page has the rest).
            let title = if row.cells.len() > 100 {
                format!("#{number} · {} · {outcome}", format::seconds(c.duration))
            } else {
                let mut t = format!(
                    "#{number} · {} · {} · {} · {outcome}",
                    c.commit_sha.as_deref().map(format::short_sha).unwrap_or_default(),
                    format::utc(c.created_at),
                    format::seconds(c.duration)
                );
                if let Some(r) = &c.reason {
                    t.push_str(": ");
                    t.push_str(&format::first_line(r, 120));
                }
                t
            };
            svg::Cell {
                class: class_of(c.outcome),
                height: if longest > 0.0 { c.duration.unwrap_or(0.0) / longest } else { 0.5 },
                title,
                href: super::run_at_test(base, view, c.run_id, test_id),
            }
        })
        .collect();
    let failed = row.cells.iter().filter(|c| c.outcome == Some(RunOutcome::Failed)).count();
    let flaky = row.cells.iter().filter(|c| c.outcome == Some(RunOutcome::Flaky)).count();
    svg::strip(&cells, &format!("{} runs on {}: {failed} failed, {flaky} flaky", row.cells.len(), row.branch))
}

fn charts(p: &TestPage, base: &str) -> (String, String, Vec<(&'static str, String)>) {
    let narrow = |start, end| {
        link(
            &format!("{base}/tests/{}", p.test.id),
            &p.view,
            &[("window", ""), ("runs", ""), ("from", &format::iso(start)), ("to", &format::iso(end))],
        )
    };
    let stacks: Vec<svg::Stack> = p
        .outcomes
        .iter()
        .map(|b| svg::Stack {
            passed: b.passed,
            flaky: b.flaky,
            failed: b.failed,
            other: b.skipped,
            rate: b.reliability,
            title: format!(
                "{} – {}: {} passed, {} flaky, {} failed, {} skipped runs; reliability {}",
                format::utc(b.start),
                format::utc(b.end),
                b.passed,
                b.flaky,
                b.failed,
                b.skipped,
                rate(&b.reliability)
            ),
            href: Some(narrow(b.start, b.end)),
        })
        .collect();
    let outcomes = svg::stacked_bars(&stacks, "runs", &format!("{} runs: outcome per bucket, reliability line with its 95% band", p.runs));
    let span = (p.view.until_ms - p.view.since_ms).max(1) as f64;
    let mut sets: Vec<svg::Points> = ["o-pass", "o-fail", "o-skip"].iter().map(|c| svg::Points { class: c, xy: Vec::new() }).collect();
    for pt in &p.durations.points {
        let i = match outcome_class(pt.outcome) {
            "o-pass" => 0,
            "o-fail" => 1,
            _ => 2,
        };
        sets[i].xy.push(((pt.at.timestamp_millis() - p.view.since_ms) as f64 / span, pt.seconds));
    }
    let columns: Vec<svg::Column> = p
        .durations
        .buckets
        .iter()
        .map(|b| svg::Column {
            title: format!(
                "{} – {}: {} timed executions, p50 {}, p95 {}, {} failed",
                format::utc(b.start),
                format::utc(b.end),
                b.executions,
                format::seconds(b.p50),
                format::seconds(b.p95),
                b.failures
            ),
            href: Some(narrow(b.start, b.end)),
            marked: b.failures > 0,
        })
        .collect();
    let lines = [
        svg::Line { class: "p50", values: p.durations.buckets.iter().map(|b| b.p50).collect() },
        svg::Line { class: "p95", values: p.durations.buckets.iter().map(|b| b.p95).collect() },
    ];
    let durations = svg::points_chart(
        &sets,
        &lines,
        &columns,
        svg::HEIGHT,
        "s",
        &format!("{} timed executions (drawn: {}), p50 and p95 per bucket", p.durations.executions, p.durations.points.len()),
    );
    let mut resources = Vec::new();
    if !p.resources.is_empty() {
        let n = (p.resources.len().max(2) - 1) as f64;
        // Samples come newest first; draw oldest on the left.
        let series = |f: &dyn Fn(&verdict_analysis::pages::test::ResourcePoint) -> f64| -> Vec<(f64, f64)> {
            p.resources.iter().rev().enumerate().map(|(i, r)| (i as f64 / n, f(r))).collect()
        };
        for (label, unit, xy) in [
            ("Memory", "MB", series(&|r| r.memory_mb)),
            ("CPU", "%", series(&|r| r.cpu_percent)),
            ("User + kernel time", "s", series(&|r| r.cpu_seconds)),
        ] {
            let desc = format!("{label} of {} pytest-monitor samples, oldest on the left", p.resources.len());
            resources.push((label, svg::points_chart(&[svg::Points { class: "o-pass", xy }], &[], &[], 120, unit, &desc)));
        }
    }
    (outcomes, durations, resources)
}

pub async fn page(State(state): State<AppState>, page: super::SuitePage) -> Result<Response, PageError> {
    let test_id = page.id("test")?;
    let super::SuitePage { suite, view, query: params, id: _, mut timing } = page;
    let query = crate::twins::test_query(&params)?;
    let store = state.store.as_ref();
    let branches = store.dashboard().branches(&view.run_range(suite.id)).await?;
    let p = test_page(store, suite, test_id, view, query).await?;
    timing.queried();
    let now = chrono::Utc::now();
    let base = format!("/s/{}", encode(&p.suite.slug, false));
    let path = format!("{base}/tests/{test_id}");
    let k = &p.kpis;
    let cards = vec![
        Card {
            label: "Reliability",
            value: rate(&k.reliability),
            delta: rate_delta(&k.reliability, &k.reliability_before),
            json: "kpis.reliability.rate",
            thin: format::is_thin(&k.reliability),
        },
        Card {
            label: "Flake rate",
            value: rate(&k.flake_rate),
            delta: rate_delta(&k.flake_rate, &k.flake_rate_before),
            json: "kpis.flake_rate.rate",
            thin: format::is_thin(&k.flake_rate),
        },
        Card {
            label: "Executions",
            value: k.executions.to_string(),
            delta: count_delta(k.executions, k.executions_before),
            json: "kpis.executions",
            thin: false,
        },
        Card {
            label: "p50",
            value: format::seconds(k.p50),
            delta: format!("was {}", format::seconds(k.p50_before)),
            json: "",
            thin: false,
        },
        Card {
            label: "p95",
            value: format::seconds(k.p95),
            delta: format!("was {}", format::seconds(k.p95_before)),
            json: "",
            thin: false,
        },
    ];
    let strips = p
        .strips
        .iter()
        .map(|s| Strip {
            branch: if s.branch == "*" { "all branches".into() } else { s.branch.clone() },
            svg: strip_svg(s, &base, &p.view, test_id),
        })
        .collect();
    let strip_links = STRIPS
        .iter()
        .map(|n| super::Link {
            label: format!("{n} runs"),
            href: link(&path, &p.view, &[("strip", &n.to_string())]),
            on: *n == p.strip_runs,
        })
        .collect();
    let (outcomes, durations, resources) = charts(&p, &base);
    let reasons = p
        .reasons
        .iter()
        .map(|r| Reason {
            pattern: r.pattern.clone(),
            count: r.count,
            share: format!("{:.0}%", 100.0 * r.share),
            first: format::utc(r.first_seen),
            last: format::utc(r.last_seen),
            branches: r.branches.join(", "),
            examples: r.example_runs.iter().map(|&id| (format!("run {id}"), super::run_at_test(&base, &p.view, id, test_id))).collect(),
            messages: r.messages.iter().map(|m| format::cut(m, 4000)).collect(),
        })
        .collect();
    let branch_rows = p
        .branches
        .iter()
        .map(|b| BranchRow {
            href: link(&path, &p.view, &[("branch", if b.branch.is_empty() { "*" } else { &b.branch })]),
            branch: if b.branch.is_empty() { "(no branch)".into() } else { b.branch.clone() },
            executions: b.executions,
            reliability: rate(&b.reliability),
            flaky: b.flaky,
            mean: format::seconds(b.mean_seconds),
            last: b.last_day.format("%Y-%m-%d").to_string(),
        })
        .collect();
    let executions = p
        .executions
        .iter()
        .map(|e| {
            let class = e.result.as_str();
            ExecRow {
                when: When::new(e.created_at, now),
                run: e.number.clone().unwrap_or_else(|| e.run_id.to_string()),
                run_href: super::run_at_test(&base, &p.view, e.run_id, test_id),
                branch: e.branch.clone().unwrap_or_default(),
                commit: e.commit_sha.as_deref().map(format::short_sha).unwrap_or_default(),
                ci: format::external(e.url.as_deref()),
                attempt: e.attempt,
                class,
                letter: letter(class),
                duration: format::seconds(e.duration),
                reason: e.failure_reason.as_deref().map(|r| format::first_line(r, 200)).unwrap_or_default(),
            }
        })
        .collect();
    let result = p.executions_result.map(|o| o.as_str()).unwrap_or("");
    let strip_s = p.strip_runs.to_string();
    let page_link = |n: u32| link(&path, &p.view, &[("page", &n.to_string()), ("strip", &strip_s), ("result", result)]);
    let exec_filters = [("all", ""), ("failed", "failed"), ("passed", "passed"), ("skipped", "skipped")]
        .iter()
        .map(|(label, r)| super::Link {
            label: (*label).into(),
            href: link(&path, &p.view, &[("strip", &strip_s), ("result", r)]),
            on: *r == result,
        })
        .collect();
    let t = &p.test;
    // The newest run's commit, for a link that shows the code as it ran last.
    let commit = p.strips.last().and_then(|s| s.cells.last()).and_then(|c| c.commit_sha.clone());
    let location = format::code_place(t.file_name.as_deref(), t.location.as_deref(), p.suite.file_url.as_deref(), commit.as_deref());
    let short = format::cut(&t.name, 60);
    let frame = Frame::new(format!("{} · {}", short, p.suite.name))
        .in_suite(&p.suite.slug, &p.suite.name, &p.view, "tests")
        .crumb("Tests", link(&format!("{base}/tests"), &p.view, &[]))
        .crumb(format!("{} › {short}", format::cut(&t.scope, 40)), link(&path, &p.view, &[]))
        .with_controls(&path, &p.view, &branches, &[("strip", &p.strip_runs.to_string())])
        .twin("summary", link(&format!("/api/v1/tests/{test_id}/summary"), &p.view, &[("strip", &p.strip_runs.to_string())]))
        .twin("history", format!("/api/v1/tests/{test_id}/history"))
        .twin("resources", format!("/api/v1/tests/{test_id}/resources"))
        .served(state.store.backend(), &timing);
    let html = TestHtml {
        frame,
        scope: format::cut(&t.scope, 300),
        name: format::cut(&t.name, 200),
        whole_name: (t.name.chars().count() > 200 || t.scope.chars().count() > 300).then(|| format!("{} › {}", t.scope, t.name)),
        location,
        first_seen: format::utc(t.first_seen),
        last_seen: format::utc(t.last_seen),
        cards,
        runs: (p.runs, p.failed_runs, p.flaky_runs),
        owners: owners_line(&p.owners),
        state_line: p.state_line.clone(),
        tracked_line: p.tracked.as_ref().map(super::flaky::state_sentence),
        control_line: control_line(&p.control),
        control_rows: p
            .control_history
            .iter()
            .map(|e| ControlRow {
                at: ms_utc(e.at_ms),
                change: format!("{} → {}", e.from, e.to),
                by: if e.set_by == "auto" { format!("{} ({})", e.actor, e.rule) } else { e.actor.clone() },
                why: format::cut(e.reason.as_deref().unwrap_or(""), 300),
            })
            .collect(),
        flaky_href: link(&format!("{base}/flaky"), &p.view, &[]),
        clean: p.clean_runs,
        fixed: p.fixed_after.iter().map(|f| (format!("{:.0}%", f.target * 100.0), f.clean_runs_needed)).collect(),
        strips,
        strip_links,
        outcomes,
        durations,
        resources,
        reasons,
        branches: branch_rows,
        executions,
        exec_filters,
        prev: (p.executions_page > 1).then(|| page_link(p.executions_page - 1)),
        next: (p.executions.len() as u32 == verdict_analysis::pages::test::EXECUTIONS_PER_PAGE).then(|| page_link(p.executions_page + 1)),
    };
    Ok(respond(&html, &timing))
}
