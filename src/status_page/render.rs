//! The wall screen's markup, for the first paint and for readers without JavaScript. The
//! template's script builds the same markup from the same view on every update: keep the two in
//! step (the browser test compares them).
//!
//! One grid of equal cards, one per env (pool members last, tagged with their pool). Each card
//! says one state in a word and a colour (`LOCKED`, `CLAIMED`, `FROZEN`, `LOCKED · FROZEN`,
//! `FREE UNTIL 12:00` when a window starts within the hour, `FREE`), then at most four one-line
//! rows, each cut with an ellipsis and whole in its `title`, then a strip of the next 24 hours.
//! Times are in the page's zone (`[defaults] timezone`), named in the header.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use serde_json::Value;

/// The strip's span, and the unit of its positions (per mille of it).
const DAY: u64 = 86_400_000;
/// How close a window's start makes a free env `FREE UNTIL …`.
const SOON: u64 = 3_600_000;
/// The most rows under an env's name; the next window and the last deploy share one past it.
const ROWS: usize = 4;

/// Where and when the page is read: Redis' clock and the team's zone.
pub(super) struct Ctx<'z, Z> {
    pub now: u64,
    pub zone: &'z Z,
}

impl<Z: TimeZone> Ctx<'_, Z> {
    fn local(&self, ms: u64) -> DateTime<Z> {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms as i64).unwrap_or_default();
        utc.with_timezone(self.zone)
    }

    /// `14:35` today, `Fri 14:35` within six days, `2026-12-24 00:00` further: the script's
    /// `clock`.
    pub fn clock(&self, ms: u64) -> String {
        let (t, today) = (self.local(ms), self.local(self.now));
        let hm = format!("{:02}:{:02}", t.hour(), t.minute());
        if t.date_naive() == today.date_naive() {
            hm
        } else if ms.abs_diff(self.now) < 6 * DAY {
            format!("{} {hm}", weekday(&t))
        } else {
            format!("{:04}-{:02}-{:02} {hm}", t.year(), t.month(), t.day())
        }
    }

    /// `14:35`: the script's `hm`.
    fn hm(&self, ms: u64) -> String {
        let t = self.local(ms);
        format!("{:02}:{:02}", t.hour(), t.minute())
    }

    /// Where `ms` falls on the strip, in per mille of it: the script's `pos`.
    fn pos(&self, ms: u64) -> u64 {
        ((ms.saturating_sub(self.now) * 1000 + DAY / 2) / DAY).min(1000)
    }

    /// The strip's ticks: every local 00:00, 06:00, 12:00 and 18:00 in the next 24 hours (found
    /// among the quarter hours, so zones a half hour off work too), midnight named by its day.
    fn ticks(&self) -> Vec<(u64, String)> {
        let quarter = 900_000;
        let mut out = Vec::new();
        let mut at = self.now.div_ceil(quarter) * quarter;
        while at < self.now + DAY {
            let t = self.local(at);
            if t.minute() == 0 && t.hour() % 6 == 0 {
                let label = match t.hour() {
                    0 => weekday(&t).to_string(),
                    h => format!("{h:02}:00"),
                };
                out.push((self.pos(at), label));
            }
            at += quarter;
        }
        out
    }
}

fn weekday<Z: TimeZone>(t: &DateTime<Z>) -> &'static str {
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][t.weekday().num_days_from_monday() as usize]
}

/// `12.5%`: a per mille as the script writes it.
fn percent(per_mille: u64) -> String {
    format!("{}.{}%", per_mille / 10, per_mille % 10)
}

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

pub(super) fn ms(value: &Value) -> Option<u64> {
    let at = humantime::parse_rfc3339(value.as_str()?).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as u64)
}

