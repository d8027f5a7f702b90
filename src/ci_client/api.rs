//! The HTTP calls of docs/ci-api.md, each one operation retried under the client's patience.
//!
//! Errors name Baton's address (without any password in it) and never the token: reqwest's own
//! error text is not shown, only the cause at the bottom of its chain.

use std::time::Duration;

use baton_adapters::ci::api_types::{
    ErrorBody, ExtendBody, ExtendSetBody, ExtendedSet, GrantedSet, LockBody, LockSetBody,
    ReleasedSet, TokenBody, UnlockSetBody,
};
use baton_commands::domain::{EnvName, Ttl};
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use tokio::time::Instant;

use super::error::ApiError;
use super::retry::{with_retries, IdempotencyKey, Op, Patience, Schedule};
use super::{Failure, LockRequest, Secret};

/// How long a TCP (and TLS) connection to Baton may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client of one Baton instance with one API token.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: Secret,
    patience: Patience,
}

/// The answers, as the server writes them (one definition, in `baton_adapters::ci::api_types`).
pub use baton_adapters::ci::api_types::{
    Extended, GateAnswer, Granted as Grant, GrantedSet as GrantedSetAnswer, Released,
};

impl Api {
    /// A client for Baton at `url` (http or https), or a usage failure saying what is wrong.
    pub fn new(url: &str, token: Secret, patience: Patience) -> Result<Self, Failure> {
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
        Ok(Self {
            http,
            base,
            token,
            patience,
        })
    }

    /// The same client sending each request once: for callers that run their own retry loop.
    pub fn once(&self) -> Self {
        let mut api = self.clone();
        api.patience.retry_for = Duration::ZERO;
        api
    }

