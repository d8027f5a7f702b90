//! A [`Reply`] as an Adaptive Card (version 1.5, as Teams renders it): the title in a container
//! coloured by tone, the text, the fields as label/value columns, the status table as a `Table`,
//! and each button as an `Action.Execute` whose data is the command it runs.
//!
//! People's text is inert: it goes out only in `TextRun`s, which Adaptive Cards never read as
//! markdown, and a card carries no mention entities, so nothing typed can ping, link or format.
//! URL schemes are broken with a zero-width space so no client links them either. Times are
//! `{{DATE()}} {{TIME()}}` functions, which Teams shows in each reader's own time zone, beside
//! how far away they are.
//!
//! Teams takes a message of about 28 KB; a card that would be larger loses table rows and text
//! lines from the end, and says how many. [`fits`] tells the notifier whether a reply goes out
//! whole, so it can split an announcement instead.

use baton_commands::reply::{relative, Button, Table, Tone, Value as Shown};
use baton_commands::Reply;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// The `verb` of every Baton `Action.Execute`.
pub const VERB: &str = "baton";
/// The content type of an Adaptive Card attachment.
pub const CONTENT_TYPE: &str = "application/vnd.microsoft.card.adaptive";
/// The card's serialized size at most: Teams refuses messages above ~28 KB, and the activity
/// around the card takes some.
pub const MAX_CARD_BYTES: usize = 24_000;
/// Buttons Teams shows on one card.
const MAX_ACTIONS: usize = 6;

/// Whether `reply` goes out as one card with nothing left out.
pub fn fits(reply: &Reply) -> bool {
    size(&card_with(reply, usize::MAX, usize::MAX, None)) <= MAX_CARD_BYTES
}

/// `reply` as a card of at most [`MAX_CARD_BYTES`].
pub fn card(reply: &Reply) -> Value {
    let rows = reply.table.as_ref().map_or(0, |t| t.rows.len());
    let lines = reply.text.as_deref().map_or(0, |t| t.lines().count());
    let whole = card_with(reply, rows, lines, None);
    if size(&whole) <= MAX_CARD_BYTES {
        return whole;
    }
    // Rows first, then lines, until it fits; the note says how much was left out.
    let (mut rows_kept, mut lines_kept) = (rows, lines);
    loop {
        if rows_kept > 0 {
            rows_kept -= 1;
        } else if lines_kept > 0 {
            lines_kept -= 1;
        } else {
            break;
        }
        let note = format!(
            "… and {} more not shown",
            (rows - rows_kept) + (lines - lines_kept)
        );
        let smaller = card_with(reply, rows_kept, lines_kept, Some(&note));
        if size(&smaller) <= MAX_CARD_BYTES {
            return smaller;
        }
    }
    card_with(reply, 0, 0, Some("… too long to show in Teams"))
}

fn size(card: &Value) -> usize {
    serde_json::to_vec(card).map_or(usize::MAX, |v| v.len())
}

fn card_with(reply: &Reply, rows: usize, lines: usize, note: Option<&str>) -> Value {
    let style = match reply.tone {
        Tone::Success => "good",
        Tone::Warning => "warning",
        Tone::Refused => "attention",
        Tone::Info => "emphasis",
    };
    let mut body = vec![json!({
        "type": "Container",
        "style": style,
        "bleed": true,
        "items": [rich(&reply.title, true)],
    })];
    if let Some(text) = &reply.text {
        let kept: Vec<&str> = text.lines().take(lines).collect();
        if !kept.is_empty() {
            body.push(rich(&kept.join("\n"), false));
        }
    }
    for field in &reply.fields {
        body.push(json!({
            "type": "ColumnSet",
            "spacing": "Small",
            "columns": [
                {"type": "Column", "width": "auto", "items": [rich(&field.name, true)]},
                {"type": "Column", "width": "stretch", "items": [value(&field.value, reply.now)]},
            ],
        }));
    }
    if let Some(table) = &reply.table {
        if rows > 0 {
            body.push(table_element(table, rows, reply.now));
        }
    }
    if let Some(note) = note {
        body.push(rich(note, false));
    }
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "fallbackText": inert(&reply.title),
        "body": body,
    });
    let shown = &reply.buttons[..reply.buttons.len().min(MAX_ACTIONS)];
    let carried: Vec<Value> = shown
        .iter()
        .map(|b| json!([b.label, b.command, b.primary]))
        .collect();
    let actions: Vec<Value> = shown.iter().map(|b| action(b, &carried)).collect();
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

