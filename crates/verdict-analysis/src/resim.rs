//! ReSim's test-suite report API over Verdict's data (the ReSim spec, §3):
//! what each of its GETs answers, as Verdict rows with their derived UUIDs
//! and statuses. The `resim` HTTP adapter turns these into ReSim's JSON; the
//! CLI creates and shows reports with the same functions.
//!
//! The model (README, "ReSim reports"): the server is one project; a suite a
//! test suite (and its system); (suite, branch) a branch; a run a batch; a
//! commit a build, named by the first run that carried it; a test an
//! experience; a test's result in a run a job.

mod program;

pub use program::{ReportMetricRow, program_metrics, report_metric_rows, store_program_metrics};

use crate::AnalysisError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;
use verdict_core::resim::status::conflated_batch;
use verdict_core::resim::{BatchSearch, ConflatedJob, Kind, MetricStatus, ResimIds};
use verdict_store::reports::{NewReport, RunJob, StoredReport};
use verdict_store::{Page, Run, RunFilter, Store, Suite};

/// Items per page of every list: the client never sends `pageSize`, so this
/// is what it gets. Documented in the README.
pub const PAGE_SIZE: u32 = 100;
/// Longest report name and branch name accepted.
pub const MAX_NAME_CHARS: usize = 200;
/// Verdict suites have no revisions: every batch and report is revision 0.
pub const REVISION: i64 = 0;

/// The server's project and the UUIDs of its rows.
#[derive(Debug, Clone, Copy)]
pub struct Project {
    pub ids: ResimIds,
}

impl Project {
    pub async fn of(store: &dyn Store) -> Result<Project, AnalysisError> {
        Ok(Project { ids: ResimIds::new(store.reports().project_id().await?) })
    }

    pub fn id(&self) -> Uuid {
        self.ids.project()
    }

    /// The project a request names must be this one.
    pub fn check(&self, project: &str) -> Result<(), AnalysisError> {
        match Uuid::parse_str(project) {
            Ok(p) if p == self.id() => Ok(()),
            Ok(_) => Err(AnalysisError::NotFound(format!("no project {project}: this server is project {}", self.id()))),
            Err(_) => Err(AnalysisError::Invalid(format!("project id {project:?} is not a UUID"))),
        }
    }

    fn decode(&self, kind: Kind, what: &str, id: &str) -> Result<i64, AnalysisError> {
        let uuid = parse_uuid(what, id)?;
        self.ids.id_of(kind, uuid).ok_or_else(|| AnalysisError::NotFound(format!("no {what} {id}")))
    }
}

fn parse_uuid(what: &str, id: &str) -> Result<Uuid, AnalysisError> {
    Uuid::parse_str(id).map_err(|_| AnalysisError::Invalid(format!("{what} id {id:?} is not a UUID")))
}

/// A page of a list and the token of the next one (`None`: the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Page tokens are opaque to the client: base64 of `kind:position`.
fn token(kind: &str, position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{position}"))
}

fn position(kind: &str, token: Option<&str>) -> Result<i64, AnalysisError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(0) };
    let bad = || AnalysisError::Invalid(format!("pageToken {token:?} is not a token this list gave"));
    let text = URL_SAFE_NO_PAD.decode(token).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(bad)?;
    let (k, n) = text.split_once(':').ok_or_else(bad)?;
    n.parse::<i64>().ok().filter(|n| k == kind && *n >= 0).ok_or_else(bad)
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportView {
    pub id: Uuid,
    pub suite: Uuid,
    pub suite_id: i64,
    pub branch: Uuid,
    pub branch_name: String,
    pub name: String,
    /// The window, both bounds exclusive (ms).
    pub start_ms: i64,
    pub end_ms: i64,
    pub respect_revision: bool,
    pub created_ms: i64,
    pub metrics_status: Option<String>,
    pub metrics_at_ms: Option<i64>,
}

impl ReportView {
    fn of(p: &Project, stored: StoredReport) -> ReportView {
        let r = stored.report;
        ReportView {
            id: p.ids.of(Kind::Report, stored.id),
            suite: p.ids.of(Kind::Suite, r.suite_id),
            suite_id: r.suite_id,
            branch: p.ids.branch(r.suite_id, &r.branch),
            branch_name: r.branch,
            name: r.name,
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            respect_revision: r.respect_revision,
            created_ms: r.created_at_ms,
            metrics_status: stored.metrics_status,
            metrics_at_ms: stored.metrics_at_ms,
        }
    }
}

