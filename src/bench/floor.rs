//! `baton bench --floor`: Baton's HTTP API beside the thinnest service that could stand in front of
//! the same Redis call. Both are asked to lock an env someone else holds (the bench), so every
//! answer is a 423 and every request is one `FCALL` of Baton's lock function that writes nothing:
//! what differs is only what happens around that call.
//!
//! The floor runs in this process on a thread and a single-threaded runtime of its own (Baton runs
//! one worker thread too): hyper's HTTP/1 server, `Authorization: Bearer` checked by its SHA-256
//! against the token's, the body read as the API's own `LockBody`, one `FCALL` through Baton's
//! own store (the same redis-rs connection manager, settings and arguments as `baton serve`'s
//! plain lock attempt), and a small JSON answer. No routing table, no middleware, no logs, no
//! metrics, no domain rules. The same load generator drives both, back to back, in alternating
//! rounds.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use baton_adapters::ci::api_types::LockBody;
use baton_commands::config::RedisConfig;
use baton_commands::domain::{new_token, EnvName};
use baton_commands::store::{scripts, Store};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::{cpu_time, http, load, stat_cpu_time, BenchArgs, Mode, Tally};

/// Alternating rounds of each side, `--duration` shared among them: the machine's drift falls on
/// both alike.
const ROUNDS: u32 = 3;
/// The TTL of a lock asked for without one (Baton's is the env's `default_ttl`).
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
/// What `baton serve` passes as the line's limit (`defaults.queue_limit` in scripts/bench.sh);
/// a plain lock attempt never reads it.
const QUEUE_LIMIT: usize = 1000;

/// One side's totals over its rounds.
#[derive(Default)]
struct Side {
    tally: Tally,
    elapsed: Duration,
    cpu: Option<Duration>,
}

/// Holds the first of `--envs`, starts the floor, drives both, and prints the pair.
pub async fn run(args: &BenchArgs, baton: http::Target) -> anyhow::Result<()> {
    let redis = args.redis.as_deref().context("--floor needs --redis")?;
    let token = args.token.as_deref().context("--floor needs --token")?;
    let env = args.envs[0].clone();
    EnvName::parse(&env).map_err(|e| anyhow::anyhow!("--envs: {e}"))?;
    let mut admin = http::Conn::new(baton.clone());
    let held = super::hold(&mut admin, &env).await?;
    let outcome = match Floor::start(redis, &args.prefix, token) {
        Ok(floor) => {
            let measured = compare(args, &env, baton, &floor).await;
            floor.stop();
            measured
        }
        Err(e) => Err(e),
    };
    super::release(&mut admin, &env, &held).await?;
    let (baton, floor) = outcome?;
    report(args, &env, &baton, &floor);
    Ok(())
}

