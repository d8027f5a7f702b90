//! Configuration: a TOML file, then `BATON_<SECTION>__<KEY>` environment variables over it.
//!
//! Loading never stops at the first mistake. Syntax errors, unknown keys, wrong types and semantic
//! problems (an env in two pools, a default TTL above the max) come back together, with line numbers
//! where the file has them, so `baton config check` can fix a file in one pass.
//!
//! `decode` turns text and variables into a [`Config`]; `check` holds the semantic rules.

mod check;
mod connection;
mod decode;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

mod admin;
mod chat;
mod discord;
mod freezes;
pub mod fronts;
mod github;
mod groups;
mod mattermost;
mod slack;
mod teams;
mod web;

pub use crate::store::settings::{redact_url, RedisConfig};
pub use admin::*;
pub use chat::{default_in_channel, ChatConfig};
pub use connection::Warning;
pub use discord::{DiscordConfig, DiscordMode};
pub use freezes::FreezeWindowConfig;
pub use fronts::Front;
pub use github::{GithubConfig, GithubRule, OnFreeze, GITHUB_APP};
pub use mattermost::MattermostConfig;
pub use slack::SlackConfig;
pub use teams::{is_guid, TeamsConfig, BOT_FRAMEWORK_METADATA};
pub use web::WebConfig;

use serde::Deserialize;

use crate::domain::{duration, opt_duration, EnvName};

/// Everything Baton reads at startup. `Config::default()` is a working local setup with no envs,
/// which is what `baton dev` and tests start from.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `[server]`: where the HTTP side listens and how often background work runs.
    pub server: ServerConfig,
    /// `[redis]`: the one store every instance shares.
    pub redis: RedisConfig,
    /// `[defaults]`: what applies to any env that does not say otherwise.
    pub defaults: Defaults,
    /// `[[envs]]`: environments that need settings of their own; others may still be locked.
    pub envs: Vec<EnvConfig>,
    /// `[[pools]]`: groups of interchangeable envs that `claim <pool>` picks from.
    pub pools: Vec<PoolConfig>,
    /// `[roles]`: who may force, administer, and touch protected envs.
    pub roles: RolesConfig,
    /// `[ci]`: the CI API's bearer tokens (hashed) and limits.
    pub ci: CiConfig,
    /// `[chat]`: what every chat platform shares (who sees an answer).
    pub chat: ChatConfig,
    /// `[slack]`: the Slack app.
    pub slack: SlackConfig,
    /// `[discord]`: the Discord application.
    pub discord: DiscordConfig,
    /// `[teams]`: the Microsoft Teams bot.
    pub teams: TeamsConfig,
    /// `[mattermost]`: the Mattermost integration.
    pub mattermost: MattermostConfig,
    /// `[admin]`: the team's other Redis patterns.
    pub admin: AdminConfig,
    /// `[[freezes]]`: the freeze calendar.
    pub freezes: Vec<FreezeWindowConfig>,
    /// `[[groups]]`: names for envs locked together (`lock prod` takes `prod-eu` and `prod-us`).
    pub groups: Vec<GroupConfig>,
    /// `[github]`: the GitHub App that answers deployment protection rules.
    pub github: GithubConfig,
    /// `[web]`: the web console and its OpenID Connect sign-in.
    pub web: WebConfig,
}

