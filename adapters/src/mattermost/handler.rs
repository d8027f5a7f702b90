//! The two requests Mattermost makes: a slash command (`/baton TEXT`, a form carrying the
//! command's token) and a button press (JSON carrying the context Baton signed). Both run
//! through the core's one road as `mattermost:<user id>`, named by the request's `user_name`.
//!
//! A command is answered within the deadline or acknowledged ("working on it", to the asker)
//! and answered on its `response_url` when done, as the kit's [`deadline`] does it. A press
//! follows the kit's [`buttons`] policy: a refusal is `ephemeral_text` for the presser, a
//! success replaces the pressed post, and a state change pressed on a private answer is posted
//! to the channel by the bot (the private answer then says so).

use std::sync::Arc;
use std::time::Duration;

use baton_commands::domain::{preview, Secret};
use baton_commands::reply::Visibility;
use baton_commands::{Actor, Baton, Outcome, Request};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::api::{self, Api};
use super::context::Signer;
use super::render::{self, Actions};
use super::{is_id, PLATFORM};
use crate::kit::buttons::{self, PressAnswer, Pressed};
use crate::kit::deadline::{self, Timely};
use crate::kit::hints;

/// The command hints name when a request does not say how Baton was invoked.
pub const INVOKE: &str = "/baton";
/// How long a press may run before Mattermost is told it is still running (Mattermost waits
/// up to its integration timeout, 30 s by default).
const PRESS_DEADLINE: Duration = Duration::from_secs(10);

/// What the routes share.
#[derive(Clone)]
pub struct MattermostState {
    baton: Baton,
    /// SHA-256 of each slash command token: compared in constant time, whatever their length.
    tokens: Arc<Vec<[u8; 32]>>,
    deadline: Duration,
    /// The signer and `<public_url>/mattermost/actions`, when replies carry buttons.
    buttons: Option<(Signer, String)>,
    /// The bot, when configured: posts a private prompt's state change to its channel.
    api: Option<Api>,
    http: reqwest::Client,
}

/// A slash command, as Mattermost posts it (fields Baton does not read are ignored).
#[derive(Debug, Deserialize)]
pub struct SlashCommand {
    /// The command's token, checked before anything else is read.
    pub token: Option<String>,
    /// Who typed it.
    pub user_id: String,
    /// Their user name.
    pub user_name: Option<String>,
    /// Where.
    pub channel_id: String,
    /// The trigger as typed (`/baton`).
    pub command: Option<String>,
    /// What follows it.
    #[serde(default)]
    pub text: String,
    /// Where late answers go.
    pub response_url: Option<String>,
}

/// A button press, as Mattermost posts it to the action's `integration.url`.
#[derive(Debug, Deserialize)]
pub struct ActionPress {
    /// Who pressed.
    pub user_id: String,
    /// Their user name.
    pub user_name: Option<String>,
    /// The channel of the pressed post.
    pub channel_id: String,
    /// The context the action was posted with.
    #[serde(default)]
    pub context: Value,
}

/// What to answer Mattermost with: a status and a JSON body.
pub type Answer = (u16, Value);

impl MattermostState {
    /// The routes' state for `config`'s `[mattermost]` section over `baton`.
    pub fn new(baton: Baton, config: &baton_commands::config::MattermostConfig) -> Self {
        Self {
            baton,
            tokens: Arc::new(config.command_tokens.iter().map(digest).collect()),
            deadline: config.deadline(),
            buttons: super::buttons(config),
            api: Api::from_config(config),
            http: api::client(),
        }
    }

    /// Whether `token` is one of the slash command's tokens; every token is compared, each in
    /// constant time.
    pub fn known_token(&self, token: Option<&str>) -> bool {
        known(&self.tokens, token)
    }

    /// Whether presses can be verified (a signing key is configured).
    pub fn takes_presses(&self) -> bool {
        self.buttons.is_some()
    }

    /// Answers a slash command whose token was checked.
    pub async fn command(&self, cmd: SlashCommand) -> Answer {
        if !is_id(&cmd.user_id) || !is_id(&cmd.channel_id) {
            return bad_request("the slash command names no valid user_id and channel_id");
        }
        let invoke = cmd.command.clone().unwrap_or_else(|| INVOKE.to_string());
        let actor = actor(&cmd.user_id, cmd.user_name.as_deref());
        let request = Request::text(actor, Some(cmd.channel_id.clone()), &cmd.text);
        match deadline::run(&self.baton, request, self.deadline).await {
            Timely::Now(outcome) => (200, self.answer(&outcome, &invoke, &cmd.channel_id)),
            Timely::Later(pending) => {
                let url = cmd.response_url.filter(|u| is_http(u));
                let this = self.clone();
                let channel = cmd.channel_id.clone();
                tokio::spawn(async move {
                    let outcome = pending.outcome().await;
                    let Some(url) = url else {
                        tracing::warn!("a slow Mattermost command had no response_url; its answer is lost, its effect is not");
                        return;
                    };
                    let body = this.answer(&outcome, &invoke, &channel);
                    if let Err(e) = api::respond(&this.http, &url, &body).await {
                        tracing::warn!(error = %e, "could not answer Mattermost on the response_url");
                    }
                });
                let shown = render::code(&preview(&cmd.text));
                let working = format!(
                    ":hourglass_flowing_sand: Working on {shown}; the answer follows here."
                );
                (
                    200,
                    serde_json::json!({
                        "response_type": "ephemeral",
                        "text": working,
                        "skip_slack_parsing": true,
                    }),
                )
            }
        }
    }

