//! The Bot Connector API, as the bot: a client-credentials token (cached until shortly before
//! it expires), then `POST {serviceUrl}/v3/conversations/{id}/activities` for a message,
//! `PUT …/activities/{id}` to update one, `POST {serviceUrl}/v3/conversations` to open a
//! personal chat. Every call carries the bot's token and nothing of it is ever logged.
//!
//! One call is one attempt; its error says whether and when to try again
//! ([`DeliveryError::RateLimited`] for 429, 412, 502 and 504, honouring `Retry-After`). The
//! notifier retries announcements in its per-channel lanes; answers to a person are retried here
//! a few times ([`Connector::call_retrying`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_commands::config::TeamsConfig;
use baton_commands::domain::Secret;
use baton_commands::DeliveryError;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Mutex;

/// The scope of a bot's token for the Connector.
const SCOPE: &str = "https://api.botframework.com/.default";
/// A token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(300);
/// The longest `Retry-After` waited inline.
const MAX_INLINE_WAIT: Duration = Duration::from_secs(10);
/// How long to wait after a throttled call that named no `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The bot's side of the Connector.
#[derive(Clone)]
pub struct Connector {
    http: reqwest::Client,
    app_id: String,
    password: Secret,
    token_url: String,
    token: Arc<Mutex<Option<(String, Instant)>>>,
}

/// The token endpoint for a single-tenant bot's `tenant`, or a multi-tenant bot's.
pub fn token_url(tenant: Option<&str>) -> String {
    let tenant = tenant.unwrap_or("botframework.com");
    format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token")
}

impl Connector {
    /// The bot `app_id` with its client secret, getting tokens from `token_url`.
    pub fn new(app_id: &str, password: Secret, token_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            http,
            app_id: app_id.to_string(),
            password,
            token_url: token_url.to_string(),
            token: Arc::new(Mutex::new(None)),
        }
    }

    /// From `[teams]`; `None` without an app id and a client secret.
    pub fn from_config(config: &TeamsConfig) -> Option<Self> {
        let app_id = config.app_id.as_deref()?;
        let password = config.app_password.clone()?;
        let token_url = config
            .token_url
            .clone()
            .unwrap_or_else(|| token_url(config.tenant_id.as_deref()));
        Some(Self::new(app_id, password, &token_url))
    }

    /// The bot's id in a conversation (`28:<app id>`).
    pub fn bot_id(&self) -> String {
        format!("28:{}", self.app_id)
    }

    /// A token for the Connector, from the cache while it has five minutes left.
    async fn token(&self) -> Result<String, DeliveryError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        #[derive(Deserialize)]
        struct Answer {
            access_token: String,
            expires_in: u64,
        }
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.app_id.as_str()),
            ("client_secret", self.password.expose()),
            ("scope", SCOPE),
        ];
        let response = self
            .http
            .post(&self.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| DeliveryError::Failed(format!("the bot's token: {}", e.without_url())))?;
        let status = response.status();
        if !status.is_success() {
            let why = format!("the bot's token: the token endpoint answered HTTP {status}");
            return Err(if status.is_client_error() {
                DeliveryError::Refused(format!(
                    "{why}; check [teams] app_id, tenant_id and BATON_TEAMS__APP_PASSWORD"
                ))
            } else {
                DeliveryError::Failed(why)
            });
        }
        let answer: Answer = response.json().await.map_err(|_| {
            DeliveryError::Failed(
                "the bot's token: the token endpoint's answer did not decode".into(),
            )
        })?;
        let life = Duration::from_secs(answer.expires_in);
        let until = Instant::now()
            + life
                .saturating_sub(RENEW_BEFORE)
                .max(Duration::from_secs(30));
        *cached = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }

    /// One call to the Connector at `service_url` + `path`; the answer's JSON (`null` when empty).
    pub async fn call(
        &self,
        method: Method,
        service_url: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, DeliveryError> {
        let token = self.token().await?;
        let url = format!("{}{path}", service_url.trim_end_matches('/'));
        let response = self
            .http
            .request(method, &url)
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .map_err(|e| DeliveryError::Failed(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            let bytes = response.bytes().await.unwrap_or_default();
            return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        if status == StatusCode::UNAUTHORIZED {
            // A token the Connector no longer takes: the next call gets a new one.
            *self.token.lock().await = None;
        }
        Err(match status.as_u16() {
            429 | 412 | 502 | 504 => {
                DeliveryError::RateLimited(retry_after.unwrap_or(DEFAULT_RETRY_AFTER))
            }
            400 | 403 | 404 | 413 => {
                DeliveryError::Refused(format!("the Connector answered HTTP {status}"))
            }
            _ => DeliveryError::Failed(format!("the Connector answered HTTP {status}")),
        })
    }

    /// [`Connector::call`], tried up to four times while the Connector says to wait (at most
    /// ten seconds a time) or fails for a moment: for answers a person is waiting for.
    pub async fn call_retrying(
        &self,
        method: Method,
        service_url: &str,
        path: &str,
        body: &Value,
    ) -> Result<Value, DeliveryError> {
        let mut backoff = Duration::from_millis(250);
        let mut attempt = 1;
        loop {
            match self.call(method.clone(), service_url, path, body).await {
                Err(DeliveryError::RateLimited(wait)) if attempt < 4 => {
                    tokio::time::sleep(wait.min(MAX_INLINE_WAIT)).await;
                }
                Err(DeliveryError::Failed(_)) if attempt < 4 => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return other,
            }
            attempt += 1;
        }
    }
}

/// A conversation or activity id as one URL path segment: everything but unreserved characters
/// percent-encoded, as Bot Framework's SDKs do with `encodeURIComponent`.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The path that posts a message to `conversation` (a reply in its thread when `reply_to`).
pub fn activities(conversation: &str, reply_to: Option<&str>) -> String {
    let mut path = format!("/v3/conversations/{}/activities", segment(conversation));
    if let Some(id) = reply_to {
        path.push('/');
        path.push_str(&segment(id));
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversation_ids_are_one_path_segment() {
        assert_eq!(
            activities("19:abc@thread.tacv2;messageid=17", Some("1:x")),
            "/v3/conversations/19%3Aabc%40thread.tacv2%3Bmessageid%3D17/activities/1%3Ax"
        );
        assert_eq!(
            token_url(None),
            "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
        );
    }
}
