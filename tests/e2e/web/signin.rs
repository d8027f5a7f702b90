//! Signing in and out: the redirect and what the authorization request carries, a forged or
//! replayed `state`, groups from userinfo, a person without groups, and sign-out.

use std::collections::HashMap;

use super::{spawn_web, Browser};

#[tokio::test]
async fn the_console_without_a_session_redirects_to_a_sign_in_with_pkce_state_and_nonce() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let first = browser.get(&format!("{}/console", web.base)).await;
    assert_eq!(first.status, 303);
    let login = first.location().unwrap();
    assert_eq!(
        (login.path(), login.query()),
        ("/web/login", Some("return_to=%2Fconsole"))
    );

    let to_provider = browser.get(login.as_str()).await;
    assert_eq!(to_provider.status, 303);
    let auth = to_provider.location().unwrap();
    assert!(auth.as_str().starts_with(&web.issuer), "{auth}");
    let q: HashMap<String, String> = auth.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "baton");
    assert_eq!(q["redirect_uri"], format!("{}/web/callback", web.base));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(
        q["code_challenge"].len(),
        43,
        "BASE64URL(SHA-256) of the verifier"
    );
    assert!(q["state"].len() >= 32 && q["nonce"].len() >= 32);
    assert!(q["scope"].split(' ').any(|s| s == "openid"));
    let bind = to_provider
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("baton_signin="))
        .unwrap();
    assert!(
        bind.contains("HttpOnly") && bind.contains("SameSite=Lax") && !bind.contains("Secure"),
        "{bind}"
    );

    // Two sign-ins never share a state, nonce or challenge.
    let again = browser.get(login.as_str()).await.location().unwrap();
    let q2: HashMap<String, String> = again.query_pairs().into_owned().collect();
    for k in ["state", "nonce", "code_challenge"] {
        assert_ne!(q[k], q2[k], "{k}");
    }
}

#[tokio::test]
async fn a_forged_or_replayed_state_is_refused_and_signs_nobody_in() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let callback = browser.callback_url(&web, "alice").await;

    // A state Baton never issued.
    let mut forged = callback.clone();
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .to_string();
    forged.set_query(Some(&format!("code={code}&state=forged-state")));
    let page = browser.get(forged.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("forged or replayed"), "{}", page.body);
    assert!(browser.session(&web).is_none());

    // The real one signs in, once.
    let page = browser.get(callback.as_str()).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(browser.session(&web).is_some());
    let replay = browser.get(callback.as_str()).await;
    assert_eq!(replay.status, 400);
    assert!(replay.body.contains("used already"), "{}", replay.body);

    // A state started in another browser is refused too.
    let mut other = Browser::new();
    let stolen = other.callback_url(&web, "alice").await;
    let mut victim = Browser::new();
    let page = victim.get(stolen.as_str()).await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("another browser"), "{}", page.body);
    assert!(victim.session(&web).is_none());
}

#[tokio::test]
async fn groups_only_at_userinfo_still_map_to_roles() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.sign_in(&web, "ursula", "/console").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Ursula Userinfo"), "{}", page.body);
    assert!(
        !page.body.contains(r#"id="no-groups""#),
        "ursula's groups came from userinfo"
    );
    let prod = row(&page.body, "prod");
    assert!(
        prod.contains(r#"data-action="lock""#),
        "a deployer is offered Lock on protected prod: {prod}"
    );
}

#[tokio::test]
async fn a_person_without_groups_is_told_why_and_a_forged_post_is_403() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.sign_in(&web, "nora", "/console").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"id="no-groups""#), "{}", page.body);
    assert!(page.body.contains("sent no groups") && page.body.contains("oidc:nora"));
    let prod = row(&page.body, "prod");
    assert!(
        !prod.contains(r#"data-action="lock""#),
        "no Lock on protected prod: {prod}"
    );
    assert!(
        row(&page.body, "qa").contains(r#"data-action="lock""#),
        "qa is open to anyone"
    );

    // The same form, forged with her valid token, is refused by the core's privilege check.
    let csrf = page.csrf().unwrap();
    let forged = browser
        .post(
            &format!("{}/console/act", web.base),
            &[("csrf", &csrf), ("action", "lock"), ("env", "prod")],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("deployer"), "{}", forged.body);
    assert!(
        web.app.events("prod", "prod").await.is_empty(),
        "prod is untouched"
    );
}

#[tokio::test]
async fn sign_out_revokes_the_session_and_goes_through_the_providers_logout() {
    let Some(web) = spawn_web(|_| {}).await else {
        return;
    };
    let mut browser = Browser::new();
    let page = browser.sign_in(&web, "alice", "/console").await;
    let csrf = page.csrf().unwrap();
    let session = browser.session(&web).unwrap();

    // Redis holds the session under the cookie's SHA-256 only, never the cookie itself.
    let mut redis = web.app.redis().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut redis)
        .await
        .unwrap();
    let hashed = baton_commands::sha256_hex(session.as_bytes());
    assert!(
        keys.iter()
            .any(|k| k.ends_with(&format!("{{web}}:session:{hashed}"))),
        "{keys:?}"
    );
    assert!(!keys.iter().any(|k| k.contains(&session)));
    let stored: String = redis::cmd("GET")
        .arg(keys.iter().find(|k| k.contains(":session:")).unwrap())
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        !stored.contains(&session) && stored.contains("oidc:alice"),
        "{stored}"
    );
    // It ends on Baton's schedule (`session_ttl`, 8 h), not the provider's tokens'.
    let session_key = keys.iter().find(|k| k.contains(":session:")).unwrap();
    let ttl: i64 = redis::cmd("PTTL")
        .arg(session_key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((7 * 3_600_000..=8 * 3_600_000).contains(&ttl), "{ttl}");

    let refused = browser.post(&format!("{}/web/logout", web.base), &[]).await;
    assert_eq!(
        refused.status, 403,
        "a sign-out without the token is refused"
    );
    assert_eq!(
        browser.get(&format!("{}/console", web.base)).await.status,
        200
    );

    let out = browser
        .post(&format!("{}/web/logout", web.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(out.status, 303);
    let end = out.location().unwrap();
    assert!(
        end.as_str()
            .starts_with(&format!("{}/session/end", web.issuer)),
        "{end}"
    );
    let q: HashMap<String, String> = end.query_pairs().into_owned().collect();
    assert_eq!(
        q["post_logout_redirect_uri"],
        format!("{}/web/signed-out", web.base)
    );
    assert!(!q["id_token_hint"].is_empty());
    assert!(out
        .set_cookies()
        .iter()
        .any(|c| c.starts_with("baton_session=;") && c.contains("Max-Age=0")));

    // The old cookie, presented again, no longer works.
    let mut thief = Browser::new();
    let host = web.base.trim_start_matches("http://").to_string();
    thief
        .jar
        .entry(host)
        .or_default()
        .insert("baton_session".into(), session);
    let page = thief.get(&format!("{}/console", web.base)).await;
    assert_eq!(page.status, 303);
    assert!(page.location().unwrap().path().starts_with("/web/login"));
}

/// The `<tr>` of `env` in the console's table.
pub fn row(body: &str, env: &str) -> String {
    let start = body
        .find(&format!(r#"<tr id="env-{env}">"#))
        .unwrap_or_else(|| panic!("no row for {env}"));
    let end = body[start..].find("</tr>").unwrap() + start;
    body[start..end].to_string()
}
