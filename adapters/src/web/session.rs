//! Who is asking: the session cookie, looked up in Redis on every request (so a sign-out or an
//! expiry takes effect at once), the actor it stands for (roles are read from `[roles]` each
//! time, never kept), and the CSRF token every state-changing form carries.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use baton_commands::command::Privilege;
use baton_commands::store::web_sessions::WebSession;
use baton_commands::Actor;
use subtle::ConstantTimeEq;

use super::html::{self, Header};
use super::Web;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "baton_session";
/// The cookie that ties a sign-in's `state` to the browser that started it.
pub const SIGN_IN_COOKIE: &str = "baton_signin";

/// A signed-in person on this request.
pub struct Viewer {
    /// The browser's session id (the cookie's value).
    pub session_id: String,
    /// What Redis keeps of the session.
    pub session: WebSession,
    /// The actor every command runs as.
    pub actor: Actor,
    /// Their role now, from `[roles]`.
    pub role: Privilege,
}

impl Viewer {
    /// The page header for them.
    pub fn header(&self) -> Header<'_> {
        Header {
            display: &self.actor.display,
            identity: &self.actor.id,
            csrf: &self.session.csrf,
            admin: self.role == Privilege::Admin,
        }
    }

    /// Whether `sent` is this session's CSRF token (compared in constant time).
    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|s| bool::from(s.as_bytes().ct_eq(self.session.csrf.as_bytes())))
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, `Secure` behind https; `max_age` 0 clears it.
pub fn set_cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}")
}

/// Why a request has no viewer: a page to sign in from, or a refusal.
pub enum NoViewer {
    /// Not signed in, on a page: go sign in, then come back to `path`.
    SignIn(String),
    /// Not signed in on a form post or a feed: refused.
    Refused,
    /// Redis could not be asked.
    Unavailable,
}

impl IntoResponse for NoViewer {
    fn into_response(self) -> Response {
        match self {
            NoViewer::SignIn(path) => {
                let query =
                    serde_urlencoded::to_string([("return_to", path.as_str())]).unwrap_or_default();
                html::see_other(&format!("/web/login?{query}"), &[])
            }
            NoViewer::Refused => html::error(
                StatusCode::FORBIDDEN,
                "Sign in first",
                "This needs a signed-in session, and the request carried none that is still valid.",
            ),
            NoViewer::Unavailable => html::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The console cannot reach its state store",
                "Redis did not answer; try again in a moment.",
            ),
        }
    }
}

impl FromRequestParts<Web> for Viewer {
    type Rejection = NoViewer;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, NoViewer> {
        let rejection = || {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                let path = parts
                    .uri
                    .path_and_query()
                    .map_or("/console", |p| p.as_str());
                NoViewer::SignIn(path.to_string())
            } else {
                NoViewer::Refused
            }
        };
        let Some(session_id) = cookie(&parts.headers, SESSION_COOKIE).filter(|v| !v.is_empty())
        else {
            return Err(rejection());
        };
        let session = match web.baton().store().web_session(&session_id).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(rejection()),
            Err(e) => {
                tracing::warn!(error = %e, "web console: cannot read a session");
                return Err(NoViewer::Unavailable);
            }
        };
        let actor = Actor {
            id: session.identity.clone(),
            display: session.display.clone(),
            groups: session.groups.clone(),
        };
        let role = web.baton().catalog().role(&actor);
        Ok(Viewer {
            session_id,
            session,
            actor,
            role,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_lax_and_secure_behind_https() {
        assert_eq!(
            set_cookie("baton_session", "abc", 60, true),
            "baton_session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set_cookie("a", "b", 0, false).contains("Secure"));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let req = axum::http::Request::builder()
            .header("cookie", "x=1; baton_session=s3; y=2")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        assert_eq!(
            cookie(&parts.headers, SESSION_COOKIE).as_deref(),
            Some("s3")
        );
        assert_eq!(cookie(&parts.headers, "z"), None);
    }
}
