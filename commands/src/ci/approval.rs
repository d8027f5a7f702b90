//! A pipeline's lock on an env that needs approval (the two-person rule).
//!
//! Without `wait` the request is answered at once: 202 `pending_approval` while it waits for
//! approvers (sending the same request again with the same Idempotency-Key polls it: the same
//! holder finds its own request), the lock once approved and free, 423 while approved but busy,
//! 403 when rejected or timed out. With `wait` the request is held open: it wakes on its own
//! events (an approval, a rejection), and once approved it waits in line like any waiting request
//! (a lease, renewed; never handed to a request that went away). A wait that runs out while the
//! request is pending withdraws it.

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::grant;
use super::wait::{Ticket, LEASE, RENEW_EVERY};
use crate::bus::BusMessage;
use crate::ci_api::LockGrant;
use crate::error::{BatonError, HoldKind};
use crate::services::Pipelines;
use crate::store::contracts::{ApprovalAnswer, ApprovalArgs};

impl Pipelines {
    /// Asks for `t`'s lock on an env that needs approval; with `wait`, waits for the approvals
    /// and then for the lock.
    pub(super) async fn acquire_approved(
        &self,
        t: &Ticket,
        admin: bool,
        wait: Option<(std::time::Duration, broadcast::Receiver<BusMessage>)>,
    ) -> Result<LockGrant, BatonError> {
        let name = t.env.name.as_str();
        let id = crate::approvals::request_id();
        let args = ApprovalArgs::Ask {
            holder: &t.holder,
            display: &t.display,
            reason: &t.reason,
            ttl_ms: t.ttl.as_millis(),
            token: &t.token,
            id: &id,
            timeout_ms: t.env.approval_timeout.as_millis() as u64,
            needed: t.env.approvals,
            mode: if wait.is_some() { "wait" } else { "poll" },
            lease_ms: if wait.is_some() {
                LEASE.as_millis() as u64
            } else {
                0
            },
            wait_ms: wait.as_ref().map_or(0, |(w, _)| w.as_millis() as u64),
            queue_limit: self.queue_limit,
        };
        let pending = match self.approval(&t.env, args).await? {
            ApprovalAnswer::Granted {
                now, lock, token, ..
            }
            | ApprovalAnswer::Already {
                now, lock, token, ..
            } => return Ok(grant(name, lock, token, now)),
            ApprovalAnswer::Pending {
                now,
                id,
                until,
                needed,
                have,
            }
            | ApprovalAnswer::AlreadyPending {
                now,
                id,
                until,
                have,
                needed,
            } => BatonError::PendingApproval {
                env: name.into(),
                id,
                have,
                needed,
                until,
                now,
            },
            ApprovalAnswer::Queued { .. } => BatonError::Internal, // only after approval
            other => return Err(refusal(name, other)),
        };
        let (wait, events) = match (wait, &pending) {
            (Some(w), BatonError::PendingApproval { .. }) => w,
            (_, _) => return Err(pending),
        };
        let BatonError::PendingApproval { id, .. } = &pending else {
            return Err(pending);
        };
        let deadline = Instant::now() + wait;
        metrics::gauge!("baton_ci_waiters").increment(1.0);
        let outcome = tokio::select! {
            w = Box::pin(self.await_approval(t, admin, id, deadline, events)) => w,
            _ = self.closing() => Err(BatonError::ShuttingDown),
        };
        metrics::gauge!("baton_ci_waiters").decrement(1.0);
        outcome
    }

    /// Waits until the request is decided (then, approved, for the lock itself) or the wait runs
    /// out (then the request is withdrawn).
    async fn await_approval(
        &self,
        t: &Ticket,
        admin: bool,
        id: &str,
        deadline: Instant,
        mut events: broadcast::Receiver<BusMessage>,
    ) -> Result<LockGrant, BatonError> {
        let name = t.env.name.as_str();
        let withdraw = Withdraw(Some((self.clone(), t.clone(), id.to_string())));
        while Instant::now() < deadline {
            let check_in = (Instant::now() + RENEW_EVERY).min(deadline);
            loop {
                match tokio::time::timeout_at(check_in, events.recv()).await {
                    Ok(Ok(BusMessage::Event(e)))
                        if e.env == name && e.holder.as_deref() == Some(t.holder.as_str()) =>
                    {
                        break
                    }
                    Ok(Ok(BusMessage::Event(_))) => continue,
                    _ => break,
                }
            }
            let args = ApprovalArgs::Check {
                holder: &t.holder,
                id,
            };
            match self.approval(&t.env, args).await {
                Ok(ApprovalAnswer::Pending { .. }) => continue,
                Ok(ApprovalAnswer::Approved { .. }) => {
                    withdraw.disarm();
                    // Approved: the lock is the request's, or it waits in line for it.
                    return self.wait_in_line(t, admin, deadline, events).await;
                }
                Ok(other) => {
                    withdraw.disarm();
                    return Err(refusal(name, other));
                }
                Err(e) => {
                    tracing::warn!(env = name, error = %e, "a request waiting for approval could not check in")
                }
            }
        }
        drop(withdraw);
        Err(BatonError::Refused(format!(
            "{name} was not approved within the wait; the request was withdrawn (ask for a longer `wait`, or ask the approvers first)"
        )))
    }
}

/// How a decided (or refused) request answers.
fn refusal(env: &str, a: ApprovalAnswer) -> BatonError {
    match a {
        ApprovalAnswer::Rejected { by, why, .. } if by.is_empty() => BatonError::Forbidden(format!(
            "the lock on {env} was not approved: {why}"
        )),
        ApprovalAnswer::Rejected { by, why, .. } => {
            BatonError::Forbidden(format!("{by} rejected the lock on {env}: {why}"))
        }
        ApprovalAnswer::Locked {
            now,
            lock: Some(lock),
            queued,
        } => BatonError::Held {
            env: env.into(),
            kind: HoldKind::Lock,
            hold: Box::new(lock),
            queue: queued,
            now,
            frozen: None,
        },
        ApprovalAnswer::Locked { .. } => BatonError::Refused(format!(
            "the lock on {env} is approved, but others wait in line for it; send the request again with `wait`"
        )),
        ApprovalAnswer::Frozen { now, freeze } => BatonError::Frozen {
            env: env.into(),
            freeze: Box::new(freeze),
            now,
        },
        ApprovalAnswer::QueueFull { limit } => BatonError::Refused(format!(
            "the queue for {env} is full ({limit} waiting); try again later"
        )),
        other => {
            tracing::error!(?other, "approval.lua answered a pipeline unexpectedly");
            BatonError::Internal
        }
    }
}

/// Withdraws a pending request whose waiting request ended without a decision.
struct Withdraw(Option<(Pipelines, Ticket, String)>);

impl Withdraw {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Withdraw {
    fn drop(&mut self) {
        let Some((baton, t, id)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let args = ApprovalArgs::Reject {
                actor: &t.holder,
                display: &t.display,
                id: &id,
                reason: "",
            };
            if let Err(e) = baton.approval(&t.env, args).await {
                tracing::warn!(env = %t.env.name, error = %e, "a pending request could not be withdrawn; it times out by itself");
            }
        });
    }
}
