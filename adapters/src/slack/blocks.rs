//! A [`Reply`] as Block Kit: the title, the fields (times as Slack date tokens, so each reader
//! sees their own time zone), longer text, the `status` table as code blocks, and the buttons,
//! each carrying the chat command it runs.
//!
//! Every string is escaped, so nothing a person or a pipeline typed (a holder name, a reason, a
//! version) can ping anyone or form a link: `<@U123>`, `<!channel>` and `<https://x|y>` show as
//! typed. Baton itself never names people by id (display names come from the platforms), so
//! there is no mention to keep live.
//!
//! Nothing is cut without saying so: long text and tables are split over as many sections as
//! Slack allows in one message (50 blocks of 3,000 characters), and what still does not fit is
//! counted. [`fits`] tells the notifier whether a reply goes out whole, so it can split an
//! announcement into several messages instead.

use baton_commands::reply::{clock, Button, Reply, Tone, Value};
use slack_morphism::prelude::*;

/// Slack's limits: text of one section, one field, fields per section, blocks per message.
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_PER_SECTION: usize = 10;
const MAX_BLOCKS: usize = 50;
/// Every Baton button's `action_id` starts with this, so other apps' actions are left alone.
pub const ACTION_PREFIX: &str = "baton:";

/// The message for `reply`; `hint` adds a line under help and usage (e.g. how to type commands).
pub fn content(reply: &Reply, hint: Option<&str>) -> SlackMessageContent {
    SlackMessageContent::new()
        .with_text(escape(&reply.title))
        .with_blocks(layout(reply, hint).blocks)
}

/// Whether `reply` goes out as one message with nothing cut or left out.
pub fn fits(reply: &Reply) -> bool {
    layout(reply, None).whole
}

/// The blocks, and whether everything is in them.
struct Layout {
    blocks: Vec<SlackBlock>,
    whole: bool,
}

fn layout(reply: &Reply, hint: Option<&str>) -> Layout {
    let mut whole = true;
    let mut out = vec![title(reply, &mut whole)];
    for chunk in reply.fields.chunks(FIELDS_PER_SECTION) {
        let fields = chunk
            .iter()
            .map(|f| {
                let text = format!("*{}*\n{}", escape(&f.name), value(&f.value));
                markdown(cut(text, FIELD_MAX, &mut whole))
            })
            .collect();
        out.push(SlackSectionBlock::new().with_fields(fields).into());
    }
    let text = reply.text.as_deref().filter(|t| !t.trim().is_empty());
    let tail = usize::from(hint.is_some()) + usize::from(!reply.buttons.is_empty());
    let mut room = MAX_BLOCKS.saturating_sub(out.len() + tail);
    if let Some(table) = &reply.table {
        // The rest of the rows are counted, and the text after the table needs a block.
        let lines = table.plain_lines(reply.now, reply.zone, 40);
        let keep = room.saturating_sub(usize::from(text.is_some()));
        let sections = code_sections(&lines[..], keep, &|n| {
            format!("… and {n} more; `status <env>` shows one")
        });
        whole &= sections.hidden == 0;
        room -= sections.texts.len();
        out.extend(sections.texts.into_iter().map(section));
    }
    if let Some(text) = text {
        let lines: Vec<String> = text.trim_end().lines().map(String::from).collect();
        let sections = if lines.len() > 1 {
            code_sections(&lines, room, &|n| format!("… and {n} more lines not shown"))
        } else {
            plain_sections(&escape(text), room)
        };
        whole &= sections.hidden == 0;
        out.extend(sections.texts.into_iter().map(section));
    }
    if let Some(hint) = hint {
        out.push(
            SlackContextBlock::new(vec![SlackBlockMarkDownText::new(hint.into()).into()]).into(),
        );
    }
    if !reply.buttons.is_empty() {
        out.push(SlackActionsBlock::new(reply.buttons.iter().map(button).collect()).into());
    }
    Layout { blocks: out, whole }
}

