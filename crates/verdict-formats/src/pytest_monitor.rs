//! The bodies pytest-monitor 1.6.6 POSTs to a remote server: contexts,
//! sessions and metrics. Every field is checked (the original server stored
//! rows it then could not list); an error names the field.

use crate::json_kind as kind;
use serde_json::{Map, Value};
use verdict_core::monitor::{Description, DescriptionValue, MonitorContext, MonitorMetric, MonitorSession};

/// A field that is missing or wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn err(field: &str, message: impl Into<String>) -> FieldError {
    FieldError { field: field.to_owned(), message: message.into() }
}

fn object(v: &Value) -> Result<&Map<String, Value>, FieldError> {
    v.as_object().ok_or_else(|| err("", format!("the body must be a JSON object, not {}", kind(v))))
}

/// A required string of at most `max` characters (the original columns' sizes).
fn text(o: &Map<String, Value>, field: &str, max: usize) -> Result<String, FieldError> {
    match o.get(field) {
        None => Err(err(field, "is required")),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(without_nul(s)),
        Some(Value::String(_)) => Err(err(field, format!("is longer than {max} characters"))),
        Some(v) => Err(err(field, format!("must be a string, not {}", kind(v)))),
    }
}

/// PostgreSQL cannot store NUL in text, and both stores keep the same thing:
/// NUL becomes U+FFFD, as in uploads.
fn without_nul(s: &str) -> String {
    if s.contains('\0') { s.replace('\0', "\u{fffd}") } else { s.to_owned() }
}

/// The description keys that become the run's labels, which the stores index.
const LABEL_KEYS: [&str; 3] = ["pipeline_branch", "pipeline_build_no", "__ci__"];

fn hash(o: &Map<String, Value>, field: &str) -> Result<String, FieldError> {
    let h = text(o, field, 64)?;
    // On the value as sent: `text` has replaced a NUL already.
    let control = matches!(o.get(field), Some(Value::String(s)) if s.chars().any(char::is_control));
    if h.is_empty() || h.contains('/') || control {
        return Err(err(field, "must be 1 to 64 characters, without '/' or control characters"));
    }
    Ok(h)
}

fn number(o: &Map<String, Value>, field: &str) -> Result<f64, FieldError> {
    match o.get(field) {
        None => Err(err(field, "is required")),
        Some(Value::Number(n)) => n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| err(field, "must be a finite number")),
        Some(v) => Err(err(field, format!("must be a number, not {}", kind(v)))),
    }
}

fn count(o: &Map<String, Value>, field: &str) -> Result<i64, FieldError> {
    match o.get(field) {
        None => Err(err(field, "is required")),
        Some(Value::Number(n)) => n.as_i64().filter(|i| *i >= 0).ok_or_else(|| err(field, "must be a whole number, 0 or more")),
        Some(v) => Err(err(field, format!("must be a whole number, not {}", kind(v)))),
    }
}

pub fn parse_context(body: &Value) -> Result<MonitorContext, FieldError> {
    let o = object(body)?;
    let cpu_frequency = number(o, "cpu_frequency")?;
    if cpu_frequency < 0.0 {
        return Err(err("cpu_frequency", "must be 0 or more"));
    }
    Ok(MonitorContext {
        h: hash(o, "h")?,
        cpu_count: count(o, "cpu_count")?,
        cpu_frequency,
        cpu_type: text(o, "cpu_type", 64)?,
        cpu_vendor: if o.contains_key("cpu_vendor") { text(o, "cpu_vendor", 256)? } else { String::new() },
        ram_total: count(o, "ram_total")?,
        machine_node: text(o, "machine_node", 512)?,
        machine_type: text(o, "machine_type", 32)?,
        machine_arch: text(o, "machine_arch", 16)?,
        system_info: text(o, "system_info", 256)?,
        python_info: text(o, "python_info", 512)?,
    })
}

/// A session; `url_hash` is the hash in `POST /sessions/<h>`, used when the body has none.
pub fn parse_session(body: &Value, url_hash: Option<&str>) -> Result<MonitorSession, FieldError> {
    let o = object(body)?;
    let session_h = match (o.get("session_h"), url_hash) {
        (Some(_), _) => hash(o, "session_h")?,
        (None, Some(h)) => hash(&Map::from_iter([("session_h".to_owned(), Value::String(h.to_owned()))]), "session_h")?,
        (None, None) => return Err(err("session_h", "is required")),
    };
    let run_date = normalise_iso_datetime(&text(o, "run_date", 64)?)
        .ok_or_else(|| err("run_date", "must be an ISO-8601 date or date and time (YYYY-MM-DDTHH:MM:SS.ffffff)"))?;
    let scm_ref = match o.get("scm_ref") {
        None => return Err(err("scm_ref", "is required (null is allowed)")),
        Some(Value::Null) => None,
        Some(_) => Some(text(o, "scm_ref", 128)?),
    };
    let description = match o.get("description") {
        None => return Err(err("description", "is required")),
        Some(Value::Object(d)) => description(d)?,
        Some(v) => return Err(err("description", format!("must be an object, not {}", kind(v)))),
    };
    Ok(MonitorSession { session_h, run_date, scm_ref, description })
}

