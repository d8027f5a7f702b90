//! The expiry sweeper's typed operations (`crate::events`): its lease, its heartbeat and the
//! next deadline of each group. One instance at a time holds the lease and sweeps; the others
//! only listen for its heartbeat, so what the sweeper costs Redis does not grow with the number
//! of instances, and what it reads does not grow with the number of envs while nothing changes.

use std::time::Duration;

use redis::{Cmd, Value};

use super::{Store, StoreError};
use crate::domain::EnvName;

/// When each group's first deadline falls, by Redis' clock (which the store learns from the
/// same answer: [`Store::now_ms`]).
pub(crate) struct NextDeadlines {
    /// Per group asked, in order: its earliest deadline (ms), or `None` when it has none.
    pub next: Vec<Result<Option<u64>, StoreError>>,
}

impl Store {
    /// The holder keeps its lease for `ttl` more and says so on the heartbeat channel: `GETEX`
    /// and `PUBLISH` in one round trip. Answers whether the lease is still `id`'s. A holder that
    /// lost it (it lapsed and another took it) has just lengthened the new holder's lease, which
    /// is harmless, and stops sweeping.
    pub(crate) async fn lease_renew(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut renew = redis::cmd("GETEX");
        renew
            .arg(self.keys.sweeper_lease())
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        let values = self.query_many(vec![renew, self.heartbeat(id)]).await?;
        Ok(matches!(values.first(), Some(Value::BulkString(b)) if b == id.as_bytes()))
    }

    /// Takes the lease when nobody holds it (`SET NX PX`); a new holder announces itself at once.
    pub(crate) async fn lease_take(&self, id: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut take = redis::cmd("SET");
        take.arg(self.keys.sweeper_lease())
            .arg(id)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64);
        let taken = !matches!(self.query_once::<Value>(&take).await?, Value::Nil);
        if taken {
            let _: Value = self.query_once(&self.heartbeat(id)).await?;
        }
        Ok(taken)
    }

    /// Gives the lease up on shutdown, if it is still `id`'s, so another instance takes over at
    /// its next tick rather than when the lease lapses.
    pub(crate) async fn lease_release(&self, id: &str) -> Result<(), StoreError> {
        let key = self.keys.sweeper_lease();
        let mut get = redis::cmd("GET");
        get.arg(&key);
        if self.query::<Option<String>>(&get).await?.as_deref() == Some(id) {
            let mut del = redis::cmd("DEL");
            del.arg(&key);
            let _: Value = self.query_once(&del).await?;
        }
        Ok(())
    }

    fn heartbeat(&self, id: &str) -> Cmd {
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.keys.sweeper_channel()).arg(id);
        publish
    }

    /// Each group's earliest deadline and Redis' clock, in one round trip (on a Cluster, one per
    /// master, concurrently): `TIME` and one `ZRANGE … 0 0 WITHSCORES` per group.
    pub(crate) async fn next_deadlines(
        &self,
        groups: &[&EnvName],
    ) -> Result<NextDeadlines, StoreError> {
        let mut cmds = vec![redis::cmd("TIME")];
        for g in groups {
            let mut first = redis::cmd("ZRANGE");
            first
                .arg(self.keys.deadlines(g))
                .arg(0)
                .arg(0)
                .arg("WITHSCORES");
            cmds.push(first);
        }
        let mut values = self.query_many(cmds).await?.into_iter();
        let now = match values.next() {
            Some(Value::Array(t)) => super::clock::time_ms(&t).ok_or(StoreError::Unexpected)?,
            _ => return Err(StoreError::Unexpected),
        };
        self.clock.learn(now);
        Ok(NextDeadlines {
            next: values.map(first_score).collect(),
        })
    }
}

/// The score of a `ZRANGE … WITHSCORES` answer's one member (RESP2 flat, or RESP3 pairs).
fn first_score(v: Value) -> Result<Option<u64>, StoreError> {
    let Value::Array(items) = v else {
        return Err(StoreError::Unexpected);
    };
    let score = match items.as_slice() {
        [] => return Ok(None),
        [_, s] => score(s),
        [Value::Array(pair)] => pair.get(1).and_then(score),
        _ => None,
    };
    score.map(Some).ok_or(StoreError::Unexpected)
}

/// One score as Redis sends it: a bulk string (RESP2) or a double (RESP3).
fn score(v: &Value) -> Option<u64> {
    match v {
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()?
            .parse::<f64>()
            .ok()
            .map(|f| f as u64),
        Value::Double(f) => Some(*f as u64),
        _ => None,
    }
}
