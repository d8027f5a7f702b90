//! The CI API's request and response bodies (docs/ci-api.md), defined once and serde both ways:
//! the server's handlers read requests and write answers with them, and `baton ci`
//! (`src/ci_client`) writes requests and reads answers with the same types. Requests are strict
//! (unknown fields refused); durations are humantime strings or whole seconds, and go out as
//! whole seconds.

use std::time::Duration;

use baton_commands::ci_api::{DeployRecorded, GateOpen, LockExtended, LockGrant, LockReleased};
use baton_commands::domain::preview;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::views;

/// `POST /api/v1/locks/{env}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockBody {
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// How long to hold it.
    #[serde(
        default,
        deserialize_with = "duration",
        serialize_with = "secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How long to wait for it.
    #[serde(
        default,
        deserialize_with = "duration",
        serialize_with = "secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait: Option<Duration>,
}

/// `DELETE /api/v1/locks/{env}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// The lock's token.
    pub token: String,
}

/// `POST /api/v1/locks/{env}/extend`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// The lock's token.
    pub token: String,
    /// By how much.
    #[serde(
        default,
        deserialize_with = "duration",
        serialize_with = "secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
}

/// `POST /api/v1/deploys/{env}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    /// Chat text, e.g. `status`.
    pub text: String,
}

/// 200 to `POST /api/v1/locks/{env}`: a granted lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Granted {
    /// The environment.
    pub env: String,
    /// The label the lock carries.
    pub holder: String,
    /// The secret that releases and extends it.
    pub token: String,
    /// The fencing token of this acquisition.
    pub fence: u64,
    /// When it expires unless extended (RFC 3339).
    pub expires_at: String,
    /// How long it has left, by Redis' clock: what a client compares with, not its own clock.
    /// (Absent from an older Baton.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_ms: Option<u64>,
}

impl From<LockGrant> for Granted {
    fn from(g: LockGrant) -> Self {
        Self {
            env: g.env,
            holder: g.hold.display,
            token: g.token,
            fence: g.hold.fence,
            expires_at: views::time(g.hold.expires),
            expires_in_ms: Some(g.hold.expires.saturating_sub(g.now)),
        }
    }
}

/// 200 to `DELETE /api/v1/locks/{env}`: a released lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    /// The environment.
    #[serde(default)]
    pub env: String,
    /// Always `true`.
    #[serde(default)]
    pub released: bool,
    /// Who it passed to, if anyone was waiting.
    #[serde(default)]
    pub next: Option<String>,
}

impl From<LockReleased> for Released {
    fn from(r: LockReleased) -> Self {
        Self {
            env: r.env,
            released: true,
            next: r.next.map(|n| n.display),
        }
    }
}

/// 200 to `POST /api/v1/locks/{env}/extend`: an extended lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extended {
    /// The environment.
    #[serde(default)]
    pub env: String,
    /// The fencing token (unchanged by an extension).
    pub fence: u64,
    /// The new expiry (RFC 3339).
    pub expires_at: String,
}

impl From<LockExtended> for Extended {
    fn from(e: LockExtended) -> Self {
        Self {
            env: e.env,
            fence: e.hold.fence,
            expires_at: views::time(e.hold.expires),
        }
    }
}

/// 200 to `GET /api/v1/gate/{env}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateAnswer {
    /// Whether the deploy may go ahead.
    #[serde(default)]
    pub allowed: bool,
    /// The environment.
    #[serde(default)]
    pub env: String,
}

impl From<GateOpen> for GateAnswer {
    fn from(g: GateOpen) -> Self {
        Self {
            allowed: true,
            env: g.env.to_string(),
        }
    }
}

/// 200 to `POST /api/v1/deploys/{env}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The environment.
    pub env: String,
    /// Always `true`.
    pub recorded: bool,
}

impl From<DeployRecorded> for Recorded {
    fn from(d: DeployRecorded) -> Self {
        Self {
            env: d.env.to_string(),
            recorded: true,
        }
    }
}

/// Every error: `{"error": code, "message": sentence}`, plus fields a pipeline can act on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The code (`locked`, `not_holder`, …).
    #[serde(default)]
    pub error: String,
    /// One sentence for people.
    #[serde(default)]
    pub message: String,
    /// Holder, queue, freeze, fence, known envs…, as the error has them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Whole seconds, rounded up.
fn secs<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_u64(d.as_secs() + u64::from(d.subsec_nanos() > 0)),
        None => s.serialize_none(),
    }
}

/// `"20m"`, `"1h30m"` or whole seconds (`1200`); negative, fractional or absurd values refused.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
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
