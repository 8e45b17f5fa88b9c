//! The pure core of Verdict: domain values and statistics.
//!
//! Nothing here knows about HTTP, SQL or files; adapters translate their
//! bytes into these types and the store persists them.

pub mod aggregation;
pub mod batch;
pub mod caps;
pub mod clusters;
pub mod decision;
pub mod fisher;
pub mod flaky;
pub mod historical;
pub mod links;
pub mod metric_check;
pub mod monitor;
pub mod outcome;
pub mod owners;
pub mod quarantine;
pub mod range;
pub mod readiness;
pub mod reason;
pub mod reduce;
pub mod resim;
pub mod slug;
pub mod stats;
pub mod test_plan;
pub mod upload;
pub mod webhook;

pub use outcome::{Outcome, RunResult};
pub use slug::SuiteSlug;
pub use upload::{ExecutionRecord, FailureDetail, MAX_RESULTS_PER_UPLOAD, Properties, RunEnv, Skipped, TagError, TagMap, Upload};
