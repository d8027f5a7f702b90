//! Mattermost: slash commands, message-attachment buttons whose context Baton signs itself, and
//! outbound posts with the bot's access token.

use baton_commands::config::Front;

use crate::kit::Platform;

/// Mattermost as configuration sees it.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Mattermost",
        prefix: "mattermost",
        groups: &[],
        example: "mattermost:8x7k…",
        bare_user: |id| id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        secrets: &[],
        channel: Some(channel),
    },
    nameless: "a Mattermost user",
    max_name: 64,
};

/// An announcement channel: the channel's 26-character id, never its name.
fn channel(id: &str) -> Result<(), String> {
    if id.len() == 26 && id.chars().all(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("a Mattermost channel is named by its 26-character id, like `mattermost:4yjq9ge5k7ffx8b3dq9h3b1j8r` (the channel's name → View Info)".into())
    }
}