fn description(d: &Map<String, Value>) -> Result<Description, FieldError> {
    // In serde_json's (sorted) key order; `order_description` restores the client's.
    let mut out = Vec::with_capacity(d.len());
    for (k, v) in d {
        let value = match v {
            Value::Null => DescriptionValue::Null,
            Value::Bool(b) => DescriptionValue::Bool(*b),
            Value::Number(n) => DescriptionValue::Number(n.clone()),
            Value::String(s) if s.len() > verdict_core::caps::MAX_RUN_LABEL_BYTES && LABEL_KEYS.contains(&k.as_str()) => {
                let max = verdict_core::caps::MAX_RUN_LABEL_BYTES;
                return Err(err(&format!("description.{k}"), format!("is longer than {max} bytes")));
            }
            Value::String(s) => DescriptionValue::String(s.clone()),
            other => {
                return Err(err(&format!("description.{k}"), format!("must be a string, number, boolean or null, not {}", kind(other))));
            }
        };
        out.push((k.clone(), value));
    }
    let mut d = Description(out);
    replace_nul_in_description(&mut d);
    Ok(d)
}

fn replace_nul_in_description(d: &mut Description) {
    for (k, v) in &mut d.0 {
        *k = without_nul(k);
        if let DescriptionValue::String(s) = v {
            *s = without_nul(s);
        }
    }
}

/// Put the description's keys in the order `raw` (the request body) has them:
/// serde_json's map sorts keys, core's `Description` keeps their order.
pub fn order_description(session: &mut MonitorSession, raw: &[u8]) {
    #[derive(serde::Deserialize)]
    struct Body {
        description: Option<Description>,
    }
    if let Ok(Body { description: Some(mut d) }) = serde_json::from_slice(raw) {
        replace_nul_in_description(&mut d);
        session.description = d;
    }
}

pub fn parse_metric(body: &Value) -> Result<MonitorMetric, FieldError> {
    let o = object(body)?;
    Ok(MonitorMetric {
        session_h: hash(o, "session_h")?,
        context_h: hash(o, "context_h")?,
        item_start_time: text(o, "item_start_time", 64)?,
        item_path: text(o, "item_path", 4096)?,
        item: text(o, "item", 2048)?,
        item_variant: text(o, "item_variant", 2048)?,
        item_fs_loc: text(o, "item_fs_loc", 2048)?,
        kind: text(o, "kind", 64)?,
        component: text(o, "component", 512)?,
        total_time: number(o, "total_time")?,
        user_time: number(o, "user_time")?,
        kernel_time: number(o, "kernel_time")?,
        cpu_usage: number(o, "cpu_usage")?,
        mem_usage: number(o, "mem_usage")?,
    })
}

/// An ISO-8601 date or date-time (as aniso8601 reads it) in the form Python's
/// `isoformat()` prints: `YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM]`.
pub fn normalise_iso_datetime(raw: &str) -> Option<String> {
    let (date, time) = match raw.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (raw, None),
    };
    let date = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok().filter(|_| date.len() == 10)?;
    let Some(time) = time else {
        return Some(format!("{}T00:00:00", date.format("%Y-%m-%d")));
    };
    let (clock, offset) = split_offset(time)?;
    let (hms, fraction) = match clock.split_once('.') {
        Some((hms, f)) if !f.is_empty() && f.len() <= 6 && f.bytes().all(|b| b.is_ascii_digit()) => (hms, format!("{f:0<6}")),
        Some(_) => return None,
        None => (clock, String::new()),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let field = |s: &str, max: u32| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u32>().is_ok_and(|v| v <= max);
    let (h, m, s) = match parts[..] {
        [h, m] if field(h, 23) && field(m, 59) => (h, m, "00"),
        [h, m, s] if field(h, 23) && field(m, 59) && field(s, 59) => (h, m, s),
        _ => return None,
    };
    if !fraction.is_empty() && parts.len() < 3 {
        return None;
    }
    let micros = if fraction.is_empty() || fraction == "000000" { String::new() } else { format!(".{fraction}") };
    Some(format!("{}T{h}:{m}:{s}{micros}{offset}", date.format("%Y-%m-%d")))
}

