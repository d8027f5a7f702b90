//! A [`Reply`] as a Mattermost post: the title as the markdown `message`, and one message
//! attachment, coloured by tone, holding the fields, the `status` table and longer text as code
//! blocks, the hint, and the buttons (attachment actions whose context Baton signs, see
//! [`super::context`]). Mattermost has no per-reader time token, so times are written in the
//! reply's zone (`[defaults] timezone`), with how far away they are.
//!
//! Everything is made inert ([`inert`]): markdown characters get a backslash, so `[x](https://y)`
//! and `![x](https://y)` show as typed; `@` and `~` get a zero-width space after them, so
//! `@channel`, `@here`, `@all`, `@user` and `~channel` neither ping nor link (Mattermost finds
//! mentions in the raw text, where a backslash would not stop them); `#` the same, so a word is
//! no hashtag and a line no heading. Code blocks get a fence longer than any run of backticks in
//! them, and their `@`s the same space. Replies also go out with `skip_slack_parsing`, so
//! Mattermost's Slack compatibility does not turn `<!channel>` into `@channel`.
//!
//! Nothing is cut without saying so: long text and tables lose whole lines, counted in a last
//! line. [`fits`] tells the notifier whether a reply goes out whole, so it can split an
//! announcement into several posts instead.

use baton_commands::reply::{Button, Tone, Value as Shown, Visibility};
use baton_commands::Reply;
use serde_json::{json, Value};

use super::context::Signer;

/// What one post may hold, well under Mattermost's 16,383 characters of message (its
/// attachments count towards the post's props, whose limit is far larger).
const MAX_TEXT: usize = 15_000;
/// A title or field value longer than this is cut (Baton's are never near it).
const MAX_LINE: usize = 2_000;
/// A table cell longer than this is cut with `…`, so one long reason cannot widen every row.
const MAX_CELL: usize = 40;
/// A field value at most this long sits beside another.
const SHORT: usize = 40;

/// Where a reply's buttons point, and what they are bound to.
pub struct Actions<'a> {
    /// Signs each button's context.
    pub signer: &'a Signer,
    /// `<public_url>/mattermost/actions`.
    pub url: &'a str,
    /// The channel the message is posted in.
    pub channel: &'a str,
    /// Whether only one person sees the message.
    pub private: bool,
    /// Now, Unix ms (the buttons expire from here).
    pub now_ms: u64,
}

/// A reply, ready to send in any of the shapes Mattermost takes a message in.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// The post's markdown message: the title.
    pub message: String,
    /// The attachment with everything else, if there is anything else.
    pub attachment: Option<Value>,
}

/// The post for `reply`; `hint` adds a line (how to type commands), `actions` the buttons.
pub fn render(reply: &Reply, hint: Option<&str>, actions: Option<&Actions<'_>>) -> Rendered {
    layout(reply, hint, actions).0
}

/// Whether `reply` goes out as one post with nothing cut or left out.
pub fn fits(reply: &Reply) -> bool {
    layout(reply, None, None).1
}

impl Rendered {
    /// `POST /api/v4/posts`'s body.
    pub fn post(&self, channel: &str) -> Value {
        json!({
            "channel_id": channel,
            "message": self.message,
            "props": { "attachments": self.attachments() },
        })
    }

    /// A slash command's answer (or its follow-up on the `response_url`), seen as `visibility`.
    pub fn command_response(&self, visibility: Visibility) -> Value {
        let kind = match visibility {
            Visibility::InChannel => "in_channel",
            Visibility::Ephemeral => "ephemeral",
        };
        json!({
            "response_type": kind,
            "text": self.message,
            "attachments": self.attachments(),
            "skip_slack_parsing": true,
        })
    }

    /// An action's answer that replaces the pressed post (it keeps its visibility).
    pub fn update(&self) -> Value {
        json!({
            "update": {
                "message": self.message,
                "props": { "attachments": self.attachments() },
            },
            "skip_slack_parsing": true,
        })
    }

    fn attachments(&self) -> Vec<Value> {
        self.attachment.iter().cloned().collect()
    }
}

/// An action's answer shown to the presser alone: `text` (markdown), the pressed post untouched.
pub fn ephemeral(text: &str) -> Value {
    json!({ "ephemeral_text": text, "skip_slack_parsing": true })
}

