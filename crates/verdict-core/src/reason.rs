//! A failure reason reduced to what failures of one cause share, so that a
//! run's failures can be grouped (the dashboard's run page) and, later,
//! clustered across runs. After LUCI's failure-reason clustering: numbers,
//! hexadecimal, UUIDs, base64 blobs, temporary paths and addresses are
//! masked; only the first line is kept, cut at `MAX_PATTERN_CHARS`.

/// A pattern is at most this many characters (an ellipsis marks a cut).
pub const MAX_PATTERN_CHARS: usize = 200;

/// What an empty or missing reason groups under.
pub const NO_MESSAGE: &str = "(no message)";

/// The masked first line of `reason`.
pub fn normalise(reason: Option<&str>) -> String {
    let line = reason.unwrap_or("").lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
    if line.is_empty() {
        return NO_MESSAGE.to_owned();
    }
    let mut out = String::with_capacity(line.len().min(4 * MAX_PATTERN_CHARS));
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if out.chars().count() >= MAX_PATTERN_CHARS {
            out.push('…');
            return out;
        }
        if is_word(c) || c == '/' {
            let end = rest.find(|c: char| !(is_word(c) || c == '/' || c == '.' || c == '-' || c == '+' || c == '=')).unwrap_or(rest.len());
            let token = rest[..end].trim_end_matches(['.', '-']);
            let token = if token.is_empty() { &rest[..c.len_utf8()] } else { token };
            out.push_str(&mask(token));
            rest = &rest[token.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// One token, masked when it is a value rather than words.
fn mask(token: &str) -> String {
    if token.starts_with("/tmp/") || token.starts_with("/var/folders/") || token.starts_with("/private/var/") {
        return "<path>".into();
    }
    if token.contains('/') {
        return token.split('/').map(mask_part).collect::<Vec<_>>().join("/");
    }
    mask_part(token)
}

fn mask_part(part: &str) -> String {
    if is_uuid(part) {
        return "<uuid>".into();
    }
    if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X"))
        && !hex.is_empty()
        && hex.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return "<hex>".into();
    }
    if part.len() >= 8 && part.bytes().all(|b| b.is_ascii_hexdigit()) && part.bytes().any(|b| b.is_ascii_digit()) {
        return "<hex>".into();
    }
    if part.len() >= 20 && is_base64(part) {
        return "<base64>".into();
    }
    // Digits anywhere in a word (`port 8080`, `item42`, `1.25s`) become one `<n>` per run of digits.
    let mut out = String::with_capacity(part.len());
    let mut in_number = false;
    for c in part.chars() {
        if c.is_ascii_digit() || (in_number && c == '.') {
            if !in_number {
                out.push_str("<n>");
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36 && b.iter().enumerate().all(|(i, &c)| if [8, 13, 18, 23].contains(&i) { c == b'-' } else { c.is_ascii_hexdigit() })
}

fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && body.bytes().any(|b| b.is_ascii_digit())
        && body.bytes().any(|b| b.is_ascii_uppercase())
        && body.bytes().any(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_masked_and_words_kept() {
        assert_eq!(normalise(Some("AssertionError: expected 3 but got 42")), "AssertionError: expected <n> but got <n>");
        assert_eq!(normalise(Some("timeout after 1.25s on port 8080")), "timeout after <n>s on port <n>");
        assert_eq!(normalise(Some("object at 0x7f3a2b1c deleted")), "object at <hex> deleted");
        assert_eq!(normalise(Some("commit deadbeef12 missing")), "commit <hex> missing");
        assert_eq!(normalise(Some("job 123e4567-e89b-12d3-a456-426614174000 failed")), "job <uuid> failed");
        assert_eq!(normalise(Some("no such file /tmp/pytest-of-root/pytest-7/x.txt")), "no such file <path>");
        assert_eq!(normalise(Some("token SGVsbG8gV29ybGQhIDEyMzQ1Njc4OTA= rejected")), "token <base64> rejected");
        assert_eq!(normalise(Some("src/lib.rs:42: panicked")), "src/lib.rs:<n>: panicked");
    }

    #[test]
    fn two_failures_of_one_cause_share_a_pattern() {
        let a = normalise(Some("Connection refused (os error 111) to 10.0.0.12:5432\n  at connect()"));
        let b = normalise(Some("Connection refused (os error 111) to 10.0.0.7:5432"));
        assert_eq!(a, b);
        assert_ne!(a, normalise(Some("Connection reset by peer")));
    }

    #[test]
    fn first_non_empty_line_empty_reason_and_cut() {
        assert_eq!(normalise(Some("\n\n  boom  \nsecond")), "boom");
        assert_eq!(normalise(None), NO_MESSAGE);
        assert_eq!(normalise(Some("  \n ")), NO_MESSAGE);
        let long = normalise(Some(&"word ".repeat(100)));
        assert_eq!(long.chars().count(), MAX_PATTERN_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(normalise(Some("<script>alert(1)</script>")), "<script>alert(<n>)</script>", "text, escaped where shown");
    }
}
