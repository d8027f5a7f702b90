//! A stand-in for Baton's CI API (docs/ci-api.md) with an in-memory lock per env, just enough to
//! drive `baton ci` through every answer it must handle. The real server is tested on its own;
//! this one also answers what is hard to provoke there (a store outage on demand) and records
//! every call so tests can check what the client sent.
//!
//! Env names choose the answer: `frozen` is frozen, `forbidden` is outside the token's scope,
//! `down` has its store unavailable; every other env is an ordinary lock. State-changing requests
//! honour `Idempotency-Key` as Baton does, and [`FakeBaton::fault`] injects what a stalled or
//! restarting store does to them ([`faults`]).

mod faults;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub use faults::Fault;
use faults::{Armed, Reply};

/// The only API token the fake accepts.
pub const API_TOKEN: &str = "baton_fake-api-token";
/// What every lock's `expires_at` says.
const EXPIRES_AT: &str = "2026-11-26T10:55:00Z";

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub body: Value,
    /// The `Idempotency-Key` header, as sent.
    pub key: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Clone, Debug)]
struct Held {
    holder: String,
    token: String,
    fence: u64,
}

#[derive(Default)]
struct Inner {
    locks: HashMap<String, Held>,
    fences: HashMap<String, u64>,
    granted: HashMap<String, String>,
    calls: Vec<Call>,
    faults: Vec<Armed>,
    /// Idempotency key → (the request it came with, its original reply).
    replies: HashMap<String, (String, Reply)>,
}

type Shared = Arc<Mutex<Inner>>;

/// A running fake on 127.0.0.1; stops when dropped.
pub struct FakeBaton {
    pub url: String,
    inner: Shared,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeBaton {
    pub async fn start() -> Self {
        let inner = Shared::default();
        let app = Router::new()
            .route("/api/v1/locks/{env}", post(lock).delete(unlock))
            .route("/api/v1/locks/{env}/extend", post(extend))
            .route("/api/v1/gate/{env}", get(gate))
            .route("/api/v1/envs", get(envs))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap()
        });
        Self {
            url,
            inner,
            _stop: tx,
        }
    }

    /// Someone else takes `env`'s lock.
    pub fn hold(&self, env: &str, holder: &str) {
        let mut inner = self.inner.lock().unwrap();
        let fence = next_fence(&mut inner, env);
        inner.locks.insert(
            env.into(),
            Held {
                holder: holder.into(),
                token: format!("someone-elses-{fence}"),
                fence,
            },
        );
    }

    /// The lock on `env` ends without anyone releasing it (it expired).
    pub fn expire(&self, env: &str) {
        self.inner.lock().unwrap().locks.remove(env);
    }

    /// Injects `fault` into the next `times` requests with `method` whose path ends with `suffix`
    /// (after any faults armed earlier for the same requests are used up).
    pub fn fault(&self, method: Method, suffix: &str, fault: Fault, times: u32) {
        self.inner.lock().unwrap().faults.push(Armed {
            method,
            suffix: suffix.into(),
            fault,
            times,
        });
    }

    /// Ends every injected fault.
    pub fn heal(&self) {
        self.inner.lock().unwrap().faults.clear();
    }

    /// Every request received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// The calls with this method whose path ends with `suffix`.
    pub fn calls_to(&self, method: Method, suffix: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method && c.path.ends_with(suffix))
            .collect()
    }

    /// The lock token of the last grant the fake answered for `env`.
    pub fn granted_token(&self, env: &str) -> Option<String> {
        self.inner.lock().unwrap().granted.get(env).cloned()
    }

    /// Who holds `env` now.
    pub fn holder(&self, env: &str) -> Option<String> {
        let inner = self.inner.lock().unwrap();
        inner.locks.get(env).map(|h| h.holder.clone())
    }
}

fn next_fence(inner: &mut Inner, env: &str) -> u64 {
    let fence = inner.fences.entry(env.into()).or_default();
    *fence += 1;
    *fence
}

fn refused(status: StatusCode, code: &str, message: &str, extra: Value) -> Reply {
    let mut body = json!({"error": code, "message": message});
    if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    (status, body)
}

fn error(status: StatusCode, code: &str, message: &str, extra: Value) -> Response {
    let (status, body) = refused(status, code, message, extra);
    (status, Json(body)).into_response()
}

/// Answers a state-changing request through its idempotency key and any injected fault.
async fn write(
    inner: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: String,
    apply: impl FnOnce(&mut Inner, &str) -> Reply,
) -> Response {
    let key = match faults::key(headers) {
        Ok(key) => key,
        Err(r) => return *r,
    };
    let sent = body.clone();
    let request = (method, uri.path().to_string(), key, body);
    faults::answer(inner, request, move |g| apply(g, &sent)).await
}

/// Records the call; answers what every route shares (auth, scope, store outages) or None.
fn refusal(
    inner: &Shared,
    method: Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &str,
) -> Option<Response> {
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    let key = headers
        .get("idempotency-key")
        .map(|k| k.to_str().unwrap_or("(not text)").to_string());
    inner.lock().unwrap().calls.push(Call {
        method,
        path: uri.path().to_string(),
        body,
        key,
        at: Instant::now(),
    });
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {API_TOKEN}") {
        let m = "the API token is missing or unknown: check BATON_TOKEN";
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            m,
            json!({}),
        ));
    }
    let env = uri.path().split('/').nth(4).unwrap_or("");
    if env == "forbidden" {
        let m = "this token may not touch `forbidden`";
        return Some(error(StatusCode::FORBIDDEN, "forbidden", m, json!({})));
    }
    if env == "down" {
        let m = "Baton cannot reach its store right now; locks fail closed";
        return Some(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            m,
            json!({}),
        ));
    }
    None
}

