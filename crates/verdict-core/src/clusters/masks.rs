//! The masks: LUCI's one regex, Verdict's five, and a suite's own.

use super::Numbers;
use regex::{Captures, Regex};
use std::sync::LazyLock;

/// LUCI `reason-v6`'s mask (`failurereason.go`): base64-ish blobs, long runs
/// of hex with dashes and spaces (UUIDs, hex dumps), hex words of 8 or more,
/// and every run of digits. Rust's `regex` is leftmost-first, as RE2 is.
const LUCI: &str = r"[/+0-9a-zA-Z]{10,}=+|[\-0-9a-fA-F \t]{16,}|[0-9a-fA-Fx]{8,}|[0-9]+";

static LUCI_MASK: LazyLock<Regex> = LazyLock::new(|| Regex::new(LUCI).expect("LUCI's mask compiles"));
static LUCI_MASK_KEEP_NUMBERS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(LUCI.trim_end_matches("|[0-9]+")).expect("LUCI's mask compiles"));

/// Verdict's masks, in order, each on the LIKE-escaped text: (name, regex, replacement).
/// ASCII digits only (`[0-9]`, as LUCI's RE2 `\d` is).
pub const VERDICT_MASKS: [(&str, &str, &str); 5] = [
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "%"),
    ("timestamp", r"\b[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?", "%"),
    (
        "temp_path",
        r#"(?:/private)?/var/folders/[^/\s]+/[^/\s]+/[TC]/[^/\s'"]+|/(?:tmp|var/tmp|dev/shm)/[^/\s'"]+|[A-Za-z]:\\\\(?:[^\\\s]+\\\\)*?(?:Temp|TEMP|Tmp|tmp)\\\\[^\\\s'"]+"#,
        "%",
    ),
    ("address", r"\b0[xX][0-9a-fA-F]+\b", "%"),
    ("line_col", r"(\.[A-Za-z0-9]{1,10}):[0-9]+(?::[0-9]+)?\b", "${1}:%"),
];

static VERDICT: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    VERDICT_MASKS.iter().map(|(name, re, to)| (Regex::new(re).unwrap_or_else(|e| panic!("mask {name}: {e}")), *to)).collect()
});

pub(super) fn verdict_masks(escaped: &str) -> String {
    let mut text = escaped.to_owned();
    for (re, to) in VERDICT.iter() {
        if let std::borrow::Cow::Owned(replaced) = re.replace_all(&text, *to) {
            text = replaced;
        }
    }
    text
}

pub(super) fn luci(text: &str, numbers: Numbers) -> String {
    let re = match numbers {
        Numbers::Mask => &*LUCI_MASK,
        Numbers::Keep => &*LUCI_MASK_KEEP_NUMBERS,
    };
    re.replace_all(text, "%").into_owned()
}

/// A suite's mask (LUCI's `reason_mask_patterns`): a regex with exactly one
/// capturing group, whose text in each match becomes `%`.
#[derive(Debug, Clone)]
pub struct SuiteMask(Regex);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuiteMaskError {
    #[error("not a regular expression: {0}")]
    Syntax(String),
    #[error("a mask needs exactly one capturing group, this has {0}")]
    Groups(usize),
}

impl SuiteMask {
    pub fn new(pattern: &str) -> Result<Self, SuiteMaskError> {
        let re = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| SuiteMaskError::Syntax(e.to_string()))?;
        match re.captures_len() - 1 {
            1 => Ok(SuiteMask(re)),
            n => Err(SuiteMaskError::Groups(n)),
        }
    }

    pub fn pattern(&self) -> &str {
        self.0.as_str()
    }
}

pub(super) fn apply_suite_masks(text: &str, masks: &[SuiteMask]) -> String {
    let mut text = text.to_owned();
    for SuiteMask(re) in masks {
        let replaced = re.replace_all(&text, |c: &Captures<'_>| {
            let (whole, group) = (c.get(0).expect("a match"), c.get(1));
            match group {
                Some(g) => format!("{}%{}", &text[whole.start()..g.start()], &text[g.end()..whole.end()]),
                None => whole.as_str().to_owned(),
            }
        });
        text = replaced.into_owned();
    }
    text
}
