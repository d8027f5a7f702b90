//! The contracts of the deploy lock's scripts: lock, unlock, extend, leave, and a CI waiter's
//! check-in and giving up.

// The fields restate the scripts' ARGV and answer fields, documented at the top of each `.lua`
// file; a doc line per field here would repeat its name.
#![allow(missing_docs)]

use serde::Deserialize;

use super::{flag, Contract};
use crate::state::{lua_int, Freeze, Hold};
use crate::store::scripts::{self, Function};
use crate::store::Call;

/// `lock`, `queue`, or a CI request (`wait`: a queue entry with a lease, refused when frozen).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockMode {
    /// Take it now or be refused.
    Lock,
    /// A person waits in line.
    Queue,
    /// A CI request waits in line while it lives.
    Wait,
}

impl LockMode {
    /// How the scripts name it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LockMode::Lock => "lock",
            LockMode::Queue => "queue",
            LockMode::Wait => "wait",
        }
    }
}

/// What `lock.lua` needs.
pub struct LockArgs<'a> {
    pub holder: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
    pub ttl_ms: u64,
    pub token: &'a str,
    pub admin: bool,
    pub mode: LockMode,
    pub queue_limit: usize,
    /// How long a queue entry may wait (0: the script's default).
    pub wait_ms: u64,
    /// The lease of a `Wait` entry (0: none).
    pub lease_ms: u64,
    /// Record a refusal (frozen, a full line) in the env's history too, in the same step: a
    /// caller that is answered later from the audit stream (a GitHub run) learns of it there.
    pub record_refusal: bool,
}

impl Contract for LockArgs<'_> {
    type Answer = LockAnswer;
    fn function(&self) -> Function {
        scripts::LOCK
    }
    fn write(&self, call: Call) -> Call {
        let call = call
            .arg(self.holder)
            .arg(self.display)
            .arg(self.reason)
            .arg(self.ttl_ms)
            .arg(self.token)
            .arg(flag(self.admin))
            .arg(self.mode.as_str());
        // A plain lock never reads the line's arguments: the hottest call sends four fewer.
        if matches!(self.mode, LockMode::Lock) && !self.record_refusal {
            return call;
        }
        call.arg(self.queue_limit)
            .arg(self.wait_ms)
            .arg(self.lease_ms)
            .arg(flag(self.record_refusal))
    }
}

/// What `lock.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockAnswer {
    /// Granted now; `freeze` is set when an admin took it over a freeze.
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        lock: Hold,
        token: String,
        #[serde(default)]
        claim: Option<Hold>,
        #[serde(default)]
        freeze: Option<Freeze>,
    },
    /// The holder holds it already (a retried request, or a person asking twice).
    Already {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        lock: Hold,
        token: String,
    },
    /// The holder waits in line already.
    AlreadyQueued {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        position: usize,
        #[serde(default)]
        lock: Option<Hold>,
        #[serde(default)]
        freeze: Option<Freeze>,
    },
    /// Now in line.
    Queued {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        position: usize,
        #[serde(default)]
        lock: Option<Hold>,
        #[serde(default)]
        freeze: Option<Freeze>,
    },
    /// Someone else holds it (and `freeze`, when the env is frozen too).
    Locked {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        lock: Hold,
        /// How many wait in line (the line itself is never sent: `status` pages it).
        #[serde(default, deserialize_with = "lua_int")]
        queued: usize,
        #[serde(default)]
        freeze: Option<Freeze>,
    },
    /// Frozen, and the caller may not take it over the freeze.
    Frozen {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        freeze: Freeze,
    },
    /// Free, but kept for the set waiter first in line (`first`, waiting for `set` together).
    Reserved {
        #[serde(default)]
        first: String,
        #[serde(default)]
        set: String,
    },
    /// The line is as long as it may be.
    QueueFull { limit: usize },
    /// A retry of a grant that has ended since (prelude.lua's `replay`): `released` when it ended
    /// before the expiry it was granted with.
    Ended { how: String, granted: Hold },
}

/// Whose hold `unlock.lua` ends: its holder's (by identity, or by token), or anyone's (`force`).
pub struct UnlockArgs<'a> {
    pub kind: crate::error::HoldKind,
    pub actor: &'a str,
    pub display: &'a str,
    /// Match by token rather than by holder identity.
    pub token: Option<&'a str>,
    pub force: bool,
}

impl Contract for UnlockArgs<'_> {
    type Answer = UnlockAnswer;
    fn function(&self) -> Function {
        scripts::UNLOCK
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.kind.as_str())
            .arg(self.actor)
            .arg(self.display)
            .arg(self.token.unwrap_or_default())
            .arg(flag(self.force))
    }
}

/// What `unlock.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UnlockAnswer {
    /// Ended; the lock went to `next` when someone waited.
    Ok {
        now: u64,
        held: Hold,
        #[serde(default)]
        next: Option<Hold>,
    },
    /// Nothing of that kind is held; `other_is_mine` when the caller holds the other kind.
    NotHeld {
        #[serde(default)]
        other_is_mine: bool,
    },
    /// Someone else holds it.
    NotHolder { held: Hold },
}

