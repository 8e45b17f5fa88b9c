//! The typed reader of Buildkite JSON: the upload body is read straight into
//! results, never into a `serde_json::Value` of the whole body, and every cap
//! of `verdict_core::caps` applies while it reads. A long string is measured
//! where serde_json found it and only what is kept is copied; arrays past their
//! cap are read over and counted, not built. Memory therefore follows what is
//! kept, whatever the body expands into.
//!
//! A result with a field of the wrong type is a skipped record (as Buildkite
//! skips it); the rest of the upload is read on. Errors of the envelope
//! (`run_env`, `tags`, `data`) refuse the whole upload.

use crate::buildkite::ReadData;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::fmt;
use verdict_core::caps::{self, LineBudget, MAX_TEXT_BYTES};
use verdict_core::upload::truncate;
use verdict_core::{ExecutionRecord, FailureDetail, MAX_RESULTS_PER_UPLOAD, Outcome, Properties, Skipped, TagMap};

/// `null` (or an absent option) is `$value`.
macro_rules! null_is {
    ($value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// An array, or an object, where another shape belongs: read over, and said
/// by the visitor's `wrong`.
macro_rules! wrong_array {
    ($de:lifetime) => {
        fn visit_seq<A: SeqAccess<$de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Err(self.wrong("an array")))
        }
    };
}

macro_rules! wrong_object {
    ($de:lifetime) => {
        fn visit_map<A: MapAccess<$de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Err(self.wrong("an object")))
        }
    };
}

/// Budgets of one upload, shared by everything read from it, and the first
/// error that refuses the whole upload.
#[derive(Default)]
pub(crate) struct Budget {
    lines: RefCell<LineBudget>,
    span_bytes: Cell<usize>,
    fatal: RefCell<Option<String>>,
}

impl Budget {
    /// Stop the read with `message` as the upload's error.
    fn fail<E: de::Error>(&self, message: String) -> E {
        self.fatal.borrow_mut().get_or_insert(message);
        E::custom("refused")
    }

    /// The error that stopped the read, if one of ours did.
    pub(crate) fn fatal(&self) -> Option<String> {
        self.fatal.borrow_mut().take()
    }
}

/// A JSON value of any type, read without failing: a string cut to a number
/// of bytes (with its full length), a scalar, or the kind of what it was.
enum Loose {
    Null,
    Str { kept: String, len: usize },
    Number(String, f64),
    Bool(bool),
    Other(&'static str),
}

impl Loose {
    fn kind(&self) -> &'static str {
        match self {
            Loose::Null => "null",
            Loose::Str { .. } => "a string",
            Loose::Number(..) => "a number",
            Loose::Bool(_) => "a boolean",
            Loose::Other(k) => k,
        }
    }

    /// A string, or the text of a number or boolean (scripts send `"number": 42`).
    fn text(self) -> Result<Option<String>, &'static str> {
        match self {
            Loose::Null => Ok(None),
            Loose::Str { kept, .. } => Ok(Some(kept)),
            Loose::Number(text, _) => Ok(Some(text)),
            Loose::Bool(b) => Ok(Some(b.to_string())),
            Loose::Other(k) => Err(k),
        }
    }
}

/// Reads a [`Loose`], keeping at most `max` bytes of a string (past the cap,
/// `capped` adds the mark: `max` plus a little is kept so it knows).
#[derive(Clone, Copy)]
struct LooseSeed(usize);

