//! The router: finds a command's grammar entry and the actor's role once, checks the privilege
//! once, then hands the command to its module. It never panics on input and never lets a cause
//! chain reach a chat: refusals are [`BatonError`]s.

use std::sync::{Arc, OnceLock};

use crate::admin::AdminDesk;
use crate::bus::EventBus;
use crate::catalog::{Catalog, Target};
use crate::command::{CiCommand, Command, Privilege};
use crate::config::{Config, EnvSettings};
use crate::domain::{wall_clock, Actor, EnvName};
use crate::error::BatonError;
use crate::grammar::{self, Verb};
use crate::reply::{Reply, Tone};
use crate::road::CiRequest;
use crate::services::{Core, Pipelines};
use crate::store::Store;

/// The core: configuration plus the store. Cheap to clone; every front end shares one.
#[derive(Clone)]
pub struct Baton {
    /// What every service shares; the router hands each command to its service over it.
    pub(crate) core: Core,
    admin: Arc<crate::admin::Admin>,
    /// The verbs whose successes are announced to the channel (`[chat] in_channel`).
    pub(crate) announce: Arc<Vec<String>>,
    bus: Arc<OnceLock<EventBus>>,
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Baton {
    /// The core for a validated config and a store.
    pub fn new(config: &Config, store: Store) -> Self {
        let leads = config
            .all_envs()
            .into_iter()
            .filter_map(|e| e.remind_before.map(|lead| (e.name, lead)));
        Self {
            core: Core::new(
                store
                    .with_reminders(leads)
                    .with_calendar(Arc::new(crate::calendar::Calendar::new(config.windows()))),
                Arc::new(Catalog::new(config)),
                config.defaults.queue_limit,
            ),
            admin: Arc::new(crate::admin::Admin::new(config)),
            announce: Arc::new(config.in_channel()),
            bus: Arc::new(OnceLock::new()),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// The store, for health checks and the expiry sweeper.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    /// The instance's event bus, subscribed on first use (call it at start-up to subscribe early).
    pub fn events(&self) -> &EventBus {
        self.bus
            .get_or_init(|| EventBus::start(self.core.store.clone(), self.closing.subscribe()))
    }

    /// Starts a graceful shutdown: requests waiting for a lock leave the queue and are answered
    /// at once ("shutting down, retry"), so the server can finish its in-flight requests.
    pub fn begin_shutdown(&self) {
        self.closing.send_replace(true);
    }

    /// The pipelines' service: the core, the event bus and the shutdown signal.
    pub(crate) fn pipelines(&self) -> Pipelines {
        Pipelines {
            core: self.core.clone(),
            bus: self.events().clone(),
            closing: self.closing.subscribe(),
        }
    }

    /// The admin commands' service.
    pub(crate) fn admin_desk(&self) -> AdminDesk {
        AdminDesk {
            core: self.core.clone(),
            admin: self.admin.clone(),
        }
    }

    /// Every env's state, no waiter listed (metrics); see [`Status`](crate::services::Status).
    pub async fn env_states(
        &self,
        envs: Vec<&EnvSettings>,
    ) -> Result<(Vec<crate::state::EnvState>, u64), BatonError> {
        self.core.status().env_states(envs).await
    }

    /// Every env's state as people read it, with the first page of its line and its next
    /// scheduled freeze window (the status page shows them).
    pub async fn env_views(
        &self,
        envs: Vec<&EnvSettings>,
    ) -> Result<(Vec<crate::state::EnvState>, u64), BatonError> {
        let (states, now, unreached) = self.core.status().env_views(envs).await?;
        match unreached.into_iter().next() {
            Some((_, e)) => Err(e.into()),
            None => Ok((states, now)),
        }
    }

    /// The configured envs, pools and roles.
    pub fn catalog(&self) -> &Catalog {
        &self.core.catalog
    }

    /// Redis' clock as last learned, in Unix ms: what a front end compares its own deadlines
    /// with (a signed button's expiry), so every instance decides alike.
    pub fn now_ms(&self) -> u64 {
        self.core.store.now_ms()
    }

    /// Remembers how `platform` reaches `id` (see [`Store::remember_contact`]).
    ///
    /// [`Store::remember_contact`]: crate::store::Store::remember_contact
    pub async fn remember_contact(
        &self,
        platform: &str,
        kind: &str,
        id: &str,
        value: &str,
    ) -> Result<(), BatonError> {
        Ok(self
            .core
            .store
            .remember_contact(platform, kind, id, value)
            .await?)
    }

    /// How `platform` reaches `id`, if it has learnt it.
    pub async fn contact(
        &self,
        platform: &str,
        kind: &str,
        id: &str,
    ) -> Result<Option<String>, BatonError> {
        Ok(self.core.store.contact(platform, kind, id).await?)
    }

    /// Whether `actor` may run `command`, by the road's own privilege check, without running it:
    /// what a front end asks before it offers an action (the web console's buttons).
    pub fn may(&self, actor: &Actor, command: &Command) -> bool {
        let command = self.core.catalog.resolve(command.clone());
        let role = self.core.catalog.role(actor);
        self.authorize(role, actor, grammar::entry(&command), &command)
            .is_ok()
    }

    /// `env`'s audit events, newest first, at most `count`: what the web console's timeline
    /// draws (typed; `history` words the same events).
    pub async fn env_events(
        &self,
        env: &EnvName,
        count: usize,
    ) -> Result<Vec<crate::store::audit::Event>, BatonError> {
        let settings = self.core.catalog.env(env)?;
        let group = self.core.catalog.group_of(settings);
        Ok(self.core.store.env_history(group, env, count).await?)
    }

    /// The one privilege check, on every road: see [`needs`].
    pub(crate) fn authorize(
        &self,
        role: Privilege,
        actor: &Actor,
        entry: Option<&Verb>,
        command: &Command,
    ) -> Result<(), BatonError> {
        let Some((needed, what)) = needs(command, entry, |env| self.is_protected(env)) else {
            return Ok(());
        };
        if role >= needed {
            return Ok(());
        }
        let role = needed.as_str();
        Err(BatonError::Forbidden(format!(
            "{what} needs the {role} role, and you ({}) do not have it; ask an admin to add you to roles.{role}",
            actor.id
        )))
    }

    fn is_protected(&self, name: &EnvName) -> bool {
        match self.core.catalog.target(name) {
            Ok(Target::Env(e)) => e.protected,
            Ok(Target::Pool(p)) => p.members.iter().any(|m| {
                self.core
                    .catalog
                    .env(m)
                    .map(|e| e.protected)
                    .unwrap_or(false)
            }),
            Err(_) => false,
        }
    }

    /// Sweeps every `interval` until `shutdown` resolves, while this instance holds the sweeper
    /// lease. A store outage is logged and retried on the next tick; the sweeper never stops on
    /// an error. On shutdown the lease is given back, so another instance takes over at once.
    pub async fn run_sweeper(
        &self,
        interval: std::time::Duration,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        crate::sweeper::run(self, interval, shutdown).await
    }

    /// Hands the command to the service of its family; `role` is the one the privilege was
    /// checked with. One arm per family, never per verb: each service matches its own verbs.
    pub(crate) async fn dispatch(
        &self,
        actor: &Actor,
        role: Privilege,
        command: Command,
    ) -> Result<Reply, BatonError> {
        let admin = role == Privilege::Admin;
        match command {
            Command::Locks(c) => self.core.locks().run(actor, admin, c).await,
            Command::Freezes(c) => self.core.locks().run_freezes(actor, c).await,
            Command::Claims(c) => self.core.claims().run(actor, admin, c).await,
            Command::Reads(c) => self.core.status().run(c, role).await,
            Command::Help { topic } => {
                let text = grammar::help(topic.as_deref())?;
                Ok(Reply::new(
                    Tone::Info,
                    "Baton: deploy locks and staging claims",
                    wall_clock(),
                )
                .with_text(text))
            }
            // The CI API's requests come through `run_ci` with their typed answers; one that
            // came as a plain command is answered with the reply its answer renders.
            Command::Ci(ci) => {
                use crate::reply::Render;
                match ci {
                    CiCommand::Acquire(r) => r.answer(self, actor, admin).await.map(|a| a.reply()),
                    CiCommand::Release(r) => r.answer(self, actor, admin).await.map(|a| a.reply()),
                    CiCommand::Extend(r) => r.answer(self, actor, admin).await.map(|a| a.reply()),
                    CiCommand::Gate(r) => r.answer(self, actor, admin).await.map(|a| a.reply()),
                    CiCommand::RecordDeploy(r) => {
                        r.answer(self, actor, admin).await.map(|a| a.reply())
                    }
                    CiCommand::AcquireSet(r) => {
                        r.answer(self, actor, admin).await.map(|a| a.reply())
                    }
                    CiCommand::ReleaseSet(r) => {
                        r.answer(self, actor, admin).await.map(|a| a.reply())
                    }
                    CiCommand::ExtendSet(r) => {
                        r.answer(self, actor, admin).await.map(|a| a.reply())
                    }
                }
            }
            Command::Admin(admin) => self.admin_desk().run_admin(actor, admin).await,
        }
    }
}

/// What `command` needs of its caller, and how a refusal names it; `None` when anyone may run it.
/// The strictest of three rules: admin commands by their type, other verbs by their grammar
/// entry's privilege, and taking a protected env ([`Command::takes`], exhaustive over every
/// command, the CI API's included) needs a deployer whatever the verb and the road.
pub(crate) fn needs(
    command: &Command,
    entry: Option<&Verb>,
    protected: impl Fn(&EnvName) -> bool,
) -> Option<(Privilege, String)> {
    let by_type = match command {
        Command::Admin(a) => Some((Privilege::Admin, format!("`{}`", a.label()))),
        _ => None,
    };
    let by_entry = entry.filter(|v| v.privilege > Privilege::Anyone).map(|v| {
        (
            v.privilege,
            v.refused_as.unwrap_or("this command").to_string(),
        )
    });
    let by_env = command
        .takes()
        .into_iter()
        .find(|env| protected(env))
        .map(|env| {
            (
                Privilege::Deployer,
                format!("{env} is protected: taking it"),
            )
        });
    // On a tie the last wins: the admin type's wording, then the entry's, then the env's.
    [by_env, by_entry, by_type]
        .into_iter()
        .flatten()
        .max_by_key(|(needed, _)| *needed)
}

/// The command as typed, for logs and metrics: its grammar entry's name, or finer for admin
/// (`admin queue retry`, `unlock --force`) and CI (`ci lock`) commands.
pub(crate) fn label(entry: Option<&Verb>, command: &Command) -> &'static str {
    match (command, entry) {
        (Command::Admin(admin), _) => admin.verb(),
        (Command::Ci(ci), _) => ci.verb(),
        (_, Some(v)) => v.name,
        // Every chat command has an entry (the grammar tests check it); a label, not a panic.
        (_, None) => "unknown",
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
