//! Function calls: the keys of the envs a call covers, and the prelude's arguments (each env's
//! reminder lead and the freeze calendar's windows near now, the event channel, the history
//! length, an idempotency fingerprint), then the step's own arguments in order.

use redis::Cmd;

use super::scripts::Function;
use super::Store;
use crate::domain::EnvName;

/// A call of one of Baton's functions on the envs of one group. Built by [`Store::script`].
pub struct Call {
    pub(super) function: Function,
    pub(super) keys: Vec<String>,
    pub(super) args: Vec<String>,
}

impl Call {
    /// Adds the script's next own argument (`ARGV[5]` onwards).
    pub fn arg(mut self, a: impl ToString) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// Adds a key of the step's own, after the envs' (in their slot; the script reads it with
    /// `step_key`). Added before [`Call::idempotent`]'s record, which is always the last key.
    pub fn key(mut self, key: String) -> Self {
        self.keys.push(key);
        self
    }

    /// Makes the call retry-safe: `record` is the key (in the call's slot, see
    /// [`Keys::idempotency`]) where its answer is kept, `fingerprint` what the request asked, so a
    /// retry with the same key gets the first answer and a different request under it is refused.
    pub fn idempotent(mut self, record: String, fingerprint: &str) -> Self {
        self.keys.push(record);
        self.args[3] = fingerprint.to_string();
        self
    }

    pub(super) fn cmd(&self) -> Cmd {
        let mut c = redis::cmd("FCALL");
        c.arg(self.function.name())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        c
    }
}

impl Store {
    /// The record key of an idempotent call on `env`: in the env's slot, named by a hash of who
    /// asked and their key, so neither the key nor the caller shows in Redis.
    pub fn idempotency_record(
        &self,
        group: &EnvName,
        env: &EnvName,
        caller: &str,
        key: &str,
    ) -> String {
        let digest = crate::hashing::sha256_hex(format!("{caller}\n{key}").as_bytes());
        self.keys.idempotency(group, env, &digest)
    }

    /// A call of `function` on `envs`, which must all belong to `group`.
    pub fn script(&self, function: Function, group: &EnvName, envs: &[&EnvName]) -> Call {
        let keys = envs
            .iter()
            .flat_map(|env| self.keys.env(group, env).0)
            .collect();
        // `name`, `=<reminder lead ms>`, then `@<window>:<start>:<end>:<hex reason>` for each
        // calendar window near now: see prelude.lua.
        let now = chrono::Utc::now();
        let names: Vec<String> = envs
            .iter()
            .map(|e| {
                let mut item = e.as_str().to_string();
                if let Some(ms) = self.reminders.get(e.as_str()) {
                    item.push_str(&format!("={ms}"));
                }
                for (w, o) in self.calendar.near(e.as_str(), now) {
                    item.push_str(&format!("@{}:{}:{}:", w.name, o.start_ms(), o.end_ms()));
                    item.extend(w.reason.bytes().map(|b| format!("{b:02x}")));
                }
                item
            })
            .collect();
        Call {
            function,
            keys,
            args: vec![
                names.join(","),
                self.keys.events_channel(),
                self.history_length.to_string(),
                String::new(), // the idempotency fingerprint, see `Call::idempotent`
            ],
        }
    }

    /// A call of a read on explicit keys, with no prelude arguments.
    pub fn script_on_keys(&self, function: Function, keys: Vec<String>) -> Call {
        Call {
            function,
            keys,
            args: Vec::new(),
        }
    }
}
