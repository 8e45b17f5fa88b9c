//! The aggregated JUnit report of a judged batch of runs, in the shape the
//! job-run-aggregator writes (spec 1.4 and 1.8): the merged suite tree, every
//! test with `time="0"`, its details as YAML in `<system-out>`, and a
//! `<failure>` carrying the summary when it failed aggregation.

use crate::junit::SUITE_PATH_SEPARATOR;
use std::fmt::Write;
use verdict_core::batch::JudgedTest;
use verdict_core::decision::Status;

const NON_BLOCKING: &str = "*** NON-BLOCKING FAILURE: This test failure is not considered terminal because its lifecycle is 'informing' and will not prevent the overall suite from passing.";

#[derive(Default)]
struct SuiteNode<'a> {
    name: &'a str,
    tests: Vec<&'a JudgedTest>,
    children: Vec<SuiteNode<'a>>,
}

impl<'a> SuiteNode<'a> {
    fn child(&mut self, name: &'a str) -> &mut SuiteNode<'a> {
        let i = match self.children.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.children.push(SuiteNode { name, ..SuiteNode::default() });
                self.children.len() - 1
            }
        };
        &mut self.children[i]
    }

    fn failures(&self) -> usize {
        self.tests.iter().filter(|t| t.decision.status == Status::Failed).count()
            + self.children.iter().map(SuiteNode::failures).sum::<usize>()
    }
}

/// Write the report. Suites and tests keep the order of first appearance.
pub fn write(tests: &[JudgedTest]) -> String {
    let mut root = SuiteNode::default();
    for t in tests {
        let mut node = &mut root;
        for name in t.suite.split(SUITE_PATH_SEPARATOR) {
            node = node.child(name);
        }
        node.tests.push(t);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n");
    for suite in &root.children {
        write_suite(&mut out, suite, 1);
    }
    out.push_str("</testsuites>\n");
    out
}

fn write_suite(out: &mut String, s: &SuiteNode<'_>, depth: usize) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(out, "{pad}<testsuite name=\"{}\" tests=\"0\" skipped=\"0\" failures=\"{}\" time=\"0\">", attr(s.name), s.failures());
    for t in &s.tests {
        let yaml = details_yaml(t);
        let lifecycle = t.lifecycle.as_deref().map(|l| format!(" lifecycle=\"{}\"", attr(l))).unwrap_or_default();
        let _ = writeln!(out, "{pad}  <testcase name=\"{}\" time=\"0\"{lifecycle}>", attr(&t.name));
        if t.decision.status == Status::Failed {
            let message = if t.blocks() { t.decision.summary.clone() } else { format!("{NON_BLOCKING}\n{}", t.decision.summary) };
            let _ = writeln!(out, "{pad}    <failure message=\"{}\">{}</failure>", attr(&message), text(&yaml));
        } else if t.decision.status == Status::Skipped {
            let _ = writeln!(out, "{pad}    <skipped message=\"{}\"></skipped>", attr(&t.decision.summary));
        }
        let _ = writeln!(out, "{pad}    <system-out>{}</system-out>", text(&yaml));
        let _ = writeln!(out, "{pad}  </testcase>");
    }
    for c in &s.children {
        write_suite(out, c, depth + 1);
    }
    let _ = writeln!(out, "{pad}</testsuite>");
}

/// The details upstream stores (yaml.v2 field names): name, testsuitename,
/// summary, passes, failures, skips. Strings are written as double-quoted
/// YAML scalars (JSON string syntax is valid YAML).
pub fn details_yaml(t: &JudgedTest) -> String {
    let q = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut y = format!("name: {}\ntestsuitename: {}\nsummary: {}\n", q(&t.name), q(&t.suite), q(&t.decision.summary));
    for (key, runs) in [("passes", &t.pass_runs), ("failures", &t.failure_runs), ("skips", &t.skip_runs)] {
        if runs.is_empty() {
            let _ = writeln!(y, "{key}: []");
        } else {
            let _ = writeln!(y, "{key}:");
            for r in runs {
                let _ = writeln!(y, "- jobrunid: {}", q(r));
            }
        }
    }
    y
}

fn attr(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\n' => o.push_str("&#10;"),
            '\r' => o.push_str("&#13;"),
            '\t' => o.push_str("&#9;"),
            c => o.push(c),
        }
    }
    o
}

fn text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
