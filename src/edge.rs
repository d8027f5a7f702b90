//! What every route shares at the edge. The API promises `{"error": code, "message": sentence}`
//! for every error, but some answers are made before any handler runs: 404 for an unknown path,
//! 405 for a wrong method, 413 from the body limit, plain-text refusals from the platform
//! adapters. [`json_errors`] rewrites those; [`request_limits`] answers an oversized URL (414) or
//! header block (431) itself, below hyper's own limits, whose answers have no body at all.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Longest request target (path and query) answered normally.
pub const MAX_URI: usize = 8 * 1024;
/// Most header fields a request may carry.
pub const MAX_HEADERS: usize = 100;
/// Largest header block (names and values) a request may carry.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest request body any route accepts (`tower_http`'s limit answers 413 beyond it).
pub const BODY_LIMIT: usize = 64 * 1024;

/// 414 and 431 as JSON, before routing.
pub async fn request_limits(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        let message = format!("the URL is over the limit of {} KiB", MAX_URI / 1024);
        return error(StatusCode::URI_TOO_LONG, "uri_too_long", message);
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
        return error(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            message,
        );
    }
    next.run(req).await
}

/// Gives every error answer without a JSON (or HTML page) body the JSON one, keeping its status
/// and headers (`Allow`, `Retry-After`, `WWW-Authenticate`); a plain-text body becomes the message.
pub async fn json_errors(response: Response) -> Response {
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
