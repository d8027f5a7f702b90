//! A minute of waiting requests from three instances, single envs and pairs of envs mixed over
//! six envs, while Redis is killed once (AOF always): no env is ever held twice, fences only grow,
//! every set is granted whole, and every waiter is answered: served, or told when its wait ran out
//! what stood in the way. Sets are served too (fair queueing: a set waiter keeps its place in
//! every line, so single waiters cannot starve it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baton::redis_process::RedisProcess;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::support::{spawn_core_on, TestApp, TOKEN_ALL};

const RUN_FOR: Duration = Duration::from_secs(60);
const CLIENTS: usize = 30;
const ENVS: [&str; 6] = [
    "prod",
    "canary",
    "qa",
    "staging-1",
    "staging-2",
    "staging-3",
];
const WAIT: Duration = Duration::from_secs(4);

#[derive(Default)]
struct Seen {
    /// (env, fence, acknowledged at, release sent at).
    holds: Vec<(String, u64, Instant, Instant)>,
    singles_served: usize,
    sets_served: usize,
    sets_asked: usize,
    /// Waits that ran out, each with the reason it was given.
    timed_out: usize,
    unavailable: usize,
    /// Answers that were neither a grant, a reasoned refusal, nor "unavailable".
    odd: Vec<String>,
    slowest: Duration,
}

async fn send(req: reqwest::RequestBuilder, seen: &Mutex<Seen>) -> (u16, Value) {
    let asked = Instant::now();
    let res = req.send().await.expect("every request is answered");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    let mut s = seen.lock().unwrap();
    s.slowest = s.slowest.max(asked.elapsed());
    (status, body)
}

async fn release(
    http: &reqwest::Client,
    url: String,
    body: Value,
    key: String,
    seen: &Mutex<Seen>,
) {
    for _ in 0..200 {
        let req = http
            .delete(&url)
            .header("Idempotency-Key", &key)
            .json(&body);
        match send(req, seen).await {
            (200, _) => return,
            (503, _) => tokio::time::sleep(Duration::from_millis(100)).await,
            (status, body) => {
                seen.lock()
                    .unwrap()
                    .odd
                    .push(format!("release {key}: {status} {body}"));
                return;
            }
        }
    }
    panic!("{key} could not be released in 20 s");
}

async fn client(i: usize, base: String, until: Instant, seen: Arc<Mutex<Seen>>) {
    let http = TestApp::http(TOKEN_ALL);
    let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
    let mut n = 0;
    while Instant::now() < until {
        n += 1;
        let label = format!("w{i}-r{n}");
        let a = ENVS[rng.gen_range(0..ENVS.len())];
        let set = rng.gen_bool(0.4);
        let b = loop {
            let b = ENVS[rng.gen_range(0..ENVS.len())];
            if b != a {
                break b;
            }
        };
        let hold_for = Duration::from_millis(rng.gen_range(20..60));
        let (url, body) = if set {
            seen.lock().unwrap().sets_asked += 1;
            (
                format!("{base}/api/v1/locks"),
                json!({"envs": [a, b], "holder": label, "ttl": "5s", "wait": "4s"}),
            )
        } else {
            (
                format!("{base}/api/v1/locks/{a}"),
                json!({"holder": label, "ttl": "5s", "wait": "4s"}),
            )
        };
        let req = http
            .post(&url)
            .header("Idempotency-Key", format!("{label}-lock"))
            .json(&body);
        match send(req, &seen).await {
            (200, body) => {
                let acked = Instant::now();
                tokio::time::sleep(hold_for).await;
                let token = body["token"].as_str().unwrap().to_string();
                let released = Instant::now();
                let locks: Vec<(String, u64)> = if set {
                    let locks = body["locks"]
                        .as_array()
                        .expect("a set grant lists its locks");
                    assert_eq!(locks.len(), 2, "a set is granted whole: {body}");
                    locks
                        .iter()
                        .map(|l| {
                            (
                                l["env"].as_str().unwrap().to_string(),
                                l["fence"].as_u64().unwrap(),
                            )
                        })
                        .collect()
                } else {
                    vec![(a.to_string(), body["fence"].as_u64().unwrap())]
                };
                let unlock = if set {
                    json!({"envs": [a, b], "token": token})
                } else {
                    json!({"token": token})
                };
                release(&http, url, unlock, format!("{label}-unlock"), &seen).await;
                let mut s = seen.lock().unwrap();
                for (env, fence) in locks {
                    s.holds.push((env, fence, acked, released));
                }
                if set {
                    s.sets_served += 1;
                } else {
                    s.singles_served += 1;
                }
            }
            // The wait ran out: told who holds what, or who is first in line (a set: every env
            // in the way).
            (423 | 409, body)
                if body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(" by ") || m.contains(" kept for ")) =>
            {
                seen.lock().unwrap().timed_out += 1;
            }
            (503, _) => {
                seen.lock().unwrap().unavailable += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (status, body) => seen
                .lock()
                .unwrap()
                .odd
                .push(format!("{label}: {status} {body}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_minute_of_single_and_set_waiters_through_a_redis_crash_serves_everyone_fairly() {
    let redis =
        RedisProcess::start_with(&["--appendonly", "yes", "--appendfsync", "always"]).unwrap();
    let mut app = spawn_core_on(redis, |_| {}).await;
    app.start_sweeper(Duration::from_millis(100));
    let mut bases = Vec::new();
    for _ in 0..3 {
        bases.push(format!("http://{}", app.start_instance().await));
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let until = Instant::now() + RUN_FOR;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(i, bases[i % 3].clone(), until, seen.clone())))
        .collect();
    tokio::time::sleep(RUN_FOR / 2).await;
    app.redis.stop(); // kill -9
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.redis.restart().unwrap();
    for c in clients {
        c.await.unwrap();
    }

    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.odd.is_empty(),
        "answers that keep no promise: {:?}",
        seen.odd
    );
    let bound = WAIT + app.config.redis.timeout + Duration::from_secs(2);
    assert!(seen.slowest <= bound, "a request took {:?}", seen.slowest);
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
    eprintln!(
        "set waits: {} singles and {} sets served ({} sets asked), {} waits ran out with a reason, {} unavailable, slowest {:?}",
        seen.singles_served,
        seen.sets_served,
        seen.sets_asked,
        seen.timed_out,
        seen.unavailable,
        seen.slowest
    );
    assert!(seen.singles_served > 100, "the run did real work");
    // Sets are not starved: a fair share of the sets asked for were served.
    assert!(
        seen.sets_served * 4 >= seen.sets_asked,
        "{} of {} sets served",
        seen.sets_served,
        seen.sets_asked
    );
}
