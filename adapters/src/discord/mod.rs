//! Discord: `/baton` as an application command, over HTTP interactions or the gateway. Both
//! transports hand a serenity [`Interaction`] to [`DiscordState::answer`], so the mapping to a
//! [`Command`](baton_commands::Command) and the rendering are the same; only delivery differs.
//!
//! - [`commands`]: the grammar as one application command, and an invocation back to chat text.
//! - [`render`]: a [`Reply`] as an embed with buttons.
//! - [`verify`]: Ed25519 signatures and timestamp freshness of HTTP interactions.
//! - [`gateway`]: serenity's client, for bots without a public URL.
//! - [`rest`] / [`delivery`]: Discord's REST API, and the core's delivery trait on top of it.
//! - [`limits`] / [`register`]: Discord's command limits, and `baton discord register`.

pub mod commands;
pub mod delivery;
pub mod gateway;
pub mod limits;
mod options;
pub mod register;
pub mod render;
pub mod rest;
pub mod verify;

use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use baton_commands::config::{DiscordConfig, Front};
use baton_commands::reply::{Button, Visibility};
use baton_commands::{grammar, Actor, Baton, BatonError, Reply, Request};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use reqwest::Method;
use serenity::all::{
    ActionRowComponent, ButtonKind, ButtonStyle, CommandInteraction, ComponentInteraction,
    CreateAutocompleteResponse, CreateInteractionResponse, CreateInteractionResponseMessage,
    Interaction, Member, Message, MessageFlags, User,
};

use self::render::render;
use self::rest::{Rest, RestError};
use self::verify::SignatureCheck;
use crate::kit::buttons::{self, PressAnswer, Pressed};
use crate::kit::deadline::{self, Timely};
use crate::kit::Platform;

/// Discord's registration: `discord:<user id>` people carrying `discord-role:<id>` guild roles,
/// the bot token as its secret, and announcement channels named by snowflake.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Discord",
        prefix: "discord",
        groups: &["discord-role"],
        example: "discord:8035…",
        bare_user: |id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
        secrets: &["discord.token"],
        channel: Some(channel),
    },
    nameless: "a Discord user",
    max_name: 64,
};

/// An announcement channel: the channel's snowflake, never its name, which changes.
fn channel(id: &str) -> Result<(), String> {
    if (17..=20).contains(&id.len()) && id.chars().all(|c| c.is_ascii_digit()) {
        Ok(())
    } else {
        Err("a Discord channel is named by its id, like `discord:123456789012345678` (Developer Mode → right-click the channel → Copy Channel ID)".into())
    }
}

/// What both transports share: the core, Discord's REST API, and the deadline.
#[derive(Clone)]
pub struct DiscordState {
    baton: Baton,
    rest: Rest,
    defer_after: Duration,
}

/// The answer to one interaction: the response Discord waits for, and maybe work that finishes
/// afterwards (editing a deferred response).
pub struct Answer {
    /// The interaction response.
    pub response: CreateInteractionResponse,
    /// Runs after the response is sent.
    pub later: Option<BoxFuture<'static, ()>>,
}

impl Answer {
    fn now(response: CreateInteractionResponse) -> Self {
        Self {
            response,
            later: None,
        }
    }

    fn message(reply: &Reply) -> Self {
        Self::now(CreateInteractionResponse::Message(render(reply).message()))
    }
}

impl DiscordState {
    /// The shared state for `config`'s `[discord]` section.
    pub fn new(baton: Baton, config: &DiscordConfig) -> Self {
        Self {
            baton,
            rest: Rest::new(&config.api_url, config.token.clone()),
            defer_after: config.deadline(),
        }
    }