/// The alternating rounds.
async fn compare(
    args: &BenchArgs,
    env: &str,
    baton: http::Target,
    floor: &Floor,
) -> anyhow::Result<(Side, Side)> {
    let token = args.token.as_deref().unwrap_or_default();
    let floor_target = http::Target::new(&format!("http://{}", floor.addr), token)?;
    let round = args.duration / ROUNDS;
    let envs = vec![env.to_string(); args.concurrency];
    // One request to each first: the floor opens its Redis connection on its first call.
    for target in [&baton, &floor_target] {
        let (status, body) = http::Conn::new(target.clone())
            .send(
                Method::POST,
                &format!("/api/v1/locks/{env}"),
                Some(Bytes::from_static(b"{}")),
            )
            .await?;
        if status != 423 {
            bail!(
                "a lock of the held {env} answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let (mut ours, mut theirs) = (Side::default(), Side::default());
    for _ in 0..ROUNDS {
        let cpu = || args.pid.map(cpu_time).transpose();
        measure(&mut ours, cpu, || {
            load(
                baton.clone(),
                envs.clone(),
                Mode::Lock,
                Instant::now() + round,
            )
        })
        .await?;
        let cpu = || floor.cpu_time().map(Some);
        measure(&mut theirs, cpu, || {
            load(
                floor_target.clone(),
                envs.clone(),
                Mode::Lock,
                Instant::now() + round,
            )
        })
        .await?;
    }
    Ok((ours, theirs))
}

/// Adds one round of `run` to `side`, with the CPU time `cpu` reads around it.
async fn measure<F: std::future::Future<Output = anyhow::Result<Tally>>>(
    side: &mut Side,
    cpu: impl Fn() -> anyhow::Result<Option<Duration>>,
    run: impl FnOnce() -> F,
) -> anyhow::Result<()> {
    let before = cpu()?;
    let started = Instant::now();
    let t = run().await?;
    side.elapsed += started.elapsed();
    if let (Some(b), Some(a)) = (before, cpu()?) {
        *side.cpu.get_or_insert_default() += a.saturating_sub(b);
    }
    side.tally.latencies.extend(t.latencies);
    for (status, n) in t.by_status {
        *side.tally.by_status.entry(status).or_default() += n;
    }
    Ok(())
}

fn report(args: &BenchArgs, env: &str, baton: &Side, floor: &Side) {
    println!(
        "baton bench --floor: POST /api/v1/locks/{env} held by someone else, {} workers, {ROUNDS} alternating rounds of {:.1} s on each side",
        args.concurrency,
        (args.duration / ROUNDS).as_secs_f64()
    );
    let line = |name: &str, s: &Side| {
        let n = s.tally.latencies.len();
        let mut sorted = s.tally.latencies.clone();
        sorted.sort();
        let statuses: Vec<String> = s
            .tally
            .by_status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let cpu = s
            .cpu
            .map(|c| {
                format!(
                    ", {:.1} µs of CPU per request",
                    c.as_secs_f64() * 1e6 / n.max(1) as f64
                )
            })
            .unwrap_or_default();
        println!(
            "  {name}  {:>8.0} requests/s, p50 {:.2} ms, p99 {:.2} ms ({}){cpu}",
            n as f64 / s.elapsed.as_secs_f64().max(1e-9),
            super::percentile(&sorted, 50.0).as_secs_f64() * 1e3,
            super::percentile(&sorted, 99.0).as_secs_f64() * 1e3,
            statuses.join(", ")
        );
    };
    line("Baton's HTTP API             ", baton);
    line("floor (hyper + one FCALL)    ", floor);
    let rate = |s: &Side| s.tally.latencies.len() as f64 / s.elapsed.as_secs_f64().max(1e-9);
    println!(
        "  Baton ÷ floor, requests/s   {:.2}",
        rate(baton) / rate(floor).max(1e-9)
    );
}

/// The floor server: its address, and how to stop it.
struct Floor {
    addr: SocketAddr,
    /// Its thread's id, for its CPU time in `/proc/self/task`.
    tid: i32,
    stop: oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

/// What each request needs.
struct State {
    store: Store,
    /// SHA-256 of the one token it accepts.
    token_hash: [u8; 32],
    /// `ci:<token name>`: the prefix of each request's holder, as Baton's CI holders are.
    actor: String,
}

impl Floor {
    /// Starts the floor on a free loopback port.
    fn start(redis: &str, prefix: &str, token: &str) -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let config = RedisConfig {
            url: redis.to_string(),
            prefix: prefix.to_string(),
            ..RedisConfig::default()
        };
        let token_hash: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let (stop, stopped) = oneshot::channel();
        let (started, tid) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bench-floor".into())
            .spawn(move || {
                // SAFETY: gettid only reads this thread's id.
                let _ = started.send(unsafe { libc::gettid() });
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => return eprintln!("baton bench: the floor's runtime: {e}"),
                };
                runtime.block_on(async move {
                    let store = match Store::connect(&config, 500) {
                        Ok(s) => s,
                        Err(e) => return eprintln!("baton bench: the floor's store: {e}"),
                    };
                    let state = Arc::new(State {
                        store,
                        token_hash,
                        actor: "ci:bench".into(),
                    });
                    if let Err(e) = serve(listener, state, stopped).await {
                        eprintln!("baton bench: the floor stopped: {e}");
                    }
                });
            })?;
        let tid = tid.recv().context("the floor's thread did not start")?;
        Ok(Self {
            addr,
            tid,
            stop,
            thread,
        })
    }

    /// The floor thread's CPU time so far (user + system).
    fn cpu_time(&self) -> anyhow::Result<Duration> {
        stat_cpu_time(&format!("/proc/self/task/{}/stat", self.tid))
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// Accepts connections until `stopped`; each is served by hyper's HTTP/1 server on its own task.
async fn serve(
    listener: std::net::TcpListener,
    state: Arc<State>,
    mut stopped: oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = &mut stopped => return Ok(()),
        };
        stream.set_nodelay(true)?;
        let state = state.clone();
        let service = hyper::service::service_fn(move |request| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(answer(&state, request).await) }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// What Baton's lock function answers, as far as the floor reads it.
#[derive(Deserialize)]
struct LockAnswer {
    status: String,
    #[serde(default)]
    token: Option<String>,
    /// Read as Baton reads it (whole numbers may come as digits).
    #[serde(default)]
    lock: Option<baton_commands::Hold>,
}

/// `POST /api/v1/locks/{env}` and nothing else.
async fn answer(state: &State, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(env) = request.uri().path().strip_prefix("/api/v1/locks/") else {
        return reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "not_found"}),
        );
    };
    if request.method() != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            serde_json::json!({"error": "method"}),
        );
    }
    if !authorized(state, request.headers().get(AUTHORIZATION)) {
        return reply(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "unauthorized"}),
        );
    }
    let Ok(env) = EnvName::parse(env) else {
        return reply(
            StatusCode::NOT_FOUND,
            serde_json::json!({"error": "unknown_env"}),
        );
    };
    let body = match request.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return reply(
                StatusCode::BAD_REQUEST,
                serde_json::json!({"error": "body"}),
            )
        }
    };
    let Ok(body) = serde_json::from_slice::<LockBody>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            serde_json::json!({"error": "bad_request"}),
        );
    };
    match lock(state, &env, body).await {
        Ok(r) => r,
        Err(e) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({"error": "store", "message": e.to_string()}),
        ),
    }
}

