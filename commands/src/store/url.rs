//! What a Redis URL says, read exactly as the connection will read it: `config check` refuses a
//! URL that `serve` would refuse, and never repeats it (it may hold a password).

use redis::{ConnectionAddr, IntoConnectionInfo};

/// What the connection will make of a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlFacts {
    /// `rediss://`: the connection is TLS.
    pub tls: bool,
    /// The database number (`redis://host/3`).
    pub db: i64,
}

/// Reads `url` as redis-rs will when connecting; the reason never repeats the URL.
pub fn inspect(url: &str) -> Result<UrlFacts, String> {
    match url.into_connection_info() {
        Ok(info) => Ok(UrlFacts {
            tls: matches!(info.addr(), ConnectionAddr::TcpTls { .. }),
            db: info.redis_settings().db(),
        }),
        Err(e) => {
            let detail = e.detail().map(|d| format!(" ({d})")).unwrap_or_default();
            let hint = "use redis://[user:password@]host[:port][/db], rediss://… for TLS (optionally ending in #insecure), or redis+unix:///path";
            Err(format!(
                "is not a Redis URL Baton can use: {}{detail}; {hint}",
                e.category()
            ))
        }
    }
}
