//! GitHub deployments wait in Baton's queue: Baton as a custom deployment protection rule.
//!
//! A `deployment_protection_rule` webhook for a mapped (repository, GitHub environment) becomes a
//! typed request ([`RunAsk`]) on the core's one road, like a chat command or a CI request: the
//! privilege is checked once (a protected env needs the App's identity in the deployer role, see
//! [`actor`]), one log line is written and the metrics counted (`github run`). Let in, the run
//! is a holder of its own (`github:<owner/repo>#<run id>`) in the Baton env's queue, through the
//! same lock script as every other lock (one round trip, fence, history, event). It is a plain
//! queue entry with a wait limit, not a leased one: no request stays open while it waits.
//!
//! Each deployment is let in once per env: the lock step keeps the env's ledger of the
//! deployments that asked (in the env's slot, in the same call), so a signed request replayed
//! under a new delivery id after its run finished, was released or was rejected changes nothing;
//! a deployment older than GitHub ever waits ([`GITHUB_WAITS`]) is refused as stale. See
//! docs/github.md, "Replays".
//!
//! GitHub hears the outcome from the env's audit stream ([`callbacks`]): a grant of a GitHub
//! holder (`locked` or `handed_off`, on any instance) becomes `approved`, a GitHub waiter whose
//! wait ran out `rejected`, each through a consumer group of its own, so exactly one instance
//! answers and another takes over if it dies first. Refusals at request time (frozen in reject
//! mode, a full queue) are recorded by the lock script in the same step and answered the same way.
//! A run refused for want of the privilege writes nothing: it is rejected on GitHub directly.
//!
//! The run lets go when GitHub reports the deployment finished (`deployment_status` with a final
//! state, `workflow_run` completed) and in any case when its hold (`[github] hold`) runs out.

pub mod callbacks;
mod decide;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use crate::command::{Command, LockCommand};
use crate::config::{GithubConfig, OnFreeze};
use crate::delivery::DeliveryError;
use crate::domain::{new_token, wall_clock, Actor, EnvName};
use crate::error::{BatonError, HoldKind};
use crate::notify::deliver::RetryPolicy;
use crate::outcomes::{self, Acquired};
use crate::reply::{Reply, Tone};
use crate::road::{CiRequest, Render};
use crate::router::Baton;
use crate::services::Core;
use crate::store::contracts::{
    LeaveAnswer, LeaveArgs, LockArgs, LockMode, RunLockAnswer, RunLockArgs, Seen, UnlockAnswer,
    UnlockArgs,
};
pub use crate::store::github::DeliveryId;
use crate::store::github::RunRecord;

/// The longest GitHub waits for a protection rule's answer: a deployment older than this is
/// never let in (a replay of a request long answered), and the env's ledger remembers each
/// deployment that long and a day more.
pub const GITHUB_WAITS: Duration = Duration::from_secs(30 * 24 * 3600);

/// The App's identity in `[roles]`: every repository the App serves. `github:<owner/repo>`
/// names one repository.
pub use crate::config::GITHUB_APP as APP;

/// Who asks for a run of `repo`: `github:<owner/repo>`, carrying [`APP`], so `[roles]` may name
/// the App (every repository) or one repository.
pub fn actor(repo: &str) -> Actor {
    Actor {
        id: format!("github:{repo}"),
        display: repo.to_string(),
        groups: vec![APP.to_string()],
    }
}

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
    /// When GitHub created the deployment (Unix ms, from the signed payload).
    pub created_ms: u64,
}

impl RunRequest {
    /// Where and how to answer it.
    fn record(&self) -> RunRecord {
        RunRecord {
            installation: self.installation,
            callback: self.callback.clone(),
            environment: self.environment.clone(),
            deployment: self.deployment,
        }
    }
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
    /// Its env needs approval (the two-person rule): it waits for approvers first.
    PendingApproval,
    /// It held or waited already (GitHub asked again).
    Already,
    /// Refused (frozen in reject mode, a full line), recorded in the env's history in the same
    /// step: the callbacks answer `rejected` from there.
    Refused,
    /// Its deployment asked here before and is gone (finished, released, rejected, expired): a
    /// replayed request. Nothing was written and GitHub hears nothing.
    Replayed,
    /// Its deployment is older than GitHub ever waits ([`GITHUB_WAITS`]): a replay of a request
    /// long answered. Nothing was written.
    Stale,
}

impl Requested {
    /// The word the webhook answers with.
    pub fn as_str(&self) -> &'static str {
        match self {
            Requested::Unmapped => "unmapped",
            Requested::Granted { .. } => "granted",
            Requested::Queued { .. } => "queued",
            Requested::PendingApproval => "pending_approval",
            Requested::Already => "already",
            Requested::Refused => "rejected",
            Requested::Replayed => "replayed",
            Requested::Stale => "stale",
        }
    }
}

