//! What pipelines do: acquire (optionally waiting in the queue), release and extend by token, the
//! deploy gate, and deploy records. A waiting request is woken through the event bus the moment
//! the lock is handed to it on any instance; a slow poll only covers lost messages.

use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::bus::BusMessage;
use crate::command::CiCommand;
use crate::config::EnvSettings;
use crate::deploy::{held, unexpected};
use crate::domain::{Actor, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::reply::{Reply, ReplyData, Tone, Value};
use crate::router::{new_token, Baton};
use crate::state::{Answer, Hold};
use crate::store::scripts;

/// How often a waiter re-reads state when no event has woken it.
const POLL: Duration = Duration::from_secs(2);

impl Baton {
    /// Runs a [`CiCommand`] as `actor` (already authorized by the router).
    pub(crate) async fn ci(
        &self,
        actor: &Actor,
        command: CiCommand,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        match command {
            CiCommand::Acquire {
                env,
                ttl,
                reason,
                label,
                wait,
            } => {
                let env = self.catalog.env(&env)?;
                self.acquire(actor, env, ttl, reason, label, wait, admin)
                    .await
            }
            CiCommand::Release { env, token } => {
                let env = self.catalog.env(&env)?;
                self.release_by_token(actor, env, &token).await
            }
            CiCommand::Extend { env, token, by } => {
                let env = self.catalog.env(&env)?;
                self.extend_by_token(actor, env, &token, by).await
            }
            CiCommand::Gate { env, label } => self.gate(self.catalog.env(&env)?, label).await,
            CiCommand::RecordDeploy {
                env,
                sha,
                version,
                url,
                fence,
            } => {
                let env = self.catalog.env(&env)?;
                self.record_deploy(actor, env, [sha, version, url], fence)
                    .await
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn acquire(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        ttl: Option<Ttl>,
        reason: String,
        label: String,
        wait: Option<Duration>,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let ttl = self.ttl_for(env.name.as_str(), ttl, env.default_ttl, env.max_ttl)?;
        let holder = format!("{}#{:08x}", actor.id, rand::random::<u32>());
        let display = if label.is_empty() {
            actor.id.clone()
        } else {
            label
        };
        let token = new_token();
        let wait = wait.filter(|w| !w.is_zero());
        // Listen before queuing, so the hand-off event cannot slip by in between.
        let mut events = wait.map(|_| self.events().subscribe());
        let call = self
            .store
            .script(&scripts::LOCK, self.catalog.group_of(env), &[&env.name])
            .arg(&holder)
            .arg(&display)
            .arg(&reason)
            .arg(ttl.as_millis())
            .arg(&token)
            .arg(if admin { "1" } else { "0" })
            .arg(if wait.is_some() { "wait" } else { "lock" })
            .arg(self.queue_limit)
            .arg(wait.map_or(0, |w| w.as_millis() as u64));
        let a: Answer = self.store.eval_acquire(call).await?;
        let name = env.name.as_str();
        match (a.status.as_str(), wait, events.as_mut()) {
            ("ok", ..) => grant(name, a.lock.ok_or(BatonError::Internal)?, token, a.now),
            ("queued", Some(wait), Some(events)) => {
                // If the caller goes away mid-wait (disconnect, timeout), leave the queue, or give
                // back a lock that arrived too late: a cancelled pipeline must not hold it.
                let guard = AbandonGuard {
                    baton: self.clone(),
                    env: env.clone(),
                    actor: actor.clone(),
                    holder: holder.clone(),
                    token: token.clone(),
                    armed: true,
                };
                let deadline = Instant::now() + wait;
                metrics::gauge!("baton_ci_waiters").increment(1.0);
                let waited = tokio::select! {
                    w = self.await_hand_off(env, &holder, deadline, events) => w,
                    _ = self.closing() => Err(BatonError::ShuttingDown),
                };
                metrics::gauge!("baton_ci_waiters").decrement(1.0);
                let outcome = match waited {
                    Ok(Some(hold)) => grant(name, hold, token, crate::router::wall_clock()),
                    Ok(None) => self.give_up_waiting(env, &holder, token).await,
                    Err(e) => Err(e), // the guard leaves the queue (or returns a late grant)
                };
                if !matches!(
                    outcome,
                    Err(BatonError::ShuttingDown) | Err(BatonError::StoreUnavailable)
                ) {
                    guard.disarm();
                }
                outcome
            }
            ("locked", ..) => Err(held(name, HoldKind::Lock, a.lock, a.queue.len(), a.now)),
            ("frozen", ..) => Err(BatonError::Frozen {
                env: name.into(),
                freeze: Box::new(a.freeze.ok_or(BatonError::Internal)?),
                now: a.now,
            }),
            ("queue_full", ..) => Err(BatonError::Refused(format!(
                "the queue for {name} is full ({} waiting); try again later",
                a.limit.unwrap_or(self.queue_limit)
            ))),
            (other, ..) => Err(unexpected(other)),
        }
    }

    /// Waits until the lock is handed to `holder`, or the deadline passes (`None`).
    async fn await_hand_off(
        &self,
        env: &EnvSettings,
        holder: &str,
        deadline: Instant,
        events: &mut tokio::sync::broadcast::Receiver<BusMessage>,
    ) -> Result<Option<Hold>, BatonError> {
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let look = match tokio::time::timeout((deadline - now).min(POLL), events.recv()).await {
                Ok(Ok(BusMessage::Event(e))) => {
                    e.env == env.name.as_str() && e.holder.as_deref() == Some(holder)
                }
                Ok(Ok(BusMessage::Resync)) | Ok(Err(RecvError::Lagged(_))) | Err(_) => true,
                Ok(Err(RecvError::Closed)) => {
                    tokio::time::sleep((deadline - now).min(POLL)).await;
                    true
                }
            };
            if look {
                if let Some(hold) = self.current_lock(env).await?.filter(|h| h.holder == holder) {
                    return Ok(Some(hold));
                }
            }
        }
    }

    /// The wait ran out: leave the queue, unless the lock arrived at the last moment.
    async fn give_up_waiting(
        &self,
        env: &EnvSettings,
        holder: &str,
        token: String,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::LEAVE, self.catalog.group_of(env), &[&env.name])
            .arg(holder);
        let left: Answer = self.store.eval(call).await?;
        let (states, now) = self.env_states(vec![env]).await?;
        let state = states.into_iter().next().ok_or(BatonError::Internal)?;
        match state.lock {
            Some(hold) if left.status == "not_queued" && hold.holder == holder => {
                grant(env.name.as_str(), hold, token, now)
            }
            Some(hold) => Err(held(
                env.name.as_str(),
                HoldKind::Lock,
                Some(hold),
                state.queue.len(),
                now,
            )),
            None => match state.freeze {
                Some(freeze) => Err(BatonError::Frozen {
                    env: env.name.to_string(),
                    freeze: Box::new(freeze),
                    now,
                }),
                None => Err(BatonError::Refused(format!(
                    "the wait for {} ran out; try again",
                    env.name
                ))),
            },
        }
    }

    async fn current_lock(&self, env: &EnvSettings) -> Result<Option<Hold>, BatonError> {
        let (states, _) = self.env_states(vec![env]).await?;
        Ok(states.into_iter().next().and_then(|s| s.lock))
    }

    async fn release_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::UNLOCK, self.catalog.group_of(env), &[&env.name])
            .arg("lock")
            .arg(&actor.id)
            .arg(&actor.display)
            .arg(token)
            .arg("0");
        let a: Answer = self.store.eval(call).await?;
        let name = env.name.as_str();
        match a.status.as_str() {
            "ok" => {
                let was = a.held.ok_or(BatonError::Internal)?;
                let mut r = Reply::new(
                    Tone::Success,
                    format!("{} unlocked {name}", was.display),
                    a.now,
                );
                if let Some(next) = &a.next {
                    r = r.field("Next", Value::Person(next.display.clone()));
                }
                Ok(r.with_data(ReplyData::Released {
                    env: name.into(),
                    next: a.next,
                }))
            }
            "not_held" => Err(BatonError::NotHeld {
                env: name.into(),
                kind: HoldKind::Lock,
                hint: String::new(),
            }),
            "not_holder" => Err(BatonError::NotHolder {
                env: name.into(),
                kind: HoldKind::Lock,
                hold: Box::new(a.held.ok_or(BatonError::Internal)?),
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn extend_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
        by: Ttl,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::EXTEND, self.catalog.group_of(env), &[&env.name])
            .arg("lock")
            .arg(&actor.id)
            .arg(token)
            .arg(by.as_millis())
            .arg(env.max_ttl.as_millis())
            .arg(env.max_ttl.as_millis());
        let a: Answer = self.store.eval(call).await?;
        let name = env.name.as_str();
        match a.status.as_str() {
            "ok" => {
                let hold = a.held.ok_or(BatonError::Internal)?;
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} extended their lock on {name} by {by}", hold.display),
                    a.now,
                )
                .field("Expires", Value::Time(hold.expires))
                .with_data(ReplyData::Grant {
                    env: name.into(),
                    kind: "lock".into(),
                    hold,
                    token: None,
                }))
            }
            "too_long" => Err(BatonError::Usage {
                message: format!(
                    "{name} cannot be held that long; the most it may be extended by now is {}",
                    crate::domain::human_duration(Duration::from_millis(a.room.unwrap_or(0)))
                ),
                usage: None,
            }),
            "not_holder" => Err(BatonError::NotHolder {
                env: name.into(),
                kind: HoldKind::Lock,
                hold: Box::new(a.held.ok_or(BatonError::Internal)?),
            }),
            "not_held" => Err(BatonError::NotHeld {
                env: name.into(),
                kind: HoldKind::Lock,
                hint: String::new(),
            }),
            other => Err(unexpected(other)),
        }
    }

    async fn gate(&self, env: &EnvSettings, label: Option<String>) -> Result<Reply, BatonError> {
        let (states, now) = self.env_states(vec![env]).await?;
        let state = states.into_iter().next().ok_or(BatonError::Internal)?;
        let name = env.name.as_str();
        if let Some(freeze) = state.freeze {
            return Err(BatonError::Frozen {
                env: name.into(),
                freeze: Box::new(freeze),
                now,
            });
        }
        let mine = |h: &Hold| {
            label
                .as_deref()
                .is_some_and(|l| l == h.display || l == h.holder)
        };
        if let Some(lock) = state.lock.filter(|h| !mine(h)) {
            return Err(held(
                name,
                HoldKind::Lock,
                Some(lock),
                state.queue.len(),
                now,
            ));
        }
        Ok(
            Reply::new(Tone::Info, format!("{name} is clear to deploy"), now).with_data(
                ReplyData::Gate {
                    env: name.into(),
                    allowed: true,
                },
            ),
        )
    }

    async fn record_deploy(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        [sha, version, url]: [String; 3],
        fence: Option<u64>,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::DEPLOY, self.catalog.group_of(env), &[&env.name])
            .arg(&actor.id)
            .arg(&actor.display)
            .arg(&sha)
            .arg(&version)
            .arg(&url)
            .arg(fence.map(|f| f.to_string()).unwrap_or_default());
        let a: Answer = self.store.eval(call).await?;
        let name = env.name.as_str();
        match a.status.as_str() {
            "ok" => {
                let what = if version.is_empty() { sha } else { version };
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} deployed {what} to {name}", actor.display),
                    a.now,
                ))
            }
            "stale_fence" => Err(BatonError::StaleFence {
                env: name.into(),
                current: a.lock.map(|l| l.fence),
            }),
            other => Err(unexpected(other)),
        }
    }
}

