//! JUnit XML in the dialects people upload: pytest, nextest, jest-junit,
//! gotestsum, Maven Surefire (with reruns), ctest, Bazel `test.xml`.
//!
//! A streaming pass over the document: no DOM, no entity expansion. DOCTYPE
//! declarations are refused because they are how entity bombs get in.

use crate::error::{FormatError, line_of};
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use verdict_core::upload::truncate;
use verdict_core::{ExecutionRecord, FailureDetail, Outcome, TagMap};

/// Captured stdout/stderr per execution are cut to this many bytes.
pub const MAX_CAPTURED_OUTPUT: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct JunitReport {
    pub executions: Vec<ExecutionRecord>,
    /// `<testcase>` elements seen (reruns of one case count once).
    pub testcases: usize,
    /// Where each execution stood in the document, index for index.
    pub origins: Vec<Origin>,
    /// The distinct suite paths that `Origin::suite_path` indexes.
    pub suite_paths: Vec<String>,
}

/// The nesting of an execution's testcase, for tools that merge reports by
/// suite (the job-run aggregator names a suite by its nested `<testsuite>`
/// names joined with `|||`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index into `JunitReport::suite_paths`.
    pub suite_path: u32,
    /// The testcase's `lifecycle` attribute (`informing`, `blocking`), if any.
    pub lifecycle: Option<Box<str>>,
}

impl JunitReport {
    pub fn suite_path(&self, i: usize) -> &str {
        &self.suite_paths[self.origins[i].suite_path as usize]
    }
}

/// Upstream's separator of nested suite names.
pub const SUITE_PATH_SEPARATOR: &str = "|||";

pub fn parse(xml: &[u8]) -> Result<JunitReport, FormatError> {
    let text = std::str::from_utf8(xml).map_err(|e| {
        FormatError::new(format!("JUnit XML is not valid UTF-8 (line {}, byte {})", line_of(xml, e.valid_up_to()), e.valid_up_to()))
    })?;
    if text.trim().is_empty() {
        return Err(FormatError::new("JUnit XML is empty"));
    }
    // A testcase takes 100 bytes or more: reserve once instead of regrowing a large vector.
    let mut parser = Parser { out: Vec::with_capacity(xml.len() / 256), ..Parser::default() };
    let mut reader = Reader::from_str(text);
    loop {
        let event = reader.read_event().map_err(|e| {
            let pos = reader.error_position() as usize;
            FormatError::new(format!("JUnit XML is malformed at line {}: {e}", line_of(xml, pos)))
        })?;
        let at = reader.buffer_position() as usize;
        let step = match event {
            Event::Eof => break,
            Event::DocType(_) => Err("XML DOCTYPE declarations are not accepted (they can declare entities)".to_string()),
            Event::Start(e) => parser.open(&e, false),
            Event::Empty(e) => parser.open(&e, true),
            Event::End(_) => {
                parser.close();
                Ok(())
            }
            Event::Text(t) => {
                if parser.capturing() {
                    parser.text(&t.xml10_content());
                }
                Ok(())
            }
            Event::CData(t) => {
                if parser.capturing() {
                    parser.text(&t.xml10_content());
                }
                Ok(())
            }
            // Entities are checked even where their text is not kept.
            Event::GeneralRef(r) => match r.resolve_char_ref() {
                Ok(Some(c)) => {
                    parser.text(c.encode_utf8(&mut [0; 4]));
                    Ok(())
                }
                Ok(None) => match resolve_predefined_entity(&r) {
                    Some(s) => {
                        parser.text(s);
                        Ok(())
                    }
                    None => Err(format!(
                        "XML entity &{}; is not accepted: only the five predefined entities and character references are",
                        truncate(&r, 40)
                    )),
                },
                Err(e) => Err(format!("invalid character reference: {e}")),
            },
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => Ok(()),
        };
        step.map_err(|m| FormatError::new(format!("{m} (line {})", line_of(xml, at))))?;
    }
    if !parser.saw_root {
        return Err(FormatError::new("JUnit XML has no <testsuites> or <testsuite> element"));
    }
    Ok(JunitReport { executions: parser.out, testcases: parser.testcases, origins: parser.origins, suite_paths: parser.paths.names })
}

