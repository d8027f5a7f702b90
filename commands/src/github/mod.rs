//! GitHub deployments wait in Baton's queue: Baton as a custom deployment protection rule.
//!
//! A `deployment_protection_rule` webhook for a mapped (repository, GitHub environment) makes the
//! run a holder of its own (`github:<owner/repo>#<run id>`) in the Baton env's queue, through the
//! same lock script as every other lock (one round trip, fence, history, event). It is a plain
//! queue entry with a wait limit, not a leased one: no request stays open while it waits.
//!
//! GitHub hears the outcome from the env's audit stream ([`callbacks`]): a grant of a GitHub
//! holder (`locked` or `handed_off`, on any instance) becomes `approved`, a GitHub waiter whose
//! wait ran out `rejected`, each through a consumer group of its own, so exactly one instance
//! answers and another takes over if it dies first. Refusals at request time (frozen in reject
//! mode, a full queue) are recorded by the lock script in the same step and answered the same way.
//!
//! The run lets go when GitHub reports the deployment finished (`deployment_status` with a final
//! state, `workflow_run` completed) and in any case when its hold (`[github] hold`) runs out.

pub mod callbacks;
mod decide;

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::config::{GithubConfig, OnFreeze};
use crate::delivery::DeliveryError;
use crate::domain::{new_token, EnvName};
use crate::error::{BatonError, HoldKind};
use crate::router::Baton;
use crate::services::Core;
use crate::store::contracts::{
    LeaveAnswer, LeaveArgs, LockAnswer, LockArgs, LockMode, UnlockAnswer, UnlockArgs,
};
use crate::store::github::RunRecord;

/// Answers a run's deployment protection rule on GitHub (the App's installation token).
pub trait Reviews: Send + Sync + 'static {
    /// Posts `approved` or `rejected` with `comment` to the run's callback.
    fn review<'a>(
        &'a self,
        run: &'a RunRecord,
        approved: bool,
        comment: &'a str,
    ) -> BoxFuture<'a, Result<(), DeliveryError>>;
}

/// A `deployment_protection_rule` (requested), as the webhook carried it.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// `owner/repo`.
    pub repo: String,
    /// The GitHub environment.
    pub environment: String,
    /// The workflow run's id (from the callback URL).
    pub run_id: u64,
    /// How to show the run: `owner/repo · deploy.yml #12 by alice`.
    pub display: String,
    /// The App's installation.
    pub installation: u64,
    /// The callback's path under the API base.
    pub callback: String,
    /// The deployment GitHub made for the run.
    pub deployment: u64,
}

/// What became of a requested run.
#[derive(Debug, PartialEq, Eq)]
pub enum Requested {
    /// No rule maps the repository and environment: not Baton's to answer.
    Unmapped,
    /// It holds the env now (`approved` follows from the audit stream).
    Granted {
        /// The fence of its lock.
        fence: u64,
    },
    /// It waits in line at `position`.
    Queued {
        /// 1 is next.
        position: usize,
    },
    /// It held or waited already (GitHub asked again).
    Already,
    /// Refused (frozen in reject mode, a full line), recorded in the env's history in the same
    /// step: the callbacks answer `rejected` from there.
    Refused,
}

/// The GitHub App's side of the core.
#[derive(Clone)]
pub struct GitHub {
    core: Core,
    config: Arc<GithubConfig>,
}

/// The holder identity of a run.
pub fn holder(repo: &str, run_id: u64) -> String {
    format!("github:{repo}#{run_id}")
}

impl GitHub {
    /// The App over `baton`'s envs.
    pub fn new(baton: &Baton, config: &GithubConfig) -> Self {
        Self {
            core: baton.core.clone(),
            config: Arc::new(config.clone()),
        }
    }

    /// Whether a rule maps `run`'s repository and GitHub environment to a Baton env.
    pub fn rule(&self, run: &RunRequest) -> Option<&crate::config::GithubRule> {
        self.config.rule(&run.repo, &run.environment)
    }

    /// Marks webhook delivery `id` handled; false for a replay.
    pub async fn first_delivery(&self, id: &str) -> Result<bool, BatonError> {
        Ok(self.core.store.github_first_delivery(id).await?)
    }

    /// Forgets delivery `id` after its handling failed, so that GitHub's redelivery is handled.
    pub async fn forget_delivery(&self, id: &str) {
        if let Err(e) = self.core.store.github_forget_delivery(id).await {
            tracing::warn!(error = %e, "could not forget a failed GitHub delivery; its redelivery will read as a replay");
        }
    }

