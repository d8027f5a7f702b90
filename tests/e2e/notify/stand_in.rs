//! A stand-in for Slack's Web API and Discord's REST API at once, answering in their documented
//! shapes, with trouble chosen per channel: down (HTTP 500) or rate limited (429 with
//! `Retry-After`) for a while from the first post, or a 200 whose body the client libraries'
//! models cannot decode. It records every post and whether it was accepted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_adapters::discord::delivery::DiscordDelivery;
use baton_adapters::discord::rest::Rest;
use baton_adapters::slack::SlackDelivery;
use baton_commands::domain::Secret;
use baton_commands::Delivery;
use serde_json::{json, Value};

/// What a channel answers.
#[derive(Clone, Copy, Debug)]
pub enum Trouble {
    /// HTTP 500 for this long after its first post.
    Down(Duration),
    /// 429 with `Retry-After` for this long after its first post.
    Limited(Duration),
    /// 200 with `ok: true` (Slack) or a 2xx (Discord) whose body does not decode.
    Odd,
}

/// One post to a channel (a Slack channel, a Slack DM `D<user>`, a Discord channel or DM).
#[derive(Clone, Debug)]
pub struct Post {
    pub platform: &'static str,
    pub channel: String,
    pub body: Value,
    pub at: Instant,
    pub accepted: bool,
}

/// Per channel: its trouble, and when it started (at the first post).
type Troubles = HashMap<String, (Trouble, Option<Instant>)>;

#[derive(Clone, Default)]
pub struct StandIn {
    posts: Arc<Mutex<Vec<Post>>>,
    trouble: Arc<Mutex<Troubles>>,
    base: Arc<Mutex<String>>,
}

impl StandIn {
    pub async fn start() -> Self {
        let s = Self::default();
        let app = axum::Router::new().fallback(answer).with_state(s.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        *s.base.lock().unwrap() = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        s
    }

    pub fn trouble(&self, channel: &str, trouble: Trouble) {
        let mut t = self.trouble.lock().unwrap();
        t.insert(channel.to_string(), (trouble, None));
    }

    pub fn slack(&self) -> Arc<dyn Delivery> {
        let url = format!("{}/api", self.base.lock().unwrap());
        Arc::new(SlackDelivery::new(&url, &Secret::new("xoxb-test")))
    }

    pub fn discord(&self) -> Arc<dyn Delivery> {
        let url = self.base.lock().unwrap().clone();
        Arc::new(DiscordDelivery::new(Rest::new(
            &url,
            Some(Secret::new("bot-token")),
        )))
    }

    /// Every post to `channel` so far, in order.
    pub fn posts(&self, channel: &str) -> Vec<Post> {
        let posts = self.posts.lock().unwrap();
        posts
            .iter()
            .filter(|p| p.channel == channel)
            .cloned()
            .collect()
    }

    /// The accepted posts to `channel`, as the text a reader sees.
    pub fn shown(&self, channel: &str) -> Vec<String> {
        let posts = self.posts(channel).into_iter().filter(|p| p.accepted);
        posts.map(|p| shown(&p)).collect()
    }

    pub fn all(&self) -> Vec<Post> {
        self.posts.lock().unwrap().clone()
    }

    /// The trouble `channel` is in now, if any (it starts with the first post).
    fn now_for(&self, channel: &str) -> Option<(Trouble, Duration)> {
        let mut t = self.trouble.lock().unwrap();
        let (trouble, since) = t.get_mut(channel)?;
        let since = *since.get_or_insert_with(Instant::now);
        let left = match *trouble {
            Trouble::Down(d) | Trouble::Limited(d) => d.checked_sub(since.elapsed())?,
            Trouble::Odd => Duration::ZERO,
        };
        Some((*trouble, left))
    }
}

/// What a reader sees of a post: Slack's blocks, or Discord's embeds.
pub fn shown(p: &Post) -> String {
    let mut out = Vec::new();
    for b in p.body["blocks"].as_array().into_iter().flatten() {
        out.push(b["text"]["text"].as_str().unwrap_or_default().to_string());
        for f in b["fields"].as_array().into_iter().flatten() {
            out.push(f["text"].as_str().unwrap_or_default().to_string());
        }
    }
    for e in p.body["embeds"].as_array().into_iter().flatten() {
        out.push(e["title"].as_str().unwrap_or_default().to_string());
        out.push(e["description"].as_str().unwrap_or_default().to_string());
        for f in e["fields"].as_array().into_iter().flatten() {
            out.push(f["value"].as_str().unwrap_or_default().to_string());
        }
    }
    out.join("\n")
}

async fn answer(State(s): State<StandIn>, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.path().to_string();
    if path.ends_with("conversations.open") {
        let dm = format!("D{}", body["users"].as_str().unwrap_or_default());
        return Json(json!({"ok": true, "channel": {"id": dm}})).into_response();
    }
    if path == "/api/v10/users/@me/channels" {
        let id = body["recipient_id"].as_str().unwrap_or_default();
        return Json(json!({"id": id, "type": 1, "recipients": []})).into_response();
    }
    let (platform, channel) = match path.strip_prefix("/api/v10/channels/") {
        Some(rest) => ("discord", rest.trim_end_matches("/messages").to_string()),
        None => (
            "slack",
            body["channel"].as_str().unwrap_or_default().to_string(),
        ),
    };
    let trouble = s.now_for(&channel);
    let accepted = matches!(trouble, None | Some((Trouble::Odd, _)));
    s.posts.lock().unwrap().push(Post {
        platform,
        channel: channel.clone(),
        body: body.clone(),
        at: Instant::now(),
        accepted,
    });
    match (platform, trouble) {
        (_, Some((Trouble::Down(_), _))) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"message": "500: Internal Server Error", "code": 0})),
        )
            .into_response(),
        ("slack", Some((Trouble::Limited(_), left))) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", (left.as_secs() + 1).to_string())],
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response(),
        (_, Some((Trouble::Limited(_), left))) => {
            let body = json!({"message": "You are being rate limited.",
                "retry_after": left.as_secs_f64(), "global": false});
            let header = (left.as_secs() + 1).to_string();
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", header)],
                Json(body),
            )
                .into_response()
        }
        // `ts` and `message` in shapes slack-morphism's model refuses; Slack said ok all the same.
        ("slack", Some((Trouble::Odd, _))) => {
            Json(json!({"ok": true, "channel": 42, "ts": {"odd": true}, "message": "?"}))
                .into_response()
        }
        (_, Some((Trouble::Odd, _))) => (
            StatusCode::OK,
            [("content-type", "application/json")],
            "{\"id\": \"1\", ",
        )
            .into_response(),
        ("slack", None) => Json(json!({
            "ok": true, "channel": channel, "ts": "1795711200.000100",
            "message": {"type": "message", "text": body["text"], "ts": "1795711200.000100"},
        }))
        .into_response(),
        _ => Json(
            json!({"id": "1", "channel_id": channel, "type": 0, "content": "",
            "embeds": body["embeds"], "timestamp": "2026-01-01T00:00:00.000000+00:00"}),
        )
        .into_response(),
    }
}
