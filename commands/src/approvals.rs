//! The two-person rule: on an env with `approvals = N`, a lock is first a pending request that N
//! other people (deployers or admins, never the requester) approve, in chat (`approve <env>`,
//! `reject <env> [reason]`) or with the buttons on the channel's announcement. The last approval
//! grants the lock (or, when the env is busy, puts the request in line) in the same atomic step;
//! a rejection, a withdrawal or the env's `approval_timeout` ends it. Admins may lock without
//! approval, recorded as a bypass. History, announcements and GitHub's comment name who decided.

use crate::config::EnvSettings;
use crate::domain::{new_token, Actor, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::reply::{clock, Reply, Tone, Value};
use crate::services::{Core, Locks};
use crate::store::contracts::{ApprovalAnswer, ApprovalArgs};

/// A short id for a pending request, shown in the announcement and typed after `#`.
pub(crate) fn request_id() -> String {
    new_token().chars().take(6).collect()
}

impl Core {
    /// One call of `approval.lua` on `env`.
    pub(crate) async fn approval(
        &self,
        env: &EnvSettings,
        args: ApprovalArgs<'_>,
    ) -> Result<ApprovalAnswer, BatonError> {
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        Ok(self.store.call(call).await?)
    }
}

/// "1 approval" / "2 approvals".
fn approvals(n: u64) -> String {
    if n == 1 {
        "1 approval".into()
    } else {
        format!("{n} approvals")
    }
}

impl Locks {
    /// `lock`/`queue` on an env that needs approval: pending until approved; an admin's `lock`
    /// is taken at once, recorded as a bypass.
    pub(crate) async fn ask(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        ttl: Ttl,
        reason: String,
        queue: bool,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let name = env.name.as_str();
        let token = new_token();
        if admin && !queue {
            let args = ApprovalArgs::Bypass {
                holder: &actor.id,
                display: &actor.display,
                reason: &reason,
                ttl_ms: ttl.as_millis(),
                token: &token,
            };
            return match self.approval(env, args).await? {
                ApprovalAnswer::Granted { now, lock, .. } => Ok(Reply::new(
                    Tone::Warning,
                    format!("{} locked {name} for {ttl}", actor.display),
                    now,
                )
                .hold_fields(&lock)
                .with_text(format!(
                    "{name} needs {} before a lock; you took it as an admin without, and that is recorded as a bypass.",
                    approvals(u64::from(env.approvals))
                ))
                .button("Unlock", format!("unlock {name}"), false)),
                ApprovalAnswer::Locked {
                    now,
                    lock: Some(lock),
                    queued,
                } => Err(BatonError::Held {
                    env: name.into(),
                    kind: HoldKind::Lock,
                    hold: Box::new(lock),
                    queue: queued,
                    now,
                    frozen: None,
                }),
                ApprovalAnswer::Already { lock, .. } => Err(BatonError::Refused(format!(
                    "you already hold {name} until {}; `extend {name} 30m` keeps it longer",
                    clock(lock.expires)
                ))),
                _ => Err(BatonError::Refused(format!(
                    "{name} has people waiting in line; `queue {name}` to wait with them"
                ))),
            };
        }
        let id = request_id();
        let args = ApprovalArgs::Ask {
            holder: &actor.id,
            display: &actor.display,
            reason: &reason,
            ttl_ms: ttl.as_millis(),
            token: &token,
            id: &id,
            timeout_ms: env.approval_timeout.as_millis() as u64,
            needed: env.approvals,
            mode: if queue { "queue" } else { "lock" },
            lease_ms: 0,
            wait_ms: 0,
            queue_limit: self.queue_limit,
        };
        match self.approval(env, args).await? {
            ApprovalAnswer::Pending {
                now,
                id,
                until,
                needed,
                ..
            } => Ok(Reply::new(
                Tone::Info,
                format!(
                    "{} asks to lock {name}: waiting for {}",
                    actor.display,
                    approvals(needed)
                ),
                now,
            )
            .field("Request", Value::Text(format!("#{id}")))
            .field("Decide by", Value::Time(until))
            .text_field("Reason", &reason)
            .with_text(format!(
                "{name} needs the approval of someone else who may deploy it: `approve {name}` (or the button in the channel). Without it the request is rejected at the time above. Once approved you hold {name} for {ttl}, or join its line if it is busy."
            ))
            .button("Withdraw", format!("reject {name} #{id}"), false)),
            ApprovalAnswer::AlreadyPending {
                now,
                id,
                until,
                have,
                needed,
            } => Ok(Reply::new(
                Tone::Info,
                format!(
                    "{} already waits for approval to lock {name} ({have} of {needed})",
                    actor.display
                ),
                now,
            )
            .field("Request", Value::Text(format!("#{id}")))
            .field("Decide by", Value::Time(until))
            .button("Withdraw", format!("reject {name} #{id}"), false)),
            ApprovalAnswer::Already { lock, .. } => Err(BatonError::Refused(format!(
                "you already hold {name} until {}; `extend {name} 30m` keeps it longer",
                clock(lock.expires)
            ))),
            ApprovalAnswer::Queued { now, position, .. } => Ok(Reply::new(
                Tone::Info,
                format!("{} is #{position} in line for {name}", actor.display),
                now,
            )),
            ApprovalAnswer::Frozen { now, freeze } => Err(BatonError::Frozen {
                env: name.into(),
                freeze: Box::new(freeze),
                now,
            }),
            other => {
                tracing::error!(?other, "approval.lua answered an ask unexpectedly");
                Err(BatonError::Internal)
            }
        }
    }

    /// `approve <env> [#request]`.
    pub(crate) async fn approve(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        request: Option<String>,
    ) -> Result<Reply, BatonError> {
        let name = env.name.as_str();
        let args = ApprovalArgs::Approve {
            actor: &actor.id,
            display: &actor.display,
            id: request.as_deref().unwrap_or_default(),
            queue_limit: self.queue_limit,
        };
        let who = &actor.display;
        match self.approval(env, args).await? {
            ApprovalAnswer::Granted { now, lock, by, .. } => Ok(Reply::new(
                Tone::Success,
                format!("{who} approved: {} holds {name}", lock.display),
                now,
            )
            .field("Approved by", Value::Text(by))
            .hold_fields(&lock)),
            ApprovalAnswer::Queued {
                now,
                position,
                holder,
                by,
            } => Ok(Reply::new(
                Tone::Success,
                format!("{who} approved: {holder} is #{position} in line for {name}"),
                now,
            )
            .field("Approved by", Value::Text(by))),
            ApprovalAnswer::Approved { now, holder, by } => Ok(Reply::new(
                Tone::Success,
                format!("{who} approved: {holder} takes {name} on its next try, once it is free"),
                now,
            )
            .field("Approved by", Value::Text(by))),
            ApprovalAnswer::More {
                now,
                holder,
                have,
                needed,
            } => Ok(Reply::new(
                Tone::Success,
                format!(
                    "{who} approved {holder}'s lock on {name} ({have} of {needed}); {} more needed",
                    needed.saturating_sub(have)
                ),
                now,
            )),
            ApprovalAnswer::Own {} => Err(BatonError::Forbidden(format!(
                "you cannot approve your own request for {name}: someone else who may deploy it must (the two-person rule)"
            ))),
            ApprovalAnswer::AlreadyApproved { holder } => Err(BatonError::Refused(format!(
                "you already approved {holder}'s request for {name}; it needs someone else's approval too"
            ))),
            ApprovalAnswer::QueueFull { limit } => Err(BatonError::Refused(format!(
                "approved, but the queue for {name} is full ({limit} waiting), so the request was rejected; ask again later"
            ))),
            ApprovalAnswer::NoRequest {} => Err(no_request(name, &request)),
            other => {
                tracing::error!(?other, "approval.lua answered an approval unexpectedly");
                Err(BatonError::Internal)
            }
        }
    }

    /// `reject <env> [#request] [reason]`: someone else's request, or a withdrawal of one's own.
    pub(crate) async fn reject(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        request: Option<String>,
        reason: &str,
    ) -> Result<Reply, BatonError> {
        let name = env.name.as_str();
        let args = ApprovalArgs::Reject {
            actor: &actor.id,
            display: &actor.display,
            id: request.as_deref().unwrap_or_default(),
            reason,
        };
        match self.approval(env, args).await? {
            ApprovalAnswer::Rejected { now, holder, .. } if holder == actor.display => {
                Ok(Reply::new(
                    Tone::Success,
                    format!("{holder} withdrew their request to lock {name}"),
                    now,
                ))
            }
            ApprovalAnswer::Rejected { now, holder, .. } => Ok(Reply::new(
                Tone::Success,
                format!(
                    "{} rejected {holder}'s request to lock {name}",
                    actor.display
                ),
                now,
            )
            .text_field("Reason", reason)),
            ApprovalAnswer::NoRequest {} => Err(no_request(name, &request)),
            other => {
                tracing::error!(?other, "approval.lua answered a rejection unexpectedly");
                Err(BatonError::Internal)
            }
        }
    }
}

fn no_request(env: &str, request: &Option<String>) -> BatonError {
    BatonError::Refused(match request {
        Some(id) => format!("no request #{id} waits for approval on {env} (it may have been decided or timed out; `history {env}` says)"),
        None => format!("no request waits for approval on {env}"),
    })
}
