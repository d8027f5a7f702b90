//! Discord in the service: routes, the gateway, and `baton discord …`.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use axum::Router;
use baton_adapters::discord::delivery::DiscordDelivery;
use baton_adapters::discord::register::{register, RegisterError};
use baton_adapters::discord::rest::Rest;
use baton_adapters::discord::{self, gateway, DiscordState};
use baton_commands::config::{Config, DiscordMode};
use baton_commands::Baton;
use baton_commands::Delivery;
use clap::Subcommand;
use tokio::sync::watch;

use crate::config_args::ConfigArgs;

/// `POST /discord/interactions`, when `[discord] public_key` is set.
pub fn routes(config: &Config, baton: &Baton) -> anyhow::Result<Router> {
    let Some(key) = &config.discord.public_key else {
        return Ok(Router::new());
    };
    let state = DiscordState::new(baton.clone(), &config.discord);
    discord::routes(state, key).map_err(|why| anyhow!(why))
}

/// Posts announcements and DMs as the bot, when `BATON_DISCORD__TOKEN` is set.
pub fn delivery(config: &Config) -> Option<Arc<dyn Delivery>> {
    let delivery = DiscordDelivery::from_config(&config.discord)?;
    Some(Arc::new(delivery))
}

/// The gateway, when `[discord] mode = "gateway"`; it stops when `stop` turns true.
pub fn spawn_background(
    config: &Config,
    baton: &Baton,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if config.discord.mode != DiscordMode::Gateway {
        return Ok(());
    }
    let token =
        config.discord.token.clone().context(
            "[discord] mode = \"gateway\" needs the bot token: set BATON_DISCORD__TOKEN",
        )?;
    let state = DiscordState::new(baton.clone(), &config.discord);
    tokio::spawn(gateway::run(token, state, stop));
    Ok(())
}

/// `baton discord …`.
#[derive(Subcommand, Debug)]
pub enum DiscordCmd {
    /// Register the /baton command with Discord, replacing the application's commands in that
    /// scope. Needs BATON_DISCORD__TOKEN; [discord] application_id is looked up when unset.
    Register {
        #[command(flatten)]
        config: ConfigArgs,
        /// Register in this guild (server) only: it shows up there at once, for testing.
        /// Without it, the command is registered globally, for every server the bot is in.
        #[arg(long, value_name = "ID")]
        guild: Option<u64>,
    },
}

/// Runs `baton discord …`: 0 when done, 1 when Discord refused, 2 for usage or config.
pub async fn run(action: DiscordCmd) -> anyhow::Result<ExitCode> {
    match action {
        DiscordCmd::Register { config, guild } => {
            let cfg = match Config::load(config.config.as_deref(), std::env::vars()) {
                Ok(cfg) => cfg,
                Err(errors) => {
                    eprintln!("{errors}");
                    return Ok(ExitCode::from(2));
                }
            };
            let Some(token) = cfg.discord.token.clone() else {
                eprintln!("baton discord register: set the bot token in BATON_DISCORD__TOKEN (Developer Portal → Bot → Reset Token)");
                return Ok(ExitCode::from(2));
            };
            let rest = Rest::new(&cfg.discord.api_url, Some(token));
            match register(&rest, cfg.discord.application_id, guild).await {
                Ok(done) => {
                    let scope = match done.guild {
                        Some(g) => format!("in guild {g}; it is there now"),
                        None => "globally; Discord clients may take a few minutes to show it"
                            .to_string(),
                    };
                    println!(
                        "Registered /baton ({} subcommands) for application {} {scope}.",
                        done.subcommands, done.application_id
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e @ RegisterError::Limits(_)) => {
                    eprintln!("baton discord register: {e}");
                    Ok(ExitCode::from(2))
                }
                Err(e) => {
                    eprintln!("baton discord register: {e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
