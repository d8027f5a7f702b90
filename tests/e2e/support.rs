//! The test harness: a throwaway `redis-server` per test (never the shared one on 6379), the core
//! built on it, and optionally the whole HTTP app on port 0. `TEST_LOG=1` shows logs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Once;
use std::time::Duration;

use baton::redis_process::RedisProcess;
use baton_commands::config::{CiTokenConfig, Config};
use baton_commands::store::audit::{Event, Kind};
use baton_commands::{Actor, Baton, BatonError, Reply};
use redis::AsyncCommands;

/// The config every test starts from: `prod` protected, `qa` and `canary` open, pool `staging`.
pub const TEST_CONFIG: &str = r#"
[server]
sweep_interval = "100ms"

[redis]
timeout = "1s"

[[envs]]
name = "prod"
protected = true
default_ttl = "30m"
max_ttl = "2h"

[[envs]]
name = "canary"

[[envs]]
name = "qa"
default_ttl = "10m"
max_ttl = "1h"

[[pools]]
name = "staging"
members = ["staging-1", "staging-2", "staging-3"]
default_ttl = "2h"
max_ttl = "8h"

[roles]
admin = ["console:admin"]
deployer = ["console:alice", "console:bob"]
"#;

/// A CI token that may touch every env (its identity `ci:all` is a deployer).
pub const TOKEN_ALL: &str = "baton_test_all_0123456789";
/// A CI token scoped to `staging-*` and `qa`.
pub const TOKEN_STAGING: &str = "baton_test_staging_0123456789";
/// A CI token that may touch every env, whose identity `ci:nobody` has no role.
pub const TOKEN_NOBODY: &str = "baton_test_nobody_0123456789";

/// A running core (and maybe HTTP app) on its own Redis.
pub struct TestApp {
    pub redis: RedisProcess,
    pub baton: Baton,
    pub config: Config,
    pub addr: Option<SocketAddr>,
    stop: Vec<tokio::sync::oneshot::Sender<()>>,
}

pub fn init_logs() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt()
                .with_env_filter("info")
                .with_test_writer()
                .init();
        }
    });
}

/// The core on a fresh Redis, with `edit` applied to the test config first. No sweeper runs.
pub async fn spawn_core_with(edit: impl FnOnce(&mut Config)) -> TestApp {
    let redis = RedisProcess::start()
        .expect("redis-server must be installed for the tests (apt-get install -y redis-server)");
    spawn_core_on(redis, edit).await
}

/// The core on `redis` (started by the test with the options it needs, e.g. with TLS), `edit`
/// applied to the test config after its `redis.url` is set to the server's plain port.
pub async fn spawn_core_on(redis: RedisProcess, edit: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    baton_adapters::register_platforms();
    let mut config = Config::from_toml_str(TEST_CONFIG).expect("test config is valid");
    config.redis.url = redis.url();
    for (name, token, envs) in [
        ("all", TOKEN_ALL, vec!["*"]),
        ("staging", TOKEN_STAGING, vec!["staging-*", "qa"]),
        ("nobody", TOKEN_NOBODY, vec!["*"]),
    ] {
        config.ci.tokens.push(CiTokenConfig {
            name: name.into(),
            sha256: baton_adapters::ci::sha256_hex(token),
            envs: envs.into_iter().map(String::from).collect(),
            ..Default::default()
        });
    }
    config.roles.deployer.push("ci:all".into());
    edit(&mut config);
    let baton = baton::app::build(&config).expect("store");
    // A store that cannot be reached (a test of a TLS failure) loads its scripts on first use.
    let _ = baton.store().load_scripts().await;
    TestApp {
        redis,
        baton,
        config,
        addr: None,
        stop: Vec::new(),
    }
}

/// The core on a fresh Redis with the test config.
pub async fn spawn_core() -> TestApp {
    spawn_core_with(|_| {}).await
}

