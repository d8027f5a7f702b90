//! Gateway mode: serenity's client keeps a websocket to Discord open with the bot token, for bots
//! that cannot expose `/discord/interactions`. Interactions go through the same
//! [`DiscordState::answer`] as over HTTP; the response is POSTed back instead of returned.

use std::time::{Duration, Instant};

use baton_commands::domain::Secret;
use serenity::all::{Client, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::async_trait;
use tokio::sync::watch;

use super::DiscordState;

/// First wait before reconnecting after the client stopped with an error; doubles up to a minute.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

struct Handler {
    state: DiscordState,
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "discord gateway ready");
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let answer = self.state.answer(&interaction).await;
        let sent = ctx
            .http
            .create_interaction_response(
                interaction.id(),
                interaction.token(),
                &answer.response,
                Vec::new(),
            )
            .await;
        match sent {
            Ok(()) => {
                if let Some(later) = answer.later {
                    tokio::spawn(later);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not answer a discord interaction"),
        }
    }
}

/// Runs the gateway until `stop` turns true. Serenity resumes dropped connections itself; when
/// the client gives up (Discord unreachable at start, say), it is started again with backoff.
/// A rejected token ends the loop: retrying would not help.
pub async fn run(token: Secret, state: DiscordState, mut stop: watch::Receiver<bool>) {
    // Slash commands and buttons need no privileged intents.
    let intents = GatewayIntents::GUILDS;
    let mut backoff = FIRST_BACKOFF;
    loop {
        if *stop.borrow() {
            return;
        }
        let handler = Handler {
            state: state.clone(),
        };
        let mut client = match Client::builder(token.expose(), intents)
            .event_handler(handler)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "discord gateway client could not be built");
                return;
            }
        };
        let shards = client.shard_manager.clone();
        let started = Instant::now();
        let ended = tokio::select! {
            r = client.start() => r,
            _ = stopped(&mut stop) => {
                shards.shutdown_all().await;
                return;
            }
        };
        match ended {
            Ok(()) => tracing::info!("discord gateway closed"),
            Err(serenity::Error::Gateway(
                serenity::gateway::GatewayError::InvalidAuthentication,
            )) => {
                tracing::error!(
                    "discord rejected the bot token (BATON_DISCORD__TOKEN); gateway stopped"
                );
                return;
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "discord gateway stopped"),
        }
        if started.elapsed() > MAX_BACKOFF {
            backoff = FIRST_BACKOFF; // it ran for a while: this is a fresh failure
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopped(&mut stop) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}
