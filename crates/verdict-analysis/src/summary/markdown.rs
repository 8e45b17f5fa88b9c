//! A run summary as text: GitHub-flavoured Markdown for a step summary, a
//! Buildkite annotation or a comment. Long lists fold (`<details>` where the
//! host renders HTML) and shorten until the text fits the host's limit.

use super::{Group, RunSummary, SummaryTest};
use std::fmt::Write;

/// GitHub step summaries and Buildkite annotations take at most 1 MiB.
pub const MAX_BYTES: usize = 1024 * 1024;
/// Tests shown open in a group; the rest fold.
const OPEN: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Plain Markdown (no HTML): long lists are cut with a count.
    Markdown,
    /// `$GITHUB_STEP_SUMMARY`: Markdown with `<details>` folds.
    GithubSummary,
    /// `buildkite-agent annotate`: Markdown with `<details>` folds.
    BuildkiteAnnotation,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, String> {
        match s {
            "markdown" => Ok(Format::Markdown),
            "github-summary" => Ok(Format::GithubSummary),
            "buildkite-annotation" => Ok(Format::BuildkiteAnnotation),
            other => Err(format!("format: markdown, github-summary or buildkite-annotation, not {other:?}")),
        }
    }

    fn folds(self) -> bool {
        self != Format::Markdown
    }
}

/// The summary in at most `max_bytes`: each list is shortened (a count
/// says how many are left out) until it fits.
pub fn render(s: &RunSummary, format: Format, max_bytes: usize) -> String {
    let mut listed = super::LISTED;
    loop {
        let text = render_with(s, format, listed);
        if text.len() <= max_bytes || listed == 0 {
            return if text.len() <= max_bytes { text } else { cut(&text, max_bytes) };
        }
        listed /= 2;
    }
}

