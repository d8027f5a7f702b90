//! What every route shares at the edge. The API promises `{"error": code, "message": sentence}`
//! for every error, but some answers are made before any handler runs: 404 for an unknown path,
//! 405 for a wrong method, 413 from an extractor that read past the body limit, plain-text refusals from the platform
//! adapters. [`json_errors`] rewrites those; [`request_limits`] answers an oversized URL (414) or
//! header block (431) itself, below hyper's own limits, whose answers have no body at all.
//! [`body_deadline`] gives a request's body the time its headers had, and [`refusal`] is the
//! shape of every answer that turns a client away to protect the others.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use serde_json::json;
use tower_http::timeout::{DeadlineBody, TimeoutError};

/// Longest request target (path and query) answered normally.
pub const MAX_URI: usize = 8 * 1024;
/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// Largest header block (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest request body any route accepts ([`edge`] answers 413 beyond it).
pub const BODY_LIMIT: usize = 64 * 1024;

/// Everything at the edge, as one middleware (each layer of its own would box the request's
/// future once more and move it through one more frame, and a waiting request keeps every box
/// for as long as it waits): the URL, header and body limits ([`request_limits`]), the body's
/// deadline and limit ([`body_deadline`]), the bound on the whole request, then, on the answer, an event
/// stream's slot ([`crate::budget::stream_slot`]) and the JSON shape of every error
/// ([`json_errors`]).
pub async fn edge(State(edge): State<Edge>, req: Request, next: Next) -> Response {
    if let Some(refused) = request_limits(&req) {
        return json_errors(refused).await;
    }
    let peer = crate::budget::peer(&req);
    let (req, expired) = body_deadline(edge.body_timeout, req);
    let Ok(response) = tokio::time::timeout(edge.bound, next.run(req)).await else {
        // Past the route's bound: 503, its JSON made as for any bare error answer.
        return json_errors(StatusCode::SERVICE_UNAVAILABLE.into_response()).await;
    };
    if expired.is_some_and(|e| e.load(Ordering::Relaxed)) {
        return body_late(edge.body_timeout);
    }
    json_errors(crate::budget::stream_slot(&edge.streams, peer, response)).await
}

/// What [`edge`] needs: `server.body_timeout`, how long any request may take, and the event
/// streams' budget.
#[derive(Clone)]
pub struct Edge {
    /// The longest any request may take (a CI lock request may wait up to `ci.max_wait`):
    /// past it the answer is 503.
    pub bound: Duration,
    /// `server.body_timeout`.
    pub body_timeout: BodyTimeout,
    /// Slots for event streams, per address and in all.
    pub streams: Arc<crate::budget::Budget>,
}

/// 414, 431 and (a declared length over [`BODY_LIMIT`]) 413 as JSON, before routing.
fn request_limits(req: &Request) -> Option<Response> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        let message = format!("the URL is over the limit of {} KiB", MAX_URI / 1024);
        return Some(error(StatusCode::URI_TOO_LONG, "uri_too_long", message));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        let message = format!(
            "the request headers are over the limit of {MAX_HEADERS} fields or {} KiB",
            MAX_HEADER_BYTES / 1024
        );
        return Some(error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Some(body_too_large());
    }
    None
}

/// 413: the body is over [`BODY_LIMIT`] (declared so, or found so while it was read).
fn body_too_large() -> Response {
    let message = format!(
        "the request body is over the limit of {} KiB",
        BODY_LIMIT / 1024
    );
    error(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
}

/// `server.body_timeout`, the state of [`body_deadline`].
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout(pub Duration);

/// A request's body must arrive whole within `server.body_timeout` of its headers: tower-http's
/// `DeadlineBody` (one timer that never resets; its `TimeoutBody` resets on every frame, which a
/// byte a second defeats). Whatever the handler made of the broken body (the Slack, Discord and
/// GitHub routes read it before checking its signature), the answer is 408 and the connection is
/// closed. The body is also cut at [`BODY_LIMIT`] (`Limited`: reading past it fails, and the
/// extractor answers 413), for a body that did not declare its length. A request without a body
/// (every `GET`) is passed on untouched.
fn body_deadline(
    BodyTimeout(limit): BodyTimeout,
    req: Request,
) -> (Request, Option<Arc<AtomicBool>>) {
    use axum::body::HttpBody as _;
    if req.body().is_end_stream() {
        return (req, None);
    }
    let expired = Arc::new(AtomicBool::new(false));
    let seen = expired.clone();
    let req = req.map(|body| {
        let timed = DeadlineBody::new(limit, body).map_err(move |e| {
            if e.is::<TimeoutError>() {
                seen.store(true, Ordering::Relaxed);
            }
            e
        });
        Body::new(http_body_util::Limited::new(timed, BODY_LIMIT))
    });
    (req, Some(expired))
}

/// The answer to a request whose body missed its deadline (see [`body_deadline`]).
fn body_late(BodyTimeout(limit): BodyTimeout) -> Response {
    let message = format!(
        "the request body did not arrive within {} (server.body_timeout)",
        humantime::format_duration(limit)
    );
    refusal(StatusCode::REQUEST_TIMEOUT, "timeout", message, None)
}

/// A JSON refusal (`{"error", "message"}`) that also closes the connection, so a client turned
/// away holds nothing; with `retry`, a `Retry-After` in whole seconds.
pub fn refusal(
    status: StatusCode,
    code: &str,
    message: String,
    retry: Option<Duration>,
) -> Response {
    let mut response = error(status, code, message);
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Some(retry) = retry {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(retry.as_secs().max(1)),
        );
    }
    response
}

/// Gives every error answer without a JSON (or HTML page) body the JSON one, keeping its status
/// and headers (`Allow`, `Retry-After`, `WWW-Authenticate`); a plain-text body becomes the message.
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let kind = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !(kind.is_empty() || kind.starts_with("text/plain")) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text).trim().to_string();
    let (code, default) = describe(status);
    let message = match text.is_empty() {
        true => default.to_string(),
        false if status == StatusCode::PAYLOAD_TOO_LARGE => {
            format!(
                "the request body is over the limit of {} KiB",
                BODY_LIMIT / 1024
            )
        }
        false => text,
    };
    let body = serde_json::to_vec(&json!({"error": code, "message": message}))
        .expect("a JSON object serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

/// The `error` code and a default sentence for a status the framework answers with.
fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("bad_request", "the request could not be read"),
        401 => ("unauthorized", "the request is not authenticated"),
        403 => ("forbidden", "the request is not allowed"),
        404 => (
            "not_found",
            "there is nothing at this path; the API lives under /api/v1 (see /api/v1/openapi.json)",
        ),
        405 => (
            "method_not_allowed",
            "this path does not take that method; the Allow header lists the ones it takes",
        ),
        408 => ("timeout", "the request took too long to arrive"),
        413 => ("too_large", "the request body is too large"),
        414 => ("uri_too_long", "the URL is too long"),
        415 => ("unsupported_media_type", "send the body as JSON"),
        429 => (
            "rate_limited",
            "too many requests; wait for the time in Retry-After",
        ),
        431 => ("headers_too_large", "the request headers are too large"),
        503 => (
            "unavailable",
            "the service is unavailable; try again shortly",
        ),
        s if s >= 500 => (
            "internal",
            "something went wrong inside Baton; it is logged",
        ),
        _ => ("bad_request", "the request was refused"),
    }
}

fn error(status: StatusCode, code: &str, message: String) -> Response {
    (status, Json(json!({"error": code, "message": message}))).into_response()
}
