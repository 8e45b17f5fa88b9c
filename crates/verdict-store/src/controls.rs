//! Test controls in the store (migration 0016): each test's enabled, muted
//! or skipped state with who set it and why, every change an event in the
//! same transaction; the suites' manage tokens; and the auto-quarantine
//! policy applied in the flaky analysis step's own transaction, so a state
//! event and the control it causes are written together or not at all.

use crate::error::StoreError;
use crate::views::{Suite, Test};
use async_trait::async_trait;
use serde::Serialize;
use std::collections::HashMap;
use verdict_core::flaky::Transition;
use verdict_core::quarantine::{Control, ControlState, Pin, SetBy, auto_change};

/// What a change does to the pin.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PinChange {
    Keep,
    Set(Option<Pin>),
}

/// Why a control changed, as its event records it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ControlRule {
    /// A person, through the API or the CLI.
    Manual,
    /// The auto-quarantine policy, after a state change.
    Auto,
    /// Its `expires_at` passed.
    Expired,
}

impl ControlRule {
    pub fn name(self) -> &'static str {
        match self {
            ControlRule::Manual => "manual",
            ControlRule::Auto => "auto",
            ControlRule::Expired => "expired",
        }
    }

    /// The rule a state-change event names (the flaky spec's §2.1 list).
    pub fn event_rule(self) -> &'static str {
        match self {
            ControlRule::Auto => "auto_quarantine",
            other => other.name(),
        }
    }
}

/// A change asked of a test's control.
#[derive(Debug, Clone)]
pub struct ControlChange {
    pub state: ControlState,
    pub rule: ControlRule,
    pub reason: Option<String>,
    pub expires_at: Option<i64>,
    pub pin: PinChange,
    pub actor: String,
    pub at_ms: i64,
}

impl ControlChange {
    /// The control after this change of `current`.
    pub fn applied_to(&self, current: &Control) -> Control {
        let set_by = if self.rule == ControlRule::Manual { SetBy::Manual } else { SetBy::Auto };
        Control {
            state: self.state,
            set_by,
            reason: self.reason.clone(),
            // An expiry belongs to the mute or skip it came with.
            expires_at: self.expires_at.filter(|_| self.state != ControlState::Enabled),
            pin: match self.pin {
                PinChange::Keep => current.pin,
                PinChange::Set(p) => p,
            },
            actor: self.actor.clone(),
            at_ms: self.at_ms,
        }
    }
}

/// One change of a test's control, as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlEvent {
    pub test_id: i64,
    pub at_ms: i64,
    pub from: String,
    pub to: String,
    pub set_by: String,
    pub rule: String,
    pub actor: String,
    pub reason: Option<String>,
}

/// A test with its control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Controlled {
    #[serde(flatten)]
    pub test: Test,
    pub control: Control,
}

/// The auto-quarantine changes a part's state events cause on `track`, in
/// event order, each with the control before it. `controls` holds the
/// current control of every test with an event there and is kept current.
pub fn auto_changes(
    events: &[(i64, String, Transition)],
    track: &str,
    controls: &mut HashMap<i64, Control>,
) -> Vec<(i64, Control, ControlChange)> {
    let mut out = Vec::new();
    for (test, _, e) in events.iter().filter(|(_, t, _)| t == track) {
        let current = controls.entry(*test).or_insert_with(Control::enabled);
        let Some(state) = auto_change(current, e.to) else { continue };
        let change = ControlChange {
            state,
            rule: ControlRule::Auto,
            reason: Some(format!("{} on {track} ({})", e.to.name(), e.rule.name())),
            expires_at: None,
            pin: PinChange::Keep,
            actor: "auto-quarantine".into(),
            at_ms: e.at_ms,
        };
        let before = current.clone();
        *current = change.applied_to(&before);
        out.push((*test, before, change));
    }
    out
}

/// The tests of a part's events on `track` (each once).
pub fn tests_on(events: &[(i64, String, Transition)], track: &str) -> Vec<i64> {
    let mut tests: Vec<i64> = events.iter().filter(|(_, t, _)| t == track).map(|(t, _, _)| *t).collect();
    tests.sort_unstable();
    tests.dedup();
    tests
}

pub(crate) const CONTROL_COLS: &str = "state, set_by, reason, expires_at, pin, actor, updated_at";

/// A control from its `CONTROL_COLS`.
pub(crate) fn control_of(
    state: &str,
    set_by: &str,
    reason: Option<String>,
    expires_at: Option<i64>,
    pin: Option<&str>,
    actor: String,
    at_ms: i64,
) -> Control {
    Control {
        state: ControlState::parse(state).unwrap_or(ControlState::Enabled),
        set_by: SetBy::parse(set_by),
        reason,
        expires_at,
        pin: pin.and_then(Pin::parse),
        actor,
        at_ms,
    }
}

/// A suite's tests in one control state, with their controls: ?1 suite, ?2 state.
pub(crate) fn controlled_sql(test_cols: &str) -> String {
    let cols = CONTROL_COLS.split(", ").map(|col| format!("k.{col}")).collect::<Vec<_>>().join(", ");
    format!(
        "SELECT {test_cols}, {cols} FROM test_controls k JOIN tests t ON t.id = k.test_id
         WHERE k.suite_id = ?1 AND k.state = ?2 ORDER BY t.scope, t.name, t.id"
    )
}

