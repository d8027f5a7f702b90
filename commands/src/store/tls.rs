//! TLS for `rediss://`: which certificates redis-rs is handed, for one server, Sentinel (the
//! sentinels and the primary they name) and Cluster alike.
//!
//! Without any `[redis] tls_*` setting redis-rs trusts the Mozilla roots built into Baton
//! (webpki-roots), which is right for Redis behind a public CA. A private CA, mutual TLS or the
//! machine's own store need certificates given explicitly: redis-rs then trusts exactly the PEM
//! bundle passed, so this module assembles it from `tls_ca_file` and, with `tls_system_roots`,
//! the OS store (which honours SSL_CERT_FILE and SSL_CERT_DIR).

use std::path::Path;

use base64::Engine;
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    ClientTlsConfig, ConnectionAddr, ErrorKind, IntoConnectionInfo, RedisError, RedisResult,
    TlsCertificates, TlsMode,
};

use super::settings::RedisConfig;

/// The certificates every Redis connection of this deployment uses. Cheap to clone.
#[derive(Clone, Default)]
pub struct Tls {
    /// `None`: redis-rs's defaults (built-in public roots, no client certificate).
    certs: Option<TlsCertificates>,
}

impl Tls {
    /// Reads the files `cfg` names. Fails with the setting and the path (never a URL) when one
    /// cannot be read, so `serve` stops with a sentence instead of a TLS error at the first call.
    pub fn load(cfg: &RedisConfig) -> RedisResult<Self> {
        let client_tls = match (&cfg.tls_client_cert, &cfg.tls_client_key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read("redis.tls_client_cert", cert)?,
                client_key: read("redis.tls_client_key", key)?,
            }),
            _ => None,
        };
        let mut roots = Vec::new();
        if let Some(ca) = &cfg.tls_ca_file {
            roots.extend(read("redis.tls_ca_file", ca)?);
            roots.push(b'\n');
        }
        if cfg.tls_system_roots {
            roots.extend(system_roots_pem()?);
        }
        let root_cert = (!roots.is_empty()).then_some(roots);
        if client_tls.is_none() && root_cert.is_none() {
            return Ok(Self::default());
        }
        Ok(Self {
            certs: Some(TlsCertificates {
                client_tls,
                root_cert,
            }),
        })
    }

    /// A client for one server (or one sentinel).
    pub fn client(&self, url: &str) -> RedisResult<redis::Client> {
        let info = url.into_connection_info()?;
        match (&self.certs, info.addr()) {
            (Some(certs), ConnectionAddr::TcpTls { .. }) => {
                redis::Client::build_with_tls(info, certs.clone())
            }
            _ => redis::Client::open(info),
        }
    }

    /// A Cluster client builder for `seeds`; callers add their timeouts.
    pub fn cluster(&self, seeds: &[String]) -> ClusterClientBuilder {
        let builder = ClusterClient::builder(seeds.to_vec());
        match &self.certs {
            Some(certs) if seeds.iter().any(|s| is_tls(s)) => builder.certs(certs.clone()),
            _ => builder,
        }
    }

    /// A Sentinel client for `master`. When the sentinels are reached over TLS, so is the primary
    /// they name (with the same certificates); redis-rs's plain `build` would connect to the
    /// primary in clear text.
    pub fn sentinel(&self, sentinels: &[String], master: &str) -> RedisResult<SentinelClient> {
        let infos = sentinels
            .iter()
            .map(|s| s.as_str().into_connection_info())
            .collect::<RedisResult<Vec<_>>>()?;
        let tls_mode = infos.iter().find_map(|i| match i.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => Some(TlsMode::Insecure),
            ConnectionAddr::TcpTls { .. } => Some(TlsMode::Secure),
            _ => None,
        });
        let Some(mode) = tls_mode else {
            return SentinelClient::build(
                sentinels.to_vec(),
                master,
                None,
                SentinelServerType::Master,
            );
        };
        let mut builder = SentinelClientBuilder::new(
            infos.iter().map(|i| i.addr().clone()),
            master,
            SentinelServerType::Master,
        )?;
        if let Some(first) = infos.first().map(|i| i.redis_settings()) {
            if let Some(user) = first.username() {
                builder = builder.set_client_to_sentinel_username(user);
            }
            if let Some(password) = first.password() {
                builder = builder.set_client_to_sentinel_password(password);
            }
        }
        builder = builder.set_client_to_redis_tls_mode(mode);
        if let Some(certs) = &self.certs {
            builder = builder
                .set_client_to_redis_certificates(certs.clone())
                .set_client_to_sentinel_certificates(certs.clone());
        }
        builder.build()
    }
}

fn is_tls(url: &str) -> bool {
    url.into_connection_info()
        .is_ok_and(|i| matches!(i.addr(), ConnectionAddr::TcpTls { .. }))
}

fn read(setting: &'static str, path: &Path) -> RedisResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        RedisError::from((
            ErrorKind::InvalidClientConfig,
            "cannot read a TLS file",
            format!("{setting} {}: {e}", path.display()),
        ))
    })
}

/// The OS store as one PEM bundle (redis-rs takes roots only as PEM).
fn system_roots_pem() -> RedisResult<Vec<u8>> {
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why = found.errors.first().map(ToString::to_string);
        return Err(RedisError::from((
            ErrorKind::InvalidClientConfig,
            "redis.tls_system_roots is set but the system certificate store is empty",
            why.unwrap_or_else(|| "no certificates found".into()),
        )));
    }
    let mut pem = Vec::new();
    for cert in found.certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    Ok(pem)
}
