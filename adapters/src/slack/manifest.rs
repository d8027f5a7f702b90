//! The Slack app manifest `baton slack manifest` prints: paste it at api.slack.com/apps ("Create
//! New App" → "From an app manifest") and the app has the `/baton` command, interactivity and
//! the bot scopes Baton needs, nothing more.

use baton_commands::grammar::{self, VERBS};
use serde_json::{json, Value};

/// Bot scopes: the slash command, posting (announcements, DMs) and opening DMs.
pub const BOT_SCOPES: [&str; 3] = ["commands", "chat:write", "im:write"];

/// What the manifest describes.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// Baton's public base URL (`https://baton.example.com`); not needed in Socket Mode.
    pub url: Option<String>,
    /// Socket Mode instead of request URLs.
    pub socket_mode: bool,
    /// The app's and bot's name.
    pub name: String,
}

/// The slash command's usage hint, generated from the grammar: the first verb's usage, then the
/// other verbs.
pub fn usage_hint() -> String {
    let mut parts = Vec::new();
    if let Some(first) = VERBS.first() {
        parts.push(first.usage());
    }
    parts.extend(VERBS.iter().skip(1).map(|v| v.name.to_string()));
    let hint = parts.join(" | ");
    hint.chars().take(1000).collect()
}

/// The manifest as JSON, or why the options cannot make one.
pub fn manifest(options: &ManifestOptions) -> Result<Value, String> {
    let base = match (&options.url, options.socket_mode) {
        (Some(url), _) => Some(base_url(url)?),
        (None, true) => None,
        (None, false) => {
            return Err("give --url (Baton's public https URL) or --socket-mode".into())
        }
    };
    let name: String = options.name.trim().chars().take(35).collect();
    if name.is_empty() {
        return Err("the app name cannot be empty".into());
    }
    let description = "Deploy locks and staging claims";
    let mut command = json!({
        "command": "/baton",
        "description": description,
        "usage_hint": usage_hint(),
        "should_escape": false,
    });
    let mut interactivity = json!({"is_enabled": true});
    if let (Some(base), false) = (&base, options.socket_mode) {
        command["url"] = json!(format!("{base}/slack/commands"));
        interactivity["request_url"] = json!(format!("{base}/slack/interactions"));
    }
    let summary = grammar::VERBS
        .iter()
        .map(|v| v.name)
        .collect::<Vec<_>>()
        .join(", ");
    Ok(json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": description,
            "long_description": format!(
                "Baton keeps deploy locks, wait queues, freezes and staging claims in Redis, shared \
                 by chat and CI. Type /baton help in any channel. Commands: {summary}."
            ),
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": display_name(&name), "always_online": true},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": false,
            "socket_mode_enabled": options.socket_mode,
            "token_rotation_enabled": false,
        },
    }))
}

/// The bot's display name as Slack's manifest schema allows it (lowercase `a`–`z`, `0`–`9`, `-`,
/// `_` and `.`, at most 80 characters): `Deploy Bot` becomes `deploy-bot`. Anything else turns
/// into one `-`; a name with nothing usable left becomes `baton`.
fn display_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.') {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_end_matches('-').chars().take(80).collect();
    if out.is_empty() {
        "baton".into()
    } else {
        out
    }
}

/// `https://host[/path]` without a trailing slash; Slack only calls https URLs.
fn base_url(raw: &str) -> Result<String, String> {
    let url = raw.trim().trim_end_matches('/');
    let host = url.strip_prefix("https://").unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) || url.contains(['?', '#']) {
        return Err(format!(
            "`{}` is not a public https URL like https://baton.example.com (Slack only calls https)",
            baton_commands::domain::preview(raw)
        ));
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(url: Option<&str>, socket_mode: bool) -> ManifestOptions {
        ManifestOptions {
            url: url.map(String::from),
            socket_mode,
            name: "Baton".into(),
        }
    }

    #[test]
    fn the_manifest_points_slack_at_both_routes_with_minimal_scopes() {
        let m = manifest(&opts(Some("https://baton.example.com/"), false)).unwrap();
        let cmd = &m["features"]["slash_commands"][0];
        assert_eq!(cmd["url"], "https://baton.example.com/slack/commands");
        assert!(cmd["usage_hint"]
            .as_str()
            .unwrap()
            .starts_with("lock <env>"));
        assert_eq!(
            m["settings"]["interactivity"]["request_url"],
            "https://baton.example.com/slack/interactions"
        );
        assert_eq!(m["settings"]["socket_mode_enabled"], false);
        assert_eq!(m["oauth_config"]["scopes"]["bot"], json!(BOT_SCOPES));
    }

    #[test]
    fn the_bot_display_name_is_one_slack_accepts_and_the_app_keeps_its_name() {
        let named = |name: &str| {
            let m = manifest(&ManifestOptions {
                name: name.into(),
                ..opts(None, true)
            })
            .unwrap();
            let app = m["display_information"]["name"]
                .as_str()
                .unwrap()
                .to_string();
            let bot = m["features"]["bot_user"]["display_name"].as_str().unwrap();
            (app, bot.to_string())
        };
        for (name, bot) in [
            ("Deploy Bot", "deploy-bot"),
            ("Baton", "baton"),
            ("  Ops -- Release_Train v2.1 ", "ops-release_train-v2.1"),
            ("Équipe Déploiement", "quipe-d-ploiement"),
            ("🚀🚀", "baton"),
        ] {
            let (app, got) = named(name);
            assert_eq!(got, bot, "{name}");
            assert_eq!(app, name.trim(), "the app keeps the name as given");
            assert!(got
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c)));
        }
    }

    #[test]
    fn socket_mode_needs_no_url_and_http_needs_an_https_one() {
        let m = manifest(&opts(None, true)).unwrap();
        assert_eq!(m["settings"]["socket_mode_enabled"], true);
        assert!(m["features"]["slash_commands"][0].get("url").is_none());
        for bad in [
            "http://baton.example.com",
            "baton.example.com",
            "https://",
            "https://a b",
        ] {
            assert!(manifest(&opts(Some(bad), false)).is_err(), "{bad}");
        }
        assert!(manifest(&opts(None, false)).is_err());
    }
}
