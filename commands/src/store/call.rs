//! Function calls: the keys of the envs a call covers, and the prelude's arguments (each env's
//! reminder lead and the freeze calendar's windows near now, the event channel, the history
//! length, an idempotency fingerprint), then the step's own arguments in order.
//!
//! The windows are chosen when the call is sent, around Redis' clock (`clock.rs`), never this
//! instance's: the script decides against its own `TIME`, so it must be sent the windows near
//! that, whatever this machine's clock says.

use chrono::{DateTime, Utc};
use redis::Cmd;

use super::scripts::Function;
use super::Store;
use crate::calendar::Calendar;
use crate::domain::EnvName;

/// A call of one of Baton's functions on the envs of one group. Built by [`Store::script`].
pub struct Call {
    pub(super) function: Function,
    pub(super) keys: Vec<String>,
    /// `ARGV[1]` before the calendar's windows are added: `name[=lead]` per env. `None` for a
    /// call on explicit keys, which has no prelude arguments.
    envs: Option<Vec<String>>,
    /// `ARGV[2]` onwards.
    pub(super) args: Vec<String>,
    /// Redis may answer with an earlier attempt's answer (an idempotent call): its `now` is
    /// not Redis' clock now.
    pub(super) replayable: bool,
    /// The no-writes function that reports the same when Redis refuses this one for being full.
    pub(super) when_full: Option<Function>,
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
        self.args[2] = fingerprint.to_string(); // ARGV[4]
        self.replayable = true;
        self
    }

    /// The `FCALL`, with the calendar's windows near `now` (Redis' clock) on each env.
    pub(super) fn cmd(&self, calendar: &Calendar, now: DateTime<Utc>) -> Cmd {
        self.cmd_of(self.function, calendar, now)
    }

    /// The same call of another function (the no-writes twin of a refused one).
    pub(super) fn cmd_of(
        &self,
        function: Function,
        calendar: &Calendar,
        now: DateTime<Utc>,
    ) -> Cmd {
        let mut c = redis::cmd("FCALL");
        c.arg(function.name()).arg(self.keys.len()).arg(&self.keys);
        if let Some(envs) = &self.envs {
            // `name[=lead]`, then `@<window>:<start>:<end>:<hex reason>` for each calendar window
            // near now: see prelude.lua.
            let items: Vec<String> = envs
                .iter()
                .map(|item| {
                    let name = item.split_once('=').map_or(item.as_str(), |(n, _)| n);
                    let mut item = item.clone();
                    for (w, o) in calendar.near(name, now) {
                        item.push_str(&format!("@{}:{}:{}:", w.name, o.start_ms(), o.end_ms()));
                        item.extend(w.reason.bytes().map(|b| format!("{b:02x}")));
                    }
                    item
                })
                .collect();
            c.arg(items.join(","));
        }
        c.arg(&self.args);
        c
    }

    /// Whether sending it needs Redis' clock (its envs have calendar windows to choose).
    pub(super) fn needs_clock(&self, calendar: &Calendar) -> bool {
        self.envs.is_some() && !calendar.windows().is_empty()
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
        let pairs: Vec<(&EnvName, &EnvName)> = envs.iter().map(|e| (group, *e)).collect();
        self.script_across(function, &pairs)
    }

    /// A call of `function` on envs of any groups, each `(group, env)`: one slot only on a
    /// Cluster (see `prepare_across`), any on a single Redis.
    pub fn script_across(&self, function: Function, pairs: &[(&EnvName, &EnvName)]) -> Call {
        // One key per env, its lock's details: the prelude names the env's others from it.
        let keys = pairs
            .iter()
            .map(|(group, env)| self.keys.lockmeta(group, env))
            .collect();
        let envs: Vec<&EnvName> = pairs.iter().map(|(_, e)| *e).collect();
        // `name`, `=<reminder lead ms>`; the windows are added when it is sent (`Call::cmd`).
        let names: Vec<String> = envs
            .iter()
            .map(|e| match self.reminders.get(e.as_str()) {
                Some(ms) => format!("{e}={ms}"),
                None => e.as_str().to_string(),
            })
            .collect();
        Call {
            function,
            keys,
            envs: Some(names),
            args: vec![
                self.prelude_args.0.clone(),
                self.prelude_args.1.clone(),
                String::new(), // the idempotency fingerprint, see `Call::idempotent`
            ],
            replayable: false,
            when_full: None,
        }
    }

    /// A call of a read on explicit keys, with no prelude arguments.
    pub fn script_on_keys(&self, function: Function, keys: Vec<String>) -> Call {
        Call {
            function,
            keys,
            envs: None,
            args: Vec::new(),
            replayable: false,
            when_full: None,
        }
    }
}
