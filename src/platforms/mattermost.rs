//! Mattermost in the service: `POST /mattermost/commands`, `POST /mattermost/actions`, delivery.

use std::sync::Arc;

use axum::Router;
use baton_commands::config::Config;
use baton_commands::{Baton, Delivery};

/// The slash command and button routes, when Mattermost is configured.
pub fn routes(_config: &Config, _baton: &Baton) -> anyhow::Result<Router> {
    Ok(Router::new())
}

/// Posts announcements and DMs as the bot, when `BATON_MATTERMOST__BOT_TOKEN` is set.
pub fn delivery(_config: &Config, _baton: &Baton) -> Option<Arc<dyn Delivery>> {
    None
}