/// A reply as markdown alone, for the places that take no attachment (an action's
/// `ephemeral_text`): the title, then a line per field, then the text.
pub fn markdown(reply: &Reply, hint: Option<&str>) -> String {
    let (rendered, _) = layout(reply, hint, None);
    let mut out = vec![rendered.message];
    if let Some(a) = &rendered.attachment {
        for f in a["fields"].as_array().into_iter().flatten() {
            let (name, value) = (f["title"].as_str(), f["value"].as_str());
            out.push(format!(
                "**{}:** {}",
                name.unwrap_or_default(),
                value.unwrap_or_default()
            ));
        }
        if let Some(text) = a["text"].as_str().filter(|t| !t.is_empty()) {
            out.push(text.to_string());
        }
    }
    out.join("\n")
}

fn layout(reply: &Reply, hint: Option<&str>, actions: Option<&Actions<'_>>) -> (Rendered, bool) {
    let mut whole = true;
    let title = cut(&inert(&reply.title), MAX_LINE, &mut whole);
    let message = match reply.tone {
        Tone::Success => format!(":white_check_mark: **{title}**"),
        Tone::Warning => format!(":warning: **{title}**"),
        Tone::Info => format!("**{title}**"),
        Tone::Refused => format!(":no_entry: {title}"),
    };
    let mut used = message.chars().count();
    let fields: Vec<Value> = reply
        .fields
        .iter()
        .map(|f| {
            let value = match value(&f.value, reply) {
                v if v.is_empty() => "\u{2014}".to_string(),
                v => cut(&v, MAX_LINE, &mut whole),
            };
            used += f.name.chars().count() + value.chars().count();
            json!({
                "title": inert(&f.name),
                "value": value,
                "short": value.chars().count() <= SHORT,
            })
        })
        .collect();
    let hint = hint.map(no_pings);
    used += hint.as_ref().map_or(0, |h| h.chars().count() + 2);
    let (body, body_whole) = body(reply, MAX_TEXT.saturating_sub(used));
    whole &= body_whole;
    let mut text: Vec<String> = body;
    text.extend(hint);
    let buttons = actions
        .map(|a| buttons(&reply.buttons, a))
        .unwrap_or_default();
    let attachment = (!fields.is_empty() || !text.is_empty() || !buttons.is_empty()).then(|| {
        let mut a = json!({ "color": colour(reply.tone) });
        if !text.is_empty() {
            a["text"] = Value::String(text.join("\n\n"));
        }
        if !fields.is_empty() {
            a["fields"] = Value::Array(fields);
        }
        if !buttons.is_empty() {
            a["actions"] = Value::Array(buttons);
        }
        a
    });
    (
        Rendered {
            message,
            attachment,
        },
        whole,
    )
}

fn colour(tone: Tone) -> &'static str {
    match tone {
        Tone::Success => "#2EB67D",
        Tone::Warning => "#ECB22E",
        Tone::Info => "#1D9BD1",
        Tone::Refused => "#E01E5A",
    }
}

/// A value as markdown: times in the reply's zone with how far away they are, text inert.
fn value(v: &Shown, reply: &Reply) -> String {
    inert(&v.plain_in(reply.now, reply.zone))
}

/// The table and the longer text, in at most `room` characters; whether all of it fit.
fn body(reply: &Reply, room: usize) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let mut whole = true;
    let mut room = room;
    if let Some(table) = &reply.table {
        let lines = table.plain_lines(reply.now, reply.zone, MAX_CELL);
        let (block, hidden) = code_block(&lines, room, &|n| {
            format!("… and {n} more; `status <env>` shows one")
        });
        whole &= hidden == 0;
        room = room.saturating_sub(block.chars().count() + 2);
        out.push(block);
    }
    if let Some(text) = reply.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let lines: Vec<String> = text.trim_end().lines().map(String::from).collect();
        if lines.len() > 1 {
            let (block, hidden) =
                code_block(&lines, room, &|n| format!("… and {n} more lines not shown"));
            whole &= hidden == 0;
            out.push(block);
        } else {
            out.push(cut(&inert(text.trim()), room.min(MAX_TEXT), &mut whole));
        }
    }
    (out, whole)
}

/// `lines` as one fenced code block of at most `room` characters; lines that do not fit are
/// left out and counted in a last line, `more(count)`. Also returns how many were left out.
fn code_block(lines: &[String], room: usize, more: &dyn Fn(usize) -> String) -> (String, usize) {
    let lines: Vec<String> = lines.iter().map(|l| no_pings(l)).collect();
    let longest_run = lines
        .iter()
        .map(|l| backtick_run(l))
        .max()
        .unwrap_or(0)
        .max(backtick_run(&more(lines.len())));
    let fence = "`".repeat((longest_run + 1).max(3));
    let frame = 2 * fence.chars().count() + 2;
    let size = |ls: &[String]| ls.iter().map(|l| l.chars().count() + 1).sum::<usize>() + frame;
    let mut kept = lines.len();
    let mut shown = lines.clone();
    while size(&shown) > room && kept > 0 {
        kept -= 1;
        shown = lines[..kept].to_vec();
        shown.push(more(lines.len() - kept));
    }
    (
        format!("{fence}\n{}\n{fence}", shown.join("\n")),
        lines.len() - kept,
    )
}

