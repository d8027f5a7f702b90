//! `admin …`: looking at and acting on the team's other Redis data from chat — BullMQ queues
//! ([`queues`]), single-session logins ([`sessions`]), rate-limit counters ([`ratelimits`]) and
//! leaderboards ([`leaderboards`]) — so on-call engineers need no `redis-cli` on production.
//!
//! The router has checked the admin role before anything here runs (privilege is a type), so a
//! non-admin's `admin …` reads nothing. Other services' keys are handled with care:
//! - looking never writes: plain reads (LLEN, ZCARD, HGETALL, GET, PTTL, ZRANGE) or read-only
//!   scripts, and no BullMQ `Queue` is opened to look (opening one writes its meta hash);
//! - keys are found with [`Store::scan_match`] (SCAN with COUNT, never KEYS), with anything a person
//!   typed escaped, and rate-limit keys are checked again against the limiter's own pattern;
//! - writes to BullMQ queues go through BullMQ's own scripts (bullmq-official), refused when the
//!   queue's BullMQ major version makes them unsafe.
//!
//! # Audit
//! Every action (kick, rate-limit reset, queue retry/pause/resume) is recorded with who did it in
//! `<redis.prefix>:{admin}:history` (XADD MAXLEN ~ `defaults.history_length`), shown by
//! `admin history`. Where Baton performs the action itself, the entry goes out in the same
//! pipelined round trip as the action (the kick script and the resets' DELs). It is a separate
//! command, not part of the kick script, because the session key and the stream live in different
//! Cluster slots. BullMQ actions run on bullmq-official's own connection, so their entry follows
//! once BullMQ has answered, and records only what happened.

mod glob;
mod leaderboards;
mod queue_writes;
mod queues;
mod ratelimits;
mod sessions;

use std::collections::HashMap;
use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::{Cmd, Script, Value};

use crate::command::{AdminArg, AdminCommand};
use crate::config::{AdminConfig, Config};
use crate::domain::{clean_text, preview, Actor};
use crate::error::BatonError;
use crate::reply::{clock, Reply, Tone};
use crate::router::{wall_clock, Baton};
use crate::store::StoreError;

/// How many keys one SCAN call looks at.
const SCAN_COUNT: usize = 1000;

/// The admin commands' settings and the BullMQ connection, opened on first write.
pub(crate) struct Admin {
    config: AdminConfig,
    audit_key: String,
    audit_length: usize,
    redis: crate::config::RedisConfig,
    bullmq: tokio::sync::OnceCell<bullmq::redis_connection::RedisConnection>,
}

impl Admin {
    /// The admin side of a validated config.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            config: config.admin.clone(),
            audit_key: format!("{}:{{admin}}:history", config.redis.prefix),
            audit_length: config.defaults.history_length,
            redis: config.redis.clone(),
            bullmq: tokio::sync::OnceCell::new(),
        }
    }

    /// The audit entry for an action: `XADD <stream> MAXLEN ~ n * actor … action … target …`.
    fn audit(&self, actor: &Actor, action: &str, target: &str, detail: &str) -> Cmd {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&self.audit_key)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.audit_length)
            .arg("*")
            .arg("actor")
            .arg(&actor.id)
            .arg("display")
            .arg(&actor.display)
            .arg("action")
            .arg(action)
            .arg("target")
            .arg(target)
            .arg("detail")
            .arg(detail);
        cmd
    }
}

