//! `analyze-historical-data` (job-run-aggregator, spec section 3): compare a
//! current and a new set of percentile rows, count the P99 increases beyond
//! a leeway and the decreases, and render upstream's outputs (the sorted new
//! rows, `pr_message.md`, `require_review`).

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Write;

/// One row of an allowance file: how it is keyed, which release it is for,
/// and the columns the PR table shows before the figures.
pub trait PercentileRow: Serialize {
    fn key(&self) -> String;
    /// `None` for rows that belong to no release (Verdict's test durations).
    fn release(&self) -> Option<&str>;
    fn figures(&self) -> Figures<'_>;
    /// Header and cells of the leading table columns.
    fn table_head() -> &'static str;
    fn table_cells(&self) -> String;
}

/// What the comparison reads of a row.
pub struct Figures<'a> {
    pub job_runs: i64,
    pub p95: &'a str,
    pub p99: &'a str,
}

/// The leading PR-table columns of upstream's rows.
const RELEASE_COLUMNS: &str = "| Name | Release | From | Arch | Network | Platform | Topology |";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisruptionRow {
    #[serde(rename = "BackendName")]
    pub backend_name: String,
    #[serde(rename = "Release")]
    pub release: String,
    #[serde(rename = "FromRelease")]
    pub from_release: String,
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "Network")]
    pub network: String,
    #[serde(rename = "Topology")]
    pub topology: String,
    #[serde(rename = "MasterNodesUpdated")]
    pub master_nodes_updated: Option<String>,
    #[serde(rename = "JobRuns")]
    pub job_runs: i64,
    #[serde(rename = "P95")]
    pub p95: String,
    #[serde(rename = "P99")]
    pub p99: String,
    #[serde(rename = "P75")]
    pub p75: String,
    #[serde(rename = "P50")]
    pub p50: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRow {
    #[serde(rename = "AlertName")]
    pub alert_name: String,
    #[serde(rename = "AlertNamespace")]
    pub alert_namespace: String,
    #[serde(rename = "AlertLevel")]
    pub alert_level: String,
    #[serde(rename = "FirstObserved")]
    pub first_observed: String,
    #[serde(rename = "LastObserved")]
    pub last_observed: String,
    #[serde(rename = "Release")]
    pub release: String,
    #[serde(rename = "FromRelease")]
    pub from_release: String,
    #[serde(rename = "Platform")]
    pub platform: String,
    #[serde(rename = "Architecture")]
    pub architecture: String,
    #[serde(rename = "Network")]
    pub network: String,
    #[serde(rename = "Topology")]
    pub topology: String,
    #[serde(rename = "MasterNodesUpdated")]
    pub master_nodes_updated: Option<String>,
    #[serde(rename = "JobRuns")]
    pub job_runs: i64,
    #[serde(rename = "P95")]
    pub p95: String,
    #[serde(rename = "P99")]
    pub p99: String,
    #[serde(rename = "P75")]
    pub p75: String,
    #[serde(rename = "P50")]
    pub p50: String,
}

/// Verdict's own rows: a test's duration percentiles (seconds) in a window of runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestDurationRow {
    #[serde(rename = "Suite")]
    pub suite: String,
    #[serde(rename = "TestName")]
    pub test_name: String,
    /// Timed results in the window.
    #[serde(rename = "JobRuns")]
    pub job_runs: i64,
    #[serde(rename = "P95")]
    pub p95: String,
    #[serde(rename = "P99")]
    pub p99: String,
    #[serde(rename = "P75")]
    pub p75: String,
    #[serde(rename = "P50")]
    pub p50: String,
}

impl PercentileRow for DisruptionRow {
    fn key(&self) -> String {
        [&self.backend_name, &self.from_release, &self.release, &self.architecture, &self.platform, &self.network, &self.topology]
            .map(String::as_str)
            .join("_")
    }
    fn release(&self) -> Option<&str> {
        Some(&self.release)
    }
    fn figures(&self) -> Figures<'_> {
        Figures { job_runs: self.job_runs, p95: &self.p95, p99: &self.p99 }
    }
    fn table_head() -> &'static str {
        RELEASE_COLUMNS
    }
    fn table_cells(&self) -> String {
        let r = self;
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.backend_name, r.release, r.from_release, r.architecture, r.network, r.platform, r.topology
        )
    }
}