impl<'de> DeserializeSeed<'de> for LooseSeed {
    type Value = Loose;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LooseSeed {
    type Value = Loose;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Str { kept: truncate(v, self.0).to_owned(), len: v.len() })
    }
    fn visit_string<E>(self, mut v: String) -> Result<Loose, E> {
        let len = v.len();
        v.truncate(truncate(&v, self.0).len());
        Ok(Loose::Str { kept: v, len })
    }
    fn visit_u64<E>(self, v: u64) -> Result<Loose, E> {
        Ok(Loose::Number(v.to_string(), v as f64))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Number(v.to_string(), v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Loose, E> {
        let text = serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
        Ok(Loose::Number(text, v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Loose, E> {
        Ok(Loose::Bool(v))
    }
    null_is!(Loose::Null);
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Loose, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Loose, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Loose::Other("an object"))
    }
}

/// Object keys are names: what is longer than this is kept cut (and then
/// refused or ignored by whoever reads it).
const MAX_KEY_BYTES: usize = caps::MAX_RUN_ENV_KEY_BYTES + 1;

fn key<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    Ok(long_key(map, MAX_KEY_BYTES)?.map(|(k, _)| k))
}

/// A key with at most `max` bytes kept, and its full length (where a cut
/// key must not pass for a shorter one).
fn long_key<'de, A: MapAccess<'de>>(map: &mut A, max: usize) -> Result<Option<(String, usize)>, A::Error> {
    Ok(map.next_key_seed(LooseSeed(max))?.map(|k| match k {
        Loose::Str { kept, len } => (kept, len),
        _ => (String::new(), 0),
    }))
}

/// What a visitor of one shape does with a scalar of another: say what it
/// was, by the visitor's `wrong`.
macro_rules! other_kinds {
    () => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Err(self.wrong("a string")))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Err(self.wrong("a number")))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Err(self.wrong("a number")))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Err(self.wrong("a number")))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Err(self.wrong("a boolean")))
        }
    };
}

// ---------------------------------------------------------------- the body

/// The envelope of a JSON upload body, as read.
#[derive(Default)]
pub(crate) struct BodyRead {
    pub format: Option<String>,
    pub run_env: Vec<(String, Option<String>)>,
    pub tags: Vec<(String, String)>,
    pub data: Option<ReadData>,
}

pub(crate) struct BodySeed<'b>(pub &'b Budget);

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = BodyRead;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BodyRead, D::Error> {
        d.deserialize_any(self)
    }
}

const NOT_AN_ENVELOPE: &str = "the request body must be a JSON object with format, run_env and data";

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = BodyRead;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object with format, run_env and data")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyRead, A::Error> {
        let mut body = BodyRead::default();
        while let Some(k) = key(&mut map)? {
            match k.as_str() {
                "format" => match map.next_value_seed(LooseSeed(64))? {
                    Loose::Null => body.format = None,
                    Loose::Str { kept, .. } => body.format = Some(kept),
                    other => return Err(self.0.fail(format!("format must be a string, got {}", other.kind()))),
                },
                "run_env" => body.run_env = map.next_value_seed(PairsSeed { budget: self.0, what: "run_env" })?,
                "tags" => {
                    let pairs = map.next_value_seed(PairsSeed { budget: self.0, what: "tags" })?;
                    body.tags = pairs
                        .into_iter()
                        .map(|(k, v)| {
                            v.map(|v| (k.clone(), v))
                                .ok_or_else(|| self.0.fail(format!("tags.{} must be a string, got null", truncate(&k, 64))))
                        })
                        .collect::<Result<_, _>>()?;
                }
                "data" => body.data = map.next_value_seed(DataSeed(self.0))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<BodyRead, A::Error> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<BodyRead, E> {
        Err(self.0.fail(NOT_AN_ENVELOPE.into()))
    }
}

/// `run_env` and upload `tags`: a flat object of strings (numbers and
/// booleans as their text, `null` as absent). More keys than anything keeps
/// refuse the upload; longer values are kept long enough to be refused by
/// the checks that name them.
struct PairsSeed<'b> {
    budget: &'b Budget,
    what: &'static str,
}

/// Keys of `run_env` (the modelled ones and the extra ones) or of tags read
/// before the upload is refused without reading more.
const MAX_PAIRS: usize = caps::MAX_RUN_ENV_EXTRA_KEYS + 20;

impl<'de> DeserializeSeed<'de> for PairsSeed<'_> {
    type Value = Vec<(String, Option<String>)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match d.deserialize_any(PairsVisitor { budget: self.budget, what: self.what })? {
            Some(pairs) => Ok(pairs),
            None => Ok(Vec::new()),
        }
    }
}

