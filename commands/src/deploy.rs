//! Deploy locks: `lock`, `queue`, `unlock`, `extend`, `leave`, `freeze`, `unfreeze`. Each is one
//! script call (one round trip); the script also settles expiries and hands the lock on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::command::{FreezeSpan, Scope};
use crate::config::EnvSettings;
use crate::domain::{human_duration, Actor, EnvName, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::reply::{clock, Reply, ReplyData, Tone, Value};
use crate::router::{new_token, wall_clock, Baton};
use crate::state::{Answer, Hold};
use crate::store::{scripts, StoreError};

impl Baton {
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
        let call = self
            .store
            .script(&scripts::LOCK, self.catalog.group_of(env), &[&env.name])
            .arg(&actor.id)
            .arg(&actor.display)
            .arg(&reason)
            .arg(ttl.as_millis())
            .arg(new_token())
            .arg(if admin { "1" } else { "0" })
            .arg(if queue { "queue" } else { "lock" })
            .arg(self.queue_limit)
            .arg(0) // the queue entry's wait: the default
            .arg(0); // a person in the queue holds no lease
        let a: Answer = self.store.eval_acquire(call).await?;
        let name = env.name.as_str();
        match a.status.as_str() {
            "ok" => {
                let hold = a.lock.ok_or(BatonError::Internal)?;
                let mut r = Reply::new(
                    Tone::Success,
                    format!("{} locked {name} for {ttl}", actor.display),
                    a.now,
                )
                .hold_fields(&hold)
                .button("Unlock", format!("unlock {name}"), false)
                .button("Extend 1h", format!("extend {name} 1h"), false);
                let mut notes = Vec::new();
                if let Some(f) = &a.freeze {
                    notes.push(format!(
                        "{name} is frozen by {} ({}); you took it as an admin.",
                        f.display, f.reason
                    ));
                }
                if let Some(c) = a.claim.as_ref().filter(|c| c.holder != actor.id) {
                    notes.push(format!(
                        "Heads-up: {name} is claimed by {} until {}.",
                        c.display,
                        clock(c.expires)
                    ));
                }
                if !notes.is_empty() {
                    r = r.with_text(notes.join("\n"));
                }
                Ok(r.with_data(ReplyData::Grant {
                    env: name.into(),
                    kind: "lock".into(),
                    hold,
                    token: None,
                }))
            }
            "already" => {
                let hold = a.lock.ok_or(BatonError::Internal)?;
                Err(BatonError::Refused(format!(
                    "you already hold {name} until {}; `extend {name} 30m` keeps it longer",
                    clock(hold.expires)
                )))
            }
            "already_queued" => {
                let holder = match &a.lock {
                    Some(l) => format!(
                        "{name} is locked by {} until {}; ",
                        l.display,
                        clock(l.expires)
                    ),
                    None => String::new(),
                };
                Err(BatonError::Refused(format!(
                    "{holder}you are #{} in the queue for it; `leave {name}` gives up your place",
                    a.position.unwrap_or(0)
                )))
            }
            "locked" => Err(held(name, HoldKind::Lock, a.lock, a.queue.len(), a.now)),
            "frozen" => Err(BatonError::Frozen {
                env: name.into(),
                freeze: Box::new(a.freeze.ok_or(BatonError::Internal)?),
                now: a.now,
            }),
            "queue_full" => Err(BatonError::Refused(format!(
                "the queue for {name} is full ({} waiting); try again later",
                a.limit.unwrap_or(self.queue_limit)
            ))),
            "queued" => {
                let pos = a.position.unwrap_or(0);
                let mut r = Reply::new(
                    Tone::Success,
                    format!("{} is #{pos} in line for {name}", actor.display),
                    a.now,
                )
                .button("Leave queue", format!("leave {name}"), false);
                if let Some(hold) = &a.lock {
                    r = r.hold_fields(hold);
                }
                if let Some(f) = &a.freeze {
                    r = r.with_text(format!(
                        "{name} is frozen by {}; the queue moves once it is unfrozen.",
                        f.display
                    ));
                }
                Ok(r)
            }
            other => Err(unexpected(other)),
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
        let call = self
            .store
            .script(&scripts::UNLOCK, self.catalog.group_of(env), &[&env.name])
            .arg(kind.as_str())
            .arg(&actor.id)
            .arg(&actor.display)
            .arg("")
            .arg(if force { "1" } else { "0" });
        let a: Answer = self.store.eval(call).await?;
        let name = env.name.as_str();
        let (verb, other_cmd) = match kind {
            HoldKind::Lock => (
                "unlocked",
                format!("; you hold a claim on it: `release {name}`"),
            ),
            HoldKind::Claim => (
                "released",
                format!("; you hold its deploy lock: `unlock {name}`"),
            ),
        };
        match a.status.as_str() {
            "ok" => {
                let was = a.held.ok_or(BatonError::Internal)?;
                let title = if force && was.holder != actor.id {
                    format!(
                        "{} force-{verb} {name}, held by {}",
                        actor.display, was.display
                    )
                } else {
                    format!("{} {verb} {name}", actor.display)
                };
                let mut r =
                    Reply::new(Tone::Success, title, a.now).text_field("Reason", &was.reason);
                if let Some(next) = &a.next {
                    r = r.with_text(format!(
                        "Next in line: {} now holds {name} until {}.",
                        next.display,
                        clock(next.expires)
                    ));
                }
                Ok(r)
            }
            "not_held" => Err(BatonError::NotHeld {
                env: name.into(),
                kind,
                hint: if a.other_is_mine == Some(true) {
                    other_cmd
                } else {
                    String::new()
                },
            }),
            "not_holder" => Err(BatonError::NotHolder {
                env: name.into(),
                kind,
                hold: Box::new(a.held.ok_or(BatonError::Internal)?),
            }),
            other => Err(unexpected(other)),
        }
    }

    /// `extend`: the caller's lock, else their claim.
    pub(crate) async fn extend(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        by: Ttl,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::EXTEND, self.catalog.group_of(env), &[&env.name])
            .arg("any")
            .arg(&actor.id)
            .arg("")
            .arg(by.as_millis())
            .arg(env.max_ttl.as_millis())
            .arg(env.max_ttl.as_millis());
        let a: Answer = self.store.eval(call).await?;
        let name = env.name.as_str();
        let kind = match a.kind.as_deref() {
            Some("claim") => HoldKind::Claim,
            _ => HoldKind::Lock,
        };
        match a.status.as_str() {
            "ok" => {
                let hold = a.held.ok_or(BatonError::Internal)?;
                let what = if kind == HoldKind::Lock {
                    "lock"
                } else {
                    "claim"
                };
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} extended their {what} on {name} by {by}", actor.display),
                    a.now,
                )
                .field("Expires", Value::Time(hold.expires))
                .text_field("Reason", &hold.reason)
                .button(
                    if kind == HoldKind::Lock {
                        "Unlock"
                    } else {
                        "Release"
                    },
                    format!(
                        "{} {name}",
                        if kind == HoldKind::Lock {
                            "unlock"
                        } else {
                            "release"
                        }
                    ),
                    false,
                )
                .button("Extend 1h", format!("extend {name} 1h"), false))
            }
            "too_long" => {
                let max = human_duration(Duration::from_millis(a.max.unwrap_or(0)));
                let room = a.room.unwrap_or(0);
                let message = if room < 1000 {
                    format!("{name} can be held at most {max} from now, and yours already runs that long")
                } else {
                    format!(
                        "{name} can be held at most {max} from now; you can extend by up to {}",
                        human_duration(Duration::from_millis(room))
                    )
                };
                Err(BatonError::Usage {
                    message,
                    usage: None,
                })
            }
            "not_holder" => Err(BatonError::NotHolder {
                env: name.into(),
                kind,
                hold: Box::new(a.held.ok_or(BatonError::Internal)?),
            }),
            "not_held" => Err(BatonError::NotHeld {
                env: name.into(),
                kind,
                hint: format!("; `lock {name}` or `claim {name}` first"),
            }),
            other => Err(unexpected(other)),
        }
    }

    /// `leave`.
    pub(crate) async fn leave(
        &self,
        actor: &Actor,
        env: &EnvSettings,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::LEAVE, self.catalog.group_of(env), &[&env.name])
            .arg(&actor.id);
        let a: Answer = self.store.eval(call).await?;
        match a.status.as_str() {
            "ok" => Ok(Reply::new(
                Tone::Success,
                format!("{} left the queue for {}", actor.display, env.name),
                a.now,
            )),
            "not_queued" => Err(BatonError::Refused(format!(
                "you are not in the queue for {}",
                env.name
            ))),
            other => Err(unexpected(other)),
        }
    }

    /// `freeze`: one call per group, pipelined in one round trip.
    pub(crate) async fn freeze(
        &self,
        actor: &Actor,
        scope: &Scope,
        envs: Vec<&EnvSettings>,
        span: FreezeSpan,
        reason: String,
    ) -> Result<Reply, BatonError> {
        let (until, rel) = match span {
            FreezeSpan::UntilLifted => (0, 0),
            FreezeSpan::For(d) => (0, d.as_millis()),
            FreezeSpan::Until(t) => {
                let ms = t
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                if t <= SystemTime::now() {
                    return Err(BatonError::Usage {
                        message: format!("{} is in the past; freeze until a later time", clock(ms)),
                        usage: None,
                    });
                }
                (ms, 0)
            }
        };
        let scope_arg = if matches!(scope, Scope::All) {
            "all"
        } else {
            "env"
        };
        let (answers, unreached) = reached(
            self.freeze_calls(actor, envs, "freeze", &reason, until, rel, scope_arg)
                .await,
        )?;
        let now = answers.first().map(|a| a.now).unwrap_or_else(wall_clock);
        let names: Vec<String> = answers
            .iter()
            .flat_map(|a| a.changed.iter().map(|c| c.env.clone()))
            .collect();
        let held: Vec<String> = answers
            .iter()
            .flat_map(|a| a.changed.iter())
            .filter_map(|c| {
                c.lock
                    .as_ref()
                    .map(|l| format!("{} ({})", c.env, l.display))
            })
            .collect();
        let span_text = match span {
            FreezeSpan::UntilLifted => "until someone unfreezes it".to_string(),
            FreezeSpan::For(d) => format!("for {d}"),
            FreezeSpan::Until(_) => format!("until {}", clock(until)),
        };
        let mut r = Reply::new(
            Tone::Success,
            format!(
                "{} froze {} {span_text}",
                actor.display,
                if unreached.is_empty() {
                    describe(scope, &names)
                } else {
                    names.join(", ")
                }
            ),
            now,
        )
        .text_field("Reason", &reason)
        .button("Unfreeze", format!("unfreeze {}", scope_word(scope)), false);
        if !held.is_empty() {
            r = r.with_text(format!(
                "Still locked (a freeze does not end a lock): {}.",
                held.join(", ")
            ));
        }
        Ok(with_unreached(r, unreached))
    }

    /// `unfreeze`.
    pub(crate) async fn unfreeze(
        &self,
        actor: &Actor,
        scope: &Scope,
        envs: Vec<&EnvSettings>,
    ) -> Result<Reply, BatonError> {
        let (answers, unreached) = reached(
            self.freeze_calls(actor, envs, "unfreeze", "", 0, 0, "env")
                .await,
        )?;
        let now = answers.first().map(|a| a.now).unwrap_or_else(wall_clock);
        let changed: Vec<_> = answers.iter().flat_map(|a| a.changed.iter()).collect();
        if changed.is_empty() {
            return Err(BatonError::Refused(format!(
                "{} is not frozen",
                scope_word(scope)
            )));
        }
        let names: Vec<String> = changed.iter().map(|c| c.env.clone()).collect();
        let reasons: Vec<String> = changed
            .iter()
            .filter_map(|c| c.was.as_ref())
            .map(|f| f.reason.clone())
            .filter(|r| !r.is_empty())
            .collect();
        let mut r = Reply::new(
            Tone::Success,
            format!("{} unfroze {}", actor.display, describe(scope, &names)),
            now,
        );
        if let Some(reason) = reasons.first() {
            r = r.text_field("Was frozen for", reason);
        }
        Ok(with_unreached(r, unreached))
    }

    #[allow(clippy::too_many_arguments)]
    async fn freeze_calls(
        &self,
        actor: &Actor,
        envs: Vec<&EnvSettings>,
        mode: &str,
        reason: &str,
        until: u64,
        rel: u64,
        scope: &str,
    ) -> Vec<(Vec<EnvName>, Result<Answer, StoreError>)> {
        let groups = self.catalog.by_group(envs);
        let calls = groups
            .iter()
            .map(|(group, names)| {
                let refs: Vec<_> = names.iter().collect();
                self.store
                    .script(&scripts::FREEZE, group, &refs)
                    .arg(mode)
                    .arg(&actor.id)
                    .arg(&actor.display)
                    .arg(reason)
                    .arg(until)
                    .arg(scope)
                    .arg(rel)
            })
            .collect();
        let outcomes = self.store.eval_each(calls).await;
        groups
            .into_iter()
            .map(|(_, names)| names)
            .zip(outcomes)
            .collect()
    }
}

