//! JSON views of env state for the CI API, with RFC 3339 times.

use std::time::{Duration, UNIX_EPOCH};

use baton_commands::{EnvState, Hold};
use serde_json::{json, Value};

/// `2026-11-26T10:55:00Z`.
pub fn time(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// A lock or claim; `holder_id` only when the reader may see who holds it (see
/// [`Caller::sees`](super::auth::Caller::sees)).
pub fn hold(h: &Hold, show_id: bool) -> Value {
    let mut view = json!({
        "holder": h.display,
        "reason": h.reason,
        "since": time(h.since),
        "expires_at": time(h.expires),
        "fence": h.fence,
    });
    if show_id {
        view["holder_id"] = json!(h.holder);
    }
    view
}

/// One env: lock, claim, freeze, queue, last deploy; no holder ids.
pub fn env(s: &EnvState) -> Value {
    env_as(s, |_| false)
}

/// One env as a reader sees it: `show_id` says whose holder ids it may see.
pub fn env_as(s: &EnvState, show_id: impl Fn(&Hold) -> bool) -> Value {
    let hold = |h: &Hold| hold(h, show_id(h));
    json!({
        "env": s.env,
        "lock": s.lock.as_ref().map(hold),
        "claim": s.claim.as_ref().map(hold),
        "freeze": s.freeze.as_ref().map(|f| json!({
            "by": f.display,
            "window": f.window,
            "reason": f.reason,
            "since": time(f.since),
            "until": (f.until > 0).then(|| time(f.until)),
        })),
        "next_window": s.next_window.as_ref().map(|w| json!({
            "name": w.name,
            "reason": w.reason,
            "starts": time(w.starts),
            "ends": time(w.ends),
            "zone": w.zone,
        })),
        "queue": s.queue.iter().map(|w| json!({"holder": w.display, "reason": w.reason, "since": time(w.at)})).collect::<Vec<_>>(),
        "queued": s.queued.max(s.queue.len()),
        "last_deploy": s.deploy.as_ref().map(|d| json!({
            "sha": d.sha,
            "version": d.version,
            "url": d.url,
            "by": d.display,
            "at": time(d.at),
        })),
    })
}