/// A last resort: the text cut at a character boundary, with a note.
fn cut(text: &str, max_bytes: usize) -> String {
    const NOTE: &str = "\n\n(cut to fit)\n";
    let mut end = max_bytes.saturating_sub(NOTE.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{NOTE}", &text[..end])
}

/// Markdown-safe text: the characters that would start markup, escaped; no line breaks.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn short(s: &str, chars: usize) -> String {
    match s.char_indices().nth(chars) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn test_line(t: &SummaryTest) -> String {
    let mut line = format!("[{} › {}]({})", esc(&t.scope), esc(&t.name), t.url);
    if let Some(c) = &t.cause {
        let _ = write!(line, " — [{}]({})", esc(&short(&c.title, 120)), c.url);
    }
    if let Some(r) = &t.rate {
        let _ = write!(line, " — flake rate {:.1}% [{:.1}–{:.1}]", r.mean * 100.0, r.low * 100.0, r.high * 100.0);
    }
    if !t.owners.is_empty() {
        let _ = write!(line, " — {}", t.owners.iter().map(|o| format!("`{}`", o.replace('`', "'"))).collect::<Vec<_>>().join(" "));
    }
    line
}

fn group(out: &mut String, title: &str, g: &Group, format: Format, listed: usize) {
    if g.count == 0 {
        return;
    }
    let _ = writeln!(out, "\n**{title} ({})**\n", g.count);
    let shown: Vec<&SummaryTest> = g.tests.iter().take(listed).collect();
    let open = if format.folds() { OPEN.min(shown.len()) } else { shown.len() };
    for t in &shown[..open] {
        let _ = writeln!(out, "- {}", test_line(t));
    }
    if open < shown.len() {
        let _ = writeln!(out, "\n<details><summary>{} more</summary>\n", shown.len() - open);
        for t in &shown[open..] {
            let _ = writeln!(out, "- {}", test_line(t));
        }
        let _ = writeln!(out, "\n</details>");
    }
    if shown.len() < g.count {
        let _ = writeln!(out, "- … and {} more on the run page", g.count - shown.len());
    }
}

fn render_with(s: &RunSummary, format: Format, listed: usize) -> String {
    let mut out = String::new();
    let icon = if s.failing() > 0 { "❌" } else { "✅" };
    let branch = s.run.branch.as_deref().map(|b| format!(" on {}", esc(b))).unwrap_or_default();
    let _ = writeln!(
        out,
        "### {icon} Verdict: {} failed of {} tests ({} new), {} flaky, {} muted — {}{branch}",
        s.failing(),
        s.tests,
        s.new_failures.count,
        s.flaky_count,
        s.muted.count,
        esc(&s.suite)
    );
    let _ = write!(out, "\n[Run {}]({})", s.run.id, s.run.url);
    match &s.base {
        Some(b) => {
            let on = b.branch.as_deref().map(|x| format!(" on {}", esc(x))).unwrap_or_default();
            let _ = writeln!(out, " compared with [run {}]({}){on}", b.id, b.url);
        }
        None => {
            let _ = writeln!(out, " (no earlier run to compare with)");
        }
    }
    group(&mut out, "New failures", &s.new_failures, format, listed);
    group(&mut out, "Still failing", &s.still_failing, format, listed);
    group(&mut out, "Fixed", &s.fixed, format, listed);
    group(&mut out, "Flaky", &s.flaky, format, listed);
    group(&mut out, "Muted failures (they do not fail the build)", &s.muted, format, listed);
    if !s.slower.is_empty() {
        let _ = writeln!(out, "\n**Slower than the base ({})**\n", s.slower.len());
        for t in &s.slower {
            let _ = writeln!(out, "- {}: {:.2} s → {:.2} s", test_line(&t.test), t.before_s, t.now_s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Cause, RunRef};
    use super::*;

    fn t(i: usize) -> SummaryTest {
        SummaryTest {
            id: i as i64,
            scope: "Pay*ments".into(),
            name: format!("charges card {i} <b>"),
            url: format!("http://v/s/web/tests/{i}"),
            owners: vec!["payments".into()],
            cause: Some(Cause { id: "abc".into(), title: "card declined".into(), url: "http://v/s/web/failures/abc".into() }),
            rate: None,
        }
    }

    fn summary(new: usize) -> RunSummary {
        let none = Group { count: 0, tests: vec![] };
        RunSummary {
            suite: "web".into(),
            run: RunRef { id: 7, branch: Some("feature/x".into()), commit: None, url: "http://v/s/web/runs/7".into() },
            base: Some(RunRef { id: 6, branch: Some("main".into()), commit: None, url: "http://v/s/web/runs/6".into() }),
            tests: 5000,
            failed: new,
            flaky_count: 0,
            new_failures: Group { count: new, tests: (0..new.min(super::super::LISTED)).map(t).collect() },
            still_failing: none.clone(),
            fixed: none.clone(),
            flaky: none.clone(),
            muted: none,
            slower: vec![],
        }
    }

    #[test]
    fn a_summary_names_the_run_its_base_and_each_failure_escaped() {
        let text = render(&summary(2), Format::Markdown, MAX_BYTES);
        assert!(text.starts_with("### ❌ Verdict: 2 failed of 5000 tests (2 new), 0 flaky, 0 muted — web on feature/x"), "{text}");
        assert!(text.contains("[Run 7](http://v/s/web/runs/7) compared with [run 6](http://v/s/web/runs/6) on main"));
        assert!(text.contains(
            "- [Pay\\*ments › charges card 0 \\<b\\>](http://v/s/web/tests/0) — [card declined](http://v/s/web/failures/abc) — `payments`"
        ));
        assert!(!text.contains("Still failing"), "empty groups are left out");
        let green = RunSummary { failed: 0, new_failures: Group { count: 0, tests: vec![] }, ..summary(0) };
        assert!(render(&green, Format::GithubSummary, MAX_BYTES).starts_with("### ✅"));
    }

    #[test]
    fn long_lists_fold_and_shorten_to_fit_the_limit() {
        let s = summary(5000);
        let folded = render(&s, Format::GithubSummary, MAX_BYTES);
        assert!(folded.contains("<details><summary>190 more</summary>"), "10 open, the rest of the 200 folded");
        assert!(folded.contains("- … and 4800 more on the run page"));
        let plain = render(&s, Format::Markdown, MAX_BYTES);
        assert!(!plain.contains("<details>"), "plain Markdown has no HTML");
        let small = render(&s, Format::BuildkiteAnnotation, 4096);
        assert!(small.len() <= 4096, "{}", small.len());
        assert!(small.contains("more on the run page"), "it says what was left out");
        assert!(render(&s, Format::Markdown, 100).len() <= 100, "even the head alone is cut to fit");
    }
}
