//! Several envs as one: `lock prod-eu,prod-us 30m release 4.2` takes every env's deploy lock in
//! one atomic step or none of them, and `unlock prod-eu,prod-us` gives them all back together.
//! Each env keeps its own fence, history entry and hand-off; a refusal names every env in the
//! way and who holds it, and takes nothing.

use crate::config::EnvSettings;
use crate::domain::{human_duration, new_token, Actor, EnvName, Ttl};
use crate::error::{frozen_clause, BatonError};
use crate::reply::{clock, Reply, ReplyData, Tone, Value};
use crate::services::{Core, Locks};
use crate::store::contracts::Contract;
use crate::store::contracts::{
    Blocked, Blocker, ExtendSetAnswer, ExtendSetArgs, LeaveSetAnswer, LeaveSetArgs, LockMode,
    LockSetAnswer, LockSetArgs, Place, Released, SetLock, UnlockSetAnswer, UnlockSetArgs,
};
use crate::store::Prepared;

/// "a, b and c".
pub(crate) fn listed<S: AsRef<str>>(names: &[S]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => {
            let rest: Vec<&str> = rest.iter().map(AsRef::as_ref).collect();
            format!("{} and {}", rest.join(", "), last.as_ref())
        }
        _ => names
            .first()
            .map(|n| n.as_ref().to_string())
            .unwrap_or_default(),
    }
}

/// Who takes a set, and under which token.
pub(crate) struct SetHolder<'a> {
    /// Who asked (`ci:<token>`): a retry's record is theirs and their key's.
    pub caller: &'a str,
    pub holder: &'a str,
    pub display: &'a str,
    pub token: &'a str,
}

impl Core {
    /// The one call of `args`' function on every env of `settings`, across their hash tags.
    pub(crate) fn set_call<C: Contract>(
        &self,
        args: &C,
        settings: &[&EnvSettings],
    ) -> Result<Prepared<C::Answer>, BatonError> {
        let pairs: Vec<(&EnvName, &EnvName)> = settings
            .iter()
            .map(|e| (self.catalog.group_of(e), &e.name))
            .collect();
        self.store
            .prepare_across(args, &pairs)
            .map_err(BatonError::Refused)
    }

