//! Buildkite Test Analytics uploads: the envelope (`format`, `run_env`,
//! `tags`, `data`) and the JSON result objects, with the field variants that
//! real collectors send (spec section 6.7).

use crate::error::FormatError;
use crate::json_kind as kind;
use crate::junit;
use serde_json::{Map, Value};
use verdict_core::upload::{truncate, validate_tags};
use verdict_core::{ExecutionRecord, FailureDetail, MAX_RESULTS_PER_UPLOAD, Outcome, Properties, RunEnv, Skipped, TagMap, Upload};

/// Formats Buildkite documents that Verdict does not read yet.
const DOCUMENTED_UNSUPPORTED: [&str; 4] = ["rspec-json", "jest-json", "playwright-json", "cucumber-json"];

/// The `data` of an upload before it is parsed.
pub enum Data<'a> {
    /// JSON already decoded (the JSON body variant).
    Json(Value),
    /// Raw bytes (a multipart file part or text field).
    Bytes(&'a [u8]),
}

/// The fields of an upload, however they arrived.
pub struct Envelope<'a> {
    pub format: Option<String>,
    pub run_env: Vec<(String, Option<String>)>,
    pub tags: Vec<(String, String)>,
    pub data: Option<Data<'a>>,
}

/// Parse an `application/json` upload body.
pub fn parse_json_body(body: &[u8]) -> Result<Upload, FormatError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| json_error("the request body", &e))?;
    let Value::Object(mut obj) = value else {
        return Err(FormatError::new("the request body must be a JSON object with format, run_env and data"));
    };
    let format = match obj.remove("format") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            return Err(FormatError::new(format!("format must be a string, got {}", kind(&other))));
        }
    };
    let run_env = match obj.remove("run_env") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => string_pairs(m, "run_env", true)?,
        Some(other) => {
            return Err(FormatError::new(format!("run_env must be an object, got {}", kind(&other))));
        }
    };
    let tags = match obj.remove("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(m)) => string_map(m, "tags")?.into_iter().collect(),
        Some(other) => {
            return Err(FormatError::new(format!("tags must be an object, got {}", kind(&other))));
        }
    };
    let data = obj.remove("data").filter(|v| !v.is_null()).map(Data::Json);
    assemble(Envelope { format, run_env, tags, data })
}

/// Validate an envelope and parse its data into an upload.
pub fn assemble(env: Envelope<'_>) -> Result<Upload, FormatError> {
    let format = env.format.map(|f| f.trim().to_owned()).filter(|f| !f.is_empty());
    let format = match (format, &env.data) {
        (Some(f), _) => f,
        // JSON bodies from some scripts leave format out; an array can only be json.
        (None, Some(Data::Json(Value::Array(_)))) => "json".to_owned(),
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
        Data::Json(Value::String(s)) => junit::parse(s.as_bytes())?,
        Data::Json(other) => {
            return Err(FormatError::new(format!("with format junit, data must be the XML as a string, got {}", kind(&other))));
        }
    };
    Ok((report.executions, report.skipped))
}

fn parse_results(data: Data<'_>) -> Result<(Vec<ExecutionRecord>, Skipped), FormatError> {
    let value = match data {
        Data::Json(v) => v,
        Data::Bytes(b) => serde_json::from_slice(b).map_err(|e| json_error("data", &e))?,
    };
    let Value::Array(items) = value else {
        return Err(FormatError::new(format!("data must be an array of test results, got {}", kind(&value))));
    };
    check_count(items.len())?;
    let mut executions = Vec::with_capacity(items.len());
    let mut skipped = Skipped::default();
    for (i, item) in items.into_iter().enumerate() {
        match parse_result(item) {
            Ok(r) => executions.push(r),
            Err(why) => skipped.push(format!("result #{}: {why}", i + 1)),
        }
    }
    Ok((executions, skipped))
}

fn check_count(n: usize) -> Result<(), FormatError> {
    if n > MAX_RESULTS_PER_UPLOAD {
        return Err(FormatError::new(format!(
            "{n} test results in one upload; at most {MAX_RESULTS_PER_UPLOAD} are allowed: split them into several uploads with the same run_env[key]"
        )));
    }
    Ok(())
}