/// The whole service (HTTP on port 0 and the expiry sweeper), as `baton serve` runs it.
pub async fn spawn_app() -> TestApp {
    let mut app = spawn_core().await;
    app.start_instance().await;
    app
}

impl TestApp {
    /// Starts one more instance of the service on the same Redis; returns its address.
    pub async fn start_instance(&mut self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let config = self.config.clone();
        let baton = baton::app::build(&config).unwrap();
        tokio::spawn(async move {
            baton::app::run(&config, baton, listener, async move {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        self.stop.push(tx);
        self.addr.get_or_insert(addr);
        addr
    }

    /// Runs chat text as console user `user`.
    pub async fn run(&self, user: &str, text: &str) -> Result<Reply, (BatonError, Reply)> {
        self.baton.run_text(Actor::console(user), text).await
    }

    /// Runs chat text that must succeed.
    pub async fn ok(&self, user: &str, text: &str) -> Reply {
        match self.run(user, text).await {
            Ok(r) => r,
            Err((e, _)) => panic!("`{text}` as {user} was refused: {e}"),
        }
    }

    /// Runs chat text that must be refused.
    pub async fn refused(&self, user: &str, text: &str) -> BatonError {
        match self.run(user, text).await {
            Ok(r) => panic!(
                "`{text}` as {user} should have been refused, got: {}",
                r.title
            ),
            Err((e, _)) => e,
        }
    }

    /// A direct connection to the test's Redis, for looking behind Baton's back.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        // Test seeding (a million-member board) can take seconds on a busy machine.
        let limits =
            redis::AsyncConnectionConfig::new().set_response_timeout(Some(Duration::from_secs(60)));
        redis::Client::open(self.redis.url())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&limits)
            .await
            .unwrap()
    }

    /// Every entry of `env`'s audit stream (its group is its pool, or the env itself), oldest
    /// first, as its fields in the order written.
    pub async fn history(&self, group: &str, env: &str) -> Vec<Vec<(String, String)>> {
        let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(format!("baton:{{{group}}}:history:{env}"))
            .arg("-")
            .arg("+")
            .query_async(&mut self.redis().await)
            .await
            .unwrap();
        let entries: Vec<Vec<(String, String)>> = entries
            .into_iter()
            .map(|(_, fields)| baton_commands::store::event_fields(fields))
            .collect();
        // Every entry a test reads is checked against the audit contract on the way.
        for fields in &entries {
            let event = Event::from_fields(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            assert_ne!(
                event.kind,
                Kind::Unknown,
                "an entry of no known kind: {fields:?}"
            );
        }
        entries
    }

    /// An env's audit events, oldest first, decoded as the core decodes them.
    pub async fn events(&self, group: &str, env: &str) -> Vec<Event> {
        self.history(group, env)
            .await
            .iter()
            .map(|f| Event::from_fields(f.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
            .collect()
    }

    /// Every Baton key and its content: compare two snapshots to prove nothing changed.
    pub async fn snapshot(&self) -> BTreeMap<String, String> {
        let mut con = self.redis().await;
        let keys: Vec<String> = con.keys("baton:*").await.unwrap();
        let mut out = BTreeMap::new();
        // Not state any request changes: the notifier's start (written once by the first
        // notifier, whenever it gets to it) and the sweeper lease (it comes and goes with
        // instances, and lapses while Redis refuses writes).
        for key in keys
            .into_iter()
            .filter(|k| k != "baton:{notify}:epoch" && !k.starts_with("baton:{sweeper}:"))
        {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            let value = match kind.as_str() {
                "string" => format!("{:?}", con.get::<_, String>(&key).await.unwrap()),
                "hash" => format!(
                    "{:?}",
                    con.hgetall::<_, BTreeMap<String, String>>(&key)
                        .await
                        .unwrap()
                ),
                "list" => format!(
                    "{:?}",
                    con.lrange::<_, Vec<String>>(&key, 0, -1).await.unwrap()
                ),
                "zset" => format!(
                    "{:?}",
                    con.zrange_withscores::<_, Vec<(String, f64)>>(&key, 0, -1)
                        .await
                        .unwrap()
                ),
                "stream" => format!(
                    "{:?}",
                    redis::cmd("XLEN")
                        .arg(&key)
                        .query_async::<u64>(&mut con)
                        .await
                        .unwrap()
                ),
                other => other.to_string(),
            };
            out.insert(key, value);
        }
        out
    }

    /// Runs the expiry sweeper in the background, as `serve` does.
    pub fn start_sweeper(&mut self, every: Duration) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let baton = self.baton.clone();
        tokio::spawn(async move {
            baton
                .run_sweeper(every, async move {
                    let _ = rx.await;
                })
                .await
        });
        self.stop.push(tx);
    }

    /// An HTTP client that sends `token` as its bearer token.
    pub fn http(token: &str) -> reqwest::Client {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
        reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .unwrap()
    }

    /// `http://<addr><path>` of the first instance.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://{}{path}",
            self.addr.expect("spawn_app() starts the HTTP app")
        )
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        for tx in self.stop.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// Node.js (with `npm ci` run in `dir`) for the interop tests that drive real Node libraries.
///
/// Beyond Rust and redis-server, two tests need more: the BullMQ interop (Node) and the status
/// page (Node and Chromium). Under CI (`CI` set, as `.ci/run` runs) a missing tool FAILS the test
/// with how to install it, and `.ci/run` installs them. On a developer's machine the test instead
/// says loudly what it did not check, so the README's `cargo test` passes with only Rust and
/// redis-server installed. When Node is there, the npm packages install themselves.
pub fn node_packages(dir: &str, what: &str) -> bool {
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        return missing(
            what,
            "Node.js and npm (Debian/Ubuntu: `sudo apt-get install -y nodejs npm`)",
        );
    }
    // Tests run in parallel threads: one installs while the others wait, so none reads a
    // package `npm ci` is still writing.
    static INSTALLING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    if !std::path::Path::new(dir).join("node_modules").exists() {
        let installed = std::process::Command::new("npm")
            .args(["ci", "--prefix", dir, "--no-audit", "--no-fund"])
            .status();
        if !installed.is_ok_and(|s| s.success()) {
            return missing(
                what,
                &format!("its npm packages (`npm ci --prefix {dir}` failed)"),
            );
        }
    }
    true
}

/// Reports a missing prerequisite: a failure under CI, a loud notice elsewhere. Returns false.
pub fn missing(what: &str, needs: &str) -> bool {
    let message = format!("{what} needs {needs}");
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{message}; .ci/run installs it");
    }
    eprintln!("\n*** NOT CHECKED: {message}. Install it to run this test (CI always does). ***\n");
    false
}

/// One request Baton made to a fake platform API (the Slack and Discord stand-ins record these).
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub auth: Option<String>,
    pub body: serde_json::Value,
}

/// `baton serve` as a process of its own on the test's Redis (the test config, with the CI tokens
/// of [`spawn_core_on`]), on a port of its own: the child and its address, once it is ready. A
/// process, so that a test can stop (SIGSTOP) or kill (SIGKILL) an instance.
pub async fn serve_process(
    app: &TestApp,
    dir: &std::path::Path,
    n: usize,
) -> (tokio::process::Child, SocketAddr) {
    let config = dir.join(format!("baton-{n}.toml"));
    let staging = format!(
        "\n[[ci.tokens]]\nname = \"staging\"\nsha256 = \"{}\"\nenvs = [\"staging-*\", \"qa\"]\n",
        baton_adapters::ci::sha256_hex(TOKEN_STAGING)
    );
    let text = crate::served::config_text(&app.redis.url(), &staging);
    std::fs::write(&config, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_baton"))
        .args(["serve", "--config", config.to_str().unwrap(), "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the baton binary runs");
    let ready = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..300 {
        if reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (child, SocketAddr::from(([127, 0, 0, 1], port)));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("baton serve #{n} did not become ready");
}
