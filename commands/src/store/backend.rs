//! The three ways to reach Redis: one server, a Sentinel-managed primary, or a Cluster. Command
//! code never sees which; it gets a [`Conn`] that speaks `ConnectionLike`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, StreamExt};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, PushKind, RedisFuture, RedisResult, Value};

use super::settings::RedisConfig;
use super::tls::Tls;

pub use super::sentinel::SentinelBackend;

/// A connection for one call: cheap to clone, reconnects by itself.
#[derive(Clone)]
pub enum Conn {
    /// One server, or the current Sentinel primary.
    Manager(ConnectionManager),
    /// A Cluster: every call is routed to its key's slot owner.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Manager(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Manager(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Manager(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// What a subscription yields.
pub enum SubMsg {
    /// A payload published on `channel`.
    Message {
        /// Where it was published.
        channel: String,
        /// What.
        payload: String,
    },
    /// The subscription was lost and re-established: anything in between is gone.
    Reconnected,
}

/// How this deployment reaches Redis.
pub enum Backend {
    /// `redis.url`.
    Single(SingleBackend),
    /// `redis.sentinels` + `redis.master_name`.
    Sentinel(Arc<SentinelBackend>),
    /// `redis.cluster`: connected on first use (it needs the topology), retried until it works.
    Cluster {
        seeds: Vec<String>,
        tls: Tls,
        client: Box<ClusterClient>,
        conn: tokio::sync::OnceCell<ClusterConnection>,
    },
}

pub(super) fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    // Every call is also bounded as a whole by `redis.timeout` (Store::run); these only make a
    // dead connection fail fast. Tighter response timeouts mistook a busy Redis for a dead one.
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some((timeout / 2).max(Duration::from_millis(100))))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(200))
}

impl Backend {
    /// Prepares the backend without touching the network: Baton starts while Redis is down and
    /// connects once it is up.
    pub fn connect(cfg: &RedisConfig) -> RedisResult<Self> {
        let tls = Tls::load(cfg)?;
        if !cfg.cluster.is_empty() {
            let client = tls
                .cluster(&cfg.cluster)
                .connection_timeout(Duration::from_millis(500))
                .response_timeout(cfg.timeout.min(Duration::from_secs(1)))
                .retries(1)
                .build()?;
            let conn = tokio::sync::OnceCell::new();
            return Ok(Backend::Cluster {
                seeds: cfg.cluster.clone(),
                tls,
                client: Box::new(client),
                conn,
            });
        }
        if let Some(master) = &cfg.master_name {
            let backend = Arc::new(SentinelBackend::new(
                &cfg.sentinels,
                master,
                cfg.timeout,
                &tls,
            )?);
            if tokio::runtime::Handle::try_current().is_ok() {
                backend.clone().watch(cfg.sentinels.clone(), tls);
            }
            return Ok(Backend::Sentinel(backend));
        }
        Ok(Backend::Single(SingleBackend::new(
            tls.client(&cfg.url)?,
            cfg.timeout,
        )?))
    }

    /// Which connection calls use now; see [`Backend::replace_suspect`].
    pub fn generation(&self) -> u64 {
        match self {
            Backend::Single(s) => s.generation.load(Ordering::Acquire),
            _ => 0,
        }
    }

    /// A call on connection `generation` got no answer: replace that connection (unless that
    /// happened already), so the next call opens a fresh one. Only the single-server backend
    /// needs this: Sentinel re-resolves on errors and the Cluster client heals per node.
    /// Returns whether a connection was replaced.
    pub fn replace_suspect(&self, generation: u64) -> bool {
        match self {
            Backend::Single(s) => s.replace(generation),
            _ => false,
        }
    }

    /// A connection for the next call.
    pub async fn conn(&self) -> RedisResult<Conn> {
        match self {
            Backend::Single(s) => Ok(Conn::Manager(s.current())),
            Backend::Sentinel(s) => s.conn().await.map(Conn::Manager),
            Backend::Cluster { client, conn, .. } => {
                let conn = conn
                    .get_or_try_init(|| client.get_async_connection())
                    .await?;
                Ok(Conn::Cluster(conn.clone()))
            }
        }
    }

