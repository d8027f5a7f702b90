//! A chat front end's registration. Each platform's folder declares one `static PLATFORM`;
//! [`crate::PLATFORMS`] lists them and [`crate::register_platforms`] hands their [`Front`]s to
//! the core, whose config checks (`[roles]` identities, secrets, `announce` channels) read them.

use baton_commands::config::Front;
use baton_commands::Actor;

use super::names;

/// A chat front end: what configuration knows of it, and how its people are named.
#[derive(Debug)]
pub struct Platform {
    /// Its identity prefix, groups, secrets and channel syntax, as the core's checks read them.
    pub front: Front,
    /// How a person whose payload carried no usable name is shown (`a Slack user`).
    pub nameless: &'static str,
    /// The longest display name kept; longer ones are cut with `…`.
    pub max_name: usize,
}

impl Platform {
    /// The actor roles match: `<prefix>:<user id>`, shown by the first of `names` that is a name
    /// once cleaned (else [`Platform::nameless`]: a display name travels to other platforms and
    /// the status page, so it is never an id), carrying `groups`.
    pub fn actor(&self, user_id: &str, names: &[Option<&str>], groups: Vec<String>) -> Actor {
        Actor {
            id: format!("{}:{user_id}", self.front.prefix),
            display: names::display_name(names.iter().copied(), self.max_name)
                .unwrap_or_else(|| self.nameless.to_string()),
            groups,
        }
    }

    /// A group the platform gives a person (`slack-team:T1`), under its first group prefix.
    pub fn group(&self, id: &str) -> String {
        let prefix = self
            .front
            .groups
            .first()
            .copied()
            .unwrap_or(self.front.prefix);
        format!("{prefix}:{id}")
    }

    /// A channel or user id with this platform's prefix taken off, if it has one.
    pub fn strip<'a>(&self, id: &'a str) -> &'a str {
        id.strip_prefix(self.front.prefix)
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or(id)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use baton_commands::config::{Config, Problem};
    use baton_commands::domain::EnvName;

    /// The problems `text` has, with every platform registered as `baton` registers them.
    pub(crate) fn problems(text: &str) -> Vec<Problem> {
        crate::register_platforms();
        Config::from_toml_str(text).unwrap_err().problems
    }

    #[test]
    fn the_example_file_is_valid() {
        crate::register_platforms();
        let config = Config::from_toml_str(include_str!("../../../config.example.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let prod = config
            .env_settings(&EnvName::parse("prod").unwrap())
            .unwrap();
        assert!(prod.protected);
        assert_eq!(
            (prod.default_ttl, prod.max_ttl),
            (Duration::from_secs(1800), Duration::from_secs(7200))
        );
        let names: Vec<String> = config
            .all_envs()
            .iter()
            .map(|e| e.name.to_string())
            .collect();
        assert_eq!(
            names,
            ["prod", "canary", "staging-1", "staging-2", "staging-3"]
        );
    }

    #[test]
    fn identities_and_channels_name_a_registered_platform() {
        let found = problems(
            "[roles]\nadmin = [\"U123\", \"slak:U1\", \"4242\", \"x\"]\n\n[[envs]]\nname = \"prod\"\nannounce = [\"#deploys\", \"teams:x\"]\n",
        );
        let messages: Vec<&str> = found.iter().map(|p| p.message.as_str()).collect();
        for expected in [
            "`U123` in roles.admin: write identities as `slack:U123`",
            "unknown platform `slak`; did you mean `slack`? (use slack, slack-team, discord, discord-role, teams, mattermost, oidc, oidc-group, ci, console, github)",
            "write identities as `discord:4242`",
            "`x` in roles.admin: write identities as `platform:id`, like `slack:U123`, `discord:8035…`, `teams:<Entra object id>`, `mattermost:8x7k…`, `oidc:alice`, `ci:deploy-bot` or `console:alice`",
            "`#deploys` in envs[0].announce: write announcement channels as `slack:<channel id>`, `discord:<channel id>`, `teams:<channel id>` or `mattermost:<channel id>`",
            "`teams:x` in envs[0].announce: a Teams channel is named by its conversation id",
        ] {
            assert!(
                messages.iter().any(|m| m.contains(expected)),
                "{expected} in {messages:#?}"
            );
        }
        assert_eq!(found.len(), 6, "{found:#?}");
    }

    #[test]
    fn secrets_are_refused_in_the_file_and_accepted_from_the_environment() {
        for (text, var) in [
            (
                "[slack]\nsigning_secret = \"abc123\"\n",
                "BATON_SLACK__SIGNING_SECRET",
            ),
            (
                "slack = { bot_token = \"abc123\" }\n",
                "BATON_SLACK__BOT_TOKEN",
            ),
            ("[discord]\ntoken = \"abc123\"\n", "BATON_DISCORD__TOKEN"),
        ] {
            let found = problems(text);
            assert_eq!(found.len(), 1, "{found:?}");
            assert!(found[0].message.contains(var), "{}", found[0].message);
            assert!(
                !found[0].message.contains("abc123"),
                "the secret is never echoed"
            );
        }
        assert_eq!(
            problems("[slack]\nsigning_secret = \"abc\"\n")[0].line,
            Some(2)
        );

        let vars = [(
            "BATON_SLACK__SIGNING_SECRET".to_string(),
            "abc123".to_string(),
        )];
        crate::register_platforms();
        let config = Config::load(None, vars).unwrap();
        let secret = config.slack.signing_secret.unwrap();
        assert_eq!(secret.expose(), "abc123");
        assert_eq!(format!("{secret:?} {secret}"), "[redacted] [redacted]");
    }
}
