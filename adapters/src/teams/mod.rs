//! Microsoft Teams, through Bot Framework: activities posted to `POST /teams/messages`, each
//! request's token checked against Bot Framework's published keys; answers as Adaptive Cards;
//! replies, announcements and direct messages through the Bot Connector API with the bot's own
//! token.

use baton_commands::config::Front;

use crate::kit::Platform;

/// Teams as configuration sees it.
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "Microsoft Teams",
        prefix: "teams",
        groups: &[],
        example: "teams:<Entra object id>",
        bare_user: is_object_id,
        secrets: &["teams.app_password"],
        channel: Some(channel),
    },
    nameless: "a Teams user",
    max_name: 64,
};

/// An Entra object id: a GUID.
fn is_object_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// An announcement channel: a Teams conversation id (`19:…@thread.tacv2` for a channel).
fn channel(id: &str) -> Result<(), String> {
    let printable = id.chars().all(|c| c.is_ascii_graphic());
    if (3..=400).contains(&id.len()) && printable && id.contains(':') {
        Ok(())
    } else {
        Err("a Teams channel is named by its conversation id, like `teams:19:abc…@thread.tacv2` (the channel's … menu → Get link to channel: the part after /channel/, URL-decoded)".into())
    }
}