/// What a new report covers.
#[derive(Debug, Clone)]
pub struct ReportAsk {
    pub branch: String,
    pub name: Option<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub respect_revision: bool,
}

pub async fn create_report(store: &dyn Store, suite: &Suite, ask: ReportAsk, now_ms: i64) -> Result<ReportView, AnalysisError> {
    let p = Project::of(store).await?;
    if ask.branch.is_empty() || ask.branch.chars().count() > MAX_NAME_CHARS {
        return Err(AnalysisError::Invalid(format!("branch: 1 to {MAX_NAME_CHARS} characters")));
    }
    if ask.end_ms <= ask.start_ms {
        return Err(AnalysisError::Invalid("the report must end after it starts".into()));
    }
    let name = ask.name.unwrap_or_else(|| format!("{} on {}", suite.slug, ask.branch));
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AnalysisError::Invalid(format!("name: 1 to {MAX_NAME_CHARS} characters")));
    }
    let new = NewReport {
        suite_id: suite.id,
        branch: ask.branch,
        name,
        start_ms: ask.start_ms,
        end_ms: ask.end_ms,
        respect_revision: ask.respect_revision,
        created_at_ms: now_ms,
    };
    let stored = store.reports().create_report(new).await.map_err(|e| match e {
        verdict_store::StoreError::Conflict(m) => AnalysisError::Invalid(m),
        e => e.into(),
    })?;
    Ok(ReportView::of(&p, stored))
}

/// The suite behind a test-suite UUID.
pub async fn suite_of(store: &dyn Store, p: &Project, test_suite: &str) -> Result<Suite, AnalysisError> {
    let id = p.decode(Kind::Suite, "test suite", test_suite)?;
    suite_by_id(store, id).await?.ok_or_else(|| AnalysisError::NotFound(format!("no test suite {test_suite}")))
}

async fn suite_by_id(store: &dyn Store, id: i64) -> Result<Option<Suite>, AnalysisError> {
    Ok(store.suites().await?.into_iter().find(|s| s.id == id))
}

/// The branch name behind a branch UUID of `suite` (one a run named).
pub async fn branch_of(store: &dyn Store, p: &Project, suite_id: i64, branch: Uuid) -> Result<Option<String>, AnalysisError> {
    let names = store.reports().suite_branches(suite_id).await?;
    Ok(names.into_iter().find(|n| p.ids.branch(suite_id, n) == branch))
}

/// A report by its UUID (as ReSim and the CLI name it).
pub async fn report(store: &dyn Store, p: &Project, id: &str) -> Result<ReportView, AnalysisError> {
    let rid = p.decode(Kind::Report, "report", id)?;
    let stored = store.reports().report(rid).await?.ok_or_else(|| AnalysisError::NotFound(format!("no report {id}")))?;
    Ok(ReportView::of(p, stored))
}

/// Reports a suite's page lists.
pub const LISTED_REPORTS: i64 = 50;

/// A suite's latest stored reports, newest first (the report page's list).
pub async fn suite_reports(store: &dyn Store, p: &Project, suite_id: i64) -> Result<Vec<ReportView>, AnalysisError> {
    Ok(store.reports().latest_reports(suite_id, LISTED_REPORTS).await?.into_iter().map(|r| ReportView::of(p, r)).collect())
}

pub async fn reports(store: &dyn Store, p: &Project, page_token: Option<&str>) -> Result<Paged<ReportView>, AnalysisError> {
    let after = position("r", page_token)?;
    let limit = i64::from(PAGE_SIZE);
    let rows = store.reports().reports(None, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    let items: Vec<ReportView> = rows.into_iter().take(PAGE_SIZE as usize).map(|r| ReportView::of(p, r)).collect();
    let next = more.then(|| token("r", items.last().map_or(0, |r| p.ids.id_of(Kind::Report, r.id).unwrap_or(0))));
    Ok(Paged { items, next })
}

#[derive(Debug, Clone, PartialEq)]
pub struct BatchView {
    pub id: Uuid,
    pub suite: Uuid,
    pub branch: Uuid,
    pub build: Uuid,
    pub run: Run,
    /// The worst of the jobs' metric statuses (a failed test blocks, a flaked one warns).
    pub jobs_metrics: MetricStatus,
    /// The worst of the batch metrics' statuses.
    pub batch_metrics: MetricStatus,
    /// ReSim's `ConflatedBatchStatus`.
    pub conflated: &'static str,
}

impl BatchView {
    /// ReSim's `BatchStatus`: every stored run has finished; an infrastructure failure is an ERROR.
    pub fn status(&self) -> &'static str {
        if self.run.infra { "ERROR" } else { "SUCCEEDED" }
    }
}

