//! Slack in the service: routes, Socket Mode, and `baton slack …`.

use axum::Router;
use baton_commands::config::Config;
use baton_commands::Baton;
use clap::Subcommand;
use tokio::sync::watch;

/// Slack's HTTP routes, when Slack is configured.
pub fn routes(_config: &Config, _baton: &Baton) -> anyhow::Result<Router> {
    Ok(Router::new())
}

/// Socket Mode, when `[slack] app_token` is set.
pub fn spawn_background(
    _config: &Config,
    _baton: &Baton,
    _stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    Ok(())
}

/// `baton slack …`.
#[derive(Subcommand, Debug)]
pub enum SlackCmd {}

/// Runs `baton slack …`.
pub async fn run(action: SlackCmd) -> anyhow::Result<std::process::ExitCode> {
    match action {}
}
