//! Everything a user can run into, as one enum. `Display` is the sentence a person reads; causes
//! go to `tracing`, never into a chat. Each platform renders [`BatonError::reply`] its own way, and
//! the CI API maps [`BatonError::code`] to its JSON `error` field.

use crate::reply::{clock, relative, Reply, Tone};
use crate::state::{Freeze, Hold};

/// Why a command was refused or failed. Nothing changed when one of these is returned, except
/// [`BatonError::OutcomeUnknown`], which says exactly that it cannot tell.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatonError {
    /// The text could not be parsed: what was wrong, and the usage of the command.
    #[error("{message}")]
    Usage {
        /// What was wrong.
        message: String,
        /// The command's usage line, when the verb was known.
        usage: Option<String>,
    },
    /// The verb is not one Baton knows.
    #[error("unknown command `{verb}`{}", suggestion.as_ref().map(|s| format!("; did you mean `{s}`?")).unwrap_or_default())]
    UnknownCommand {
        /// What was typed.
        verb: String,
        /// The closest known verb.
        suggestion: Option<String>,
    },
    /// The env or pool is not configured.
    #[error("unknown environment `{name}`{}; known: {}", suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default(), known.join(", "))]
    UnknownEnv {
        /// What was typed.
        name: String,
        /// The closest known name.
        suggestion: Option<String>,
        /// Every env and pool.
        known: Vec<String>,
    },
    /// The actor lacks the role the command needs.
    #[error("{0}")]
    Forbidden(String),
    /// Someone else holds the lock or claim.
    #[error("{env} is {} by {} since {}, until {} ({}){}{}{}", if *kind == HoldKind::Lock { "locked" } else { "claimed" },
        hold.display, clock(hold.since), clock(hold.expires), relative(hold.expires, *now),
        if hold.reason.is_empty() { String::new() } else { format!(": {}", hold.reason) },
        if *queue > 0 { format!(" ({queue} waiting)") } else { String::new() },
        frozen.as_ref().map(|f| format!("; it is also {}", frozen_clause(f, *now))).unwrap_or_default())]
    Held {
        /// The env.
        env: String,
        /// Lock or claim.
        kind: HoldKind,
        /// Who holds it.
        hold: Box<Hold>,
        /// How many wait in the queue.
        queue: usize,
        /// Redis' clock.
        now: u64,
        /// A freeze on the env as well: the queue does not move until it ends.
        frozen: Option<Box<Freeze>>,
    },
    /// Every member of the pool is claimed, or fewer are free than were asked for (`short`).
    #[error("{}{}", match short { Some((free, wanted)) => format!("only {free} of pool {pool}'s envs {} free and you asked for {wanted}; nothing was claimed", if *free == 1 { "is" } else { "are" }), None => format!("every env in pool {pool} is claimed") }, soonest.as_deref().map(|(env, h)| format!("; the first to free up is {env}, claimed by {} until {} ({})", h.display, clock(h.expires), relative(h.expires, *now))).unwrap_or_default())]
    PoolFull {
        /// The pool.
        pool: String,
        /// The claim that ends first.
        soonest: Option<Box<(String, Hold)>>,
        /// How many members were free, and how many were asked for, when some were.
        short: Option<(usize, usize)>,
        /// Redis' clock.
        now: u64,
    },
    /// The env is free, but kept for the set waiter first in its line (who waits for several
    /// envs together and is served when all of them are free): nobody behind it overtakes it.
    #[error("{env} is free but kept for {first}, first in line, who waits for {} together; `queue {env}` to follow them", crate::sets::listed(&set.split(',').collect::<Vec<_>>()))]
    Reserved {
        /// The env.
        env: String,
        /// Who waits first.
        first: String,
        /// The envs they wait for, comma-joined.
        set: String,
    },
    /// The env needs approval before a lock (the two-person rule): the request waits for it.
    #[error("{env} needs {needed} approval{} before a lock; request #{id} has {have} and waits until {} ({}). Someone else who may deploy {env} approves with `approve {env}`; send the same request again with the same Idempotency-Key to see how it stands", if *needed == 1 { "" } else { "s" }, clock(*until), relative(*until, *now))]
    PendingApproval {
        /// The env.
        env: String,
        /// The request's id.
        id: String,
        /// Approvals so far.
        have: u64,
        /// Approvals needed.
        needed: u64,
        /// When it is rejected without them.
        until: u64,
        /// Redis' clock.
        now: u64,
    },
    /// The env is frozen and the actor is not an admin.
    #[error("{env} is frozen by {} {}{}", freeze.by_whom(), if freeze.until == 0 { "until someone unfreezes it".to_string() } else { format!("until {} ({})", clock(freeze.until), relative(freeze.until, *now)) },
        if freeze.reason.is_empty() { String::new() } else { format!(": {}", freeze.reason) })]
    Frozen {
        /// The env.
        env: String,
        /// The freeze.
        freeze: Box<Freeze>,
        /// Redis' clock.
        now: u64,
    },
    /// The actor tried to end or extend a hold that is someone else's.
    #[error("{env} is {} by {}, not by you{}", if *kind == HoldKind::Lock { "locked" } else { "claimed" }, hold.display,
        if *kind == HoldKind::Lock { format!("; ask them, or an admin can `unlock {env} --force`") } else { format!("; ask them, or an admin can `release {env} --force`") })]
    NotHolder {
        /// The env.
        env: String,
        /// Lock or claim.
        kind: HoldKind,
        /// Who holds it.
        hold: Box<Hold>,
    },
    /// There is no hold to end or extend.
    #[error("{env} is not {}{hint}", if *kind == HoldKind::Lock { "locked" } else { "claimed" })]
    NotHeld {
        /// The env.
        env: String,
        /// Lock or claim.
        kind: HoldKind,
        /// What the actor may have meant.
        hint: String,
    },
    /// A deploy was recorded under a fence that is no longer the env's lock.
    #[error("the deploy on {env} was not recorded: it ran under a fence that no longer holds the lock{}", current.map(|c| format!(" (the current lock has fence {c})")).unwrap_or_else(|| " (nobody holds the lock now)".into()))]
    StaleFence {
        /// The env.
        env: String,
        /// The current lock's fence, if any.
        current: Option<u64>,
    },
    /// A retried lock request whose grant has ended since (it expired, or was released): the
    /// retry is told so, never handed the old grant again.
    #[error("the lock on {env} that this request was granted (fence {fence}) has ended{}; nothing is held for it now, so take the lock again with a new Idempotency-Key", if *released { " (someone released it before it expired)" } else { "" })]
    LockEnded {
        /// The env.
        env: String,
        /// The ended grant's fence.
        fence: u64,
        /// It ended before the expiry it was granted with.
        released: bool,
    },
    /// A waiting request whose place a retry with the same Idempotency-Key took over.
    #[error("a retry of this request (the same Idempotency-Key) took its place in line for {env}; this attempt ends, the retry answers")]
    Superseded {
        /// The env.
        env: String,
    },
    /// A request that is well-formed but cannot be done as asked (too long, queue full, …).
    #[error("{0}")]
    Refused(String),
    /// Redis could not be used, so nothing was done. Locks fail closed.
    #[error("the state store is unavailable ({0}), so nothing was changed; try again in a moment")]
    StoreUnavailable(Cause),
    /// Redis did not answer in time: the change may or may not have been made.
    #[error("the state store did not answer in time, so Baton cannot tell whether this took effect; check `status` before trying again (a CI request retried with the same Idempotency-Key is safe)")]
    OutcomeUnknown,
    /// Redis is at `maxmemory`: the change was refused before anything was written.
    #[error("the state store is full (Redis reached its maxmemory), so nothing was changed; whoever runs Redis must free memory or raise maxmemory")]
    StoreFull,
    /// An idempotency key came back with a different request.
    #[error("this Idempotency-Key was already used for a different request; use a new key for a new request")]
    IdempotencyKeyReused,
    /// This instance is shutting down; another instance (or this one, restarted) will answer.
    #[error("Baton is restarting, so this request was not kept waiting; try again in a moment")]
    ShuttingDown,
    /// A bug. Logged with its cause; the user gets an apology, not a stack trace.
    #[error(
        "something went wrong inside Baton and nothing was changed; the details are in its log"
    )]
    Internal,
}