struct PairsVisitor<'b> {
    budget: &'b Budget,
    what: &'static str,
}

impl PairsVisitor<'_> {
    fn not_an_object<E: de::Error>(&self, kind: &str) -> E {
        self.budget.fail(format!("{} must be an object, got {kind}", self.what))
    }
}

impl<'de> Visitor<'de> for PairsVisitor<'_> {
    type Value = Option<Vec<(String, Option<String>)>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        // The longest value any check lets through, plus one so it can refuse.
        let max_value = MAX_TEXT_BYTES + 1;
        const { assert!(caps::MAX_RUN_URL_BYTES < MAX_TEXT_BYTES && caps::MAX_RUN_ENV_VALUE_BYTES < MAX_TEXT_BYTES) };
        while let Some((k, len)) = long_key(&mut map, MAX_KEY_BYTES)? {
            if pairs.len() == MAX_PAIRS {
                return Err(self.budget.fail(format!("{} has more than {MAX_PAIRS} keys", self.what)));
            }
            if len > caps::MAX_RUN_ENV_KEY_BYTES {
                let max = caps::MAX_RUN_ENV_KEY_BYTES;
                return Err(self.budget.fail(format!("{} key {:?}... is longer than {max} bytes", self.what, truncate(&k, 40))));
            }
            let v = match map.next_value_seed(LooseSeed(max_value))? {
                // Cut: longer than any check lets through, and marked (only the
                // commit message is cut rather than refused).
                Loose::Str { kept, len } if len > kept.len() => Loose::Str { len, kept: caps::cut_and_mark(kept, MAX_TEXT_BYTES) },
                v => v,
            };
            match v.text() {
                Ok(v) => pairs.push((k, v)),
                Err(kind) => return Err(self.budget.fail(format!("{}.{} must be a string, got {kind}", self.what, truncate(&k, 64)))),
            }
        }
        Ok(Some(pairs))
    }
    null_is!(None);
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.not_an_object("an array"))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.not_an_object("a string"))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.not_an_object("a number"))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.not_an_object("a boolean"))
    }
}

/// `data`: the results (an array, read here), JUnit XML (a string), or
/// something else, which the format's rules refuse. `null` is no data.
pub(crate) struct DataSeed<'b>(pub &'b Budget);

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = Option<ReadData>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = Option<ReadData>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of test results or the XML as a string")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut executions, mut skipped, mut n) = (Vec::new(), Skipped::default(), 0usize);
        while n < MAX_RESULTS_PER_UPLOAD {
            match seq.next_element_seed(ResultSeed(self.0))? {
                None => return Ok(Some(ReadData::Results(executions, skipped))),
                Some(Ok(r)) => executions.push(r),
                Some(Err(why)) => skipped.push(format!("result #{}: {why}", n + 1)),
            }
            n += 1;
        }
        // Past the cap: counted (for the message), not read into anything.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            n += 1;
        }
        if n > MAX_RESULTS_PER_UPLOAD {
            return Err(self.0.fail(crate::buildkite::too_many_results(n)));
        }
        Ok(Some(ReadData::Results(executions, skipped)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Xml(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Xml(v)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Some(ReadData::Other("an object")))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Other("a number")))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Other("a number")))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Other("a number")))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Some(ReadData::Other("a boolean")))
    }
    null_is!(None);
}

// -------------------------------------------------------------- one result

/// One result object: `Ok` the record, `Err` why it is skipped.
pub(crate) struct ResultSeed<'b>(pub &'b Budget);

impl<'de> DeserializeSeed<'de> for ResultSeed<'_> {
    type Value = Result<ExecutionRecord, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl ResultSeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("expected an object, got {kind}")
    }
}

