//! The Discord test harness: a Baton with `[discord]` configured, interactions signed exactly as
//! Discord signs them (Ed25519 over `timestamp ++ body`), payloads shaped like Discord's, and a
//! local fake of Discord's REST API that records every call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_commands::config::Config;
use baton_commands::domain::Secret;
use ed25519_dalek::{Signer, SigningKey};
use redis::AsyncCommands;
use serde_json::{json, Value};

use crate::support::{spawn_core_with, TestApp};

pub const BOT_TOKEN: &str = "test-bot-token";
pub const APP_ID: &str = "900000000000000001";
pub const GUILD: &str = "800000000000000001";
/// The guild role mapped to Baton's admin role.
pub const ADMIN_ROLE: &str = "4242";

/// A Discord user; `roles` are their guild roles, `None` for a DM.
pub struct Who {
    pub id: &'static str,
    pub name: &'static str,
    pub roles: Option<&'static [&'static str]>,
}

pub const ALICE: Who = Who {
    id: "111",
    name: "Alice",
    roles: Some(&[]),
};
pub const BOB: Who = Who {
    id: "222",
    name: "Bob",
    roles: Some(&["999"]),
};
pub const OPS: Who = Who {
    id: "333",
    name: "Ops",
    roles: Some(&["999", ADMIN_ROLE]),
};
pub const DM_USER: Who = Who {
    id: "555",
    name: "Dee",
    roles: None,
};

// ---------- a fake of Discord's REST API ----------

pub use crate::support::Call;

#[derive(Clone, Default)]
pub struct FakeDiscord {
    pub calls: Arc<Mutex<Vec<Call>>>,
    pub rate_limited: Arc<AtomicBool>,
}