impl PercentileRow for AlertRow {
    fn key(&self) -> String {
        [
            &self.alert_name,
            &self.alert_namespace,
            &self.alert_level,
            &self.from_release,
            &self.release,
            &self.architecture,
            &self.platform,
            &self.network,
            &self.topology,
        ]
        .map(String::as_str)
        .join("_")
    }
    fn release(&self) -> Option<&str> {
        Some(&self.release)
    }
    fn figures(&self) -> Figures<'_> {
        Figures { job_runs: self.job_runs, p95: &self.p95, p99: &self.p99 }
    }
    fn table_head() -> &'static str {
        RELEASE_COLUMNS
    }
    fn table_cells(&self) -> String {
        let r = self;
        format!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.alert_name, r.release, r.from_release, r.architecture, r.network, r.platform, r.topology
        )
    }
}

impl PercentileRow for TestDurationRow {
    fn key(&self) -> String {
        format!("{}_{}", self.suite, self.test_name)
    }
    fn release(&self) -> Option<&str> {
        None
    }
    fn figures(&self) -> Figures<'_> {
        Figures { job_runs: self.job_runs, p95: &self.p95, p99: &self.p99 }
    }
    fn table_head() -> &'static str {
        "| Suite | Name |"
    }
    fn table_cells(&self) -> String {
        format!("| {} | {} |", self.suite, self.test_name)
    }
}

/// A percentile as upstream's files hold it: decimal seconds as a string,
/// with ".0" when whole.
pub fn seconds_string(seconds: f64) -> String {
    let s = format!("{}", (seconds * 1000.0).round() / 1000.0);
    if s.contains('.') { s } else { format!("{s}.0") }
}

/// Seconds rounded to milliseconds; anything unparsable is 0 (as upstream).
pub fn millis(raw: &str) -> i64 {
    raw.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map_or(0, |v| (v * 1000.0).round() as i64)
}

/// A duration in Go's notation (`time.Duration.String`) for whole milliseconds.
pub fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    if ms < 1000 {
        return format!("{sign}{ms}ms");
    }
    let (h, m, s, frac) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let secs = if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => format!("{sign}{secs}"),
        (0, m) => format!("{sign}{m}m{secs}"),
        (h, m) => format!("{sign}{h}h{m}m{secs}"),
    }
}

/// A new row compared with the current row of the same key.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared {
    pub key: String,
    pub job_results: i64,
    pub new_p95_ms: i64,
    pub new_p99_ms: i64,
    /// Recorded only when beyond the leeway (else 0), as upstream shows them.
    pub p95_increase_ms: i64,
    pub p95_percent: f64,
    pub p99_increase_ms: i64,
    pub p99_percent: f64,
    table_cells: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Comparison {
    pub increases: usize,
    pub decreases: usize,
    pub compared: Vec<Compared>,
    pub added: Vec<String>,
    /// Current keys absent from the new rows, once per release pass (so twice
    /// for two releases, as upstream reports them).
    pub missing: Vec<String>,
}

/// Compare `new` with `current` release by release (`releases`, in order;
/// empty for rows without releases, which are compared in one pass).
pub fn compare<R: PercentileRow>(current: &[R], new: &[R], releases: &[&str], leeway: f64) -> Comparison {
    let by_key: std::collections::HashMap<String, &R> = current.iter().map(|r| (r.key(), r)).collect();
    let new_keys: HashSet<String> = new.iter().map(R::key).collect();
    let passes: Vec<Option<&str>> = if releases.is_empty() { vec![None] } else { releases.iter().map(|r| Some(*r)).collect() };
    let mut out = Comparison::default();
    for release in passes {
        for row in new.iter().filter(|r| release.is_none() || r.release() == release) {
            let key = row.key();
            let Some(old) = by_key.get(&key) else {
                out.added.push(key);
                continue;
            };
            let (old, new) = (old.figures(), row.figures());
            let (old95, old99, new95, new99) = (millis(old.p95), millis(old.p99), millis(new.p95), millis(new.p99));
            let percent = |old: i64, new: i64| if old == 0 { 0.0 } else { (new - old) as f64 / old as f64 * 100.0 };
            let (pct95, pct99) = (percent(old95, new95), percent(old99, new99));
            let mut c = Compared {
                key,
                job_results: new.job_runs,
                new_p95_ms: new95,
                new_p99_ms: new99,
                p95_increase_ms: 0,
                p95_percent: 0.0,
                p99_increase_ms: 0,
                p99_percent: 0.0,
                table_cells: row.table_cells(),
            };
            if new95 > old95 && pct95 > leeway {
                (c.p95_increase_ms, c.p95_percent) = (new95 - old95, pct95);
            }
            if new99 > old99 && pct99 > leeway {
                out.increases += 1;
                (c.p99_increase_ms, c.p99_percent) = (new99 - old99, pct99);
            }
            if new99 < old99 {
                out.decreases += 1;
            }
            out.compared.push(c);
        }
        out.missing.extend(current.iter().map(R::key).filter(|k| !new_keys.contains(k)));
    }
    out
}

