//! Owners files: Buildkite's TESTOWNERS and GitHub's CODEOWNERS syntax.
//!
//! Each line is `<pattern> <owner>…`; `#` starts a comment (at the start of
//! a line or after a space). Patterns follow `.gitignore` as CODEOWNERS does:
//! `*` and `?` stay inside one path segment, `**` crosses them, a leading or
//! middle `/` anchors the pattern at the root (otherwise it matches at any
//! depth), a trailing `/` means a directory and all below it, and a pattern
//! also matches everything below a directory it names — except one ending in
//! `/*`, which takes the directory's direct children only. `!` negation,
//! `[ ]` ranges and `\` escapes do not work in CODEOWNERS: such lines are
//! refused, not guessed at. The last matching line wins; a line without
//! owners is ignored (Buildkite's rule: it does not unassign). Owners are
//! kept as written (`payments`, `@org/team`, `a@b.example`).

use regex::{RegexSet, RegexSetBuilder};

/// An owners file holds at most this many bytes, lines with owners and owners on a line.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;
pub const MAX_RULES: usize = 5000;
pub const MAX_OWNERS_PER_LINE: usize = 50;
/// An owner or a pattern is at most this many characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What was wrong with one line (1-based), reported with the upload; the line is left out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LineProblem {
    pub line: usize,
    pub text: String,
    pub problem: String,
}

/// A parsed owners file: its rules in file order, and the lines left out.
#[derive(Debug, Clone)]
pub struct OwnersFile {
    rules: Vec<Rule>,
    set: RegexSet,
    pub problems: Vec<LineProblem>,
}

#[derive(Debug, Clone)]
struct Rule {
    owners: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnersError {
    #[error("the owners file is {0} bytes; at most {MAX_FILE_BYTES} are allowed")]
    TooBig(usize),
    #[error("the owners file has more than {MAX_RULES} lines with owners")]
    TooManyRules,
    #[error("the owners file's patterns are too many or too long to match together")]
    TooComplex,
    #[error("the owners file is not UTF-8 (line {0})")]
    NotUtf8(usize),
}

impl OwnersFile {
    /// Parse a file; lines that cannot be used are in `problems`.
    pub fn parse(bytes: &[u8]) -> Result<OwnersFile, OwnersError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(OwnersError::TooBig(bytes.len()));
        }
        let text = std::str::from_utf8(bytes)
            .map_err(|e| OwnersError::NotUtf8(1 + bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count()))?;
        let (mut rules, mut patterns, mut problems) = (Vec::new(), Vec::new(), Vec::new());
        for (i, raw) in text.lines().enumerate() {
            let mut problem =
                |p: String| problems.push(LineProblem { line: i + 1, text: raw.chars().take(MAX_NAME_CHARS).collect(), problem: p });
            let words: Vec<&str> = strip_comment(raw).split_whitespace().collect();
            let Some((pattern, owners)) = words.split_first() else { continue };
            if owners.is_empty() {
                problem("no owners: the line is ignored".into());
                continue;
            }
            if owners.len() > MAX_OWNERS_PER_LINE {
                problem(format!("more than {MAX_OWNERS_PER_LINE} owners"));
                continue;
            }
            if let Some(o) = owners.iter().find(|o| o.chars().count() > MAX_NAME_CHARS) {
                problem(format!("the owner {:?}… is longer than {MAX_NAME_CHARS} characters", o.chars().take(20).collect::<String>()));
                continue;
            }
            match pattern_regex(pattern) {
                Ok(re) => {
                    if rules.len() == MAX_RULES {
                        return Err(OwnersError::TooManyRules);
                    }
                    patterns.push(re);
                    rules.push(Rule { owners: owners.iter().map(|o| o.to_string()).collect() });
                }
                Err(p) => problem(p),
            }
        }
        // Each pattern is a few literal runs and `[^/]*`; 5,000 of 200 characters fit the limit.
        let set = RegexSetBuilder::new(&patterns).size_limit(64 << 20).build().map_err(|_| OwnersError::TooComplex)?;
        Ok(OwnersFile { rules, set, problems })
    }

    /// Lines with owners.
    pub fn rules(&self) -> usize {
        self.rules.len()
    }

    /// Every owner of `paths`, each once, in the order they first appear.
    pub fn owners_of_all<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for path in paths {
            for o in self.owners_of(path) {
                if !out.contains(o) {
                    out.push(o.clone());
                }
            }
        }
        out
    }

    /// The owners of `path` (first = primary): the last matching line's; none when no line matches.
    pub fn owners_of(&self, path: &str) -> &[String] {
        let path = normalise(path);
        match self.set.matches(path).iter().next_back() {
            Some(i) => &self.rules[i].owners,
            None => &[],
        }
    }
}

