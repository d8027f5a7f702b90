//! The store's own settings (`[redis]` in the config file): how to reach Redis, with which
//! credentials and TLS files, and how long to wait. Defined here, beside the code that reads them,
//! so the store depends on nothing above it; the config re-exports them.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::url;
use crate::domain::duration;

/// The Redis that holds all shared state. `Debug` redacts credentials in its URLs.
#[derive(Clone, Deserialize)]
#[serde(default)]
pub struct RedisConfig {
    /// `redis://`, `rediss://` (TLS) or a unix socket.
    pub url: String,
    /// Starts every key, so several Baton installations can share one Redis.
    pub prefix: String,
    /// Hard bound on any one Redis call: locks fail closed quickly instead of hanging a chat reply.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Sentinel URLs (`redis://host:26379`); with `master_name`, Baton follows the primary.
    pub sentinels: Vec<String>,
    /// The Sentinel service name of the primary.
    pub master_name: Option<String>,
    /// Cluster seed URLs; any reachable node is enough to learn the topology.
    pub cluster: Vec<String>,
    /// After taking a lock, wait until this many replicas have it (`WAIT`), narrowing the window
    /// in which a failover loses a just-granted lock. 0 = do not wait.
    pub wait_replicas: u32,
    /// How long that `WAIT` may take.
    #[serde(deserialize_with = "duration")]
    pub wait_timeout: Duration,
    /// PEM bundle of the CA(s) that signed the servers' certificates, for `rediss://` to a private
    /// CA (managed Redis, self-hosted TLS). It replaces the built-in public roots.
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) for mutual TLS; needs `tls_client_key`.
    pub tls_client_cert: Option<PathBuf>,
    /// PEM private key of `tls_client_cert`.
    pub tls_client_key: Option<PathBuf>,
    /// Also trust the operating system's store (honouring SSL_CERT_FILE and SSL_CERT_DIR), for
    /// a CA that the platform team installs machine-wide.
    pub tls_system_roots: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            url: "redis://127.0.0.1:6379".into(),
            prefix: "baton".into(),
            timeout: Duration::from_secs(2),
            sentinels: Vec::new(),
            master_name: None,
            cluster: Vec::new(),
            wait_replicas: 0,
            wait_timeout: Duration::from_millis(100),
            tls_ca_file: None,
            tls_client_cert: None,
            tls_client_key: None,
            tls_system_roots: false,
        }
    }
}

/// `url` with its password (and a `password=`/`pass=` query value) replaced by `***`, so a
/// mistyped URL can be shown without leaking the secret in it. Works on text that does not parse:
/// the password runs from the first `:` of the credentials to the last `@`, wherever the text
/// breaks the grammar (`redis//:pw@host` lost its `:`, a password may hold a raw `/` or `@`).
/// Without an `@`, a password can only stand where a port would (`redis://:pw`), or anywhere
/// after a `:` in text with no scheme at all.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let shown = match rest.rfind('@') {
        Some(at) => {
            let hidden = match rest[..at].split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => "***".into(),
            };
            format!("{hidden}{}", redact_query(&rest[at..]))
        }
        None if scheme.is_empty() => match rest.split_once(':') {
            Some((before, _)) => format!("{before}:***"),
            None => redact_query(rest),
        },
        None => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(end);
            // The last `:` outside an IPv6 literal's brackets starts the port.
            let port = authority
                .rfind(':')
                .filter(|&i| !authority[i..].contains(']'));
            match port {
                Some(i) if !authority[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{}:***", &authority[..i])
                }
                _ => format!("{authority}{}", redact_query(tail)),
            }
        }
    };
    format!("{scheme}{shown}")
}

/// `text` with the values of `password=` and `pass=` in its query replaced by `***`.
fn redact_query(text: &str) -> String {
    let Some((path, query)) = text.split_once('?') else {
        return text.to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if matches!(k, "password" | "pass") => format!("{k}=***"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |urls: &[String]| urls.iter().map(|u| redact_url(u)).collect::<Vec<_>>();
        f.debug_struct("RedisConfig")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("sentinels", &redact(&self.sentinels))
            .field("master_name", &self.master_name)
            .field("cluster", &redact(&self.cluster))
            .field("wait_replicas", &self.wait_replicas)
            .field("wait_timeout", &self.wait_timeout)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("tls_client_cert", &self.tls_client_cert)
            .field("tls_client_key", &self.tls_client_key)
            .field("tls_system_roots", &self.tls_system_roots)
            .finish()
    }
}

impl RedisConfig {
    /// The URLs Baton connects to, with the key that names each: the one server, or every
    /// sentinel, or every cluster seed.
    pub fn urls(&self) -> Vec<(&'static str, &str)> {
        if !self.cluster.is_empty() {
            return self
                .cluster
                .iter()
                .map(|u| ("redis.cluster", u.as_str()))
                .collect();
        }
        if !self.sentinels.is_empty() {
            return self
                .sentinels
                .iter()
                .map(|u| ("redis.sentinels", u.as_str()))
                .collect();
        }
        vec![("redis.url", self.url.as_str())]
    }

    /// Whether any connection is `rediss://`.
    pub fn uses_tls(&self) -> bool {
        self.urls()
            .iter()
            .any(|(_, u)| url::inspect(u).is_ok_and(|f| f.tls))
    }

    /// The database number the one server is used with (`redis://host/3`); 0 for Sentinel and
    /// Cluster, which Baton uses on database 0.
    pub fn db(&self) -> i64 {
        if !self.cluster.is_empty() || !self.sentinels.is_empty() {
            return 0;
        }
        url::inspect(&self.url).map_or(0, |f| f.db)
    }
}