impl<'de> Visitor<'de> for ResultSeed<'_> {
    type Value = Result<ExecutionRecord, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a test result object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = ExecutionRecord::new(String::new(), String::new(), Outcome::Unknown);
        let mut name = None;
        let mut problem: Option<String> = None;
        let mut metrics: (Vec<(String, String)>, usize) = (Vec::new(), 0);
        while let Some(k) = key(&mut map)? {
            if problem.is_some() {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            let got = |what: &str, kind: &str| format!("{what} must be a string, got {kind}");
            let result: Result<(), String> = match k.as_str() {
                "name" | "scope" => match map.next_value_seed(LooseSeed(caps::MAX_NAME_BYTES))? {
                    Loose::Str { kept, len } if len > caps::MAX_NAME_BYTES => {
                        Err(format!("result {:?}: scope or name longer than {} bytes", truncate(&kept, 80), caps::MAX_NAME_BYTES))
                    }
                    v => optional(v, &k).map(|v| if k == "name" { name = v } else { r.scope = v.unwrap_or_default() }),
                },
                "result" => match map.next_value_seed(LooseSeed(64))? {
                    Loose::Null => Ok(()),
                    Loose::Str { kept, .. } => kept.parse::<Outcome>().map(|o| r.outcome = o),
                    other => Err(got("result", other.kind())),
                },
                "location" | "file_name" => {
                    let v = capped(map.next_value_seed(LooseSeed(caps::MAX_NAME_BYTES))?, caps::MAX_NAME_BYTES, &k);
                    v.map(|v| if k == "location" { r.location = v } else { r.file_name = v })
                }
                "failure_reason" | "system_out" | "system_err" => {
                    capped(map.next_value_seed(LooseSeed(MAX_TEXT_BYTES))?, MAX_TEXT_BYTES, &k).map(|v| match k.as_str() {
                        "failure_reason" => r.failure_reason = v,
                        "system_out" => r.system_out = v,
                        _ => r.system_err = v,
                    })
                }
                "failure_expanded" => map.next_value_seed(DetailsSeed(self.0))?.map(|d| r.failure_expanded = d),
                "history" => map.next_value_seed(HistorySeed(self.0))?.map(|(duration, spans)| {
                    r.duration = duration;
                    r.spans = spans;
                }),
                "attempt" => match map.next_value_seed(LooseSeed(0))? {
                    Loose::Null => Ok(()),
                    Loose::Number(text, _) => {
                        text.parse::<u32>().map(|a| r.attempt = a).map_err(|_| "attempt must be a small non-negative integer".to_owned())
                    }
                    other => Err(format!("attempt must be a number, got {}", other.kind())),
                },
                "properties" => map.next_value_seed(PropertiesSeed)?.map(|p| r.properties = p),
                "metrics" => map.next_value_seed(MetricsSeed)?.map(|m| metrics = m),
                "tags" => map.next_value_seed(TagsSeed)?.map(|t| r.tags = t),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    Ok(())
                }
            };
            problem = result.err();
        }
        if let Some(p) = problem {
            return Ok(Err(p));
        }
        let Some(name) = name else {
            return Ok(Err("name is required".into()));
        };
        r.name = name;
        let (metrics, mut dropped) = metrics;
        for (metric, value) in metrics {
            if !r.properties.push(format!("{}{metric}", verdict_core::upload::METRIC_PREFIX), value) {
                dropped += 1;
            }
        }
        if dropped > 0 {
            r.properties.push_dropped_marker(dropped);
        }
        Ok(Ok(r))
    }
    wrong_array!('de);
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("expected an object, got null".into()))
    }
    other_kinds!();
}

/// A string field that may be absent or null.
fn optional(v: Loose, field: &str) -> Result<Option<String>, String> {
    match v {
        Loose::Null => Ok(None),
        Loose::Str { kept, .. } => Ok(Some(kept)),
        other => Err(format!("{field} must be a string, got {}", other.kind())),
    }
}

/// A text field read with `LooseSeed(max)`: cut at `max` bytes and marked.
fn capped(v: Loose, max: usize, field: &str) -> Result<Option<String>, String> {
    match v {
        Loose::Null => Ok(None),
        Loose::Str { kept, len } if len > max => Ok(Some(caps::cut_and_mark(kept, max))),
        Loose::Str { kept, .. } => Ok(Some(kept)),
        other => Err(format!("{field} must be a string, got {}", other.kind())),
    }
}

