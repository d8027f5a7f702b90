//! Several envs' deploy locks taken or released together (`lock a,b`, `unlock a,b`): one call,
//! one atomic step, all of them or none.

use serde::Deserialize;

use super::{flag, Contract, LockMode};
use crate::state::{lua_int, lua_list, Freeze, Hold};
use crate::store::scripts::{self, Function};
use crate::store::Call;

/// `lock_set.lua`: who takes the envs, for how long, under which token.
pub struct LockSetArgs<'a> {
    pub holder: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
    pub ttl_ms: u64,
    pub token: &'a str,
    /// An admin may lock a frozen env (recorded as over the freeze).
    pub admin: bool,
    /// Take the set now, or wait for all of it together.
    pub mode: LockMode,
    pub queue_limit: usize,
    /// How long the set's entry may wait (0: the script's default).
    pub wait_ms: u64,
    /// The lease of a `Wait` entry (0: none).
    pub lease_ms: u64,
}

impl Contract for LockSetArgs<'_> {
    type Answer = LockSetAnswer;
    fn function(&self) -> Function {
        scripts::LOCK_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder)
            .arg(self.display)
            .arg(self.reason)
            .arg(self.ttl_ms)
            .arg(self.token)
            .arg(flag(self.admin))
            .arg(self.mode.as_str())
            .arg(self.queue_limit)
            .arg(self.wait_ms)
            .arg(self.lease_ms)
    }
}

/// What `lock_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LockSetAnswer {
    /// Every env is the caller's now, each with its own fence.
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        /// The set's token: a retry's answer carries the first attempt's.
        token: String,
        #[serde(deserialize_with = "lua_list")]
        locks: Vec<SetLock>,
    },
    /// A retry of a set taken under the same key after the set's locks ended.
    Ended {
        /// The first env of the set, and the fence it was granted with.
        env: String,
        #[serde(deserialize_with = "lua_int")]
        fence: u64,
        /// `released` (before its expiry) or `ended`.
        how: String,
    },
    /// The key came back with a different request.
    IdempotencyMismatch {},
    /// Nothing was taken: these envs stand in the way.
    Blocked {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        blocked: Vec<Blocker>,
    },
    /// The set waits in every env's line, as one waiter; `blocked` says what it waits for.
    Queued {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        places: Vec<Place>,
        #[serde(default, deserialize_with = "lua_list")]
        blocked: Vec<Blocker>,
    },
    /// The set waited in line already (a retry, or asked twice).
    AlreadyQueued {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        places: Vec<Place>,
    },
    /// `env`'s line is as long as it may be.
    QueueFull { env: String, limit: usize },
}

/// A set waiter's place in one env's line.
#[derive(Debug, Deserialize)]
pub struct Place {
    pub env: String,
    pub position: usize,
}

/// One env of a set taken.
#[derive(Debug, Deserialize)]
pub struct SetLock {
    pub env: String,
    pub lock: Hold,
    /// Someone's staging claim on the same env (a heads-up).
    #[serde(default)]
    pub claim: Option<Hold>,
    /// The freeze an admin locked it over.
    #[serde(default)]
    pub freeze: Option<Freeze>,
}

/// An env that stands in the way of a set, and why.
#[derive(Debug, Deserialize)]
pub struct Blocker {
    pub env: String,
    #[serde(flatten)]
    pub why: Blocked,
}

/// Why an env of a set could not be taken.
#[derive(Debug, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Blocked {
    /// Someone else holds it; `queued` wait for it.
    Locked {
        lock: Hold,
        #[serde(deserialize_with = "lua_int")]
        queued: usize,
    },
    /// It is frozen (and the caller is no admin).
    Frozen { freeze: Freeze },
    /// The caller holds it already, on its own.
    Mine { lock: Hold },
    /// Free, but kept for the set waiter first in its line.
    Reserved {
        #[serde(default)]
        first: String,
        #[serde(default)]
        set: String,
        #[serde(deserialize_with = "lua_int")]
        queued: usize,
    },
    /// The caller waits for it already, in another line-up (`set`: alone, or another set).
    Queued {
        #[serde(default)]
        set: Option<String>,
    },
}

/// `renew_set.lua`: a set waiter checks in.
pub struct RenewSetArgs<'a> {
    pub holder: &'a str,
    pub lease_ms: u64,
    pub token: &'a str,
}

impl Contract for RenewSetArgs<'_> {
    type Answer = RenewSetAnswer;
    fn function(&self) -> Function {
        scripts::RENEW_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder).arg(self.lease_ms).arg(self.token)
    }
}

