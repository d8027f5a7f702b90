//! Semantic rules: what parses but would misbehave at run time.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use humantime::format_duration;

use super::decode::{did_you_mean, Ctx};
use super::fronts::{identity_prefixes, registered};
use super::{Config, EnvConfig, PoolConfig, Problem};
use crate::domain::{preview, EnvName, Ttl};

/// The most approvals an env may require.
const MAX_APPROVALS: u8 = 5;

impl Config {
    pub(super) fn check(&self, ctx: &Ctx) -> Vec<Problem> {
        let mut out = Vec::new();
        self.check_names(ctx, &mut out);
        self.check_ttls(ctx, &mut out);
        self.check_server_and_limits(ctx, &mut out);
        self.check_roles(ctx, &mut out);
        self.check_ci(ctx, &mut out);
        self.check_secrets(ctx, &mut out);
        self.check_admin(ctx, &mut out);
        self.check_redis_topology(ctx, &mut out);
        self.check_redis_urls(ctx, &mut out);
        self.check_notify(ctx, &mut out);
        self.check_freezes(ctx, &mut out);
        self.check_github(ctx, &mut out);
        self.check_chat(ctx, &mut out);
        self.check_groups(ctx, &mut out);
        self.check_teams(ctx, &mut out);
        self.check_mattermost(ctx, &mut out);
        self.check_web(ctx, &mut out);
        out
    }

    fn check_names(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let mut envs: HashMap<&EnvName, usize> = HashMap::new();
        for (i, env) in self.envs.iter().enumerate() {
            if let Some(first) = envs.insert(&env.name, i) {
                let at = format!("{}.name", ctx.env_path(i));
                let message = format!("env `{}` is listed twice in [[envs]]", env.name);
                out.push(ctx.problem(&at, also_on(message, ctx, &ctx.env_path(first))));
            }
        }
        let mut pools: HashMap<&EnvName, usize> = HashMap::new();
        let mut member_of: HashMap<&EnvName, usize> = HashMap::new();
        for (j, pool) in self.pools.iter().enumerate() {
            let (at, name) = (ctx.pool_path(j), &pool.name);
            if let Some(first) = pools.insert(name, j) {
                let message = format!("pool `{name}` is listed twice in [[pools]]");
                out.push(ctx.problem(&at, also_on(message, ctx, &ctx.pool_path(first))));
            }
            if envs.contains_key(name) {
                let message = format!("pool `{name}` has the same name as an env; `claim {name}` could mean either, so rename one");
                out.push(ctx.problem(&format!("{at}.name"), message));
            }
            let members_at = format!("{at}.members");
            if pool.members.is_empty() {
                let message =
                    format!("pool `{name}` has no members: list at least one env in `members`");
                out.push(ctx.problem(&members_at, message));
            }
            let mut seen = HashSet::new();
            for member in &pool.members {
                if !seen.insert(member) {
                    let message =
                        format!("`{member}` is listed twice in the members of pool `{name}`");
                    out.push(ctx.problem(&members_at, message));
                } else if let Some(&other) = member_of.get(member) {
                    let message = format!(
                        "env `{member}` is in two pools, `{}` and `{name}`; an env can belong to one pool only",
                        self.pools[other].name
                    );
                    out.push(ctx.problem(&members_at, message));
                } else {
                    member_of.insert(member, j);
                }
            }
        }
        for (j, pool) in self.pools.iter().enumerate() {
            for member in pool.members.iter().filter(|m| pools.contains_key(m)) {
                let message = format!(
                    "pool `{}` lists `{member}`, which is a pool; members must be envs",
                    pool.name
                );
                out.push(ctx.problem(&format!("{}.members", ctx.pool_path(j)), message));
            }
        }
    }

