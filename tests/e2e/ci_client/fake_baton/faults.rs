//! What the fake does to a state-changing request before or after applying it: the faults a
//! real Baton shows under a stalled or restarting Redis, and the idempotency-key replay that makes
//! retrying them safe (docs/ci-api.md).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{error, Inner, Shared};

/// A fault injected into the next requests to one route.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// 503 with this `error` code, nothing applied (`store_unavailable`, `store_full`,
    /// `shutting_down`).
    Unavailable(&'static str),
    /// Applied, then answered 503 `outcome_unknown`: the store ran it after Baton stopped waiting.
    OutcomeUnknown,
    /// Applied, then the connection is dropped without an answer.
    Drop,
    /// Applied, then answered only after this long (past the client's request timeout).
    Delay(Duration),
}

/// An armed fault: for `times` more requests with `method` whose path ends with `suffix`.
#[derive(Clone, Debug)]
pub struct Armed {
    pub method: Method,
    pub suffix: String,
    pub fault: Fault,
    pub times: u32,
}

/// A request's answer before any fault: what the fake stores under its idempotency key.
pub type Reply = (StatusCode, Value);

/// The idempotency key of a request: None when absent, Err(400) when malformed.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or("");
    let ok = (1..=200).contains(&raw.len())
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if !ok {
        let m = "Idempotency-Key must be 1 to 200 of A-Z a-z 0-9 . _ : -";
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            m,
            json!({}),
        )));
    }
    Ok(Some(raw.to_string()))
}

/// Takes one use of the first fault armed for this request, if any.
fn take(inner: &mut Inner, method: &Method, path: &str) -> Option<Fault> {
    let armed = inner
        .faults
        .iter_mut()
        .find(|a| a.times > 0 && a.method == *method && path.ends_with(&a.suffix))?;
    armed.times -= 1;
    Some(armed.fault)
}

/// Answers a state-changing request: a fault that applies nothing, else the original reply for
/// a key seen before with the same request (409 `idempotency_key_reused` for another request),
/// else `apply`; then any fault that hides the answer.
pub async fn answer(
    inner: &Shared,
    (method, path, key, body): (Method, String, Option<String>, String),
    apply: impl FnOnce(&mut Inner) -> Reply,
) -> Response {
    let (fault, reply) = {
        let mut g = inner.lock().unwrap();
        let fault = take(&mut g, &method, &path);
        if let Some(Fault::Unavailable(code)) = fault {
            let m = format!("the fake's store is unavailable ({code}); nothing was changed");
            return error(StatusCode::SERVICE_UNAVAILABLE, code, &m, json!({}));
        }
        let request = format!("{method} {path} {body}");
        let reply = match key.as_ref().and_then(|k| g.replies.get(k)) {
            Some((seen, reply)) if *seen == request => reply.clone(),
            Some(_) => (
                StatusCode::CONFLICT,
                json!({"error": "idempotency_key_reused",
                       "message": "this Idempotency-Key was used for a different request"}),
            ),
            None => {
                let reply = apply(&mut g);
                if let Some(k) = key {
                    g.replies.insert(k, (request, reply.clone()));
                }
                reply
            }
        };
        (fault, reply)
    };
    match fault {
        Some(Fault::OutcomeUnknown) => {
            let m = "the state store did not answer in time: the change may or may not have been made; retry with the same Idempotency-Key";
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "outcome_unknown",
                m,
                json!({}),
            )
        }
        Some(Fault::Drop) => {
            let broken = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("connection dropped"))
            });
            Response::new(Body::from_stream(broken))
        }
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            (reply.0, Json(reply.1)).into_response()
        }
        _ => (reply.0, Json(reply.1)).into_response(),
    }
}