/// What the element on top of the stack is, so that text goes to the right place.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Elem {
    Suite,
    Case,
    /// A failure, error, flaky or rerun element (or its stackTrace) of the open case.
    Problem(Slot),
    Skipped,
    SystemOut,
    SystemErr,
    Property,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    Primary,
    Flaky(usize),
    Rerun(usize),
}

#[derive(Debug, Default)]
struct Problem {
    message: Option<String>,
    kind: Option<String>,
    text: String,
}

#[derive(Debug, Default)]
struct Case {
    classname: Option<String>,
    name: String,
    file: Option<String>,
    line: Option<String>,
    time: Option<f64>,
    primary: Option<Problem>,
    skipped: Option<(Option<String>, String)>,
    flaky: Vec<Problem>,
    reruns: Vec<Problem>,
    system_out: String,
    system_err: String,
    properties: TagMap,
    property_name: Option<String>,
    lifecycle: Option<Box<str>>,
}

#[derive(Default)]
struct Parser {
    stack: Vec<Elem>,
    suites: Vec<String>,
    case: Option<Case>,
    out: Vec<ExecutionRecord>,
    origins: Vec<Origin>,
    paths: SuitePaths,
    testcases: usize,
    saw_root: bool,
}

/// Distinct suite paths, built only when the nesting changes.
#[derive(Default)]
struct SuitePaths {
    names: Vec<String>,
    index: std::collections::HashMap<String, u32>,
    /// The path of the current nesting, if already interned.
    current: Option<u32>,
}

impl SuitePaths {
    fn current(&mut self, suites: &[String]) -> u32 {
        if let Some(i) = self.current {
            return i;
        }
        let path = suites.join(SUITE_PATH_SEPARATOR);
        let next = self.names.len() as u32;
        let i = *self.index.entry(path.clone()).or_insert_with(|| {
            self.names.push(path);
            next
        });
        self.current = Some(i);
        i
    }
}

impl Parser {
    fn open(&mut self, e: &BytesStart<'_>, empty: bool) -> Result<(), String> {
        let local = e.local_name();
        let name = local.as_ref();
        if self.stack.is_empty() && !self.saw_root {
            if name != "testsuites" && name != "testsuite" {
                return Err(format!("expected a <testsuites> or <testsuite> root element, found <{}>", truncate(name, 40)));
            }
            self.saw_root = true;
        }
        let in_case = self.case.is_some();
        let parent = self.stack.last().copied();
        let elem = match name {
            "testsuite" if !in_case => {
                self.suites.push(attr(e, "name")?.unwrap_or_default());
                self.paths.current = None;
                Elem::Suite
            }
            "testcase" if in_case => return Err("a <testcase> inside another <testcase>".into()),
            "testcase" => {
                self.testcases += 1;
                self.case = Some(case_from_attributes(e)?);
                Elem::Case
            }
            _ if parent == Some(Elem::Case) => self.open_case_child(name, e)?,
            "stackTrace" => match parent {
                Some(Elem::Problem(slot)) => Elem::Problem(slot),
                _ => Elem::Other,
            },
            "property" if in_case => {
                let case = self.case.as_mut().expect("in_case");
                let key = attr(e, "name")?.unwrap_or_default();
                match attr(e, "value")? {
                    Some(v) => {
                        case.properties.insert(key, v);
                        case.property_name = None;
                    }
                    None => case.property_name = Some(key),
                }
                Elem::Property
            }
            _ => Elem::Other,
        };
        self.stack.push(elem);
        if empty {
            self.close();
        }
        Ok(())
    }

    fn open_case_child(&mut self, name: &str, e: &BytesStart<'_>) -> Result<Elem, String> {
        let problem =
            || -> Result<Problem, String> { Ok(Problem { message: attr(e, "message")?, kind: attr(e, "type")?, text: String::new() }) };
        let case = self.case.as_mut().expect("parent is a case");
        Ok(match name {
            "failure" | "error" => {
                case.primary.get_or_insert(problem()?);
                Elem::Problem(Slot::Primary)
            }
            "flakyFailure" | "flakyError" => {
                case.flaky.push(problem()?);
                Elem::Problem(Slot::Flaky(case.flaky.len() - 1))
            }
            "rerunFailure" | "rerunError" => {
                case.reruns.push(problem()?);
                Elem::Problem(Slot::Rerun(case.reruns.len() - 1))
            }
            "skipped" => {
                case.skipped = Some((attr(e, "message")?, String::new()));
                Elem::Skipped
            }
            "system-out" => Elem::SystemOut,
            "system-err" => Elem::SystemErr,
            _ => Elem::Other,
        })
    }

