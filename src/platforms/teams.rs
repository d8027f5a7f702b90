//! Microsoft Teams in the service: `POST /teams/messages`, delivery, and `baton teams …`.

use std::sync::Arc;

use axum::Router;
use baton_commands::config::Config;
use baton_commands::{Baton, Delivery};

/// `POST /teams/messages`, when `[teams] app_id` is set.
pub fn routes(_config: &Config, _baton: &Baton) -> anyhow::Result<Router> {
    Ok(Router::new())
}

/// Posts announcements and DMs as the bot, when the app id and `BATON_TEAMS__APP_PASSWORD` are set.
pub fn delivery(_config: &Config, _baton: &Baton) -> Option<Arc<dyn Delivery>> {
    None
}
