//! The few Discord REST calls Baton makes (post a message, open a DM, edit or follow up an
//! interaction response, register commands), against a configurable base URL so tests can point
//! it at a local server.
//!
//! This is plain reqwest rather than serenity's `Http`: on a 429, serenity's error keeps neither
//! the `Retry-After` header nor the body's `retry_after`, and the caller needs that wait to back
//! off correctly. Request bodies are still serenity's builders, so rendering is shared.

use std::fmt;
use std::time::Duration;

use baton_commands::domain::Secret;
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

/// Discord's REST API version.
const API_PATH: &str = "/api/v10";
/// The wait assumed when a 429 does not say how long.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest wait believed, so a garbled header cannot stall delivery for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Bound on any one call.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestError {
    /// 429: try again after this long.
    RateLimited(Duration),
    /// Any other unsuccessful status, with Discord's message.
    Status {
        /// The HTTP status.
        status: u16,
        /// Discord's `message`, or the status text.
        message: String,
    },
    /// No answer (connection refused, timeout, unreadable response).
    Network(String),
    /// The call needs the bot token and none is configured.
    NoToken,
}

impl fmt::Display for RestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestError::RateLimited(d) => write!(f, "rate limited by Discord; retry after {d:?}"),
            RestError::Status { status, message } => {
                write!(f, "Discord answered {status}: {message}")
            }
            RestError::Network(e) => write!(f, "Discord could not be reached: {e}"),
            RestError::NoToken => {
                f.write_str("no bot token is configured (set BATON_DISCORD__TOKEN)")
            }
        }
    }
}

impl std::error::Error for RestError {}

/// A client of Discord's REST API. `Debug` shows the token as `[redacted]`.
#[derive(Clone, Debug)]
pub struct Rest {
    client: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

impl Rest {
    /// Calls `api_url` (`https://discord.com`, or a test server), with the bot token when given.
    pub fn new(api_url: &str, token: Option<Secret>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!(
                "DiscordBot (baton, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()
            .unwrap_or_default();
        Self {
            client,
            base: format!("{}{API_PATH}", api_url.trim_end_matches('/')),
            token,
        }
    }

    /// A call made as the bot (`Authorization: Bot <token>`).
    pub async fn bot(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Value, RestError> {
        let token = self.token.as_ref().ok_or(RestError::NoToken)?;
        let auth = format!("Bot {}", token.expose());
        self.send(method, path, body, Some(auth)).await
    }

    /// A call on an interaction's webhook, which its token authorizes (no bot token needed).
    pub async fn webhook(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<Value, RestError> {
        self.send(method, path, body, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
        auth: Option<String>,
    ) -> Result<Value, RestError> {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(auth) = auth {
            request = request.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| RestError::Network(e.without_url().to_string()))?;
        let status = response.status();
        let header_wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(seconds);
        let text = response.text().await;
        if status.is_success() {
            // Discord took the request: a body that cannot be read or decoded changes nothing,
            // and sending again would post twice.
            let body = text.as_deref().map(str::trim).unwrap_or("\u{0}");
            let decoded = match body {
                "" => Ok(Value::Null),
                body => serde_json::from_str(body),
            };
            return Ok(decoded.unwrap_or_else(|_| {
                tracing::warn!(
                    status = status.as_u16(),
                    "Discord answered 2xx with a body that does not decode; counted as done"
                );
                Value::Null
            }));
        }
        let text = text.map_err(|e| RestError::Network(e.without_url().to_string()))?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status == StatusCode::TOO_MANY_REQUESTS {
            let body_wait = json["retry_after"].as_f64().and_then(secs_f64);
            let wait = body_wait.or(header_wait).unwrap_or(DEFAULT_RETRY_AFTER);
            return Err(RestError::RateLimited(wait.min(MAX_RETRY_AFTER)));
        }
        let message = json["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
        Err(RestError::Status {
            status: status.as_u16(),
            message,
        })
    }
}

/// `Retry-After` as Discord sends it: seconds, possibly with a fraction.
fn seconds(raw: &str) -> Option<Duration> {
    raw.trim().parse::<f64>().ok().and_then(secs_f64)
}

fn secs_f64(s: f64) -> Option<Duration> {
    (s.is_finite() && s >= 0.0)
        .then(|| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// Whether `id` is a Discord snowflake, so it is safe in a URL path.
pub fn is_snowflake(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}
