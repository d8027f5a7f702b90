//! Typed script contracts. Each state-changing script has an argument struct that writes its own
//! ARGV in order (after the prelude's four, see `lua/prelude.lua`), and an answer enum with one
//! variant per outcome, decoded once by [`Store::call`]. A script answering something its enum does
//! not know is a bug, reported as [`StoreError::Unexpected`], never guessed at.
//!
//! [`Store::call`]: super::Store::call
//! [`StoreError::Unexpected`]: super::StoreError::Unexpected

// The fields restate the scripts' ARGV and answer fields, documented at the top of each `.lua`
// file; a doc line per field here would repeat its name.

mod approvals;
mod claims;
mod locks;
mod runs;
mod sets;
mod windows;

use serde::de::DeserializeOwned;

pub use approvals::*;
pub use claims::*;
pub use locks::*;
pub use runs::*;
pub use sets::*;
pub use windows::*;

use super::scripts::Function;
use super::{Call, Store};
use crate::domain::EnvName;

/// A step's arguments and the shape of its answer.
pub trait Contract {
    /// What the script answers.
    type Answer: DeserializeOwned;
    /// The library function that runs it.
    fn function(&self) -> Function;
    /// Writes the script's own arguments, in ARGV order.
    fn write(&self, call: Call) -> Call;
    /// The no-writes function that answers the same when Redis is full and refuses this one: a
    /// read that settles what is due on the way has one, so it still answers. None for a change.
    fn when_full(&self) -> Option<Function> {
        None
    }
}

/// A contract's call, ready to send: its answer decodes as `A`.
pub struct Prepared<A> {
    call: Call,
    answer: std::marker::PhantomData<fn() -> A>,
}

impl<A> Prepared<A> {
    /// Makes the call retry-safe (see [`Call::idempotent`]).
    pub fn idempotent(mut self, record: String, fingerprint: &str) -> Self {
        self.call = self.call.idempotent(record, fingerprint);
        self
    }
}

impl Store {
    /// A contract's call on `envs` of `group`.
    pub fn prepare<C: Contract>(
        &self,
        args: &C,
        group: &EnvName,
        envs: &[&EnvName],
    ) -> Prepared<C::Answer> {
        let mut call = args.write(self.script(args.function(), group, envs));
        call.when_full = args.when_full();
        Prepared {
            call,
            answer: std::marker::PhantomData,
        }
    }

    /// A call of `args`' function on envs of several groups (`lock a,b`): one call, so one
    /// atomic step. Redis Cluster runs a call only within one slot, so there the envs must share
    /// a hash-tag group; the refusal says which differ.
    pub fn prepare_across<C: Contract>(
        &self,
        args: &C,
        envs: &[(&EnvName, &EnvName)],
    ) -> Result<Prepared<C::Answer>, String> {
        if !self.config.cluster.is_empty() {
            if let Some((first, _)) = envs.first() {
                if let Some((other, env)) = envs.iter().find(|(g, _)| g != first) {
                    return Err(format!(
                        "on Redis Cluster, envs locked together must share a hash-tag group: {} is in `{first}`, {env} in `{other}`; lock them one at a time, or make them members of one pool",
                        envs[0].1
                    ));
                }
            }
        }
        let mut call = args.write(self.script_across(args.function(), envs));
        call.when_full = args.when_full();
        Ok(Prepared {
            call,
            answer: std::marker::PhantomData,
        })
    }

    /// Runs a prepared call in one round trip and decodes its answer.
    pub async fn call<A: DeserializeOwned>(&self, p: Prepared<A>) -> Result<A, super::StoreError> {
        self.eval(p.call).await
    }

    /// Runs an acquisition (a lock or claim), honouring `redis.wait_replicas`.
    pub async fn call_acquire<A: DeserializeOwned>(
        &self,
        p: Prepared<A>,
    ) -> Result<A, super::StoreError> {
        self.eval_acquire(p.call).await
    }

    /// Runs one prepared call per group; each reports its own outcome (see [`Store::eval_each`]).
    pub async fn call_each<A: DeserializeOwned>(
        &self,
        ps: Vec<Prepared<A>>,
    ) -> Vec<Result<A, super::StoreError>> {
        self.eval_each(ps.into_iter().map(|p| p.call).collect())
            .await
    }
}

pub(super) fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}