    /// How long one operation's retries may go on (on top of any wait).
    pub fn retry_for(&self) -> Duration {
        self.patience.retry_for
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

    /// A request with the API token and, for a state change, its operation's idempotency key.
    fn request(
        &self,
        method: Method,
        segments: &[&str],
        key: Option<&IdempotencyKey>,
    ) -> RequestBuilder {
        let req = self
            .http
            .request(method, self.endpoint(segments))
            .bearer_auth(self.token.expose());
        match key {
            Some(key) => req.header("Idempotency-Key", key.as_str()),
            None => req,
        }
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
        // 202: accepted but not done (a lock that waits for approval): told like a refusal.
        if status.is_success() && status != reqwest::StatusCode::ACCEPTED {
            return Ok(body);
        }
        let error: ErrorBody = serde_json::from_str(&body).unwrap_or_default();
        let code = Some(error.error).filter(|c| !c.is_empty());
        let message = Some(error.message)
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
            ApiError::Malformed(format!(
                "{} did not answer like Baton's API v1 ({e}); check --url",
                self.shown()
            ))
        })
    }

    fn unreachable(&self, e: &reqwest::Error, timeout: Duration) -> ApiError {
        let at = self.shown();
        // A failed connect never carried the request; anything later may have reached Baton.
        let sent = !e.is_connect();
        let message = if e.is_timeout() && sent {
            format!(
                "Baton at {at} did not answer within {}",
                humantime::format_duration(timeout)
            )
        } else {
            format!("could not reach Baton at {at}: {}", root_cause(e))
        };
        ApiError::Unreachable { message, sent }
    }

    /// Runs one operation under this client's patience: `call` builds and sends one attempt.
    async fn operation<T, F, Fut>(&self, op: Op<'_>, wait: Duration, call: F) -> Result<T, ApiError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let schedule = Schedule::new(Instant::now(), &self.patience, wait);
        let own = wait + self.patience.request_timeout;
        with_retries(op, schedule, own, call).await
    }

    /// `POST /api/v1/locks/{env}`, waiting up to the request's `wait`; retried with `key`.
    pub async fn lock(&self, req: &LockRequest, key: &IdempotencyKey) -> Result<Grant, ApiError> {
        let body = LockBody {
            holder: Some(req.holder.clone()),
            ttl: req.ttl.map(|t| t.duration()),
            reason: req.reason.clone(),
            wait: req.wait,
        };
        let what = format!("take the lock on {}", req.env);
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, req.wait.unwrap_or_default(), |limit| {
            let http = self
                .request(Method::POST, &["locks", req.env.as_str()], Some(key))
                .json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `POST /api/v1/locks`: several envs together, all or none, waiting for all of them
    /// together up to `req.wait`; retried with `key` (a retry resumes the same place in line).
    pub async fn lock_set(
        &self,
        envs: &[EnvName],
        req: &LockRequest,
        key: &IdempotencyKey,
    ) -> Result<GrantedSet, ApiError> {
        let body = LockSetBody {
            envs: envs.iter().map(|e| e.to_string()).collect(),
            holder: Some(req.holder.clone()),
            ttl: req.ttl.map(|t| t.duration()),
            reason: req.reason.clone(),
            wait: req.wait,
        };
        let what = format!("take the locks on {}", joined(envs));
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, req.wait.unwrap_or_default(), |limit| {
            let http = self
                .request(Method::POST, &["locks"], Some(key))
                .json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `PATCH /api/v1/locks`: a set extended by its token (retried: an extension by the same
    /// amount twice is at most one `ttl` more, never past the envs' maximum).
    pub async fn extend_set(
        &self,
        envs: &[EnvName],
        token: &Secret,
        ttl: Ttl,
    ) -> Result<ExtendedSet, ApiError> {
        let body = ExtendSetBody {
            envs: envs.iter().map(|e| e.to_string()).collect(),
            token: token.expose().to_string(),
            ttl: Some(ttl.duration()),
        };
        let what = format!("extend the locks on {}", joined(envs));
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, Duration::ZERO, |limit| {
            let http = self.request(Method::PATCH, &["locks"], None).json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `DELETE /api/v1/locks`: a set given back by its token; retried with `key`.
    pub async fn unlock_set(
        &self,
        envs: &[EnvName],
        token: &Secret,
        key: &IdempotencyKey,
    ) -> Result<ReleasedSet, ApiError> {
        let body = UnlockSetBody {
            envs: envs.iter().map(|e| e.to_string()).collect(),
            token: token.expose().to_string(),
        };
        let what = format!("release the locks on {}", joined(envs));
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, Duration::ZERO, |limit| {
            let http = self
                .request(Method::DELETE, &["locks"], Some(key))
                .json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `DELETE /api/v1/locks/{env}` with the lock token; retried with `key`.
    pub async fn unlock(
        &self,
        env: &EnvName,
        token: &Secret,
        key: &IdempotencyKey,
    ) -> Result<Released, ApiError> {
        let body = TokenBody {
            token: token.expose().to_string(),
        };
        let what = format!("release the lock on {env}");
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, Duration::ZERO, |limit| {
            let http = self
                .request(Method::DELETE, &["locks", env.as_str()], Some(key))
                .json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `POST /api/v1/locks/{env}/extend`; retried with `key`.
    pub async fn extend(
        &self,
        env: &EnvName,
        token: &Secret,
        ttl: Ttl,
        key: &IdempotencyKey,
    ) -> Result<Extended, ApiError> {
        let body = ExtendBody {
            token: token.expose().to_string(),
            ttl: Some(ttl.duration()),
        };
        let what = format!("extend the lock on {env}");
        let op = Op {
            what: &what,
            writes: true,
        };
        self.operation(op, Duration::ZERO, |limit| {
            let http = self
                .request(Method::POST, &["locks", env.as_str(), "extend"], Some(key))
                .json(&body);
            self.send_json(http, limit)
        })
        .await
    }

    /// `GET /api/v1/gate/{env}` with the held lock's token, if any: Ok when the deploy may go
    /// ahead.
    pub async fn gate(&self, env: &EnvName, lock_token: Option<&Secret>) -> Result<(), ApiError> {
        let what = format!("ask whether {env} is open");
        let op = Op {
            what: &what,
            writes: false,
        };
        let answer: GateAnswer = self
            .operation(op, Duration::ZERO, |limit| {
                let http = self.request(Method::GET, &["gate", env.as_str()], None);
                let http = match lock_token {
                    Some(t) => http.header("Baton-Lock-Token", t.expose()),
                    None => http,
                };
                self.send_json(http, limit)
            })
            .await?;
        match answer.allowed {
            true => Ok(()),
            false => Err(ApiError::Refused {
                status: StatusCode::LOCKED,
                code: Some("locked".into()),
                message: format!("Baton did not allow a deploy to {env}"),
            }),
        }
    }

    /// `GET /api/v1/envs` or `GET /api/v1/envs/{env}`, the body as it came.
    pub async fn envs(&self, env: Option<&EnvName>) -> Result<String, ApiError> {
        let op = Op {
            what: "read Baton's status",
            writes: false,
        };
        self.operation(op, Duration::ZERO, |limit| {
            let http = match env {
                Some(env) => self.request(Method::GET, &["envs", env.as_str()], None),
                None => self.request(Method::GET, &["envs"], None),
            };
            self.send(http, limit)
        })
        .await
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

/// `a,b,c`, as the envs were asked for.
pub fn joined(envs: &[EnvName]) -> String {
    envs.iter()
        .map(EnvName::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_path_prefix_and_escape_nothing_unexpected() {
        let api = Api::new(
            "https://u:p@ci.example.com/baton/",
            Secret::new("t"),
            Patience {
                retry_for: Duration::ZERO,
                request_timeout: Duration::from_secs(1),
            },
        )
        .unwrap();
        assert_eq!(
            api.endpoint(&["locks", "prod", "extend"]).as_str(),
            "https://u:p@ci.example.com/baton/api/v1/locks/prod/extend"
        );
        assert_eq!(api.shown(), "https://ci.example.com/baton");
    }
}
