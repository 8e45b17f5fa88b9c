//! Test plans from timing history (the flaky spec, §5.2): estimate each
//! file, selector or example from its tests' latest durations, and pack them
//! over the nodes (`verdict_core::test_plan`). bktec's routes and
//! `verdict plan` (through them) share this.

use crate::AnalysisError;
use crate::quarantine::{QuarantineList, quarantine_list};
use std::collections::HashMap;
use verdict_core::test_plan::{DEFAULT_DURATION_MS, estimate, p50_ms_in, pack, parallelism_for};
use verdict_store::test_plans::TestTiming;
use verdict_store::{Store, Suite};

/// Durations kept per test (the spec's `timing.samples`).
pub const SAMPLES_PER_TEST: i64 = 32;
/// How far back timings are read.
pub const TIMING_DAYS: i64 = 30;
/// Most nodes a plan spreads over, and most items it places.
pub const MAX_NODES: usize = 1000;
pub const MAX_ITEMS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    File,
    Selector,
    Example,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::File => "file",
            Format::Selector => "selector",
            Format::Example => "example",
        }
    }
}

/// One thing to place: a file or selector by its path, or an example by its
/// scope and name (else its path as `SCOPE/NAME`).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub format: Format,
    pub path: String,
    pub scope: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PlanAsk {
    pub targets: Vec<Target>,
    pub parallelism: usize,
    pub max_parallelism: Option<usize>,
    /// Seconds every node should finish within (with `max_parallelism`).
    pub target_time_s: Option<f64>,
    /// Stripped from the tests' paths before they are matched.
    pub location_prefix: Option<String>,
}

impl PlanAsk {
    pub fn check(&self) -> Result<(), String> {
        if self.parallelism == 0 || self.parallelism > MAX_NODES {
            return Err(format!("parallelism: 1 to {MAX_NODES}"));
        }
        if self.max_parallelism.is_some_and(|m| m > MAX_NODES) {
            return Err(format!("max_parallelism: at most {MAX_NODES}"));
        }
        if self.targets.len() > MAX_ITEMS {
            return Err(format!("at most {MAX_ITEMS} files, selectors and examples a plan"));
        }
        if self.target_time_s.is_some_and(|t| !(t.is_finite() && t > 0.0)) {
            return Err("target_time: a positive number of seconds".into());
        }
        Ok(())
    }
}

/// A target's place in a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    /// Index into `PlanAsk::targets`.
    pub target: usize,
    pub estimate_ms: u64,
    pub samples: u64,
}

/// What the unknown targets of one format were given.
#[derive(Debug, Clone, PartialEq)]
pub struct FormatTiming {
    pub format: Format,
    pub median_ms: Option<f64>,
    pub default_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Plan {
    /// Per node (`parallelism` of them), its targets in packing order.
    pub nodes: Vec<Vec<Placed>>,
    pub timing: Vec<FormatTiming>,
    /// Targets with history ÷ all targets (1 when there are none).
    pub known_ratio: f64,
    pub quarantine: QuarantineList,
}

fn strip<'a>(path: &'a str, prefix: Option<&str>) -> &'a str {
    let p = path.trim_start_matches("./");
    match prefix.map(|x| x.trim_start_matches("./").trim_end_matches('/')).filter(|x| !x.is_empty()) {
        Some(pre) => p.strip_prefix(pre).map(|rest| rest.trim_start_matches('/')).unwrap_or(p),
        None => p,
    }
}

/// Per path: (sum of its tests' p50 in ms, most durations behind one of them); per (scope, name): (p50, durations).
type ByPath<'a> = HashMap<&'a str, (u64, u64)>;
type ByTest<'a> = HashMap<(&'a str, &'a str), (u64, u64)>;

