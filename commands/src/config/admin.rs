//! `[admin]`: where the team's other Redis patterns live (BullMQ queues, sessions, rate limits,
//! leaderboards), so `admin …` commands can inspect and act on them. Every key convention is
//! configuration; the defaults are the common ones (`bull`, `session:{user}`).

use std::collections::HashSet;
use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{Config, Problem};
use crate::domain::preview;

/// Key conventions of the team's own Redis data.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// BullMQ's key prefix: queues live at `<prefix>:<queue>:…`. BullMQ's own default is `bull`;
    /// on a Cluster BullMQ needs a hash tag such as `{bull}`.
    pub bullmq_prefix: String,
    /// The queues `admin queues` shows. Empty: every queue found by SCAN for `<prefix>:*:meta`.
    pub queues: Vec<String>,
    /// The key of a user's session; `{user}` stands for the user id typed.
    pub session_key: String,
    /// A Pub/Sub channel on which `admin kick` announces the kick, so the app's pods drop the
    /// user's connections. None: no announcement.
    pub session_channel: Option<String>,
    /// The TTL the app gives a session at login. When set, `admin session` shows the session's
    /// age (this minus the TTL left); Redis itself does not know when a key was written.
    #[serde(deserialize_with = "super::opt_duration")]
    pub session_ttl: Option<Duration>,
    /// `[[admin.ratelimits]]`: named rate limiters.
    pub ratelimits: Vec<RateLimitConfig>,
    /// `[[admin.leaderboards]]`: named leaderboards.
    pub leaderboards: Vec<LeaderboardConfig>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            bullmq_prefix: "bull".into(),
            queues: Vec::new(),
            session_key: "session:{user}".into(),
            session_channel: None,
            session_ttl: None,
            ratelimits: Vec::new(),
            leaderboards: Vec::new(),
        }
    }
}

/// A rate limiter: which keys hold one identity's counters, and how to read them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The name typed in `admin ratelimit <name> <id>`.
    pub name: String,
    /// The identity's key, with `{id}` exactly once: `rl:otp:{id}`. Glob characters outside
    /// `{id}` make it a pattern for windowed keys (`rl:login:{id}:*`); each `*` or `?` there
    /// stands within one `:`-separated segment, so one identity never reaches into another's keys.
    pub pattern: String,
    /// How the counters are kept.
    #[serde(default)]
    pub kind: LimiterKind,
    /// The limit, shown next to the count. Optional.
    #[serde(default)]
    pub limit: Option<u64>,
    /// The window, shown next to the count. Optional.
    #[serde(default, deserialize_with = "super::opt_duration")]
    pub window: Option<Duration>,
}

pub use crate::store::admin::LimiterKind;

/// A leaderboard: a sorted set, and which end is first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderboardConfig {
    /// The name typed in `admin leaderboard <name>`.
    pub name: String,
    /// The sorted set.
    pub key: String,
    /// `desc`: the highest score is rank 1 (points); `asc`: the lowest is (times).
    #[serde(default)]
    pub order: BoardOrder,
}

/// Which end of a leaderboard is rank 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BoardOrder {
    /// Highest score first.
    #[default]
    Desc,
    /// Lowest score first.
    Asc,
}

/// Names typed in chat: the same alphabet as env names.
fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a usable name: use 1 to 64 letters, digits, `.`, `_` and `-`",
            preview(name)
        ))
    }
}

fn placeholder_once(pattern: &str, placeholder: &str) -> Result<(), String> {
    match pattern.matches(placeholder).count() {
        1 => Ok(()),
        0 => Err(format!(
            "`{}` has no `{placeholder}`: write where the value goes, like `session:{placeholder}`",
            preview(pattern)
        )),
        n => Err(format!(
            "`{}` has `{placeholder}` {n} times; it must appear exactly once",
            preview(pattern)
        )),
    }
}

