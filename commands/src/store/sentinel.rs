//! A Sentinel-managed primary, followed through failovers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::StreamExt;
use redis::aio::ConnectionManager;
use redis::sentinel::SentinelClient;
use redis::RedisResult;
use tokio::sync::{Mutex, RwLock};

use super::backend::manager_config;
use super::tls::Tls;

/// The Sentinel-managed primary. redis-rs resolves the primary once and then stays on that
/// address forever, so this re-resolves through the sentinels after connection errors and
/// `READONLY`/`MASTERDOWN` answers, and rebuilds the connection when the primary moved.
pub struct SentinelBackend {
    sentinel: Mutex<SentinelClient>,
    current: RwLock<Option<(String, redis::Client, ConnectionManager)>>,
    last_refresh: std::sync::Mutex<Option<Instant>>,
    timeout: Duration,
}

impl SentinelBackend {
    pub(super) fn new(
        sentinels: &[String],
        master: &str,
        timeout: Duration,
        tls: &Tls,
    ) -> RedisResult<Self> {
        let sentinel = tls.sentinel(sentinels, master)?;
        Ok(Self {
            sentinel: Mutex::new(sentinel),
            current: RwLock::new(None),
            last_refresh: std::sync::Mutex::new(None),
            timeout,
        })
    }

    pub(super) async fn conn(&self) -> RedisResult<ConnectionManager> {
        if let Some((_, _, conn)) = self.current.read().await.as_ref() {
            return Ok(conn.clone());
        }
        self.refresh().await?;
        self.current
            .read()
            .await
            .as_ref()
            .map(|(_, _, c)| c.clone())
            .ok_or_else(|| (redis::ErrorKind::Io, "no primary known yet").into())
    }

    pub(super) async fn client(&self) -> RedisResult<redis::Client> {
        self.conn().await?;
        self.current
            .read()
            .await
            .as_ref()
            .map(|(_, c, _)| c.clone())
            .ok_or_else(|| (redis::ErrorKind::Io, "no primary known yet").into())
    }

    /// Asks the sentinels for the primary; swaps the connection when it moved.
    pub async fn refresh(&self) -> RedisResult<()> {
        let client = {
            let mut sentinel = self.sentinel.lock().await;
            tokio::time::timeout(self.timeout, sentinel.async_get_client())
                .await
                .map_err(|_| {
                    redis::RedisError::from((
                        redis::ErrorKind::Io,
                        "sentinels did not answer in time",
                    ))
                })??
        };
        let addr = client.get_connection_info().addr().to_string();
        let mut current = self.current.write().await;
        if current.as_ref().is_some_and(|(a, _, _)| *a == addr) {
            return Ok(());
        }
        tracing::warn!(primary = %addr, "Redis primary (re)resolved through Sentinel");
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config(self.timeout))?;
        *current = Some((addr, client, conn));
        Ok(())
    }

    pub(super) fn on_error(self: Arc<Self>, e: &redis::RedisError) {
        let moved = e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
            || matches!(
                e.kind(),
                redis::ErrorKind::Server(
                    redis::ServerErrorKind::ReadOnly | redis::ServerErrorKind::MasterDown
                )
            );
        if !moved {
            return;
        }
        {
            let mut last = self.last_refresh.lock().expect("not poisoned");
            if last.is_some_and(|t| t.elapsed() < Duration::from_millis(250)) {
                return;
            }
            *last = Some(Instant::now());
        }
        tokio::spawn(async move {
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "asking the sentinels for the primary failed");
            }
        });
    }

    /// Follows `+switch-master` on the sentinels, so a failover is noticed before the next error.
    pub fn watch(self: Arc<Self>, sentinels: Vec<String>, tls: Tls) {
        for url in sentinels {
            let me = self.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                loop {
                    if let Ok(client) = tls.client(&url) {
                        if let Ok(mut pubsub) = client.get_async_pubsub().await {
                            if pubsub.subscribe("+switch-master").await.is_ok() {
                                let mut messages = pubsub.on_message();
                                while messages.next().await.is_some() {
                                    let _ = me.refresh().await;
                                }
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    }
}
