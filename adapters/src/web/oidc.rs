//! The OpenID Connect relying party: discovery from `<issuer>/.well-known/openid-configuration`,
//! the authorization request (code flow with PKCE S256, `state` and `nonce`), the code exchange,
//! the ID token checked against the provider's JWKS (signature by an asymmetric key it lists,
//! `iss`, `aud`, `azp`, `exp`, `nonce`), and userinfo for a groups claim the ID token lacks.
//!
//! The discovery document and keys are cached for an hour; a token naming a key not in the cache
//! fetches the keys again, at most once a minute, so a forged token cannot make Baton hammer the
//! provider. Nothing here logs a secret or a token.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// Clock skew allowed on `exp`, `iat` and `nbf`.
const LEEWAY_SECS: u64 = 60;
/// How long discovery and keys are trusted before they are fetched again.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// A token naming an unknown key fetches the keys again at most this often.
const REFETCH_AT_MOST: Duration = Duration::from_secs(60);

/// What went wrong talking to the provider, in a sentence a person can act on (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OidcError(pub String);

fn err(message: impl Into<String>) -> OidcError {
    OidcError(message.into())
}

/// The parts of the provider's discovery document Baton uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// The issuer, which must be the configured one.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The signing keys.
    pub jwks_uri: String,
    /// Claims beyond the ID token.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RP-initiated logout, when offered.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// PKCE methods, when listed.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
}

/// The client's registration at the provider.
#[derive(Clone)]
pub struct Client {
    /// The configured issuer.
    pub issuer: String,
    /// The client id.
    pub client_id: String,
    /// The client secret (sent only to the token endpoint, with HTTP Basic).
    pub client_secret: String,
    /// `<base_url>/web/callback`.
    pub redirect_uri: String,
    /// The scopes asked for (`openid` always).
    pub scopes: Vec<String>,
}

struct Cached {
    discovery: Arc<Discovery>,
    keys: Arc<JwkSet>,
    fetched: Instant,
    keys_fetched: Instant,
}

/// The relying party for one provider.
#[derive(Clone)]
pub struct Oidc {
    client: Client,
    http: reqwest::Client,
    cache: Arc<Mutex<Option<Cached>>>,
}

/// What the token endpoint answered.
#[derive(Debug, Deserialize)]
pub struct Tokens {
    /// The ID token (a JWT).
    pub id_token: Option<String>,
    /// The access token, for userinfo.
    #[serde(default)]
    pub access_token: Option<String>,
}

/// A PKCE pair: the verifier kept server-side and its S256 challenge sent with the request.
pub struct Pkce {
    /// 43 characters of base64url from 32 random bytes.
    pub verifier: String,
    /// `BASE64URL(SHA256(verifier))`.
    pub challenge: String,
}

/// A fresh random value (32 bytes, base64url): a `state`, `nonce`, session id or CSRF token.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

impl Pkce {
    /// A fresh verifier and its challenge.
    pub fn new() -> Self {
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

impl Default for Pkce {
    fn default() -> Self {
        Self::new()
    }
}

/// The discovery document of `issuer`, fetched and checked (its `issuer` is the one asked for):
/// what `baton config check --reach-issuer` runs.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, OidcError> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let found: Discovery = get_json(http, &url, None).await.and_then(|v| {
        serde_json::from_value(v).map_err(|e| {
            err(format!(
                "the discovery document at {url} lacks what OpenID Connect requires: {e}"
            ))
        })
    })?;
    if found.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(err(format!(
            "the discovery document at {url} names the issuer `{}`, not `{issuer}`: set web.issuer to exactly what the provider calls itself",
            found.issuer
        )));
    }
    if let Some(methods) = &found.code_challenge_methods_supported {
        if !methods.iter().any(|m| m == "S256") {
            return Err(err(
                "the provider does not offer PKCE with S256, which Baton requires",
            ));
        }
    }
    Ok(found)
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<Value, OidcError> {
    let mut request = http.get(url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| err(format!("cannot reach {url}: {e}")))?;
    if !response.status().is_success() {
        return Err(err(format!("{url} answered {}", response.status())));
    }
    response
        .json()
        .await
        .map_err(|_| err(format!("{url} did not answer JSON")))
}

/// An HTTP client for talking to the provider: bounded in time, no redirects followed.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

