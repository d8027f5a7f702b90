//! BullMQ queues (`<bullmq_prefix>:<queue>:…`). Looking is plain LLEN / ZCARD / HGETALL in one
//! pipelined round trip, so it never writes (opening a BullMQ `Queue` would write its meta hash).
//! Acting ([`super::queue_writes`]) goes through BullMQ's own scripts (bullmq-official), only on
//! a queue whose meta hash exists, and only where the queue's BullMQ major version makes it safe:
//!
//! | written by | retry | pause | resume |
//! |---|---|---|---|
//! | BullMQ 6 (the scripts' own) | yes | yes | yes |
//! | BullMQ 5 | only while not paused | no | yes |
//! | any other major, or unknown | no | no | no |
//!
//! BullMQ 5 keeps a paused queue's jobs in a `paused` list; BullMQ 6 keeps them in `wait` and sets
//! `meta.paused`. The 6 scripts' pause on a 5 queue, or their retry while it is paused, leaves
//! jobs where a 5 resume loses them. Both layouts are read right: waiting = `wait` + `paused`.
//!
//! # Format
//! `admin queues [<name>]`

use std::collections::HashMap;

use redis::Value as RedisValue;

use super::{decode, shown, unknown_name, SCAN_COUNT};
use crate::command::AdminArg;
use crate::error::BatonError;
use crate::reply::{Reply, Table, Tone, Value};
use crate::router::{wall_clock, Baton};
use crate::store::scan::escape_glob;

/// The BullMQ major whose Lua scripts bullmq-official 1.4 bundles.
pub(super) const SCRIPTS_MAJOR: u64 = 6;
/// Newest failed jobs shown by `admin queues <name>`.
const FAILED_SHOWN: usize = 5;
/// Queues shown by `admin queues`; the rest are counted.
const MAX_QUEUES: usize = 100;
/// The counts read for each queue, in pipeline order after its meta hash.
const COUNTED: [(&str, &str); 8] = [
    ("LLEN", "wait"),
    ("LLEN", "paused"),
    ("LLEN", "active"),
    ("ZCARD", "delayed"),
    ("ZCARD", "prioritized"),
    ("ZCARD", "completed"),
    ("ZCARD", "failed"),
    ("ZCARD", "waiting-children"),
];

/// One queue as read from outside.
pub(super) struct Snapshot {
    pub(super) meta: HashMap<String, String>,
    /// In [`COUNTED`] order; `None` where the key held something unexpected.
    counts: [Option<u64>; 8],
}

impl Snapshot {
    pub(super) fn count(&self, suffix: &str) -> Option<u64> {
        let i = COUNTED.iter().position(|(_, s)| *s == suffix)?;
        self.counts[i]
    }
    /// Jobs waiting to run: `wait`, plus a BullMQ 5 paused queue's `paused` list.
    pub(super) fn waiting(&self) -> Option<u64> {
        Some(self.count("wait")? + self.count("paused")?)
    }
    pub(super) fn paused(&self) -> bool {
        matches!(
            self.meta.get("paused").map(String::as_str),
            Some("1" | "true")
        )
    }
    pub(super) fn state(&self) -> &'static str {
        match (self.meta.is_empty(), self.paused()) {
            (true, _) => "missing",
            (false, true) => "paused",
            (false, false) => "running",
        }
    }
    /// The version to show, and its major: `meta.version` (`bullmq:5.81.5`) as BullMQ writes it;
    /// a queue only bullmq-official has opened has the scripts' own layout.
    pub(super) fn version(&self) -> (String, Option<u64>) {
        if let Some(v) = self.meta.get("version") {
            let number = v.rsplit(':').next().unwrap_or(v);
            let major = number.split('.').next().and_then(|m| m.parse().ok());
            return (number.to_string(), major);
        }
        match self.meta.get("library") {
            Some(l) if l.starts_with("bullmq-official") => (
                format!("{SCRIPTS_MAJOR}.x (bullmq-official)"),
                Some(SCRIPTS_MAJOR),
            ),
            _ => ("unknown".into(), None),
        }
    }
}

