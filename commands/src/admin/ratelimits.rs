//! Rate limits: named limiters in `[[admin.ratelimits]]`, each a key pattern with `{id}` for the
//! identity (`rl:otp:{id}`, or `rl:login:{id}:*` for a key per window) and a kind: fixed-window
//! counters (strings) or sliding logs (sorted sets of timestamps).
//!
//! The identity is always literal. An exact pattern names one key. A pattern with glob characters
//! is found with SCAN, the identity escaped in `MATCH`, and every key found is checked again
//! against the pattern with each `*` and `?` kept inside one `:`-separated segment, so
//! `reset login alice` touches neither `alice:bob`'s keys nor, for `reset otp *`, anyone else's.
//!
//! # Format
//! `admin ratelimit <limiter> <id>` · `admin ratelimit reset <limiter> <id>`

use super::glob::Glob;
use super::AdminDesk;
use super::{audit, shown, ttl_text, unknown_name};
use crate::command::AdminArg;
use crate::config::{LimiterKind, RateLimitConfig};
use crate::domain::wall_clock;
use crate::domain::Actor;
use crate::error::BatonError;
use crate::reply::{Reply, Table, Tone, Value};
use crate::store::admin::Counter;
use crate::store::escape_glob;

/// Keys listed in one reply; the rest are counted.
const SHOWN: usize = 20;

impl AdminDesk {
    fn limiter(&self, name: &AdminArg) -> Result<&RateLimitConfig, BatonError> {
        let limiters = &self.admin.config.ratelimits;
        limiters
            .iter()
            .find(|l| l.name.eq_ignore_ascii_case(name.as_str()))
            .ok_or_else(|| {
                let names: Vec<&str> = limiters.iter().map(|l| l.name.as_str()).collect();
                unknown_name(
                    "rate limiter",
                    name,
                    &names,
                    "add [[admin.ratelimits]] to the config",
                )
            })
    }

    /// The identity's keys: the one key of an exact pattern (whether or not it exists), or the
    /// keys SCAN finds for a glob pattern, each checked against the pattern again.
    async fn limiter_keys(
        &self,
        limiter: &RateLimitConfig,
        id: &AdminArg,
    ) -> Result<(Vec<String>, bool), BatonError> {
        let (before, after) = limiter
            .pattern
            .split_once("{id}")
            .unwrap_or((limiter.pattern.as_str(), ""));
        if !is_glob(before) && !is_glob(after) {
            return Ok((vec![format!("{before}{id}{after}")], true));
        }
        let pattern = format!("{before}{}{after}", escape_glob(id.as_str()));
        let matcher = Glob::new(before, id.as_str(), after);
        let keys = self.store.scan_match(&pattern).await?;
        Ok((
            keys.into_iter().filter(|k| matcher.matches(k)).collect(),
            false,
        ))
    }

    /// `admin ratelimit <limiter> <id>`: count, window and TTL of each of the identity's keys.
    pub(super) async fn admin_ratelimit(
        &self,
        limiter: &AdminArg,
        id: &AdminArg,
    ) -> Result<Reply, BatonError> {
        let cfg = self.limiter(limiter)?;
        let (keys, exact) = self.limiter_keys(cfg, id).await?;
        let now = wall_clock();
        let window = cfg
            .window
            .map(crate::domain::human_duration)
            .unwrap_or_else(|| "not configured".into());
        let shown_keys = &keys[..keys.len().min(SHOWN)];
        let counters = self.store.counters(cfg.kind, shown_keys).await?;
        let reads: Vec<Read> = counters.into_iter().map(|c| read(cfg.kind, c)).collect();
        if exact {
            return Ok(one_key(cfg, id, &keys[0], &reads[0], window, now));
        }
        if keys.is_empty() {
            return Ok(Reply::new(
                Tone::Info,
                format!("{id} has no {} keys: nothing counted now", cfg.name),
                now,
            )
            .field("Pattern", Value::Text(cfg.pattern.clone())));
        }
        Ok(key_table(cfg, id, &keys, &reads, window, now))
    }

    /// `admin ratelimit reset <limiter> <id>`: DEL exactly the identity's keys, with the audit
    /// entry, in one round trip after the SCAN.
    pub(super) async fn admin_ratelimit_reset(
        &self,
        actor: &Actor,
        limiter: &AdminArg,
        id: &AdminArg,
    ) -> Result<Reply, BatonError> {
        let cfg = self.limiter(limiter)?;
        let (keys, _) = self.limiter_keys(cfg, id).await?;
        let listed: Vec<&str> = keys.iter().take(5).map(String::as_str).collect();
        let detail = format!(
            "{} key(s): {}{}",
            keys.len(),
            listed.join(", "),
            if keys.len() > 5 { ", …" } else { "" }
        );
        let target = format!("{} {id}", cfg.name);
        let entry = audit(actor, "ratelimit reset", &target, &detail);
        let removed = self.store.reset_counters(&keys, entry).await?;
        let now = wall_clock();
        if removed == 0 {
            return Ok(Reply::new(
                Tone::Info,
                format!("{id} had no {} keys, so nothing was reset", cfg.name),
                now,
            ));
        }
        let shown_keys: Vec<String> = keys
            .iter()
            .take(SHOWN)
            .map(|k| shown(k.as_bytes(), 120))
            .collect();
        Ok(Reply::new(
            Tone::Success,
            format!(
                "{} reset {} for {id}: {removed} {} removed",
                actor.display,
                cfg.name,
                if removed == 1 { "key" } else { "keys" }
            ),
            now,
        )
        .field("Keys", Value::Text(shown_keys.join(", "))))
    }
}

