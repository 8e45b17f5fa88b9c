//! LIKE patterns as LUCI writes them (`rules/lang/escape.go`): `%` is any
//! text, `_` any one character, `\` escapes `\`, `%` and `_`; case-sensitive,
//! matching the whole text.

use regex::Regex;

/// LIKE-escape text so that it matches itself: `\` → `\\`, `%` → `\%`, `_` → `\_`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LikeError {
    #[error("\\{0} is not an escape in a LIKE pattern (only \\\\, \\% and \\_ are)")]
    BadEscape(char),
    #[error("a LIKE pattern cannot end with a lone \\")]
    TrailingBackslash,
}

/// The regex a LIKE pattern means: `(?s)^` + translation + `$`.
pub fn like_regex(pattern: &str) -> Result<Regex, LikeError> {
    let mut re = String::from("(?s)^");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            '\\' => match chars.next() {
                Some(e @ ('\\' | '%' | '_')) => re.push_str(&regex::escape(&e.to_string())),
                Some(e) => return Err(LikeError::BadEscape(e)),
                None => return Err(LikeError::TrailingBackslash),
            },
            c => re.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
        }
    }
    re.push('$');
    Ok(Regex::new(&re).expect("an escaped pattern compiles"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_like_patterns() {
        let re = like_regex("Null pointer exception at ip %").unwrap();
        assert_eq!(re.as_str(), "(?s)^Null pointer exception at ip .*$");
        assert!(re.is_match("Null pointer exception at ip 0x45637271") && re.is_match("Null pointer exception at ip 0x12345678"));
        let pct = like_regex(r"a\%b").unwrap();
        assert!(pct.is_match("a%b") && !pct.is_match("axb") && !pct.is_match("a%bc"));
        assert_eq!(like_regex(r"a\qb").unwrap_err(), LikeError::BadEscape('q'));
        assert!(like_regex("a\\").is_err());
        assert!(like_regex("a_c").unwrap().is_match("abc") && !like_regex("a_c").unwrap().is_match("ac"));
        assert!(like_regex("(x)+.*").unwrap().is_match("(x)+.*"), "regex metacharacters are literal");
        assert!(like_regex("a%").unwrap().is_match("a\nb"), "% crosses lines");
        assert!(!like_regex("A%").unwrap().is_match("a"), "case-sensitive");
    }

    #[test]
    fn an_escaped_text_matches_itself() {
        for text in ["100% of 5_000", r"C:\tmp\x", "plain"] {
            assert!(like_regex(&escape(text)).unwrap().is_match(text), "{text}");
        }
    }
}