/// The timings by path and by test, each only when some target needs it (a plan of 20,000 files
/// should not hash 100,000 test names).
fn index<'a>(timings: &'a [TestTiming], prefix: Option<&str>, paths: bool, tests: bool) -> (ByPath<'a>, ByTest<'a>) {
    let (mut by_path, mut by_test): (ByPath, ByTest) = Default::default();
    let mut scratch = Vec::with_capacity(SAMPLES_PER_TEST as usize);
    for t in timings {
        let Some(p50) = p50_ms_in(&t.durations, &mut scratch) else { continue };
        let n = t.durations.len() as u64;
        if tests {
            by_test.insert((t.scope.as_str(), t.name.as_str()), (p50, n));
        }
        if let Some(path) = t.path().filter(|_| paths) {
            let e = by_path.entry(strip(path, prefix)).or_default();
            e.0 += p50;
            e.1 = e.1.max(n);
        }
    }
    (by_path, by_test)
}

fn known(t: &Target, by_path: &ByPath<'_>, by_test: &ByTest<'_>) -> Option<(u64, u64)> {
    match t.format {
        Format::File | Format::Selector => by_path.get(strip(&t.path, None)).copied(),
        Format::Example => match (&t.scope, &t.name) {
            (Some(s), Some(n)) => by_test.get(&(s.as_str(), n.as_str())).copied(),
            _ => t.path.rsplit_once('/').and_then(|k| by_test.get(&k).copied()),
        },
    }
}

/// The plan for `ask` from the suite's timings of the last 30 days.
pub async fn make_plan(store: &dyn Store, suite: &Suite, ask: &PlanAsk, now_ms: i64) -> Result<Plan, AnalysisError> {
    let timings = store.test_plans().timings(suite.id, now_ms - TIMING_DAYS * 86_400_000, SAMPLES_PER_TEST).await?;
    let quarantine = quarantine_list(store, suite).await?;
    Ok(plan_from(&timings, ask, quarantine))
}

/// The plan for `ask` from `timings` (pure).
pub fn plan_from(timings: &[TestTiming], ask: &PlanAsk, quarantine: QuarantineList) -> Plan {
    let examples = ask.targets.iter().any(|t| t.format == Format::Example);
    let paths = ask.targets.iter().any(|t| t.format != Format::Example);
    let (by_path, by_test) = index(timings, ask.location_prefix.as_deref(), paths, examples);
    let mut estimates = vec![0u64; ask.targets.len()];
    let mut samples = vec![0u64; ask.targets.len()];
    let (mut timing, mut known_n) = (Vec::new(), 0);
    // Unknown targets get the median of the known ones of their own format.
    let mut formats: Vec<Format> = ask.targets.iter().map(|t| t.format).collect();
    formats.sort();
    formats.dedup();
    for f in formats {
        let idx: Vec<usize> = (0..ask.targets.len()).filter(|&i| ask.targets[i].format == f).collect();
        let found: Vec<Option<(u64, u64)>> = idx.iter().map(|&i| known(&ask.targets[i], &by_path, &by_test)).collect();
        let e = estimate(&found.iter().map(|k| k.map(|k| k.0)).collect::<Vec<_>>());
        for (j, &i) in idx.iter().enumerate() {
            estimates[i] = e.estimates_ms[j];
            samples[i] = found[j].map_or(0, |k| k.1);
        }
        known_n += e.known;
        timing.push(FormatTiming { format: f, median_ms: e.median_ms, default_ms: DEFAULT_DURATION_MS });
    }
    let keys: Vec<&str> = ask.targets.iter().map(|t| t.path.as_str()).collect();
    let nodes = match (ask.max_parallelism, ask.target_time_s) {
        (Some(max), Some(t)) => parallelism_for(&keys, &estimates, 1, max, (t * 1000.0) as u64),
        _ => ask.parallelism,
    };
    let (shares, _) = pack(&keys, &estimates, nodes);
    let nodes = shares
        .into_iter()
        .map(|s| s.into_iter().map(|i| Placed { target: i, estimate_ms: estimates[i], samples: samples[i] }).collect())
        .collect();
    let known_ratio = if ask.targets.is_empty() { 1.0 } else { known_n as f64 / ask.targets.len() as f64 };
    Plan { nodes, timing, known_ratio, quarantine }
}

