//! Mattermost in the service: `POST /mattermost/commands`, `POST /mattermost/actions`, delivery.

use std::sync::Arc;

use axum::Router;
use baton_adapters::mattermost::{self, MattermostDelivery, MattermostState};
use baton_commands::config::Config;
use baton_commands::{Baton, Delivery};

/// The slash command route, when `BATON_MATTERMOST__COMMAND_TOKENS` is set, and the button
/// route, when `[mattermost] public_url` and a signing key are.
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    let state = MattermostState::new(baton.clone(), &config.mattermost);
    Ok(mattermost::routes(state, &config.mattermost))
}

/// Posts announcements and DMs as the bot, when `[mattermost] url` and
/// `BATON_MATTERMOST__BOT_TOKEN` are set.
pub fn delivery(config: &Config, baton: &Baton) -> Option<Arc<dyn Delivery>> {
    let delivery = MattermostDelivery::from_config(&config.mattermost, baton)?;
    Some(Arc::new(delivery))
}