/// The worst job metric status of a run: FAIL_BLOCK when a test failed, FAIL_WARN when one only flaked.
pub fn jobs_metrics_of(run: &Run) -> MetricStatus {
    if run.tests.failed > 0 {
        MetricStatus::FailBlock
    } else if run.tests.flaky > 0 {
        MetricStatus::FailWarn
    } else {
        MetricStatus::Passed
    }
}

/// The build of each run: the first run of its commit, or itself.
async fn builds_of(store: &dyn Store, p: &Project, suite_id: i64, runs: &[Run]) -> Result<Vec<Uuid>, AnalysisError> {
    let mut commits: Vec<String> = runs.iter().filter_map(|r| r.run_env.commit_sha.clone()).collect();
    commits.sort();
    commits.dedup();
    let firsts = store.reports().first_runs(suite_id, &commits).await?;
    Ok(runs
        .iter()
        .map(|r| {
            let first = r.run_env.commit_sha.as_ref().and_then(|sha| firsts.iter().find(|f| &f.commit_sha == sha)).map(|f| f.run_id);
            p.ids.of(Kind::Build, first.unwrap_or(r.id))
        })
        .collect())
}

fn batch_view(p: &Project, run: Run, build: Uuid, batch_metrics: MetricStatus) -> BatchView {
    let jobs_metrics = jobs_metrics_of(&run);
    BatchView {
        id: p.ids.of(Kind::Batch, run.id),
        suite: p.ids.of(Kind::Suite, run.suite_id),
        branch: p.ids.branch(run.suite_id, run.run_env.branch.as_deref().unwrap_or("")),
        build,
        conflated: conflated_batch(run.infra, batch_metrics, jobs_metrics),
        jobs_metrics,
        batch_metrics,
        run,
    }
}

/// The search ReSim's `fetch_batches_for_report` sends for `r` (§3.3), so
/// Verdict's own views of a report list the batches the client gets.
pub fn report_search(r: &ReportView) -> String {
    let t = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
    let mut s = format!(
        "test_suite_id = \"{}\" AND branch_id = \"{}\" AND created_at > \"{}\" AND created_at < \"{}\"",
        r.suite,
        r.branch,
        t(r.start_ms),
        t(r.end_ms)
    );
    if r.respect_revision {
        s.push_str(&format!(" AND test_suite_revision = {REVISION}"));
    }
    s
}