/// Of `files`, those holding a skipped test of the suite (bktec expands them into examples).
pub async fn files_with_skipped(store: &dyn Store, suite: &Suite, files: &[String]) -> Result<Vec<String>, AnalysisError> {
    let skipped = quarantine_list(store, suite).await?.skipped;
    let paths: std::collections::HashSet<&str> = skipped.iter().filter_map(|t| t.file_name.as_deref()).map(|p| strip(p, None)).collect();
    Ok(files.iter().filter(|f| paths.contains(strip(f, None))).cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(scope: &str, name: &str, file: &str, secs: &[f64]) -> TestTiming {
        TestTiming { scope: scope.into(), name: name.into(), file_name: Some(file.into()), location: None, durations: secs.to_vec() }
    }

    fn file(p: &str) -> Target {
        Target { format: Format::File, path: p.into(), scope: None, name: None }
    }

    fn empty() -> QuarantineList {
        QuarantineList { suite: "web".into(), muted: vec![], skipped: vec![] }
    }

    #[test]
    fn files_sum_their_tests_and_unknown_files_get_the_median() {
        let timings = [
            timing("a", "t1", "./backend/spec/a_spec.rb", &[4.0, 6.0, 5.0]),
            timing("a", "t2", "backend/spec/a_spec.rb", &[5.0]),
            timing("b", "t1", "backend/spec/b_spec.rb", &[2.0, 2.0]),
        ];
        let ask = PlanAsk {
            targets: vec![file("spec/a_spec.rb"), file("./spec/b_spec.rb"), file("spec/new_spec.rb")],
            parallelism: 2,
            max_parallelism: None,
            target_time_s: None,
            location_prefix: Some("backend".into()),
        };
        let plan = plan_from(&timings, &ask, empty());
        let placed: Vec<Vec<(usize, u64, u64)>> =
            plan.nodes.iter().map(|n| n.iter().map(|p| (p.target, p.estimate_ms, p.samples)).collect()).collect();
        // a = 5 s + 5 s = 10 s (3 samples), b = 2 s, new = the median of 10 and 2 = 6 s.
        assert_eq!(placed, [vec![(0, 10_000, 3)], vec![(2, 6_000, 0), (1, 2_000, 2)]]);
        assert_eq!(plan.timing, [FormatTiming { format: Format::File, median_ms: Some(6_000.0), default_ms: 1000 }]);
        assert!((plan.known_ratio - 2.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn examples_match_by_scope_and_name_and_parallelism_meets_the_target() {
        let timings = [timing("Cart", "totals", "spec/cart_spec.rb", &[3.0]), timing("Cart", "coupon", "spec/cart_spec.rb", &[3.0])];
        let ex = |scope: &str, name: &str| Target {
            format: Format::Example,
            path: format!("{scope}/{name}"),
            scope: Some(scope.into()),
            name: Some(name.into()),
        };
        let by_path = Target { format: Format::Example, path: "Cart/coupon".into(), scope: None, name: None };
        let ask = PlanAsk {
            targets: vec![ex("Cart", "totals"), by_path, ex("Cart", "gone")],
            parallelism: 1,
            max_parallelism: Some(5),
            target_time_s: Some(4.0),
            location_prefix: None,
        };
        let plan = plan_from(&timings, &ask, empty());
        assert_eq!(plan.nodes.len(), 3, "3 s each, 4 s a node: three nodes");
        assert!(plan.nodes.iter().all(|n| n.len() == 1 && n[0].estimate_ms == 3_000));
        assert_eq!(plan.nodes.iter().map(|n| n[0].samples).sum::<u64>(), 2);
    }
}
