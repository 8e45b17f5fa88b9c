//! What one upload carries once an adapter has parsed it, whatever its wire format.

use crate::outcome::Outcome;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Buildkite's documented per-request ceiling; larger uploads are refused whole.
pub const MAX_RESULTS_PER_UPLOAD: usize = 5000;
/// Buildkite's tag rules: tags per upload or result, bytes of a value (under).
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_VALUE_BYTES: usize = 128;

pub type TagMap = BTreeMap<String, String>;

/// The CI context of a run. Only `key` is required: uploads that share it merge
/// into one run of the suite.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunEnv {
    pub key: String,
    pub ci: Option<String>,
    pub url: Option<String>,
    pub branch: Option<String>,
    pub commit_sha: Option<String>,
    pub number: Option<String>,
    pub job_id: Option<String>,
    pub message: Option<String>,
    /// The job this run is a run of, for judging repeated runs together.
    pub job: Option<String>,
    /// What the run tested (a release payload, a build); the commit by default.
    pub payload: Option<String>,
    /// Keys we do not model (collector, version, test_runner, ...), kept as sent.
    #[serde(rename = "env")]
    pub extra: BTreeMap<String, String>,
}

impl RunEnv {
    /// Build from loose string pairs, accepting `CI` or `ci` for the CI name.
    /// Empty values count as absent.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = (K, Option<V>)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut env = RunEnv::default();
        let mut key = None;
        for (k, v) in pairs {
            let k: String = k.into();
            let Some(v) = v.map(Into::into).filter(|v: &String| !v.is_empty()) else {
                continue;
            };
            match k.as_str() {
                "key" => key = Some(v),
                "CI" | "ci" => env.ci = Some(v),
                "url" => env.url = Some(v),
                "branch" => env.branch = Some(v),
                "commit_sha" => env.commit_sha = Some(v),
                "number" => env.number = Some(v),
                "job_id" => env.job_id = Some(v),
                "message" => env.message = Some(v),
                "job" => env.job = Some(v),
                "payload" => env.payload = Some(v),
                _ => {
                    env.extra.insert(k, v);
                }
            }
        }
        env.key = key.ok_or("run_env[key] is required: it names the run that uploads with the same key merge into")?;
        env.check_sizes()?;
        Ok(env)
    }

    /// Refuse labels the stores cannot index or that would cost more than
    /// they say; the commit message is the only free text, and it is cut.
    fn check_sizes(&mut self) -> Result<(), String> {
        use crate::caps::*;
        let too_long = |field: &str, max: usize| format!("run_env[{field}] is longer than {max} bytes");
        if self.key.len() > 255 {
            return Err(too_long("key", 255));
        }
        let labels = [
            ("CI", &self.ci),
            ("branch", &self.branch),
            ("commit_sha", &self.commit_sha),
            ("number", &self.number),
            ("job_id", &self.job_id),
            ("job", &self.job),
            ("payload", &self.payload),
        ];
        if let Some((field, _)) = labels.iter().find(|(_, v)| v.as_ref().is_some_and(|v| v.len() > MAX_RUN_LABEL_BYTES)) {
            return Err(too_long(field, MAX_RUN_LABEL_BYTES));
        }
        if self.url.as_ref().is_some_and(|u| u.len() > MAX_RUN_URL_BYTES) {
            return Err(too_long("url", MAX_RUN_URL_BYTES));
        }
        if self.extra.len() > MAX_RUN_ENV_EXTRA_KEYS {
            return Err(format!(
                "run_env has {} keys besides the ones Verdict models; at most {MAX_RUN_ENV_EXTRA_KEYS} are kept",
                self.extra.len()
            ));
        }
        for (k, v) in &self.extra {
            if k.len() > MAX_RUN_ENV_KEY_BYTES {
                return Err(format!("run_env key {:?}... is longer than {MAX_RUN_ENV_KEY_BYTES} bytes", truncate(k, 40)));
            }
            if v.len() > MAX_RUN_ENV_VALUE_BYTES {
                return Err(too_long(k, MAX_RUN_ENV_VALUE_BYTES));
            }
        }
        if let Some(m) = self.message.take() {
            self.message = Some(cap_text(m, MAX_TEXT_BYTES));
        }
        Ok(())
    }
}

