//! The Teams app manifest `baton teams manifest` prints (schema v1.17): the bot, in personal,
//! team and group-chat scope, with Baton's most used commands as the command menu, generated
//! from the grammar. Zip it with two icons (`color.png`, 192×192, and `outline.png`, 32×32
//! white on transparent) and upload it in Teams (Apps → Manage your apps → Upload an app).

use baton_commands::grammar::{self, Verb};
use serde_json::{json, Value};

/// The manifest schema version Baton writes.
pub const MANIFEST_VERSION: &str = "1.17";
/// Teams shows at most ten commands in a bot's menu.
const MAX_COMMANDS: usize = 10;
/// The verbs in the command menu, in this order (the grammar's first verbs are its most used).
const MENU: [&str; MAX_COMMANDS] = [
    "lock", "unlock", "extend", "queue", "leave", "status", "claim", "release", "freeze", "help",
];

/// What the manifest describes.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    /// The bot's Microsoft App ID (a GUID): the app's id and its bot's.
    pub app_id: String,
    /// Baton's public base URL (`https://baton.example.com`), for the developer links and the
    /// valid domains.
    pub url: String,
    /// The app's name in Teams.
    pub name: String,
    /// Who publishes it.
    pub developer: String,
}

/// The manifest as JSON, or why the options cannot make one.
pub fn manifest(options: &ManifestOptions) -> Result<Value, String> {
    let app_id = options.app_id.trim().to_ascii_lowercase();
    if !super::is_object_id(&app_id) {
        return Err("--app-id is the bot's Microsoft App ID, a GUID like 00000000-0000-0000-0000-000000000000 (Azure Bot → Configuration)".into());
    }
    let base = options.url.trim().trim_end_matches('/');
    let host = base.strip_prefix("https://").unwrap_or_default();
    if host.is_empty() || host.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "`{}` is not a public https URL like https://baton.example.com (Teams only calls https)",
            baton_commands::domain::preview(&options.url)
        ));
    }
    let name: String = options.name.trim().chars().take(30).collect();
    if name.is_empty() {
        return Err("the app name cannot be empty".into());
    }
    let commands: Vec<Value> = MENU
        .iter()
        .filter_map(|v| grammar::verb(v))
        .map(command)
        .collect();
    let scopes = ["personal", "team", "groupChat"];
    Ok(json!({
        "$schema": format!("https://developer.microsoft.com/en-us/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"),
        "manifestVersion": MANIFEST_VERSION,
        "version": "1.0.0",
        "id": app_id,
        "developer": {
            "name": options.developer.trim().chars().take(32).collect::<String>(),
            "websiteUrl": base,
            "privacyUrl": base,
            "termsOfUseUrl": base,
        },
        "name": {"short": name, "full": format!("{name}: deploy locks")},
        "description": {
            "short": "Deploy locks, queues and freezes for your team",
            "full": "Lock an environment before you deploy, queue for it, hand it over, claim a staging env from a pool and see freezes, from chat. The same locks as Slack, Discord, CI and GitHub.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#2E7D32",
        "bots": [{
            "botId": app_id,
            "scopes": scopes,
            "supportsFiles": false,
            "isNotificationOnly": false,
            "commandLists": [{"scopes": scopes, "commands": commands}],
        }],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host],
    }))
}

/// A menu entry: the verb, and its one line of help (Teams allows 32 and 128 characters).
fn command(verb: &Verb) -> Value {
    json!({
        "title": verb.name.chars().take(32).collect::<String>(),
        "description": verb.summary.chars().take(128).collect::<String>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> ManifestOptions {
        ManifestOptions {
            app_id: "6B5F6A3E-1C2D-4E5F-8A9B-0C1D2E3F4A5B".into(),
            url: "https://baton.example.com/".into(),
            name: "Baton".into(),
            developer: "Platform team".into(),
        }
    }

    #[test]
    fn the_bot_gets_the_grammar_s_ten_most_used_commands_in_every_scope() {
        let m = manifest(&options()).unwrap();
        assert_eq!(m["id"], "6b5f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(m["bots"][0]["botId"], m["id"]);
        let commands = m["bots"][0]["commandLists"][0]["commands"]
            .as_array()
            .unwrap();
        assert_eq!(commands.len(), 10);
        assert_eq!(commands[0]["title"], "lock");
        assert_eq!(m["validDomains"][0], "baton.example.com");
    }

    #[test]
    fn a_bad_app_id_or_url_is_refused_with_what_to_give() {
        let mut o = options();
        o.app_id = "baton".into();
        assert!(manifest(&o).unwrap_err().contains("Microsoft App ID"));
        let mut o = options();
        o.url = "http://baton.example.com".into();
        assert!(manifest(&o).unwrap_err().contains("https"));
    }
}
