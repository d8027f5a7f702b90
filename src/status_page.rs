//! `GET /`: the live status page for a wall screen, and the two feeds it reads.
//!
//! Browsers cannot send a bearer token with `EventSource`, so the page does not read the CI API:
//! it reads `GET /status/events` (one server-sent event per state change, naming only its kind and
//! env) and `GET /status/envs.json` (the CI API's env views cut down to an allow-list: display
//! names, reasons, times, queues, freezes and last deploys; no platform identities, fences, links
//! or tokens). All three are public and read-only; `[server] status_page = false` removes them.
//! The event stream never ends on its own, so it counts against `[server] max_event_streams` and
//! `max_event_streams_per_address` (`budget.rs`); when the view cannot be read, the public hears
//! only that the state store is unavailable, never why.
//!
//! The page is a wall screen: every env a card in one grid (30 fit 1920×1080), one state word
//! each, a strip of the next 24 hours, times in the team's zone (`render.rs`). The first paint is
//! rendered here from the same public view the page's script re-renders from, so the HTML never
//! shows more than `envs.json` does, and a reader without JavaScript still sees it all. Text from users is escaped here and set
//! with `textContent` in the script; a Content-Security-Policy that admits only the page's own
//! inline script and style (by hash) is the second line of defence.

mod render;

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use baton_adapters::ci::{views, ApiError};
use baton_commands::BusMessage;
use baton_commands::Catalog;
use baton_commands::EnvState;
use baton_commands::{Baton, BatonError};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;

use render::{escape, ms, render, summary, Ctx};

const TEMPLATE: &str = include_str!("status_page.html");

/// The page and its feeds over `baton`, or no routes at all when `[server] status_page = false`
/// (`enabled`).
pub fn routes(baton: &Baton, enabled: bool) -> Router {
    if !enabled {
        return Router::new();
    }
    Router::new()
        .route("/", get(page))
        .route("/status/envs.json", get(envs_json))
        .route("/status/events", get(events))
        .with_state(baton.clone())
}

/// Every env's public view, the pools, Redis' clock (for the page's countdowns) and the zone the
/// page shows times in (`[defaults] timezone`, else UTC).
async fn public_view(baton: &Baton) -> Result<Value, BatonError> {
    let catalog = baton.catalog();
    let (states, now) = baton.env_views(catalog.envs().iter().collect()).await?;
    let windows = windows_ahead(baton, &states, now);
    Ok(view(catalog, &states, &windows, now, baton.zone().name()))
}

fn view(
    catalog: &Catalog,
    states: &[EnvState],
    windows: &[Vec<Value>],
    now: u64,
    zone: &str,
) -> Value {
    let pools: Vec<Value> = catalog
        .pools()
        .iter()
        .map(|p| json!({"name": p.name, "members": p.members}))
        .collect();
    let envs: Vec<Value> = states
        .iter()
        .zip(windows)
        .map(|(s, w)| {
            let mut env = public_env(s);
            env["windows"] = json!(w);
            env
        })
        .collect();
    let millis = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now));
    json!({
        "now": millis.to_string(),
        "zone": zone,
        "envs": envs,
        "pools": pools,
    })
}

/// Per env, the calendar's windows that start within the next 24 hours (the page's strip) and
/// are not skipped on it, in start order; the one on now is already the env's freeze.
fn windows_ahead(baton: &Baton, states: &[EnvState], now: u64) -> Vec<Vec<Value>> {
    let from = chrono::DateTime::from_timestamp_millis(now as i64).unwrap_or_default();
    let until = from + chrono::TimeDelta::days(1);
    let calendar: Vec<_> = baton
        .store()
        .calendar()
        .windows()
        .iter()
        .map(|w| (w, w.occurrences(from, until)))
        .collect();
    states
        .iter()
        .map(|s| {
            let mut ahead = Vec::new();
            for (w, occurrences) in calendar.iter().filter(|(w, _)| w.covers_env(&s.env)) {
                for o in occurrences.iter().filter(|o| o.start > from) {
                    if !s.skipped(&w.name, o.start_ms()) {
                        ahead.push((o.start, w, *o));
                    }
                }
            }
            ahead.sort_by_key(|(start, _, _)| *start);
            ahead
                .into_iter()
                .map(|(_, w, o)| {
                    json!({
                        "name": w.name,
                        "reason": w.reason,
                        "starts": views::time(o.start_ms()),
                        "ends": views::time(o.end_ms()),
                    })
                })
                .collect()
        })
        .collect()
}

