//! The Redis store: one reconnecting connection, the key layout and the scripts.
//!
//! Command code sees only [`Store::eval`] and friends, never a connection type, so Sentinel and
//! Cluster can be added behind [`Store`] without touching it. Every call is bounded in time: a
//! Redis that is down or hung yields [`StoreError::Unavailable`] within `redis.timeout`, and the
//! connection comes back by itself when Redis does.

pub mod keys;
pub mod scripts;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ErrorKind, FromRedisValue, Script, ServerErrorKind, Value};
use serde::de::DeserializeOwned;

use crate::config::RedisConfig;
use crate::domain::EnvName;
pub use keys::{EnvKeys, Keys};

/// Why the store could not answer. Its `Display` is safe to show people; causes go to `tracing`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached or did not answer in time.
    #[error("the state store (Redis) is unavailable")]
    Unavailable,
    /// Redis answered, but not as Baton expects (a bug, or someone else's data in our keys).
    #[error("the state store gave an unexpected answer")]
    Unexpected,
}

/// A script call on the envs of one group. Built by [`Store::script`].
pub struct Call {
    script: &'static Script,
    keys: Vec<String>,
    args: Vec<String>,
}

impl Call {
    /// Adds the script's next own argument (`ARGV[4]` onwards).
    pub fn arg(mut self, a: impl ToString) -> Self {
        self.args.push(a.to_string());
        self
    }

    fn cmd(&self) -> Cmd {
        let mut c = redis::cmd("EVALSHA");
        c.arg(self.script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        c
    }
}

/// Baton's handle on Redis. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Store {
    config: Arc<RedisConfig>,
    client: redis::Client,
    conn: ConnectionManager,
    keys: Keys,
    timeout: Duration,
    history_length: usize,
    round_trips: Arc<AtomicU64>,
}

impl Store {
    /// Prepares a connection without touching the network: Baton starts, and answers "store
    /// unavailable", while Redis is down, and connects once it is up.
    pub fn connect(cfg: &RedisConfig, history_length: usize) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(cfg.url.as_str())?;
        let step = (cfg.timeout / 4).max(Duration::from_millis(100));
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(step))
            .set_response_timeout(Some(step))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager)?;
        Ok(Self {
            config: Arc::new(cfg.clone()),
            client,
            conn,
            keys: Keys::new(&cfg.prefix),
            timeout: cfg.timeout,
            history_length,
            round_trips: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A fresh Pub/Sub connection (the event bus keeps one per instance), bounded in time.
    pub async fn pubsub(&self) -> Result<redis::aio::PubSub, StoreError> {
        self.bounded(self.client.get_async_pubsub()).await
    }

    /// Where Redis is, for libraries that open connections of their own (bullmq-official).
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How many round trips this store (and its clones) has made: what tests and `bench` count.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// A call of `script` on `envs`, which must all belong to `group`.
    pub fn script(&self, script: &'static Script, group: &EnvName, envs: &[&EnvName]) -> Call {
        let keys = envs
            .iter()
            .flat_map(|env| self.keys.env(group, env).0)
            .collect();
        let names: Vec<&str> = envs.iter().map(|e| e.as_str()).collect();
        Call {
            script,
            keys,
            args: vec![
                names.join(","),
                self.keys.events_channel(),
                self.history_length.to_string(),
            ],
        }
    }

    /// A call of a standalone script on explicit keys, with no prelude arguments.
    pub fn script_on_keys(&self, script: &'static Script, keys: Vec<String>) -> Call {
        Call {
            script,
            keys,
            args: Vec::new(),
        }
    }

    /// Runs one script in one round trip and decodes its JSON answer.
    pub async fn eval<T: DeserializeOwned>(&self, call: Call) -> Result<T, StoreError> {
        let mut all = self.eval_many(vec![call]).await?;
        all.pop().ok_or(StoreError::Unexpected)
    }

    /// Runs several script calls (one per group) in one pipelined round trip.
    pub async fn eval_many<T: DeserializeOwned>(
        &self,
        calls: Vec<Call>,
    ) -> Result<Vec<T>, StoreError> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for c in &calls {
            pipe.add_command(c.cmd());
        }
        let mut values: Vec<Value> = self
            .bounded(pipe.query_async(&mut self.conn.clone()))
            .await?;
        // After a Redis restart the script cache is empty: load, then re-run exactly the calls
        // that were refused with NOSCRIPT (they changed nothing).
        let missing: Vec<usize> = (0..values.len())
            .filter(|&i| is_noscript(&values[i]))
            .collect();
        if !missing.is_empty() {
            self.load_scripts().await?;
            let mut retry = redis::pipe();
            retry.ignore_errors();
            for &i in &missing {
                retry.add_command(calls[i].cmd());
            }
            let again: Vec<Value> = self
                .bounded(retry.query_async(&mut self.conn.clone()))
                .await?;
            for (i, v) in missing.into_iter().zip(again) {
                values[i] = v;
            }
        }
        values.into_iter().map(decode_json).collect()
    }

    /// Runs one plain command (a read), retried once if the connection had just dropped.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        match self.bounded(cmd.query_async(&mut self.conn.clone())).await {
            Err(StoreError::Unavailable) => {
                self.bounded(cmd.query_async(&mut self.conn.clone())).await
            }
            other => other,
        }
    }

    /// Whether Redis answers right now (`/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    /// Loads every script, so that the first command after start-up is already one EVALSHA.
    pub async fn load_scripts(&self) -> Result<(), StoreError> {
        let mut pipe = redis::pipe();
        for code in scripts::sources() {
            pipe.cmd("SCRIPT").arg("LOAD").arg(code);
        }
        let _: Vec<String> = self
            .bounded(pipe.query_async(&mut self.conn.clone()))
            .await?;
        Ok(())
    }

    async fn bounded<T>(
        &self,
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis call failed");
                Err(classify(&e))
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "redis call timed out");
                Err(StoreError::Unavailable)
            }
        }
    }
}

fn classify(e: &redis::RedisError) -> StoreError {
    let down = e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(
            e.kind(),
            ErrorKind::Server(ServerErrorKind::BusyLoading | ServerErrorKind::TryAgain)
                | ErrorKind::Server(ServerErrorKind::ReadOnly | ServerErrorKind::MasterDown)
                | ErrorKind::Server(ServerErrorKind::ClusterDown)
        );
    if down {
        StoreError::Unavailable
    } else {
        StoreError::Unexpected
    }
}

fn is_noscript(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.code() == "NOSCRIPT")
}

fn decode_json<T: DeserializeOwned>(v: Value) -> Result<T, StoreError> {
    let text = match v {
        Value::BulkString(bytes) => String::from_utf8(bytes).map_err(|_| StoreError::Unexpected)?,
        Value::SimpleString(s) => s,
        Value::ServerError(e) => {
            tracing::error!(error = ?e, "script failed");
            let err: redis::RedisError = e.into();
            return Err(classify(&err));
        }
        other => {
            tracing::error!(value = ?other, "script answered a non-string");
            return Err(StoreError::Unexpected);
        }
    };
    serde_json::from_str(&text).map_err(|e| {
        tracing::error!(error = %e, answer = %text, "script answer did not decode");
        StoreError::Unexpected
    })
}
