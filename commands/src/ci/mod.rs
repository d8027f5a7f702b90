//! What pipelines do: acquire (optionally waiting in the queue, see [`wait`]), release and extend
//! by token, the deploy gate, and deploy records.
//!
//! Every state-changing request may carry an idempotency key: its script then records its answer
//! under the key (in the same atomic step), so a retry after a lost answer gets the original
//! outcome instead of a guess.

mod approval;
mod wait;
mod wait_set;

use futures_util::future::BoxFuture;

use crate::ci_api::{
    Acquire, AcquireSet, CiCommand, DeployRecorded, EnvStates, Envs, Extend, ExtendSet, Gate,
    GateOpen, LockExtended, LockGrant, LockReleased, RecordDeploy, Release, ReleaseSet,
    SetExtended, SetGrant, SetReleased,
};
use crate::command::{Command, ReadCommand};
use crate::config::EnvSettings;
use crate::domain::{Actor, IdempotencyKey, Ttl};
use crate::error::{BatonError, HoldKind};
use crate::hashing::sha256_hex;
use crate::outcomes;
use crate::road::CiRequest;
use crate::router::Baton;
use crate::services::Pipelines;
use crate::state::Hold;
use crate::store::contracts::{
    DeployAnswer, DeployArgs, ExtendArgs, ExtendTarget, GateArgs, UnlockArgs,
};
use crate::store::{Prepared, StoreError};

/// What makes a CI request retry-safe: its key, and a fingerprint of what it asked.
type Retry = Option<(IdempotencyKey, String)>;

/// The retry record of a request that carries a key: the key, and a fingerprint of what the
/// request asked without it, so a key that comes back with a different request is refused rather
/// than answered with the other request's outcome. A request without a key costs nothing here.
fn retry_of(key: &Option<IdempotencyKey>, command: impl FnOnce() -> CiCommand) -> Retry {
    key.as_ref()?;
    let mut asked = command();
    let key = asked.key_mut()?.take()?;
    Some((key, sha256_hex(format!("{asked:?}").as_bytes())))
}

impl CiRequest for Acquire {
    type Answer = LockGrant;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::Acquire(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        admin: bool,
    ) -> BoxFuture<'a, Result<LockGrant, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::Acquire(self.clone()));
            let env = baton.catalog().env(&self.env)?;
            let request = wait::Acquire {
                ttl: self.ttl,
                reason: self.reason,
                label: self.label,
                wait: self.wait,
                admin,
            };
            baton.pipelines().acquire(actor, env, request, retry).await
        })
    }
}

impl CiRequest for AcquireSet {
    type Answer = SetGrant;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::AcquireSet(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        admin: bool,
    ) -> BoxFuture<'a, Result<SetGrant, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::AcquireSet(self.clone()));
            baton
                .pipelines()
                .acquire_set(actor, self, retry, admin)
                .await
        })
    }
}

impl CiRequest for ExtendSet {
    type Answer = SetExtended;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::ExtendSet(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<SetExtended, BatonError>> {
        Box::pin(async move {
            let pipelines = baton.pipelines();
            let settings = pipelines.settings(&self.envs)?;
            let (now, locks) = pipelines
                .extend_set_by(&actor.id, Some(&self.token), &settings, self.by)
                .await?;
            Ok(SetExtended {
                locks: locks.into_iter().map(|l| (l.env, l.lock)).collect(),
                by: self.by,
                now,
            })
        })
    }
}

impl CiRequest for ReleaseSet {
    type Answer = SetReleased;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::ReleaseSet(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<SetReleased, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::ReleaseSet(self.clone()));
            baton.pipelines().release_set(actor, self, retry).await
        })
    }
}

impl CiRequest for Release {
    type Answer = LockReleased;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::Release(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<LockReleased, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::Release(self.clone()));
            let env = baton.catalog().env(&self.env)?;
            baton
                .pipelines()
                .release_by_token(actor, env, &self.token, retry)
                .await
        })
    }
}

impl CiRequest for Extend {
    type Answer = LockExtended;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::Extend(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<LockExtended, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::Extend(self.clone()));
            let env = baton.catalog().env(&self.env)?;
            baton
                .pipelines()
                .extend_by_token(actor, env, &self.token, self.by, retry)
                .await
        })
    }
}

impl CiRequest for Gate {
    type Answer = GateOpen;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::Gate(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        _actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<GateOpen, BatonError>> {
        Box::pin(async move {
            baton
                .pipelines()
                .gate(baton.catalog().env(&self.env)?, self.token.as_deref())
                .await
        })
    }
}

impl CiRequest for RecordDeploy {
    type Answer = DeployRecorded;
    fn command(&self) -> Command {
        Command::Ci(CiCommand::RecordDeploy(self.clone()))
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<DeployRecorded, BatonError>> {
        Box::pin(async move {
            let retry = retry_of(&self.key, || CiCommand::RecordDeploy(self.clone()));
            let env = baton.catalog().env(&self.env)?;
            let what = [self.sha, self.version, self.url];
            baton
                .pipelines()
                .record_deploy(actor, env, what, self.fence, retry)
                .await
        })
    }
}

impl CiRequest for Envs {
    type Answer = EnvStates;
    fn command(&self) -> Command {
        Command::Reads(ReadCommand::Status {
            target: self.target.clone(),
        })
    }
    fn answer<'a>(
        self,
        baton: &'a Baton,
        _actor: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<EnvStates, BatonError>> {
        // The CI API answers with the states; its reply offers no buttons.
        Box::pin(async move {
            let anyone = crate::command::Privilege::Anyone;
            baton
                .core
                .status()
                .env_view(self.target.as_ref(), anyone)
                .await
        })
    }
}

impl Pipelines {
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
    ) -> Result<LockReleased, BatonError> {
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
        Ok(LockReleased {
            env: name.into(),
            was: ended.was,
            next: ended.next,
            now: ended.now,
        })
    }