fn list(value: &Value) -> &[Value] {
    value.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn busy(env: &Value) -> bool {
    !env["lock"].is_null() || !env["claim"].is_null()
}

/// The pools' members, by pool: `(pool, members)`.
fn pools(view: &Value) -> Vec<(&str, Vec<&str>)> {
    list(&view["pools"])
        .iter()
        .map(|p| {
            let members = list(&p["members"]).iter().filter_map(Value::as_str);
            (text(p, "name"), members.collect())
        })
        .collect()
}

/// `3 of 30 in use · 2 frozen · staging 1 of 3 in use`: the script's summary line.
pub(super) fn summary(view: &Value) -> String {
    let envs = list(&view["envs"]);
    let in_use = envs.iter().filter(|e| busy(e)).count();
    let frozen = envs.iter().filter(|e| !e["freeze"].is_null()).count();
    let mut out = format!("{in_use} of {} in use", envs.len());
    if frozen > 0 {
        let _ = write!(out, " · {frozen} frozen");
    }
    for (pool, members) in pools(view) {
        let members: Vec<&Value> = envs
            .iter()
            .filter(|e| members.contains(&text(e, "env")))
            .collect();
        let used = members.iter().filter(|e| busy(e)).count();
        let _ = write!(out, " · {pool} {used} of {} in use", members.len());
    }
    out
}

/// Every env as a card, those in no pool first, then each pool's members in order.
pub(super) fn render<Z: TimeZone>(view: &Value, ctx: &Ctx<Z>) -> String {
    let envs = list(&view["envs"]);
    let pools = pools(view);
    let mut out = String::from("<div class=\"grid\">");
    for e in envs {
        if !pools.iter().any(|(_, m)| m.contains(&text(e, "env"))) {
            card(&mut out, e, None, ctx);
        }
    }
    for (pool, members) in &pools {
        for m in members {
            if let Some(e) = envs.iter().find(|e| text(e, "env") == *m) {
                card(&mut out, e, Some(pool), ctx);
            }
        }
    }
    out.push_str("</div>");
    out
}

/// What a row shows at its right end.
enum Right {
    None,
    /// A countdown to this RFC 3339 time: `12m 03s left`.
    Until(String),
    /// A countdown to a start: `in 23m 05s`.
    In(String),
    /// Time since: `3h ago`.
    Since(String),
    /// Plain text.
    Text(String),
}

/// One line of a card: its text (cut with an ellipsis, whole in its title), and what is at its
/// right end. `queue` is the waiting line's chip: how many, and who (for the title).
struct Row {
    class: &'static str,
    text: String,
    queue: Option<(u64, String)>,
    right: Right,
}

impl Row {
    fn new(class: &'static str, text: String, right: Right) -> Self {
        Self {
            class,
            text,
            queue: None,
            right,
        }
    }
}

/// The env's one state: its class and its word (the script's `state`).
fn state<Z: TimeZone>(e: &Value, ctx: &Ctx<Z>) -> (&'static str, String) {
    let frozen = !e["freeze"].is_null();
    let starts = ms(&e["next_window"]["starts"]);
    let (class, word) = match (e["lock"].is_null(), e["claim"].is_null(), frozen) {
        (false, _, true) => ("locked frozen", "LOCKED · FROZEN"),
        (true, false, true) => ("claimed frozen", "CLAIMED · FROZEN"),
        (false, _, false) => ("locked", "LOCKED"),
        (true, false, false) => ("claimed", "CLAIMED"),
        (true, true, true) => ("frozen", "FROZEN"),
        (true, true, false) => match starts.filter(|s| s.saturating_sub(ctx.now) <= SOON) {
            Some(s) => return ("soon", format!("FREE UNTIL {}", ctx.hm(s))),
            None => ("free", "FREE"),
        },
    };
    (class, word.to_string())
}

fn card<Z: TimeZone>(out: &mut String, e: &Value, pool: Option<&str>, ctx: &Ctx<Z>) {
    let name = escape(text(e, "env"));
    let (class, word) = state(e, ctx);
    let _ = write!(
        out,
        "<article class=\"env {class}\"><div class=\"top\"><span class=\"name\" title=\"{name}\">{name}</span>"
    );
    if let Some(pool) = pool {
        let pool = escape(pool);
        let _ = write!(
            out,
            "<span class=\"pool\" title=\"pool {pool}\">{pool}</span>"
        );
    }
    let _ = write!(out, "<span class=\"state\">{word}</span></div>");
    for row in rows(e, class == "soon", ctx) {
        write_row(out, &row, ctx);
    }
    strip(out, e, ctx);
    out.push_str("</article>");
}

/// The card's rows: the holds (the first with its reason), the freeze, the waiting line's chip,
/// the next window and the last deploy, those two on one row when there are more than [`ROWS`]
/// (the script's `rows`).
fn rows<Z: TimeZone>(e: &Value, soon: bool, ctx: &Ctx<Z>) -> Vec<Row> {
    let mut rows = Vec::new();
    for (h, label) in [(&e["lock"], "Locked by"), (&e["claim"], "Claimed by")] {
        if h.is_null() {
            continue;
        }
        let (who, why) = (text(h, "holder"), text(h, "reason"));
        let until = Right::Until(text(h, "expires_at").into());
        if rows.is_empty() {
            rows.push(Row::new("big", who.into(), until));
            let at = ms(&h["expires_at"]).map_or(Right::None, |t| {
                Right::Text(format!("until {}", ctx.clock(t)))
            });
            rows.push(Row::new("", why.into(), at));
        } else {
            rows.push(Row::new("", joined(&format!("{label} {who}"), why), until));
        }
    }
    let f = &e["freeze"];
    if !f.is_null() {
        let (by, compact) = match text(f, "window") {
            "" => (
                text(f, "by").to_string(),
                format!("Frozen by {}", text(f, "by")),
            ),
            window => (
                format!("{window} window"),
                format!("Frozen · {window} window"),
            ),
        };
        let left = match text(f, "until") {
            "" => Right::Text("until unfrozen".into()),
            at => Right::Until(at.into()),
        };
        if rows.is_empty() {
            rows.push(Row::new("big freeze", by, left));
            let at = ms(&f["until"]).map_or(Right::None, |t| {
                Right::Text(format!("until {}", ctx.clock(t)))
            });
            rows.push(Row::new("", text(f, "reason").into(), at));
        } else {
            rows.push(Row::new(
                "freeze",
                joined(&compact, text(f, "reason")),
                left,
            ));
        }
    }
    let queued = e["queued"].as_u64().unwrap_or(0);
    if queued > 0 {
        let who: Vec<&str> = list(&e["queue"])
            .iter()
            .map(|w| text(w, "holder"))
            .collect();
        let chip = (queued, format!("waiting: {}", who.join(", ")));
        // Beside the reason, not the holder: the name matters more from across the room.
        let at = rows.len().min(2);
        match rows.get_mut(at.saturating_sub(1)) {
            Some(row) => row.queue = Some(chip),
            None => {
                let mut row = Row::new("", String::new(), Right::None);
                row.queue = Some(chip);
                rows.push(row);
            }
        }
    }
    let mut meta = Vec::new();
    let w = &e["next_window"];
    if let (Some(starts), Some(ends)) = (ms(&w["starts"]), ms(&w["ends"])) {
        let span = format!("{}–{}", ctx.clock(starts), ctx.clock(ends));
        let line = format!("Next freeze {} {span}", text(w, "name"));
        let right = match soon {
            true => Right::In(text(w, "starts").into()),
            false => Right::None,
        };
        meta.push(Row::new("next", joined(&line, text(w, "reason")), right));
    }
    let d = &e["last_deploy"];
    if !d.is_null() {
        let (version, sha) = (text(d, "version"), text(d, "sha"));
        let mut line = format!(
            "Deployed {}",
            if version.is_empty() { sha } else { version }
        );
        if !version.is_empty() && !sha.is_empty() {
            let short: String = sha.chars().take(12).collect();
            let _ = write!(line, " ({short})");
        }
        if !text(d, "by").is_empty() {
            let _ = write!(line, " by {}", text(d, "by"));
        }
        let right = match text(d, "at") {
            "" => Right::None,
            at => Right::Since(at.into()),
        };
        meta.push(Row::new("", line, right));
    }
    if rows.len() + meta.len() > ROWS && meta.len() == 2 {
        let deploy = meta.pop().expect("two");
        let next = meta.pop().expect("two");
        let text = format!("{} · {}", next.text, deploy.text);
        meta.push(Row::new("", text, Right::None));
    }
    rows.extend(meta);
    rows
}

/// `a · b`, or `a` when `b` is empty.
fn joined(a: &str, b: &str) -> String {
    match b {
        "" => a.to_string(),
        b => format!("{a} · {b}"),
    }
}

fn write_row<Z: TimeZone>(out: &mut String, row: &Row, ctx: &Ctx<Z>) {
    let t = escape(&row.text);
    let class = match row.class {
        "" => "row".to_string(),
        c => format!("row {c}"),
    };
    let _ = write!(
        out,
        "<div class=\"{class}\"><span class=\"text\" title=\"{t}\">{t}</span>"
    );
    if let Some((n, who)) = &row.queue {
        let _ = write!(
            out,
            "<span class=\"queue\" title=\"{}\">+{n} waiting</span>",
            escape(who)
        );
    }
    match &row.right {
        Right::None => {}
        Right::Until(at) => {
            let left_ms = ms(&Value::from(at.as_str())).map_or(0, |t| t.saturating_sub(ctx.now));
            let soon = if left_ms < 300_000 { " soon" } else { "" };
            let _ = write!(
                out,
                "<span class=\"left{soon}\" data-until=\"{}\">{}</span>",
                escape(at),
                left(left_ms)
            );
        }
        Right::In(at) => {
            let to = ms(&Value::from(at.as_str())).map_or(0, |t| t.saturating_sub(ctx.now));
            let _ = write!(
                out,
                "<span class=\"in\" data-in=\"{}\">{}</span>",
                escape(at),
                starts_in(to)
            );
        }
        Right::Since(at) => {
            let since = ms(&Value::from(at.as_str())).map_or(0, |t| ctx.now.saturating_sub(t));
            let _ = write!(
                out,
                "<span class=\"ago\" data-since=\"{}\">{}</span>",
                escape(at),
                ago(since)
            );
        }
        Right::Text(t) => {
            let _ = write!(out, "<span class=\"at\">{}</span>", escape(t));
        }
    }
    out.push_str("</div>");
}

/// `12m 03s`, `2h 05m`, `3d 4h`: the script's `span`.
fn span(ms: u64) -> String {
    let s = ms.div_ceil(1000);
    match s {
        0..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d {}h", s / 86400, s / 3600 % 24),
    }
}

/// `12m 03s left`, or `expiring`: the script's `left`.
fn left(ms: u64) -> String {
    match ms {
        0 => "expiring".into(),
        ms => format!("{} left", span(ms)),
    }
}

/// `in 23m 05s`, or `now`: the script's `startsIn`.
fn starts_in(ms: u64) -> String {
    match ms {
        0 => "now".into(),
        ms => format!("in {}", span(ms)),
    }
}

/// `just now`, `12m ago`, `3h ago`, `2d ago`: the script's `ago`.
fn ago(ms: u64) -> String {
    match ms / 1000 {
        0..60 => "just now".into(),
        s @ 60..3600 => format!("{}m ago", s / 60),
        s @ 3600..86400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86400),
    }
}