/// What `renew_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum RenewSetAnswer {
    /// The whole set is this attempt's now.
    Granted {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        token: String,
        #[serde(deserialize_with = "lua_list")]
        locks: Vec<SetLock>,
    },
    /// Still waiting; the lease is renewed in every line.
    Waiting {},
    /// A retry with the same key took this attempt's place.
    Superseded {},
    /// The place lapsed (in every line): line up again.
    Gone {},
}

/// `give_up_set.lua`: a set waiter's wait ran out.
pub struct GiveUpSetArgs<'a> {
    pub holder: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
    pub ttl_ms: u64,
    pub token: &'a str,
}

impl Contract for GiveUpSetArgs<'_> {
    type Answer = GiveUpSetAnswer;
    fn function(&self) -> Function {
        scripts::GIVE_UP_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder)
            .arg(self.display)
            .arg(self.reason)
            .arg(self.ttl_ms)
            .arg(self.token)
    }
}

/// What `give_up_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum GiveUpSetAnswer {
    /// The set is this attempt's (handed to it, or free after all).
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        token: String,
        #[serde(deserialize_with = "lua_list")]
        locks: Vec<SetLock>,
    },
    /// Out of every line; these envs stand in the way.
    Blocked {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        blocked: Vec<Blocker>,
    },
    /// A retry with the same key took this attempt's place.
    Superseded {},
}

/// `leave_set.lua`: a set waiter leaves every line of its set (by token, or any entry of its).
pub struct LeaveSetArgs<'a> {
    pub holder: &'a str,
    pub token: Option<&'a str>,
}

impl Contract for LeaveSetArgs<'_> {
    type Answer = LeaveSetAnswer;
    fn function(&self) -> Function {
        scripts::LEAVE_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder).arg(self.token.unwrap_or_default())
    }
}

/// What `leave_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LeaveSetAnswer {
    /// Out of every line of the set.
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
    },
    /// It was not waiting for this set.
    NotQueued {},
}

/// `unlock_set.lua`: whose locks end (by identity, or by token).
pub struct UnlockSetArgs<'a> {
    pub actor: &'a str,
    pub display: &'a str,
    pub token: Option<&'a str>,
}

impl Contract for UnlockSetArgs<'_> {
    type Answer = UnlockSetAnswer;
    fn function(&self) -> Function {
        scripts::UNLOCK_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.actor)
            .arg(self.display)
            .arg(self.token.unwrap_or_default())
    }
}

/// What `unlock_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum UnlockSetAnswer {
    /// Every lock ended; each env went to its next waiter, if any.
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        released: Vec<Released>,
    },
    /// The key came back with a different request.
    IdempotencyMismatch {},
    /// Nothing was released: these envs are not the caller's.
    Refused {
        #[serde(deserialize_with = "lua_list")]
        problems: Vec<NotYours>,
    },
}

/// One env of a set released.
#[derive(Debug, Deserialize)]
pub struct Released {
    pub env: String,
    #[serde(default)]
    pub next: Option<Hold>,
}

/// An env of a set that is not the caller's to release.
#[derive(Debug, Deserialize)]
pub struct NotYours {
    pub env: String,
    /// Someone else's lock on it; `None`: nobody holds it.
    #[serde(default)]
    pub lock: Option<Hold>,
}

/// `extend_set.lua`: whose locks are extended (by identity, or by token), by how much, and the
/// most any may then have left.
pub struct ExtendSetArgs<'a> {
    pub actor: &'a str,
    pub token: Option<&'a str>,
    pub by_ms: u64,
    pub max_ms: u64,
}

impl Contract for ExtendSetArgs<'_> {
    type Answer = ExtendSetAnswer;
    fn function(&self) -> Function {
        scripts::EXTEND_SET
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.actor)
            .arg(self.token.unwrap_or_default())
            .arg(self.by_ms)
            .arg(self.max_ms)
    }
}

/// What `extend_set.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ExtendSetAnswer {
    /// Every lock extended.
    Ok {
        #[serde(deserialize_with = "lua_int")]
        now: u64,
        #[serde(deserialize_with = "lua_list")]
        extended: Vec<SetLock>,
    },
    /// Nothing was extended: these envs are not the caller's, or would run too long.
    Refused {
        #[serde(deserialize_with = "lua_list")]
        problems: Vec<CannotExtend>,
    },
}

/// An env of a set that cannot be extended, and why.
#[derive(Debug, Deserialize)]
pub struct CannotExtend {
    pub env: String,
    /// `not_held`, `not_holder` or `too_long`.
    pub why: String,
    #[serde(default)]
    pub lock: Option<Hold>,
    /// For `too_long`: how much longer it could go, in ms.
    #[serde(default)]
    pub room: Option<u64>,
}