/// 403 `frozen`; a gate's answer also says `allowed: false`.
fn frozen(gate: bool) -> Response {
    let mut extra = json!({"frozen_by": "ci:ops", "reason": "release week", "until": null});
    if gate {
        extra["allowed"] = json!(false);
    }
    let m = "frozen is frozen by ci:ops until lifted: release week";
    error(StatusCode::FORBIDDEN, "frozen", m, extra)
}

fn locked(env: &str, held: &Held) -> Reply {
    refused(
        StatusCode::LOCKED,
        "locked",
        &format!("{env} is locked by {}", held.holder),
        json!({"holder": held.holder, "reason": null, "since": "2026-11-26T10:35:00Z",
               "expires_at": EXPIRES_AT, "queue": []}),
    )
}

async fn lock(
    State(inner): State<Shared>,
    Path(env): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&inner, method.clone(), &uri, &headers, &body) {
        return r;
    }
    if env == "frozen" {
        return frozen(false);
    }
    write(&inner, method, &uri, &headers, body, |g, body| {
        grant(g, &env, body)
    })
    .await
}

fn grant(g: &mut Inner, env: &str, body: &str) -> Reply {
    let req: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let holder = req["holder"].as_str().unwrap_or("ci:fake").to_string();
    if let Some(held) = g.locks.get(env) {
        return locked(env, held);
    }
    let fence = next_fence(g, env);
    let token = format!("lock-{env}-{fence}");
    g.granted.insert(env.into(), token.clone());
    g.locks.insert(
        env.into(),
        Held {
            holder: holder.clone(),
            token: token.clone(),
            fence,
        },
    );
    let answer = json!({"env": env, "holder": holder, "token": token, "fence": fence,
                        "expires_at": EXPIRES_AT});
    (StatusCode::OK, answer)
}

/// Checks the lock token of a release or extension: 404 not_locked, 409 not_holder, or the hold.
fn holding(inner: &Inner, env: &str, body: &str) -> Result<Held, Reply> {
    let req: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let Some(held) = inner.locks.get(env) else {
        let m = format!("{env} is not locked");
        return Err(refused(StatusCode::NOT_FOUND, "not_locked", &m, json!({})));
    };
    if req["token"].as_str() != Some(held.token.as_str()) {
        let m = format!("{env} is held by {}, not by this token", held.holder);
        return Err(refused(StatusCode::CONFLICT, "not_holder", &m, json!({})));
    }
    Ok(held.clone())
}

async fn unlock(
    State(inner): State<Shared>,
    Path(env): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&inner, method.clone(), &uri, &headers, &body) {
        return r;
    }
    write(&inner, method, &uri, &headers, body, |g, body| {
        if let Err(r) = holding(g, &env, body) {
            return r;
        }
        g.locks.remove(&env);
        (
            StatusCode::OK,
            json!({"env": env, "released": true, "next": null}),
        )
    })
    .await
}

async fn extend(
    State(inner): State<Shared>,
    Path(env): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Some(r) = refusal(&inner, method.clone(), &uri, &headers, &body) {
        return r;
    }
    write(
        &inner,
        method,
        &uri,
        &headers,
        body,
        |g, body| match holding(g, &env, body) {
            Ok(held) => (
                StatusCode::OK,
                json!({"env": env, "fence": held.fence, "expires_at": EXPIRES_AT}),
            ),
            Err(r) => r,
        },
    )
    .await
}

async fn gate(
    State(inner): State<Shared>,
    Path(env): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&inner, method, &uri, &headers, "") {
        return r;
    }
    if env == "frozen" {
        return frozen(true);
    }
    let g = inner.lock().unwrap();
    match g.locks.get(&env) {
        Some(held)
            if headers
                .get("baton-lock-token")
                .and_then(|v| v.to_str().ok())
                != Some(&format!("{env}-token")) =>
        {
            error(
                StatusCode::LOCKED,
                "locked",
                &format!("{env} is locked by {}", held.holder),
                json!({"allowed": false, "holder": held.holder, "reason": null,
                   "since": "2026-11-26T10:35:00Z", "expires_at": EXPIRES_AT, "queue": []}),
            )
        }
        _ => Json(json!({"allowed": true, "env": env})).into_response(),
    }
}

async fn envs(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refusal(&inner, method, &uri, &headers, "") {
        return r;
    }
    let g = inner.lock().unwrap();
    let mut names: Vec<&String> = g.locks.keys().collect();
    names.sort();
    let views: Vec<Value> = names
        .into_iter()
        .map(|env| {
            let h = &g.locks[env];
            json!({"env": env, "lock": {"holder": h.holder, "reason": null, "since": "2026-11-26T10:35:00Z",
                   "expires_at": EXPIRES_AT, "fence": h.fence},
                   "claim": null, "freeze": null, "queue": [], "last_deploy": null})
        })
        .collect();
    Json(json!({ "envs": views })).into_response()
}
