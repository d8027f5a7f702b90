//! The web console's sign-ins and sessions. Both live under a hash tag of their own
//! (`<prefix>:{web}:…`), keyed by the SHA-256 of the secret the browser holds, so a copy of
//! Redis holds nothing a browser could present:
//!
//! - a sign-in in progress ([`PendingSignIn`]): written when the browser is sent to the
//!   identity provider, keyed by the `state` parameter, taken back exactly once (`GETDEL`) when
//!   the provider sends it back, and gone after [`SIGN_IN_TTL`] either way: a forged, replayed or
//!   stale `state` finds nothing;
//! - a session ([`WebSession`]): written at a sign-in, expiring on its own schedule
//!   (`[web] session_ttl`, by Redis' `PX`), deleted at sign-out.

use std::time::Duration;

use redis::Cmd;
use serde::{Deserialize, Serialize};

use super::{Store, StoreError};
use crate::hashing::sha256_hex;

/// How long a sign-in may take at the identity provider before its `state` is forgotten.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(600);

/// What a sign-in in progress keeps until the provider sends the browser back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignIn {
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier whose S256 challenge went with the request.
    pub verifier: String,
    /// The console path to return to (always a local path).
    pub return_to: String,
}

/// A signed-in person, as the console knows them between requests. Roles are not kept: they
/// are read from `[roles]` on every request, from the identity and groups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebSession {
    /// The identity roles match (`oidc:<sub>`).
    pub identity: String,
    /// How to show them.
    pub display: String,
    /// Their groups (`oidc-group:<name>`), as the provider said at sign-in.
    pub groups: Vec<String>,
    /// The token every state-changing form must carry.
    pub csrf: String,
    /// The ID token, for the provider's sign-out (`id_token_hint`).
    #[serde(default)]
    pub id_token: String,
    /// When the session ends (Unix ms, by Redis' clock as last learned).
    pub expires: u64,
}

impl Store {
    fn web_key(&self, what: &str, secret: &str) -> String {
        self.keys().web(what, &sha256_hex(secret.as_bytes()))
    }

    /// Keeps a sign-in in progress under its `state` for [`SIGN_IN_TTL`].
    pub async fn begin_sign_in(
        &self,
        state: &str,
        pending: &PendingSignIn,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_string(pending).map_err(|_| StoreError::Unexpected)?;
        let mut cmd = Cmd::set(self.web_key("signin", state), value);
        cmd.arg("PX").arg(SIGN_IN_TTL.as_millis() as u64);
        let _: () = self.query_once(&cmd).await?;
        Ok(())
    }

    /// Takes the sign-in kept under `state`, once: a second call (a replay) finds nothing.
    pub async fn take_sign_in(&self, state: &str) -> Result<Option<PendingSignIn>, StoreError> {
        let mut cmd = redis::cmd("GETDEL");
        cmd.arg(self.web_key("signin", state));
        let found: Option<String> = self.query_once(&cmd).await?;
        Ok(found.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Starts a session under the browser's `session_id`, ending after `ttl`.
    pub async fn start_web_session(
        &self,
        session_id: &str,
        session: &WebSession,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_string(session).map_err(|_| StoreError::Unexpected)?;
        let mut cmd = Cmd::set(self.web_key("session", session_id), value);
        cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        let _: () = self.query_once(&cmd).await?;
        Ok(())
    }

    /// The session the browser's `session_id` names, if it is still on.
    pub async fn web_session(&self, session_id: &str) -> Result<Option<WebSession>, StoreError> {
        let found: Option<String> = self
            .query(&Cmd::get(self.web_key("session", session_id)))
            .await?;
        Ok(found.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Ends the session the browser's `session_id` names; true when there was one.
    pub async fn end_web_session(&self, session_id: &str) -> Result<bool, StoreError> {
        let n: i64 = self
            .query_once(&Cmd::del(self.web_key("session", session_id)))
            .await?;
        Ok(n > 0)
    }
}
