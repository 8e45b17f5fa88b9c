//! Flaky and broken tests, with how sure we are (the flaky spec, §2): per
//! (test, track) a state machine over run parts ([`track`]), the flake
//! rate's posterior ([`posterior`]), the sequential decision ([`sprt`]), and
//! other systems' scores for comparison ([`compat`]).

pub mod compat;
pub mod posterior;
pub mod settings;
pub mod sprt;
pub mod track;

#[cfg(test)]
mod tests;

pub use settings::Settings;
pub use track::{Applied, Health, Part, PartStatus, Rule, State, Track, Transition};

/// The track that pools every branch.
pub const ALL_BRANCHES: &str = "*";

/// Whether an upload (or a run) is an infrastructure failure: at least
/// `infra_min_tests` passed or failed results, of which at least
/// `infra_threshold` failed. Its executions stay stored but add no evidence
/// (unless the suite's `include_infra` is set).
pub fn is_infra(passed: u64, failed: u64, settings: &Settings) -> bool {
    if settings.include_infra {
        return false;
    }
    let n = passed + failed;
    n >= u64::from(settings.infra_min_tests) && failed as f64 >= settings.infra_threshold * n as f64
}
