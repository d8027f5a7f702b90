//! One code path for HTTP and Socket Mode: a slash command or a button press comes in as a
//! [`SlashCommand`] or [`ButtonPress`], runs through the router as its Slack user, and goes out
//! as Block Kit.
//!
//! Slack wants an answer within 3 seconds. The kit's [`deadline`] runs every command on its own
//! task; what finishes within [`DEADLINE`] is answered directly, anything slower gets an
//! ephemeral "working on it" at once and its real answer through the `response_url` when it is
//! done. Presses follow the kit's [`buttons`] policy, help and mistakes its [`hints`].

use std::sync::Arc;
use std::time::Duration;

use baton_commands::config::SlackConfig;
use baton_commands::reply::{Button, Visibility};
use baton_commands::{Actor, Baton, Outcome, Request};
use slack_morphism::prelude::*;

use super::blocks::{self, ACTION_PREFIX};
use super::delivery::{self, ResponseMessage};
use super::PLATFORM;
use crate::kit::buttons::{self, PressAnswer, Pressed};
use crate::kit::deadline::{self, Timely};
use crate::kit::hints;

/// How long a request may run before Slack is answered "working on it" (Slack allows 3 s).
pub const DEADLINE: Duration = Duration::from_millis(2500);

/// What both Slack front ends (HTTP and Socket Mode) share: the core and the outbound client
/// for `response_url`. Which answers go to the channel is the core's decision
/// ([`Outcome::visibility`], from `[chat] in_channel`).
#[derive(Clone)]
pub struct SlackHandler {
    baton: Baton,
    client: Arc<SlackHyperClient>,
}

/// `/baton TEXT` from someone, in a channel.
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// Who typed it.
    pub actor: Actor,
    /// The channel it was typed in.
    pub channel: String,
    /// What follows the command name.
    pub text: String,
    /// The command name as typed (`/baton`), for hints.
    pub command: String,
    /// Where late answers go.
    pub response_url: SlackResponseUrl,
}

/// A press on one of Baton's buttons.
#[derive(Debug, Clone)]
pub struct ButtonPress {
    /// Who pressed it.
    pub actor: Actor,
    /// The channel of the message.
    pub channel: Option<String>,
    /// The command the button carries, e.g. `unlock prod`.
    pub command: String,
    /// Where the answer goes.
    pub response_url: SlackResponseUrl,
    /// The pressed message: whether only the presser saw it, and its Baton buttons.
    pub pressed: Pressed,
}

/// The identity roles match (`slack:U…`), shown by Slack user name (HTTP and Socket Mode both
/// carry it). A display name travels to other platforms and the status page, so it is never a
/// platform id: without a name the person is "a Slack user". The workspace goes in the groups as
/// `slack-team:T…`.
pub fn actor(user_id: &str, team_id: Option<&str>, user_name: Option<&str>) -> Actor {
    let groups = team_id
        .filter(|t| !t.is_empty())
        .map(|t| vec![PLATFORM.group(t)])
        .unwrap_or_default();
    PLATFORM.actor(user_id, &[user_name], groups)
}

impl SlashCommand {
    /// From slack-morphism's event; `user_name` is in Slack's form but not in that model.
    pub fn from_event(event: &SlackCommandEvent, user_name: Option<&str>) -> Self {
        Self {
            actor: actor(&event.user_id.0, Some(&event.team_id.0), user_name),
            channel: event.channel_id.0.clone(),
            text: event.text.clone().unwrap_or_default(),
            command: event.command.0.clone(),
            response_url: event.response_url.clone(),
        }
    }
}

impl ButtonPress {
    /// The press of a Baton button; `None` for other apps' actions or payloads Slack sent without
    /// a user or a `response_url` (nothing can be answered then).
    pub fn from_event(event: &SlackInteractionBlockActionsEvent) -> Option<Self> {
        let user = event.user.as_ref()?;
        let action = event
            .actions
            .iter()
            .flatten()
            .find(|a| a.action_id.0.starts_with(ACTION_PREFIX))?;
        let command = action
            .value
            .clone()
            .unwrap_or_else(|| action.action_id.0[ACTION_PREFIX.len()..].to_string());
        let name = user.username.as_deref().or(user.name.as_deref());
        let team = user.team_id.as_ref().unwrap_or(&event.team.id);
        let (channel, ephemeral_original) = match &event.container {
            SlackInteractionActionContainer::Message(m) => (
                m.channel_id.as_ref().map(|c| c.0.clone()),
                m.is_ephemeral.unwrap_or(false),
            ),
            _ => (None, false),
        };
        Some(Self {
            actor: actor(&user.id.0, Some(&team.0), name),
            channel: channel.or_else(|| event.channel.as_ref().map(|c| c.id.0.clone())),
            command,
            response_url: event.response_url.clone()?,
            pressed: Pressed {
                private: ephemeral_original,
                buttons: event
                    .message
                    .as_ref()
                    .map(|m| buttons_of(&m.content))
                    .unwrap_or_default(),
            },
        })
    }
}

