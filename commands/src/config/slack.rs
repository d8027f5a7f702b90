//! `[slack]`: the Slack app. Secrets come from the environment only
//! (`BATON_SLACK__SIGNING_SECRET`, `BATON_SLACK__BOT_TOKEN`, `BATON_SLACK__APP_TOKEN`).

use serde::{Deserialize, Deserializer};

use crate::domain::{did_you_mean, preview, Secret};
use crate::grammar;

/// Verbs whose successful answers everyone in the channel sees by default: the state changes, as
/// the grammar table marks them, so a new state-changing verb is announced without a second list.
pub fn default_in_channel() -> Vec<String> {
    grammar::VERBS
        .iter()
        .filter(|v| v.changes_state)
        .map(|v| v.name.to_string())
        .collect()
}

/// The Slack app's settings. Slack is off while `signing_secret` (HTTP) and `app_token` (Socket
/// Mode) are both unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SlackConfig {
    /// Verifies that requests come from Slack (HTTP mode).
    pub signing_secret: Option<Secret>,
    /// `xoxb-…`: posts messages (announcements, follow-ups).
    pub bot_token: Option<Secret>,
    /// `xapp-…`: Socket Mode, for teams without a public URL.
    pub app_token: Option<Secret>,
    /// Slack's Web API base URL; tests point it at a local server.
    pub api_url: String,
    /// Verbs whose successful answers are posted in the channel; every other answer, and every
    /// refusal, is shown only to the person who asked. Checked against the grammar when loading.
    #[serde(deserialize_with = "verbs")]
    pub in_channel: Vec<String>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            signing_secret: None,
            bot_token: None,
            app_token: None,
            api_url: "https://slack.com/api".into(),
            in_channel: default_in_channel(),
        }
    }
}

impl SlackConfig {
    /// Whether a successful answer to `verb` goes to the whole channel.
    pub fn posts_in_channel(&self, verb: &str) -> bool {
        self.in_channel.iter().any(|v| v.eq_ignore_ascii_case(verb))
    }
}

/// A list of grammar verbs; an unknown one is a mistake with a suggestion, not silently ignored.
fn verbs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let raw = Vec::<String>::deserialize(d)?;
    let mut out = Vec::with_capacity(raw.len());
    for word in raw {
        let lower = word.trim().to_lowercase();
        if grammar::verb(&lower).is_none() {
            let known: Vec<&str> = grammar::VERBS.iter().map(|v| v.name).collect();
            let near = did_you_mean(&lower, &known)
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            return Err(serde::de::Error::custom(format!(
                "`{}` is not a command{near} (use {})",
                preview(&word),
                known.join(", ")
            )));
        }
        out.push(lower);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn state_changes_post_in_channel_unless_configured_otherwise() {
        let default = SlackConfig::default();
        assert!(default.posts_in_channel("lock") && default.posts_in_channel("UNLOCK"));
        assert!(!default.posts_in_channel("status") && !default.posts_in_channel("help"));
        assert_eq!(
            default.in_channel,
            [
                "lock",
                "unlock",
                "extend",
                "queue",
                "leave",
                "claim",
                "release",
                "freeze",
                "unfreeze",
                "freeze skip",
                "github approve",
                "github reject"
            ],
            "the list config.example.toml and docs/slack.md show"
        );
        let config =
            Config::from_toml_str("[slack]\nin_channel = [\"lock\", \"Status\"]\n").unwrap();
        assert_eq!(config.slack.in_channel, ["lock", "status"]);
        let vars = [(
            "BATON_SLACK__IN_CHANNEL".to_string(),
            "lock, claim".to_string(),
        )];
        let config = Config::load(None, vars).unwrap();
        assert_eq!(config.slack.in_channel, ["lock", "claim"]);
    }

    #[test]
    fn an_unknown_verb_in_in_channel_is_a_problem_with_a_suggestion() {
        let err = Config::from_toml_str("[slack]\nin_channel = [\"lokc\"]\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains(":2:"), "{text}");
        assert!(text.contains("did you mean `lock`?"), "{text}");
    }
}
