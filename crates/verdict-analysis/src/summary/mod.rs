//! A run's summary for where developers look (a CI step summary, a
//! Buildkite annotation, a pull-request comment): the run against its base —
//! new failures with their cause and owners, still failing, fixed, flaky
//! with their rate, muted failures, the slowest regressions — and links.
//!
//! The base of a run on the default branch is the run before it there; of a
//! run on any other branch, the latest run on the default branch before it
//! (what the change is measured against).

use crate::AnalysisError;
use crate::owners::Owners;
use crate::pages::run::run_in_suite;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use verdict_core::flaky::posterior::Rate;
use verdict_store::dashboard::{RunOutcome, RunTestRow};
use verdict_store::{Store, Suite};

/// Tests listed per group at most (the counts are always whole).
pub const LISTED: usize = 200;
/// Flaky tests whose rate is looked up.
pub const RATES_READ: usize = 20;
/// A test is a slowdown when it took at least this much longer and this many times as long.
pub const SLOWER_BY_SECS: f64 = 0.5;
pub const SLOWER_RATIO: f64 = 1.5;
pub const SLOWEST_LISTED: usize = 10;

#[derive(Debug, Clone, Serialize)]
pub struct RunRef {
    pub id: i64,
    pub branch: Option<String>,
    pub commit: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cause {
    pub id: String,
    pub title: String,
    pub url: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SummaryTest {
    pub id: i64,
    pub scope: String,
    pub name: String,
    pub url: String,
    pub owners: Vec<String>,
    /// The failure's cluster (failed tests).
    pub cause: Option<Cause>,
    /// The flake rate on the default branch (flaky tests), once analysed.
    pub rate: Option<Rate>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Slower {
    #[serde(flatten)]
    pub test: SummaryTest,
    pub before_s: f64,
    pub now_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub count: usize,
    /// At most `LISTED`.
    pub tests: Vec<SummaryTest>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub suite: String,
    pub run: RunRef,
    pub base: Option<RunRef>,
    pub tests: usize,
    pub failed: usize,
    pub flaky_count: usize,
    pub new_failures: Group,
    pub still_failing: Group,
    pub fixed: Group,
    pub flaky: Group,
    /// Failed, but muted: they do not fail the build (`verdict run`).
    pub muted: Group,
    pub slower: Vec<Slower>,
}

impl RunSummary {
    /// Failed tests that are not muted: what fails the build.
    pub fn failing(&self) -> usize {
        self.failed.saturating_sub(self.muted.count)
    }
}

pub async fn run_summary(store: &dyn Store, suite: &Suite, run_id: i64, base_url: &str) -> Result<RunSummary, AnalysisError> {
    let base_url = base_url.trim_end_matches('/');
    let run = run_in_suite(store, suite, run_id).await?;
    let dash = store.dashboard();
    let on_default = run.run.run_env.branch.as_deref().is_none_or(|b| b == suite.default_branch);
    let base_branch = if on_default { run.run.run_env.branch.clone() } else { Some(suite.default_branch.clone()) };
    let base = dash.previous_run(&run.run, base_branch.as_deref()).await?;
    let (here, clusters, causes, quarantine, owners) = tokio::try_join!(
        async { Ok::<_, AnalysisError>(dash.run_tests(run_id).await?) },
        async { Ok(store.clusters().run_test_clusters(run_id).await?) },
        async { Ok(store.clusters().run_clusters(run_id).await?) },
        crate::quarantine::quarantine_list(store, suite),
        async { Ok(Owners::of_suite(store, suite.id).await?) },
    )?;
    let there = match &base {
        Some(b) => dash.run_tests(b.id).await?,
        None => Vec::new(),
    };
    let slug = &suite.slug;
    let run_ref = |r: &verdict_store::Run| RunRef {
        id: r.id,
        branch: r.run_env.branch.clone(),
        commit: r.run_env.commit_sha.clone(),
        url: format!("{base_url}/s/{slug}/runs/{}", r.id),
    };
    let titles: HashMap<&str, &str> = causes.iter().map(|(id, title, _)| (id.as_str(), title.as_str())).collect();
    let cause_of: HashMap<i64, Cause> = clusters
        .iter()
        .map(|(test, id)| {
            let title = titles.get(id.as_str()).copied().unwrap_or(id).to_owned();
            (*test, Cause { id: id.clone(), title, url: format!("{base_url}/s/{slug}/failures/{id}") })
        })
        .collect();
    let muted: HashSet<i64> = quarantine.muted.iter().map(|t| t.id).collect();
    let entry = |t: &RunTestRow| SummaryTest {
        id: t.test.id,
        scope: t.test.scope.clone(),
        name: t.test.name.clone(),
        url: format!("{base_url}/s/{slug}/tests/{}", t.test.id),
        owners: owners.of(t.test.file_name.as_deref(), t.test.location.as_deref()),
        cause: (t.outcome == RunOutcome::Failed).then(|| cause_of.get(&t.test.id).cloned()).flatten(),
        rate: None,
    };
    let there_by: HashMap<i64, &RunTestRow> = there.iter().map(|t| (t.test.id, t)).collect();
    let group = |keep: &dyn Fn(&RunTestRow) -> bool| {
        let members: Vec<&RunTestRow> = here.iter().filter(|t| keep(t)).collect();
        Group { count: members.len(), tests: members.iter().take(LISTED).map(|t| entry(t)).collect() }
    };
    let before = |t: &RunTestRow| there_by.get(&t.test.id).map(|b| b.outcome);
    let failed = |t: &RunTestRow| t.outcome == RunOutcome::Failed && !muted.contains(&t.test.id);
    let new_failures = group(&|t| failed(t) && before(t) != Some(RunOutcome::Failed));
    let still_failing = group(&|t| failed(t) && before(t) == Some(RunOutcome::Failed));
    let fixed = group(&|t| t.outcome == RunOutcome::Passed && before(t) == Some(RunOutcome::Failed));
    let mut flaky = group(&|t| t.outcome == RunOutcome::Flaky);
    let muted_group = group(&|t| t.outcome == RunOutcome::Failed && muted.contains(&t.test.id));
    for t in flaky.tests.iter_mut().take(RATES_READ) {
        let state = crate::flaky::test_state(store, suite, t.id, Some(&suite.default_branch)).await?;
        t.rate = state.tracks.first().map(|track| track.rate.rate);
    }
    let mut slower: Vec<Slower> = here
        .iter()
        .filter_map(|t| {
            let (now, then) = (t.duration?, there_by.get(&t.test.id)?.duration?);
            (now - then >= SLOWER_BY_SECS && now >= then * SLOWER_RATIO).then(|| Slower { test: entry(t), before_s: then, now_s: now })
        })
        .collect();
    slower.sort_by(|a, b| (b.now_s - b.before_s).total_cmp(&(a.now_s - a.before_s)).then(a.test.id.cmp(&b.test.id)));
    slower.truncate(SLOWEST_LISTED);
    Ok(RunSummary {
        suite: suite.slug.clone(),
        run: run_ref(&run.run),
        base: base.as_ref().map(run_ref),
        tests: here.len(),
        failed: here.iter().filter(|t| t.outcome == RunOutcome::Failed).count(),
        flaky_count: flaky.count,
        new_failures,
        still_failing,
        fixed,
        flaky,
        muted: muted_group,
        slower,
    })
}

mod markdown;
pub use markdown::{Format, MAX_BYTES, render};
