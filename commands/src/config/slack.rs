//! `[slack]`: the Slack app. Secrets come from the environment only
//! (`BATON_SLACK__SIGNING_SECRET`, `BATON_SLACK__BOT_TOKEN`, `BATON_SLACK__APP_TOKEN`).

use serde::Deserialize;

use crate::domain::Secret;

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
    /// Deprecated: the old name of `[chat] in_channel`, which decides for every chat platform
    /// ([`Config::in_channel`](super::Config::in_channel)); still read when that is unset.
    #[serde(deserialize_with = "super::chat::some_verbs")]
    pub in_channel: Option<Vec<String>>,
}

impl Default for SlackConfig {
    fn default() -> Self {
        Self {
            signing_secret: None,
            bot_token: None,
            app_token: None,
            api_url: "https://slack.com/api".into(),
            in_channel: None,
        }
    }
}
