//! A local stand-in for what Baton calls at Mattermost: REST API v4 (`GET /users/me`,
//! `POST /channels/direct`, `POST /posts`) and slash command `response_url`s
//! (`/hooks/commands/…`), answering in the documented shapes. Paths under `/limited` answer 429
//! with `X-Ratelimit-Reset: 7` (as Mattermost's limiter does), under `/gone` 403 (the bot is
//! not in the channel). It records every call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

pub use crate::support::Call;

/// The bot's user id, as `GET /api/v4/users/me` names it.
pub const BOT_ID: &str = "b0tb0tb0tb0tb0tb0tb0tb0t01";
/// The direct channel `POST /api/v4/channels/direct` opens.
pub const DM_CHANNEL: &str = "dmdmdmdmdmdmdmdmdmdmdmdm01";

#[derive(Clone, Default)]
pub struct StandIn {
    calls: Arc<Mutex<Vec<Call>>>,
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

    /// `http://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base.lock().unwrap())
    }

    /// Every call so far whose path starts with `prefix`.
    pub fn calls_to(&self, prefix: &str) -> Vec<Call> {
        let calls = self.calls.lock().unwrap();
        calls
            .iter()
            .filter(|c| c.path.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// The posts made to `channel` through `POST /api/v4/posts`.
    pub fn posts_to(&self, channel: &str) -> Vec<Call> {
        let posts = self.calls_to("/api/v4/posts").into_iter();
        posts.filter(|c| c.body["channel_id"] == channel).collect()
    }

    /// Waits up to `secs` for the `n`th call (1-based) under `prefix`.
    pub async fn wait_for(&self, prefix: &str, n: usize, secs: u64) -> Call {
        for _ in 0..secs * 20 {
            if let Some(call) = self.calls_to(prefix).get(n - 1) {
                return call.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "no call #{n} to {prefix}… in {:#?}",
            self.calls.lock().unwrap()
        );
    }
}

async fn answer(
    State(s): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.calls.lock().unwrap().push(Call {
        method: method.to_string(),
        path: path.clone(),
        auth: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: body.clone(),
    });
    let error = |status: StatusCode, id: &str, message: &str| {
        let body = json!({"id": id, "message": message, "detailed_error": "",
            "request_id": "r1", "status_code": status.as_u16()});
        (status, Json(body)).into_response()
    };
    if path.starts_with("/limited/") {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "api.context.rate_limit",
            "command rate limit exceeded",
        );
        for (k, v) in [
            ("x-ratelimit-limit", "10"),
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "7"),
        ] {
            r.headers_mut().insert(k, v.parse().unwrap());
        }
        return r;
    }
    if path.starts_with("/gone/") {
        return error(
            StatusCode::FORBIDDEN,
            "api.context.permissions.app_error",
            "You do not have the appropriate permissions.",
        );
    }
    if path.starts_with("/hooks/commands/") {
        return (StatusCode::OK, "").into_response();
    }
    match (method.as_str(), path.as_str()) {
        ("GET", "/api/v4/users/me") => Json(json!({
            "id": BOT_ID, "username": "baton", "is_bot": true, "roles": "system_user",
            "create_at": 1_700_000_000_000u64, "update_at": 1_700_000_000_000u64, "delete_at": 0,
        }))
        .into_response(),
        ("POST", "/api/v4/channels/direct") => {
            let ids = body.as_array().cloned().unwrap_or_default();
            if ids.len() != 2 || ids[0] != BOT_ID {
                return error(
                    StatusCode::BAD_REQUEST,
                    "api.context.invalid_body_param.app_error",
                    "Invalid or missing user_ids in request body.",
                );
            }
            (
                StatusCode::CREATED,
                Json(json!({"id": DM_CHANNEL, "type": "D", "team_id": "",
                "name": format!("{BOT_ID}__{}", ids[1].as_str().unwrap_or_default()),
                "display_name": "", "create_at": 1_700_000_000_000u64})),
            )
                .into_response()
        }
        ("POST", "/api/v4/posts") => (
            StatusCode::CREATED,
            Json(
                json!({"id": "p0stp0stp0stp0stp0stp0st01", "create_at": 1_700_000_000_000u64,
                "user_id": BOT_ID, "channel_id": body["channel_id"], "message": body["message"],
                "props": body["props"], "type": ""}),
            ),
        )
            .into_response(),
        _ => error(
            StatusCode::NOT_FOUND,
            "api.context.404.app_error",
            "Sorry, we could not find the page.",
        ),
    }
}
