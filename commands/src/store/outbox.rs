//! Consumer groups on the envs' audit streams, for the notification outbox
//! (`crate::notify`): creating the group, reading new and stale entries (XREADGROUP,
//! XAUTOCLAIM), acknowledging them (XACK), marking the targets already served, keeping a claim
//! fresh (XCLAIM … JUSTID) and removing the consumers of instances that are gone.
//!
//! Every key used here is a stream or starts with it, so it stays in the env's hash tag. Each
//! operation is one pipelined round trip (each command on its own in a Cluster); each stream's
//! answer is reported for that stream alone.

use std::collections::HashMap;
use std::time::Duration;

use redis::{Cmd, Value};

use super::audit::Event;
use super::{Store, StoreError};

/// One audit entry read through a consumer group.
#[derive(Clone, Debug)]
pub struct StreamEntry {
    /// The stream it is in.
    pub stream: String,
    /// Its stream id (`<ms>-<seq>`, by Redis' clock).
    pub id: String,
    /// What the entry records, decoded once here.
    pub event: Event,
    /// Taken over from a consumer that did not acknowledge it in time.
    pub redelivered: bool,
}

impl StreamEntry {
    /// Stream order across streams: ids are Redis-clock milliseconds, then a sequence.
    pub(crate) fn order(&self) -> (u64, u64) {
        let (ms, seq) = self.id.split_once('-').unwrap_or((&self.id, "0"));
        (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
    }

    /// The key that says `target` has this entry already.
    fn marker(&self, target: &str) -> String {
        format!("{}:sent:{}:{target}", self.stream, self.id)
    }
}

/// Where a new group starts reading a stream: after the given Unix ms (by Redis' clock, which
/// stream ids are). Every instance creates every group at the same moment, the notifications'
/// [epoch](GroupConsumer::epoch), whenever it gets to it: a group made late (a stream born
/// after start-up, an instance started while another was batching) still starts there, so no
/// entry written since is ever skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupStart(pub u64);

/// What one stream answered.
#[derive(Clone, Debug)]
pub enum StreamRead {
    /// Its entries (none when nothing is new).
    Entries(Vec<StreamEntry>),
    /// Entries taken over from another consumer, and how many pending ones had been trimmed
    /// from the stream before anyone delivered them.
    Taken(Vec<StreamEntry>, usize),
    /// The stream or its group does not exist (NOGROUP).
    NoGroup,
    /// Another Redis error, in words.
    Failed(String),
}

/// What one group read gave: groups created, then per stream its new entries, then per stream
/// the entries taken over.
#[derive(Clone, Debug)]
pub struct GroupRead {
    /// Per stream asked to create the group on: whether the group is now there.
    pub created: Vec<bool>,
    /// Per stream read: its new entries.
    pub fresh: Vec<StreamRead>,
    /// Per stream reclaimed from: the entries taken over.
    pub stale: Vec<StreamRead>,
}

/// A consumer of a group, as `XINFO CONSUMERS` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    /// Its name.
    pub name: String,
    /// Entries it holds unacknowledged.
    pub pending: i64,
    /// Milliseconds since it last did anything.
    pub idle_ms: i64,
}

/// One consumer's end of the group `group` on the envs' streams. Built by [`Store::consumer`].
pub struct GroupConsumer<'a> {
    store: &'a Store,
    group: &'a str,
    name: &'a str,
}

impl Store {
    /// The consumer `name` of group `group`.
    pub(crate) fn consumer<'a>(&'a self, group: &'a str, name: &'a str) -> GroupConsumer<'a> {
        GroupConsumer {
            store: self,
            group,
            name,
        }
    }
}