    /// Answers one interaction, whichever transport it came by.
    pub async fn answer(&self, interaction: &Interaction) -> Answer {
        match interaction {
            Interaction::Ping(_) => Answer::now(CreateInteractionResponse::Pong),
            Interaction::Command(c) => self.command(c).await,
            Interaction::Autocomplete(c) => {
                let choices = commands::suggestions(self.baton.catalog(), &c.data)
                    .into_iter()
                    .fold(CreateAutocompleteResponse::new(), |r, name| {
                        r.add_string_choice(name.clone(), name)
                    });
                Answer::now(CreateInteractionResponse::Autocomplete(choices))
            }
            Interaction::Component(c) => self.button(c).await,
            _ => Answer::message(&refusal(BatonError::Usage {
                message: "Baton does not handle this kind of Discord interaction".into(),
                usage: None,
            })),
        }
    }

    /// `/baton …`: the options become chat text, parsed by the grammar like any other command.
    async fn command(&self, c: &CommandInteraction) -> Answer {
        let text = match commands::to_text(&c.data) {
            Ok(text) => text,
            Err(e) => return Answer::message(&refusal(e)),
        };
        // A deferred answer's visibility is fixed when deferring: the core's rule, for a success.
        let entry = grammar::verb_in(&text);
        let public = self.baton.visibility(entry, true) == Visibility::InChannel;
        let request = Request::text(
            actor(c.member.as_deref(), &c.user),
            Some(c.channel_id.to_string()),
            &text,
        );
        match deadline::run(&self.baton, request, self.defer_after).await {
            Timely::Now(outcome) => Answer::message(&outcome.reply),
            Timely::Later(pending) => {
                let m = CreateInteractionResponseMessage::new();
                let m = if public { m } else { m.ephemeral(true) };
                let (rest, app, token) = (self.rest.clone(), c.application_id, c.token.clone());
                let later = async move {
                    let edit = render(&pending.outcome().await.reply).edit();
                    let path = format!("/webhooks/{app}/{token}/messages/@original");
                    webhook(&rest, Method::PATCH, &path, &edit).await;
                };
                Answer {
                    response: CreateInteractionResponse::Defer(m),
                    later: Some(later.boxed()),
                }
            }
        }
    }

    /// A button: its `custom_id` is a command, run as whoever pressed it, answered as the
    /// kit's press policy says. A private prompt's state change is posted as a new public
    /// message (Discord cannot delete another interaction's ephemeral message).
    async fn button(&self, c: &ComponentInteraction) -> Answer {
        let request = Request::text(
            actor(c.member.as_ref(), &c.user),
            Some(c.channel_id.to_string()),
            &c.data.custom_id,
        );
        let pressed = pressed(&c.message);
        match deadline::run(&self.baton, request, self.defer_after).await {
            Timely::Now(outcome) => match buttons::answer(*outcome, &pressed) {
                PressAnswer::Replace(reply) => Answer::now(
                    CreateInteractionResponse::UpdateMessage(render(&reply).update()),
                ),
                PressAnswer::Refusal(reply) | PressAnswer::Repost(reply) => Answer::message(&reply),
            },
            Timely::Later(pending) => {
                let (rest, app, token) = (self.rest.clone(), c.application_id, c.token.clone());
                let later = async move {
                    let outcome = pending.outcome().await;
                    match buttons::answer(outcome, &pressed) {
                        PressAnswer::Replace(reply) => {
                            let path = format!("/webhooks/{app}/{token}/messages/@original");
                            webhook(&rest, Method::PATCH, &path, &render(&reply).edit()).await;
                        }
                        PressAnswer::Refusal(reply) | PressAnswer::Repost(reply) => {
                            let path = format!("/webhooks/{app}/{token}");
                            let followup = render(&reply).followup();
                            webhook(&rest, Method::POST, &path, &followup).await;
                        }
                    }
                };
                Answer {
                    response: CreateInteractionResponse::Acknowledge,
                    later: Some(later.boxed()),
                }
            }
        }
    }
}