impl Render for Requested {
    fn reply(&self) -> Reply {
        Reply::new(
            Tone::Info,
            format!("GitHub run: {}", self.as_str()),
            wall_clock(),
        )
    }
}

/// A mapped run asking for its env, as the road runs it: the rule already resolved.
pub struct RunAsk {
    run: RunRequest,
    env: EnvName,
    on_freeze: OnFreeze,
    wait: Duration,
    hold: Duration,
}

impl RunAsk {
    fn reason(&self) -> String {
        format!("GitHub deployment to {}", self.run.environment)
    }
}

impl CiRequest for RunAsk {
    type Answer = Requested;

    /// A run waits in line for its env: taking a protected one needs a deployer.
    fn command(&self) -> Command {
        Command::Locks(LockCommand::Queue {
            env: self.env.clone(),
            ttl: None,
            reason: self.reason(),
        })
    }

    fn answer<'a>(
        self,
        baton: &'a Baton,
        _: &'a Actor,
        _admin: bool,
    ) -> BoxFuture<'a, Result<Requested, BatonError>> {
        // A run never takes an env over a freeze, whatever the App's role: `on_freeze` decides.
        Box::pin(async move { admit(&baton.core, &self).await })
    }
}

/// The GitHub App's side of the core.
#[derive(Clone)]
pub struct GitHub {
    baton: Baton,
    core: Core,
    config: Arc<GithubConfig>,
    reviews: Arc<dyn Reviews>,
}

/// The holder identity of a run.
pub fn holder(repo: &str, run_id: u64) -> String {
    format!("github:{repo}#{run_id}")
}

impl GitHub {
    /// The App over `baton`'s envs; `reviews` rejects a run refused before it was let in.
    pub fn new(baton: &Baton, config: &GithubConfig, reviews: Arc<dyn Reviews>) -> Self {
        Self {
            baton: baton.clone(),
            core: baton.core.clone(),
            config: Arc::new(config.clone()),
            reviews,
        }
    }

    /// Whether a rule maps `run`'s repository and GitHub environment to a Baton env.
    pub fn rule(&self, run: &RunRequest) -> Option<&crate::config::GithubRule> {
        self.config.rule(&run.repo, &run.environment)
    }

    /// Marks webhook delivery `id` handled; false for a replay.
    pub async fn first_delivery(&self, id: &DeliveryId) -> Result<bool, BatonError> {
        Ok(self.core.store.github_first_delivery(id).await?)
    }

    /// Forgets delivery `id` after its handling failed, so that GitHub's redelivery is handled.
    pub async fn forget_delivery(&self, id: &DeliveryId) {
        if let Err(e) = self.core.store.github_forget_delivery(id).await {
            tracing::warn!(error = %e, "could not forget a failed GitHub delivery; its redelivery will read as a replay");
        }
    }

    /// Puts a requested run in its env's line (or refuses it), through the core's road as
    /// [`actor`]`(repo)`. A run refused for want of the privilege is rejected on GitHub at once
    /// (nothing is written in Redis); the error says why.
    pub async fn requested(&self, run: RunRequest) -> Result<Requested, BatonError> {
        let Some(rule) = self.rule(&run) else {
            return Ok(Requested::Unmapped);
        };
        let ask = RunAsk {
            env: rule.env.clone(),
            on_freeze: rule.on_freeze,
            wait: rule.wait_limit.unwrap_or(self.config.wait_limit),
            hold: self.config.hold,
            run: run.clone(),
        };
        let outcome = self.baton.run_github(actor(&run.repo), ask).await;
        if let Err(BatonError::Forbidden(why)) = &outcome.result {
            self.reject_now(&run, format!("Baton: {why}"));
        }
        outcome.result
    }

    /// Rejects `run` on GitHub now, on a task of its own (retried like every answer).
    fn reject_now(&self, run: &RunRequest, comment: String) {
        let (reviews, record) = (self.reviews.clone(), run.record());
        tokio::spawn(async move {
            let retry = RetryPolicy::default();
            let deadline = Instant::now() + retry.give_up_after;
            callbacks::send(&reviews, &record, false, &comment, &retry, deadline).await;
        });
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
            LeaveAnswer::NotQueued {} | LeaveAnswer::InSet { .. } => 0,
        })
    }
}

