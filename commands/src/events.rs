//! Time-driven work: the expiry sweeper settles due locks, claims, freezes and reminders so that a
//! hand-off happens when a lock lapses, not when someone next looks. Every instance runs it; the
//! settle script is atomic and idempotent, so each expiry and each reminder is recorded (and
//! announced) exactly once.

use std::time::Duration;

use crate::domain::EnvName;
use crate::error::BatonError;
use crate::router::Baton;
use crate::services::Expiry;
use crate::store::contracts::{DueAnswer, SettleArgs};
use crate::store::scripts;

impl Expiry {
    /// One sweep: asks every group what is due (one round trip), then settles the envs that have
    /// something due (one more, only when there is). Returns how many envs were settled.
    pub async fn sweep(&self) -> Result<usize, BatonError> {
        let groups = self.groups();
        let calls = groups
            .iter()
            .map(|g| {
                self.store
                    .script_on_keys(&scripts::DUE, vec![self.store.keys().deadlines(g)])
            })
            .collect();
        let dues: Vec<DueAnswer> = self.store.eval_many(calls).await?;
        let mut settle = Vec::new();
        for (group, due) in groups.iter().zip(dues) {
            let mut envs: Vec<EnvName> = due
                .due
                .iter()
                // `lock:<env>`, `claim:<env>`, `freeze:<env>`, `remind:<kind>:<env>`.
                .filter_map(|member| member.rsplit_once(':'))
                .filter_map(|(_, env)| EnvName::parse(env).ok())
                .collect();
            envs.sort();
            envs.dedup();
            if !envs.is_empty() {
                let refs: Vec<&EnvName> = envs.iter().collect();
                settle.push(self.store.prepare(&SettleArgs, group, &refs));
            }
        }
        if settle.is_empty() {
            return Ok(0);
        }
        let mut settled = 0;
        for answer in self.store.call_each(settle).await {
            settled += answer?.into_parts().1.len();
        }
        Ok(settled)
    }

    /// Every hash-tag group: pools, and envs outside any pool.
    fn groups(&self) -> Vec<EnvName> {
        self.catalog
            .by_group(self.catalog.envs())
            .into_iter()
            .map(|(g, _)| g)
            .collect()
    }
}

impl Baton {
    /// Sweeps every `interval` until `shutdown` resolves. A store outage is logged and retried on
    /// the next tick; the sweeper never stops on an error.
    pub async fn run_sweeper(
        &self,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        let expiry = self.core.expiry();
        let mut calendar = crate::windows::CalendarCursor::default();
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {
                    match expiry.sweep().await {
                        Ok(0) => {}
                        Ok(n) => tracing::debug!(envs = n, "settled due deadlines"),
                        Err(e) => tracing::warn!(error = %e, "expiry sweep failed; retrying next tick"),
                    }
                    if let Err(e) = expiry.calendar_tick(&mut calendar).await {
                        tracing::warn!(error = %e, "freeze calendar tick failed; retrying next tick");
                    }
                }
            }
        }
    }
}
