//! `[github]`: Baton as a GitHub App that answers custom deployment protection rules. Its two
//! secrets (the App's private key and the webhook secret) come from the environment
//! (`BATON_GITHUB__PRIVATE_KEY`, `BATON_GITHUB__WEBHOOK_SECRET`) or from a file path, never from the
//! config text.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{duration, opt_duration, Config, Problem};
use crate::domain::{glob_match, preview, EnvName, Secret};

/// The App's identity in `[roles]`: every repository the App serves (`github:<owner/repo>` names
/// one). A rule mapping to a protected env needs one of them in `roles.deployer`.
pub const GITHUB_APP: &str = "github:app";

/// What a mapped run does when its Baton env is frozen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFreeze {
    /// Answer `rejected` with the freeze's reason and end.
    Reject,
    /// Wait in line until the freeze ends (or the wait limit runs out).
    Wait,
}

/// One `[[github.rules]]` entry: which repositories' GitHub environments wait for which Baton env.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubRule {
    /// `owner/repo`, `*` matching any run of characters (`acme/*`).
    pub repos: String,
    /// The GitHub environment's name, as the workflow's `environment:` says (`*` works too).
    pub environment: String,
    /// The Baton env the run waits for and holds.
    pub env: EnvName,
    /// `reject` (the default) or `wait`.
    #[serde(default = "reject")]
    pub on_freeze: OnFreeze,
    /// The longest a run waits in line before it is rejected; `[github] wait_limit` by default.
    #[serde(default, deserialize_with = "opt_duration")]
    pub wait_limit: Option<Duration>,
}

fn reject() -> OnFreeze {
    OnFreeze::Reject
}

/// The GitHub App. Off while `app_id` is unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GithubConfig {
    /// The App's id (its settings page, "App ID").
    pub app_id: Option<u64>,
    /// The App's private key (PEM), from `BATON_GITHUB__PRIVATE_KEY` only.
    pub private_key: Option<Secret>,
    /// A file holding the private key (PEM), instead of the variable.
    pub private_key_file: Option<PathBuf>,
    /// The webhook secret, from `BATON_GITHUB__WEBHOOK_SECRET` only.
    pub webhook_secret: Option<Secret>,
    /// A file holding the webhook secret, instead of the variable.
    pub webhook_secret_file: Option<PathBuf>,
    /// The REST API's base URL: `https://HOST/api/v3` on GitHub Enterprise Server.
    pub api_url: String,
    /// How long a run may wait in line, unless its rule says otherwise.
    #[serde(deserialize_with = "duration")]
    pub wait_limit: Duration,
    /// How long an approved run holds the env at most, when GitHub never reports its end.
    #[serde(deserialize_with = "duration")]
    pub hold: Duration,
    /// Which (repository, GitHub environment) waits for which Baton env; the first match wins.
    pub rules: Vec<GithubRule>,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            app_id: None,
            private_key: None,
            private_key_file: None,
            webhook_secret: None,
            webhook_secret_file: None,
            api_url: "https://api.github.com".into(),
            wait_limit: Duration::from_secs(3600),
            hold: Duration::from_secs(3600),
            rules: Vec::new(),
        }
    }
}

impl GithubConfig {
    /// Whether the App is configured at all.
    pub fn enabled(&self) -> bool {
        self.app_id.is_some()
    }

    /// The first rule for `repo`'s GitHub environment `environment`.
    pub fn rule(&self, repo: &str, environment: &str) -> Option<&GithubRule> {
        self.rules
            .iter()
            .find(|r| glob_match(&r.repos, repo) && glob_match(&r.environment, environment))
    }

    /// The App's private key: the variable, else the file. The error names the setting only.
    pub fn private_key(&self) -> Result<Secret, String> {
        secret(
            &self.private_key,
            &self.private_key_file,
            "private_key",
            "BATON_GITHUB__PRIVATE_KEY",
        )
    }

    /// The webhook secret: the variable, else the file.
    pub fn webhook_secret(&self) -> Result<Secret, String> {
        secret(
            &self.webhook_secret,
            &self.webhook_secret_file,
            "webhook_secret",
            "BATON_GITHUB__WEBHOOK_SECRET",
        )
    }
}

