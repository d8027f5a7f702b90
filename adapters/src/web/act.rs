//! `POST /console/act`: one form, one action. The form names the action from a fixed list and
//! its arguments; each is checked here (an env name, a duration, text made inert), written as
//! the chat command it stands for, and run by [`Baton::run`] as the signed-in person, the same
//! road as chat: the core checks the privilege, records history and answers. A form without this
//! session's CSRF token is refused (403) before anything runs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use baton_commands::domain::{clean_text, EnvName, Ttl, MAX_REASON_LEN};
use baton_commands::Request;
use serde::Deserialize;

use super::html::{self, escape};
use super::session::Viewer;
use super::Web;

/// The form's fields; every one may be missing (a missing token is a 403, not a 422).
#[derive(Deserialize, Default)]
pub struct ActForm {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    target: String,
}

/// How an action's arguments are written after its verb.
enum Shape {
    /// `<verb> <env>`.
    Env,
    /// `<verb> <env> [<duration>] [reason…]`.
    EnvTtlReason,
    /// `<verb> <env> <duration>`.
    EnvTtl,
    /// `<verb> <env> --force`.
    EnvForce,
    /// `<verb> <target> [reason…]` (a window, a user, a queue).
    Target,
    /// `<verb> <env> <target> [reason…]` (a GitHub run waiting on the env).
    EnvTarget,
    /// `<verb> <env> #<request>`, with the reason after it when `true` (the two-person rule).
    EnvRequest(bool),
    /// `<verb> <env>,<env>…` (a set someone waits for together).
    Set,
}

/// Every action a form may name: its name, the chat verb and its shape.
const ACTIONS: &[(&str, &str, Shape)] = &[
    ("lock", "lock", Shape::EnvTtlReason),
    ("unlock", "unlock", Shape::Env),
    ("force-unlock", "unlock", Shape::EnvForce),
    ("extend", "extend", Shape::EnvTtl),
    ("queue", "queue", Shape::EnvTtlReason),
    ("leave", "leave", Shape::Env),
    ("leave-set", "leave", Shape::Set),
    ("claim", "claim", Shape::EnvTtlReason),
    ("release", "release", Shape::Env),
    ("force-release", "release", Shape::EnvForce),
    ("freeze", "freeze", Shape::EnvTtlReason),
    ("unfreeze", "unfreeze", Shape::Env),
    ("freeze-skip", "freeze skip", Shape::Target),
    ("approve", "approve", Shape::EnvRequest(false)),
    ("reject", "reject", Shape::EnvRequest(true)),
    ("withdraw", "reject", Shape::EnvRequest(false)),
    ("github-approve", "github approve", Shape::EnvTarget),
    ("github-reject", "github reject", Shape::EnvTarget),
    ("admin-kick", "admin kick", Shape::Target),
    ("admin-queue-retry", "admin queue retry", Shape::Target),
    ("admin-queue-pause", "admin queue pause", Shape::Target),
    ("admin-queue-resume", "admin queue resume", Shape::Target),
];

