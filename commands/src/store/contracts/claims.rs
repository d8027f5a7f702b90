//! The contracts of claims, freezes, deploy records and settling.

// The fields restate the scripts' ARGV and answer fields, documented at the top of each `.lua`
// file; a doc line per field here would repeat its name.
#![allow(missing_docs)]

use serde::Deserialize;

use super::Contract;
use crate::state::{lua_list, EnvState, Freeze, Hold};
use crate::store::scripts::{self, Function};
use crate::store::Call;

/// `claim.lua`: one env, or any free member of a pool.
pub struct ClaimArgs<'a> {
    pub holder: &'a str,
    pub display: &'a str,
    pub note: &'a str,
    pub ttl_ms: u64,
    pub token: &'a str,
    /// An admin may claim a frozen env.
    pub admin: bool,
    /// How many members of the pool, all or none.
    pub count: usize,
}

impl Contract for ClaimArgs<'_> {
    type Answer = ClaimAnswer;
    fn function(&self) -> Function {
        scripts::CLAIM
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.holder)
            .arg(self.display)
            .arg(self.note)
            .arg(self.ttl_ms)
            .arg(self.token)
            .arg(super::flag(self.admin))
            .arg(self.count)
    }
}

/// What `claim.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ClaimAnswer {
    Ok {
        now: u64,
        env: String,
        claim: Hold,
        /// The other members taken with it, when several were asked for.
        #[serde(default, deserialize_with = "lua_list")]
        more: Vec<Soonest>,
    },
    /// The holder has a claim in the pool already.
    Already { env: String, claim: Hold },
    /// Every free env is frozen (the first one's freeze), and the caller is no admin.
    Frozen {
        now: u64,
        env: String,
        freeze: Freeze,
    },
    /// Too few members are free (none, or fewer than asked for: `free`); `soonest` ends first.
    Taken {
        now: u64,
        #[serde(default)]
        soonest: Option<Soonest>,
        #[serde(default)]
        free: usize,
    },
}

/// A member and its claim: the one in a full pool that ends first, or one of several taken.
#[derive(Debug, Deserialize)]
pub struct Soonest {
    pub env: String,
    pub claim: Hold,
}

/// `freeze.lua`: freeze or unfreeze every env of one group.
pub struct FreezeArgs<'a> {
    pub unfreeze: bool,
    pub actor: &'a str,
    pub display: &'a str,
    pub reason: &'a str,
    /// Until when (Unix ms; 0: until lifted, or `for_ms` from Redis' now).
    pub until_ms: u64,
    /// `env` or `all`, so status can say how the freeze was made.
    pub scope: &'a str,
    pub for_ms: u64,
}

impl Contract for FreezeArgs<'_> {
    type Answer = FreezeAnswer;
    fn function(&self) -> Function {
        scripts::FREEZE
    }
    fn write(&self, call: Call) -> Call {
        call.arg(if self.unfreeze { "unfreeze" } else { "freeze" })
            .arg(self.actor)
            .arg(self.display)
            .arg(self.reason)
            .arg(self.until_ms)
            .arg(self.scope)
            .arg(self.for_ms)
    }
}

/// What `freeze.lua` answers: the envs it changed.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum FreezeAnswer {
    Ok {
        now: u64,
        #[serde(default, deserialize_with = "lua_list")]
        changed: Vec<Changed>,
    },
    /// The `until` given is not after Redis' now: nothing was frozen.
    Past {},
}

/// An env a freeze or unfreeze changed.
#[derive(Debug, Deserialize)]
pub struct Changed {
    pub env: String,
    #[serde(default)]
    pub was: Option<Freeze>,
    #[serde(default)]
    pub lock: Option<Hold>,
}

/// `deploy.lua`: record a deploy, refused under a stale fence.
pub struct DeployArgs<'a> {
    pub actor: &'a str,
    pub display: &'a str,
    pub sha: &'a str,
    pub version: &'a str,
    pub url: &'a str,
    pub fence: Option<u64>,
}