/// The pressed message as the press policy needs it: ephemeral or not, and its Baton buttons.
fn pressed(message: &Message) -> Pressed {
    let buttons = message
        .components
        .iter()
        .flat_map(|row| &row.components)
        .filter_map(|c| match c {
            ActionRowComponent::Button(b) => match &b.data {
                ButtonKind::NonLink { custom_id, style } => Some(Button {
                    label: b.label.clone().unwrap_or_default(),
                    command: custom_id.clone(),
                    primary: *style == ButtonStyle::Primary,
                }),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Pressed {
        private: message
            .flags
            .is_some_and(|f| f.contains(MessageFlags::EPHEMERAL)),
        buttons,
    }
}

/// A call on the interaction's webhook after a deferral. Discord may not have registered the
/// deferred response yet when a command finishes just after the deadline, so a 404 is retried.
async fn webhook(rest: &Rest, method: Method, path: &str, body: &impl serde::Serialize) {
    for attempt in 0..3 {
        match rest.webhook(method.clone(), path, Some(body)).await {
            Ok(_) => return,
            Err(RestError::Status { status: 404, .. }) if attempt < 2 => {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not update the deferred Discord response");
                return;
            }
        }
    }
}

fn refusal(e: BatonError) -> Reply {
    e.reply(baton_commands::domain::wall_clock())
}

/// `discord:<user id>`, shown by the server nickname, else the global name, else the username,
/// carrying `discord-role:<id>` for each guild role (the interaction's `member` is present in
/// guilds, `user` in DMs).
pub fn actor(member: Option<&Member>, user: &User) -> Actor {
    let user = member.map_or(user, |m| &m.user);
    let groups = member
        .map(|m| {
            m.roles
                .iter()
                .map(|r| PLATFORM.group(&r.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let names = [
        member.and_then(|m| m.nick.as_deref()),
        user.global_name.as_deref(),
        Some(user.name.as_str()),
    ];
    PLATFORM.actor(&user.id.to_string(), &names, groups)
}

/// What the HTTP route needs.
#[derive(Clone)]
struct HttpState {
    discord: DiscordState,
    check: SignatureCheck,
}

/// `POST /discord/interactions`, for the application's public key.
pub fn routes(state: DiscordState, public_key: &str) -> Result<Router, String> {
    let check = SignatureCheck::new(public_key)?;
    Ok(Router::new()
        .route("/discord/interactions", post(interactions))
        .with_state(HttpState {
            discord: state,
            check,
        }))
}

async fn interactions(State(s): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = s.check.check(&headers, &body, SystemTime::now()) {
        tracing::info!(?why, "discord interaction refused");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            tracing::warn!(error = %e, "unreadable discord interaction");
            return (StatusCode::BAD_REQUEST, "unreadable interaction").into_response();
        }
    };
    if let Interaction::Ping(_) = interaction {
        return Json(serde_json::json!({"type": 1})).into_response();
    }
    let answer = s.discord.answer(&interaction).await;
    if let Some(later) = answer.later {
        tokio::spawn(later);
    }
    Json(answer.response).into_response()
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_member_is_shown_by_their_server_nickname_first() {
        use super::{actor, Member};
        let member: Member = serde_json::from_value(serde_json::json!({
            "user": {"id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
                     "discriminator": "0", "avatar": null},
            "roles": ["41771983423143936"], "nick": "Nelly (SRE)", "avatar": null,
            "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false,
            "flags": 0, "pending": false, "guild_id": "41771983423143937"
        }))
        .unwrap();
        let a = actor(Some(&member), &member.user);
        assert_eq!(a.display, "Nelly (SRE)");
        assert_eq!(a.id, "discord:80351110224678912");
        let mut plain = member.clone();
        plain.nick = None;
        assert_eq!(actor(Some(&plain), &plain.user).display, "Nelly");
    }

    #[test]
    fn an_announcement_channel_is_a_discord_snowflake() {
        let found = crate::kit::platform_problems(
            "[[envs]]\nname = \"prod\"\nannounce = [\"discord:123456789012345678\", \"discord:12\"]\n",
        );
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .message
                .contains("`discord:12` in envs[0].announce: a Discord channel is named by its id"),
            "{}",
            found[0].message
        );
    }
}
