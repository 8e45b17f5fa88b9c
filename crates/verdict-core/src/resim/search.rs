//! The `search` parameter of ReSim's `GET /projects/{p}/batches`, as the
//! report client builds it (the ReSim spec, §3.3):
//! `clause (" AND " clause)*`, `clause := field op (quoted | bare)`, with
//! `=` `>` `<` (and `>=` `<=`) on `test_suite_id`, `branch_id`,
//! `created_at` and `test_suite_revision`. Timestamps come as Python's
//! `str(datetime)` (`2024-03-01 00:00:00+00:00`) or RFC 3339; one without
//! an offset is UTC.

use chrono::{DateTime, NaiveDateTime, Utc};
use uuid::Uuid;

/// What a search asks for. Time bounds are exclusive, in microseconds
/// since the epoch; revision bounds are inclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchSearch {
    pub test_suite: Option<Uuid>,
    pub branch: Option<Uuid>,
    pub created_after_us: Option<i64>,
    pub created_before_us: Option<i64>,
    pub revision_min: Option<i64>,
    pub revision_max: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("search: {0}")]
pub struct SearchError(pub String);

/// Longest search accepted: the report client's is under 300 bytes.
pub const MAX_SEARCH_BYTES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Lt,
    Ge,
    Le,
}

impl BatchSearch {
    pub fn parse(text: &str) -> Result<BatchSearch, SearchError> {
        let err = |m: String| Err(SearchError(m));
        if text.len() > MAX_SEARCH_BYTES {
            return err(format!("longer than {MAX_SEARCH_BYTES} bytes"));
        }
        let mut s = BatchSearch::default();
        if text.trim().is_empty() {
            return Ok(s);
        }
        for clause in split_and(text) {
            let (field, op, value) = clause_parts(clause)?;
            match field {
                "test_suite_id" | "branch_id" => {
                    if op != Op::Eq {
                        return err(format!("{field} takes only `=`"));
                    }
                    let id = Uuid::parse_str(value).map_err(|_| SearchError(format!("{field}: {value:?} is not a UUID")))?;
                    let slot = if field == "test_suite_id" { &mut s.test_suite } else { &mut s.branch };
                    if slot.is_some_and(|old| old != id) {
                        return err(format!("{field} is given twice with different values"));
                    }
                    *slot = Some(id);
                }
                "created_at" => {
                    let t = parse_time(value).ok_or_else(|| {
                        SearchError(format!("created_at: {value:?} is not a time (2024-03-01 00:00:00+00:00 or RFC 3339)"))
                    })?;
                    let (after, before) = match op {
                        Op::Gt => (Some(t), None),
                        Op::Ge => (Some(t - 1), None),
                        Op::Lt => (None, Some(t)),
                        Op::Le => (None, Some(t + 1)),
                        Op::Eq => (Some(t - 1), Some(t + 1)),
                    };
                    if let Some(a) = after {
                        s.created_after_us = Some(s.created_after_us.map_or(a, |o| o.max(a)));
                    }
                    if let Some(b) = before {
                        s.created_before_us = Some(s.created_before_us.map_or(b, |o| o.min(b)));
                    }
                }
                "test_suite_revision" => {
                    let n: i64 = value.parse().map_err(|_| SearchError(format!("test_suite_revision: {value:?} is not an integer")))?;
                    let (min, max) = match op {
                        Op::Eq => (Some(n), Some(n)),
                        Op::Gt => (Some(n.saturating_add(1)), None),
                        Op::Ge => (Some(n), None),
                        Op::Lt => (None, Some(n.saturating_sub(1))),
                        Op::Le => (None, Some(n)),
                    };
                    if let Some(m) = min {
                        s.revision_min = Some(s.revision_min.map_or(m, |o| o.max(m)));
                    }
                    if let Some(m) = max {
                        s.revision_max = Some(s.revision_max.map_or(m, |o| o.min(m)));
                    }
                }
                other => {
                    return err(format!(
                        "unknown field {other:?}: Verdict searches batches by test_suite_id, branch_id, created_at and test_suite_revision"
                    ));
                }
            }
        }
        Ok(s)
    }
}

/// The clauses between ` AND ` (outside quotes).
fn split_and(text: &str) -> Vec<&str> {
    let mut parts = vec![];
    let (mut start, mut quoted) = (0, false);
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            quoted = !quoted;
        } else if !quoted && text[i..].starts_with(" AND ") {
            parts.push(&text[start..i]);
            i += 5;
            start = i;
            continue;
        }
        i += 1;
    }
    parts.push(&text[start..]);
    parts
}

