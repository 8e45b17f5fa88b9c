use crate::cli::{ServeArgs, StoreArgs};
use crate::fail;
use std::process::ExitCode;
use verdict_server::{AppState, ServerConfig};

pub async fn run(store_args: StoreArgs, args: ServeArgs) -> ExitCode {
    init_logging(&args.log_format);
    let store = match verdict_store::open(store_args.database_url.as_deref(), &store_args.data_dir).await {
        Ok(s) => s,
        Err(e) => return fail(format!("cannot open the database: {e}")),
    };
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on {}: {e}", args.listen)),
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| args.listen.to_string());
    let max_connections = connection_cap(args.max_connections);
    let config = ServerConfig {
        public_url: args.public_url.unwrap_or_else(|| format!("http://{addr}")),
        read_token: args.read_token,
        max_body_bytes: args.max_body_bytes,
        max_decompressed_bytes: args.max_decompressed_bytes,
        body_timeout: std::time::Duration::from_secs(args.body_timeout_secs),
        pytest_monitor_suite: args.pytest_monitor_suite,
        max_connections,
        max_parse_memory: args.max_parse_memory,
        retention_days: args.retention_days,
        ..ServerConfig::default()
    };
    let where_ = match &store_args.database_url {
        Some(_) => "PostgreSQL".to_owned(),
        None => format!("SQLite in {}", store_args.data_dir.display()),
    };
    tracing::info!(%addr, store = %where_, "verdict serve listening");
    let state = AppState::new(store, config);
    match verdict_server::serve(listener, state, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped after finishing requests in flight");
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("server error: {e}")),
    }
}

/// File descriptors kept back from connections: the database (SQLite's
/// files and WAL, PostgreSQL's pool), the listener, logs.
const RESERVED_FDS: u64 = 256;

/// Raise the open-files limit to its hard maximum, then cap connections so
/// that they can never take the descriptors the database needs.
fn connection_cap(wanted: usize) -> usize {
    let limit = raise_nofile_limit();
    let allowed = limit.saturating_sub(RESERVED_FDS).max(16) as usize;
    if wanted > allowed {
        tracing::warn!(wanted, allowed, open_files_limit = limit, "--max-connections lowered to fit the open-files limit");
        return allowed;
    }
    wanted.max(1)
}

/// The soft RLIMIT_NOFILE after raising it to the hard limit.
fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    // rlim_t is u64 on Linux but not everywhere.
    #[allow(clippy::unnecessary_cast)]
    let soft = lim.rlim_cur as u64;
    soft
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VERDICT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