/// The next 24 hours: ticks at local 00/06/12/18 h, the holds until they end (upper lane), the
/// freeze on now and the calendar's windows (lower lane). Geometry is in attributes, not
/// `style`, so the page's Content-Security-Policy needs no `unsafe-inline`.
fn strip<Z: TimeZone>(out: &mut String, e: &Value, ctx: &Ctx<Z>) {
    out.push_str(
        "<svg class=\"strip\" aria-hidden=\"true\">\
         <rect class=\"track\" x=\"0\" y=\"40%\" width=\"100%\" height=\"60%\"></rect>",
    );
    for (x, label) in ctx.ticks() {
        let x = percent(x);
        let _ = write!(
            out,
            "<line class=\"tick\" x1=\"{x}\" x2=\"{x}\" y1=\"0\" y2=\"100%\"></line>\
             <text x=\"{x}\" dx=\"3\" y=\"34%\">{label}</text>"
        );
    }
    for (h, kind, label) in [
        (&e["lock"], "locked", "locked by"),
        (&e["claim"], "claimed", "claimed by"),
    ] {
        if !h.is_null() {
            let end = ms(&h["expires_at"]).map_or(1000, |t| ctx.pos(t));
            let tip = format!("{label} {}", text(h, "holder"));
            bar(out, kind, "44%", 0, end, &tip);
        }
    }
    let f = &e["freeze"];
    if !f.is_null() {
        let end = ms(&f["until"]).map_or(1000, |t| ctx.pos(t));
        bar(out, "frozen", "72%", 0, end, "frozen now");
    }
    for w in list(&e["windows"]) {
        if let (Some(starts), Some(ends)) = (ms(&w["starts"]), ms(&w["ends"])) {
            let (from, to) = (ctx.pos(starts), ctx.pos(ends));
            let tip = format!(
                "freeze {} {}–{}",
                text(w, "name"),
                ctx.clock(starts),
                ctx.clock(ends)
            );
            bar(out, "frozen", "72%", from, to.max(from + 4).min(1000), &tip);
        }
    }
    out.push_str("</svg>");
}

fn bar(out: &mut String, kind: &str, y: &str, from: u64, to: u64, tip: &str) {
    let _ = write!(
        out,
        "<rect class=\"bar {kind}\" x=\"{}\" y=\"{y}\" width=\"{}\" height=\"24%\"><title>{}</title></rect>",
        percent(from),
        percent(to.saturating_sub(from)),
        escape(tip)
    );
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