pub(super) fn shown_count(n: Option<u64>) -> Value {
    Value::Text(n.map_or("?".into(), |n| n.to_string()))
}

impl Baton {
    fn queue_key(&self, queue: &str, suffix: &str) -> String {
        format!("{}:{queue}:{suffix}", self.admin.config.bullmq_prefix)
    }

    /// The configured queues, or every queue with a meta hash under the prefix.
    async fn queue_names(&self) -> Result<Vec<String>, BatonError> {
        let configured = &self.admin.config.queues;
        if !configured.is_empty() {
            return Ok(configured.clone());
        }
        let prefix = &self.admin.config.bullmq_prefix;
        let pattern = format!("{}:*:meta", escape_glob(prefix));
        let keys = self.store.scan_match(&pattern, SCAN_COUNT).await?;
        let head = format!("{prefix}:");
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(&head)?.strip_suffix(":meta"))
            .filter(|name| !name.is_empty() && !name.contains(':'))
            .map(String::from)
            .collect())
    }

    /// The commands that read one queue: its meta hash, then [`COUNTED`].
    pub(super) fn queue_reads(&self, name: &str) -> Vec<redis::Cmd> {
        let mut cmds = vec![key_cmd("HGETALL", &self.queue_key(name, "meta"))];
        for (command, suffix) in COUNTED {
            cmds.push(key_cmd(command, &self.queue_key(name, suffix)));
        }
        cmds
    }

    pub(super) fn snapshot(answers: &[RedisValue]) -> Snapshot {
        let meta = answers
            .first()
            .and_then(|v| decode::<HashMap<String, String>>(v).ok())
            .unwrap_or_default();
        let mut counts = [None; 8];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = answers.get(i + 1).and_then(|v| decode::<u64>(v).ok());
        }
        Snapshot { meta, counts }
    }

    /// A queue named in a command: configured (when `admin.queues` lists any) and existing.
    pub(super) async fn known_queue(&self, queue: &AdminArg) -> Result<String, BatonError> {
        let configured = &self.admin.config.queues;
        if !configured.is_empty() && !configured.iter().any(|q| q == queue.as_str()) {
            let names: Vec<&str> = configured.iter().map(String::as_str).collect();
            return Err(unknown_name("queue", queue, &names, ""));
        }
        Ok(queue.as_str().to_string())
    }

    pub(super) async fn no_such_queue(&self, queue: &AdminArg) -> BatonError {
        let prefix = &self.admin.config.bullmq_prefix;
        let names = self.queue_names().await.unwrap_or_default();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let fix = format!(
            "no BullMQ queue has a `{prefix}:<name>:meta` key; is admin.bullmq_prefix right?"
        );
        match unknown_name("queue", queue, &names, &fix) {
            BatonError::Refused(m) => {
                BatonError::Refused(format!("{m} (there is no key {prefix}:{queue}:meta)"))
            }
            other => other,
        }
    }

    /// `admin queues [<name>]`.
    pub(super) async fn admin_queues(&self, queue: Option<&AdminArg>) -> Result<Reply, BatonError> {
        if let Some(queue) = queue {
            return self.admin_queue_detail(queue).await;
        }
        let names = self.queue_names().await?;
        let now = wall_clock();
        if names.is_empty() {
            let prefix = &self.admin.config.bullmq_prefix;
            return Ok(Reply::new(
                Tone::Info,
                format!(
                    "No BullMQ queues under the prefix `{prefix}` (no `{prefix}:<name>:meta` key)"
                ),
                now,
            ));
        }
        let listed = &names[..names.len().min(MAX_QUEUES)];
        let cmds = listed.iter().flat_map(|n| self.queue_reads(n)).collect();
        let answers = self.store.query_many(cmds).await?;
        let rows = listed
            .iter()
            .zip(answers.chunks(1 + COUNTED.len()))
            .map(|(name, a)| {
                let s = Self::snapshot(a);
                vec![
                    Value::Text(shown(name.as_bytes(), 60)),
                    Value::Text(s.version().0),
                    Value::Text(s.state().into()),
                    shown_count(s.waiting()),
                    shown_count(s.count("active")),
                    shown_count(s.count("delayed")),
                    shown_count(s.count("prioritized")),
                    shown_count(s.count("completed")),
                    shown_count(s.count("failed")),
                ]
            })
            .collect();
        let more = match names.len().saturating_sub(MAX_QUEUES) {
            0 => String::new(),
            n => format!(" ({n} more not shown; name one with `admin queues <name>`)"),
        };
        let mut reply = Reply::new(
            Tone::Info,
            format!("{} BullMQ queues{more}", names.len()),
            now,
        );
        reply.table = Some(Table {
            headers: [
                "Queue",
                "Version",
                "State",
                "Waiting",
                "Active",
                "Delayed",
                "Prioritized",
                "Completed",
                "Failed",
            ]
            .map(String::from)
            .to_vec(),
            rows,
        });
        Ok(reply)
    }

    /// `admin queues <name>`: counts, then the newest failed jobs (two round trips).
    async fn admin_queue_detail(&self, queue: &AdminArg) -> Result<Reply, BatonError> {
        let name = self.known_queue(queue).await?;
        let mut cmds = self.queue_reads(&name);
        let mut newest = redis::cmd("ZREVRANGE");
        newest
            .arg(self.queue_key(&name, "failed"))
            .arg(0)
            .arg(FAILED_SHOWN - 1);
        cmds.push(newest);
        let answers = self.store.query_many(cmds).await?;
        let s = Self::snapshot(&answers);
        if s.meta.is_empty() {
            return Err(self.no_such_queue(queue).await);
        }
        let ids: Vec<String> = answers
            .last()
            .and_then(|v| decode(v).ok())
            .unwrap_or_default();
        let jobs = ids
            .iter()
            .map(|id| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(self.queue_key(&name, id)).arg(&[
                    "name",
                    "atm",
                    "attemptsMade",
                    "failedReason",
                ]);
                cmd
            })
            .collect();
        let details = self.store.query_many(jobs).await?;
        let lines: Vec<String> = ids
            .iter()
            .zip(&details)
            .map(|(id, v)| {
                let f: Vec<Option<Vec<u8>>> = decode(v).unwrap_or_default();
                let field = |i: usize| f.get(i).cloned().flatten();
                let text = |i: usize, max| field(i).map(|b| shown(&b, max)).unwrap_or_default();
                let attempts = field(1).or(field(2)).map(|b| shown(&b, 10));
                format!(
                    "#{} {} · {} attempts · {}",
                    shown(id.as_bytes(), 40),
                    text(0, 60),
                    attempts.as_deref().unwrap_or("?"),
                    text(3, 200)
                )
            })
            .collect();
        let (version, major) = s.version();
        let mut reply = Reply::new(
            Tone::Info,
            format!("Queue {name}: {}, BullMQ {version}", s.state()),
            wall_clock(),
        )
        .field("Waiting", shown_count(s.waiting()))
        .field("Active", shown_count(s.count("active")))
        .field("Delayed", shown_count(s.count("delayed")))
        .field("Prioritized", shown_count(s.count("prioritized")))
        .field(
            "Waiting for children",
            shown_count(s.count("waiting-children")),
        )
        .field("Completed", shown_count(s.count("completed")))
        .field("Failed", shown_count(s.count("failed")));
        if !lines.is_empty() {
            reply = reply.with_text(format!("Newest failed jobs:\n{}", lines.join("\n")));
        }
        let paused = s.paused();
        if s.count("failed").unwrap_or(0) > 0 && !(major == Some(5) && paused) {
            reply = reply.button("Retry failed", format!("admin queue retry {name}"), true);
        }
        if paused {
            reply = reply.button("Resume", format!("admin queue resume {name}"), false);
        } else if major == Some(SCRIPTS_MAJOR) {
            reply = reply.button("Pause", format!("admin queue pause {name}"), false);
        }
        Ok(reply)
    }
}

pub(super) fn key_cmd(name: &str, key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}
