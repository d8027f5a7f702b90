//! The Redis store: the connection (one server, Sentinel or Cluster), the key layout and the
//! scripts.
//!
//! This module is the only place in Baton that speaks Redis. Command code sees [`Store::eval`]
//! for the scripts and typed operations for everything else (admin reads and writes in `admin`,
//! `queues` and `queue_writes`, the notification outbox in `outbox`, audit streams in `history`,
//! `baton dev` and `baton bench` in [`tools`]): never a command, a reply value or a connection.
//! The backend (one server, Sentinel, Cluster) decides how a call reaches Redis. Every call is
//! bounded in time: a Redis that is down yields [`StoreError::Unavailable`], one that does not
//! answer [`StoreError::Unknown`] (the call may have run), within `redis.timeout`, and the
//! connection comes back by itself when Redis (or a new primary) does.

pub(crate) mod admin;
pub mod audit;
mod backend;
mod call;
mod clock;
pub mod contacts;
pub(crate) mod contracts;
mod error;
pub mod github;
pub(crate) mod history;
pub mod keys;
pub(crate) mod lease;
mod library;
mod migrate;
pub(crate) mod outbox;
pub(crate) mod queue_writes;
pub(crate) mod queues;
mod scan;
pub mod scripts;
mod sentinel;
pub mod settings;
pub(crate) mod tls;
pub mod tools;
pub(crate) mod url;
pub mod web_sessions;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use redis::{Cmd, FromRedisValue, Value};
use serde::de::DeserializeOwned;

use crate::calendar::Calendar;
use crate::domain::EnvName;
pub use backend::SubMsg;
use backend::{Backend, Conn};
pub use contracts::Prepared;
use error::{classify, Credentials};
pub use error::{Cause, Misconfigured, StoreError};
pub use history::event_fields;
pub use keys::{EnvKeys, Keys};
pub(crate) use scan::escape_glob;
use settings::RedisConfig;

pub use call::Call;

/// Baton's handle on Redis. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct Store {
    config: Arc<RedisConfig>,
    backend: Arc<Backend>,
    /// Shared: cloning a store (every command clones the core) must not copy the prefix.
    keys: Arc<Keys>,
    timeout: Duration,
    history_length: usize,
    /// What every script call sends as `ARGV[2]` and `ARGV[3]` (the event channel, the history
    /// length), written once rather than formatted on every call.
    prelude_args: Arc<(String, String)>,
    /// Reminder lead per env name, in ms: the scripts arm a reminder with every grant.
    reminders: Arc<HashMap<String, u64>>,
    /// The freeze calendar: every script call passes its envs' windows near now along.
    calendar: Arc<Calendar>,
    /// Redis' clock as last seen (`clock.rs`): what chooses the windows sent with each call.
    clock: Arc<clock::Offset>,
    /// Whether Redis' last word on Baton's credentials was a refusal (see [`Credentials`]).
    credentials: Arc<Credentials>,
    round_trips: Arc<AtomicU64>,
    healed: Arc<tokio::sync::watch::Sender<u64>>,
    /// bullmq-official's own connection, opened on the first queue write (`queue_writes`).
    bullmq: Arc<tokio::sync::OnceCell<bullmq::redis_connection::RedisConnection>>,
}

impl Store {
    /// Prepares the connection without touching the network: Baton starts, and answers "store
    /// unavailable", while Redis is down, and connects once it is up.
    pub fn connect(cfg: &RedisConfig, history_length: usize) -> Result<Self, Misconfigured> {
        // The category and detail name the problem; never the URL, which may hold a password.
        let backend = Backend::connect(cfg).map_err(|e| {
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            Misconfigured(format!("{}{detail}", e.category()))
        })?;
        Ok(Self {
            config: Arc::new(cfg.clone()),
            backend: Arc::new(backend),
            keys: Arc::new(Keys::new(&cfg.prefix).with_db(cfg.db())),
            timeout: cfg.timeout,
            history_length,
            prelude_args: Arc::new((
                Keys::new(&cfg.prefix).with_db(cfg.db()).events_channel(),
                history_length.to_string(),
            )),
            reminders: Arc::default(),
            calendar: Arc::default(),
            clock: Arc::default(),
            credentials: Arc::default(),
            round_trips: Arc::new(AtomicU64::new(0)),
            healed: Arc::new(tokio::sync::watch::Sender::new(0)),
            bullmq: Arc::default(),
        })
    }