/// The HTTP listener and the background sweep.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Loopback by default, so a bare `baton serve` never exposes itself by accident.
    pub listen: SocketAddr,
    /// How often due reminders and expiries are looked for; bounds how late a notice can be.
    #[serde(deserialize_with = "duration")]
    pub sweep_interval: Duration,
    /// Serves the live status page (`GET /`, `/status/envs.json`, `/status/events`) without a
    /// token, read-only, to anyone who can reach the listener. It shows display names, reasons and
    /// times, never a token; `false` removes the three routes.
    pub status_page: bool,
    /// How long a client may take to send a request's headers, and how long an idle keep-alive
    /// connection stays open: a client that trickles bytes (slowloris) is cut off after this.
    #[serde(deserialize_with = "duration")]
    pub header_timeout: Duration,
    /// Open connections at most; further clients wait in the kernel's backlog. Also kept below
    /// the process's file-descriptor limit, so accepting never fails for lack of descriptors.
    pub max_connections: usize,
    /// How long a client may take to send a request's body once its headers are in: the header
    /// timeout's twin, one deadline that never resets, so a body trickled a byte at a time is
    /// answered 408 and closed after this instead of holding its connection.
    #[serde(deserialize_with = "duration")]
    pub body_timeout: Duration,
    /// Open connections one client address may hold (an IPv6 client counts by its /64), so one
    /// address cannot take every connection; its further connections are answered 429 at once.
    /// Behind a proxy every client shares the proxy's address: raise it to `max_connections`.
    pub max_connections_per_address: usize,
    /// Event streams (`/status/events`, `/api/v1/events`) open at once, from everyone; each holds
    /// a connection for as long as it is read, so more are answered 503 at once.
    pub max_event_streams: usize,
    /// Event streams one client address may hold; more are answered 429 at once.
    pub max_event_streams_per_address: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8080)),
            sweep_interval: Duration::from_millis(500),
            status_page: true,
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            body_timeout: Duration::from_secs(10),
            max_connections_per_address: 512,
            max_event_streams: 1024,
            max_event_streams_per_address: 32,
        }
    }
}

/// Values for envs that set nothing themselves (and are in no pool that does).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Defaults {
    /// What a lock or claim without a duration gets.
    #[serde(deserialize_with = "duration")]
    pub default_ttl: Duration,
    /// The longest anyone may hold an env, so a forgotten lock frees itself.
    #[serde(deserialize_with = "duration")]
    pub max_ttl: Duration,
    /// Audit entries kept per env; Redis streams are capped so nothing grows without bound.
    pub history_length: usize,
    /// Waiters per env, for the same reason.
    pub queue_limit: usize,
    /// How long before a lock or claim ends its holder gets a reminder; `None`: no reminders.
    #[serde(default, deserialize_with = "opt_duration")]
    pub remind_before: Option<Duration>,
    /// The zone of times people type without one (`freeze prod until fri 18:00`) and of
    /// `[[freezes]]` that name none (an IANA name like `Europe/Berlin`); UTC when unset.
    #[serde(default, deserialize_with = "freezes::default_tz")]
    pub timezone: Option<chrono_tz::Tz>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            default_ttl: Duration::from_secs(3600),
            max_ttl: Duration::from_secs(8 * 3600),
            history_length: 500,
            queue_limit: 20,
            remind_before: None,
            timezone: None,
        }
    }
}

/// An env that needs settings of its own.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvConfig {
    /// Validated by [`EnvName`], like every name a user types.
    pub name: EnvName,
    /// Only deployers and admins may lock a protected env.
    #[serde(default)]
    pub protected: bool,
    /// Overrides the pool's and `[defaults]` value.
    #[serde(default, deserialize_with = "opt_duration")]
    pub default_ttl: Option<Duration>,
    /// Overrides the pool's and `[defaults]` value.
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_ttl: Option<Duration>,
    /// Channels (`slack:<channel id>`, `discord:<channel id>`) where its changes are announced;
    /// overrides the pool's list (an empty list silences a pool member).
    #[serde(default)]
    pub announce: Option<Vec<String>>,
    /// Overrides the pool's and `[defaults]` value.
    #[serde(default, deserialize_with = "opt_duration")]
    pub remind_before: Option<Duration>,
    /// The two-person rule: how many people other than the requester (deployers or admins) must
    /// approve a lock on it before it is granted; 0 (the default): none.
    #[serde(default)]
    pub approvals: u8,
    /// How long a request waits for its approvals before it is rejected (default 30m).
    #[serde(default, deserialize_with = "opt_duration")]
    pub approval_timeout: Option<Duration>,
}

