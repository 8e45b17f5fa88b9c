//! Persistence for Verdict: the `Store` trait and its SQLite (default) and
//! PostgreSQL implementations. No SQL lives outside this crate.

pub mod clusters;
pub mod controls;
pub mod dashboard;
mod error;
pub mod flaky;
pub mod monitor;
pub mod owners;
pub mod plan;
pub mod postgres;
pub mod reports;
pub mod sqlite;
mod store;
pub mod test_plans;
#[cfg(feature = "testing")]
pub mod testing;
pub mod token;
pub mod views;
pub mod webhooks;

pub use error::StoreError;
pub use store::{HistoryFilter, Page, RunFilter, RunSelection, Store, StoreGauges, TestFilter, open};
pub use views::*;
