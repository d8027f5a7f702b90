//! `[redis]` beyond its shape: every URL is parsed exactly as the connection will parse it (so
//! `config check` fails what `serve` would reject), TLS files are looked at, and credentials never
//! reach a message, a log line or `Debug` output.

use std::fmt;
use std::path::Path;

use crate::store::settings::{redact_url, RedisConfig};
use crate::store::url;

use super::decode::Ctx;
use super::{Config, Problem};
use crate::domain::preview;

/// Something `config check` points out that does not stop Baton from starting, such as a
/// certificate file that is not readable here but may be where Baton runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// A sentence a person can act on; it never holds a credential.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Config {
    /// Every URL must parse the way redis-rs will parse it when connecting; the TLS files must
    /// come in pairs and hold PEM where they can be read.
    pub(super) fn check_redis_urls(&self, ctx: &Ctx, out: &mut Vec<Problem>) {
        let r = &self.redis;
        let mut all = vec![("redis.url", r.url.as_str())];
        all.extend(r.sentinels.iter().map(|u| ("redis.sentinels", u.as_str())));
        all.extend(r.cluster.iter().map(|u| ("redis.cluster", u.as_str())));
        for (at, url) in all {
            if let Err(why) = parse_url(url) {
                let shown = preview(&redact_url(url));
                out.push(ctx.problem(at, format!("`{at}` `{shown}` {why}")));
            }
        }
        if r.tls_client_cert.is_some() != r.tls_client_key.is_some() {
            out.push(ctx.problem(
                "redis.tls_client_cert",
                "mutual TLS needs both redis.tls_client_cert and redis.tls_client_key",
            ));
        }
        for (at, path, what) in r.tls_files() {
            if let Ok(text) = std::fs::read(path) {
                if let Err(why) = pem_holds(&text, what) {
                    let message = format!("`{at}` {}: {why}", path.display());
                    out.push(ctx.problem(at, message));
                }
            }
        }
    }

    /// What `config check` mentions without failing: unreadable certificate files (they may be
    /// mounted only where Baton runs), TLS settings with no `rediss://` URL, `#insecure`.
    pub fn warnings(&self) -> Vec<Warning> {
        let r = &self.redis;
        let mut out = Vec::new();
        for (at, path, _) in r.tls_files() {
            if let Err(e) = std::fs::read(path) {
                out.push(format!(
                    "`{at}` {}: cannot read it here ({e}); rediss:// connections fail until Baton can",
                    path.display()
                ));
            }
        }
        let tls_set = !r.tls_files().is_empty() || r.tls_system_roots;
        if tls_set && !r.uses_tls() {
            out.push("redis TLS settings are set but no Redis URL uses rediss://, so they have no effect".into());
        }
        for (at, url) in r.urls() {
            if url.ends_with("#insecure") {
                out.push(format!("`{at}` ends in #insecure: the server's certificate is not checked, so anyone on the path can read and change Baton's state; set redis.tls_ca_file instead"));
            }
        }
        out.extend(self.chat_warnings());
        out.into_iter().map(|message| Warning { message }).collect()
    }
}

impl RedisConfig {
    /// The TLS files that are set: key, path, and what PEM they must hold.
    fn tls_files(&self) -> Vec<(&'static str, &Path, Pem)> {
        [
            ("redis.tls_ca_file", &self.tls_ca_file, Pem::Certificates),
            (
                "redis.tls_client_cert",
                &self.tls_client_cert,
                Pem::Certificates,
            ),
            ("redis.tls_client_key", &self.tls_client_key, Pem::Key),
        ]
        .into_iter()
        .filter_map(|(at, p, what)| p.as_deref().map(|p| (at, p, what)))
        .collect()
    }
}

/// What a PEM file must contain.
#[derive(Clone, Copy)]
enum Pem {
    Certificates,
    Key,
}

fn pem_holds(text: &[u8], what: Pem) -> Result<(), String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    match what {
        Pem::Certificates => {
            match CertificateDer::pem_slice_iter(text).collect::<Result<Vec<_>, _>>() {
                Ok(certs) if !certs.is_empty() => Ok(()),
                Ok(_) => Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into()),
                Err(e) => Err(format!("is not valid PEM ({e})")),
            }
        }
        Pem::Key => PrivateKeyDer::from_pem_slice(text)
            .map(|_| ())
            .map_err(|_| "holds no PEM private key (-----BEGIN PRIVATE KEY-----)".into()),
    }
}

