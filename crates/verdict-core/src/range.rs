//! What a page (and its JSON twin) looks at: a branch and a range of time or
//! runs, by the grammar of the dashboard spec (§2.2):
//!
//! - `branch`: a name, or `*` for all; by default the suite's default branch.
//! - exactly one of `window` (`1d` `7d` `14d` `28d` `90d`: the last N × 24 h),
//!   `from` + `to` (`YYYY-MM-DD`, a bare date being 00:00 UTC, or RFC 3339;
//!   `from` inclusive, `to` exclusive, at most 90 days apart) or `runs`
//!   (the last N runs, 1 to 5000); by default `window=14d`.
//!
//! Charts bucket a range by hour for `1d`, by day otherwise, by run for
//! `runs`; a Δ compares with the range of the same length just before.

use chrono::{DateTime, NaiveDate, Utc};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// The windows a page offers.
pub const WINDOWS: [u32; 5] = [1, 7, 14, 28, 90];
pub const DEFAULT_WINDOW_DAYS: u32 = 14;
pub const MAX_RANGE_DAYS: i64 = 90;
pub const MAX_RUNS: u32 = 5000;

/// Which branch: the suite's default, a named one, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Branch {
    Default,
    Named(String),
    All,
}

impl Branch {
    /// The branch to filter on, `None` for all.
    pub fn resolve<'a>(&'a self, default_branch: &'a str) -> Option<&'a str> {
        match self {
            Branch::Default => Some(default_branch),
            Branch::Named(b) => Some(b),
            Branch::All => None,
        }
    }
}

/// A span of time (`[from_ms, to_ms)`) or the last runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last `days` × 24 h up to `to_ms` (the request's now).
    Window {
        days: u32,
        to_ms: i64,
    },
    Between {
        from_ms: i64,
        to_ms: i64,
    },
    LastRuns(u32),
}

/// How a chart over a range is bucketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
    Run,
}

impl Range {
    /// `[from_ms, to_ms)`, for a span of time.
    pub fn bounds(&self) -> Option<(i64, i64)> {
        match *self {
            Range::Window { days, to_ms } => Some((to_ms - i64::from(days) * DAY_MS, to_ms)),
            Range::Between { from_ms, to_ms } => Some((from_ms, to_ms)),
            Range::LastRuns(_) => None,
        }
    }

    pub fn bucket(&self) -> Bucket {
        match self {
            Range::Window { days: 1, .. } => Bucket::Hour,
            Range::LastRuns(_) => Bucket::Run,
            _ => Bucket::Day,
        }
    }

    /// The range of the same length just before, for a Δ. For `runs=N`, the
    /// N runs before are `LastRuns` offset by N: the caller skips N runs.
    pub fn previous(&self) -> Range {
        match *self {
            Range::Window { days, to_ms } => Range::Window { days, to_ms: to_ms - i64::from(days) * DAY_MS },
            Range::Between { from_ms, to_ms } => Range::Between { from_ms: from_ms - (to_ms - from_ms), to_ms: from_ms },
            Range::LastRuns(n) => Range::LastRuns(n),
        }
    }
}

/// A page's branch and range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub branch: Branch,
    pub range: Range,
}

/// A parameter that cannot be read: which, and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{param}: {message}")]
pub struct ParamError {
    pub param: &'static str,
    pub message: String,
}

fn bad(param: &'static str, message: impl Into<String>) -> ParamError {
    ParamError { param, message: message.into() }
}

/// Read `branch`, `window`, `from`, `to` and `runs` (by `get`), at `now_ms`.
/// Empty values count as absent, as an HTML form sends them.
pub fn parse_selection<'a>(get: impl Fn(&str) -> Option<&'a str>, now_ms: i64) -> Result<Selection, ParamError> {
    let value = |k: &str| get(k).map(str::trim).filter(|v| !v.is_empty());
    let branch = match value("branch") {
        None => Branch::Default,
        Some("*") => Branch::All,
        Some(b) => Branch::Named(b.to_owned()),
    };
    let (window, from, to, runs) = (value("window"), value("from"), value("to"), value("runs"));
    let given = [window.is_some(), from.is_some() || to.is_some(), runs.is_some()].iter().filter(|g| **g).count();
    if given > 1 {
        return Err(bad("window", "give one of window, from and to, or runs"));
    }
    let range = if let Some(w) = window {
        let days = w.strip_suffix('d').and_then(|n| n.parse::<u32>().ok()).filter(|d| WINDOWS.contains(d));
        let days = days.ok_or_else(|| bad("window", "one of 1d, 7d, 14d, 28d, 90d"))?;
        Range::Window { days, to_ms: now_ms }
    } else if from.is_some() || to.is_some() {
        let (Some(from), Some(to)) = (from, to) else {
            return Err(bad(if from.is_none() { "from" } else { "to" }, "from and to go together"));
        };
        let (from_ms, to_ms) = (instant(from).ok_or_else(|| bad("from", DATE))?, instant(to).ok_or_else(|| bad("to", DATE))?);
        if to_ms <= from_ms {
            return Err(bad("to", "must be later than from"));
        }
        if to_ms - from_ms > MAX_RANGE_DAYS * DAY_MS {
            return Err(bad("to", format!("at most {MAX_RANGE_DAYS} days after from")));
        }
        Range::Between { from_ms, to_ms }
    } else if let Some(n) = runs {
        let n = n.parse::<u32>().ok().filter(|n| (1..=MAX_RUNS).contains(n));
        Range::LastRuns(n.ok_or_else(|| bad("runs", format!("a number of runs from 1 to {MAX_RUNS}")))?)
    } else {
        Range::Window { days: DEFAULT_WINDOW_DAYS, to_ms: now_ms }
    };
    Ok(Selection { branch, range })
}