/// Lets `ask`'s run in (already authorized): its callback is remembered, then one call of the
/// lock step with its deployment, which the env's ledger lets in once.
async fn admit(core: &Core, ask: &RunAsk) -> Result<Requested, BatonError> {
    let run = &ask.run;
    let env = core.catalog.env(&ask.env)?.clone();
    let group = core.catalog.group_of(&env);
    let holder = holder(&run.repo, run.run_id);
    let keep = ask.wait + ask.hold + Duration::from_secs(86400);
    core.store
        .github_save_run(&holder, env.name.as_str(), &run.record(), keep)
        .await?;
    let (token, reason) = (new_token(), ask.reason());
    if env.approvals > 0 {
        return ask_approval(core, &env, ask, &holder, &token, &reason).await;
    }
    let args = RunLockArgs {
        lock: LockArgs {
            holder: &holder,
            display: &run.display,
            reason: &reason,
            ttl_ms: ask.hold.as_millis() as u64,
            token: &token,
            admin: false,
            mode: match ask.on_freeze {
                OnFreeze::Reject => LockMode::Wait,
                OnFreeze::Wait => LockMode::Queue,
            },
            queue_limit: core.queue_limit,
            wait_ms: ask.wait.as_millis() as u64,
            lease_ms: 0,
            // GitHub hears a refusal from the audit stream, like a grant: exactly once.
            record_refusal: true,
        },
        deployment: run.deployment,
        created_ms: run.created_ms,
        max_age_ms: GITHUB_WAITS.as_millis() as u64,
        ledger: core.store.keys().github_ledger(group, &env.name),
    };
    let call = core.store.prepare(&args, group, &[&env.name]);
    answer(env.name.as_str(), core.store.call_acquire(call).await?)
}

/// A run on an env that needs approval: a pending request like anyone's (announced with Approve
/// and Reject), which lines up once approved; GitHub hears the grant or the rejection from the
/// audit stream, as for every run. A frozen env refuses it at once (recorded, so GitHub hears it).
async fn ask_approval(
    core: &Core,
    env: &crate::config::EnvSettings,
    ask: &RunAsk,
    holder: &str,
    token: &str,
    reason: &str,
) -> Result<Requested, BatonError> {
    let id = crate::approvals::request_id();
    let args = crate::store::contracts::ApprovalArgs::Ask {
        holder,
        display: &ask.run.display,
        reason,
        ttl_ms: ask.hold.as_millis() as u64,
        token,
        id: &id,
        timeout_ms: env.approval_timeout.as_millis() as u64,
        needed: env.approvals,
        mode: "run",
        lease_ms: 0,
        wait_ms: ask.wait.as_millis() as u64,
        queue_limit: core.queue_limit,
    };
    use crate::store::contracts::ApprovalAnswer as A;
    Ok(match core.approval(env, args).await? {
        A::Pending { .. } => Requested::PendingApproval,
        A::AlreadyPending { .. } | A::Already { .. } | A::Queued { .. } => Requested::Already,
        A::Rejected { .. } => Requested::Replayed,
        A::Frozen { .. } => Requested::Refused,
        other => {
            tracing::error!(?other, "approval.lua answered a GitHub run unexpectedly");
            return Err(BatonError::Internal);
        }
    })
}

/// What the lock script's answer means for a run: read by [`outcomes::acquired`], as for every
/// lock, then put in GitHub's terms.
fn answer(env: &str, answer: RunLockAnswer) -> Result<Requested, BatonError> {
    let answer = match answer {
        RunLockAnswer::Seen(Seen::Over { .. }) => return Ok(Requested::Replayed),
        RunLockAnswer::Seen(Seen::Stale { .. }) => return Ok(Requested::Stale),
        RunLockAnswer::Lock(lock) => *lock,
    };
    Ok(match outcomes::acquired(env, answer) {
        Ok(Acquired::Granted { hold, .. }) => Requested::Granted { fence: hold.fence },
        Ok(Acquired::Queued {
            position,
            again: false,
            ..
        }) => Requested::Queued { position },
        Ok(Acquired::Mine { .. } | Acquired::Queued { again: true, .. }) => Requested::Already,
        // The script recorded the refusal with the request: GitHub hears it from the audit
        // stream, exactly once, like a grant (callbacks.rs words it).
        Err(BatonError::Frozen { .. } | BatonError::Refused(_)) => Requested::Refused,
        // A run is always a queue entry (mode `queue` or `wait`), and those are never refused
        // as `locked`; its calls carry no idempotency key, so none is a replay that ended: a
        // contract broken, reported as such.
        Err(e) => {
            tracing::error!(error = %e, "lock.lua refused a GitHub run's queue entry unexpectedly");
            return Err(BatonError::Internal);
        }
    })
}
