//! A [`Reply`] as Block Kit: the title, the fields (times as Slack date tokens, so each reader
//! sees their own time zone), longer text, the `status` table as a code block, and the buttons,
//! each carrying the chat command it runs. Text people typed is escaped, so a reason like
//! `<!channel>` can never ping a channel; only a single person's mention (`<@U123>`, how Socket
//! Mode names the actor) is kept as one.

use baton_commands::reply::{clock, Button, Reply, Table, Tone, Value};
use slack_morphism::prelude::*;

/// Slack's limits: text of one section, one field, fields per section.
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_PER_SECTION: usize = 10;
/// Every Baton button's `action_id` starts with this, so other apps' actions are left alone.
pub const ACTION_PREFIX: &str = "baton:";

/// The message for `reply`; `hint` adds a line under help and usage (e.g. how to type commands).
pub fn content(reply: &Reply, hint: Option<&str>) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(with_mentions(&reply.title))
        .with_blocks(blocks(reply, hint))
}

fn blocks(reply: &Reply, hint: Option<&str>) -> Vec<SlackBlock> {
    let mut out = vec![title(reply)];
    for chunk in reply.fields.chunks(FIELDS_PER_SECTION) {
        let fields = chunk
            .iter()
            .map(|f| {
                let room = FIELD_MAX.saturating_sub(f.name.len() + 8);
                let value = truncate(&value(&f.value), room);
                markdown(format!("*{}*\n{value}", escape(&f.name)))
            })
            .collect();
        out.push(SlackSectionBlock::new().with_fields(fields).into());
    }
    if let Some(table) = &reply.table {
        out.push(section(code(&table_text(table, reply.now))));
    }
    if let Some(text) = reply.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let body = if text.contains('\n') {
            code(text)
        } else {
            truncate(&with_mentions(text), SECTION_MAX)
        };
        out.push(section(body));
    }
    if let Some(hint) = hint {
        out.push(
            SlackContextBlock::new(vec![SlackBlockMarkDownText::new(hint.into()).into()]).into(),
        );
    }
    if !reply.buttons.is_empty() {
        out.push(SlackActionsBlock::new(reply.buttons.iter().map(button).collect()).into());
    }
    out
}

/// The title in bold with an icon; a refusal is not bold (it may quote a reason, whose own `*`
/// would break the bold) and never shouts.
fn title(reply: &Reply) -> SlackBlock {
    let text = with_mentions(&reply.title);
    let line = match reply.tone {
        Tone::Success => format!(":white_check_mark: *{}*", text.replace('*', "\u{2217}")),
        Tone::Info => format!("*{}*", text.replace('*', "\u{2217}")),
        Tone::Refused => format!(":no_entry: {text}"),
    };
    section(truncate(&line, SECTION_MAX))
}

fn button(b: &Button) -> SlackActionBlockElement {
    let action_id = truncate(&format!("{ACTION_PREFIX}{}", b.command), 255);
    let mut element =
        SlackBlockButtonElement::new(SlackBlockPlainText::new(b.label.clone()).into())
            .with_action_id(SlackActionId::new(action_id))
            .with_value(b.command.clone());
    if b.primary {
        element = element.with_style(SlackBlockButtonStyle::Primary);
    }
    SlackActionBlockElement::Button(element)
}

/// A value as mrkdwn: times as `<!date^…>` tokens with a UTC fallback, everything else escaped.
pub fn value(v: &Value) -> String {
    match v {
        Value::Text(s) => escape(s),
        Value::Person(s) => with_mentions(s),
        Value::Time(ms) => date(*ms),
    }
}

/// `<!date^1795711200^{date_short_pretty} {time}|2026-11-26 16:40 UTC>`: Slack shows it in each
/// reader's own time zone ("Today at 4:40 PM"), and the fallback where it cannot.
pub fn date(ms: u64) -> String {
    format!(
        "<!date^{}^{{date_short_pretty}} {{time}}|{}>",
        ms / 1000,
        clock(ms)
    )
}

