//! JUnit XML in the dialects people upload: pytest, nextest, jest-junit,
//! gotestsum, Maven Surefire (with reruns), ctest, Bazel `test.xml`.
//!
//! A streaming pass over the document: no DOM, no entity expansion. DOCTYPE
//! declarations are refused because they are how entity bombs get in. What
//! the parse keeps is bounded while it reads (`verdict_core::caps`): results
//! are counted as they appear and the parse stops at the first one over the
//! cap, names are measured before they are copied, and every text is capped.

use crate::error::{FormatError, line_of};
use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use verdict_core::caps::{self, LineBudget, MAX_TEXT_BYTES, push_capped};
use verdict_core::upload::truncate;
use verdict_core::{ExecutionRecord, FailureDetail, MAX_RESULTS_PER_UPLOAD, Outcome, Properties, Skipped};

/// The name given to a testcase whose `name` is empty or missing (JUnit 5
/// failing in `@BeforeAll` as Surefire 3 writes it, jest's `test('')`).
pub const UNNAMED: &str = "(unnamed)";
/// The test a suite-level `<error>`/`<failure>` is recorded under, in the
/// suite's name as scope, when the suite has no testcase (Jenkins's name for it).
pub const SUITE_FAILURE_NAME: &str = "<init>";

#[derive(Debug, Default)]
pub struct JunitReport {
    pub executions: Vec<ExecutionRecord>,
    /// `<testcase>` elements seen (reruns of one case count once).
    pub testcases: usize,
    /// Where each execution stood in the document, index for index.
    pub origins: Vec<Origin>,
    /// Results not kept (a name over the cap, attempts past the cap), and why.
    pub skipped: Skipped,
    /// The suites that `Origin::suite_path` indexes, as a tree.
    suites: Vec<SuiteNode>,
}

/// The nesting of an execution's testcase, for tools that merge reports by
/// suite (the job-run aggregator names a suite by its nested `<testsuite>`
/// names joined with `|||`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index of the innermost suite, if the testcase is in one.
    pub suite_path: Option<u32>,
    /// The testcase's `lifecycle` attribute (`informing`, `blocking`), if any.
    pub lifecycle: Option<Box<str>>,
}

/// One `<testsuite>` that held a testcase: its name and its parent. A tree,
/// so that deep nesting costs each name once, not once per testcase.
#[derive(Debug)]
struct SuiteNode {
    parent: Option<u32>,
    name: Box<str>,
}

impl JunitReport {
    /// The nested suite names of execution `i`, joined with `|||`.
    pub fn suite_path(&self, i: usize) -> String {
        let mut names = Vec::new();
        let mut at = self.origins[i].suite_path;
        while let Some(n) = at {
            let node = &self.suites[n as usize];
            names.push(&*node.name);
            at = node.parent;
        }
        names.reverse();
        names.join(SUITE_PATH_SEPARATOR)
    }
}

/// Upstream's separator of nested suite names.
pub const SUITE_PATH_SEPARATOR: &str = "|||";

/// Parse one upload's JUnit XML: more than `MAX_RESULTS_PER_UPLOAD` results is an error.
pub fn parse(xml: &[u8]) -> Result<JunitReport, FormatError> {
    parse_with_cap(xml, MAX_RESULTS_PER_UPLOAD)
}