/// The path a test is owned by: its file, else its location without `:line`, `./` and `/` stripped.
pub fn test_path<'a>(file_name: Option<&'a str>, location: Option<&'a str>) -> Option<&'a str> {
    let path = match (file_name.filter(|f| !f.is_empty()), location.filter(|l| !l.is_empty())) {
        (Some(f), _) => f,
        (None, Some(l)) => match l.rsplit_once(':') {
            Some((p, line)) if !line.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) => p,
            _ => l,
        },
        (None, None) => return None,
    };
    Some(normalise(path))
}

fn normalise(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p.trim_start_matches('/')
}

/// A `#` at the line's start or after whitespace starts a comment.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// The anchored regex for one pattern, or why it cannot be used.
fn pattern_regex(pattern: &str) -> Result<String, String> {
    if pattern.chars().count() > MAX_NAME_CHARS {
        return Err(format!("the pattern is longer than {MAX_NAME_CHARS} characters"));
    }
    if pattern.starts_with('!') {
        return Err("`!` negation does not work in owners files".into());
    }
    if let Some(c) = pattern.chars().find(|c| matches!(c, '[' | ']' | '\\')) {
        return Err(format!("`{c}` (ranges and escapes) does not work in owners files"));
    }
    let directory = pattern.ends_with('/');
    let body = pattern.trim_end_matches('/');
    if body.is_empty() {
        return Err("the pattern names no path".into());
    }
    let anchored = body.contains('/');
    let body = body.trim_start_matches('/');
    let mut re = String::from(if anchored { "^" } else { "^(?:.*/)?" });
    let segments: Vec<&str> = body.split('/').collect();
    for (i, seg) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if *seg == "**" {
            // `a/**/b`: zero or more directories; a final `**`: everything below.
            re.push_str(if last { ".*" } else { "(?:[^/]*/)*" });
            continue;
        }
        for c in seg.chars() {
            match c {
                '*' => re.push_str("[^/]*"),
                '?' => re.push_str("[^/]"),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        if !last {
            re.push('/');
        }
    }
    let direct_children = segments.last() == Some(&"*") && segments.len() > 1;
    re.push_str(match (directory, direct_children) {
        (true, _) => "/.*$",
        (false, true) => "$",
        (false, false) => "(?:/.*)?$",
    });
    Ok(re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> OwnersFile {
        OwnersFile::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn the_specs_vector_last_match_wins_and_ownerless_lines_are_ignored() {
        let f = file("* @all\n*.rb @ruby\n/spec/payments/ payments billing\nspec/payments/legacy_spec.rb\n");
        assert_eq!(f.owners_of("spec/payments/x_spec.rb"), ["payments", "billing"]);
        assert_eq!(f.owners_of("spec/payments/legacy_spec.rb"), ["payments", "billing"]);
        assert_eq!(f.owners_of("lib/a.rb"), ["@ruby"]);
        assert_eq!(f.owners_of("README.md"), ["@all"]);
        assert_eq!(f.rules(), 3);
        assert_eq!(f.problems.len(), 1);
        assert_eq!((f.problems[0].line, f.problems[0].problem.as_str()), (4, "no owners: the line is ignored"));
    }

    #[test]
    fn gitignore_patterns_as_codeowners_reads_them() {
        let f = file(
            "# a comment\n\
             docs/* @docs-direct  # only direct children\n\
             /build/logs/ @logs\n\
             apps/ @apps\n\
             **/test-engine @te\n\
             spec/**/fixtures @fixtures\n\
             *_spec.rb @specs\n\
             /Makefile @make\n",
        );
        assert_eq!(f.owners_of("docs/getting-started.md"), ["@docs-direct"]);
        assert!(f.owners_of("docs/build-app/troubleshooting.md").is_empty(), "`docs/*` takes direct children only");
        assert_eq!(f.owners_of("build/logs/a/b.log"), ["@logs"]);
        assert!(f.owners_of("x/build/logs/a.log").is_empty(), "a leading `/` anchors at the root");
        assert_eq!(f.owners_of("deep/in/apps/x.js"), ["@apps"], "a directory pattern without `/` inside matches at any depth");
        assert_eq!(f.owners_of("a/b/test-engine/x.rb"), ["@te"]);
        assert_eq!(f.owners_of("test-engine/x.rb"), ["@te"]);
        assert_eq!(f.owners_of("spec/fixtures/a.yml"), ["@fixtures"]);
        assert_eq!(f.owners_of("spec/a/b/fixtures/a.yml"), ["@fixtures"]);
        assert_eq!(f.owners_of("spec/models/user_spec.rb"), ["@specs"]);
        assert_eq!(f.owners_of("./Makefile"), ["@make"], "`./` is stripped");
        assert!(f.owners_of("sub/Makefile").is_empty());
        assert!(f.owners_of("makefile").is_empty(), "paths are case-sensitive");
        assert!(f.problems.is_empty(), "{:?}", f.problems);
    }

    #[test]
    fn unusable_lines_are_reported_with_their_numbers() {
        let f = file("!spec/x @a\nspec/[ab].rb @b\nspec/\\#x @c\n/ @d\n# fine\n\nok.rb @e\n");
        let lines: Vec<usize> = f.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        assert_eq!(f.owners_of("ok.rb"), ["@e"]);
        assert!(f.owners_of("spec/x").is_empty());
        // A `#` inside a word is not a comment.
        assert_eq!(file("c#/x.cs @dotnet").owners_of("c#/x.cs"), ["@dotnet"]);
    }

    #[test]
    fn limits_are_enforced() {
        assert!(matches!(OwnersFile::parse(&vec![b'a'; MAX_FILE_BYTES + 1]), Err(OwnersError::TooBig(_))));
        let many: String = (0..=MAX_RULES).map(|i| format!("f{i} @o\n")).collect();
        assert_eq!(OwnersFile::parse(many.as_bytes()).unwrap_err(), OwnersError::TooManyRules);
        // The most a file may hold, each pattern long and wild, still compiles.
        let most: String = (0..MAX_RULES).map(|i| format!("/src/**/mod{i}/*_{}*.rb @o{i}\n", "x".repeat(150))).collect();
        let f = OwnersFile::parse(most.as_bytes()).unwrap();
        assert_eq!(f.rules(), MAX_RULES);
        assert_eq!(f.owners_of(&format!("src/a/b/mod7/z_{}q.rb", "x".repeat(150))), ["@o7"]);
        assert_eq!(OwnersFile::parse(b"ok @a\n\xff @b\n").unwrap_err(), OwnersError::NotUtf8(2));
        let wide = format!("x {}", (0..=MAX_OWNERS_PER_LINE).map(|i| format!("@o{i}")).collect::<Vec<_>>().join(" "));
        assert_eq!(file(&wide).rules(), 0);
    }

    #[test]
    fn a_tests_path_is_its_file_else_its_location_without_the_line() {
        assert_eq!(test_path(Some("./spec/a_spec.rb"), Some("./spec/b_spec.rb:3")), Some("spec/a_spec.rb"));
        assert_eq!(test_path(None, Some("./spec/b_spec.rb:3")), Some("spec/b_spec.rb"));
        assert_eq!(test_path(Some(""), Some("tests/test_x.py")), Some("tests/test_x.py"));
        assert_eq!(test_path(None, Some("C:/x.rb:12")), Some("C:/x.rb"));
        assert_eq!(test_path(None, None), None);
    }
}
