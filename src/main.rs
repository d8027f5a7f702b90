//! `baton`: parse the command line, set up logging, run.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// jemalloc: the request path makes many small, short-lived allocations (README, Performance).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, compiled in (`_RJEM_MALLOC_CONF` in the environment still overrides
/// them): memory freed after a burst (a thousand waiting requests answered at once) goes back to
/// the system within a second, purged by jemalloc's own background thread rather than on the
/// request path. By default it would stay in the RSS for ten seconds or more (README, Performance).
#[cfg(feature = "jemalloc")]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: &u8 = &MALLOC_CONF_TEXT[0];
#[cfg(feature = "jemalloc")]
const MALLOC_CONF_TEXT: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

/// One worker thread unless `TOKIO_WORKER_THREADS` asks for more. Baton waits on Redis and on
/// the network, and scales out by instances (all shared state is in Redis): one thread serves
/// about 20,000 requests a second, and on this project's 2-core machine it took 8–20% less CPU
/// per request than two, which spent it handing work between threads (README, Performance).
fn main() -> ExitCode {
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.enable_all();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        runtime.worker_threads(1);
    }
    match runtime.build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("baton: cannot start the async runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> ExitCode {
    // Before any configuration is read: its checks know the chat platforms from here.
    baton_adapters::register_platforms();
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(baton::logs::Stderr(batched.clone()))
        // Colour only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(terminal);
    if cli.log_format == "json" {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    if let Some(batched) = &batched {
        batched.flush_on_panic();
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
