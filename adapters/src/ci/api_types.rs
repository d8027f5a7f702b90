//! The CI API's request and response bodies (docs/ci-api.md), defined once and serde both ways:
//! the server's handlers read requests and write answers with them, and `baton ci`
//! (`src/ci_client`) writes requests and reads answers with the same types. Requests are strict
//! (unknown fields refused); durations are text like `"20m"` or whole seconds, and go out as
//! whole seconds.

use std::time::Duration;

use baton_commands::ci_api::{
    DeployRecorded, GateOpen, LockExtended, LockGrant, LockReleased, SetExtended, SetGrant,
    SetReleased,
};
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

/// `POST /api/v1/locks`: several envs together, all or none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockSetBody {
    /// The envs (two to ten).
    pub envs: Vec<String>,
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// How long to hold them.
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
    /// How long to wait for the whole set.
    #[serde(
        default,
        deserialize_with = "duration",
        serialize_with = "secs",
        skip_serializing_if = "Option::is_none"
    )]
    pub wait: Option<Duration>,
}

/// `DELETE /api/v1/locks`: a set given back by its token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnlockSetBody {
    /// The envs, as they were locked.
    pub envs: Vec<String>,
    /// The set's token.
    pub token: String,
}

/// `PATCH /api/v1/locks`: a set extended by its token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtendSetBody {
    /// The envs, as they were locked.
    pub envs: Vec<String>,
    /// The set's token.
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
    #[serde(
        default,
        deserialize_with = "fence",
        skip_serializing_if = "Option::is_none"
    )]
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

/// One env of a set granted: its own fence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetMember {
    /// The environment.
    pub env: String,
    /// The fencing token of this env's acquisition.
    pub fence: u64,
}

/// 200 to `POST /api/v1/locks`: every env of the set, under one token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedSet {
    /// Each env and its fence, in the order asked.
    pub locks: Vec<SetMember>,
    /// The label the locks carry.
    pub holder: String,
    /// The one secret that releases them all (`DELETE /api/v1/locks`) and opens each env's gate.
    pub token: String,
    /// When they expire (RFC 3339); all were granted at one moment for one duration.
    pub expires_at: String,
    /// How long they have left, by Redis' clock.
    pub expires_in_ms: u64,
}

impl From<SetGrant> for GrantedSet {
    fn from(g: SetGrant) -> Self {
        let (holder, expires) = g
            .locks
            .first()
            .map(|(_, h)| (h.display.clone(), h.expires))
            .unwrap_or_default();
        Self {
            locks: g
                .locks
                .into_iter()
                .map(|(env, h)| SetMember {
                    env,
                    fence: h.fence,
                })
                .collect(),
            holder,
            token: g.token,
            expires_at: views::time(expires),
            expires_in_ms: expires.saturating_sub(g.now),
        }
    }
}

/// 200 to `PATCH /api/v1/locks`: every env of the set extended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendedSet {
    /// Each env and its fence (unchanged by an extension).
    pub locks: Vec<SetMember>,
    /// The new expiry of every lock of the set (RFC 3339).
    pub expires_at: String,
    /// How long they have left, by Redis' clock.
    pub expires_in_ms: u64,
}

impl From<SetExtended> for ExtendedSet {
    fn from(x: SetExtended) -> Self {
        let expires = x.locks.first().map(|(_, h)| h.expires).unwrap_or_default();
        Self {
            locks: x
                .locks
                .into_iter()
                .map(|(env, h)| SetMember {
                    env,
                    fence: h.fence,
                })
                .collect(),
            expires_at: views::time(expires),
            expires_in_ms: expires.saturating_sub(x.now),
        }
    }
}

/// 200 to `DELETE /api/v1/locks`: every env of the set released.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasedSet {
    /// Each env, and who it passed to.
    pub released: Vec<Released>,
}

impl From<SetReleased> for ReleasedSet {
    fn from(r: SetReleased) -> Self {
        Self {
            released: r
                .released
                .into_iter()
                .map(|(env, next)| Released {
                    env,
                    released: true,
                    next: next.map(|n| n.display),
                })
                .collect(),
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

/// `"20m"` (one number and a unit: s, m, h, d) or whole seconds (`1200`, or `1200.0`: an
/// integer in JSON Schema's sense); negative, fractional or absurd values refused. The served
/// document's `Ttl` and `Wait` schemas hold exactly these ([`contract`](super::contract)).
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error;
    const MAX: u64 = super::contract::MAX_DURATION_SECS;
    let v = Option::<serde_json::Value>::deserialize(d)?;
    let hint = "use a duration like \"20m\" or \"2h\" (one number and a unit: s, m, h or d), or a whole number of seconds";
    let absurd = |shown: &str| D::Error::custom(format!("{shown} is absurdly long; {hint}"));
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => match super::contract::duration_text(&s) {
            Some(d) if d.as_secs() <= MAX => Ok(Some(d)),
            Some(_) => Err(absurd(&format!("`{}`", preview(&s)))),
            None => Err(D::Error::custom(format!(
                "`{}` is not a duration; {hint}",
                preview(&s)
            ))),
        },
        Some(serde_json::Value::Number(n)) => match whole(&n) {
            Some(secs) if secs <= MAX => Ok(Some(Duration::from_secs(secs))),
            Some(_) => Err(absurd(&format!("{n} seconds"))),
            None => Err(D::Error::custom(format!(
                "{n} is not a positive whole number of seconds; {hint}"
            ))),
        },
        Some(other) => Err(D::Error::custom(format!(
            "{other} is not a duration; {hint}"
        ))),
    }
}

/// A JSON number that is a whole number from 0 to `u64::MAX`, written as an integer or as an
/// integral float (`3605680144.0` is an integer in JSON Schema's sense).
fn whole(n: &serde_json::Number) -> Option<u64> {
    n.as_u64().or_else(|| {
        let f = n.as_f64()?;
        // 2^64 is exactly representable; every integral float below it converts exactly.
        (f.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&f)).then_some(f as u64)
    })
}

/// The largest fence (Redis counts it as a signed 64-bit integer).
pub const MAX_FENCE: u64 = i64::MAX as u64;

/// A fence: a whole number from 0 to [`MAX_FENCE`], as an integer or an integral float.
fn fence<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match whole(&n) {
            Some(f) if f <= MAX_FENCE => Ok(Some(f)),
            _ => Err(D::Error::custom(format!(
                "`fence` must be a whole number from 0 to {MAX_FENCE}, not {n}"
            ))),
        },
        Some(other) => Err(D::Error::custom(format!(
            "`fence` must be a whole number, not {other}"
        ))),
    }
}