/// How long a lock request waits for its approvals when the env does not say.
pub const DEFAULT_APPROVAL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Interchangeable envs: `claim staging` takes any free member, and the pool is the members' Redis
/// hash tag so that choice is one script.
#[derive(Debug, Clone, Deserialize)]
pub struct PoolConfig {
    /// Shares the namespace of env names, since `claim` accepts either.
    pub name: EnvName,
    /// Members need not appear in `[[envs]]`; one that does keeps its own settings.
    #[serde(default)]
    pub members: Vec<EnvName>,
    /// For members that set none themselves.
    #[serde(default, deserialize_with = "opt_duration")]
    pub default_ttl: Option<Duration>,
    /// For members that set none themselves.
    #[serde(default, deserialize_with = "opt_duration")]
    pub max_ttl: Option<Duration>,
    /// For members that set none themselves.
    #[serde(default)]
    pub announce: Option<Vec<String>>,
    /// For members that set none themselves.
    #[serde(default, deserialize_with = "opt_duration")]
    pub remind_before: Option<Duration>,
}

/// Envs locked together under one name: `lock prod` is `lock prod-eu,prod-us`, all or none.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Shares the namespace of env and pool names, since `lock` accepts either.
    pub name: EnvName,
    /// Two or more envs (at most ten), each configured in `[[envs]]` or a pool's member.
    #[serde(default)]
    pub envs: Vec<EnvName>,
}

/// Platform identities (`slack:U123`, `discord:…`, `discord-role:…`, `ci:<token name>`,
/// `console:<user>`) per role, so privilege is decided in one place.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RolesConfig {
    /// May `--force`, run `admin` commands, and lock protected envs.
    pub admin: Vec<String>,
    /// May lock protected envs.
    pub deployer: Vec<String>,
}

/// The CI API: who may call it, for which envs, and how long a request may wait for a lock.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CiConfig {
    /// Longest `wait` a lock request may ask for; the request holds its HTTP connection that long.
    #[serde(deserialize_with = "duration")]
    pub max_wait: Duration,
    /// `[[ci.tokens]]`: one per pipeline or team.
    pub tokens: Vec<CiTokenConfig>,
    /// Failed authentications an address may make in a burst before it is answered 429 (then
    /// one a second).
    pub auth_failure_burst: u32,
}

impl Default for CiConfig {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(30 * 60),
            auth_failure_burst: 10,
            tokens: Vec::new(),
        }
    }
}

/// A CI bearer token, stored only as its SHA-256 so the config file holds no secret.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CiTokenConfig {
    /// The identity `ci:<name>` that roles and history name.
    pub name: String,
    /// Lowercase hex SHA-256 of the token (`baton ci token` prints both).
    pub sha256: String,
    /// Envs the token may touch; globs like `staging-*` allowed.
    pub envs: Vec<String>,
    /// Changes this pipeline makes are not announced in the envs' channels.
    #[serde(default)]
    pub quiet: bool,
}

/// One env's effective settings, resolved env → pool → `[defaults]`, so callers never redo the
/// precedence rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvSettings {
    /// The env.
    pub name: EnvName,
    /// Whether only deployers and admins may lock it.
    pub protected: bool,
    /// What a lock or claim without a duration gets.
    pub default_ttl: Duration,
    /// The longest it may be held.
    pub max_ttl: Duration,
    /// Its pool, which is also its Redis hash tag.
    pub pool: Option<EnvName>,
    /// Where its changes are announced (`slack:<channel id>`, `discord:<channel id>`).
    pub announce: Vec<String>,
    /// How long before a lock or claim on it ends the holder is reminded; `None`: never.
    pub remind_before: Option<Duration>,
    /// How many distinct approvers (never the requester) a lock on it needs; 0: none.
    pub approvals: u8,
    /// How long a request waits for its approvals before it is rejected.
    pub approval_timeout: Duration,
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line in the file, when the problem can be pinned to one.
    pub line: Option<usize>,
    /// A sentence a person can act on.
    pub message: String,
}

