//! The runs list (`/s/{suite}/runs`): newest first, filtered by the run
//! labels and the view, 50 a page.

use super::View;
use super::suite::RunClass;
use crate::AnalysisError;
use serde::Serialize;
use verdict_core::RunResult;
use verdict_store::{Page, Run, RunFilter, Store, Suite};

pub const PER_PAGE: u32 = 50;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunsQuery {
    pub result: Option<RunResult>,
    pub job: Option<String>,
    pub payload: Option<String>,
    pub commit: Option<String>,
    pub page: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    #[serde(flatten)]
    pub run: Run,
    /// passed, flaky (failed only through flakes), failed or pending.
    pub class: RunClass,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunsPage {
    pub view: View,
    #[serde(flatten)]
    pub query: RunsQuery,
    pub per_page: u32,
    /// Whether a next page may have runs.
    pub has_next: bool,
    pub runs: Vec<RunRow>,
}

pub async fn runs_page(store: &dyn Store, suite: &Suite, view: View, query: RunsQuery) -> Result<RunsPage, AnalysisError> {
    let page = query.page.max(1);
    let filter = RunFilter {
        key: None,
        branch: view.branch_filter().map(str::to_owned),
        commit_sha: query.commit.clone(),
        job: query.job.clone(),
        payload: query.payload.clone(),
        result: query.result,
        since_ms: Some(view.since_ms),
        until_ms: Some(view.until_ms),
        page: Page::new(page, PER_PAGE),
    };
    let runs = store.runs(suite.id, &filter).await?;
    // A full page may be the last one; the next then says there are no more.
    let has_next = runs.len() as u32 == PER_PAGE;
    let runs: Vec<RunRow> = runs.into_iter().map(|run| RunRow { class: RunClass::of(&run), run }).collect();
    Ok(RunsPage { view, query: RunsQuery { page, ..query }, per_page: PER_PAGE, has_next, runs })
}
