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

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use redis::{Cmd, Value};

use crate::store::{Store, StoreError};

/// The consumer group on every env's history stream.
pub(crate) const GROUP: &str = "notify";
/// Entries read (or taken over) per stream per round trip.
const BATCH: usize = 100;
/// How long a "this target is done" marker outlives its entry's delivery.
const MARKER_TTL_MS: u64 = 24 * 3600 * 1000;
/// A consumer idle this long with nothing pending belonged to an instance that is gone.
const GONE_AFTER_MS: i64 = 3600 * 1000;

/// One audit entry to announce.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The stream it is in.
    pub stream: String,
    /// Its stream id (`<ms>-<seq>`, by Redis' clock).
    pub id: String,
    /// Its fields as the scripts wrote them (`kind`, `env`, `holder`, `display`, …).
    pub fields: HashMap<String, String>,
    /// Taken over from a consumer that did not acknowledge it in time.
    pub redelivered: bool,
}

impl Entry {
    /// A field, or `""`.
    pub fn get(&self, field: &str) -> &str {
        self.fields.get(field).map(String::as_str).unwrap_or("")
    }

    /// A numeric field (ms times, fences), or 0.
    pub fn ms(&self, field: &str) -> u64 {
        self.get(field).parse().unwrap_or(0)
    }

