//! The outbox: each env's audit stream, read through one consumer group (`notify`) that every
//! instance joins as a consumer of its own. Redis hands each new entry to exactly one consumer
//! (`XREADGROUP … >`), keeps it pending until that consumer acknowledges it (`XACK`), and lets any
//! consumer take over an entry that stayed pending too long (`XAUTOCLAIM`): an instance that dies
//! holding entries loses them to another after `redeliver_after`. A live instance keeps the
//! entries it is still delivering fresh (`XCLAIM … JUSTID`), so a slow delivery (a long
//! Retry-After) is not taken over and sent twice.
//!
//! An entry bound for several targets is acknowledged once all are done; the targets already done
//! are marked (`<stream>:sent:<id>:<target>`, a day's TTL) so that a take-over sends only the rest.
//! Every key used here is the stream itself or starts with it, so it stays in the env's hash tag.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub(crate) use crate::store::outbox::StreamEntry as Entry;
use crate::store::outbox::{GroupConsumer, GroupStart, StreamRead};
use crate::store::{Store, StoreError};

/// The consumer group on every env's history stream.
pub(crate) const GROUP: &str = "notify";
/// Entries read (or taken over) per stream per round trip.
const BATCH: usize = 100;
/// How long a "this target is done" marker outlives its entry's delivery.
const MARKER_TTL: Duration = Duration::from_millis(24 * 3600 * 1000);
/// A consumer idle this long with nothing pending belonged to an instance that is gone.
const GONE_AFTER_MS: i64 = 3600 * 1000;

/// This instance's end of the consumer groups.
pub(crate) struct Outbox {
    store: Store,
    consumer: String,
    /// The consumer group: [`GROUP`] for announcements, another for each other reader.
    group: &'static str,
    /// Every env's history stream.
    streams: Vec<String>,
    /// The streams known to carry the group; the others get it once they exist.
    joined: Mutex<HashSet<String>>,
    /// Where every group starts, once known (see [`GroupStart`]).
    start: OnceLock<GroupStart>,
    redeliver_after: Duration,
}

impl Outbox {
    /// Redis' clock, in ms: the clock the entries' ids and their `expires` and `starts` are
    /// written in, so ages and "is it still current" are judged by it, not by this machine's.
    pub(crate) fn redis_now(&self) -> u64 {
        self.store.now_ms()
    }

