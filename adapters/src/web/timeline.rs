//! `GET /console/env/{env}`: one env's history, read as typed audit events: a timeline of its
//! holds, claims, freezes and deploys over the last days (one bar per day in the reader's zone,
//! drawn as SVG: no script, no style attributes), deploys per day, and the events themselves
//! with the road each came by (the web console, Slack, the CI API…), and the requests waiting for
//! approval with their forms.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use baton_commands::domain::EnvName;
use baton_commands::reply::clock_in;
use baton_commands::road_of;
use baton_commands::store::audit::{Event, Kind};
use chrono::{Duration as Days, NaiveTime, TimeZone};
use chrono_tz::Tz;

use super::approvals;
use super::console::{zone_form, ZoneQuery};
use super::html::{self, escape};
use super::session::Viewer;
use super::Web;

/// Days the timeline covers, and the events read for it.
const DAYS: i64 = 7;
const EVENTS: usize = 500;

/// Which road an identity came by, as chat's `history` names it.
fn road(identity: &str) -> String {
    road_of(identity).unwrap_or_default()
}

/// A span on the timeline: what kind, from and to (ms), and its label.
struct Span {
    class: &'static str,
    from: u64,
    to: u64,
    label: String,
}

/// Holds, claims and freezes as spans, from events oldest first; spans still open run to `now`.
fn spans(events: &[Event], since: u64, now: u64) -> Vec<Span> {
    let mut out = Vec::new();
    let mut open: [Option<(u64, String)>; 3] = [None, None, None];
    let slot = |k: Kind| match k {
        Kind::Locked
        | Kind::HandedOff
        | Kind::Unlocked
        | Kind::ForceUnlocked
        | Kind::LockExpired => Some(0),
        Kind::Claimed | Kind::Released | Kind::ForceReleased | Kind::ClaimExpired => Some(1),
        Kind::Frozen | Kind::Unfrozen | Kind::FreezeEnded => Some(2),
        _ => None,
    };
    const CLASSES: [&str; 3] = ["hold", "claim", "freeze"];
    for e in events {
        let Some(i) = slot(e.kind) else { continue };
        let opens = matches!(
            e.kind,
            Kind::Locked | Kind::HandedOff | Kind::Claimed | Kind::Frozen
        );
        let label = match e.kind {
            Kind::Frozen => format!("frozen by {}", e.actor_display),
            _ => format!("{} ({})", e.display, road(&e.holder)),
        };
        let previous = open[i].take();
        if opens {
            // A hand-off ends the previous holder's span where the next one's starts.
            if let Some((from, label)) = previous {
                out.push(Span {
                    class: CLASSES[i],
                    from,
                    to: e.at,
                    label,
                });
            }
            open[i] = Some((e.at, label));
        } else {
            // An end with no start seen began before the events read.
            let (from, label) = previous.unwrap_or((since, label));
            out.push(Span {
                class: CLASSES[i],
                from,
                to: e.at,
                label,
            });
        }
    }
    for (i, o) in open.into_iter().enumerate() {
        if let Some((from, label)) = o {
            out.push(Span {
                class: CLASSES[i],
                from,
                to: now,
                label,
            });
        }
    }
    out
}

/// Midnight of each of the last `DAYS` days in `zone`, oldest first, as Unix ms.
fn days(now: u64, zone: Tz) -> Vec<(u64, String)> {
    let today = zone
        .timestamp_millis_opt(now as i64)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default();
    (0..DAYS)
        .rev()
        .filter_map(|back| {
            let day = today - Days::days(back);
            let start = zone
                .from_local_datetime(&day.and_time(NaiveTime::MIN))
                .earliest()?;
            Some((
                start.timestamp_millis().max(0) as u64,
                day.format("%a %Y-%m-%d").to_string(),
            ))
        })
        .collect()
}

