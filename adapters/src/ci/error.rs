//! The CI API's one error: `{"error": code, "message": sentence, …}` with its HTTP status. A
//! refusal from the core takes its code and status from [`BatonError`]'s own table
//! ([`BatonError::code`], [`BatonError::http_status`]); this file only adds the fields a
//! pipeline can act on (holder, queue, freeze, fence, known envs).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use baton_commands::BatonError;
use serde_json::{json, Map, Value};

use super::api_types::ErrorBody;
use super::auth::Caller;
use super::views;

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

    /// A 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "bad_request", message.into())
    }

    /// The error with one more field.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extra.insert(key.into(), value);
        self
    }
}

impl From<BatonError> for ApiError {
    fn from(e: BatonError) -> Self {
        let err = Self::new(e.http_status(), e.code(), e.to_string());
        match e {
            BatonError::UnknownEnv { known, .. } => err.with("known", json!(known)),
            BatonError::Held { hold, queue, .. } => {
                let mut err = err;
                if let Value::Object(fields) = views::hold(&hold, false) {
                    err.extra.extend(fields);
                }
                err.with("queue", json!(queue))
            }
            BatonError::Frozen { freeze, .. } => err
                .with("frozen_by", json!(freeze.display))
                .with("window", json!(freeze.window))
                .with("reason", json!(freeze.reason))
                .with(
                    "until",
                    json!((freeze.until > 0).then(|| views::time(freeze.until))),
                ),
            BatonError::NotHolder { hold, .. } => err.with("holder", json!(hold.display)),
            BatonError::StaleFence { current, .. } => err.with("fence", json!(current)),
            _ => err,
        }
    }
}

impl ApiError {
    /// A refusal for `caller`: as [`From<BatonError>`], with the holder's id when the caller may
    /// see it ([`Caller::sees`]).
    pub fn seen_by(e: BatonError, caller: &Caller) -> Self {
        let shown = match &e {
            BatonError::Held { env, hold, .. } if caller.sees(env, &hold.holder) => {
                Some(hold.holder.clone())
            }
            _ => None,
        };
        let err = Self::from(e);
        match shown {
            Some(id) => err.with("holder_id", json!(id)),
            None => err,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            extra: self.extra,
        };
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(body)).into_response();
        if self.status == 401 {
            response
                .headers_mut()
                .insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        response
    }
}
