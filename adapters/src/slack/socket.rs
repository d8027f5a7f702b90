//! Socket Mode: Slack delivers slash commands and button presses over a websocket Baton opens,
//! so a team behind a firewall needs no public URL. The events go through the same
//! [`SlackHandler`] as HTTP; the command's answer rides on the acknowledgement, and a press is
//! answered through its `response_url`, exactly as over HTTP.

use std::future::Future;
use std::sync::Arc;

use baton_commands::domain::Secret;
use slack_morphism::prelude::*;

use super::delivery;
use super::handler::{ButtonPress, SlackHandler, SlashCommand};

/// Listens with `app_token` (`xapp-…`, scope `connections:write`) until `stop` resolves. The
/// websocket clients reconnect by themselves; failures are logged, never fatal.
pub async fn run(
    handler: SlackHandler,
    app_token: &Secret,
    api_url: &str,
    stop: impl Future<Output = ()>,
) {
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let env = Arc::new(
        SlackClientEventsListenerEnvironment::new(delivery::client(api_url))
            .with_error_handler(on_error)
            .with_user_state(handler),
    );
    let listener =
        SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), env, callbacks);
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token.expose().to_string()));
    if let Err(e) = listener.listen_for(&token).await {
        tracing::error!(error = %e, "Slack Socket Mode could not start");
        return;
    }
    listener.start().await;
    tracing::info!("Slack Socket Mode listening");
    stop.await;
    listener.shutdown().await;
}

async fn handler_of(states: &SlackClientEventsUserState) -> Option<SlackHandler> {
    states
        .read()
        .await
        .get_user_state::<SlackHandler>()
        .cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let handler = handler_of(&states)
        .await
        .ok_or("the Slack handler is not set up")?;
    // Slack's Socket Mode payload has the user name, but slack-morphism's model drops it.
    Ok(handler
        .command(SlashCommand::from_event(&event, None))
        .await)
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let SlackInteractionEvent::BlockActions(actions) = event {
        if let Some(press) = ButtonPress::from_event(&actions) {
            let handler = handler_of(&states)
                .await
                .ok_or("the Slack handler is not set up")?;
            handler.press(press).await;
        }
    }
    Ok(())
}

fn on_error(
    err: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackHyperClient>,
    _states: SlackClientEventsUserState,
) -> HttpStatusCode {
    tracing::warn!(error = %short(&err.to_string()), "Slack Socket Mode error");
    // Acknowledge anyway: a redelivery would fail the same way.
    HttpStatusCode::OK
}

/// Errors may quote a whole payload: keep the log line short.
fn short(s: &str) -> String {
    s.chars().take(300).collect()
}
