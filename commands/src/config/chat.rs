//! `[chat]`: what every chat platform shares, whichever carries the request. Today: who sees an
//! answer (`in_channel`). `[slack] in_channel`, which once decided it for every platform, is read
//! as an alias: `config check` warns that it is deprecated, and refuses it beside `[chat]`'s.

use serde::{Deserialize, Deserializer};

use super::decode::Ctx;
use super::{Config, Problem};
use crate::domain::{did_you_mean, preview};
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

/// Settings every chat platform follows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatConfig {
    /// Verbs whose successful answers are posted in the channel, on every chat platform; every
    /// other answer, and every refusal, is shown only to the person who asked. Checked against
    /// the grammar when loading. Unset: [`default_in_channel`] (or the deprecated
    /// `[slack] in_channel`).
    #[serde(deserialize_with = "some_verbs")]
    pub in_channel: Option<Vec<String>>,
}

impl Config {
    /// The verbs whose successes are posted in the channel: `[chat] in_channel`, else the
    /// deprecated `[slack] in_channel`, else every state change.
    pub fn in_channel(&self) -> Vec<String> {
        self.chat
            .in_channel
            .clone()
            .or_else(|| self.slack.in_channel.clone())
            .unwrap_or_else(default_in_channel)
    }

    /// Both names of one setting would leave one of them silently ignored.
    pub(super) fn check_chat(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        if self.chat.in_channel.is_some() && self.slack.in_channel.is_some() {
            out.push(ctx.problem(
                "slack.in_channel",
                "`slack.in_channel` is the old name of `chat.in_channel`, which is set too: remove `slack.in_channel`",
            ));
        }
    }

    /// `config check`'s notes on `[chat]`: the deprecated alias.
    pub(super) fn chat_warnings(&self) -> Vec<String> {
        match (&self.chat.in_channel, &self.slack.in_channel) {
            (None, Some(_)) => vec!["`[slack] in_channel` is deprecated: it decides who sees answers on every chat platform; rename it to `[chat] in_channel` (BATON_SLACK__IN_CHANNEL: BATON_CHAT__IN_CHANNEL)".into()],
            _ => Vec::new(),
        }
    }
}

/// A list of grammar verbs, when set; an unknown one is a mistake with a suggestion, not silently
/// ignored.
pub(super) fn some_verbs<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
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
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changes_post_in_channel_unless_configured_otherwise() {
        let default = Config::default();
        assert_eq!(
            default.in_channel(),
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
                "approve",
                "reject",
                "github approve",
                "github reject"
            ],
            "the list config.example.toml and docs/slack.md show"
        );
        let config =
            Config::from_toml_str("[chat]\nin_channel = [\"lock\", \"Status\"]\n").unwrap();
        assert_eq!(config.in_channel(), ["lock", "status"]);
        assert!(config.warnings().is_empty());
        let vars = [(
            "BATON_CHAT__IN_CHANNEL".to_string(),
            "lock, claim".to_string(),
        )];
        let config = Config::load(None, vars).unwrap();
        assert_eq!(config.in_channel(), ["lock", "claim"]);
    }

    #[test]
    fn the_old_slack_key_still_decides_with_a_warning_but_not_beside_the_new_one() {
        let config = Config::from_toml_str("[slack]\nin_channel = [\"lock\"]\n").unwrap();
        assert_eq!(config.in_channel(), ["lock"]);
        let warnings: Vec<String> = config.warnings().iter().map(|w| w.to_string()).collect();
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("rename it to `[chat] in_channel`")),
            "{warnings:?}"
        );
        let vars = [("BATON_SLACK__IN_CHANNEL".to_string(), "claim".to_string())];
        assert_eq!(Config::load(None, vars).unwrap().in_channel(), ["claim"]);

        let err = Config::from_toml_str(
            "[chat]\nin_channel = [\"lock\"]\n\n[slack]\nin_channel = [\"claim\"]\n",
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 1, "{err}");
        assert_eq!(err.problems[0].line, Some(5));
        assert!(err.problems[0]
            .message
            .contains("old name of `chat.in_channel`"));
    }

    #[test]
    fn an_unknown_verb_in_in_channel_is_a_problem_with_a_suggestion() {
        for section in ["chat", "slack"] {
            let text = format!("[{section}]\nin_channel = [\"lokc\"]\n");
            let text = Config::from_toml_str(&text).unwrap_err().to_string();
            assert!(text.contains(":2:"), "{text}");
            assert!(text.contains("did you mean `lock`?"), "{text}");
        }
    }
}
