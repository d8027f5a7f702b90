//! Microsoft Teams in the service: `POST /teams/messages`, delivery, and `baton teams …`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use axum::Router;
use baton_adapters::teams::delivery::TeamsDelivery;
use baton_adapters::teams::manifest::{manifest, ManifestOptions};
use baton_adapters::teams::{self, TeamsState};
use baton_commands::config::Config;
use baton_commands::{Baton, Delivery};
use clap::Subcommand;

/// `POST /teams/messages`, when `[teams] app_id` is set (it needs the client secret too: every
/// answer is posted through the Connector with the bot's token).
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    if config.teams.app_id.is_none() {
        return Ok(Router::new());
    }
    let Some(state) = TeamsState::from_config(baton.clone(), &config.teams) else {
        bail!("[teams] app_id is set but BATON_TEAMS__APP_PASSWORD is not: set it to the bot's client secret");
    };
    Ok(teams::routes(state))
}

/// Posts announcements and DMs as the bot, when the app id and `BATON_TEAMS__APP_PASSWORD` are set.
pub fn delivery(config: &Config, baton: &Baton) -> Option<Arc<dyn Delivery>> {
    let delivery = TeamsDelivery::from_config(baton.clone(), &config.teams)?;
    Some(Arc::new(delivery))
}

/// `baton teams …`.
#[derive(Subcommand, Debug)]
pub enum TeamsCmd {
    /// Print a Teams app manifest (manifest.json, schema v1.17): zip it with color.png (192×192)
    /// and outline.png (32×32) and upload it in Teams (Apps → Manage your apps → Upload an app).
    Manifest {
        /// The bot's Microsoft App ID (Azure Bot → Configuration), also the app's id.
        #[arg(long)]
        app_id: String,
        /// Baton's public https base URL (the developer links and valid domain).
        #[arg(long)]
        url: String,
        /// The app's name in Teams.
        #[arg(long, default_value = "Baton")]
        name: String,
        /// Who publishes the app.
        #[arg(long, default_value = "Platform team")]
        developer: String,
    },
}

/// Runs `baton teams …`.
pub async fn run(action: TeamsCmd) -> anyhow::Result<ExitCode> {
    match action {
        TeamsCmd::Manifest {
            app_id,
            url,
            name,
            developer,
        } => {
            let options = ManifestOptions {
                app_id,
                url,
                name,
                developer,
            };
            match manifest(&options) {
                Ok(m) => {
                    println!("{}", serde_json::to_string_pretty(&m)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("baton teams manifest: {why}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
