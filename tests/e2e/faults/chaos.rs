//! A minute of traffic from three instances while Redis is killed three times (AOF always):
//! exclusion holds, fences only grow, every acknowledged lock survives the crashes, every request
//! is answered within `redis.timeout` + 1 s, and nobody told "unavailable" was given a lock.
//! Every third client locks two envs at once (`POST /api/v1/locks`), so single locks and sets
//! race for the same envs: a set is granted whole, at one moment, or not at all.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::redis_process::RedisProcess;
use baton_commands::store::audit::Kind;
use serde_json::{json, Value};

use crate::support::{spawn_core_on, TestApp, TOKEN_ALL};

const RUN_FOR: Duration = Duration::from_secs(60);
const CLIENTS: usize = 30;
const ENVS: [&str; 3] = ["prod", "canary", "qa"];

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// (env, fence, acknowledged at, release sent at).
    holds: Vec<(String, u64, Instant, Instant)>,
    /// Labels of requests answered 503 `store_unavailable`.
    unavailable: BTreeSet<String>,
    unknown: usize,
    releases_not_found: Vec<String>,
    slowest: Duration,
    requests: usize,
    /// Sets granted (each also in `holds`, once per env).
    sets: usize,
}

async fn send(req: reqwest::RequestBuilder, seen: &Mutex<Seen>) -> (u16, Value) {
    let asked = Instant::now();
    let res = req.send().await.expect("every request is answered");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    let mut s = seen.lock().unwrap();
    s.slowest = s.slowest.max(asked.elapsed());
    s.requests += 1;
    (status, body)
}

/// The pairs the set clients ask for: each env is in two of them.
const SETS: [[&str; 2]; 3] = [["prod", "canary"], ["canary", "qa"], ["qa", "prod"]];

async fn set_client(i: usize, base: String, until: Instant, seen: Arc<Mutex<Seen>>) {
    let http = TestApp::http(TOKEN_ALL);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let envs = SETS[(i + n) % SETS.len()];
        let label = format!("s{i}-r{n}");
        let lock = http
            .post(format!("{base}/api/v1/locks"))
            .header("Idempotency-Key", format!("{label}-lock"))
            .json(&json!({"envs": envs, "holder": label, "ttl": "5s"}));
        match send(lock, &seen).await {
            (200, body) => {
                let acked = Instant::now();
                let locks = body["locks"]
                    .as_array()
                    .expect("a set grant lists its locks");
                assert_eq!(locks.len(), 2, "a set is granted whole: {body}");
                tokio::time::sleep(Duration::from_millis(20 + (n as u64 % 30))).await;
                let token = body["token"].as_str().unwrap().to_string();
                let released = Instant::now();
                release_set(&http, &base, &envs, &token, &label, &seen).await;
                let mut s = seen.lock().unwrap();
                for l in locks {
                    let env = l["env"].as_str().unwrap().to_string();
                    s.holds
                        .push((env, l["fence"].as_u64().unwrap(), acked, released));
                }
                s.sets += 1;
            }
            (503, body) if body["error"] == "store_unavailable" => {
                seen.lock().unwrap().unavailable.insert(label);
            }
            (503, body) if body["error"] == "outcome_unknown" => seen.lock().unwrap().unknown += 1,
            (409 | 503, _) => tokio::time::sleep(Duration::from_millis(10)).await,
            (status, body) => panic!("unexpected answer {status}: {body}"),
        }
    }
}

/// Releases a set with retries under one key: every lock of it must still be there (or the retry
/// must get the recorded release).
async fn release_set(
    http: &reqwest::Client,
    base: &str,
    envs: &[&str; 2],
    token: &str,
    label: &str,
    seen: &Mutex<Seen>,
) {
    for _ in 0..200 {
        let unlock = http
            .delete(format!("{base}/api/v1/locks"))
            .header("Idempotency-Key", format!("{label}-unlock"))
            .json(&json!({"envs": envs, "token": token}));
        match send(unlock, seen).await {
            (200, _) => return,
            (503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            (_, body) => {
                seen.lock()
                    .unwrap()
                    .releases_not_found
                    .push(format!("{label}: {body}"));
                return;
            }
        }
    }
    panic!("{label} could not release {envs:?} in 20 s");
}

async fn client(i: usize, base: String, until: Instant, seen: Arc<Mutex<Seen>>) {
    if i % 3 == 2 {
        return set_client(i, base, until, seen).await;
    }
    let http = TestApp::http(TOKEN_ALL);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let env = ENVS[(i + n) % ENVS.len()];
        let label = format!("c{i}-r{n}");
        let lock = http
            .post(format!("{base}/api/v1/locks/{env}"))
            .header("Idempotency-Key", format!("{label}-lock"))
            .json(&json!({"holder": label, "ttl": "5s"}));
        match send(lock, &seen).await {
            (200, body) => {
                let acked = Instant::now();
                tokio::time::sleep(Duration::from_millis(20 + (n as u64 % 30))).await;
                let token = body["token"].as_str().unwrap().to_string();
                let fence = body["fence"].as_u64().unwrap();
                let released = Instant::now();
                release(&http, &base, env, &token, &label, &seen).await;
                let mut s = seen.lock().unwrap();
                s.holds.push((env.to_string(), fence, acked, released));
            }
            (503, body) if body["error"] == "store_unavailable" => {
                seen.lock().unwrap().unavailable.insert(label);
            }
            (503, body) if body["error"] == "outcome_unknown" => seen.lock().unwrap().unknown += 1,
            (423 | 503, _) => tokio::time::sleep(Duration::from_millis(10)).await,
            (status, body) => panic!("unexpected answer {status}: {body}"),
        }
    }
}

