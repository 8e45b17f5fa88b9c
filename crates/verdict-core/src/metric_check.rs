//! Checks of run metrics (a named number per run where larger is worse, such
//! as seconds of API disruption) against the same metric's history. These
//! are the job-run-aggregator's disruption checks (spec 1.7), for any metric:
//! percentile checks with a grace retry, and a mean check against the
//! historical mean plus some standard deviations.

use crate::aggregation::strict_required;
use crate::batch::JudgedTest;
use crate::decision::{Decision, Status};
use crate::stats::quantile;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The synthetic suite the checks are reported under (upstream's `BackendDisruption`).
pub const METRIC_SUITE: &str = "RunMetrics";

/// At most this many metrics are set in one request.
pub const MAX_METRICS_PER_REQUEST: usize = 100;

/// Why a metric name or value cannot be stored, if it cannot.
pub fn metric_problem(name: &str, value: f64) -> Option<String> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Some(format!("metric name {name:?}: 1 to 200 characters, no control characters"));
    }
    (!value.is_finite()).then(|| format!("metric {name:?}: the value must be a finite number"))
}

/// One run's value of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct RunValue {
    pub run: String,
    pub value: f64,
}

/// A percentile check: at most the historical P`percentile` (plus `grace`
/// on the retry) in enough runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PercentileRule {
    pub percentile: u32,
    #[serde(default)]
    pub grace: f64,
}

/// The checks of one metric. No percentiles and no `mean_sd` disables it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRules {
    #[serde(default)]
    pub percentiles: Vec<PercentileRule>,
    /// The mean check's threshold is `max(floor, mean + mean_sd · SD)`.
    #[serde(default)]
    pub mean_sd: Option<f64>,
    #[serde(default = "default_floor")]
    pub floor: f64,
}

fn default_floor() -> f64 {
    1.0
}

impl Default for MetricRules {
    /// Upstream's disruption checks: P70 with 3 s grace, P85 with 7 s, mean + 5 SD (at least 1).
    fn default() -> Self {
        MetricRules {
            percentiles: vec![PercentileRule { percentile: 70, grace: 3.0 }, PercentileRule { percentile: 85, grace: 7.0 }],
            mean_sd: Some(5.0),
            floor: 1.0,
        }
    }
}

/// Rules per metric name, with a default for the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricConfig {
    #[serde(default)]
    pub default: MetricRules,
    #[serde(default)]
    pub metrics: HashMap<String, MetricRules>,
}

impl MetricConfig {
    pub fn rules(&self, metric: &str) -> &MetricRules {
        self.metrics.get(metric).unwrap_or(&self.default)
    }

    /// Why the configuration cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let named = std::iter::once(("default", &self.default)).chain(self.metrics.iter().map(|(k, v)| (k.as_str(), v)));
        for (name, rules) in named {
            if let Some(p) = rules.percentiles.iter().find(|p| !(1..=99).contains(&p.percentile) || !p.grace.is_finite() || p.grace < 0.0) {
                return Some(format!(
                    "{name}: percentile {} with grace {}: percentiles are 1..99, graces 0 or more",
                    p.percentile, p.grace
                ));
            }
            if rules.mean_sd.is_some_and(|k| !k.is_finite() || k < 0.0) || !rules.floor.is_finite() {
                return Some(format!("{name}: mean_sd and floor must be finite numbers, mean_sd 0 or more"));
            }
        }
        None
    }
}

/// A metric's history: its values in the runs that make up the history.
#[derive(Debug, Clone)]
pub struct HistoricalStats {
    sorted: Vec<f64>,
    pub mean: f64,
    /// Sample standard deviation (0 for one value).
    pub sd: f64,
}