fn secret(
    value: &Option<Secret>,
    file: &Option<PathBuf>,
    name: &str,
    var: &str,
) -> Result<Secret, String> {
    match (value, file) {
        (Some(v), None) => Ok(v.clone()),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) if !text.trim().is_empty() => Ok(Secret::new(text.trim().to_string())),
            Ok(_) => Err(format!(
                "`github.{name}_file` ({}) is empty: put the {} in it",
                path.display(),
                name.replace('_', " ")
            )),
            Err(e) => Err(format!(
                "cannot read `github.{name}_file` ({}): {}; fix the path or its permissions",
                path.display(),
                e.kind()
            )),
        },
        (Some(_), Some(_)) => Err(format!(
            "set either {var} or `github.{name}_file`, not both"
        )),
        (None, None) => Err(format!(
            "the GitHub App needs its {}: set {var} or `github.{name}_file`",
            name.replace('_', " ")
        )),
    }
}

impl Config {
    /// `[github]`'s rules: secrets only from the environment or a file, a readable key that looks
    /// like one, known envs, sane limits.
    pub(super) fn check_github(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let g = &self.github;
        for (name, set) in [
            ("private_key", g.private_key.is_some()),
            ("webhook_secret", g.webhook_secret.is_some()),
        ] {
            let path = format!("github.{name}");
            if set && !ctx.set_by_env(&path) {
                let var = format!("BATON_GITHUB__{}", name.to_uppercase());
                let message = format!("`{path}` is a secret: remove it from the file and set {var} in the environment, or point `{path}_file` at a file holding it");
                out.push(ctx.problem(&path, message));
            }
        }
        if !g.enabled() {
            if !g.rules.is_empty() {
                out.push(ctx.problem("github.rules", "[[github.rules]] need the GitHub App: set `github.app_id` (the App's settings page shows it)"));
            }
            return;
        }
        match g.private_key() {
            Ok(key) if !key.expose().contains("PRIVATE KEY-----") => out.push(ctx.problem(
                "github.private_key_file",
                "the GitHub App's private key is not a PEM key: use the .pem file GitHub generated (Private keys → Generate)",
            )),
            Ok(_) => {}
            Err(e) => out.push(ctx.problem("github.private_key_file", e)),
        }
        if let Err(e) = g.webhook_secret() {
            out.push(ctx.problem("github.webhook_secret_file", e));
        }
        if !(g.api_url.starts_with("https://") || g.api_url.starts_with("http://")) {
            let message = format!(
                "`github.api_url` `{}` must be an http(s) URL such as https://api.github.com or https://HOST/api/v3",
                preview(&g.api_url)
            );
            out.push(ctx.problem("github.api_url", message));
        }
        self.check_github_rules(ctx, out);
    }

    fn check_github_rules(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let envs: Vec<String> = self.envs.iter().map(|e| e.name.to_string()).collect();
        let pools: Vec<String> = self.pools.iter().map(|p| p.name.to_string()).collect();
        for (i, rule) in self.github.rules.iter().enumerate() {
            let at = format!("github.rules[{i}].env");
            let name = rule.env.to_string();
            if pools.contains(&name) {
                let message = format!("`{name}` is a pool: a GitHub deployment holds one env's deploy lock, so name one of its members");
                out.push(ctx.problem(&at, message));
            } else if !envs.contains(&name) {
                let near = super::decode::did_you_mean(&name, &envs)
                    .map(|k| format!("; did you mean `{k}`?"))
                    .unwrap_or_default();
                let message = format!("`{name}` is not in [[envs]]{near}: a GitHub rule needs an env configured with its channels and limits");
                out.push(ctx.problem(&at, message));
            }
            let protected = self.envs.iter().any(|e| e.name == rule.env && e.protected);
            if protected && !self.github_deploys(&rule.repos) {
                let message = format!(
                    "`{name}` is protected and the GitHub App is not a deployer, so every run this rule maps would be rejected: add \"{GITHUB_APP}\" (every repository the App serves) or \"github:<owner/repo>\" to roles.deployer"
                );
                out.push(ctx.problem(&at, message));
            }
            if rule.wait_limit.is_some_and(|w| w.is_zero()) {
                let at = format!("github.rules[{i}].wait_limit");
                out.push(ctx.problem(&at, "a wait limit of 0 rejects every run that has to wait; use a duration like 30m, or remove it for [github] wait_limit"));
            }
        }
    }
}

