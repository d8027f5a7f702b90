//! Chat platforms wired into the service: each contributes HTTP routes, background tasks (Slack
//! Socket Mode, the Discord gateway) and CLI subcommands. The logic lives in `baton-adapters`.

pub mod discord;
pub mod github;
pub mod mattermost;
pub mod slack;
pub mod teams;

use std::sync::Arc;

use axum::Router;
use baton_commands::config::Config;
use baton_commands::Baton;
use baton_commands::Delivery;
use tokio::sync::watch;

/// The routes of every configured platform.
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    Ok(Router::new()
        .merge(slack::routes(config, baton)?)
        .merge(discord::routes(config, baton)?)
        .merge(github::routes(config, baton)?)
        .merge(teams::routes(config, baton)?)
        .merge(mattermost::routes(config, baton)?))
}

/// Starts every configured platform's background task; each stops when `stop` turns true.
pub fn spawn_background(
    config: &Config,
    baton: &Baton,
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<()> {
    slack::spawn_background(config, baton, stop.clone())?;
    discord::spawn_background(config, baton, stop.clone())?;
    github::spawn_background(config, baton, stop.clone())?;
    Ok(())
}

/// Outbound messages (announcements, reminders, hand-off notices) of every platform that has a
/// bot token; empty when none has, and then no notifier runs.
pub fn deliveries(config: &Config, baton: &Baton) -> Vec<Arc<dyn Delivery>> {
    [
        slack::delivery(config),
        discord::delivery(config),
        teams::delivery(config, baton),
        mattermost::delivery(config, baton),
    ]
    .into_iter()
    .flatten()
    .collect()
}
