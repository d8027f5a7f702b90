//! The CI HTTP API (`/api/v1`, see `docs/ci-api.md`): bearer token → `ci:<name>` actor → a
//! typed request through the same road as chat ([`Baton::run_ci`]) → its typed answer as JSON.
//! Every error is `{"error": code, "message": sentence}` with the status the contract names.
//!
//! - [`api_types`]: the request and response bodies, shared with `baton ci`.
//! - `extract`: the authenticated [`Caller`], the env in the path, the idempotency key and the
//!   JSON object body, as axum extractors.
//! - [`contract`]: the served OpenAPI document, with this server's limits and envs written in.
//! - [`error`]: [`ApiError`], whose codes and statuses are
//!   [`BatonError`](baton_commands::BatonError)'s own table.

pub mod api_types;
pub mod auth;
mod body;
pub mod contract;
pub mod error;
mod extract;
pub mod guard;
pub mod views;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_commands::ci_api;
use baton_commands::config::CiConfig;
use baton_commands::domain::wall_clock;
use baton_commands::reply::{Reply, Tone};
use baton_commands::BusMessage;
use baton_commands::CiRequest;
use baton_commands::EnvState;
use baton_commands::{grammar, Baton, Input, Request};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use self::api_types::{
    CommandBody, DeployBody, ExtendBody, ExtendSetBody, ExtendedSet, GateAnswer, Granted,
    GrantedSet, LockBody, LockSetBody, Recorded, Released, ReleasedSet, TokenBody, UnlockSetBody,
};
pub use self::auth::{glob_match, sha256_hex, Caller, TokenEntry};
pub use self::error::ApiError;
use self::extract::{EnvPath, IdemKey, JsonObject};

/// What the CI routes share. Every extractor of every request clones it, so it is one shared
/// allocation (a clone is one reference count, never a copy of the token list).
#[derive(Clone)]
pub struct CiState(Arc<CiParts>);

/// The parts of [`CiState`].
pub struct CiParts {
    baton: Baton,
    tokens: Vec<TokenEntry>,
    max_wait: Duration,
    guard: guard::AuthGuard,
}

impl std::ops::Deref for CiState {
    type Target = CiParts;
    fn deref(&self) -> &CiParts {
        &self.0
    }
}

impl CiState {
    /// The CI API over `baton`, with the tokens and limits of `[ci]`.
    pub fn new(baton: Baton, config: &CiConfig) -> Self {
        Self(Arc::new(CiParts {
            baton,
            tokens: config.tokens.iter().map(TokenEntry::from_config).collect(),
            max_wait: config.max_wait,
            guard: guard::AuthGuard::new(config.auth_failure_burst),
        }))
    }

    /// The longest a lock request may wait, so the server's request timeout can allow for it.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// Runs a typed request as the caller, once the token's env scope allows it.
    async fn run<R: CiRequest>(&self, caller: &Caller, request: R) -> Result<R::Answer, ApiError> {
        caller.check(&request.command().touches(), self.baton.catalog())?;
        let outcome = self.baton.run_ci(caller.actor.clone(), request).await;
        // The refusal's sentence shows its times in the team's zone, as chat does.
        let zone = self.baton.zone();
        outcome
            .result
            .map_err(|e| baton_commands::reply::with_zone(zone, || ApiError::seen_by(e, caller)))
    }
}

