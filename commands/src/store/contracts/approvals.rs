//! The two-person rule (`approval.lua`): a lock asked for on an env that needs approvals, the
//! approvals and rejections that decide it, and a waiting request looking up how it stands.

use serde::Deserialize;

use super::Contract;
use crate::state::{lua_int, Freeze, Hold};
use crate::store::scripts::{self, Function};
use crate::store::Call;

/// What the script is asked to do.
pub enum ApprovalArgs<'a> {
    /// A lock asked for: pending until approved (`mode`: `lock`, `queue`, `wait`, `poll`).
    Ask {
        holder: &'a str,
        display: &'a str,
        reason: &'a str,
        ttl_ms: u64,
        token: &'a str,
        id: &'a str,
        timeout_ms: u64,
        needed: u8,
        mode: &'static str,
        lease_ms: u64,
        wait_ms: u64,
        queue_limit: usize,
    },
    /// An admin's lock, taken without approval (recorded as a bypass); the `Ask` arguments.
    Bypass {
        holder: &'a str,
        display: &'a str,
        reason: &'a str,
        ttl_ms: u64,
        token: &'a str,
    },
    /// `approve <env> [#id]`.
    Approve {
        actor: &'a str,
        display: &'a str,
        id: &'a str,
        queue_limit: usize,
    },
    /// `reject <env> [#id] [reason]`.
    Reject {
        actor: &'a str,
        display: &'a str,
        id: &'a str,
        reason: &'a str,
    },
    /// How a waiting request's approval stands.
    Check { holder: &'a str, id: &'a str },
}

impl Contract for ApprovalArgs<'_> {
    type Answer = ApprovalAnswer;
    fn function(&self) -> Function {
        scripts::APPROVAL
    }
    fn write(&self, call: Call) -> Call {
        match self {
            ApprovalArgs::Ask {
                holder,
                display,
                reason,
                ttl_ms,
                token,
                id,
                timeout_ms,
                needed,
                mode,
                lease_ms,
                wait_ms,
                queue_limit,
            } => call
                .arg("ask")
                .arg(*holder)
                .arg(*display)
                .arg(*reason)
                .arg(*ttl_ms)
                .arg(*token)
                .arg(*id)
                .arg(*timeout_ms)
                .arg(u64::from(*needed))
                .arg(*mode)
                .arg(*lease_ms)
                .arg(*wait_ms)
                .arg(*queue_limit),
            ApprovalArgs::Bypass {
                holder,
                display,
                reason,
                ttl_ms,
                token,
            } => call
                .arg("bypass")
                .arg(*holder)
                .arg(*display)
                .arg(*reason)
                .arg(*ttl_ms)
                .arg(*token),
            ApprovalArgs::Approve {
                actor,
                display,
                id,
                queue_limit,
            } => call
                .arg("approve")
                .arg(*actor)
                .arg(*display)
                .arg(*id)
                .arg(*queue_limit),
            ApprovalArgs::Reject {
                actor,
                display,
                id,
                reason,
            } => call
                .arg("reject")
                .arg(*actor)
                .arg(*display)
                .arg(*id)
                .arg(*reason),
            ApprovalArgs::Check { holder, id } => call.arg("check").arg(*holder).arg(*id),
        }
    }
}

/// What `approval.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ApprovalAnswer {
    /// The request waits for approvals, until `until`.
    Pending {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        id: String,
        #[serde(rename = "until", deserialize_with = "lua_int")]
        until: u64,
        needed: u64,
        #[serde(default)]
        have: u64,
    },
    /// The same requester asked again while their request is pending.
    AlreadyPending {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        id: String,
        #[serde(rename = "until", deserialize_with = "lua_int")]
        until: u64,
        have: u64,
        needed: u64,
    },
    /// The requester holds the lock already (approved earlier, or a retry).
    Already {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        lock: Hold,
        token: String,
    },
    /// Approved and granted now.
    Granted {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        lock: Hold,
        token: String,
        #[serde(default)]
        by: String,
    },
    /// Approved, and in line behind the holder.
    Queued {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        position: usize,
        #[serde(default)]
        holder: String,
        #[serde(default)]
        by: String,
    },
    /// Approved (a polling request: granted on its next poll once the env is free).
    Approved {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(default)]
        by: String,
        #[serde(default)]
        holder: String,
    },
    /// One more approval recorded; more are needed.
    More {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        holder: String,
        have: u64,
        needed: u64,
    },
    /// Rejected (by someone, withdrawn, or timed out).
    Rejected {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(default)]
        by: String,
        #[serde(default)]
        why: String,
        #[serde(default)]
        holder: String,
    },
    /// Approved, but the env is held now (a poll).
    Locked {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(default)]
        lock: Option<Hold>,
        #[serde(default)]
        queued: usize,
    },
    /// Frozen: nothing was asked for.
    Frozen {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        freeze: Freeze,
    },
    /// The only pending request is the actor's own.
    #[serde(rename = "self")]
    Own {},
    /// The actor approved it already.
    AlreadyApproved { holder: String },
    /// No pending request (of that id) on the env.
    NoRequest {},
    /// The id is not a request of this holder's.
    Unknown {},
    /// Approved, but the line is full: rejected.
    QueueFull { limit: usize },
}
