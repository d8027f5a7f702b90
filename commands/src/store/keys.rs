//! Key layout. Every key Baton writes for an env lives under `<prefix>:{<group>}:`, where the group
//! is the env's pool (so claiming "any free member" is one script) or the env itself. One script
//! therefore never touches two hash slots, on a single node or a Cluster.

use crate::domain::EnvName;

/// Builds key names for one deployment of Baton (one prefix).
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
    db: i64,
}

/// The eleven keys of one env, in the order the Lua prelude reads them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvKeys(pub [String; 11]);

impl Keys {
    /// Keys under `prefix` (`baton` by default).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            db: 0,
        }
    }

    /// The same keys for a deployment on database `db`. Keys are isolated by the database
    /// already; Pub/Sub channels are not (they ignore it), so the event channel names it.
    pub fn with_db(mut self, db: i64) -> Self {
        self.db = db;
        self
    }

    /// The keys of `env`, which belongs to `group` (its pool, or itself).
    pub fn env(&self, group: &EnvName, env: &EnvName) -> EnvKeys {
        // Joined, not formatted: this runs on every call.
        let (prefix, group_tag, env) = (self.prefix.as_str(), group.as_str(), env.as_str());
        let k = |what: &str| [prefix, ":{", group_tag, "}:", what, ":", env].concat();
        EnvKeys([
            // A hold is its details hash (holder, reason, token, fence, since, expires).
            k("lockmeta"),
            k("claimmeta"),
            k("fence"),
            // The queue is three keys (prelude.lua): the line's order, a sorted set of holder ids
            // by place; below, each waiter's entry by holder, and when each waiter is gone.
            k("line"),
            k("freeze"),
            k("history"),
            self.deadlines(group),
            k("deploy"),
            // The calendar's marks: skipped occurrences and notices given, by window and start.
            k("marks"),
            k("waiters"),
            k("gone"),
        ])
    }

    /// The details hash of `env`'s lock: the one key of an env a call sends (the Lua prelude names
    /// the others from it, as [`Keys::env`] does).
    pub fn lockmeta(&self, group: &EnvName, env: &EnvName) -> String {
        [
            self.prefix.as_str(),
            ":{",
            group.as_str(),
            "}:lockmeta:",
            env.as_str(),
        ]
        .concat()
    }

    /// Where versions before the three-key queue kept an env's queue (a list of JSON entries),
    /// read once at start-up to move what waits there ([`crate::store::Store::move_old_queues`]).
    pub fn old_queue(&self, group: &EnvName, env: &EnvName) -> String {
        [
            self.prefix.as_str(),
            ":{",
            group.as_str(),
            "}:queue:",
            env.as_str(),
        ]
        .concat()
    }

    /// The group's deadline set: when each lock, claim and freeze ends.
    pub fn deadlines(&self, group: &EnvName) -> String {
        [self.prefix.as_str(), ":{", group.as_str(), "}:deadlines"].concat()
    }

    /// The env's audit stream.
    pub fn history(&self, group: &EnvName, env: &EnvName) -> String {
        self.env(group, env).0[5].clone()
    }

    /// Where an idempotent call on `env` keeps its answer (`digest` names the caller and key).
    pub fn idempotency(&self, group: &EnvName, env: &EnvName, digest: &str) -> String {
        format!("{}:{{{group}}}:idem:{env}:{digest}", self.prefix)
    }

    /// The env's GitHub ledger: the deployments that asked for it, each let in once (lock.lua).
    /// In the env's slot, so the lock step reads and writes it in the same call.
    pub fn github_ledger(&self, group: &EnvName, env: &EnvName) -> String {
        [
            self.prefix.as_str(),
            ":{",
            group.as_str(),
            "}:github:",
            env.as_str(),
        ]
        .concat()
    }

    /// When notifications began (Unix ms): every notify group starts there.
    pub fn notify_epoch(&self) -> String {
        format!("{}:{{notify}}:epoch", self.prefix)
    }

    /// The GitHub App's records (`delivery` ids seen, `run` callbacks), in their own hash tag.
    pub fn github(&self, what: &str, id: &str) -> String {
        format!("{}:{{github}}:{what}:{id}", self.prefix)
    }

    /// A chat front end's address book (`teams` conversations and people): one hash per platform
    /// and kind, in a hash tag of its own.
    pub fn contacts(&self, platform: &str, kind: &str) -> String {
        format!("{}:{{contacts}}:{platform}:{kind}", self.prefix)
    }

    /// The web console's sign-ins in progress and sessions (`what`), by the SHA-256 of the
    /// browser's secret, in a hash tag of their own.
    pub fn web(&self, what: &str, digest: &str) -> String {
        format!("{}:{{web}}:{what}:{digest}", self.prefix)
    }

    /// The admin commands' audit stream, in a hash tag of its own: it is written in the same
    /// pipeline as other services' keys, never in a script with an env's.
    pub fn admin_history(&self) -> String {
        format!("{}:{{admin}}:history", self.prefix)
    }

    /// The expiry sweeper's lease: the one instance holding it sweeps (see `events.rs`). A key of
    /// its own, never in a script with an env's keys.
    pub fn sweeper_lease(&self) -> String {
        format!("{}:{{sweeper}}:lease", self.prefix)
    }

    /// Where the lease holder's heartbeat is published, isolated by database like the events.
    pub fn sweeper_channel(&self) -> String {
        match self.db {
            0 => format!("{}:sweeper", self.prefix),
            db => format!("{}:sweeper:db{db}", self.prefix),
        }
    }

    /// The Pub/Sub channel every state change is published on. Pub/Sub ignores the database
    /// number, so two installations on `/3` and `/4` of one server would hear each other: the
    /// channel carries the number. Database 0 keeps the plain name, so existing deployments and
    /// their listeners are unchanged. A prefix holds no `:`, so no other prefix can collide.
    pub fn events_channel(&self) -> String {
        match self.db {
            0 => format!("{}:events", self.prefix),
            db => format!("{}:events:db{db}", self.prefix),
        }
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
        assert_eq!(keys.0[0], "baton:{staging}:lockmeta:staging-2");
        assert_eq!(keys.0[6], "baton:{staging}:deadlines");
    }

    #[test]
    fn the_one_key_a_call_sends_names_every_other_key_of_the_env_as_the_prelude_derives_them() {
        let layout = Keys::new("baton");
        let (group, env) = (name("staging"), name("staging-2"));
        let sent = layout.lockmeta(&group, &env);
        assert_eq!(sent, layout.env(&group, &env).0[0]);
        // prelude.lua's `env_of` and `ENV_KEYS`: the stem is all before `lockmeta:`.
        let stem = &sent[..sent.len() - "lockmeta:staging-2".len()];
        let derived = |what: &str| match what {
            "deadlines" => format!("{stem}deadlines"),
            what => format!("{stem}{what}:staging-2"),
        };
        let fields = [
            "lockmeta",
            "claimmeta",
            "fence",
            "line",
            "freeze",
            "history",
            "deadlines",
            "deploy",
            "marks",
            "waiters",
            "gone",
        ];
        for (key, field) in layout.env(&group, &env).0.iter().zip(fields) {
            assert_eq!(key, &derived(field), "{field}");
        }
    }

    #[test]
    fn the_event_channel_is_as_isolated_as_the_keys() {
        let channels = [
            Keys::new("baton").events_channel(),
            Keys::new("baton").with_db(3).events_channel(),
            Keys::new("baton").with_db(4).events_channel(),
            Keys::new("other").with_db(3).events_channel(),
        ];
        assert_eq!(channels[0], "baton:events");
        for (i, a) in channels.iter().enumerate() {
            for b in &channels[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
