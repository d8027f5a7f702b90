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
    let terminal = std::io::stderr().is_terminal();
    // A service writing to a file, a pipe or journald gathers its lines (see `logs`); a person at
    // a terminal, and every short-lived command, gets each line as it happens.
    let batched = (!terminal && matches!(cli.command, baton::cli::Cmd::Serve { .. }))
        .then(baton::logs::Batched::stderr);
    let writer = baton::logs::Stderr(batched.clone());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colour only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(terminal);
    if cli.log_format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    if let Some(batched) = batched.clone() {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            batched.flush();
            report(info);
        }));
    }
    let outcome = baton::cli::run(cli).await;
    if let Some(batched) = batched {
        batched.flush();
    }
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("baton: {e:#}");
            ExitCode::from(2)
        }
    }
}
