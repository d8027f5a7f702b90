//! `GET /console`: every env with its holder, reason, time left, queue, freeze and next window,
//! every pool, and the actions the signed-in person may take on each. An action is offered when
//! the core's own privilege check ([`Baton::may`]) lets this person run its command and the
//! env's state makes sense of it (an unlock for the holder, a leave for someone in line). On an
//! env that needs approvals its pending requests are shown with their forms (see `approvals`).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use baton_commands::command::Privilege;
use baton_commands::domain::human_duration;
use baton_commands::reply::clock_in;
use baton_commands::{Actor, Baton, EnvState};
use chrono_tz::Tz;
use serde::Deserialize;

use super::approvals::{self, Pending};
use super::html::{self, escape};
use super::session::Viewer;
use super::Web;

/// The reader's zone, from `?tz=` (an IANA name), else the team's.
#[derive(Deserialize, Default)]
pub struct ZoneQuery {
    #[serde(default)]
    pub tz: Option<String>,
}

impl ZoneQuery {
    /// The zone asked for, else the team's (`[defaults] timezone`).
    pub fn zone(&self, baton: &Baton) -> Tz {
        self.tz
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
            .unwrap_or_else(|| baton.zone())
    }
}

/// The form that changes the reader's zone, keeping them on `path`.
pub fn zone_form(path: &str, zone: Tz) -> String {
    format!(
        r#"<form method="get" action="{path}" class="act"><label>Times in <input type="text" name="tz" value="{z}" class="reason"></label><button type="submit">Show</button></form>"#,
        path = escape(path),
        z = escape(zone.name())
    )
}

