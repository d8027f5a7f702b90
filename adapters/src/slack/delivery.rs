//! Outbound Slack: `chat.postMessage` with the bot token behind the core's [`Delivery`] trait (a
//! DM opens the conversation first), and posts to an interaction's `response_url`. Nothing here
//! retries: a 429 comes back as [`DeliveryError::RateLimited`] and the caller decides.

use std::sync::Arc;
use std::time::Duration;

use baton_commands::config::SlackConfig;
use baton_commands::domain::Secret;
use baton_commands::Reply;
use baton_commands::{Delivery, DeliveryError};
use futures_util::future::BoxFuture;
use serde::Serialize;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use super::blocks;

/// How long to wait after a 429 that named no `Retry-After` (Slack always names one).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// A Slack Web API client for `api_url` (`https://slack.com/api`, or a local server in tests).
/// It speaks http as well as https, trusts the system's roots (Mozilla's when the system has
/// none), and never retries on its own.
pub fn client(api_url: &str) -> Arc<SlackHyperClient> {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "no system TLS roots; using the bundled Mozilla roots for Slack");
            hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots()
        }
    };
    let https = builder
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector =
        SlackClientHyperConnector::from(https).with_slack_api_url(api_url.trim_end_matches('/'));
    Arc::new(SlackClient::new(connector))
}

/// Posts replies to Slack channels and people with the bot token (`chat:write`, `im:write`).
#[derive(Clone)]
pub struct SlackDelivery {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
}

impl std::fmt::Debug for SlackDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlackDelivery { token: [redacted] }")
    }
}

impl SlackDelivery {
    /// Delivery through the Web API at `api_url` with `bot_token` (`xoxb-…`).
    pub fn new(api_url: &str, bot_token: &Secret) -> Self {
        Self::with_client(client(api_url), bot_token)
    }

    /// Delivery through an existing client (one per process is enough).
    pub fn with_client(client: Arc<SlackHyperClient>, bot_token: &Secret) -> Self {
        let token = SlackApiToken::new(SlackApiTokenValue::new(bot_token.expose().to_string()));
        Self { client, token }
    }

    /// Delivery as `[slack]` configures it; `None` without a bot token.
    pub fn from_config(config: &SlackConfig) -> Option<Self> {
        let token = config.bot_token.as_ref()?;
        Some(Self::new(&config.api_url, token))
    }

    async fn post(&self, channel: SlackChannelId, reply: &Reply) -> Result<(), DeliveryError> {
        let request = SlackApiChatPostMessageRequest::new(channel, blocks::content(reply, None))
            .with_unfurl_links(false);
        let session = self.client.open_session(&self.token);
        match session.chat_post_message(&request).await {
            Ok(_) => Ok(()),
            Err(SlackClientError::ProtocolError(e)) if accepted(e.json_body.as_deref()) => {
                // Slack took the message; only its answer is in a shape the model does not
                // know. Posting again would show it twice.
                tracing::warn!(error = %e.json_error, "Slack accepted the message (ok: true) but its answer did not decode; counted as delivered");
                Ok(())
            }
            Err(e) => Err(classify(e)),
        }
    }

    async fn dm(&self, user: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let user = user.strip_prefix("slack:").unwrap_or(user);
        // Slack documents `users` as a comma-separated string; slack-morphism's request model
        // sends a JSON array, so the request is written out here.
        let request = serde_json::json!({ "users": user });
        let session = self.client.open_session(&self.token);
        let opened: SlackApiConversationsOpenResponse<SlackBasicChannelInfo> = session
            .http_session_api
            .http_post("conversations.open", &request, None)
            .await
            .map_err(classify)?;
        self.post(opened.channel.id, reply).await
    }
}

impl Delivery for SlackDelivery {
    fn platform(&self) -> &'static str {
        "slack"
    }

    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.post(SlackChannelId::new(channel.into()), reply))
    }

    fn fits(&self, reply: &Reply) -> bool {
        blocks::fits(reply)
    }

    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        Box::pin(self.dm(user, reply))
    }
}

/// A message for an interaction's `response_url`: unlike slack-morphism's webhook request it can
/// say `response_type`, which decides whether a new message is ephemeral or for the channel.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ResponseMessage {
    #[serde(flatten)]
    pub content: SlackMessageContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_type: Option<SlackMessageResponseType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_original: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_original: Option<bool>,
}