/// Split a time into the clock and its offset, the offset as `+HH:MM` ("" when none).
fn split_offset(time: &str) -> Option<(&str, String)> {
    if let Some(clock) = time.strip_suffix('Z') {
        return Some((clock, "+00:00".into()));
    }
    let Some(at) = time.rfind(['+', '-']) else {
        return Some((time, String::new()));
    };
    let (clock, off) = time.split_at(at);
    let digits: String = off[1..].chars().filter(|c| *c != ':').collect();
    let ok = matches!(digits.len(), 2 | 4) && digits.bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return None;
    }
    let (hh, mm) = (&digits[..2], if digits.len() == 4 { &digits[2..] } else { "00" });
    if hh.parse::<u32>().ok()? > 23 || mm.parse::<u32>().ok()? > 59 {
        return None;
    }
    Some((clock, format!("{}{hh}:{mm}", &off[..1])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn run_dates_are_normalised_like_python_isoformat() {
        let cases = [
            ("2026-11-22T02:59:08.427059", "2026-11-22T02:59:08.427059"),
            ("2024-01-01", "2024-01-01T00:00:00"),
            ("2024-01-01T10:20", "2024-01-01T10:20:00"),
            ("2024-01-01T10:20:30.5", "2024-01-01T10:20:30.500000"),
            ("2024-01-01T10:20:30.000000", "2024-01-01T10:20:30"),
            ("2024-01-01T10:20:30Z", "2024-01-01T10:20:30+00:00"),
            ("2024-01-01T10:20:30-0530", "2024-01-01T10:20:30-05:30"),
        ];
        for (raw, want) in cases {
            assert_eq!(normalise_iso_datetime(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["not a date", "2024-13-01", "2024-01-01T25:00", "2024-01-01T10:20:30.1234567", ""] {
            assert_eq!(normalise_iso_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_metric_field_is_checked_by_name() {
        let good = json!({"session_h": "s", "context_h": "c", "item_start_time": "2026-11-22T02:59:07.081367", "item_path": "pkg.t",
            "item": "test_x", "item_variant": "test_x[1, 2]", "item_fs_loc": "pkg/t.py", "kind": "function", "component": "",
            "total_time": 1, "user_time": 0.5, "kernel_time": 0.1, "cpu_usage": 0.6, "mem_usage": -0.2});
        let m = parse_metric(&good).unwrap();
        assert_eq!((m.total_time, m.test_key()), (1.0, Some(("pkg.t", "test_x[1, 2]"))));
        for (field, bad, why) in [
            ("mem_usage", Value::Null, "must be a number"),
            ("total_time", json!("0.1"), "must be a number, not a string"),
            ("component", Value::Null, "must be a string, not null"),
            ("session_h", json!(""), "1 to 64 characters"),
            ("kind", json!("x".repeat(65)), "longer than 64"),
        ] {
            let mut body = good.clone();
            body[field] = bad;
            let e = parse_metric(&body).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.message.contains(why), "{e}");
        }
        let mut missing = good.clone();
        missing.as_object_mut().unwrap().remove("cpu_usage");
        assert_eq!(parse_metric(&missing).unwrap_err().to_string(), "cpu_usage: is required");
        assert_eq!(parse_metric(&json!([1, 2])).unwrap_err().message, "the body must be a JSON object, not an array");
    }

    #[test]
    fn nul_in_any_text_is_replaced_as_in_uploads() {
        let raw = br#"{"session_h": "s", "run_date": "2026-11-22T02:59:08", "scm_ref": "a\u0000b", "description": {"k\u0000": "v\u0000"}}"#;
        let mut s = parse_session(&serde_json::from_slice(raw).unwrap(), None).unwrap();
        order_description(&mut s, raw);
        assert_eq!(s.scm_ref.as_deref(), Some("a\u{fffd}b"));
        assert_eq!(s.description.0, vec![("k\u{fffd}".to_string(), DescriptionValue::String("v\u{fffd}".into()))]);
        let m = json!({"session_h": "s", "context_h": "c", "item_start_time": "t", "item_path": "p\u{0}", "item": "i\u{0}",
            "item_variant": "i", "item_fs_loc": "f", "kind": "function", "component": "c\u{0}", "total_time": 1, "user_time": 1,
            "kernel_time": 1, "cpu_usage": 1, "mem_usage": 1});
        let m = parse_metric(&m).unwrap();
        assert_eq!((m.item_path.as_str(), m.item.as_str(), m.component.as_str()), ("p\u{fffd}", "i\u{fffd}", "c\u{fffd}"));
        let bad_hash = json!({"session_h": "s\u{0}", "run_date": "2026-11-22", "scm_ref": null, "description": {}});
        assert_eq!(parse_session(&bad_hash, None).unwrap_err().field, "session_h");
    }

    #[test]
    fn sessions_keep_description_order_and_take_the_url_hash() {
        let raw = br#"{"run_date": "2026-11-22T02:59:08", "scm_ref": null, "description": {"zeta": "1", "alpha": 2, "ci": true}}"#;
        let mut s = parse_session(&serde_json::from_slice(raw).unwrap(), Some("abc")).unwrap();
        order_description(&mut s, raw);
        assert_eq!(s.session_h, "abc");
        let keys: Vec<&str> = s.description.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha", "ci"]);
        assert_eq!(s.description.get("ci").unwrap().python_str().as_deref(), Some("True"));
        let nested = json!({"session_h": "h", "run_date": "2024-01-01", "scm_ref": "x", "description": {"k": {"a": 1}}});
        assert_eq!(parse_session(&nested, None).unwrap_err().field, "description.k");
        let list = json!({"session_h": "h", "run_date": "2024-01-01", "scm_ref": "x", "description": []});
        assert_eq!(parse_session(&list, None).unwrap_err().to_string(), "description: must be an object, not an array");
    }
}