/// Baton's buttons in a message Slack sent back.
fn buttons_of(content: &SlackMessageContent) -> Vec<Button> {
    let elements = content.blocks.iter().flatten().filter_map(|b| match b {
        SlackBlock::Actions(a) => Some(a.elements.iter()),
        _ => None,
    });
    elements
        .flatten()
        .filter_map(|e| match e {
            SlackActionBlockElement::Button(b) => Some(b),
            _ => None,
        })
        .filter(|b| {
            b.action_id
                .as_ref()
                .is_some_and(|id| id.0.starts_with(ACTION_PREFIX))
        })
        .filter_map(|b| {
            let json = serde_json::to_value(b).ok()?;
            Some(Button {
                label: json["text"]["text"].as_str()?.to_string(),
                command: b.value.clone()?,
                primary: json["style"] == "primary",
            })
        })
        .collect()
}

impl SlackHandler {
    /// The handler for `[slack]` over `baton`.
    pub fn new(baton: Baton, config: &SlackConfig) -> Self {
        Self {
            baton,
            client: delivery::client(&config.api_url),
        }
    }

    /// Answers a slash command: directly when it is quick, else "working on it" and the real
    /// answer through the `response_url`.
    pub async fn command(&self, cmd: SlashCommand) -> SlackCommandEventResponse {
        let request = Request::text(cmd.actor.clone(), Some(cmd.channel.clone()), &cmd.text);
        match deadline::run(&self.baton, request, DEADLINE).await {
            Timely::Now(outcome) => {
                let (content, kind) = answer(&outcome, &cmd.command);
                SlackCommandEventResponse::new(content).with_response_type(kind)
            }
            Timely::Later(pending) => {
                let this = self.clone();
                let (url, name) = (cmd.response_url.clone(), cmd.command.clone());
                tokio::spawn(async move {
                    let (content, kind) = answer(&pending.outcome().await, &name);
                    this.post(&url, ResponseMessage::new_message(content, kind))
                        .await;
                });
                let shown = blocks::escape(&baton_commands::domain::preview(&cmd.text));
                let working = SlackMessageContent::new().with_text(format!(
                    ":hourglass_flowing_sand: Working on `{shown}`; the answer follows here."
                ));
                SlackCommandEventResponse::new(working)
                    .with_response_type(SlackMessageResponseType::Ephemeral)
            }
        }
    }

    /// Runs a button's command as the presser and answers through the `response_url` as the
    /// kit's press policy says. Returns once the answer is posted, or at the deadline while it
    /// is still on its way.
    pub async fn press(&self, press: ButtonPress) {
        let this = self.clone();
        let work = async move { this.settle_press(press).await };
        if deadline::within(DEADLINE, work).await.is_err() {
            tracing::debug!("slow button press acknowledged; its answer follows via response_url");
        }
    }

    async fn settle_press(&self, press: ButtonPress) {
        let request = Request::text(press.actor.clone(), press.channel.clone(), &press.command);
        let outcome = self.baton.run(request).await;
        let messages = match buttons::answer(outcome, &press.pressed) {
            PressAnswer::Refusal(reply) => vec![ResponseMessage::new_message(
                blocks::content(&reply, None),
                SlackMessageResponseType::Ephemeral,
            )],
            PressAnswer::Replace(reply) => {
                vec![ResponseMessage::replacing(blocks::content(&reply, None))]
            }
            PressAnswer::Repost(reply) => vec![
                ResponseMessage::new_message(
                    blocks::content(&reply, None),
                    SlackMessageResponseType::InChannel,
                ),
                ResponseMessage::delete_original(),
            ],
        };
        for message in messages {
            self.post(&press.response_url, message).await;
        }
    }

    async fn post(&self, url: &SlackResponseUrl, message: ResponseMessage) {
        if let Err(e) = delivery::respond(&self.client, url, &message).await {
            tracing::warn!(error = %e, "could not answer Slack through the response_url");
        }
    }
}

/// The message and who sees it, as the core decided (refusals and reads only the asker,
/// configured verbs the channel), with the kit's hint for help, usage and unknown verbs.
fn answer(outcome: &Outcome, command: &str) -> (SlackMessageContent, SlackMessageResponseType) {
    let (reply, hint) = hints::hinted(outcome, command);
    let hint = hint.map(|h| blocks::escape(&h));
    let kind = match outcome.visibility {
        Visibility::InChannel => SlackMessageResponseType::InChannel,
        Visibility::Ephemeral => SlackMessageResponseType::Ephemeral,
    };
    (blocks::content(&reply, hint.as_deref()), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_actor_is_the_slack_user_shown_by_name_and_never_by_id() {
        let a = actor("U1", Some("T1"), Some("jane"));
        assert_eq!((a.id.as_str(), a.display.as_str()), ("slack:U1", "jane"));
        assert_eq!(a.groups, ["slack-team:T1"]);
        assert_eq!(actor("U2", None, None).display, PLATFORM.nameless);
        assert_eq!(
            actor("U3", Some(""), Some(" \u{202e}")).display,
            PLATFORM.nameless
        );
        assert!(actor("U3", Some(""), None).groups.is_empty());
    }
}
