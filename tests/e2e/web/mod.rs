//! The web console against a real OpenID provider: panva's `oidc-provider` (OpenID Certified)
//! run by `tests/oidc/provider.mjs` on a free port, with a static client and four people (see
//! the script): alice (group `deployers` in the ID token), adam (`admins`), nora (no groups) and
//! ursula (`deployers` only at userinfo). `[roles]` maps `oidc-group:deployers` to deployer and
//! `oidc-group:admins` to admin. The browser here is an HTTP client with a cookie jar; the
//! sign-in and lock flow also runs in real Chromium (`browser.rs`).

mod approvals;
mod browser;
mod check;
mod console;
mod signin;

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::time::Duration;

use baton_commands::config::{Config, WebConfig};
use baton_commands::domain::Secret;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::{StatusCode, Url};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{node_packages, spawn_core_with, TestApp};

const OIDC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");

/// Baton with `[web]` on, its provider, and where both listen.
pub struct WebApp {
    pub app: TestApp,
    /// `http://127.0.0.1:<port>`: Baton's base URL.
    pub base: String,
    /// The provider's issuer URL.
    pub issuer: String,
    _provider: tokio::process::Child,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the provider and Baton (`edit` applied to the config last); `None` where Node is
/// missing outside CI (see `support::node_packages`; under CI that fails the test).
pub async fn spawn_web(edit: impl FnOnce(&mut Config)) -> Option<WebApp> {
    if !node_packages(OIDC_DIR, "the web console's sign-in tests") {
        return None;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let job = serde_json::json!({
        "redirect": format!("{base}/web/callback"),
        "signedOut": format!("{base}/web/signed-out"),
    });
    let mut provider = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .arg(job.to_string())
        .current_dir(OIDC_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(provider.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("the provider starts within 30 s")
        .unwrap()
        .expect("the provider prints its issuer");
    let issuer = serde_json::from_str::<serde_json::Value>(&first).unwrap()["issuer"]
        .as_str()
        .unwrap()
        .to_string();
    // Whatever else it prints is read, so it never writes to a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let web = WebConfig {
        enabled: true,
        issuer: Some(issuer.clone()),
        client_id: Some("baton".into()),
        client_secret: Some(Secret::new("baton-test-secret")),
        base_url: Some(base.clone()),
        scopes: vec!["openid".into(), "profile".into(), "groups".into()],
        ..WebConfig::default()
    };
    let app = spawn_core_with(|c| {
        c.web = web;
        c.roles.deployer.push("oidc-group:deployers".into());
        c.roles.admin.push("oidc-group:admins".into());
        edit(c);
    })
    .await;
    assert!(
        app.config.validate().is_empty(),
        "{:?}",
        app.config.validate()
    );
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let config = app.config.clone();
    let baton = baton::app::build(&config).unwrap();
    tokio::spawn(async move {
        baton::app::run(&config, baton, listener, async move {
            let _ = rx.await;
        })
        .await
        .unwrap()
    });
    Some(WebApp {
        app,
        base,
        issuer,
        _provider: provider,
        _stop: stop,
    })
}

/// One answer, with the URL it came from.
pub struct Page {
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The `Location` header, resolved against the page's URL.
    pub fn location(&self) -> Option<Url> {
        let to = self.headers.get(LOCATION)?.to_str().ok()?;
        self.url.join(to).ok()
    }

    /// The value of the hidden `csrf` input, if the page has one.
    pub fn csrf(&self) -> Option<String> {
        let at = self.body.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
        Some(self.body[at..].split('"').next()?.to_string())
    }

    /// The `Set-Cookie` values of the answer.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect()
    }
}

/// An HTTP client with a cookie jar per host, following no redirect by itself.
pub struct Browser {
    http: reqwest::Client,
    pub jar: HashMap<String, BTreeMap<String, String>>,
}

fn host(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    )
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            jar: HashMap::new(),
        }
    }

    fn cookie_header(&self, url: &Url) -> String {
        self.jar
            .get(&host(url))
            .map(|c| {
                c.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default()
    }

    async fn send(&mut self, url: Url, form: Option<&[(&str, &str)]>) -> Page {
        let mut request = match form {
            Some(f) => self.http.post(url.clone()).form(f),
            None => self.http.get(url.clone()),
        };
        let cookies = self.cookie_header(&url);
        if !cookies.is_empty() {
            request = request.header("cookie", cookies);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let (status, headers) = (response.status(), response.headers().clone());
        let page = Page {
            url,
            status,
            headers,
            body: response.text().await.unwrap_or_default(),
        };
        let jar = self.jar.entry(host(&page.url)).or_default();
        for c in page.set_cookies() {
            let pair = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") || c.contains("expires=Thu, 01 Jan 1970")
                {
                    jar.remove(k.trim());
                } else {
                    jar.insert(k.trim().to_string(), v.to_string());
                }
            }
        }
        page
    }

    pub async fn get(&mut self, url: &str) -> Page {
        self.send(Url::parse(url).unwrap(), None).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        self.send(Url::parse(url).unwrap(), Some(form)).await
    }

    /// Follows redirects (as GETs) from `page` until an answer that is not one.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..15 {
            match page.location() {
                Some(next) if page.status.is_redirection() => page = self.send(next, None).await,
                _ => return page,
            }
        }
        panic!("too many redirects, last at {}", page.url)
    }

    /// Signs in as `who` at the provider, starting from `path`; returns the page landed on.
    pub async fn sign_in(&mut self, web: &WebApp, who: &str, path: &str) -> Page {
        let form = self.start_sign_in(web, path).await;
        self.finish_sign_in(form, who).await
    }

    /// From `path` to the provider's sign-in form.
    pub async fn start_sign_in(&mut self, web: &WebApp, path: &str) -> Page {
        let first = self.get(&format!("{}{path}", web.base)).await;
        let form = self.follow(first).await;
        assert!(
            form.body.contains(r#"name="login""#),
            "the provider's sign-in form, got {} {}",
            form.status,
            form.body
        );
        form
    }

    /// Fills in the provider's form as `who` and follows the way back to Baton.
    pub async fn finish_sign_in(&mut self, form: Page, who: &str) -> Page {
        let posted = self.post(form.url.as_str(), &[("login", who)]).await;
        self.follow(posted).await
    }

    /// Fills in the provider's form and stops at Baton's callback URL, unvisited.
    pub async fn callback_url(&mut self, web: &WebApp, who: &str) -> Url {
        let form = self.start_sign_in(web, "/console").await;
        let mut page = self.post(form.url.as_str(), &[("login", who)]).await;
        for _ in 0..10 {
            let next = page.location().expect("a redirect on the way back");
            if next.path() == "/web/callback" {
                return next;
            }
            page = self.send(next, None).await;
        }
        panic!("never sent back to the callback")
    }

    /// The session cookie for Baton, if any.
    pub fn session(&self, web: &WebApp) -> Option<String> {
        self.jar
            .get(&host(&Url::parse(&web.base).unwrap()))?
            .get("baton_session")
            .cloned()
    }
}
