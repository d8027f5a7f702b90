//! What pipelines ask for and what they get back, as types: each request is its own struct,
//! carried by [`CiCommand`] for the router (privilege, log label, scope), and each has a typed
//! answer ([`CiRequest::Answer`]) that the CI API serialises. Nothing is dug back out of a chat
//! [`Reply`]: the chat-style reply is rendered from the answer, for logs and for symmetry.
//!
//! Each acquisition is its own holder (`ci:<token name>#<ticket>`), so two pipelines sharing a
//! token never share a lock; they release and extend by the lock's token.

use std::fmt;
use std::time::Duration;

use crate::domain::{EnvName, IdempotencyKey, Ttl};
use crate::reply::Render;
use crate::reply::{Reply, Tone, Value};
use crate::state::{EnvState, Hold};

/// Take the deploy lock, waiting in the queue up to `wait`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acquire {
    /// Which env.
    pub env: EnvName,
    /// For how long (the env's default when absent).
    pub ttl: Option<Ttl>,
    /// Why.
    pub reason: String,
    /// A label for people, like `api deploy #1234`.
    pub label: String,
    /// How long to wait for the lock; fail at once when absent.
    pub wait: Option<Duration>,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// Take several envs' deploy locks together (`POST /api/v1/locks`): all of them or none, in one
/// atomic step, under one token. A set does not wait in line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcquireSet {
    /// Which envs (two or more).
    pub envs: Vec<EnvName>,
    /// For how long (the shortest of the envs' defaults when absent).
    pub ttl: Option<Ttl>,
    /// Why.
    pub reason: String,
    /// A label for people, like `api deploy #1234`.
    pub label: String,
    /// How long to wait for the whole set (none: refused at once when anything is in the way).
    pub wait: Option<std::time::Duration>,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// Release a set's locks by the token they were granted under (`DELETE /api/v1/locks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseSet {
    /// Which envs (two or more).
    pub envs: Vec<EnvName>,
    /// The set's token.
    pub token: String,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// Extend a set's locks by the token they were granted under (`PATCH /api/v1/locks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendSet {
    /// Which envs (two or more).
    pub envs: Vec<EnvName>,
    /// The set's token.
    pub token: String,
    /// By how much.
    pub by: Ttl,
}

/// Release the lock this token was granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    /// Which env.
    pub env: EnvName,
    /// The lock's token.
    pub token: String,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// Extend the lock this token was granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extend {
    /// Which env.
    pub env: EnvName,
    /// The lock's token.
    pub token: String,
    /// By how much.
    pub by: Ttl,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// May a deploy go ahead now? Yes when no freeze is on and the lock is free or held by the
/// caller, which proves it by presenting the lock's token: a label or holder id opens nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct Gate {
    /// Which env.
    pub env: EnvName,
    /// The token of the lock the caller holds, if it holds one.
    pub token: Option<String>,
}

/// Never prints the token.
impl fmt::Debug for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gate")
            .field("env", &self.env)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// Record a deploy on the env and in its history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordDeploy {
    /// Which env.
    pub env: EnvName,
    /// The commit.
    pub sha: String,
    /// The version.
    pub version: String,
    /// A link to the deploy.
    pub url: String,
    /// When given, the deploy is refused unless the env's current lock has this fence.
    pub fence: Option<u64>,
    /// Makes a retry safe: the same key gets the first attempt's answer.
    pub key: Option<IdempotencyKey>,
}

/// Read the state of every env, or of one env or pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envs {
    /// An env or pool; all when absent.
    pub target: Option<EnvName>,
}

/// What pipelines ask for, as the router sees it. Chat text never parses into these.
#[derive(Clone, PartialEq, Eq)]
pub enum CiCommand {
    /// See [`Acquire`].
    Acquire(Acquire),
    /// See [`Release`].
    Release(Release),
    /// See [`Extend`].
    Extend(Extend),
    /// See [`Gate`].
    Gate(Gate),
    /// See [`RecordDeploy`].
    RecordDeploy(RecordDeploy),
    /// See [`AcquireSet`].
    AcquireSet(AcquireSet),
    /// See [`ReleaseSet`].
    ReleaseSet(ReleaseSet),
    /// See [`ExtendSet`].
    ExtendSet(ExtendSet),
}