impl RunEnv {
    /// Replace NUL in every text of the run's context, extra keys included.
    fn replace_nul(&mut self) {
        replace_nul(&mut self.key);
        for s in [
            &mut self.ci,
            &mut self.url,
            &mut self.branch,
            &mut self.commit_sha,
            &mut self.number,
            &mut self.job_id,
            &mut self.message,
            &mut self.job,
            &mut self.payload,
        ]
        .into_iter()
        .flatten()
        {
            replace_nul(s);
        }
        replace_nul_in_map(&mut self.extra);
    }
}

/// Keys and values: a key that held a NUL is kept under its replaced form.
fn replace_nul_in_map(map: &mut BTreeMap<String, String>) {
    if map.keys().any(|k| k.contains('\0')) {
        *map = std::mem::take(map)
            .into_iter()
            .map(|(mut k, v)| {
                replace_nul(&mut k);
                (k, v)
            })
            .collect();
    }
    map.values_mut().for_each(replace_nul);
}

fn replace_nul(s: &mut String) {
    if s.contains('\0') {
        *s = s.replace('\0', "\u{fffd}");
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureDetail {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expanded: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backtrace: Vec<String>,
}

/// One result of one test in one upload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionRecord {
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    pub location: Option<String>,
    pub outcome: Outcome,
    /// Seconds; the only timing comparable across clients.
    pub duration: Option<f64>,
    pub failure_reason: Option<String>,
    pub failure_expanded: Vec<FailureDetail>,
    /// 0 for the first attempt, 1.. for reruns (JUnit flakyFailure / rerunFailure).
    pub attempt: u32,
    pub tags: TagMap,
    /// Buildkite spans (`history.children`), kept verbatim.
    pub spans: Option<serde_json::Value>,
    pub properties: Properties,
    pub system_out: Option<String>,
    pub system_err: Option<String>,
}

impl ExecutionRecord {
    pub fn new(scope: impl Into<String>, name: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            scope: scope.into(),
            name: name.into(),
            file_name: None,
            location: None,
            outcome,
            duration: None,
            failure_reason: None,
            failure_expanded: Vec::new(),
            attempt: 0,
            tags: TagMap::new(),
            spans: None,
            properties: Properties::default(),
            system_out: None,
            system_err: None,
        }
    }

    fn replace_nul(&mut self) {
        for s in [&mut self.scope, &mut self.name] {
            replace_nul(s);
        }
        for s in [&mut self.file_name, &mut self.location, &mut self.failure_reason, &mut self.system_out, &mut self.system_err]
            .into_iter()
            .flatten()
        {
            replace_nul(s);
        }
        for d in &mut self.failure_expanded {
            d.expanded.iter_mut().chain(d.backtrace.iter_mut()).for_each(replace_nul);
        }
        self.properties.replace_nul();
        replace_nul_in_map(&mut self.tags);
        // JSON text shows a NUL as the escape \u0000, wherever it is nested.
        if let Some(spans) = self.spans.as_mut().filter(|s| s.to_string().contains("\\u0000")) {
            *spans = serde_json::from_str(&spans.to_string().replace("\\u0000", "\\ufffd")).unwrap_or_default();
        }
    }

    /// Why this record cannot be stored, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.name.trim().is_empty() {
            return Some("a result has no name".into());
        }
        if self.name.len() > crate::caps::MAX_NAME_BYTES || self.scope.len() > crate::caps::MAX_NAME_BYTES {
            return Some(format!("result {:?}: scope or name longer than {} bytes", truncate(&self.name, 80), crate::caps::MAX_NAME_BYTES));
        }
        if let Some(d) = self.duration.filter(|d| !d.is_finite() || *d < 0.0) {
            return Some(format!("result {:?}: duration {d} is not a non-negative number", self.name));
        }
        validate_tags(&self.tags).err().map(|e| format!("result {:?}: {e}", self.name))
    }
}