/// Parse a JUnit file with another cap on results (attempts included): the
/// CLI reads local files of any size and splits them into uploads.
pub fn parse_with_cap(xml: &[u8], max_results: usize) -> Result<JunitReport, FormatError> {
    let text = crate::xml_text::decode(xml)?;
    if text.trim().is_empty() {
        return Err(FormatError::new("JUnit XML is empty"));
    }
    let bytes = text.as_bytes();
    // A testcase takes 100 bytes or more: reserve once instead of regrowing a large vector.
    let mut parser = Parser { out: Vec::with_capacity((bytes.len() / 256).min(max_results)), max_results, ..Parser::default() };
    let mut reader = Reader::from_str(&text);
    loop {
        let event = reader.read_event().map_err(|e| {
            let pos = reader.error_position() as usize;
            FormatError::new(format!("JUnit XML is malformed at line {}: {e}", line_of(bytes, pos)))
        })?;
        let at = reader.buffer_position() as usize;
        let step = match event {
            Event::Eof => {
                if let Some(open) = parser.stack.last() {
                    return Err(FormatError::new(format!(
                        "JUnit XML ends at line {} inside an unclosed <{}> (was the file cut short?)",
                        line_of(bytes, bytes.len()),
                        open.tag()
                    )));
                }
                break;
            }
            Event::DocType(_) => Err("XML DOCTYPE declarations are not accepted (they can declare entities)".to_string()),
            _ if parser.root_closed && !is_blank(&event) => Err("content after the root element".to_string()),
            Event::Start(e) => parser.open(&e, false),
            Event::Empty(e) => parser.open(&e, true),
            Event::End(_) => parser.close(),
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
        step.map_err(|m| FormatError::new(format!("{m} (line {})", line_of(bytes, at))))?;
    }
    if !parser.saw_root {
        return Err(FormatError::new("JUnit XML has no <testsuites> or <testsuite> element"));
    }
    Ok(JunitReport {
        executions: parser.out,
        testcases: parser.testcases,
        origins: parser.origins,
        skipped: parser.skipped,
        suites: parser.nodes,
    })
}

/// Whitespace, comments and processing instructions may follow the root element.
fn is_blank(event: &Event<'_>) -> bool {
    match event {
        Event::Text(t) => t.as_ref().bytes().all(|b| b.is_ascii_whitespace()),
        Event::Comment(_) | Event::PI(_) | Event::Eof => true,
        _ => false,
    }
}

/// What the element on top of the stack is, so that text goes to the right place.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Elem {
    Suite,
    Case,
    /// A failure, error, flaky or rerun element (or its stackTrace) of the open case.
    Problem(Slot),
    /// A `<failure>`/`<error>` directly in a `<testsuite>`.
    SuiteProblem,
    Skipped,
    SystemOut,
    SystemErr,
    Property,
    Other,
}