impl GroupConsumer<'_> {
    /// Puts the group on each of `streams` that exists, never creating a stream; per stream,
    /// whether the group is now there (made now or before).
    pub(crate) async fn create_groups(
        &self,
        streams: &[&str],
        from: GroupStart,
    ) -> Result<Vec<bool>, StoreError> {
        let cmds = streams.iter().map(|s| self.create(s, from)).collect();
        let values = self.store.query_many(cmds).await?;
        Ok(values.iter().map(created).collect())
    }

    /// In one round trip: the group created on `create` (from `start`), up to `batch` new
    /// entries of each of `read`, and up to `batch` entries of each of `reclaim` that another
    /// consumer left pending for longer than `stale`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn read(
        &self,
        start: GroupStart,
        create: &[&str],
        read: &[&str],
        reclaim: &[&str],
        batch: usize,
        stale: Duration,
    ) -> Result<GroupRead, StoreError> {
        let mut cmds: Vec<Cmd> = create.iter().map(|s| self.create(s, start)).collect();
        cmds.extend(read.iter().map(|s| {
            let mut c = redis::cmd("XREADGROUP");
            c.arg("GROUP").arg(self.group).arg(self.name);
            c.arg("COUNT").arg(batch).arg("STREAMS").arg(*s).arg(">");
            c
        }));
        let stale_ms = stale.as_millis() as u64;
        cmds.extend(reclaim.iter().map(|s| {
            let mut c = redis::cmd("XAUTOCLAIM");
            c.arg(*s).arg(self.group).arg(self.name).arg(stale_ms);
            c.arg("0-0").arg("COUNT").arg(batch);
            c
        }));
        let values = self.store.query_many(cmds).await?;
        if values.len() != create.len() + read.len() + reclaim.len() {
            return Err(StoreError::Unexpected);
        }
        let (made, rest) = values.split_at(create.len());
        let (fresh, taken) = rest.split_at(read.len());
        Ok(GroupRead {
            created: made.iter().map(created).collect(),
            fresh: fresh.iter().map(|v| stream_read(v, read_reply)).collect(),
            stale: reclaim
                .iter()
                .zip(taken)
                .map(|(s, v)| stream_read(v, |v| autoclaim_reply(s, v)))
                .collect(),
        })
    }

    /// Per `(entry, target)`: whether a consumer already marked it delivered there.
    pub(crate) async fn delivered(
        &self,
        pairs: &[(&StreamEntry, String)],
    ) -> Result<Vec<bool>, StoreError> {
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

    /// Acknowledges `done` and marks `target` delivered on `partly` for `marker_ttl`, in one
    /// round trip (nothing is sent when both are empty).
    pub(crate) async fn finish(
        &self,
        done: &[&StreamEntry],
        target: &str,
        partly: &[&StreamEntry],
        marker_ttl: Duration,
    ) -> Result<(), StoreError> {
        let mut cmds: Vec<Cmd> = by_stream(done)
            .into_iter()
            .map(|(stream, ids)| {
                let mut c = redis::cmd("XACK");
                c.arg(stream).arg(self.group).arg(ids);
                c
            })
            .collect();
        for e in partly {
            let mut c = redis::cmd("SET");
            let ttl_ms = marker_ttl.as_millis() as u64;
            c.arg(e.marker(target)).arg(1).arg("PX").arg(ttl_ms);
            cmds.push(c);
        }
        if !cmds.is_empty() {
            self.store.query_many(cmds).await?;
        }
        Ok(())
    }

    /// Claims `entries` again for this consumer (`XCLAIM … 0 … JUSTID`), so no other consumer
    /// takes them over while they are still being delivered. Acknowledged ids are skipped.
    pub(crate) async fn keep_claimed(&self, entries: &[StreamEntry]) -> Result<(), StoreError> {
        let refs: Vec<&StreamEntry> = entries.iter().collect();
        let cmds = by_stream(&refs)
            .into_iter()
            .map(|(stream, ids)| {
                let mut c = redis::cmd("XCLAIM");
                c.arg(stream).arg(self.group).arg(self.name).arg(0);
                c.arg(ids).arg("JUSTID");
                c
            })
            .collect();
        self.store.query_many(cmds).await.map(|_| ())
    }

    /// Per stream, the group's consumers (those reported with a name, pending count and idle time).
    pub(crate) async fn consumers(
        &self,
        streams: &[String],
    ) -> Result<Vec<Vec<Consumer>>, StoreError> {
        let cmds = streams
            .iter()
            .map(|s| {
                let mut c = redis::cmd("XINFO");
                c.arg("CONSUMERS").arg(s).arg(self.group);
                c
            })
            .collect();
        let infos = self.store.query_many(cmds).await?;
        Ok(infos.iter().map(consumers).collect())
    }

    /// Removes `(stream, consumer)` pairs from the group, in one round trip (none for none).
    pub(crate) async fn remove(&self, gone: &[(&str, &str)]) -> Result<(), StoreError> {
        if gone.is_empty() {
            return Ok(());
        }
        let cmds = gone
            .iter()
            .map(|(stream, name)| {
                let mut c = redis::cmd("XGROUP");
                c.arg("DELCONSUMER").arg(*stream).arg(self.group).arg(*name);
                c
            })
            .collect();
        self.store.query_many(cmds).await.map(|_| ())
    }

    /// `XGROUP CREATE <stream> <group> <from>`, never creating the stream.
    fn create(&self, stream: &str, from: GroupStart) -> Cmd {
        let mut c = redis::cmd("XGROUP");
        c.arg("CREATE").arg(stream).arg(self.group);
        c.arg(format!("{}-0", from.0));
        c
    }

    /// When notifications began, as [`GroupStart`]: the first instance ever to ask sets it to
    /// Redis' clock (`SET NX`, one atomic command), every later one reads it. History older than
    /// that is not announced.
    pub(crate) async fn epoch(&self, key: &str) -> Result<GroupStart, StoreError> {
        let (secs, micros): (u64, u64) = self.store.query(&redis::cmd("TIME")).await?;
        let now = secs * 1000 + micros / 1000;
        let mut set = redis::cmd("SET");
        set.arg(key).arg(now).arg("NX").arg("GET");
        let before: Option<u64> = self.store.query(&set).await?;
        Ok(GroupStart(before.unwrap_or(now)))
    }
}

