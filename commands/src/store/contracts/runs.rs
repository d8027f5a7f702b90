//! The contract of a GitHub run asking for an env: `lock.lua` with the run's deployment, let in
//! once per env (the env's GitHub ledger), so a replayed request changes nothing.

// The fields restate the script's ARGV and answer fields, documented at the top of `lock.lua`.
#![allow(missing_docs)]

use serde::Deserialize;

use super::{Contract, LockAnswer, LockArgs};
use crate::store::scripts::{self, Function};
use crate::store::Call;

/// A run's `lock.lua` call: the lock's own arguments, then its deployment's.
pub struct RunLockArgs<'a> {
    pub lock: LockArgs<'a>,
    /// The deployment GitHub made for the run.
    pub deployment: u64,
    /// When GitHub created it (Unix ms, from the signed payload).
    pub created_ms: u64,
    /// The oldest a deployment may be and still ask.
    pub max_age_ms: u64,
    /// The env's GitHub ledger ([`Keys::github_ledger`](crate::store::keys::Keys::github_ledger)).
    pub ledger: String,
}

impl Contract for RunLockArgs<'_> {
    type Answer = RunLockAnswer;
    fn function(&self) -> Function {
        scripts::LOCK
    }
    fn write(&self, call: Call) -> Call {
        self.lock
            .write(call)
            .arg(self.deployment)
            .arg(self.created_ms)
            .arg(self.max_age_ms)
            .key(self.ledger.clone())
    }
}

/// What `lock.lua` answers a run: the ledger's own refusals, or the lock's answer.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum RunLockAnswer {
    /// The deployment asked here before (nothing written).
    Seen(Seen),
    /// Let in: what the lock step made of it.
    Lock(Box<LockAnswer>),
}

/// Why a deployment was not let in.
#[derive(Debug, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Seen {
    /// It asked before and is gone: finished, released, rejected or expired.
    Over {},
    /// Older than GitHub ever waits: a replay of a request long answered.
    Stale {},
}
