//! The platform-neutral answer to a command. Adapters render it: Block Kit, a Discord embed, JSON
//! for CI, plain text for the console. Times stay typed so each platform can show them in the
//! reader's own time zone.

use std::time::{Duration, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::domain::human_duration;
use crate::state::{EnvState, Hold};

/// Who sees the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only the person who asked (help, errors, reads).
    Ephemeral,
    /// Everyone in the channel (state changes).
    InChannel,
}

/// The mood of an answer, for colour and icons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// The change happened.
    Success,
    /// A change that overrode someone or something, or turned someone away: a forced unlock, a
    /// grant over a freeze, a rejected or refused run, a freeze window skipped. It happened, and
    /// it deserves a second look.
    Warning,
    /// Information, nothing changed.
    Info,
    /// Refused or failed: nothing changed.
    Refused,
}

/// A value shown next to a label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// Plain text.
    Text(String),
    /// A moment, Unix ms; rendered in the reader's time zone where the platform can.
    Time(u64),
    /// A person or pipeline, by display name.
    Person(String),
}

impl Value {
    /// Plain-text rendering, with UTC times and how far away they are from `now`.
    pub fn plain(&self, now: u64) -> String {
        self.plain_in(now, reader_zone())
    }

    /// The same, a time shown in `zone` (a reply's own, see [`Reply::zone`]).
    pub fn plain_in(&self, now: u64, zone: Tz) -> String {
        match self {
            Value::Text(s) | Value::Person(s) => s.clone(),
            Value::Time(ms) => format!("{} ({})", clock_in(*ms, zone), relative(*ms, now)),
        }
    }
}

/// A labelled value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    /// The label.
    pub name: String,
    /// The value.
    pub value: Value,
}

/// A button that runs a command, written in the chat grammar, as whoever presses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Button {
    /// What the button says.
    pub label: String,
    /// The command it runs, e.g. `extend prod 1h`.
    pub command: String,
    /// Whether it is the main action.
    pub primary: bool,
}

