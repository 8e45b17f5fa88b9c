//! The part of a plotly figure (`fig.to_json()`, kept in a protobuf
//! `Struct`) that Verdict draws: tables, and scatter/line, box and bar
//! traces with their axis titles. Arrays come as JSON lists or as plotly's
//! typed arrays (`{"dtype": "f8", "bdata": "<base64>"}`, which plotly 6+
//! writes for numeric arrays).

use super::view::{Chart, Shown, Trace, TraceKind, Xs};
use base64::Engine;
use prost_types::value::Kind;
use prost_types::{Struct, Value};

/// A JSON object as the protobuf `Struct` a program stores a figure in
/// (`None` for a value that is not an object): for building files in tests.
pub fn json_struct(v: serde_json::Value) -> Option<Struct> {
    fn value(v: serde_json::Value) -> Value {
        use serde_json::Value as J;
        let kind = match v {
            J::Null => Kind::NullValue(0),
            J::Bool(b) => Kind::BoolValue(b),
            J::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Kind::StringValue(s),
            J::Array(a) => Kind::ListValue(prost_types::ListValue { values: a.into_iter().map(value).collect() }),
            J::Object(o) => Kind::StructValue(Struct { fields: o.into_iter().map(|(k, v)| (k, value(v))).collect() }),
        };
        Value { kind: Some(kind) }
    }
    match value(v).kind {
        Some(Kind::StructValue(s)) => Some(s),
        _ => None,
    }
}

/// Table rows kept for a page; the count of all rows is kept beside them.
pub const MAX_TABLE_ROWS: usize = 1_000;

fn field<'a>(s: &'a Struct, key: &str) -> Option<&'a Kind> {
    s.fields.get(key).and_then(|v| v.kind.as_ref())
}

fn object<'a>(s: &'a Struct, key: &str) -> Option<&'a Struct> {
    match field(s, key)? {
        Kind::StructValue(o) => Some(o),
        _ => None,
    }
}

fn text(s: &Struct, key: &str) -> Option<String> {
    match field(s, key)? {
        Kind::StringValue(t) => Some(t.clone()),
        _ => None,
    }
}

/// An axis or figure title: a string, or `{"text": ...}`.
fn title(s: Option<&Struct>) -> Option<String> {
    match field(s?, "title")? {
        Kind::StringValue(t) => Some(t.clone()),
        Kind::StructValue(o) => text(o, "text"),
        _ => None,
    }
}

/// One element of an array, as plotly stores it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Number(f64),
    Text(String),
    Other,
}

fn typed_array(o: &Struct) -> Option<Vec<Item>> {
    let dtype = text(o, "dtype")?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(text(o, "bdata")?).ok()?;
    let (width, read): (usize, fn(&[u8]) -> f64) = match dtype.as_str() {
        "f8" => (8, |b| f64::from_le_bytes(b.try_into().unwrap())),
        "f4" => (4, |b| f32::from_le_bytes(b.try_into().unwrap()) as f64),
        "i8" => (8, |b| i64::from_le_bytes(b.try_into().unwrap()) as f64),
        "u8" => (8, |b| u64::from_le_bytes(b.try_into().unwrap()) as f64),
        "i4" => (4, |b| i32::from_le_bytes(b.try_into().unwrap()) as f64),
        "u4" => (4, |b| u32::from_le_bytes(b.try_into().unwrap()) as f64),
        "i2" => (2, |b| i16::from_le_bytes(b.try_into().unwrap()) as f64),
        "u2" => (2, |b| u16::from_le_bytes(b.try_into().unwrap()) as f64),
        "i1" => (1, |b| b[0] as i8 as f64),
        "u1" | "u1c" => (1, |b| b[0] as f64),
        _ => return None,
    };
    (bytes.len() % width == 0).then(|| bytes.chunks_exact(width).map(|c| Item::Number(read(c))).collect())
}

