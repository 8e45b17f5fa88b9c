//! Test controls (the flaky spec, §4): whether a test's failures count.
//! A test is enabled, muted (it runs, but its failure does not fail the
//! build) or skipped (not run where the runner can skip it). People set them;
//! the auto-quarantine policy sets them from the test's flaky state, by the
//! rules below, and never overrides what a person chose.

use crate::flaky::State;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlState {
    Enabled,
    Muted,
    Skipped,
}

impl ControlState {
    pub const ALL: [ControlState; 3] = [ControlState::Enabled, ControlState::Muted, ControlState::Skipped];

    pub fn name(self) -> &'static str {
        match self {
            ControlState::Enabled => "enabled",
            ControlState::Muted => "muted",
            ControlState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<ControlState> {
        Self::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Whether a failure of a test in this state leaves the build alone.
    pub fn forgives_failure(self) -> bool {
        self != ControlState::Enabled
    }
}

/// Who set a control: a person (the API or the CLI) or the auto-quarantine policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetBy {
    Manual,
    Auto,
}

impl SetBy {
    pub fn name(self) -> &'static str {
        match self {
            SetBy::Manual => "manual",
            SetBy::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> SetBy {
        if s == "auto" { SetBy::Auto } else { SetBy::Manual }
    }
}

/// Trunk's per-test overrides of the policy: `always` keeps an auto-muted
/// test muted when it turns broken; `never` keeps the policy from muting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pin {
    Always,
    Never,
}

impl Pin {
    pub fn name(self) -> &'static str {
        match self {
            Pin::Always => "always",
            Pin::Never => "never",
        }
    }

    pub fn parse(s: &str) -> Option<Pin> {
        match s {
            "always" => Some(Pin::Always),
            "never" => Some(Pin::Never),
            _ => None,
        }
    }
}

/// A test's control as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Control {
    pub state: ControlState,
    pub set_by: SetBy,
    pub reason: Option<String>,
    /// When set, the background step re-enables the test at this time (ms).
    pub expires_at: Option<i64>,
    pub pin: Option<Pin>,
    /// Who made the change: `auto`, or what the person's credential or `--by` says.
    pub actor: String,
    pub at_ms: i64,
}

impl Control {
    /// The control of a test nobody has set.
    pub fn enabled() -> Control {
        Control {
            state: ControlState::Enabled,
            set_by: SetBy::Manual,
            reason: None,
            expires_at: None,
            pin: None,
            actor: String::new(),
            at_ms: 0,
        }
    }
}

/// Longest reason kept; longer ones are refused.
pub const MAX_REASON_CHARS: usize = 1000;

/// What the auto-quarantine policy does when a test on its branch changes
/// state to `to`: the new control state, or `None` to leave it alone.
/// - entering `flaky` mutes it, unless it is pinned `never` or already muted or skipped;
/// - back to `healthy` enables it, only if the policy had muted it;
/// - turning `broken` while the policy had muted it enables it (broken tests are
///   never quarantined automatically: a broken test must be fixed, not hidden),
///   unless it is pinned `always`.
///
/// A person's mute or skip is never changed.
pub fn auto_change(current: &Control, to: State) -> Option<ControlState> {
    let auto_muted = current.set_by == SetBy::Auto && current.state == ControlState::Muted;
    match to {
        State::Flaky if current.pin != Some(Pin::Never) && current.state == ControlState::Enabled => Some(ControlState::Muted),
        State::Healthy if auto_muted => Some(ControlState::Enabled),
        State::Broken if auto_muted && current.pin != Some(Pin::Always) => Some(ControlState::Enabled),
        _ => None,
    }
}

/// Parse an expiry such as `7d`, `12h` or `30m` into milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = digits.parse().map_err(|_| format!("{s:?} is not a duration such as 7d, 12h or 30m"))?;
    let unit_ms = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        _ => return Err(format!("{s:?} is not a duration such as 7d, 12h or 30m")),
    };
    if n == 0 || n > 3650 * 86_400_000 / unit_ms {
        return Err(format!("{s:?}: a duration from 1 minute to 10 years"));
    }
    Ok(n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(state: ControlState, set_by: SetBy, pin: Option<Pin>) -> Control {
        Control { state, set_by, pin, ..Control::enabled() }
    }

    #[test]
    fn the_policy_mutes_flaky_tests_and_undoes_only_its_own_mutes() {
        let enabled = Control::enabled();
        assert_eq!(auto_change(&enabled, State::Flaky), Some(ControlState::Muted));
        assert_eq!(auto_change(&enabled, State::Broken), None, "broken tests are never muted automatically");
        assert_eq!(auto_change(&enabled, State::Healthy), None);
        let auto = control(ControlState::Muted, SetBy::Auto, None);
        assert_eq!(auto_change(&auto, State::Healthy), Some(ControlState::Enabled));
        assert_eq!(auto_change(&auto, State::Broken), Some(ControlState::Enabled));
        assert_eq!(auto_change(&auto, State::Flaky), None, "already muted");
        assert_eq!(auto_change(&auto, State::New), None);
        let manual = control(ControlState::Muted, SetBy::Manual, None);
        for to in State::ALL {
            assert_eq!(auto_change(&manual, to), None, "a person's mute stays ({to:?})");
        }
        let skipped = control(ControlState::Skipped, SetBy::Manual, None);
        assert_eq!(auto_change(&skipped, State::Flaky), None);
    }

    #[test]
    fn pins_override_the_policy() {
        assert_eq!(auto_change(&control(ControlState::Enabled, SetBy::Manual, Some(Pin::Never)), State::Flaky), None);
        assert_eq!(auto_change(&control(ControlState::Enabled, SetBy::Manual, Some(Pin::Always)), State::Flaky), Some(ControlState::Muted));
        let pinned = control(ControlState::Muted, SetBy::Auto, Some(Pin::Always));
        assert_eq!(auto_change(&pinned, State::Broken), None, "pinned always stays muted when broken");
        assert_eq!(auto_change(&pinned, State::Healthy), Some(ControlState::Enabled));
    }

    #[test]
    fn names_round_trip_and_durations_parse() {
        for c in ControlState::ALL {
            assert_eq!(ControlState::parse(c.name()), Some(c));
        }
        assert!(ControlState::Muted.forgives_failure() && ControlState::Skipped.forgives_failure());
        assert!(!ControlState::Enabled.forgives_failure());
        assert_eq!(parse_duration_ms("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration_ms("12h"), Ok(12 * 3_600_000));
        assert_eq!(parse_duration_ms("30m"), Ok(30 * 60_000));
        for bad in ["", "7", "d", "7w", "0d", "-1d", "99999d"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad:?}");
        }
    }
}
