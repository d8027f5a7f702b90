//! Who may post to `/teams/messages`: every request carries a bearer token that Bot Framework
//! signed, and it is checked as Microsoft specifies for a bot's messaging endpoint
//! ("Authenticate requests from the Bot Connector service to your bot"):
//!
//! 1. an `Authorization: Bearer` header;
//! 2. signed with RS256 by a key listed in the `jwks_uri` of Bot Framework's OpenID metadata
//!    (the keys are cached, and fetched again when a token names a key not in the cache, at most
//!    once a minute, and at least once a day);
//! 3. issued by `https://api.botframework.com`, for this bot (`aud` = its app id), not expired
//!    and already valid, with five minutes' clock skew;
//! 4. its `serviceurl` claim the very `serviceUrl` the activity names, so a token taken from one
//!    request cannot send Baton's replies (and its own token) somewhere else;
//! 5. where the key lists endorsements, one for the activity's channel (`msteams`).
//!
//! There is no switch that turns any of this off: tests point the metadata URL at an issuer of
//! their own.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::Mutex;

/// The issuer of every token Bot Framework sends to a bot.
pub const ISSUER: &str = "https://api.botframework.com";
/// Clock skew allowed on `exp` and `nbf`.
const LEEWAY: Duration = Duration::from_secs(300);
/// Keys are fetched again at least this often.
const KEYS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// A token naming an unknown key fetches the keys again at most this often, so forged tokens
/// cannot make Baton hammer the metadata endpoint.
const REFETCH_AT_MOST: Duration = Duration::from_secs(60);

/// Why a request was refused: the HTTP status and a sentence that gives nothing away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401 (no or bad credentials) or 403 (a valid token that does not cover this request).
    pub status: u16,
    /// What was wrong.
    pub why: &'static str,
}

impl Refusal {
    fn unauthorized(why: &'static str) -> Self {
        Self { status: 401, why }
    }
}

/// The claims Baton reads.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default, alias = "serviceUrl")]
    serviceurl: Option<String>,
}

/// One signing key and the channels it is endorsed for.
struct Key {
    decoding: DecodingKey,
    endorsements: Option<Vec<String>>,
}

struct Keys {
    by_kid: HashMap<String, Arc<Key>>,
    fetched: Option<Instant>,
}

/// Checks inbound tokens against Bot Framework's published keys.
#[derive(Clone)]
pub struct TokenCheck {
    app_id: String,
    metadata_url: String,
    http: reqwest::Client,
    keys: Arc<Mutex<Keys>>,
}

impl TokenCheck {
    /// For the bot `app_id`, with keys from the OpenID metadata at `metadata_url`.
    pub fn new(app_id: &str, metadata_url: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self {
            app_id: app_id.to_string(),
            metadata_url: metadata_url.to_string(),
            http,
            keys: Arc::new(Mutex::new(Keys {
                by_kid: HashMap::new(),
                fetched: None,
            })),
        }
    }

    /// Checks the `Authorization` header of a request whose activity names `service_url` (none
    /// for an empty body) and `channel` (`msteams`).
    pub async fn check(
        &self,
        authorization: Option<&str>,
        service_url: Option<&str>,
        channel: Option<&str>,
    ) -> Result<(), Refusal> {
        let token = authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Refusal::unauthorized(
                "no bearer token: Bot Framework signs every request to a bot",
            ))?;
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| Refusal::unauthorized("the bearer token is not a JWT"))?;
        if header.alg != Algorithm::RS256 {
            return Err(Refusal::unauthorized("the token is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or(Refusal::unauthorized("the token names no signing key"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[&self.app_id]);
        validation.leeway = LEEWAY.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data =
            jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                Refusal::unauthorized(match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet",
                    K::InvalidAudience => {
                        "the token is for another bot (its audience is not this app id)"
                    }
                    K::InvalidIssuer => "the token was not issued by Bot Framework",
                    K::InvalidSignature => "the token's signature does not verify",
                    _ => "the token is not valid",
                })
            })?;
        if let Some(service_url) = service_url {
            if data.claims.serviceurl.as_deref() != Some(service_url) {
                return Err(Refusal {
                    status: 403,
                    why: "the token was issued for another serviceUrl than the activity names",
                });
            }
        }
        if let (Some(endorsed), Some(channel)) = (&key.endorsements, channel) {
            if !endorsed.iter().any(|e| e == channel) {
                return Err(Refusal {
                    status: 403,
                    why: "the signing key is not endorsed for the activity's channel",
                });
            }
        }
        Ok(())
    }

    /// The key `kid`, fetching the key set again when it is unknown (at most once a minute) or
    /// a day old.
    async fn key(&self, kid: &str) -> Result<Arc<Key>, Refusal> {
        let mut keys = self.keys.lock().await;
        let age = keys.fetched.map(|at| at.elapsed());
        let stale = age.is_none_or(|a| a > KEYS_MAX_AGE);
        let unknown = !keys.by_kid.contains_key(kid);
        let may_refetch = age.is_none_or(|a| a > REFETCH_AT_MOST);
        if stale || (unknown && may_refetch) {
            match self.fetch().await {
                Ok(fresh) => {
                    keys.by_kid = fresh;
                    keys.fetched = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(error = %e, url = %self.metadata_url, "could not fetch Bot Framework's signing keys");
                    if keys.by_kid.is_empty() {
                        return Err(Refusal {
                            status: 503,
                            why: "Bot Framework's signing keys could not be fetched; try again shortly",
                        });
                    }
                }
            }
        }
        keys.by_kid.get(kid).cloned().ok_or(Refusal::unauthorized(
            "the token is signed by a key Bot Framework does not list",
        ))
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<Key>>, String> {
        #[derive(Deserialize)]
        struct Metadata {
            jwks_uri: String,
        }
        #[derive(Deserialize)]
        struct KeySet {
            keys: Vec<serde_json::Value>,
        }
        let metadata: Metadata = self.get(&self.metadata_url).await?;
        let set: KeySet = self.get(&metadata.jwks_uri).await?;
        let mut out = HashMap::new();
        for raw in set.keys {
            let endorsements = raw.get("endorsements").and_then(|e| {
                e.as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
            });
            let Ok(jwk) = serde_json::from_value::<Jwk>(raw) else {
                continue;
            };
            let (Some(kid), Ok(decoding)) =
                (jwk.common.key_id.clone(), DecodingKey::from_jwk(&jwk))
            else {
                continue;
            };
            out.insert(
                kid,
                Arc::new(Key {
                    decoding,
                    endorsements,
                }),
            );
        }
        Ok(out)
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        response
            .json()
            .await
            .map_err(|e| e.without_url().to_string())
    }
}