// ------------------------------------------------------- failure details

/// `failure_expanded`: at most `caps::MAX_FAILURE_DETAILS` details; one more
/// says how many were not kept.
struct DetailsSeed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for DetailsSeed<'_> {
    type Value = Result<Vec<FailureDetail>, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl DetailsSeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("failure_expanded must be an array, got {kind}")
    }
}

impl<'de> Visitor<'de> for DetailsSeed<'_> {
    type Value = Result<Vec<FailureDetail>, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of failure details")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut details, mut dropped, mut problem) = (Vec::new(), 0usize, None);
        loop {
            if problem.is_some() || details.len() == caps::MAX_FAILURE_DETAILS {
                match seq.next_element::<IgnoredAny>()? {
                    Some(_) => dropped += 1,
                    None => break,
                }
                continue;
            }
            match seq.next_element_seed(DetailSeed(self.0))? {
                None => break,
                Some(Ok(d)) => details.push(d),
                Some(Err(why)) => problem = Some(why),
            }
        }
        if let Some(p) = problem {
            return Ok(Err(p));
        }
        if dropped > 0 {
            details.push(FailureDetail {
                expanded: vec![format!("[... {dropped} more failures not kept by Verdict]")],
                backtrace: Vec::new(),
            });
        }
        Ok(Ok(details))
    }
    wrong_object!('de);
    null_is!(Ok(Vec::new()));
    other_kinds!();
}

struct DetailSeed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for DetailSeed<'_> {
    type Value = Result<FailureDetail, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl DetailSeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("failure_expanded items must be objects, got {kind}")
    }
}

impl<'de> Visitor<'de> for DetailSeed<'_> {
    type Value = Result<FailureDetail, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a failure detail object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut detail, mut problem) = (FailureDetail::default(), None);
        while let Some(k) = key(&mut map)? {
            let field = match k.as_str() {
                "expanded" if problem.is_none() => "expanded",
                "backtrace" if problem.is_none() => "backtrace",
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match map.next_value_seed(LinesSeed { budget: self.0, field })? {
                Ok(lines) if field == "expanded" => detail.expanded = lines,
                Ok(lines) => detail.backtrace = lines,
                Err(why) => problem = Some(why),
            }
        }
        Ok(problem.map_or(Ok(detail), Err))
    }
    wrong_array!('de);
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Err("failure_expanded items must be objects, got null".into()))
    }
    other_kinds!();
}

/// The lines of one detail: at most `caps::MAX_DETAIL_LINES` and
/// `MAX_TEXT_BYTES` of text, within the upload's line budget; a last line
/// says how many were dropped.
struct LinesSeed<'b> {
    budget: &'b Budget,
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for LinesSeed<'_> {
    type Value = Result<Vec<String>, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl LinesSeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("failure_expanded.{} must be an array, got {kind}", self.field)
    }
}

impl<'de> Visitor<'de> for LinesSeed<'_> {
    type Value = Result<Vec<String>, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of strings")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut lines, mut dropped, mut bytes_left, mut problem) = (Vec::new(), 0usize, MAX_TEXT_BYTES, None);
        while let Some(v) = seq.next_element_seed(LooseSeed(bytes_left))? {
            match v {
                Loose::Str { kept, len } if problem.is_none() => {
                    if bytes_left > 0 && lines.len() < caps::MAX_DETAIL_LINES && self.budget.lines.borrow_mut().take() {
                        let line = if len > bytes_left { caps::cut_and_mark(kept, bytes_left) } else { kept };
                        bytes_left = bytes_left.saturating_sub(len.max(line.len()));
                        lines.push(line);
                    } else {
                        dropped += 1;
                    }
                }
                _ if problem.is_some() => {}
                other => problem = Some(format!("failure_expanded.{} must hold strings, got {}", self.field, other.kind())),
            }
        }
        if let Some(p) = problem {
            return Ok(Err(p));
        }
        if dropped > 0 {
            lines.push(caps::dropped_lines(dropped));
        }
        Ok(Ok(lines))
    }
    null_is!(Ok(Vec::new()));
    wrong_object!('de);
    other_kinds!();
}