/// Entries grouped by stream, in first-seen order.
fn by_stream<'e>(entries: &[&'e StreamEntry]) -> Vec<(&'e str, Vec<&'e str>)> {
    let mut by_stream: Vec<(&str, Vec<&str>)> = Vec::new();
    for e in entries {
        match by_stream.iter_mut().find(|(s, _)| *s == e.stream) {
            Some((_, ids)) => ids.push(&e.id),
            None => by_stream.push((&e.stream, vec![&e.id])),
        }
    }
    by_stream
}

/// Whether the group is now there: made, or made before (BUSYGROUP). A missing stream is not.
fn created(v: &Value) -> bool {
    match v {
        Value::ServerError(e) => e.code() == "BUSYGROUP",
        _ => true,
    }
}

fn stream_read(v: &Value, decode: impl Fn(&Value) -> StreamRead) -> StreamRead {
    match v {
        Value::ServerError(e) if e.code() == "NOGROUP" => StreamRead::NoGroup,
        Value::ServerError(e) => StreamRead::Failed(format!("{e:?}")),
        v => decode(v),
    }
}

fn consumers(info: &Value) -> Vec<Consumer> {
    items(info)
        .iter()
        .filter_map(|consumer| {
            let fields: HashMap<String, &Value> = pairs(consumer)
                .into_iter()
                .filter_map(|(k, v)| Some((text(k)?, v)))
                .collect();
            let num = |k: &str| fields.get(k).and_then(|v| int(v));
            Some(Consumer {
                name: fields.get("name").and_then(|v| text(v))?,
                pending: num("pending")?,
                idle_ms: num("idle")?,
            })
        })
        .collect()
}

/// `XREADGROUP`: per stream, its entries (RESP2 arrays or a RESP3 map; nil when nothing is new).
fn read_reply(v: &Value) -> StreamRead {
    let mut out = Vec::new();
    for (stream, list) in pairs(v) {
        let Some(stream) = text(stream) else { continue };
        out.extend(entries(&stream, list, false));
    }
    StreamRead::Entries(out)
}

/// `XAUTOCLAIM`: `[cursor, entries, deleted ids]`; the entries and how many were trimmed.
fn autoclaim_reply(stream: &str, v: &Value) -> StreamRead {
    let parts = items(v);
    let taken = parts
        .get(1)
        .map(|list| entries(stream, list, true))
        .unwrap_or_default();
    let trimmed = parts.get(2).map(|d| items(d).len()).unwrap_or(0);
    StreamRead::Taken(taken, trimmed)
}

fn entries(stream: &str, list: &Value, redelivered: bool) -> Vec<StreamEntry> {
    items(list)
        .iter()
        .filter_map(|entry| {
            let parts = items(entry);
            let id = text(parts.first()?)?;
            let fields = pairs(parts.get(1)?)
                .into_iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect();
            let fields = super::history::event_fields(fields);
            let event = Event::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            Some(StreamEntry {
                stream: stream.to_string(),
                id,
                event,
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

    fn read_entries(v: &Value) -> Vec<StreamEntry> {
        match read_reply(v) {
            StreamRead::Entries(entries) => entries,
            other => panic!("{other:?}"),
        }
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
            let got = read_entries(&v);
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].stream, "baton:{qa}:history:qa");
            assert_eq!(got[0].id, "5-0");
            assert_eq!(got[0].event.kind, crate::store::audit::Kind::Locked);
            assert_eq!(got[0].order(), (5, 0));
        }
        assert!(read_entries(&Value::Nil).is_empty());

        let claimed = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![entry("7-1", &["kind", "claimed"])]),
            Value::Array(vec![bulk("6-0")]),
        ]);
        let StreamRead::Taken(taken, trimmed) = autoclaim_reply("s", &claimed) else {
            panic!("not taken");
        };
        assert_eq!((taken.len(), trimmed), (1, 1));
        assert!(taken[0].redelivered);
    }
}