/// Why this person can act on little or nothing, said once at the top.
fn notices(web: &Web, viewer: &Viewer) -> String {
    let mut out = String::new();
    if viewer.actor.groups.is_empty() {
        out.push_str(&format!(
            r#"<p class="notice warn" id="no-groups">Your identity provider sent no groups for you (the <code>{claim}</code> claim was empty or missing, in the ID token and at userinfo), so Baton knows you only as <code>{id}</code>. Actions that need a role are not offered. Ask your identity provider's admin to send the <code>{claim}</code> claim to Baton, or a Baton admin to add <code>{id}</code> to <code>[roles]</code>.</p>"#,
            claim = escape(&web.settings().groups_claim),
            id = escape(&viewer.actor.id),
        ));
    }
    if viewer.role == Privilege::Anyone {
        out.push_str(r#"<p class="notice" id="no-role">You have no Baton role: protected envs, freezes and forcing are not offered to you. <code>[roles]</code> maps identities and <code>oidc-group:&lt;name&gt;</code> groups to roles.</p>"#);
    }
    out
}

/// Whether `actor` may run `text` by the core's own privilege check.
pub fn may(baton: &Baton, actor: &Actor, text: &str) -> bool {
    baton_commands::grammar::parse(text).is_ok_and(|c| baton.may(actor, &c))
}

/// One action's form: `fields` are the visible inputs (`duration`, `reason`).
pub fn action(csrf: &str, action: &str, target: &str, label: &str, fields: &[&str]) -> String {
    let mut inputs = String::new();
    for f in fields {
        let (class, hint) = match *f {
            "duration" => ("", "30m"),
            "reason" => ("reason", "reason"),
            _ => ("", ""),
        };
        inputs.push_str(&format!(r#"<input type="text" name="{f}" placeholder="{hint}" class="{class}" aria-label="{f}">"#));
    }
    format!(
        r#"<form method="post" action="/console/act" class="act" data-action="{action}"><input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="action" value="{action}"><input type="hidden" name="env" value="{target}">{inputs}<button type="submit">{label}</button></form>"#,
        csrf = escape(csrf),
        action = escape(action),
        target = escape(target),
        label = escape(label),
    )
}

/// An admin's answer to a GitHub run waiting on `env`.
fn github(csrf: &str, action: &str, env: &str, run: &str, label: &str) -> String {
    let reason = if action == "github-reject" {
        r#"<input type="text" name="reason" placeholder="reason" class="reason" aria-label="reason">"#
    } else {
        ""
    };
    format!(
        r#"<form method="post" action="/console/act" class="act" data-action="{action}"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="action" value="{action}"><input type="hidden" name="env" value="{}"><input type="hidden" name="target" value="{}">{reason}<button type="submit">{label} {}</button></form>"#,
        escape(csrf),
        escape(env),
        escape(run),
        escape(run)
    )
}

/// The actions offered on one env; `requests` are its pending requests (`None`: unreadable).
fn offers(
    baton: &Baton,
    viewer: &Viewer,
    s: &EnvState,
    requests: Option<&[Pending]>,
    zone: Tz,
) -> String {
    let (me, env, csrf) = (&viewer.actor, s.env.as_str(), viewer.session.csrf.as_str());
    let may = |text: String| may(baton, me, &text);
    let mut out = match requests {
        Some(r) => approvals::block(baton, viewer, env, r, zone),
        None => r#"<p class="refused">Its pending requests cannot be read now.</p>"#.to_string(),
    };
    let asked = requests.is_some_and(|r| r.iter().any(|p| p.holder == me.id));
    // A lock on an env that needs approvals is a request, unless an admin takes it.
    let needs_approval = viewer.role != Privilege::Admin
        && baton
            .catalog()
            .envs()
            .iter()
            .any(|e| e.name.as_str() == env && e.approvals > 0);
    match &s.lock {
        Some(l) if l.holder == me.id => {
            out += &action(csrf, "unlock", env, "Unlock", &[]);
            out += &action(csrf, "extend", env, "Extend", &["duration"]);
        }
        Some(_) => {
            let place = s.queue.iter().find(|w| w.holder == me.id);
            match place.map(|w| w.set.as_deref()) {
                // A set's waiter leaves all its lines together.
                Some(Some(set)) => out += &leave_set(csrf, set),
                Some(None) => out += &action(csrf, "leave", env, "Leave queue", &[]),
                None if asked => {}
                None if may(format!("queue {env}")) => {
                    out += &action(csrf, "queue", env, "Queue", &["duration", "reason"])
                }
                None => {}
            }
            if may(format!("unlock {env} --force")) {
                out += &action(csrf, "force-unlock", env, "Force unlock", &[]);
            }
        }
        None if asked => {}
        None if may(format!("lock {env}")) => {
            let label = if needs_approval {
                "Ask to lock"
            } else {
                "Lock"
            };
            out += &action(csrf, "lock", env, label, &["duration", "reason"]);
        }
        None => {}
    }
    let pooled = baton
        .catalog()
        .pools()
        .iter()
        .any(|p| p.members.iter().any(|m| m.as_str() == env));
    match &s.claim {
        Some(c) if c.holder == me.id => out += &action(csrf, "release", env, "Release", &[]),
        Some(_) if may(format!("release {env} --force")) => {
            out += &action(csrf, "force-release", env, "Force release", &[])
        }
        None if pooled && may(format!("claim {env}")) => {
            out += &action(csrf, "claim", env, "Claim", &["duration", "reason"])
        }
        _ => {}
    }
    for run in s
        .queue
        .iter()
        .filter_map(|w| w.holder.strip_prefix("github:"))
    {
        if may(format!("github approve {env} {run}")) {
            out += &github(csrf, "github-approve", env, run, "Approve");
            out += &github(csrf, "github-reject", env, run, "Reject");
        }
    }
    match &s.freeze {
        Some(f) if f.window.is_none() && may(format!("unfreeze {env}")) => {
            out += &action(csrf, "unfreeze", env, "Unfreeze", &[])
        }
        Some(_) => {}
        None if may(format!("freeze {env}")) => {
            out += &action(csrf, "freeze", env, "Freeze", &["duration", "reason"])
        }
        None => {}
    }
    out
}

/// Leaving the lines of `set` together (`leave a,b`).
fn leave_set(csrf: &str, set: &str) -> String {
    format!(
        r#"<form method="post" action="/console/act" class="act" data-action="leave-set"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="action" value="leave-set"><input type="hidden" name="target" value="{}"><button type="submit">Leave queues for {}</button></form>"#,
        escape(csrf),
        escape(set),
        escape(&set.replace(',', ", "))
    )
}

/// A waiter on `env` as the queue shows them: "alice (with prod-us)" when they wait for a set.
fn waiter(display: &str, set: Option<&str>, env: &str) -> String {
    let others: Vec<&str> = set
        .unwrap_or_default()
        .split(',')
        .filter(|e| !e.is_empty() && *e != env)
        .collect();
    match others.as_slice() {
        [] => escape(display),
        _ => format!("{} (with {})", escape(display), escape(&others.join(", "))),
    }
}

fn left(until: u64, now: u64) -> String {
    human_duration(std::time::Duration::from_millis(until.saturating_sub(now)))
}

/// One env's row.
fn row(
    baton: &Baton,
    viewer: &Viewer,
    s: &EnvState,
    requests: Option<&[Pending]>,
    now: u64,
    zone: Tz,
) -> String {
    let hold = s.lock.as_ref().or(s.claim.as_ref());
    let (state, class) = match (&s.freeze, hold) {
        (Some(_), Some(_)) => ("held, frozen", "held"),
        (Some(_), None) => ("frozen", "frozen"),
        (None, Some(_)) if s.lock.is_none() => ("claimed", "held"),
        (None, Some(_)) => ("held", "held"),
        (None, None) => ("free", "free"),
    };
    let holder = hold.map_or(String::new(), |h| escape(&h.display));
    let reason = hold.map_or(String::new(), |h| escape(&h.reason));
    let time_left = hold.map_or(String::new(), |h| left(h.expires, now));
    let queue: Vec<String> = s
        .queue
        .iter()
        .map(|w| waiter(&w.display, w.set.as_deref(), &s.env))
        .collect();
    let queue = match s.queued {
        0 => String::new(),
        n if n > queue.len() => format!("{} (+{} more)", queue.join(", "), n - queue.len()),
        _ => queue.join(", "),
    };
    let freeze = s.freeze.as_ref().map_or(String::new(), |f| {
        let until = match f.until {
            0 => "until lifted".to_string(),
            ms => format!("until {}", clock_in(ms, zone)),
        };
        format!(
            "by {} {until}{}",
            escape(&f.by_whom()),
            if f.reason.is_empty() {
                String::new()
            } else {
                format!(": {}", escape(&f.reason))
            }
        )
    });
    let next = s.next_window.as_ref().map_or(String::new(), |w| {
        format!(
            "{} from {} to {}",
            escape(&w.name),
            clock_in(w.starts, zone),
            clock_in(w.ends, zone)
        )
    });
    let env = escape(&s.env);
    format!(
        r#"<tr id="env-{env}"><td class="name" title="{env}"><a href="/console/env/{env}">{env}</a></td><td class="state {class}">{state}</td><td class="holder">{holder}</td><td>{reason}</td><td>{time_left}</td><td>{queue}</td><td>{freeze}</td><td>{next}</td><td class="actions">{}</td></tr>"#,
        offers(baton, viewer, s, requests, zone)
    )
}

/// `GET /console`.
pub async fn overview(
    State(web): State<Web>,
    viewer: Viewer,
    Query(q): Query<ZoneQuery>,
) -> Response {
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
                "The envs cannot be read",
                &e.to_string(),
            )
        }
    };
    let requests = approvals::of_envs(baton, &states, now).await;
    let rows: String = states
        .iter()
        .zip(&requests)
        .map(|(s, r)| row(baton, &viewer, s, r.as_deref(), now, zone))
        .collect();
    let csrf = viewer.session.csrf.as_str();
    let pools: String = baton
        .catalog()
        .pools()
        .iter()
        .map(|p| {
            let name = p.name.as_str();
            let claim = if may(baton, &viewer.actor, &format!("claim {name}")) {
                action(csrf, "claim", name, "Claim any", &["duration", "reason"])
            } else {
                String::new()
            };
            let members: Vec<String> = p.members.iter().map(|m| escape(m.as_str())).collect();
            format!(
                r#"<tr><td class="name">{}</td><td>{}</td><td>{claim}</td></tr>"#,
                escape(name),
                members.join(", ")
            )
        })
        .collect();
    let pools = if pools.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Pools</h2><table><tr><th>Pool</th><th>Members</th><th></th></tr>{pools}</table>"
        )
    };
    let body = format!(
        r#"{notices}{zone_form}<p class="muted">Now: {now}</p><table id="envs"><tr><th>Env</th><th>State</th><th>Holder</th><th>Reason</th><th>Time left</th><th>Queue</th><th>Freeze</th><th>Next window</th><th>Actions</th></tr>{rows}</table>{pools}"#,
        notices = notices(&web, &viewer),
        zone_form = zone_form("/console", zone),
        now = clock_in(now, zone),
    );
    html::page(StatusCode::OK, "Envs", Some(&viewer.header()), &body)
}
