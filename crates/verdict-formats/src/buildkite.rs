//! Buildkite Test Analytics uploads: the envelope (`format`, `run_env`,
//! `tags`, `data`) and the JSON result objects, with the field variants that
//! real collectors send (spec section 6.7).

use crate::buildkite_json::{BodySeed, Budget, DataSeed, ResultSeed};
use crate::error::FormatError;
use crate::junit;
use serde_json::{Map, Value};
use verdict_core::upload::{truncate, validate_tags};
use verdict_core::{ExecutionRecord, MAX_RESULTS_PER_UPLOAD, RunEnv, Skipped, TagMap, Upload};

/// Formats Buildkite documents that Verdict does not read yet.
const DOCUMENTED_UNSUPPORTED: [&str; 4] = ["rspec-json", "jest-json", "playwright-json", "cucumber-json"];

/// The `data` of an upload before it is parsed.
pub enum Data<'a> {
    /// Data read with the JSON body that carried it.
    Read(ReadData),
    /// Raw bytes (a multipart file part or text field).
    Bytes(&'a [u8]),
}

/// `data` as the typed JSON reader found it.
pub enum ReadData {
    /// The results, read and checked, and those skipped.
    Results(Vec<ExecutionRecord>, Skipped),
    /// A string: the XML of a JUnit upload.
    Xml(String),
    /// Neither: what it was, for the message.
    Other(&'static str),
}

/// The fields of an upload, however they arrived.
pub struct Envelope<'a> {
    pub format: Option<String>,
    pub run_env: Vec<(String, Option<String>)>,
    pub tags: Vec<(String, String)>,
    pub data: Option<Data<'a>>,
}

/// Parse an `application/json` upload body with the typed reader: the body
/// is never held as a `serde_json::Value`, and the caps apply as it reads.
pub fn parse_json_body(body: &[u8]) -> Result<Upload, FormatError> {
    let budget = Budget::default();
    let read = read_json(body, BodySeed(&budget), &budget, "the request body")?;
    assemble(Envelope { format: read.format, run_env: read.run_env, tags: read.tags, data: read.data.map(Data::Read) })
}

/// Read `bytes` (one JSON document) with `seed`.
fn read_json<'de, S: serde::de::DeserializeSeed<'de>>(
    bytes: &'de [u8],
    seed: S,
    budget: &Budget,
    what: &str,
) -> Result<S::Value, FormatError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| match budget.fatal() {
        Some(message) => FormatError::new(message),
        None => json_error(what, &e),
    })
}

/// Validate an envelope and parse its data into an upload.
pub fn assemble(env: Envelope<'_>) -> Result<Upload, FormatError> {
    let format = env.format.map(|f| f.trim().to_owned()).filter(|f| !f.is_empty());
    let format = match (format, &env.data) {
        (Some(f), _) => f,
        // JSON bodies from some scripts leave format out; an array can only be json.
        (None, Some(Data::Read(ReadData::Results(..)))) => "json".to_owned(),
        (None, _) => return Err(FormatError::new("format is required: json or junit")),
    };
    if format != "json" && format != "junit" {
        let msg = if DOCUMENTED_UNSUPPORTED.contains(&format.as_str()) {
            format!("format {format:?} is not supported yet; upload format json or junit instead")
        } else {
            format!(
                "unknown format {:?}: use json or junit ({} are Buildkite formats not supported yet)",
                truncate(&format, 40),
                DOCUMENTED_UNSUPPORTED.join(", ")
            )
        };
        return Err(FormatError::new(msg));
    }
    let run_env = RunEnv::from_pairs(env.run_env).map_err(FormatError::new)?;
    let tags: TagMap = env.tags.into_iter().collect();
    validate_tags(&tags).map_err(|e| FormatError::new(format!("upload tags: {e}")))?;
    let data = env.data.ok_or_else(|| FormatError::new("data is required: the test results to upload"))?;

    let (executions, skipped) = match format.as_str() {
        "json" => parse_results(data)?,
        _ => parse_junit_data(data)?,
    };
    // A JUnit report with no testcase is a report of 0 tests (as every JUnit
    // reader takes it): the run is stored, empty. A JSON upload of nothing is
    // a mistake of the sender.
    if format == "json" && executions.is_empty() && skipped.is_empty() {
        return Err(FormatError::new("data is empty: the upload holds no test results"));
    }
    let mut upload = Upload { format, run_env, tags, executions, skipped };
    upload.apply_label_defaults();
    upload.drop_invalid_records();
    Ok(upload)
}