const DATE: &str = "a date (YYYY-MM-DD, 00:00 UTC) or an RFC 3339 time";

/// RFC 3339 with milliseconds, UTC (`2024-03-01T00:00:00.000Z`): how Verdict writes times on the wire.
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `YYYY-MM-DD` (00:00 UTC) or RFC 3339, in milliseconds since the epoch.
pub fn instant(s: &str) -> Option<i64> {
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis());
    }
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc).timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: i64 = 1_780_000_000_000;

    fn parse(pairs: &[(&str, &str)]) -> Result<Selection, ParamError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_selection(|k| m.get(k).map(String::as_str), NOW)
    }

    #[test]
    fn the_default_is_the_default_branch_over_14_days() {
        let s = parse(&[]).unwrap();
        assert_eq!(s, Selection { branch: Branch::Default, range: Range::Window { days: 14, to_ms: NOW } });
        assert_eq!(s.range.bounds(), Some((NOW - 14 * DAY_MS, NOW)));
        assert_eq!(s.range.bucket(), Bucket::Day);
        assert_eq!(s.branch.resolve("main"), Some("main"));
        assert_eq!(parse(&[("branch", ""), ("window", "")]).unwrap(), s, "an empty form field is absent");
    }

    #[test]
    fn branches_windows_ranges_and_runs() {
        assert_eq!(parse(&[("branch", "*")]).unwrap().branch.resolve("main"), None);
        assert_eq!(parse(&[("branch", "release/1.0")]).unwrap().branch, Branch::Named("release/1.0".into()));
        let day = parse(&[("window", "1d")]).unwrap().range;
        assert_eq!((day.bucket(), day.bounds()), (Bucket::Hour, Some((NOW - DAY_MS, NOW))));
        assert_eq!(day.previous().bounds(), Some((NOW - 2 * DAY_MS, NOW - DAY_MS)), "the Δ compares with the day before");
        let between = parse(&[("from", "2026-11-01"), ("to", "2026-11-08T12:00:00Z")]).unwrap().range;
        let nov1 = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
        assert_eq!(between.bounds(), Some((nov1, nov1 + 7 * DAY_MS + 12 * HOUR_MS)));
        assert_eq!(between.previous().bounds(), Some((nov1 - 7 * DAY_MS - 12 * HOUR_MS, nov1)));
        let runs = parse(&[("runs", "50")]).unwrap().range;
        assert_eq!((runs, runs.bucket(), runs.bounds()), (Range::LastRuns(50), Bucket::Run, None));
    }

    #[test]
    fn every_bad_parameter_is_named() {
        for (pairs, param) in [
            (&[("window", "3d")][..], "window"),
            (&[("window", "7d"), ("runs", "5")][..], "window"),
            (&[("from", "2026-11-01")][..], "to"),
            (&[("to", "2026-11-01")][..], "from"),
            (&[("from", "yesterday"), ("to", "2026-11-01")][..], "from"),
            (&[("from", "2026-11-02"), ("to", "2026-11-01")][..], "to"),
            (&[("from", "2026-01-01"), ("to", "2026-06-01")][..], "to"),
            (&[("runs", "0")][..], "runs"),
            (&[("runs", "5001")][..], "runs"),
        ] {
            assert_eq!(parse(pairs).unwrap_err().param, param, "{pairs:?}");
        }
        assert_eq!(parse(&[("window", "3d")]).unwrap_err().to_string(), "window: one of 1d, 7d, 14d, 28d, 90d");
    }
}