/// Slack's three control characters, escaped as Slack asks, so user text cannot form a mention,
/// a link or a `<!channel>`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// [`escape`], then `<@U123>`-style mentions of one person restored, so Slack renders the name.
pub fn with_mentions(s: &str) -> String {
    let escaped = escape(s);
    let mut out = String::with_capacity(escaped.len());
    let mut rest = escaped.as_str();
    while let Some(at) = rest.find("&lt;@") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "&lt;@".len()..];
        let id_len = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        let (id, tail) = after.split_at(id_len);
        match tail.strip_prefix("&gt;") {
            Some(tail) if id.starts_with(['U', 'W']) => {
                out.push_str(&format!("<@{id}>"));
                rest = tail;
            }
            _ => {
                out.push_str("&lt;@");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn markdown(text: String) -> SlackBlockText {
    SlackBlockMarkDownText::new(text).into()
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new().with_text(markdown(text)).into()
}

/// Text in a code block, escaped, cut to fit one section.
fn code(text: &str) -> String {
    let room = SECTION_MAX - 8;
    format!("```\n{}\n```", truncate(&escape(text.trim_end()), room))
}

/// The status table, columns aligned, as many rows as fit one section; the rest are counted.
fn table_text(table: &Table, now: u64) -> String {
    let lines = table.plain_lines(now, 40);
    let (header, rows) = lines.split_first().expect("a table has a header line");
    let budget = SECTION_MAX - 200; // escaping and the closing line need room
    let mut out = header.clone();
    for (i, next) in rows.iter().enumerate() {
        if out.len() + next.len() + 1 > budget {
            let left = rows.len() - i;
            out.push_str(&format!("\n… and {left} more; `status <env>` shows one"));
            break;
        }
        out.push('\n');
        out.push_str(next);
    }
    out
}

/// At most `max` bytes, cut at a character boundary, with `…` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_795_711_200_000; // 2026-11-26 16:40 UTC

    fn rendered(reply: &Reply) -> serde_json::Value {
        serde_json::to_value(content(reply, None)).unwrap()
    }

    #[test]
    fn a_lock_shows_holder_times_as_date_tokens_and_buttons_with_their_commands() {
        let reply = Reply::new(Tone::Success, "jane locked prod for 30m", NOW)
            .field("Holder", Value::Person("jane".into()))
            .field("Expires", Value::Time(NOW + 1_800_000))
            .button("Unlock", "unlock prod".into(), false)
            .button("Extend 1h", "extend prod 1h".into(), true);
        let v = rendered(&reply);
        assert_eq!(v["text"], "jane locked prod for 30m");
        assert_eq!(
            v["blocks"][0]["text"]["text"],
            ":white_check_mark: *jane locked prod for 30m*"
        );
        let fields = &v["blocks"][1]["fields"];
        assert_eq!(fields[0]["text"], "*Holder*\njane");
        assert_eq!(
            fields[1]["text"],
            "*Expires*\n<!date^1795713000^{date_short_pretty} {time}|2026-11-26 17:10 UTC>"
        );
        let buttons = &v["blocks"][2]["elements"];
        assert_eq!(buttons[0]["value"], "unlock prod");
        assert_eq!(buttons[0]["action_id"], "baton:unlock prod");
        assert_eq!(buttons[1]["style"], "primary");
    }

    #[test]
    fn user_text_cannot_ping_a_channel_but_a_slack_mention_stays_one() {
        let reply = Reply::new(Tone::Success, "x", NOW)
            .field("Reason", Value::Text("<!channel> & <@U1>".into()))
            .field("Holder", Value::Person("<@U024BE7LH>".into()));
        let v = rendered(&reply);
        assert_eq!(
            v["blocks"][1]["fields"][0]["text"],
            "*Reason*\n&lt;!channel&gt; &amp; &lt;@U1&gt;"
        );
        assert_eq!(
            v["blocks"][1]["fields"][1]["text"],
            "*Holder*\n<@U024BE7LH>"
        );
        assert_eq!(
            with_mentions("<@U1> took it, <!here> <@C1> <@U2"),
            "<@U1> took it, &lt;!here&gt; &lt;@C1&gt; &lt;@U2"
        );
    }

    #[test]
    fn refusals_are_a_section_and_help_text_a_code_block_with_the_hint() {
        let reply = Reply::new(Tone::Refused, "unknown command `lokc`", NOW)
            .with_text("Commands:\n  lock <env>");
        let v = rendered(&Reply { ..reply.clone() });
        assert_eq!(v["blocks"][0]["type"], "section");
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "```\nCommands:\n  lock &lt;env&gt;\n```"
        );
        let with_hint = serde_json::to_value(content(&reply, Some("Type `/baton help`"))).unwrap();
        assert_eq!(with_hint["blocks"][2]["type"], "context");
    }

    #[test]
    fn a_long_status_table_is_cut_to_one_section_and_says_how_many_are_left() {
        let rows = (0..200)
            .map(|i| vec![Value::Text(format!("env-{i}")), Value::Text("free".into())])
            .collect();
        let table = Table {
            headers: vec!["Env".into(), "Lock".into()],
            rows,
        };
        let text = table_text(&table, NOW);
        assert!(text.len() <= SECTION_MAX, "{}", text.len());
        assert!(text.ends_with("more; `status <env>` shows one"), "{text}");
        assert_eq!(json!(truncate("ééé", 5)), json!("é…"));
    }
}
