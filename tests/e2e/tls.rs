//! Redis over TLS with a private CA and with mutual TLS. The certificates are made by the test
//! with the `openssl` CLI; the server is `redis-server` (its Debian build has TLS; the Valkey
//! build from PyPI has not, so these tests pin `redis-server` even in the Valkey run).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use baton::redis_process::RedisProcess;
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::support::{spawn_core_on, TestApp, TOKEN_ALL};

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it, plus an
/// unrelated CA: PEM files in a temporary directory removed on drop.
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn make() -> Certs {
        let dir = std::env::temp_dir().join(format!(
            "baton-tls-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let certs = Certs { dir };
        for ca in ["ca", "other-ca"] {
            certs.openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
                "-days",
                "2",
                "-subj",
                &format!("/CN=Baton test {ca}"),
            ]);
        }
        std::fs::write(
            certs.path("server.ext"),
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        std::fs::write(certs.path("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
        for leaf in ["server", "client"] {
            certs.openssl(&[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &format!("{leaf}.key"),
                "-out",
                &format!("{leaf}.csr"),
                "-subj",
                &format!("/CN=baton-test-{leaf}"),
            ]);
            certs.openssl(&[
                "x509",
                "-req",
                "-in",
                &format!("{leaf}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{leaf}.crt"),
                "-days",
                "2",
                "-extfile",
                &format!("{leaf}.ext"),
            ]);
        }
        certs
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&self.dir)
            .output()
            .expect(
                "the openssl CLI must be installed for the TLS tests (apt-get install -y openssl)",
            );
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-server` with a plain port (for the harness) and a TLS port; `clients` demands client
/// certificates. Returns the server and its `rediss://` URL.
fn tls_redis(certs: &Certs, clients: bool) -> (RedisProcess, String) {
    tls_redis_with(certs, clients, &[])
}

fn tls_redis_with(certs: &Certs, clients: bool, extra: &[&str]) -> (RedisProcess, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let file = |n: &str| certs.path(n).display().to_string();
    let args = [
        "--tls-port".to_string(),
        port.to_string(),
        "--tls-cert-file".into(),
        file("server.crt"),
        "--tls-key-file".into(),
        file("server.key"),
        "--tls-ca-cert-file".into(),
        file("ca.crt"),
        "--tls-auth-clients".into(),
        if clients { "yes" } else { "no" }.into(),
    ];
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(extra);
    let redis = RedisProcess::start_server("redis-server", &args)
        .expect("redis-server (built with TLS, as Debian's is) must be installed");
    (redis, format!("rediss://127.0.0.1:{port}"))
}

/// The whole service on a TLS Redis, its config pointed at the TLS port with `ca` as CA.
async fn app_over_tls(certs: &Certs, clients: bool, ca: &str, client_cert: bool) -> TestApp {
    let (redis, url) = tls_redis(certs, clients);
    let mut app = spawn_core_on(redis, |c| {
        c.redis.url = url;
        c.redis.tls_ca_file = Some(certs.path(ca));
        if client_cert {
            c.redis.tls_client_cert = Some(certs.path("client.crt"));
            c.redis.tls_client_key = Some(certs.path("client.key"));
        }
    })
    .await;
    app.start_instance().await;
    app
}

async fn lock_and_unlock(app: &TestApp, http: &reqwest::Client) {
    let r = http
        .post(app.url("/api/v1/locks/qa"))
        .json(&json!({"holder": "tls pipeline", "ttl": "5m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http
        .delete(app.url("/api/v1/locks/qa"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn ready(app: &TestApp) -> u16 {
    let r = reqwest::get(app.url("/readyz")).await.unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn a_private_ca_carries_locks_events_and_readiness() {
    let certs = Certs::make();
    let mut app = app_over_tls(&certs, false, "ca.crt", false).await;
    assert_eq!(ready(&app).await, 200);
    let http = TestApp::http(TOKEN_ALL);
    // Events reach a second instance through Pub/Sub on its own TLS connection.
    let second = app.start_instance().await;
    let events = http
        .get(format!("http://{second}/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut stream = events.bytes_stream();
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock_and_unlock(&app, &http).await;
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains("tls pipeline") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("the lock's event arrives on the other instance")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[tokio::test]
async fn mutual_tls_works_with_the_client_certificate_and_not_without() {
    let certs = Certs::make();
    let app = app_over_tls(&certs, true, "ca.crt", true).await;
    assert_eq!(ready(&app).await, 200);
    lock_and_unlock(&app, &TestApp::http(TOKEN_ALL)).await;
    let without = app_over_tls(&certs, true, "ca.crt", false).await;
    assert_eq!(ready(&without).await, 503);
}

#[tokio::test]
async fn a_wrong_ca_is_a_503_that_names_tls() {
    let certs = Certs::make();
    let app = app_over_tls(&certs, false, "other-ca.crt", false).await;
    let r = reqwest::get(app.url("/readyz")).await.unwrap();
    assert_eq!(r.status(), 503);
    let r = TestApp::http(TOKEN_ALL)
        .post(app.url("/api/v1/locks/qa"))
        .json(&json!({"ttl": "5m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "store_unavailable");
    let message = body["message"].as_str().unwrap();
    // Store errors name their cause (the lead's classification work): here, the TLS failure.
    assert!(
        message.contains("TLS"),
        "the 503 names the TLS failure: {message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_over_tls_with_a_private_ca_serves_locks_and_events() {
    let certs = Certs::make();
    let cluster_args = [
        "--tls-cluster",
        "yes",
        "--cluster-enabled",
        "yes",
        "--cluster-node-timeout",
        "2000",
        "--cluster-config-file",
        "nodes.conf",
    ];
    let (nodes, seeds): (Vec<RedisProcess>, Vec<String>) = (0..3)
        .map(|_| tls_redis_with(&certs, false, &cluster_args))
        .unzip();
    // Slots are assigned over the plain ports; the bus and Baton's connections use TLS.
    let _cluster = crate::topology::Cluster::join(nodes);
    let app = crate::support::spawn_core_with(|c| {
        c.redis.cluster = seeds;
        c.redis.tls_ca_file = Some(certs.path("ca.crt"));
    })
    .await;
    let mut events = app.baton.events().subscribe();
    tokio::time::sleep(Duration::from_millis(500)).await;
    app.ok("alice", "lock canary 5m over tls cluster").await;
    app.ok("carol", "claim staging 1h pooled over tls").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(baton_commands::BusMessage::Event(e))) if e.raw.contains("over tls cluster") => {
                break
            }
            Ok(Ok(_)) => continue,
            other => panic!("no event over the TLS cluster: {other:?}"),
        }
    }
    app.ok("alice", "unlock canary").await;
}

/// A sentinel reached over TLS that watches `primary_tls_port` over TLS; killed on drop.
struct TlsSentinel {
    child: std::process::Child,
    tls_port: u16,
}

impl TlsSentinel {
    fn start(certs: &Certs, primary_tls_port: u16) -> TlsSentinel {
        let port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let (plain_port, tls_port) = (port(), port());
        let file = |n: &str| certs.path(n).display().to_string();
        let conf = certs.path(&format!("sentinel-{tls_port}.conf"));
        std::fs::write(
            &conf,
            format!(
                "port {plain_port}\ntls-port {tls_port}\nbind 127.0.0.1\ndir {}\n\
                 tls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\ntls-auth-clients no\n\
                 tls-replication yes\nsentinel monitor baton 127.0.0.1 {primary_tls_port} 1\n\
                 sentinel down-after-milliseconds baton 1000\n",
                certs.dir.display(),
                file("server.crt"),
                file("server.key"),
                file("ca.crt"),
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs sentinels too");
        let sentinel = TlsSentinel { child, tls_port };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("redis-cli")
                .args(["-p", &plain_port.to_string(), "sentinel", "master", "baton"])
                .output()
                .unwrap();
            let said = String::from_utf8_lossy(&out.stdout).to_string();
            if said.contains("flags\nmaster\n") {
                return sentinel;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the sentinel never saw the TLS primary: {said}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for TlsSentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sentinel_over_tls_leads_to_the_primary_over_tls() {
    let certs = Certs::make();
    let (primary, url) = tls_redis(&certs, false);
    let tls_port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
    let sentinel = TlsSentinel::start(&certs, tls_port);
    let mut app = spawn_core_on(primary, |c| {
        c.redis.sentinels = vec![format!("rediss://127.0.0.1:{}", sentinel.tls_port)];
        c.redis.master_name = Some("baton".into());
        c.redis.tls_ca_file = Some(certs.path("ca.crt"));
    })
    .await;
    app.start_instance().await;
    assert_eq!(ready(&app).await, 200);
    lock_and_unlock(&app, &TestApp::http(TOKEN_ALL)).await;
}

#[tokio::test]
async fn an_insecure_url_connects_without_checking_the_certificate() {
    let certs = Certs::make();
    let (redis, url) = tls_redis(&certs, false);
    let mut app = spawn_core_on(redis, |c| c.redis.url = format!("{url}#insecure")).await;
    app.start_instance().await;
    assert_eq!(ready(&app).await, 200);
    assert!(app
        .config
        .warnings()
        .iter()
        .any(|w| w.message.contains("#insecure")));
}
