//! The HTTP calls of docs/ci-api.md, and the mapping of every answer to an exit code.
//!
//! Errors name Baton's address (without any password in it) and never the token: reqwest's own
//! error text is not shown, only the cause at the bottom of its chain.

use std::fmt;
use std::time::Duration;

use baton_commands::domain::{EnvName, Ttl};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Failure, LockRequest, Secret};

/// How long a TCP (and TLS) connection to Baton may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any call but a waiting lock may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// What a waiting lock request gets on top of its wait.
const LOCK_GRACE: Duration = Duration::from_secs(30);

/// A client of one Baton instance with one API token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: Secret,
}

/// Why a call did not succeed.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// No HTTP answer: refused, timed out, TLS failure, connection dropped.
    Unreachable(String),
    /// Baton answered with an error status; `code` is the body's `error` if it had one.
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The `error` field (`locked`, `frozen`, `not_holder`, …).
        code: Option<String>,
        /// The sentence to show.
        message: String,
    },
}

impl ApiError {
    /// The exit code of docs/ci-api.md for this failure.
    pub fn exit_code(&self) -> u8 {
        let (status, code) = match self {
            Self::Unreachable(_) => return 6,
            Self::Refused { status, code, .. } => (*status, code.as_deref()),
        };
        match (status.as_u16(), code) {
            (_, Some("frozen")) => 4,
            (_, Some("locked" | "not_holder" | "not_locked" | "stale_fence")) => 3,
            (_, Some("store_unavailable")) => 6,
            (401 | 403, _) => 5,
            (409 | 423, _) => 3,
            (500..=599, _) => 6,
            // 400, 404 unknown_env, 413, and anything a wrong --url might produce.
            _ => 2,
        }
    }

    /// The body's `error` code, if Baton sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => code.as_deref(),
            Self::Unreachable(_) => None,
        }
    }

    /// Worth trying again: Baton or its store may be back in a moment.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable(_) => true,
            Self::Refused { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable(m) | Self::Refused { message: m, .. } => f.write_str(m),
        }
    }
}

/// A granted lock.
#[derive(Debug, Clone, Deserialize)]
pub struct Grant {
    /// The environment.
    pub env: String,
    /// The label the lock carries.
    pub holder: String,
    /// The secret that releases and extends it.
    pub token: String,
    /// The fencing token of this acquisition.
    pub fence: u64,
    /// When it expires unless extended (RFC 3339).
    pub expires_at: String,
}

/// A released lock.
#[derive(Debug, Clone, Deserialize)]
pub struct Released {
    /// Who it passed to, if anyone was waiting.
    #[serde(default)]
    pub next: Option<String>,
}

/// An extended lock.
#[derive(Debug, Clone, Deserialize)]
pub struct Extended {
    /// The fencing token (unchanged by an extension).
    pub fence: u64,
    /// The new expiry (RFC 3339).
    pub expires_at: String,
}

#[derive(Serialize)]
struct LockBody<'a> {
    holder: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wait: Option<u64>,
}

#[derive(Serialize)]
struct TokenBody<'a> {
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
}