    /// This instance's end of the groups on every configured env's history stream.
    pub fn new(baton: &crate::router::Baton, redeliver_after: Duration) -> Self {
        let (catalog, store) = (baton.catalog(), baton.store().clone());
        let streams = catalog
            .envs()
            .iter()
            .map(|e| store.keys().history(catalog.group_of(e), &e.name))
            .collect();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "baton".into());
        let consumer = format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            store,
            consumer,
            group: GROUP,
            streams,
            joined: Mutex::default(),
            start: OnceLock::new(),
            redeliver_after,
        }
    }

    /// The same outbox read through consumer group `group` (each group sees every entry once).
    pub fn with_group(mut self, group: &'static str) -> Self {
        self.group = group;
        self
    }

    /// How long an unacknowledged entry stays with its claimer before others take it over.
    pub fn set_redeliver_after(&mut self, after: Duration) {
        self.redeliver_after = after;
    }

    /// This instance's consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn group(&self) -> GroupConsumer<'_> {
        self.store.consumer(self.group, &self.consumer)
    }

    fn joined(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the group on every stream that exists, starting at the notifications' epoch (the
    /// first instance's start): history written before notifications were turned on is not
    /// announced, and nothing written since is skipped, whichever instance creates a group and
    /// whenever. Streams that do not exist yet are not created (looking never writes); they get
    /// the group, from the same epoch, when [`Outbox::read`] finds them.
    pub async fn create_groups(&self) -> Result<(), StoreError> {
        let start = self.start().await?;
        let streams: Vec<&str> = self.streams.iter().map(String::as_str).collect();
        let created = self.group().create_groups(&streams, start).await?;
        let mut joined = self.joined();
        for (stream, created) in self.streams.iter().zip(created) {
            if created {
                joined.insert(stream.clone());
            }
        }
        Ok(())
    }

    async fn start(&self) -> Result<GroupStart, StoreError> {
        if let Some(start) = self.start.get() {
            return Ok(*start);
        }
        let key = self.store.keys().notify_epoch();
        let start = self.group().epoch(&key).await?;
        Ok(*self.start.get_or_init(|| start))
    }

    /// New entries for this consumer, and entries another consumer left pending for longer than
    /// `redeliver_after`: one pipelined round trip (each command on its own in a Cluster). Streams
    /// born since the last look get the group first, in the same pipeline.
    pub async fn read(&self) -> Result<Vec<Entry>, StoreError> {
        let (newborn, joined): (Vec<&str>, Vec<&str>) = {
            let known = self.joined();
            self.streams
                .iter()
                .map(String::as_str)
                .partition(|s| !known.contains(*s))
        };
        let all: Vec<&str> = self.streams.iter().map(String::as_str).collect();
        let start = self.start().await?;
        let read = self
            .group()
            .read(start, &newborn, &all, &joined, BATCH, self.redeliver_after)
            .await?;
        let mut known = self.joined();
        for (stream, created) in newborn.iter().zip(read.created) {
            if created {
                known.insert(stream.to_string());
            }
        }
        let mut entries = Vec::new();
        for (stream, answer) in all.iter().zip(read.fresh) {
            match answer {
                // No stream yet, or it was deleted (and its group with it): join it once it is back.
                StreamRead::NoGroup => {
                    known.remove(*stream);
                }
                StreamRead::Failed(e) => {
                    tracing::warn!(%stream, error = %e, "reading the notify outbox failed")
                }
                StreamRead::Entries(new) | StreamRead::Taken(new, _) => entries.extend(new),
            }
        }
        drop(known);
        for (stream, answer) in joined.iter().zip(read.stale) {
            match answer {
                StreamRead::NoGroup => {}
                StreamRead::Failed(e) => tracing::warn!(%stream, error = %e, "XAUTOCLAIM failed"),
                StreamRead::Entries(taken) => entries.extend(taken),
                StreamRead::Taken(taken, trimmed) => {
                    if trimmed > 0 {
                        tracing::warn!(%stream, trimmed, "pending notifications were trimmed from the history before delivery");
                    }
                    entries.extend(taken);
                }
            }
        }
        Ok(entries)
    }

    /// Which `(entry, target)` pairs an earlier claimer already delivered.
    pub async fn delivered(&self, pairs: &[(&Entry, String)]) -> Result<Vec<bool>, StoreError> {
        self.group().delivered(pairs).await
    }

    /// Acknowledges finished entries and marks `target` done on those still owed elsewhere.
    /// Retried once: an entry left unacknowledged would be sent again after a take-over.
    pub async fn finish(&self, done: &[&Entry], target: &str, partly: &[&Entry]) {
        if done.is_empty() && partly.is_empty() {
            return;
        }
        for attempt in 1..=2 {
            match self.group().finish(done, target, partly, MARKER_TTL).await {
                Ok(_) => return,
                Err(e) if attempt == 1 => {
                    tracing::debug!(error = %e, "acknowledging notifications failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, entries = done.len(), "could not acknowledge delivered notifications; they may be sent again")
                }
            }
        }
    }

    /// Acknowledges entries that need no message at all.
    pub async fn skip(&self, entries: &[&Entry]) {
        self.finish(entries, "", &[]).await;
    }

    /// Claims `entries` again for this consumer, so no other instance takes them over while
    /// they are still being delivered here.
    pub async fn keep_claimed(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.group().keep_claimed(entries).await
    }

    /// How often a live instance refreshes its claims: well within `redeliver_after`.
    pub fn keep_alive_every(&self) -> Duration {
        (self.redeliver_after / 3).max(Duration::from_millis(100))
    }

    /// Removes the consumers of instances that are gone: idle for an hour with nothing pending
    /// (a live instance reads every second). Keeps the groups from growing with every restart.
    pub async fn prune_consumers(&self) -> Result<usize, StoreError> {
        let streams: Vec<String> = self.joined().iter().cloned().collect();
        let infos = self.group().consumers(&streams).await?;
        let gone: Vec<(&str, &str)> = streams
            .iter()
            .zip(&infos)
            .flat_map(|(stream, consumers)| {
                consumers
                    .iter()
                    .filter(|c| c.pending == 0 && c.idle_ms > GONE_AFTER_MS)
                    .filter(|c| c.name != self.consumer)
                    .map(move |c| (stream.as_str(), c.name.as_str()))
            })
            .collect();
        self.group().remove(&gone).await?;
        Ok(gone.len())
    }
}