impl Oidc {
    /// A relying party for `client`; nothing is fetched until the first sign-in.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            http: http_client(),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The provider's discovery document, from the cache when it is fresh.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, OidcError> {
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| c.fetched.elapsed() < MAX_AGE) {
            return Ok(c.discovery.clone());
        }
        let discovery = Arc::new(discover(&self.http, &self.client.issuer).await?);
        let keys = Arc::new(self.fetch_keys(&discovery).await?);
        *cache = Some(Cached {
            discovery: discovery.clone(),
            keys,
            fetched: Instant::now(),
            keys_fetched: Instant::now(),
        });
        Ok(discovery)
    }

    async fn fetch_keys(&self, discovery: &Discovery) -> Result<JwkSet, OidcError> {
        let value = get_json(&self.http, &discovery.jwks_uri, None).await?;
        serde_json::from_value(value).map_err(|_| err("the provider's jwks_uri did not list keys"))
    }

    /// Where to send the browser: the authorization request with PKCE (S256), `state` and `nonce`.
    pub fn authorize_url(&self, d: &Discovery, state: &str, nonce: &str, pkce: &Pkce) -> String {
        let mut scopes = vec!["openid".to_string()];
        scopes.extend(
            self.client
                .scopes
                .iter()
                .filter(|s| *s != "openid")
                .cloned(),
        );
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", &self.client.client_id),
            ("redirect_uri", &self.client.redirect_uri),
            ("scope", &scopes.join(" ")),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
        .unwrap_or_default();
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}{query}", d.authorization_endpoint)
    }

    /// Exchanges `code` (with the PKCE `verifier`) for tokens.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<Tokens, OidcError> {
        let d = self.discovery().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.client.redirect_uri),
            ("code_verifier", verifier),
        ];
        // client_secret_basic: id and secret form-urlencoded, then Basic (RFC 6749 §2.3.1).
        let enc = |s: &str| {
            let pair = serde_urlencoded::to_string([("", s)]).unwrap_or_default();
            pair.strip_prefix('=').unwrap_or_default().to_string()
        };
        let response = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(
                enc(&self.client.client_id),
                Some(enc(&self.client.client_secret)),
            )
            .form(&form)
            .send()
            .await
            .map_err(|e| err(format!("cannot reach the provider's token endpoint: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let body: Value = response.json().await.unwrap_or_default();
            let why = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no reason given");
            return Err(err(format!(
                "the provider refused the sign-in code ({status}: {why})"
            )));
        }
        response
            .json()
            .await
            .map_err(|_| err("the provider's token endpoint did not answer JSON"))
    }

    /// Checks `id_token` (signature against the provider's keys, issuer, audience, expiry, and
    /// the `nonce` of this sign-in) and returns its claims.
    pub async fn verify(
        &self,
        id_token: &str,
        nonce: &str,
    ) -> Result<Map<String, Value>, OidcError> {
        let header = jsonwebtoken::decode_header(id_token)
            .map_err(|_| err("the provider's ID token is not a JWT"))?;
        let allowed = [
            Algorithm::RS256,
            Algorithm::RS384,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::PS384,
            Algorithm::PS512,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ];
        if !allowed.contains(&header.alg) {
            return Err(err(format!(
                "the ID token is signed with {:?}, which Baton does not accept",
                header.alg
            )));
        }
        let key = self.key(header.kid.as_deref(), header.alg).await?;
        let discovery = self.discovery().await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.set_audience(&[self.client.client_id.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        let data = jsonwebtoken::decode::<Map<String, Value>>(id_token, &key, &validation)
            .map_err(|e| err(format!("the provider's ID token was refused: {e}")))?;
        let claims = data.claims;
        if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
            return Err(err("the ID token's nonce is not this sign-in's"));
        }
        let several = claims
            .get("aud")
            .and_then(Value::as_array)
            .is_some_and(|a| a.len() > 1);
        if several
            && claims.get("azp").and_then(Value::as_str) != Some(self.client.client_id.as_str())
        {
            return Err(err("the ID token was issued to another client (azp)"));
        }
        Ok(claims)
    }

    /// The key `kid` names (or the only key of its kind), fetching the keys again when it is
    /// unknown and the last fetch is over a minute old.
    async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, OidcError> {
        self.discovery().await?;
        let mut cache = self.cache.lock().await;
        let Some(c) = cache.as_mut() else {
            return Err(err("the provider's keys are not loaded"));
        };
        if find(&c.keys, kid, alg).is_none() && c.keys_fetched.elapsed() >= REFETCH_AT_MOST {
            c.keys = Arc::new(self.fetch_keys(&c.discovery).await?);
            c.keys_fetched = Instant::now();
        }
        let jwk = find(&c.keys, kid, alg)
            .ok_or_else(|| err("the ID token names a key the provider does not list"))?;
        DecodingKey::from_jwk(jwk).map_err(|_| err("the provider lists a key Baton cannot read"))
    }

    /// The userinfo claims, for a groups claim the ID token lacks.
    pub async fn userinfo(&self, access_token: &str) -> Result<Map<String, Value>, OidcError> {
        let d = self.discovery().await?;
        let url = d
            .userinfo_endpoint
            .as_deref()
            .ok_or_else(|| err("the provider has no userinfo endpoint"))?;
        match get_json(&self.http, url, Some(access_token)).await? {
            Value::Object(map) => Ok(map),
            _ => Err(err("the provider's userinfo answer is not a JSON object")),
        }
    }
}

fn find<'a>(
    keys: &'a JwkSet,
    kid: Option<&str>,
    alg: Algorithm,
) -> Option<&'a jsonwebtoken::jwk::Jwk> {
    match kid {
        Some(kid) => keys.find(kid),
        None => {
            let fits: Vec<_> = keys
                .keys
                .iter()
                .filter(|k| DecodingKey::from_jwk(k).is_ok() && alg_fits(k, alg))
                .collect();
            (fits.len() == 1).then(|| fits[0])
        }
    }
}

fn alg_fits(k: &jsonwebtoken::jwk::Jwk, alg: Algorithm) -> bool {
    use jsonwebtoken::jwk::AlgorithmParameters as P;
    matches!(
        (&k.algorithm, alg),
        (
            P::RSA(_),
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
        ) | (P::EllipticCurve(_), Algorithm::ES256 | Algorithm::ES384)
            | (P::OctetKeyPair(_), Algorithm::EdDSA)
    )
}

#[cfg(test)]
#[path = "oidc_tests.rs"]
mod tests;
