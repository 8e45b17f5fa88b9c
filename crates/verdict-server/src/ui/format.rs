//! How numbers, times, outcomes and links read on every page: one format
//! for a rate with its interval, one for durations, one for relative times,
//! and the only place links out are built (http and https only).

use chrono::{DateTime, Utc};
use verdict_core::stats::Proportion;

/// HTML-escape text (askama's escaper), for SVG built in Rust.
pub fn esc(s: &str) -> String {
    askama::filters::escape(s, askama::filters::Html).map(|s| s.to_string()).unwrap_or_default()
}

/// `97.2% [95.1–98.4] n=412`; `–` without data.
pub fn rate(p: &Option<Proportion>) -> String {
    match p {
        None => "–".into(),
        Some(p) => format!("{:.1}% [{:.1}–{:.1}] n={}", 100.0 * p.rate, 100.0 * p.low, 100.0 * p.high, p.trials),
    }
}

/// Whether a rate rests on too few trials to be read as a bare number (n < 5).
pub fn is_thin(p: &Option<Proportion>) -> bool {
    p.is_none_or(|p| p.trials < 5)
}

/// A Δ between two rates in points, signed (`+1.2 pts`).
pub fn rate_delta(now: &Option<Proportion>, before: &Option<Proportion>) -> String {
    match (now, before) {
        (Some(a), Some(b)) => format!("{:+.1} pts", 100.0 * (a.rate - b.rate)),
        _ => "no data before".into(),
    }
}

pub fn count_delta(now: i64, before: i64) -> String {
    format!("{:+}", now - before)
}

/// Seconds as `850 ms`, `1.24 s`, `3 m 05 s`, `2 h 01 m`.
pub fn seconds(s: Option<f64>) -> String {
    let Some(s) = s.filter(|s| s.is_finite()) else { return "–".into() };
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.2} s")
    } else if s < 3600.0 {
        format!("{} m {:02} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{} h {:02} m", (s / 3600.0) as u64, ((s % 3600.0) / 60.0) as u64)
    }
}

/// `3 h ago`, relative to `now`.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - t).num_seconds().max(0);
    match s {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..86_400 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// `2026-11-30 14:02 UTC`.
pub fn utc(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// RFC 3339, for `<time datetime>`.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The first line of a text, cut to `max` characters with an ellipsis.
pub fn first_line(s: &str, max: usize) -> String {
    let line = s.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    cut(line, max)
}

/// At most `max` characters, an ellipsis marking a cut.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// A link out, only when it is http or https (a `javascript:` URL in a run's
/// metadata stays text).
pub fn external(url: Option<&str>) -> Option<String> {
    let url = url?.trim();
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| url.to_owned())
}

/// Percent-encode for a URL query value or path segment; `keep_slash` keeps `/` (file paths).
pub fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A suite's link template filled in (`{commit}`, `{file}`, `{line}`), when
/// it is set and yields an http(s) URL.
pub fn fill_template(template: Option<&str>, commit: Option<&str>, file: Option<&str>, line: Option<&str>) -> Option<String> {
    let t = template?;
    if (t.contains("{commit}") && commit.is_none()) || (t.contains("{file}") && file.is_none()) {
        return None;
    }
    let url = t
        .replace("{commit}", &encode(commit.unwrap_or(""), false))
        .replace("{file}", &encode(file.unwrap_or(""), true))
        .replace("{line}", &encode(line.unwrap_or(""), false));
    external(Some(&url))
}

/// A test's place in the code as shown (`file:line`, else the file) and
/// its link through the suite's file template at `commit`, when set.
pub fn code_place(
    file_name: Option<&str>,
    location: Option<&str>,
    template: Option<&str>,
    commit: Option<&str>,
) -> Option<(String, Option<String>)> {
    let shown = location.or(file_name)?;
    let file = file_name.or_else(|| location.and_then(|l| l.rsplit_once(':').map(|(f, _)| f)));
    let href = file.and_then(|f| fill_template(template, commit, Some(f), line_of(location)));
    Some((shown.to_owned(), href))
}

/// The line of a `file:line` location, when it ends in one.
pub fn line_of(location: Option<&str>) -> Option<&str> {
    let (_, line) = location?.rsplit_once(':')?;
    (!line.is_empty() && line.bytes().all(|b| b.is_ascii_digit())).then_some(line)
}

/// A query string from pairs, values encoded, empty values left out.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v, false))).collect();
    if parts.is_empty() { String::new() } else { format!("?{}", parts.join("&")) }
}

/// A short commit (`a1b2c3d`).
pub fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_read_with_interval_and_n() {
        let p = verdict_core::stats::reliability(406, 6);
        assert_eq!(rate(&p), "98.5% [96.9–99.3] n=412");
        assert_eq!(rate(&None), "–");
        assert!(is_thin(&verdict_core::stats::reliability(1, 0)));
        assert!(!is_thin(&p));
    }

    #[test]
    fn durations_and_cuts() {
        assert_eq!(seconds(Some(0.85)), "850 ms");
        assert_eq!(seconds(Some(1.24)), "1.24 s");
        assert_eq!(seconds(Some(185.0)), "3 m 05 s");
        assert_eq!(seconds(Some(7260.0)), "2 h 01 m");
        assert_eq!(seconds(None), "–");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(first_line("\n  first \nsecond", 80), "first");
    }

    #[test]
    fn only_http_links_go_out_and_templates_are_encoded() {
        assert_eq!(external(Some("javascript:alert(1)")), None);
        assert_eq!(external(Some(" JavaScript:alert(1)")), None);
        assert_eq!(external(Some("data:text/html,x")), None);
        assert_eq!(external(Some("https://ci.example/1")).as_deref(), Some("https://ci.example/1"));
        let t = Some("https://git.example/o/r/blob/{commit}/{file}#L{line}");
        assert_eq!(
            fill_template(t, Some("abc"), Some("src/a b.rs"), Some("12")).as_deref(),
            Some("https://git.example/o/r/blob/abc/src/a%20b.rs#L12")
        );
        assert_eq!(fill_template(t, None, Some("a.rs"), None), None, "no commit, no link");
        assert_eq!(fill_template(Some("javascript:{commit}"), Some("x"), None, None), None);
        assert_eq!(
            fill_template(Some("https://x/{commit}"), Some("\"><script>"), None, None).as_deref(),
            Some("https://x/%22%3E%3Cscript%3E")
        );
        assert_eq!(line_of(Some("tests/a.py:42")), Some("42"));
        assert_eq!(line_of(Some("tests/a.py")), None);
    }

    #[test]
    fn escaping_covers_attributes_and_text() {
        assert_eq!(esc("<script>\"'&"), "&#60;script&#62;&#34;&#39;&#38;");
        assert_eq!(query(&[("branch", "a b&c"), ("window", ""), ("q", "*x")]), "?branch=a%20b%26c&q=%2Ax");
    }
}
