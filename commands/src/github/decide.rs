//! Admins decide on a waiting GitHub run from chat: `github approve <env> <run>` lets it have the
//! lock now (over a freeze; never over someone else's lock), `github reject <env> <run> [reason]`
//! takes it out of line. Either is one script, recorded in the env's history with the admin's
//! name, and GitHub hears it from the audit stream like any grant or refusal ([`super::callbacks`]).
//!
//! # Format
//! `<run>` is what the announcement shows: `owner/repo#123`, or the run id `123` alone when one
//! GitHub run of that id waits for the env.

use crate::config::EnvSettings;
use crate::domain::{preview, wall_clock, Actor, EnvName};
use crate::error::BatonError;
use crate::reply::{clock, Reply, Tone, Value};
use crate::services::Locks;
use crate::state::Waiter;
use crate::store::contracts::{
    Decided, LeaveAnswer, LeaveArgs, PromoteAnswer, PromoteArgs, SettleArgs,
};
use crate::store::StoreError;

impl Locks {
    /// `github approve <env> <run>`.
    pub(crate) async fn github_approve(
        &self,
        actor: &Actor,
        env: &EnvName,
        run: &str,
    ) -> Result<Reply, BatonError> {
        let env = self.catalog.env(env)?;
        let waiter = self.github_waiter(env, run).await?;
        let args = PromoteArgs {
            holder: &waiter.holder,
            actor: &actor.id,
            display: &actor.display,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        match self.store.call(call).await? {
            PromoteAnswer::Ok { lock } | PromoteAnswer::Already { lock } => Ok(Reply::new(
                Tone::Success,
                format!(
                    "{} approved {}: it holds {} now",
                    actor.display, waiter.display, env.name
                ),
                wall_clock(),
            )
            .field("Fence", Value::Text(lock.fence.to_string()))
            .field("Expires", Value::Time(lock.expires))),
            PromoteAnswer::Locked { lock } => Err(BatonError::Refused(format!(
                "{} is held by {}; a run is approved when the lock is free (an admin can `unlock {} --force` first)",
                env.name, lock.display, env.name
            ))),
            PromoteAnswer::NotQueued {} => Err(not_waiting(env, run)),
        }
    }

    /// `github reject <env> <run> [reason]`.
    pub(crate) async fn github_reject(
        &self,
        actor: &Actor,
        env: &EnvName,
        run: &str,
        reason: &str,
    ) -> Result<Reply, BatonError> {
        let env = self.catalog.env(env)?;
        let waiter = self.github_waiter(env, run).await?;
        let why = match reason {
            "" => format!("rejected by {}", actor.display),
            r => format!("rejected by {}: {r}", actor.display),
        };
        let args = LeaveArgs {
            holder: &waiter.holder,
            decided: Some(Decided {
                actor: &actor.id,
                display: &actor.display,
                reason: &why,
            }),
            token: None,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        match self.store.call(call).await? {
            LeaveAnswer::Ok { .. } => Ok(Reply::new(
                Tone::Warning,
                format!(
                    "{} rejected {} for {}",
                    actor.display, waiter.display, env.name
                ),
                wall_clock(),
            )
            .text_field("Reason", reason)),
            LeaveAnswer::NotQueued {} | LeaveAnswer::InSet { .. } => Err(not_waiting(env, run)),
        }
    }

    /// The GitHub run `run` names among the env's waiters.
    async fn github_waiter(&self, env: &EnvSettings, run: &str) -> Result<Waiter, BatonError> {
        let wanted = run.trim_start_matches("github:");
        // The whole line: `status` lists only its first page, and a run may wait further back.
        let call = self
            .store
            .prepare(&SettleArgs::WHOLE, self.catalog.group_of(env), &[&env.name]);
        let answer = self.store.call(call).await.map_err(StoreError::for_read)?;
        let state = answer.into_parts().1.into_iter().next();
        let is_run = |holder: &str| {
            holder.strip_prefix("github:").is_some_and(|id| {
                id == wanted || id.rsplit_once('#').is_some_and(|(_, n)| n == wanted)
            })
        };
        // A stale button: the run is past waiting, it holds the env already.
        if let Some(lock) = state.as_ref().and_then(|s| s.lock.as_ref()) {
            if is_run(&lock.holder) {
                return Err(BatonError::Refused(format!(
                    "{} already holds {} (since {}): it is not waiting, so there is nothing to approve or reject; to stop it, `unlock {} --force`",
                    lock.display,
                    env.name,
                    clock(lock.since),
                    env.name
                )));
            }
        }
        let queue = state.map(|s| s.queue).unwrap_or_default();
        let matches: Vec<Waiter> = queue.into_iter().filter(|w| is_run(&w.holder)).collect();
        match matches.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(not_waiting(env, run)),
            _ => Err(BatonError::Refused(format!(
                "several GitHub runs {} wait for {}; name one as owner/repo#{}",
                preview(run),
                env.name,
                preview(run)
            ))),
        }
    }
}

fn not_waiting(env: &EnvSettings, run: &str) -> BatonError {
    BatonError::Refused(format!(
        "no GitHub run `{}` waits for {}; `status {}` shows who waits",
        preview(run),
        env.name,
        env.name
    ))
}