    /// TTLs of at least a second; approvals asked of at most [`MAX_APPROVALS`] people, with time
    /// to give them.
    fn check_ttls(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let d = &self.defaults;
        let mut ttls = vec![
            ("defaults.default_ttl".to_string(), Some(d.default_ttl)),
            ("defaults.max_ttl".to_string(), Some(d.max_ttl)),
        ];
        for (i, e) in self.envs.iter().enumerate() {
            let at = ctx.env_path(i);
            ttls.push((format!("{at}.default_ttl"), e.default_ttl));
            ttls.push((format!("{at}.max_ttl"), e.max_ttl));
            if e.approvals > MAX_APPROVALS {
                let message = format!(
                    "`{at}.approvals` is {}: at most {MAX_APPROVALS} people can be asked to approve a lock",
                    e.approvals
                );
                out.push(ctx.problem(&format!("{at}.approvals"), message));
            }
            if let Some(t) = e.approval_timeout.filter(|t| t.as_secs() < 10) {
                let message = format!(
                    "`{at}.approval_timeout` is {}: give people at least 10s to approve, like \"30m\"",
                    format_duration(t)
                );
                out.push(ctx.problem(&format!("{at}.approval_timeout"), message));
            }
        }
        for (j, p) in self.pools.iter().enumerate() {
            let at = ctx.pool_path(j);
            ttls.push((format!("{at}.default_ttl"), p.default_ttl));
            ttls.push((format!("{at}.max_ttl"), p.max_ttl));
        }
        for (at, ttl) in ttls {
            if let Some(ttl) = ttl.filter(|t| Ttl::new(*t).is_none()) {
                let message = format!(
                    "`{at}` is {}: a TTL must be at least 1s",
                    format_duration(ttl)
                );
                out.push(ctx.problem(&at, message));
            }
        }
        if d.default_ttl > d.max_ttl {
            let message = format!(
                "[defaults] default_ttl {} is above max_ttl {}",
                format_duration(d.default_ttl),
                format_duration(d.max_ttl)
            );
            out.push(ctx.problem("defaults.default_ttl", message));
        }
        for name in self.env_names() {
            let default = self.ttl_source(
                ctx,
                name,
                |e| e.default_ttl,
                |p| p.default_ttl,
                "default_ttl",
            );
            let max = self.ttl_source(ctx, name, |e| e.max_ttl, |p| p.max_ttl, "max_ttl");
            let ((dv, dfrom, dat), (mv, mfrom, mat)) = (default, max);
            // Both from [defaults] is reported once, above, not once per env.
            let Some(at) = dat.or(mat).filter(|_| dv > mv) else {
                continue;
            };
            let message = format!(
                "env `{name}`: default_ttl {} ({dfrom}) is above max_ttl {} ({mfrom})",
                format_duration(dv),
                format_duration(mv)
            );
            out.push(ctx.problem(&at, message));
        }
    }

    /// An env's effective TTL, where it came from in words, and the key that set it (`None` for
    /// `[defaults]`).
    fn ttl_source(
        &self,
        ctx: &Ctx,
        name: &EnvName,
        mine: fn(&EnvConfig) -> Option<Duration>,
        pooled: fn(&PoolConfig) -> Option<Duration>,
        key: &str,
    ) -> (Duration, String, Option<String>) {
        let own = self.envs.iter().position(|e| &e.name == name);
        if let Some((i, ttl)) = own.and_then(|i| mine(&self.envs[i]).map(|t| (i, t))) {
            return (
                ttl,
                "set in [[envs]]".into(),
                Some(format!("{}.{key}", ctx.env_path(i))),
            );
        }
        let pool = self.pools.iter().position(|p| p.members.contains(name));
        if let Some((j, ttl)) = pool.and_then(|j| pooled(&self.pools[j]).map(|t| (j, t))) {
            let from = format!("from pool `{}`", self.pools[j].name);
            return (ttl, from, Some(format!("{}.{key}", ctx.pool_path(j))));
        }
        let ttl = match key {
            "default_ttl" => self.defaults.default_ttl,
            _ => self.defaults.max_ttl,
        };
        (ttl, "from [defaults]".into(), None)
    }

    fn check_server_and_limits(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let d = &self.defaults;
        if !(1..=100_000).contains(&d.history_length) {
            let message = format!(
                "`defaults.history_length` is {}: keep 1 to 100000 audit entries per env",
                d.history_length
            );
            out.push(ctx.problem("defaults.history_length", message));
        }
        if !(1..=1000).contains(&d.queue_limit) {
            let message = format!(
                "`defaults.queue_limit` is {}: allow 1 to 1000 waiters per env",
                d.queue_limit
            );
            out.push(ctx.problem("defaults.queue_limit", message));
        }
        for (at, value) in [
            ("server.sweep_interval", self.server.sweep_interval),
            ("redis.timeout", self.redis.timeout),
            ("server.header_timeout", self.server.header_timeout),
            ("server.body_timeout", self.server.body_timeout),
        ] {
            if value.is_zero() {
                out.push(ctx.problem(
                    at,
                    format!("`{at}` must be more than zero, like 500ms or 2s"),
                ));
            }
        }
        let s = &self.server;
        for (at, value) in [
            ("server.max_connections", s.max_connections),
            (
                "server.max_connections_per_address",
                s.max_connections_per_address,
            ),
            ("server.max_event_streams", s.max_event_streams),
            (
                "server.max_event_streams_per_address",
                s.max_event_streams_per_address,
            ),
        ] {
            if value == 0 {
                let message = format!("`{at}` is 0: it would refuse every client; use 1 or more");
                out.push(ctx.problem(at, message));
            }
        }
        let prefix = &self.redis.prefix;
        if prefix.is_empty() {
            out.push(ctx.problem(
                "redis.prefix",
                "`redis.prefix` is empty: every key needs a prefix, like `baton`",
            ));
        } else if let Some(bad) = prefix
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            let message = format!(
                "`redis.prefix` `{}` contains `{}`: use letters, digits, `.`, `_` and `-`",
                preview(prefix),
                bad.escape_default()
            );
            out.push(ctx.problem("redis.prefix", message));
        }
    }

    fn check_roles(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        for (role, ids) in [
            ("admin", &self.roles.admin),
            ("deployer", &self.roles.deployer),
        ] {
            let at = format!("roles.{role}");
            for id in ids {
                if let Err(why) = check_identity(id) {
                    out.push(ctx.problem(&at, format!("`{}` in {at}: {why}", preview(id))));
                }
            }
        }
    }
}

