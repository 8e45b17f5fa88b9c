//! Failure clustering: a failed execution's reason reduced to a key that
//! failures of one cause share, and the key's id. Two algorithms:
//!
//! - [`Algorithm::ReasonV6`], LUCI Analysis's `reason-v6` exactly
//!   (`failurereason.go`): LIKE-escape, mask numbers and hex and base64
//!   blobs with one regex, then the project's masks;
//! - [`Algorithm::VerdictV1`], `verdict-reason-v1`: the same, with Verdict's
//!   masks (UUIDs, timestamps, temporary paths, addresses, `file.ext:line`)
//!   applied before LUCI's regex, so that values which LUCI cuts into
//!   pieces (`request%iled`, `/tmp/tmpa%f%k%\_q`) become one `%`.
//!
//! The key is a LIKE pattern (`%` any text, `_` one character, `\` escapes),
//! so a suggested cluster can become a user rule unchanged ([`like`]).

pub mod like;
mod masks;
pub mod rules;

pub use like::{LikeError, like_regex};
pub use masks::{SuiteMask, SuiteMaskError};

use crate::upload::truncate;
use sha2::{Digest, Sha256};

/// Reasons are cut to this many bytes (at a character boundary) before
/// masking, as LUCI clusters the first 1024 bytes of the primary error.
pub const MAX_REASON_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    #[serde(rename = "reason-v6")]
    ReasonV6,
    #[serde(rename = "verdict-reason-v1")]
    VerdictV1,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::ReasonV6 => "reason-v6",
            Algorithm::VerdictV1 => "verdict-reason-v1",
        }
    }
}

/// Whether LUCI's last alternative (`[0-9]+`, every run of digits) masks.
/// `Keep` leaves exit codes and counts visible; line numbers are still
/// masked by `line_col` in `verdict-reason-v1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Numbers {
    #[default]
    Mask,
    Keep,
}

/// How a suite clusters: the algorithm's options and its own masks.
#[derive(Debug, Clone, Default)]
pub struct Clustering {
    pub numbers: Numbers,
    pub masks: Vec<SuiteMask>,
}

/// A failure's cluster: its key (a LIKE pattern) and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub algorithm: Algorithm,
    pub key: String,
    /// The first 16 bytes of SHA-256 of the key, as 32 lowercase hex digits.
    pub id: String,
}

impl Cluster {
    /// The key with its LIKE escapes undone, for people.
    pub fn title(&self) -> String {
        title(&self.key)
    }
}

/// The cluster of a failure reason; `None` for an empty one (counted under
/// "no failure reason", not clustered).
pub fn cluster(reason: &str, algorithm: Algorithm, options: &Clustering) -> Option<Cluster> {
    let key = key(reason, algorithm, options)?;
    Some(Cluster { algorithm, id: cluster_id(&key), key })
}

/// The cluster key of a reason (see the module's doc), `None` when empty.
pub fn key(reason: &str, algorithm: Algorithm, options: &Clustering) -> Option<String> {
    let reason = truncate(reason, MAX_REASON_BYTES);
    if reason.is_empty() {
        return None;
    }
    let escaped = like::escape(reason);
    let masked = match algorithm {
        Algorithm::ReasonV6 => escaped,
        Algorithm::VerdictV1 => masks::verdict_masks(&escaped),
    };
    let masked = masks::luci(&masked, options.numbers);
    Some(masks::apply_suite_masks(&masked, &options.masks))
}

/// The first 16 bytes of SHA-256 of `key`'s UTF-8 bytes, as 32 lowercase hex digits.
pub fn cluster_id(key: &str) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..16])
}