    /// The settings of each env of a set, in order; an unknown env is refused.
    pub(crate) fn settings<'a>(
        &'a self,
        envs: &[EnvName],
    ) -> Result<Vec<&'a EnvSettings>, BatonError> {
        envs.iter().map(|e| self.catalog.env(e)).collect()
    }

    /// The TTL for a set: the one asked for, else the shortest of the envs' defaults; refused
    /// above any env's maximum.
    pub(crate) fn set_ttl(
        &self,
        envs: &[EnvName],
        asked: Option<Ttl>,
    ) -> Result<(Vec<&EnvSettings>, Ttl), BatonError> {
        let settings = self.settings(envs)?;
        let default = settings.iter().map(|e| e.default_ttl).min();
        let max = settings.iter().map(|e| e.max_ttl).min();
        let (Some(default), Some(max)) = (default, max) else {
            return Err(BatonError::Internal);
        };
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let ttl = self.ttl_for(&listed(&names), asked, default, max)?;
        Ok((settings, ttl))
    }

    /// Takes every env of `settings` for `who`, or none: the grants, or the refusal naming
    /// every env in the way. Retry-safe with `retry` (the record lives in the first env's slot).
    pub(crate) async fn take_set(
        &self,
        who: SetHolder<'_>,
        settings: &[&EnvSettings],
        ttl: Ttl,
        reason: &str,
        admin: bool,
        retry: Option<(String, String)>,
    ) -> Result<(u64, String, Vec<SetLock>), BatonError> {
        match self
            .join_set(who, settings, ttl, reason, admin, retry, SetWay::NOW)
            .await?
        {
            SetTaken::Granted { now, token, locks } => Ok((now, token, locks)),
            SetTaken::Queued { .. } => Err(BatonError::Internal),
        }
    }

    /// Takes every env of `settings` for `who`, or (as `way` says) waits for all of them
    /// together in every env's line.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn join_set(
        &self,
        who: SetHolder<'_>,
        settings: &[&EnvSettings],
        ttl: Ttl,
        reason: &str,
        admin: bool,
        retry: Option<(String, String)>,
        way: SetWay,
    ) -> Result<SetTaken, BatonError> {
        if let Some(env) = settings.iter().find(|e| e.approvals > 0).filter(|_| !admin) {
            return Err(BatonError::Refused(format!(
                "{} needs approval before a lock (the two-person rule), so it cannot be taken in a set; lock it on its own and have it approved, then lock the others",
                env.name
            )));
        }
        let args = LockSetArgs {
            holder: who.holder,
            display: who.display,
            reason,
            ttl_ms: ttl.as_millis(),
            token: who.token,
            admin,
            mode: way.mode,
            queue_limit: self.queue_limit,
            wait_ms: way.wait_ms,
            lease_ms: way.lease_ms,
        };
        let mut call = self.set_call(&args, settings)?;
        if let (Some((record, fingerprint)), Some(first)) = (retry, settings.first()) {
            let (group, env) = (self.catalog.group_of(first), &first.name);
            call = call.idempotent(
                self.store
                    .idempotency_record(group, env, who.caller, &record),
                &fingerprint,
            );
        }
        match self.store.call_acquire(call).await? {
            LockSetAnswer::Ok { now, token, locks } => Ok(SetTaken::Granted { now, token, locks }),
            LockSetAnswer::Queued {
                now,
                places,
                blocked,
            } => Ok(SetTaken::Queued {
                now,
                places,
                waiting_for: blocked.iter().map(|b| blocker(b, now)).collect(),
                again: false,
            }),
            LockSetAnswer::AlreadyQueued { now, places } => Ok(SetTaken::Queued {
                now,
                places,
                waiting_for: Vec::new(),
                again: true,
            }),
            LockSetAnswer::QueueFull { env, limit } => Err(BatonError::Refused(format!(
                "the queue for {env} is full ({limit} waiting); nothing was queued, try again later"
            ))),
            LockSetAnswer::Ended { env, fence, how } => Err(BatonError::LockEnded {
                env,
                fence,
                released: how == "released",
            }),
            LockSetAnswer::IdempotencyMismatch {} => Err(BatonError::IdempotencyKeyReused),
            LockSetAnswer::Blocked { now, blocked } => Err(set_blocked("locked", &blocked, now)),
        }
    }

    /// Gives back every env of `settings` held by `actor` (or under `token`), or none.
    pub(crate) async fn give_back_set(
        &self,
        actor: &str,
        display: &str,
        token: Option<&str>,
        settings: &[&EnvSettings],
        retry: Option<(String, String)>,
    ) -> Result<(u64, Vec<Released>), BatonError> {
        let args = UnlockSetArgs {
            actor,
            display,
            token,
        };
        let mut call = self.set_call(&args, settings)?;
        if let (Some((record, fingerprint)), Some(first)) = (retry, settings.first()) {
            let (group, env) = (self.catalog.group_of(first), &first.name);
            call = call.idempotent(
                self.store.idempotency_record(group, env, actor, &record),
                &fingerprint,
            );
        }
        match self.store.call(call).await? {
            UnlockSetAnswer::Ok { now, released } => Ok((now, released)),
            UnlockSetAnswer::IdempotencyMismatch {} => Err(BatonError::IdempotencyKeyReused),
            UnlockSetAnswer::Refused { problems } => {
                let reasons: Vec<String> = problems
                    .iter()
                    .map(|p| match &p.lock {
                        Some(lock) if token.is_some() => {
                            format!(
                                "{} is locked by {}, not under this token",
                                p.env, lock.display
                            )
                        }
                        Some(lock) => {
                            format!("{} is locked by {}, not by you", p.env, lock.display)
                        }
                        None => format!("{} is not locked", p.env),
                    })
                    .collect();
                Err(BatonError::Refused(format!(
                    "nothing was unlocked: {}",
                    reasons.join("; ")
                )))
            }
        }
    }
}

impl Core {
    /// Extends every env's lock of `settings` held by `actor` (or under `token`) by `by`, or
    /// none; no env may then have more than the shortest of their `max_ttl`s left.
    pub(crate) async fn extend_set_by(
        &self,
        actor: &str,
        token: Option<&str>,
        settings: &[&EnvSettings],
        by: Ttl,
    ) -> Result<(u64, Vec<SetLock>), BatonError> {
        let max = settings
            .iter()
            .map(|e| e.max_ttl)
            .min()
            .ok_or(BatonError::Internal)?;
        let args = ExtendSetArgs {
            actor,
            token,
            by_ms: by.as_millis(),
            max_ms: max.as_millis() as u64,
        };
        let call = self.set_call(&args, settings)?;
        match self.store.call(call).await? {
            ExtendSetAnswer::Ok { now, extended } => Ok((now, extended)),
            ExtendSetAnswer::Refused { problems } => {
                let reasons: Vec<String> = problems
                    .iter()
                    .map(|p| match (p.why.as_str(), &p.lock) {
                        ("too_long", _) => format!(
                            "{} may have at most {} left, so it can go {} longer",
                            p.env,
                            human_duration(max),
                            human_duration(std::time::Duration::from_millis(p.room.unwrap_or(0)))
                        ),
                        (_, Some(lock)) => {
                            format!("{} is locked by {}, not by you", p.env, lock.display)
                        }
                        _ => format!("{} is not locked", p.env),
                    })
                    .collect();
                Err(BatonError::Refused(format!(
                    "nothing was extended: {}",
                    reasons.join("; ")
                )))
            }
        }
    }
}