impl FakeDiscord {
    /// Serves on 127.0.0.1:0; returns the base URL (what `[discord] api_url` takes).
    pub async fn start() -> (Self, String) {
        let fake = Self::default();
        let app = axum::Router::new()
            .fallback(fake_handler)
            .with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn forget_calls(&self) {
        self.calls.lock().unwrap().clear();
    }

    /// Waits up to 5 s for a call whose path starts with `prefix`.
    pub async fn wait_for(&self, method: &str, prefix: &str) -> Call {
        for _ in 0..100 {
            let found = self
                .calls()
                .into_iter()
                .find(|c| c.method == method && c.path.starts_with(prefix));
            if let Some(call) = found {
                return call;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {method} {prefix}… in {:#?}", self.calls());
    }
}

async fn fake_handler(
    State(fake): State<FakeDiscord>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    fake.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path: path.clone(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    if fake.rate_limited.load(Ordering::SeqCst) {
        let body =
            json!({"message": "You are being rate limited.", "retry_after": 7.5, "global": false});
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "8")],
            Json(body),
        )
            .into_response();
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v10/applications/@me") => Json(json!({"id": "777"})).into_response(),
        ("POST", "/api/v10/users/@me/channels") => {
            Json(json!({"id": "4444", "type": 1})).into_response()
        }
        ("POST", p) if p.starts_with("/api/v10/channels/") => {
            Json(json!({"id": "1", "channel_id": "1"})).into_response()
        }
        _ => Json(json!({})).into_response(),
    }
}

// ---------- a Baton with Discord, and signed interactions ----------

pub struct Discord {
    pub app: TestApp,
    pub key: SigningKey,
    pub fake: FakeDiscord,
}

/// The service with `[discord]` configured against the fake API; `edit` adds more config.
pub async fn spawn_discord(edit: impl FnOnce(&mut Config)) -> Discord {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let (fake, api_url) = FakeDiscord::start().await;
    let public_key = hex::encode(key.verifying_key().to_bytes());
    let mut app = spawn_core_with(|c| {
        c.discord.public_key = Some(public_key);
        c.discord.api_url = api_url;
        c.discord.token = Some(Secret::new(BOT_TOKEN));
        c.roles
            .deployer
            .extend(["discord:111".into(), "discord:222".into()]);
        c.roles.admin.push(format!("discord-role:{ADMIN_ROLE}"));
        edit(c);
    })
    .await;
    app.start_instance().await;
    Discord { app, key, fake }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn sign(key: &SigningKey, timestamp: &str, body: &str) -> String {
    hex::encode(key.sign(format!("{timestamp}{body}").as_bytes()).to_bytes())
}

impl Discord {
    /// Posts `body` signed now with the application's key; returns the status and JSON answer.
    pub async fn post(&self, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let ts = unix_now().to_string();
        let sig = sign(&self.key, &ts, &body);
        self.post_raw(
            &body,
            &[
                ("x-signature-ed25519", &sig),
                ("x-signature-timestamp", &ts),
            ],
        )
        .await
    }

    pub async fn post_raw(&self, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .post(self.app.url("/discord/interactions"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn holder(&self, env: &str) -> Option<String> {
        let mut con = self.app.redis().await;
        con.hget(format!("baton:{{{env}}}:lockmeta:{env}"), "holder")
            .await
            .unwrap()
    }

    pub async fn locked(&self, env: &str) -> bool {
        let mut con = self.app.redis().await;
        con.exists(format!("baton:{{{env}}}:lockmeta:{env}"))
            .await
            .unwrap()
    }
}

pub fn user(who: &Who) -> Value {
    json!({
        "id": who.id, "username": who.name.to_lowercase(), "global_name": who.name,
        "discriminator": "0", "avatar": null, "public_flags": 0
    })
}

/// The fields every interaction carries, with the invoker as `member` (guild) or `user` (DM).
pub fn envelope(kind: u8, who: &Who, data: Value) -> Value {
    let mut v = json!({
        "id": "500000000000000001", "application_id": APP_ID, "type": kind, "data": data,
        "token": "interaction-token-abc", "version": 1, "locale": "en-US",
        "channel_id": "700000000000000001", "app_permissions": "2248473465835073",
        "entitlements": [], "attachment_size_limit": 26214400,
    });
    match who.roles {
        Some(roles) => {
            v["guild_id"] = json!(GUILD);
            v["guild_locale"] = json!("en-US");
            v["context"] = json!(0);
            v["channel"] = json!({"id": "700000000000000001", "type": 0, "name": "deploys"});
            v["member"] = json!({
                "user": user(who), "roles": roles, "nick": null, "avatar": null,
                "joined_at": "2024-01-01T00:00:00.000000+00:00", "premium_since": null,
                "deaf": false, "mute": false, "flags": 0, "pending": false,
                "permissions": "2248473465835073", "communication_disabled_until": null
            });
        }
        None => {
            v["context"] = json!(1);
            v["user"] = user(who);
        }
    }
    v
}

/// `/baton <sub> <options>` (APPLICATION_COMMAND, type 2).
pub fn slash(who: &Who, sub: &str, options: Value) -> Value {
    envelope(
        2,
        who,
        json!({"id": "600000000000000001", "name": "baton", "type": 1,
               "options": [{"name": sub, "type": 1, "options": options}]}),
    )
}

pub fn s(name: &str, value: &str) -> Value {
    json!({"name": name, "type": 3, "value": value})
}

/// A press of the button `custom_id` on `message` (MESSAGE_COMPONENT, type 3).
pub fn press(who: &Who, custom_id: &str, message: &Value) -> Value {
    let mut v = envelope(3, who, json!({"custom_id": custom_id, "component_type": 2}));
    v["message"] = json!({
        "id": "650000000000000001", "channel_id": "700000000000000001", "type": 20,
        "author": {"id": APP_ID, "username": "baton", "discriminator": "0", "avatar": null, "bot": true},
        "content": "", "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null,
        "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
        "attachments": [], "embeds": message["embeds"], "components": message["components"],
        "pinned": false, "flags": 0, "application_id": APP_ID, "webhook_id": APP_ID
    });
    v
}

pub fn title(answer: &Value) -> &str {
    answer["data"]["embeds"][0]["title"]
        .as_str()
        .unwrap_or_default()
}

pub fn custom_ids(answer: &Value) -> Vec<String> {
    answer["data"]["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(String::from))
        .collect()
}

pub fn ephemeral(answer: &Value) -> bool {
    answer["data"]["flags"].as_u64().unwrap_or(0) & 64 == 64
}
