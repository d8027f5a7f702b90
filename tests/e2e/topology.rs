//! Redis Cluster and Sentinel, with real redis-server processes started by the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use baton::redis_process::RedisProcess;
use baton_commands::config::{LimiterKind, RateLimitConfig};
use baton_commands::BatonError;
use serde_json::{json, Value};

use crate::support::{spawn_core_with, TestApp, TOKEN_ALL};

/// Three masters with cluster mode on, slots assigned by `redis-cli --cluster create`.
pub struct Cluster {
    nodes: Vec<RedisProcess>,
}

impl Cluster {
    fn start() -> Cluster {
        Self::start_with(&[])
    }

    /// Three masters, each started with `extra` arguments too.
    fn start_with(extra: &[&str]) -> Cluster {
        let nodes: Vec<RedisProcess> = (0..3)
            .map(|_| {
                let mut args = vec![
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-config-file",
                    "nodes.conf",
                ];
                args.extend_from_slice(extra);
                RedisProcess::start_with(&args)
                    .expect("redis-server must be installed for the tests")
            })
            .collect();
        Cluster::join(nodes)
    }

    /// Assigns the slots across `nodes` (started with cluster mode on) over their plain ports,
    /// and waits until every node says the cluster is ok.
    pub fn join(nodes: Vec<RedisProcess>) -> Cluster {
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .expect("redis-cli is installed with redis-server");
        assert!(status.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        for n in &nodes {
            loop {
                let info = Command::new("redis-cli")
                    .args(["-p", &n.port().to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not reach state ok"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Cluster { nodes }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }

    /// The node that owns `key`'s slot.
    fn owner_of(&self, key: &str) -> usize {
        let ask = |args: &[&str]| {
            let out = Command::new("redis-cli")
                .args(["-p", &self.nodes[0].port().to_string()])
                .args(args)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).to_string()
        };
        let slot: u16 = ask(&["cluster", "keyslot", key]).trim().parse().unwrap();
        for line in ask(&["cluster", "nodes"]).lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let owns = fields
                .iter()
                .skip(8)
                .any(|range| match range.split_once('-') {
                    Some((a, b)) => {
                        (a.parse().unwrap_or(u16::MAX)..=b.parse().unwrap_or(0)).contains(&slot)
                    }
                    None => range.parse::<u16>().ok() == Some(slot),
                });
            if owns {
                let port = fields[1].split(['@', ':']).nth(1).unwrap();
                return self
                    .nodes
                    .iter()
                    .position(|n| n.port().to_string() == port)
                    .unwrap();
            }
        }
        panic!("no owner for slot {slot}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_master_down_freeze_all_says_what_froze_and_what_it_could_not_reach() {
    // Live masters keep serving their slots while one is down.
    let mut cluster = Cluster::start_with(&["--cluster-require-full-coverage", "no"]);
    let urls = cluster.urls();
    let mut app = spawn_core_with(move |c| c.redis.cluster = urls).await;
    app.start_instance().await;
    let http = reqwest::Client::new();
    assert_eq!(
        http.get(app.url("/readyz")).send().await.unwrap().status(),
        200
    );
    let down = cluster.owner_of("{prod}");
    cluster.nodes[down].stop();

    let reply = app.ok("alice", "freeze all 30m incident").await;
    let text = reply.text.clone().unwrap_or_default();
    assert!(text.contains("Not done for prod"), "{text}");
    assert!(text.contains("could not be reached"), "{text}");
    assert!(!reply.title.contains("prod"), "{}", reply.title);
    let reached: Vec<&str> = ["canary", "qa", "staging-1"]
        .into_iter()
        .filter(|e| reply.title.contains(e))
        .collect();
    assert!(
        !reached.is_empty(),
        "envs on live masters froze: {}",
        reply.title
    );
    let ready = http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503, "a slot has no reachable owner");
    // The envs on live masters keep working, and are really frozen.
    let env = reached[0];
    let refused = app.refused("bob", &format!("lock {env}")).await;
    assert!(matches!(refused, BatonError::Frozen { .. }), "{refused:?}");
    app.ok("alice", &format!("unfreeze {env}")).await;
    app.ok("bob", &format!("lock {env} 5m")).await;
    // `status` shows what it can reach and says what it cannot.
    let status = app.ok("bob", "status").await;
    let text = status.text.clone().unwrap_or_default();
    assert!(text.contains("Not shown: prod"), "{text}");
    let table = format!("{:?}", status.table);
    assert!(table.contains(env), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chat_and_ci_command_works_on_a_three_master_cluster() {
    let cluster = Cluster::start();
    let urls = cluster.urls();
    let mut app = spawn_core_with(move |c| {
        c.redis.cluster = urls;
        c.admin.ratelimits.push(RateLimitConfig {
            name: "login".into(),
            pattern: "rl:login:{id}:*".into(),
            kind: LimiterKind::Fixed,
            limit: None,
            window: None,
        });
    })
    .await;
    app.start_instance().await;
    app.start_sweeper(Duration::from_millis(100));

    // The groups hash to different slots, so this exercises more than one master.
    for (user, text) in [
        ("alice", "lock prod 30m cluster deploy"),
        ("bob", "queue prod 10m next"),
        ("bob", "lock canary 5m"),
        ("carol", "claim staging 1h pool claim"),
        ("dave", "claim staging 1h second pool claim"),
        ("alice", "extend prod 10m"),
        ("alice", "freeze qa 1h maintenance"),
        ("alice", "unfreeze qa"),
        ("alice", "freeze all 1h everything"),
        ("alice", "unfreeze all"),
        ("alice", "unlock prod"),
        ("bob", "leave canary"),
    ] {
        if text == "leave canary" {
            app.refused(user, text).await; // bob holds canary, he is not queued
            continue;
        }
        app.ok(user, text).await;
    }
    let status = app.ok("alice", "status").await;
    let table = status.table.expect("status is a table");
    let row = |env: &str| {
        table
            .rows
            .iter()
            .find(|r| r[0].plain(0) == env)
            .unwrap()
            .iter()
            .map(|v| v.plain(0))
            .collect::<Vec<_>>()
    };
    assert!(
        row("prod")[1].starts_with("bob"),
        "the queue handed prod to bob: {:?}",
        row("prod")
    );
    assert_eq!(
        table
            .rows
            .iter()
            .filter(|r| r[2].plain(0) != "free")
            .count(),
        2,
        "two pool claims"
    );
    let history = app.ok("alice", "history prod").await.text.unwrap();
    assert!(
        history.contains("handed to bob from the queue"),
        "{history}"
    );
    app.ok("erin", "claim staging 1h").await;
    let err = app.refused("frank", "claim staging 1h").await;
    assert!(matches!(err, BatonError::PoolFull { .. }), "{err}");

    let http = TestApp::http(TOKEN_ALL);
    let r = http
        .post(app.url("/api/v1/locks/qa"))
        .json(&json!({"holder": "cluster ci", "ttl": "5m"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let grant: Value = r.json().await.unwrap();
    let r = http.get(app.url("/api/v1/gate/qa")).send().await.unwrap();
    assert_eq!(r.status(), 423);
    let r = http
        .delete(app.url("/api/v1/locks/qa"))
        .json(&json!({"token": grant["token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let envs: Value = http
        .get(app.url("/api/v1/envs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(envs["envs"].as_array().unwrap().len(), 6);

    // Admin scans walk every master: 30 of alice's window keys land on all three nodes.
    let seed = redis::cluster::ClusterClient::new(cluster.urls()).unwrap();
    let mut seed = seed.get_async_connection().await.unwrap();
    for i in 0..30 {
        let _: () = redis::AsyncCommands::set(&mut seed, format!("rl:login:alice:{i}"), 3)
            .await
            .unwrap();
        let _: () = redis::AsyncCommands::set(&mut seed, format!("rl:login:bob:{i}"), 1)
            .await
            .unwrap();
    }
    let nodes_with_alice = cluster
        .nodes
        .iter()
        .filter(|n| {
            let out = Command::new("redis-cli")
                .args([
                    "-p",
                    &n.port().to_string(),
                    "--scan",
                    "--pattern",
                    "rl:login:alice:*",
                ])
                .output()
                .unwrap();
            !out.stdout.is_empty()
        })
        .count();
    assert_eq!(nodes_with_alice, 3, "the keys are spread over every master");
    let reset = app.ok("admin", "admin ratelimit reset login alice").await;
    assert!(reset.title.contains("30 keys removed"), "{}", reset.title);
    let bob = app.ok("admin", "admin ratelimit login bob").await;
    assert!(
        format!("{bob:?}").contains("30"),
        "bob's keys are untouched: {bob:?}"
    );

    // A lapse on a cluster is handed on by the sweeper too.
    app.ok("alice", "lock qa 1s short").await;
    app.ok("bob", "queue qa 5m").await;
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let qa = app.ok("carol", "status qa").await;
    assert!(qa.title.contains("locked"), "{}", qa.title);
    assert!(
        qa.fields.iter().any(|f| f.value.plain(0) == "bob"),
        "{qa:?}"
    );
}

/// A primary, a replica, and one sentinel watching them.
struct SentinelSet {
    primary: RedisProcess,
    _replica: RedisProcess,
    sentinel: Child,
    sentinel_port: u16,
    dir: PathBuf,
}

impl SentinelSet {
    fn start() -> SentinelSet {
        // No 5 s diskless-sync delay: the replica should be in sync before the test starts.
        let primary =
            RedisProcess::start_with(&["--repl-diskless-sync-delay", "0"]).expect("redis-server");
        let replica =
            RedisProcess::start_with(&["--replicaof", "127.0.0.1", &primary.port().to_string()])
                .expect("replica");
        let sentinel_port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!(
            "baton-sentinel-{}-{sentinel_port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {sentinel_port}\nbind 127.0.0.1\ndir {}\nsentinel monitor baton 127.0.0.1 {} 1\n\
                 sentinel down-after-milliseconds baton 1000\nsentinel failover-timeout baton 5000\n",
                dir.display(),
                primary.port()
            ),
        )
        .unwrap();
        let sentinel = Command::new(baton::redis_process::server_binary())
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs sentinels too");
        let replica_port = replica.port().to_string();
        let set = SentinelSet {
            primary,
            _replica: replica,
            sentinel,
            sentinel_port,
            dir,
        };
        set.wait_for(
            || set.sentinel_says("master").contains("num-slaves\n1\n"),
            "the sentinel to see the replica",
        );
        set.wait_for(
            || {
                let out = Command::new("redis-cli")
                    .args(["-p", &replica_port, "info", "replication"])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&out.stdout).contains("master_link_status:up")
            },
            "the replica to finish its first sync",
        );
        set
    }

    fn sentinel_says(&self, what: &str) -> String {
        let out = Command::new("redis-cli")
            .args([
                "-p",
                &self.sentinel_port.to_string(),
                "sentinel",
                what,
                "baton",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn wait_for(&self, ok: impl Fn() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ok() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        let _ = self.sentinel.kill();
        let _ = self.sentinel.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_primary_dies_baton_serves_locks_again_within_fifteen_seconds_without_a_restart()
{
    let mut set = SentinelSet::start();
    let sentinel = format!("redis://127.0.0.1:{}", set.sentinel_port);
    let app = spawn_core_with(move |c| {
        c.redis.sentinels = vec![sentinel];
        c.redis.master_name = Some("baton".into());
        // Without this, a lock taken just before the kill can be lost (replication is async).
        c.redis.wait_replicas = 1;
        c.redis.wait_timeout = Duration::from_secs(1);
    })
    .await;
    app.ok("alice", "lock canary 30m before the failover").await;

    let old_primary = set.primary.port();
    set.primary.stop(); // kill -9
    let killed = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        match app
            .run("bob", &format!("lock qa 5m attempt {attempts}"))
            .await
        {
            Ok(_) => break,
            Err((BatonError::StoreUnavailable(_), _)) => {}
            // No answer in time: the attempt may have taken the lock, which the next one learns.
            Err((BatonError::OutcomeUnknown, _)) => {}
            Err((BatonError::Refused(m), _)) if m.contains("you already hold qa") => break,
            Err((e, _)) => panic!("unexpected refusal during failover: {e}"),
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "still unavailable {:?} after the primary died",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "sentinel failover: locks served again {:?} after kill -9 of the primary",
        killed.elapsed()
    );
    let now_primary = set.sentinel_says("get-master-addr-by-name");
    assert!(
        !now_primary.contains(&old_primary.to_string()),
        "the sentinel promoted the replica: {now_primary}"
    );
    // With redis.wait_replicas = 1 the replica had the lock before Baton answered, so it survived.
    let canary = app.ok("bob", "status canary").await;
    assert!(canary.title.contains("locked"), "{}", canary.title);
}