impl Config {
    /// Secrets may come from the environment only, so config files can be shared and committed;
    /// each front end registers which of its keys are secrets.
    fn check_secrets(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        for path in registered().iter().flat_map(|f| f.secrets) {
            if ctx.present(path) && !ctx.set_by_env(path) {
                let var = format!("BATON_{}", path.replace('.', "__").to_uppercase());
                let message = format!("`{path}` is a secret: remove it from the file and set {var} in the environment");
                out.push(ctx.problem(path, message));
            }
        }
    }

    fn check_redis_topology(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let r = &self.redis;
        if !r.cluster.is_empty() && (!r.sentinels.is_empty() || r.master_name.is_some()) {
            out.push(ctx.problem(
                "redis.cluster",
                "use either redis.cluster or redis.sentinels + redis.master_name, not both",
            ));
        }
        if r.master_name.is_some() == r.sentinels.is_empty() {
            out.push(ctx.problem("redis.master_name", "Sentinel needs both redis.sentinels (their URLs) and redis.master_name (the service name)"));
        }
        if r.wait_replicas > 0 && r.wait_timeout.is_zero() {
            out.push(ctx.problem(
                "redis.wait_timeout",
                "redis.wait_timeout must be above zero when wait_replicas is set, like \"100ms\"",
            ));
        }
    }

    fn check_ci(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let mut names = HashSet::new();
        let mut hashes = HashSet::new();
        for (i, t) in self.ci.tokens.iter().enumerate() {
            let at = |field: &str| format!("ci.tokens[{i}].{field}");
            let name_ok = !t.name.is_empty()
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !name_ok {
                let message = format!(
                    "CI token name `{}` must be letters, digits, `.`, `_` or `-`",
                    preview(&t.name)
                );
                out.push(ctx.problem(&at("name"), message));
            } else if !names.insert(t.name.as_str()) {
                out.push(ctx.problem(
                    &at("name"),
                    format!("CI token `{}` is listed twice", t.name),
                ));
            }
            if t.sha256.len() != 64
                || !t
                    .sha256
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
            {
                let message = format!(
                    "CI token `{}`: sha256 must be 64 lowercase hex characters (the hash, never the token; `baton ci token` prints it)",
                    t.name
                );
                out.push(ctx.problem(&at("sha256"), message));
            } else if !hashes.insert(t.sha256.as_str()) {
                out.push(ctx.problem(
                    &at("sha256"),
                    format!("CI token `{}` has the same hash as another token", t.name),
                ));
            }
            if t.envs.is_empty() {
                let message = format!("CI token `{}` lists no envs: name the envs it may touch, e.g. envs = [\"staging-*\"]", t.name);
                out.push(ctx.problem(&at("envs"), message));
            }
        }
        if self.ci.max_wait.is_zero() {
            out.push(ctx.problem(
                "ci.max_wait",
                "ci.max_wait must be above zero, like \"30m\"",
            ));
        }
    }
}

/// A `[roles]` identity is `prefix:id` with a prefix some caller gives (see [`identity_prefixes`]);
/// anything else could never match an actor.
fn check_identity(id: &str) -> Result<(), String> {
    let prefixes = identity_prefixes();
    let Some((platform, rest)) = id.split_once(':') else {
        if let Some(front) = registered().into_iter().find(|f| (f.bare_user)(id)) {
            return Err(format!("write identities as `{}:{id}`", front.prefix));
        }
        let mut examples: Vec<&str> = registered().iter().map(|f| f.example).collect();
        examples.extend(["ci:deploy-bot", "console:alice"]);
        let last = examples.pop().unwrap_or_default();
        return Err(format!(
            "write identities as `platform:id`, like `{}` or `{last}`",
            examples.join("`, `")
        ));
    };
    if platform.is_empty() {
        return Err(format!(
            "the platform before `:` is empty (use {})",
            prefixes.join(", ")
        ));
    }
    if !prefixes.contains(&platform) {
        let hint = did_you_mean(platform, &prefixes);
        let hint = hint
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        return Err(format!(
            "unknown platform `{}`{hint} (use {})",
            preview(platform),
            prefixes.join(", ")
        ));
    }
    if rest.is_empty() {
        return Err(format!("the id after `{platform}:` is empty"));
    }
    Ok(())
}

