//! Socket Mode: Slack delivers slash commands and button presses over a websocket Baton opens,
//! so a team behind a firewall needs no public URL. The events go through the same
//! [`SlackHandler`] as HTTP; the command's answer rides on the acknowledgement, and a press is
//! answered through its `response_url`, exactly as over HTTP.
//!
//! slack-morphism's websocket clients (connect, reconnect, ping) carry the frames; Baton reads
//! each frame itself rather than through slack-morphism's typed callbacks, whose command model
//! drops the envelope's `user_name` (so the person would be named by id) and whose interaction
//! model refuses an Enterprise Grid org install's `"team": null`. Both are read here exactly as
//! the HTTP routes read them.

use std::future::Future;
use std::sync::{Arc, Weak};

use baton_commands::domain::Secret;
use serde_json::{json, Value};
use slack_morphism::prelude::*;
use slack_morphism::socket_mode::clients_manager::{
    SlackSocketModeClientsManager, SlackSocketModeClientsManagerFactory,
};

use super::delivery;
use super::handler::{ButtonPress, SlackHandler, SlashCommand};

type Manager = dyn SlackSocketModeClientsManager + Send + Sync;

/// Listens with `app_token` (`xapp-…`, scope `connections:write`) until `stop` resolves. The
/// websocket clients reconnect by themselves; failures are logged, never fatal.
pub async fn run(
    handler: SlackHandler,
    app_token: &Secret,
    api_url: &str,
    stop: impl Future<Output = ()>,
) {
    let client = delivery::client(api_url);
    let env = Arc::new(SlackClientEventsListenerEnvironment::new(client.clone()));
    let manager: Arc<Manager> = client.http_api.connector.new_clients_manager(env);
    let frames = Arc::new(Frames {
        handler,
        manager: Arc::downgrade(&manager),
    });
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token.expose().to_string()));
    let config = SlackClientSocketModeConfig::new();
    if let Err(e) = manager.register_new_token(&config, token, frames).await {
        tracing::error!(error = %e, "Slack Socket Mode could not start");
        return;
    }
    manager.start().await;
    tracing::info!("Slack Socket Mode listening");
    stop.await;
    manager.shutdown().await;
}

/// Reads every frame Slack sends and answers those that need an acknowledgement.
struct Frames {
    handler: SlackHandler,
    manager: Weak<Manager>,
}

#[async_trait::async_trait]
impl SlackSocketModeClientListener for Frames {
    async fn on_message(
        &self,
        client: &SlackSocketModeWssClientId,
        body: String,
    ) -> Option<String> {
        let frame: Value = match serde_json::from_str(&body) {
            Ok(frame) => frame,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable Slack Socket Mode frame");
                return None;
            }
        };
        if frame["type"] == "disconnect" {
            // Slack is about to close this connection: open a new one first.
            self.on_disconnect(client).await;
            return None;
        }
        // `hello` and anything else without an envelope needs no acknowledgement.
        let envelope = frame["envelope_id"].as_str()?.to_string();
        let ack = match frame["type"].as_str() {
            Some("slash_commands") => match self.command(&frame["payload"]).await {
                Some(answer) => json!({ "envelope_id": envelope, "payload": answer }),
                None => json!({ "envelope_id": envelope }),
            },
            Some("interactive") => {
                self.interaction(&frame["payload"]).await;
                json!({ "envelope_id": envelope })
            }
            // Events Baton does not subscribe to: acknowledged, so Slack does not resend them.
            _ => json!({ "envelope_id": envelope }),
        };
        Some(ack.to_string())
    }

    async fn on_error(&self, error: Box<dyn std::error::Error + Send + Sync + 'static>) {
        tracing::warn!(error = %short(&error.to_string()), "Slack Socket Mode error");
    }

    async fn on_disconnect(&self, client: &SlackSocketModeWssClientId) {
        if let Some(manager) = self.manager.upgrade() {
            manager.restart_client(client).await;
        }
    }
}

impl Frames {
    /// A slash command, with the `user_name` slack-morphism's model leaves out; its answer.
    async fn command(&self, payload: &Value) -> Option<Value> {
        let event: SlackCommandEvent = match serde_json::from_value(payload.clone()) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(error = %e, "unreadable Slack Socket Mode slash command");
                return None;
            }
        };
        let name = payload["user_name"].as_str();
        let answer = self
            .handler
            .command(SlashCommand::from_event(&event, name))
            .await;
        serde_json::to_value(answer).ok()
    }

    /// A button press, read as the HTTP route reads it.
    async fn interaction(&self, payload: &Value) {
        match super::parse_interaction(&payload.to_string()) {
            Ok(SlackInteractionEvent::BlockActions(actions)) => {
                if let Some(press) = ButtonPress::from_event(&actions) {
                    self.handler.press(press).await;
                }
            }
            Ok(_) => tracing::debug!("interaction type Baton does not use; ignored"),
            Err(e) => tracing::warn!(error = %e, "unreadable Slack Socket Mode interaction"),
        }
    }
}

/// Errors may quote a whole payload: keep the log line short.
fn short(s: &str) -> String {
    s.chars().take(300).collect()
}