fn backtick_run(s: &str) -> usize {
    s.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// One action per button (the same command once), each carrying its signed context.
fn buttons(all: &[Button], a: &Actions<'_>) -> Vec<Value> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for b in all {
        if seen.contains(&b.command.as_str()) {
            continue;
        }
        seen.push(&b.command);
        let context = a
            .signer
            .context(&b.command, a.channel, a.private, all, a.now_ms);
        out.push(json!({
            // Mattermost wants action ids of letters and digits only.
            "id": format!("baton{}", out.len()),
            "type": "button",
            "name": b.label,
            "style": if b.primary { "primary" } else { "default" },
            "integration": { "url": a.url, "context": context },
        }));
    }
    out
}

/// `text` as Mattermost shows it literally: no markdown, no mention, no channel link, no
/// hashtag. A word that is a bare `http(s)://` URL keeps its characters (an escape inside would
/// break the link Mattermost makes of it), save for `<`, `>` and `@`.
pub fn inert(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut line_start = true;
    for word in text.split_inclusive(char::is_whitespace) {
        let lower = word.get(..8).unwrap_or(word).to_ascii_lowercase();
        let url = lower.starts_with("http://") || lower.starts_with("https://");
        let mut chars = word.chars().peekable();
        while let Some(c) = chars.next() {
            let next = chars.peek().copied();
            match c {
                '@' => {
                    out.push(c);
                    out.push('\u{200B}');
                }
                // A channel link, a strike-through; a hashtag (`#1` is none).
                '~' | '#' if !url && (c == '~' || next.is_some_and(char::is_alphabetic)) => {
                    out.push(c);
                    out.push('\u{200B}');
                }
                '<' | '>' => {
                    out.push('\\');
                    out.push(c);
                }
                '\\' | '`' | '*' | '_' | '[' | ']' | '|' if !url => {
                    out.push('\\');
                    out.push(c);
                }
                // A heading, a list item, a rule, a setext underline.
                '#' | '-' | '+' | '=' if line_start => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
            line_start = c == '\n' || (line_start && c.is_whitespace());
        }
    }
    out
}

/// `@` with a zero-width space after it, so text meant as code or Baton's own words pings no one.
fn no_pings(text: &str) -> String {
    text.replace('@', "@\u{200B}")
}

/// `text` as an inline code span, whatever backticks it holds.
pub fn code(text: &str) -> String {
    let text = no_pings(text);
    let fence = "`".repeat(backtick_run(&text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// At most `max` characters, cut with `…` (noted in `whole`) when longer.
fn cut(s: &str, max: usize, whole: &mut bool) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    *whole = false;
    crate::kit::names::clip(s, max)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use baton_commands::reply::Table;

    use super::*;

    const NOW: u64 = 1_795_711_200_000; // 2026-11-26 16:40 UTC
    const CHANNEL: &str = "4yjq9ge5k7ffx8b3dq9h3b1j8r";

    #[test]
    fn a_lock_shows_its_fields_in_the_readers_zone_and_buttons_with_signed_contexts() {
        let reply = Reply::new(Tone::Success, "jane locked prod for 30m", NOW)
            .field("Holder", Shown::Person("jane".into()))
            .field("Expires", Shown::Time(NOW + 1_800_000))
            .button("Unlock", "unlock prod".into(), false)
            .button("Extend 1h", "extend prod 1h".into(), true);
        let signer = Signer::new(b"k", Duration::from_secs(3600));
        let actions = Actions {
            signer: &signer,
            url: "https://baton.example.com/mattermost/actions",
            channel: CHANNEL,
            private: false,
            now_ms: NOW,
        };
        let post = render(&reply, None, Some(&actions)).post(CHANNEL);
        assert_eq!(post["channel_id"], CHANNEL);
        assert_eq!(
            post["message"],
            ":white_check_mark: **jane locked prod for 30m**"
        );
        let a = &post["props"]["attachments"][0];
        assert_eq!(a["color"], "#2EB67D");
        assert_eq!(
            a["fields"][0],
            json!({"title": "Holder", "value": "jane", "short": true})
        );
        assert_eq!(a["fields"][1]["value"], "2026-11-26 17:10 UTC (in 30m)");
        let action = &a["actions"][1];
        assert_eq!(
            (action["id"].as_str(), action["name"].as_str()),
            (Some("baton1"), Some("Extend 1h"))
        );
        assert_eq!(action["style"], "primary");
        assert_eq!(
            action["integration"]["url"],
            "https://baton.example.com/mattermost/actions"
        );
        let verified = signer
            .verify(&action["integration"]["context"], CHANNEL, NOW)
            .unwrap();
        assert_eq!(verified.command, "extend prod 1h");
        assert_eq!(verified.buttons, reply.buttons);
        assert!(render(&reply, None, None).attachment.unwrap()["actions"].is_null());
    }

    #[test]
    fn nothing_typed_by_a_person_or_pipeline_can_ping_link_or_format() {
        let typed = "@channel @here @all @jane ~town-square #release [x](https://evil.example) ![i](https://evil.example/t.png) <https://evil.example> **bold** `code` ~~gone~~";
        let shown = inert(typed);
        for live in [
            "@channel", "@here", "@all", "@jane", "~town", "#release", "![", "**", "~~",
        ] {
            assert!(!shown.contains(live), "{live} in {shown}");
        }
        assert!(shown.contains("@\u{200B}channel"), "{shown}");
        assert!(shown.contains("\\[x\\](https://evil.example)"), "{shown}");
        for bracket in ['<', '>', '[', ']'] {
            let escaped = format!("\\{bracket}");
            assert!(!shown.replace(&escaped, "").contains(bracket), "{shown}");
        }
        assert_eq!(inert("---"), "\\---");
        assert_eq!(inert("# bob is #1 in line"), "\\# bob is #1 in line");
        // A bare URL stays a URL; a mention inside one does not ping.
        assert_eq!(
            inert("see https://ci.example/job_1/@here"),
            "see https://ci.example/job_1/@\u{200B}here"
        );

        let reply = Reply::new(Tone::Success, typed, NOW)
            .field("Reason", Shown::Text(typed.into()))
            .with_text(format!("{typed}\n```\n@channel"));
        let post = render(&reply, None, None).post(CHANNEL);
        let all = post.to_string();
        for live in ["@channel", "@here", "@all"] {
            assert!(!all.contains(live), "{live} in {all}");
        }
        let field = &post["props"]["attachments"][0]["fields"][0]["value"];
        for formatted in [&post["message"], field] {
            assert!(
                formatted
                    .as_str()
                    .unwrap()
                    .contains("\\[x\\](https://evil.example)"),
                "{formatted}"
            );
        }
        let text = render(&reply, None, None).attachment.unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.starts_with("````\n"), "a longer fence: {text}");
    }

    #[test]
    fn a_long_table_keeps_whole_rows_and_counts_the_rest() {
        let rows = (0..3000)
            .map(|i| vec![Shown::Text(format!("env-{i}")), Shown::Text("free".into())])
            .collect();
        let mut reply = Reply::new(Tone::Info, "status", NOW);
        reply.table = Some(Table {
            headers: vec!["Env".into(), "Lock".into()],
            rows,
        });
        assert!(!fits(&reply));
        let text = render(&reply, None, None).attachment.unwrap()["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(text.chars().count() <= MAX_TEXT);
        let shown = text.lines().filter(|l| l.starts_with("env-")).count();
        assert!(
            text.contains(&format!("… and {} more; `status <env>`", 3000 - shown)),
            "{}",
            &text[text.len() - 200..]
        );
        let short = Reply::new(Tone::Info, "history", NOW).with_text("a\nb");
        assert!(fits(&short));
    }

    #[test]
    fn answers_say_who_sees_them_and_refusals_are_markdown_for_the_presser() {
        let reply = Reply::new(Tone::Refused, "prod is locked by jane", NOW)
            .field("Holder", Shown::Person("jane".into()));
        let r = render(&reply, Some("Type `/baton help lock` for examples."), None);
        let answer = r.command_response(Visibility::Ephemeral);
        assert_eq!(answer["response_type"], "ephemeral");
        assert_eq!(answer["skip_slack_parsing"], true);
        assert_eq!(answer["attachments"][0]["color"], "#E01E5A");
        assert_eq!(
            markdown(&reply, None),
            ":no_entry: prod is locked by jane\n**Holder:** jane"
        );
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(r.update()["update"]["message"], r.message);
    }
}