    /// Runs a press's command as the presser if Baton signed its context, and answers as the
    /// kit's press policy says.
    pub async fn press(&self, press: ActionPress) -> Answer {
        if !is_id(&press.user_id) || !is_id(&press.channel_id) {
            return bad_request("the action names no valid user_id and channel_id");
        }
        let Some((signer, _)) = &self.buttons else {
            return (
                200,
                render::ephemeral("Baton's buttons are not configured here."),
            );
        };
        let verified = match signer.verify(&press.context, &press.channel_id, self.baton.now_ms()) {
            Ok(v) => v,
            Err(refusal) => {
                tracing::warn!(?refusal, user = %press.user_id, "mattermost press refused");
                return (200, render::ephemeral(&refusal.sentence(INVOKE)));
            }
        };
        let actor = actor(&press.user_id, press.user_name.as_deref());
        let request = Request::text(actor, Some(press.channel_id.clone()), &verified.command);
        let pressed = Pressed {
            private: verified.private,
            buttons: verified.buttons,
        };
        let this = self.clone();
        let channel = press.channel_id.clone();
        let work = async move {
            let outcome = this.baton.run(request).await;
            this.settle(outcome, &pressed, &channel).await
        };
        match deadline::within(PRESS_DEADLINE, work).await {
            Ok(Ok(answer)) => (200, answer),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "a Mattermost press task failed");
                (200, render::ephemeral("Something went wrong while running it; check `status` to see whether it happened."))
            }
            Err(_still_running) => {
                let shown = render::code(&verified.command);
                (
                    200,
                    render::ephemeral(&format!(
                        "Still working on {shown}; check `status` in a moment."
                    )),
                )
            }
        }
    }

    async fn settle(&self, outcome: Outcome, pressed: &Pressed, channel: &str) -> Value {
        match buttons::answer(outcome, pressed) {
            PressAnswer::Refusal(reply) => render::ephemeral(&render::markdown(&reply, None)),
            PressAnswer::Replace(reply) => {
                let actions = self.actions(channel, pressed.private);
                render::render(&reply, None, actions.as_ref()).update()
            }
            PressAnswer::Repost(reply) => {
                let public = self.actions(channel, false);
                let post = render::render(&reply, None, public.as_ref()).post(channel);
                let posted = match &self.api {
                    Some(api) => api.create_post(&post).await.map_err(|e| e.to_string()),
                    None => Err("no bot token is configured".to_string()),
                };
                match posted {
                    Ok(()) => {
                        let title = render::inert(&reply.title);
                        serde_json::json!({
                            "update": { "message": format!("{title} (posted in the channel)"), "props": {} },
                            "skip_slack_parsing": true,
                        })
                    }
                    Err(why) => {
                        // The change happened; the presser at least sees it.
                        tracing::warn!(error = %why, "could not post a pressed change to its Mattermost channel");
                        let private = self.actions(channel, true);
                        render::render(&reply, None, private.as_ref()).update()
                    }
                }
            }
        }
    }

    /// The answer to a command: the reply, the kit's hint, the buttons, as the core decided who
    /// sees it.
    fn answer(&self, outcome: &Outcome, invoke: &str, channel: &str) -> Value {
        let (reply, hint) = hints::hinted(outcome, invoke);
        let private = outcome.visibility == Visibility::Ephemeral;
        let actions = self.actions(channel, private);
        render::render(&reply, hint.as_deref(), actions.as_ref())
            .command_response(outcome.visibility)
    }

    fn actions<'a>(&'a self, channel: &'a str, private: bool) -> Option<Actions<'a>> {
        self.buttons.as_ref().map(|(signer, url)| Actions {
            signer,
            url,
            channel,
            private,
            now_ms: self.baton.now_ms(),
        })
    }
}

/// The identity roles match (`mattermost:<user id>`), shown by the request's user name (never
/// the id: without a name, "a Mattermost user").
pub fn actor(user_id: &str, user_name: Option<&str>) -> Actor {
    PLATFORM.actor(user_id, &[user_name], Vec::new())
}

fn known(tokens: &[[u8; 32]], token: Option<&str>) -> bool {
    let Some(token) = token.filter(|t| !t.trim().is_empty()) else {
        return false;
    };
    let given = digest(&Secret::new(token));
    tokens
        .iter()
        .fold(0u8, |found, t| found | t.ct_eq(&given).unwrap_u8())
        == 1
}

fn digest(token: &Secret) -> [u8; 32] {
    Sha256::digest(token.expose().trim().as_bytes()).into()
}

fn is_http(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

fn bad_request(why: &str) -> Answer {
    tracing::warn!(why, "unreadable mattermost request");
    (400, serde_json::json!({ "error": why }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_known_when_it_is_any_of_the_configured_ones() {
        let tokens = [digest(&Secret::new("tok1")), digest(&Secret::new("tok2"))];
        assert!(known(&tokens, Some("tok2")));
        assert!(known(&tokens, Some("tok1")));
        for wrong in [Some("tok3"), Some(""), Some("tok"), None] {
            assert!(!known(&tokens, wrong), "{wrong:?}");
        }
        assert!(!known(&[], Some("tok1")));
    }

    #[test]
    fn the_actor_is_the_mattermost_user_shown_by_name_and_never_by_id() {
        let a = actor("8x7kq1n3gbdu9n8b4hqf1jrx5a", Some("jane"));
        assert_eq!(
            (a.id.as_str(), a.display.as_str()),
            ("mattermost:8x7kq1n3gbdu9n8b4hqf1jrx5a", "jane")
        );
        assert_eq!(
            actor("8x7kq1n3gbdu9n8b4hqf1jrx5a", None).display,
            PLATFORM.nameless
        );
    }
}