/// Named values of a result (JUnit `<property>`, the JSON extension
/// `properties`). A name can repeat: every value is kept, in order. In JSON a
/// name with one value maps to a string, a repeated one to an array.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Properties(BTreeMap<String, Vec<String>>);

/// A property named `metric:NAME` with a number is a named number of the
/// execution (JUnit `<property name="metric:NAME" value="1.25"/>`, or the
/// Buildkite JSON extension `metrics: {"NAME": 1.25}`): a job metric.
pub const METRIC_PREFIX: &str = "metric:";

impl Properties {
    /// Add a value; false (and nothing added) when a new name would pass
    /// `caps::MAX_PROPERTIES` names.
    pub fn push(&mut self, name: String, value: String) -> bool {
        if let Some(values) = self.0.get_mut(&name) {
            if values.len() >= crate::caps::MAX_PROPERTIES {
                return false;
            }
            values.push(value);
            return true;
        }
        if self.0.len() >= crate::caps::MAX_PROPERTIES {
            return false;
        }
        self.0.insert(name, vec![value]);
        true
    }

    /// Say that `n` properties (names or values past the caps) were not kept.
    pub fn push_dropped_marker(&mut self, n: usize) {
        self.0.insert(Self::DROPPED.into(), vec![format!("{n} more properties not kept")]);
    }

    /// The name of the property that counts what was not kept.
    pub const DROPPED: &'static str = "(truncated by Verdict)";

    /// The last value of `name` (for appending text to it).
    pub fn last_mut(&mut self, name: &str) -> Option<&mut String> {
        self.0.get_mut(name).and_then(|v| v.last_mut())
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.first()).map(String::as_str)
    }

    /// The named numbers among them (`metric:NAME` with a finite number;
    /// the last value of a repeated name), by name.
    pub fn metrics(&self) -> Vec<(&str, f64)> {
        // Called for every result of every upload: a range of the sorted names, no allocation.
        self.0
            .range::<str, _>((std::ops::Bound::Included(METRIC_PREFIX), std::ops::Bound::Unbounded))
            .take_while(|(name, _)| name.starts_with(METRIC_PREFIX))
            .filter_map(|(name, values)| {
                let metric = name.strip_prefix(METRIC_PREFIX).filter(|m| !m.is_empty())?;
                let v: f64 = values.last()?.trim().parse().ok().filter(|v: &f64| v.is_finite())?;
                Some((metric, v))
            })
            .collect()
    }

    /// Every value of `name`, in order.
    pub fn values(&self, name: &str) -> &[String] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn replace_nul(&mut self) {
        if self.0.keys().any(|k| k.contains('\0')) {
            let old = std::mem::take(&mut self.0);
            for (mut k, v) in old {
                replace_nul(&mut k);
                self.0.entry(k).or_default().extend(v);
            }
        }
        self.0.values_mut().flatten().for_each(replace_nul);
    }
}

impl Serialize for Properties {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            match v.as_slice() {
                [one] => map.serialize_entry(k, one)?,
                many => map.serialize_entry(k, many)?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        let raw = BTreeMap::<String, OneOrMany>::deserialize(d)?;
        Ok(Properties(
            raw.into_iter()
                .map(|(k, v)| match v {
                    OneOrMany::One(s) => (k, vec![s]),
                    OneOrMany::Many(v) => (k, v),
                })
                .collect(),
        ))
    }
}

/// Records an upload will not store, and why: every one is counted, the
/// first `MAX_REASONS` reasons are kept (a file can hold thousands).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Skipped {
    count: usize,
    reasons: Vec<String>,
}

