//! A [`Reply`] as a Discord message: one embed (title, text, fields, the status table) and a row
//! of buttons whose `custom_id` is the command they run. Times become Discord timestamps, which
//! every reader sees in their own time zone. Discord's size limits are respected by cutting text
//! with `…`; a button whose command does not fit a `custom_id` is left out, never cut.

use baton_commands::reply::{Table, Tone, Value, Visibility};
use baton_commands::Reply;
use serenity::all::{
    ButtonStyle, CreateActionRow, CreateAllowedMentions, CreateButton, CreateEmbed,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    EditInteractionResponse,
};

use super::commands::clip;

/// Longest `custom_id` Discord accepts.
pub const MAX_CUSTOM_ID: usize = 100;
const MAX_LABEL: usize = 80;
const MAX_BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_TITLE: usize = 256;
const MAX_EMBED_DESCRIPTION: usize = 4096;
const MAX_FIELDS: usize = 25;
const MAX_FIELD_NAME: usize = 256;
const MAX_FIELD_VALUE: usize = 1024;
/// All text of one embed together.
const MAX_EMBED: usize = 6000;

/// A reply, ready to send in any of the shapes Discord takes a message in.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The embed.
    pub embed: CreateEmbed,
    /// Button rows.
    pub components: Vec<CreateActionRow>,
    /// Only the person who asked sees it.
    pub ephemeral: bool,
}

/// Renders `reply`.
pub fn render(reply: &Reply) -> Rendered {
    let colour = match reply.tone {
        Tone::Success => 0x2e_cc_71,
        Tone::Info => 0x58_65_f2,
        Tone::Refused => 0xe7_4c_3c,
    };
    let title = clip(&reply.title, MAX_TITLE);
    let fields: Vec<(String, String, bool)> = reply
        .fields
        .iter()
        .take(MAX_FIELDS)
        .map(|f| {
            let value = clip(&value(&f.value, reply.now), MAX_FIELD_VALUE);
            let inline = value.chars().count() <= 40;
            (clip(&f.name, MAX_FIELD_NAME), value, inline)
        })
        .collect();
    let mut parts = Vec::new();
    if let Some(table) = &reply.table {
        parts.push(render_table(table, reply.now));
    }
    if let Some(text) = &reply.text {
        parts.push(text.clone());
    }
    let used: usize = title.chars().count()
        + fields
            .iter()
            .map(|(n, v, _)| n.chars().count() + v.chars().count())
            .sum::<usize>();
    let room = MAX_EMBED_DESCRIPTION.min(MAX_EMBED.saturating_sub(used));
    let mut embed = CreateEmbed::new()
        .title(title)
        .colour(colour)
        .fields(fields);
    let description = parts.join("\n\n");
    if !description.is_empty() && room > 0 {
        embed = embed.description(clip(&description, room));
    }
    Rendered {
        embed,
        components: buttons(reply),
        ephemeral: reply.visibility == Visibility::Ephemeral,
    }
}

/// `<t:…:f> (<t:…:R>)`: the reader's local date and time, and how far away it is.
fn value(v: &Value, now: u64) -> String {
    match v {
        Value::Time(ms) => {
            let secs = ms / 1000;
            format!("<t:{secs}:f> (<t:{secs}:R>)")
        }
        other => {
            let plain = other.plain(now);
            if plain.is_empty() {
                "\u{2014}".into()
            } else {
                plain
            }
        }
    }
}

/// One line per row: the first cell in bold, then each non-empty cell under its header.
fn render_table(table: &Table, now: u64) -> String {
    let mut lines = Vec::new();
    for row in &table.rows {
        let mut cells = row.iter().map(|v| value(v, now));
        let first = cells.next().unwrap_or_default();
        let rest: Vec<String> = cells
            .zip(table.headers.iter().skip(1))
            .filter(|(c, _)| !c.is_empty() && c != "\u{2014}")
            .map(|(c, h)| format!("{h}: {c}"))
            .collect();
        if rest.is_empty() {
            lines.push(format!("**{first}**"));
        } else {
            lines.push(format!("**{first}** \u{2014} {}", rest.join(" · ")));
        }
    }
    lines.join("\n")
}

