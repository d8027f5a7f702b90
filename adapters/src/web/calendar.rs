//! `GET /console/calendar`: the freeze calendar for the next two weeks, one bar per day in the
//! reader's zone (`?tz=`, else the team's): each scheduled window's occurrences (skipped ones
//! left out, as the scripts leave them out) and the freezes on now, with admins offered
//! `freeze skip` for each window.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use baton_commands::reply::clock_in;
use chrono::{Duration as Days, NaiveTime, TimeZone, Utc};

use super::console::{may, zone_form, ZoneQuery};
use super::html::{self, escape};
use super::session::Viewer;
use super::Web;

/// Days shown.
const DAYS: i64 = 14;

/// `GET /console/calendar`.
pub async fn page(State(web): State<Web>, viewer: Viewer, Query(q): Query<ZoneQuery>) -> Response {
    let baton = web.baton();
    let zone = q.zone(baton);
    let (states, now) = match baton
        .env_views(baton.catalog().envs().iter().collect())
        .await
    {
        Ok(v) => v,
        Err(e) => {
            return html::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The calendar cannot be read",
                &e.to_string(),
            )
        }
    };
    let today = zone
        .timestamp_millis_opt(now as i64)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default();
    let start_of = |d| {
        zone.from_local_datetime(&chrono::NaiveDate::and_time(&d, NaiveTime::MIN))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let (Some(from), Some(until)) = (start_of(today), start_of(today + Days::days(DAYS))) else {
        return html::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The calendar cannot be drawn",
            "The zone's days could not be worked out.",
        );
    };
    // (start ms, end ms, label): every occurrence on some env, not skipped on all of them.
    let mut spans: Vec<(u64, u64, String)> = Vec::new();
    let mut listed = String::new();
    for w in baton.store().calendar().windows() {
        let envs: Vec<&str> = states
            .iter()
            .map(|s| s.env.as_str())
            .filter(|e| w.covers_env(e))
            .collect();
        for o in w.occurrences(from, until) {
            let on: Vec<&str> = envs
                .iter()
                .copied()
                .filter(|e| {
                    states
                        .iter()
                        .any(|s| s.env == *e && !s.skipped(&w.name, o.start_ms()))
                })
                .collect();
            if on.is_empty() {
                continue;
            }
            let label = format!("{}: {}", w.name, on.join(", "));
            listed += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&w.name),
                clock_in(o.start_ms(), zone),
                clock_in(o.end_ms(), zone),
                escape(&on.join(", ")),
                escape(&w.reason)
            );
            spans.push((o.start_ms(), o.end_ms(), label));
        }
    }
    for s in &states {
        if let Some(f) = s.freeze.as_ref().filter(|f| f.window.is_none()) {
            let end = if f.until == 0 {
                until.timestamp_millis() as u64
            } else {
                f.until
            };
            spans.push((f.since, end, format!("{} frozen by {}", s.env, f.display)));
        }
    }
    let rows: String = (0..DAYS)
        .filter_map(|i| {
            let day = today + Days::days(i);
            let start = start_of(day)?.timestamp_millis() as u64;
            let end = start_of(day + Days::days(1))?.timestamp_millis() as u64;
            let length = end.saturating_sub(start).max(1) as f64;
            let pct = |ms: u64| ms.max(start).min(end).saturating_sub(start) as f64 * 100.0 / length;
            let rects: String = spans
                .iter()
                .filter(|(a, b, _)| *b > start && *a < end)
                .map(|(a, b, label)| format!(r#"<rect class="freeze" x="{:.2}%" y="0" width="{:.2}%" height="22"><title>{}</title></rect>"#, pct(*a), (pct(*b) - pct(*a)).max(0.3), escape(label)))
                .collect();
            Some(format!(r#"<div class="day"><span>{}</span><svg class="timeline" role="img" aria-label="freezes">{rects}</svg></div>"#, day.format("%a %Y-%m-%d")))
        })
        .collect();
    let skips: String = baton
        .store()
        .calendar()
        .windows()
        .iter()
        .filter(|w| may(baton, &viewer.actor, &format!("freeze skip {}", w.name)))
        .map(|w| {
            format!(r#"<form method="post" action="/console/act" class="act"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="action" value="freeze-skip"><input type="hidden" name="target" value="{name}"><input type="text" name="reason" class="reason" placeholder="reason"><button type="submit">Skip the next `{name}`</button></form>"#,
                escape(&viewer.session.csrf), name = escape(&w.name))
        })
        .collect();
    let body = format!(
        r#"{zone_form}<p class="muted">Blue: frozen. Times in {zone}.</p>{rows}<h2>Windows</h2><table id="windows"><tr><th>Window</th><th>Starts</th><th>Ends</th><th>Envs</th><th>Reason</th></tr>{listed}</table>{skips}"#,
        zone_form = zone_form("/console/calendar", zone),
        zone = escape(zone.name()),
    );
    html::page(
        StatusCode::OK,
        "Freeze calendar: the next two weeks",
        Some(&viewer.header()),
        &body,
    )
}
