//! ReSim's test-suite report model over Verdict's data (the ReSim spec):
//! stable UUIDs for Verdict's rows, the `search` grammar of
//! `GET /projects/{p}/batches`, and the statuses a run's results map to.
//! Pure: the store finds the rows, the `resim` HTTP adapter writes the JSON.

pub mod ids;
pub mod search;
pub mod status;

pub use ids::{Kind, ResimIds};
pub use search::{BatchSearch, SearchError};
pub use status::{ConflatedJob, MetricStatus};