/// Every problem found, so one run of `baton config check` shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    /// The file's path, `<defaults>` when there was none, or `<config>` for [`Config::from_toml_str`].
    pub source: String,
    /// In line order; problems without a line (environment variables) come last.
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            match p.line {
                Some(line) => write!(f, "{}:{line}: {}", self.source, p.message)?,
                None => write!(f, "{}: {}", self.source, p.message)?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Config {
    /// Parses and checks a whole document, reporting every problem at once.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigErrors> {
        decode::build("<config>".into(), text, std::iter::empty())
    }

    /// Reads `path` (or starts from defaults when `None`), applies `BATON_<SECTION>__<KEY>` overrides
    /// from `vars` (pass `std::env::vars()`), and checks the result. An override naming an unknown
    /// key is a problem, so a typo in a deployment manifest is not silently ignored.
    pub fn load(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let Some(path) = path else {
            return decode::build("<defaults>".into(), "", vars);
        };
        let source = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => decode::build(source, &text, vars),
            Err(e) => Err(ConfigErrors {
                problems: vec![Problem {
                    line: None,
                    message: format!("cannot read config file {source}: {e}"),
                }],
                source,
            }),
        }
    }

    /// Semantic checks for a config built in code (loading runs them too, with line numbers).
    pub fn validate(&self) -> Vec<Problem> {
        self.check(&decode::Ctx::default())
    }

    /// The pool `env` belongs to; envs belong to at most one (checked when loading).
    pub fn pool_of(&self, env: &EnvName) -> Option<&PoolConfig> {
        self.pools.iter().find(|p| p.members.contains(env))
    }

    /// Effective settings for a configured env or pool member; `None` for names the config does
    /// not mention, which callers treat with `[defaults]` or refuse, as their feature requires.
    pub fn env_settings(&self, env: &EnvName) -> Option<EnvSettings> {
        let own = self.envs.iter().find(|e| &e.name == env);
        let pool = self.pool_of(env);
        if own.is_none() && pool.is_none() {
            return None;
        }
        let pick = |mine: fn(&EnvConfig) -> Option<Duration>,
                    pooled: fn(&PoolConfig) -> Option<Duration>,
                    default: Duration| {
            own.and_then(mine)
                .or_else(|| pool.and_then(pooled))
                .unwrap_or(default)
        };
        Some(EnvSettings {
            name: env.clone(),
            protected: own.is_some_and(|e| e.protected),
            default_ttl: pick(
                |e| e.default_ttl,
                |p| p.default_ttl,
                self.defaults.default_ttl,
            ),
            max_ttl: pick(|e| e.max_ttl, |p| p.max_ttl, self.defaults.max_ttl),
            pool: pool.map(|p| p.name.clone()),
            announce: own
                .and_then(|e| e.announce.clone())
                .or_else(|| pool.and_then(|p| p.announce.clone()))
                .unwrap_or_default(),
            remind_before: own
                .and_then(|e| e.remind_before)
                .or_else(|| pool.and_then(|p| p.remind_before))
                .or(self.defaults.remind_before),
            approvals: own.map_or(0, |e| e.approvals),
            approval_timeout: own
                .and_then(|e| e.approval_timeout)
                .unwrap_or(DEFAULT_APPROVAL_TIMEOUT),
        })
    }

    /// Every known env in config order: `[[envs]]` first, then pool members not listed there.
    pub fn all_envs(&self) -> Vec<EnvSettings> {
        self.env_names()
            .into_iter()
            .filter_map(|name| self.env_settings(name))
            .collect()
    }

    fn env_names(&self) -> Vec<&EnvName> {
        let mut names: Vec<&EnvName> = Vec::new();
        let listed = self.envs.iter().map(|e| &e.name);
        for name in listed.chain(self.pools.iter().flat_map(|p| &p.members)) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}