fn item(v: &Value) -> Item {
    match &v.kind {
        Some(Kind::NumberValue(n)) => Item::Number(*n),
        Some(Kind::StringValue(t)) => Item::Text(t.clone()),
        Some(Kind::BoolValue(b)) => Item::Text(b.to_string()),
        _ => Item::Other,
    }
}

/// A list or a typed array; `None` when the value is neither.
pub(crate) fn array(kind: Option<&Kind>) -> Option<Vec<Item>> {
    match kind? {
        Kind::ListValue(l) => Some(l.values.iter().map(item).collect()),
        Kind::StructValue(o) => typed_array(o),
        _ => None,
    }
}

/// A number as a table shows it: whole numbers without a fraction.
pub fn show_number(n: f64) -> String {
    if n.is_finite() && n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

fn show(i: &Item) -> String {
    match i {
        Item::Number(n) => show_number(*n),
        Item::Text(t) => t.clone(),
        Item::Other => String::new(),
    }
}

/// A timestamp as plotly writes one from pandas or datetime: RFC 3339, or
/// with a space, with or without an offset (UTC then), or a date.
pub(crate) fn instant_ms(text: &str) -> Option<i64> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime};
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis());
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M:%S%.f%:z"] {
        if let Ok(d) = DateTime::parse_from_str(t, f) {
            return Some(d.timestamp_millis());
        }
    }
    for f in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(t, f) {
            return Some(d.and_utc().timestamp_millis());
        }
    }
    NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis())
}

/// An x array: times when every item is one, numbers when every item is, else labels.
fn xs(items: Vec<Item>) -> Xs {
    if !items.is_empty() {
        if let Some(times) = items.iter().map(|i| if let Item::Text(t) = i { instant_ms(t) } else { None }).collect::<Option<Vec<_>>>() {
            return Xs::Times(times);
        }
    }
    if let Some(numbers) = items.iter().map(|i| if let Item::Number(n) = i { Some(*n) } else { None }).collect::<Option<Vec<_>>>() {
        return Xs::Numbers(numbers);
    }
    Xs::Labels(items.iter().map(show).collect())
}

fn numbers(items: Vec<Item>) -> Vec<f64> {
    items.into_iter().map(|i| if let Item::Number(n) = i { n } else { f64::NAN }).collect()
}

fn table(trace: &Struct) -> Shown {
    let header: Vec<String> =
        object(trace, "header").and_then(|h| array(field(h, "values"))).unwrap_or_default().iter().map(show).collect();
    let columns: Vec<Vec<Item>> = match object(trace, "cells").and_then(|c| field(c, "values")) {
        Some(Kind::ListValue(l)) => l.values.iter().map(|c| array(c.kind.as_ref()).unwrap_or_else(|| vec![item(c)])).collect(),
        _ => vec![],
    };
    let rows_total = columns.iter().map(Vec::len).max().unwrap_or(0);
    let rows =
        (0..rows_total.min(MAX_TABLE_ROWS)).map(|r| columns.iter().map(|c| c.get(r).map(show).unwrap_or_default()).collect()).collect();
    Shown::Table { header, rows, rows_total }
}