impl HistoricalStats {
    pub fn new(mut values: Vec<f64>) -> Option<Self> {
        values.retain(|v| v.is_finite());
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = if values.len() > 1 { (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
        Some(HistoricalStats { sorted: values, mean, sd })
    }

    /// The continuous percentile (SQL `PERCENTILE_CONT`), `k` in 0..=100.
    pub fn percentile(&self, k: u32) -> f64 {
        let mut v = self.sorted.clone();
        quantile(&mut v, f64::from(k) / 100.0).unwrap_or(f64::NAN)
    }

    pub fn runs(&self) -> usize {
        self.sorted.len()
    }
}

/// The result of one check over the judged runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckResult {
    pub status: Status,
    pub threshold: f64,
    /// For percentile checks: the strict and the required number of runs at or under the threshold.
    pub strict_required: Option<u32>,
    pub required: Option<i64>,
    pub passing: Vec<String>,
    pub failing: Vec<String>,
    pub summary: String,
}

fn split(values: &[RunValue], threshold: f64) -> (Vec<String>, Vec<String>) {
    let (ok, bad): (Vec<&RunValue>, Vec<&RunValue>) = values.iter().partition(|v| v.value <= threshold);
    (ok.into_iter().map(|v| v.run.clone()).collect(), bad.into_iter().map(|v| v.run.clone()).collect())
}

/// One pass of the percentile check with a fixed threshold: enough runs must
/// be at or under it, by the aggregator's table with the percentile as the
/// working percentage, at most `n - 2`, and one fewer than that whenever the
/// table itself was not capped.
pub fn percentile_once(values: &[RunValue], percentile: u32, threshold: f64) -> CheckResult {
    let n = values.len() as u32;
    let (passing, failing) = split(values, threshold);
    let successes = passing.len() as i64;
    let strict = strict_required(n, percentile);
    let mut required = i64::from(strict).min(i64::from(n.saturating_sub(2)));
    if required == i64::from(strict) {
        required -= 1;
    }
    let (status, summary) = if required <= 0 {
        (Status::Skipped, format!("Current percentile is so low that we cannot latch: {n} runs are too few to judge P{percentile}"))
    } else if successes < required {
        (
            Status::Failed,
            format!(
                "Failed: {successes} of {n} runs were at or under {threshold} (P{percentile} of history); {required} had to be, {} were over",
                failing.len()
            ),
        )
    } else {
        (
            Status::Passed,
            format!("Passed: {successes} of {n} runs were at or under {threshold} (P{percentile} of history); {required} had to be"),
        )
    };
    CheckResult { status, threshold, strict_required: Some(strict), required: Some(required), passing, failing, summary }
}

/// The percentile check: against the historical value, and if too few runs
/// are at or under it, once more against the historical value plus `grace`.
pub fn percentile_check(values: &[RunValue], percentile: u32, historical: f64, grace: f64) -> CheckResult {
    let first = percentile_once(values, percentile, historical);
    let enough = first.required.is_some_and(|r| first.passing.len() as i64 >= r);
    if enough || first.status == Status::Skipped || grace <= 0.0 {
        return first;
    }
    let mut retry = percentile_once(values, percentile, historical + grace);
    retry.summary = format!("{} (with {grace} of grace over P{percentile} = {historical})", retry.summary);
    retry
}

/// The mean check: the runs' mean, without its largest value when that is
/// above the historical P95, must not exceed `max(floor, mean + k·SD)` of history.
pub fn mean_check(values: &[RunValue], history: &HistoricalStats, k: f64, floor: f64) -> CheckResult {
    let threshold = floor.max(history.mean + k * history.sd);
    let (passing, failing) = split(values, threshold);
    let mut sum: f64 = values.iter().map(|v| v.value).sum();
    let mut count = values.len();
    let max = values.iter().map(|v| v.value).fold(f64::NEG_INFINITY, f64::max);
    if count > 0 && max > history.percentile(95) {
        sum -= max;
        count -= 1;
    }
    let mean = sum / count as f64;
    // No value left (one run, an outlier) gives NaN, which passes, as upstream.
    let (status, word) = if mean > threshold { (Status::Failed, "Failed") } else { (Status::Passed, "Passed") };
    let summary = format!(
        "{word}: mean {mean:.3} of {count} runs against historical mean {:.3} + {k} SD ({:.3}) = {threshold:.3}",
        history.mean, history.sd
    );
    CheckResult { status, threshold, strict_required: None, required: None, passing, failing, summary }
}

/// Check every metric of the judged runs (`batch`: per metric, its value in
/// each run that has it) against its history, as tests of [`METRIC_SUITE`].
/// A metric with no history has its checks skipped.
pub fn judge_metrics(
    batch: &BTreeMap<String, Vec<RunValue>>,
    history: &HashMap<String, HistoricalStats>,
    config: &MetricConfig,
) -> Vec<JudgedTest> {
    let mut tests = Vec::new();
    for (metric, values) in batch {
        let rules = config.rules(metric);
        let stats = history.get(metric);
        let no_history = || CheckResult {
            status: Status::Skipped,
            threshold: f64::NAN,
            strict_required: None,
            required: None,
            passing: vec![],
            failing: vec![],
            summary: format!("Skipped: metric {metric:?} has no history in this job"),
        };
        for rule in &rules.percentiles {
            let name = format!("{metric} P{} should not be worse", rule.percentile);
            let result =
                stats.map_or_else(no_history, |h| percentile_check(values, rule.percentile, h.percentile(rule.percentile), rule.grace));
            tests.push(judged(&name, values, result, Some(rule.percentile)));
        }
        if let Some(k) = rules.mean_sd {
            let name = format!("{metric} mean should be less than historical plus {k} standard deviations");
            let result = stats.map_or_else(no_history, |h| mean_check(values, h, k, rules.floor));
            tests.push(judged(&name, values, result, None));
        }
    }
    tests
}

fn judged(name: &str, values: &[RunValue], r: CheckResult, percentile: Option<u32>) -> JudgedTest {
    let attempts = values.len() as u32;
    JudgedTest {
        suite: METRIC_SUITE.to_owned(),
        name: name.to_owned(),
        lifecycle: None,
        decision: Decision {
            status: r.status,
            summary: r.summary,
            attempts,
            passes: r.passing.len() as u32,
            failures: r.failing.len() as u32,
            skips: 0,
            working_percentage: percentile,
            // A percentile rule, not a test's history: no p-value to show.
            history_percentage: None,
            strict_required: r.strict_required,
            required: r.required.map(|r| r.max(0) as u32),
        },
        pass_runs: r.passing,
        failure_runs: r.failing,
        skip_runs: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(values: &[f64]) -> Vec<RunValue> {
        values.iter().enumerate().map(|(i, &value)| RunValue { run: format!("run_{i}"), value }).collect()
    }

    #[test]
    fn effective_required_passes_match_the_spec() {
        // Spec 1.7: P70 latches from 7 runs, P85 from 5.
        let req = |n: usize, k| percentile_once(&runs(&vec![0.0; n]), k, 1.0).required.unwrap();
        let p70: Vec<i64> = (6..=12).map(|n| req(n, 70)).collect();
        assert!(p70[0] <= 0);
        assert_eq!(&p70[1..], &[1, 1, 2, 2, 3, 4]);
        let p85: Vec<i64> = (4..=12).map(|n| req(n, 85)).collect();
        assert!(p85[0] <= 0);
        assert_eq!(&p85[1..], &[1, 1, 2, 3, 4, 4, 5, 6]);
    }

    #[test]
    fn mean_check_drops_one_outlier_above_p95() {
        let history = HistoricalStats::new(vec![1.0, 2.0, 3.0, 2.0, 2.0]).unwrap();
        // Threshold = mean 2 + 5·0.707 = 5.54; mean of [2, 3, 100] without 100 = 2.5.
        let r = mean_check(&runs(&[2.0, 3.0, 100.0]), &history, 5.0, 1.0);
        assert_eq!(r.status, Status::Passed, "{r:?}");
        assert_eq!(r.failing, vec!["run_2"], "each run over the threshold is listed");
        let r = mean_check(&runs(&[6.0, 7.0, 100.0]), &history, 5.0, 1.0);
        assert_eq!(r.status, Status::Failed, "{r:?}");
        // A zero history still allows the floor.
        let zero = HistoricalStats::new(vec![0.0; 10]).unwrap();
        assert_eq!(mean_check(&runs(&[1.0, 1.0, 1.0]), &zero, 5.0, 1.0).status, Status::Passed);
    }

    #[test]
    fn metrics_without_history_are_skipped_and_rules_are_per_metric() {
        let mut batch = BTreeMap::new();
        batch.insert("api-seconds".to_owned(), runs(&[1.0; 10]));
        batch.insert("pull-seconds".to_owned(), runs(&[50.0; 10]));
        let mut history = HashMap::new();
        history.insert("pull-seconds".to_owned(), HistoricalStats::new(vec![5.0; 100]).unwrap());
        let mut config = MetricConfig::default();
        config.metrics.insert(
            "pull-seconds".into(),
            MetricRules { percentiles: vec![PercentileRule { percentile: 90, grace: 1.0 }], ..Default::default() },
        );
        let tests = judge_metrics(&batch, &history, &config);
        let names: Vec<(&str, Status)> = tests.iter().map(|t| (t.name.as_str(), t.decision.status)).collect();
        assert_eq!(
            names,
            vec![
                ("api-seconds P70 should not be worse", Status::Skipped),
                ("api-seconds P85 should not be worse", Status::Skipped),
                ("api-seconds mean should be less than historical plus 5 standard deviations", Status::Skipped),
                ("pull-seconds P90 should not be worse", Status::Failed),
                ("pull-seconds mean should be less than historical plus 5 standard deviations", Status::Failed),
            ]
        );
        assert!(tests.iter().all(|t| t.suite == METRIC_SUITE));
    }
}
