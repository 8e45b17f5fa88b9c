//! Use cases over the store: each reads what it needs, calls the pure core
//! (`verdict-core`) and shapes a result. Nothing here knows HTTP; the API
//! handlers, the pages and the CLI share these functions.

pub mod aggregate;
pub mod batch_watch;
pub mod clusters;
pub mod compare;
pub mod flaky;
pub mod owners;
pub mod pages;
pub mod quarantine;
pub mod reports;
pub mod resim;
pub mod summary;
pub mod test_plan;
pub mod webhooks;

use verdict_store::StoreError;

/// Why a use case has no answer.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// What was asked for is not there (the message says what).
    #[error("{0}")]
    NotFound(String),
    /// What was asked is malformed (the message says how).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}
