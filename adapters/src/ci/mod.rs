//! The CI HTTP API (`/api/v1`, see `docs/ci-api.md`): bearer token → `ci:<name>` actor → a
//! [`Command`] through the same router as chat → JSON. Every error is
//! `{"error": code, "message": sentence}` with the status the contract names.

pub mod auth;
mod body;
pub mod guard;
pub mod views;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_commands::bus::BusMessage;
use baton_commands::config::CiConfig;
use baton_commands::domain::IdempotencyKey;
use baton_commands::error::HoldKind;
use baton_commands::reply::ReplyData;
use baton_commands::{grammar, Baton, BatonError, CiCommand, Command, Invocation, Reply};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::broadcast::error::RecvError;

pub use auth::{glob_match, sha256_hex, Caller, TokenEntry};

/// What the CI routes share.
#[derive(Clone)]
pub struct CiState {
    baton: Baton,
    tokens: Vec<TokenEntry>,
    max_wait: Duration,
    guard: Arc<guard::AuthGuard>,
}

impl CiState {
    /// The CI API over `baton`, with the tokens and limits of `[ci]`.
    pub fn new(baton: Baton, config: &CiConfig) -> Self {
        Self {
            baton,
            tokens: config.tokens.iter().map(TokenEntry::from_config).collect(),
            max_wait: config.max_wait,
            guard: Arc::default(),
        }
    }
}

impl CiState {
    /// The longest a lock request may wait, so the server's request timeout can allow for it.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// The `/api/v1` routes.
pub fn routes(state: CiState) -> Router {
    Router::new()
        .route("/api/v1/locks/{env}", post(lock).delete(unlock))
        .route("/api/v1/locks/{env}/extend", post(extend))
        .route("/api/v1/gate/{env}", get(gate))
        .route("/api/v1/envs", get(envs))
        .route("/api/v1/envs/{env}", get(env_view))
        .route("/api/v1/deploys/{env}", post(deploy))
        .route("/api/v1/commands", post(command))
        .route("/api/v1/events", get(events))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// A refusal as the API sends it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The `error` code.
    pub code: &'static str,
    /// The `message` sentence.
    pub message: String,
    /// More fields (holder, reason, …).
    pub extra: Map<String, Value>,
}

impl ApiError {
    /// An error with no extra fields.
    pub fn new(status: u16, code: &'static str, message: String) -> Self {
        Self {
            status,
            code,
            message,
            extra: Map::new(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message.into())
    }

    fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

impl From<BatonError> for ApiError {
    fn from(e: BatonError) -> Self {
        let message = e.to_string();
        match &e {
            BatonError::Usage { .. } | BatonError::UnknownCommand { .. } => {
                Self::new(400, e.code(), message)
            }
            BatonError::UnknownEnv { known, .. } => {
                Self::new(404, "unknown_env", message).with("known", json!(known))
            }
            BatonError::Forbidden(_) => Self::new(403, "forbidden", message),
            BatonError::Held {
                kind, hold, queue, ..
            } => {
                let code = if *kind == HoldKind::Lock {
                    "locked"
                } else {
                    "claimed"
                };
                let mut err = Self::new(423, code, message);
                if let Value::Object(fields) = views::hold(hold) {
                    err.extra.extend(fields);
                }
                err.with("queue", json!(queue))
            }
            BatonError::PoolFull { .. } => Self::new(423, "pool_full", message),
            BatonError::Frozen { freeze, .. } => Self::new(403, "frozen", message)
                .with("frozen_by", json!(freeze.display))
                .with("reason", json!(freeze.reason))
                .with(
                    "until",
                    json!((freeze.until > 0).then(|| views::time(freeze.until))),
                ),
            BatonError::NotHolder { hold, .. } => {
                Self::new(409, "not_holder", message).with("holder", json!(hold.display))
            }
            BatonError::NotHeld { .. } => Self::new(404, "not_locked", message),
            BatonError::StaleFence { current, .. } => {
                Self::new(409, "stale_fence", message).with("fence", json!(current))
            }
            BatonError::Refused(_) => Self::new(409, "refused", message),
            BatonError::StoreUnavailable(_)
            | BatonError::OutcomeUnknown
            | BatonError::StoreFull => Self::new(503, e.code(), message),
            BatonError::IdempotencyKeyReused => Self::new(409, e.code(), message),
            BatonError::ShuttingDown => Self::new(503, "shutting_down", message),
            BatonError::Internal => Self::new(500, "internal", message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("error".into(), json!(self.code));
        body.insert("message".into(), json!(self.message));
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(Value::Object(body))).into_response();
        if self.status == 401 {
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        response
    }
}

type ApiResult = Result<Response, ApiError>;

fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(IntoResponse::into_response)
}

fn path(
    p: Result<Path<String>, PathRejection>,
) -> Result<baton_commands::domain::EnvName, ApiError> {
    let Path(raw) =
        p.map_err(|e| ApiError::bad_request(format!("the env in the path is unreadable: {e}")))?;
    body::env(&raw)
}

fn bytes(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| match e.status().as_u16() {
        413 => ApiError::new(
            413,
            "too_large",
            "the request body is over the limit of 64 KiB".into(),
        ),
        status => ApiError::new(
            status,
            "bad_request",
            format!("the request body could not be read: {e}"),
        ),
    })
}

/// The request's `Idempotency-Key`, if it sent one: a retry with the same key gets the first
/// attempt's answer.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let raw = raw
        .to_str()
        .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be plain ASCII"))?;
    IdempotencyKey::parse(raw)
        .map(Some)
        .map_err(ApiError::bad_request)
}

impl CiState {
    fn caller(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        auth::authenticate(headers, &self.tokens)
    }

