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

use super::AdminDesk;
use super::{shown, unknown_name};
use crate::command::AdminArg;
use crate::domain::wall_clock;
use crate::error::BatonError;
use crate::reply::{Reply, Table, Tone, Value};
use crate::store::queues::{Snapshot, SCRIPTS_MAJOR};

/// Newest failed jobs shown by `admin queues <name>`.
const FAILED_SHOWN: usize = 5;
/// Queues shown by `admin queues`; the rest are counted.
const MAX_QUEUES: usize = 100;

pub(super) fn shown_count(n: Option<u64>) -> Value {
    Value::Text(n.map_or("?".into(), |n| n.to_string()))
}

impl AdminDesk {
    /// The configured queues, or every queue with a meta hash under the prefix.
    async fn queue_names(&self) -> Result<Vec<String>, BatonError> {
        let configured = &self.admin.config.queues;
        if !configured.is_empty() {
            return Ok(configured.clone());
        }
        Ok(self
            .store
            .bullmq_queues(&self.admin.config.bullmq_prefix)
            .await?)
    }

    /// One queue's snapshot, read from outside.
    pub(super) async fn queue_snapshot(&self, name: &str) -> Result<Snapshot, BatonError> {
        let prefix = &self.admin.config.bullmq_prefix;
        Ok(self.store.queue_snapshot(prefix, name, None).await?)
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
        let prefix = &self.admin.config.bullmq_prefix;
        let snapshots = self.store.queue_snapshots(prefix, listed).await?;
        let rows = listed
            .iter()
            .zip(&snapshots)
            .map(|(name, s)| {
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
        let prefix = &self.admin.config.bullmq_prefix;
        let (s, ids) = self
            .store
            .queue_with_failed(prefix, &name, FAILED_SHOWN)
            .await?;
        if s.meta.is_empty() {
            return Err(self.no_such_queue(queue).await);
        }
        let details = self.store.failed_jobs(prefix, &name, &ids).await?;
        let lines: Vec<String> = ids
            .iter()
            .zip(&details)
            .map(|(id, job)| {
                let text = |f: &Option<Vec<u8>>, max| f.as_deref().map(|b| shown(b, max));
                let attempts = job.atm.as_ref().or(job.attempts_made.as_ref());
                let attempts = attempts.map(|b| shown(b, 10));
                format!(
                    "#{} {} · {} attempts · {}",
                    shown(id.as_bytes(), 40),
                    text(&job.name, 60).unwrap_or_default(),
                    attempts.as_deref().unwrap_or("?"),
                    text(&job.failed_reason, 200).unwrap_or_default()
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
