//! The admin commands' reads and writes on other services' keys: sessions, leaderboards and
//! rate-limit counters. Each view or action is one pipelined round trip (the audit entry of an
//! action rides in it), and one odd key (WRONGTYPE, an unexpected shape) is reported for that key
//! alone, as [`Unreadable`], instead of failing the whole command.

use redis::{Cmd, FromRedisValue, Script, Value};

use super::history::{audit_written, AuditEntry};
use super::{scripts, Store, StoreError};

/// How a rate limiter keeps its counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterKind {
    /// A counter per window (`INCR` + `EXPIRE`): the value is the count.
    #[default]
    Fixed,
    /// A sorted set of request timestamps: the cardinality is the count.
    Sliding,
}

/// Why one key of another service could not be read, in words for the reply (`WRONGTYPE …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(String);

/// One answer of a pipeline, decoded; a Redis error (WRONGTYPE on someone else's key) becomes
/// its message.
pub(super) fn decode<T: FromRedisValue>(v: &Value) -> Result<T, Unreadable> {
    if let Value::ServerError(e) = v {
        let text = format!("{} {}", e.code(), e.details().unwrap_or_default());
        return Err(Unreadable(text));
    }
    redis::from_redis_value_ref(v).map_err(|e| {
        tracing::warn!(error = %e, value = ?v, "unexpected answer from Redis");
        Unreadable("an unexpected answer".into())
    })
}

/// An answer that must decode: anything else is a contract broken, reported as one.
fn must<T: FromRedisValue>(v: Option<&Value>) -> Result<T, StoreError> {
    let v = v.ok_or(StoreError::Unexpected)?;
    decode(v).map_err(|e| {
        tracing::error!(error = %e, "admin read failed");
        StoreError::Unexpected
    })
}

/// An `EVALSHA` of one of the admin scripts (NOSCRIPT is handled by `query_many`).
fn evalsha(script: &Script, keys: &[&str], args: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash())
        .arg(keys.len())
        .arg(keys)
        .arg(args);
    cmd
}

pub(super) fn key_cmd(name: &str, key: &str) -> Cmd {
    let mut cmd = redis::cmd(name);
    cmd.arg(key);
    cmd
}

/// A single-session login as the session script sees it; the value itself never leaves Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Whether the key exists.
    pub exists: bool,
    /// Its Redis type (`string`, `hash`, …).
    pub kind: String,
    /// PTTL: -1 for no expiry, -2 when gone.
    pub pttl: i64,
    /// Seconds since the last read or write, or -1 when unknown.
    pub idle_secs: i64,
    /// A SHA-1 of the value, worked out inside Redis.
    pub fingerprint: String,
    /// Bytes of a string, fields of a hash.
    pub size: i64,
}

/// What ending a session did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kicked {
    /// Whether there was a session to end.
    pub existed: bool,
    /// The fingerprint of the value that was deleted.
    pub fingerprint: String,
    /// Subscribers the announcement reached.
    pub reached: i64,
}

/// Members with their scores as Redis sends them (`55.329999999999998`).
pub type Entries = Vec<(Vec<u8>, String)>;

/// A member's place on a leaderboard, and its neighbours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Around {
    /// 0-based rank, or negative when the member is not on the board.
    pub rank: i64,
    /// Members on the board.
    pub size: i64,
    /// The 0-based rank of the first neighbour.
    pub first: i64,
    /// The neighbours, the member included.
    pub entries: Entries,
}

/// A leaderboard view: the parts asked for, each readable or not on its own.
#[derive(Clone, Debug, Default)]
pub struct BoardView {
    /// The top n, if asked for.
    pub top: Option<Result<Entries, Unreadable>>,
    /// The neighbourhood of a member, if asked for.
    pub around: Option<Result<Around, Unreadable>>,
}

/// One rate-limit counter key, read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counter {
    /// The count: a fixed window's value (`None` when the key is missing), a sliding log's size.
    pub count: Result<Option<String>, Unreadable>,
    /// PTTL: -1 for no expiry, -2 when gone (or unreadable).
    pub pttl: i64,
    /// A sliding log's oldest and newest scores.
    pub oldest: Option<String>,
    /// See `oldest`.
    pub newest: Option<String>,
}

impl Store {
    /// `admin session`: existence, TTL, idle time and a fingerprint, by a read-only script.
    pub(crate) async fn session(&self, key: &str) -> Result<Session, StoreError> {
        let read = evalsha(&scripts::ADMIN_SESSION, &[key], &[]);
        let answers = self.query_many(vec![read]).await?;
        let (exists, kind, pttl, idle_secs, fingerprint, size): (
            i64,
            String,
            i64,
            i64,
            String,
            i64,
        ) = must(answers.first())?;
        Ok(Session {
            exists: exists != 0,
            kind,
            pttl,
            idle_secs,
            fingerprint,
            size,
        })
    }