    async fn run(&self, caller: &Caller, command: Command) -> Result<Reply, ApiError> {
        caller.check(&command.touches(), self.baton.catalog())?;
        let invocation = Invocation {
            actor: caller.actor.clone(),
            channel: None,
            command,
        };
        Ok(self.baton.execute(invocation).await?)
    }
}

async fn lock(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let (env, b) = (path(env)?, body::json::<body::LockBody>(&bytes(raw)?)?);
            if b.wait.is_some_and(|w| w > s.max_wait) {
                let max = humantime::format_duration(s.max_wait);
                return Err(ApiError::bad_request(format!(
                    "`wait` may be at most {max} (ci.max_wait)"
                )));
            }
            let command = CiCommand::Acquire {
                env,
                ttl: body::ttl("ttl", b.ttl)?,
                reason: body::reason(b.reason)?,
                label: body::label(b.holder)?,
                wait: b.wait,
                key: idempotency_key(&headers)?,
            };
            let reply = s.run(&caller, Command::Ci(command)).await?;
            match reply.data {
                Some(ReplyData::Grant {
                    env,
                    hold,
                    token: Some(token),
                    ..
                }) => Ok(Json(json!({
                    "env": env,
                    "holder": hold.display,
                    "token": token,
                    "fence": hold.fence,
                    "expires_at": views::time(hold.expires),
                }))
                .into_response()),
                _ => Err(BatonError::Internal.into()),
            }
        }
        .await,
    )
}

async fn unlock(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let (env, b) = (path(env)?, body::json::<body::TokenBody>(&bytes(raw)?)?);
            let command = CiCommand::Release {
                env,
                token: body::token(b.token)?,
                key: idempotency_key(&headers)?,
            };
            let reply = s.run(&caller, Command::Ci(command)).await?;
            match reply.data {
                Some(ReplyData::Released { env, next }) => Ok(Json(json!({
                    "env": env,
                    "released": true,
                    "next": next.map(|n| n.display),
                }))
                .into_response()),
                _ => Err(BatonError::Internal.into()),
            }
        }
        .await,
    )
}

async fn extend(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let (env, b) = (path(env)?, body::json::<body::ExtendBody>(&bytes(raw)?)?);
            let by = body::ttl("ttl", b.ttl)?
                .ok_or_else(|| ApiError::bad_request("`ttl` says how much longer, like \"20m\""))?;
            let command = CiCommand::Extend {
                env,
                token: body::token(b.token)?,
                by,
                key: idempotency_key(&headers)?,
            };
            let reply = s.run(&caller, Command::Ci(command)).await?;
            match reply.data {
                Some(ReplyData::Grant { env, hold, .. }) => Ok(Json(json!({
                    "env": env,
                    "fence": hold.fence,
                    "expires_at": views::time(hold.expires),
                }))
                .into_response()),
                _ => Err(BatonError::Internal.into()),
            }
        }
        .await,
    )
}

