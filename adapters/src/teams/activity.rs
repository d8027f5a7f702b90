//! The parts of a Bot Framework activity Baton reads, and what it makes of them: the command
//! typed (without the bot's @mention), a button press, where the conversation lives.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::PLATFORM;
use baton_commands::Actor;

/// An inbound activity (Bot Framework's Activity schema, the fields Baton reads).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Activity {
    /// `message`, `invoke`, `conversationUpdate`, `installationUpdate`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The activity's id (a reply names it as `replyToId`).
    pub id: Option<String>,
    /// For `invoke`: `adaptiveCard/action`.
    pub name: Option<String>,
    /// Where the Connector for this conversation answers.
    pub service_url: Option<String>,
    /// `msteams` (or `emulator`, `webchat`).
    pub channel_id: Option<String>,
    /// Who sent it.
    pub from: Option<Account>,
    /// The conversation it belongs to.
    pub conversation: Option<Conversation>,
    /// The bot.
    pub recipient: Option<Account>,
    /// The text typed, with `<at>…</at>` for mentions.
    pub text: Option<String>,
    /// An invoke's or an `Action.Submit`'s data.
    pub value: Option<Value>,
    /// The message the pressed card is in.
    pub reply_to_id: Option<String>,
    /// Mentions and other entities.
    pub entities: Option<Vec<Value>>,
    /// Teams' own fields: tenant, team, channel.
    pub channel_data: Option<ChannelData>,
    /// For `conversationUpdate`: who joined (the bot, when it was just added).
    pub members_added: Option<Vec<Account>>,
}

/// A person or bot.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Account {
    /// The channel's id for them (`29:…` for a Teams user, `28:…` for a bot).
    pub id: String,
    /// Their display name.
    pub name: Option<String>,
    /// Their Entra object id: the identity roles match.
    pub aad_object_id: Option<String>,
}

/// A conversation: a channel thread, a group chat or a personal chat.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Conversation {
    /// Its id (a channel's carries `;messageid=…` of the thread).
    pub id: String,
    /// `personal`, `groupChat` or `channel`.
    pub conversation_type: Option<String>,
    /// The Entra tenant.
    pub tenant_id: Option<String>,
}

/// `channelData` as Teams sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ChannelData {
    /// The tenant.
    pub tenant: Option<Id>,
    /// The channel, for a channel conversation.
    pub channel: Option<Id>,
}

/// `{ "id": … }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Id {
    /// The id.
    pub id: String,
}

/// The longest command text taken from a message; chat commands are short.
const MAX_TEXT: usize = 4000;

impl Activity {
    /// The identity roles match (`teams:<Entra object id>`, else the channel's user id), named
    /// by their display name, with no groups (Entra groups are not in the activity).
    pub fn actor(&self) -> Option<Actor> {
        let from = self.from.as_ref()?;
        let id = from
            .aad_object_id
            .as_deref()
            .filter(|id| !id.is_empty())
            .unwrap_or(&from.id);
        if id.is_empty() {
            return None;
        }
        Some(PLATFORM.actor(id, &[from.name.as_deref()], Vec::new()))
    }

    /// The tenant the conversation is in.
    pub fn tenant(&self) -> Option<&str> {
        self.conversation
            .as_ref()
            .and_then(|c| c.tenant_id.as_deref())
            .or_else(|| {
                let data = self.channel_data.as_ref()?;
                data.tenant.as_ref().map(|t| t.id.as_str())
            })
            .filter(|t| !t.is_empty())
    }

    /// The conversation id.
    pub fn conversation_id(&self) -> Option<&str> {
        let id = self.conversation.as_ref()?.id.as_str();
        (!id.is_empty()).then_some(id)
    }

    /// The id to post new messages to: a channel's own id, without the thread (`;messageid=`).
    pub fn channel_conversation(&self) -> Option<&str> {
        let id = self.conversation_id()?;
        Some(id.split(';').next().unwrap_or(id))
    }

    /// The command a message carries: its text without the bot's mention and the HTML Teams
    /// wraps it in. `None` when nothing is left.
    pub fn command_text(&self) -> Option<String> {
        let raw = self.text.as_deref()?;
        let raw: String = raw.chars().take(MAX_TEXT).collect();
        let text = strip_mentions(
            &raw,
            self.recipient.as_ref().and_then(|r| r.name.as_deref()),
        );
        let text = plain(&text);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    }

