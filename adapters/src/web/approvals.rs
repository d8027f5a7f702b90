//! Pending requests of the two-person rule, as the console shows them: who asks, why, how many
//! approvals they have of how many, until when; with Approve and Reject for those the core
//! allows ([`Baton::may`]) and Withdraw for the requester. They are read from the env's recent
//! typed events (as the timeline is), never from the store's own records: a request is pending
//! from its `ApprovalRequested` until an `Approved` that completed it, an `ApprovalRejected` or a
//! `Locked` names the same request, or its deadline passes.

use baton_commands::reply::clock_in;
use baton_commands::store::audit::{Event, Kind};
use baton_commands::{Baton, EnvState};
use chrono_tz::Tz;
use futures_util::future::join_all;

use super::console::may;
use super::html::escape;
use super::session::Viewer;

/// Events read per env to find its pending requests: a request lives at most the env's
/// `approval_timeout`, so only a very busy env could push one out of this many.
const EVENTS: usize = 200;

/// One request waiting for approvals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its id (typed after `#`).
    pub id: String,
    /// The requester's identity.
    pub holder: String,
    /// How to show the requester.
    pub display: String,
    /// Why they want the lock.
    pub reason: String,
    /// Approvals so far.
    pub have: u64,
    /// Approvals needed.
    pub needed: u64,
    /// When it is rejected unless approved (ms).
    pub until: u64,
    /// Who approved it so far (identities).
    pub approvers: Vec<String>,
}

/// The requests still pending at `now`, oldest first, from an env's events newest first.
pub fn pending(events: &[Event], now: u64) -> Vec<Pending> {
    let mut out: Vec<Pending> = Vec::new();
    for e in events.iter().rev().filter(|e| !e.request.is_empty()) {
        let at = out.iter().position(|p| p.id == e.request);
        match (e.kind, at) {
            (Kind::ApprovalRequested, None) => out.push(Pending {
                id: e.request.clone(),
                holder: e.holder.clone(),
                display: e.display.clone(),
                reason: e.reason.clone(),
                have: 0,
                needed: e.needed,
                until: e.until,
                approvers: Vec::new(),
            }),
            (Kind::Approved, Some(i)) if e.have < e.needed => {
                let p = &mut out[i];
                p.have = e.have;
                p.approvers.push(e.actor.clone());
            }
            (Kind::Approved | Kind::ApprovalRejected | Kind::Locked, Some(i)) => {
                out.remove(i);
            }
            _ => {}
        }
    }
    out.retain(|p| p.until > now);
    out
}

/// The pending requests of each of `states` (in the same order); an env that needs no approval
/// has none, and one whose events cannot be read is `None`.
pub async fn of_envs(baton: &Baton, states: &[EnvState], now: u64) -> Vec<Option<Vec<Pending>>> {
    let reads = states.iter().map(|s| async move {
        let settings = baton
            .catalog()
            .envs()
            .iter()
            .find(|e| e.name.as_str() == s.env)?;
        if settings.approvals == 0 {
            return Some(Vec::new());
        }
        match baton.env_events(&settings.name, EVENTS).await {
            Ok(events) => Some(pending(&events, now)),
            Err(e) => {
                tracing::warn!(env = %s.env, error = %e, "web console: an env's pending requests cannot be read");
                None
            }
        }
    });
    join_all(reads).await
}

/// One form about request `id` on `env`: `reason` adds the reason field.
fn form(csrf: &str, action: &str, env: &str, id: &str, label: &str, reason: bool) -> String {
    let reason = if reason {
        r#"<input type="text" name="reason" placeholder="reason" class="reason" aria-label="reason">"#
    } else {
        ""
    };
    format!(
        r#"<form method="post" action="/console/act" class="act" data-action="{action}"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="action" value="{action}"><input type="hidden" name="env" value="{}"><input type="hidden" name="target" value="{}">{reason}<button type="submit">{label}</button></form>"#,
        escape(csrf),
        escape(env),
        escape(id),
    )
}

