//! Microsoft Teams, through Bot Framework: activities posted to `POST /teams/messages`, each
//! request's token checked against Bot Framework's published keys ([`auth`]); answers as
//! Adaptive Cards ([`cards`]); replies, card updates, announcements and direct messages through
//! the Bot Connector with the bot's own token ([`connector`], [`delivery`]).
//!
//! - A message is the chat grammar, with or without an @mention of the bot. It runs through the
//!   core as `teams:<Entra object id>`; the answer is posted in the conversation (in a channel,
//!   in the command's thread). Teams has no messages only one person sees, so answers other
//!   platforms show privately are posted in the thread too.
//! - A button is an `Action.Execute`: the press is an `adaptiveCard/action` invoke, whose HTTP
//!   answer is the card that replaces the pressed one (and the message is updated for everyone);
//!   a refusal is a message to the presser alone and the card stays. `Action.Submit` presses
//!   (older clients) are understood too.
//! - Every activity teaches Baton where its conversation lives (`serviceUrl`, tenant) and how to
//!   reach its sender, so announcements and direct messages can be posted later.

pub mod activity;
pub mod auth;
pub mod cards;
pub mod connector;
pub mod delivery;
pub mod manifest;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing;
use axum::{Json, Router};
use baton_commands::config::{Front, TeamsConfig};
use baton_commands::reply::Button;
use baton_commands::{Baton, Outcome, Reply, Request};
use reqwest::Method;
use serde_json::{json, Value};

use self::activity::Activity;
use self::auth::TokenCheck;
use self::connector::Connector;
use crate::kit::buttons::{self, PressAnswer, Pressed};
use crate::kit::deadline::{self, Timely};
use crate::kit::{hints, Platform};

/// Teams as configuration sees it.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Microsoft Teams",
        prefix: "teams",
        groups: &[],
        example: "teams:<Entra object id>",
        bare_user: is_object_id,
        secrets: &["teams.app_password"],
        channel: Some(channel),
    },
    nameless: "a Teams user",
    max_name: 64,
};

/// An Entra object id: a GUID.
fn is_object_id(id: &str) -> bool {
    baton_commands::config::is_guid(id)
}

/// An announcement channel: a Teams conversation id (`19:…@thread.tacv2` for a channel).
fn channel(id: &str) -> Result<(), String> {
    let printable = id.chars().all(|c| c.is_ascii_graphic());
    if (3..=400).contains(&id.len()) && printable && id.contains(':') {
        Ok(())
    } else {
        Err("a Teams channel is named by its conversation id, like `teams:19:abc…@thread.tacv2` (the channel's … menu → Get link to channel: the part after /channel/, URL-decoded)".into())
    }
}

/// The address books Teams keeps in the store (see [`baton_commands::store::contacts`]).
pub(crate) mod book {
    /// A conversation id → `{serviceUrl, tenant}`.
    pub const CONVERSATION: &str = "conversation";
    /// An Entra object id → `{id, serviceUrl, tenant}`: how to open a personal chat.
    pub const PERSON: &str = "person";
    /// An Entra object id → the personal chat's conversation id, once opened.
    pub const CHAT: &str = "chat";
}

/// What the route needs: the core, the token check, the Connector, the deadline.
#[derive(Clone)]
pub struct TeamsState {
    baton: Baton,
    check: TokenCheck,
    connector: Connector,
    deadline: Duration,
    /// The addresses this instance last remembered (see [`remember`]).
    known: Arc<Mutex<HashMap<(&'static str, String), String>>>,
}

/// How many remembered addresses an instance keeps in memory before it starts over.
const KNOWN_AT_MOST: usize = 10_000;

impl TeamsState {
    /// From `[teams]`; `None` without an app id and a client secret.
    pub fn from_config(baton: Baton, config: &TeamsConfig) -> Option<Self> {
        Some(Self {
            baton,
            check: TokenCheck::new(config.app_id.as_deref()?, &config.openid_metadata_url),
            connector: Connector::from_config(config)?,
            deadline: config.deadline(),
            known: Arc::default(),
        })
    }
}

/// `POST /teams/messages`.
pub fn routes(state: TeamsState) -> Router {
    Router::new()
        .route("/teams/messages", routing::post(messages))
        .with_state(state)
}

fn refused(status: u16, why: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNAUTHORIZED);
    (status, Json(json!({"error": why}))).into_response()
}

