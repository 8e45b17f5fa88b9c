//! How much of an upload Verdict keeps. Every parser applies the same caps
//! while it reads, so memory follows the size of the request and not what
//! it expands into; each cap is documented in the README. Text past a cap is
//! cut and marked where it is stored, never changed silently.

use crate::upload::truncate;

/// Bytes of a result's scope, and of its name.
pub const MAX_NAME_BYTES: usize = 4096;
/// Bytes kept of one text field: a failure reason, a captured output, one
/// failure's text, a property value.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Attempts kept of one JUnit testcase (Surefire `flaky*` and `rerun*`
/// elements); the rest are counted as skipped.
pub const MAX_ATTEMPTS_PER_CASE: usize = 100;
/// Failure details (`failure_expanded` items, JUnit `<failure>`/`<error>`
/// elements) kept per result; one more item says how many were dropped.
pub const MAX_FAILURE_DETAILS: usize = 20;
/// Lines kept per failure detail (`expanded`, `backtrace`).
pub const MAX_DETAIL_LINES: usize = 500;
/// Failure-detail lines kept over a whole upload.
pub const MAX_UPLOAD_DETAIL_LINES: usize = 200_000;
/// Property names kept per result.
pub const MAX_PROPERTIES: usize = 100;
/// Nesting of JUnit `<testsuite>` elements, and of elements of any kind.
pub const MAX_SUITE_DEPTH: usize = 64;
pub const MAX_ELEMENT_DEPTH: usize = 256;
/// Bytes of one suite name, and of a testcase's nested suite names joined.
pub const MAX_SUITE_NAME_BYTES: usize = 4096;
pub const MAX_SUITE_PATH_BYTES: usize = 16 * 1024;

/// Bytes of a run's labels that the stores index or group by: branch, commit,
/// job, payload, build number, job id and CI name. PostgreSQL refuses an index
/// entry over about 2.7 kB, so each is held under it with room for the others;
/// a longer one is refused with a 422 naming it (a cut label would file the
/// run under another one).
pub const MAX_RUN_LABEL_BYTES: usize = 1024;
/// Bytes of a run's URL.
pub const MAX_RUN_URL_BYTES: usize = 8 * 1024;
/// Keys of `run_env` beyond the ones Verdict models (collector, version, ...),
/// the bytes of each such key and of its value.
pub const MAX_RUN_ENV_EXTRA_KEYS: usize = 100;
pub const MAX_RUN_ENV_KEY_BYTES: usize = 256;
pub const MAX_RUN_ENV_VALUE_BYTES: usize = 4096;

/// Spans (`history.children` of a JSON result) are kept as sent within a
/// budget of memory, reckoned at 64 bytes per JSON value plus its text: per
/// result and per upload. A span that does not fit, or nests deeper, is left
/// out and counted; a string in a span is cut at its own cap.
pub const MAX_SPAN_BYTES_PER_RESULT: usize = 256 * 1024;
pub const MAX_UPLOAD_SPAN_BYTES: usize = 16 * 1024 * 1024;
pub const MAX_SPAN_TEXT_BYTES: usize = 4096;
pub const MAX_SPAN_DEPTH: usize = 16;

/// What ends text that was cut.
pub const TRUNCATION_MARK: &str = "\n[... truncated by Verdict]";

/// `s` cut to `max` bytes (at a character boundary) and marked, if longer.
pub fn cap_text(s: String, max: usize) -> String {
    if s.len() > max { cut_and_mark(s, max) } else { s }
}

/// `s` (the start of a text longer than `max`) cut so that it ends with the
/// mark within `max` bytes.
pub fn cut_and_mark(mut s: String, max: usize) -> String {
    let keep = truncate(&s, max.saturating_sub(TRUNCATION_MARK.len())).len();
    s.truncate(keep);
    s.push_str(TRUNCATION_MARK);
    s
}

/// Append `s` to `buf` without letting `buf` pass `max` bytes; the first
/// append that does not fit ends `buf` with the mark.
pub fn push_capped(buf: &mut String, s: &str, max: usize) {
    if buf.len() >= max {
        return;
    }
    let room = max - buf.len();
    if s.len() <= room {
        buf.push_str(s);
    } else {
        buf.push_str(truncate(s, room));
        buf.push_str(TRUNCATION_MARK);
    }
}

/// The failure-detail line budget of one upload.
#[derive(Debug, Clone)]
pub struct LineBudget {
    left: usize,
}

impl Default for LineBudget {
    fn default() -> Self {
        Self { left: MAX_UPLOAD_DETAIL_LINES }
    }
}

impl LineBudget {
    /// Whether one more line may be kept (and count it if so).
    pub fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    /// The lines of `text`, within both the per-detail and the upload budget;
    /// a last line says how many were dropped.
    pub fn lines(&mut self, text: &str, into: &mut Vec<String>) {
        let mut dropped = 0usize;
        for line in text.lines() {
            if into.len() < MAX_DETAIL_LINES && self.take() {
                into.push(line.to_owned());
            } else {
                dropped += 1;
            }
        }
        if dropped > 0 {
            into.push(dropped_lines(dropped));
        }
    }
}

/// The marker line that stands for lines that were not kept.
pub fn dropped_lines(n: usize) -> String {
    format!("[... {n} more lines truncated by Verdict]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_cut_at_a_boundary_and_marked() {
        let s = cap_text("é".repeat(100), 51);
        assert!(s.len() <= 51 && s.ends_with(TRUNCATION_MARK), "{s:?}");
        assert_eq!(cap_text("short".into(), 51), "short");
        let mut buf = String::new();
        push_capped(&mut buf, &"x".repeat(MAX_TEXT_BYTES + 10), MAX_TEXT_BYTES);
        assert!(buf.len() < MAX_TEXT_BYTES + 40 && buf.ends_with(TRUNCATION_MARK));
        push_capped(&mut buf, "more", MAX_TEXT_BYTES);
        assert!(buf.ends_with(TRUNCATION_MARK), "nothing is added past the cap");
    }

    #[test]
    fn lines_stop_at_either_budget_and_say_so() {
        let mut budget = LineBudget { left: 3 };
        let mut out = Vec::new();
        budget.lines("a\nb\nc\nd\ne", &mut out);
        assert_eq!(out, vec!["a", "b", "c", "[... 2 more lines truncated by Verdict]"]);
        let mut more = Vec::new();
        budget.lines("f", &mut more);
        assert_eq!(more, vec!["[... 1 more lines truncated by Verdict]"]);
        let mut budget = LineBudget::default();
        let mut out = Vec::new();
        budget.lines(&"l\n".repeat(MAX_DETAIL_LINES + 7), &mut out);
        assert_eq!((out.len(), out.last().unwrap().as_str()), (MAX_DETAIL_LINES + 1, "[... 7 more lines truncated by Verdict]"));
    }
}