impl Config {
    /// The `[admin]` rules: patterns with their placeholder exactly once, names people can type.
    pub(super) fn check_admin(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let a = &self.admin;
        let prefix = &a.bullmq_prefix;
        if prefix.is_empty() || prefix.contains(':') {
            let message = format!("`admin.bullmq_prefix` `{}` must be non-empty and without `:` (BullMQ refuses it); the default is `bull`", preview(prefix));
            out.push(ctx.problem("admin.bullmq_prefix", message));
        }
        let mut queues = HashSet::new();
        for q in &a.queues {
            if q.is_empty() || q.contains(':') || q.chars().any(char::is_control) {
                let message = format!(
                    "queue `{}` in admin.queues: BullMQ queue names are non-empty and have no `:`",
                    preview(q)
                );
                out.push(ctx.problem("admin.queues", message));
            } else if !queues.insert(q) {
                out.push(ctx.problem(
                    "admin.queues",
                    format!("queue `{}` is listed twice in admin.queues", preview(q)),
                ));
            }
        }
        if let Err(why) = placeholder_once(&a.session_key, "{user}") {
            out.push(ctx.problem("admin.session_key", format!("admin.session_key {why}")));
        }
        if a.session_channel.as_deref() == Some("") {
            out.push(ctx.problem(
                "admin.session_channel",
                "admin.session_channel is empty: name a channel, or remove the key for no announcement",
            ));
        }
        if a.session_ttl.is_some_and(|t| t.is_zero()) {
            out.push(ctx.problem(
                "admin.session_ttl",
                "admin.session_ttl must be above zero, like \"24h\"",
            ));
        }
        self.check_ratelimits(ctx, out);
        let mut boards = HashSet::new();
        for (i, b) in a.leaderboards.iter().enumerate() {
            let at = |field: &str| format!("admin.leaderboards[{i}].{field}");
            if let Err(why) = check_name(&b.name) {
                out.push(ctx.problem(&at("name"), format!("leaderboard name {why}")));
            } else if !boards.insert(b.name.to_lowercase()) {
                let message = format!("leaderboard `{}` is listed twice", b.name);
                out.push(ctx.problem(&at("name"), message));
            }
            if b.key.is_empty() {
                let message = format!(
                    "leaderboard `{}` has an empty key: name its sorted set",
                    b.name
                );
                out.push(ctx.problem(&at("key"), message));
            }
        }
    }

    /// `[[admin.ratelimits]]`: unique names (not `reset`), one `{id}` in each pattern, windows above zero.
    fn check_ratelimits(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let a = &self.admin;
        let mut names = HashSet::new();
        for (i, r) in a.ratelimits.iter().enumerate() {
            let at = |field: &str| format!("admin.ratelimits[{i}].{field}");
            if let Err(why) = check_name(&r.name) {
                out.push(ctx.problem(&at("name"), format!("rate limiter name {why}")));
            } else if r.name.eq_ignore_ascii_case("reset") {
                let message = "a rate limiter cannot be called `reset`: `admin ratelimit reset …` would be ambiguous";
                out.push(ctx.problem(&at("name"), message));
            } else if !names.insert(r.name.to_lowercase()) {
                let message = format!("rate limiter `{}` is listed twice", r.name);
                out.push(ctx.problem(&at("name"), message));
            }
            if let Err(why) = placeholder_once(&r.pattern, "{id}") {
                out.push(ctx.problem(
                    &at("pattern"),
                    format!("rate limiter `{}`: pattern {why}", r.name),
                ));
            }
            if r.window.is_some_and(|w| w.is_zero()) {
                let message = format!(
                    "rate limiter `{}`: window must be above zero, like \"1m\"",
                    r.name
                );
                out.push(ctx.problem(&at("window"), message));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_defaults_are_the_common_conventions() {
        let a = Config::from_toml_str("").unwrap().admin;
        assert_eq!(
            (a.bullmq_prefix.as_str(), a.session_key.as_str()),
            ("bull", "session:{user}")
        );
        assert!(a.queues.is_empty() && a.session_channel.is_none());
    }

    #[test]
    fn bad_admin_settings_are_each_reported_on_their_line() {
        let text = r#"[admin]
bullmq_prefix = "bull:x"
session_key = "session:user"

[[admin.ratelimits]]
name = "otp"
pattern = "rl:otp:{id}:{id}"

[[admin.ratelimits]]
name = "reset"
pattern = "rl:{id}"

[[admin.leaderboards]]
name = "weekly board"
key = "lb:weekly"
"#;
        let e = Config::from_toml_str(text).unwrap_err();
        let found: Vec<(Option<usize>, &str)> = e
            .problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        for (line, says) in [
            (2, "must be non-empty and without `:`"),
            (3, "has no `{user}`"),
            (7, "has `{id}` 2 times"),
            (10, "cannot be called `reset`"),
            (14, "is not a usable name"),
        ] {
            assert!(
                found
                    .iter()
                    .any(|(l, m)| *l == Some(line) && m.contains(says)),
                "{says} on line {line}: {found:#?}"
            );
        }
        assert_eq!(found.len(), 5, "{found:#?}");
        let kind = Config::from_toml_str(
            "[[admin.ratelimits]]\nname = \"x\"\npattern = \"{id}\"\nkind = \"leaky\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(kind.contains("unknown variant `leaky`"), "{kind}");
    }
}
