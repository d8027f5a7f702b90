//! A pipeline waiting for several envs together (`POST /api/v1/locks` with `wait`).
//!
//! The set waits in every env's line at once, as one waiter (prelude.lua's `set_turn`), under the
//! same lease as a single waiter ([`LEASE`], renewed every [`RENEW_EVERY`] or when an event on
//! one of its envs wakes it): a request that went away is never handed the set, and one whose
//! place lapsed in one line lapsed in all of them and lines up again. When the wait runs out it
//! takes the set if it is its own or free by then, else leaves every line and hears what stands
//! in the way. A request dropped meanwhile leaves its lines (and gives back a set that reached it
//! too late) by its own token, never another attempt's.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::wait::{LEASE, RENEW_EVERY};
use crate::bus::BusMessage;
use crate::config::EnvSettings;
use crate::domain::Ttl;
use crate::error::BatonError;
use crate::services::Pipelines;
use crate::sets::{set_blocked, SetHolder, SetTaken, SetWay};
use crate::store::contracts::{
    GiveUpSetAnswer, GiveUpSetArgs, LeaveSetAnswer, LeaveSetArgs, LockMode, RenewSetAnswer,
    RenewSetArgs, SetLock, UnlockSetArgs,
};
use crate::store::StoreError;

/// One attempt at a set: who it is for, in Redis' terms (as `wait.rs`'s ticket, for a set).
#[derive(Clone)]
pub(super) struct SetTicket {
    pub envs: Vec<EnvSettings>,
    pub holder: String,
    pub display: String,
    pub reason: String,
    pub ttl: Ttl,
    pub token: String,
    pub admin: bool,
    /// The request's retry record and fingerprint, when it carried a key.
    pub retry: Option<(String, String)>,
    pub caller: String,
}

/// A set granted: Redis' clock, the token, each env's lock.
pub(super) type SetGranted = (u64, String, Vec<SetLock>);

impl Pipelines {
    /// Takes the set at once, or waits for all of it together up to `wait`.
    pub(super) async fn wait_for_set(
        &self,
        t: SetTicket,
        wait: Duration,
    ) -> Result<SetGranted, BatonError> {
        // Listen before queuing, so the hand-off event cannot slip by in between.
        let events = self.bus.subscribe();
        match self.join(&t, wait).await? {
            SetTaken::Granted { now, token, locks } => Ok((now, token, locks)),
            SetTaken::Queued { .. } => {
                let deadline = Instant::now() + wait;
                metrics::gauge!("baton_ci_waiters").increment(1.0);
                let outcome = tokio::select! {
                    w = Box::pin(self.wait_in_lines(&t, deadline, events)) => w,
                    _ = self.closing() => Err(BatonError::ShuttingDown),
                };
                metrics::gauge!("baton_ci_waiters").decrement(1.0);
                outcome
            }
        }
    }

    async fn join(&self, t: &SetTicket, wait: Duration) -> Result<SetTaken, BatonError> {
        let settings: Vec<&EnvSettings> = t.envs.iter().collect();
        let who = SetHolder {
            caller: &t.caller,
            holder: &t.holder,
            display: &t.display,
            token: &t.token,
        };
        let way = SetWay {
            mode: LockMode::Wait,
            wait_ms: wait.as_millis() as u64,
            lease_ms: LEASE.as_millis() as u64,
        };
        self.join_set(
            who,
            &settings,
            t.ttl,
            &t.reason,
            t.admin,
            t.retry.clone(),
            way,
        )
        .await
    }

    async fn wait_in_lines(
        &self,
        t: &SetTicket,
        deadline: Instant,
        mut events: broadcast::Receiver<BusMessage>,
    ) -> Result<SetGranted, BatonError> {
        let guard = Abandon(Some((self.clone(), t.clone())));
        let mut checked_in = Instant::now();
        while Instant::now() < deadline {
            self.until_woken_set(t, deadline, &mut events).await;
            match self.check_in_set(t, deadline).await {
                Ok(Some(outcome)) => return guard.disarm(outcome),
                Ok(None) => checked_in = Instant::now(),
                Err(e) => {
                    tracing::warn!(holder = t.holder, error = %e, "a waiting set request could not check in")
                }
            }
        }
        match self.give_up_set(t).await {
            Ok(outcome) => guard.disarm(outcome),
            Err(e) => {
                // As for one env: answer only once no line can hand the set over any more.
                tokio::time::sleep_until(checked_in + LEASE + Duration::from_millis(100)).await;
                drop(guard);
                Err(e.into())
            }
        }
    }

