//! Request bodies: strict JSON (unknown fields refused) with messages a person can act on, and
//! durations as humantime strings or whole seconds.

use std::time::Duration;

use axum::body::Bytes;
use baton_commands::domain::{clean_text, EnvName, Ttl, MAX_REASON_LEN};
use serde::de::DeserializeOwned;

use super::ApiError;

/// Longest `holder` label.
const MAX_LABEL: usize = 100;

/// Parses a JSON body; an empty body reads as `{}`. Only an object is accepted: serde would
/// otherwise read an array by position (`["holder", 7200]` as holder and ttl).
pub fn json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    let text: &[u8] = match first {
        None => b"{}",
        Some(b'{') => body,
        Some(_) => {
            return Err(ApiError::bad_request(
                "the request body must be a JSON object, like {\"ttl\": \"20m\"}",
            ))
        }
    };
    serde_json::from_slice(text).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => {
                format!("the request body is not what this route takes: {e}")
            }
            _ => format!("the request body is not valid JSON: {e}"),
        };
        ApiError::bad_request(message)
    })
}

/// An env name from the path, checked like chat input (so `../x` or `prod*` never reach a key).
pub fn env(raw: &str) -> Result<EnvName, ApiError> {
    EnvName::parse(raw).map_err(ApiError::bad_request)
}

/// A label or reason: refused when longer than `max` characters as sent (the served document's
/// `maxLength`), then cleaned.
pub fn text(field: &str, raw: Option<String>, max: usize) -> Result<String, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "`{field}` is too long (at most {max} characters)"
        )));
    }
    Ok(clean_text(&raw))
}

/// The `holder` label.
pub fn label(raw: Option<String>) -> Result<String, ApiError> {
    text("holder", raw, MAX_LABEL)
}

/// The `reason`.
pub fn reason(raw: Option<String>) -> Result<String, ApiError> {
    text("reason", raw, MAX_REASON_LEN)
}

/// A lock TTL of at least a second.
pub fn ttl(field: &str, d: Option<Duration>) -> Result<Option<Ttl>, ApiError> {
    d.map(|d| {
        Ttl::new(d)
            .ok_or_else(|| ApiError::bad_request(format!("`{field}` must be at least one second")))
    })
    .transpose()
}

/// Longest lock token read. Baton issues 32 lowercase hex characters; any other string of 1 to
/// 128 visible ASCII characters is a token that holds nothing (404 or 409, as for a stale one).
pub const MAX_TOKEN: usize = 128;

/// A token field: 1 to [`MAX_TOKEN`] visible ASCII characters (the served document's `LockToken`
/// pattern), so a megabyte of "token" is refused, not hashed.
pub fn token(raw: String) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > MAX_TOKEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(token_refusal());
    }
    Ok(raw)
}

/// What a malformed lock token is told.
pub fn token_refusal() -> ApiError {
    ApiError::bad_request(format!(
        "`token` must be the token the lock request returned (1 to {MAX_TOKEN} visible ASCII \
         characters; Baton's are 32 hex digits)"
    ))
}