/// A suite's tests by scope and name (?1 suite, ?2 scope, ?3 name), or by `scope/name` (?2) when no scope is given.
pub(crate) fn tests_named_sql(test_cols: &str, with_scope: bool) -> String {
    if with_scope {
        format!("SELECT {test_cols} FROM tests t WHERE t.suite_id = ?1 AND t.scope = ?2 AND t.name = ?3")
    } else {
        format!(
            "SELECT {test_cols} FROM tests t WHERE t.suite_id = ?1
               AND (t.scope || '/' || t.name = ?2 OR (t.scope = '' AND t.name = ?2)) ORDER BY t.id LIMIT 10"
        )
    }
}

/// ?1 test, ?2 suite, then the control's columns.
pub(crate) const UPSERT_CONTROL: &str =
    "INSERT INTO test_controls (test_id, suite_id, state, set_by, reason, expires_at, pin, actor, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (test_id) DO UPDATE SET state = excluded.state, set_by = excluded.set_by, reason = excluded.reason,
       expires_at = excluded.expires_at, pin = excluded.pin, actor = excluded.actor, updated_at = excluded.updated_at";

pub(crate) const INSERT_CONTROL_EVENT: &str =
    "INSERT INTO test_control_events (test_id, suite_id, at_ms, from_state, to_state, set_by, rule, actor, reason)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

pub(crate) const CONTROL_EVENTS: &str = "SELECT test_id, at_ms, from_state, to_state, set_by, rule, actor, reason
     FROM test_control_events WHERE test_id = ?1 ORDER BY at_ms DESC, id DESC LIMIT ?2";

/// Controls whose expiry has passed, oldest first: (test, suite).
pub(crate) const EXPIRED: &str = "SELECT test_id, suite_id FROM test_controls
     WHERE expires_at IS NOT NULL AND expires_at <= ?1 AND state <> 'enabled' ORDER BY expires_at LIMIT 100";

/// The change that re-enables a control whose expiry passed.
pub fn expiry(at_ms: i64) -> ControlChange {
    ControlChange {
        state: ControlState::Enabled,
        rule: ControlRule::Expired,
        reason: Some("the mute or skip expired".into()),
        expires_at: None,
        pin: PinChange::Keep,
        actor: "expiry".into(),
        at_ms,
    }
}

/// Test controls and the manage tokens that change them.
#[async_trait]
pub trait ControlsStore: Send + Sync {
    /// Change a test's control and record the event, in one transaction; the control as it now is.
    async fn set_control(&self, test_id: i64, change: &ControlChange) -> Result<Control, StoreError>;
    /// A test's control (`Control::enabled()` when none was ever set).
    async fn control(&self, test_id: i64) -> Result<Control, StoreError>;
    /// The suite's tests in `state` (muted or skipped), by scope and name.
    async fn controlled(&self, suite_id: i64, state: ControlState) -> Result<Vec<Controlled>, StoreError>;
    /// A test's control changes, newest first.
    async fn control_events(&self, test_id: i64, limit: i64) -> Result<Vec<ControlEvent>, StoreError>;
    /// Re-enable the controls whose expiry has passed (at most 100 a call); how many.
    async fn expire_controls(&self, now_ms: i64) -> Result<usize, StoreError>;
    /// The suite's tests named `scope` and `name`, or with `scope/name` equal to `full` when `scope` is `None`.
    async fn tests_named(&self, suite_id: i64, scope: Option<&str>, name: &str) -> Result<Vec<Test>, StoreError>;
    /// Replace a suite's manage token; the old one stops working at once.
    async fn set_manage_token_hash(&self, slug: &str, token_hash: &str) -> Result<(), StoreError>;
    async fn suite_by_manage_token_hash(&self, token_hash: &str) -> Result<Option<Suite>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_core::flaky::{Rule, State};

    fn event(test: i64, track: &str, from: State, to: State) -> (i64, String, Transition) {
        (
            test,
            track.into(),
            Transition { at_ms: 5, run_id: 1, from, to, rule: Rule::SameCommit, llr: 0.0, runs: 1, flaky_runs: 1, commit: None },
        )
    }

    #[test]
    fn auto_changes_follow_the_policy_track_and_chain_within_a_part() {
        let events = [
            event(1, "main", State::New, State::Flaky),
            event(1, "*", State::New, State::Flaky),
            event(2, "feature", State::New, State::Flaky),
            event(1, "main", State::Flaky, State::Healthy),
        ];
        let mut controls = HashMap::new();
        let changes = auto_changes(&events, "main", &mut controls);
        let states: Vec<(i64, ControlState, ControlState)> = changes.iter().map(|(t, b, c)| (*t, b.state, c.state)).collect();
        assert_eq!(states, [(1, ControlState::Enabled, ControlState::Muted), (1, ControlState::Muted, ControlState::Enabled)]);
        assert_eq!(changes[0].2.reason.as_deref(), Some("flaky on main (same_commit)"));
        assert_eq!(controls[&1].set_by, SetBy::Auto);
        assert_eq!(tests_on(&events, "main"), [1]);
    }

    #[test]
    fn a_change_keeps_or_sets_the_pin_and_drops_an_expiry_when_enabling() {
        let current = Control { pin: Some(Pin::Never), ..Control::enabled() };
        let mut change = ControlChange {
            state: ControlState::Muted,
            rule: ControlRule::Manual,
            reason: Some("flaky in CI".into()),
            expires_at: Some(99),
            pin: PinChange::Keep,
            actor: "cli:alice".into(),
            at_ms: 10,
        };
        let muted = change.applied_to(&current);
        assert_eq!(
            (muted.state, muted.set_by, muted.pin, muted.expires_at),
            (ControlState::Muted, SetBy::Manual, Some(Pin::Never), Some(99))
        );
        change.state = ControlState::Enabled;
        change.pin = PinChange::Set(None);
        let enabled = change.applied_to(&muted);
        assert_eq!((enabled.pin, enabled.expires_at), (None, None));
    }
}
