//! A [`Reply`] as a Discord message: one embed (title, text, fields, the status table) and a row
//! of buttons whose `custom_id` is the command they run. Times become Discord timestamps, which
//! every reader sees in their own time zone.
//!
//! Text is made inert the way Slack's is escaped: `[x](https://y)` cannot become a masked link,
//! `<@123>` a mention, and `@everyone` / `@here` are broken up; no message allows any ping
//! either. Discord's size limits are kept: long text loses whole lines, and says how many; only
//! a title or field that could never fit is cut with `…`. [`fits`] tells the notifier whether a
//! reply goes out whole, so it can split an announcement into several messages instead. A
//! button whose command does not fit a `custom_id` is left out, never cut.

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

/// The embed's text, before Discord's limits are applied.
struct Parts {
    title: String,
    fields: Vec<(String, String)>,
    description: String,
}

fn parts(reply: &Reply) -> Parts {
    let fields = reply
        .fields
        .iter()
        .map(|f| (inert(&f.name), value(&f.value, reply.now)))
        .collect();
    let mut description = Vec::new();
    if let Some(table) = &reply.table {
        description.push(render_table(table, reply.now));
    }
    if let Some(text) = &reply.text {
        description.push(inert(text));
    }
    Parts {
        title: inert(&reply.title),
        fields,
        description: description.join("\n\n"),
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Whether `reply` goes out as one embed with nothing cut or left out.
pub fn fits(reply: &Reply) -> bool {
    let p = parts(reply);
    let fields_fit = p.fields.len() <= MAX_FIELDS
        && p.fields
            .iter()
            .all(|(n, v)| chars(n) <= MAX_FIELD_NAME && chars(v) <= MAX_FIELD_VALUE);
    let total = chars(&p.title)
        + chars(&p.description)
        + p.fields
            .iter()
            .map(|(n, v)| chars(n) + chars(v))
            .sum::<usize>();
    chars(&p.title) <= MAX_TITLE
        && chars(&p.description) <= MAX_EMBED_DESCRIPTION
        && fields_fit
        && total <= MAX_EMBED
}

/// Renders `reply`.
pub fn render(reply: &Reply) -> Rendered {
    let colour = match reply.tone {
        Tone::Success => 0x2e_cc_71,
        Tone::Warning => 0xf1_c4_0f,
        Tone::Info => 0x58_65_f2,
        Tone::Refused => 0xe7_4c_3c,
    };
    let p = parts(reply);
    let title = clip(&p.title, MAX_TITLE);
    let fields: Vec<(String, String, bool)> = p
        .fields
        .into_iter()
        .take(MAX_FIELDS)
        .map(|(name, value)| {
            let value = clip(&value, MAX_FIELD_VALUE);
            let inline = chars(&value) <= 40;
            (clip(&name, MAX_FIELD_NAME), value, inline)
        })
        .collect();
    let used: usize = chars(&title)
        + fields
            .iter()
            .map(|(n, v, _)| chars(n) + chars(v))
            .sum::<usize>();
    let room = MAX_EMBED_DESCRIPTION.min(MAX_EMBED.saturating_sub(used));
    let mut embed = CreateEmbed::new()
        .title(title)
        .colour(colour)
        .fields(fields);
    if !p.description.is_empty() && room > 0 {
        embed = embed.description(clip_lines(&p.description, room));
    }
    Rendered {
        embed,
        components: buttons(reply),
        ephemeral: reply.visibility == Visibility::Ephemeral,
    }
}

/// `text` in at most `max` characters, whole lines first; the lines left out are counted in a
/// last line. A single line longer than the room is cut.
fn clip_lines(text: &str, max: usize) -> String {
    if chars(text) <= max {
        return text.to_string();
    }
    let lines: Vec<&str> = text.lines().collect();
    let mut kept = lines.len();
    loop {
        kept -= 1;
        let note = format!("… and {} more lines not shown", lines.len() - kept);
        let body = lines[..kept].join("\n");
        if kept == 0 {
            return clip(text, max);
        }
        if chars(&body) + 1 + chars(&note) <= max {
            return format!("{body}\n{note}");
        }
    }
}

/// Text as Discord shows it literally: markdown's link, mention and escape characters get a
/// backslash (`\[x\](https://y)` shows as typed, with no masked link), and `@everyone` /
/// `@here` are broken with a zero-width space, as serenity's `MessageBuilder::push_safe` does.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '[' | ']' | '<' | '>') {
            out.push('\\');
        }
        out.push(c);
    }
    out.replace("@everyone", "@\u{200B}everyone")
        .replace("@here", "@\u{200B}here")
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
                inert(&plain)
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

    #[test]
    fn typed_text_renders_inert_and_long_text_loses_whole_lines_counted() {
        let typed = "[click](https://evil.example) @everyone @here <@123> <#9> \\o/";
        let reply = Reply::new(Tone::Success, typed, 0)
            .field("Reason", Value::Text(typed.into()))
            .with_text(typed);
        let m = json(render(&reply));
        let embed = &m["embeds"][0];
        for shown in [
            &embed["title"],
            &embed["fields"][0]["value"],
            &embed["description"],
        ] {
            let shown = shown.as_str().unwrap();
            assert!(
                shown.starts_with("\\[click\\](https://evil.example)"),
                "{shown}"
            );
            assert!(
                shown.contains("@\u{200B}everyone @\u{200B}here \\<@123\\>"),
                "{shown}"
            );
            assert!(shown.ends_with("\\\\o/"), "{shown}");
        }
        assert_eq!(m["allowed_mentions"]["parse"], serde_json::json!([]));

        let lines: Vec<String> = (0..80)
            .map(|i| format!("{i:02} {}", "x".repeat(90)))
            .collect();
        let reply = Reply::new(Tone::Info, "history", 0).with_text(lines.join("\n"));
        assert!(!fits(&reply));
        let m = json(render(&reply));
        let text = m["embeds"][0]["description"].as_str().unwrap();
        assert!(text.chars().count() <= 4096);
        let shown = text.lines().filter(|l| l.ends_with('x')).count();
        assert!(
            text.ends_with(&format!("… and {} more lines not shown", 80 - shown)),
            "{text}"
        );
    }
}
