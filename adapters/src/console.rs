//! The console: replies as plain text, for people at a terminal.

use baton_commands::reply::{Reply, Table, Tone};

/// Renders a reply as plain text: a marked title line, then fields, text, a table and the
/// commands the buttons would run.
pub fn render(reply: &Reply) -> String {
    let mark = match reply.tone {
        Tone::Success => "✔",
        Tone::Warning => "!",
        Tone::Info => "·",
        Tone::Refused => "✖",
    };
    let mut out = format!("{mark} {}\n", reply.title);
    let width = reply
        .fields
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for f in &reply.fields {
        let label = format!("{}:", f.name);
        out.push_str(&format!(
            "  {label:width$} {}\n",
            f.value.plain_in(reply.now, reply.zone)
        ));
    }
    if let Some(table) = &reply.table {
        out.push_str(&render_table(table, reply));
    }
    if let Some(text) = &reply.text {
        for line in text.lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    if !reply.buttons.is_empty() {
        let actions: Vec<&str> = reply.buttons.iter().map(|b| b.command.as_str()).collect();
        out.push_str(&format!("  next: {}\n", actions.join("  |  ")));
    }
    out
}

fn render_table(table: &Table, reply: &Reply) -> String {
    table
        .plain_lines(reply.now, reply.zone, usize::MAX)
        .iter()
        .map(|line| format!("  {line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_commands::reply::Value;

    #[test]
    fn a_success_reads_as_plain_words_with_its_next_steps() {
        let now = 1_795_711_200_000;
        let reply = Reply::new(Tone::Success, "alice locked prod for 30m", now)
            .field("Expires", Value::Time(now + 1_800_000))
            .button("Unlock", "unlock prod".into(), false);
        let text = render(&reply);
        assert!(text.starts_with("✔ alice locked prod for 30m\n"), "{text}");
        assert!(
            text.contains("Expires: 2026-11-26 17:10 UTC (in 30m)"),
            "{text}"
        );
        assert!(text.contains("next: unlock prod"), "{text}");
    }
}
