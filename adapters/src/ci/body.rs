//! Request bodies: strict JSON (unknown fields refused) with messages a person can act on, and
//! durations as humantime strings or whole seconds.

use std::time::Duration;

use axum::body::Bytes;
use baton_commands::domain::{clean_text, preview, EnvName, Ttl, MAX_REASON_LEN};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

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

/// `POST /api/v1/locks/{env}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    /// A label for people.
    #[serde(default)]
    pub holder: Option<String>,
    /// How long to hold it.
    #[serde(default, deserialize_with = "duration")]
    pub ttl: Option<Duration>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// How long to wait for it.
    #[serde(default, deserialize_with = "duration")]
    pub wait: Option<Duration>,
}

/// `DELETE /api/v1/locks/{env}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The lock's token.
    pub token: String,
}

/// `POST /api/v1/locks/{env}/extend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// The lock's token.
    pub token: String,
    /// By how much.
    #[serde(default, deserialize_with = "duration")]
    pub ttl: Option<Duration>,
}

/// `POST /api/v1/deploys/{env}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployBody {
    /// The commit.
    #[serde(default)]
    pub sha: String,
    /// The version.
    #[serde(default)]
    pub version: String,
    /// A link.
    #[serde(default)]
    pub url: String,
    /// The fence the deploy ran under.
    #[serde(default)]
    pub fence: Option<u64>,
}

/// `POST /api/v1/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// Chat text, e.g. `status`.
    pub text: String,
}

/// A label or reason: cleaned, and refused when too long.
pub fn text(field: &str, raw: Option<String>, max: usize) -> Result<String, ApiError> {
    let cleaned = clean_text(&raw.unwrap_or_default());
    if cleaned.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "`{field}` is too long (at most {max} characters)"
        )));
    }
    Ok(cleaned)
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

/// A token field: bounded, so a megabyte of "token" is refused, not hashed.
pub fn token(raw: String) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 128 {
        return Err(ApiError::bad_request(
            "`token` must be the token the lock request returned",
        ));
    }
    Ok(raw)
}

/// `"20m"`, `"1h30m"` or whole seconds (`1200`); negative, fractional or absurd values refused.
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error;
    const MAX: u64 = 10 * 365 * 86_400;
    let v = Option::<serde_json::Value>::deserialize(d)?;
    let hint = "use a duration like \"20m\" or \"1h30m\", or a whole number of seconds";
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => humantime::parse_duration(&s)
            .map(Some)
            .map_err(|_| D::Error::custom(format!("`{}` is not a duration; {hint}", preview(&s)))),
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(secs) if secs <= MAX => Ok(Some(Duration::from_secs(secs))),
            Some(_) => Err(D::Error::custom(format!(
                "{n} seconds is absurdly long; {hint}"
            ))),
            None => Err(D::Error::custom(format!(
                "{n} is not a positive whole number of seconds; {hint}"
            ))),
        },
        Some(other) => Err(D::Error::custom(format!(
            "{other} is not a duration; {hint}"
        ))),
    }
}