/// The CI API's view of one env, through an allow-list: a field added to that view later stays
/// off this public one until someone decides it belongs here.
fn public_env(state: &EnvState) -> Value {
    let full = views::env(state);
    let hold = ["holder", "reason", "since", "expires_at"];
    let queue: Vec<Value> = full["queue"]
        .as_array()
        .map(|q| {
            q.iter()
                .map(|w| pick(w, &["holder", "reason", "since"]))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "env": full["env"],
        "lock": pick(&full["lock"], &hold),
        "claim": pick(&full["claim"], &hold),
        "freeze": pick(&full["freeze"], &["by", "window", "reason", "since", "until"]),
        "next_window": pick(&full["next_window"], &["name", "reason", "starts", "ends", "zone"]),
        "queue": queue,
        "queued": full["queued"],
        "last_deploy": pick(&full["last_deploy"], &["sha", "version", "by", "at"]),
    })
}

fn pick(value: &Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(fields) => keys
            .iter()
            .filter_map(|&k| fields.get(k).map(|v| (k.to_string(), v.clone())))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => Value::Null,
    }
}

async fn envs_json(State(baton): State<Baton>) -> Response {
    match public_view(&baton).await {
        Ok(view) => ([(header::CACHE_CONTROL, "no-store")], Json(view)).into_response(),
        Err(e) => {
            let (status, code, sentence) = unavailable(&e);
            ApiError::new(status.as_u16(), code, sentence.into()).into_response()
        }
    }
}

/// What the public hears when the view cannot be read: that it cannot, never why. The cause
/// (which names Baton's Redis settings) is for whoever runs Baton: it goes to the log here, and
/// `/readyz` and the authenticated API say it too.
fn unavailable(e: &BatonError) -> (StatusCode, &'static str, &'static str) {
    tracing::warn!(error = %e, "status page: state unavailable");
    match e {
        BatonError::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong inside Baton",
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the state store is unavailable",
        ),
    }
}

/// One unnamed message per state change, `{"kind","env"}` only: the page re-reads `envs.json`
/// rather than trusting the event, so nothing more needs to leave. `resync` after missed events.
async fn events(State(baton): State<Baton>) -> impl IntoResponse {
    Sse::new(event_stream(&baton)).keep_alive(KeepAlive::default())
}

fn event_stream(baton: &Baton) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let rx = baton.events().subscribe();
    stream::unfold(rx, |mut rx| async move {
        let data = match rx.recv().await {
            Ok(BusMessage::Event(e)) => json!({"kind": e.kind, "env": e.env}),
            Ok(BusMessage::Resync) | Err(RecvError::Lagged(_)) => json!({"kind": "resync"}),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(SseEvent::default().data(data.to_string())), rx))
    })
}

async fn page(State(baton): State<Baton>) -> Response {
    let zone = baton.zone();
    let (status, now, summary, main) = match public_view(&baton).await {
        Ok(view) => {
            let now = ms(&view["now"]).unwrap_or_default();
            let ctx = Ctx { now, zone: &zone };
            (StatusCode::OK, now, summary(&view), render(&view, &ctx))
        }
        Err(e) => {
            let (status, _, sentence) = unavailable(&e);
            let mut sentence = sentence.to_string();
            sentence[..1].make_ascii_uppercase();
            let message = format!("<p class=\"error\">{sentence}. This page keeps trying.</p>");
            (status, 0, String::new(), message)
        }
    };
    let (now, clock) = match now {
        0 => (String::new(), String::new()),
        n => (
            humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(n)).to_string(),
            Ctx {
                now: n,
                zone: &zone,
            }
            .clock(n),
        ),
    };
    // `main` holds user text, so it goes in last: nothing after it is searched for a marker.
    let html = TEMPLATE
        .replacen("{{now}}", &now, 1)
        .replacen("{{zone}}", &escape(zone.name()), 1)
        .replacen("{{clock}}", &clock, 1)
        .replacen("{{summary}}", &escape(&summary), 1)
        .replacen("{{main}}", &main, 1);
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::CONTENT_SECURITY_POLICY, csp()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ];
    (status, headers, html).into_response()
}

/// Only the template's own `<script>` and `<style>` run; no other origin is ever contacted.
/// Framing stays allowed: dashboards rotate pages in iframes, and this page has nothing to click.
fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = |tag: &str| {
            let body = TEMPLATE
                .split_once(&format!("<{tag}>"))
                .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
                .map_or("", |(body, _)| body);
            let digest = Sha256::digest(body.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        };
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; img-src data:; \
             base-uri 'none'; form-action 'none'",
            hash("script"),
            hash("style")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_has_each_marker_once_and_none_in_its_script() {
        for marker in [
            "{{now}}",
            "{{zone}}",
            "{{clock}}",
            "{{summary}}",
            "{{main}}",
        ] {
            assert_eq!(TEMPLATE.matches(marker).count(), 1, "{marker}");
        }
        let script = TEMPLATE.split_once("<script>").unwrap().1;
        assert!(
            !script.contains("{{"),
            "the script must hash the same every time"
        );
        assert!(csp().contains("script-src 'sha256-"), "{}", csp());
    }
}
