//! `verdict`: the server and the CLI in one binary.

mod aggregate;
mod backup;
mod ci;
mod cli;
mod compare;
mod config;
mod failures;
mod flaky;
mod historical;
mod owners;
mod plan;
mod quarantine;
mod report;
mod report_run;
mod run;
mod serve;
mod stats;
mod suite;
mod summary;
mod upload;
mod webhook;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // The config file's settings become the defaults the flags and the environment override.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(path) = config::path_from(&args) {
        match config::load(&path) {
            // Safety: no other thread runs yet.
            Ok(settings) => unsafe { config::apply(&settings) },
            Err(e) => {
                eprintln!("verdict: config file {e}");
                return ExitCode::from(2);
            }
        }
    }
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Serve(_)) {
        // A reader that goes away (`verdict report show … | head`) ends a
        // command quietly, as it does any Unix tool, instead of a panic in
        // `println!`. Sockets are not affected: Rust writes them with
        // MSG_NOSIGNAL. The server keeps ignoring SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    match cli.command {
        cli::Command::Upload(args) => upload::run(args),
        cli::Command::Serve(args) => runtime().block_on(serve::run(cli.store, args)),
        cli::Command::Suite(cmd) => runtime().block_on(suite::run(cli.store, cmd)),
        cli::Command::Stats(cmd) => stats::run(cmd),
        cli::Command::Aggregate(args) => aggregate::run(cli.store, args),
        cli::Command::Compare(args) => runtime().block_on(compare::run(cli.store, args)),
        cli::Command::Flaky(args) => runtime().block_on(flaky::run(cli.store, args)),
        cli::Command::Failures(args) => runtime().block_on(failures::run(cli.store, args)),
        cli::Command::AnalyzeHistoricalData(args) => historical::run(cli.store, args),
        cli::Command::Test(cmd) => runtime().block_on(quarantine::run(cli.store, cmd)),
        cli::Command::Run(args) => run::run(args),
        cli::Command::Plan(args) => plan::run(args),
        cli::Command::Webhook(cmd) => runtime().block_on(webhook::run(cli.store, cmd)),
        cli::Command::Summary(args) => summary::run(args),
        cli::Command::Owners(cmd) => runtime().block_on(owners::run(cli.store, cmd)),
        cli::Command::Report(cmd) => runtime().block_on(report::run(cli.store, cmd)),
        cli::Command::Backup(args) => backup::run(cli.store, args),
        cli::Command::Config(cli::ConfigCommand::Check { file }) => match config::check(&file) {
            Ok(n) => {
                println!("{}: ok, {n} settings", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("verdict config check: {e}");
                ExitCode::from(2)
            }
        },
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("start the async runtime")
}

/// Print an error the way every command does and pick the exit code.
pub(crate) fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("verdict: {message}");
    ExitCode::FAILURE
}

/// Now, in Unix milliseconds: what the store's time arguments take.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
