//! Signing in and out. `/web/login` sends the browser to the provider with a fresh `state`,
//! `nonce` and PKCE challenge (kept in Redis, single use, ten minutes); `/web/callback` takes the
//! `state` back exactly once, checks it belongs to this browser, exchanges the code, checks the
//! ID token and starts a session of Baton's own length; `/web/logout` ends it in Redis and, when
//! the provider offers it, signs out there too and comes back to `/web/signed-out`.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use baton_commands::domain::preview;
use baton_commands::store::web_sessions::{PendingSignIn, WebSession, SIGN_IN_TTL};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::html;
use super::oidc::{random_token, Pkce};
use super::session::{cookie, set_cookie, Viewer, SESSION_COOKIE, SIGN_IN_COOKIE};
use super::{Web, PLATFORM};

/// Most groups kept per person, and the longest group name.
const MAX_GROUPS: usize = 200;
const MAX_GROUP_LEN: usize = 200;

/// `GET /web/login`'s query.
#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    return_to: Option<String>,
}

/// A local path to come back to; anything else (another site, `//host`) is the console.
fn local_path(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.starts_with("/web/") =>
        {
            p.to_string()
        }
        _ => "/console".into(),
    }
}

fn provider_down(why: impl std::fmt::Display) -> Response {
    tracing::warn!(error = %why, "web console: the identity provider is unavailable");
    html::error(StatusCode::BAD_GATEWAY, "The identity provider cannot be reached", &format!("Baton could not talk to the sign-in provider: {why}. Try again in a moment; if it persists, ask an admin to run `baton config check --reach-issuer`."))
}

fn store_down() -> Response {
    html::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "The console cannot reach its state store",
        "Redis did not answer; try again in a moment.",
    )
}

/// `GET /web/login`: off to the provider.
pub async fn login(State(web): State<Web>, Query(q): Query<LoginQuery>) -> Response {
    let discovery = match web.oidc().discovery().await {
        Ok(d) => d,
        Err(e) => return provider_down(e),
    };
    let (state, nonce, pkce) = (random_token(), random_token(), Pkce::new());
    let pending = PendingSignIn {
        nonce: nonce.clone(),
        verifier: pkce.verifier.clone(),
        return_to: local_path(q.return_to.as_deref()),
    };
    if web
        .baton()
        .store()
        .begin_sign_in(&state, &pending)
        .await
        .is_err()
    {
        return store_down();
    }
    let secure = web.settings().secure_cookies();
    let bind = set_cookie(SIGN_IN_COOKIE, &state, SIGN_IN_TTL.as_secs(), secure);
    html::see_other(
        &web.oidc().authorize_url(&discovery, &state, &nonce, &pkce),
        &[bind],
    )
}

/// `GET /web/callback`'s query: the code and state, or the provider's error.
#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
    /// The issuer that answered (RFC 9207), when the provider says.
    #[serde(default)]
    iss: Option<String>,
}

fn refused(why: &str) -> Response {
    html::error(StatusCode::BAD_REQUEST, "This sign-in was refused", why)
}

/// `GET /web/callback`: the provider sends the browser back.
pub async fn callback(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    if let Some(error) = &q.error {
        let detail = q.error_description.as_deref().unwrap_or("");
        return html::error(
            StatusCode::FORBIDDEN,
            "The identity provider did not sign you in",
            &format!("It answered `{}` {}", preview(error), preview(detail)),
        );
    }
    let (Some(code), Some(state)) = (q.code.as_deref(), q.state.as_deref()) else {
        return refused(
            "The provider's answer lacks its code or state. Start again from the sign-in page.",
        );
    };
    if let Some(iss) = &q.iss {
        let expected = web.settings().issuer.as_deref().unwrap_or_default();
        if iss.trim_end_matches('/') != expected.trim_end_matches('/') {
            return refused("The answer names another identity provider than Baton's (a mix-up). Nothing was signed in; start again.");
        }
    }
    let pending = match web.baton().store().take_sign_in(state).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            tracing::warn!("web console: a sign-in came back with a state that is unknown, used already or expired");
            return refused("Its state is not one Baton issued, was used already, or is older than 10 minutes (a forged or replayed sign-in). Nothing was signed in; start again.");
        }
        Err(_) => return store_down(),
    };
    let bound = cookie(&headers, SIGN_IN_COOKIE)
        .is_some_and(|c| bool::from(c.as_bytes().ct_eq(state.as_bytes())));
    if !bound {
        tracing::warn!("web console: a sign-in came back to a browser that did not start it");
        return refused("It was started in another browser (its state does not match this browser's). Nothing was signed in; start again.");
    }
    let tokens = match web.oidc().exchange(code, &pending.verifier).await {
        Ok(t) => t,
        Err(e) => return refused(&e.to_string()),
    };
    let Some(id_token) = tokens.id_token.as_deref() else {
        return refused(
            "The provider sent no ID token (is the `openid` scope allowed for this client?).",
        );
    };
    let claims = match web.oidc().verify(id_token, &pending.nonce).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "web console: an ID token was refused");
            return refused(&e.to_string());
        }
    };
    let groups = match groups_of(&web, &claims, tokens.access_token.as_deref()).await {
        Ok(g) => g,
        Err(why) => return refused(&why),
    };
    start_session(&web, &claims, groups, id_token, &pending.return_to).await
}

