//! Discord in the service: routes, the gateway, and `baton discord …`.

use axum::Router;
use baton_commands::config::Config;
use baton_commands::Baton;
use clap::Subcommand;
use tokio::sync::watch;

/// Discord's HTTP routes, when Discord is configured.
pub fn routes(_config: &Config, _baton: &Baton) -> anyhow::Result<Router> {
    Ok(Router::new())
}

/// The gateway, when `[discord] mode = "gateway"`.
pub fn spawn_background(
    _config: &Config,
    _baton: &Baton,
    _stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    Ok(())
}

/// `baton discord …`.
#[derive(Subcommand, Debug)]
pub enum DiscordCmd {}

/// Runs `baton discord …`.
pub async fn run(action: DiscordCmd) -> anyhow::Result<std::process::ExitCode> {
    match action {}
}