/// One day's bar: the spans and deploys that fall in `[start, start + 24 h)`.
fn bar(spans: &[Span], deploys: &[&Event], start: u64) -> String {
    let end = start + 86_400_000;
    let pct = |ms: u64| (ms.clamp(start, end) - start) as f64 / 864_000.0;
    let mut out = String::from(r#"<svg class="timeline" role="img" aria-label="timeline">"#);
    for s in spans.iter().filter(|s| s.to > start && s.from < end) {
        let (x, w) = (pct(s.from), (pct(s.to) - pct(s.from)).max(0.3));
        out += &format!(
            r#"<rect class="{}" x="{x:.2}%" y="{}" width="{w:.2}%" height="{}"><title>{}</title></rect>"#,
            s.class,
            if s.class == "freeze" { 0 } else { 4 },
            if s.class == "freeze" { 22 } else { 14 },
            escape(&s.label)
        );
    }
    for d in deploys.iter().filter(|d| d.at >= start && d.at < end) {
        out += &format!(
            r#"<rect class="deploy" x="{:.2}%" y="0" width="0.4%" height="22"><title>deployed {}</title></rect>"#,
            pct(d.at),
            escape(&d.version)
        );
    }
    out + "</svg>"
}

/// `GET /console/env/{env}`.
pub async fn env_page(
    State(web): State<Web>,
    viewer: Viewer,
    Path(env): Path<String>,
    Query(q): Query<ZoneQuery>,
) -> Response {
    let baton = web.baton();
    let zone = q.zone(baton);
    let Ok(name) = EnvName::parse(&env) else {
        return html::error(
            StatusCode::NOT_FOUND,
            "No such env",
            "That is not an env name.",
        );
    };
    let mut events = match baton.env_events(&name, EVENTS).await {
        Ok(e) => e,
        Err(e) => {
            return html::error(
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::NOT_FOUND),
                "This env cannot be shown",
                &e.to_string(),
            )
        }
    };
    let now = baton.now_ms();
    let requests = approvals::pending(&events, now);
    let requests = match requests.is_empty() {
        true => String::new(),
        false => format!(
            r#"<h2>Waiting for approval</h2><div id="requests">{}</div>"#,
            approvals::block(baton, &viewer, name.as_str(), &requests, zone)
        ),
    };
    events.reverse();
    let days = days(now, zone);
    let since = days.first().map_or(now, |d| d.0);
    let spans = spans(&events, since, now);
    let deploys: Vec<&Event> = events.iter().filter(|e| e.kind == Kind::Deployed).collect();
    let rows: String = days
        .iter()
        .map(|(start, label)| {
            format!(
                r#"<div class="day"><span>{label}</span>{}</div>"#,
                bar(&spans, &deploys, *start)
            )
        })
        .collect();
    let counts: Vec<(String, usize)> = days
        .iter()
        .map(|(start, label)| {
            (
                label.clone(),
                deploys
                    .iter()
                    .filter(|d| d.at >= *start && d.at < start + 86_400_000)
                    .count(),
            )
        })
        .collect();
    let most = counts.iter().map(|c| c.1).max().unwrap_or(0).max(1);
    let width = 100.0 / counts.len().max(1) as f64;
    let bars: String = counts
        .iter()
        .enumerate()
        .map(|(i, (label, n))| {
            let h = 50.0 * *n as f64 / most as f64;
            format!(r#"<rect x="{:.2}%" y="{:.1}" width="{:.2}%" height="{h:.1}"><title>{label}: {n} deploys</title></rect><text x="{:.2}%" y="59" font-size="9">{n}</text>"#,
                i as f64 * width + 1.0, 50.0 - h, width - 2.0, i as f64 * width + width / 2.0)
        })
        .collect();
    let lines: String = events
        .iter()
        .rev()
        .take(100)
        .map(|e| {
            let who = if e.actor.is_empty() {
                (&e.display, &e.holder)
            } else {
                (&e.actor_display, &e.actor)
            };
            format!(
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="road">{}</td><td>{}</td></tr>"#,
                clock_in(e.at, zone),
                escape(e.kind_name()),
                escape(who.0),
                escape(&road(who.1)),
                escape(&e.reason)
            )
        })
        .collect();
    let body = format!(
        r#"{zone_form}{requests}<h2>The last {DAYS} days</h2><p class="muted">Orange: held · purple: claimed · blue: frozen · green: a deploy.</p>{rows}
<h2>Deploys per day</h2><svg class="bars" role="img" aria-label="deploys per day">{bars}</svg>
<h2>History (newest first)</h2><table id="history"><tr><th>When</th><th>What</th><th>Who</th><th>Road</th><th>Reason</th></tr>{lines}</table>"#,
        zone_form = zone_form(&format!("/console/env/{}", name), zone),
    );
    html::page(
        StatusCode::OK,
        &format!("{name}: history"),
        Some(&viewer.header()),
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, at: u64, who: &str) -> Event {
        Event {
            kind,
            at,
            holder: format!("oidc:{who}"),
            display: who.into(),
            ..Default::default()
        }
    }

    #[test]
    fn holds_become_spans_and_one_still_held_runs_to_now() {
        let events = [
            event(Kind::Unlocked, 150, "early"),
            event(Kind::Locked, 200, "alice"),
            event(Kind::Unlocked, 300, "alice"),
            event(Kind::Locked, 400, "bob"),
        ];
        let got: Vec<(u64, u64)> = spans(&events, 100, 500)
            .iter()
            .map(|s| (s.from, s.to))
            .collect();
        assert_eq!(got, [(100, 150), (200, 300), (400, 500)]);
        assert_eq!(
            spans(&events, 100, 500)[1].label,
            format!("alice ({})", road("oidc:x"))
        );
    }
}