/// `GET /projects/{p}/batches?search=`: the runs of the searched suite (and
/// branch, and window), newest first; the search must name the suite.
pub async fn batches(store: &dyn Store, p: &Project, search: &str, page_token: Option<&str>) -> Result<Paged<BatchView>, AnalysisError> {
    let s = BatchSearch::parse(search).map_err(|e| AnalysisError::Invalid(e.to_string()))?;
    let (page, pinned) = batch_position(page_token)?;
    let Some(test_suite) = s.test_suite else {
        return Err(AnalysisError::Invalid("search: name the test suite (test_suite_id = \"…\"): Verdict lists batches per suite".into()));
    };
    let empty = Paged { items: vec![], next: None };
    let Some(suite_id) = p.ids.id_of(Kind::Suite, test_suite) else { return Ok(empty) };
    if s.revision_min.is_some_and(|m| m > REVISION) || s.revision_max.is_some_and(|m| m < REVISION) {
        return Ok(empty);
    }
    let branch = match s.branch {
        None => None,
        Some(b) => match branch_of(store, p, suite_id, b).await? {
            Some(name) => Some(name),
            None => return Ok(empty),
        },
    };
    // Exclusive microsecond bounds to the store's inclusive-since, exclusive-until milliseconds.
    let since_ms = s.created_after_us.map(|us| us.div_euclid(1000) + 1);
    let mut until_ms = s.created_before_us.map(|us| (us + 999).div_euclid(1000));
    // Later pages keep the first page's "until now": runs that arrive while
    // the client pages do not shift the rows under it.
    let pin = pinned.unwrap_or_else(|| chrono::Utc::now().timestamp_millis() + 1);
    until_ms = Some(until_ms.map_or(pin, |u| u.min(pin)));
    let number = u32::try_from(page + 1).map_err(|_| AnalysisError::Invalid("pageToken: out of range".into()))?;
    let filter = RunFilter { branch, since_ms, until_ms, page: Page::new(number, PAGE_SIZE), ..Default::default() };
    let runs = store.runs(suite_id, &filter).await?;
    // A full page may be the last: the next one is then empty, as ReSim's paging allows.
    let more = runs.len() == PAGE_SIZE as usize;
    let builds = builds_of(store, p, suite_id, &runs).await?;
    let th = thresholds(store, suite_id).await?;
    // Named run metrics only when a threshold names one.
    let mut named: std::collections::HashMap<i64, Vec<(String, f64)>> = std::collections::HashMap::new();
    if th.keys().any(|k| !BUILTIN_BATCH_METRICS.contains(&k.as_str())) && !runs.is_empty() {
        let oldest = runs.iter().map(|r| r.created_at.timestamp_millis()).min().unwrap_or(0);
        let newest = runs.iter().map(|r| r.created_at.timestamp_millis()).max().unwrap_or(0);
        let selection =
            verdict_store::RunSelection { branch: filter.branch.clone(), since_ms: oldest, until_ms: newest + 1, ..Default::default() };
        let ids: std::collections::HashSet<i64> = runs.iter().map(|r| r.id).collect();
        for m in store.run_metrics(suite_id, &selection).await?.into_iter().filter(|m| ids.contains(&m.run_id)) {
            named.entry(m.run_id).or_default().push((m.name, m.value));
        }
    }
    let items = runs
        .into_iter()
        .zip(builds)
        .map(|(run, build)| {
            let (_, status) = run_batch_metrics(&run, named.get(&run.id).map_or(&[][..], Vec::as_slice), &th);
            batch_view(p, run, build, status)
        })
        .collect();
    let next = (page + 1).checked_mul(BATCH_PIN_SCALE).and_then(|p| p.checked_add(pin)).filter(|_| more);
    Ok(Paged { items, next: next.map(|n| token("b", n)) })
}

/// A batch token packs the page and the pinned "until" (ms) in one number.
const BATCH_PIN_SCALE: i64 = 1 << 42;

fn batch_position(page_token: Option<&str>) -> Result<(i64, Option<i64>), AnalysisError> {
    if page_token.is_none_or(str::is_empty) {
        return Ok((0, None));
    }
    let packed = position("b", page_token)?;
    Ok((packed / BATCH_PIN_SCALE, Some(packed % BATCH_PIN_SCALE)))
}

/// One batch (run) by UUID, with its build.
pub async fn batch(store: &dyn Store, p: &Project, id: &str) -> Result<BatchView, AnalysisError> {
    Ok(batch_metrics(store, p, id).await?.0)
}

#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    pub id: Uuid,
    pub experience: Uuid,
    /// The test's scope and name.
    pub experience_name: String,
    pub conflated: ConflatedJob,
}

pub fn experience_name(scope: &str, name: &str) -> String {
    if scope.is_empty() { name.to_owned() } else { format!("{scope} {name}") }
}

fn job_view(p: &Project, run_id: i64, j: &RunJob) -> JobView {
    JobView {
        id: p.ids.job(run_id, j.test_id),
        experience: p.ids.of(Kind::Experience, j.test_id),
        experience_name: experience_name(&j.scope, &j.name),
        conflated: ConflatedJob::of_run_test(j.status),
    }
}

/// `GET /projects/{p}/batches/{b}/jobs`: the run's tests in test order.
pub async fn jobs(
    store: &dyn Store,
    p: &Project,
    batch_id: &str,
    page_token: Option<&str>,
) -> Result<(BatchView, Paged<JobView>), AnalysisError> {
    let b = batch(store, p, batch_id).await?;
    let after = position("j", page_token)?;
    let limit = i64::from(PAGE_SIZE);
    let mut rows = store.reports().run_jobs(b.run.id, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(PAGE_SIZE as usize);
    let next = more.then(|| token("j", rows.last().map_or(0, |j| j.test_id)));
    let items = rows.iter().map(|j| job_view(p, b.run.id, j)).collect();
    Ok((b, Paged { items, next }))
}

/// A SCALAR metric row (job or batch).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricView {
    pub name: String,
    pub value: Option<f64>,
    pub unit: Option<&'static str>,
    pub status: MetricStatus,
}

fn metric(name: &str, value: Option<f64>, unit: Option<&'static str>) -> MetricView {
    MetricView { name: name.to_owned(), value, unit, status: MetricStatus::Passed }
}

