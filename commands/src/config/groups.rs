//! `[[groups]]`: a name for envs locked together. `lock prod 30m` with
//! `[[groups]] name = "prod", envs = ["prod-eu", "prod-us"]` takes both, all or none, as
//! `lock prod-eu,prod-us` does. On Redis Cluster one call runs in one slot only, so the envs of a
//! group must share a hash tag (be members of one pool); `config check` says which groups cannot.

use std::collections::HashSet;

use super::decode::Ctx;
use super::{Config, Problem};
use crate::domain::EnvName;
use crate::grammar::MAX_SET;

impl Config {
    /// The members of group `name`, if one is called that.
    pub fn group(&self, name: &EnvName) -> Option<&[EnvName]> {
        self.groups
            .iter()
            .find(|g| g.name.as_str().eq_ignore_ascii_case(name.as_str()))
            .map(|g| g.envs.as_slice())
    }

    /// The hash-tag group an env's keys live under: its pool, or itself.
    fn slot_group<'a>(&'a self, env: &'a EnvName) -> &'a EnvName {
        self.pool_of(env).map(|p| &p.name).unwrap_or(env)
    }

    pub(super) fn check_groups(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let mut names: HashSet<String> = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            let at = ctx.group_path(i);
            let name = &g.name;
            if !names.insert(name.as_str().to_lowercase()) {
                out.push(ctx.problem(&at, format!("group `{name}` is listed twice in [[groups]]")));
            }
            let clash = self.envs.iter().any(|e| &e.name == name)
                || self.pools.iter().any(|p| &p.name == name)
                || self.pool_of(name).is_some();
            if clash {
                out.push(ctx.problem(&at, format!("group `{name}` has the same name as an env or pool; `lock {name}` could mean either, so rename one")));
            }
            if g.envs.len() < 2 || g.envs.len() > MAX_SET {
                out.push(ctx.problem(
                    &format!("{at}.envs"),
                    format!(
                        "group `{name}` needs 2 to {MAX_SET} envs in `envs`, not {}",
                        g.envs.len()
                    ),
                ));
            }
            let mut seen = HashSet::new();
            for env in &g.envs {
                if !seen.insert(env.as_str().to_lowercase()) {
                    out.push(ctx.problem(
                        &format!("{at}.envs"),
                        format!("group `{name}` names `{env}` twice"),
                    ));
                }
                if self.env_settings(env).is_none() {
                    out.push(ctx.problem(&format!("{at}.envs"), format!("group `{name}`: `{env}` is not an env in [[envs]] or a pool's member; add it there first")));
                }
                if self.groups.iter().any(|o| &o.name == env) {
                    out.push(ctx.problem(
                        &format!("{at}.envs"),
                        format!("group `{name}`: `{env}` is a group; list its envs instead"),
                    ));
                }
            }
            if !self.redis.cluster.is_empty() {
                let first = g.envs.first().map(|e| self.slot_group(e));
                let apart: Vec<String> = g
                    .envs
                    .iter()
                    .filter(|e| Some(self.slot_group(e)) != first)
                    .map(|e| format!("`{e}`"))
                    .collect();
                if let (Some(first), false) = (first, apart.is_empty()) {
                    out.push(ctx.problem(&at, format!("group `{name}` cannot be locked together on Redis Cluster: one call runs in one slot, and {} keep their state apart from `{}` (hash tag `{{{first}}}`); make the envs members of one pool, or lock them one at a time", apart.join(", "), g.envs[0])));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::domain::EnvName;

    const ENVS: &str = "[[envs]]\nname = \"prod-eu\"\n\n[[envs]]\nname = \"prod-us\"\n\n[[pools]]\nname = \"staging\"\nmembers = [\"staging-1\", \"staging-2\"]\n";

    #[test]
    fn a_group_names_configured_envs_and_no_env_or_pool() {
        let c = Config::from_toml_str(&format!(
            "{ENVS}\n[[groups]]\nname = \"prod\"\nenvs = [\"prod-eu\", \"prod-us\"]\n"
        ))
        .unwrap();
        let members: Vec<&str> = c
            .group(&EnvName::parse("PROD").unwrap())
            .unwrap()
            .iter()
            .map(EnvName::as_str)
            .collect();
        assert_eq!(members, ["prod-eu", "prod-us"]);

        let e = Config::from_toml_str(&format!(
            "{ENVS}\n[[groups]]\nname = \"staging\"\nenvs = [\"prod-eu\", \"nope\", \"prod-eu\"]\n\n[[groups]]\nname = \"solo\"\nenvs = [\"prod-us\"]\n"
        ))
        .unwrap_err()
        .to_string();
        for expected in [
            "group `staging` has the same name as an env or pool",
            "`nope` is not an env in [[envs]] or a pool's member",
            "names `prod-eu` twice",
            "group `solo` needs 2 to 10 envs",
        ] {
            assert!(e.contains(expected), "{expected} in {e}");
        }
    }

    #[test]
    fn on_a_cluster_a_group_must_share_one_hash_tag() {
        let text = format!(
            "[redis]\ncluster = [\"redis://127.0.0.1:7000\"]\n\n{ENVS}\n[[groups]]\nname = \"prod\"\nenvs = [\"prod-eu\", \"prod-us\"]\n\n[[groups]]\nname = \"both\"\nenvs = [\"staging-1\", \"staging-2\"]\n"
        );
        let e = Config::from_toml_str(&text).unwrap_err();
        assert_eq!(e.problems.len(), 1, "{e}");
        let message = &e.problems[0].message;
        assert!(
            message.contains("group `prod` cannot be locked together on Redis Cluster")
                && message.contains("`prod-us`"),
            "{message}"
        );
    }
}