    /// `admin kick`: deletes the session and announces `user` on `channel` (none when empty) in
    /// one script, with the audit entry in the same round trip.
    pub(crate) async fn kick_session(
        &self,
        key: &str,
        channel: &str,
        user: &str,
        audit: AuditEntry<'_>,
    ) -> Result<Kicked, StoreError> {
        let kick = evalsha(
            &scripts::ADMIN_KICK,
            &[key],
            &[channel, user, &audit.actor.id],
        );
        let answers = self.query_many(vec![kick, self.audit_cmd(audit)]).await?;
        let (existed, fingerprint, reached): (i64, String, i64) = must(answers.first())?;
        audit_written(answers.get(1));
        Ok(Kicked {
            existed: existed != 0,
            fingerprint,
            reached,
        })
    }

    /// A leaderboard's top `top` (ZREVRANGE, or ZRANGE when ascending, WITHSCORES) and/or the
    /// neighbourhood of `around` (`(member, radius)`, a read-only script), in one round trip.
    pub(crate) async fn leaderboard(
        &self,
        key: &str,
        descending: bool,
        top: Option<usize>,
        around: Option<(&str, usize)>,
    ) -> Result<BoardView, StoreError> {
        let mut cmds = Vec::new();
        if let Some(n) = top {
            let mut range = redis::cmd(if descending { "ZREVRANGE" } else { "ZRANGE" });
            range.arg(key).arg(0).arg(n - 1).arg("WITHSCORES");
            cmds.push(range);
        }
        if let Some((member, radius)) = around {
            let order = if descending { "desc" } else { "asc" };
            let radius = radius.to_string();
            let args = [member, order, &radius];
            cmds.push(evalsha(&scripts::ADMIN_AROUND, &[key], &args));
        }
        let answers = self.query_many(cmds).await?;
        let mut answers = answers.iter();
        let mut next = || answers.next().unwrap_or(&Value::Nil);
        let top = top.map(|_| decode(next()));
        let around = around.map(|_| {
            decode(next()).map(|(rank, size, first, entries)| Around {
                rank,
                size,
                first,
                entries,
            })
        });
        Ok(BoardView { top, around })
    }

    /// Rate-limit counters of `kind`: per key its count (GET, or ZCARD and the log's two ends)
    /// and PTTL, all in one round trip.
    pub(crate) async fn counters(
        &self,
        kind: LimiterKind,
        keys: &[String],
    ) -> Result<Vec<Counter>, StoreError> {
        let mut cmds = Vec::new();
        for key in keys {
            match kind {
                LimiterKind::Fixed => cmds.push(key_cmd("GET", key)),
                LimiterKind::Sliding => {
                    cmds.push(key_cmd("ZCARD", key));
                    cmds.push(zend(key, 0));
                    cmds.push(zend(key, -1));
                }
            }
            cmds.push(key_cmd("PTTL", key));
        }
        let per_key = match kind {
            LimiterKind::Fixed => 2,
            LimiterKind::Sliding => 4,
        };
        let answers = self.query_many(cmds).await?;
        Ok(answers.chunks(per_key).map(|a| counter(kind, a)).collect())
    }

    /// Deletes exactly `keys`, with the audit entry, in one round trip; how many existed.
    pub(crate) async fn reset_counters(
        &self,
        keys: &[String],
        audit: AuditEntry<'_>,
    ) -> Result<u64, StoreError> {
        let mut cmds: Vec<Cmd> = keys.iter().map(|k| key_cmd("DEL", k)).collect();
        cmds.push(self.audit_cmd(audit));
        let answers = self.query_many(cmds).await?;
        let mut removed = 0;
        for answer in &answers[..keys.len()] {
            removed += must::<u64>(Some(answer))?;
        }
        audit_written(answers.last());
        Ok(removed)
    }
}

fn counter(kind: LimiterKind, answers: &[Value]) -> Counter {
    let nil = Value::Nil;
    let at = |i: usize| answers.get(i).unwrap_or(&nil);
    let pttl = decode::<i64>(at(answers.len().saturating_sub(1))).unwrap_or(-2);
    match kind {
        LimiterKind::Fixed => Counter {
            count: decode::<Option<String>>(at(0)),
            pttl,
            oldest: None,
            newest: None,
        },
        LimiterKind::Sliding => {
            let end = |i| {
                decode::<Entries>(at(i))
                    .ok()
                    .and_then(|v| v.into_iter().next())
                    .map(|(_, score)| score)
            };
            Counter {
                count: decode::<u64>(at(0)).map(|n| Some(n.to_string())),
                pttl,
                oldest: end(1),
                newest: end(2),
            }
        }
    }
}

/// The first (0) or last (-1) entry of a sorted set, with its score.
fn zend(key: &str, at: i64) -> Cmd {
    let mut cmd = redis::cmd("ZRANGE");
    cmd.arg(key).arg(at).arg(at).arg("WITHSCORES");
    cmd
}
