//! Announcements, reminders and hand-off notices to Teams: a card posted to a conversation at
//! the `serviceUrl` it was last seen at (or `[teams] service_url` before Baton has heard from
//! it), and to a person in their personal chat with the bot, opened the first time and
//! remembered. A person Baton has never heard from cannot be written to: Bot Framework needs
//! the id they have in the bot's conversations, which only their own activity carries.

use baton_commands::config::TeamsConfig;
use baton_commands::{Baton, Delivery, DeliveryError, Reply};
use futures_util::future::BoxFuture;
use reqwest::Method;
use serde_json::{json, Value};

use super::connector::{self, Connector};
use super::{book, card_activity, cards, PLATFORM};

/// Posts to Teams as the bot.
pub struct TeamsDelivery {
    baton: Baton,
    connector: Connector,
    service_url: String,
}

impl TeamsDelivery {
    /// From `[teams]`; `None` without an app id and a client secret.
    pub fn from_config(baton: Baton, config: &TeamsConfig) -> Option<Self> {
        Some(Self {
            baton,
            connector: Connector::from_config(config)?,
            service_url: config.service_url.clone(),
        })
    }

    async fn recall(&self, kind: &str, id: &str) -> Result<Option<Value>, DeliveryError> {
        let known = self
            .baton
            .contact(PLATFORM.front.prefix, kind, id)
            .await
            .map_err(|e| DeliveryError::Failed(e.to_string()))?;
        Ok(known.and_then(|json| serde_json::from_str(&json).ok()))
    }

    async fn post(
        &self,
        service_url: &str,
        conversation: &str,
        reply: &Reply,
    ) -> Result<(), DeliveryError> {
        let body = card_activity(reply, None);
        let path = connector::activities(conversation, None);
        self.connector
            .call(Method::POST, service_url, &path, &body)
            .await
            .map(drop)
    }

    async fn channel(&self, conversation: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let at = self.recall(book::CONVERSATION, conversation).await?;
        let service_url = at
            .as_ref()
            .and_then(|a| a["serviceUrl"].as_str())
            .unwrap_or(&self.service_url)
            .to_string();
        self.post(&service_url, conversation, reply).await
    }

    async fn user(&self, aad: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let Some(person) = self.recall(book::PERSON, aad).await? else {
            return Err(DeliveryError::Refused(
                "Baton has not heard from this Teams user yet: they must message the bot (or be in a team it is in) once".into(),
            ));
        };
        let service_url = person["serviceUrl"]
            .as_str()
            .unwrap_or(&self.service_url)
            .to_string();
        if let Some(chat) = self
            .recall(book::CHAT, aad)
            .await?
            .and_then(|c| c.as_str().map(String::from))
        {
            return self.post(&service_url, &chat, reply).await;
        }
        let tenant = person["tenant"].clone();
        let open = json!({
            "bot": {"id": self.connector.bot_id()},
            "members": [{"id": person["id"]}],
            "isGroup": false,
            "tenantId": tenant,
            "channelData": {"tenant": {"id": tenant}},
        });
        let opened = self
            .connector
            .call(Method::POST, &service_url, "/v3/conversations", &open)
            .await?;
        let Some(chat) = opened["id"].as_str() else {
            return Err(DeliveryError::Failed(
                "the Connector opened no conversation".into(),
            ));
        };
        let _ = self
            .baton
            .remember_contact(
                PLATFORM.front.prefix,
                book::CHAT,
                aad,
                &json!(chat).to_string(),
            )
            .await;
        self.post(&service_url, chat, reply).await
    }
}

impl Delivery for TeamsDelivery {
    fn platform(&self) -> &'static str {
        PLATFORM.front.prefix
    }

    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.channel(channel, reply))
    }

    fn fits(&self, reply: &Reply) -> bool {
        cards::fits(reply)
    }

    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.user(user, reply))
    }
}