/// The output file: the new rows of the compared releases, sorted by key, as
/// a 2-space-indented JSON array (an empty file when there are none).
pub fn output_file<R: PercentileRow>(new: &[R], releases: &[&str]) -> String {
    let mut rows: Vec<(String, &R)> =
        new.iter().filter(|r| r.release().is_none_or(|rel| releases.contains(&rel))).map(|r| (r.key(), r)).collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    if rows.is_empty() {
        return String::new();
    }
    let rows: Vec<&R> = rows.into_iter().map(|(_, r)| r).collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default()
}

/// The section appended to `pr_message.md`.
pub fn pr_message<R: PercentileRow>(data_type: &str, c: &Comparison, leeway: f64, min_job_runs: i64) -> String {
    let mut md = format!("## {data_type} Information\n");
    let _ = writeln!(md, "There were (`{}`) added jobs and (`{}`) were removed.", c.added.len(), c.missing.len());
    if c.increases > 0 {
        let _ = writeln!(md, "### Comparisons were above allowed leeway of `{leeway:.2}%`");
        let _ = writeln!(md, "For P99, {data_type} had `{}` jobs increased and `{}` jobs decreased.", c.increases, c.decreases);
        let _ = writeln!(md, "<details>\n<summary>Click to see differences</summary>\n");
        let _ = writeln!(md, "{} Job Results | P95 | P95 % Increase | P99 | P99 % Increase |", R::table_head());
        let columns = R::table_head().matches('|').count() - 1 + 5;
        let _ = writeln!(md, "|{}", " --- |".repeat(columns));
        let mut rows: Vec<&Compared> = c.compared.iter().filter(|r| r.job_results >= min_job_runs && r.p99_increase_ms > 0).collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.p95_increase_ms));
        for r in rows {
            let _ = writeln!(md, "{}", table_row(r));
        }
        md.push_str("</details>\n");
    }
    md
}

/// One PR table row, spaced exactly as upstream writes it.
pub fn table_row(r: &Compared) -> String {
    format!(
        "{} {} | {}| {:.2}% | {} | {:.2}% ",
        r.table_cells,
        r.job_results,
        go_duration(r.new_p95_ms),
        r.p95_percent,
        go_duration(r.new_p99_ms),
        r.p99_percent
    )
}

/// The lines appended to `require_review` (none when nothing changed).
pub fn require_review(data_type: &str, c: &Comparison, leeway: f64) -> String {
    let mut out = String::new();
    if c.increases > 0 {
        let _ = writeln!(out, "({data_type}) had ({}) results increased in duration beyond specified leeway of {leeway:.2}%", c.increases);
    }
    if c.decreases > 0 {
        let _ = writeln!(out, "({data_type}) had ({}) results decreased in duration beyond specified leeway of {leeway:.2}%", c.decreases);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_duration_notation() {
        let cases = [(0, "0s"), (500, "500ms"), (12_000, "12s"), (1_500, "1.5s"), (90_000, "1m30s"), (60_000, "1m0s")];
        for (ms, want) in cases {
            assert_eq!(go_duration(ms), want);
        }
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(3_723_250), "1h2m3.25s");
        assert_eq!(go_duration(-4_500), "-4.5s");
    }

    #[test]
    fn seconds_strings_and_millis() {
        assert_eq!(seconds_string(2.0), "2.0");
        assert_eq!(seconds_string(87.5612), "87.561");
        assert_eq!(millis("87.56"), 87_560);
        assert_eq!((millis("nope"), millis("")), (0, 0));
    }
}