/// `GET …/batches/{b}/jobs/{j}/metrics`: the job's `duration` (s) when its
/// results were timed, then its named numbers (`metric:NAME` properties).
pub async fn job_metrics(
    store: &dyn Store,
    p: &Project,
    batch_id: &str,
    job_id: &str,
) -> Result<(JobView, Vec<MetricView>), AnalysisError> {
    let run_id = p.decode(Kind::Batch, "batch", batch_id)?;
    let missing = || AnalysisError::NotFound(format!("no job {job_id} in batch {batch_id}"));
    let (job_run, test_id) = p.ids.job_of(parse_uuid("job", job_id)?).ok_or_else(missing)?;
    if job_run != run_id {
        return Err(missing());
    }
    let (job, seconds) = store.reports().run_job(run_id, test_id).await?.ok_or_else(missing)?;
    let mut metrics: Vec<MetricView> = seconds.map(|s| metric("duration", Some(s), Some("s"))).into_iter().collect();
    if let Some(r) = store.reports().job_resources(run_id, test_id).await? {
        metrics.extend(RESOURCE_METRICS.iter().zip(resource_values(&r)).map(|((name, unit), v)| metric(name, Some(v), Some(unit))));
    }
    let named = store.reports().job_metrics(run_id, test_id).await?;
    metrics.extend(named.iter().filter(|(n, _)| !is_reserved(n)).map(|(n, v)| metric(n, Some(*v), None)));
    judge(&job_thresholds(store, job.suite_id).await?, &mut metrics);
    Ok((job_view(p, run_id, &job), metrics))
}

/// The job metrics a pytest-monitor sample gives, with their units: its
/// memory (MB), CPU (% of wall time: pytest-monitor's ratio × 100), user
/// and kernel time (s).
pub const RESOURCE_METRICS: [(&str, &str); 4] = [("memory_mb", "MB"), ("cpu_percent", "%"), ("user_time", "s"), ("kernel_time", "s")];

pub fn resource_values(r: &verdict_store::reports::JobResources) -> [f64; 4] {
    [r.memory_mb, r.cpu_usage * 100.0, r.user_time, r.kernel_time]
}

/// Job metric names Verdict fills itself (`duration` and the sampled
/// resources): a named number sent under one of them is not reported.
pub fn is_reserved(name: &str) -> bool {
    name == "duration" || RESOURCE_METRICS.iter().any(|(n, _)| *n == name)
}

/// A run's built-in batch metrics: `tests`, `failed`, `pass_rate` (% of
/// the tests that passed or flaked among those that passed, flaked or
/// failed) and `duration` (s, its timed results summed).
pub fn builtin_batch_metrics(run: &Run) -> Vec<MetricView> {
    let t = run.tests;
    let decided = t.passed + t.flaky + t.failed;
    let pass_rate = (decided > 0).then(|| 100.0 * (t.passed + t.flaky) as f64 / decided as f64);
    [("tests", Some(t.total() as f64)), ("failed", Some(t.failed as f64)), ("pass_rate", pass_rate), ("duration", Some(run.test_seconds))]
        .into_iter()
        .map(|(name, value)| metric(name, value, batch_metric_unit(name)))
        .collect()
}

/// A suite's batch metric thresholds (the setting `batch_metric_thresholds`).
pub type Thresholds = std::collections::BTreeMap<String, verdict_core::resim::status::MetricThreshold>;

pub async fn thresholds(store: &dyn Store, suite_id: i64) -> Result<Thresholds, AnalysisError> {
    Ok(store.flaky().flaky_settings(suite_id).await?.batch_metric_thresholds)
}

/// A suite's job metric thresholds (the setting `job_metric_thresholds`):
/// they mark a job's metric, not the job (its status is its test's outcome).
pub async fn job_thresholds(store: &dyn Store, suite_id: i64) -> Result<Thresholds, AnalysisError> {
    Ok(store.flaky().flaky_settings(suite_id).await?.job_metric_thresholds)
}

/// Each metric's status by its threshold (PASSED without one), and the worst of them.
pub fn judge(thresholds: &Thresholds, metrics: &mut [MetricView]) -> MetricStatus {
    let mut worst = MetricStatus::Passed;
    for m in metrics {
        m.status = thresholds.get(&m.name).map_or(MetricStatus::Passed, |t| t.status_of(m.value));
        worst = worst.worst(m.status);
    }
    worst
}