/// The `/api/v1` routes.
pub fn routes(state: CiState) -> Router {
    Router::new()
        .route(
            "/api/v1/locks",
            post(lock_set).delete(unlock_set).patch(extend_set),
        )
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

async fn lock(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<LockBody>,
) -> Result<Json<Granted>, ApiError> {
    if b.wait.is_some_and(|w| w > s.max_wait) {
        let max = humantime::format_duration(s.max_wait);
        return Err(ApiError::bad_request(format!(
            "`wait` may be at most {max} (ci.max_wait)"
        )));
    }
    let request = ci_api::Acquire {
        env,
        ttl: body::ttl("ttl", b.ttl)?,
        reason: body::reason(b.reason)?,
        label: body::label(b.holder)?,
        wait: b.wait,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

/// The envs of a set request: two to ten names, none twice; a group's name (`[[groups]]`) stands
/// for its envs there, as in chat.
fn set_envs(
    raw: &[String],
    catalog: &baton_commands::Catalog,
) -> Result<Vec<baton_commands::domain::EnvName>, ApiError> {
    let mut envs: Vec<baton_commands::domain::EnvName> = Vec::new();
    for name in raw {
        let named = body::env(name)?;
        let members = match catalog.group(&named) {
            Some(members) => members.to_vec(),
            None => vec![named],
        };
        for env in members {
            // The same name twice is outside the schema (400); the same env in another letter
            // case is not something a schema can say, so it is this route's conflict (409).
            if let Some(same) = envs
                .iter()
                .find(|e| e.as_str().eq_ignore_ascii_case(env.as_str()))
            {
                let message = format!("`{env}` is named twice in `envs` (env names ignore case)");
                return Err(if same.as_str() == env.as_str() {
                    ApiError::bad_request(message)
                } else {
                    ApiError::new(409, "refused", message)
                });
            }
            envs.push(env);
        }
    }
    if !(2..=grammar::MAX_SET).contains(&envs.len()) {
        return Err(ApiError::bad_request(format!(
            "`envs` lists 2 to {} envs to lock together (one env: POST /api/v1/locks/{{env}})",
            grammar::MAX_SET
        )));
    }
    Ok(envs)
}

async fn lock_set(
    State(s): State<CiState>,
    caller: Caller,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<LockSetBody>,
) -> Result<Json<GrantedSet>, ApiError> {
    if b.wait.is_some_and(|w| w > s.max_wait) {
        let max = humantime::format_duration(s.max_wait);
        return Err(ApiError::bad_request(format!(
            "`wait` may be at most {max} (ci.max_wait)"
        )));
    }
    let request = ci_api::AcquireSet {
        envs: set_envs(&b.envs, s.baton.catalog())?,
        ttl: body::ttl("ttl", b.ttl)?,
        reason: body::reason(b.reason)?,
        label: body::label(b.holder)?,
        wait: b.wait,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

async fn unlock_set(
    State(s): State<CiState>,
    caller: Caller,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<UnlockSetBody>,
) -> Result<Json<ReleasedSet>, ApiError> {
    let request = ci_api::ReleaseSet {
        envs: set_envs(&b.envs, s.baton.catalog())?,
        token: body::token(b.token)?,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

async fn extend_set(
    State(s): State<CiState>,
    caller: Caller,
    JsonObject(b): JsonObject<ExtendSetBody>,
) -> Result<Json<ExtendedSet>, ApiError> {
    let by = body::ttl("ttl", b.ttl)?
        .ok_or_else(|| ApiError::bad_request("`ttl` says how much longer, like \"20m\""))?;
    let request = ci_api::ExtendSet {
        envs: set_envs(&b.envs, s.baton.catalog())?,
        token: body::token(b.token)?,
        by,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

async fn unlock(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<TokenBody>,
) -> Result<Json<Released>, ApiError> {
    let request = ci_api::Release {
        env,
        token: body::token(b.token)?,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

async fn extend(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<ExtendBody>,
) -> Result<Json<api_types::Extended>, ApiError> {
    let by = body::ttl("ttl", b.ttl)?
        .ok_or_else(|| ApiError::bad_request("`ttl` says how much longer, like \"20m\""))?;
    let request = ci_api::Extend {
        env,
        token: body::token(b.token)?,
        by,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

#[derive(Deserialize)]
struct GateQuery {
    holder: Option<String>,
}

/// The header that carries the token of the lock the asking pipeline holds (a header, so it
/// stays out of URLs and access logs).
pub const LOCK_TOKEN_HEADER: &str = "baton-lock-token";

async fn gate(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
    headers: HeaderMap,
    query: Result<Query<GateQuery>, QueryRejection>,
) -> Result<Json<GateAnswer>, ApiError> {
    let result = async {
        let Query(query) = query
            .map_err(|e| ApiError::bad_request(format!("the query string is unreadable: {e}")))?;
        if query.holder.is_some() {
            return Err(ApiError::bad_request(
                "`holder` no longer opens the gate: a name proves nothing. To pass your own lock, \
                 send its token in the `Baton-Lock-Token` header (`baton ci gate` sends \
                 BATON_LOCK_TOKEN)",
            ));
        }
        let token = match headers.get(LOCK_TOKEN_HEADER) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .map(String::from)
                    .map_or_else(|| Err(body::token_refusal()), body::token)?,
            ),
        };
        let open = s.run(&caller, ci_api::Gate { env, token }).await?;
        Ok(Json(open.into()))
    }
    .await;
    result.map_err(|e: ApiError| match e.status {
        423 | 403 if e.code != "forbidden" => e.with("allowed", json!(false)),
        _ => e,
    })
}

async fn envs(State(s): State<CiState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let states = s.run(&caller, ci_api::Envs { target: None }).await?;
    let envs: Vec<Value> = states.envs.iter().map(|e| seen(&caller, e)).collect();
    Ok(Json(json!({ "envs": envs })))
}

async fn env_view(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
) -> Result<Json<Value>, ApiError> {
    let states = s.run(&caller, ci_api::Envs { target: Some(env) }).await?;
    Ok(Json(match states.envs.as_slice() {
        [one] => seen(&caller, one),
        many => json!({"envs": many.iter().map(|e| seen(&caller, e)).collect::<Vec<_>>()}),
    }))
}

/// One env as `caller` may see it (whose holder ids: [`Caller::sees`]).
fn seen(caller: &Caller, state: &EnvState) -> Value {
    views::env_as(state, |h| caller.sees(&state.env, &h.holder))
}

async fn deploy(
    State(s): State<CiState>,
    caller: Caller,
    EnvPath(env): EnvPath,
    IdemKey(key): IdemKey,
    JsonObject(b): JsonObject<DeployBody>,
) -> Result<Json<Recorded>, ApiError> {
    let field = |name: &str, v: String| body::text(name, Some(v), 300);
    let request = ci_api::RecordDeploy {
        env,
        sha: field("sha", b.sha)?,
        version: field("version", b.version)?,
        url: field("url", b.url)?,
        fence: b.fence,
        key,
    };
    Ok(Json(s.run(&caller, request).await?.into()))
}

/// Longest command text, in characters: chat's limit is 2000 bytes, and a character is at most 4.
pub const MAX_COMMAND_CHARS: usize = grammar::MAX_TEXT_LEN / 4;

/// Chat text through the same road as chat; a refusal carries the reply chat would have shown,
/// a refusal of the body itself too.
async fn command(
    State(s): State<CiState>,
    caller: Caller,
    body: Result<JsonObject<CommandBody>, ApiError>,
) -> Result<Json<Value>, ApiError> {
    let refused = |e: ApiError| {
        let reply = Reply::new(Tone::Refused, e.message.clone(), wall_clock());
        let reply = serde_json::to_value(&reply).unwrap_or(Value::Null);
        e.with("reply", reply)
    };
    let JsonObject(b) = body.map_err(refused)?;
    if b.text.chars().count() > MAX_COMMAND_CHARS {
        return Err(refused(ApiError::bad_request(format!(
            "that command is too long (at most {MAX_COMMAND_CHARS} characters)"
        ))));
    }
    let input = match grammar::parse(&b.text) {
        Ok(parsed) => {
            // A group's name stands for its envs, each of which the token must cover.
            let parsed = s.baton.catalog().resolve(parsed);
            caller
                .check(&parsed.touches(), s.baton.catalog())
                .map_err(refused)?;
            Input::Command(parsed)
        }
        // The core renders the refusal, as it would in chat.
        Err(_) => Input::Text(b.text),
    };
    let request = Request {
        actor: caller.actor.clone(),
        channel: None,
        input,
    };
    let outcome = s.baton.run(request).await;
    let reply = serde_json::to_value(&outcome.reply).unwrap_or(Value::Null);
    match outcome.result {
        Ok(_) => Ok(Json(json!({ "reply": reply }))),
        Err(e) => Err(ApiError::seen_by(e, &caller).with("reply", reply)),
    }
}

async fn events(State(s): State<CiState>, _caller: Caller) -> Response {
    Sse::new(event_stream(&s.baton))
        .keep_alive(KeepAlive::default())
        .into_response()
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
