//! What can go wrong between Baton and Redis, in the words a person needs: whether the change
//! happened (known not, or unknown), and why the store could not be used.

use std::sync::atomic::{AtomicBool, Ordering};

use redis::{ErrorKind, RedisError, ServerErrorKind, Value};

use crate::error::BatonError;
pub use crate::error::Cause;

/// Why the store could not answer. Its `Display` is safe to show people (never a password or a
/// URL); causes go to `tracing`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The call was not carried out: Redis could not be reached, or refused it before running it.
    #[error("the state store (Redis) is unavailable: {0}")]
    Unavailable(Cause),
    /// The call went out but no answer came back in time: it may or may not have been carried out.
    #[error("the state store (Redis) did not answer in time")]
    Unknown,
    /// Redis is at `maxmemory` and refused the write before running it.
    #[error("the state store (Redis) is full")]
    Full,
    /// Redis answered, but not as Baton expects (a bug, or someone else's data in our keys).
    #[error("the state store gave an unexpected answer")]
    Unexpected,
    /// The script refused an idempotency key that came back with a different request (the store
    /// worked; the caller reused a key).
    #[error("an idempotency key was reused for a different request")]
    KeyReused,
}

/// The Redis settings cannot be used at all (a malformed `redis.url`, an unknown scheme): found
/// before anything is sent, so it is a configuration problem, never "unavailable".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the Redis settings cannot be used: {0}")]
pub struct Misconfigured(pub String);

impl StoreError {
    /// What this error means for a call that only reads: a read that got no answer changed
    /// nothing anyone cares about, so it is simply unavailable.
    pub fn for_read(self) -> Self {
        match self {
            StoreError::Unknown => StoreError::Unavailable(Cause::Timeout),
            other => other,
        }
    }
}

/// Classifies a failed call. `sent` says whether the request may have reached Redis: a dropped
/// connection after sending leaves the outcome unknown, one that was refused does not.
pub fn classify(e: &RedisError, sent: bool) -> StoreError {
    if let Some(cause) = cause_of(e) {
        return StoreError::Unavailable(cause);
    }
    if e.code() == Some("OOM") {
        return StoreError::Full;
    }
    // Only a refused connection proves the call never left: on a multiplexed connection every
    // call in flight gets the same "broken pipe" or "reset" when the socket dies, including calls
    // Redis had already run (seen under load: a lock answered "unavailable" that was in fact taken).
    if e.is_connection_refusal() {
        return StoreError::Unavailable(Cause::Unreachable);
    }
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
        return if sent {
            StoreError::Unknown
        } else {
            StoreError::Unavailable(Cause::Unreachable)
        };
    }
    StoreError::Unexpected
}

/// The causes that mean "Redis did not run it", read from the error's kind and code.
fn cause_of(e: &RedisError) -> Option<Cause> {
    let code = e.code().unwrap_or_default();
    // Pipelines fold their commands' errors into one message, and an unauthenticated client gets
    // "Protocol error: unauthenticated multibulk length" for a long command: read the text too.
    let text = e.to_string().to_ascii_lowercase();
    let says = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if matches!(code, "NOAUTH" | "WRONGPASS")
        || e.kind() == ErrorKind::AuthenticationFailed
        || says(&["noauth", "wrongpass", "unauthenticated"])
    {
        return Some(Cause::Auth);
    }
    if code == "NOPERM"
        || e.kind() == ErrorKind::Server(ServerErrorKind::NoPerm)
        || says(&["noperm"])
    {
        return Some(Cause::Permission);
    }
    match e.kind() {
        ErrorKind::Server(ServerErrorKind::BusyLoading) => return Some(Cause::Loading),
        ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown) => {
            return Some(Cause::NotPrimary)
        }
        // A redirection that comes back to us: the slot's owner could not be reached.
        ErrorKind::Server(
            ServerErrorKind::ClusterDown
            | ServerErrorKind::TryAgain
            | ServerErrorKind::Moved
            | ServerErrorKind::Ask,
        )
        | ErrorKind::ClusterConnectionNotFound => return Some(Cause::ClusterDown),
        _ => {}
    }
    let tls = [
        "tls",
        "certificate",
        "handshake",
        "unknownissuer",
        "invalidcertificate",
    ];
    if e.is_io_error() && says(&tls) {
        return Some(Cause::Tls);
    }
    None
}

