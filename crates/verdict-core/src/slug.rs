use std::fmt;

/// The URL-safe identifier of a suite: what users type in commands and URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SuiteSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid suite slug {0:?}: use 1 to 64 lowercase letters, digits, '-' or '_', starting with a letter or digit")]
pub struct InvalidSlug(pub String);

impl SuiteSlug {
    pub fn parse(raw: &str) -> Result<Self, InvalidSlug> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok { Ok(Self(raw.to_owned())) } else { Err(InvalidSlug(raw.to_owned())) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SuiteSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_simple_slugs() {
        assert_eq!(SuiteSlug::parse("web-app_2").unwrap().as_str(), "web-app_2");
    }

    #[test]
    fn rejects_bad_slugs() {
        for bad in ["", "-x", "Web", "a b", "a/b", &"x".repeat(65)] {
            assert!(SuiteSlug::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