async fn messages(State(s): State<TeamsState>, headers: HeaderMap, body: Bytes) -> Response {
    let authorization = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(serde_json::from_slice::<Activity>(&body))
    };
    let (service_url, channel) = match &parsed {
        Some(Ok(a)) => (a.service_url.as_deref(), a.channel_id.as_deref()),
        _ => (None, None),
    };
    if let Err(refusal) = s.check.check(authorization, service_url, channel).await {
        return refused(refusal.status, refusal.why);
    }
    let activity = match parsed {
        // Bot Framework's playground probes the endpoint with an empty body.
        None => return StatusCode::OK.into_response(),
        Some(Err(_)) => return refused(400, "the body is not a Bot Framework activity"),
        Some(Ok(a)) => a,
    };
    let Some(service_url) = activity.service_url.clone() else {
        return refused(400, "the activity names no serviceUrl");
    };
    remember(&s, &activity, &service_url);
    match activity.kind.as_str() {
        "invoke" if activity.name.as_deref() == Some("adaptiveCard/action") => {
            execute(s, activity, service_url).await
        }
        "message" => {
            message(s, activity, service_url).await;
            StatusCode::OK.into_response()
        }
        "conversationUpdate" if activity.adds_the_bot() => {
            welcome(s, activity, service_url);
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// Remembers where the activity's conversation lives and how to reach its sender, off the
/// request's path (a store outage costs only a later direct message).
fn remember(s: &TeamsState, a: &Activity, service_url: &str) {
    let at = json!({"serviceUrl": service_url, "tenant": a.tenant()});
    let mut entries = Vec::new();
    if let Some(id) = a.channel_conversation() {
        entries.push((book::CONVERSATION, id.to_string(), at.to_string()));
    }
    if let Some(f) = &a.from {
        if let Some(aad) = f.aad_object_id.as_deref().filter(|id| !id.is_empty()) {
            let mut who = at;
            who["id"] = json!(f.id);
            entries.push((book::PERSON, aad.to_string(), who.to_string()));
        }
    }
    // What this instance wrote last needs no round trip: a conversation's address rarely
    // changes, and every message would otherwise read it back.
    {
        let mut known = s.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() > KNOWN_AT_MOST {
            known.clear();
        }
        entries.retain(|(kind, id, value)| {
            known.insert((kind, id.clone()), value.clone()).as_ref() != Some(value)
        });
    }
    if entries.is_empty() {
        return;
    }
    let (baton, known) = (s.baton.clone(), s.known.clone());
    tokio::spawn(async move {
        for (kind, id, value) in entries {
            let stored = baton
                .remember_contact(PLATFORM.front.prefix, kind, &id, &value)
                .await;
            if stored.is_err() {
                // Not written: the next activity tries again.
                let mut known = known.lock().unwrap_or_else(|e| e.into_inner());
                known.remove(&(kind, id));
            }
        }
    });
}

/// The message to post for `reply`: one Adaptive Card.
pub fn card_activity(reply: &Reply, reply_to: Option<&str>) -> Value {
    let mut activity = json!({
        "type": "message",
        "attachments": [{"contentType": cards::CONTENT_TYPE, "content": cards::card(reply)}],
    });
    if let Some(id) = reply_to {
        activity["replyToId"] = json!(id);
    }
    activity
}

/// A typed command (or an `Action.Submit` press): run as its sender, answered in the thread.
async fn message(s: TeamsState, activity: Activity, service_url: String) {
    let Some(actor) = activity.actor() else {
        return;
    };
    let Some(conversation) = activity.conversation_id().map(String::from) else {
        return;
    };
    let channel = activity.channel_conversation().map(String::from);
    if let Some(command) = activity.pressed_command() {
        let pressed = Pressed {
            private: false,
            buttons: carried_buttons(&activity),
        };
        let request = Request::text(actor, channel, &command);
        let card_message = activity.reply_to_id.clone();
        tokio::spawn(async move {
            let outcome = s.baton.run(request).await;
            match buttons::answer(outcome, &pressed) {
                PressAnswer::Refusal(reply) => {
                    let body = card_activity(&reply, activity.id.as_deref());
                    post(
                        &s,
                        &service_url,
                        &conversation,
                        activity.id.as_deref(),
                        &body,
                    )
                    .await;
                }
                PressAnswer::Replace(reply) | PressAnswer::Repost(reply) => {
                    update(
                        &s,
                        &service_url,
                        &conversation,
                        card_message.as_deref(),
                        &reply,
                    )
                    .await;
                }
            }
        });
        return;
    }
    let Some(text) = activity.command_text() else {
        return;
    };
    let invoke = activity
        .recipient
        .as_ref()
        .and_then(|r| r.name.as_deref())
        .map_or_else(|| "@Baton".to_string(), |n| format!("@{n}"));
    let request = Request::text(actor, channel, &text);
    let reply_to = activity.id.clone();
    match deadline::run(&s.baton, request, s.deadline).await {
        Timely::Now(outcome) => {
            tokio::spawn(async move {
                answer(
                    &s,
                    &service_url,
                    &conversation,
                    reply_to.as_deref(),
                    &outcome,
                    &invoke,
                )
                .await;
            });
        }
        Timely::Later(pending) => {
            tokio::spawn(async move {
                let typing = json!({"type": "typing"});
                post(&s, &service_url, &conversation, None, &typing).await;
                let outcome = pending.outcome().await;
                answer(
                    &s,
                    &service_url,
                    &conversation,
                    reply_to.as_deref(),
                    &outcome,
                    &invoke,
                )
                .await;
            });
        }
    }
}

/// Says hello where the bot was just added, with how to start.
fn welcome(s: TeamsState, activity: Activity, service_url: String) {
    let Some(conversation) = activity.channel_conversation().map(String::from) else {
        return;
    };
    let name = activity
        .recipient
        .as_ref()
        .and_then(|r| r.name.clone())
        .unwrap_or_else(|| "Baton".into());
    let now = s.baton.now_ms();
    let reply = Reply::new(baton_commands::reply::Tone::Info, format!("{name} is here"), now)
        .with_text(format!(
            "Lock an env before you deploy: `@{name} lock prod 30m hotfix`. `@{name} status` shows every env, `@{name} help` every command."
        ));
    tokio::spawn(async move {
        post(
            &s,
            &service_url,
            &conversation,
            None,
            &card_activity(&reply, None),
        )
        .await;
    });
}

/// Posts the answer to a typed command, with what to type next under help and mistakes.
async fn answer(
    s: &TeamsState,
    service_url: &str,
    conversation: &str,
    reply_to: Option<&str>,
    outcome: &Outcome,
    invoke: &str,
) {
    let (mut reply, hint) = hints::hinted(outcome, invoke);
    if let Some(hint) = hint {
        let text = reply.text.take().map(|t| format!("{t}\n\n{hint}"));
        reply.text = Some(text.unwrap_or(hint));
    }
    let body = card_activity(&reply, reply_to);
    post(s, service_url, conversation, reply_to, &body).await;
}

async fn post(
    s: &TeamsState,
    service_url: &str,
    conversation: &str,
    reply_to: Option<&str>,
    body: &Value,
) {
    let path = connector::activities(conversation, reply_to);
    if let Err(e) = s
        .connector
        .call_retrying(Method::POST, service_url, &path, body)
        .await
    {
        tracing::warn!(error = %e, "could not post a Teams answer");
    }
}

/// Replaces the card in message `id` for everyone.
async fn update(
    s: &TeamsState,
    service_url: &str,
    conversation: &str,
    id: Option<&str>,
    reply: &Reply,
) {
    let Some(id) = id else {
        return;
    };
    let mut body = card_activity(reply, None);
    body["id"] = json!(id);
    let path = format!(
        "/v3/conversations/{}/activities/{}",
        connector::segment(conversation),
        connector::segment(id)
    );
    if let Err(e) = s
        .connector
        .call_retrying(Method::PUT, service_url, &path, &body)
        .await
    {
        tracing::warn!(error = %e, "could not update a Teams card");
    }
}

/// The buttons of the card a press came from, which each Baton action carries, so an answer
/// that leaves the hold in place (an extension) keeps them.
fn carried_buttons(activity: &Activity) -> Vec<Button> {
    let value = activity.value.as_ref();
    let data = if activity.kind == "invoke" {
        value.and_then(|v| v.pointer("/action/data"))
    } else {
        value
    };
    data.and_then(|d| d.get("card"))
        .and_then(Value::as_array)
        .map(|all| {
            all.iter()
                .filter_map(|b| {
                    Some(Button {
                        label: b.get(0)?.as_str()?.to_string(),
                        command: b.get(1)?.as_str()?.to_string(),
                        primary: b.get(2)?.as_bool()?,
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// An `Action.Execute` press: the invoke's HTTP answer is the new card, or a message to the
/// presser alone when refused.
async fn execute(s: TeamsState, activity: Activity, service_url: String) -> Response {
    let (Some(actor), Some(command)) = (activity.actor(), activity.pressed_command()) else {
        return invoke_message("This button is not one of Baton's.");
    };
    let pressed = Pressed {
        private: false,
        buttons: carried_buttons(&activity),
    };
    let request = Request::text(
        actor,
        activity.channel_conversation().map(String::from),
        &command,
    );
    let conversation = activity.conversation_id().unwrap_or_default().to_string();
    let card_message = activity.reply_to_id.clone();
    let baton = s.baton.clone();
    let work = async move {
        let outcome = baton.run(request).await;
        buttons::answer(outcome, &pressed)
    };
    match deadline::within(s.deadline, work).await {
        Ok(Ok(answer)) => respond_to_press(&s, &service_url, &conversation, card_message, answer),
        Ok(Err(_)) => invoke_message("Something went wrong running that; nothing was changed."),
        Err(task) => {
            tokio::spawn(async move {
                if let Ok(answer) = task.await {
                    let _ = respond_to_press(&s, &service_url, &conversation, card_message, answer);
                }
            });
            invoke_message("Working on it; the card updates when it is done.")
        }
    }
}

fn respond_to_press(
    s: &TeamsState,
    service_url: &str,
    conversation: &str,
    card_message: Option<String>,
    answer: PressAnswer,
) -> Response {
    match answer {
        PressAnswer::Refusal(reply) => {
            let mut text = reply.title.clone();
            if let Some(more) = &reply.text {
                text = format!("{text}\n{more}");
            }
            invoke_message(&cards::inert(&text))
        }
        PressAnswer::Replace(reply) | PressAnswer::Repost(reply) => {
            let card = cards::card(&reply);
            let s = s.clone();
            let (service_url, conversation) = (service_url.to_string(), conversation.to_string());
            tokio::spawn(async move {
                update(
                    &s,
                    &service_url,
                    &conversation,
                    card_message.as_deref(),
                    &reply,
                )
                .await;
            });
            Json(json!({"statusCode": 200, "type": cards::CONTENT_TYPE, "value": card}))
                .into_response()
        }
    }
}

/// An invoke answer Teams shows the presser as a message.
fn invoke_message(text: &str) -> Response {
    Json(json!({
        "statusCode": 200,
        "type": "application/vnd.microsoft.activity.message",
        "value": text,
    }))
    .into_response()
}
