//! The config file layer: `--config FILE` (or `VERDICT_CONFIG`), TOML whose
//! keys are the long flags of `verdict serve` and of the store
//! (`data-dir`, `database-url`), written with `-` or `_`. Precedence: flags
//! > environment > file > defaults. It is done before the flags are parsed,
//! by giving each key's environment variable the file's value when the
//! environment does not set it, so clap then applies the usual order and
//! every value is checked by the same parser as a flag's.

use crate::cli::Cli;
use clap::CommandFactory;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// One key of a config file, with the variable it sets and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub flag: String,
    pub env: String,
    pub value: String,
    pub line: usize,
}

/// The keys a file may set: `(long flag, its environment variable)`, from
/// the CLI's own definition (the store's global flags and `serve`'s).
pub fn settable() -> Vec<(String, String)> {
    let cli = Cli::command();
    let serve = cli.find_subcommand("serve").expect("a serve command").clone();
    cli.get_arguments()
        .chain(serve.get_arguments())
        .filter(|a| a.get_id() != "config")
        .filter_map(|a| Some((a.get_long()?.to_owned(), a.get_env()?.to_str()?.to_owned())))
        .collect()
}

/// The config file named by `--config FILE`, `--config=FILE` or `VERDICT_CONFIG`.
pub fn path_from(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os("VERDICT_CONFIG").filter(|v| !v.is_empty()).map(PathBuf::from)
}

fn line_of(text: &str, key: &str) -> usize {
    text.lines().position(|l| l.trim_start().strip_prefix(key).is_some_and(|rest| rest.trim_start().starts_with('='))).map_or(1, |i| i + 1)
}

/// The settings of a file, or why it cannot be read: `FILE:LINE: what`.
pub fn load(path: &Path) -> Result<Vec<Setting>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map_or(1, |s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        format!("{name}:{line}: {}", e.message())
    })?;
    let known = settable();
    let mut out = Vec::new();
    for (key, value) in &table {
        let line = line_of(&text, key);
        let flag = key.replace('_', "-");
        let Some((_, env)) = known.iter().find(|(f, _)| *f == flag) else {
            let names: Vec<&str> = known.iter().map(|(f, _)| f.as_str()).collect();
            return Err(format!("{name}:{line}: unknown key {key:?}; a config file sets {}", names.join(", ")));
        };
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => return Err(format!("{name}:{line}: {key}: a string or a number, not {}", other.type_str())),
        };
        out.push(Setting { flag, env: env.clone(), value, line });
    }
    Ok(out)
}

/// Give each setting's variable the file's value where the environment has none.
///
/// # Safety
/// Changes the process environment: call before any thread starts.
pub unsafe fn apply(settings: &[Setting]) {
    for s in settings {
        if std::env::var_os(&s.env).is_none() {
            unsafe { std::env::set_var(&s.env, &s.value) };
        }
    }
}

/// `verdict config check FILE`: every key known and every value one its
/// flag takes, each refusal naming the line.
pub fn check(path: &Path) -> Result<usize, String> {
    let settings = load(path)?;
    for s in &settings {
        // The value as its flag would be given, parsed by the CLI's own parser.
        let argv = if matches!(s.flag.as_str(), "data-dir" | "database-url") {
            vec!["verdict".to_owned(), format!("--{}", s.flag), s.value.clone(), "serve".into()]
        } else {
            vec!["verdict".to_owned(), "serve".into(), format!("--{}", s.flag), s.value.clone()]
        };
        if let Err(e) = <Cli as clap::Parser>::try_parse_from(&argv) {
            let why = e.to_string();
            let why = why.lines().next().unwrap_or_default().trim_start_matches("error: ").to_owned();
            return Err(format!("{}:{}: {}: {why}", path.display(), s.line, s.flag));
        }
    }
    Ok(settings.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn keys_are_the_flags_and_refusals_name_the_line() {
        let f = file("# Verdict\nlisten = \"0.0.0.0:9000\"\nmax_body_bytes = 1048576\ndata-dir = \"/srv/verdict\"\n");
        let s = load(f.path()).unwrap();
        let got: Vec<(&str, &str, &str, usize)> = s.iter().map(|s| (s.flag.as_str(), s.env.as_str(), s.value.as_str(), s.line)).collect();
        assert!(got.contains(&("listen", "VERDICT_LISTEN", "0.0.0.0:9000", 2)), "{got:?}");
        assert!(got.contains(&("max-body-bytes", "VERDICT_MAX_BODY_BYTES", "1048576", 3)));
        assert!(got.contains(&("data-dir", "VERDICT_DATA_DIR", "/srv/verdict", 4)));
        assert_eq!(check(f.path()), Ok(3));
        let bad = file("listen = \"127.0.0.1:8080\"\nlisten_port = 1\n");
        let e = load(bad.path()).unwrap_err();
        assert!(e.contains(":2: unknown key \"listen_port\"") && e.contains("max-body-bytes"), "{e}");
        let bad = file("\n\nmax-connections = \"many\"\n");
        let e = check(bad.path()).unwrap_err();
        assert!(e.contains(":3: max-connections: invalid value 'many'"), "{e}");
        let bad = file("listen = [1]\n");
        assert!(load(bad.path()).unwrap_err().contains(":1: listen: a string or a number, not array"));
        let bad = file("listen = \n");
        assert!(load(bad.path()).unwrap_err().contains(":1: "));
    }

    #[test]
    fn the_path_comes_from_the_flag_before_any_double_dash() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(path_from(&args(&["verdict", "--config", "a.toml", "serve"])), Some("a.toml".into()));
        assert_eq!(path_from(&args(&["verdict", "serve", "--config=b.toml"])), Some("b.toml".into()));
        let none = path_from(&args(&["verdict", "report", "run", "X", "--", "prog", "--config", "c"]));
        assert_eq!(none, std::env::var_os("VERDICT_CONFIG").map(PathBuf::from));
    }
}