impl Skipped {
    pub const MAX_REASONS: usize = 100;

    /// One record skipped.
    pub fn push(&mut self, reason: impl Into<String>) {
        self.add(1, reason);
    }

    /// `n` records skipped for one reason.
    pub fn add(&mut self, n: usize, reason: impl Into<String>) {
        if n == 0 {
            return;
        }
        self.count += n;
        if self.reasons.len() < Self::MAX_REASONS {
            self.reasons.push(reason.into());
        }
    }

    /// How many records were skipped.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn reasons(&self) -> &[String] {
        &self.reasons
    }
}

/// A parsed upload, ready for the writer.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    pub format: String,
    pub run_env: RunEnv,
    pub tags: TagMap,
    pub executions: Vec<ExecutionRecord>,
    /// The records that will not be stored, and why.
    pub skipped: Skipped,
}

impl Upload {
    /// A run's job and payload labels come from `run_env[job]`/`run_env[payload]`,
    /// else from the upload tags `job`/`payload`; the payload defaults to the commit.
    pub fn apply_label_defaults(&mut self) {
        let env = &mut self.run_env;
        if env.job.is_none() {
            env.job = self.tags.get("job").cloned();
        }
        if env.payload.is_none() {
            env.payload = self.tags.get("payload").cloned().or_else(|| env.commit_sha.clone());
        }
    }

