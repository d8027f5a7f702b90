//! The CI API's request parts as axum extractors, each refusing with the API's own error:
//! [`Caller`] (the bearer token; the guard layer has already answered a bad one), [`EnvPath`],
//! [`IdemKey`] and [`JsonObject`] (a JSON object only, at most 64 KiB).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use baton_commands::domain::{EnvName, IdempotencyKey};
use serde::de::DeserializeOwned;

use super::auth::{self, Caller};
use super::{body, ApiError, CiState};

impl FromRequestParts<CiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &CiState) -> Result<Self, ApiError> {
        // The guard in front of every CI route found it already; a route without the guard
        // authenticates here.
        match parts.extensions.remove::<Caller>() {
            Some(caller) => Ok(caller),
            None => auth::authenticate(&parts.headers, &s.tokens),
        }
    }
}

/// The `{env}` of the path, checked like chat input (so `../x` or `prod*` never reach a key).
pub struct EnvPath(pub EnvName);

impl<S: Send + Sync> FromRequestParts<S> for EnvPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| {
                ApiError::bad_request(format!("the env in the path is unreadable: {e}"))
            })?;
        body::env(&raw).map(EnvPath)
    }
}

/// The request's `Idempotency-Key`, if it sent one: a retry with the same key gets the first
/// attempt's answer.
pub struct IdemKey(pub Option<IdempotencyKey>);

impl<S: Send + Sync> FromRequestParts<S> for IdemKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(raw) = parts.headers.get("idempotency-key") else {
            return Ok(IdemKey(None));
        };
        let raw = raw
            .to_str()
            .map_err(|_| ApiError::bad_request("the Idempotency-Key header must be plain ASCII"))?;
        IdempotencyKey::parse(raw)
            .map(|k| IdemKey(Some(k)))
            .map_err(ApiError::bad_request)
    }
}

/// A JSON object body as `T`; an empty body reads as `{}`, anything but an object is refused.
pub struct JsonObject<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonObject<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|e| match e.status().as_u16() {
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
                })?;
        body::json(&bytes).map(JsonObject)
    }
}
