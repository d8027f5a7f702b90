//! What pipelines do: acquire (optionally waiting in the queue, see [`wait`]), release and extend
//! by token, the deploy gate, and deploy records.
//!
//! Every state-changing request may carry an idempotency key: its script then records its answer
//! under the key (in the same atomic step), so a retry after a lost answer gets the original
//! outcome instead of a guess.

mod wait;

use std::time::Duration;

use crate::command::CiCommand;
use crate::config::EnvSettings;
use crate::deploy::{held, unexpected};
use crate::domain::{Actor, IdempotencyKey, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::hashing::sha256_hex;
use crate::reply::{Reply, ReplyData, Tone, Value};
use crate::router::Baton;
use crate::state::{Answer, Hold};
use crate::store::{scripts, Call};

/// What makes a CI request retry-safe: its key, and a fingerprint of what it asked.
type Retry = Option<(IdempotencyKey, String)>;

/// What a request asked, without its key: a key that comes back with a different request is
/// refused rather than answered with the other request's outcome.
fn fingerprint(command: &CiCommand) -> String {
    let mut asked = command.clone();
    if let CiCommand::Acquire { key, .. }
    | CiCommand::Release { key, .. }
    | CiCommand::Extend { key, .. }
    | CiCommand::RecordDeploy { key, .. } = &mut asked
    {
        *key = None;
    }
    sha256_hex(format!("{asked:?}").as_bytes())
}

/// The refusal for an idempotency key reused with a different request, or `None`.
fn reused(a: &Answer) -> Option<BatonError> {
    (a.status == "idempotency_mismatch").then_some(BatonError::IdempotencyKeyReused)
}

impl Baton {
    /// Runs a [`CiCommand`] as `actor` (already authorized by the router).
    pub(crate) async fn ci(
        &self,
        actor: &Actor,
        command: CiCommand,
        admin: bool,
    ) -> Result<Reply, BatonError> {
        let fingerprint = fingerprint(&command);
        let retry = |key: &Option<IdempotencyKey>| key.clone().map(|k| (k, fingerprint.clone()));
        match &command {
            CiCommand::Acquire {
                env,
                ttl,
                reason,
                label,
                wait,
                key,
            } => {
                let env = self.catalog.env(env)?;
                let request = wait::Acquire {
                    ttl: *ttl,
                    reason: reason.clone(),
                    label: label.clone(),
                    wait: *wait,
                    admin,
                };
                self.acquire(actor, env, request, retry(key)).await
            }
            CiCommand::Release { env, token, key } => {
                let env = self.catalog.env(env)?;
                self.release_by_token(actor, env, token, retry(key)).await
            }
            CiCommand::Extend {
                env,
                token,
                by,
                key,
            } => {
                let env = self.catalog.env(env)?;
                self.extend_by_token(actor, env, token, *by, retry(key))
                    .await
            }
            CiCommand::Gate { env, label } => {
                self.gate(self.catalog.env(env)?, label.clone()).await
            }
            CiCommand::RecordDeploy {
                env,
                sha,
                version,
                url,
                fence,
                key,
            } => {
                let env = self.catalog.env(env)?;
                let what = [sha.clone(), version.clone(), url.clone()];
                self.record_deploy(actor, env, what, *fence, retry(key))
                    .await
            }
        }
    }

    /// `call` made retry-safe when the request carried a key: the record lives in the env's slot,
    /// named by who asked and their key.
    fn retry_safe(&self, call: Call, actor: &Actor, env: &EnvSettings, retry: &Retry) -> Call {
        match retry {
            None => call,
            Some((key, fingerprint)) => {
                let group = self.catalog.group_of(env);
                let record =
                    self.store
                        .idempotency_record(group, &env.name, &actor.id, key.as_str());
                call.idempotent(record, fingerprint)
            }
        }
    }

    pub(crate) async fn release_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
        retry: Retry,
    ) -> Result<Reply, BatonError> {
        let call = self
            .store
            .script(&scripts::UNLOCK, self.catalog.group_of(env), &[&env.name])
            .arg("lock")
            .arg(&actor.id)
            .arg(&actor.display)
            .arg(token)
            .arg("0");
        let call = self.retry_safe(call, actor, env, &retry);
        let a: Answer = self.store.eval(call).await?;
        if let Some(e) = reused(&a) {
            return Err(e);
        }
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
        retry: Retry,
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
        let call = self.retry_safe(call, actor, env, &retry);
        let a: Answer = self.store.eval(call).await?;
        if let Some(e) = reused(&a) {
            return Err(e);
        }
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
        retry: Retry,
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
        let call = self.retry_safe(call, actor, env, &retry);
        let a: Answer = self.store.eval(call).await?;
        if let Some(e) = reused(&a) {
            return Err(e);
        }
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