/// Prints as the request itself (`Acquire { env: … }`): idempotency fingerprints are made from
/// this text, so it stays what it was when these were struct variants.
impl fmt::Debug for CiCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CiCommand::Acquire(r) => r.fmt(f),
            CiCommand::Release(r) => r.fmt(f),
            CiCommand::Extend(r) => r.fmt(f),
            CiCommand::Gate(r) => r.fmt(f),
            CiCommand::RecordDeploy(r) => r.fmt(f),
            CiCommand::AcquireSet(r) => r.fmt(f),
            CiCommand::ReleaseSet(r) => r.fmt(f),
            CiCommand::ExtendSet(r) => r.fmt(f),
        }
    }
}

impl CiCommand {
    /// The request as logs and metrics name it (`ci lock`).
    pub fn verb(&self) -> &'static str {
        match self {
            CiCommand::Acquire(_) => "ci lock",
            CiCommand::Release(_) => "ci unlock",
            CiCommand::Extend(_) => "ci extend",
            CiCommand::Gate(_) => "ci gate",
            CiCommand::RecordDeploy(_) => "ci deploy",
            CiCommand::AcquireSet(_) => "ci lock set",
            CiCommand::ReleaseSet(_) => "ci unlock set",
            CiCommand::ExtendSet(_) => "ci extend set",
        }
    }

    /// The envs a set request changes; `None` for a request on one env.
    pub fn changes_set(&self) -> Option<&[EnvName]> {
        match self {
            CiCommand::AcquireSet(AcquireSet { envs, .. })
            | CiCommand::ReleaseSet(ReleaseSet { envs, .. })
            | CiCommand::ExtendSet(ExtendSet { envs, .. }) => Some(envs),
            _ => None,
        }
    }

    /// The env it changes; `None` for the gate, a read.
    pub fn changes(&self) -> Option<&EnvName> {
        match self {
            CiCommand::Acquire(Acquire { env, .. })
            | CiCommand::Release(Release { env, .. })
            | CiCommand::Extend(Extend { env, .. })
            | CiCommand::RecordDeploy(RecordDeploy { env, .. }) => Some(env),
            CiCommand::Gate(_) => None,
            CiCommand::AcquireSet(AcquireSet { envs, .. })
            | CiCommand::ReleaseSet(ReleaseSet { envs, .. })
            | CiCommand::ExtendSet(ExtendSet { envs, .. }) => envs.first(),
        }
    }

    /// The envs it takes (a lock, or a place in line): a protected env needs a deployer.
    pub fn takes(&self) -> Vec<&EnvName> {
        match self {
            CiCommand::Acquire(Acquire { env, .. }) => vec![env],
            CiCommand::AcquireSet(AcquireSet { envs, .. }) => envs.iter().collect(),
            CiCommand::Release(_)
            | CiCommand::Extend(_)
            | CiCommand::Gate(_)
            | CiCommand::RecordDeploy(_)
            | CiCommand::ReleaseSet(_)
            | CiCommand::ExtendSet(_) => Vec::new(),
        }
    }

    /// The idempotency key it carries, if any.
    pub(crate) fn key_mut(&mut self) -> Option<&mut Option<IdempotencyKey>> {
        match self {
            CiCommand::Acquire(Acquire { key, .. })
            | CiCommand::Release(Release { key, .. })
            | CiCommand::Extend(Extend { key, .. })
            | CiCommand::RecordDeploy(RecordDeploy { key, .. })
            | CiCommand::AcquireSet(AcquireSet { key, .. })
            | CiCommand::ReleaseSet(ReleaseSet { key, .. }) => Some(key),
            CiCommand::Gate(_) | CiCommand::ExtendSet(_) => None,
        }
    }
}

/// A lock granted to a pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockGrant {
    /// The env.
    pub env: String,
    /// The grant.
    pub hold: Hold,
    /// The lock's secret token, for the pipeline that will release it; never shown in chat.
    pub token: String,
    /// Redis' clock.
    pub now: u64,
}

/// Several envs' locks granted to a pipeline together, under one token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetGrant {
    /// Each env and its grant (its own fence), in the order asked.
    pub locks: Vec<(String, Hold)>,
    /// The set's secret token, for the pipeline that will release it; never shown in chat.
    pub token: String,
    /// Redis' clock.
    pub now: u64,
}

/// A pipeline's set extended: each env with its new expiry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetExtended {
    /// Each env and its lock.
    pub locks: Vec<(String, Hold)>,
    /// By how much.
    pub by: Ttl,
    /// Redis' clock.
    pub now: u64,
}