impl ResponseMessage {
    /// A new message, seen by `kind`; the original stays.
    pub fn new_message(content: SlackMessageContent, kind: SlackMessageResponseType) -> Self {
        Self {
            content,
            response_type: Some(kind),
            replace_original: Some(false),
            delete_original: None,
        }
    }

    /// The original message, replaced (it keeps its visibility).
    pub fn replacing(content: SlackMessageContent) -> Self {
        Self {
            content,
            response_type: None,
            replace_original: Some(true),
            delete_original: None,
        }
    }

    /// Deletes the original message (an ephemeral prompt whose answer went to the channel).
    pub fn delete_original() -> Self {
        Self {
            content: SlackMessageContent::new(),
            response_type: None,
            replace_original: None,
            delete_original: Some(true),
        }
    }
}

/// Posts to a `response_url` exactly as Slack gave it; it needs no token.
pub(crate) async fn respond(
    client: &SlackHyperClient,
    url: &SlackResponseUrl,
    message: &ResponseMessage,
) -> Result<(), DeliveryError> {
    let span = tracing::debug_span!("slack response_url");
    let context = SlackClientApiCallContext {
        rate_control_params: None,
        token: None,
        tracing_span: &span,
        is_sensitive_url: true,
    };
    client
        .http_api
        .connector
        .http_post_uri::<_, SlackApiPostWebhookMessageResponse>(url.0.clone(), message, context)
        .await
        .map_err(classify)?;
    Ok(())
}

/// Whether Slack's answer says `"ok": true`, whatever else it holds.
fn accepted(body: Option<&str>) -> bool {
    body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
        .is_some_and(|v| v["ok"] == true)
}

/// Slack's failures in the core's terms. Messages name Slack's error code, never a body or token.
pub(crate) fn classify(e: SlackClientError) -> DeliveryError {
    match e {
        SlackClientError::RateLimitError(r) => {
            DeliveryError::RateLimited(r.retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
        }
        SlackClientError::ApiError(a) => match a.code.as_str() {
            "ratelimited" => DeliveryError::RateLimited(DEFAULT_RETRY_AFTER),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                DeliveryError::Failed(format!("Slack answered {}", a.code))
            }
            // channel_not_found, not_in_channel, is_archived, invalid_auth, missing_scope, …
            code => DeliveryError::Refused(format!("Slack answered {code}")),
        },
        SlackClientError::HttpError(h) => {
            let status = h.status_code;
            let message = format!("Slack answered HTTP {}", status.as_u16());
            if status.is_server_error() || status.as_u16() == 408 {
                DeliveryError::Failed(message)
            } else {
                DeliveryError::Refused(message)
            }
        }
        SlackClientError::ProtocolError(_) => {
            DeliveryError::Failed("Slack's answer could not be read".into())
        }
        other => {
            tracing::debug!(error = %other, "slack call failed");
            DeliveryError::Failed("Slack could not be reached".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use slack_morphism::errors::{SlackClientApiError, SlackClientHttpError, SlackRateLimitError};

    #[test]
    fn slack_failures_map_to_retry_later_retry_with_backoff_or_give_up() {
        let limited = SlackRateLimitError::new().with_retry_after(Duration::from_secs(7));
        assert_eq!(
            classify(SlackClientError::RateLimitError(limited)),
            DeliveryError::RateLimited(Duration::from_secs(7))
        );
        for (code, refused) in [
            ("channel_not_found", true),
            ("not_in_channel", true),
            ("internal_error", false),
        ] {
            let e = SlackClientError::ApiError(SlackClientApiError::new(code.into()));
            assert_eq!(
                matches!(classify(e), DeliveryError::Refused(_)),
                refused,
                "{code}"
            );
        }
        let e = SlackClientError::HttpError(SlackClientHttpError::new(http_status(503)));
        assert!(matches!(classify(e), DeliveryError::Failed(_)));
    }

    fn http_status(code: u16) -> axum::http::StatusCode {
        axum::http::StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn a_response_url_message_says_who_sees_it() {
        let m = ResponseMessage::new_message(
            SlackMessageContent::new().with_text("hi".into()),
            SlackMessageResponseType::Ephemeral,
        );
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["response_type"], "ephemeral");
        assert_eq!(v["replace_original"], false);
        assert_eq!(v["text"], "hi");
        let v = serde_json::to_value(ResponseMessage::delete_original()).unwrap();
        assert_eq!(v, serde_json::json!({"delete_original": true}));
    }
}