fn buttons(reply: &Reply) -> Vec<CreateActionRow> {
    let mut seen: Vec<&str> = Vec::new();
    let mut all = Vec::new();
    for b in &reply.buttons {
        if b.command.chars().count() > MAX_CUSTOM_ID {
            // A cut command would run something else; better no button than a wrong one.
            tracing::warn!(command = %b.command, "button command is longer than Discord's custom_id; button left out");
            continue;
        }
        if seen.contains(&b.command.as_str()) {
            continue; // Discord refuses a message with two equal custom_ids.
        }
        seen.push(&b.command);
        let style = if b.primary {
            ButtonStyle::Primary
        } else {
            ButtonStyle::Secondary
        };
        all.push(
            CreateButton::new(&b.command)
                .label(clip(&b.label, MAX_LABEL))
                .style(style),
        );
    }
    all.truncate(MAX_BUTTONS_PER_ROW * MAX_ROWS);
    all.chunks(MAX_BUTTONS_PER_ROW)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

/// User text (reasons, names) never pings anyone.
fn no_pings() -> CreateAllowedMentions {
    CreateAllowedMentions::new()
}

impl Rendered {
    /// As an interaction response (types 4, 5 and 7); ephemeral when the reply is.
    pub fn message(self) -> CreateInteractionResponseMessage {
        let m = CreateInteractionResponseMessage::new()
            .embed(self.embed)
            .components(self.components)
            .allowed_mentions(no_pings());
        if self.ephemeral {
            m.ephemeral(true)
        } else {
            m
        }
    }

    /// As the new content of the message a button was pressed on (type 7). The message keeps
    /// its visibility; Discord does not let an update change it.
    pub fn update(mut self) -> CreateInteractionResponseMessage {
        self.ephemeral = false;
        self.message()
    }

    /// As a message posted to a channel or a DM.
    pub fn channel_message(self) -> CreateMessage {
        CreateMessage::new()
            .embed(self.embed)
            .components(self.components)
            .allowed_mentions(no_pings())
    }

    /// As an edit of the original response (after a deferral, or of a button's message).
    pub fn edit(self) -> EditInteractionResponse {
        EditInteractionResponse::new()
            .embed(self.embed)
            .components(self.components)
            .allowed_mentions(no_pings())
    }

    /// As a follow-up message, ephemeral when the reply is.
    pub fn followup(self) -> CreateInteractionResponseFollowup {
        let m = CreateInteractionResponseFollowup::new()
            .embed(self.embed)
            .components(self.components)
            .allowed_mentions(no_pings());
        if self.ephemeral {
            m.ephemeral(true)
        } else {
            m
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(r: Rendered) -> serde_json::Value {
        serde_json::to_value(r.message()).unwrap()
    }

    #[test]
    fn times_are_discord_timestamps_and_buttons_carry_their_command() {
        let now = 1_795_711_200_000;
        let reply = Reply::new(Tone::Success, "alice locked prod for 30m", now)
            .field("Expires", Value::Time(now + 1_800_000))
            .button("Unlock", "unlock prod".into(), false)
            .button("Extend 1h", "extend prod 1h".into(), false);
        let m = json(render(&reply));
        assert_eq!(m["embeds"][0]["title"], "alice locked prod for 30m");
        assert_eq!(
            m["embeds"][0]["fields"][0]["value"],
            "<t:1795713000:f> (<t:1795713000:R>)"
        );
        let row = &m["components"][0]["components"];
        assert_eq!(row[0]["custom_id"], "unlock prod");
        assert_eq!(row[1]["label"], "Extend 1h");
        assert!(m.get("flags").is_none(), "public: {m}");
    }

    #[test]
    fn a_command_too_long_for_a_custom_id_gets_no_button_and_errors_are_ephemeral() {
        let long = format!("queue {}", "x".repeat(100));
        let reply = Reply::new(Tone::Refused, "no", 0)
            .button("Join queue", long, true)
            .button("Status", "status".into(), false);
        let m = json(render(&reply));
        let row = m["components"][0]["components"].as_array().unwrap();
        assert_eq!(row.len(), 1);
        assert_eq!(row[0]["custom_id"], "status");
        assert_eq!(m["flags"], 64);
    }

    #[test]
    fn text_over_discord_limits_is_cut_not_refused() {
        let reply = Reply::new(Tone::Info, "t".repeat(300), 0).with_text("d".repeat(5000));
        let m = json(render(&reply));
        let embed = &m["embeds"][0];
        assert_eq!(embed["title"].as_str().unwrap().chars().count(), 256);
        assert_eq!(embed["description"].as_str().unwrap().chars().count(), 4096);
        assert!(embed["description"].as_str().unwrap().ends_with('…'));
    }
}
