//! The `baton` binary's library: the CLI, configuration loading, the HTTP app and the long-running
//! tasks, exposed so that end-to-end tests start exactly what `baton serve` and `baton dev` run.
//!
//! - [`cli`]: clap definitions and the dispatch of each subcommand.
//! - [`bench`]: `baton bench`, the load generator behind the README's figures.
//! - [`app`]: the axum router, `/healthz` and `/readyz`, and the service loop with its sweeper.
//! - [`platforms`]: Slack and Discord wired into the service (routes, background tasks, CLI).
//! - [`dev`]: `baton dev`, a zero-config local run with demo data.
//! - [`ci_client`]: `baton ci`, the CI client of the HTTP API.
//! - [`console`]: the interactive console and `baton exec`.
//! - [`redis_process`]: a throwaway `redis-server` for `dev` and for tests.
//! - [`serve`]: the HTTP server loop with header-read timeout, connection cap and per-address share.
//! - [`budget`]: slots per client address and in all, for connections and event streams.
//! - [`edge`]: JSON bodies for every error answer, URL and header size limits, the body deadline.
//! - [`logs`]: `baton serve`'s log lines, written in batches rather than one call per line.
//! - [`status_page`]: `GET /`, the live status page, and its public read-only feeds.

pub mod app;
pub mod bench;
pub mod budget;
pub mod ci_client;
pub mod cli;
pub mod config_args;
pub mod console;
pub mod dev;
pub mod edge;
pub mod logs;
pub mod platforms;
pub mod redis_process;
pub mod serve;
pub mod status_page;