impl Elem {
    fn tag(self) -> &'static str {
        match self {
            Elem::Suite => "testsuite",
            Elem::Case => "testcase",
            Elem::Problem(_) | Elem::SuiteProblem => "failure",
            Elem::Skipped => "skipped",
            Elem::SystemOut => "system-out",
            Elem::SystemErr => "system-err",
            Elem::Property => "property",
            Elem::Other => "element",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Slot {
    /// The `i`-th `<failure>`/`<error>` of the case (its final attempt).
    Primary(usize),
    Flaky(usize),
    Rerun(usize),
    /// Past a cap: counted, not kept.
    Dropped,
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
    /// The name or classname is over the cap: the case is counted as skipped.
    oversize: bool,
    file: Option<String>,
    line: Option<String>,
    time: Option<f64>,
    /// `status="disabled"` and the like, with no `<skipped>` child.
    status_skipped: bool,
    problems: Vec<Problem>,
    dropped_problems: usize,
    skipped: Option<(Option<String>, String)>,
    flaky: Vec<Problem>,
    reruns: Vec<Problem>,
    dropped_attempts: usize,
    system_out: String,
    system_err: String,
    properties: Properties,
    dropped_properties: usize,
    property_name: Option<String>,
    lifecycle: Option<Box<str>>,
}

impl Case {
    fn attempts(&self) -> usize {
        self.flaky.len() + 1 + self.reruns.len()
    }
}

/// An open `<testsuite>`.
#[derive(Debug)]
struct SuiteFrame {
    name: String,
    /// Bytes of the nested names joined, up to and including this one.
    path_len: usize,
    /// Its node in the report's suite tree, made when a testcase needs it.
    node: Option<u32>,
    /// Testcases directly inside it.
    cases: usize,
    problems: Vec<Problem>,
}

#[derive(Default)]
struct Parser {
    stack: Vec<Elem>,
    suites: Vec<SuiteFrame>,
    nodes: Vec<SuiteNode>,
    case: Option<Case>,
    out: Vec<ExecutionRecord>,
    origins: Vec<Origin>,
    skipped: Skipped,
    lines: LineBudget,
    /// Results so far, attempts included: the cap is checked as they appear.
    results: usize,
    max_results: usize,
    testcases: usize,
    saw_root: bool,
    root_closed: bool,
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
        if self.stack.len() >= caps::MAX_ELEMENT_DEPTH {
            return Err(format!("elements are nested more than {} deep", caps::MAX_ELEMENT_DEPTH));
        }
        let in_case = self.case.is_some();
        let parent = self.stack.last().copied();
        let elem = match name {
            "testsuite" if !in_case => {
                self.open_suite(e)?;
                Elem::Suite
            }
            "testcase" if in_case => return Err("a <testcase> inside another <testcase>".into()),
            "testcase" => {
                self.testcases += 1;
                self.count_result()?;
                if let Some(suite) = self.suites.last_mut() {
                    suite.cases += 1;
                }
                self.case = Some(case_from_attributes(e)?);
                Elem::Case
            }
            "failure" | "error" if parent == Some(Elem::Suite) => {
                let suite = self.suites.last_mut().expect("a suite is open");
                if suite.problems.len() < caps::MAX_FAILURE_DETAILS {
                    suite.problems.push(problem(e)?);
                    Elem::SuiteProblem
                } else {
                    // Past the cap its text goes nowhere (not onto the last one kept).
                    Elem::Other
                }
            }
            _ if parent == Some(Elem::Case) => self.open_case_child(name, e)?,
            "stackTrace" => match parent {
                Some(Elem::Problem(slot)) => Elem::Problem(slot),
                _ => Elem::Other,
            },
            "property" if in_case => self.open_property(e)?,
            _ => Elem::Other,
        };
        self.stack.push(elem);
        if empty {
            self.close()?;
        }
        Ok(())
    }

    fn open_suite(&mut self, e: &BytesStart<'_>) -> Result<(), String> {
        if self.suites.len() >= caps::MAX_SUITE_DEPTH {
            return Err(format!("<testsuite> elements are nested more than {} deep", caps::MAX_SUITE_DEPTH));
        }
        let name = attr(e, "name")?.unwrap_or_default();
        if name.len() > caps::MAX_SUITE_NAME_BYTES {
            return Err(format!("a <testsuite> name is longer than {} bytes", caps::MAX_SUITE_NAME_BYTES));
        }
        let path_len = match self.suites.last() {
            Some(parent) => parent.path_len + SUITE_PATH_SEPARATOR.len() + name.len(),
            None => name.len(),
        };
        if path_len > caps::MAX_SUITE_PATH_BYTES {
            return Err(format!("nested <testsuite> names add up to more than {} bytes", caps::MAX_SUITE_PATH_BYTES));
        }
        self.suites.push(SuiteFrame { name, path_len, node: None, cases: 0, problems: Vec::new() });
        Ok(())
    }

    /// One more result in the upload; past the cap the parse stops here.
    fn count_result(&mut self) -> Result<(), String> {
        self.results += 1;
        if self.results > self.max_results {
            return Err(format!(
                "more than {} test results (attempts included) in one upload: split them into several uploads with the same run_env[key]",
                self.max_results
            ));
        }
        Ok(())
    }

    fn open_case_child(&mut self, name: &str, e: &BytesStart<'_>) -> Result<Elem, String> {
        let kept_attempts = self.case.as_ref().expect("parent is a case").attempts();
        let retry = matches!(name, "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError");
        if retry && kept_attempts < caps::MAX_ATTEMPTS_PER_CASE {
            self.count_result()?;
        }
        let case = self.case.as_mut().expect("parent is a case");
        Ok(match name {
            "failure" | "error" if case.problems.len() < caps::MAX_FAILURE_DETAILS => {
                case.problems.push(problem(e)?);
                Elem::Problem(Slot::Primary(case.problems.len() - 1))
            }
            "failure" | "error" => {
                case.dropped_problems += 1;
                Elem::Problem(Slot::Dropped)
            }
            _ if retry && kept_attempts >= caps::MAX_ATTEMPTS_PER_CASE => {
                case.dropped_attempts += 1;
                Elem::Problem(Slot::Dropped)
            }
            "flakyFailure" | "flakyError" => {
                case.flaky.push(problem(e)?);
                Elem::Problem(Slot::Flaky(case.flaky.len() - 1))
            }
            "rerunFailure" | "rerunError" => {
                case.reruns.push(problem(e)?);
                Elem::Problem(Slot::Rerun(case.reruns.len() - 1))
            }
            "skipped" => {
                case.skipped = Some((attr(e, "message")?.map(|m| caps::cap_text(m, MAX_TEXT_BYTES)), String::new()));
                Elem::Skipped
            }
            "system-out" => Elem::SystemOut,
            "system-err" => Elem::SystemErr,
            _ => Elem::Other,
        })
    }

    fn open_property(&mut self, e: &BytesStart<'_>) -> Result<Elem, String> {
        let case = self.case.as_mut().expect("in a case");
        let key = caps::cap_text(attr(e, "name")?.unwrap_or_default(), caps::MAX_NAME_BYTES);
        let value = attr(e, "value")?;
        // A property without a value attribute takes its text.
        let text_valued = value.is_none();
        if case.properties.push(key.clone(), value.map(|v| caps::cap_text(v, MAX_TEXT_BYTES)).unwrap_or_default()) {
            case.property_name = text_valued.then_some(key);
        } else {
            case.dropped_properties += 1;
            case.property_name = None;
        }
        Ok(Elem::Property)
    }

    /// Whether text at this point is kept (whitespace between elements is not).
    fn capturing(&self) -> bool {
        matches!(
            self.stack.last(),
            Some(Elem::Problem(_) | Elem::SuiteProblem | Elem::Skipped | Elem::SystemOut | Elem::SystemErr | Elem::Property)
        )
    }

    fn text(&mut self, s: &str) {
        let Some(top) = self.stack.last() else {
            return;
        };
        if *top == Elem::SuiteProblem {
            if let Some(p) = self.suites.last_mut().and_then(|f| f.problems.last_mut()) {
                push_capped(&mut p.text, s, MAX_TEXT_BYTES);
            }
            return;
        }
        let Some(case) = self.case.as_mut() else {
            return;
        };
        match *top {
            Elem::Problem(slot) => {
                let p = match slot {
                    Slot::Primary(i) => case.problems.get_mut(i),
                    Slot::Flaky(i) => case.flaky.get_mut(i),
                    Slot::Rerun(i) => case.reruns.get_mut(i),
                    Slot::Dropped => None,
                };
                if let Some(p) = p {
                    push_capped(&mut p.text, s, MAX_TEXT_BYTES);
                }
            }
            Elem::Skipped => {
                if let Some((_, text)) = case.skipped.as_mut() {
                    push_capped(text, s, MAX_TEXT_BYTES);
                }
            }
            Elem::SystemOut => push_capped(&mut case.system_out, s, MAX_TEXT_BYTES),
            Elem::SystemErr => push_capped(&mut case.system_err, s, MAX_TEXT_BYTES),
            Elem::Property => {
                if let Some(k) = &case.property_name
                    && let Some(v) = case.properties.last_mut(k)
                {
                    push_capped(v, s, MAX_TEXT_BYTES);
                }
            }
            _ => {}
        }
    }

    fn close(&mut self) -> Result<(), String> {
        match self.stack.pop() {
            Some(Elem::Suite) => {
                let frame = self.suites.pop().expect("a suite frame per suite element");
                if frame.cases == 0 && !frame.problems.is_empty() {
                    self.record_suite_failure(frame)?;
                }
            }
            Some(Elem::Case) => {
                if let Some(mut case) = self.case.take() {
                    let scope = case.classname.take().or_else(|| self.innermost_suite_name()).unwrap_or_default();
                    self.finish(case, scope);
                }
            }
            _ => {}
        }
        if self.stack.is_empty() && self.saw_root {
            self.root_closed = true;
        }
        Ok(())
    }

    /// A suite that failed with no testcase of its own (a class that did not
    /// load, a fixture that failed): one failed result, so that it is seen.
    fn record_suite_failure(&mut self, mut frame: SuiteFrame) -> Result<(), String> {
        self.count_result()?;
        let scope = if frame.name.is_empty() { self.innermost_suite_name().unwrap_or_default() } else { frame.name.clone() };
        let case = Case { name: SUITE_FAILURE_NAME.into(), problems: std::mem::take(&mut frame.problems), ..Case::default() };
        // The synthetic case sits in the suite that failed.
        self.suites.push(frame);
        self.finish(case, scope);
        self.suites.pop();
        Ok(())
    }

    fn innermost_suite_name(&self) -> Option<String> {
        self.suites.iter().rev().find(|s| !s.name.is_empty()).map(|s| s.name.clone())
    }

    /// The node of the innermost open suite, making the nodes of the open
    /// suites that have none yet.
    fn suite_node(&mut self) -> Option<u32> {
        let mut parent = None;
        for frame in &mut self.suites {
            let node = *frame.node.get_or_insert_with(|| {
                self.nodes.push(SuiteNode { parent, name: frame.name.as_str().into() });
                (self.nodes.len() - 1) as u32
            });
            parent = Some(node);
        }
        parent
    }

    fn finish(&mut self, case: Case, scope: String) {
        let attempts = case.attempts();
        if case.oversize {
            let what = format!("testcase {:?}: scope or name longer than {} bytes", truncate(&case.name, 80), caps::MAX_NAME_BYTES);
            self.skipped.add(attempts + case.dropped_attempts, what);
            return;
        }
        if case.dropped_attempts > 0 {
            let why = format!(
                "testcase {:?}: {} attempts past the first {} were not kept",
                truncate(&case.name, 80),
                case.dropped_attempts,
                caps::MAX_ATTEMPTS_PER_CASE
            );
            self.skipped.add(case.dropped_attempts, why);
        }
        let origin = Origin { suite_path: self.suite_node(), lifecycle: case.lifecycle.clone() };
        let before = self.out.len();
        finish_case(case, scope, &mut self.lines, &mut self.out);
        self.origins.extend(std::iter::repeat_n(origin, self.out.len() - before));
    }
}

fn problem(e: &BytesStart<'_>) -> Result<Problem, String> {
    Ok(Problem {
        message: attr(e, "message")?.map(|m| caps::cap_text(m, MAX_TEXT_BYTES)),
        kind: attr(e, "type")?.map(|m| caps::cap_text(m, MAX_TEXT_BYTES)),
        text: String::new(),
    })
}

/// Turn one `<testcase>` into one execution per attempt. Strings are moved
/// into the last attempt and cloned only for earlier ones (reruns are rare).
fn finish_case(case: Case, scope: String, lines: &mut LineBudget, out: &mut Vec<ExecutionRecord>) {
    let Case {
        name,
        file,
        line,
        time,
        status_skipped,
        problems,
        dropped_problems,
        skipped,
        flaky,
        reruns,
        system_out,
        system_err,
        mut properties,
        dropped_properties,
        ..
    } = case;
    let name = if name.trim().is_empty() { UNNAMED.to_owned() } else { name };
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
    let final_outcome = if !problems.is_empty() {
        Outcome::Failed
    } else if skipped.is_some() || status_skipped {
        Outcome::Skipped
    } else {
        Outcome::Passed
    };
    let n = flaky.len() + 1 + reruns.len();
    let first = out.len();
    let (mut scope, mut name, mut file, mut location) = (Some(scope), Some(name), file, location);
    let retries_before = flaky.iter().map(|p| (Outcome::Failed, std::slice::from_ref(p)));
    let retries_after = reruns.iter().map(|p| (Outcome::Failed, std::slice::from_ref(p)));
    let attempts = retries_before.chain(std::iter::once((final_outcome, problems.as_slice()))).chain(retries_after);
    for (i, (outcome, problems)) in attempts.enumerate() {
        let last = i + 1 == n;
        let mut r = ExecutionRecord::new(
            take_or_clone(&mut scope, last).unwrap_or_default(),
            take_or_clone(&mut name, last).unwrap_or_default(),
            outcome,
        );
        r.file_name = take_or_clone(&mut file, last);
        r.location = take_or_clone(&mut location, last);
        r.attempt = i as u32;
        if !problems.is_empty() {
            apply_problems(&mut r, problems, lines);
            if i == flaky.len() && dropped_problems > 0 {
                r.failure_expanded.push(FailureDetail {
                    expanded: vec![format!("[... {dropped_problems} more failures not kept by Verdict]")],
                    backtrace: Vec::new(),
                });
            }
        } else if outcome == Outcome::Skipped
            && let Some((message, text)) = &skipped
        {
            r.failure_reason = message.clone().filter(|m| !m.is_empty()).or_else(|| first_line(text));
        }
        out.push(r);
    }
    if dropped_properties > 0 {
        properties.push_dropped_marker(dropped_properties);
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

/// The reason is the first problem's; every problem is one failure detail.
fn apply_problems(r: &mut ExecutionRecord, problems: &[Problem], lines: &mut LineBudget) {
    let p = &problems[0];
    r.failure_reason = p.message.clone().filter(|m| !m.trim().is_empty()).or_else(|| first_line(&p.text)).or_else(|| p.kind.clone());
    for p in problems {
        let mut expanded: Vec<String> = Vec::new();
        if let Some(kind) = &p.kind
            && lines.take()
        {
            expanded.push(kind.clone());
        }
        // A second failure's message is not its reason: keep it with its text.
        if problems.len() > 1
            && let Some(m) = p.message.as_deref().filter(|m| !m.trim().is_empty())
        {
            lines.lines(m, &mut expanded);
        }
        lines.lines(&p.text, &mut expanded);
        if !expanded.is_empty() {
            r.failure_expanded.push(FailureDetail { expanded, backtrace: Vec::new() });
        }
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
                let v = value(&a, "name")?;
                // Measured before it is copied: an oversize name is counted, not kept.
                if v.len() > caps::MAX_NAME_BYTES {
                    case.oversize = true;
                    case.name = truncate(&v, 80).to_owned();
                } else {
                    case.name = v.into_owned();
                }
                continue;
            }
            "file" => &mut case.file,
            "line" => &mut case.line,
            "time" => {
                case.time = parse_seconds(&value(&a, "time")?);
                continue;
            }
            "status" => {
                case.status_skipped = is_skip_status(&value(&a, "status")?);
                continue;
            }
            "lifecycle" => {
                case.lifecycle = Some(caps::cap_text(value(&a, "lifecycle")?.into_owned(), 64).into());
                continue;
            }
            _ => continue,
        };
        let v = value(&a, key.as_ref())?;
        if v.len() > caps::MAX_NAME_BYTES {
            if key.as_ref() == "classname" {
                case.oversize = true;
            } else {
                // A file or line is copied to every attempt: cut it, marked.
                *slot = Some(caps::cap_text(v.into_owned(), caps::MAX_NAME_BYTES));
            }
            continue;
        }
        *slot = (!v.is_empty()).then(|| v.into_owned());
    }
    Ok(case)
}

/// Testcase `status` values that mean it did not run.
fn is_skip_status(status: &str) -> bool {
    ["disabled", "notrun", "skipped"].iter().any(|s| status.trim().eq_ignore_ascii_case(s))
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

/// Seconds from a `time` attribute. "1.5"; "1,234.5" and "1,234" (thousands
/// separators, as some Surefire locales write); "0,014" and "1,5" (a decimal
/// comma: the comma is followed by other than exactly three digits, or the
/// number starts with `0,`). A negative time is 0, as Jenkins reads it.
fn parse_seconds(raw: &str) -> Option<f64> {
    let t = raw.trim();
    let v = match t.split_once(',') {
        None => t.parse::<f64>().ok(),
        Some(_) if t.contains('.') => t.replace(',', "").parse::<f64>().ok(),
        Some((int, frac)) => {
            let thousands = !frac.contains(',') && frac.len() == 3 && frac.bytes().all(|b| b.is_ascii_digit());
            let grouped = t.split(',').skip(1).all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()));
            let leading_zero = int.trim_start_matches(['-', '+']) == "0";
            if !leading_zero && (thousands || grouped) {
                t.replace(',', "").parse::<f64>().ok()
            } else if !frac.contains(',') {
                format!("{int}.{frac}").parse::<f64>().ok()
            } else {
                None
            }
        }
    };
    v.filter(|v| v.is_finite()).map(|v| v.max(0.0))
}

fn first_line(text: &str) -> Option<String> {
    text.lines().map(str::trim).find(|l| !l.is_empty()).map(str::to_owned)
}

fn non_empty(s: String) -> Option<String> {
    if s.trim().is_empty() { None } else { Some(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_tolerate_separators_decimal_commas_and_garbage() {
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds("1,234"), Some(1234.0));
        assert_eq!(parse_seconds("1,234,567"), Some(1_234_567.0));
        assert_eq!(parse_seconds("0,014"), Some(0.014));
        assert_eq!(parse_seconds("1,5"), Some(1.5));
        assert_eq!(parse_seconds("12,3456"), Some(12.3456));
        assert_eq!(parse_seconds(" 0.25 "), Some(0.25));
        assert_eq!(parse_seconds("abc"), None);
        assert_eq!(parse_seconds("1,2,3"), None);
        assert_eq!(parse_seconds("-1"), Some(0.0), "negative times are 0, as Jenkins reads them");
        assert_eq!(parse_seconds("NaN"), None);
    }

    #[test]
    fn skip_statuses() {
        assert!(is_skip_status("disabled") && is_skip_status("NotRun") && is_skip_status(" skipped "));
        assert!(!is_skip_status("run") && !is_skip_status("passed"));
    }
}
