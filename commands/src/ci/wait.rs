//! Acquiring a lock for a pipeline, at once or by waiting in the env's queue.
//!
//! Waiting is a lease. The queue entry of a waiting request carries a deadline a few seconds out
//! that the request renews while it waits ([`RENEW_EVERY`], [`LEASE`]); the scripts never hand
//! the lock to an entry whose lease ran out. So a waiter that went away (its client hung up, its
//! instance died or paused, Redis restarted under it) is never handed the lock, on any instance,
//! even if no cleanup ran. Cleanup still runs, and keeps trying while Redis is away.
//!
//! A waiting request is woken through the event bus the moment the lock is handed to it on any
//! instance; each check-in also renews its lease.

use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::{grant, Retry};
use crate::bus::BusMessage;
use crate::ci_api::LockGrant;
use crate::config::EnvSettings;
use crate::domain::new_token;
use crate::domain::{Actor, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::hashing::sha256_hex;
use crate::outcomes::{self, Acquired};
use crate::services::Pipelines;
use crate::store::contracts::{
    GiveUpArgs, LeaveAnswer, LeaveArgs, LockAnswer, LockArgs, LockMode, RenewAnswer, RenewArgs,
    UnlockArgs,
};
use crate::store::{Prepared, StoreError};

/// How often a waiting request checks in when nothing woke it.
pub const RENEW_EVERY: Duration = Duration::from_secs(1);
/// How long a queue entry stays eligible after its last check-in.
pub const LEASE: Duration = Duration::from_secs(3);

/// What a pipeline asked for.
pub(crate) struct Acquire {
    pub ttl: Option<Ttl>,
    pub reason: String,
    pub label: String,
    pub wait: Option<Duration>,
    pub admin: bool,
}

/// One attempt at an acquisition: who it is for, in Redis' terms. The holder is the request's
/// (a retry with the same key is the same holder); the token is this attempt's own, and only it
/// renews, leaves or gives back what this attempt holds.
#[derive(Clone)]
pub(super) struct Ticket {
    pub(super) env: EnvSettings,
    actor: Actor,
    pub(super) holder: String,
    pub(super) display: String,
    pub(super) reason: String,
    pub(super) ttl: Ttl,
    pub(super) token: String,
    retry: Retry,
}

impl Pipelines {
    /// Takes the lock for a pipeline, waiting in line up to `request.wait`.
    pub(crate) async fn acquire(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        request: Acquire,
        retry: Retry,
    ) -> Result<LockGrant, BatonError> {
        let ttl = self.ttl_for(env.name.as_str(), request.ttl, env.default_ttl, env.max_ttl)?;
        let ticket_id = ticket_id(actor, &retry);
        let ticket = Ticket {
            env: env.clone(),
            actor: actor.clone(),
            holder: format!("{}#{ticket_id}", actor.id),
            display: if request.label.is_empty() {
                actor.id.clone()
            } else {
                request.label
            },
            reason: request.reason,
            ttl,
            token: new_token(),
            retry,
        };
        let wait = request.wait.filter(|w| !w.is_zero());
        // Listen before queuing, so the hand-off event cannot slip by in between.
        let events = wait.map(|_| self.bus.subscribe());
        // The store calls and the approval road are boxed, like the wait below: an `await`ed
        // future is laid out inside this one, and a waiting request keeps this one's whole
        // layout (and every caller's, up to the connection) for as long as it waits.
        if env.approvals > 0 && !request.admin {
            return Box::pin(self.acquire_approved(&ticket, request.admin, wait.zip(events))).await;
        }
        let call = self.lock_call(&ticket, request.admin, wait);
        let name = env.name.as_str();
        let answer = Box::pin(self.store.call_acquire(call)).await?;
        match (outcomes::acquired(name, answer)?, wait.zip(events)) {
            (
                Acquired::Granted {
                    now, hold, token, ..
                }
                | Acquired::Mine { now, hold, token },
                _,
            ) => Ok(grant(name, hold, token, now)),
            (Acquired::Queued { .. }, Some((wait, events))) => {
                let deadline = Instant::now() + wait;
                metrics::gauge!("baton_ci_waiters").increment(1.0);
                // Boxed: the waiting future is large, and most requests never wait.
                let outcome = tokio::select! {
                    w = Box::pin(self.wait_in_line(&ticket, request.admin, deadline, events)) => w,
                    _ = self.closing() => Err(BatonError::ShuttingDown),
                };
                metrics::gauge!("baton_ci_waiters").decrement(1.0);
                outcome
            }
            // Only `wait` requests join the line.
            (Acquired::Queued { .. }, None) => Err(BatonError::Internal),
        }
    }

    /// The lock call of `t`, retry-safe when its request carried a key (also when it lines up
    /// again after its place lapsed: the key stays with it).
    fn lock_call(&self, t: &Ticket, admin: bool, wait: Option<Duration>) -> Prepared<LockAnswer> {
        let args = LockArgs {
            holder: &t.holder,
            display: &t.display,
            reason: &t.reason,
            ttl_ms: t.ttl.as_millis(),
            token: &t.token,
            admin,
            mode: if wait.is_some() {
                LockMode::Wait
            } else {
                LockMode::Lock
            },
            queue_limit: self.queue_limit,
            wait_ms: wait.map_or(0, |w| w.as_millis() as u64),
            lease_ms: if wait.is_some() {
                LEASE.as_millis() as u64
            } else {
                0
            },
            record_refusal: false,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(&t.env), &[&t.env.name]);
        self.retry_safe(call, &t.actor, &t.env, &t.retry)
    }

    /// Waits in line until the lock is this ticket's (also after an approval), or the deadline
    /// passes. If the request is
    /// dropped meanwhile (client gone, shutdown), the guard leaves the queue behind it.
    pub(super) async fn wait_in_line(
        &self,
        ticket: &Ticket,
        admin: bool,
        deadline: Instant,
        mut events: broadcast::Receiver<BusMessage>,
    ) -> Result<LockGrant, BatonError> {
        let guard = Abandon::arm(self.clone(), ticket.clone());
        let mut checked_in = Instant::now();
        while Instant::now() < deadline {
            self.until_woken(ticket, deadline, &mut events).await;
            // Boxed for the second it runs: it holds store calls, and this loop lives long.
            match Box::pin(self.check_in(ticket, admin, deadline)).await {
                Ok(CheckIn::Done(outcome)) => return guard.disarm(*outcome),
                Ok(CheckIn::InLine) => checked_in = Instant::now(),
                // Keep waiting: the lease runs out by itself if this lasts.
                Err(e) => {
                    tracing::warn!(env = %ticket.env.name, error = %e, "a waiting request could not check in")
                }
            }
        }
        match Box::pin(self.give_up(ticket)).await {
            Ok(outcome) => guard.disarm(outcome),
            Err(e) => {
                // We cannot tell whether the lock reached us before the store failed. Answer only
                // once our entry can no longer be handed over; the guard keeps trying to leave
                // (or to give back a lock that did reach us) after we answer.
                tokio::time::sleep_until(checked_in + LEASE + Duration::from_millis(100)).await;
                drop(guard);
                Err(e)
            }
        }
    }

    /// One check-in: the lock may be ours now; else the lease is renewed. An entry that lapsed
    /// (this instance was paused, or Redis lost it) lines up again.
    async fn check_in(
        &self,
        t: &Ticket,
        admin: bool,
        deadline: Instant,
    ) -> Result<CheckIn, StoreError> {
        let name = t.env.name.as_str();
        let args = RenewArgs {
            holder: &t.holder,
            lease_ms: LEASE.as_millis() as u64,
            token: &t.token,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(&t.env), &[&t.env.name]);
        match self.store.call(call).await? {
            RenewAnswer::Granted { now, lock, token } => {
                Ok(CheckIn::Done(Box::new(Ok(grant(name, lock, token, now)))))
            }
            RenewAnswer::Waiting { .. } => Ok(CheckIn::InLine),
            RenewAnswer::Superseded {} => {
                Ok(CheckIn::Done(Box::new(Err(BatonError::Superseded {
                    env: name.into(),
                }))))
            }
            RenewAnswer::Gone { .. } => {
                tracing::warn!(
                    env = name,
                    holder = t.holder,
                    "a waiting request lost its place in line; queuing again"
                );
                let call = self.lock_call(t, admin, Some(deadline - Instant::now()));
                Ok(
                    match outcomes::acquired(name, self.store.call(call).await?) {
                        Ok(Acquired::Granted {
                            now, hold, token, ..
                        })
                        | Ok(Acquired::Mine { now, hold, token }) => {
                            CheckIn::Done(Box::new(Ok(grant(name, hold, token, now))))
                        }
                        Ok(Acquired::Queued { .. }) => CheckIn::InLine,
                        Err(refused) => CheckIn::Done(Box::new(Err(refused))),
                    },
                )
            }
        }
    }

    /// Sleeps until an event may concern this ticket, or it is time to check in.
    async fn until_woken(
        &self,
        ticket: &Ticket,
        deadline: Instant,
        events: &mut broadcast::Receiver<BusMessage>,
    ) {
        let check_in = (Instant::now() + RENEW_EVERY).min(deadline);
        loop {
            match tokio::time::timeout_at(check_in, events.recv()).await {
                Ok(Ok(BusMessage::Event(e))) => {
                    let ours = e.env == ticket.env.name.as_str()
                        && e.holder.as_deref() == Some(ticket.holder.as_str());
                    if ours {
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

    /// The wait ran out: the lock if it is ours or free by now, else the refusal that says who
    /// holds it (423) or that it is frozen (403).
    async fn give_up(&self, t: &Ticket) -> Result<Result<LockGrant, BatonError>, BatonError> {
        let args = GiveUpArgs {
            holder: &t.holder,
            display: &t.display,
            reason: &t.reason,
            ttl_ms: t.ttl.as_millis(),
            token: &t.token,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(&t.env), &[&t.env.name]);
        let name = t.env.name.as_str();
        let answer = self.store.call(call).await?;
        Ok(outcomes::gave_up(name, answer).map(|(now, hold, token)| grant(name, hold, token, now)))
    }
}

/// The ticket that makes an acquisition its own holder (`ci:<token>#<ticket>`), 128 bits. A
/// retried request (same token, same key, same request) is the same holder, so it finds its own
/// lock or its own place in line instead of queuing behind itself; the lock script hands a lock's
/// token back only to its holder. So the ticket is a one-way digest of all three: another
/// pipeline that sees a holder id cannot make a request that maps to it. Without a key, it is
/// random.
pub(super) fn ticket_id(actor: &Actor, retry: &Retry) -> String {
    match retry {
        Some((key, fingerprint)) => {
            let request = [actor.id.as_str(), key.as_str(), fingerprint.as_str()].join("\n");
            sha256_hex(request.as_bytes())[..32].to_string()
        }
        None => new_token(),
    }
}

/// What a check-in came to.
enum CheckIn {
    /// The request is answered: the lock, or a refusal (the env froze meanwhile).
    Done(Box<Result<LockGrant, BatonError>>),
    /// Still in line.
    InLine,
}

/// Leaves the queue behind a waiting request that ends without the lock (dropped, shut down, or
/// failed), and gives back a lock offered to it too late. It acts only on this attempt's own
/// entry and lock (by its token): a retry with the same key that took them over is never touched.
/// A request with a key keeps its place for one lease first, so that its retry (a client whose
/// connection dropped) resumes it. It keeps trying while the store is away, for as long as such
/// an entry or offer could live.
struct Abandon {
    work: Option<(Pipelines, Ticket)>,
}

impl Abandon {
    fn arm(baton: Pipelines, ticket: Ticket) -> Self {
        Self {
            work: Some((baton, ticket)),
        }
    }

    /// The request ended with an answer that needs no cleanup.
    fn disarm<T>(mut self, outcome: T) -> T {
        self.work = None;
        outcome
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some((baton, ticket)) = self.work.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            if ticket.retry.is_some() {
                // Its retry may be on its way: the place is kept for it, as long as the lease.
                tokio::time::sleep(LEASE).await;
            }
            tracing::info!(env = %ticket.env.name, holder = ticket.holder, "a waiting request ended; leaving the queue");
            let give_up_by = Instant::now() + ticket.ttl.duration() + LEASE;
            let mut pause = Duration::from_millis(250);
            while Instant::now() < give_up_by {
                match leave(&baton, &ticket).await {
                    Ok(()) => return,
                    Err(e) => tracing::debug!(error = %e, "leaving the queue failed; trying again"),
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
        });
    }
}

/// Out of the queue, and a lock given back if it reached this attempt after all: both by this
/// attempt's token, never by holder.
async fn leave(baton: &Pipelines, t: &Ticket) -> Result<(), StoreError> {
    let group = baton.catalog.group_of(&t.env);
    let call = baton.store.prepare(
        &LeaveArgs {
            holder: &t.holder,
            decided: None,
            token: Some(&t.token),
        },
        group,
        &[&t.env.name],
    );
    if let LeaveAnswer::NotQueued { .. } = baton.store.call(call).await? {
        let args = UnlockArgs {
            kind: HoldKind::Lock,
            actor: &t.holder,
            display: &t.actor.display,
            token: Some(&t.token),
            force: false,
        };
        let call = baton.store.prepare(&args, group, &[&t.env.name]);
        baton.store.call(call).await?;
    }
    Ok(())
}
