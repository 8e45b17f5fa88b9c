//! A suite's link templates: how a page turns a commit, or a file and line,
//! into a link to the code host (`https://github.com/o/r/commit/{commit}`,
//! `https://github.com/o/r/blob/{commit}/{file}#L{line}`).

/// The longest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 2048;

/// Check a template before it is stored: empty (clears it), or an http(s)
/// URL holding `required` (`{commit}` or `{file}`) and no other braces than
/// `{commit}`, `{file}` and `{line}`.
pub fn check_template(value: &str, required: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("at most {MAX_TEMPLATE_BYTES} bytes"));
    }
    let lower = value.to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err("must start with https:// or http://".into());
    }
    if !value.contains(required) {
        return Err(format!("must contain {required}"));
    }
    let stripped = value.replace("{commit}", "").replace("{file}", "").replace("{line}", "");
    if stripped.contains(['{', '}']) {
        return Err("the only placeholders are {commit}, {file} and {line}".into());
    }
    if value.chars().any(char::is_control) {
        return Err("no control characters".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_http_with_their_placeholder() {
        assert!(check_template("https://github.com/o/r/commit/{commit}", "{commit}").is_ok());
        assert!(check_template("https://github.com/o/r/blob/{commit}/{file}#L{line}", "{file}").is_ok());
        assert!(check_template("", "{commit}").is_ok(), "empty clears");
        assert!(check_template("javascript:alert('{commit}')", "{commit}").is_err());
        assert!(check_template("https://x/commit/", "{commit}").is_err());
        assert!(check_template("https://x/{commit}/{branch}", "{commit}").is_err());
        assert!(check_template("https://x/{commit}\n", "{commit}").is_err());
    }
}