/// Releases with retries under one key: the lock must still be there (or the retry must get the
/// recorded release).
async fn release(
    http: &reqwest::Client,
    base: &str,
    env: &str,
    token: &str,
    label: &str,
    seen: &Mutex<Seen>,
) {
    for _ in 0..200 {
        let unlock = http
            .delete(format!("{base}/api/v1/locks/{env}"))
            .header("Idempotency-Key", format!("{label}-unlock"))
            .json(&json!({"token": token}));
        match send(unlock, seen).await {
            (200, _) => return,
            (503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            (_, body) => {
                seen.lock()
                    .unwrap()
                    .releases_not_found
                    .push(format!("{label}: {body}"));
                return;
            }
        }
    }
    panic!("{label} could not release {env} in 20 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minute_of_locks_through_three_redis_crashes_keeps_every_promise() {
    let redis =
        RedisProcess::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).unwrap();
    let mut app = spawn_core_on(redis, |_| {}).await;
    let mut bases = Vec::new();
    for _ in 0..3 {
        bases.push(format!("http://{}", app.start_instance().await));
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let until = Instant::now() + RUN_FOR;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(i, bases[i % 3].clone(), until, seen.clone())))
        .collect();
    for at in [10, 25, 40] {
        tokio::time::sleep_until((until - RUN_FOR + Duration::from_secs(at)).into()).await;
        app.redis.stop(); // kill -9
        tokio::time::sleep(Duration::from_millis(1500)).await;
        app.redis.restart().unwrap();
    }
    for c in clients {
        c.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let bound = app.config.redis.timeout + Duration::from_secs(1);
    assert!(seen.slowest <= bound, "a request took {:?}", seen.slowest);
    assert!(
        seen.releases_not_found.is_empty(),
        "acknowledged locks were gone: {:?}",
        seen.releases_not_found
    );
    let mut by_env: BTreeMap<&str, Vec<(u64, Instant, Instant)>> = BTreeMap::new();
    for (env, fence, acked, released) in &seen.holds {
        by_env
            .entry(env)
            .or_default()
            .push((*fence, *acked, *released));
    }
    for (env, mut holds) in by_env {
        holds.sort_by_key(|h| h.1);
        for pair in holds.windows(2) {
            assert!(pair[0].2 <= pair[1].1, "two holds of {env} overlapped");
            assert!(pair[0].0 < pair[1].0, "fences on {env} did not increase");
        }
    }
    // Nobody told "unavailable, nothing changed" holds or held a lock.
    for env in ENVS {
        for fields in app.history(env, env).await {
            let get = |k: &str| fields.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            if matches!(get("kind").as_deref(), Some("locked" | "handed_off")) {
                let who = get("display").unwrap_or_default();
                assert!(
                    !seen.unavailable.contains(&who),
                    "{who} was told 503 yet locked {env}"
                );
            }
        }
    }
    assert!(
        seen.holds.len() > 100,
        "the run did real work: {} holds",
        seen.holds.len()
    );
    assert!(seen.sets > 10, "sets were granted too: {}", seen.sets);
    // Every set grant is two `locked` entries of one holder at one moment, never one alone.
    // Each env's history is capped (`MAXLEN ~`), so only grants after the newest of the envs'
    // oldest kept entries are seen whole in both streams.
    let mut set_grants: BTreeMap<(String, u64), usize> = BTreeMap::new();
    let mut kept_from = 0;
    for env in ENVS {
        let events = app.events(env, env).await;
        kept_from = kept_from.max(events.first().map_or(0, |e| e.at));
        for e in events {
            if e.kind == Kind::Locked && e.display.starts_with('s') {
                *set_grants.entry((e.display.clone(), e.at)).or_default() += 1;
            }
        }
    }
    let mut whole = 0;
    for ((who, at), envs) in set_grants.iter().filter(|((_, at), _)| *at > kept_from) {
        assert_eq!(
            *envs, 2,
            "{who}'s set at {at} was taken {envs} env(s) at once"
        );
        whole += 1;
    }
    assert!(whole > 0, "some sets were granted after the histories' cut");
    eprintln!(
        "chaos: {} requests, {} holds ({} sets), {} told unavailable, {} outcome unknown, slowest {:?}",
        seen.requests,
        seen.holds.len(),
        seen.sets,
        seen.unavailable.len(),
        seen.unknown,
        seen.slowest
    );
}