/// "frozen by alice until 2026-11-27 18:00 UTC (in 3h): release week", as a refusal says it.
pub(crate) fn frozen_clause(f: &Freeze, now: u64) -> String {
    let until = match f.until {
        0 => "until someone unfreezes it".to_string(),
        t => format!("until {} ({})", clock(t), relative(t, now)),
    };
    let why = match f.reason.as_str() {
        "" => String::new(),
        r => format!(": {r}"),
    };
    format!("frozen by {} {until}{why}", f.by_whom())
}

/// A deploy lock or a staging claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HoldKind {
    /// `lock`: who is deploying.
    Lock,
    /// `claim`: who is using a staging env.
    Claim,
}

impl HoldKind {
    /// `lock` or `claim`, as the scripts and the API name them.
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Lock => "lock",
            HoldKind::Claim => "claim",
        }
    }
}

/// Why the store is unavailable, for the person who has to fix it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Cause {
    /// No connection could be made.
    #[error("Baton cannot connect to it")]
    Unreachable,
    /// A read got no answer in time.
    #[error("it did not answer in time")]
    Timeout,
    /// The password or user name was refused.
    #[error("it refused Baton's credentials; check the user and password of redis.url")]
    Auth,
    /// The ACL user lacks a permission Baton needs.
    #[error("Baton's Redis user lacks a permission it needs; check its ACL rules (Baton needs FCALL and FUNCTION for its function library, EVALSHA and SCRIPT, Pub/Sub, and its key prefix; the start-up log names what is missing)")]
    Permission,
    /// The TLS handshake failed.
    #[error("the TLS handshake with it failed; check redis.url's scheme and the CA and certificates Baton trusts")]
    Tls,
    /// Redis is loading its data set after a restart.
    #[error("it is loading its data after a restart")]
    Loading,
    /// The node is a replica, or its primary is down.
    #[error("the node Baton reached is not a writable primary")]
    NotPrimary,
    /// Part of the Cluster has no reachable owner.
    #[error("part of the Redis Cluster has no reachable node")]
    ClusterDown,
}