    /// Puts a requested run in its env's line (or refuses it).
    pub async fn requested(&self, run: &RunRequest) -> Result<Requested, BatonError> {
        let Some(rule) = self.config.rule(&run.repo, &run.environment) else {
            return Ok(Requested::Unmapped);
        };
        let env = self.core.catalog.env(&rule.env)?.clone();
        let holder = holder(&run.repo, run.run_id);
        let wait = rule.wait_limit.unwrap_or(self.config.wait_limit);
        let record = RunRecord {
            installation: run.installation,
            callback: run.callback.clone(),
            environment: run.environment.clone(),
            deployment: run.deployment,
        };
        let keep = wait + self.config.hold + Duration::from_secs(86400);
        self.core
            .store
            .github_save_run(&holder, env.name.as_str(), &record, keep)
            .await?;
        let (token, reason) = (
            new_token(),
            format!("GitHub deployment to {}", run.environment),
        );
        let args = LockArgs {
            holder: &holder,
            display: &run.display,
            reason: &reason,
            ttl_ms: self.config.hold.as_millis() as u64,
            token: &token,
            admin: false,
            mode: match rule.on_freeze {
                OnFreeze::Reject => LockMode::Wait,
                OnFreeze::Wait => LockMode::Queue,
            },
            queue_limit: self.core.queue_limit,
            wait_ms: wait.as_millis() as u64,
            lease_ms: 0,
            // GitHub hears a refusal from the audit stream, like a grant: exactly once.
            record_refusal: true,
        };
        let call = self
            .core
            .store
            .prepare(&args, self.core.catalog.group_of(&env), &[&env.name]);
        answer(self.core.store.call_acquire(call).await?)
    }

    /// Lets go of the run deployment `id` was made for, in that deployment's environment.
    pub async fn deployment_finished(&self, id: u64) -> Result<usize, BatonError> {
        let Some(holder) = self.core.store.github_deployment_holder(id).await? else {
            return Ok(0);
        };
        let mut ended = 0;
        for (env, record) in self.core.store.github_run(&holder).await? {
            if record.deployment == id {
                ended += self.end(&holder, &env).await?;
            }
        }
        Ok(ended)
    }

    /// Lets go of a finished run: its lock is released (the next in line gets it) or its place
    /// in line given up. `environment` limits it to that GitHub environment's env.
    pub async fn finished(
        &self,
        repo: &str,
        run_id: u64,
        environment: Option<&str>,
    ) -> Result<usize, BatonError> {
        let holder = holder(repo, run_id);
        let mut ended = 0;
        for (env, record) in self.core.store.github_run(&holder).await? {
            if environment.is_none_or(|e| e == record.environment) {
                ended += self.end(&holder, &env).await?;
            }
        }
        Ok(ended)
    }

    /// Releases `holder`'s lock on `env`, or takes it out of the line: 1 if either happened.
    async fn end(&self, holder: &str, env: &str) -> Result<usize, BatonError> {
        let Ok(name) = EnvName::parse(env) else {
            return Ok(0);
        };
        let env = self.core.catalog.env(&name)?;
        let group = self.core.catalog.group_of(env);
        let unlock = UnlockArgs {
            kind: HoldKind::Lock,
            actor: holder,
            display: "GitHub (the deployment finished)",
            token: None,
            force: false,
        };
        let call = self.core.store.prepare(&unlock, group, &[&env.name]);
        if let UnlockAnswer::Ok { .. } = self.core.store.call(call).await? {
            return Ok(1);
        }
        let call = self.core.store.prepare(
            &LeaveArgs {
                holder,
                decided: None,
                token: None,
            },
            group,
            &[&env.name],
        );
        Ok(match self.core.store.call(call).await? {
            LeaveAnswer::Ok { .. } => 1,
            LeaveAnswer::NotQueued {} => 0,
        })
    }
}

/// What the lock script's answer means for a run.
fn answer(answer: LockAnswer) -> Result<Requested, BatonError> {
    Ok(match answer {
        LockAnswer::Ok { lock, .. } => Requested::Granted { fence: lock.fence },
        LockAnswer::Queued { position, .. } => Requested::Queued { position },
        LockAnswer::Already { .. } | LockAnswer::AlreadyQueued { .. } => Requested::Already,
        // The script recorded the refusal with the request: GitHub hears it from the audit
        // stream, exactly once, like a grant (callbacks.rs words it).
        LockAnswer::Frozen { .. } | LockAnswer::QueueFull { .. } => Requested::Refused,
        // A run is always a queue entry (mode `queue` or `wait`), and those never answer
        // `locked`; its calls carry no idempotency key, so none is a replay that `ended`: a
        // contract broken, reported as such.
        LockAnswer::Locked { .. } | LockAnswer::Ended { .. } => {
            tracing::error!("lock.lua answered `locked` to a queue entry");
            return Err(BatonError::Internal);
        }
    })
}