/// Cleans up after a waiting request that was dropped before it answered.
struct AbandonGuard {
    baton: Baton,
    env: EnvSettings,
    actor: Actor,
    holder: String,
    token: String,
    armed: bool,
}

impl AbandonGuard {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (baton, env, actor) = (self.baton.clone(), self.env.clone(), self.actor.clone());
        let (holder, token) = (self.holder.clone(), self.token.clone());
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            tracing::info!(env = %env.name, holder, "waiting caller went away; leaving the queue");
            let call = baton
                .store
                .script(&scripts::LEAVE, baton.catalog.group_of(&env), &[&env.name])
                .arg(&holder);
            let left: Result<Answer, _> = baton.store.eval(call).await;
            if left.is_ok_and(|a| a.status == "not_queued") {
                // Granted in the meantime: release it by its token (a no-op if it is not ours).
                let _ = baton.release_by_token(&actor, &env, &token).await;
            }
        });
    }
}

fn grant(env: &str, hold: Hold, token: String, now: u64) -> Result<Reply, BatonError> {
    Ok(
        Reply::new(Tone::Success, format!("{} locked {env}", hold.display), now)
            .hold_fields(&hold)
            .with_data(ReplyData::Grant {
                env: env.into(),
                kind: "lock".into(),
                hold,
                token: Some(token),
            }),
    )
}