    /// The store with each env's reminder lead (`remind_before`): every script call passes its
    /// envs' leads along, so whichever script grants or extends a hold arms the reminder.
    pub fn with_reminders(mut self, leads: impl IntoIterator<Item = (EnvName, Duration)>) -> Self {
        let leads = leads
            .into_iter()
            .map(|(env, lead)| (env.to_string(), lead.as_millis() as u64))
            .filter(|(_, ms)| *ms > 0)
            .collect();
        self.reminders = Arc::new(leads);
        self
    }

    /// The store with the freeze calendar: scripts refuse locks and hold the queue while a
    /// window is on, decided against Redis' clock.
    pub fn with_calendar(mut self, calendar: Arc<Calendar>) -> Self {
        self.calendar = calendar;
        self
    }

    /// The freeze calendar the scripts are given.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The key layout.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// How many round trips this store (and its clones) has made: what tests and `bench` count.
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    /// A subscription to the event channel and the sweeper's heartbeat channel that survives
    /// reconnects (the event bus keeps one).
    pub async fn subscribe_events(&self) -> Result<BoxStream<'static, SubMsg>, StoreError> {
        let channels = vec![self.keys.events_channel(), self.keys.sweeper_channel()];
        let subscribe = self.backend.subscribe(channels);
        match tokio::time::timeout(self.timeout, subscribe).await {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => {
                self.backend.failed(&e);
                Err(classify(&e, false))
            }
            Err(_) => Err(StoreError::Unavailable(Cause::Timeout)),
        }
    }

    /// Changes each time a connection that stopped answering is replaced: the event bus then
    /// subscribes again, since its connection went through the same broken path.
    pub fn connection_replaced(&self) -> tokio::sync::watch::Receiver<u64> {
        self.healed.subscribe()
    }

    /// Runs one script in one round trip and decodes its JSON answer.
    pub async fn eval<T: DeserializeOwned>(&self, call: Call) -> Result<T, StoreError> {
        let mut all = self.eval_many(vec![call]).await?;
        all.pop().ok_or(StoreError::Unexpected)
    }

    /// Runs several script calls (one per group) in one pipelined round trip, and fails as a
    /// whole if any of them failed. For calls whose partial success matters, see [`eval_each`].
    ///
    /// [`eval_each`]: Store::eval_each
    pub async fn eval_many<T: DeserializeOwned>(
        &self,
        calls: Vec<Call>,
    ) -> Result<Vec<T>, StoreError> {
        self.eval_each(calls).await.into_iter().collect()
    }

    /// Runs several script calls (one per group) and reports each one's own outcome. One
    /// pipelined round trip on a single server; in a Cluster a pipeline must stay in one slot,
    /// so there the calls go out concurrently, and a master that is down fails only its own.
    pub async fn eval_each<T: DeserializeOwned>(
        &self,
        calls: Vec<Call>,
    ) -> Vec<Result<T, StoreError>> {
        if self.backend.pipelines_across_groups() || calls.len() < 2 {
            return match self.eval_pipeline(&calls).await {
                Ok(values) => values.into_iter().map(decode_json).collect(),
                Err(e) => calls.iter().map(|_| Err(e.clone())).collect(),
            };
        }
        let each = calls
            .iter()
            .map(|c| self.eval_pipeline(std::slice::from_ref(c)));
        futures_util::future::join_all(each)
            .await
            .into_iter()
            .map(|v| decode_json(v?.pop().ok_or(StoreError::Unexpected)?))
            .collect()
    }

    async fn eval_pipeline(&self, calls: &[Call]) -> Result<Vec<Value>, StoreError> {
        let mut values = self.send(calls).await?;
        self.credentials.note(&values);
        // After a Redis restart (or on a new Cluster node) the library is not there: load, then
        // re-run exactly the calls that were refused for it (they changed nothing).
        let missing: Vec<usize> = (0..values.len())
            .filter(|&i| is_noscript(&values[i]))
            .collect();
        if !missing.is_empty() {
            self.load_scripts().await?;
            let retry: Vec<&Call> = missing.iter().map(|&i| &calls[i]).collect();
            let again = self.send_refs(&retry).await?;
            for (i, v) in missing.into_iter().zip(again) {
                values[i] = v;
            }
        }
        // A full Redis refuses a function that may write before it runs. A read that settles on
        // the way (`status`, the gate) asks its no-writes twin instead: reads never need memory.
        let full: Vec<usize> = (0..values.len())
            .filter(|&i| is_oom(&values[i]) && calls[i].when_full.is_some())
            .collect();
        if !full.is_empty() {
            let now = self.clock_for(full.iter().map(|&i| &calls[i])).await?;
            let mut pipe = redis::pipe();
            pipe.ignore_errors();
            for &i in &full {
                let read = calls[i].when_full.expect("filtered on it");
                pipe.add_command(calls[i].cmd_of(read, &self.calendar, now));
            }
            let again: Vec<Value> = self
                .run(|mut conn| async move { pipe.query_async(&mut conn).await })
                .await?;
            for (i, v) in full.into_iter().zip(again) {
                values[i] = v;
            }
        }
        for (call, value) in calls.iter().zip(&values) {
            if !call.replayable {
                self.learn_from_answer(value);
            }
        }
        Ok(values)
    }

    async fn send(&self, calls: &[Call]) -> Result<Vec<Value>, StoreError> {
        self.send_refs(&calls.iter().collect::<Vec<_>>()).await
    }

    async fn send_refs(&self, calls: &[&Call]) -> Result<Vec<Value>, StoreError> {
        let now = self.clock_for(calls.iter().copied()).await?;
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        for c in calls {
            pipe.add_command(c.cmd(&self.calendar, now));
        }
        self.run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await
    }

    /// Redis' clock for choosing what `calls` carry; asked of Redis first only when one of them
    /// has calendar windows to choose and the clock was never learned.
    async fn clock_for<'a>(
        &self,
        mut calls: impl Iterator<Item = &'a Call>,
    ) -> Result<chrono::DateTime<chrono::Utc>, StoreError> {
        if calls.any(|c| c.needs_clock(&self.calendar)) {
            self.clock_for_call().await
        } else {
            Ok(self.now())
        }
    }

    /// Runs one plain command (a read), retried once if the connection had just dropped.
    async fn query<T: FromRedisValue + Send>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        match self.query_once(cmd).await.map_err(StoreError::for_read) {
            Err(StoreError::Unavailable(_)) => {
                self.query_once(cmd).await.map_err(StoreError::for_read)
            }
            other => other,
        }
    }

    /// Runs one plain command once (a write that must not be repeated).
    async fn query_once<T: FromRedisValue + Send>(&self, cmd: &Cmd) -> Result<T, StoreError> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs a lock or claim acquisition. With `redis.wait_replicas` set, the script and a
    /// `WAIT <n> <wait_timeout>` go out as one pipeline on a dedicated connection: still one round
    /// trip, the grant is on that many replicas before anyone hears of it (so it survives a
    /// failover), and the shared connection is never blocked by `WAIT`. A shortfall is logged and
    /// counted, never fatal: the fencing token still protects the deploy. Not on a Cluster.
    pub async fn eval_acquire<T: DeserializeOwned>(&self, call: Call) -> Result<T, StoreError> {
        let (wanted, within) = (self.config.wait_replicas, self.config.wait_timeout);
        if wanted == 0 {
            return self.eval(call).await;
        }
        let client = match self.backend.dedicated_client().await {
            Ok(Some(client)) => client,
            Ok(None) => return self.eval(call).await,
            Err(e) => {
                self.backend.failed(&e);
                return Err(classify(&e, false));
            }
        };
        let now = self.clock_for(std::iter::once(&call)).await?;
        let mut pipe = redis::pipe();
        pipe.ignore_errors()
            .add_command(call.cmd(&self.calendar, now))
            .cmd("WAIT")
            .arg(wanted)
            .arg(within.as_millis() as u64);
        let limits = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout + within));
        let send = || async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&limits)
                .await?;
            pipe.query_async::<Vec<Value>>(&mut conn).await
        };
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let mut values = match tokio::time::timeout(self.timeout + within, send()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis call failed");
                self.backend.failed(&e);
                return Err(self.credentials.judge(classify(&e, true)));
            }
            Err(_) => {
                tracing::warn!("redis call with WAIT timed out");
                return Err(StoreError::Unknown);
            }
        };
        if values.first().is_some_and(is_noscript) {
            self.load_scripts().await?;
            values = match tokio::time::timeout(self.timeout + within, send()).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(self.credentials.judge(classify(&e, true))),
                Err(_) => return Err(StoreError::Unknown),
            };
        }
        let mut values = values.into_iter();
        let answer = values.next().ok_or(StoreError::Unexpected)?;
        if !call.replayable {
            self.learn_from_answer(&answer);
        }
        match values.next() {
            Some(Value::Int(acked)) if acked >= i64::from(wanted) => {}
            other => {
                tracing::warn!(acked = ?other, wanted, "fewer replicas than redis.wait_replicas acknowledged a grant");
                metrics::counter!("baton_replica_wait_short_total").increment(1);
            }
        }
        decode_json(answer)
    }

    /// A backend call (one round trip) bounded by `redis.timeout`, failures reported like `run`.
    async fn bounded_redis<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis call failed");
                self.backend.failed(&e);
                Err(self.credentials.judge(classify(&e, true)))
            }
            Err(_) => Err(self.credentials.judge(StoreError::Unknown)),
        }
    }

    /// One round trip, bounded by `redis.timeout`. A call that gets no answer in time leaves
    /// its outcome unknown and its connection suspect: the connection is replaced at once, so a
    /// half-open connection costs one timeout, not minutes.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: FnOnce(Conn) -> Fut + Send,
        Fut: std::future::Future<Output = redis::RedisResult<T>> + Send,
        T: Send,
    {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        let generation = self.backend.generation();
        // Boxed: the connection's future types are deep, and every command would inherit them.
        let call: futures_util::future::BoxFuture<'_, redis::RedisResult<T>> = Box::pin(async {
            let conn = self.backend.conn().await?;
            f(conn).await
        });
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, call).await;
        metrics::histogram!("baton_redis_roundtrip_seconds")
            .record(started.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "error",
            Err(_) => "timeout",
        };
        metrics::counter!("baton_redis_calls_total", "outcome" => outcome).increment(1);
        let error = match result {
            Ok(Ok(v)) => {
                self.credentials.answered();
                return Ok(v);
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "redis call failed");
                self.backend.failed(&e);
                let error = self.credentials.judge(classify(&e, true));
                if error != StoreError::Unknown {
                    return Err(error);
                }
                error
            }
            Err(_) => {
                tracing::warn!(timeout = ?self.timeout, "redis call timed out");
                self.backend.failed(&redis::RedisError::from((
                    redis::ErrorKind::Io,
                    "timed out",
                )));
                self.credentials.judge(StoreError::Unknown)
            }
        };
        if self.backend.replace_suspect(generation) {
            self.healed.send_modify(|g| *g += 1);
        }
        Err(error)
    }
}