/// The title in bold with an icon; a refusal is not bold (it may quote a reason, whose own `*`
/// would break the bold) and never shouts.
fn title(reply: &Reply, whole: &mut bool) -> SlackBlock {
    let text = escape(&reply.title);
    let line = match reply.tone {
        Tone::Success => format!(":white_check_mark: *{}*", text.replace('*', "\u{2217}")),
        Tone::Warning => format!(":warning: *{}*", text.replace('*', "\u{2217}")),
        Tone::Info => format!("*{}*", text.replace('*', "\u{2217}")),
        Tone::Refused => format!(":no_entry: {text}"),
    };
    section(cut(line, SECTION_MAX, whole))
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
        Value::Text(s) | Value::Person(s) => escape(s),
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

fn markdown(text: String) -> SlackBlockText {
    SlackBlockMarkDownText::new(text).into()
}

fn section(text: String) -> SlackBlock {
    SlackSectionBlock::new().with_text(markdown(text)).into()
}

/// Sections' texts, and how many lines (or pieces) did not fit.
struct Sections {
    texts: Vec<String>,
    hidden: usize,
}

/// Lines as code blocks of at most one section each, in at most `blocks` sections; the lines
/// that do not fit are counted in a last line, `more(count)`.
fn code_sections(lines: &[String], blocks: usize, more: &dyn Fn(usize) -> String) -> Sections {
    let room = SECTION_MAX - "```\n\n```".len();
    let pieces: Vec<String> = lines
        .iter()
        .flat_map(|l| pieces(&escape(l), room))
        .collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut shown = 0;
    for piece in &pieces {
        let open = groups.len();
        match groups.last_mut() {
            Some(g) if size(g) + 1 + piece.len() <= room => g.push(piece.clone()),
            _ if open < blocks => groups.push(vec![piece.clone()]),
            _ => break,
        }
        shown += 1;
    }
    let mut hidden = pieces.len() - shown;
    while hidden > 0 {
        let note = escape(&more(hidden));
        match groups.last_mut() {
            Some(g) if size(g) + 1 + note.len() <= room => {
                g.push(note);
                break;
            }
            Some(g) if !g.is_empty() => {
                g.pop();
                hidden += 1;
            }
            _ => break,
        }
    }
    let texts = groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(|g| format!("```\n{}\n```", g.join("\n")))
        .collect();
    Sections { texts, hidden }
}

/// One long line of mrkdwn over as many sections as it needs, up to `blocks`.
fn plain_sections(text: &str, blocks: usize) -> Sections {
    let all = pieces(text, SECTION_MAX);
    let hidden = all.len().saturating_sub(blocks);
    Sections {
        texts: all.into_iter().take(blocks).collect(),
        hidden,
    }
}

fn size(lines: &[String]) -> usize {
    lines
        .iter()
        .map(|l| l.len() + 1)
        .sum::<usize>()
        .saturating_sub(1)
}

/// `s` in pieces of at most `max` bytes, cut at character boundaries (and never inside an
/// `&amp;`-style escape).
fn pieces(s: &str, max: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if let Some(amp) = rest[..end]
            .rfind('&')
            .filter(|&a| !rest[a..end].contains(';'))
        {
            end = amp.max(1);
        }
        out.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    out.push(rest.to_string());
    out
}

/// `text` cut to `max` bytes as a last resort, noting in `whole` that it was.
fn cut(text: String, max: usize, whole: &mut bool) -> String {
    if text.len() <= max {
        return text;
    }
    *whole = false;
    truncate(&text, max)
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
    use baton_commands::reply::Table;
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
    fn nothing_typed_by_a_person_or_pipeline_can_ping_or_link() {
        let typed = "<@U999> <!channel> <!here> <https://evil.example|click> & <@W1>";
        let reply = Reply::new(Tone::Success, typed, NOW)
            .field("Reason", Value::Text(typed.into()))
            .field("Holder", Value::Person("<@U024BE7LH>".into()))
            .with_text(typed);
        let v = rendered(&reply);
        let all = v.to_string();
        for live in ["<@", "<!channel", "<!here", "<https"] {
            assert!(!all.contains(live), "{live} in {all}");
        }
        assert_eq!(
            v["blocks"][1]["fields"][1]["text"],
            "*Holder*\n&lt;@U024BE7LH&gt;"
        );
        assert_eq!(v["text"], escape(typed));
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
    fn a_long_status_table_fills_sections_and_counts_the_rows_left_out() {
        let rows = (0..9000)
            .map(|i| {
                vec![
                    Value::Text(format!("env-{i}")),
                    Value::Text("<free>".into()),
                ]
            })
            .collect();
        let table = Table {
            headers: vec!["Env".into(), "Lock".into()],
            rows,
        };
        let mut reply = Reply::new(Tone::Info, "status", NOW);
        reply.table = Some(table);
        let v = rendered(&reply);
        let blocks = v["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        for b in blocks {
            let text = b["text"]["text"].as_str().unwrap();
            assert!(text.len() <= SECTION_MAX, "{}", text.len());
        }
        let last = blocks.last().unwrap()["text"]["text"].as_str().unwrap();
        assert!(
            last.contains("more; `status &lt;env&gt;` shows one"),
            "{last}"
        );
        let shown = v.to_string().matches("&lt;free&gt;").count();
        let left: usize = last
            .rsplit("… and ")
            .next()
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert_eq!(shown + left, 9000, "every row is shown or counted");
        assert!(!fits(&reply));
        assert_eq!(json!(truncate("ééé", 5)), json!("é…"));
    }

    #[test]
    fn long_text_is_split_over_sections_not_cut() {
        let lines: Vec<String> = (0..50)
            .map(|i| format!("{i}: alice locked prod: {}", "<x> ".repeat(60)))
            .collect();
        let reply = Reply::new(Tone::Info, "history", NOW).with_text(lines.join("\n"));
        assert!(fits(&reply));
        let v = rendered(&reply);
        let blocks = v["blocks"].as_array().unwrap();
        assert!(blocks.len() > 2 && blocks.len() <= MAX_BLOCKS);
        let shown = texts_of(&v);
        for i in 0..50 {
            assert!(shown.contains(&format!("{i}: alice locked prod")), "{i}");
        }
        assert!(!shown.contains('…'));
    }

    fn texts_of(v: &serde_json::Value) -> String {
        v["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["text"]["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}