    /// Whether text at this point is kept (whitespace between elements is not).
    fn capturing(&self) -> bool {
        self.case.is_some()
            && matches!(self.stack.last(), Some(Elem::Problem(_) | Elem::Skipped | Elem::SystemOut | Elem::SystemErr | Elem::Property))
    }

    fn text(&mut self, s: &str) {
        let (Some(top), Some(case)) = (self.stack.last(), self.case.as_mut()) else {
            return;
        };
        match *top {
            Elem::Problem(slot) => {
                let p = match slot {
                    Slot::Primary => case.primary.as_mut(),
                    Slot::Flaky(i) => case.flaky.get_mut(i),
                    Slot::Rerun(i) => case.reruns.get_mut(i),
                };
                if let Some(p) = p {
                    push_capped(&mut p.text, s);
                }
            }
            Elem::Skipped => {
                if let Some((_, text)) = case.skipped.as_mut() {
                    push_capped(text, s);
                }
            }
            Elem::SystemOut => push_capped(&mut case.system_out, s),
            Elem::SystemErr => push_capped(&mut case.system_err, s),
            Elem::Property => {
                if let Some(k) = case.property_name.clone() {
                    push_capped(case.properties.entry(k).or_default(), s);
                }
            }
            _ => {}
        }
    }

    fn close(&mut self) {
        match self.stack.pop() {
            Some(Elem::Suite) => {
                self.suites.pop();
                self.paths.current = None;
            }
            Some(Elem::Case) => {
                if let Some(mut case) = self.case.take() {
                    let scope =
                        case.classname.take().or_else(|| self.suites.iter().rev().find(|s| !s.is_empty()).cloned()).unwrap_or_default();
                    let origin = Origin { suite_path: self.paths.current(&self.suites), lifecycle: case.lifecycle.take() };
                    let before = self.out.len();
                    finish_case(case, scope, &mut self.out);
                    self.origins.extend(std::iter::repeat_n(origin, self.out.len() - before));
                }
            }
            _ => {}
        }
    }
}

/// Turn one `<testcase>` into one execution per attempt. Strings are moved
/// into the last attempt and cloned only for earlier ones (reruns are rare).
fn finish_case(case: Case, scope: String, out: &mut Vec<ExecutionRecord>) {
    let Case { name, file, line, time, primary, skipped, flaky, reruns, system_out, system_err, properties, .. } = case;
    let location = file.as_ref().map(|f| match &line {
        Some(l) => {
            let mut loc = String::with_capacity(f.len() + 1 + l.len());
            loc.push_str(f);
            loc.push(':');
            loc.push_str(l);
            loc
        }
        None => f.clone(),
    });
    // Surefire: flaky* elements are failed attempts before a final pass;
    // rerun* elements are further failed attempts after the first failure.
    let (final_outcome, final_problem) = match (&primary, &skipped) {
        (Some(p), _) => (Outcome::Failed, Some(p)),
        (None, Some(_)) => (Outcome::Skipped, None),
        (None, None) => (Outcome::Passed, None),
    };
    let attempts = flaky
        .iter()
        .map(|p| (Outcome::Failed, Some(p)))
        .chain(std::iter::once((final_outcome, final_problem)))
        .chain(reruns.iter().map(|p| (Outcome::Failed, Some(p))));
    let n = flaky.len() + 1 + reruns.len();
    let first = out.len();
    let (mut scope, mut name, mut file, mut location) = (Some(scope), Some(name), file, location);
    for (i, (outcome, problem)) in attempts.enumerate() {
        let last = i + 1 == n;
        let mut r = ExecutionRecord::new(
            take_or_clone(&mut scope, last).unwrap_or_default(),
            take_or_clone(&mut name, last).unwrap_or_default(),
            outcome,
        );
        r.file_name = take_or_clone(&mut file, last);
        r.location = take_or_clone(&mut location, last);
        r.attempt = i as u32;
        match problem {
            Some(p) => apply_problem(&mut r, p),
            None if outcome == Outcome::Skipped => {
                if let Some((message, text)) = &skipped {
                    r.failure_reason = message.clone().filter(|m| !m.is_empty()).or_else(|| first_line(text));
                }
            }
            None => {}
        }
        out.push(r);
    }
    // The case's time, output and properties describe the case as a whole:
    // they go on its first attempt, so that sums over executions stay right.
    let first = &mut out[first];
    first.duration = time;
    first.system_out = non_empty(system_out);
    first.system_err = non_empty(system_err);
    first.properties = properties;
}