/// The requests waiting on `env`, each with what this person may do about it: Withdraw for
/// their own, Approve (unless they already did) and Reject for others' when the core allows it.
pub fn block(baton: &Baton, viewer: &Viewer, env: &str, requests: &[Pending], zone: Tz) -> String {
    let (me, csrf) = (&viewer.actor, viewer.session.csrf.as_str());
    let mut out = String::new();
    for p in requests {
        let id = p.id.as_str();
        let reason = match p.reason.as_str() {
            "" => String::new(),
            r => format!(": {}", escape(r)),
        };
        let mut forms = String::new();
        if p.holder == me.id {
            if may(baton, me, &format!("reject {env} #{id}")) {
                forms += &form(csrf, "withdraw", env, id, "Withdraw", false);
            }
        } else {
            if p.approvers.contains(&me.id) {
                forms += r#"<span class="muted">you approved</span> "#;
            } else if may(baton, me, &format!("approve {env} #{id}")) {
                forms += &form(csrf, "approve", env, id, "Approve", false);
            }
            if may(baton, me, &format!("reject {env} #{id}")) {
                forms += &form(csrf, "reject", env, id, "Reject", true);
            }
        }
        out += &format!(
            r#"<div class="request" id="request-{id}"><span>{who} asks to lock{reason} · {have} of {needed} approvals · until {until}</span> {forms}</div>"#,
            id = escape(id),
            who = escape(&p.display),
            have = p.have,
            needed = p.needed,
            until = clock_in(p.until, zone),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind, request: &str, at: u64) -> Event {
        Event {
            kind,
            at,
            request: request.into(),
            holder: "oidc:alice".into(),
            display: "Alice".into(),
            needed: 2,
            until: 1_000,
            ..Default::default()
        }
    }

    fn approved(request: &str, by: &str, have: u64) -> Event {
        Event {
            actor: by.into(),
            have,
            ..event(Kind::Approved, request, 0)
        }
    }

    #[test]
    fn a_request_is_pending_until_it_is_decided_or_its_deadline_passes() {
        // Newest first, as the store reads them.
        let cases: [(&str, Vec<Event>, u64, &[&str]); 6] = [
            (
                "asked",
                vec![event(Kind::ApprovalRequested, "a", 1)],
                10,
                &["a"],
            ),
            (
                "one approval of two",
                vec![
                    approved("a", "oidc:bob", 1),
                    event(Kind::ApprovalRequested, "a", 1),
                ],
                10,
                &["a"],
            ),
            (
                "the last approval",
                vec![
                    approved("a", "oidc:carol", 2),
                    approved("a", "oidc:bob", 1),
                    event(Kind::ApprovalRequested, "a", 1),
                ],
                10,
                &[],
            ),
            (
                "rejected, and another asked since",
                vec![
                    event(Kind::ApprovalRequested, "b", 3),
                    event(Kind::ApprovalRejected, "a", 2),
                    event(Kind::ApprovalRequested, "a", 1),
                ],
                10,
                &["b"],
            ),
            (
                "granted (a poll that came back)",
                vec![
                    event(Kind::Locked, "a", 2),
                    event(Kind::ApprovalRequested, "a", 1),
                ],
                10,
                &[],
            ),
            (
                "past its deadline, not yet swept",
                vec![event(Kind::ApprovalRequested, "a", 1)],
                1_000,
                &[],
            ),
        ];
        for (what, events, now, expected) in cases {
            let ids: Vec<String> = pending(&events, now).into_iter().map(|p| p.id).collect();
            assert_eq!(ids, expected, "{what}");
        }
        let events = [
            approved("a", "oidc:bob", 1),
            event(Kind::ApprovalRequested, "a", 1),
        ];
        let p = &pending(&events, 10)[0];
        assert_eq!((p.have, p.needed), (1, 2));
        assert_eq!(p.approvers, ["oidc:bob"]);
    }
}
