//! Key layout. Every key Baton writes for an env lives under `<prefix>:{<group>}:`, where the group
//! is the env's pool (so claiming "any free member" is one script) or the env itself. One script
//! therefore never touches two hash slots, on a single node or a Cluster.

use crate::domain::EnvName;

/// Builds key names for one deployment of Baton (one prefix).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

/// The ten keys of one env, in the order the Lua prelude reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvKeys(pub [String; 10]);

impl Keys {
    /// Keys under `prefix` (`baton` by default).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
        }
    }

    /// The keys of `env`, which belongs to `group` (its pool, or itself).
    pub fn env(&self, group: &EnvName, env: &EnvName) -> EnvKeys {
        let base = format!("{}:{{{group}}}", self.prefix);
        let k = |what: &str| format!("{base}:{what}:{env}");
        EnvKeys([
            k("lock"),
            k("lockmeta"),
            k("claim"),
            k("claimmeta"),
            k("fence"),
            k("queue"),
            k("freeze"),
            k("history"),
            self.deadlines(group),
            k("deploy"),
        ])
    }

    /// The group's deadline set: when each lock, claim and freeze ends.
    pub fn deadlines(&self, group: &EnvName) -> String {
        format!("{}:{{{group}}}:deadlines", self.prefix)
    }

    /// The env's audit stream.
    pub fn history(&self, group: &EnvName, env: &EnvName) -> String {
        self.env(group, env).0[7].clone()
    }

    /// Where an idempotent call on `env` keeps its answer (`digest` names the caller and key).
    pub fn idempotency(&self, group: &EnvName, env: &EnvName, digest: &str) -> String {
        format!("{}:{{{group}}}:idem:{env}:{digest}", self.prefix)
    }

    /// The admin commands' audit stream, in a hash tag of its own: it is written in the same
    /// pipeline as other services' keys, never in a script with an env's.
    pub fn admin_history(&self) -> String {
        format!("{}:{{admin}}:history", self.prefix)
    }

    /// The Pub/Sub channel every state change is published on.
    pub fn events_channel(&self) -> String {
        format!("{}:events", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> EnvName {
        EnvName::parse(s).unwrap()
    }

    #[test]
    fn every_key_of_an_env_shares_its_group_hash_tag() {
        let keys = Keys::new("baton").env(&name("staging"), &name("staging-2"));
        for k in &keys.0 {
            assert!(k.starts_with("baton:{staging}:"), "{k}");
        }
        assert_eq!(keys.0[0], "baton:{staging}:lock:staging-2");
        assert_eq!(keys.0[8], "baton:{staging}:deadlines");
    }
}