/// `12 of 100`, or the count alone when the limiter has no configured limit.
fn limited(cfg: &RateLimitConfig, count: &str) -> String {
    match cfg.limit {
        Some(limit) => format!("{count} of {limit}"),
        None => count.to_string(),
    }
}

/// The reply for an exact pattern's one key.
fn one_key(
    cfg: &RateLimitConfig,
    id: &AdminArg,
    key: &str,
    r: &Read,
    window: String,
    now: u64,
) -> Reply {
    if r.pttl == -2 {
        return Reply::new(
            Tone::Info,
            format!("{id} has no {} counter: nothing counted now", cfg.name),
            now,
        )
        .field("Key", Value::Text(key.to_string()))
        .field("Window", Value::Text(window));
    }
    let mut reply = Reply::new(
        Tone::Info,
        format!("{id} on {}: {}", cfg.name, limited(cfg, &r.count)),
        now,
    )
    .field("Key", Value::Text(key.to_string()))
    .field("Count", Value::Text(limited(cfg, &r.count)))
    .field("Window", Value::Text(window))
    .field("TTL", Value::Text(ttl_text(r.pttl)));
    if let Some(oldest) = &r.oldest {
        reply = reply.field("Oldest", oldest.clone());
    }
    if let Some(newest) = &r.newest {
        reply = reply.field("Newest", newest.clone());
    }
    reply.button(
        "Reset",
        format!("admin ratelimit reset {} {id}", cfg.name),
        false,
    )
}

/// The reply for a glob pattern's keys: a table of the first [`SHOWN`], the rest counted.
fn key_table(
    cfg: &RateLimitConfig,
    id: &AdminArg,
    keys: &[String],
    reads: &[Read],
    window: String,
    now: u64,
) -> Reply {
    let sliding = cfg.kind == LimiterKind::Sliding;
    let rows = keys
        .iter()
        .zip(reads)
        .map(|(key, r)| {
            let mut row = vec![
                Value::Text(shown(key.as_bytes(), 120)),
                Value::Text(limited(cfg, &r.count)),
                Value::Text(ttl_text(r.pttl)),
            ];
            if sliding {
                row.push(r.newest.clone().unwrap_or(Value::Text(String::new())));
            }
            row
        })
        .collect();
    let more = match keys.len().saturating_sub(SHOWN) {
        0 => String::new(),
        n => format!(" ({n} more not shown)"),
    };
    let mut reply = Reply::new(
        Tone::Info,
        format!("{id} on {}: {} keys{more}", cfg.name, keys.len()),
        now,
    )
    .field("Window", Value::Text(window))
    .button(
        "Reset",
        format!("admin ratelimit reset {} {id}", cfg.name),
        false,
    );
    reply.table = Some(Table {
        headers: ["Key", "Count", "TTL", "Newest"][..if sliding { 4 } else { 3 }]
            .iter()
            .map(|h| h.to_string())
            .collect(),
        rows,
    });
    reply
}

/// One identity key, read.
struct Read {
    count: String,
    pttl: i64,
    oldest: Option<Value>,
    newest: Option<Value>,
}

fn read(kind: LimiterKind, counter: Counter) -> Read {
    let expected = match kind {
        LimiterKind::Fixed => "fixed",
        LimiterKind::Sliding => "sliding",
    };
    Read {
        count: match counter.count {
            Ok(v) => v.unwrap_or_else(|| "0".into()),
            Err(e) => format!("unreadable ({e}); is kind = \"{expected}\" right?"),
        },
        pttl: counter.pttl,
        oldest: counter.oldest.as_deref().map(stamp),
        newest: counter.newest.as_deref().map(stamp),
    }
}

/// A sliding log's score: a moment when it looks like Unix seconds or milliseconds.
fn stamp(score: &str) -> Value {
    match score.parse::<f64>() {
        Ok(s) if (1e12..1e14).contains(&s) => Value::Time(s as u64),
        Ok(s) if (1e9..1e11).contains(&s) => Value::Time((s * 1000.0) as u64),
        _ => Value::Text(score.to_string()),
    }
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}