/// Whether Redis' last word on Baton's credentials was a refusal. A connection Redis has not
/// authenticated runs nothing, and Redis closes one that sends a long command ("Protocol error:
/// unauthenticated multibulk length"): the calls cut short with it, and those that time out on
/// it, changed nothing, and their cause is still the credentials, not "did not answer in time".
/// Any answer clears it (the credentials were fixed, or Redis now accepts them).
#[derive(Debug, Default)]
pub(super) struct Credentials(AtomicBool);

impl Credentials {
    /// What a failed call means, given what Redis said before.
    pub(super) fn judge(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Unavailable(Cause::Auth) => {
                self.0.store(true, Ordering::Relaxed);
                error
            }
            StoreError::Unknown if self.0.load(Ordering::Relaxed) => {
                StoreError::Unavailable(Cause::Auth)
            }
            other => other,
        }
    }

    /// Redis answered a call.
    pub(super) fn answered(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Notes the refusals among a pipeline's answers (its round trip itself succeeded).
    pub(super) fn note(&self, values: &[Value]) {
        let refused = |v: &Value| match v {
            Value::ServerError(e) => {
                classify(&e.clone().into(), true) == StoreError::Unavailable(Cause::Auth)
            }
            _ => false,
        };
        if values.iter().any(refused) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// What a `NOPERM` refusal means to whoever runs Redis: the ACL permission Baton's user lacks,
/// read from Redis' own words ("… has no permissions to run the 'fcall' command", "… to access a
/// key", "… a channel"), and the rule that grants it.
pub(super) fn missing_permission(said: &str, prefix: &str) -> String {
    let lower = said.to_ascii_lowercase();
    let command = lower
        .split_once("run the '")
        .and_then(|(_, rest)| rest.split_once('\''))
        .map(|(name, _)| name.to_string());
    let (what, rule) = match command {
        Some(name) => (
            format!("run {}", name.to_ascii_uppercase()),
            format!("+{name}"),
        ),
        None if lower.contains("channel") => {
            ("use its Pub/Sub channels".into(), format!("&{prefix}:*"))
        }
        None if lower.contains("key") => ("use its keys".into(), format!("~{prefix}:*")),
        None => ("do what it needs".into(), "+@all".into()),
    };
    format!(
        "Baton's Redis user may not {what}; grant it with `ACL SETUSER <user> {rule}` (Baton \
         needs FCALL and FUNCTION for its function library, EVALSHA and SCRIPT, Pub/Sub, and the \
         keys and channels under `{prefix}:`)"
    )
}

/// What a store failure means to the person who asked: defined here, so the error types above the
/// store never need to know it exists.
impl From<StoreError> for BatonError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => BatonError::StoreUnavailable(cause),
            StoreError::Unknown => BatonError::OutcomeUnknown,
            StoreError::Full => BatonError::StoreFull,
            StoreError::Unexpected => BatonError::Internal,
            StoreError::KeyReused => BatonError::IdempotencyKeyReused,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_after_sending_is_unknown_and_before_it_unavailable() {
        let timed_out = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(classify(&timed_out, true), StoreError::Unknown);
        assert_eq!(
            classify(&timed_out, false),
            StoreError::Unavailable(Cause::Unreachable)
        );
        assert_eq!(
            StoreError::Unknown.for_read(),
            StoreError::Unavailable(Cause::Timeout)
        );
    }

    #[test]
    fn credentials_and_permissions_are_named() {
        let wrongpass = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "WRONGPASS invalid username-password pair",
        ));
        assert_eq!(
            classify(&wrongpass, true),
            StoreError::Unavailable(Cause::Auth)
        );
        let msg = classify(&wrongpass, true).to_string();
        assert!(msg.contains("credentials"), "{msg}");
    }

    #[test]
    fn a_missing_acl_permission_is_named_with_the_rule_that_grants_it() {
        let said = "NOPERM User baton has no permissions to run the 'fcall' command";
        let hint = missing_permission(said, "baton");
        assert!(
            hint.contains("may not run FCALL") && hint.contains("+fcall"),
            "{hint}"
        );
        let said = "NOPERM No permissions to access a key";
        assert!(missing_permission(said, "baton").contains("~baton:*"));
    }
}