    /// A client for a dedicated connection (`WAIT` must follow the write on its own
    /// connection); `None` on a Cluster.
    pub async fn dedicated_client(&self) -> RedisResult<Option<redis::Client>> {
        match self {
            Backend::Single(s) => Ok(Some(s.client.clone())),
            Backend::Sentinel(s) => s.client().await.map(Some),
            Backend::Cluster { .. } => Ok(None),
        }
    }

    /// The masters a SCAN must visit: `None` for "the one server this connection reaches"; on a
    /// Cluster, every master's address from `CLUSTER SLOTS` (a plain SCAN there sees only one
    /// node's keys, silently).
    pub async fn scan_targets(&self) -> RedisResult<Vec<Option<(String, u16)>>> {
        let Backend::Cluster { .. } = self else {
            return Ok(vec![None]);
        };
        let mut conn = self.conn().await?;
        let slots: Vec<Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await?;
        let mut masters: Vec<(String, u16)> = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, …], replicas…]: the first node is the master.
            let Value::Array(parts) = range else { continue };
            let Some(Value::Array(node)) = parts.get(2) else {
                continue;
            };
            let host = match node.first() {
                Some(Value::BulkString(h)) => String::from_utf8_lossy(h).to_string(),
                _ => continue,
            };
            let Some(Value::Int(port)) = node.get(1) else {
                continue;
            };
            let master = (host, *port as u16);
            if !masters.contains(&master) {
                masters.push(master);
            }
        }
        Ok(masters.into_iter().map(Some).collect())
    }

    /// One SCAN page, on the node at `target` (Cluster) or the one server.
    pub async fn scan_page(&self, target: &Option<(String, u16)>, cmd: Cmd) -> RedisResult<Value> {
        match (self.conn().await?, target) {
            (Conn::Cluster(mut c), Some((host, port))) => {
                let routing = redis::cluster_routing::RoutingInfo::SingleNode(
                    redis::cluster_routing::SingleNodeRoutingInfo::ByAddress {
                        host: host.clone(),
                        port: *port,
                    },
                );
                c.route_command(cmd, routing).await
            }
            (mut conn, _) => cmd.query_async(&mut conn).await,
        }
    }

    /// Whether Redis answers: on a Cluster, the owner of every slot range must (one whose owner
    /// is down makes Baton not ready even when the other nodes answer), each asked directly.
    pub async fn ping(&self) -> RedisResult<()> {
        let Backend::Cluster { .. } = self else {
            let mut conn = self.conn().await?;
            return redis::cmd("PING").query_async(&mut conn).await;
        };
        for target in self.scan_targets().await? {
            let _: Value = self.scan_page(&target, redis::cmd("PING")).await?;
        }
        Ok(())
    }

    /// Whether calls may be pipelined across groups (not in a Cluster: one slot per pipeline).
    pub fn pipelines_across_groups(&self) -> bool {
        !matches!(self, Backend::Cluster { .. })
    }

    /// Told about a failed call, so a Sentinel backend can look for a new primary.
    pub fn failed(&self, e: &redis::RedisError) {
        if let Backend::Sentinel(s) = self {
            s.clone().on_error(e);
        }
    }

    /// A subscription to `channels` that survives reconnects, each reported as `Reconnected`.
    pub fn subscribe(
        &self,
        channels: Vec<String>,
    ) -> BoxFuture<'_, RedisResult<BoxStream<'static, SubMsg>>> {
        Box::pin(async move {
            match self {
                Backend::Single(s) => pubsub_stream(s.client.clone(), channels).await,
                Backend::Sentinel(s) => pubsub_stream(s.client().await?, channels).await,
                Backend::Cluster { seeds, tls, .. } => {
                    cluster_stream(tls.cluster(seeds), channels).await
                }
            }
        })
    }
}

