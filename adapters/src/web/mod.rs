//! The web console: server-rendered pages at `/console` for people who do not live in a chat,
//! signed in with the team's OpenID Connect provider. One more road through the one entry point:
//! every action a form posts becomes chat text run by [`Baton::run`] as the signed-in person
//! (`oidc:<sub>`, with their groups as `oidc-group:<name>`), so privilege, refusals and history
//! are exactly those of chat; the buttons offered are the ones [`Baton::may`] allows.
//!
//! - `oidc`: discovery, the authorization request (PKCE S256, state, nonce), the ID token check.
//! - `signin`: `/web/login`, `/web/callback`, `/web/logout`, `/web/signed-out`.
//! - `session`: the session cookie, looked up in Redis on every request, and CSRF.
//! - `console`, `act`: the envs and the actions; `approvals`: pending requests of the two-person
//!   rule, read from the env's events; `timeline`: an env's history;
//!   `calendar`: the freeze calendar; `admin`: the admin views; `html`: layout and escaping.

mod act;
mod admin;
mod approvals;
mod calendar;
mod console;
mod html;
pub mod oidc;
mod session;
mod signin;
mod timeline;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use baton_commands::config::{Config, Front, WebConfig};
use baton_commands::Baton;

use crate::kit::Platform;

/// The web console as configuration sees it: people are `oidc:<sub>`, their groups
/// `oidc-group:<name>`; the client secret is `web.client_secret` (from the environment only).
pub static PLATFORM: Platform = Platform {
    front: Front {
        name: "the web console",
        prefix: "oidc",
        groups: &["oidc-group"],
        example: "oidc:alice",
        bare_user: |_| false,
        secrets: &["web.client_secret"],
        channel: None,
    },
    nameless: "a signed-in person",
    max_name: 64,
};

/// The console's shared state: the core, its settings and the relying party.
#[derive(Clone)]
pub struct Web(Arc<Inner>);

struct Inner {
    baton: Baton,
    settings: WebConfig,
    oidc: oidc::Oidc,
}

impl Web {
    /// The console for `config`, or `None` while `[web] enabled` is off (or it lacks what the
    /// checks require).
    pub fn new(config: &Config, baton: &Baton) -> Option<Self> {
        let w = &config.web;
        if !w.enabled {
            return None;
        }
        let client = oidc::Client {
            issuer: w.issuer.clone()?,
            client_id: w.client_id.clone()?,
            client_secret: w.client_secret.as_ref()?.expose().to_string(),
            redirect_uri: w.redirect_uri(),
            scopes: w.scopes.clone(),
        };
        Some(Self(Arc::new(Inner {
            baton: baton.clone(),
            settings: w.clone(),
            oidc: oidc::Oidc::new(client),
        })))
    }

    /// The core.
    pub fn baton(&self) -> &Baton {
        &self.0.baton
    }

    fn settings(&self) -> &WebConfig {
        &self.0.settings
    }

    fn oidc(&self) -> &oidc::Oidc {
        &self.0.oidc
    }
}

/// The console's routes, or none when it is off.
pub fn routes(web: Option<&Web>) -> Router {
    let Some(web) = web else {
        return Router::new();
    };
    Router::new()
        .route("/web/login", get(signin::login))
        .route("/web/callback", get(signin::callback))
        .route("/web/logout", post(signin::logout))
        .route("/web/signed-out", get(signin::signed_out))
        .route("/console", get(console::overview))
        .route("/console/style.css", get(|| async { html::style() }))
        .route("/console/act", post(act::act))
        .route("/console/env/{env}", get(timeline::env_page))
        .route("/console/calendar", get(calendar::page))
        .route("/console/admin", get(admin::page))
        .with_state(web.clone())
}

/// The wall screen's routes (`wall`), behind sign-in when `[web] wall_needs_sign_in` is on.
pub fn wall(web: Option<&Web>, wall: Router) -> Router {
    match web {
        Some(web) if web.settings().wall_needs_sign_in => {
            wall.layer(from_fn_with_state(web.clone(), signed_in))
        }
        _ => wall,
    }
}

/// Lets a request through only with a live session: a page goes to sign-in, a feed is refused.
async fn signed_in(State(web): State<Web>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    use axum::extract::FromRequestParts as _;
    match session::Viewer::from_request_parts(&mut parts, &web).await {
        Ok(_) => next.run(Request::from_parts(parts, body)).await,
        Err(session::NoViewer::SignIn(path)) if parts.uri.path() == "/" => {
            session::NoViewer::SignIn(path).into_response()
        }
        Err(session::NoViewer::Unavailable) => session::NoViewer::Unavailable.into_response(),
        Err(_) => session::NoViewer::Refused.into_response(),
    }
}