#[derive(Deserialize)]
struct GateQuery {
    holder: Option<String>,
}

async fn gate(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
    query: Result<Query<GateQuery>, QueryRejection>,
) -> Response {
    let result = async {
        let caller = s.caller(&headers)?;
        let env = path(env)?;
        let Query(query) = query
            .map_err(|e| ApiError::bad_request(format!("the query string is unreadable: {e}")))?;
        let label = query.holder.map(|h| body::label(Some(h))).transpose()?;
        s.run(
            &caller,
            Command::Ci(CiCommand::Gate {
                env: env.clone(),
                label,
            }),
        )
        .await?;
        Ok(Json(json!({"allowed": true, "env": env})).into_response())
    }
    .await;
    respond(result.map_err(|e: ApiError| match e.status {
        423 | 403 if e.code != "forbidden" => e.with("allowed", json!(false)),
        _ => e,
    }))
}

async fn envs(State(s): State<CiState>, headers: HeaderMap) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let reply = s.run(&caller, Command::Status { target: None }).await?;
            match reply.data {
                Some(ReplyData::Envs { envs }) => Ok(Json(
                    json!({"envs": envs.iter().map(views::env).collect::<Vec<_>>()}),
                )
                .into_response()),
                _ => Err(BatonError::Internal.into()),
            }
        }
        .await,
    )
}

async fn env_view(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let env = path(env)?;
            let reply = s
                .run(&caller, Command::Status { target: Some(env) })
                .await?;
            match reply.data {
                Some(ReplyData::Envs { envs }) if envs.len() == 1 => {
                    Ok(Json(views::env(&envs[0])).into_response())
                }
                Some(ReplyData::Envs { envs }) => Ok(Json(
                    json!({"envs": envs.iter().map(views::env).collect::<Vec<_>>()}),
                )
                .into_response()),
                _ => Err(BatonError::Internal.into()),
            }
        }
        .await,
    )
}

async fn deploy(
    State(s): State<CiState>,
    headers: HeaderMap,
    env: Result<Path<String>, PathRejection>,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    respond(
        async {
            let caller = s.caller(&headers)?;
            let (env, b) = (path(env)?, body::json::<body::DeployBody>(&bytes(raw)?)?);
            let field = |name: &str, v: String| body::text(name, Some(v), 300);
            let command = CiCommand::RecordDeploy {
                env: env.clone(),
                sha: field("sha", b.sha)?,
                version: field("version", b.version)?,
                url: field("url", b.url)?,
                fence: b.fence,
                key: idempotency_key(&headers)?,
            };
            s.run(&caller, Command::Ci(command)).await?;
            Ok(Json(json!({"env": env, "recorded": true})).into_response())
        }
        .await,
    )
}

async fn command(
    State(s): State<CiState>,
    headers: HeaderMap,
    raw: Result<Bytes, BytesRejection>,
) -> Response {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    respond(
        async {
            let caller = s.caller(&headers)?;
            let b = body::json::<body::CommandBody>(&bytes(raw)?)?;
            let with_reply = |e: BatonError| {
                let reply = e.reply(now());
                ApiError::from(e).with("reply", serde_json::to_value(reply).unwrap_or(Value::Null))
            };
            let parsed = grammar::parse(&b.text).map_err(with_reply)?;
            caller.check(&parsed.touches(), s.baton.catalog())?;
            let invocation = Invocation {
                actor: caller.actor.clone(),
                channel: None,
                command: parsed,
            };
            let reply = s.baton.execute(invocation).await.map_err(with_reply)?;
            Ok(Json(json!({"reply": reply})).into_response())
        }
        .await,
    )
}

async fn events(State(s): State<CiState>, headers: HeaderMap) -> Response {
    match s.caller(&headers) {
        Ok(_) => Sse::new(event_stream(&s.baton))
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Every state change, as server-sent events; `resync` after the bus reconnects.
fn event_stream(baton: &Baton) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = baton.events().subscribe();
    stream::unfold(rx, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(BusMessage::Event(e)) => SseEvent::default()
                .event(e.kind.clone())
                .data(e.raw.clone()),
            // Missed events (a reconnect, or a slow reader): tell the reader to re-read state.
            Ok(BusMessage::Resync) | Err(RecvError::Lagged(_)) => {
                SseEvent::default().event("resync").data("{}")
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    })
}