/// How a set is asked for: taken now, or waited for (by a person, or by a waiting request).
#[derive(Clone, Copy)]
pub(crate) struct SetWay {
    pub mode: LockMode,
    /// How long the entry may wait (0: a day).
    pub wait_ms: u64,
    /// A waiting request's lease (0: none).
    pub lease_ms: u64,
}

impl SetWay {
    /// All of it now, or nothing.
    pub const NOW: SetWay = SetWay {
        mode: LockMode::Lock,
        wait_ms: 0,
        lease_ms: 0,
    };
}

/// What came of asking for a set.
pub(crate) enum SetTaken {
    /// Every env is the caller's.
    Granted {
        now: u64,
        token: String,
        locks: Vec<SetLock>,
    },
    /// Waiting in every env's line (`again`: it was already).
    Queued {
        now: u64,
        places: Vec<Place>,
        /// What it waits for, as clauses.
        waiting_for: Vec<String>,
        again: bool,
    },
}

/// "nothing was <verb>: a is …; b is …".
pub(crate) fn set_blocked(verb: &str, blocked: &[Blocker], now: u64) -> BatonError {
    let reasons: Vec<String> = blocked.iter().map(|b| blocker(b, now)).collect();
    BatonError::Refused(format!("nothing was {verb}: {}", reasons.join("; ")))
}

/// Why one env stands in the way of a set, as a clause.
fn blocker(b: &Blocker, now: u64) -> String {
    match &b.why {
        Blocked::Locked { lock, queued } => {
            let line = match queued {
                0 => String::new(),
                1 => ", 1 waiting".into(),
                n => format!(", {n} waiting"),
            };
            let why = if lock.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", lock.reason)
            };
            format!(
                "{} is locked by {} until {}{line}{why}",
                b.env,
                lock.display,
                clock(lock.expires)
            )
        }
        Blocked::Frozen { freeze } => format!("{} is {}", b.env, frozen_clause(freeze, now)),
        Blocked::Mine { lock } => format!(
            "you already hold {} until {}, on its own (unlock it, or lock the others alone)",
            b.env,
            clock(lock.expires)
        ),
        Blocked::Reserved { first, set, queued } => format!(
            "{} is free but kept for {first}, first of {queued} in line, who waits for {} together",
            b.env,
            listed(&set.split(',').collect::<Vec<_>>())
        ),
        Blocked::Queued { set: Some(set) } => format!(
            "you already wait for {} in another line-up ({}); `leave` it first",
            b.env,
            listed(&set.split(',').collect::<Vec<_>>())
        ),
        Blocked::Queued { set: None } => format!(
            "you already wait for {} on its own; `leave {}` first",
            b.env, b.env
        ),
    }
}

impl Locks {
    /// `lock a,b [ttl] [reason]`: every env's lock, or none. Without a duration, the shortest of
    /// the envs' defaults; a duration above any env's maximum is refused.
    pub(crate) async fn lock_set(
        &self,
        actor: &Actor,
        envs: &[EnvName],
        ttl: Option<Ttl>,
        reason: String,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let (settings, ttl) = self.set_ttl(envs, ttl)?;
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let who = SetHolder {
            caller: &actor.id,
            holder: &actor.id,
            display: &actor.display,
            token: &new_token(),
        };
        let (now, _, locks) = self
            .take_set(who, &settings, ttl, &reason, admin, None)
            .await?;
        granted_reply(actor, &names, ttl, now, locks)
    }

    /// `queue a,b [ttl] [reason]`: every env's lock now if all are free, else a place in every
    /// env's line, as one waiter handed all of them together.
    pub(crate) async fn queue_set(
        &self,
        actor: &Actor,
        envs: &[EnvName],
        ttl: Option<Ttl>,
        reason: String,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let (settings, ttl) = self.set_ttl(envs, ttl)?;
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let who = SetHolder {
            caller: &actor.id,
            holder: &actor.id,
            display: &actor.display,
            token: &new_token(),
        };
        let way = SetWay {
            mode: LockMode::Queue,
            wait_ms: 0,
            lease_ms: 0,
        };
        match self
            .join_set(who, &settings, ttl, &reason, admin, None, way)
            .await?
        {
            SetTaken::Granted { now, locks, .. } => granted_reply(actor, &names, ttl, now, locks),
            SetTaken::Queued {
                now,
                places,
                waiting_for,
                again,
            } => {
                let title = if again {
                    format!(
                        "{} already waits for {} together",
                        actor.display,
                        listed(&names)
                    )
                } else {
                    format!("{} waits for {} together", actor.display, listed(&names))
                };
                let mut reply = Reply::new(Tone::Info, title, now);
                for p in &places {
                    reply = reply.field(&p.env, Value::Text(format!("#{} in line", p.position)));
                }
                let mut text = vec![format!(
                    "You get all of them at once, for {ttl}, when you are first in every line and all are free; nobody behind you takes one first."
                )];
                text.extend(waiting_for.into_iter().map(|w| format!("Waiting on: {w}.")));
                Ok(reply.with_text(text.join("\n")).button(
                    "Leave the queues",
                    format!("leave {}", names.join(",")),
                    false,
                ))
            }
        }
    }