/// The person's groups from the configured claim: the ID token's, or userinfo's when the ID token
/// has none (its `sub` must be the ID token's). Empty is allowed, loudly.
async fn groups_of(
    web: &Web,
    claims: &Map<String, Value>,
    access: Option<&str>,
) -> Result<Vec<String>, String> {
    let claim = web.settings().groups_claim.as_str();
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (raw, source) = match (claims.get(claim), access) {
        (Some(v), _) => (v.clone(), "the ID token"),
        (None, Some(token)) => match web.oidc().userinfo(token).await {
            Ok(info) => {
                if info.get("sub").and_then(Value::as_str) != Some(sub) {
                    return Err(
                        "The provider's userinfo names another person than its ID token.".into(),
                    );
                }
                (info.get(claim).cloned().unwrap_or(Value::Null), "userinfo")
            }
            Err(e) => {
                tracing::warn!(error = %e, "web console: userinfo could not be read for the groups claim");
                (Value::Null, "nowhere (userinfo failed)")
            }
        },
        (None, None) => (Value::Null, "nowhere (no access token for userinfo)"),
    };
    let names: Vec<String> = match raw {
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Value::String(one) => one.split([',', ' ']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let groups: Vec<String> = names
        .iter()
        .map(|n| baton_commands::domain::clean_text(n))
        .filter(|n| !n.is_empty() && n.chars().count() <= MAX_GROUP_LEN)
        .take(MAX_GROUPS)
        .map(|n| PLATFORM.group(&n))
        .collect();
    if groups.is_empty() {
        tracing::warn!(
            sub,
            claim,
            looked_in = source,
            "web console: SIGNED IN WITH NO GROUPS: the `{claim}` claim was empty or missing, so [roles] can only match this person's own identity; check the provider sends `{claim}` (scope, claim mapping) or set [web] groups_claim"
        );
    }
    Ok(groups)
}

async fn start_session(
    web: &Web,
    claims: &Map<String, Value>,
    groups: Vec<String>,
    id_token: &str,
    return_to: &str,
) -> Response {
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let Some(sub) = text("sub") else {
        return refused("The ID token names nobody (no `sub`).");
    };
    let who = match web.settings().identity_claim.as_str() {
        "preferred_username" => text("preferred_username").unwrap_or(sub),
        _ => sub,
    };
    let actor = PLATFORM.actor(
        who,
        &[
            text("name"),
            text("preferred_username"),
            text("email"),
            Some(who),
        ],
        groups,
    );
    let ttl: Duration = web.settings().session_ttl;
    let session = WebSession {
        identity: actor.id.clone(),
        display: actor.display.clone(),
        groups: actor.groups.clone(),
        csrf: random_token(),
        id_token: id_token.to_string(),
        expires: web.baton().now_ms() + ttl.as_millis() as u64,
    };
    let session_id = random_token();
    if web
        .baton()
        .store()
        .start_web_session(&session_id, &session, ttl)
        .await
        .is_err()
    {
        return store_down();
    }
    tracing::info!(user = %actor.id, groups = actor.groups.len(), "web console: signed in");
    let secure = web.settings().secure_cookies();
    html::see_other(
        return_to,
        &[
            set_cookie(SESSION_COOKIE, &session_id, ttl.as_secs(), secure),
            set_cookie(SIGN_IN_COOKIE, "", 0, secure),
        ],
    )
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: Option<String>,
}

/// `POST /web/logout`: the session ends in Redis (the cookie is worthless from now on), then
/// the provider's own sign-out when it offers one.
pub async fn logout(
    State(web): State<Web>,
    viewer: Result<Viewer, super::session::NoViewer>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let secure = web.settings().secure_cookies();
    let clear = set_cookie(SESSION_COOKIE, "", 0, secure);
    let viewer = match viewer {
        Ok(v) => v,
        Err(_) => return html::see_other("/web/signed-out", &[clear]),
    };
    if !viewer.csrf_ok(form.csrf.as_deref()) {
        return html::error(
            StatusCode::FORBIDDEN,
            "Refused: the form's token is missing or wrong",
            "Nothing changed. Reload the console and try again.",
        );
    }
    if web
        .baton()
        .store()
        .end_web_session(&viewer.session_id)
        .await
        .is_err()
    {
        return store_down();
    }
    tracing::info!(user = %viewer.actor.id, "web console: signed out");
    let back = format!(
        "{}/web/signed-out",
        web.settings()
            .base_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/')
    );
    let end = match web.oidc().discovery().await {
        Ok(d) => d.end_session_endpoint.clone(),
        Err(_) => None,
    };
    let location = match end {
        Some(end) => {
            let query = serde_urlencoded::to_string([
                ("id_token_hint", viewer.session.id_token.as_str()),
                ("post_logout_redirect_uri", back.as_str()),
                (
                    "client_id",
                    web.settings().client_id.as_deref().unwrap_or_default(),
                ),
            ])
            .unwrap_or_default();
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{query}")
        }
        None => "/web/signed-out".into(),
    };
    html::see_other(&location, &[clear])
}

/// `GET /web/signed-out`: where the provider's sign-out comes back to.
pub async fn signed_out() -> Response {
    let body = r#"<p id="signed-out">You are signed out of Baton.</p><p><a href="/web/login">Sign in again</a></p>"#;
    html::page(StatusCode::OK, "Signed out", None, body)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path(Some("/console/env/qa")), "/console/env/qa");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil",
            "/web/logout",
        ] {
            assert_eq!(local_path(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(local_path(None), "/console");
    }
}