    /// Stream order across streams: ids are Redis-clock milliseconds, then a sequence.
    pub fn order(&self) -> (u64, u64) {
        let (ms, seq) = self.id.split_once('-').unwrap_or((&self.id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }

    /// The key that says `target` has this entry already.
    fn marker(&self, target: &str) -> String {
        format!("{}:sent:{}:{target}", self.stream, self.id)
    }
}

/// This instance's end of the consumer groups.
pub(crate) struct Outbox {
    store: Store,
    consumer: String,
    /// Every env's history stream.
    streams: Vec<String>,
    /// The streams known to carry the group; the others get it once they exist.
    joined: Mutex<HashSet<String>>,
    redeliver_after: Duration,
}

impl Outbox {
    pub fn new(store: Store, streams: Vec<String>, redeliver_after: Duration) -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "baton".into());
        let consumer = format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            store,
            consumer,
            streams,
            joined: Mutex::default(),
            redeliver_after,
        }
    }

    /// How long an unacknowledged entry stays with its claimer before others take it over.
    pub fn set_redeliver_after(&mut self, after: Duration) {
        self.redeliver_after = after;
    }

    /// This instance's consumer name.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn joined(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.joined.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts the group on every stream that exists, starting at its end (`$`): history written
    /// before notifications were turned on is not announced. Streams that do not exist yet are
    /// not created (looking never writes); they get the group from their first entry on (`0`)
    /// when [`Outbox::read`] finds them.
    pub async fn create_groups(&self) -> Result<(), StoreError> {
        let cmds = self.streams.iter().map(|s| create(s, "$")).collect();
        let values = self.store.query_many(cmds).await?;
        let mut joined = self.joined();
        for (stream, v) in self.streams.iter().zip(&values) {
            if created(v) {
                joined.insert(stream.clone());
            }
        }
        Ok(())
    }

    /// New entries for this consumer, and entries another consumer left pending for longer than
    /// `redeliver_after`: one pipelined round trip (each command on its own in a Cluster). Streams
    /// born since the last look get the group first, in the same pipeline.
    pub async fn read(&self) -> Result<Vec<Entry>, StoreError> {
        let (newborn, joined): (Vec<&String>, Vec<&String>) = {
            let known = self.joined();
            self.streams.iter().partition(|s| !known.contains(*s))
        };
        let mut cmds: Vec<Cmd> = newborn.iter().map(|s| create(s, "0")).collect();
        cmds.extend(self.streams.iter().map(|s| {
            let mut c = redis::cmd("XREADGROUP");
            c.arg("GROUP")
                .arg(GROUP)
                .arg(&self.consumer)
                .arg("COUNT")
                .arg(BATCH)
                .arg("STREAMS")
                .arg(s)
                .arg(">");
            c
        }));
        let stale_ms = self.redeliver_after.as_millis() as u64;
        cmds.extend(joined.iter().map(|s| {
            let mut c = redis::cmd("XAUTOCLAIM");
            c.arg(*s)
                .arg(GROUP)
                .arg(&self.consumer)
                .arg(stale_ms)
                .arg("0-0")
                .arg("COUNT")
                .arg(BATCH);
            c
        }));
        let values = self.store.query_many(cmds).await?;
        if values.len() != newborn.len() + self.streams.len() + joined.len() {
            return Err(StoreError::Unexpected);
        }
        let (made, rest) = values.split_at(newborn.len());
        let (fresh, stale) = rest.split_at(self.streams.len());
        let mut known = self.joined();
        for (stream, v) in newborn.iter().zip(made) {
            if created(v) {
                known.insert(stream.to_string());
            }
        }
        let mut entries = Vec::new();
        for (stream, v) in self.streams.iter().zip(fresh) {
            match v {
                // No stream yet, or it was deleted (and its group with it): join it once it is back.
                Value::ServerError(e) if e.code() == "NOGROUP" => {
                    known.remove(stream);
                }
                Value::ServerError(e) => {
                    tracing::warn!(%stream, error = ?e, "reading the notify outbox failed")
                }
                v => entries.extend(read_reply(v)),
            }
        }
        drop(known);
        for (stream, v) in joined.iter().zip(stale) {
            match v {
                Value::ServerError(e) if e.code() == "NOGROUP" => {}
                Value::ServerError(e) => tracing::warn!(%stream, error = ?e, "XAUTOCLAIM failed"),
                v => {
                    let (taken, trimmed) = autoclaim_reply(stream, v);
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
        let cmds = pairs
            .iter()
            .map(|(e, target)| {
                let mut c = redis::cmd("EXISTS");
                c.arg(e.marker(target));
                c
            })
            .collect();
        let values = self.store.query_many(cmds).await?;
        Ok(values
            .iter()
            .map(|v| matches!(v, Value::Int(n) if *n > 0))
            .collect())
    }

    /// Acknowledges finished entries and marks `target` done on those still owed elsewhere.
    /// Retried once: an entry left unacknowledged would be sent again after a take-over.
    pub async fn finish(&self, done: &[&Entry], target: &str, partly: &[&Entry]) {
        let mut cmds = Vec::new();
        let mut by_stream: Vec<(&str, Vec<&str>)> = Vec::new();
        for e in done {
            match by_stream.iter_mut().find(|(s, _)| *s == e.stream) {
                Some((_, ids)) => ids.push(&e.id),
                None => by_stream.push((&e.stream, vec![&e.id])),
            }
        }
        for (stream, ids) in by_stream {
            let mut c = redis::cmd("XACK");
            c.arg(stream).arg(GROUP).arg(ids);
            cmds.push(c);
        }
        for e in partly {
            let mut c = redis::cmd("SET");
            c.arg(e.marker(target)).arg(1).arg("PX").arg(MARKER_TTL_MS);
            cmds.push(c);
        }
        if cmds.is_empty() {
            return;
        }
        for attempt in 1..=2 {
            match self.store.query_many(cmds.clone()).await {
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

    /// Keeps this consumer's claim on `entries` fresh until dropped, so no other instance takes
    /// them over while they are still being delivered here.
    pub async fn keep_alive(&self, entries: &[Entry]) {
        let every = (self.redeliver_after / 3).max(Duration::from_millis(100));
        let mut by_stream: Vec<(&str, Vec<&str>)> = Vec::new();
        for e in entries {
            match by_stream.iter_mut().find(|(s, _)| *s == e.stream) {
                Some((_, ids)) => ids.push(&e.id),
                None => by_stream.push((&e.stream, vec![&e.id])),
            }
        }
        loop {
            tokio::time::sleep(every).await;
            // Acknowledged ids are no longer pending, and XCLAIM skips them.
            let cmds = by_stream
                .iter()
                .map(|(stream, ids)| {
                    let mut c = redis::cmd("XCLAIM");
                    c.arg(*stream)
                        .arg(GROUP)
                        .arg(&self.consumer)
                        .arg(0)
                        .arg(ids)
                        .arg("JUSTID");
                    c
                })
                .collect();
            if let Err(e) = self.store.query_many(cmds).await {
                tracing::debug!(error = %e, "could not refresh the claim on notifications being delivered");
            }
        }
    }

    /// Removes the consumers of instances that are gone: idle for an hour with nothing pending
    /// (a live instance reads every second). Keeps the groups from growing with every restart.
    pub async fn prune_consumers(&self) -> Result<usize, StoreError> {
        let streams: Vec<String> = self.joined().iter().cloned().collect();
        let cmds = streams
            .iter()
            .map(|s| {
                let mut c = redis::cmd("XINFO");
                c.arg("CONSUMERS").arg(s).arg(GROUP);
                c
            })
            .collect();
        let infos = self.store.query_many(cmds).await?;
        let mut gone = Vec::new();
        for (stream, info) in streams.iter().zip(infos) {
            for consumer in items(&info) {
                let fields: HashMap<String, &Value> = pairs(consumer)
                    .into_iter()
                    .filter_map(|(k, v)| Some((text(k)?, v)))
                    .collect();
                let num = |k: &str| fields.get(k).and_then(|v| int(v));
                let name = fields.get("name").and_then(|v| text(v));
                if let (Some(name), Some(0), Some(idle)) = (name, num("pending"), num("idle")) {
                    if idle > GONE_AFTER_MS && name != self.consumer {
                        let mut c = redis::cmd("XGROUP");
                        c.arg("DELCONSUMER").arg(stream).arg(GROUP).arg(name);
                        gone.push(c);
                    }
                }
            }
        }
        let n = gone.len();
        if n > 0 {
            self.store.query_many(gone).await?;
        }
        Ok(n)
    }
}

/// `XREADGROUP`: per stream, its entries (RESP2 arrays or a RESP3 map; nil when nothing is new).
/// `XGROUP CREATE <stream> notify <from>`, never creating the stream.
fn create(stream: &str, from: &str) -> Cmd {
    let mut c = redis::cmd("XGROUP");
    c.arg("CREATE").arg(stream).arg(GROUP).arg(from);
    c
}

/// Whether the group is now there: made, or made before (BUSYGROUP). A missing stream is not.
fn created(v: &Value) -> bool {
    match v {
        Value::ServerError(e) => e.code() == "BUSYGROUP",
        _ => true,
    }
}

fn read_reply(v: &Value) -> Vec<Entry> {
    let mut out = Vec::new();
    for (stream, list) in pairs(v) {
        let Some(stream) = text(stream) else { continue };
        out.extend(entries(&stream, list, false));
    }
    out
}

/// `XAUTOCLAIM`: `[cursor, entries, deleted ids]`; returns the entries and how many were trimmed.
fn autoclaim_reply(stream: &str, v: &Value) -> (Vec<Entry>, usize) {
    let parts = items(v);
    let taken = parts
        .get(1)
        .map(|list| entries(stream, list, true))
        .unwrap_or_default();
    let trimmed = parts.get(2).map(|d| items(d).len()).unwrap_or(0);
    (taken, trimmed)
}

fn entries(stream: &str, list: &Value, redelivered: bool) -> Vec<Entry> {
    items(list)
        .iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = text(parts.first()?)?;
            let fields = pairs(parts.get(1)?)
                .into_iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect();
            Some(Entry {
                stream: stream.to_string(),
                id,
                fields,
                redelivered,
            })
        })
        .collect()
}

fn items(v: &Value) -> &[Value] {
    match v {
        Value::Array(items) | Value::Set(items) => items,
        Value::Attribute { data, .. } => items(data),
        _ => &[],
    }
}

/// Key-value pairs from a RESP3 map, a flat RESP2 array, or an array of two-element arrays.
fn pairs(v: &Value) -> Vec<(&Value, &Value)> {
    match v {
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        Value::Array(list) if list.iter().all(|i| items(i).len() == 2) && !list.is_empty() => {
            list.iter().map(|i| (&items(i)[0], &items(i)[1])).collect()
        }
        Value::Array(list) => list.chunks_exact(2).map(|p| (&p[0], &p[1])).collect(),
        Value::Attribute { data, .. } => pairs(data),
        _ => Vec::new(),
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn entry(id: &str, fields: &[&str]) -> Value {
        Value::Array(vec![
            bulk(id),
            Value::Array(fields.iter().map(|f| bulk(f)).collect()),
        ])
    }

    #[test]
    fn stream_replies_decode_in_resp2_and_resp3_shapes() {
        let resp2 = Value::Array(vec![Value::Array(vec![
            bulk("baton:{qa}:history:qa"),
            Value::Array(vec![entry("5-0", &["kind", "locked", "env", "qa"])]),
        ])]);
        let resp3 = Value::Map(vec![(
            bulk("baton:{qa}:history:qa"),
            Value::Array(vec![entry("5-0", &["kind", "locked", "env", "qa"])]),
        )]);
        for v in [resp2, resp3] {
            let got = read_reply(&v);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].stream, "baton:{qa}:history:qa");
            assert_eq!(got[0].id, "5-0");
            assert_eq!(got[0].get("kind"), "locked");
            assert_eq!(got[0].order(), (5, 0));
        }
        assert!(read_reply(&Value::Nil).is_empty());

        let claimed = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![entry("7-1", &["kind", "claimed"])]),
            Value::Array(vec![bulk("6-0")]),
        ]);
        let (taken, trimmed) = autoclaim_reply("s", &claimed);
        assert_eq!((taken.len(), trimmed), (1, 1));
        assert!(taken[0].redelivered);
    }
}
