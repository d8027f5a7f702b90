//! `[mattermost]`: the Mattermost integration. Secrets come from the environment only
//! (`BATON_MATTERMOST__BOT_TOKEN`, `BATON_MATTERMOST__COMMAND_TOKENS`,
//! `BATON_MATTERMOST__ACTION_SECRET`).

use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{duration, Config, Problem};
use crate::domain::{preview, Secret};

/// The Mattermost integration's settings. Mattermost is off while nothing here is set; the slash
/// command is served once `command_tokens` is set, outbound posts need `url` and `bot_token`,
/// buttons need `public_url` and a signing key.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MattermostConfig {
    /// The Mattermost server's base URL (`https://chat.example.com`), for posts and DMs.
    pub url: Option<String>,
    /// The bot account's access token: posts announcements, reminders and DMs.
    pub bot_token: Option<Secret>,
    /// The slash command's token(s), as Mattermost shows them after the command is created; a
    /// request carrying none of them is refused. Several are allowed (one per team, or the old
    /// and new one while rotating); `BATON_MATTERMOST__COMMAND_TOKENS=tok1,tok2`.
    pub command_tokens: Vec<Secret>,
    /// Baton's own public base URL (`https://baton.example.com`), which Mattermost calls when a
    /// button is pressed (`<public_url>/mattermost/actions`). Without it replies carry no buttons.
    pub public_url: Option<String>,
    /// The key that signs button contexts. Unset: derived from `bot_token` (HMAC-SHA256 of a
    /// fixed label under the token), so rotating the bot token retires the buttons already posted.
    pub action_secret: Option<Secret>,
    /// How long a posted button stays pressable.
    #[serde(deserialize_with = "duration")]
    pub button_ttl: Duration,
    /// How long a command may run before Baton answers "working on it" and posts the answer to
    /// the command's `response_url` when it is done. Mattermost is answered within 3 s, so values
    /// above 2.5 s are read as 2.5 s.
    #[serde(deserialize_with = "duration")]
    pub defer_after: Duration,
}

/// The longest `defer_after` that still answers within the 3 s Baton promises Mattermost.
const MAX_DEFER_AFTER: Duration = Duration::from_millis(2500);

impl Default for MattermostConfig {
    fn default() -> Self {
        Self {
            url: None,
            bot_token: None,
            command_tokens: Vec::new(),
            public_url: None,
            action_secret: None,
            button_ttl: Duration::from_secs(24 * 3600),
            defer_after: MAX_DEFER_AFTER,
        }
    }
}

impl MattermostConfig {
    /// How long to wait for a command before acknowledging: `defer_after`, at most 2.5 s.
    pub fn deadline(&self) -> Duration {
        self.defer_after.min(MAX_DEFER_AFTER)
    }

    /// Whether the slash command is served.
    pub fn enabled(&self) -> bool {
        !self.command_tokens.is_empty()
    }
}

impl Config {
    /// `config check`'s rules for `[mattermost]`: URLs that are URLs, the pieces each feature
    /// needs together, sane durations. Secrets in the file are refused by the shared check
    /// (the platform's registration lists them).
    pub(super) fn check_mattermost(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let m = &self.mattermost;
        for (key, value, example) in [
            ("url", &m.url, "https://chat.example.com"),
            ("public_url", &m.public_url, "https://baton.example.com"),
        ] {
            let Some(value) = value else { continue };
            if let Err(why) = base_url(value) {
                let message = format!(
                    "`mattermost.{key}` `{}` {why}, like {example}",
                    preview(value)
                );
                out.push(ctx.problem(&format!("mattermost.{key}"), message));
            }
        }
        if m.command_tokens
            .iter()
            .any(|t| t.expose().trim().is_empty())
        {
            out.push(ctx.problem("mattermost.command_tokens", "BATON_MATTERMOST__COMMAND_TOKENS holds an empty token: list the slash command's tokens, separated by commas"));
        }
        if m.bot_token.is_some() && m.url.is_none() {
            out.push(ctx.problem("mattermost.url", "the Mattermost bot token is set but not the server: set `mattermost.url` (like https://chat.example.com) so Baton can post"));
        }
        if m.public_url.is_some() {
            if m.action_secret.is_none() && m.bot_token.is_none() {
                out.push(ctx.problem("mattermost.public_url", "Mattermost buttons need a key to sign them: set BATON_MATTERMOST__ACTION_SECRET (or the bot token, BATON_MATTERMOST__BOT_TOKEN, which the key is then derived from)"));
            }
            if m.button_ttl.is_zero() {
                out.push(ctx.problem(
                    "mattermost.button_ttl",
                    "`mattermost.button_ttl` must be above zero, like \"24h\"",
                ));
            }
        }
        let announces = self
            .envs
            .iter()
            .filter_map(|e| e.announce.as_ref())
            .chain(self.pools.iter().filter_map(|p| p.announce.as_ref()))
            .flatten()
            .any(|c| c.starts_with("mattermost:"));
        if announces && (m.url.is_none() || m.bot_token.is_none()) {
            out.push(ctx.problem("mattermost.url", "an `announce` list names a Mattermost channel, but Baton cannot post there: set `mattermost.url` and BATON_MATTERMOST__BOT_TOKEN"));
        }
    }
}

/// Why `raw` is not an http(s) base URL with a host, if it is not.
fn base_url(raw: &str) -> Result<(), &'static str> {
    let rest = raw
        .strip_prefix("https://")
        .or_else(|| raw.strip_prefix("http://"))
        .ok_or("must start with https:// (or http://)")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || host.contains('@') {
        return Err("must name a host");
    }
    if raw.contains(['?', '#']) {
        return Err("must be a base URL, without a query or fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    #[test]
    fn tokens_come_from_one_comma_separated_variable_and_the_deadline_is_capped() {
        let vars = [
            (
                "BATON_MATTERMOST__COMMAND_TOKENS".to_string(),
                "tok1, tok2".to_string(),
            ),
            (
                "BATON_MATTERMOST__DEFER_AFTER".to_string(),
                "10s".to_string(),
            ),
        ];
        let c = Config::load(None, vars).unwrap();
        let tokens: Vec<&str> = c
            .mattermost
            .command_tokens
            .iter()
            .map(|t| t.expose())
            .collect();
        assert_eq!(tokens, ["tok1", "tok2"]);
        assert_eq!(c.mattermost.deadline(), Duration::from_millis(2500));
        assert!(c.mattermost.enabled());
        assert!(!Config::default().mattermost.enabled());
    }

    #[test]
    fn bad_urls_and_missing_pieces_are_named_with_their_line() {
        let e = Config::from_toml_str(
            "[mattermost]\nurl = \"chat.example.com\"\npublic_url = \"https://baton.example.com/?x=1\"\n",
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(":2: `mattermost.url` `chat.example.com` must start with https://"),
            "{text}"
        );
        assert!(
            text.contains(":3: `mattermost.public_url`") && text.contains("without a query"),
            "{text}"
        );
        assert!(text.contains("need a key to sign them"), "{text}");

        let e = Config::from_toml_str(
            "[[envs]]\nname = \"qa\"\nannounce = [\"mattermost:4yjq9ge5k7ffx8b3dq9h3b1j8r\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("cannot post there"), "{e}");
    }
}
