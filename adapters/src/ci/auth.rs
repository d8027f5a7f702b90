//! Bearer tokens: the presented token is hashed with SHA-256 and compared, in constant time, with
//! the configured hashes, so the config never holds a token and a timing probe learns nothing.

use axum::http::HeaderMap;
use baton_commands::config::CiTokenConfig;
use baton_commands::domain::EnvName;
use baton_commands::Catalog;
use baton_commands::{Actor, Touches};
use sha2::{Digest, Sha256};

use super::ApiError;

/// A configured token, ready for checking.
#[derive(Clone, Debug)]
pub struct TokenEntry {
    name: String,
    hash: [u8; 32],
    envs: Vec<String>,
}

impl TokenEntry {
    /// From config; a malformed hash (refused by `config check`) never matches.
    pub fn from_config(t: &CiTokenConfig) -> Self {
        let mut hash = [0u8; 32];
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = t
                .sha256
                .get(i * 2..i * 2 + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .unwrap_or(0);
        }
        Self {
            name: t.name.clone(),
            hash,
            envs: t.envs.clone(),
        }
    }
}

/// Who called: the token's identity and the envs it may touch.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `ci:<token name>`.
    pub actor: Actor,
    envs: Vec<String>,
}

impl Caller {
    /// Refuses a command that changes an env outside the token's scope. A pool is in scope when
    /// every one of its members is.
    pub fn check(&self, touches: &Touches<'_>, catalog: &Catalog) -> Result<(), ApiError> {
        let allowed = match touches {
            Touches::Nothing => true,
            Touches::One(name) => match catalog.pool(name) {
                Some(pool) => pool.members.iter().all(|m| self.may(m)),
                None => self.may(name),
            },
            Touches::Several(envs) => envs.iter().all(|e| self.may(e)),
            Touches::All => self.envs.iter().any(|g| g == "*"),
        };
        if allowed {
            return Ok(());
        }
        let what = match touches {
            Touches::One(env) => format!("`{env}`"),
            Touches::Several(envs) => {
                let refused: Vec<String> = envs
                    .iter()
                    .filter(|e| !self.may(e))
                    .map(|e| format!("`{e}`"))
                    .collect();
                refused.join(", ")
            }
            _ => "every env".into(),
        };
        Err(ApiError::new(
            403,
            "forbidden",
            format!(
                "token `{}` may not touch {what}; it may touch: {}. Add the env to its `envs` in [[ci.tokens]]",
                self.actor.id.trim_start_matches("ci:"),
                self.envs.join(", ")
            ),
        ))
    }

    /// Whether this caller may see the holder id of `holder`'s hold on `env`: a pipeline's
    /// (`ci:<token>#<ticket>`) only by its own token, anyone else's (a Slack, Discord or GitHub
    /// id) only by a token scoped to the env.
    pub fn sees(&self, env: &str, holder: &str) -> bool {
        if holder.starts_with("ci:") {
            let identity = holder.split_once('#').map_or(holder, |(id, _)| id);
            return identity == self.actor.id;
        }
        self.envs.iter().any(|glob| glob_match(glob, env))
    }

    fn may(&self, env: &EnvName) -> bool {
        self.envs.iter().any(|glob| glob_match(glob, env.as_str()))
    }
}

/// The caller behind an `Authorization: Bearer` header.
pub fn authenticate(headers: &HeaderMap, tokens: &[TokenEntry]) -> Result<Caller, ApiError> {
    let unauthorized = |m: &str| ApiError::new(401, "unauthorized", m.to_string());
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send your CI token as `Authorization: Bearer <token>`"))?;
    let presented = value
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 7235 §2.1): `Bearer`, `bearer`, `BEARER`.
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 512)
        .ok_or_else(|| unauthorized("the Authorization header must read `Bearer <token>`"))?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Compare against every entry, without stopping early, in constant time per entry.
    let mut found = None;
    for t in tokens {
        let diff = t
            .hash
            .iter()
            .zip(digest.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff == 0 && found.is_none() {
            found = Some(t);
        }
    }
    let t = found.ok_or_else(|| unauthorized("this token is not known to Baton; check BATON_TOKEN, or ask for one (`baton ci token`)"))?;
    Ok(Caller {
        actor: Actor::new(format!("ci:{}", t.name)),
        envs: t.envs.clone(),
    })
}

/// Lowercase hex SHA-256, as `[[ci.tokens]] sha256` stores it: the core's one digest.
pub fn sha256_hex(token: &str) -> String {
    baton_commands::sha256_hex(token.as_bytes())
}

pub use baton_commands::domain::glob_match;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_shells_do() {
        for (glob, name, want) in [
            ("staging-*", "staging-2", true),
            ("staging-*", "staging", false),
            ("*", "prod", true),
            ("prod", "prod", true),
            ("prod", "production", false),
            ("st?ging-*", "staging-10", true),
            ("*-eu", "prod-eu", true),
            ("*-eu", "prod-us", false),
        ] {
            assert_eq!(glob_match(glob, name), want, "{glob} vs {name}");
        }
    }

    #[test]
    fn a_token_is_known_by_its_hash_only() {
        let t = CiTokenConfig {
            name: "gh".into(),
            sha256: sha256_hex("s3cret"),
            envs: vec!["qa".into()],
            ..Default::default()
        };
        let tokens = [TokenEntry::from_config(&t)];
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert_eq!(authenticate(&headers, &tokens).unwrap().actor.id, "ci:gh");
        for scheme in ["bearer", "BEARER", "BeArEr"] {
            headers.insert("authorization", format!("{scheme} s3cret").parse().unwrap());
            assert_eq!(authenticate(&headers, &tokens).unwrap().actor.id, "ci:gh");
        }
        headers.insert("authorization", "Bearer s3cre".parse().unwrap());
        let err = authenticate(&headers, &tokens).unwrap_err();
        assert_eq!(err.status, 401);
        assert!(!err.message.contains("s3cre"), "the token is never echoed");
    }
}
