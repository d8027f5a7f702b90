//! Who may call `/discord/interactions`: requests signed by Discord with the application's key
//! (Ed25519 over `timestamp ++ body`, checked by serenity's `Verifier`), and recently. The
//! Verifier does not look at the timestamp's age, so a captured request could be replayed
//! forever; requests more than five minutes old or ahead are refused here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use serenity::interactions_endpoint::Verifier;

/// How far a request's timestamp may be from this machine's clock, either way.
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// Why a request was refused (all answer 401; the reason goes to the log only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// `X-Signature-Ed25519` or `X-Signature-Timestamp` is missing or not text.
    MissingHeaders,
    /// The timestamp is not a number, or too far from now.
    Stale,
    /// The signature does not match the key and body.
    BadSignature,
}

/// Checks interaction requests against the application's public key.
#[derive(Clone)]
pub struct SignatureCheck {
    verifier: Verifier,
}

impl SignatureCheck {
    /// A check for `public_key`, 64 hex characters from the Developer Portal.
    pub fn new(public_key: &str) -> Result<Self, String> {
        let bad = || {
            "discord.public_key is not an Ed25519 public key: copy the 64 hex characters of \
             PUBLIC KEY from the Developer Portal's General Information page"
                .to_string()
        };
        let bytes = decode_hex(public_key.trim()).ok_or_else(bad)?;
        let verifier = Verifier::try_new(bytes).map_err(|_| bad())?;
        Ok(Self { verifier })
    }

    /// Whether the request is Discord's and fresh, by `now`.
    pub fn check(&self, headers: &HeaderMap, body: &[u8], now: SystemTime) -> Result<(), Rejected> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(timestamp)) = (
            header("x-signature-ed25519"),
            header("x-signature-timestamp"),
        ) else {
            return Err(Rejected::MissingHeaders);
        };
        if !fresh(timestamp, now) {
            return Err(Rejected::Stale);
        }
        self.verifier
            .verify(signature, timestamp, body)
            .map_err(|()| Rejected::BadSignature)
    }
}

/// Whether `timestamp` (Unix seconds) is within [`MAX_SKEW`] of `now`.
fn fresh(timestamp: &str, now: SystemTime) -> bool {
    let Ok(at) = timestamp.trim().parse::<u64>() else {
        return false;
    };
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    now.abs_diff(at) <= MAX_SKEW.as_secs()
}

fn decode_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_older_or_further_ahead_than_five_minutes_are_stale() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        for (what, ts, ok) in [
            ("now", "1800000000", true),
            ("five minutes ago", "1799999700", true),
            ("five minutes ahead", "1800000300", true),
            ("a second too old", "1799999699", false),
            ("a second too far ahead", "1800000301", false),
            ("not a number", "soon", false),
            ("negative", "-1", false),
            ("empty", "", false),
        ] {
            assert_eq!(fresh(ts, now), ok, "{what}");
        }
    }

    #[test]
    fn a_key_that_is_not_64_hex_characters_is_refused_with_where_to_find_it() {
        for key in ["", "abc", &"zz".repeat(32), &"é".repeat(32)] {
            let e = SignatureCheck::new(key).err().expect(key);
            assert!(e.contains("Developer Portal"), "{e}");
        }
    }
}