/// The cap on results is checked by the parser as it reads, attempts included.
fn parse_junit_data(data: Data<'_>) -> Result<(Vec<ExecutionRecord>, Skipped), FormatError> {
    let report = match data {
        Data::Bytes(b) => junit::parse(b)?,
        Data::Read(ReadData::Xml(s)) => junit::parse(s.as_bytes())?,
        Data::Read(ReadData::Results(..)) => return Err(not_xml("an array")),
        Data::Read(ReadData::Other(kind)) => return Err(not_xml(kind)),
    };
    Ok((report.executions, report.skipped))
}

fn not_xml(kind: &str) -> FormatError {
    FormatError::new(format!("with format junit, data must be the XML as a string, got {kind}"))
}

fn parse_results(data: Data<'_>) -> Result<(Vec<ExecutionRecord>, Skipped), FormatError> {
    let read = match data {
        Data::Read(read) => read,
        Data::Bytes(b) => {
            let budget = Budget::default();
            read_json(b, DataSeed(&budget), &budget, "data")?.unwrap_or(ReadData::Other("null"))
        }
    };
    match read {
        ReadData::Results(executions, skipped) => Ok((executions, skipped)),
        ReadData::Xml(_) => Err(FormatError::new("data must be an array of test results, got a string")),
        ReadData::Other(kind) => Err(FormatError::new(format!("data must be an array of test results, got {kind}"))),
    }
}

/// The message for an upload of `n` results, past the cap.
pub(crate) fn too_many_results(n: usize) -> String {
    format!(
        "{n} test results in one upload; at most {MAX_RESULTS_PER_UPLOAD} are allowed: split them into several uploads with the same run_env[key]"
    )
}

/// One Buildkite JSON test result, by the same reader and caps as an upload
/// (for `verdict upload`, which reads local files). An `Err` is a record
/// Buildkite would skip.
pub fn parse_result(item: Value) -> Result<ExecutionRecord, String> {
    use serde::de::DeserializeSeed;
    let budget = Budget::default();
    ResultSeed(&budget).deserialize(item).map_err(|e| e.to_string())?
}

/// The JSON result object for a record: Buildkite's fields, plus Verdict's
/// extensions where they carry something.
pub fn result_json(r: &ExecutionRecord) -> Value {
    let mut o = Map::new();
    o.insert("scope".into(), r.scope.clone().into());
    o.insert("name".into(), r.name.clone().into());
    o.insert("result".into(), r.outcome.as_str().into());
    let mut history = Map::new();
    history.insert("duration".into(), r.duration.into());
    if let Some(spans) = &r.spans {
        history.insert("children".into(), spans.clone());
    }
    o.insert("history".into(), Value::Object(history));
    let optional = [
        ("location", &r.location),
        ("file_name", &r.file_name),
        ("failure_reason", &r.failure_reason),
        ("system_out", &r.system_out),
        ("system_err", &r.system_err),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            o.insert(k.into(), v.clone().into());
        }
    }
    if !r.failure_expanded.is_empty() {
        o.insert("failure_expanded".into(), serde_json::to_value(&r.failure_expanded).unwrap_or_default());
    }
    if !r.tags.is_empty() {
        o.insert("tags".into(), serde_json::to_value(&r.tags).unwrap_or_default());
    }
    if !r.properties.is_empty() {
        o.insert("properties".into(), serde_json::to_value(&r.properties).unwrap_or_default());
    }
    if r.attempt > 0 {
        o.insert("attempt".into(), r.attempt.into());
    }
    Value::Object(o)
}

fn json_error(what: &str, e: &serde_json::Error) -> FormatError {
    let problem = match e.classify() {
        serde_json::error::Category::Eof => "ends too early (truncated?)",
        serde_json::error::Category::Syntax => "is not valid JSON",
        serde_json::error::Category::Data => "has the wrong shape",
        serde_json::error::Category::Io => "could not be read",
    };
    FormatError::new(format!("{what} {problem}: {e}"))
}