impl Contract for DeployArgs<'_> {
    type Answer = DeployAnswer;
    fn function(&self) -> Function {
        scripts::DEPLOY
    }
    fn write(&self, call: Call) -> Call {
        call.arg(self.actor)
            .arg(self.display)
            .arg(self.sha)
            .arg(self.version)
            .arg(self.url)
            .arg(self.fence.map(|f| f.to_string()).unwrap_or_default())
    }
}

/// What `deploy.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeployAnswer {
    Ok {
        now: u64,
    },
    StaleFence {
        #[serde(default)]
        lock: Option<Hold>,
    },
}

/// `settle.lua`: apply what is due on every env named, and report each one's state. When Redis
/// is full, `look.lua` reports the same state without writing (what is due shown as done).
/// Each env's `queued` says how many wait; `queue` lists the first [`SettleArgs::page`] of them.
pub struct SettleArgs {
    /// How many waiters of each env to list: `None` for the script's first page (`status`),
    /// `Some(0)` for none (the sweeper), `Some(usize::MAX)` for all.
    pub page: Option<usize>,
    /// Whether each env's skipped calendar occurrences come too ([`EnvState::skips`]), for the
    /// views that show the next window.
    ///
    /// [`EnvState::skips`]: crate::state::EnvState::skips
    pub skips: bool,
}

impl SettleArgs {
    /// For `status` and the views: the first page of each queue.
    pub const STATUS: Self = Self {
        page: None,
        skips: false,
    };
    /// For the sweeper, which reads no queue.
    pub const SWEEP: Self = Self {
        page: Some(0),
        skips: false,
    };
    /// Every waiter (finding a GitHub run in line by its number).
    pub const WHOLE: Self = Self {
        page: Some(usize::MAX),
        skips: false,
    };
}

impl Contract for SettleArgs {
    type Answer = SettleAnswer;
    fn function(&self) -> Function {
        scripts::SETTLE
    }
    fn write(&self, call: Call) -> Call {
        let call = match self.page {
            None if !self.skips => return call,
            None => call.arg("").arg(""),
            Some(usize::MAX) => call.arg("").arg("-1"),
            Some(n) => call.arg("").arg(n),
        };
        if self.skips {
            call.arg("1")
        } else {
            call
        }
    }
    fn when_full(&self) -> Option<Function> {
        Some(scripts::LOOK)
    }
}

/// `settle.lua` for the deploy gate: one env's state, and whether `token` is its lock's token
/// (compared inside Redis: the token never leaves it).
pub struct GateArgs<'a> {
    /// The lock token the caller presented; empty when none.
    pub token: &'a str,
}

impl Contract for GateArgs<'_> {
    type Answer = SettleAnswer;
    fn function(&self) -> Function {
        scripts::SETTLE
    }
    fn write(&self, call: Call) -> Call {
        // The gate reads who holds the env and how many wait, never the line.
        call.arg(self.token).arg(0)
    }
    fn when_full(&self) -> Option<Function> {
        Some(scripts::LOOK)
    }
}

/// What `settle.lua` answers.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SettleAnswer {
    Ok {
        now: u64,
        #[serde(default, deserialize_with = "lua_list")]
        envs: Vec<EnvState>,
        /// Whether the token presented ([`GateArgs`]) is the first env's lock's.
        #[serde(default)]
        token_holds: bool,
    },
}

impl SettleAnswer {
    /// Redis' clock and the envs' states.
    pub fn into_parts(self) -> (u64, Vec<EnvState>) {
        let SettleAnswer::Ok { now, envs, .. } = self;
        (now, envs)
    }

    /// Whether the token presented holds the first env's lock.
    pub fn token_holds(&self) -> bool {
        let SettleAnswer::Ok { token_holds, .. } = self;
        *token_holds
    }
}
