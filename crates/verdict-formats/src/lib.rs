//! Parsers for the wire formats results arrive in. Bytes in, core values out;
//! no HTTP, no SQL.

pub mod aggregated;
pub mod buildkite;
mod error;
pub mod junit;
pub mod pytest_monitor;

pub use error::FormatError;