fn also_on(message: String, ctx: &Ctx, first: &str) -> String {
    match ctx.line(first) {
        Some(line) => format!("{message} (first on line {line})"),
        None => message,
    }
}

impl Config {
    /// Announcement channels name a platform and a channel id; a reminder comes before the hold
    /// can end, so `remind_before` is below the env's `max_ttl`.
    fn check_notify(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let lists = self
            .envs
            .iter()
            .enumerate()
            .map(|(i, e)| (ctx.env_path(i), &e.announce))
            .chain(
                self.pools
                    .iter()
                    .enumerate()
                    .map(|(j, p)| (ctx.pool_path(j), &p.announce)),
            );
        for (at, list) in lists {
            let at = format!("{at}.announce");
            let mut seen = HashSet::new();
            for channel in list.iter().flatten() {
                if let Err(why) = check_channel(channel) {
                    out.push(ctx.problem(&at, format!("`{}` in {at}: {why}", preview(channel))));
                } else if !seen.insert(channel) {
                    out.push(ctx.problem(&at, format!("`{channel}` is listed twice in {at}")));
                }
            }
        }
        let mut reported = HashSet::new();
        if let Some(remind) = self.defaults.remind_before {
            let max = self.defaults.max_ttl;
            let message = if remind < Duration::from_secs(1) {
                Some(
                    "`defaults.remind_before` must be at least 1s; leave it out for no reminders"
                        .to_string(),
                )
            } else if remind >= max {
                Some(format!(
                    "[defaults] remind_before {} is not below max_ttl {}, so no hold could be reminded in time",
                    format_duration(remind),
                    format_duration(max)
                ))
            } else {
                None
            };
            if let Some(message) = message {
                reported.insert("defaults.remind_before".to_string());
                out.push(ctx.problem("defaults.remind_before", message));
            }
        }
        for name in self.env_names() {
            let Some((remind, at, from)) = self.remind_source(ctx, name) else {
                continue;
            };
            let (max, mfrom, _) =
                self.ttl_source(ctx, name, |e| e.max_ttl, |p| p.max_ttl, "max_ttl");
            let message = if remind < Duration::from_secs(1) {
                format!("`{at}` must be at least 1s; leave it out for no reminders")
            } else if remind >= max {
                format!(
                    "env `{name}`: remind_before {} ({from}) is not below max_ttl {} ({mfrom}), so no hold could be reminded in time",
                    format_duration(remind),
                    format_duration(max)
                )
            } else {
                continue;
            };
            if reported.insert(at.clone()) {
                out.push(ctx.problem(&at, message));
            }
        }
    }

    /// An env's effective `remind_before`, the key that set it, and where that is in words.
    fn remind_source(&self, ctx: &Ctx, name: &EnvName) -> Option<(Duration, String, String)> {
        let own = self.envs.iter().position(|e| &e.name == name);
        if let Some((i, d)) = own.and_then(|i| self.envs[i].remind_before.map(|d| (i, d))) {
            let at = format!("{}.remind_before", ctx.env_path(i));
            return Some((d, at, "set in [[envs]]".into()));
        }
        let pool = self.pools.iter().position(|p| p.members.contains(name));
        if let Some((j, d)) = pool.and_then(|j| self.pools[j].remind_before.map(|d| (j, d))) {
            let at = format!("{}.remind_before", ctx.pool_path(j));
            return Some((d, at, format!("from pool `{}`", self.pools[j].name)));
        }
        let d = self.defaults.remind_before?;
        Some((d, "defaults.remind_before".into(), "from [defaults]".into()))
    }
}

/// `<platform>:<channel id>`, checked by the front end that registered the prefix: ids, not
/// names, because names change.
fn check_channel(channel: &str) -> Result<(), String> {
    let fronts = registered();
    let found = channel.split_once(':').and_then(|(prefix, id)| {
        let front = fronts.iter().find(|f| f.prefix == prefix)?;
        Some((front.channel?, id))
    });
    match found {
        Some((check, id)) => check(id),
        None => {
            let forms: Vec<String> = fronts
                .iter()
                .filter(|f| f.channel.is_some())
                .map(|f| format!("`{}:<channel id>`", f.prefix))
                .collect();
            Err(match forms.split_last() {
                None => "no chat platform that announces is registered".into(),
                Some((last, [])) => format!("write announcement channels as {last}"),
                Some((last, rest)) => format!(
                    "write announcement channels as {} or {last}",
                    rest.join(", ")
                ),
            })
        }
    }
}