/// Rows under headers, for `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows, each as long as `headers`.
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    /// The table as aligned plain-text lines, headers first, with times relative to `now`.
    /// Cells longer than `max_cell` characters are cut with `…`, so one long reason cannot push
    /// every other column off a narrow screen.
    pub fn plain_lines(&self, now: u64, zone: Tz, max_cell: usize) -> Vec<String> {
        let clip = |c: String| {
            if c.chars().count() <= max_cell {
                c
            } else {
                let mut cut: String = c.chars().take(max_cell.saturating_sub(1)).collect();
                cut.push('…');
                cut
            }
        };
        let headers: Vec<String> = self.headers.iter().cloned().map(clip).collect();
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|row| row.iter().map(|v| clip(v.plain_in(now, zone))).collect())
            .collect();
        let widths: Vec<usize> = (0..headers.len())
            .map(|i| {
                rows.iter()
                    .filter_map(|r| r.get(i))
                    .chain(std::iter::once(&headers[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        std::iter::once(&headers)
            .chain(&rows)
            .map(|row| {
                let padded: Vec<String> = row
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:w$}"))
                    .collect();
                padded.join("  ").trim_end().to_string()
            })
            .collect()
    }
}

/// Structured facts for machine readers (the CI API), alongside the text for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyData {
    /// A lock or claim was granted to the caller.
    Grant {
        /// The env.
        env: String,
        /// `lock` or `claim`.
        kind: String,
        /// The grant.
        hold: Hold,
        /// The lock's secret token, for the CI caller that will release it; never shown in chat.
        #[serde(skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// The state of some envs.
    Envs {
        /// One entry per env.
        envs: Vec<EnvState>,
    },
}

/// The answer to one command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// Success, information or refusal.
    pub tone: Tone,
    /// One sentence that says what happened.
    pub title: String,
    /// More text (help, hints), may span lines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Labelled facts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
    /// A table, for status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
    /// Follow-up actions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    /// Who should see it.
    pub visibility: Visibility,
    /// Redis' clock when the answer was made (Unix ms), so relative times agree everywhere.
    pub now: u64,
    /// Structured facts for machines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<ReplyData>,
    /// The zone its times are shown in as text: the readers' (`[defaults] timezone`), taken when
    /// the reply is made, so a front end that writes it out later shows the same zone.
    #[serde(skip)]
    pub zone: Tz,
}

impl Reply {
    /// A reply with just a title.
    pub fn new(tone: Tone, title: impl Into<String>, now: u64) -> Self {
        let visibility = match tone {
            Tone::Success | Tone::Warning => Visibility::InChannel,
            Tone::Info | Tone::Refused => Visibility::Ephemeral,
        };
        Self {
            tone,
            title: title.into(),
            text: None,
            fields: Vec::new(),
            table: None,
            buttons: Vec::new(),
            visibility,
            now,
            data: None,
            zone: reader_zone(),
        }
    }

    /// Adds a labelled value.
    pub fn field(mut self, name: &str, value: Value) -> Self {
        self.fields.push(Field {
            name: name.to_string(),
            value,
        });
        self
    }

    /// Adds a text field unless `text` is empty.
    pub fn text_field(self, name: &str, text: &str) -> Self {
        if text.is_empty() {
            self
        } else {
            self.field(name, Value::Text(text.to_string()))
        }
    }

    /// Sets the longer text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// Adds a button.
    pub fn button(mut self, label: &str, command: String, primary: bool) -> Self {
        self.buttons.push(Button {
            label: label.to_string(),
            command,
            primary,
        });
        self
    }

    /// Adds the fields that describe a hold: who, why, since, until, fence.
    pub fn hold_fields(self, hold: &Hold) -> Self {
        self.field("Holder", Value::Person(hold.display.clone()))
            .text_field("Reason", &hold.reason)
            .field("Since", Value::Time(hold.since))
            .field("Expires", Value::Time(hold.expires))
            .field("Fence", Value::Text(hold.fence.to_string()))
    }

    /// Attaches structured data.
    pub fn with_data(mut self, data: ReplyData) -> Self {
        self.data = Some(data);
        self
    }
}

tokio::task_local! {
    /// The zone people reading this work's answers live in (`[defaults] timezone`): set around a
    /// request's road, the notifier and the CI API's refusals, read by [`clock`].
    static READER_ZONE: Tz;
}

/// Runs `work` with times shown in `zone` ([`clock`]).
pub async fn in_zone<F: std::future::Future>(zone: Tz, work: F) -> F::Output {
    READER_ZONE.scope(zone, work).await
}

/// Runs `f` with times shown in `zone` ([`clock`]).
pub fn with_zone<R>(zone: Tz, f: impl FnOnce() -> R) -> R {
    READER_ZONE.sync_scope(zone, f)
}

/// `2026-11-26 17:40 CET`: in the readers' zone (`[defaults] timezone`, UTC unless set), named,
/// so a time is never read in the wrong one. Slack and Discord show [`Value::Time`] fields in
/// each reader's own zone; this is for the text around them.
pub fn clock(ms: u64) -> String {
    clock_in(ms, reader_zone())
}

/// The zone of the work in progress (see [`in_zone`]); UTC outside any.
pub fn reader_zone() -> Tz {
    READER_ZONE.try_with(|z| *z).unwrap_or(Tz::UTC)
}

/// [`clock`] in `zone`.
pub fn clock_in(ms: u64, zone: Tz) -> String {
    use chrono::{Datelike, Offset, Timelike};
    use chrono_tz::OffsetName;
    let t: DateTime<Utc> = (UNIX_EPOCH + Duration::from_millis(ms)).into();
    let t = t.with_timezone(&zone);
    // Written field by field: a refusal shows two of these, and a strftime pattern is parsed
    // anew on every use.
    let offset = t.offset();
    let name = match offset.abbreviation() {
        Some(name) => name.to_string(),
        None => offset.fix().to_string(),
    };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} {name}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `in 29m`, `5m ago`, `now`.
pub fn relative(ms: u64, now: u64) -> String {
    let gap = |a: u64, b: u64| human_duration(Duration::from_millis(a - b));
    if ms > now + 999 {
        format!("in {}", gap(ms, now))
    } else if now > ms + 999 {
        format!("{} ago", gap(now, ms))
    } else {
        "now".into()
    }
}

/// A typed answer that can be shown to people as a [`Reply`].
pub trait Render {
    /// The answer as a reply.
    fn reply(&self) -> Reply;
}

impl Render for Reply {
    fn reply(&self) -> Reply {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_keeps_the_zone_it_was_made_in_for_whoever_writes_it_out_later() {
        let t = 1_795_711_200_000; // 2026-11-26 16:40 UTC
        let berlin = chrono_tz::Europe::Berlin;
        let r = with_zone(berlin, || {
            Reply::new(Tone::Info, format!("until {}", clock(t)), t).field("Ends", Value::Time(t))
        });
        assert_eq!(r.title, "until 2026-11-26 17:40 CET");
        // Written out after the work (a console, a plain-text front end), in the same zone.
        assert_eq!(
            r.fields[0].value.plain_in(r.now, r.zone),
            "2026-11-26 17:40 CET (now)"
        );
        assert_eq!(clock(t), "2026-11-26 16:40 UTC");
    }

    #[test]
    fn times_render_in_utc_with_distance() {
        let t = 1_795_711_200_000; // 2026-11-26 16:40 UTC
        assert_eq!(clock(t), "2026-11-26 16:40 UTC");
        assert_eq!(relative(t, t - 29 * 60_000), "in 29m");
        assert_eq!(relative(t, t + 300_000), "5m ago");
        assert_eq!(Value::Time(t).plain(t), "2026-11-26 16:40 UTC (now)");
    }

    #[test]
    fn a_table_aligns_its_columns_and_cuts_long_cells() {
        let table = Table {
            headers: vec!["Env".into(), "Lock".into()],
            rows: vec![
                vec![
                    Value::Text("prod".into()),
                    Value::Text("alice: a very long reason".into()),
                ],
                vec![Value::Text("staging-10".into()), Value::Text("free".into())],
            ],
        };
        assert_eq!(
            table.plain_lines(0, Tz::UTC, 12),
            [
                "Env         Lock",
                "prod        alice: a ve…",
                "staging-10  free"
            ]
        );
    }
}
