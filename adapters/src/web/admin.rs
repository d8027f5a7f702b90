//! `GET /console/admin`: the admin views (BullMQ queues, sessions, rate limits, leaderboards and
//! the admin audit), for admins only. Each view is the admin command run through the road as the
//! signed-in person, so the core checks the privilege again and the answer is the one chat gets;
//! the writes (kick, queue retry/pause/resume) post to `/console/act` with the CSRF token.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use baton_commands::command::Privilege;
use baton_commands::Request;
use serde::Deserialize;

use super::html::{self, escape};
use super::session::Viewer;
use super::Web;

/// What the lookup forms ask for.
#[derive(Deserialize, Default)]
pub struct AdminQuery {
    #[serde(default)]
    session: String,
    #[serde(default)]
    limiter: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    board: String,
}

/// A word fit to be one argument of an admin command.
fn word(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty() && s.len() <= 200 && !s.chars().any(|c| c.is_whitespace() || c.is_control()))
        .then_some(s)
}

async fn view(web: &Web, viewer: &Viewer, text: &str) -> String {
    let outcome = web
        .baton()
        .run(Request::text(viewer.actor.clone(), None, text))
        .await;
    format!(
        r#"<h3><code>{}</code></h3><pre>{}</pre>"#,
        escape(text),
        escape(&crate::console::render(&outcome.reply))
    )
}

fn lookup(name: &str, fields: &[(&str, &str)], label: &str) -> String {
    let inputs: String = fields
        .iter()
        .map(|(f, v)| {
            format!(
                r#"<input type="text" name="{f}" placeholder="{f}" value="{}">"#,
                escape(v)
            )
        })
        .collect();
    format!(
        r#"<form method="get" action="/console/admin" class="act" id="{name}">{inputs}<button type="submit">{label}</button></form>"#
    )
}

fn write(csrf: &str, action: &str, label: &str) -> String {
    format!(
        r#"<form method="post" action="/console/act" class="act"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="action" value="{action}"><input type="text" name="target" placeholder="name"><button type="submit">{label}</button></form>"#,
        escape(csrf)
    )
}

/// `GET /console/admin`.
pub async fn page(State(web): State<Web>, viewer: Viewer, Query(q): Query<AdminQuery>) -> Response {
    if viewer.role != Privilege::Admin {
        return html::error(
            StatusCode::FORBIDDEN,
            "Admins only",
            "The admin views need the admin role, and you do not have it.",
        );
    }
    let mut body = String::from("<h2>BullMQ queues</h2>");
    body += &view(&web, &viewer, "admin queues").await;
    let csrf = viewer.session.csrf.as_str();
    for (action, label) in [
        ("admin-queue-retry", "Retry failed jobs"),
        ("admin-queue-pause", "Pause"),
        ("admin-queue-resume", "Resume"),
    ] {
        body += &write(csrf, action, label);
    }
    body += "<h2>Sessions</h2>";
    body += &lookup("sessions", &[("session", &q.session)], "Look up");
    if let Some(user) = word(&q.session) {
        body += &view(&web, &viewer, &format!("admin session {user}")).await;
    }
    body += &write(csrf, "admin-kick", "Kick");
    body += "<h2>Rate limits</h2>";
    body += &lookup(
        "ratelimits",
        &[("limiter", &q.limiter), ("id", &q.id)],
        "Look up",
    );
    if let (Some(limiter), Some(id)) = (word(&q.limiter), word(&q.id)) {
        body += &view(&web, &viewer, &format!("admin ratelimit {limiter} {id}")).await;
    }
    body += "<h2>Leaderboards</h2>";
    body += &lookup("leaderboards", &[("board", &q.board)], "Top 10");
    if let Some(board) = word(&q.board) {
        body += &view(&web, &viewer, &format!("admin leaderboard {board} top 10")).await;
    }
    body += "<h2>What admins did</h2>";
    body += &view(&web, &viewer, "admin history 20").await;
    html::page(StatusCode::OK, "Admin", Some(&viewer.header()), &body)
}
