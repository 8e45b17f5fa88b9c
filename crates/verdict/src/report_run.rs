//! `verdict report run ID -- COMMAND`: a ReSim report-metrics program run
//! the way ReSim's platform runs one (the spec's §2): it finds
//! report_config.json, reads the report through the ReSim API, writes
//! metrics.binproto; Verdict then validates that file and stores it as the
//! report's metrics. A failed program, no file or an invalid one changes
//! nothing stored.

use std::fs::File;
use std::path::{Path, PathBuf};
use verdict_analysis::resim::{self, Project};
use verdict_formats::resim_metrics::MAX_METRICS_BYTES;
use verdict_store::Store;

/// ReSim's fixed paths, where a program (or a metrics image) looks by default.
pub const RESIM_INPUTS: &str = "/tmp/resim/inputs";
pub const RESIM_OUTPUTS: &str = "/tmp/resim/outputs";
pub const CONFIG_FILE: &str = "report_config.json";
pub const OUTPUT_FILE: &str = "metrics.binproto";
const CONFIG_PLACEHOLDER: &str = "{config}";
const OUTPUT_PLACEHOLDER: &str = "{output}";

pub struct RunAsk {
    pub id: String,
    pub api_url: String,
    pub token: String,
    pub inputs_dir: Option<PathBuf>,
    pub outputs_dir: Option<PathBuf>,
    pub command: Vec<String>,
}

/// Why a run stored nothing: the arguments or store (exit 2), or the program and its output (exit 1).
pub enum RunError {
    Setup(String),
    Program(String),
}

/// Where the two files go, and what keeps them while the program runs.
struct Place {
    config: PathBuf,
    output: PathBuf,
    /// A private directory (placeholders used), removed when the run ends.
    _private: Option<tempfile::TempDir>,
    /// The lock on shared directories (ReSim's fixed paths), held to the end.
    _lock: Option<File>,
}

fn setup(e: impl std::fmt::Display) -> RunError {
    RunError::Setup(e.to_string())
}

fn place(ask: &RunAsk) -> Result<Place, RunError> {
    let named = ask.command.iter().any(|a| a.contains(CONFIG_PLACEHOLDER) || a.contains(OUTPUT_PLACEHOLDER));
    let private = match (named, &ask.inputs_dir, &ask.outputs_dir) {
        (true, None, None) => Some(tempfile::Builder::new().prefix("verdict-report-").tempdir().map_err(setup)?),
        _ => None,
    };
    let (inputs, outputs) = match &private {
        Some(dir) => (dir.path().join("inputs"), dir.path().join("outputs")),
        None => {
            (ask.inputs_dir.clone().unwrap_or_else(|| RESIM_INPUTS.into()), ask.outputs_dir.clone().unwrap_or_else(|| RESIM_OUTPUTS.into()))
        }
    };
    for dir in [&inputs, &outputs] {
        std::fs::create_dir_all(dir).map_err(|e| setup(format!("cannot make {}: {e}", dir.display())))?;
    }
    let lock = match private {
        Some(_) => None,
        None => Some(lock(&inputs)?),
    };
    Ok(Place { config: inputs.join(CONFIG_FILE), output: outputs.join(OUTPUT_FILE), _private: private, _lock: lock })
}

/// An exclusive lock beside the shared config, so two runs on one machine
/// take turns rather than read each other's files.
fn lock(inputs: &Path) -> Result<File, RunError> {
    let path = inputs.join(".verdict-report-run.lock");
    let file = File::create(&path).map_err(|e| setup(format!("cannot open {}: {e}", path.display())))?;
    if file.try_lock().is_err() {
        eprintln!("waiting for another `verdict report run` using {} to end", inputs.display());
        file.lock().map_err(|e| setup(format!("cannot lock {}: {e}", path.display())))?;
    }
    Ok(file)
}

/// The config holds a token: readable by this user only (`/tmp/resim` is shared).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?.write_all(bytes)
}

fn args(command: &[String], place: &Place) -> Vec<String> {
    command
        .iter()
        .map(|a| {
            a.replace(CONFIG_PLACEHOLDER, &place.config.to_string_lossy()).replace(OUTPUT_PLACEHOLDER, &place.output.to_string_lossy())
        })
        .collect()
}

/// The program's file, read whole within the cap.
fn read_output(path: &Path) -> Result<Vec<u8>, RunError> {
    use std::io::Read;
    let file = File::open(path).map_err(|_| {
        RunError::Program(format!(
            "the program wrote no {} (ReSim's default report program writes none when the report covers no batches); nothing stored",
            path.display()
        ))
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_METRICS_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RunError::Program(format!("cannot read {}: {e}", path.display())))?;
    Ok(bytes)
}

pub async fn run(store: &dyn Store, ask: RunAsk, now_ms: impl Fn() -> i64) -> Result<(), RunError> {
    let p = Project::of(store).await.map_err(setup)?;
    let report = resim::report(store, &p, &ask.id).await.map_err(setup)?;
    let place = place(&ask)?;
    // A file left by an earlier run must not pass for this one's.
    match std::fs::remove_file(&place.output) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(setup(format!("cannot remove the old {}: {e}", place.output.display()))),
    }
    let config = crate::report::config_json(&p, &report, &ask.api_url, &ask.token);
    write_private(&place.config, format!("{config:#}\n").as_bytes())
        .map_err(|e| setup(format!("cannot write {}: {e}", place.config.display())))?;
    let argv = args(&ask.command, &place);
    eprintln!("verdict report run: {} (config {}, output {})", argv.join(" "), place.config.display(), place.output.display());
    let status = tokio::process::Command::new(&argv[0]).args(&argv[1..]).status().await;
    // The config holds a token: it goes as soon as the program is done.
    let _ = std::fs::remove_file(&place.config);
    let status = status.map_err(|e| RunError::Program(format!("cannot start {:?}: {e}", argv[0])))?;
    if !status.success() {
        let how = status.code().map_or_else(|| "was killed by a signal".to_owned(), |c| format!("exited with status {c}"));
        return Err(RunError::Program(format!("the program {how}; nothing stored")));
    }
    let bytes = read_output(&place.output)?;
    let shown = resim::store_program_metrics(store, &p, &report, bytes, now_ms()).await.map_err(|e| match e {
        verdict_analysis::AnalysisError::Invalid(m) => RunError::Program(format!("{m}; nothing stored")),
        e => setup(e),
    })?;
    println!("stored {} metrics for report {} ({}), status {}", shown.metrics.len(), report.id, report.name, shown.status);
    for m in &shown.metrics {
        println!("  {:<40} {}", m.name, m.metric_type);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_private_to_its_user() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE);
        std::fs::write(&path, "left by another run").unwrap();
        write_private(&path, b"{}").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}");
    }

    #[test]
    fn placeholders_become_the_chosen_paths() {
        let place = Place { config: "/a/c.json".into(), output: "/b/m.bin".into(), _private: None, _lock: None };
        let cmd = ["prog", "--report-config", "{config}", "--out={output}", "plain"].map(String::from);
        assert_eq!(args(&cmd, &place), ["prog", "--report-config", "/a/c.json", "--out=/b/m.bin", "plain"]);
    }
}
