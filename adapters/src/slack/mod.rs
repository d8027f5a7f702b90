//! Slack: `/baton TEXT` and Baton's buttons, over HTTP (`POST /slack/commands`,
//! `POST /slack/interactions`) or Socket Mode, through one handler.
//!
//! A request is verified (`verify`), becomes a [`SlashCommand`] or [`ButtonPress`] whose actor
//! is `slack:<user id>`, runs through the same router as every platform ([`SlackHandler`]), and
//! is answered in Block Kit ([`blocks`]). [`delivery`] posts outside a request (the core's
//! `Delivery` trait, and `response_url` follow-ups); [`manifest`] describes the app to Slack.

pub mod blocks;
pub mod delivery;
mod handler;
pub mod manifest;
pub mod socket;
mod verify;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use baton_commands::config::Front;
use baton_commands::domain::Secret;
use serde::Deserialize;
use slack_morphism::prelude::*;
use slack_morphism::signature_verifier::SlackEventSignatureVerifier;

pub use delivery::{client, SlackDelivery};
pub use handler::{actor, ButtonPress, SlackHandler, SlashCommand, DEADLINE};
use verify::Signed;

use crate::kit::Platform;

/// Slack's registration: `slack:U…` people in `slack-team:T…` workspaces, three secrets, and
/// announcement channels named by id.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Slack",
        prefix: "slack",
        groups: &["slack-team"],
        example: "slack:U123",
        bare_user: |id| {
            id.starts_with(['U', 'W'])
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        },
        secrets: &["slack.signing_secret", "slack.bot_token", "slack.app_token"],
        channel: Some(channel),
    },
    nameless: "a Slack user",
    max_name: 80,
};

/// An announcement channel: Slack's channel id (`C024BE91L`), never its name, which changes.
fn channel(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err("a Slack channel is named by its id, like `slack:C024BE91L` (channel details → About, at the bottom), not by its name".into())
    }
}

/// What the HTTP routes share: the handler and the signature verifier.
#[derive(Clone)]
struct SlackHttpState {
    handler: SlackHandler,
    verifier: Arc<SlackEventSignatureVerifier>,
}

/// `POST /slack/commands` and `POST /slack/interactions`, verified with `signing_secret`.
pub fn routes(handler: SlackHandler, signing_secret: &Secret) -> Router {
    let secret = SlackSigningSecret::new(signing_secret.expose().to_string());
    let state = SlackHttpState {
        handler,
        verifier: Arc::new(SlackEventSignatureVerifier::new(&secret)),
    };
    Router::new()
        .route("/slack/commands", post(command))
        .route("/slack/interactions", post(interaction))
        .with_state(state)
}

/// The one field of Slack's slash command form that slack-morphism's model leaves out.
#[derive(Deserialize)]
struct UserName {
    user_name: Option<String>,
}

async fn command(State(s): State<SlackHttpState>, Signed(body): Signed) -> Response {
    let event = match serde_urlencoded::from_bytes::<SlackCommandEvent>(&body) {
        Ok(event) => event,
        Err(e) => return bad_request("slash command", &e),
    };
    let name = serde_urlencoded::from_bytes::<UserName>(&body)
        .ok()
        .and_then(|n| n.user_name);
    let cmd = SlashCommand::from_event(&event, name.as_deref());
    Json(s.handler.command(cmd).await).into_response()
}

/// The form Slack posts interactions in: one `payload` field holding JSON.
#[derive(Deserialize)]
struct InteractionForm {
    payload: String,
}

async fn interaction(State(s): State<SlackHttpState>, Signed(body): Signed) -> Response {
    let form = match serde_urlencoded::from_bytes::<InteractionForm>(&body) {
        Ok(form) => form,
        Err(e) => return bad_request("interaction form", &e),
    };
    let event = match parse_interaction(&form.payload) {
        Ok(event) => event,
        Err(e) => return bad_request("interaction payload", &e),
    };
    match event {
        SlackInteractionEvent::BlockActions(actions) => match ButtonPress::from_event(&actions) {
            Some(press) => s.handler.press(press).await,
            None => tracing::debug!("block action that is not a Baton button; ignored"),
        },
        _ => tracing::debug!("interaction type Baton does not use; ignored"),
    }
    // The answer goes through the response_url; Slack only needs the acknowledgement.
    StatusCode::OK.into_response()
}

/// slack-morphism's model of the payload. An Enterprise Grid org-wide install sends `"team":
/// null` (the press belongs to the org, the user's `team_id` names it), which the model cannot
/// hold: the team is taken from the user then. Should the pressed message or a view carry
/// something the model cannot read, the press is read without them (they only add the message's
/// own buttons).
pub(crate) fn parse_interaction(payload: &str) -> Result<SlackInteractionEvent, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_str(payload)?;
    if value.get("team").is_some_and(serde_json::Value::is_null) {
        let team = value["user"]["team_id"].clone();
        value["team"] = serde_json::json!({ "id": team.as_str().unwrap_or_default() });
    }
    serde_json::from_value(value.clone()).or_else(|first| {
        let Some(fields) = value.as_object_mut() else {
            return Err(first);
        };
        for extra in ["message", "view", "state"] {
            fields.remove(extra);
        }
        serde_json::from_value(value)
    })
}

fn bad_request(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::warn!(error = %e, what, "unreadable slack request");
    (
        StatusCode::BAD_REQUEST,
        format!("the {what} could not be read"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_press_is_read_even_when_the_pressed_message_is_not() {
        let payload = serde_json::json!({
            "type": "block_actions",
            "team": {"id": "T1"}, "user": {"id": "U1", "username": "jane"},
            "api_app_id": "A1", "trigger_id": "1.2.3",
            "container": {"type": "message", "message_ts": "1.2", "channel_id": "C1"},
            "message": {"ts": "1.2", "blocks": "something Slack invents tomorrow"},
            "response_url": "https://hooks.slack.com/actions/T1/2/3",
            "actions": [{"type": "button", "action_id": "baton:unlock prod", "value": "unlock prod"}],
        });
        let Ok(SlackInteractionEvent::BlockActions(event)) =
            parse_interaction(&payload.to_string())
        else {
            panic!("not read")
        };
        let press = ButtonPress::from_event(&event).expect("a Baton button");
        assert_eq!(press.command, "unlock prod");
        assert_eq!(press.actor.id, "slack:U1");
        assert!(parse_interaction("{\"type\": \"block_actions\"}").is_err());
    }

    #[test]
    fn an_announcement_channel_is_a_slack_channel_id() {
        let found = crate::kit::platform_problems(
            "[[envs]]\nname = \"prod\"\nannounce = [\"slack:C024BE91L\", \"slack:#deploys\"]\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].message.contains(
                "`slack:#deploys` in envs[0].announce: a Slack channel is named by its id"
            ),
            "{}",
            found[0].message
        );
    }
}