    /// Move records that cannot be stored into `skipped`, as Buildkite does.
    /// NUL characters are replaced everywhere: PostgreSQL cannot store them
    /// in text, and both stores must keep the same thing.
    pub fn drop_invalid_records(&mut self) {
        let mut kept = Vec::with_capacity(self.executions.len());
        for mut e in self.executions.drain(..) {
            match e.problem() {
                Some(why) => self.skipped.push(why),
                None => {
                    e.replace_nul();
                    kept.push(e);
                }
            }
        }
        self.executions = kept;
        self.run_env.replace_nul();
        replace_nul_in_map(&mut self.tags);
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct TagError(pub String);

/// Buildkite's tag rules: at most 10; keys start with a letter, then letters,
/// digits, `_`, `.` or `-`, under 64 bytes, not `mut`/`mut.*`, and no key a
/// dot-prefix of another; values not blank and under 128 bytes.
pub fn validate_tags(tags: &TagMap) -> Result<(), TagError> {
    if tags.len() > MAX_TAGS {
        return Err(TagError(format!("{} tags given, at most {MAX_TAGS} are allowed", tags.len())));
    }
    for (k, v) in tags {
        let key_ok = k.len() < 64
            && k.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if !key_ok {
            return Err(TagError(format!(
                "tag key {:?} is invalid: start with a letter, then letters, digits, '_', '.' or '-', under 64 bytes",
                truncate(k, 80)
            )));
        }
        if k == "mut" || k.starts_with("mut.") {
            return Err(TagError(format!("tag key {k:?} is reserved")));
        }
        if v.trim().is_empty() || v.len() >= MAX_TAG_VALUE_BYTES {
            return Err(TagError(format!("tag {k:?} needs a value that is not blank and under 128 bytes")));
        }
        let prefix = format!("{k}.");
        if let Some((other, _)) = tags.range(prefix.clone()..).next().filter(|(o, _)| o.starts_with(&prefix)) {
            return Err(TagError(format!("tag key {k:?} is a prefix of {other:?}")));
        }
    }
    Ok(())
}

pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_properties_are_named_numbers() {
        let mut p = Properties::default();
        for (k, v) in [
            ("metric:latency", "1.25"),
            ("metric:latency", "2.5"),
            ("metric:bad", "fast"),
            ("metric:", "3"),
            ("other", "4"),
            ("metric:inf", "inf"),
            ("metric:n", " 7 "),
        ] {
            p.push(k.into(), v.into());
        }
        assert_eq!(p.metrics(), vec![("latency", 2.5), ("n", 7.0)]);
    }

    fn tags(pairs: &[(&str, &str)]) -> TagMap {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn run_env_needs_a_key_and_reads_either_ci_spelling() {
        let env = RunEnv::from_pairs([("ci", Some("github_actions")), ("key", Some("k1")), ("collector", Some("js"))]).unwrap();
        assert_eq!(env.ci.as_deref(), Some("github_actions"));
        assert_eq!(env.extra.get("collector").map(String::as_str), Some("js"));
        assert!(RunEnv::from_pairs([("CI", None::<&str>), ("key", Some(""))]).unwrap_err().contains("run_env[key]"));
    }

    #[test]
    fn labels_come_from_run_env_then_tags_and_payload_defaults_to_the_commit() {
        let mut up = Upload {
            format: "json".into(),
            run_env: RunEnv::from_pairs([("key", Some("k")), ("commit_sha", Some("abc")), ("job", Some("e2e-aws"))]).unwrap(),
            tags: [("job".to_string(), "ignored".to_string())].into(),
            executions: vec![],
            skipped: Skipped::default(),
        };
        up.apply_label_defaults();
        assert_eq!((up.run_env.job.as_deref(), up.run_env.payload.as_deref()), (Some("e2e-aws"), Some("abc")));
        assert!(up.run_env.extra.is_empty(), "labels are fields, not extras");
        let mut up = Upload {
            run_env: RunEnv::from_pairs([("key", Some("k"))]).unwrap(),
            tags: [("job".to_string(), "j".to_string()), ("payload".to_string(), "4.16.0-rc1".to_string())].into(),
            ..up
        };
        up.apply_label_defaults();
        assert_eq!((up.run_env.job.as_deref(), up.run_env.payload.as_deref()), (Some("j"), Some("4.16.0-rc1")));
    }

    #[test]
    fn tag_rules() {
        assert!(validate_tags(&tags(&[("team", "web"), ("ci.worker.id", "7")])).is_ok());
        assert!(validate_tags(&tags(&[("1team", "web")])).is_err());
        assert!(validate_tags(&tags(&[("mut.x", "web")])).is_err());
        assert!(validate_tags(&tags(&[("team", " ")])).is_err());
        assert!(validate_tags(&tags(&[("a", "1"), ("a.b", "2")])).is_err());
        let many: TagMap = (0..11).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert!(validate_tags(&many).is_err());
    }

    #[test]
    fn invalid_records_are_moved_to_skipped() {
        let mut good = ExecutionRecord::new("s", "ok", Outcome::Passed);
        good.duration = Some(0.5);
        let mut negative = ExecutionRecord::new("s", "neg", Outcome::Passed);
        negative.duration = Some(-1.0);
        let nameless = ExecutionRecord::new("s", " ", Outcome::Passed);
        let mut up = Upload {
            format: "json".into(),
            run_env: RunEnv { key: "k".into(), ..Default::default() },
            tags: TagMap::new(),
            executions: vec![good, negative, nameless],
            skipped: Skipped::default(),
        };
        up.drop_invalid_records();
        assert_eq!(up.executions.len(), 1);
        assert_eq!(up.skipped.len(), 2);
        assert!(up.skipped.reasons()[0].contains("neg"), "{:?}", up.skipped);
    }

    #[test]
    fn nul_characters_are_replaced() {
        let mut e = ExecutionRecord::new("s\0", "n", Outcome::Failed);
        e.failure_reason = Some("bad\0byte".into());
        e.spans = Some(serde_json::json!([{"detail": {"content": "a\u{0}b"}}]));
        e.tags.insert("own".into(), "b\0".into());
        e.properties.push("p\0".into(), "q\0".into());
        let mut up = Upload {
            format: "json".into(),
            run_env: RunEnv {
                key: "k\0".into(),
                job: Some("j\0".into()),
                extra: [("x\0".to_string(), "v\0".to_string())].into(),
                ..Default::default()
            },
            tags: [("team".to_string(), "a\0".to_string())].into(),
            executions: vec![e],
            skipped: Skipped::default(),
        };
        up.drop_invalid_records();
        let e = &up.executions[0];
        assert_eq!((e.scope.as_str(), e.failure_reason.as_deref()), ("s\u{fffd}", Some("bad\u{fffd}byte")));
        assert_eq!(e.spans.as_ref().unwrap()[0]["detail"]["content"], "a\u{fffd}b");
        assert_eq!(e.tags.get("own").map(String::as_str), Some("b\u{fffd}"));
        assert_eq!(e.properties.get("p\u{fffd}"), Some("q\u{fffd}"));
        assert_eq!(up.run_env.key, "k\u{fffd}");
        assert_eq!(up.run_env.job.as_deref(), Some("j\u{fffd}"));
        assert_eq!(up.run_env.extra.get("x\u{fffd}").map(String::as_str), Some("v\u{fffd}"));
        assert_eq!(up.tags.get("team").map(String::as_str), Some("a\u{fffd}"));
    }

    #[test]
    fn run_env_sizes_are_capped_and_the_commit_message_is_cut() {
        use crate::caps::*;
        let env = |extra: Vec<(String, String)>| {
            let mut pairs = vec![("key".to_string(), Some("k".to_string()))];
            pairs.extend(extra.into_iter().map(|(k, v)| (k, Some(v))));
            RunEnv::from_pairs(pairs)
        };
        let long = |n| "m".repeat(n);
        let e = env(vec![("message".into(), long(MAX_TEXT_BYTES + 10))]).unwrap();
        let message = e.message.unwrap();
        assert!(message.len() <= MAX_TEXT_BYTES && message.ends_with(TRUNCATION_MARK));
        assert!(env(vec![("url".into(), long(MAX_RUN_URL_BYTES))]).is_ok());
        assert!(env(vec![("url".into(), long(MAX_RUN_URL_BYTES + 1))]).unwrap_err().contains("run_env[url]"));
        let many: Vec<(String, String)> = (0..=MAX_RUN_ENV_EXTRA_KEYS).map(|i| (format!("x{i}"), "v".into())).collect();
        assert!(env(many[1..].to_vec()).is_ok());
        assert!(env(many).unwrap_err().contains("at most 100"));
        assert!(env(vec![(long(MAX_RUN_ENV_KEY_BYTES + 1), "v".into())]).unwrap_err().contains("longer than 256 bytes"));
        assert!(env(vec![("collector".into(), long(MAX_RUN_ENV_VALUE_BYTES + 1))]).unwrap_err().contains("run_env[collector]"));
    }

    #[test]
    fn skipped_records_are_all_counted_and_some_reasons_kept() {
        let mut s = Skipped::default();
        for i in 0..150 {
            s.push(format!("r{i}"));
        }
        s.add(1000, "many at once");
        s.add(0, "none");
        assert_eq!((s.len(), s.reasons().len()), (1150, Skipped::MAX_REASONS));
    }

    #[test]
    fn repeated_properties_keep_every_value_and_read_back() {
        let mut p = Properties::default();
        assert!(p.push("tag".into(), "a".into()) && p.push("tag".into(), "b".into()) && p.push("owner".into(), "web".into()));
        assert_eq!(p.values("tag"), ["a", "b"]);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"{"owner":"web","tag":["a","b"]}"#);
        assert_eq!(serde_json::from_str::<Properties>(&json).unwrap(), p);
        for i in 0..crate::caps::MAX_PROPERTIES {
            p.push(format!("k{i}"), "v".into());
        }
        assert!(!p.push("one-too-many".into(), "v".into()));
        assert!(p.push("tag".into(), "c".into()), "a known name still takes values");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
