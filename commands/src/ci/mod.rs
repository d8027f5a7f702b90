//! What pipelines do: acquire (optionally waiting in the queue, see [`wait`]), release and extend
//! by token, the deploy gate, and deploy records.
//!
//! Every state-changing request may carry an idempotency key: its script then records its answer
//! under the key (in the same atomic step), so a retry after a lost answer gets the original
//! outcome instead of a guess.

mod wait;

use crate::command::CiCommand;
use crate::config::EnvSettings;
use crate::domain::{Actor, IdempotencyKey, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::hashing::sha256_hex;
use crate::outcomes;
use crate::reply::{Reply, ReplyData, Tone, Value};
use crate::router::Baton;
use crate::state::Hold;
use crate::store::contracts::{DeployAnswer, DeployArgs, ExtendArgs, ExtendTarget, UnlockArgs};
use crate::store::Prepared;

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
                // Boxed: waiting in line makes a deep future, and every front end would inherit it.
                Box::pin(self.acquire(actor, env, request, retry(key))).await
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
    fn retry_safe<A>(
        &self,
        call: Prepared<A>,
        actor: &Actor,
        env: &EnvSettings,
        retry: &Retry,
    ) -> Prepared<A> {
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

    /// Releases the lock `token` was granted.
    pub(crate) async fn release_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
        retry: Retry,
    ) -> Result<Reply, BatonError> {
        let args = UnlockArgs {
            kind: HoldKind::Lock,
            actor: &actor.id,
            display: &actor.display,
            token: Some(token),
            force: false,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let call = self.retry_safe(call, actor, env, &retry);
        let name = env.name.as_str();
        let answer = self.store.call(call).await?;
        let ended = outcomes::ended(name, HoldKind::Lock, answer, |_| String::new())?;
        let mut r = Reply::new(
            Tone::Success,
            format!("{} unlocked {name}", ended.was.display),
            ended.now,
        );
        if let Some(next) = &ended.next {
            r = r.field("Next", Value::Person(next.display.clone()));
        }
        Ok(r.with_data(ReplyData::Released {
            env: name.into(),
            next: ended.next,
        }))
    }

    async fn extend_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
        by: Ttl,
        retry: Retry,
    ) -> Result<Reply, BatonError> {
        let args = ExtendArgs {
            target: ExtendTarget::Lock,
            actor: &actor.id,
            token: Some(token),
            by_ms: by.as_millis(),
            max_lock_ms: env.max_ttl.as_millis() as u64,
            max_claim_ms: env.max_ttl.as_millis() as u64,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let call = self.retry_safe(call, actor, env, &retry);
        let name = env.name.as_str();
        let answer = self.store.call(call).await?;
        let (now, _, hold) = outcomes::extended(name, answer, String::new())?;
        Ok(Reply::new(
            Tone::Success,
            format!("{} extended their lock on {name} by {by}", hold.display),
            now,
        )
        .field("Expires", Value::Time(hold.expires))
        .with_data(ReplyData::Grant {
            env: name.into(),
            kind: "lock".into(),
            hold,
            token: None,
        }))
    }

    async fn gate(&self, env: &EnvSettings, label: Option<String>) -> Result<Reply, BatonError> {
        let (states, now) = self.env_states(vec![env]).await?;
        let state = states.into_iter().next().ok_or(BatonError::Internal)?;
        let name = env.name.as_str();
        if let Some(freeze) = state.freeze {
            return Err(outcomes::frozen(name, freeze, now));
        }
        let mine = |h: &Hold| {
            label
                .as_deref()
                .is_some_and(|l| l == h.display || l == h.holder)
        };
        if let Some(lock) = state.lock.filter(|h| !mine(h)) {
            return Err(outcomes::held(name, lock, state.queue.len(), now));
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
        let args = DeployArgs {
            actor: &actor.id,
            display: &actor.display,
            sha: &sha,
            version: &version,
            url: &url,
            fence,
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let call = self.retry_safe(call, actor, env, &retry);
        let name = env.name.as_str();
        match self.store.call(call).await? {
            DeployAnswer::Ok { now } => {
                let what = if version.is_empty() { sha } else { version };
                Ok(Reply::new(
                    Tone::Success,
                    format!("{} deployed {what} to {name}", actor.display),
                    now,
                ))
            }
            DeployAnswer::StaleFence { lock, .. } => Err(BatonError::StaleFence {
                env: name.into(),
                current: lock.map(|l| l.fence),
            }),
        }
    }
}

/// The reply to a pipeline's grant: the hold and its token.
fn grant(env: &str, hold: Hold, token: String, now: u64) -> Reply {
    Reply::new(Tone::Success, format!("{} locked {env}", hold.display), now)
        .hold_fields(&hold)
        .with_data(ReplyData::Grant {
            env: env.into(),
            kind: "lock".into(),
            hold,
            token: Some(token),
        })
}
