//! Is this request from Slack? [`Signed`] reads the body (the app's body limit applies first, so
//! an oversized body is a 413 before anything is hashed) and checks it with slack-morphism's
//! verifier: `x-slack-signature` must be `v0=` HMAC-SHA256(signing secret,
//! `v0:{x-slack-request-timestamp}:{body}`), and the timestamp within 5 minutes of now, either
//! way. Anything else is a 401 and nothing runs.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use slack_morphism::signature_verifier::{
    SlackEventSignatureVerifier, SlackEventSignatureVerifierError,
};

use super::SlackHttpState;

/// A request body that Slack signed.
pub(crate) struct Signed(pub Bytes);

impl FromRequest<SlackHttpState> for Signed {
    type Rejection = Response;

    async fn from_request(req: Request, state: &SlackHttpState) -> Result<Self, Response> {
        let signature = header(&req, SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER);
        let timestamp = header(&req, SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP);
        let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
            return Err(unauthorized(
                "missing",
                "the Slack signature headers are missing",
            ));
        };
        let body = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Ok(text) = std::str::from_utf8(&body) else {
            return Err(unauthorized("not_utf8", "the request is not from Slack"));
        };
        match state.verifier.verify(&signature, text, &timestamp) {
            Ok(()) => Ok(Signed(body)),
            Err(SlackEventSignatureVerifierError::IncorrectOrExpiredTimestampError(_)) => {
                Err(unauthorized(
                    "stale",
                    "the Slack request timestamp is too old or in the future",
                ))
            }
            Err(_) => Err(unauthorized(
                "bad_signature",
                "the Slack signature does not match",
            )),
        }
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    let value = req.headers().get(name)?;
    value.to_str().ok().map(str::to_owned)
}

fn unauthorized(reason: &'static str, message: &'static str) -> Response {
    tracing::warn!(reason, "slack request rejected");
    (StatusCode::UNAUTHORIZED, message).into_response()
}
