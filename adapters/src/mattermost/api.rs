//! The few Mattermost REST calls Baton makes as its bot (`Authorization: Bearer <bot token>`):
//! create a post, open a direct channel with a person, learn the bot's own user id (once), and
//! POST a slash command's follow-up to its `response_url`. [`MattermostDelivery`] puts the
//! core's [`Delivery`] trait on top. Nothing here retries: a 429 comes back with Mattermost's
//! wait (`Retry-After`, else `X-Ratelimit-Reset`) and the notifier decides.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use baton_commands::config::MattermostConfig;
use baton_commands::domain::{wall_clock, Secret};
use baton_commands::{Baton, Delivery, DeliveryError, Reply};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::OnceCell;

use super::context::Signer;
use super::render::{self, Actions};
use super::{is_id, PLATFORM};

/// The wait assumed when a 429 does not say how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The longest wait believed, so a garbled header cannot stall delivery for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Bound on any one call.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// 429: try again after this long.
    RateLimited(Duration),
    /// Any other unsuccessful status, with Mattermost's `id` (`api.post.create_post.…`).
    Status {
        /// The HTTP status.
        status: u16,
        /// Mattermost's error id, or the status text.
        id: String,
    },
    /// No answer (connection refused, timeout, unreadable response).
    Network(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::RateLimited(d) => write!(f, "rate limited by Mattermost; retry after {d:?}"),
            ApiError::Status { status, id } => write!(f, "Mattermost answered {status} ({id})"),
            ApiError::Network(e) => write!(f, "Mattermost could not be reached: {e}"),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for DeliveryError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::RateLimited(wait) => DeliveryError::RateLimited(wait),
            ApiError::Status { status, .. } if status >= 500 || status == 408 => {
                DeliveryError::Failed(e.to_string())
            }
            ApiError::Network(_) => DeliveryError::Failed(e.to_string()),
            // 400 a bad channel id, 401 a revoked token, 403 the bot not in the channel, 404.
            ApiError::Status { .. } => DeliveryError::Refused(e.to_string()),
        }
    }
}

/// A client of Mattermost's REST API v4 as the bot. `Debug` shows no token.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Secret,
    bot_id: Arc<OnceCell<String>>,
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Api {{ base: {:?}, token: [redacted] }}", self.base)
    }
}

/// A plain HTTP client for Mattermost (and its `response_url`s).
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

impl Api {
    /// Calls the server at `url` (`https://chat.example.com`) with the bot's `token`.
    pub fn new(url: &str, token: &Secret) -> Self {
        Self {
            client: client(),
            base: format!("{}/api/v4", url.trim_end_matches('/')),
            token: token.clone(),
            bot_id: Arc::new(OnceCell::new()),
        }
    }

    /// The API as `[mattermost]` configures it; `None` without the server or the bot token.
    pub fn from_config(config: &MattermostConfig) -> Option<Self> {
        Some(Self::new(
            config.url.as_deref()?,
            config.bot_token.as_ref()?,
        ))
    }

    /// Creates a post (`POST /api/v4/posts`) from `body`.
    pub async fn create_post(&self, body: &Value) -> Result<(), ApiError> {
        self.call(Method::POST, "/posts", Some(body))
            .await
            .map(|_| ())
    }

    /// The direct channel between the bot and `user` (`POST /api/v4/channels/direct`).
    pub async fn direct_channel(&self, user: &str) -> Result<String, ApiError> {
        let bot = self.bot_id().await?;
        let channel = self
            .call(Method::POST, "/channels/direct", Some(&json!([bot, user])))
            .await?;
        id_of(&channel)
    }

    /// The bot's own user id (`GET /api/v4/users/me`), asked once.
    async fn bot_id(&self) -> Result<String, ApiError> {
        let id = self
            .bot_id
            .get_or_try_init(|| async {
                let me = self.call(Method::GET, "/users/me", None).await?;
                id_of(&me)
            })
            .await?;
        Ok(id.clone())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose());
        if let Some(body) = body {
            request = request.json(body);
        }
        send(request).await
    }
}

fn id_of(v: &Value) -> Result<String, ApiError> {
    match v["id"].as_str() {
        Some(id) if is_id(id) => Ok(id.to_string()),
        _ => Err(ApiError::Network(
            "Mattermost answered without the id Baton asked for".into(),
        )),
    }
}

