//! Deploy locks: `lock`, `queue`, `unlock`, `extend`, `leave`. Each is one script call (one round
//! trip); the script also settles expiries and hands the lock on. What an answer means is read in
//! [`crate::outcomes`], shared with the CI API.

use std::time::Duration;

use crate::command::LockCommand;
use crate::config::EnvSettings;
use crate::domain::new_token;
use crate::domain::{human_duration, Actor, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::outcomes::{self, Acquired};
use crate::reply::{clock, Reply, ReplyData, Tone, Value};
use crate::services::{Core, Locks};
use crate::state::{Freeze, Hold};
use crate::store::contracts::{
    ExtendArgs, ExtendTarget, LeaveAnswer, LeaveArgs, LockArgs, LockMode, UnlockArgs,
};

impl Core {
    /// The TTL to use: the one asked for, else the env's default; refused above the env's max.
    pub(crate) fn ttl_for(
        &self,
        env: &str,
        asked: Option<Ttl>,
        default: Duration,
        max: Duration,
    ) -> Result<Ttl, BatonError> {
        let ttl = asked
            .or_else(|| Ttl::new(default))
            .ok_or(BatonError::Internal)?;
        if ttl.duration() > max {
            return Err(BatonError::Usage {
                message: format!(
                    "{ttl} is longer than {env} allows (at most {}); ask for less, and `extend` later if you need to",
                    human_duration(max)
                ),
                usage: None,
            });
        }
        Ok(ttl)
    }
}

impl Locks {
    /// Runs one of the lock's verbs (the router's one arm for the family); `admin` as the router
    /// found the role, for the override of a freeze.
    pub(crate) async fn run(
        &self,
        actor: &Actor,
        admin: bool,
        command: LockCommand,
    ) -> Result<Reply, BatonError> {
        match command {
            LockCommand::Lock { env, ttl, reason } => {
                let env = self.catalog.env(&env)?;
                self.lock(actor, env, ttl, reason, false, admin).await
            }
            LockCommand::Queue { env, ttl, reason } => {
                let env = self.catalog.env(&env)?;
                self.lock(actor, env, ttl, reason, true, admin).await
            }
            LockCommand::Unlock { env } => self.unlock(actor, self.catalog.env(&env)?, false).await,
            LockCommand::Extend { env, by } => {
                self.extend(actor, self.catalog.env(&env)?, by).await
            }
            LockCommand::Leave { env } => self.leave(actor, self.catalog.env(&env)?).await,
            LockCommand::LockSet { envs, ttl, reason } => {
                self.lock_set(actor, &envs, ttl, reason, admin).await
            }
            LockCommand::UnlockSet { envs } => self.unlock_set(actor, &envs).await,
            LockCommand::QueueSet { envs, ttl, reason } => {
                self.queue_set(actor, &envs, ttl, reason, admin).await
            }
            LockCommand::LeaveSet { envs } => self.leave_set(actor, &envs).await,
            LockCommand::Approve { env, request } => {
                self.approve(actor, self.catalog.env(&env)?, request).await
            }
            LockCommand::Reject {
                env,
                request,
                reason,
            } => {
                self.reject(actor, self.catalog.env(&env)?, request, &reason)
                    .await
            }
            LockCommand::ExtendSet { envs, by } => self.extend_set(actor, &envs, by).await,
        }
    }

    /// `lock` (`queue = false`) or `queue`.
    pub(crate) async fn lock(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        ttl: Option<Ttl>,
        reason: String,
        queue: bool,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let ttl = self.ttl_for(env.name.as_str(), ttl, env.default_ttl, env.max_ttl)?;
        if env.approvals > 0 && !(admin && queue) {
            return self.ask(actor, env, ttl, reason, queue, admin).await;
        }
        let args = LockArgs {
            holder: &actor.id,
            display: &actor.display,
            reason: &reason,
            ttl_ms: ttl.as_millis(),
            token: &new_token(),
            admin,
            mode: if queue {
                LockMode::Queue
            } else {
                LockMode::Lock
            },
            queue_limit: self.queue_limit,
            wait_ms: 0,  // a queue entry's wait: the script's default
            lease_ms: 0, // a person in line holds no lease
            record_refusal: false,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let name = env.name.as_str();
        match outcomes::acquired(name, self.store.call_acquire(call).await?)? {
            Acquired::Granted {
                now,
                hold,
                over_freeze,
                claim,
                ..
            } => Ok(granted_reply(
                actor,
                name,
                ttl,
                now,
                hold,
                over_freeze,
                claim,
            )),
            Acquired::Mine { hold, .. } => Err(BatonError::Refused(format!(
                "you already hold {name} until {}; `extend {name} 30m` keeps it longer",
                clock(hold.expires)
            ))),
            Acquired::Queued {
                now,
                position,
                lock,
                freeze,
                again: true,
            } => {
                let mut why = Vec::new();
                if let Some(l) = lock {
                    why.push(format!(
                        "locked by {} until {}",
                        l.display,
                        clock(l.expires)
                    ));
                }
                if let Some(f) = freeze {
                    why.push(crate::error::frozen_clause(&f, now));
                }
                let why = match why.as_slice() {
                    [] => String::new(),
                    parts => format!("; it is {}", parts.join(", and ")),
                };
                Err(BatonError::Refused(format!(
                    "you are already #{position} in the queue for {name}{why}; it comes to you in turn, or `leave {name}` gives up your place"
                )))
            }
            Acquired::Queued {
                now,
                position,
                lock,
                freeze,
                again: false,
            } => Ok(queued_reply(actor, name, now, position, lock, freeze)),
        }
    }

    /// `unlock` (or `unlock --force` when `force`).
    pub(crate) async fn unlock(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        force: bool,
    ) -> Result<Reply, BatonError> {
        self.end_hold(actor, env, HoldKind::Lock, force).await
    }

    /// Ends a lock or claim; shared by `unlock` and `release`.
    pub(crate) async fn end_hold(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        kind: HoldKind,
        force: bool,
    ) -> Result<Reply, BatonError> {
        let args = UnlockArgs {
            kind,
            actor: &actor.id,
            display: &actor.display,
            token: None,
            force,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let name = env.name.as_str();
        let (verb, other) = match kind {
            HoldKind::Lock => (
                "unlocked",
                format!("; you hold a claim on it: `release {name}`"),
            ),
            HoldKind::Claim => (
                "released",
                format!("; you hold its deploy lock: `unlock {name}`"),
            ),
        };
        let hint = |mine: bool| if mine { other } else { String::new() };
        let ended = outcomes::ended(name, kind, self.store.call(call).await?, hint)?;
        let was = ended.was;
        let forced = force && was.holder != actor.id;
        let (tone, title) = if forced {
            let title = format!(
                "{} force-{verb} {name}, held by {}",
                actor.display, was.display
            );
            (Tone::Warning, title)
        } else {
            (Tone::Success, format!("{} {verb} {name}", actor.display))
        };
        let mut r = Reply::new(tone, title, ended.now).text_field("Reason", &was.reason);
        if let Some(next) = &ended.next {
            r = r.with_text(format!(
                "Next in line: {} now holds {name} until {}.",
                next.display,
                clock(next.expires)
            ));
        }
        Ok(r)
    }

    /// `extend`: the caller's lock, else their claim.
    pub(crate) async fn extend(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        by: Ttl,
    ) -> Result<Reply, BatonError> {
        let args = ExtendArgs {
            target: ExtendTarget::Any,
            actor: &actor.id,
            token: None,
            by_ms: by.as_millis(),
            max_lock_ms: env.max_ttl.as_millis() as u64,
            max_claim_ms: env.max_ttl.as_millis() as u64,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let name = env.name.as_str();
        let hint = format!("; `lock {name}` or `claim {name}` first");
        let (now, kind, hold) = outcomes::extended(name, self.store.call(call).await?, hint)?;
        let (what, end) = match kind {
            HoldKind::Lock => ("lock", "unlock"),
            HoldKind::Claim => ("claim", "release"),
        };
        let end_label = if kind == HoldKind::Lock {
            "Unlock"
        } else {
            "Release"
        };
        Ok(Reply::new(
            Tone::Success,
            format!("{} extended their {what} on {name} by {by}", actor.display),
            now,
        )
        .field("Expires", Value::Time(hold.expires))
        .text_field("Reason", &hold.reason)
        .button(end_label, format!("{end} {name}"), false)
        .button("Extend 1h", format!("extend {name} 1h"), false))
    }

    /// `leave`.
    pub(crate) async fn leave(
        &self,
        actor: &Actor,
        env: &EnvSettings,
    ) -> Result<Reply, BatonError> {
        let args = LeaveArgs {
            holder: &actor.id,
            decided: None,
            token: None,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        match self.store.call(call).await? {
            LeaveAnswer::Ok { now, .. } => Ok(Reply::new(
                Tone::Success,
                format!("{} left the queue for {}", actor.display, env.name),
                now,
            )),
            LeaveAnswer::NotQueued { .. } => Err(BatonError::Refused(format!(
                "you are not in the queue for {}",
                env.name
            ))),
            LeaveAnswer::InSet { set } => Err(BatonError::Refused(format!(
                "you wait for {} together; `leave {set}` leaves all of their lines at once",
                crate::sets::listed(&set.split(',').collect::<Vec<_>>())
            ))),
        }
    }
}

/// The reply to a person who joined the line.
fn queued_reply(
    actor: &Actor,
    name: &str,
    now: u64,
    position: usize,
    lock: Option<Hold>,
    freeze: Option<Freeze>,
) -> Reply {
    let mut r = Reply::new(
        Tone::Success,
        format!("{} is #{position} in line for {name}", actor.display),
        now,
    )
    .button("Leave queue", format!("leave {name}"), false);
    if let Some(hold) = &lock {
        r = r.hold_fields(hold);
    }
    if let Some(f) = &freeze {
        // Why the line is not moving, and until when: the whole situation in one sentence.
        let ends = match f.until {
            0 => "when someone unfreezes it",
            _ => "when the freeze ends",
        };
        r = r.with_text(format!(
            "{name} is {}; the line does not move until then, and moves on by itself {ends}.",
            crate::error::frozen_clause(f, now)
        ));
    }
    r
}

/// The reply to a lock granted at once.
fn granted_reply(
    actor: &Actor,
    name: &str,
    ttl: Ttl,
    now: u64,
    hold: Hold,
    over_freeze: Option<Freeze>,
    claim: Option<Hold>,
) -> Reply {
    // A grant over a freeze or beside someone's claim happened, and deserves a second look.
    let tone = if over_freeze.is_some() || claim.is_some() {
        Tone::Warning
    } else {
        Tone::Success
    };
    let mut r = Reply::new(
        tone,
        format!("{} locked {name} for {ttl}", actor.display),
        now,
    )
    .hold_fields(&hold)
    .button("Unlock", format!("unlock {name}"), false)
    .button("Extend 1h", format!("extend {name} 1h"), false);
    let mut notes = Vec::new();
    if let Some(f) = &over_freeze {
        notes.push(format!(
            "{name} is frozen by {} ({}); you took it as an admin, and that is recorded.",
            f.by_whom(),
            f.reason
        ));
    }
    if let Some(c) = &claim {
        notes.push(format!(
            "Heads-up: {name} is claimed by {} until {}.",
            c.display,
            clock(c.expires)
        ));
    }
    if !notes.is_empty() {
        r = r.with_text(notes.join("\n"));
    }
    r.with_data(ReplyData::Grant {
        env: name.into(),
        kind: "lock".into(),
        hold,
        token: None,
    })
}