/// A button as `Action.Execute`; its data is the command, run as whoever presses it, and the
/// card's buttons (`card`), which an answer that leaves the hold in place keeps.
fn action(button: &Button, card: &[Value]) -> Value {
    json!({
        "type": "Action.Execute",
        "title": inert(&button.label),
        "verb": VERB,
        "data": {"baton": button.command, "card": card},
        "style": if button.primary { "positive" } else { "default" },
    })
}

/// Text that is never markdown: a `RichTextBlock` of one `TextRun`.
fn rich(text: &str, bold: bool) -> Value {
    let mut run = json!({"type": "TextRun", "text": inert(text)});
    if bold {
        run["weight"] = json!("Bolder");
    }
    json!({"type": "RichTextBlock", "inlines": [run]})
}

/// A value: people's text as a `TextRun`; a time with Teams' date functions, in the reader's zone.
fn value(v: &Shown, now: u64) -> Value {
    match v {
        Shown::Time(ms) => {
            let at: DateTime<Utc> = DateTime::from_timestamp_millis(*ms as i64).unwrap_or_default();
            let iso = at.format("%Y-%m-%dT%H:%M:%SZ");
            json!({
                "type": "TextBlock",
                "wrap": true,
                "text": format!("{{{{DATE({iso}, SHORT)}}}} {{{{TIME({iso})}}}} ({})", relative(*ms, now)),
            })
        }
        other => {
            let plain = other.plain(now);
            rich(if plain.is_empty() { "\u{2014}" } else { &plain }, false)
        }
    }
}

/// The status table as a `Table`, headers first, `rows` rows.
fn table_element(table: &Table, rows: usize, now: u64) -> Value {
    let cell = |v: Value| json!({"type": "TableCell", "items": [v]});
    let mut out = vec![json!({
        "type": "TableRow",
        "cells": table.headers.iter().map(|h| cell(rich(h, true))).collect::<Vec<_>>(),
    })];
    for row in table.rows.iter().take(rows) {
        out.push(json!({
            "type": "TableRow",
            "cells": row.iter().map(|v| cell(value(v, now))).collect::<Vec<_>>(),
        }));
    }
    json!({
        "type": "Table",
        "firstRowAsHeader": true,
        "showGridLines": false,
        "columns": table.headers.iter().map(|_| json!({"width": 1})).collect::<Vec<_>>(),
        "rows": out,
    })
}

/// Text as typed, but with URL schemes broken by a zero-width space, so no client turns it into
/// a link (a `TextRun` is never markdown and mentions need entities a card does not carry).
pub fn inert(text: &str) -> String {
    text.replace("://", ":\u{200B}//")
        .replace("www.", "www\u{200B}.")
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_commands::reply::Button;

    const NOW: u64 = 1_795_711_200_000;

    fn reply() -> Reply {
        let mut r = Reply::new(
            Tone::Success,
            "qa locked by [Jane](https://evil.example) @channel",
            NOW,
        )
        .field(
            "Reason",
            Shown::Text("**ship** <at>Bob</at> www.example.com".into()),
        )
        .field("Expires", Shown::Time(NOW + 1_800_000));
        r.buttons = vec![Button {
            label: "Unlock".into(),
            command: "unlock qa".into(),
            primary: true,
        }];
        r
    }

    #[test]
    fn people_s_text_goes_out_in_text_runs_and_buttons_as_execute_actions() {
        let card = card(&reply());
        let text = card.to_string();
        assert_eq!(card["version"], "1.5");
        assert!(
            !text.contains("\"type\":\"TextBlock\",\"text\":\"qa locked"),
            "{text}"
        );
        assert!(text.contains("https:\u{200B}//evil.example"), "{text}");
        assert!(text.contains("www\u{200B}.example.com"), "{text}");
        assert!(
            text.contains(
                "{{DATE(2026-11-26T17:10:00Z, SHORT)}} {{TIME(2026-11-26T17:10:00Z)}} (in 30m)"
            ),
            "{text}"
        );
        assert_eq!(card["actions"][0]["type"], "Action.Execute");
        assert_eq!(card["actions"][0]["data"]["baton"], "unlock qa");
        assert_eq!(card["actions"][0]["verb"], VERB);
    }

    #[test]
    fn a_table_too_large_for_teams_loses_rows_and_says_how_many() {
        let mut r = reply();
        r.table = Some(Table {
            headers: vec!["Env".into(), "Holder".into()],
            rows: (0..400)
                .map(|i| {
                    vec![
                        Shown::Text(format!("env-{i}")),
                        Shown::Person("x".repeat(60)),
                    ]
                })
                .collect(),
        });
        assert!(!fits(&r));
        let card = card(&r);
        assert!(size(&card) <= MAX_CARD_BYTES);
        let text = card.to_string();
        assert!(text.contains("more not shown"), "{text}");
        assert!(fits(&reply()));
    }
}
