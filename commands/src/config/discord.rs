//! `[discord]`: the Discord application. The bot token comes from the environment only
//! (`BATON_DISCORD__TOKEN`).

use serde::Deserialize;

use crate::domain::Secret;

/// The Discord application's settings. Discord is off while `public_key` (HTTP interactions)
/// and `token` (gateway) are both unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscordConfig {
    /// The application's public key (hex), which verifies interaction signatures.
    pub public_key: Option<String>,
    /// The bot token: posts messages, registers commands, runs the gateway.
    pub token: Option<Secret>,
    /// The application id.
    pub application_id: Option<u64>,
    /// Discord's API base URL; tests point it at a local server.
    pub api_url: String,
}

impl Default for DiscordConfig {
    fn default() -> Self {
        Self {
            public_key: None,
            token: None,
            application_id: None,
            api_url: "https://discord.com".into(),
        }
    }
}
