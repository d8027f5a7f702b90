//! `[discord]`: the Discord application. The bot token comes from the environment only
//! (`BATON_DISCORD__TOKEN`).

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::duration;
use crate::domain::Secret;

/// The Discord application's settings. Discord is off while `public_key` (HTTP interactions)
/// and `token` (gateway) are both unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// The application's public key (64 hex characters), which verifies interaction signatures.
    /// When set, `POST /discord/interactions` is served.
    #[serde(deserialize_with = "public_key")]
    pub public_key: Option<String>,
    /// The bot token: posts messages, registers commands, runs the gateway.
    pub token: Option<Secret>,
    /// The application id; `baton discord register` asks Discord for it when unset.
    pub application_id: Option<u64>,
    /// Discord's API base URL; tests point it at a local server.
    pub api_url: String,
    /// How interactions reach Baton: `http` (Discord POSTs to the interactions URL) or `gateway`
    /// (Baton keeps a websocket open to Discord, for bots without a public URL).
    pub mode: DiscordMode,
    /// How long a command may run before Baton answers "thinking…" and edits the reply in later.
    /// Discord drops answers slower than 3 s, so values above 2.5 s are treated as 2.5 s.
    #[serde(deserialize_with = "duration")]
    pub defer_after: Duration,
}

/// How interactions reach Baton.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiscordMode {
    /// Discord POSTs each interaction to `/discord/interactions` (needs a public HTTPS URL).
    #[default]
    Http,
    /// Baton connects to Discord's gateway with the bot token and receives interactions there.
    Gateway,
}

/// The longest `defer_after` that still leaves time to answer within Discord's 3 seconds.
const MAX_DEFER_AFTER: Duration = Duration::from_millis(2500);

impl DiscordConfig {
    /// How long to wait for a command before deferring: `defer_after`, at most 2.5 s.
    pub fn deadline(&self) -> Duration {
        self.defer_after.min(MAX_DEFER_AFTER)
    }
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            public_key: None,
            token: None,
            application_id: None,
            api_url: "https://discord.com".into(),
            mode: DiscordMode::Http,
            defer_after: MAX_DEFER_AFTER,
        }
    }
}

/// Refuses a key that is not 64 hex characters when the file is read, so `baton config check`
/// names the line instead of `baton serve` failing later.
fn public_key<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    match raw {
        Some(k) if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(serde::de::Error::custom(
                "the public key is 64 hex characters, as shown on the Developer Portal's General Information page",
            ))
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::DiscordMode;
    use crate::config::Config;

    #[test]
    fn gateway_mode_and_the_deadline_are_read_and_the_deadline_is_capped() {
        let c = Config::from_toml_str("[discord]\nmode = \"gateway\"\ndefer_after = \"10s\"\n")
            .unwrap();
        assert_eq!(c.discord.mode, DiscordMode::Gateway);
        assert_eq!(c.discord.deadline(), Duration::from_millis(2500));
        let vars = [("BATON_DISCORD__MODE".to_string(), "gateway".to_string())];
        let c = Config::load(None, vars).unwrap();
        assert_eq!(c.discord.mode, DiscordMode::Gateway);
        assert_eq!(Config::default().discord.mode, DiscordMode::Http);
    }

    #[test]
    fn a_public_key_that_is_not_64_hex_characters_is_named_with_its_line() {
        let e = Config::from_toml_str("[discord]\npublic_key = \"abc\"\nmode = \"websocket\"\n")
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains(":2:") && text.contains("64 hex characters"),
            "{text}"
        );
        assert!(text.contains(":3:") && text.contains("websocket"), "{text}");
    }
}