/// Refused before it ran because Redis is at `maxmemory` (`noeviction`, or nothing to evict).
fn is_oom(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.code() == "OOM")
}

/// Refused because the code is not loaded: after a Redis restart or flush, on a new Cluster node,
/// or on a Redis another Baton version loaded. Nothing ran, so the call can be sent again.
fn is_noscript(v: &Value) -> bool {
    matches!(v, Value::ServerError(e) if e.code() == "NOSCRIPT"
        || (e.code() == "ERR" && e.details() == Some("Function not found")))
}

fn decode_json<T: DeserializeOwned>(v: Value) -> Result<T, StoreError> {
    let text = match v {
        Value::BulkString(bytes) => String::from_utf8(bytes).map_err(|_| StoreError::Unexpected)?,
        Value::SimpleString(s) => s,
        Value::ServerError(e) => {
            tracing::error!(error = ?e, "script failed");
            let err: redis::RedisError = e.into();
            return Err(classify(&err, true));
        }
        other => {
            tracing::error!(value = ?other, "script answered a non-string");
            return Err(StoreError::Unexpected);
        }
    };
    // Straight into the answer type: one parse. Only an answer that is none of its outcomes is
    // looked at again, for the one status any idempotent call may give (the prelude's
    // `idempotent`): a key reused for a different request.
    serde_json::from_str(&text).map_err(|e| {
        #[derive(serde::Deserialize)]
        struct Status<'a> {
            #[serde(borrow)]
            status: std::borrow::Cow<'a, str>,
        }
        match serde_json::from_str::<Status>(&text) {
            Ok(s) if s.status == "idempotency_mismatch" => StoreError::KeyReused,
            _ => {
                tracing::error!(error = %e, answer = %text, "script answer did not decode");
                StoreError::Unexpected
            }
        }
    })
}