/// Parses like the connection does; the reason never repeats the URL (it may hold a password).
fn parse_url(url: &str) -> Result<(), String> {
    url::inspect(url).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        for (url, want) in [
            ("redis://:s3cret@h:6379/0", "redis://:***@h:6379/0"),
            (
                "rediss://app:s3cret@h:notaport",
                "rediss://app:***@h:notaport",
            ),
            ("redis://h:6379/2", "redis://h:6379/2"),
            (
                "redis+unix:///tmp/r.sock?db=1&pass=s3cret",
                "redis+unix:///tmp/r.sock?db=1&pass=***",
            ),
            ("not a url with s3cret@ in it", "***@ in it"),
            // Mistyped past parsing: the scheme lost its `:`, the `@`, or holds a raw `/`.
            ("redis//:s3cret@host", "redis//:***@host"),
            ("redis:/:s3cret@h:6379/0", "redis:***@h:6379/0"),
            ("redis//:s3cret", "redis//:***"),
            ("redis://:s3cret", "redis://:***"),
            ("redis://app:s3cret/x", "redis://app:***"),
            ("redis://:pa/s3cret@h", "redis://:***@h"),
            ("redis://app/x:s3cret@h", "redis://app/x:***@h"),
            ("redis://[::1]:6379/0", "redis://[::1]:6379/0"),
            ("redis://[::1]/0", "redis://[::1]/0"),
            ("redis://:p@ss:s3cret@h", "redis://:***@h"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains("s3cret"), "{url} -> {shown}");
            assert!(shown.ends_with(want) || shown == want, "{url} -> {shown}");
        }
    }

    #[test]
    fn urls_the_connection_would_refuse_fail_the_check_without_their_password() {
        for url in [
            "redis://:s3cret@host:notaport",
            "rediss://:s3cret@host:6380#bogus",
            "http://:s3cret@host",
            "redis://:s3cret@",
        ] {
            let text = format!("[redis]\nurl = \"{url}\"\n");
            let errors = Config::from_toml_str(&text).unwrap_err();
            let shown = errors.to_string();
            assert!(shown.contains("is not a Redis URL"), "{url}: {shown}");
            assert!(!shown.contains("s3cret"), "{url}: {shown}");
        }
        for url in [
            "rediss://:s3cret@host:6380",
            "rediss://host#insecure",
            "redis://h/3",
        ] {
            let text = format!("[redis]\nurl = \"{url}\"\n");
            Config::from_toml_str(&text).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn the_database_number_comes_from_the_url() {
        let mut cfg = RedisConfig::default();
        assert_eq!(cfg.db(), 0);
        cfg.url = "redis://127.0.0.1:6379/4".into();
        assert_eq!(cfg.db(), 4);
        assert!(!format!("{cfg:?}").contains("s3cret"));
        cfg.url = "redis://:s3cret@127.0.0.1:6379/4".into();
        assert!(!format!("{cfg:?}").contains("s3cret"));
    }

    #[test]
    fn unreadable_certificate_files_are_warnings_and_bad_pem_is_an_error() {
        let text = "[redis]\nurl = \"rediss://h:6380\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n";
        let config = Config::from_toml_str(text).unwrap();
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].message.contains("redis.tls_ca_file"));
        assert!(warnings[0].message.contains("cannot read"));
        let dir = std::env::temp_dir().join(format!("baton-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.pem");
        std::fs::write(&bad, "hello").unwrap();
        let text = format!(
            "[redis]\nurl = \"rediss://h:6380\"\ntls_ca_file = \"{}\"\ntls_client_cert = \"{}\"\n",
            bad.display(),
            bad.display()
        );
        let errors = Config::from_toml_str(&text).unwrap_err().to_string();
        assert!(errors.contains("holds no PEM certificate"), "{errors}");
        assert!(errors.contains("needs both"), "{errors}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
