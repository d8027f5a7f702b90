//! BullMQ queues (`<bullmq_prefix>:<queue>:…`) read from outside: plain LLEN / ZCARD / HGETALL
//! in one pipelined round trip, so looking never writes (opening a BullMQ `Queue` would write its
//! meta hash). Writes go through BullMQ's own scripts, in [`super::queue_writes`].
//!
//! BullMQ 5 keeps a paused queue's jobs in a `paused` list; BullMQ 6 keeps them in `wait` and sets
//! `meta.paused`. Both layouts are read right: waiting = `wait` + `paused`.

use std::collections::HashMap;

use redis::{Cmd, Value};

use super::admin::{decode, key_cmd};
use super::history::{audit_written, AuditEntry};
use super::scan::escape_glob;
use super::{Store, StoreError};

/// The BullMQ major whose Lua scripts bullmq-official 1.4 bundles.
pub const SCRIPTS_MAJOR: u64 = 6;
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
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The meta hash; empty when the queue does not exist.
    pub meta: HashMap<String, String>,
    /// In [`COUNTED`] order; `None` where the key held something unexpected.
    counts: [Option<u64>; 8],
}

impl Snapshot {
    /// The size of the queue's `suffix` list or set (`wait`, `failed`, …), if readable.
    pub(crate) fn count(&self, suffix: &str) -> Option<u64> {
        let i = COUNTED.iter().position(|(_, s)| *s == suffix)?;
        self.counts[i]
    }

    /// Jobs waiting to run: `wait`, plus a BullMQ 5 paused queue's `paused` list.
    pub(crate) fn waiting(&self) -> Option<u64> {
        Some(self.count("wait")? + self.count("paused")?)
    }

    /// Whether the meta hash says paused.
    pub(crate) fn paused(&self) -> bool {
        matches!(
            self.meta.get("paused").map(String::as_str),
            Some("1" | "true")
        )
    }

    /// `missing`, `paused` or `running`.
    pub(crate) fn state(&self) -> &'static str {
        match (self.meta.is_empty(), self.paused()) {
            (true, _) => "missing",
            (false, true) => "paused",
            (false, false) => "running",
        }
    }

    /// The version to show, and its major: `meta.version` (`bullmq:5.81.5`) as BullMQ writes it;
    /// a queue only bullmq-official has opened has the scripts' own layout.
    pub(crate) fn version(&self) -> (String, Option<u64>) {
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

    fn from_answers(answers: &[Value]) -> Self {
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
}

/// A failed job's fields as BullMQ wrote them (other services' text: show it with care).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailedJob {
    /// The job's name.
    pub name: Option<Vec<u8>>,
    /// Attempts, as BullMQ 5.x+ counts them (`atm`).
    pub atm: Option<Vec<u8>>,
    /// Attempts, as older BullMQ counts them.
    pub attempts_made: Option<Vec<u8>>,
    /// Why it failed.
    pub failed_reason: Option<Vec<u8>>,
}

/// The key of a queue's `suffix` (`meta`, `wait`, a job id).
pub(super) fn queue_key(prefix: &str, queue: &str, suffix: &str) -> String {
    format!("{prefix}:{queue}:{suffix}")
}

/// The commands that read one queue: its meta hash, then [`COUNTED`].
fn queue_reads(prefix: &str, name: &str) -> Vec<Cmd> {
    let mut cmds = vec![key_cmd("HGETALL", &queue_key(prefix, name, "meta"))];
    for (command, suffix) in COUNTED {
        cmds.push(key_cmd(command, &queue_key(prefix, name, suffix)));
    }
    cmds
}

impl Store {
    /// Every queue with a meta hash under `prefix`, found by SCAN.
    pub(crate) async fn bullmq_queues(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let pattern = format!("{}:*:meta", escape_glob(prefix));
        let keys = self.scan_match(&pattern).await?;
        let head = format!("{prefix}:");
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(&head)?.strip_suffix(":meta"))
            .filter(|name| !name.is_empty() && !name.contains(':'))
            .map(String::from)
            .collect())
    }

    /// Each named queue's snapshot, all in one round trip.
    pub(crate) async fn queue_snapshots(
        &self,
        prefix: &str,
        names: &[String],
    ) -> Result<Vec<Snapshot>, StoreError> {
        let cmds = names.iter().flat_map(|n| queue_reads(prefix, n)).collect();
        let answers = self.query_many(cmds).await?;
        Ok(answers
            .chunks(1 + COUNTED.len())
            .map(Snapshot::from_answers)
            .collect())
    }

    /// One queue's snapshot and the ids of its `newest` newest failed jobs, in one round trip.
    pub(crate) async fn queue_with_failed(
        &self,
        prefix: &str,
        name: &str,
        newest: usize,
    ) -> Result<(Snapshot, Vec<String>), StoreError> {
        let mut cmds = queue_reads(prefix, name);
        let mut failed = redis::cmd("ZREVRANGE");
        failed
            .arg(queue_key(prefix, name, "failed"))
            .arg(0)
            .arg(newest - 1);
        cmds.push(failed);
        let answers = self.query_many(cmds).await?;
        let ids = answers
            .last()
            .and_then(|v| decode(v).ok())
            .unwrap_or_default();
        Ok((Snapshot::from_answers(&answers), ids))
    }

    /// The fields shown of each failed job in `ids` (HMGET each), in one round trip.
    pub(crate) async fn failed_jobs(
        &self,
        prefix: &str,
        name: &str,
        ids: &[String],
    ) -> Result<Vec<FailedJob>, StoreError> {
        let fields = ["name", "atm", "attemptsMade", "failedReason"];
        let cmds = ids
            .iter()
            .map(|id| {
                let mut cmd = redis::cmd("HMGET");
                cmd.arg(queue_key(prefix, name, id)).arg(&fields);
                cmd
            })
            .collect();
        let details = self.query_many(cmds).await?;
        Ok(details
            .iter()
            .map(|v| {
                let f: Vec<Option<Vec<u8>>> = decode(v).unwrap_or_default();
                let field = |i: usize| f.get(i).cloned().flatten();
                FailedJob {
                    name: field(0),
                    atm: field(1),
                    attempts_made: field(2),
                    failed_reason: field(3),
                }
            })
            .collect())
    }

    /// One queue's snapshot; with `audit`, the admin audit entry goes out in the same round trip
    /// (after a BullMQ write, which runs on bullmq-official's own connection).
    pub(crate) async fn queue_snapshot(
        &self,
        prefix: &str,
        name: &str,
        audit: Option<AuditEntry<'_>>,
    ) -> Result<Snapshot, StoreError> {
        let mut cmds = queue_reads(prefix, name);
        if let Some(entry) = audit {
            cmds.push(self.audit_cmd(entry));
        }
        let answers = self.query_many(cmds).await?;
        if audit.is_some() {
            audit_written(answers.last());
        }
        Ok(Snapshot::from_answers(&answers))
    }
}