/// Which hold `extend.lua` moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtendTarget {
    /// The caller's lock (the CI API's `extend`).
    Lock,
    /// The caller's lock, else their claim (chat `extend`).
    Any,
}

/// What `extend.lua` needs.
pub struct ExtendArgs<'a> {
    pub target: ExtendTarget,
    pub actor: &'a str,
    pub token: Option<&'a str>,
    pub by_ms: u64,
    pub max_lock_ms: u64,
    pub max_claim_ms: u64,
}

impl Contract for ExtendArgs<'_> {
    type Answer = ExtendAnswer;
    fn function(&self) -> Function {
        scripts::EXTEND
    }
    fn write(&self, call: Call) -> Call {
        let target = match self.target {
            ExtendTarget::Lock => "lock",
            ExtendTarget::Any => "any",
        };
        call.arg(target)
            .arg(self.actor)
            .arg(self.token.unwrap_or_default())
            .arg(self.by_ms)
            .arg(self.max_lock_ms)
            .arg(self.max_claim_ms)
    }
}

/// What `extend.lua` answers; `kind` says which hold it concerns.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExtendAnswer {
    Ok {
        now: u64,
        kind: crate::error::HoldKind,
        held: Hold,
    },
    /// Beyond the env's maximum: `room` ms is what is left.
    TooLong {
        max: u64,
        room: u64,
    },
    NotHolder {
        kind: crate::error::HoldKind,
        held: Hold,
    },
    NotHeld {
        kind: crate::error::HoldKind,
    },
}

/// `leave.lua`: out of the queue.
pub struct LeaveArgs<'a> {
    pub holder: &'a str,
    /// Someone else takes the waiter out: who and why (`None`: the waiter left).
    pub decided: Option<Decided<'a>>,
    /// Only the entry with this token (a waiting request's own attempt); `None`: the holder's.
    pub token: Option<&'a str>,
}

/// Who took a waiter out of line or let it in, and why.
pub struct Decided<'a> {
    pub actor: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
}

impl Contract for LeaveArgs<'_> {
    type Answer = LeaveAnswer;
    fn function(&self) -> Function {
        scripts::LEAVE
    }
    fn write(&self, call: Call) -> Call {
        let (reason, actor, display) = match &self.decided {
            Some(d) => (d.reason, d.actor, d.display),
            None => ("", "", ""),
        };
        call.arg(self.holder)
            .arg(reason)
            .arg(actor)
            .arg(display)
            .arg(self.token.unwrap_or_default())
    }
}

/// `promote.lua`: a waiter gets the lock now, by an admin's decision.
pub struct PromoteArgs<'a> {
    pub holder: &'a str,
    pub actor: &'a str,
    pub display: &'a str,
}

impl Contract for PromoteArgs<'_> {
    type Answer = PromoteAnswer;
    fn function(&self) -> Function {
        scripts::PROMOTE
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder).arg(self.actor).arg(self.display)
    }
}

/// What `promote.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PromoteAnswer {
    /// The waiter holds the lock now.
    Ok { lock: Hold },
    /// It held the lock already.
    Already { lock: Hold },
    /// Someone else holds it.
    Locked { lock: Hold },
    /// No such waiter.
    NotQueued {},
}

/// What `leave.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LeaveAnswer {
    Ok {
        now: u64,
    },
    NotQueued {},
    /// The waiter waits for several envs together (`set`): it leaves them all at once.
    InSet {
        set: String,
    },
}

/// `renew.lua`: a waiting CI request checks in and renews its lease.
pub struct RenewArgs<'a> {
    pub holder: &'a str,
    pub lease_ms: u64,
    /// This attempt's token: its entry, or its lock, must carry it.
    pub token: &'a str,
}

impl Contract for RenewArgs<'_> {
    type Answer = RenewAnswer;
    fn function(&self) -> Function {
        scripts::RENEW
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder).arg(self.lease_ms).arg(self.token)
    }
}

/// What `renew.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RenewAnswer {
    /// The lock is the waiter's now.
    Granted { now: u64, lock: Hold, token: String },
    /// Still in line.
    Waiting {},
    /// Its entry is gone (its lease lapsed, or Redis lost it).
    Gone {},
    /// A retry with the same key took over its entry or its lock.
    Superseded {},
}

/// `give_up.lua`: a waiting CI request's wait ran out.
pub struct GiveUpArgs<'a> {
    pub holder: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
    pub ttl_ms: u64,
    pub token: &'a str,
}

impl Contract for GiveUpArgs<'_> {
    type Answer = GiveUpAnswer;
    fn function(&self) -> Function {
        scripts::GIVE_UP
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder)
            .arg(self.display)
            .arg(self.reason)
            .arg(self.ttl_ms)
            .arg(self.token)
    }
}

/// What `give_up.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GiveUpAnswer {
    Ok {
        now: u64,
        lock: Hold,
        token: String,
    },
    Locked {
        now: u64,
        lock: Hold,
        #[serde(default)]
        queued: usize,
    },
    Frozen {
        now: u64,
        freeze: Freeze,
    },
    /// Free, but kept for the set waiter first in line (`first`, waiting for `set` together).
    Reserved {
        #[serde(default)]
        first: String,
        #[serde(default)]
        set: String,
    },
    /// A retry with the same key took over its entry or its lock.
    Superseded {},
}