fn clause_parts(clause: &str) -> Result<(&str, Op, &str), SearchError> {
    let c = clause.trim();
    let bad = || SearchError(format!("{c:?} is not a clause `field op value`"));
    let field_end = c.find(|ch: char| !(ch.is_ascii_lowercase() || ch == '_')).ok_or_else(bad)?;
    let (field, rest) = c.split_at(field_end);
    if field.is_empty() {
        return Err(bad());
    }
    let rest = rest.trim_start();
    let (op, rest) = [(">=", Op::Ge), ("<=", Op::Le), ("=", Op::Eq), (">", Op::Gt), ("<", Op::Lt)]
        .into_iter()
        .find_map(|(sym, op)| rest.strip_prefix(sym).map(|r| (op, r)))
        .ok_or_else(|| SearchError(format!("{c:?}: the operator must be one of = > < >= <=")))?;
    let rest = rest.trim();
    let value = if let Some(inner) = rest.strip_prefix('"') {
        inner.strip_suffix('"').filter(|v| !v.contains('"')).ok_or_else(bad)?
    } else if rest.is_empty() || rest.contains(char::is_whitespace) || rest.contains('"') {
        return Err(bad());
    } else {
        rest
    };
    Ok((field, op, value))
}

/// Microseconds since the epoch of a Python `str(datetime)` or RFC 3339 time.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim().replacen(' ', "T", 1);
    if let Ok(d) = DateTime::parse_from_rfc3339(&t) {
        return Some(d.with_timezone(&Utc).timestamp_micros());
    }
    NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|n| n.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUITE: &str = "ff11c28b-cb7f-5792-8e48-cfdeaada45b3";
    const BRANCH: &str = "f5b9f223-dbb7-517e-86a0-8ac92cff68b1";

    #[test]
    fn the_report_clients_search_as_captured() {
        let s = BatchSearch::parse(&format!(
            "test_suite_id = \"{SUITE}\" AND branch_id = \"{BRANCH}\" AND created_at > \"2024-03-01 00:00:00+00:00\" AND created_at < \"2024-03-29 00:00:00+00:00\" AND test_suite_revision = 2"
        ))
        .unwrap();
        assert_eq!(s.test_suite, Some(Uuid::parse_str(SUITE).unwrap()));
        assert_eq!(s.branch, Some(Uuid::parse_str(BRANCH).unwrap()));
        assert_eq!(s.created_after_us, Some(1_709_251_200_000_000));
        assert_eq!(s.created_before_us, Some(1_711_670_400_000_000));
        assert_eq!((s.revision_min, s.revision_max), (Some(2), Some(2)));
    }

    #[test]
    fn python_and_rfc3339_times_with_fractions_and_without_offsets() {
        assert_eq!(parse_time("2024-03-01 00:00:00.500000+00:00"), Some(1_709_251_200_500_000));
        assert_eq!(parse_time("2024-03-01 00:00:00"), Some(1_709_251_200_000_000));
        assert_eq!(parse_time("2024-03-01T01:00:00+01:00"), Some(1_709_251_200_000_000));
        assert_eq!(parse_time("2024-03-01T00:00:00Z"), Some(1_709_251_200_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn bounds_combine_and_inclusive_ops_shift_by_one_microsecond() {
        let s = BatchSearch::parse("created_at >= \"2024-03-01 00:00:00\" AND created_at > \"2023-01-01 00:00:00\"").unwrap();
        assert_eq!(s.created_after_us, Some(1_709_251_200_000_000 - 1));
        let s = BatchSearch::parse("test_suite_revision > 1 AND test_suite_revision <= 4").unwrap();
        assert_eq!((s.revision_min, s.revision_max), (Some(2), Some(4)));
        assert_eq!(BatchSearch::parse("").unwrap(), BatchSearch::default());
    }

    #[test]
    fn bad_clauses_say_what_is_wrong() {
        for (text, says) in [
            ("status = \"ERROR\"", "unknown field"),
            ("test_suite_id = \"nope\"", "not a UUID"),
            ("created_at > \"soon\"", "not a time"),
            ("test_suite_revision = two", "not an integer"),
            ("branch_id > \"f5b9f223-dbb7-517e-86a0-8ac92cff68b1\"", "only `=`"),
            ("created_at ~ \"x\"", "operator"),
            ("test_suite_id = \"a\" OR x", "not a clause"),
            ("= 3", "not a clause"),
            ("test_suite_revision = 1 2", "not a clause"),
        ] {
            let e = BatchSearch::parse(text).unwrap_err();
            assert!(e.0.contains(says), "{text}: {e}");
        }
        assert!(BatchSearch::parse(&"x".repeat(MAX_SEARCH_BYTES + 1)).is_err());
        let twice = format!("test_suite_id = \"{SUITE}\" AND test_suite_id = \"{BRANCH}\"");
        assert!(BatchSearch::parse(&twice).unwrap_err().0.contains("twice"));
    }

    #[test]
    fn and_inside_quotes_is_part_of_the_value() {
        let e = BatchSearch::parse("created_at > \"2024 AND x\"").unwrap_err();
        assert!(e.0.contains("not a time"), "{e}");
    }
}