/// The one `FCALL`: the arguments Baton's plain CI lock attempt sends (store/contracts/locks.rs,
/// commands/src/ci/wait.rs): holder `ci:<name>#<ticket>`, a fresh token, `lock` mode, no wait, no
/// lease, no refusal record.
async fn lock(
    state: &State,
    env: &EnvName,
    body: LockBody,
) -> anyhow::Result<Response<Full<Bytes>>> {
    let holder = format!("{}#{}", state.actor, new_token());
    let display = body.holder.unwrap_or_else(|| state.actor.clone());
    let ttl = body.ttl.unwrap_or(DEFAULT_TTL);
    let call = state
        .store
        .script(scripts::LOCK, env, &[env])
        .arg(&holder)
        .arg(&display)
        .arg(body.reason.unwrap_or_default())
        .arg(ttl.as_millis() as u64)
        .arg(new_token())
        .arg("0")
        .arg("lock")
        .arg(QUEUE_LIMIT)
        .arg(0)
        .arg(0)
        .arg("0");
    let answer: LockAnswer = state.store.eval(call).await?;
    Ok(match (answer.status.as_str(), answer.lock) {
        ("ok", Some(held)) => reply(
            StatusCode::OK,
            serde_json::json!({"env": env.as_str(), "holder": held.display, "token": answer.token,
                "fence": held.fence, "expires_at_ms": held.expires}),
        ),
        ("locked", Some(held)) => reply(
            StatusCode::LOCKED,
            serde_json::json!({"error": "locked", "holder": held.display, "expires_at_ms": held.expires}),
        ),
        (status, _) => reply(StatusCode::CONFLICT, serde_json::json!({"error": status})),
    })
}

/// `Bearer <token>` whose SHA-256 is the accepted one's, compared in constant time as Baton does.
fn authorized(state: &State, header: Option<&HeaderValue>) -> bool {
    let Some(token) = header
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
    else {
        return false;
    };
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    digest
        .iter()
        .zip(state.token_hash.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
