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
//! The first paint is rendered here from the same public view the page's script re-renders from,
//! so the HTML never shows more than `envs.json` does. Text from users is escaped here and set
//! with `textContent` in the script; a Content-Security-Policy that admits only the page's own
//! inline script and style (by hash) is the second line of defence.

use std::convert::Infallible;
use std::fmt::Write as _;
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

/// Every env's public view, the pools, and Redis' clock (for the page's countdowns).
async fn public_view(baton: &Baton) -> Result<Value, BatonError> {
    let catalog = baton.catalog();
    let (states, now) = baton.env_views(catalog.envs().iter().collect()).await?;
    Ok(view(catalog, &states, now))
}

fn view(catalog: &Catalog, states: &[EnvState], now: u64) -> Value {
    let pools: Vec<Value> = catalog
        .pools()
        .iter()
        .map(|p| json!({"name": p.name, "members": p.members}))
        .collect();
    let millis = humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(now));
    json!({
        "now": millis.to_string(),
        "envs": states.iter().map(public_env).collect::<Vec<_>>(),
        "pools": pools,
    })
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
    let (status, now, summary, main) = match public_view(&baton).await {
        Ok(view) => {
            let now = ms(&view["now"]).unwrap_or_default();
            (StatusCode::OK, now, summary(&view), render(&view, now))
        }
        Err(e) => {
            let (status, _, sentence) = unavailable(&e);
            let mut sentence = sentence.to_string();
            sentence[..1].make_ascii_uppercase();
            let message = format!("<p class=\"error\">{sentence}. This page keeps trying.</p>");
            (status, 0, String::new(), message)
        }
    };
    let now = match now {
        0 => String::new(),
        n => humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(n)).to_string(),
    };
    // `main` holds user text, so it goes in last: nothing after it is searched for a marker.
    let html = TEMPLATE
        .replacen("{{now}}", &now, 1)
        .replacen("{{summary}}", &summary, 1)
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

/// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes.
fn escape(text: &str) -> String {
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

fn ms(value: &Value) -> Option<u64> {
    let at = humantime::parse_rfc3339(value.as_str()?).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64)
}

fn busy(env: &Value) -> bool {
    !env["lock"].is_null() || !env["claim"].is_null()
}