// ------------------------------------------------------ history and spans

/// `history`: its `duration`, and its `children` (spans).
struct HistorySeed<'b>(&'b Budget);

type History = (Option<f64>, Option<serde_json::Value>);

impl<'de> DeserializeSeed<'de> for HistorySeed<'_> {
    type Value = Result<History, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl HistorySeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("history must be an object, got {kind}")
    }
}

impl<'de> Visitor<'de> for HistorySeed<'_> {
    type Value = Result<History, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a history object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut history, mut problem): (History, Option<String>) = ((None, None), None);
        while let Some(k) = key(&mut map)? {
            match k.as_str() {
                "duration" if problem.is_none() => match map.next_value_seed(LooseSeed(0))? {
                    Loose::Null => history.0 = None,
                    Loose::Number(_, f) => history.0 = Some(f),
                    other => problem = Some(format!("history.duration must be a number, got {}", other.kind())),
                },
                "children" if problem.is_none() => {
                    let local = SpanBytes { left: Cell::new(caps::MAX_SPAN_BYTES_PER_RESULT), upload: self.0 };
                    match map.next_value_seed(SpansSeed(&local))? {
                        Ok(spans) => history.1 = spans,
                        Err(why) => problem = Some(why),
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(problem.map_or(Ok(history), Err))
    }
    wrong_array!('de);
    null_is!(Ok((None, None)));
    other_kinds!();
}

/// What spans may still cost: this result's share and the upload's. A JSON
/// value is reckoned at `SPAN_VALUE_COST` bytes plus its text, about what
/// it takes in memory.
struct SpanBytes<'b> {
    left: Cell<usize>,
    upload: &'b Budget,
}

const SPAN_VALUE_COST: usize = 64;

impl SpanBytes<'_> {
    /// Charge `text` bytes of one value; false when either budget is spent.
    fn charge(&self, text: usize) -> bool {
        let cost = SPAN_VALUE_COST + text;
        let used = self.upload.span_bytes.get();
        if cost > self.left.get() || used + cost > caps::MAX_UPLOAD_SPAN_BYTES {
            return false;
        }
        self.left.set(self.left.get() - cost);
        self.upload.span_bytes.set(used + cost);
        true
    }
}

/// `history.children`: the spans kept as sent, within the budgets; a span
/// that does not fit (or nests deeper than `caps::MAX_SPAN_DEPTH`) is left
/// out, and a last element `{"truncated_by_verdict": {"spans_not_kept": N}}`
/// counts them.
struct SpansSeed<'b>(&'b SpanBytes<'b>);

impl<'de> DeserializeSeed<'de> for SpansSeed<'_> {
    type Value = Result<Option<serde_json::Value>, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl SpansSeed<'_> {
    fn wrong(&self, kind: &str) -> String {
        format!("history.children must be an array, got {kind}")
    }
}

impl<'de> Visitor<'de> for SpansSeed<'_> {
    type Value = Result<Option<serde_json::Value>, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of spans")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut spans, mut dropped) = (Vec::new(), 0usize);
        while let Some(span) = seq.next_element_seed(SpanValueSeed { bytes: self.0, depth: 1 })? {
            match span {
                Some(s) => spans.push(s),
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            spans.push(serde_json::json!({"truncated_by_verdict": {"spans_not_kept": dropped}}));
        }
        Ok(Ok((!spans.is_empty()).then_some(serde_json::Value::Array(spans))))
    }
    wrong_object!('de);
    null_is!(Ok(None));
    other_kinds!();
}

