//! A suite's failure rules: a named LIKE pattern or regex (with an optional
//! bug link) that claims the failures it matches before any suggested
//! cluster does. Rules match the raw reason, lowest priority number first;
//! the first match wins (LUCI's rules, §3.3 of the flaky spec).

use super::like::{LikeError, like_regex};
use regex::Regex;

/// Rules and their patterns are at most this long.
pub const MAX_RULE_PATTERN_CHARS: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulePattern {
    /// A LIKE pattern matching the whole reason.
    Like(String),
    /// A Rust `regex`, found anywhere in the reason.
    Regex(String),
}

/// A rule compiled for matching.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub priority: i64,
    re: Regex,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("like: {0}")]
    Like(#[from] LikeError),
    #[error("regex: {0}")]
    Regex(String),
    #[error("the pattern is empty")]
    Empty,
    #[error("the pattern is longer than {MAX_RULE_PATTERN_CHARS} characters")]
    TooLong,
}

impl Rule {
    pub fn new(id: impl Into<String>, priority: i64, pattern: &RulePattern) -> Result<Self, RuleError> {
        let text = match pattern {
            RulePattern::Like(p) | RulePattern::Regex(p) => p,
        };
        if text.is_empty() {
            return Err(RuleError::Empty);
        }
        if text.chars().count() > MAX_RULE_PATTERN_CHARS {
            return Err(RuleError::TooLong);
        }
        let re = match pattern {
            RulePattern::Like(p) => like_regex(p)?,
            // Bounded so that a user's pattern cannot take the server's memory.
            RulePattern::Regex(p) => {
                regex::RegexBuilder::new(p).size_limit(1 << 20).build().map_err(|e| RuleError::Regex(e.to_string()))?
            }
        };
        Ok(Rule { id: id.into(), priority, re })
    }

    pub fn matches(&self, reason: &str) -> bool {
        self.re.is_match(reason)
    }
}

/// The rule that claims `reason`: the first match in priority order (then id, for a stable tie).
pub fn claiming<'a>(rules: &'a [Rule], reason: &str) -> Option<&'a Rule> {
    rules.iter().filter(|r| r.matches(reason)).min_by(|a, b| (a.priority, &a.id).cmp(&(b.priority, &b.id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_priority_first_and_patterns_as_specified() {
        let rules = [
            Rule::new("b", 10, &RulePattern::Regex("connection (refused|reset)".into())).unwrap(),
            Rule::new("a", 5, &RulePattern::Like("Could not connect to %".into())).unwrap(),
        ];
        let reason = "Could not connect to 127.1.2.1: connection refused";
        assert_eq!(claiming(&rules, reason).unwrap().id, "a", "priority 5 before 10");
        assert_eq!(claiming(&rules, "read: connection reset by peer").unwrap().id, "b", "a regex is found anywhere");
        assert!(claiming(&rules, "x Could not connect to y").is_none_or(|r| r.id != "a"), "LIKE matches the whole reason");
        assert!(claiming(&rules, "all good").is_none());
        assert!(matches!(Rule::new("x", 0, &RulePattern::Like(r"\q".into())), Err(RuleError::Like(_))));
        assert!(matches!(Rule::new("x", 0, &RulePattern::Regex("(".into())), Err(RuleError::Regex(_))));
        assert_eq!(Rule::new("x", 0, &RulePattern::Regex(String::new())).unwrap_err(), RuleError::Empty);
    }
}