/// A key with `\\`, `\%` and `\_` unescaped.
pub fn title(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n @ ('\\' | '%' | '_')) => out.push(n),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(reason: &str) -> String {
        key(reason, Algorithm::ReasonV6, &Clustering::default()).unwrap()
    }

    fn v1(reason: &str) -> String {
        key(reason, Algorithm::VerdictV1, &Clustering::default()).unwrap()
    }

    /// The spec's §8 reason-v6 table (LUCI's `failurereason_test.go`), with ids.
    #[test]
    fn luci_reason_v6_vectors() {
        let cases = [
            ("Null pointer exception at ip 0x45637271", "Null pointer exception at ip %", Some("7f84eaf83ed889ed19d0c60d43497743")),
            ("Null pointer exception at ip 0x12345678", "Null pointer exception at ip %", Some("7f84eaf83ed889ed19d0c60d43497743")),
            (
                "Could not connect to 127.1.2.1: connection refused",
                "Could not connect to %.%.%.%: connection refused",
                Some("fd99c946675349ba94c5934095b994f5"),
            ),
            (
                "Received unexpected response: AdafdxAAD17917+/=",
                "Received unexpected response: %",
                Some("e7d51d42ab22b7b8d39f633b3875b68c"),
            ),
            ("Exception in TestMethod", "Exception in TestMethod", Some("cbd8f55fbe02b652f6aba70803d74675")),
            ("Exception in MethodUnderTest", "Exception in MethodUnderTest", Some("e4cedd3f7d6849b500b0f697a4a82504")),
            ("100% of 5_000 checks failed", "%\\% of %\\_% checks failed", Some("0bc56a1d03a12c8fb3c7b91e447340e4")),
            ("request 123e4567-e89b-12d3-a456-426614174000 failed", "request%iled", Some("9b899fc74ec814cd4472a7c60c70c525")),
            ("deadline exceeded at 2024-05-01T12:30:45.123Z after 30s", "deadline % at %-%-%T%:%:%.%Z after %s", None),
        ];
        for (input, want, id) in cases {
            let got = v6(input);
            assert_eq!(got, want, "{input}");
            if let Some(id) = id {
                assert_eq!(cluster_id(&got), id, "{input}");
            }
        }
    }

    #[test]
    fn luci_quirks() {
        // Newlines are outside the hex class: the message stays whole.
        assert_eq!(v6("Expected: to be called once\nActual: never called"), "Expected: to be called once\nActual: never called");
        // `exceeded` is eight hex-or-x letters.
        assert_eq!(v6("deadline exceeded"), "deadline %");
        assert_eq!(key("", Algorithm::VerdictV1, &Clustering::default()), None, "an empty reason has no cluster");
    }

    #[test]
    fn project_mask_masks_its_group() {
        let mask = SuiteMask::new(r"(?:^\[Fixture failure\] )([a-zA-Z0-9_]+)[:]").unwrap();
        let options = Clustering { numbers: Numbers::Mask, masks: vec![mask] };
        let got = key("[Fixture failure] crostiniBuster: Failed to install Crostini: 3 is not 5", Algorithm::ReasonV6, &options).unwrap();
        assert_eq!(got, "[Fixture failure] %: Failed to install Crostini: % is not %");
        assert!(SuiteMask::new("no group").is_err() && SuiteMask::new("(a)(b)").is_err(), "exactly one capturing group");
        assert!(SuiteMask::new("(").is_err());
    }

    /// Each of Verdict's masks: its example, a near miss that must not change, and the v6-only key.
    #[test]
    fn verdict_masks() {
        // uuid
        assert_eq!(v1("request 123e4567-e89b-12d3-a456-426614174000 failed"), "request % failed");
        assert_eq!(cluster_id(&v1("request 123e4567-e89b-12d3-a456-426614174000 failed")), "a7e0c1b9f4aa4ff480078c4dc3ced5ab");
        assert_eq!(v1("id 123e4567-e89b-12d3-a456 is short"), v6("id 123e4567-e89b-12d3-a456 is short"), "not a whole UUID");
        // timestamp
        let a = v1("deadline exceeded at 2024-05-01T12:30:45.123Z after 30s");
        assert_eq!(a, "deadline % at % after %s");
        assert_eq!(cluster_id(&a), "97fa095a5b050dd8f76db30119783790");
        assert_eq!(v1("deadline exceeded at 2024-05-02 08:01:02 after 30s"), a);
        assert_eq!(v1("version 2024-05-01 released"), v6("version 2024-05-01 released"), "a date alone is not a timestamp");
        // temp_path
        assert_eq!(v1("FileNotFoundError: /tmp/tmpa8f3k2_q/out.txt"), "FileNotFoundError: %/out.txt");
        assert_eq!(v6("FileNotFoundError: /tmp/tmpa8f3k2_q/out.txt"), "FileNotFoundError: /tmp/tmpa%f%k%\\_q/out.txt");
        assert_eq!(v1("cannot open /var/folders/zz/zyxvpxvq6csfxvn_n0000000000000/T/pytest-of-me"), "cannot open %");
        assert_eq!(v1(r"cannot open C:\Users\me\AppData\Local\Temp\tmpx812\log"), r"cannot open %\\log");
        assert_eq!(v1("reading /tmpfiles.d/x.conf"), v6("reading /tmpfiles.d/x.conf"), "not a temporary directory");
        // address
        assert_eq!(v1("segfault at 0x7f reading 0x7ffd5e8c1a20"), "segfault at % reading %");
        assert_eq!(v6("segfault at 0x7f reading 0x7ffd5e8c1a20"), "segfault at %x%f reading %");
        assert_eq!(v1("box0x7f"), v6("box0x7f"), "inside a word: not an address");
        // line_col
        assert_eq!(v1("panicked at src/lib.rs:42:17: index out of bounds"), "panicked at src/lib.rs:%: index out of bounds");
        assert_eq!(v1("connect to db:5432 refused"), v6("connect to db:5432 refused"), "no extension: a port, left to LUCI's digits");
    }

    #[test]
    fn numbers_keep_leaves_counts_visible() {
        let keep = Clustering { numbers: Numbers::Keep, masks: vec![] };
        assert_eq!(key("exit status 137 in src/main.rs:12", Algorithm::VerdictV1, &keep).unwrap(), "exit status 137 in src/main.rs:%");
        assert_eq!(v1("exit status 137 in src/main.rs:12"), "exit status % in src/main.rs:%");
    }

    #[test]
    fn long_reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(600); // 1200 bytes
        let k = v1(&long);
        assert_eq!(k.len(), 1024, "512 two-byte characters");
        assert_eq!(truncate("aé", 2), "a");
    }

    #[test]
    fn titles_unescape() {
        assert_eq!(title("%\\% of %\\_% checks"), "%% of %_% checks");
        assert_eq!(title("a\\\\b"), "a\\b");
    }
}