/// A figure as Verdict shows it, or why it is not shown.
pub(crate) fn figure(json: &Struct) -> Shown {
    let traces: Vec<&Struct> = match field(json, "data") {
        Some(Kind::ListValue(l)) => {
            l.values.iter().filter_map(|v| if let Some(Kind::StructValue(s)) = &v.kind { Some(s) } else { None }).collect()
        }
        _ => vec![],
    };
    if traces.is_empty() {
        return Shown::NotShown { why: "a plotly figure without traces".into() };
    }
    let kind_of = |t: &Struct| text(t, "type").unwrap_or_else(|| "scatter".into());
    if let Some(t) = traces.iter().find(|t| kind_of(t) == "table") {
        return table(t);
    }
    let mut drawn = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for t in &traces {
        let kind = match kind_of(t).as_str() {
            "scatter" | "scattergl" => {
                let mode = text(t, "mode").unwrap_or_else(|| "lines".into());
                if mode.contains("lines") { TraceKind::Line } else { TraceKind::Points }
            }
            "box" => TraceKind::Box,
            "bar" => TraceKind::Bar,
            other => {
                if !unknown.iter().any(|u| u == other) {
                    unknown.push(other.to_owned());
                }
                continue;
            }
        };
        let y = numbers(array(field(t, "y")).unwrap_or_default());
        let x = match array(field(t, "x")) {
            Some(items) => xs(items),
            None => Xs::Numbers((0..y.len()).map(|i| i as f64).collect()),
        };
        drawn.push(Trace { kind, name: text(t, "name"), x, y });
    }
    if !unknown.is_empty() {
        return Shown::NotShown { why: format!("plotly traces of type {} are not drawn", unknown.join(", ")) };
    }
    let layout = object(json, "layout");
    Shown::Chart(Chart {
        x_title: title(layout.and_then(|l| object(l, "xaxis"))),
        y_title: title(layout.and_then(|l| object(l, "yaxis"))),
        traces: drawn,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Struct {
        json_struct(serde_json::from_str(json).unwrap()).unwrap()
    }

    #[test]
    fn a_table_is_read_column_by_column() {
        let s = parse(
            r#"{"data":[{"type":"table","header":{"values":["Name","Value"]},"cells":{"values":[["batches","tests"],[4.0,16.5]]}}]}"#,
        );
        assert_eq!(
            figure(&s),
            Shown::Table {
                header: vec!["Name".into(), "Value".into()],
                rows: vec![vec!["batches".into(), "4".into()], vec!["tests".into(), "16.5".into()]],
                rows_total: 2
            }
        );
    }

    #[test]
    fn typed_arrays_times_and_titles() {
        // [4.5, 1.75] as little-endian f8, as plotly 6 writes numeric arrays.
        let s = parse(
            r#"{"layout":{"xaxis":{"title":{"text":"Time"}},"yaxis":{"title":"d (m)"}},
                "data":[{"type":"box","x":["2024-03-24T02:00:00+00:00","2024-03-03 02:00:00"],"y":{"dtype":"f8","bdata":"AAAAAAAAEkAAAAAAAAD8Pw=="}}]}"#,
        );
        let Shown::Chart(c) = figure(&s) else { panic!() };
        assert_eq!((c.x_title.as_deref(), c.y_title.as_deref()), (Some("Time"), Some("d (m)")));
        assert_eq!(c.traces[0].kind, TraceKind::Box);
        assert_eq!(c.traces[0].y, vec![4.5, 1.75]);
        assert_eq!(c.traces[0].x, Xs::Times(vec![1_711_245_600_000, 1_709_431_200_000]));
    }

    #[test]
    fn scatter_modes_labels_and_unknown_traces() {
        let s = parse(r#"{"data":[{"x":["a",2],"y":[1,2],"mode":"markers","name":"n"}]}"#);
        let Shown::Chart(c) = figure(&s) else { panic!() };
        assert_eq!((c.traces[0].kind, c.traces[0].name.as_deref()), (TraceKind::Points, Some("n")));
        assert_eq!(c.traces[0].x, Xs::Labels(vec!["a".into(), "2".into()]));
        let s = parse(r#"{"data":[{"type":"heatmap","z":[[1]]},{"type":"pie"}]}"#);
        assert_eq!(figure(&s), Shown::NotShown { why: "plotly traces of type heatmap, pie are not drawn".into() });
        let s = parse(r#"{"data":[{"y":{"dtype":"f8","bdata":"AAA="}}]}"#);
        let Shown::Chart(c) = figure(&s) else { panic!() };
        assert!(c.traces[0].y.is_empty(), "a typed array of a wrong length reads as none");
    }
}
