//! Parsers for the wire formats results arrive in. Bytes in, core values out;
//! no HTTP, no SQL.

pub mod aggregated;
pub mod buildkite;
mod buildkite_json;
mod error;
pub mod junit;
pub mod pytest_monitor;
pub mod resim_metrics;
mod xml_text;

pub use error::FormatError;

/// What a JSON value is, for error messages ("must be a string, not an array").
pub(crate) fn json_kind(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