    /// One check-in: the set may be ours now; else the lease is renewed in every line. A place
    /// that lapsed lines up again.
    async fn check_in_set(
        &self,
        t: &SetTicket,
        deadline: Instant,
    ) -> Result<Option<Result<SetGranted, BatonError>>, BatonError> {
        let args = RenewSetArgs {
            holder: &t.holder,
            lease_ms: LEASE.as_millis() as u64,
            token: &t.token,
        };
        let settings: Vec<&EnvSettings> = t.envs.iter().collect();
        let call = self.set_call(&args, &settings)?;
        Ok(match self.store.call(call).await? {
            RenewSetAnswer::Granted { now, token, locks } => Some(Ok((now, token, locks))),
            RenewSetAnswer::Waiting {} => None,
            RenewSetAnswer::Superseded {} => Some(Err(BatonError::Superseded { env: names(t) })),
            RenewSetAnswer::Gone {} => {
                tracing::warn!(
                    holder = t.holder,
                    "a waiting set request lost its place; queuing again"
                );
                match self.join(t, deadline - Instant::now()).await {
                    Ok(SetTaken::Granted { now, token, locks }) => Some(Ok((now, token, locks))),
                    Ok(SetTaken::Queued { .. }) => None,
                    Err(refused) => Some(Err(refused)),
                }
            }
        })
    }

    /// Sleeps until an event on one of the set's envs names this waiter, or it is time to check in.
    async fn until_woken_set(
        &self,
        t: &SetTicket,
        deadline: Instant,
        events: &mut broadcast::Receiver<BusMessage>,
    ) {
        let check_in = (Instant::now() + RENEW_EVERY).min(deadline);
        loop {
            match tokio::time::timeout_at(check_in, events.recv()).await {
                Ok(Ok(BusMessage::Event(e))) => {
                    if e.holder.as_deref() == Some(t.holder.as_str()) {
                        return;
                    }
                }
                Ok(Ok(BusMessage::Resync)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => return,
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep_until(check_in).await;
                    return;
                }
            }
        }
    }

    /// The wait ran out: the set if it is ours or free by now, else what stands in the way.
    async fn give_up_set(
        &self,
        t: &SetTicket,
    ) -> Result<Result<SetGranted, BatonError>, StoreError> {
        let args = GiveUpSetArgs {
            holder: &t.holder,
            display: &t.display,
            reason: &t.reason,
            ttl_ms: t.ttl.as_millis(),
            token: &t.token,
        };
        let settings: Vec<&EnvSettings> = t.envs.iter().collect();
        let call = match self.set_call(&args, &settings) {
            Ok(call) => call,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match self.store.call(call).await? {
            GiveUpSetAnswer::Ok { now, token, locks } => Ok((now, token, locks)),
            GiveUpSetAnswer::Blocked { now, blocked } => {
                Err(set_blocked("locked when the wait ran out", &blocked, now))
            }
            GiveUpSetAnswer::Superseded {} => Err(BatonError::Superseded { env: names(t) }),
        })
    }
}

fn names(t: &SetTicket) -> String {
    let names: Vec<&str> = t.envs.iter().map(|e| e.name.as_str()).collect();
    crate::sets::listed(&names)
}

/// Leaves the lines behind a waiting set request that ends without its set (dropped, shut down,
/// or failed), and gives back a set that reached it too late: by this attempt's token only. A
/// request with a key keeps its place for one lease first, for its retry.
struct Abandon(Option<(Pipelines, SetTicket)>);

impl Abandon {
    fn disarm<T>(mut self, outcome: T) -> T {
        self.0 = None;
        outcome
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some((baton, t)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if t.retry.is_some() {
                tokio::time::sleep(LEASE).await;
            }
            tracing::info!(
                holder = t.holder,
                "a waiting set request ended; leaving its lines"
            );
            let give_up_by = Instant::now() + t.ttl.duration() + LEASE;
            let mut pause = Duration::from_millis(250);
            while Instant::now() < give_up_by {
                match leave(&baton, &t).await {
                    Ok(()) => return,
                    Err(e) => tracing::debug!(error = %e, "leaving the lines failed; trying again"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }
}

/// Out of every line, and the set given back if it reached this attempt after all.
async fn leave(baton: &Pipelines, t: &SetTicket) -> Result<(), BatonError> {
    let settings: Vec<&EnvSettings> = t.envs.iter().collect();
    let args = LeaveSetArgs {
        holder: &t.holder,
        token: Some(&t.token),
    };
    if let LeaveSetAnswer::NotQueued { .. } =
        baton.store.call(baton.set_call(&args, &settings)?).await?
    {
        let args = UnlockSetArgs {
            actor: &t.holder,
            display: &t.display,
            token: Some(&t.token),
        };
        baton.store.call(baton.set_call(&args, &settings)?).await?;
    }
    Ok(())
}
