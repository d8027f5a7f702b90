//! Slack in the service: routes, Socket Mode, and `baton slack …`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use axum::Router;
use baton_adapters::slack::manifest::{manifest, ManifestOptions};
use baton_adapters::slack::{self, SlackHandler};
use baton_commands::config::Config;
use baton_commands::Baton;
use baton_commands::Delivery;
use clap::Subcommand;
use tokio::sync::watch;

/// `POST /slack/commands` and `POST /slack/interactions`, when `[slack] signing_secret` is set.
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    let Some(secret) = &config.slack.signing_secret else {
        return Ok(Router::new());
    };
    if secret.expose().trim().is_empty() {
        bail!("BATON_SLACK__SIGNING_SECRET is set but empty; set it to the app's signing secret");
    }
    let handler = SlackHandler::new(baton.clone(), &config.slack);
    Ok(slack::routes(handler, secret))
}

/// Posts announcements and DMs with the bot token, when `[slack] bot_token` is set.
pub fn delivery(config: &Config) -> Option<Arc<dyn Delivery>> {
    let delivery = slack::SlackDelivery::from_config(&config.slack)?;
    Some(Arc::new(delivery))
}

/// Socket Mode, when `[slack] app_token` is set; it stops when `stop` turns true.
pub fn spawn_background(
    config: &Config,
    baton: &Baton,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let Some(token) = config.slack.app_token.clone() else {
        return Ok(());
    };
    if !token.expose().starts_with("xapp-") {
        bail!("BATON_SLACK__APP_TOKEN must be an app-level token (xapp-…) with connections:write");
    }
    let handler = SlackHandler::new(baton.clone(), &config.slack);
    let api_url = config.slack.api_url.clone();
    tokio::spawn(async move {
        let stopped = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        };
        slack::socket::run(handler, &token, &api_url, stopped).await;
    });
    Ok(())
}

/// `baton slack …`.
#[derive(Subcommand, Debug)]
pub enum SlackCmd {
    /// Print a Slack app manifest (JSON) to paste at https://api.slack.com/apps → Create New App →
    /// From an app manifest: the /baton command, interactivity and minimal bot scopes.
    Manifest {
        /// Baton's public https base URL; Slack calls URL/slack/commands and URL/slack/interactions.
        #[arg(long, required_unless_present = "socket_mode")]
        url: Option<String>,
        /// Use Socket Mode instead (no public URL; needs BATON_SLACK__APP_TOKEN).
        #[arg(long)]
        socket_mode: bool,
        /// The app's name in Slack.
        #[arg(long, default_value = "Baton")]
        name: String,
    },
}

/// Runs `baton slack …`.
pub async fn run(action: SlackCmd) -> anyhow::Result<ExitCode> {
    match action {
        SlackCmd::Manifest {
            url,
            socket_mode,
            name,
        } => {
            let options = ManifestOptions {
                url,
                socket_mode,
                name,
            };
            match manifest(&options) {
                Ok(m) => {
                    println!("{}", serde_json::to_string_pretty(&m)?);
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    eprintln!("baton slack manifest: {why}");
                    Ok(ExitCode::from(2))
                }
            }
        }
    }
}