    /// `leave a,b`: out of every line of the set.
    pub(crate) async fn leave_set(
        &self,
        actor: &Actor,
        envs: &[EnvName],
    ) -> Result<Reply, BatonError> {
        let settings = self.settings(envs)?;
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let args = LeaveSetArgs {
            holder: &actor.id,
            token: None,
        };
        match self.store.call(self.set_call(&args, &settings)?).await? {
            LeaveSetAnswer::Ok { now } => Ok(Reply::new(
                Tone::Success,
                format!("{} left the queues for {}", actor.display, listed(&names)),
                now,
            )),
            LeaveSetAnswer::NotQueued { .. } => Err(BatonError::Refused(format!(
                "you are not waiting for {} together (`status` shows each line)",
                listed(&names)
            ))),
        }
    }

    /// `extend a,b 1h`: every env's lock extended, or none.
    pub(crate) async fn extend_set(
        &self,
        actor: &Actor,
        envs: &[EnvName],
        by: Ttl,
    ) -> Result<Reply, BatonError> {
        let settings = self.settings(envs)?;
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let (now, extended) = self.extend_set_by(&actor.id, None, &settings, by).await?;
        let expires = extended.first().map(|l| l.lock.expires).unwrap_or_default();
        Ok(Reply::new(
            Tone::Success,
            format!(
                "{} extended their locks on {} by {by}",
                actor.display,
                listed(&names)
            ),
            now,
        )
        .field("Expires", Value::Time(expires)))
    }

    /// `unlock a,b`: every env's lock given back, or none.
    pub(crate) async fn unlock_set(
        &self,
        actor: &Actor,
        envs: &[EnvName],
    ) -> Result<Reply, BatonError> {
        let settings = self.settings(envs)?;
        let names: Vec<&str> = settings.iter().map(|e| e.name.as_str()).collect();
        let (now, released) = self
            .give_back_set(&actor.id, &actor.display, None, &settings, None)
            .await?;
        let mut reply = Reply::new(
            Tone::Success,
            format!("{} unlocked {}", actor.display, listed(&names)),
            now,
        );
        for r in &released {
            let after = match &r.next {
                Some(next) => format!("now {}'s, until {}", next.display, clock(next.expires)),
                None => "free".into(),
            };
            reply = reply.field(&r.env, Value::Text(after));
        }
        Ok(reply)
    }
}

/// The reply to a set taken: who, until when, each env's fence, and any heads-up.
fn granted_reply(
    actor: &Actor,
    names: &[&str],
    ttl: Ttl,
    now: u64,
    locks: Vec<SetLock>,
) -> Result<Reply, BatonError> {
    let joined = names.join(",");
    let over_freeze = locks.iter().any(|l| l.freeze.is_some());
    let tone = if over_freeze {
        Tone::Warning
    } else {
        Tone::Success
    };
    let first = &locks.first().ok_or(BatonError::Internal)?.lock;
    let mut reply = Reply::new(
        tone,
        format!("{} locked {} for {ttl}", actor.display, listed(names)),
        now,
    )
    .field("Holder", Value::Person(first.display.clone()))
    .text_field("Reason", &first.reason)
    .field("Expires", Value::Time(first.expires));
    for l in &locks {
        reply = reply.field(&l.env, Value::Text(format!("fence {}", l.lock.fence)));
    }
    let mut notes = Vec::new();
    for l in &locks {
        if let Some(f) = &l.freeze {
            notes.push(format!(
                "{} is frozen by {} ({}); you took it as an admin, and that is recorded.",
                l.env,
                f.by_whom(),
                f.reason
            ));
        }
        if let Some(c) = l.claim.as_ref().filter(|c| c.holder != actor.id) {
            notes.push(format!(
                "Heads-up: {} is claimed by {} until {}.",
                l.env,
                c.display,
                clock(c.expires)
            ));
        }
    }
    if !notes.is_empty() {
        reply = reply.with_text(notes.join("\n"));
    }
    let first = locks.into_iter().next().ok_or(BatonError::Internal)?;
    Ok(reply
        .button("Unlock all", format!("unlock {joined}"), false)
        .with_data(ReplyData::Grant {
            env: first.env,
            kind: "lock".into(),
            hold: first.lock,
            token: None,
        }))
}