/// One server. redis-rs' `ConnectionManager` reconnects when a connection breaks, but not when it
/// merely stops answering (half-open behind a load balancer or NAT), so a call that times out
/// replaces it here. TCP keepalive is on, so a peer that vanished is noticed by the kernel too.
pub struct SingleBackend {
    client: redis::Client,
    conn: std::sync::RwLock<ConnectionManager>,
    generation: AtomicU64,
    timeout: Duration,
}

impl SingleBackend {
    fn new(client: redis::Client, timeout: Duration) -> RedisResult<Self> {
        let info = client
            .get_connection_info()
            .clone()
            .set_tcp_settings(keepalive());
        let client = redis::Client::open(info)?;
        let conn =
            ConnectionManager::new_lazy_with_config(client.clone(), manager_config(timeout))?;
        Ok(Self {
            client,
            conn: std::sync::RwLock::new(conn),
            generation: AtomicU64::new(0),
            timeout,
        })
    }

    fn current(&self) -> ConnectionManager {
        self.conn.read().expect("not poisoned").clone()
    }

    fn replace(&self, generation: u64) -> bool {
        let mut conn = self.conn.write().expect("not poisoned");
        if self.generation.load(Ordering::Acquire) != generation {
            return false; // another call replaced it already
        }
        match ConnectionManager::new_lazy_with_config(
            self.client.clone(),
            manager_config(self.timeout),
        ) {
            Ok(fresh) => {
                *conn = fresh;
                self.generation.fetch_add(1, Ordering::AcqRel);
                tracing::warn!("replaced a Redis connection that stopped answering");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not prepare a new Redis connection");
                false
            }
        }
    }
}

/// TCP keepalive for every connection Baton opens itself: probes after 10 s of silence.
pub(super) fn keepalive() -> redis::io::tcp::TcpSettings {
    use redis::io::tcp::socket2::TcpKeepalive;
    let probe = TcpKeepalive::new()
        .with_time(Duration::from_secs(10))
        .with_interval(Duration::from_secs(5));
    redis::io::tcp::TcpSettings::default().set_keepalive(probe)
}

async fn pubsub_stream(
    client: redis::Client,
    channels: Vec<String>,
) -> RedisResult<BoxStream<'static, SubMsg>> {
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&channels).await?;
    let messages = pubsub.into_on_message().filter_map(|m| async move {
        let payload = m.get_payload::<String>().ok()?;
        Some(SubMsg::Message {
            channel: m.get_channel_name().to_string(),
            payload,
        })
    });
    Ok(messages.boxed())
}

/// Cluster Pub/Sub over RESP3 pushes: the subscription lands on the channel's slot owner and
/// is re-established by redis-rs after a node restart; a `Disconnection` push means "re-read".
async fn cluster_stream(
    builder: redis::cluster::ClusterClientBuilder,
    channels: Vec<String>,
) -> RedisResult<BoxStream<'static, SubMsg>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<redis::PushInfo>();
    let client = builder
        .use_protocol(redis::ProtocolVersion::RESP3)
        .push_sender(tx)
        .connection_timeout(Duration::from_millis(500))
        .build()?;
    let mut conn = client.get_async_connection().await?;
    for channel in &channels {
        conn.subscribe(channel).await?;
    }
    let pushes = futures_util::stream::poll_fn(move |cx| {
        let _subscriber = &conn; // keeps the subscribed connection alive as long as the stream
        rx.poll_recv(cx)
    });
    let messages = pushes.filter_map(|push| async move {
        match push.kind {
            PushKind::Message | PushKind::SMessage => match push.data.as_slice() {
                [Value::BulkString(c), Value::BulkString(b)] => Some(SubMsg::Message {
                    channel: String::from_utf8(c.clone()).ok()?,
                    payload: String::from_utf8(b.clone()).ok()?,
                }),
                _ => None,
            },
            PushKind::Disconnection => Some(SubMsg::Reconnected),
            _ => None,
        }
    });
    Ok(messages.boxed())
}
