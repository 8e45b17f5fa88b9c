//! The native test-suite report: what ReSim's `default_report_metrics`
//! computes from the API (the ReSim spec, §4.2), computed from the store in
//! a few queries — test statuses per batch, high-level totals, per-test
//! status counts (the most failing first), metric status counts, the job
//! duration per build, each batch metric over time — plus Verdict's own:
//! the pass rate with its Wilson interval, p50/p95 test duration and the
//! flaky tests of each run. Its cost grows with the runs and tests of the
//! window, not with the suite's history.

use crate::AnalysisError;
use crate::resim::{self, Project, ReportView};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;
use verdict_core::resim::Kind;
use verdict_core::resim::status::conflated_batch;
use verdict_core::stats::{Proportion, quantiles, reliability};
use verdict_store::reports::ReportWindow;
use verdict_store::{Page, Run, RunFilter, RunSelection, Store};

/// A run's tests by conflated status (ReSim's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub passed: i64,
    pub warning: i64,
    pub blocker: i64,
    pub error: i64,
    pub cancelled: i64,
}

impl StatusCounts {
    pub fn total(&self) -> i64 {
        self.passed + self.warning + self.blocker + self.error + self.cancelled
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchRow {
    pub run_id: i64,
    pub batch_id: Uuid,
    /// The run's build number, else its key (ReSim's `friendlyName`).
    pub name: String,
    pub created_ms: i64,
    /// When its build (commit) was first seen: the report's time axis.
    pub build_ms: i64,
    pub build_version: String,
    pub statuses: StatusCounts,
    /// The report's batch status: PASSED, WARNING, BLOCKER or ERROR.
    pub status: &'static str,
    /// Tests that passed (or flaked) over those that passed, flaked or failed.
    pub pass_rate: Option<Proportion>,
    pub flaky: i64,
    /// Percentiles of the run's job durations (s).
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    /// The median of its jobs' pytest-monitor memory (MB) and CPU (%), where sampled.
    pub p50_memory_mb: Option<f64>,
    pub p50_cpu_percent: Option<f64>,
    /// The batch metrics, as `/batches/{b}/metrics` lists them, each with its status.
    pub metrics: Vec<BatchMetric>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchMetric {
    pub name: String,
    pub value: Option<f64>,
    /// PASSED, or FAIL_WARN / FAIL_BLOCK by the suite's `batch_metric_thresholds`.
    pub status: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub batches: i64,
    pub tests: i64,
    pub error_batches: i64,
    pub fail_block_batches: i64,
    pub fail_warn_batches: i64,
    pub passed_batches: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExperienceRow {
    pub test_id: i64,
    pub name: String,
    pub counts: StatusCounts,
}

/// A metric's results by status over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricStatusRow {
    pub name: String,
    pub passed: i64,
    pub fail_warn: i64,
    pub fail_block: i64,
}

impl MetricStatusRow {
    fn new(name: &str) -> MetricStatusRow {
        MetricStatusRow { name: name.to_owned(), passed: 0, fail_warn: 0, fail_block: 0 }
    }

    /// One value of the metric with its status (ReSim's name); anything but a failure counts as passed.
    fn count(&mut self, status: &str) {
        match status {
            "FAIL_BLOCK" => self.fail_block += 1,
            "FAIL_WARN" => self.fail_warn += 1,
            _ => self.passed += 1,
        }
    }
}

/// The distribution of the job durations of one build's runs (s).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildBox {
    pub build_ms: i64,
    pub version: String,
    pub jobs: usize,
    pub min: f64,
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
    pub max: f64,
}

/// One job metric's distribution per build (`duration` first, then the named ones by name).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobMetricSeries {
    pub name: String,
    pub unit: Option<&'static str>,
    pub by_build: Vec<BuildBox>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricSeries {
    pub name: String,
    pub unit: Option<&'static str>,
    /// `(build_ms, value)`, in batch order.
    pub points: Vec<(i64, f64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NativeReport {
    /// Batches by build time, then creation (as ReSim's charts order them).
    pub batches: Vec<BatchRow>,
    pub totals: Totals,
    /// Most failing first: by error, blocker, warning, cancelled, passed counts, descending.
    pub experiences: Vec<ExperienceRow>,
    pub job_metric_status_counts: Vec<MetricStatusRow>,
    pub batch_metric_status_counts: Vec<MetricStatusRow>,
    pub job_metrics: Vec<JobMetricSeries>,
    pub batch_metrics: Vec<MetricSeries>,
}

/// Runs read per page while collecting a window's.
const RUN_PAGE: u32 = Page::MAX_PER_PAGE;

async fn window_runs(store: &dyn Store, w: &ReportWindow) -> Result<Vec<Run>, AnalysisError> {
    let mut out = Vec::new();
    for page in 1.. {
        let filter = RunFilter {
            branch: w.branch.clone(),
            since_ms: Some(w.since_ms),
            until_ms: Some(w.until_ms),
            page: Page::new(page, RUN_PAGE),
            ..Default::default()
        };
        let runs = store.runs(w.suite_id, &filter).await?;
        let done = runs.len() < RUN_PAGE as usize;
        out.extend(runs);
        if done {
            break;
        }
    }
    Ok(out)
}

/// The window a stored report covers: ReSim's bounds are both exclusive.
pub fn window_of(r: &ReportView) -> ReportWindow {
    ReportWindow { suite_id: r.suite_id, branch: Some(r.branch_name.clone()), since_ms: r.start_ms + 1, until_ms: r.end_ms }
}

fn box_of(build_ms: i64, version: String, mut v: Vec<f64>) -> Option<BuildBox> {
    let jobs = v.len();
    let [min, q1, median, q3, max] = quantiles(&mut v, &[0.0, 0.25, 0.5, 0.75, 1.0])?[..] else { return None };
    Some(BuildBox { build_ms, version, jobs, min, q1, median, q3, max })
}

/// The native report over `w`.
pub async fn native(store: &dyn Store, w: &ReportWindow) -> Result<NativeReport, AnalysisError> {
    let p = Project::of(store).await?;
    let runs = window_runs(store, w).await?;
    let verdict_store::reports::WindowJobs { tests, durations } = store.reports().window_jobs(w).await?;
    let selection = RunSelection { branch: w.branch.clone(), since_ms: w.since_ms, until_ms: w.until_ms, ..Default::default() };
    let mut named: HashMap<i64, Vec<(String, f64)>> = HashMap::new();
    for m in store.run_metrics(w.suite_id, &selection).await? {
        named.entry(m.run_id).or_default().push((m.name, m.value));
    }
    // Builds: the first run of each commit (the run itself without one).
    let mut commits: Vec<String> = runs.iter().filter_map(|r| r.run_env.commit_sha.clone()).collect();
    commits.sort();
    commits.dedup();
    let firsts: HashMap<String, i64> =
        store.reports().first_runs(w.suite_id, &commits).await?.into_iter().map(|f| (f.commit_sha, f.created_ms)).collect();
    let mut durations: HashMap<i64, Vec<f64>> = durations.into_iter().collect();
    let mut named_jobs: HashMap<i64, Vec<(String, f64)>> = HashMap::new();
    for (run, name, value) in store.reports().window_job_metrics(w).await? {
        if !resim::is_reserved(&name) {
            named_jobs.entry(run).or_default().push((name, value));
        }
    }
    // Per run, its jobs' pytest-monitor samples as `RESOURCE_METRICS` values.
    let mut resources: HashMap<i64, Vec<[f64; 4]>> = HashMap::new();
    for r in store.reports().window_job_resources(w).await? {
        resources.entry(r.run_id).or_default().push(resim::resource_values(&r));
    }
    let mut resources_by_build: [BTreeMap<(i64, String), Vec<f64>>; 4] = Default::default();
    // Per named job metric, its values per build.
    let mut named_by_build: BTreeMap<String, BTreeMap<(i64, String), Vec<f64>>> = BTreeMap::new();

    let settings = store.flaky().flaky_settings(w.suite_id).await?;
    let (th, job_th) = (settings.batch_metric_thresholds, settings.job_metric_thresholds);
    let mut batches = Vec::with_capacity(runs.len());
    let mut by_build: BTreeMap<(i64, String), Vec<f64>> = BTreeMap::new();
    for run in runs {
        let t = run.tests;
        let statuses = StatusCounts { passed: t.passed, warning: t.flaky, blocker: t.failed, error: 0, cancelled: t.skipped };
        let jobs_metrics = resim::jobs_metrics_of(&run);
        let (metrics, batch_metrics) = resim::run_batch_metrics(&run, &named.remove(&run.id).unwrap_or_default(), &th);
        let metrics: Vec<BatchMetric> =
            metrics.into_iter().map(|m| BatchMetric { name: m.name, value: m.value, status: m.status.as_str() }).collect();
        let status = match conflated_batch(run.infra, batch_metrics, jobs_metrics) {
            "COMPLETE" => "PASSED",
            other => other,
        };
        let version = run.run_env.commit_sha.clone().unwrap_or_else(|| run.run_env.key.clone());
        let build_ms = run.run_env.commit_sha.as_ref().and_then(|c| firsts.get(c).copied()).unwrap_or(run.created_at.timestamp_millis());
        let mut jobs = durations.remove(&run.id).unwrap_or_default();
        let (p50_s, p95_s) = match quantiles(&mut jobs, &[0.5, 0.95]).as_deref() {
            Some(&[p50, p95]) => (Some(p50), Some(p95)),
            _ => (None, None),
        };
        by_build.entry((build_ms, version.clone())).or_default().extend(&jobs);
        for (name, value) in named_jobs.remove(&run.id).unwrap_or_default() {
            named_by_build.entry(name).or_default().entry((build_ms, version.clone())).or_default().push(value);
        }
        // A session's own run (no results) has samples but no jobs: left out.
        let sampled = if statuses.total() > 0 { resources.remove(&run.id).unwrap_or_default() } else { vec![] };
        let column = |k: usize| -> Vec<f64> { sampled.iter().map(|v| v[k]).collect() };
        let (mut memory, mut cpu) = (column(0), column(1));
        for (k, by) in resources_by_build.iter_mut().enumerate() {
            by.entry((build_ms, version.clone())).or_default().extend(column(k));
        }
        let p50 = |v: &mut Vec<f64>| quantiles(v, &[0.5]).map(|q| q[0]);
        batches.push(BatchRow {
            run_id: run.id,
            batch_id: p.ids.of(Kind::Batch, run.id),
            name: run.run_env.number.clone().unwrap_or_else(|| run.run_env.key.clone()),
            created_ms: run.created_at.timestamp_millis(),
            build_ms,
            build_version: version,
            statuses,
            status,
            pass_rate: reliability((t.passed + t.flaky) as u64, t.failed as u64),
            flaky: t.flaky,
            p50_s,
            p95_s,
            p50_memory_mb: p50(&mut memory),
            p50_cpu_percent: p50(&mut cpu),
            metrics,
        });
    }
    batches.sort_by_key(|b| (b.build_ms, b.created_ms, b.run_id));

    let count = |s: &str| batches.iter().filter(|b| b.status == s).count() as i64;
    let totals = Totals {
        batches: batches.len() as i64,
        tests: batches.iter().map(|b| b.statuses.total()).sum(),
        error_batches: count("ERROR"),
        fail_block_batches: count("BLOCKER"),
        fail_warn_batches: count("WARNING"),
        passed_batches: count("PASSED"),
    };
    let mut experiences: Vec<ExperienceRow> = tests
        .into_iter()
        .map(|t| ExperienceRow {
            test_id: t.test_id,
            name: resim::experience_name(&t.scope, &t.name),
            counts: StatusCounts { passed: t.passed, warning: t.warning, blocker: t.blocker, error: 0, cancelled: t.cancelled },
        })
        .collect();
    experiences.sort_by(|a, b| {
        let key = |c: &StatusCounts| (c.error, c.blocker, c.warning, c.cancelled, c.passed);
        key(&b.counts).cmp(&key(&a.counts)).then_with(|| a.name.cmp(&b.name))
    });
    let mut job_metrics = Vec::new();
    let mut job_metric_status_counts = Vec::new();
    // Each job metric: its distribution per build, and its values by status (the suite's `job_metric_thresholds`).
    let mut add = |name: String, unit: Option<&'static str>, by: BTreeMap<(i64, String), Vec<f64>>| {
        if by.values().all(|v| v.is_empty()) {
            return;
        }
        let mut row = MetricStatusRow::new(&name);
        let threshold = job_th.get(&name);
        for v in by.values().flatten() {
            row.count(threshold.map_or(verdict_core::resim::MetricStatus::Passed, |t| t.status_of(Some(*v))).as_str());
        }
        job_metric_status_counts.push(row);
        let by_build = by.into_iter().filter_map(|((ms, version), v)| box_of(ms, version, v)).collect();
        job_metrics.push(JobMetricSeries { name, unit, by_build });
    };
    add("duration".into(), Some("s"), by_build);
    for ((name, unit), by) in resim::RESOURCE_METRICS.iter().zip(resources_by_build) {
        add((*name).to_owned(), Some(unit), by);
    }
    for (name, by) in named_by_build {
        add(name, None, by);
    }
    let mut series: Vec<MetricSeries> = Vec::new();
    let mut batch_metric_status_counts: Vec<MetricStatusRow> = Vec::new();
    for b in &batches {
        for m in &b.metrics {
            let Some(v) = m.value else { continue };
            match series.iter_mut().find(|s| s.name == m.name) {
                Some(s) => s.points.push((b.build_ms, v)),
                None => series.push(MetricSeries {
                    name: m.name.clone(),
                    unit: resim::batch_metric_unit(&m.name),
                    points: vec![(b.build_ms, v)],
                }),
            }
            let row = match batch_metric_status_counts.iter_mut().position(|r| r.name == m.name) {
                Some(i) => &mut batch_metric_status_counts[i],
                None => {
                    batch_metric_status_counts.push(MetricStatusRow::new(&m.name));
                    batch_metric_status_counts.last_mut().expect("just pushed")
                }
            };
            row.count(m.status);
        }
    }
    Ok(NativeReport {
        batches,
        totals,
        experiences,
        job_metric_status_counts,
        batch_metric_status_counts,
        job_metrics,
        batch_metrics: series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_builds_box_is_its_job_durations_quartiles() {
        let b = box_of(5, "c1".into(), vec![4.0, 1.0, 3.0, 2.0, 5.0]).unwrap();
        assert_eq!((b.jobs, b.min, b.q1, b.median, b.q3, b.max), (5, 1.0, 2.0, 3.0, 4.0, 5.0));
        assert_eq!(box_of(5, "c1".into(), vec![]), None);
    }
}