/// One JSON value of a span, built only while it fits: `None` when it does
/// not (what is left of it is read over).
struct SpanValueSeed<'b> {
    bytes: &'b SpanBytes<'b>,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for SpanValueSeed<'_> {
    type Value = Option<serde_json::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl SpanValueSeed<'_> {
    fn scalar(&self, v: serde_json::Value) -> Option<serde_json::Value> {
        self.bytes.charge(0).then_some(v)
    }
    fn text(&self, v: &str) -> Option<serde_json::Value> {
        let kept = if v.len() > caps::MAX_SPAN_TEXT_BYTES {
            caps::cut_and_mark(truncate(v, caps::MAX_SPAN_TEXT_BYTES).to_owned(), caps::MAX_SPAN_TEXT_BYTES)
        } else {
            v.to_owned()
        };
        self.bytes.charge(kept.len()).then_some(serde_json::Value::String(kept))
    }
    fn nested(&self) -> Option<SpanValueSeed<'_>> {
        (self.depth < caps::MAX_SPAN_DEPTH && self.bytes.charge(0)).then_some(SpanValueSeed { bytes: self.bytes, depth: self.depth + 1 })
    }
}

impl<'de> Visitor<'de> for SpanValueSeed<'_> {
    type Value = Option<serde_json::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.text(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self.scalar(v.into()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self.scalar(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self.scalar(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.scalar(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.scalar(serde_json::Value::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(self.scalar(serde_json::Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Some(inner) = self.nested() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut items = Some(Vec::new());
        while let Some(v) = seq.next_element_seed(SpanValueSeed { bytes: inner.bytes, depth: inner.depth })? {
            match (v, items.as_mut()) {
                (Some(v), Some(items)) => items.push(v),
                _ => items = None,
            }
            if items.is_none() {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                break;
            }
        }
        Ok(items.map(serde_json::Value::Array))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(inner) = self.nested() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut object = Some(serde_json::Map::new());
        while let Some((k, len)) = long_key(&mut map, caps::MAX_SPAN_TEXT_BYTES)? {
            // A key past the cap leaves the span out rather than cut it.
            if object.is_none() || len > k.len() || !self.bytes.charge(k.len()) {
                object = None;
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            match map.next_value_seed(SpanValueSeed { bytes: inner.bytes, depth: inner.depth })? {
                Some(v) => {
                    object.as_mut().map(|o| o.insert(k, v));
                }
                None => object = None,
            }
        }
        Ok(object.map(serde_json::Value::Object))
    }
}

// ------------------------------------------------- properties and tags

/// Verdict's `metrics` extension: names to numbers, per result (a test's
/// named numbers in this execution, as ReSim's job metrics). Kept as the
/// properties `metric:NAME`, the JUnit spelling of the same thing.
struct MetricsSeed;

impl<'de> DeserializeSeed<'de> for MetricsSeed {
    type Value = Result<(Vec<(String, String)>, usize), String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl MetricsSeed {
    fn wrong(&self, kind: &str) -> String {
        format!("metrics must be an object of names to numbers, got {kind}")
    }
}

impl<'de> Visitor<'de> for MetricsSeed {
    type Value = Result<(Vec<(String, String)>, usize), String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of named numbers")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut out, mut dropped, mut bad) = (Vec::new(), 0usize, None);
        while let Some((name, len)) = long_key(&mut map, caps::MAX_NAME_BYTES)? {
            let name = if len > name.len() { caps::cut_and_mark(name, caps::MAX_NAME_BYTES) } else { name };
            match map.next_value_seed(LooseSeed(0))? {
                // Past the properties' cap they could not be kept anyway: read over, not built.
                Loose::Number(_, v) if v.is_finite() && out.len() >= caps::MAX_PROPERTIES => dropped += 1,
                Loose::Number(text, v) if v.is_finite() => out.push((name, text)),
                other => bad = Some(format!("metrics must map names to finite numbers: {name:?} is {}", other.kind())),
            }
        }
        Ok(bad.map_or(Ok((out, dropped)), Err))
    }
    null_is!(Ok((Vec::new(), 0)));
    wrong_array!('de);
    other_kinds!();
}

/// Verdict's `properties` extension: names to a string or an array of
/// strings, within `caps::MAX_PROPERTIES` names and values per name; a
/// property `(truncated by Verdict)` counts what was not kept.
struct PropertiesSeed;

impl<'de> DeserializeSeed<'de> for PropertiesSeed {
    type Value = Result<Properties, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

const BAD_PROPERTIES: &str = "properties must map names to strings or arrays of strings";

impl PropertiesSeed {
    fn wrong(&self, kind: &str) -> String {
        format!("properties must be an object, got {kind}")
    }
}

impl<'de> Visitor<'de> for PropertiesSeed {
    type Value = Result<Properties, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of properties")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut props, mut dropped, mut bad) = (Properties::default(), 0usize, false);
        while let Some((name, len)) = long_key(&mut map, caps::MAX_NAME_BYTES)? {
            let name = if len > name.len() { caps::cut_and_mark(name, caps::MAX_NAME_BYTES) } else { name };
            let (values, more) = map.next_value_seed(PropertyValuesSeed)?;
            bad |= values.is_none();
            dropped += more;
            for v in values.into_iter().flatten() {
                if !props.push(name.clone(), v) {
                    dropped += 1;
                }
            }
        }
        if bad {
            return Ok(Err(BAD_PROPERTIES.into()));
        }
        if dropped > 0 {
            props.push_dropped_marker(dropped);
        }
        Ok(Ok(props))
    }
    null_is!(Ok(Properties::default()));
    wrong_array!('de);
    other_kinds!();
}

/// One property's value or values (each capped); `None` when it is neither a
/// string nor an array of strings. The second figure counts values not kept.
struct PropertyValuesSeed;

impl<'de> DeserializeSeed<'de> for PropertyValuesSeed {
    type Value = (Option<Vec<String>>, usize);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PropertyValuesSeed {
    type Value = (Option<Vec<String>>, usize);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or an array of strings")
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        let kept = if v.len() > MAX_TEXT_BYTES {
            caps::cut_and_mark(truncate(v, MAX_TEXT_BYTES).to_owned(), MAX_TEXT_BYTES)
        } else {
            v.to_owned()
        };
        Ok((Some(vec![kept]), 0))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let (mut values, mut dropped, mut bad) = (Vec::new(), 0usize, false);
        while let Some(v) = seq.next_element_seed(LooseSeed(MAX_TEXT_BYTES))? {
            match capped(v, MAX_TEXT_BYTES, "") {
                Ok(Some(s)) if values.len() < caps::MAX_PROPERTIES => values.push(s),
                Ok(Some(_)) => dropped += 1,
                _ => bad = true,
            }
        }
        Ok(((!bad).then_some(values), dropped))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok((None, 0))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok((None, 0))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok((None, 0))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok((None, 0))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok((None, 0))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok((None, 0))
    }
}

/// A result's `tags`. Keys and values are kept one byte past what the tag
/// rules allow, and one tag past their number, so that the rules (applied
/// after reading) refuse the record and say why.
struct TagsSeed;

impl<'de> DeserializeSeed<'de> for TagsSeed {
    type Value = Result<TagMap, String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl TagsSeed {
    fn wrong(&self, kind: &str) -> String {
        format!("tags must be an object, got {kind}")
    }
}

impl<'de> Visitor<'de> for TagsSeed {
    type Value = Result<TagMap, String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of strings")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut tags, mut problem) = (TagMap::new(), None);
        while let Some(k) = key(&mut map)? {
            let v = map.next_value_seed(LooseSeed(verdict_core::upload::MAX_TAG_VALUE_BYTES + 1))?;
            if problem.is_some() || tags.len() > verdict_core::upload::MAX_TAGS {
                continue;
            }
            match v.text() {
                Ok(Some(v)) => {
                    tags.insert(k, v);
                }
                Ok(None) => problem = Some(format!("tags.{} must be a string, got null", truncate(&k, 64))),
                Err(kind) => problem = Some(format!("tags.{} must be a string, got {kind}", truncate(&k, 64))),
            }
        }
        Ok(problem.map_or(Ok(tags), Err))
    }
    null_is!(Ok(TagMap::new()));
    wrong_array!('de);
    other_kinds!();
}