impl Render for SetExtended {
    fn reply(&self) -> Reply {
        let names: Vec<&str> = self.locks.iter().map(|(env, _)| env.as_str()).collect();
        let expires = self
            .locks
            .first()
            .map(|(_, h)| h.expires)
            .unwrap_or_default();
        Reply::new(
            Tone::Success,
            format!("extended {} by {}", crate::sets::listed(&names), self.by),
            self.now,
        )
        .field("Expires", Value::Time(expires))
    }
}

/// A pipeline's set released: each env, and who holds it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetReleased {
    /// Each env, and its next holder if someone waited.
    pub released: Vec<(String, Option<Hold>)>,
    /// Redis' clock.
    pub now: u64,
}

/// A pipeline's lock released; it passed to `next`, if anyone waited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockReleased {
    /// The env.
    pub env: String,
    /// The lock that ended.
    pub was: Hold,
    /// Who holds it now.
    pub next: Option<Hold>,
    /// Redis' clock.
    pub now: u64,
}

/// A pipeline's lock extended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockExtended {
    /// The env.
    pub env: String,
    /// The lock, with its new expiry.
    pub hold: Hold,
    /// By how much.
    pub by: Ttl,
    /// Redis' clock.
    pub now: u64,
}

/// The gate is open: nobody else holds the lock and no freeze is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GateOpen {
    /// The env.
    pub env: EnvName,
    /// Redis' clock.
    pub now: u64,
}

/// A deploy recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeployRecorded {
    /// The env.
    pub env: EnvName,
    /// Who recorded it.
    pub by: String,
    /// The version, or the commit when no version was given.
    pub what: String,
    /// Redis' clock.
    pub now: u64,
}

/// The state of some envs, with the status reply people would see (which names any group that
/// did not answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvStates {
    /// One entry per env that answered.
    pub envs: Vec<EnvState>,
    /// The `status` reply.
    pub reply: Reply,
}

impl Render for LockGrant {
    fn reply(&self) -> Reply {
        Reply::new(
            Tone::Success,
            format!("{} locked {}", self.hold.display, self.env),
            self.now,
        )
        .hold_fields(&self.hold)
    }
}

impl Render for SetGrant {
    fn reply(&self) -> Reply {
        let names: Vec<&str> = self.locks.iter().map(|(env, _)| env.as_str()).collect();
        let who = self
            .locks
            .first()
            .map(|(_, h)| h.display.as_str())
            .unwrap_or_default();
        let mut r = Reply::new(
            Tone::Success,
            format!("{who} locked {}", crate::sets::listed(&names)),
            self.now,
        );
        for (env, hold) in &self.locks {
            r = r.field(env, Value::Text(format!("fence {}", hold.fence)));
        }
        r
    }
}

impl Render for SetReleased {
    fn reply(&self) -> Reply {
        let names: Vec<&str> = self.released.iter().map(|(env, _)| env.as_str()).collect();
        Reply::new(
            Tone::Success,
            format!("unlocked {}", crate::sets::listed(&names)),
            self.now,
        )
    }
}

impl Render for LockReleased {
    fn reply(&self) -> Reply {
        let title = format!("{} unlocked {}", self.was.display, self.env);
        let r = Reply::new(Tone::Success, title, self.now);
        match &self.next {
            Some(next) => r.field("Next", Value::Person(next.display.clone())),
            None => r,
        }
    }
}

impl Render for LockExtended {
    fn reply(&self) -> Reply {
        let (who, env, by) = (&self.hold.display, &self.env, self.by);
        Reply::new(
            Tone::Success,
            format!("{who} extended their lock on {env} by {by}"),
            self.now,
        )
        .field("Expires", Value::Time(self.hold.expires))
    }
}

impl Render for GateOpen {
    fn reply(&self) -> Reply {
        let title = format!("{} is clear to deploy", self.env);
        Reply::new(Tone::Info, title, self.now)
    }
}

impl Render for DeployRecorded {
    fn reply(&self) -> Reply {
        let title = format!("{} deployed {} to {}", self.by, self.what, self.env);
        Reply::new(Tone::Success, title, self.now)
    }
}

impl Render for EnvStates {
    fn reply(&self) -> Reply {
        self.reply.clone()
    }
}