/// Posts a slash command's answer to its `response_url`, which needs no token.
pub(crate) async fn respond(
    client: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<(), ApiError> {
    send(client.post(url).json(body)).await.map(|_| ())
}

async fn send(request: reqwest::RequestBuilder) -> Result<Value, ApiError> {
    let response = request
        .send()
        .await
        .map_err(|e| ApiError::Network(e.without_url().to_string()))?;
    let status = response.status();
    let wait = retry_after(response.headers());
    let text = response.text().await;
    if status.is_success() {
        // Mattermost took it: an unreadable body changes nothing, and posting again would
        // show the message twice.
        let body = text.unwrap_or_default();
        return Ok(serde_json::from_str(&body).unwrap_or(Value::Null));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Err(ApiError::RateLimited(wait.unwrap_or(DEFAULT_RETRY_AFTER)));
    }
    let json: Value = text
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let id = json["id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_string());
    Err(ApiError::Status {
        status: status.as_u16(),
        id,
    })
}

/// Mattermost's wait after a 429: `Retry-After` (seconds), else `X-Ratelimit-Reset` (seconds
/// until the window resets; read as a Unix time when it is one), at most an hour.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let number = |name: &str| {
        let raw = headers.get(name)?.to_str().ok()?.trim().to_string();
        raw.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
    };
    let seconds = match (number("retry-after"), number("x-ratelimit-reset")) {
        (Some(s), _) => s,
        // A Unix time rather than a count of seconds.
        (None, Some(s)) if s > 1_000_000_000.0 => (s - wall_clock() as f64 / 1000.0).max(1.0),
        (None, Some(s)) => s.max(1.0),
        (None, None) => return None,
    };
    Some(Duration::from_secs_f64(
        seconds.min(MAX_RETRY_AFTER.as_secs_f64()),
    ))
}

/// Posts replies to Mattermost channels and people as the bot.
#[derive(Clone)]
pub struct MattermostDelivery {
    api: Api,
    buttons: Option<(Signer, String)>,
    /// Redis' clock for the buttons' expiry, once the service hands over its core.
    clock: Option<Baton>,
}

impl fmt::Debug for MattermostDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MattermostDelivery")
            .field("api", &self.api)
            .field("buttons", &self.buttons.is_some())
            .finish()
    }
}

impl MattermostDelivery {
    /// Delivery through `api`; with `buttons` (a signer and `<public_url>/mattermost/actions`)
    /// replies keep their buttons.
    pub fn new(api: Api, buttons: Option<(Signer, String)>) -> Self {
        Self::with_clock(api, buttons, None)
    }

    /// The same, with `baton`'s view of Redis' clock for the buttons' expiry (the handler that
    /// checks a press reads the same clock).
    pub fn with_clock(api: Api, buttons: Option<(Signer, String)>, clock: Option<Baton>) -> Self {
        Self {
            api,
            buttons,
            clock,
        }
    }

    /// Delivery as `[mattermost]` configures it, on `baton`'s clock; `None` without the server
    /// or the bot token.
    pub fn from_config(config: &MattermostConfig, baton: &Baton) -> Option<Self> {
        let api = Api::from_config(config)?;
        Some(Self::with_clock(
            api,
            super::buttons(config),
            Some(baton.clone()),
        ))
    }

    /// The API it posts through.
    pub fn api(&self) -> &Api {
        &self.api
    }

    async fn post(&self, channel: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let channel = PLATFORM.strip(channel);
        if !is_id(channel) {
            return Err(DeliveryError::Refused(format!(
                "`{}` is not a Mattermost channel id",
                baton_commands::domain::preview(channel)
            )));
        }
        let actions = self.buttons.as_ref().map(|(signer, url)| Actions {
            signer,
            url,
            channel,
            // A post through the API is seen by everyone in its channel.
            private: false,
            now_ms: self.clock.as_ref().map_or_else(wall_clock, Baton::now_ms),
        });
        let body = render::render(reply, None, actions.as_ref()).post(channel);
        Ok(self.api.create_post(&body).await?)
    }

    async fn dm(&self, user: &str, reply: &Reply) -> Result<(), DeliveryError> {
        let user = PLATFORM.strip(user);
        if !is_id(user) {
            return Err(DeliveryError::Refused(format!(
                "`{}` is not a Mattermost user id",
                baton_commands::domain::preview(user)
            )));
        }
        let channel = self.api.direct_channel(user).await?;
        self.post(&channel, reply).await
    }
}

impl Delivery for MattermostDelivery {
    fn platform(&self) -> &'static str {
        PLATFORM.front.prefix
    }

    fn to_channel<'a>(
        &'a self,
        channel: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.post(channel, reply).boxed()
    }

    fn fits(&self, reply: &Reply) -> bool {
        render::fits(reply)
    }

    fn to_user<'a>(
        &'a self,
        user: &'a str,
        reply: &'a Reply,
    ) -> BoxFuture<'a, Result<(), DeliveryError>> {
        self.dm(user, reply).boxed()
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    #[test]
    fn a_429_waits_as_long_as_mattermost_says() {
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        assert_eq!(
            retry_after(&headers(&[
                ("retry-after", "7"),
                ("x-ratelimit-reset", "3")
            ])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("x-ratelimit-reset", "3")])),
            Some(Duration::from_secs(3))
        );
        let soon = (wall_clock() / 1000 + 30).to_string();
        let wait = retry_after(&headers(&[("x-ratelimit-reset", &soon)])).unwrap();
        assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "999999")])),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }

    #[test]
    fn failures_map_to_retry_later_retry_with_backoff_or_give_up() {
        let status = |s: u16| ApiError::Status {
            status: s,
            id: "x".into(),
        };
        assert!(matches!(
            DeliveryError::from(status(503)),
            DeliveryError::Failed(_)
        ));
        assert!(matches!(
            DeliveryError::from(status(403)),
            DeliveryError::Refused(_)
        ));
        assert_eq!(
            DeliveryError::from(ApiError::RateLimited(Duration::from_secs(2))),
            DeliveryError::RateLimited(Duration::from_secs(2))
        );
    }
}