fn summary(view: &Value) -> String {
    let envs = view["envs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let in_use = envs.iter().filter(|e| busy(e)).count();
    let frozen = envs.iter().filter(|e| !e["freeze"].is_null()).count();
    let mut out = format!("{in_use} of {} in use", envs.len());
    if frozen > 0 {
        let _ = write!(out, " · {frozen} frozen");
    }
    out
}

/// The same markup the script's `render` builds; keep the two in step.
fn render(view: &Value, now: u64) -> String {
    let envs = view["envs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let pools = view["pools"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let members = |p: &Value| -> Vec<String> {
        p["members"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let pooled: Vec<String> = pools.iter().flat_map(members).collect();
    let mut out = String::new();
    let alone: Vec<&Value> = envs
        .iter()
        .filter(|e| !pooled.iter().any(|p| p == text(e, "env")))
        .collect();
    if !alone.is_empty() {
        section(&mut out, "Environments", "", &alone, now);
    }
    for pool in pools {
        let members: Vec<&Value> = members(pool)
            .iter()
            .filter_map(|m| envs.iter().find(|e| text(e, "env") == m))
            .collect();
        let in_use = members.iter().filter(|e| busy(e)).count();
        let title = format!("Pool {}", text(pool, "name"));
        let count = format!("{in_use} of {} in use", members.len());
        section(&mut out, &title, &count, &members, now);
    }
    out
}

fn section(out: &mut String, title: &str, count: &str, envs: &[&Value], now: u64) {
    let _ = write!(out, "<section><h2>{}", escape(title));
    if !count.is_empty() {
        let _ = write!(out, "<span class=\"count\"> · {}</span>", escape(count));
    }
    out.push_str("</h2><div class=\"grid\">");
    for env in envs {
        card(out, env, now);
    }
    out.push_str("</div></section>");
}

fn card(out: &mut String, e: &Value, now: u64) {
    let (lock, claim, freeze) = (&e["lock"], &e["claim"], &e["freeze"]);
    let state = match () {
        _ if !lock.is_null() => "locked",
        _ if !claim.is_null() => "claimed",
        _ if !freeze.is_null() => "frozen",
        _ => "free",
    };
    let _ = write!(
        out,
        "<article class=\"env {state}\"><div class=\"top\"><span class=\"name\">{}</span>",
        escape(text(e, "env"))
    );
    for (value, class, label) in [
        (freeze, "frozen", "FROZEN"),
        (lock, "locked", "LOCKED"),
        (claim, "claimed", "CLAIMED"),
    ] {
        if !value.is_null() {
            let _ = write!(out, "<span class=\"badge {class}\">{label}</span>");
        }
    }
    if state == "free" {
        out.push_str("<span class=\"badge\">FREE</span>");
    }
    out.push_str("</div>");
    for (h, label) in [(lock, "Locked by"), (claim, "Claimed by")] {
        if !h.is_null() {
            let (who, reason) = (text(h, "holder"), text(h, "reason"));
            hold(out, "hold", label, who, reason, &h["expires_at"], now);
        }
    }
    if lock.is_null() && claim.is_null() {
        out.push_str("<div class=\"vacant\">Free</div>");
    }
    if !freeze.is_null() {
        let (who, reason) = (text(freeze, "by"), text(freeze, "reason"));
        hold(
            out,
            "hold freeze",
            "Frozen by",
            who,
            reason,
            &freeze["until"],
            now,
        );
    }
    queue(out, &e["queue"], e["queued"].as_u64().unwrap_or(0));
    next_window(out, &e["next_window"]);
    last_deploy(out, &e["last_deploy"], now);
    out.push_str("</article>");
}

/// The calendar's next freeze window on the env: its name, when it starts (UTC, and the zone it
/// is configured in), and why.
fn next_window(out: &mut String, w: &Value) {
    if w.is_null() {
        return;
    }
    let starts = text(w, "starts");
    let _ = write!(
        out,
        "<div class=\"next\">Next freeze <b>{}</b> · <time datetime=\"{}\">{}</time> ({})",
        escape(text(w, "name")),
        escape(starts),
        escape(&starts.replace('T', " ").replace(":00Z", " UTC")),
        escape(text(w, "zone"))
    );
    if !text(w, "reason").is_empty() {
        let _ = write!(
            out,
            "<span class=\"why\"> · {}</span>",
            escape(text(w, "reason"))
        );
    }
    out.push_str("</div>");
}

/// The env's line of waiters, first first (the first page of it: `queued` says how many wait).
fn queue(out: &mut String, queue: &Value, queued: u64) {
    if let Some(queue) = queue.as_array().filter(|q| !q.is_empty()) {
        let queued = queued.max(queue.len() as u64);
        let _ = write!(out, "<div class=\"queue\">Queue ({queued})<ol>");
        for w in queue {
            let _ = write!(out, "<li>{}", escape(text(w, "holder")));
            if !text(w, "reason").is_empty() {
                let why = escape(text(w, "reason"));
                let _ = write!(out, "<span class=\"why\"> · {why}</span>");
            }
            out.push_str("</li>");
        }
        out.push_str("</ol>");
        if queued > queue.len() as u64 {
            let _ = write!(
                out,
                "<p class=\"why\">and {} more</p>",
                queued - queue.len() as u64
            );
        }
        out.push_str("</div>");
    }
}

/// The last deploy recorded on the env: what, by whom, how long ago.
fn last_deploy(out: &mut String, deploy: &Value, now: u64) {
    if !deploy.is_null() {
        let (version, sha) = (text(deploy, "version"), text(deploy, "sha"));
        let what = if version.is_empty() { sha } else { version };
        let _ = write!(
            out,
            "<div class=\"deploy\">Last deploy <b>{}</b>",
            escape(what)
        );
        if !version.is_empty() && !sha.is_empty() {
            let short: String = sha.chars().take(12).collect();
            let _ = write!(out, " ({})", escape(&short));
        }
        if !text(deploy, "by").is_empty() {
            let _ = write!(out, " by {}", escape(text(deploy, "by")));
        }
        if let Some(at) = ms(&deploy["at"]) {
            let _ = write!(
                out,
                " · <span data-since=\"{}\">{}</span>",
                escape(text(deploy, "at")),
                ago(now.saturating_sub(at))
            );
        }
        out.push_str("</div>");
    }
}

/// A lock, claim or freeze: who, until when (a countdown; a freeze may have no end), and why.
fn hold(
    out: &mut String,
    class: &str,
    label: &str,
    who: &str,
    reason: &str,
    until: &Value,
    now: u64,
) {
    let _ = write!(
        out,
        "<div class=\"{class}\"><div class=\"label\">{label}</div><div class=\"who\">\
         <span class=\"holder\">{}</span>",
        escape(who)
    );
    match (until.as_str(), ms(until)) {
        (Some(at), Some(at_ms)) => {
            let left_ms = at_ms.saturating_sub(now);
            let soon = if left_ms < 300_000 { " soon" } else { "" };
            let _ = write!(
                out,
                "<span class=\"left{soon}\" data-until=\"{}\">{}</span>",
                escape(at),
                left(left_ms)
            );
        }
        _ => out.push_str("<span class=\"left\">until unfrozen</span>"),
    }
    out.push_str("</div>");
    if !reason.is_empty() {
        let _ = write!(out, "<div class=\"reason\">{}</div>", escape(reason));
    }
    out.push_str("</div>");
}

/// `12m 03s left`, `2h 05m left`, `3d 4h left`: the script's `left`, for the first paint.
fn left(ms: u64) -> String {
    if ms == 0 {
        return "expiring".into();
    }
    let s = ms.div_ceil(1000);
    match s {
        0..3600 => format!("{}m {:02}s left", s / 60, s % 60),
        3600..86400 => format!("{}h {:02}m left", s / 3600, s / 60 % 60),
        _ => format!("{}d {}h left", s / 86400, s / 3600 % 24),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdowns_read_like_the_scripts() {
        for (ms, want) in [
            (0, "expiring"),
            (1, "0m 01s left"),
            (61_000, "1m 01s left"),
            (3_600_000, "1h 00m left"),
            (7_500_000, "2h 05m left"),
            (90_000_000, "1d 1h left"),
        ] {
            assert_eq!(left(ms), want, "{ms} ms");
        }
        assert_eq!(ago(59_999), "just now");
        assert_eq!(ago(120_000), "2m ago");
        assert_eq!(ago(7_200_000), "2h ago");
    }

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(
            escape(r#"<script>alert("x") & 'y'</script>"#),
            "&lt;script&gt;alert(&quot;x&quot;) &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn the_template_has_each_marker_once_and_none_in_its_script() {
        for marker in ["{{now}}", "{{summary}}", "{{main}}"] {
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
