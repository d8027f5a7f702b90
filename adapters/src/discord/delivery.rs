//! Outbound Discord messages behind the core's [`Delivery`] trait: a channel message, or a DM
//! through the bot's DM channel with the user. Retrying is the caller's job; this only says
//! which kind of failure it was, with Discord's own wait on a 429.

use baton_commands::config::DiscordConfig;
use baton_commands::Reply;
use baton_commands::{Delivery, DeliveryError};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use reqwest::Method;
use serde_json::json;

use super::render::render;
use super::rest::{is_snowflake, Rest, RestError};

/// Posts replies to Discord as the bot.
#[derive(Clone, Debug)]
pub struct DiscordDelivery {
    rest: Rest,
}

impl DiscordDelivery {
    /// Delivery through `rest`, which must carry the bot token.
    pub fn new(rest: Rest) -> Self {
        Self { rest }
    }

    /// Delivery as `[discord]` configures it; `None` without a bot token.
    pub fn from_config(config: &DiscordConfig) -> Option<Self> {
        let token = config.token.clone()?;
        Some(Self::new(Rest::new(&config.api_url, Some(token))))
    }

    async fn post(&self, channel: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let channel = channel.strip_prefix("discord:").unwrap_or(channel);
        if !is_snowflake(channel) {
            return Err(DeliveryError::Refused(format!(
                "`{channel}` is not a Discord channel id"
            )));
        }
        let message = render(reply).channel_message();
        self.rest
            .bot(
                Method::POST,
                &format!("/channels/{channel}/messages"),
                Some(&message),
            )
            .await
            .map(|_| ())
            .map_err(delivery_error)
    }

    async fn dm(&self, user: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let user = user.strip_prefix("discord:").unwrap_or(user);
        if !is_snowflake(user) {
            return Err(DeliveryError::Refused(format!(
                "`{user}` is not a Discord user id"
            )));
        }
        let channel = self
            .rest
            .bot(
                Method::POST,
                "/users/@me/channels",
                Some(&json!({ "recipient_id": user })),
            )
            .await
            .map_err(delivery_error)?;
        let id = channel["id"].as_str().ok_or_else(|| {
            DeliveryError::Failed("Discord opened a DM channel without an id".into())
        })?;
        self.post(id, reply).await
    }
}

fn delivery_error(e: RestError) -> DeliveryError {
    match e {
        RestError::RateLimited(wait) => DeliveryError::RateLimited(wait),
        RestError::Status { status, .. } if status >= 500 || status == 408 => {
            DeliveryError::Failed(e.to_string())
        }
        RestError::Network(_) => DeliveryError::Failed(e.to_string()),
        RestError::Status { .. } | RestError::NoToken => DeliveryError::Refused(e.to_string()),
    }
}

impl Delivery for DiscordDelivery {
    fn platform(&self) -> &'static str {
        "discord"
    }

    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.post(channel, reply).boxed()
    }

    fn fits(&self, reply: &Reply) -> bool {
        super::render::fits(reply)
    }

    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.dm(user, reply).boxed()
    }
}
