//! `[teams]`: the Microsoft Teams bot (Bot Framework). The bot's client secret comes from the
//! environment only (`BATON_TEAMS__APP_PASSWORD`).

use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{duration, Config, Problem};
use crate::domain::{preview, Secret};

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
        let t = &self.teams;
        if let Some(id) = &t.app_id {
            if !is_guid(id) {
                out.push(ctx.problem("teams.app_id", format!("`{}` is not a Microsoft App ID: it is a GUID like 00000000-0000-0000-0000-000000000000 (Azure Bot → Configuration)", preview(id))));
            }
            if t.app_password.is_none() && !ctx.present("teams.app_password") {
                out.push(ctx.problem("teams.app_id", "Teams needs the bot's client secret to answer: set BATON_TEAMS__APP_PASSWORD (Azure Bot → Configuration → Manage password)"));
            }
        }
        if let Some(tenant) = &t.tenant_id {
            let domain = tenant.contains('.')
                && tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            if !is_guid(tenant) && !domain {
                out.push(ctx.problem("teams.tenant_id", format!("`{}` is not an Entra tenant: give its id (a GUID) or its domain, or leave it unset for a multi-tenant bot", preview(tenant))));
            }
        }
        let urls = [
            ("teams.openid_metadata_url", Some(&t.openid_metadata_url)),
            ("teams.service_url", Some(&t.service_url)),
            ("teams.token_url", t.token_url.as_ref()),
        ];
        for (at, url) in urls {
            if let Some(url) = url {
                if !https_or_loopback(url) {
                    out.push(ctx.problem(at, format!("`{}` must be an https:// URL (http:// only to this machine, for tests)", preview(url))));
                }
            }
        }
    }
}

/// A GUID (a Microsoft App ID, an Entra object or tenant id): 8-4-4-4-12 hex digits.
pub fn is_guid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn https_or_loopback(url: &str) -> bool {
    let host_of = |rest: &str| {
        rest.split(['/', ':'])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => !host_of(rest).is_empty(),
        (_, Some(rest)) => matches!(host_of(rest).as_str(), "127.0.0.1" | "localhost" | "[::1]"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_app_id_tenant_and_urls_are_checked_and_the_secret_is_asked_for() {
        let e = Config::from_toml_str(
            "[teams]\napp_id = \"baton\"\ntenant_id = \"not a tenant\"\nservice_url = \"http://smba.example.com/\"\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            ":2:",
            "GUID",
            "BATON_TEAMS__APP_PASSWORD",
            ":3:",
            "Entra tenant",
            ":4:",
            "https://",
        ] {
            assert!(e.contains(expected), "{expected} in {e}");
        }
        let vars = [
            (
                "BATON_TEAMS__APP_ID".to_string(),
                "6b5f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b".to_string(),
            ),
            (
                "BATON_TEAMS__APP_PASSWORD".to_string(),
                "s3cret".to_string(),
            ),
            (
                "BATON_TEAMS__TENANT_ID".to_string(),
                "contoso.onmicrosoft.com".to_string(),
            ),
        ];
        let c = Config::load(None, vars).unwrap();
        assert_eq!(c.teams.app_password.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(c.teams.deadline(), std::time::Duration::from_secs(5));
    }
}