impl BatonError {
    /// A stable machine-readable code: the CI API's `error` field and the metrics' `outcome`.
    /// This is the one table; the CI API adds only the HTTP status ([`BatonError::http_status`]).
    pub fn code(&self) -> &'static str {
        match self {
            BatonError::Usage { .. } => "bad_request",
            BatonError::UnknownCommand { .. } => "unknown_command",
            BatonError::UnknownEnv { .. } => "unknown_env",
            BatonError::Forbidden(_) => "forbidden",
            BatonError::Held {
                kind: HoldKind::Lock,
                ..
            } => "locked",
            BatonError::Held {
                kind: HoldKind::Claim,
                ..
            } => "claimed",
            BatonError::PoolFull { .. } => "pool_full",
            BatonError::Reserved { .. } => "reserved",
            BatonError::PendingApproval { .. } => "pending_approval",
            BatonError::Frozen { .. } => "frozen",
            BatonError::NotHolder { .. } => "not_holder",
            BatonError::NotHeld { .. } => "not_locked",
            BatonError::StaleFence { .. } => "stale_fence",
            BatonError::LockEnded { .. } => "lock_ended",
            BatonError::Superseded { .. } => "superseded",
            BatonError::Refused(_) => "refused",
            BatonError::StoreUnavailable(_) => "store_unavailable",
            BatonError::OutcomeUnknown => "outcome_unknown",
            BatonError::StoreFull => "store_full",
            BatonError::IdempotencyKeyReused => "idempotency_key_reused",
            BatonError::ShuttingDown => "shutting_down",
            BatonError::Internal => "internal",
        }
    }

    /// The HTTP status the CI API answers this refusal with (docs/ci-api.md).
    pub fn http_status(&self) -> u16 {
        match self {
            BatonError::Usage { .. } | BatonError::UnknownCommand { .. } => 400,
            BatonError::UnknownEnv { .. } | BatonError::NotHeld { .. } => 404,
            BatonError::Forbidden(_) | BatonError::Frozen { .. } => 403,
            BatonError::Held { .. } | BatonError::PoolFull { .. } | BatonError::Reserved { .. } => {
                423
            }
            BatonError::LockEnded { .. } => 410,
            BatonError::PendingApproval { .. } => 202,
            BatonError::NotHolder { .. }
            | BatonError::StaleFence { .. }
            | BatonError::Superseded { .. }
            | BatonError::Refused(_)
            | BatonError::IdempotencyKeyReused => 409,
            BatonError::StoreUnavailable(_)
            | BatonError::OutcomeUnknown
            | BatonError::StoreFull
            | BatonError::ShuttingDown => 503,
            BatonError::Internal => 500,
        }
    }

    /// The refusal as a reply: the sentence, then what to do next (usage, buttons).
    pub fn reply(&self, now: u64) -> Reply {
        let mut r = Reply::new(Tone::Refused, self.to_string(), now);
        match self {
            BatonError::Usage { usage: Some(u), .. } => r = r.with_text(format!("Usage: {u}")),
            BatonError::Usage { usage: None, .. } | BatonError::UnknownCommand { .. } => {
                r = r.with_text("Type `help` for every command, or `help <command>` for one.")
            }
            BatonError::Held {
                env,
                kind: HoldKind::Lock,
                hold,
                ..
            } => {
                r = r
                    .hold_fields(hold)
                    .button("Join queue", format!("queue {env}"), true);
            }
            BatonError::Reserved { env, .. } => {
                r = r.button("Join queue", format!("queue {env}"), true);
            }
            BatonError::Held { hold, .. } | BatonError::NotHolder { hold, .. } => {
                r = r.hold_fields(hold)
            }
            _ => {}
        }
        r
    }
}
