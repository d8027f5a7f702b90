//! GitHub: `POST /github/webhook`, and the App's answers to deployment protection rules.
//!
//! The webhook is verified first (`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the
//! webhook secret, compared in constant time): anything else is 401 and reaches nothing. Events
//! are read with octocrab's webhook models; `deployment_protection_rule` (requested) puts the run
//! in line, `deployment_status` with a final state and `workflow_run` completed let it go, every
//! other event is 200 and ignored. Each delivery is handled once (`X-GitHub-Delivery`, a UUID:
//! anything but at most 64 hex digits and dashes is 400 before it is stored). That id is not
//! signed, so it only spares GitHub's own redeliveries: what makes a replayed request change
//! nothing is the core's ledger of deployments (see `baton_commands::github`). A run refused
//! for want of the privilege is 403 (and rejected on GitHub). The answer is a few Redis round
//! trips, well within GitHub's 10 s; GitHub hears `approved` and `rejected` from the core's
//! callbacks, which read the env's audit stream.
//!
//! - `api`: the App's client (octocrab: JWT → installation token, cached until it expires).

pub mod api;
mod payload;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use baton_commands::domain::Secret;
use baton_commands::BatonError;
use baton_commands::{DeliveryId, GitHub};
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

pub use payload::Event;

/// What the webhook route needs.
#[derive(Clone)]
pub struct GithubState {
    github: GitHub,
    secret: Arc<Secret>,
}

impl GithubState {
    /// The route's state: the core's GitHub side and the webhook secret.
    pub fn new(github: GitHub, secret: Secret) -> Self {
        Self {
            github,
            secret: Arc::new(secret),
        }
    }
}

/// `POST /github/webhook`.
pub fn routes(state: GithubState) -> Router {
    Router::new()
        .route("/github/webhook", post(webhook))
        .with_state(state)
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": code, "message": message }))).into_response()
}

fn ok(what: &str) -> Response {
    (StatusCode::OK, Json(json!({ "result": what }))).into_response()
}

/// Whether `signature` (`sha256=<hex>`) is the body's HMAC-SHA256 under `secret`.
pub fn signature_ok(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = unhex(hex) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).is_ok()
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

async fn webhook(State(s): State<GithubState>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let Some(signature) = header("x-hub-signature-256") else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "X-Hub-Signature-256 is missing: set the GitHub App's webhook secret to Baton's",
        );
    };
    if !signature_ok(s.secret.expose().as_bytes(), &body, signature) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "X-Hub-Signature-256 does not match: the App's webhook secret and Baton's differ",
        );
    }
    let (Some(kind), Some(delivery)) = (header("x-github-event"), header("x-github-delivery"))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "X-GitHub-Event and X-GitHub-Delivery are required, as GitHub sends them",
        );
    };
    let delivery = match DeliveryId::parse(delivery) {
        Ok(id) => id,
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "bad_request", &why),
    };
    let event = match payload::read(kind, &body) {
        Ok(Some(event)) => event,
        Ok(None) => return ok("ignored"),
        Err(why) => return refuse(StatusCode::BAD_REQUEST, "bad_request", &why),
    };
    if let Event::Requested(run) = &event {
        if s.github.rule(run).is_none() {
            tracing::info!(repo = %run.repo, environment = %run.environment, "GitHub deployment for no [[github.rules]] entry; not Baton's to answer");
            return ok("unmapped");
        }
    }
    match s.github.first_delivery(&delivery).await {
        Ok(true) => {}
        Ok(false) => return ok("replayed"),
        Err(e) => return store_down(&e),
    }
    match handle(&s, event).await {
        Ok(what) => ok(what),
        // Refused (a protected env and no deployer role): the delivery was handled, and GitHub
        // hears `rejected` from the core.
        Err(e) if e.http_status() < 500 => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            refuse(status, e.code(), &e.to_string())
        }
        Err(e) => {
            s.github.forget_delivery(&delivery).await;
            store_down(&e)
        }
    }
}

fn store_down(e: &BatonError) -> Response {
    tracing::warn!(error = %e, "a GitHub webhook could not be handled");
    let message = format!("{e}; redeliver it from the App's Advanced settings once Baton is back");
    refuse(StatusCode::SERVICE_UNAVAILABLE, e.code(), &message)
}

async fn handle(s: &GithubState, event: Event) -> Result<&'static str, BatonError> {
    match event {
        Event::Requested(run) => Ok(s.github.requested(run).await?.as_str()),
        Event::DeploymentDone(id) => {
            s.github.deployment_finished(id).await?;
            Ok("released")
        }
        Event::RunDone { repo, run_id } => {
            s.github.finished(&repo, run_id, None).await?;
            Ok("released")
        }
    }
}