fn take_or_clone(s: &mut Option<String>, take: bool) -> Option<String> {
    if take { s.take() } else { s.clone() }
}

fn apply_problem(r: &mut ExecutionRecord, p: &Problem) {
    r.failure_reason = p.message.clone().filter(|m| !m.trim().is_empty()).or_else(|| first_line(&p.text)).or_else(|| p.kind.clone());
    let mut expanded: Vec<String> = Vec::new();
    if let Some(kind) = &p.kind {
        expanded.push(kind.clone());
    }
    expanded.extend(p.text.lines().map(str::to_owned));
    if !expanded.is_empty() {
        r.failure_expanded = vec![FailureDetail { expanded, backtrace: Vec::new() }];
    }
}

/// A testcase's attributes in one pass: it is the hot path of large files.
fn case_from_attributes(e: &BytesStart<'_>) -> Result<Case, String> {
    let mut case = Case::default();
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        let key = a.key.local_name();
        let slot = match key.as_ref() {
            "classname" => &mut case.classname,
            "name" => {
                case.name = value(&a, "name")?.into_owned();
                continue;
            }
            "file" => &mut case.file,
            "line" => &mut case.line,
            "time" => {
                case.time = parse_seconds(&value(&a, "time")?);
                continue;
            }
            "lifecycle" => {
                case.lifecycle = Some(value(&a, "lifecycle")?.into());
                continue;
            }
            _ => continue,
        };
        let v = value(&a, key.as_ref())?;
        *slot = (!v.is_empty()).then(|| v.into_owned());
    }
    Ok(case)
}

fn value<'a>(a: &quick_xml::events::attributes::Attribute<'a>, key: &str) -> Result<std::borrow::Cow<'a, str>, String> {
    a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| format!("attribute {key}: {err}"))
}

fn attr(e: &BytesStart<'_>, key: &str) -> Result<Option<String>, String> {
    for a in e.attributes() {
        let a = a.map_err(|err| format!("bad attribute: {err}"))?;
        if a.key.local_name().as_ref() == key {
            let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).map_err(|err| format!("attribute {key}: {err}"))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Seconds from a `time` attribute: "1.5", "1,234.5" (thousands separators,
/// as some Surefire locales write), or nothing usable.
fn parse_seconds(raw: &str) -> Option<f64> {
    let t = raw.trim();
    let v = if t.contains(',') { t.replace(',', "").parse::<f64>().ok() } else { t.parse::<f64>().ok() };
    v.filter(|v| v.is_finite() && *v >= 0.0)
}

fn first_line(text: &str) -> Option<String> {
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

fn push_capped(buf: &mut String, s: &str) {
    const MARK: &str = "\n[... truncated by Verdict]";
    if buf.len() >= MAX_CAPTURED_OUTPUT {
        return;
    }
    let room = MAX_CAPTURED_OUTPUT - buf.len();
    if s.len() <= room {
        buf.push_str(s);
    } else {
        buf.push_str(truncate(s, room));
        buf.push_str(MARK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_tolerate_separators_and_garbage() {
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds(" 0.25 "), Some(0.25));
        assert_eq!(parse_seconds("abc"), None);
        assert_eq!(parse_seconds("-1"), None);
    }

    #[test]
    fn output_is_capped() {
        let mut s = String::new();
        push_capped(&mut s, &"x".repeat(MAX_CAPTURED_OUTPUT + 10));
        assert!(s.len() < MAX_CAPTURED_OUTPUT + 40);
        assert!(s.ends_with("truncated by Verdict]"));
    }
}