/// A run's batch metrics: the built-in ones, then its named run metrics (a
/// name the built-ins use is theirs), judged by the suite's thresholds.
pub fn run_batch_metrics(run: &Run, named: &[(String, f64)], thresholds: &Thresholds) -> (Vec<MetricView>, MetricStatus) {
    let mut out = builtin_batch_metrics(run);
    let extra: Vec<MetricView> =
        named.iter().filter(|(n, _)| !out.iter().any(|m| &m.name == n)).map(|(n, v)| metric(n, Some(*v), None)).collect();
    out.extend(extra);
    let worst = judge(thresholds, &mut out);
    (out, worst)
}

/// The unit of a built-in batch metric (a run's named metrics have none).
/// The batch metrics every run has.
pub const BUILTIN_BATCH_METRICS: [&str; 4] = ["tests", "failed", "pass_rate", "duration"];

pub fn batch_metric_unit(name: &str) -> Option<&'static str> {
    match name {
        "pass_rate" => Some("%"),
        "duration" => Some("s"),
        _ => None,
    }
}

/// `GET …/batches/{b}/metrics`: the run's built-in numbers (`tests`,
/// `failed`, `pass_rate` %, `duration` s) and its named run metrics.
pub async fn batch_metrics(store: &dyn Store, p: &Project, batch_id: &str) -> Result<(BatchView, Vec<MetricView>), AnalysisError> {
    let run_id = p.decode(Kind::Batch, "batch", batch_id)?;
    let detail = store.run(run_id).await?.ok_or_else(|| AnalysisError::NotFound(format!("no batch {batch_id}")))?;
    let named: Vec<(String, f64)> = detail.metrics.iter().map(|(n, v)| (n.clone(), *v)).collect();
    let th = thresholds(store, detail.run.suite_id).await?;
    let (out, status) = run_batch_metrics(&detail.run, &named, &th);
    let build = builds_of(store, p, detail.run.suite_id, std::slice::from_ref(&detail.run)).await?.remove(0);
    Ok((batch_view(p, detail.run, build, status), out))
}

#[derive(Debug, Clone, PartialEq)]
pub struct BuildView {
    pub id: Uuid,
    pub branch: Uuid,
    pub system: Uuid,
    /// The commit, or the run's key when it had none.
    pub version: String,
    pub description: String,
    pub created_ms: i64,
}

/// `GET /projects/{p}/builds/{b}`: a commit, as its first run saw it.
pub async fn build(store: &dyn Store, p: &Project, id: &str) -> Result<BuildView, AnalysisError> {
    let run_id = p.decode(Kind::Build, "build", id)?;
    let run = store.run(run_id).await?.ok_or_else(|| AnalysisError::NotFound(format!("no build {id}")))?.run;
    Ok(BuildView {
        id: p.ids.of(Kind::Build, run.id),
        branch: p.ids.branch(run.suite_id, run.run_env.branch.as_deref().unwrap_or("")),
        system: p.ids.of(Kind::System, run.suite_id),
        version: run.run_env.commit_sha.clone().unwrap_or_else(|| run.run_env.key.clone()),
        description: run.run_env.message.clone().unwrap_or_default(),
        created_ms: run.created_at.timestamp_millis(),
    })
}

/// `GET /projects/{p}/experiences/{e}/experienceTags`: Verdict keeps no
/// tags per test, so an existing experience has none.
pub async fn experience_tags(store: &dyn Store, p: &Project, id: &str) -> Result<Vec<String>, AnalysisError> {
    let test_id = p.decode(Kind::Experience, "experience", id)?;
    store.test(test_id).await?.ok_or_else(|| AnalysisError::NotFound(format!("no experience {id}")))?;
    Ok(vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_refuse_others() {
        assert_eq!(position("b", Some(&token("b", 7))).unwrap(), 7);
        assert_eq!(position("b", None).unwrap(), 0);
        assert_eq!(position("b", Some("")).unwrap(), 0);
        assert!(position("j", Some(&token("b", 7))).is_err(), "a token of another list");
        assert!(position("b", Some("%%%")).is_err());
        assert!(position("b", Some(&URL_SAFE_NO_PAD.encode("b:-1"))).is_err());
    }

    #[test]
    fn an_experience_is_named_by_scope_and_name() {
        assert_eq!(experience_name("tests/test_a.py", "test_b"), "tests/test_a.py test_b");
        assert_eq!(experience_name("", "alone"), "alone");
    }
}
