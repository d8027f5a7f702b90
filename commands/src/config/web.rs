//! `[web]`: the web console (`/console`) and its sign-in with the team's OpenID Connect identity
//! provider. Off by default. The client secret comes from the environment only
//! (`BATON_WEB__CLIENT_SECRET`), like every other secret.

use std::time::Duration;

use serde::Deserialize;

use super::decode::Ctx;
use super::{duration, Config, Problem};
use crate::domain::{preview, Secret};

/// The shortest and longest session `[web] session_ttl` may ask for.
const SESSION_TTL: (Duration, Duration) =
    (Duration::from_secs(300), Duration::from_secs(30 * 86_400));

/// The web console's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serves `/console` and the sign-in routes (`/web/…`).
    pub enabled: bool,
    /// The identity provider's issuer URL; its discovery document is
    /// `<issuer>/.well-known/openid-configuration`.
    pub issuer: Option<String>,
    /// The client id Baton is registered under at the provider.
    pub client_id: Option<String>,
    /// The client's secret: from `BATON_WEB__CLIENT_SECRET` only, never the file.
    pub client_secret: Option<Secret>,
    /// Where people reach Baton (`https://baton.example.com`): the redirect URI registered at the
    /// provider is `<base_url>/web/callback`. Cookies are `Secure` when it is https.
    pub base_url: Option<String>,
    /// The claim that lists a person's groups, in the ID token or else at userinfo.
    pub groups_claim: String,
    /// Which claim names a person (`oidc:<claim>`): `sub` (stable, the default) or
    /// `preferred_username` (readable, but some providers let people change it).
    pub identity_claim: String,
    /// The scopes asked for; `openid` is always sent.
    pub scopes: Vec<String>,
    /// How long a sign-in lasts, whatever the provider's tokens say.
    #[serde(deserialize_with = "duration")]
    pub session_ttl: Duration,
    /// Whether the wall screen (`/` and its feeds) needs a sign-in too.
    pub wall_needs_sign_in: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer: None,
            client_id: None,
            client_secret: None,
            base_url: None,
            groups_claim: "groups".into(),
            identity_claim: "sub".into(),
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
            session_ttl: Duration::from_secs(8 * 3600),
            wall_needs_sign_in: false,
        }
    }
}

impl WebConfig {
    /// The redirect URI registered at the provider: `<base_url>/web/callback`.
    pub fn redirect_uri(&self) -> String {
        format!(
            "{}/web/callback",
            self.base_url
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/')
        )
    }

    /// Whether cookies carry `Secure` (the base URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.base_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }
}

impl Config {
    /// `config check`'s rules for `[web]`: when enabled, the issuer, client and base URL are
    /// given and well formed, and the secret comes from the environment.
    pub(super) fn check_web(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let w = &self.web;
        if !w.enabled {
            return;
        }
        let urls = [("web.issuer", &w.issuer), ("web.base_url", &w.base_url)];
        for (at, url) in urls {
            match url {
                None => {
                    out.push(ctx.problem("web.enabled", format!("the web console needs `{at}`")))
                }
                Some(u) if !super::teams::https_or_loopback(u) => out.push(ctx.problem(
                    at,
                    format!(
                        "`{}` must be an https:// URL (http:// only to this machine, for tests)",
                        preview(u)
                    ),
                )),
                Some(_) => {}
            }
        }
        if w.client_id.as_deref().is_none_or(str::is_empty) {
            out.push(ctx.problem("web.enabled", "the web console needs `web.client_id` (the client registered at the identity provider)"));
        }
        if w.client_secret.is_none() && !ctx.present("web.client_secret") {
            out.push(ctx.problem(
                "web.enabled",
                "the web console needs the client's secret: set BATON_WEB__CLIENT_SECRET",
            ));
        }
        if w.groups_claim.trim().is_empty() {
            out.push(ctx.problem(
                "web.groups_claim",
                "`web.groups_claim` names the claim that lists groups (usually `groups`)",
            ));
        }
        if !matches!(w.identity_claim.as_str(), "sub" | "preferred_username") {
            out.push(ctx.problem(
                "web.identity_claim",
                format!(
                    "`{}` is not an identity claim: use `sub` or `preferred_username`",
                    preview(&w.identity_claim)
                ),
            ));
        }
        let (short, long) = SESSION_TTL;
        if w.session_ttl < short || w.session_ttl > long {
            out.push(ctx.problem(
                "web.session_ttl",
                "`web.session_ttl` must be between 5m and 30d",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn an_enabled_console_needs_its_issuer_client_and_secret_from_the_environment() {
        let e = Config::from_toml_str(
            "[web]\nenabled = true\nissuer = \"http://idp.example.com\"\nsession_ttl = \"1m\"\n",
        )
        .unwrap_err()
        .to_string();
        for expected in [
            "web.base_url",
            "web.client_id",
            "BATON_WEB__CLIENT_SECRET",
            ":3:",
            "https://",
            ":4:",
            "5m and 30d",
        ] {
            assert!(e.contains(expected), "{expected} in {e}");
        }
        let vars = [("BATON_WEB__CLIENT_SECRET".to_string(), "s3cret".to_string())];
        let dir = std::env::temp_dir().join(format!("baton-web-{}.toml", std::process::id()));
        std::fs::write(&dir, "[web]\nenabled = true\nissuer = \"https://idp.example.com\"\nclient_id = \"baton\"\nbase_url = \"https://baton.example.com/\"\n").unwrap();
        let c = Config::load(Some(&dir), vars).unwrap();
        let _ = std::fs::remove_file(&dir);
        assert_eq!(c.web.client_secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!(
            c.web.redirect_uri(),
            "https://baton.example.com/web/callback"
        );
        assert!(c.web.secure_cookies());
    }

    #[test]
    fn off_by_default_and_nothing_is_asked_of_it() {
        let c = Config::from_toml_str("").unwrap();
        assert!(!c.web.enabled && !c.web.wall_needs_sign_in);
        assert_eq!(c.web.groups_claim, "groups");
    }
}
