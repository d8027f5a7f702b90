//! `admin …`: looking at and acting on the team's other Redis data from chat — BullMQ queues
//! ([`queues`]), single-session logins ([`sessions`]), rate-limit counters ([`ratelimits`]) and
//! leaderboards ([`leaderboards`]) — so on-call engineers need no `redis-cli` on production.
//!
//! The router has checked the admin role before anything here runs (privilege is a type), so a
//! non-admin's `admin …` reads nothing. Other services' keys are handled with care:
//! - looking never writes: plain reads (LLEN, ZCARD, HGETALL, GET, PTTL, ZRANGE) or read-only
//!   scripts, and no BullMQ `Queue` is opened to look (opening one writes its meta hash);
//! - keys are found with `Store::scan_match` (SCAN with COUNT, never KEYS), with anything a person
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

use std::ops::Deref;
use std::sync::Arc;

use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::command::{AdminArg, AdminCommand};
use crate::config::{AdminConfig, Config};
use crate::domain::wall_clock;
use crate::domain::{clean_text, preview, Actor};
use crate::error::BatonError;
use crate::reply::{clock, Reply, Tone};
use crate::store::history::AuditEntry;

/// The admin commands' settings. The audit stream and the BullMQ connection are the store's.
pub(crate) struct Admin {
    config: AdminConfig,
}

impl Admin {
    /// The admin side of a validated config.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            config: config.admin.clone(),
        }
    }
}

/// The audit entry for an action by `actor`.
fn audit<'a>(
    actor: &'a Actor,
    action: &'a str,
    target: &'a str,
    detail: &'a str,
) -> AuditEntry<'a> {
    AuditEntry {
        actor,
        action,
        target,
        detail,
    }
}

/// The admin commands: views and actions on the team's other Redis data.
#[derive(Clone)]
pub(crate) struct AdminDesk {
    pub(crate) core: crate::services::Core,
    pub(crate) admin: Arc<Admin>,
}

impl Deref for AdminDesk {
    type Target = crate::services::Core;
    fn deref(&self) -> &crate::services::Core {
        &self.core
    }
}

impl AdminDesk {
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
                self.locks()
                    .unlock(actor, self.catalog.env(&env)?, true)
                    .await
            }
            AdminCommand::ForceRelease { env } => {
                self.claims()
                    .release(actor, self.catalog.env(&env)?, true)
                    .await
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
            AdminCommand::GithubApprove { env, run } => {
                self.locks().github_approve(actor, &env, run.as_str()).await
            }
            AdminCommand::GithubReject { env, run, reason } => {
                self.locks()
                    .github_reject(actor, &env, run.as_str(), &reason)
                    .await
            }
            AdminCommand::SkipWindow { window, reason } => {
                self.locks()
                    .skip_window(actor, window.as_str(), reason)
                    .await
            }
        }
    }

    /// `admin history [n]`: the audit stream, newest first.
    async fn admin_history(&self, count: usize) -> Result<Reply, BatonError> {
        let entries = self.store.admin_history(count).await?;
        let now = wall_clock();
        if entries.is_empty() {
            return Ok(Reply::new(Tone::Info, "No admin actions yet", now));
        }
        let lines: Vec<String> = entries
            .iter()
            .map(|e| {
                let get = |k: &str| e.get(k);
                let at = e.at_ms().map(clock).unwrap_or_default();
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
    let suggestion = crate::domain::did_you_mean(typed.as_str(), known.iter().copied())
        .map(|k| format!(" (did you mean `{k}`?)"))
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