/// One Buildkite JSON test result. An `Err` is a record Buildkite would skip.
pub fn parse_result(item: Value) -> Result<ExecutionRecord, String> {
    let Value::Object(mut o) = item else {
        return Err(format!("expected an object, got {}", kind(&item)));
    };
    let name = opt_string(&mut o, "name")?.ok_or("name is required")?;
    let scope = opt_string(&mut o, "scope")?.unwrap_or_default();
    let outcome = match opt_string(&mut o, "result")? {
        None => Outcome::Unknown,
        Some(r) => r.parse::<Outcome>()?,
    };
    let mut r = ExecutionRecord::new(scope, name, outcome);
    r.location = opt_string(&mut o, "location")?;
    r.file_name = opt_string(&mut o, "file_name")?;
    r.failure_reason = opt_string(&mut o, "failure_reason")?;
    r.failure_expanded = match o.remove("failure_expanded") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.into_iter().map(failure_detail).collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!("failure_expanded must be an array, got {}", kind(&other)));
        }
    };
    match o.remove("history") {
        None | Some(Value::Null) => {}
        Some(Value::Object(mut h)) => {
            r.duration = match h.remove("duration") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_f64(),
                Some(other) => {
                    return Err(format!("history.duration must be a number, got {}", kind(&other)));
                }
            };
            r.spans = match h.remove("children") {
                Some(Value::Array(c)) if c.is_empty() => None,
                Some(c @ Value::Array(_)) => Some(c),
                None | Some(Value::Null) => None,
                Some(other) => {
                    return Err(format!("history.children must be an array, got {}", kind(&other)));
                }
            };
        }
        Some(other) => return Err(format!("history must be an object, got {}", kind(&other))),
    }
    // Verdict's own extensions (sent by `verdict upload`; Buildkite ignores them).
    r.attempt = match o.remove("attempt") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or("attempt must be a small non-negative integer")?,
        Some(other) => return Err(format!("attempt must be a number, got {}", kind(&other))),
    };
    r.system_out = opt_string(&mut o, "system_out")?;
    r.system_err = opt_string(&mut o, "system_err")?;
    r.properties = match o.remove("properties") {
        None | Some(Value::Null) => Properties::default(),
        Some(v @ Value::Object(_)) => {
            serde_json::from_value(v).map_err(|_| "properties must map names to strings or arrays of strings".to_owned())?
        }
        Some(other) => {
            return Err(format!("properties must be an object, got {}", kind(&other)));
        }
    };
    r.tags = match o.remove("tags") {
        None | Some(Value::Null) => TagMap::new(),
        Some(Value::Object(m)) => string_map(m, "tags").map_err(|e| e.message)?,
        Some(other) => return Err(format!("tags must be an object, got {}", kind(&other))),
    };
    Ok(r)
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

fn failure_detail(v: Value) -> Result<FailureDetail, String> {
    let Value::Object(mut o) = v else {
        return Err(format!("failure_expanded items must be objects, got {}", kind(&v)));
    };
    Ok(FailureDetail { expanded: string_list(&mut o, "expanded")?, backtrace: string_list(&mut o, "backtrace")? })
}

fn string_list(o: &mut Map<String, Value>, key: &str) -> Result<Vec<String>, String> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                Value::String(s) => Ok(s),
                other => Err(format!("failure_expanded.{key} must hold strings, got {}", kind(&other))),
            })
            .collect(),
        Some(other) => Err(format!("failure_expanded.{key} must be an array, got {}", kind(&other))),
    }
}

fn opt_string(o: &mut Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match o.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{key} must be a string, got {}", kind(&other))),
    }
}

/// A flat object of strings where `null` is not allowed (tags, properties).
fn string_map(m: Map<String, Value>, what: &str) -> Result<TagMap, FormatError> {
    Ok(string_pairs(m, what, false)?.into_iter().map(|(k, v)| (k, v.unwrap_or_default())).collect())
}

/// A flat object of strings. Numbers and booleans are taken as their text
/// (scripts send `"number": 42`); `null` is kept as absent where allowed.
fn string_pairs(m: Map<String, Value>, what: &str, allow_null: bool) -> Result<Vec<(String, Option<String>)>, FormatError> {
    m.into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => Ok((k, Some(s))),
            Value::Number(n) => Ok((k, Some(n.to_string()))),
            Value::Bool(b) => Ok((k, Some(b.to_string()))),
            Value::Null if allow_null => Ok((k, None)),
            other => Err(FormatError::new(format!("{what}.{} must be a string, got {}", truncate(&k, 64), kind(&other)))),
        })
        .collect()
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