/// Whole seconds, rounded up: the API takes durations as humantime or whole seconds.
fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Api {
    /// A client for Baton at `url` (http or https), or a usage failure saying what is wrong.
    pub fn new(url: &str, token: Secret) -> Result<Self, Failure> {
        let base = Url::parse(url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| {
                Failure::usage(format!(
                    "`{url}` is not a Baton address: use a URL like https://baton.example.com"
                ))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("baton-ci/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::usage(format!("cannot set up HTTPS: {}", root_cause(&e))))?;
        Ok(Self { http, base, token })
    }

    /// Baton's address as it may be shown: without user or password.
    pub fn shown(&self) -> String {
        let mut u = self.base.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u.set_query(None);
        u.set_fragment(None);
        u.to_string().trim_end_matches('/').to_string()
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut u = self.base.clone();
        u.set_query(None);
        u.set_fragment(None);
        u.path_segments_mut()
            .expect("http(s) URLs have a path")
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        u
    }

    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.http
            .request(method, self.endpoint(segments))
            .bearer_auth(self.token.expose())
            .timeout(REQUEST_TIMEOUT)
    }

    /// Sends a request and returns the body of a 2xx answer.
    async fn send(&self, req: RequestBuilder, timeout: Duration) -> Result<String, ApiError> {
        let res = req
            .timeout(timeout)
            .send()
            .await
            .map_err(|e| self.unreachable(&e, timeout))?;
        let status = res.status();
        let body = res
            .text()
            .await
            .map_err(|e| self.unreachable(&e, timeout))?;
        if status.is_success() {
            return Ok(body);
        }
        let json: Option<Value> = serde_json::from_str(&body).ok();
        let field = |k: &str| {
            json.as_ref()
                .and_then(|j| j.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let code = field("error");
        let message = field("message")
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| {
                let what = code.as_deref().unwrap_or("no explanation");
                format!("Baton at {} answered {status} ({what})", self.shown())
            });
        Err(ApiError::Refused {
            status,
            code,
            message,
        })
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        req: RequestBuilder,
        timeout: Duration,
    ) -> Result<T, ApiError> {
        let body = self.send(req, timeout).await?;
        serde_json::from_str(&body).map_err(|e| {
            ApiError::Unreachable(format!(
                "{} did not answer like Baton's API v1 ({e}); check --url",
                self.shown()
            ))
        })
    }

    fn unreachable(&self, e: &reqwest::Error, timeout: Duration) -> ApiError {
        let at = self.shown();
        ApiError::Unreachable(if e.is_timeout() {
            format!(
                "Baton at {at} did not answer within {}",
                humantime::format_duration(timeout)
            )
        } else {
            format!("could not reach Baton at {at}: {}", root_cause(e))
        })
    }

    /// `POST /api/v1/locks/{env}`, waiting up to the request's `wait`.
    pub async fn lock(&self, req: &LockRequest) -> Result<Grant, ApiError> {
        let body = LockBody {
            holder: &req.holder,
            ttl: req.ttl.map(|t| secs(t.duration())),
            reason: req.reason.as_deref(),
            wait: req.wait.map(secs),
        };
        let timeout = req.wait.unwrap_or_default() + LOCK_GRACE;
        let http = self
            .request(Method::POST, &["locks", req.env.as_str()])
            .json(&body);
        self.send_json(http, timeout).await
    }

    /// `DELETE /api/v1/locks/{env}` with the lock token.
    pub async fn unlock(&self, env: &EnvName, token: &Secret) -> Result<Released, ApiError> {
        self.unlock_within(env, token, REQUEST_TIMEOUT).await
    }

    /// `unlock` with its own time limit, for releases racing a deadline.
    pub async fn unlock_within(
        &self,
        env: &EnvName,
        token: &Secret,
        timeout: Duration,
    ) -> Result<Released, ApiError> {
        let body = TokenBody {
            token: token.expose(),
            ttl: None,
        };
        let http = self
            .request(Method::DELETE, &["locks", env.as_str()])
            .json(&body);
        self.send_json(http, timeout).await
    }

    /// `POST /api/v1/locks/{env}/extend`.
    pub async fn extend(
        &self,
        env: &EnvName,
        token: &Secret,
        ttl: Ttl,
    ) -> Result<Extended, ApiError> {
        let body = TokenBody {
            token: token.expose(),
            ttl: Some(secs(ttl.duration())),
        };
        let http = self
            .request(Method::POST, &["locks", env.as_str(), "extend"])
            .json(&body);
        self.send_json(http, REQUEST_TIMEOUT).await
    }

    /// `GET /api/v1/gate/{env}?holder=H`: Ok when the deploy may go ahead.
    pub async fn gate(&self, env: &EnvName, holder: &str) -> Result<(), ApiError> {
        let http = self
            .request(Method::GET, &["gate", env.as_str()])
            .query(&[("holder", holder)]);
        let answer: Value = self.send_json(http, REQUEST_TIMEOUT).await?;
        match answer.get("allowed").and_then(Value::as_bool) {
            Some(true) => Ok(()),
            _ => Err(ApiError::Refused {
                status: StatusCode::LOCKED,
                code: Some("locked".into()),
                message: format!("Baton did not allow a deploy to {env}"),
            }),
        }
    }

    /// `GET /api/v1/envs` or `GET /api/v1/envs/{env}`, the body as it came.
    pub async fn envs(&self, env: Option<&EnvName>) -> Result<String, ApiError> {
        let http = match env {
            Some(env) => self.request(Method::GET, &["envs", env.as_str()]),
            None => self.request(Method::GET, &["envs"]),
        };
        self.send(http, REQUEST_TIMEOUT).await
    }
}

/// The innermost cause ("Connection refused (os error 111)"), which says what went wrong without
/// repeating the URL.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(status: u16, code: Option<&str>) -> ApiError {
        ApiError::Refused {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.map(str::to_string),
            message: String::new(),
        }
    }

    #[test]
    fn each_answer_maps_to_the_documented_exit_code() {
        let cases = [
            (
                "granted elsewhere, after any wait",
                refused(423, Some("locked")),
                3,
            ),
            ("frozen env", refused(403, Some("frozen")), 4),
            (
                "token not scoped to the env",
                refused(403, Some("forbidden")),
                5,
            ),
            ("unknown token", refused(401, Some("unauthorized")), 5),
            ("bad duration", refused(400, Some("bad_request")), 2),
            ("unknown env", refused(404, Some("unknown_env")), 2),
            ("someone else's lock", refused(409, Some("not_holder")), 3),
            ("redis down", refused(503, Some("store_unavailable")), 6),
            ("proxy in front of a dead Baton", refused(502, None), 6),
            ("wrong --url path", refused(404, None), 2),
            (
                "connection refused",
                ApiError::Unreachable(String::new()),
                6,
            ),
        ];
        for (what, err, code) in cases {
            assert_eq!(err.exit_code(), code, "{what}");
        }
    }

    #[test]
    fn endpoints_keep_a_path_prefix_and_escape_nothing_unexpected() {
        let api = Api::new("https://u:p@ci.example.com/baton/", Secret("t".into())).unwrap();
        assert_eq!(
            api.endpoint(&["locks", "prod", "extend"]).as_str(),
            "https://u:p@ci.example.com/baton/api/v1/locks/prod/extend"
        );
        assert_eq!(api.shown(), "https://ci.example.com/baton");
    }
}