    /// Whether this `conversationUpdate` says the bot itself was just added.
    pub fn adds_the_bot(&self) -> bool {
        let bot = self.recipient.as_ref().map(|r| r.id.as_str());
        self.kind == "conversationUpdate"
            && self
                .members_added
                .iter()
                .flatten()
                .any(|m| Some(m.id.as_str()) == bot)
    }

    /// The command of a pressed Baton button: `Action.Execute` (an `adaptiveCard/action`
    /// invoke) or `Action.Submit` (a message whose `value` is the button's data).
    pub fn pressed_command(&self) -> Option<String> {
        let value = self.value.as_ref()?;
        let data = if self.kind == "invoke" {
            let action = value.get("action")?;
            if action.get("verb").and_then(Value::as_str) != Some(super::cards::VERB) {
                return None;
            }
            action.get("data")?
        } else {
            value
        };
        let command = data.get("baton")?.as_str()?.trim();
        (!command.is_empty() && command.len() <= MAX_TEXT).then(|| command.to_string())
    }
}

/// `text` without `<at>…</at>` mentions of the bot (by its name, or the first mention when the
/// text starts with one, as Teams writes a channel message to a bot).
fn strip_mentions(text: &str, bot: Option<&str>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut first = true;
    while let Some(start) = rest.find("<at>") {
        let Some(len) = rest[start..].find("</at>") else {
            break;
        };
        let name = &rest[start + 4..start + len];
        let leading = first && rest[..start].trim().is_empty() && out.trim().is_empty();
        out.push_str(&rest[..start]);
        if !(leading || bot.is_some_and(|b| plain(name).trim() == b)) {
            out.push_str(name);
        }
        rest = &rest[start + len + 5..];
        first = false;
    }
    out.push_str(rest);
    out
}

/// Text out of the little HTML Teams sends: tags dropped, the usual entities decoded.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn message(text: &str) -> Activity {
        serde_json::from_value(json!({
            "type": "message", "text": text,
            "recipient": {"id": "28:bot", "name": "Baton"},
            "from": {"id": "29:1abc", "name": "Jane Doe", "aadObjectId": "6b5f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"},
            "conversation": {"id": "19:abc@thread.tacv2;messageid=1700000000000", "conversationType": "channel", "tenantId": "t1"},
        }))
        .unwrap()
    }

    #[test]
    fn the_bots_mention_and_teams_html_are_taken_off_the_command() {
        assert_eq!(
            message("<at>Baton</at> lock qa 10m")
                .command_text()
                .as_deref(),
            Some("lock qa 10m")
        );
        assert_eq!(
            message("<p><at>Baton</at>&nbsp;lock qa 10m fix &amp; ship</p>\n")
                .command_text()
                .as_deref(),
            Some("lock qa 10m fix & ship")
        );
        assert_eq!(
            message("lock qa 10m ask <at>Bob</at>")
                .command_text()
                .as_deref(),
            Some("lock qa 10m ask Bob")
        );
        assert_eq!(message("<at>Baton</at>").command_text(), None);
    }

    #[test]
    fn the_actor_is_the_entra_object_id_and_a_channel_posts_without_its_thread() {
        let a = message("status");
        let actor = a.actor().unwrap();
        assert_eq!(actor.id, "teams:6b5f6a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(actor.display, "Jane Doe");
        assert_eq!(a.channel_conversation(), Some("19:abc@thread.tacv2"));
        assert_eq!(a.tenant(), Some("t1"));
    }

    #[test]
    fn a_press_is_read_from_execute_and_from_submit() {
        let execute: Activity = serde_json::from_value(json!({
            "type": "invoke", "name": "adaptiveCard/action",
            "value": {"action": {"type": "Action.Execute", "verb": "baton", "data": {"baton": "unlock qa"}}, "trigger": "manual"},
        }))
        .unwrap();
        assert_eq!(execute.pressed_command().as_deref(), Some("unlock qa"));
        let other_verb: Activity = serde_json::from_value(json!({
            "type": "invoke", "name": "adaptiveCard/action",
            "value": {"action": {"type": "Action.Execute", "verb": "other", "data": {"baton": "unlock qa"}}},
        }))
        .unwrap();
        assert_eq!(other_verb.pressed_command(), None);
        let submit: Activity =
            serde_json::from_value(json!({"type": "message", "value": {"baton": "extend qa 1h"}}))
                .unwrap();
        assert_eq!(submit.pressed_command().as_deref(), Some("extend qa 1h"));
    }
}
