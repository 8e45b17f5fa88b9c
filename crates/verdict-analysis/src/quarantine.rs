//! Quarantine as the API, the CLI and `verdict run` use it: change a test's
//! control (checked to belong to the suite), and the suite's muted and
//! skipped lists.

use crate::AnalysisError;
use serde::Serialize;
use verdict_core::quarantine::{ControlState, MAX_REASON_CHARS};
use verdict_store::controls::{ControlChange, ControlRule, Controlled, PinChange};
use verdict_store::{Store, Suite, Test};

/// A person's change of a test's control, checked.
#[derive(Debug, Clone)]
pub struct ControlAsk {
    pub state: ControlState,
    pub reason: Option<String>,
    pub expires_at: Option<i64>,
    pub pin: PinChange,
    /// Who asks: `cli:USER`, or the API's `by` (else `api`).
    pub actor: String,
}

impl ControlAsk {
    /// `Err` says what is wrong: a reason too long, an expiry in the past or on an enable, an actor too long.
    pub fn check(&self, now_ms: i64) -> Result<(), String> {
        if self.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(format!("reason: at most {MAX_REASON_CHARS} characters"));
        }
        if self.actor.trim().is_empty() || self.actor.chars().count() > 200 {
            return Err("by: 1 to 200 characters".into());
        }
        match self.expires_at {
            Some(_) if self.state == ControlState::Enabled => Err("expires_at: only a mute or a skip expires".into()),
            Some(at) if at <= now_ms => Err("expires_at: must be in the future".into()),
            _ => Ok(()),
        }
    }
}

/// Change the control of `test_id`, a test of `suite`.
pub async fn set_control(
    store: &dyn Store,
    suite: &Suite,
    test_id: i64,
    ask: ControlAsk,
    now_ms: i64,
) -> Result<Controlled, AnalysisError> {
    let test = test_of(store, suite, test_id).await?;
    let change = ControlChange {
        state: ask.state,
        rule: ControlRule::Manual,
        reason: ask.reason.filter(|r| !r.trim().is_empty()),
        expires_at: ask.expires_at,
        pin: ask.pin,
        actor: ask.actor,
        at_ms: now_ms,
    };
    let control = store.controls().set_control(test_id, &change).await?;
    Ok(Controlled { test, control })
}

/// The test `test_id` if it belongs to `suite`; another suite's test is not found.
pub async fn test_of(store: &dyn Store, suite: &Suite, test_id: i64) -> Result<Test, AnalysisError> {
    match store.test(test_id).await? {
        Some(t) if t.suite_id == suite.id => Ok(t),
        _ => Err(AnalysisError::NotFound(format!("no test {test_id} in suite {:?}", suite.slug))),
    }
}

/// A muted or skipped test as `verdict run` matches it: by scope and name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantinedTest {
    pub id: i64,
    pub scope: String,
    pub name: String,
    pub file_name: Option<String>,
    pub reason: Option<String>,
}

/// `GET /v1/quarantine`: what a CI job needs to decide its exit code.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuarantineList {
    pub suite: String,
    pub muted: Vec<QuarantinedTest>,
    pub skipped: Vec<QuarantinedTest>,
}

pub async fn quarantine_list(store: &dyn Store, suite: &Suite) -> Result<QuarantineList, AnalysisError> {
    let (muted, skipped) = tokio::try_join!(
        store.controls().controlled(suite.id, ControlState::Muted),
        store.controls().controlled(suite.id, ControlState::Skipped)
    )?;
    let short = |c: Controlled| QuarantinedTest {
        id: c.test.id,
        scope: c.test.scope,
        name: c.test.name,
        file_name: c.test.file_name,
        reason: c.control.reason,
    };
    Ok(QuarantineList {
        suite: suite.slug.clone(),
        muted: muted.into_iter().map(short).collect(),
        skipped: skipped.into_iter().map(short).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(state: ControlState, expires_at: Option<i64>) -> ControlAsk {
        ControlAsk { state, reason: None, expires_at, pin: PinChange::Keep, actor: "api".into() }
    }

    #[test]
    fn asks_are_checked() {
        assert!(ask(ControlState::Muted, Some(2_000)).check(1_000).is_ok());
        assert!(ask(ControlState::Muted, Some(1_000)).check(1_000).is_err(), "in the past");
        assert!(ask(ControlState::Enabled, Some(2_000)).check(1_000).is_err(), "an enable does not expire");
        let mut long = ask(ControlState::Skipped, None);
        long.reason = Some("x".repeat(MAX_REASON_CHARS + 1));
        assert!(long.check(0).is_err());
        long.reason = Some("x".repeat(MAX_REASON_CHARS));
        assert!(long.check(0).is_ok());
        long.actor = " ".into();
        assert!(long.check(0).is_err());
    }
}
