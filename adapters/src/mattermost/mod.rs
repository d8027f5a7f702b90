//! Mattermost: slash commands, message-attachment buttons whose context Baton signs itself, and
//! outbound posts with the bot's access token.
//!
//! - [`handler`]: `/baton TEXT` (its token checked in constant time against every configured
//!   one) and button presses, through the core's one road and the kit's deadline and press
//!   policy.
//! - [`context`]: the HMAC that makes a button's context Baton's own: Mattermost does not sign
//!   the requests a press makes, so Baton signs what it posts and refuses what it did not.
//! - [`render`]: a [`baton_commands::Reply`] as a markdown message and an attachment, inert.
//! - [`api`]: the REST calls as the bot, and the core's `Delivery` on top of them.

pub mod api;
pub mod context;
pub mod handler;
pub mod render;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use baton_commands::config::{Front, MattermostConfig};
use serde::Deserialize;

pub use api::{Api, MattermostDelivery};
pub use context::Signer;
pub use handler::{actor, MattermostState};

use crate::kit::Platform;

/// Mattermost as configuration sees it.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Mattermost",
        prefix: "mattermost",
        groups: &[],
        example: "mattermost:8x7k…",
        bare_user: |id| id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        secrets: &[
            "mattermost.bot_token",
            "mattermost.command_tokens",
            "mattermost.action_secret",
        ],
        channel: Some(channel),
    },
    nameless: "a Mattermost user",
    max_name: 64,
};

/// An announcement channel: the channel's 26-character id, never its name.
fn channel(id: &str) -> Result<(), String> {
    if is_id(id) {
        Ok(())
    } else {
        Err("a Mattermost channel is named by its 26-character id, like `mattermost:4yjq9ge5k7ffx8b3dq9h3b1j8r` (the channel's name → View Info)".into())
    }
}

/// Whether `id` is a Mattermost id (26 letters and digits), so it is safe in a URL path.
pub fn is_id(id: &str) -> bool {
    id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// The signer and `<public_url>/mattermost/actions`, when `[mattermost]` has both a public URL
/// and a signing key; without them replies carry no buttons.
pub fn buttons(config: &MattermostConfig) -> Option<(Signer, String)> {
    let url = config.public_url.as_deref()?;
    let signer = Signer::from_config(config)?;
    Some((
        signer,
        format!("{}/mattermost/actions", url.trim_end_matches('/')),
    ))
}

/// `POST /mattermost/commands` (when command tokens are configured) and
/// `POST /mattermost/actions` (when buttons are).
pub fn routes(state: MattermostState, config: &MattermostConfig) -> Router {
    let mut router = Router::new();
    if config.enabled() {
        router = router.route("/mattermost/commands", post(command));
    }
    if state.takes_presses() {
        router = router.route("/mattermost/actions", post(action));
    }
    router.with_state(state)
}

/// The one field read before the token is checked.
#[derive(Deserialize)]
struct Token {
    token: Option<String>,
}

async fn command(State(state): State<MattermostState>, body: Bytes) -> Response {
    let token = serde_urlencoded::from_bytes::<Token>(&body)
        .ok()
        .and_then(|t| t.token);
    if !state.known_token(token.as_deref()) {
        tracing::warn!(
            given = token.is_some(),
            "mattermost slash command with an unknown token refused"
        );
        let why = match token {
            Some(_) => "the slash command token is not one Baton knows: copy it from Integrations → Slash Commands into BATON_MATTERMOST__COMMAND_TOKENS",
            None => "the request carries no slash command token",
        };
        let body = serde_json::json!({"response_type": "ephemeral", "text": why, "error": why});
        return (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    }
    let cmd = match serde_urlencoded::from_bytes(&body) {
        Ok(cmd) => cmd,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable mattermost slash command");
            let why = "the slash command form could not be read";
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": why})),
            )
                .into_response();
        }
    };
    reply(state.command(cmd).await)
}

async fn action(State(state): State<MattermostState>, body: Bytes) -> Response {
    let press = match serde_json::from_slice(&body) {
        Ok(press) => press,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable mattermost action");
            let why = "the action request could not be read";
            return (
                StatusCode::BAD_REQUEST,
                Json(serde_json::json!({"error": why})),
            )
                .into_response();
        }
    };
    reply(state.press(press).await)
}

fn reply((status, body): handler::Answer) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_announcement_channel_is_a_mattermost_channel_id_and_secrets_stay_out_of_the_file() {
        let found = crate::kit::platform_problems(
            "[[envs]]\nname = \"prod\"\nannounce = [\"mattermost:4yjq9ge5k7ffx8b3dq9h3b1j8r\", \"mattermost:town-square\"]\n",
        );
        let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains(
                "`mattermost:town-square` in envs[0].announce: a Mattermost channel is named by its 26-character id"
            )),
            "{messages:#?}"
        );
        let found = crate::kit::platform_problems(
            "[mattermost]\nurl = \"https://chat.example.com\"\nbot_token = \"abc123\"\ncommand_tokens = [\"t1\"]\n",
        );
        let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
        for var in [
            "BATON_MATTERMOST__BOT_TOKEN",
            "BATON_MATTERMOST__COMMAND_TOKENS",
        ] {
            assert!(
                messages.iter().any(|m| m.contains(var)),
                "{var} in {messages:#?}"
            );
        }
        assert!(!format!("{found:?}").contains("abc123"));
        assert_eq!(found[0].line, Some(3));
    }
}
