//! The configured envs, pools and roles, resolved once for fast lookups by every command.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::command::{Command, LockCommand, Privilege};
use crate::config::{Config, EnvSettings};
use crate::domain::{did_you_mean, Actor, EnvName};
use crate::error::BatonError;

/// A pool of interchangeable envs, claimed "any free one" at a time.
#[derive(Clone, Debug)]
pub struct Pool {
    /// The pool's name, also the hash tag its members' keys share.
    pub name: EnvName,
    /// Its members, in the order they are handed out.
    pub members: Vec<EnvName>,
    /// Claim length when none is given.
    pub default_ttl: Duration,
    /// Longest claim allowed.
    pub max_ttl: Duration,
}

/// What a name given in a command refers to.
pub enum Target<'a> {
    /// One env.
    Env(&'a EnvSettings),
    /// A pool.
    Pool(&'a Pool),
}

/// Envs, pools and roles from the config.
#[derive(Clone, Debug)]
pub struct Catalog {
    envs: Vec<EnvSettings>,
    index: HashMap<EnvName, usize>,
    pools: Vec<Pool>,
    admins: HashSet<String>,
    deployers: HashSet<String>,
    timezone: chrono_tz::Tz,
    /// `[[groups]]`: names for envs locked together.
    groups: Vec<(EnvName, Vec<EnvName>)>,
}

impl Catalog {
    /// Resolves a (validated) config.
    pub fn new(config: &Config) -> Self {
        let envs = config.all_envs();
        let index = envs
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let pools = config
            .pools
            .iter()
            .map(|p| Pool {
                name: p.name.clone(),
                members: p.members.clone(),
                default_ttl: p.default_ttl.unwrap_or(config.defaults.default_ttl),
                max_ttl: p.max_ttl.unwrap_or(config.defaults.max_ttl),
            })
            .collect();
        Self {
            envs,
            index,
            pools,
            admins: config.roles.admin.iter().cloned().collect(),
            deployers: config.roles.deployer.iter().cloned().collect(),
            timezone: config.defaults.timezone.unwrap_or(chrono_tz::Tz::UTC),
            groups: config
                .groups
                .iter()
                .map(|g| (g.name.clone(), g.envs.clone()))
                .collect(),
        }
    }

    /// The envs of group `name` (`[[groups]]`), if one is called that.
    pub fn group(&self, name: &EnvName) -> Option<&[EnvName]> {
        self.groups
            .iter()
            .find(|(g, _)| g.as_str().eq_ignore_ascii_case(name.as_str()))
            .map(|(_, envs)| envs.as_slice())
    }

    /// `command` with group names written out as their envs: `lock prod` (a group) is
    /// `lock prod-eu,prod-us`, and a group inside a list is its envs there. Done before the
    /// privilege check, so a group's protected env needs a deployer as it does on its own.
    pub fn resolve(&self, command: Command) -> Command {
        let expand = |envs: &[EnvName]| -> Vec<EnvName> {
            let mut out: Vec<EnvName> = Vec::new();
            for env in envs {
                let members = self
                    .group(env)
                    .map_or_else(|| vec![env.clone()], <[_]>::to_vec);
                for m in members {
                    if !out.contains(&m) {
                        out.push(m);
                    }
                }
            }
            out
        };
        match command {
            Command::Locks(LockCommand::Lock { env, ttl, reason })
                if self.group(&env).is_some() =>
            {
                Command::Locks(LockCommand::LockSet {
                    envs: expand(&[env]),
                    ttl,
                    reason,
                })
            }
            Command::Locks(LockCommand::Unlock { env }) if self.group(&env).is_some() => {
                Command::Locks(LockCommand::UnlockSet {
                    envs: expand(&[env]),
                })
            }
            Command::Locks(LockCommand::LockSet { envs, ttl, reason }) => {
                Command::Locks(LockCommand::LockSet {
                    envs: expand(&envs),
                    ttl,
                    reason,
                })
            }
            Command::Locks(LockCommand::UnlockSet { envs }) => {
                Command::Locks(LockCommand::UnlockSet {
                    envs: expand(&envs),
                })
            }
            Command::Locks(LockCommand::Queue { env, ttl, reason })
                if self.group(&env).is_some() =>
            {
                Command::Locks(LockCommand::QueueSet {
                    envs: expand(&[env]),
                    ttl,
                    reason,
                })
            }
            Command::Locks(LockCommand::QueueSet { envs, ttl, reason }) => {
                Command::Locks(LockCommand::QueueSet {
                    envs: expand(&envs),
                    ttl,
                    reason,
                })
            }
            Command::Locks(LockCommand::Leave { env }) if self.group(&env).is_some() => {
                Command::Locks(LockCommand::LeaveSet {
                    envs: expand(&[env]),
                })
            }
            Command::Locks(LockCommand::LeaveSet { envs }) => {
                Command::Locks(LockCommand::LeaveSet {
                    envs: expand(&envs),
                })
            }
            Command::Locks(LockCommand::Extend { env, by }) if self.group(&env).is_some() => {
                Command::Locks(LockCommand::ExtendSet {
                    envs: expand(&[env]),
                    by,
                })
            }
            Command::Locks(LockCommand::ExtendSet { envs, by }) => {
                Command::Locks(LockCommand::ExtendSet {
                    envs: expand(&envs),
                    by,
                })
            }
            other => other,
        }
    }

    /// The zone of times typed without one (`[defaults] timezone`, else UTC).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.timezone
    }

    /// Every env, in config order.
    pub fn envs(&self) -> &[EnvSettings] {
        &self.envs
    }

    /// Every pool.
    pub fn pools(&self) -> &[Pool] {
        &self.pools
    }

    /// An env by name, or a refusal listing the known ones.
    pub fn env(&self, name: &EnvName) -> Result<&EnvSettings, BatonError> {
        match self
            .index
            .get(name)
            .or_else(|| self.index.get(&self.canonical(name)))
        {
            Some(&i) => Ok(&self.envs[i]),
            None if self.pool(name).is_some() => Err(BatonError::Usage {
                message: format!(
                    "{name} is a pool, not an env: name one of its members ({})",
                    self.pool(name)
                        .map(|p| join(&p.members))
                        .unwrap_or_default()
                ),
                usage: None,
            }),
            None => Err(self.unknown(name)),
        }
    }

    /// An env or a pool by name.
    pub fn target(&self, name: &EnvName) -> Result<Target<'_>, BatonError> {
        if let Some(pool) = self.pool(name) {
            return Ok(Target::Pool(pool));
        }
        self.env(name).map(Target::Env)
    }

    /// A pool by name (any case).
    pub fn pool(&self, name: &EnvName) -> Option<&Pool> {
        self.pools.iter().find(|p| &p.name == name).or_else(|| {
            self.pools
                .iter()
                .find(|p| p.name.as_str().eq_ignore_ascii_case(name.as_str()))
        })
    }

    /// The configured spelling of a name typed in another case (`PROD` → `prod`).
    fn canonical(&self, name: &EnvName) -> EnvName {
        self.envs
            .iter()
            .find(|e| e.name.as_str().eq_ignore_ascii_case(name.as_str()))
            .map(|e| e.name.clone())
            .unwrap_or_else(|| name.clone())
    }

    /// The hash-tag group of an env: its pool, or itself.
    pub fn group_of<'a>(&self, env: &'a EnvSettings) -> &'a EnvName {
        env.pool.as_ref().unwrap_or(&env.name)
    }

    /// The envs, grouped by hash tag (config order kept), for one call per group.
    pub fn by_group<'a>(
        &self,
        envs: impl IntoIterator<Item = &'a EnvSettings>,
    ) -> Vec<(EnvName, Vec<EnvName>)> {
        let mut groups: Vec<(EnvName, Vec<EnvName>)> = Vec::new();
        for env in envs {
            let group = self.group_of(env);
            match groups.iter_mut().find(|(g, _)| g == group) {
                Some((_, members)) => members.push(env.name.clone()),
                None => groups.push((group.clone(), vec![env.name.clone()])),
            }
        }
        groups
    }

    /// The strongest role the actor has, through its own identity or its groups.
    pub fn role(&self, actor: &Actor) -> Privilege {
        let ids = || std::iter::once(&actor.id).chain(actor.groups.iter());
        if ids().any(|id| self.admins.contains(id)) {
            Privilege::Admin
        } else if ids().any(|id| self.deployers.contains(id)) {
            Privilege::Deployer
        } else {
            Privilege::Anyone
        }
    }

    fn unknown(&self, name: &EnvName) -> BatonError {
        let known: Vec<String> = self
            .envs
            .iter()
            .map(|e| e.name.to_string())
            .chain(self.pools.iter().map(|p| format!("{} (pool)", p.name)))
            .collect();
        let names = self.envs.iter().map(|e| e.name.as_str());
        let suggestion = did_you_mean(
            name.as_str(),
            names.chain(self.pools.iter().map(|p| p.name.as_str())),
        )
        .map(String::from);
        BatonError::UnknownEnv {
            name: name.to_string(),
            suggestion,
            known,
        }
    }
}

fn join(names: &[EnvName]) -> String {
    names
        .iter()
        .map(EnvName::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