/// Splits a multi-group change into the answers of the groups it reached and the envs of those it
/// could not, with why. When it reached none, it fails as a whole.
type Unreached = Vec<(Vec<EnvName>, StoreError)>;
fn reached(
    outcomes: Vec<(Vec<EnvName>, Result<Answer, StoreError>)>,
) -> Result<(Vec<Answer>, Unreached), BatonError> {
    let (mut answers, mut unreached) = (Vec::new(), Vec::new());
    for (names, outcome) in outcomes {
        match outcome {
            Ok(a) => answers.push(a),
            Err(e) => unreached.push((names, e)),
        }
    }
    match unreached.first() {
        Some((_, e)) if answers.is_empty() => Err(e.clone().into()),
        _ => Ok((answers, unreached)),
    }
}

/// Says which envs a multi-group change could not reach, and whether they changed, after what
/// the reply already says.
fn with_unreached(r: Reply, unreached: Unreached) -> Reply {
    if unreached.is_empty() {
        return r;
    }
    let mut lines: Vec<String> = r.text.iter().cloned().collect();
    for (names, e) in unreached {
        let names: Vec<&str> = names.iter().map(EnvName::as_str).collect();
        let what = match e {
            StoreError::Unknown => {
                "did not answer in time, so they may or may not have changed; check `status`"
            }
            _ => "could not be reached, so they did not change; try again for them",
        };
        lines.push(format!(
            "Not done for {}: their part of the state store {what} ({e}).",
            names.join(", ")
        ));
    }
    r.with_text(lines.join("\n"))
}

/// The refusal for a hold someone else has.
pub(crate) fn held(
    env: &str,
    kind: HoldKind,
    hold: Option<Hold>,
    queue: usize,
    now: u64,
) -> BatonError {
    match hold {
        Some(hold) => BatonError::Held {
            env: env.into(),
            kind,
            hold: Box::new(hold),
            queue,
            now,
        },
        None => BatonError::Internal,
    }
}

pub(crate) fn unexpected(status: &str) -> BatonError {
    tracing::error!(status, "script answered an unknown status");
    BatonError::Internal
}

fn scope_word(scope: &Scope) -> String {
    match scope {
        Scope::All => "all".into(),
        Scope::Env(e) => e.to_string(),
    }
}

fn describe(scope: &Scope, names: &[String]) -> String {
    match scope {
        Scope::All => format!("all {} envs", names.len()),
        Scope::Env(e) if names.len() == 1 && names[0] == e.as_str() => e.to_string(),
        Scope::Env(e) => format!("{e} ({})", names.join(", ")),
    }
}
