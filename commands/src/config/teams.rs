//! `[teams]`: the Microsoft Teams bot (Bot Framework). The bot's client secret comes from the
//! environment only (`BATON_TEAMS__APP_PASSWORD`).

use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{duration, Config, Problem};
use crate::domain::Secret;

/// Bot Framework's OpenID metadata: where the keys that sign every inbound request are listed.
pub const BOT_FRAMEWORK_METADATA: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";

/// The Teams bot's settings. Teams is off while `app_id` is unset.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TeamsConfig {
    /// The bot's Microsoft App ID (a GUID, from its Azure Bot resource): the audience every
    /// inbound token must name. When set, `POST /teams/messages` is served.
    pub app_id: Option<String>,
    /// The bot's client secret, for the tokens it sends with its replies and announcements.
    pub app_password: Option<Secret>,
    /// The bot's Entra tenant, for a single-tenant bot (tokens come from that tenant); unset for a
    /// multi-tenant bot (tokens come from `botframework.com`).
    pub tenant_id: Option<String>,
    /// Bot Framework's OpenID metadata URL; tests point it at a local issuer.
    pub openid_metadata_url: String,
    /// The token endpoint the bot's own tokens come from; unset: Microsoft's, for the tenant.
    pub token_url: Option<String>,
    /// Where to post to a conversation Baton has not heard from yet (an `announce` channel
    /// before the bot has been added to it); each conversation's own `serviceUrl` is remembered
    /// from its first activity.
    pub service_url: String,
    /// How long a command may run before Baton answers "working on it" and posts the answer
    /// when it is done. Teams waits 15 s for an HTTP answer; values above 10 s are read as 10 s.
    #[serde(deserialize_with = "duration")]
    pub defer_after: Duration,
}

/// The longest `defer_after` that still answers well within Teams' 15 seconds.
const MAX_DEFER_AFTER: Duration = Duration::from_secs(10);

impl TeamsConfig {
    /// How long to wait for a command before acknowledging: `defer_after`, at most 10 s.
    pub fn deadline(&self) -> Duration {
        self.defer_after.min(MAX_DEFER_AFTER)
    }
}

impl Default for TeamsConfig {
    fn default() -> Self {
        Self {
            app_id: None,
            app_password: None,
            tenant_id: None,
            openid_metadata_url: BOT_FRAMEWORK_METADATA.into(),
            token_url: None,
            service_url: "https://smba.trafficmanager.net/teams/".into(),
            defer_after: Duration::from_secs(5),
        }
    }
}

impl Config {
    /// `config check`'s rules for `[teams]`.
    pub(super) fn check_teams(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let _ = (ctx, out);
    }
}