impl Baton {
    /// Runs an admin command; the router has already checked the admin role. Boxed: BullMQ's
    /// futures are deep, and every caller of the router would otherwise carry their layout.
    pub(crate) fn run_admin<'a>(
        &'a self,
        actor: &'a Actor,
        command: AdminCommand,
    ) -> BoxFuture<'a, Result<Reply, BatonError>> {
        Box::pin(self.admin_command(actor, command))
    }

    async fn admin_command(
        &self,
        actor: &Actor,
        command: AdminCommand,
    ) -> Result<Reply, BatonError> {
        match command {
            AdminCommand::ForceUnlock { env } => {
                self.unlock(actor, self.catalog.env(&env)?, true).await
            }
            AdminCommand::ForceRelease { env } => {
                self.release(actor, self.catalog.env(&env)?, true).await
            }
            AdminCommand::Queues { queue } => self.admin_queues(queue.as_ref()).await,
            AdminCommand::Queue { action, queue } => {
                self.admin_queue_action(actor, action, &queue).await
            }
            AdminCommand::Session { user } => self.admin_session(&user).await,
            AdminCommand::Kick { user } => self.admin_kick(actor, &user).await,
            AdminCommand::RateLimit { limiter, id } => self.admin_ratelimit(&limiter, &id).await,
            AdminCommand::RateLimitReset { limiter, id } => {
                self.admin_ratelimit_reset(actor, &limiter, &id).await
            }
            AdminCommand::Leaderboard { board, top, around } => {
                self.admin_leaderboard(&board, top, around.as_ref()).await
            }
            AdminCommand::History { count } => self.admin_history(count).await,
        }
    }

    /// `admin history [n]`: the audit stream, newest first.
    async fn admin_history(&self, count: usize) -> Result<Reply, BatonError> {
        let mut cmd = redis::cmd("XREVRANGE");
        cmd.arg(&self.admin.audit_key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count);
        let entries: Vec<(String, HashMap<String, String>)> = self.store.query(&cmd).await?;
        let now = wall_clock();
        if entries.is_empty() {
            return Ok(Reply::new(Tone::Info, "No admin actions yet", now));
        }
        let lines: Vec<String> = entries
            .iter()
            .map(|(id, f)| {
                let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
                let at = id
                    .split('-')
                    .next()
                    .and_then(|ms| ms.parse().ok())
                    .map(clock)
                    .unwrap_or_default();
                let detail = match get("detail") {
                    "" => String::new(),
                    d => format!(": {d}"),
                };
                format!(
                    "{at}  {} ({}) {} {}{detail}",
                    get("display"),
                    get("actor"),
                    get("action"),
                    get("target")
                )
            })
            .collect();
        Ok(Reply::new(Tone::Info, "Admin actions (newest first)", now).with_text(lines.join("\n")))
    }
}

/// A refusal for a name that is not configured, listing the ones that are.
fn unknown_name(what: &str, typed: &AdminArg, known: &[&str], fix: &str) -> BatonError {
    let typed_lower = typed.as_str().to_lowercase();
    let suggestion = known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&typed_lower, &k.to_lowercase()),
                *k,
            )
        })
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| format!(" (did you mean `{k}`?)"))
        .unwrap_or_default();
    let known = if known.is_empty() {
        format!("none are configured: {fix}")
    } else {
        format!("known: {}", known.join(", "))
    };
    BatonError::Refused(format!(
        "unknown {what} `{}`{suggestion}; {known}",
        preview(typed.as_str())
    ))
}

/// Other services' text (members, job names, failure reasons), safe and short enough to show.
fn shown(raw: &[u8], max: usize) -> String {
    let text = clean_text(&String::from_utf8_lossy(raw));
    if text.chars().count() > max {
        let mut cut: String = text.chars().take(max).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// An `EVALSHA` of one of the admin scripts, for [`crate::store::Store::query_many`].
fn evalsha(script: &Script, keys: &[&str], args: &[&str]) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash())
        .arg(keys.len())
        .arg(keys)
        .arg(args);
    cmd
}

/// One answer of a pipeline, decoded; a Redis error (WRONGTYPE on someone else's key) becomes
/// its message, for the reply, instead of failing the whole command.
fn decode<T: redis::FromRedisValue>(v: &Value) -> Result<T, String> {
    if let Value::ServerError(e) = v {
        return Err(format!("{} {}", e.code(), e.details().unwrap_or_default()));
    }
    redis::from_redis_value_ref(v).map_err(|e| {
        tracing::warn!(error = %e, value = ?v, "unexpected answer from Redis");
        "an unexpected answer".to_string()
    })
}

/// The first answer of a pipeline that must decode, else the command fails as a bug would.
fn must<T: redis::FromRedisValue>(v: Option<&Value>) -> Result<T, BatonError> {
    let v = v.ok_or(BatonError::Internal)?;
    decode(v).map_err(|e| {
        tracing::error!(error = %e, "admin read failed");
        BatonError::from(StoreError::Unexpected)
    })
}

/// `12s`, `3h 20m`; `no expiry` for -1 and `gone` for -2, as PTTL reports them.
fn ttl_text(pttl: i64) -> String {
    match pttl {
        -1 => "no expiry".into(),
        ms if ms < 0 => "gone".into(),
        ms => format!(
            "{} left",
            crate::domain::human_duration(Duration::from_millis(ms as u64))
        ),
    }
}