    async fn extend_by_token(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        token: &str,
        by: Ttl,
        retry: Retry,
    ) -> Result<LockExtended, BatonError> {
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
        Ok(LockExtended {
            env: name.into(),
            hold,
            by,
            now,
        })
    }

    /// The gate: open when no freeze is on and the lock is free or `token` is its token. The
    /// comparison happens inside Redis, in the same read as the state.
    async fn gate(&self, env: &EnvSettings, token: Option<&str>) -> Result<GateOpen, BatonError> {
        let args = GateArgs {
            token: token.unwrap_or_default(),
        };
        let call = self
            .store
            .prepare(&args, self.catalog.group_of(env), &[&env.name]);
        let answer = self.store.call(call).await.map_err(StoreError::for_read)?;
        let token_holds = answer.token_holds();
        let (now, states) = answer.into_parts();
        let state = states.into_iter().next().ok_or(BatonError::Internal)?;
        let name = env.name.as_str();
        if let Some(freeze) = state.freeze {
            return Err(outcomes::frozen(name, freeze, now));
        }
        if let Some(lock) = state.lock.filter(|_| !token_holds) {
            return Err(outcomes::held(name, lock, state.queued, now, None));
        }
        Ok(GateOpen {
            env: env.name.clone(),
            now,
        })
    }

    async fn record_deploy(
        &self,
        actor: &Actor,
        env: &EnvSettings,
        [sha, version, url]: [String; 3],
        fence: Option<u64>,
        retry: Retry,
    ) -> Result<DeployRecorded, BatonError> {
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
                Ok(DeployRecorded {
                    env: env.name.clone(),
                    by: actor.display.clone(),
                    what,
                    now,
                })
            }
            DeployAnswer::StaleFence { lock, .. } => Err(BatonError::StaleFence {
                env: name.into(),
                current: lock.map(|l| l.fence),
            }),
        }
    }
}

/// A pipeline's grant: the hold and its token.
fn grant(env: &str, hold: Hold, token: String, now: u64) -> LockGrant {
    LockGrant {
        env: env.into(),
        hold,
        token,
        now,
    }
}

impl Pipelines {
    /// Takes a set for a pipeline: its own holder (`ci:<token>#<ticket>`, from the retry key when
    /// there is one, so a retry is the same holder) and one token for every env of it.
    async fn acquire_set(
        &self,
        actor: &Actor,
        request: AcquireSet,
        retry: Retry,
        admin: bool,
    ) -> Result<SetGrant, BatonError> {
        let (settings, ttl) = self.set_ttl(&request.envs, request.ttl)?;
        let holder = format!("{}#{}", actor.id, wait::ticket_id(actor, &retry));
        let display = if request.label.is_empty() {
            actor.id.clone()
        } else {
            request.label
        };
        let token = crate::domain::new_token();
        let retry = retry.map(|(key, fingerprint)| (key.as_str().to_string(), fingerprint));
        let (now, token, locks) = match request.wait.filter(|w| !w.is_zero()) {
            Some(wait) => {
                let ticket = wait_set::SetTicket {
                    envs: settings.into_iter().cloned().collect(),
                    holder,
                    display,
                    reason: request.reason,
                    ttl,
                    token,
                    admin,
                    retry,
                    caller: actor.id.clone(),
                };
                self.wait_for_set(ticket, wait).await?
            }
            None => {
                let who = crate::sets::SetHolder {
                    caller: &actor.id,
                    holder: &holder,
                    display: &display,
                    token: &token,
                };
                self.take_set(who, &settings, ttl, &request.reason, admin, retry)
                    .await?
            }
        };
        Ok(SetGrant {
            locks: locks.into_iter().map(|l| (l.env, l.lock)).collect(),
            token,
            now,
        })
    }

    /// Gives back a pipeline's set by its token: every env, or none.
    async fn release_set(
        &self,
        actor: &Actor,
        request: ReleaseSet,
        retry: Retry,
    ) -> Result<SetReleased, BatonError> {
        let retry = retry.map(|(key, fingerprint)| (key.as_str().to_string(), fingerprint));
        let settings = self.settings(&request.envs)?;
        let (now, released) = self
            .give_back_set(&actor.id, &actor.id, Some(&request.token), &settings, retry)
            .await?;
        Ok(SetReleased {
            released: released.into_iter().map(|r| (r.env, r.next)).collect(),
            now,
        })
    }
}
