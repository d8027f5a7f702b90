//! `baton`: parse the command line, set up logging, run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc: the request path makes many small, short-lived allocations (README, Performance).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = baton::cli::Cli::parse();
    // The console shares the terminal with logs: keep them to warnings unless RUST_LOG says more.
    let quiet = matches!(
        cli.command,
        baton::cli::Cmd::Dev { .. }
            | baton::cli::Cmd::Console { .. }
            | baton::cli::Cmd::Exec { .. }
    );
    let default = if quiet { "warn" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::stderr().is_terminal());
    if cli.log_format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    match baton::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton: {e:#}");
            ExitCode::from(2)
        }
    }
}