/// The chat command a form stands for, or why it stands for none.
fn command(form: &ActForm) -> Result<String, String> {
    let Some((_, verb, shape)) = ACTIONS.iter().find(|(name, _, _)| *name == form.action) else {
        return Err("That is not an action the console offers.".into());
    };
    let env = || EnvName::parse(form.env.trim());
    let ttl = || -> Result<String, String> {
        match form.duration.trim() {
            "" => Ok(String::new()),
            d => Ttl::parse(d).map(|_| format!(" {d}")),
        }
    };
    let text = clean_text(&form.reason);
    if text.chars().count() > MAX_REASON_LEN {
        return Err(format!(
            "A reason may be at most {MAX_REASON_LEN} characters."
        ));
    }
    // A reason that starts like a duration or a flag would be read as one: it goes in quotes.
    let reason = match text.as_str() {
        "" => String::new(),
        r if r.starts_with('-')
            || Ttl::parse(r.split_whitespace().next().unwrap_or("")).is_ok() =>
        {
            format!(" \u{201c}{r}\u{201d}")
        }
        r => format!(" {r}"),
    };
    let target = || {
        let target = form.target.trim();
        let ok = !target.is_empty()
            && target.len() <= 200
            && !target.chars().any(|c| c.is_whitespace() || c.is_control());
        ok.then_some(target)
            .ok_or_else(|| "Name one window, user, queue or run (no spaces).".to_string())
    };
    let request = || {
        let id = form.target.trim();
        let ok = !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric());
        ok.then_some(id)
            .ok_or_else(|| "Name one request by its id, like 3f9a1c.".to_string())
    };
    let set = || -> Result<String, String> {
        let envs = form
            .target
            .split(',')
            .map(|e| EnvName::parse(e.trim()).map(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(envs.join(","))
    };
    Ok(match shape {
        Shape::Env => format!("{verb} {}", env()?),
        Shape::EnvForce => format!("{verb} {} --force", env()?),
        Shape::EnvTtl => {
            let ttl = ttl()?;
            if ttl.is_empty() {
                return Err("Give a duration, like 30m or 1h.".into());
            }
            format!("{verb} {}{ttl}", env()?)
        }
        Shape::EnvTtlReason => format!("{verb} {}{}{reason}", env()?, ttl()?),
        Shape::Target => format!("{verb} {}{reason}", target()?),
        Shape::EnvTarget => format!("{verb} {} {}{reason}", env()?, target()?),
        // After `#<request>` the rest is the reason, whatever it looks like.
        Shape::EnvRequest(true) if !text.is_empty() => {
            format!("{verb} {} #{} {text}", env()?, request()?)
        }
        Shape::EnvRequest(_) => format!("{verb} {} #{}", env()?, request()?),
        Shape::Set => format!("{verb} {}", set()?),
    })
}

/// `POST /console/act`.
pub async fn act(State(web): State<Web>, viewer: Viewer, Form(form): Form<ActForm>) -> Response {
    if !viewer.csrf_ok(form.csrf.as_deref()) {
        tracing::warn!(user = %viewer.actor.id, "web console: a form came without this session's CSRF token; refused");
        return html::error(StatusCode::FORBIDDEN, "Refused: the form's token is missing or wrong", "Nothing changed. The console's forms carry a token that proves they came from this session; reload the console and try again.");
    }
    let text = match command(&form) {
        Ok(t) => t,
        Err(why) => return html::error(StatusCode::BAD_REQUEST, "That action cannot run", &why),
    };
    let outcome = web
        .baton()
        .run(Request::text(viewer.actor.clone(), None, &text))
        .await;
    let status = match &outcome.result {
        Ok(_) => StatusCode::OK,
        Err(e) => StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
    };
    let class = if outcome.result.is_ok() {
        ""
    } else {
        " refused"
    };
    let body = format!(
        r#"<p class="muted">You ran <code>{cmd}</code>.</p><pre class="reply{class}" id="reply">{reply}</pre><p><a href="/console">Back to the envs</a></p>"#,
        cmd = escape(&text),
        reply = escape(&crate::console::render(&outcome.reply)),
    );
    html::page(status, &outcome.reply.title, Some(&viewer.header()), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(action: &str, env: &str, duration: &str, reason: &str) -> ActForm {
        ActForm {
            action: action.into(),
            env: env.into(),
            duration: duration.into(),
            reason: reason.into(),
            ..Default::default()
        }
    }

    #[test]
    fn forms_become_the_chat_commands_they_stand_for() {
        let cases = [
            (
                "a lock with all",
                form("lock", "qa", "30m", "release 4.2"),
                Ok("lock qa 30m release 4.2"),
            ),
            ("a bare lock", form("lock", "qa", "", ""), Ok("lock qa")),
            (
                "a force",
                form("force-unlock", "prod", "", ""),
                Ok("unlock prod --force"),
            ),
            (
                "a reason that looks like a duration",
                form("lock", "qa", "", "2h of tests"),
                Ok("lock qa \u{201c}2h of tests\u{201d}"),
            ),
            ("an unknown action", form("drop", "qa", "", ""), Err(())),
            ("a bad env", form("lock", "qa prod", "", ""), Err(())),
            ("a bad duration", form("lock", "qa", "soon", ""), Err(())),
            (
                "an extend without a duration",
                form("extend", "qa", "", ""),
                Err(()),
            ),
        ];
        for (what, f, expected) in cases {
            let got = command(&f);
            match expected {
                Ok(text) => assert_eq!(got.as_deref(), Ok(text), "{what}"),
                Err(()) => assert!(got.is_err(), "{what}: {got:?}"),
            }
        }
    }

    #[test]
    fn a_run_or_window_is_one_word() {
        let mut f = form("github-approve", "prod", "", "");
        f.target = "acme/api#123".into();
        assert_eq!(
            command(&f).as_deref(),
            Ok("github approve prod acme/api#123")
        );
        f.target = "acme/api#123 --force".into();
        assert!(command(&f).is_err());
        let mut f = form("reject", "prod", "", "2h is too long");
        f.target = "3f9a1c".into();
        assert_eq!(
            command(&f).as_deref(),
            Ok("reject prod #3f9a1c 2h is too long")
        );
        f.action = "approve".into();
        assert_eq!(command(&f).as_deref(), Ok("approve prod #3f9a1c"));
        f.action = "withdraw".into();
        assert_eq!(command(&f).as_deref(), Ok("reject prod #3f9a1c"));
        f.target = "3f9a1c prod".into();
        assert!(command(&f).is_err());
        let mut f = form("leave-set", "", "", "");
        f.target = "canary,qa".into();
        assert_eq!(command(&f).as_deref(), Ok("leave canary,qa"));
        f.target = "canary,qa --force".into();
        assert!(command(&f).is_err());
        let mut f = form("freeze-skip", "", "", "on call");
        f.target = "weekend".into();
        assert_eq!(command(&f).as_deref(), Ok("freeze skip weekend on call"));
    }
}