impl Config {
    /// Whether a run of some repository `repos` matches may take a protected env: the App
    /// ([`GITHUB_APP`]) or such a repository (`github:<owner/repo>`) is a deployer or an admin.
    fn github_deploys(&self, repos: &str) -> bool {
        let mut roles = self.roles.deployer.iter().chain(&self.roles.admin);
        roles.any(|id| {
            id == GITHUB_APP
                || id
                    .strip_prefix("github:")
                    .is_some_and(|repo| glob_match(repos, repo))
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const ENVS: &str =
        "[[envs]]\nname = \"prod\"\n\n[[pools]]\nname = \"staging\"\nmembers = [\"staging-1\"]\n";

    fn messages(text: &str) -> Vec<String> {
        let found = Config::from_toml_str(&format!("{ENVS}{text}")).unwrap_err();
        found.problems.into_iter().map(|p| p.message).collect()
    }

    #[test]
    fn github_secrets_in_the_file_unknown_envs_pools_and_unreadable_keys_are_refused() {
        let found = messages(
            "[github]\napp_id = 1\nwebhook_secret = \"hunter2\"\nprivate_key_file = \"/nonexistent/key.pem\"\n\n[[github.rules]]\nrepos = \"acme/*\"\nenvironment = \"production\"\nenv = \"prd\"\n\n[[github.rules]]\nrepos = \"*\"\nenvironment = \"staging\"\nenv = \"staging\"\n",
        );
        let all = found.join("\n");
        for fragment in [
            "BATON_GITHUB__WEBHOOK_SECRET",
            "cannot read `github.private_key_file`",
            "did you mean `prod`",
            "is a pool",
        ] {
            assert!(all.contains(fragment), "{fragment:?} in {all}");
        }
        assert!(!all.contains("hunter2"), "the secret is never echoed");
    }

    /// The problems `config check` finds in `text` (after a protected `prod` and the App's
    /// readable key and secret).
    fn checked(text: &str) -> Vec<String> {
        let key = std::env::temp_dir().join(format!("baton-gh-roles-{}.pem", std::process::id()));
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let full = format!(
            "[[envs]]\nname = \"prod\"\nprotected = true\n\n[[envs]]\nname = \"qa\"\n\n{text}\n[github]\napp_id = 1\nprivate_key_file = {key:?}\nwebhook_secret_file = {key:?}\n\n[[github.rules]]\nrepos = \"acme/*\"\nenvironment = \"production\"\nenv = \"prod\"\n\n[[github.rules]]\nrepos = \"acme/*\"\nenvironment = \"qa\"\nenv = \"qa\"\n",
            key = key.display().to_string()
        );
        let found = Config::from_toml_str(&full).err();
        let _ = std::fs::remove_file(key);
        found
            .map(|e| e.problems.into_iter().map(|p| p.message).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_rule_to_a_protected_env_needs_the_app_or_its_repositories_in_the_deployer_role() {
        let found = checked("[roles]\ndeployer = [\"console:alice\"]\n");
        assert_eq!(found.len(), 1, "only prod's rule: {found:?}");
        assert!(
            found[0].contains("`prod` is protected and the GitHub App is not a deployer")
                && found[0].contains("\"github:app\""),
            "{}",
            found[0]
        );
        for roles in [
            "[roles]\ndeployer = [\"github:app\"]\n",
            "[roles]\nadmin = [\"github:app\"]\n",
            "[roles]\ndeployer = [\"github:acme/app\"]\n",
        ] {
            assert_eq!(checked(roles), Vec::<String>::new(), "{roles}");
        }
    }

    #[test]
    fn rules_match_repository_and_environment_globs_first_match_wins() {
        let key = std::env::temp_dir().join(format!("baton-gh-{}.pem", std::process::id()));
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let text = format!(
            "{ENVS}[github]\napp_id = 1\nprivate_key_file = {:?}\nwebhook_secret_file = {:?}\n\n[[github.rules]]\nrepos = \"acme/*\"\nenvironment = \"prod*\"\nenv = \"prod\"\non_freeze = \"wait\"\n",
            key.display().to_string(),
            key.display().to_string()
        );
        let config = Config::from_toml_str(&text).unwrap();
        let g = &config.github;
        assert!(g.rule("acme/app", "production").is_some());
        assert!(g.rule("other/app", "production").is_none());
        assert!(g.rule("acme/app", "staging").is_none());
        assert!(g.private_key().unwrap().expose().contains("PRIVATE KEY"));
        let _ = std::fs::remove_file(key);
    }
}
